//! The MPI plan: agreement, gathering descriptions, and the pure layout planner.

pub(crate) mod comm;
pub(crate) mod describe;
pub(crate) mod hints;
pub(crate) mod mpio;
pub(crate) mod plan;
