//! HDF5's metadata cache: a fixed size for readers, and room for a large group's link
//! storage while its links are listed.

use hdf5_sys::h5ac::{H5AC__CURR_CACHE_CONFIG_VERSION, H5AC_cache_config_t};
use hdf5_sys::h5c::{H5C_cache_decr_mode, H5C_cache_flash_incr_mode, H5C_cache_incr_mode};
use hdf5_sys::h5f::{H5Fget_mdc_config, H5Fset_mdc_config};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5o::{H5O_INFO_META_SIZE, H5O_info1_t, H5Oget_info2};
use hdf5_sys::h5p::{H5Pget_mdc_config, H5Pset_mdc_config};

use super::{File, Link, Obj, TRUE, setup};
use crate::error::Result;

/// The metadata cache of a reader. Reading visits each object header once, so a larger
/// cache only holds more of them: HDF5's adaptive cache, which grows while its hit rate
/// is low, held hundreds of MB of decoded headers reading 100,000 spike trains.
pub(crate) const READ: usize = 2 << 20;

/// A cache of `bytes` that keeps its size (in HDF5's accounting, the entries' sizes on
/// disk; decoded object headers take several times that in memory).
fn fixed_config(mut cache: H5AC_cache_config_t, bytes: usize) -> H5AC_cache_config_t {
    cache.set_initial_size = TRUE;
    cache.initial_size = bytes;
    cache.max_size = bytes;
    cache.min_size = bytes;
    cache.incr_mode = H5C_cache_incr_mode::H5C_incr__off;
    cache.flash_incr_mode = H5C_cache_flash_incr_mode::H5C_flash_incr__off;
    cache.decr_mode = H5C_cache_decr_mode::H5C_decr__off;
    cache
}

fn blank() -> H5AC_cache_config_t {
    // SAFETY: plain data; all-zero is a valid value that HDF5 fills.
    let mut cache: H5AC_cache_config_t = unsafe { std::mem::zeroed() };
    cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    cache
}

/// Gives the file-access list `fapl` a metadata cache of `bytes` that keeps its size.
pub(crate) fn fixed(fapl: hid_t, bytes: usize) -> Result<()> {
    let mut cache = blank();
    // SAFETY: a valid list and a config struct of the current version.
    unsafe {
        setup(H5Pget_mdc_config(fapl, &raw mut cache), "read cache settings")?;
        let cache = fixed_config(cache, bytes);
        setup(H5Pset_mdc_config(fapl, &raw const cache), "set cache size")
    }
}

/// The cache of a file made larger for a while; dropping it restores the old size.
pub(crate) struct Widened<'f> {
    file: &'f File,
    old: Option<H5AC_cache_config_t>,
}

impl Drop for Widened<'_> {
    fn drop(&mut self) {
        if let Some(mut old) = self.old.take() {
            old.set_initial_size = TRUE;
            old.initial_size = old.max_size;
            // SAFETY: an open file and the config it had; a failure leaves the larger
            // cache, which is only slower to free.
            unsafe {
                H5Fset_mdc_config(self.file.id, &raw mut old);
            }
        }
    }
}

impl Obj<'_> {
    /// The links of a group that may hold many, as [`Obj::links`] lists them, with room
    /// in the cache for the group's link storage while they are listed.
    pub(crate) fn many_links(&self) -> Result<Vec<Link>> {
        let _room = self.room_for_links()?;
        self.links()
    }

    /// Makes room in the file's metadata cache for this group's link storage (its name
    /// index and link heap), until the returned guard drops. Listing the links of a
    /// group with dense storage visits its heap in the order of the names' hashes: when
    /// the heap does not fit, every link reads a block of it again.
    pub(crate) fn room_for_links(&self) -> Result<Widened<'_>> {
        let file = self.file();
        let mut info = H5O_info1_t::default();
        // SAFETY: an open object; the struct is plain data HDF5 fills.
        let ret = unsafe { H5Oget_info2(self.id(), &raw mut info, H5O_INFO_META_SIZE) };
        file.check(ret, "measure the links of", || self.name())?;
        let want = usize::try_from(info.meta_size.obj.heap_size.saturating_add(info.meta_size.obj.index_size)).unwrap_or(usize::MAX);
        let mut current = blank();
        // SAFETY: an open file and a config struct of the current version.
        file.check(unsafe { H5Fget_mdc_config(file.id, &raw mut current) }, "read the cache settings of", || "/".into())?;
        let bytes = want.saturating_add(READ).min(MAX_ROOM);
        if bytes <= current.max_size {
            return Ok(Widened { file, old: None });
        }
        let mut wide = fixed_config(current, bytes);
        // SAFETY: as above, with a config derived from the file's own.
        file.check(unsafe { H5Fset_mdc_config(file.id, &raw mut wide) }, "resize the cache of", || "/".into())?;
        Ok(Widened { file, old: Some(current) })
    }
}

/// The largest cache [`Obj::room_for_links`] makes (HDF5's own limit is 128 MiB).
const MAX_ROOM: usize = 96 << 20;
