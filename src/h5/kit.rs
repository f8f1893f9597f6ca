//! Creation-side HDF5 calls, with the property lists, types and dataspaces made once and
//! reused (HDF5_SPEED.md: each of these settings was measured to help).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_void};

use hdf5_sys::h5a::{H5Aclose, H5Acreate2, H5Adelete, H5Aexists, H5Awrite};
use hdf5_sys::h5ac::{H5AC__CURR_CACHE_CONFIG_VERSION, H5AC_cache_config_t};
use hdf5_sys::h5d::{H5D_layout_t, H5Dcreate2, H5Dwrite};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::{
    H5P_CLS_DATASET_CREATE, H5P_CLS_DATASET_XFER, H5P_CLS_FILE_ACCESS, H5P_CLS_FILE_CREATE, H5P_CLS_GROUP_CREATE,
    H5P_CLS_LINK_CREATE, H5P_CRT_ORDER_TRACKED, H5P_DEFAULT, H5Pcreate, H5Pget_mdc_config, H5Pset_buffer,
    H5Pset_char_encoding, H5Pset_mdc_config,
    H5Pset_est_link_info, H5Pset_layout, H5Pset_link_creation_order, H5Pset_link_phase_change,
    H5Pset_obj_track_times,
};
use hdf5_sys::h5s::{H5S_ALL, H5S_class_t, H5Screate, H5Screate_simple};
use hdf5_sys::h5t::{
    H5T_C_S1, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT64, H5T_STD_I8LE, H5T_STD_I32LE, H5T_STD_I64LE,
    H5T_VARIABLE, H5T_cset_t, H5T_str_t, H5Tcopy, H5Tenum_create, H5Tenum_insert, H5Tset_cset, H5Tset_size,
    H5Tset_strpad,
};

use super::{FALSE, Obj, Owned, TRUE, cstr, hsize, setup};
use crate::error::Result;

/// What a group will hold, which decides how its links are stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GroupKind {
    /// A few links (entities, sections, dimensions).
    Small,
    /// A signal's channel: a data array with its values, time axis and section links.
    Channel,
    /// A `properties` group: one dataset per annotation, kept in compact link storage.
    Properties,
    /// Many links (`data_arrays`, `multi_tags`, `groups`).
    Container,
}

impl GroupKind {
    /// How the group stores its links: compact and dense limits, and the link estimate
    /// that sizes its first header chunk.
    pub(crate) fn info(self) -> super::GroupInfo {
        // The estimate sizes a group's first header chunk, where its attributes go too: a
        // NIX entity carries five or six (about 300 bytes) besides its few links. With
        // room for 4 links of 12 bytes, a spike train's multi-tag grew a continuation
        // chunk and its section two (an allocation, a cache entry and a write each); 4 of
        // 90 bytes make one chunk of 536 bytes that holds them all.
        let (phase_change, estimate) = match self {
            GroupKind::Small => (None, (4, 90)),
            // A channel's three links and six attributes: 544 + 72 bytes at 5 x 90.
            GroupKind::Channel => (None, (5, 90)),
            GroupKind::Properties => (Some((32, 24)), (16, 16)),
            GroupKind::Container => (None, (4, 44)),
        };
        super::GroupInfo { phase_change, estimate }
    }
}

/// The element type of a numeric dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum NumType {
    /// `float64`.
    F64,
    /// `int64`.
    I64,
    /// Neo's bool: an enum `{FALSE=0, TRUE=1}` over `int8`.
    Bool,
}

impl NumType {
    /// The bytes of one element in the file.
    pub(crate) fn size(self) -> u64 {
        self.elem().size()
    }

    /// The element type as [`super::encode`] writes it.
    pub(crate) fn elem(self) -> super::Elem {
        match self {
            NumType::F64 => super::Elem::F64,
            NumType::I64 => super::Elem::I64,
            NumType::Bool => super::Elem::Bool,
        }
    }
}

