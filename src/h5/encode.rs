//! HDF5 1.10 object headers and global heap collections, encoded here instead of by
//! libhdf5: the per-object part of a layout (a spike train's or signal's groups,
//! attributes and datasets) as bytes, exactly in the format libhdf5 itself writes for
//! them (HDF5 File Format Specification, version 0 superblock files: version 1 object
//! headers, version 1 attribute and link messages, global heap collections).
//!
//! libhdf5 spends about a million instructions on the two dozen attributes, four groups
//! and three datasets of one spike train (README, "Performance"); encoding the same bytes
//! takes a few microseconds. Everything here is pure: [`super::batch`] places the bytes in
//! the file; [`super::dense`] encodes the link storage of the large groups.

use std::ffi::CStr;

/// HDF5's undefined address.
pub(crate) const UNDEF: u64 = u64::MAX;

/// The smallest global heap collection libhdf5 reads (`H5HG_MINSIZE`).
pub(crate) const HEAP_MIN: usize = 4096;

const MSG_DATASPACE: u16 = 0x01;
const MSG_LINK_INFO: u16 = 0x02;
const MSG_DATATYPE: u16 = 0x03;
const MSG_FILL: u16 = 0x05;
const MSG_LINK: u16 = 0x06;
const MSG_LAYOUT: u16 = 0x08;
const MSG_GROUP_INFO: u16 = 0x0a;
const MSG_ATTRIBUTE: u16 = 0x0c;
/// Message flag: the message never changes.
const CONSTANT: u8 = 0x01;

/// The element type of an encoded dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    /// IEEE `float64`, little-endian.
    F64,
    /// `int64`, little-endian.
    I64,
    /// Neo's bool: an enum `{FALSE=0, TRUE=1}` over `int8`.
    Bool,
    /// Variable-length UTF-8 strings (16-byte global heap references).
    VlenUtf8,
}

impl Elem {
    /// The bytes one element takes in the file.
    pub(crate) fn size(self) -> u64 {
        match self {
            Elem::F64 | Elem::I64 => 8,
            Elem::Bool => 1,
            Elem::VlenUtf8 => 16,
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Elem::F64 => float64(out),
            Elem::I64 => integer(out, 8, true),
            Elem::Bool => {
                // Enum class (8), version 1, two members; base type int8; names padded
                // to 8 bytes; values.
                out.extend_from_slice(&[0x18, 2, 0, 0]);
                out.extend_from_slice(&1u32.to_le_bytes());
                integer(out, 1, true);
                out.extend_from_slice(b"FALSE\0\0\0TRUE\0\0\0\0");
                out.extend_from_slice(&[0, 1]);
            }
            Elem::VlenUtf8 => {
                // Variable-length class (9), version 1: a string, NUL-terminated, UTF-8;
                // its base type is an unsigned byte.
                out.extend_from_slice(&[0x19, 0x01, 0x01, 0x00]);
                out.extend_from_slice(&16u32.to_le_bytes());
                integer(out, 1, false);
            }
        }
    }

    /// The fill-value message libhdf5 writes for a dataset of this type (version 2,
    /// allocated early, default fill value): strings fill on allocation, numbers if set,
    /// values the ranks write later never.
    fn fill(self, contiguous: bool) -> [u8; 8] {
        let fill_time = match (self, contiguous) {
            (_, true) => 1,
            (Elem::VlenUtf8, false) => 0,
            (_, false) => 2,
        };
        [2, 1, fill_time, 1, 0, 0, 0, 0]
    }
}

/// A fixed-point type (class 0), little-endian.
fn integer(out: &mut Vec<u8>, bytes: u32, signed: bool) {
    out.extend_from_slice(&[0x10, if signed { 0x08 } else { 0 }, 0, 0]);
    out.extend_from_slice(&bytes.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&u16::try_from(bytes * 8).expect("small integer").to_le_bytes());
}

/// IEEE `float64` little-endian (class 1): sign at bit 63, 11 exponent bits at 52 with
/// bias 1023, 52 mantissa bits with an implied leading one.
fn float64(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x11, 0x20, 0x3f, 0x00]);
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 64, 0, 52, 11, 0, 52]);
    out.extend_from_slice(&1023u32.to_le_bytes());
}

