//! Objects encoded outside libhdf5 ([`super::encode`]) placed in the file, a batch at a
//! time, and the space the ranks' values take.
//!
//! A batch gathers encoded headers and global heap collections in memory, at addresses
//! that start at the end of the file's allocation. Flushing it extends the allocation
//! over them (the crash-safe driver owns it: [`super::overlay::append`]), writes them in
//! one piece, and only then lets libhdf5 link them into the groups it made (an existing
//! Block's `data_arrays` and `multi_tags`), which opens each linked object through
//! libhdf5. New groups of many links are encoded here too, with all their links, once
//! complete ([`Batch::close`]); libhdf5 only links each into its parent. Until a batch is
//! flushed, nothing else may allocate in the file: libhdf5 is not called while a batch
//! holds bytes, and if it were, the flush would refuse (an error, not a corrupt file).
//! libhdf5 never reads an object of a batch before the batch is on its way to disk, so
//! its caches never hold stale bytes of ours.

use hdf5_sys::h5f::{H5F_scope_t, H5Fflush};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5o::{H5Oclose, H5Olink, H5Oopen_by_addr};
use hdf5_sys::h5p::{H5P_DEFAULT, H5Pset_meta_block_size, H5Pset_small_data_block_size};

use super::encode::{Header, Heap, vlen_ref};
use super::{File, GroupKind, Kit, Obj, cstr, dense, overlay, setup};
use crate::error::{Error, Result};

/// A batch is flushed once it holds this many bytes.
const BATCH_BYTES: usize = 1 << 20;

/// The size of the blocks libhdf5 allocates its own metadata in.
const META_BLOCK: u64 = 64 << 10;

/// Sets the file-space strategy of a layout on the file-access list `fapl`: libhdf5's
/// metadata in blocks of [`META_BLOCK`], its raw data (large properties) at the end of
/// the file, sharing no block with other datasets.
pub(crate) fn set_file_space(fapl: hid_t) -> Result<()> {
    // SAFETY: plain setters on a valid file-access list.
    unsafe {
        setup(H5Pset_meta_block_size(fapl, META_BLOCK), "set metadata block size")?;
        setup(H5Pset_small_data_block_size(fapl, 0), "set small-data block size")?;
    }
    Ok(())
}

/// Links the groups that [`super::dense`] encodes hold at most in their headers
/// (libhdf5's default for a new group).
const MAX_COMPACT: usize = 8;

