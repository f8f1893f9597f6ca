//! The NIX file format as Neo's NixIO writes and reads it.

pub(crate) mod extents;
pub(crate) mod layout;
pub mod names;
pub(crate) mod property;
pub(crate) mod runs;