/// A fixed-length, NULL-padded string type of `len` bytes (class 3).
fn fixed_string(out: &mut Vec<u8>, len: usize, ascii: bool) {
    out.extend_from_slice(&[0x13, if ascii { 0x01 } else { 0x11 }, 0, 0]);
    out.extend_from_slice(&u32::try_from(len).expect("attribute strings are short").to_le_bytes());
}

/// A one-dimensional dataspace of `n` elements, maximum `n` (version 1).
fn simple_space(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&[1, 1, 1, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
}

/// The scalar dataspace (version 1, rank 0).
const SCALAR: [u8; 8] = [1, 0, 0, 0, 0, 0, 0, 0];

/// Pads `out` with zeros to a multiple of 8 bytes after `start`.
fn pad_from(out: &mut Vec<u8>, start: usize) {
    out.resize(start + (out.len() - start).next_multiple_of(8), 0);
}

/// Where a dataset's values are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Storage {
    /// In the object header: these bytes.
    Compact(Vec<u8>),
    /// Contiguous at `addr` ([`UNDEF`] for none), `bytes` long.
    Contiguous { addr: u64, bytes: u64 },
}

/// The messages of one object header being built.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    body: Vec<u8>,
    messages: u16,
    /// Links added so far (their creation order).
    links: u64,
    /// Where the link-info message's maximum creation order is, for a group.
    order_at: Option<usize>,
    /// Why the header cannot be encoded (a message over 64 KiB), if so.
    problem: Option<String>,
}

/// How a group's links are stored, as libhdf5 writes it in the group-info message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupInfo {
    /// Compact and dense limits, when not HDF5's default (8 and 6).
    pub phase_change: Option<(u16, u16)>,
    /// Estimated links and name length (they size the header when libhdf5 creates one).
    pub estimate: (u16, u16),
}

impl Header {
    fn empty() -> Header {
        Header { body: Vec::with_capacity(512), messages: 0, links: 0, order_at: None, problem: None }
    }

    /// A group that tracks the creation order of its links (compact storage).
    pub(crate) fn group(info: GroupInfo) -> Header {
        Header::group_with(info, [UNDEF, UNDEF])
    }

    /// A group whose `links` links are in dense storage: the fractal heap and the name
    /// index at `[heap, names]` ([`super::dense`]).
    pub(crate) fn dense_group(info: GroupInfo, links: u64, storage: [u64; 2]) -> Header {
        let mut h = Header::group_with(info, storage);
        h.links = links;
        h
    }

    fn group_with(info: GroupInfo, [heap, names]: [u64; 2]) -> Header {
        let mut h = Header::empty();
        let mut linfo = vec![0u8, 0x01];
        let order_at = linfo.len();
        linfo.extend_from_slice(&0u64.to_le_bytes());
        linfo.extend_from_slice(&heap.to_le_bytes());
        linfo.extend_from_slice(&names.to_le_bytes());
        let at = h.message(MSG_LINK_INFO, 0, &linfo);
        h.order_at = Some(at + order_at);
        let mut ginfo = vec![0u8, 0x02];
        if let Some((max_compact, min_dense)) = info.phase_change {
            ginfo[1] |= 0x01;
            ginfo.extend_from_slice(&max_compact.to_le_bytes());
            ginfo.extend_from_slice(&min_dense.to_le_bytes());
        }
        ginfo.extend_from_slice(&info.estimate.0.to_le_bytes());
        ginfo.extend_from_slice(&info.estimate.1.to_le_bytes());
        h.message(MSG_GROUP_INFO, CONSTANT, &ginfo);
        h
    }

    /// A one-dimensional dataset of `n` elements of `elem`, stored as `storage`.
    pub(crate) fn dataset(elem: Elem, n: u64, storage: &Storage) -> Header {
        let mut h = Header::empty();
        let mut m = Vec::with_capacity(32);
        simple_space(&mut m, n);
        h.message(MSG_DATASPACE, 0, &m);
        m.clear();
        elem.encode(&mut m);
        h.message(MSG_DATATYPE, CONSTANT, &m);
        h.message(MSG_FILL, CONSTANT, &elem.fill(matches!(storage, Storage::Contiguous { .. })));
        m.clear();
        match storage {
            Storage::Compact(bytes) => {
                m.extend_from_slice(&[3, 0]);
                m.extend_from_slice(&u16::try_from(bytes.len()).expect("compact data is under 64 KiB").to_le_bytes());
                m.extend_from_slice(bytes);
                h.message(MSG_LAYOUT, 0, &m);
            }
            Storage::Contiguous { addr, bytes } => {
                m.extend_from_slice(&[3, 1]);
                m.extend_from_slice(&addr.to_le_bytes());
                m.extend_from_slice(&bytes.to_le_bytes());
                h.message(MSG_LAYOUT, CONSTANT, &m);
            }
        }
        h
    }