/// Numeric values to write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Nums<'a> {
    F64(&'a [f64]),
    I64(&'a [i64]),
    /// Bools as Neo's enum, one byte each (0 or 1).
    Bool(&'a [i8]),
}

impl Nums<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Nums::F64(v) => v.len(),
            Nums::I64(v) => v.len(),
            Nums::Bool(v) => v.len(),
        }
    }
    /// The size of the values in bytes.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Nums::Bool(v) => v.len(),
            _ => self.len() * 8,
        }
    }
    fn num_type(&self) -> NumType {
        match self {
            Nums::F64(_) => NumType::F64,
            Nums::I64(_) => NumType::I64,
            Nums::Bool(_) => NumType::Bool,
        }
    }
    fn ptr(&self) -> *const c_void {
        match self {
            Nums::F64(v) => v.as_ptr().cast(),
            Nums::I64(v) => v.as_ptr().cast(),
            Nums::Bool(v) => v.as_ptr().cast(),
        }
    }
}

/// Datasets up to this many bytes live in the object header (compact layout).
pub(crate) const COMPACT_LIMIT: usize = 16 * 1024;

/// The metadata cache's maximum size while laying out. Writing thousands of small objects
/// once, a small cache is faster (and leaner) than HDF5's adaptive default of up to 32 MiB:
/// 10,000 spike trains took 1.30 s at 512 KiB, 1.46 s at 32 MiB, 1.62 s at 256 KiB.
const METADATA_CACHE: usize = 512 * 1024;

/// The reusable property lists, types and dataspaces of one writer.
#[derive(Debug)]
pub(crate) struct Kit {
    fcpl: Owned,
    fapl: Owned,
    gcpl_small: Owned,
    gcpl_channel: Owned,
    gcpl_props: Owned,
    gcpl_container: Owned,
    lcpl: Owned,
    dcpl_compact: Owned,
    dcpl_contiguous: Owned,
    dxpl: Owned,
    vlen_utf8: Owned,
    bool_enum: Owned,
    scalar: Owned,
    one: Owned,
    fixed: RefCell<HashMap<(usize, bool), Owned>>,
}

impl Kit {
    /// Makes the property lists and types. Call under [`super::locked`].
    pub(crate) fn new() -> Result<Kit> {
        // SAFETY: plain HDF5 constructors and setters on ids created right here; every
        // return value is checked.
        unsafe {
            let fcpl = Owned::plist(H5Pcreate(*H5P_CLS_FILE_CREATE))?;
            setup(H5Pset_link_creation_order(fcpl.id(), H5P_CRT_ORDER_TRACKED), "track link order")?;
            let fapl = Owned::plist(H5Pcreate(*H5P_CLS_FILE_ACCESS))?;
            let mut cache: H5AC_cache_config_t = std::mem::zeroed();
            cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
            setup(H5Pget_mdc_config(fapl.id(), &raw mut cache), "read cache settings")?;
            cache.max_size = METADATA_CACHE;
            cache.min_size = cache.min_size.min(METADATA_CACHE);
            cache.initial_size = cache.initial_size.min(METADATA_CACHE);
            cache.set_initial_size = TRUE;
            setup(H5Pset_mdc_config(fapl.id(), &raw const cache), "set cache size")?;
            let group = |kind: GroupKind| -> Result<Owned> {
                let info = kind.info();
                let (max_compact, min_dense) = info.phase_change.unwrap_or((8, 6));
                let gcpl = Owned::plist(H5Pcreate(*H5P_CLS_GROUP_CREATE))?;
                setup(H5Pset_link_creation_order(gcpl.id(), H5P_CRT_ORDER_TRACKED), "track link order")?;
                setup(H5Pset_obj_track_times(gcpl.id(), FALSE), "turn off timestamps")?;
                setup(H5Pset_link_phase_change(gcpl.id(), max_compact.into(), min_dense.into()), "set link storage")?;
                setup(H5Pset_est_link_info(gcpl.id(), info.estimate.0.into(), info.estimate.1.into()), "set link estimate")?;
                Ok(gcpl)
            };
            let gcpl_small = group(GroupKind::Small)?;
            let gcpl_channel = group(GroupKind::Channel)?;
            let gcpl_props = group(GroupKind::Properties)?;
            let gcpl_container = group(GroupKind::Container)?;
            let lcpl = Owned::plist(H5Pcreate(*H5P_CLS_LINK_CREATE))?;
            setup(H5Pset_char_encoding(lcpl.id(), H5T_cset_t::H5T_CSET_UTF8), "set link encoding")?;
            let dataset = |layout: H5D_layout_t| -> Result<Owned> {
                let dcpl = Owned::plist(H5Pcreate(*H5P_CLS_DATASET_CREATE))?;
                setup(H5Pset_layout(dcpl.id(), layout), "set layout")?;
                setup(H5Pset_obj_track_times(dcpl.id(), FALSE), "turn off timestamps")?;
                Ok(dcpl)
            };
            let dcpl_compact = dataset(H5D_layout_t::H5D_COMPACT)?;
            let dcpl_contiguous = dataset(H5D_layout_t::H5D_CONTIGUOUS)?;
            let dxpl = Owned::plist(H5Pcreate(*H5P_CLS_DATASET_XFER))?;
            // The fix for trap 1 of HDF5_SPEED.md: a small conversion buffer.
            setup(H5Pset_buffer(dxpl.id(), 4096, std::ptr::null_mut(), std::ptr::null_mut()), "set transfer buffer")?;
            let vlen_utf8 = Owned::datatype(H5Tcopy(*H5T_C_S1))?;
            setup(H5Tset_size(vlen_utf8.id(), H5T_VARIABLE), "make vlen string")?;
            setup(H5Tset_cset(vlen_utf8.id(), H5T_cset_t::H5T_CSET_UTF8), "set string charset")?;
            let bool_enum = Owned::datatype(H5Tenum_create(*H5T_STD_I8LE))?;
            for (name, value) in [(c"FALSE", 0i8), (c"TRUE", 1i8)] {
                setup(H5Tenum_insert(bool_enum.id(), name.as_ptr(), (&raw const value).cast()), "make bool enum")?;
            }
            let scalar = Owned::dataspace(H5Screate(H5S_class_t::H5S_SCALAR))?;
            let dims = [1u64];
            let one = Owned::dataspace(H5Screate_simple(1, dims.as_ptr(), std::ptr::null()))?;
            Ok(Kit {
                fcpl,
                fapl,
                gcpl_small,
                gcpl_channel,
                gcpl_props,
                gcpl_container,
                lcpl,
                dcpl_compact,
                dcpl_contiguous,
                dxpl,
                vlen_utf8,
                bool_enum,
                scalar,
                one,
                fixed: RefCell::new(HashMap::new()),
            })
        }
    }

