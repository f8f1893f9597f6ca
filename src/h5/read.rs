//! Read-side HDF5 calls: links in creation order, attributes and datasets of the types
//! Neo writes. Every size read from a file is checked before memory is allocated for it.

use std::ffi::{CStr, c_char, c_void};

use hdf5_sys::h5::{H5_index_t, H5_iter_order_t, H5free_memory, hsize_t};
use hdf5_sys::h5a::{H5Aclose, H5Aexists, H5Aget_space, H5Aget_type, H5Aopen, H5Aread};
use hdf5_sys::h5d::{H5Dget_space, H5Dget_type, H5Dread, H5Dvlen_reclaim};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5l::{H5L_info1_t, H5L_type_t, H5Lexists, H5Literate1};
use hdf5_sys::h5o::H5Oopen_by_addr;
use hdf5_sys::h5p::H5P_DEFAULT;
use hdf5_sys::h5s::{H5S_ALL, H5Sget_simple_extent_npoints};
use hdf5_sys::h5t::{
    H5T_C_S1, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT8, H5T_NATIVE_INT64, H5T_VARIABLE, H5T_class_t, H5T_str_t, H5Tcopy,
    H5Tget_class, H5Tget_cset, H5Tget_size, H5Tget_strpad, H5Tis_variable_str, H5Tset_cset, H5Tset_size,
};

use super::{File, Obj, Owned, cstr};
use crate::error::{Error, Result};

/// A dataset's values, as Neo reads them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    Strings(Vec<String>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    /// Neo's `{FALSE, TRUE}` enum.
    Bool(Vec<bool>),
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attr {
    Str(String),
    F64(f64),
    Ints(Vec<i64>),
}

/// What a dataset holds, from its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    VlenStr,
    FixedStr(usize),
    Float,
    Int,
    Bool,
}

/// The largest number of bytes one read may allocate: a hostile file can claim any size.
const MAX_READ: u64 = 1 << 34;

/// A link of a group: its name and, for a hard link, where the object it names is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub name: String,
    /// The object's address: its identity (`None` for a soft or external link).
    pub address: Option<u64>,
}

/// The link `name` among `links`.
pub(crate) fn find<'l>(links: &'l [Link], name: &str) -> Option<&'l Link> {
    links.iter().find(|l| l.name == name)
}

/// A link as an iteration met it, with its creation order where the group tracks it.
struct Met {
    link: Link,
    order: Option<i64>,
}

extern "C" fn collect_link(_group: hid_t, name: *const c_char, info: *const H5L_info1_t, data: *mut c_void) -> i32 {
    // SAFETY: HDF5 passes a NUL-terminated name, the link's info and our `Vec<Met>` as
    // `data`; the address is the union's member for hard links.
    unsafe {
        let met = &mut *data.cast::<Vec<Met>>();
        let info = info.as_ref().copied();
        let address = info.filter(|i| i.type_ == H5L_type_t::H5L_TYPE_HARD).map(|mut i| *i.u.address());
        let order = info.filter(|i| i.corder_valid != 0).map(|i| i.corder);
        met.push(Met { link: Link { name: CStr::from_ptr(name).to_string_lossy().into_owned(), address }, order });
    }
    0
}