    /// Appends one message; returns where its data starts in the body.
    fn message(&mut self, kind: u16, flags: u8, data: &[u8]) -> usize {
        self.message_with(kind, flags, |b| b.extend_from_slice(data))
    }

    /// Appends one message whose data `data` appends to the body; returns where its data
    /// starts.
    fn message_with(&mut self, kind: u16, flags: u8, data: impl FnOnce(&mut Vec<u8>)) -> usize {
        let start = self.body.len();
        self.body.extend_from_slice(&kind.to_le_bytes());
        self.body.extend_from_slice(&[0, 0, flags, 0, 0, 0]);
        let at = self.body.len();
        data(&mut self.body);
        let len = self.body.len() - at;
        let Ok(size) = u16::try_from(len.next_multiple_of(8)) else {
            self.problem.get_or_insert_with(|| format!("holds an attribute or link name of {len} bytes; at most about 64 KiB fit"));
            self.body.truncate(start);
            return start;
        };
        self.body[start + 2..start + 4].copy_from_slice(&size.to_le_bytes());
        pad_from(&mut self.body, 0);
        self.messages += 1;
        at
    }

    /// A scalar attribute of type `encode_type` holding `value` (version 1 message).
    fn attr(&mut self, name: &CStr, encode_type: impl FnOnce(&mut Vec<u8>), value: &[u8]) {
        let name = name.to_bytes();
        self.message_with(MSG_ATTRIBUTE, 0, |m| {
            let start = m.len();
            m.extend_from_slice(&[1, 0]);
            m.extend_from_slice(&u16::try_from(name.len() + 1).expect("short attribute name").to_le_bytes());
            // The datatype's size, set once it is encoded.
            m.extend_from_slice(&[0, 0]);
            m.extend_from_slice(&u16::try_from(SCALAR.len()).expect("small space").to_le_bytes());
            m.extend_from_slice(name);
            m.push(0);
            pad_from(m, start);
            let dtype = m.len();
            encode_type(m);
            let dtype_len = u16::try_from(m.len() - dtype).expect("small type");
            m[start + 4..start + 6].copy_from_slice(&dtype_len.to_le_bytes());
            pad_from(m, start);
            m.extend_from_slice(&SCALAR);
            m.extend_from_slice(value);
        });
    }

    /// A scalar fixed-length string attribute, NULL-padded, ASCII or UTF-8: what
    /// `Obj::attr_str` writes.
    pub(crate) fn attr_str(&mut self, name: &CStr, value: &str, ascii: bool) {
        // An empty string is one NUL byte.
        let bytes = if value.is_empty() { &[0u8][..] } else { value.as_bytes() };
        self.attr(name, |t| fixed_string(t, bytes.len(), ascii), bytes);
    }

    /// A scalar `float64` attribute.
    pub(crate) fn attr_f64(&mut self, name: &CStr, value: f64) {
        self.attr(name, float64, &value.to_le_bytes());
    }

    /// A hard link `name` to the object header at `addr`, in creation order.
    pub(crate) fn link(&mut self, name: &str, addr: u64) {
        let order = self.links;
        self.message_with(MSG_LINK, 0, |m| link_message(m, name, order, addr));
        self.links += 1;
    }

    /// Why the header cannot be encoded, if it cannot.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Appends the header, with `refcount` hard links to it, to `out`.
    pub(crate) fn finish(mut self, refcount: u32, out: &mut Vec<u8>) {
        if let Some(at) = self.order_at {
            self.body[at..at + 8].copy_from_slice(&self.links.to_le_bytes());
        }
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&self.messages.to_le_bytes());
        out.extend_from_slice(&refcount.to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.body.len()).expect("headers are small").to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.body);
    }
}