    /// The link-creation list for a link named `name`: HDF5's default (ASCII) for an
    /// ASCII name, which spares HDF5 reading the list's properties on every link (3% of a
    /// layout's instructions), and the UTF-8 list for any other name.
    pub(super) fn lcpl(&self, name: &str) -> hid_t {
        if name.is_ascii() { H5P_DEFAULT } else { self.lcpl.id() }
    }

    pub(super) fn fcpl(&self) -> hid_t {
        self.fcpl.id()
    }

    /// The file-access list of the serial layout phase (sec2 driver, small metadata cache).
    pub(crate) fn fapl(&self) -> hid_t {
        self.fapl.id()
    }

    /// The transfer list with the small conversion buffer, for every read and write.
    pub(crate) fn dxpl(&self) -> hid_t {
        self.dxpl.id()
    }

    /// A fixed-length, NULLPAD string type of `len` bytes (cached).
    fn fixed_str(&self, len: usize, ascii: bool) -> Result<hid_t> {
        let len = len.max(1);
        if let Some(t) = self.fixed.borrow().get(&(len, ascii)) {
            return Ok(t.id());
        }
        // SAFETY: copies a predefined type and sets its properties; checked.
        let t = unsafe {
            let t = Owned::datatype(H5Tcopy(*H5T_C_S1))?;
            setup(H5Tset_size(t.id(), len), "size string type")?;
            setup(H5Tset_strpad(t.id(), H5T_str_t::H5T_STR_NULLPAD), "pad string type")?;
            let cset = if ascii { H5T_cset_t::H5T_CSET_ASCII } else { H5T_cset_t::H5T_CSET_UTF8 };
            setup(H5Tset_cset(t.id(), cset), "set string charset")?;
            t
        };
        let id = t.id();
        self.fixed.borrow_mut().insert((len, ascii), t);
        Ok(id)
    }

    pub(super) fn file_type(&self, t: NumType) -> hid_t {
        match t {
            NumType::F64 => *H5T_IEEE_F64LE,
            NumType::I64 => *H5T_STD_I64LE,
            NumType::Bool => self.bool_enum.id(),
        }
    }