impl<'f> Obj<'f> {
    /// This group's links, in creation order (name order when the group does not track
    /// creation order).
    ///
    /// HDF5's iteration "in increasing creation order" of a group with dense link storage
    /// builds a table of all links by walking the *name* index, which visits the links in
    /// the order of their names' hashes: in a group of many links, every step reads a
    /// random block of the link heap, and once the heap outgrows the metadata cache that
    /// costs a block read per link. The "native" order walks the creation-order index
    /// where there is one, in order; the links are then sorted by the creation order
    /// they report (already sorted, unless HDF5 walked another index).
    pub(crate) fn links(&self) -> Result<Vec<Link>> {
        let iterate = |index: H5_index_t, order: H5_iter_order_t| {
            let mut met: Vec<Met> = Vec::new();
            let mut idx: hsize_t = 0;
            // SAFETY: open group; the callback only pushes into `met`.
            let ret = unsafe { H5Literate1(self.id(), index, order, &raw mut idx, Some(collect_link), (&raw mut met).cast()) };
            (ret >= 0).then_some(met)
        };
        if let Some(mut met) = iterate(H5_index_t::H5_INDEX_CRT_ORDER, H5_iter_order_t::H5_ITER_NATIVE) {
            if met.iter().all(|m| m.order.is_some()) {
                if !met.is_sorted_by_key(|m| m.order) {
                    met.sort_unstable_by_key(|m| m.order);
                }
                return Ok(met.into_iter().map(|m| m.link).collect());
            }
        }
        match iterate(H5_index_t::H5_INDEX_NAME, H5_iter_order_t::H5_ITER_INC) {
            Some(met) => Ok(met.into_iter().map(|m| m.link).collect()),
            None => self.file().check(-1i32, "list links of", || self.name()).map(|_| Vec::new()),
        }
    }

    /// Opens the child `name`, found among `links` (this group's [`Obj::links`]) or, if
    /// it is not there, by name (for HDF5's error).
    pub(crate) fn open_among(&self, links: &[Link], name: &str) -> Result<Obj<'f>> {
        match find(links, name) {
            Some(link) => self.open_link(link),
            None => self.open(name),
        }
    }

    /// The names of this group's links, in the order of [`Obj::links`].
    pub(crate) fn link_names(&self) -> Result<Vec<String>> {
        Ok(self.links()?.into_iter().map(|l| l.name).collect())
    }

    /// Opens the object `link` (one of this group's [`Obj::links`]) names: a hard link's
    /// by its address, without looking the name up (in a group of many links, a walk of
    /// a B-tree that grows with the group); other links by name.
    pub(crate) fn open_link(&self, link: &Link) -> Result<Obj<'f>> {
        let Some(address) = link.address else {
            return self.open(&link.name);
        };
        self.file().open_address(address, self.child_name(&link.name))
    }
}

impl File {
    /// Opens the object at `address`, known in messages by `path`.
    fn open_address(&self, address: u64, path: String) -> Result<Obj<'_>> {
        // SAFETY: an open file; HDF5 checks what it finds at the address.
        let id = unsafe { H5Oopen_by_addr(self.id, address) };
        let id = self.check(id, "open", || path.clone())?;
        Ok(Obj { id, file: self, label: Some(path.into()) })
    }

    /// Opens the object `link` names, where its name is a path from the root: by its
    /// address, if it has one.
    pub(crate) fn open_link(&self, link: &Link) -> Result<Obj<'_>> {
        match link.address {
            Some(address) => self.open_address(address, link.name.clone()),
            None => self.open_path(&link.name, None),
        }
    }
}

impl<'f> Obj<'f> {

