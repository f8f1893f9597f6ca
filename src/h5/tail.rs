//! Writes past a file's committed end, gathered in memory and written out in few large
//! calls.
//!
//! Laying out thousands of objects, HDF5 evicts small metadata entries from its cache and
//! writes each back on its own, at scattered addresses, then reads some of them again:
//! 74,000 writes and 26,000 reads of a few hundred bytes each for 10,000 spike trains,
//! each one a system call. The overlay driver keeps those bytes here instead, merged into
//! extents, and writes them out when they reach [`LIMIT`] bytes, when HDF5 flushes or
//! truncates, and when the file closes.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Buffered bytes that trigger a write-out.
pub(super) const LIMIT: usize = 16 << 20;

/// Buffered writes: non-overlapping, non-adjacent extents by start offset.
#[derive(Debug, Default)]
pub(super) struct Tail {
    extents: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
}

/// Copies `src` into `dst` at `at`, growing `dst` as needed.
fn place(dst: &mut Vec<u8>, at: usize, src: &[u8]) {
    if dst.len() < at + src.len() {
        dst.resize(at + src.len(), 0);
    }
    dst[at..at + src.len()].copy_from_slice(src);
}

impl Tail {
    /// Buffers `buf` at `addr`, over anything buffered there before, merging it with the
    /// extents it overlaps or touches.
    pub(super) fn put(&mut self, addr: u64, buf: &[u8]) {
        if buf.is_empty() {
            return;
        }
        let end = addr + buf.len() as u64;
        let before = self.extents.range(..=addr).next_back().filter(|(k, v)| **k + v.len() as u64 >= addr).map(|(k, _)| *k);
        let after: Vec<u64> = self.extents.range(addr + 1..=end).map(|(k, _)| *k).collect();
        let (start, mut merged) = match before {
            Some(k) => (k, self.extents.remove(&k).unwrap_or_default()),
            None => (addr, Vec::new()),
        };
        self.bytes -= merged.len();
        for k in after {
            let v = self.extents.remove(&k).unwrap_or_default();
            self.bytes -= v.len();
            place(&mut merged, usize::try_from(k - start).expect("extent in memory"), &v);
        }
        place(&mut merged, usize::try_from(addr - start).expect("extent in memory"), buf);
        self.bytes += merged.len();
        self.extents.insert(start, merged);
    }

    /// Whether one extent holds all of `[addr, addr + len)`; then copies it into `out`.
    pub(super) fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        let Some((k, v)) = self.extents.range(..=addr).next_back() else { return false };
        let at = usize::try_from(addr - k).unwrap_or(usize::MAX);
        match v.get(at..at.saturating_add(out.len())) {
            Some(bytes) => {
                out.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// Copies what is buffered of `[addr, addr + out.len())` over `out`.
    pub(super) fn apply(&self, addr: u64, out: &mut [u8]) {
        let end = addr + out.len() as u64;
        let first = self.extents.range(..addr).next_back().map_or(addr, |(k, _)| *k);
        for (k, v) in self.extents.range(first..end) {
            let (from, to) = ((*k).max(addr), (k + v.len() as u64).min(end));
            if from < to {
                let n = usize::try_from(to - from).expect("within out");
                let (src, dst) = (usize::try_from(from - k).expect("within v"), usize::try_from(from - addr).expect("within out"));
                out[dst..dst + n].copy_from_slice(&v[src..src + n]);
            }
        }
    }

    /// Whether the buffer is half way to a write-out: the time for HDF5 to write its
    /// dirty metadata into it, while the extents it changes are still here.
    pub(super) fn is_half_full(&self) -> bool {
        self.bytes >= LIMIT / 2
    }

    /// Whether it holds [`LIMIT`] bytes or more.
    pub(super) fn is_full(&self) -> bool {
        self.bytes >= LIMIT
    }

    /// Writes every extent to `file` and empties the buffer; after an error, keeps what
    /// was not written (reads still see it).
    pub(super) fn write_out(&mut self, file: &File) -> std::io::Result<()> {
        while let Some((k, v)) = self.extents.pop_first() {
            if let Err(e) = file.write_all_at(&v, k) {
                self.extents.insert(k, v);
                return Err(e);
            }
            self.bytes -= v.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(t: &Tail, addr: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0xEE; len];
        t.apply(addr, &mut out);
        out
    }

    #[test]
    fn writes_merge_with_the_extents_they_overlap_or_touch() {
        let mut t = Tail::default();
        t.put(100, &[1; 10]);
        t.put(200, &[2; 10]);
        t.put(110, &[3; 5]);
        assert_eq!(t.extents.len(), 2, "touching at 110 merges");
        t.put(105, &[4; 100]);
        assert_eq!(t.extents.len(), 1, "bridging both");
        assert_eq!(t.bytes, 110);
        let back = read_back(&t, 95, 120);
        assert_eq!(&back[..5], &[0xEE; 5], "nothing buffered before 100");
        assert_eq!(&back[5..10], &[1; 5]);
        assert_eq!(&back[10..110], &[4; 100], "the newest write wins");
        assert_eq!(&back[110..115], &[2; 5]);
        assert_eq!(&back[115..], &[0xEE; 5]);
    }

    #[test]
    fn a_read_inside_one_extent_needs_no_disk() {
        let mut t = Tail::default();
        t.put(0, &[1; 8]);
        t.put(8, &[2; 8]);
        let mut out = [0; 6];
        assert!(t.read(5, &mut out));
        assert_eq!(out, [1, 1, 1, 2, 2, 2]);
        assert!(!t.read(12, &mut [0; 6]), "runs past the extent");
        assert!(!t.read(20, &mut [0; 1]), "nothing there");
    }

    #[test]
    fn write_out_empties_the_buffer_onto_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(dir.path().join("f")).unwrap();
        let mut t = Tail::default();
        t.put(4, &[7; 4]);
        t.put(12, &[8; 2]);
        t.write_out(&file).unwrap();
        assert_eq!(t.bytes, 0);
        assert!(t.extents.is_empty());
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), [0, 0, 0, 0, 7, 7, 7, 7, 0, 0, 0, 0, 8, 8]);
    }
}