    fn mem_type(&self, t: NumType) -> hid_t {
        match t {
            NumType::F64 => *H5T_NATIVE_DOUBLE,
            NumType::I64 => *H5T_NATIVE_INT64,
            NumType::Bool => self.bool_enum.id(),
        }
    }

    /// A one-dimensional dataspace of `n` elements (shared for `n == 1`).
    pub(super) fn space(&self, n: usize) -> Result<SpaceRef> {
        if n == 1 {
            return Ok(SpaceRef::Shared(self.one.id()));
        }
        let dims = [hsize(n)];
        // SAFETY: one dimension, no maximum.
        let s = Owned::dataspace(unsafe { H5Screate_simple(1, dims.as_ptr(), std::ptr::null()) })?;
        Ok(SpaceRef::Own(s))
    }

    /// The creation list of a dataset of `bytes` values rank 0 writes now: in the object
    /// header if small, else contiguous.
    pub(super) fn dcpl(&self, bytes: usize) -> hid_t {
        if bytes <= COMPACT_LIMIT { self.dcpl_compact.id() } else { self.dcpl_contiguous.id() }
    }
}

/// A dataspace that is either the kit's shared one or made for one call.
pub(super) enum SpaceRef {
    Shared(hid_t),
    Own(Owned),
}

impl SpaceRef {
    pub(super) fn id(&self) -> hid_t {
        match self {
            SpaceRef::Shared(id) => *id,
            SpaceRef::Own(o) => o.id(),
        }
    }
}