    /// Whether this group has a link `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        let c = cstr(name);
        // SAFETY: open location and NUL-terminated name.
        unsafe { H5Lexists(self.id(), c.as_ptr(), H5P_DEFAULT) > 0 }
    }

    /// The attribute `name`, if present and of a type Neo writes.
    pub(crate) fn attr(&self, name: &CStr) -> Result<Option<Attr>> {
        let what = || format!("{}@{}", self.name(), name.to_string_lossy());
        // SAFETY: open object; every id made here is wrapped or closed; sizes are checked
        // before buffers are allocated and passed.
        unsafe {
            if H5Aexists(self.id(), name.as_ptr()) <= 0 {
                return Ok(None);
            }
            let a = self.file().check(H5Aopen(self.id(), name.as_ptr(), H5P_DEFAULT), "open attribute", what)?;
            let out = self.read_attr(a, &what);
            H5Aclose(a);
            out
        }
    }

    /// The attribute `name` as a string, if it is one.
    pub(crate) fn attr_string(&self, name: &CStr) -> Result<Option<String>> {
        Ok(match self.attr(name)? {
            Some(Attr::Str(s)) => Some(s),
            _ => None,
        })
    }

    unsafe fn read_attr(&self, a: hid_t, what: &dyn Fn() -> String) -> Result<Option<Attr>> {
        // SAFETY: `a` is an open attribute (caller); ids are wrapped so they close.
        unsafe {
            let t = self.owned(Owned::datatype, H5Aget_type(a), what)?;
            let space = self.owned(Owned::dataspace, H5Aget_space(a), what)?;
            let n = self.count(H5Sget_simple_extent_npoints(space.id()), 8, what)?;
            let read = |mem: hid_t, buf: *mut c_void| self.file().check(H5Aread(a, mem, buf), "read attribute", what);
            match classify(t.id()) {
                Some(Class::VlenStr) if n == 1 => {
                    let mem = vlen_str(t.id())?;
                    let mut p: *mut c_char = std::ptr::null_mut();
                    read(mem.id(), (&raw mut p).cast())?;
                    Ok(Some(Attr::Str(take_c_string(p))))
                }
                Some(Class::FixedStr(size)) if n == 1 => {
                    let mut buf = vec![0u8; size];
                    read(t.id(), buf.as_mut_ptr().cast())?;
                    Ok(Some(Attr::Str(fixed_to_string(&buf, space_padded(t.id())))))
                }
                Some(Class::Float) if n == 1 => {
                    let mut v = 0f64;
                    read(*H5T_NATIVE_DOUBLE, (&raw mut v).cast())?;
                    Ok(Some(Attr::F64(v)))
                }
                Some(Class::Int) => {
                    let mut v = vec![0i64; n];
                    read(*H5T_NATIVE_INT64, v.as_mut_ptr().cast())?;
                    Ok(Some(Attr::Ints(v)))
                }
                _ => Ok(None),
            }
        }
    }

    /// The number of elements of this dataset.
    pub(crate) fn len(&self) -> Result<usize> {
        // SAFETY: open dataset; the space id is wrapped.
        unsafe {
            let space = self.owned(Owned::dataspace, H5Dget_space(self.id()), &|| self.name())?;
            self.count(H5Sget_simple_extent_npoints(space.id()), 1, &|| self.name())
        }
    }

    /// Checks an element count from the file against what one read may allocate.
    fn count(&self, n: i64, elem: u64, what: &dyn Fn() -> String) -> Result<usize> {
        let n = u64::try_from(n).map_err(|_| self.bad(what(), "has no valid size"))?;
        if n.saturating_mul(elem) > MAX_READ {
            return Err(self.bad(what(), &format!("claims {n} elements, more than one read may allocate")));
        }
        usize::try_from(n).map_err(|_| self.bad(what(), "is too large"))
    }

    /// Wraps an id this object's reading opened (its type or space); a failure names the
    /// object and the file.
    fn owned(&self, wrap: fn(hid_t) -> Result<Owned>, id: hid_t, what: &dyn Fn() -> String) -> Result<Owned> {
        wrap(id).map_err(|e| match e {
            Error::Hdf5 { op, message, .. } => Error::Hdf5 { op, object: what(), path: self.file().path().into(), message },
            e => e,
        })
    }

    fn bad(&self, what: String, problem: &str) -> Error {
        Error::Format { path: self.file().path().into(), problem: format!("{what} {problem}") }
    }

    /// Reads this whole dataset through `dxpl` (pass the kit's small-buffer list).
    pub(crate) fn read(&self, dxpl: hid_t) -> Result<Data> {
        let what = || self.name();
        // SAFETY: open dataset; buffers hold `n` elements of the memory type passed.
        unsafe {
            let t = self.owned(Owned::datatype, H5Dget_type(self.id()), &what)?;
            let n = self.len()?;
            let read = |mem: hid_t, buf: *mut c_void| {
                self.file().check(H5Dread(self.id(), mem, H5S_ALL, H5S_ALL, dxpl, buf), "read dataset", what)
            };
            match classify(t.id()) {
                Some(Class::Float) => {
                    let mut v = vec![0f64; n];
                    if n > 0 {
                        read(*H5T_NATIVE_DOUBLE, v.as_mut_ptr().cast())?;
                    }
                    Ok(Data::F64(v))
                }
                Some(Class::Int) => {
                    let mut v = vec![0i64; n];
                    if n > 0 {
                        read(*H5T_NATIVE_INT64, v.as_mut_ptr().cast())?;
                    }
                    Ok(Data::I64(v))
                }
                Some(Class::Bool) => {
                    let mut v = vec![0i8; n];
                    if n > 0 {
                        read(*H5T_NATIVE_INT8, v.as_mut_ptr().cast())?;
                    }
                    Ok(Data::Bool(v.into_iter().map(|b| b != 0).collect()))
                }
                Some(Class::VlenStr) => {
                    let mem = vlen_str(t.id())?;
                    let mut ptrs: Vec<*mut c_char> = vec![std::ptr::null_mut(); n];
                    if n > 0 {
                        read(mem.id(), ptrs.as_mut_ptr().cast())?;
                    }
                    let out = ptrs.iter().map(|p| c_to_string(*p)).collect();
                    if n > 0 {
                        let space = self.owned(Owned::dataspace, H5Dget_space(self.id()), &what)?;
                        H5Dvlen_reclaim(mem.id(), space.id(), dxpl, ptrs.as_mut_ptr().cast());
                    }
                    Ok(Data::Strings(out))
                }
                Some(Class::FixedStr(size)) => {
                    let total = self.count(i64::try_from(n).unwrap_or(i64::MAX), size as u64, &what)?;
                    let mut buf = vec![0u8; total * size];
                    if n > 0 {
                        read(t.id(), buf.as_mut_ptr().cast())?;
                    }
                    let pad = space_padded(t.id());
                    Ok(Data::Strings(buf.chunks(size.max(1)).take(n).map(|c| fixed_to_string(c, pad)).collect()))
                }
                None => Err(self.bad(what(), "has a datatype Neo does not write")),
            }
        }
    }
}