/// The body of a link message (version 1): a hard link `name` to the object header at
/// `addr`, with creation order `order`; in an object header or a group's fractal heap.
/// Appended to `m`.
pub(crate) fn link_message(m: &mut Vec<u8>, name: &str, order: u64, addr: u64) {
    let len = name.len();
    // The width of the name's length field, and its code in the flags.
    let (size_flag, width) = match len {
        0..=0xff => (0u8, 1),
        0x100..=0xffff => (1, 2),
        _ => (2, 4),
    };
    let ascii = name.is_ascii();
    m.push(1);
    m.push(size_flag | 0x04 | if ascii { 0 } else { 0x10 });
    m.extend_from_slice(&order.to_le_bytes());
    if !ascii {
        m.push(1);
    }
    m.extend_from_slice(&(len as u64).to_le_bytes()[..width]);
    m.extend_from_slice(name.as_bytes());
    m.extend_from_slice(&addr.to_le_bytes());
}

/// A global heap collection being filled, at some place of a buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heap {
    /// Where the collection starts in the buffer.
    start: usize,
    /// Its size in bytes.
    size: usize,
    /// Bytes used so far (from `start`).
    used: usize,
    /// The next object index.
    next: u16,
}

impl Heap {
    /// The bytes a collection needs to hold a string of `len` bytes.
    fn need(len: usize) -> usize {
        16 + len.next_multiple_of(8)
    }

    /// Starts a collection at the end of `buf` with room for a first string of `len`
    /// bytes (at least [`HEAP_MIN`] bytes).
    pub(crate) fn start(buf: &mut Vec<u8>, len: usize) -> Heap {
        let size = (16 + Heap::need(len) + 16).max(HEAP_MIN).next_multiple_of(8);
        let start = buf.len();
        buf.resize(start + size, 0);
        buf[start..start + 8].copy_from_slice(b"GCOL\x01\0\0\0");
        buf[start + 8..start + 16].copy_from_slice(&(size as u64).to_le_bytes());
        Heap { start, size, used: 16, next: 1 }
    }

    /// Whether a string of `len` bytes still fits (leaving room for the free-space object).
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.next < u16::MAX && self.used + Heap::need(len) + 16 <= self.size
    }

    /// Where the collection starts in its buffer.
    pub(crate) fn start_offset(&self) -> usize {
        self.start
    }

    /// Stores `s`; returns its object index.
    pub(crate) fn insert(&mut self, buf: &mut [u8], s: &str) -> u32 {
        let at = self.start + self.used;
        let index = self.next;
        buf[at..at + 2].copy_from_slice(&index.to_le_bytes());
        buf[at + 8..at + 16].copy_from_slice(&(s.len() as u64).to_le_bytes());
        buf[at + 16..at + 16 + s.len()].copy_from_slice(s.as_bytes());
        self.used += Heap::need(s.len());
        self.next += 1;
        u32::from(index)
    }

    /// Ends the collection with its free-space object.
    pub(crate) fn close(self, buf: &mut [u8]) {
        let at = self.start + self.used;
        let free = (self.size - self.used) as u64;
        buf[at..at + 8].fill(0);
        buf[at + 8..at + 16].copy_from_slice(&free.to_le_bytes());
    }
}