impl<'f> Obj<'f> {
    /// Creates the child group `name`.
    pub(crate) fn group(&self, kit: &Kit, name: &str, kind: GroupKind) -> Result<Obj<'f>> {
        let gcpl = match kind {
            GroupKind::Small => kit.gcpl_small.id(),
            GroupKind::Channel => kit.gcpl_channel.id(),
            GroupKind::Properties => kit.gcpl_props.id(),
            GroupKind::Container => kit.gcpl_container.id(),
        };
        let c = cstr(name);
        // SAFETY: open location, NUL-terminated name, valid property lists.
        let id = unsafe { hdf5_sys::h5g::H5Gcreate2(self.id(), c.as_ptr(), kit.lcpl(name), gcpl, H5P_DEFAULT) };
        self.wrap(id, "create group", name)
    }

    /// Writes a scalar string attribute (fixed length, NULLPAD).
    pub(crate) fn attr_str(&self, kit: &Kit, name: &CStr, value: &str, ascii: bool) -> Result<()> {
        let t = kit.fixed_str(value.len(), ascii)?;
        let mut buf = value.as_bytes().to_vec();
        buf.resize(value.len().max(1), 0);
        self.write_attr(name, t, kit.scalar.id(), buf.as_ptr().cast())
    }

    /// Writes a scalar string attribute as [`Obj::attr_str`] does, in place of any
    /// attribute of that name (of any type: Neo's files hold variable-length strings).
    pub(crate) fn replace_attr_str(&self, kit: &Kit, name: &CStr, value: &str, ascii: bool) -> Result<()> {
        let what = || format!("{}@{}", self.name(), name.to_string_lossy());
        // SAFETY: open object and NUL-terminated name.
        let exists = self.file().check(unsafe { H5Aexists(self.id(), name.as_ptr()) }, "look up attribute", what)?;
        if exists > 0 {
            // SAFETY: as above; the attribute exists and no handle of it is open.
            self.file().check(unsafe { H5Adelete(self.id(), name.as_ptr()) }, "delete attribute", what)?;
        }
        self.attr_str(kit, name, value, ascii)
    }

    /// Writes a one-dimensional `int32` attribute (the root `version`).
    pub(crate) fn attr_i32s(&self, kit: &Kit, name: &CStr, values: &[i32]) -> Result<()> {
        let space = kit.space(values.len())?;
        self.write_attr(name, *H5T_STD_I32LE, space.id(), values.as_ptr().cast())
    }

    fn write_attr(&self, name: &CStr, t: hid_t, space: hid_t, buf: *const c_void) -> Result<()> {
        let what = || format!("{}@{}", self.name(), name.to_string_lossy());
        // SAFETY: open object, valid type and space; `buf` holds one element of `t` per
        // element of `space`, as the callers above guarantee.
        unsafe {
            let a = self.file().check(H5Acreate2(self.id(), name.as_ptr(), t, space, H5P_DEFAULT, H5P_DEFAULT), "create attribute", what)?;
            let written = H5Awrite(a, t, buf);
            H5Aclose(a);
            self.file().check(written, "write attribute", what).map(drop)
        }
    }

    /// Creates and writes a dataset of variable-length UTF-8 strings (`len` may be 0).
    pub(crate) fn strings(&self, kit: &Kit, name: &str, values: &[&str]) -> Result<Obj<'f>> {
        let ds = self.create_dataset(kit, name, kit.vlen_utf8.id(), values.len(), kit.dcpl(16 * values.len()))?;
        if !values.is_empty() {
            ds.write_strings(kit, values)?;
        }
        Ok(ds)
    }

    /// Writes all elements of this string dataset (one value per element).
    pub(crate) fn write_strings(&self, kit: &Kit, values: &[&str]) -> Result<()> {
        let owned: Vec<_> = values.iter().map(|s| cstr(s)).collect();
        let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        // SAFETY: one valid C-string pointer per element of this dataset (the caller's
        // contract), alive until the call returns.
        let ret = unsafe { H5Dwrite(self.id(), kit.vlen_utf8.id(), H5S_ALL, H5S_ALL, kit.dxpl(), ptrs.as_ptr().cast()) };
        self.file().check(ret, "write dataset", || self.name()).map(drop)
    }

    /// Creates and writes a numeric dataset.
    pub(crate) fn numbers(&self, kit: &Kit, name: &str, values: Nums<'_>) -> Result<Obj<'f>> {
        let t = values.num_type();
        let ds = self.create_dataset(kit, name, kit.file_type(t), values.len(), kit.dcpl(values.bytes()))?;
        if values.len() > 0 {
            ds.write(kit, values)?;
        }
        Ok(ds)
    }

    fn create_dataset(&self, kit: &Kit, name: &str, t: hid_t, n: usize, dcpl: hid_t) -> Result<Obj<'f>> {
        let space = kit.space(n)?;
        let c = cstr(name);
        // SAFETY: open location, valid type, space and property lists.
        let id = unsafe { H5Dcreate2(self.id(), c.as_ptr(), t, space.id(), kit.lcpl(name), dcpl, H5P_DEFAULT) };
        self.wrap(id, "create dataset", name)
    }

    /// Writes all elements of this dataset.
    pub(crate) fn write(&self, kit: &Kit, values: Nums<'_>) -> Result<()> {
        // SAFETY: this is a dataset of `values.len()` elements (the callers created it so);
        // the memory type matches the buffer's element type.
        let ret = unsafe { H5Dwrite(self.id(), kit.mem_type(values.num_type()), H5S_ALL, H5S_ALL, kit.dxpl(), values.ptr()) };
        self.file().check(ret, "write dataset", || self.name()).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h5::{File, Mode, locked};
    use hdf5_sys::h5l::{H5L_info1_t, H5Lget_info1};

    #[test]
    fn links_with_other_than_ascii_names_are_utf8() {
        let dir = tempfile::tempdir().unwrap();
        locked(|| {
            let kit = Kit::new().unwrap();
            let file = File::open(&dir.path().join("names.h5"), Mode::Create, Some(&kit), Some(kit.fapl())).unwrap();
            let root = file.root().unwrap();
            root.group(&kit, "plain", GroupKind::Small).unwrap();
            root.group(&kit, "ünïcode", GroupKind::Small).unwrap();
            root.numbers(&kit, "µ", Nums::F64(&[1.0])).unwrap();
            for (name, cset) in [("plain", H5T_cset_t::H5T_CSET_ASCII), ("ünïcode", H5T_cset_t::H5T_CSET_UTF8), ("µ", H5T_cset_t::H5T_CSET_UTF8)] {
                let mut info = H5L_info1_t::default();
                // SAFETY: an open group, a NUL-terminated name and an out-struct HDF5 fills.
                let ret = unsafe { H5Lget_info1(root.id(), cstr(name).as_ptr(), &raw mut info, H5P_DEFAULT) };
                assert!(ret >= 0, "{name}");
                assert_eq!(info.cset, cset, "{name}");
            }
        });
    }
}