/// A group the objects of a batch are linked into.
pub(crate) enum Container<'f> {
    /// A group libhdf5 made (one of an existing Block): libhdf5 links into it at each
    /// flush.
    Made(Obj<'f>),
    /// A new group, encoded with all its links when the batch closes it, and then linked
    /// by libhdf5 as `name` into `parent`.
    New { parent: Obj<'f>, name: String, links: Vec<(String, u64)> },
    /// A new group already placed.
    Closed,
}

/// A link into a [`Container::Made`] that libhdf5 makes once its batch is in the file.
struct Pending {
    container: usize,
    name: String,
    addr: u64,
}

/// Encoded objects on their way into one file.
pub(crate) struct Batch<'f> {
    file: &'f File,
    /// The address of `buf[0]`, valid while `buf` is not empty.
    base: u64,
    buf: Vec<u8>,
    heap: Option<Heap>,
    containers: Vec<Container<'f>>,
    links: Vec<Pending>,
    /// New groups in the batch, to be linked into their parents: parent, name, address.
    placed: Vec<(Obj<'f>, String, u64)>,
}

impl<'f> Batch<'f> {
    pub(crate) fn new(file: &'f File) -> Batch<'f> {
        let buf = Vec::with_capacity(BATCH_BYTES + (64 << 10));
        Batch { file, base: 0, buf, heap: None, containers: Vec::new(), links: Vec::new(), placed: Vec::new() }
    }

    /// Adds a container for [`Batch::put_linked`]; returns its index.
    pub(crate) fn add_container(&mut self, container: Container<'f>) -> usize {
        self.containers.push(container);
        self.containers.len() - 1
    }

    /// The address the next byte of the batch gets.
    fn next_addr(&mut self) -> Result<u64> {
        if self.buf.is_empty() {
            self.base = overlay::end_of_allocation(self.file.id, self.file.path())?;
        }
        Ok(self.base + self.buf.len() as u64)
    }

    /// Adds an encoded object with `refcount` hard links to it (those in the headers of
    /// this crate's encoding); returns its address.
    pub(crate) fn put(&mut self, header: Header, refcount: u32) -> Result<u64> {
        if let Some(problem) = header.problem() {
            return Err(Error::invalid("an object being written", problem));
        }
        let addr = self.next_addr()?;
        header.finish(refcount, &mut self.buf);
        Ok(addr)
    }

    /// Adds an encoded object with `refcount` hard links in headers and the links `into`
    /// (container index, name); returns its address.
    pub(crate) fn put_linked(&mut self, header: Header, refcount: u32, into: &[(usize, String)]) -> Result<u64> {
        let encoded = into.iter().filter(|(c, _)| matches!(self.containers[*c], Container::New { .. })).count();
        let addr = self.put(header, refcount + u32::try_from(encoded).expect("a few links"))?;
        for (container, name) in into {
            match &mut self.containers[*container] {
                Container::Made(_) => self.links.push(Pending { container: *container, name: name.clone(), addr }),
                Container::New { links, .. } => links.push((name.clone(), addr)),
                Container::Closed => unreachable!("links go into open containers"),
            }
        }
        Ok(addr)
    }

    /// Adds raw bytes (the values of a large property), 8-byte aligned; returns their address.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<u64> {
        let addr = self.next_addr()?;
        self.buf.extend_from_slice(bytes);
        self.buf.resize(self.buf.len().next_multiple_of(8), 0);
        Ok(addr)
    }

    /// Stores `s` in the batch's global heap; returns the element that refers to it.
    pub(crate) fn string(&mut self, s: &str) -> Result<[u8; 16]> {
        self.next_addr()?;
        let mut heap = match self.heap.take() {
            Some(h) if h.fits(s.len()) => h,
            other => {
                if let Some(full) = other {
                    full.close(&mut self.buf);
                }
                Heap::start(&mut self.buf, s.len())
            }
        };
        let index = heap.insert(&mut self.buf, s);
        let collection = self.base + heap.start_offset() as u64;
        self.heap = Some(heap);
        Ok(vlen_ref(s.len(), collection, index))
    }

    /// Encodes the new group `container` with every link it got (in its header when
    /// they are few, else in dense storage); the next flush links it into its parent. A
    /// group libhdf5 made stays as it is (its links are made at each flush).
    pub(crate) fn close(&mut self, container: usize) -> Result<()> {
        let (parent, name, links) = match std::mem::replace(&mut self.containers[container], Container::Closed) {
            Container::New { parent, name, links } => (parent, name, links),
            other => {
                self.containers[container] = other;
                return Ok(());
            }
        };
        let info = GroupKind::Container.info();
        let header = if links.len() <= MAX_COMPACT {
            let mut h = Header::group(info);
            links.iter().for_each(|(n, addr)| h.link(n, *addr));
            h
        } else {
            let at = self.next_addr()?;
            let d = dense::encode(&links, at).map_err(|problem| Error::invalid(parent.child_name(&name), problem))?;
            self.raw(&d.bytes)?;
            Header::dense_group(info, links.len() as u64, [d.heap, d.names])
        };
        let addr = self.put(header, 0)?;
        self.placed.push((parent, name, addr));
        Ok(())
    }

    /// Whether the batch should be flushed.
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() >= BATCH_BYTES
    }

    /// Writes the batch into the file, then lets libhdf5 make its links into the
    /// containers it made and link the new groups into their parents.
    pub(crate) fn flush(&mut self, kit: &Kit) -> Result<()> {
        if let Some(heap) = self.heap.take() {
            heap.close(&mut self.buf);
        }
        if !self.buf.is_empty() {
            overlay::append(self.file.id, self.file.path(), self.base, &self.buf, 0)?;
            self.buf.clear();
        }
        // Container by container (each in the order its links were added, which is their
        // creation order): one large group's structures at a time stay in libhdf5's cache.
        self.links.sort_by_key(|p| p.container);
        for Pending { container, name, addr } in std::mem::take(&mut self.links) {
            let Container::Made(parent) = &self.containers[container] else { unreachable!("pending links go into made groups") };
            self.link(kit, parent, &name, addr)?;
        }
        for (parent, name, addr) in std::mem::take(&mut self.placed) {
            self.link(kit, &parent, &name, addr)?;
        }
        // Linking changed the headers (their link counts), which libhdf5 writes back when
        // its cache evicts them. Written while the batch is still buffered, they merge
        // into it; after the buffer went to disk, each would be a write of its own (1,300
        // of 1,500 calls for 10,000 spike trains). So libhdf5 writes its dirty metadata
        // before the buffer is full.
        if overlay::tail_half_full(self.file.id, self.file.path())? {
            // SAFETY: an open file id.
            let ret = unsafe { H5Fflush(self.file.id, H5F_scope_t::H5F_SCOPE_LOCAL) };
            self.file.check(ret, "flush", || "/".into())?;
        }
        Ok(())
    }

    /// Links the object of this batch at `addr` into `parent` as `name`, through libhdf5.
    fn link(&self, kit: &Kit, parent: &Obj<'f>, name: &str, addr: u64) -> Result<()> {
        let c = cstr(name);
        // SAFETY: `addr` is an object header this batch wrote into the file; the opened
        // object is closed right after linking; valid names and lists.
        unsafe {
            let id = self.file.check(H5Oopen_by_addr(self.file.id, addr), "open", || parent.child_name(name))?;
            let ret = H5Olink(id, parent.id(), c.as_ptr(), kit.lcpl(name), H5P_DEFAULT);
            H5Oclose(id);
            self.file.check(ret, "link", || parent.child_name(name)).map(drop)
        }
    }
}

impl File {
    /// Allocates `len` bytes for values the ranks write later, starting on a multiple
    /// of `align` (the bytes skipped stay unused); returns where they start.
    pub(crate) fn claim(&self, len: u64, align: u64) -> Result<u64> {
        let end = overlay::end_of_allocation(self.id, self.path())?;
        let start = if align <= 1 { end } else { end.next_multiple_of(align) };
        overlay::append(self.id, self.path(), end, &[], start - end + len)?;
        Ok(start)
    }
}