/// The 16 bytes a variable-length string element holds: its length and where its
/// characters are (collection address and object index).
pub(crate) fn vlen_ref(len: usize, collection: u64, index: u32) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&u32::try_from(len).expect("strings under 4 GiB").to_le_bytes());
    out[4..12].copy_from_slice(&collection.to_le_bytes());
    out[12..].copy_from_slice(&index.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes libhdf5 1.10.8 wrote for a spike train's multi-tag group (taken from a
    /// file: five entity attributes, the links `positions` and `metadata`, two links to it).
    #[test]
    fn a_group_header_is_what_libhdf5_writes() {
        let mut h = Header::group(GroupInfo { phase_change: None, estimate: (4, 90) });
        h.attr_str(c"type", "neo.spiketrain", false);
        h.attr_str(c"created_at", "20261207T225845", true);
        h.link("positions", 27528);
        let mut out = Vec::new();
        h.finish(2, &mut out);
        let expected_prefix = [1u8, 0, 5, 0, 2, 0, 0, 0];
        assert_eq!(out[..8], expected_prefix);
        // linfo: tracked, max creation order 1, no dense storage.
        assert_eq!(out[16..24], [2, 0, 32, 0, 0, 0, 0, 0]);
        assert_eq!(out[24..34], [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
        // ginfo with the estimate only.
        assert_eq!(out[56..70], [0x0a, 0, 8, 0, 1, 0, 0, 0, 0, 2, 4, 0, 0x5a, 0]);
        // The `type` attribute, byte for byte.
        let attr: Vec<u8> = [
            &[0x0c, 0, 0x30, 0, 0, 0, 0, 0, 1, 0, 5, 0, 8, 0, 8, 0][..],
            b"type\0\0\0\0",
            &[0x13, 0x11, 0, 0, 0x0e, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            b"neo.spiketrain\0\0",
        ]
        .concat();
        assert_eq!(out[72..72 + attr.len()], attr[..]);
        let link: Vec<u8> = [&[6u8, 0, 0x20, 0, 0, 0, 0, 0, 1, 4][..], &[0; 8], &[9], b"positions", &27528u64.to_le_bytes(), &[0; 4]].concat();
        assert_eq!(out[out.len() - 40..], link[..]);
        assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()) as usize, out.len() - 16);
    }

    #[test]
    fn a_compact_string_dataset_is_what_libhdf5_writes() {
        let h = Header::dataset(Elem::VlenUtf8, 1, &Storage::Compact(vlen_ref(14, 0x20_0000, 22).to_vec()));
        let mut out = Vec::new();
        h.finish(1, &mut out);
        let expected: Vec<u8> = [
            &[1u8, 0, 4, 0, 1, 0, 0, 0, 0x70, 0, 0, 0, 0, 0, 0, 0][..],
            &[1, 0, 0x18, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            &[3, 0, 0x18, 0, 1, 0, 0, 0, 0x19, 1, 1, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0],
            &[5, 0, 8, 0, 1, 0, 0, 0, 2, 1, 0, 1, 0, 0, 0, 0],
            &[8, 0, 0x18, 0, 0, 0, 0, 0, 3, 0, 0x10, 0, 0x0e, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0x16, 0, 0, 0, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn a_contiguous_f64_dataset_is_what_libhdf5_writes() {
        let h = Header::dataset(Elem::F64, 18, &Storage::Contiguous { addr: 0x12_7100, bytes: 144 });
        let mut out = Vec::new();
        h.finish(1, &mut out);
        let dtype = [0x11u8, 0x20, 0x3f, 0, 8, 0, 0, 0, 0, 0, 0x40, 0, 0x34, 0x0b, 0, 0x34, 0xff, 3, 0, 0, 0, 0, 0, 0];
        assert_eq!(out[48..56], [3, 0, 0x18, 0, 1, 0, 0, 0]);
        assert_eq!(out[56..80], dtype);
        assert_eq!(out[80..96], [5, 0, 8, 0, 1, 0, 0, 0, 2, 1, 1, 1, 0, 0, 0, 0]);
        let layout: Vec<u8> = [&[8u8, 0, 0x18, 0, 1, 0, 0, 0, 3, 1][..], &0x12_7100u64.to_le_bytes(), &144u64.to_le_bytes(), &[0; 6]].concat();
        assert_eq!(out[96..], layout[..]);
    }

    #[test]
    fn a_message_over_64_kib_is_a_problem_not_a_panic() {
        let mut h = Header::group(GroupInfo { phase_change: None, estimate: (4, 90) });
        assert!(h.problem().is_none());
        h.attr_str(c"unit", &"m".repeat(70_000), false);
        assert!(h.problem().unwrap().contains("64 KiB"));
    }

    #[test]
    fn a_heap_collection_holds_its_strings_and_ends_with_free_space() {
        let mut buf = vec![7u8; 3];
        let mut heap = Heap::start(&mut buf, 6);
        assert_eq!(heap.insert(&mut buf, "0.14.6"), 1);
        assert_eq!(heap.insert(&mut buf, "simulate"), 2);
        heap.close(&mut buf);
        let c = &buf[3..];
        assert_eq!(c.len(), HEAP_MIN);
        assert_eq!(&c[..16], b"GCOL\x01\0\0\0\x00\x10\0\0\0\0\0\0");
        assert_eq!(&c[16..40], b"\x01\0\0\0\0\0\0\0\x06\0\0\0\0\0\0\x000.14.6\0\0");
        assert_eq!(&c[40..64], b"\x02\0\0\0\0\0\0\0\x08\0\0\0\0\0\0\0simulate");
        assert_eq!(c[64..72], [0; 8]);
        assert_eq!(u64::from_le_bytes(c[72..80].try_into().unwrap()), 4096 - 64);
        let big = "x".repeat(5000);
        let heap = Heap::start(&mut buf, big.len());
        assert!(heap.fits(big.len()) && !heap.fits(big.len() + 64));
    }
}