/// A variable-length C string memory type with the character set of `file_type` (HDF5
/// does not convert between ASCII and UTF-8 strings).
fn vlen_str(file_type: hid_t) -> Result<Owned> {
    // SAFETY: copies a predefined type and makes it variable-length; checked.
    unsafe {
        let t = Owned::datatype(H5Tcopy(*H5T_C_S1))?;
        super::setup(H5Tset_size(t.id(), H5T_VARIABLE), "make vlen string")?;
        super::setup(H5Tset_cset(t.id(), H5Tget_cset(file_type)), "set string charset")?;
        Ok(t)
    }
}

fn classify(t: hid_t) -> Option<Class> {
    // SAFETY: open datatype id.
    unsafe {
        match H5Tget_class(t) {
            H5T_class_t::H5T_FLOAT => Some(Class::Float),
            H5T_class_t::H5T_INTEGER => Some(Class::Int),
            H5T_class_t::H5T_ENUM => Some(Class::Bool),
            H5T_class_t::H5T_STRING if H5Tis_variable_str(t) > 0 => Some(Class::VlenStr),
            H5T_class_t::H5T_STRING => Some(Class::FixedStr(H5Tget_size(t))),
            _ => None,
        }
    }
}

fn space_padded(t: hid_t) -> bool {
    // SAFETY: open string type.
    unsafe { H5Tget_strpad(t) == H5T_str_t::H5T_STR_SPACEPAD }
}

fn fixed_to_string(bytes: &[u8], space_padded: bool) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    let s = String::from_utf8_lossy(&bytes[..end]);
    if space_padded { s.trim_end_matches(' ').to_owned() } else { s.into_owned() }
}

/// Copies a C string HDF5 allocated (NULL reads as empty).
fn c_to_string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: HDF5 hands back NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Copies and frees a C string HDF5 allocated for an attribute read.
fn take_c_string(p: *mut c_char) -> String {
    let s = c_to_string(p);
    if !p.is_null() {
        // SAFETY: allocated by HDF5 for this read.
        unsafe {
            H5free_memory(p.cast());
        }
    }
    s
}
