//! Datasets whose values are allocated before their place in the file exists, so that rank
//! 0 can lay every rank's values out as one extent and link each dataset where NIX wants
//! it later; and the file-space settings that keep those extents apart from metadata.
//!
//! A reserved dataset is created without a link (`H5Dcreate_anon`, storage allocated at
//! once) and kept alive by a reference count of one until [`Obj::place`] links it. Raw
//! data then goes straight to the end of the file (no small-data block shared between
//! datasets), and metadata into blocks big enough for the reservations' headers, so the
//! values of consecutive reservations are contiguous.

use hdf5_sys::h5::{haddr_t, hsize_t};
use hdf5_sys::h5d::{H5Dcreate_anon, H5Dget_offset};
use hdf5_sys::h5f::H5Fget_filesize;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5o::{H5O_INFO_BASIC, H5O_info1_t, H5Odecr_refcount, H5Oget_info2, H5Oincr_refcount, H5Olink, H5Oopen_by_addr};
use hdf5_sys::h5p::{H5P_DEFAULT, H5Pset_meta_block_size, H5Pset_small_data_block_size};

use super::kit::{Layout, NumType};
use super::{File, Kit, Obj, cstr, setup};
use crate::error::Result;

/// The object-header bytes one reservation takes at most (a dataset of 1.10 with its
/// dataspace, type, fill-value and layout messages takes about 300).
pub(crate) const HEADER_BYTES: u64 = 512;

/// A dataset with allocated values and no link yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reserved {
    /// Where its object header is (to open it again).
    header: haddr_t,
    /// Where its values start.
    pub offset: u64,
}

/// Sets the file-space strategy of a layout on the file-access list `fapl`: raw data is
/// allocated at the end of the file, one dataset after another, and metadata in blocks of
/// `meta_block` bytes (at least HDF5's 2 KiB).
pub(crate) fn set_extents(fapl: hid_t, meta_block: u64) -> Result<()> {
    // SAFETY: plain setters on a valid file-access list.
    unsafe {
        setup(H5Pset_meta_block_size(fapl, meta_block.max(2048)), "set metadata block size")?;
        setup(H5Pset_small_data_block_size(fapl, 0), "set small-data block size")?;
    }
    Ok(())
}

impl File {
    /// The end of the file's allocated space (HDF5 reports the larger of it and the end
    /// of the file on disk, which lies within it while HDF5 writes).
    pub(crate) fn end_of_allocation(&self) -> Result<u64> {
        let mut size: hsize_t = 0;
        // SAFETY: an open file and a plain out-parameter.
        let ret = unsafe { H5Fget_filesize(self.id, &raw mut size) };
        self.check(ret, "find the end of", || "/".into())?;
        Ok(size)
    }

    /// Allocates a contiguous dataset of `n` (> 0) elements of `t` with no link.
    pub(crate) fn reserve(&self, kit: &Kit, t: NumType, n: usize) -> Result<Reserved> {
        let ds = self.anonymous(kit, t, n)?;
        // SAFETY: an open dataset; the count keeps it when its handle closes; the info
        // struct is plain data (all-zero is valid) that HDF5 fills.
        unsafe {
            let mut info: H5O_info1_t = std::mem::zeroed();
            self.check(H5Oincr_refcount(ds.id()), "keep", || "a reserved dataset".into())?;
            self.check(H5Oget_info2(ds.id(), &raw mut info, H5O_INFO_BASIC), "locate", || "a reserved dataset".into())?;
            Ok(Reserved { header: info.addr, offset: ds.offset()? })
        }
    }

    /// Allocates `bytes` that no dataset uses while the returned handle is open (it is an
    /// unlinked dataset, deleted when closed), to align what is allocated next.
    pub(crate) fn pad(&self, kit: &Kit, bytes: usize) -> Result<Obj<'_>> {
        self.anonymous(kit, NumType::Bool, bytes)
    }

    fn anonymous(&self, kit: &Kit, t: NumType, n: usize) -> Result<Obj<'_>> {
        let space = kit.space(n)?;
        // SAFETY: open file, valid type, dataspace and property lists.
        let id = unsafe { H5Dcreate_anon(self.id, kit.file_type(t), space.id(), kit.dcpl(Layout::Allocated, 0), H5P_DEFAULT) };
        self.check(id, "reserve", || format!("a dataset of {n} values")).map(|id| Obj::new(id, self))
    }
}

impl<'f> Obj<'f> {
    /// Links the reserved dataset `r` into this group as `name`; returns it, open.
    pub(crate) fn place(&self, kit: &Kit, r: Reserved, name: &str) -> Result<Obj<'f>> {
        let file = self.file();
        // SAFETY: `r.header` is the header of a dataset `File::reserve` made in this file
        // and kept alive; linking adds the count the link owns, and dropping the reserve's
        // count leaves exactly the link's.
        let id = unsafe { H5Oopen_by_addr(file.id, r.header) };
        let ds = self.wrap(id, "open reserved dataset", name)?;
        let c = cstr(name);
        // SAFETY: as above; NUL-terminated name, valid link-creation list.
        unsafe {
            file.check(H5Olink(ds.id(), self.id(), c.as_ptr(), kit.lcpl(name), H5P_DEFAULT), "link", || self.child_name(name))?;
            file.check(H5Odecr_refcount(ds.id()), "link", || self.child_name(name))?;
        }
        Ok(ds)
    }

    /// Where this contiguous, allocated dataset's values start in the file.
    pub(crate) fn offset(&self) -> Result<u64> {
        // SAFETY: open dataset id.
        let addr = unsafe { H5Dget_offset(self.id()) };
        if addr == u64::MAX {
            return self.file().check(-1i32, "locate the values of", || self.name()).map(|_| 0);
        }
        Ok(addr)
    }
}
