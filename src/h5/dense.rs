//! A new group's links in dense storage, encoded as libhdf5 stores them once a group
//! holds more than eight: the link messages in a fractal heap and an index of their
//! names in a version 2 B-tree (HDF5 File Format Specification, III.G and III.A.2).
//!
//! libhdf5 inserts links one at a time into a B-tree ordered by the hash of the name, so
//! each insert of a large group touches a random leaf; at 100,000 links that made the
//! layout grow faster than the number of objects. Here the heap is filled in order and
//! the B-tree built bottom-up from the sorted records, in time linear in the links
//! (apart from one sort). The heap has libhdf5's geometry for groups (width 4, blocks of
//! 512 bytes to 64 KiB, 32-bit offsets) and the tree its node size, so libhdf5 can go on
//! adding and removing links in it; the unused ends of the blocks are not entered in a
//! free-space manager (libhdf5 allocates new blocks for later links instead).

use super::encode::{UNDEF, link_message};

/// The heap's doubling table, as `H5G__dense_create` makes it: entries per row, the
/// smallest and largest direct block (the first two also as heap offsets).
const ENTRIES_PER_ROW: usize = 4;
const START_BYTES: usize = 512;
const WIDTH: u64 = ENTRIES_PER_ROW as u64;
const START_BLOCK: u64 = START_BYTES as u64;
const MAX_DIRECT: u64 = 64 << 10;
/// Bits of a heap offset, and the bytes they take.
const MAX_INDEX: u16 = 32;
const OFFSET_BYTES: usize = 4;
/// The largest object the heap manages in its blocks.
const MAX_MANAGED: u32 = 4096;
/// Rows of direct blocks (`log2(MAX_DIRECT) - log2(START_BLOCK) + 2`), the most rows of
/// the root block, and `log2(START_BLOCK * WIDTH)`.
const DIRECT_ROWS: u32 = 9;
const ROOT_ROWS: u32 = 22;
const FIRST_ROW_BITS: u32 = 11;
/// The bytes before a direct block's objects: signature, version, heap address, block
/// offset, checksum.
const DIRECT_PREFIX: usize = 4 + 1 + 8 + OFFSET_BYTES + 4;
const HEAP_HEADER: usize = 146;

/// The name index: B-tree type 5, records of the name's hash and the heap ID.
const TREE_TYPE: u8 = 5;
const NODE: usize = 512;
// Written as literal bytes below.
const _: () = assert!(NODE == 0x200 && RECORD == 11 && ENTRIES_PER_ROW == 4 && ID_BYTES == 7);
const RECORD: usize = 4 + ID_BYTES;
const ID_BYTES: usize = 7;
const TREE_HEADER: usize = 38;
/// Signature, version, type and checksum of a node.
const NODE_PREFIX: usize = 10;

/// Bob Jenkins' lookup3 `hashlittle`, byte by byte: HDF5's metadata checksum and the
/// hash of a link name.
pub(crate) fn lookup3(key: &[u8], init: u32) -> u32 {
    fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(4);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(6);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(8);
        *b = b.wrapping_add(*a);
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(16);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(19);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(4);
        *b = b.wrapping_add(*a);
    }
    fn word(k: &[u8]) -> u32 {
        k.iter().enumerate().fold(0u32, |w, (i, &byte)| w.wrapping_add(u32::from(byte) << (8 * i)))
    }
    // The length enters modulo 2^32, as in C.
    let len = (key.len() as u64).to_le_bytes();
    let start = 0xdead_beef_u32.wrapping_add(u32::from_le_bytes([len[0], len[1], len[2], len[3]])).wrapping_add(init);
    let (mut a, mut b, mut c) = (start, start, start);
    let mut k = key;
    while k.len() > 12 {
        a = a.wrapping_add(word(&k[..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    a = a.wrapping_add(word(&k[..k.len().min(4)]));
    if k.len() > 4 {
        b = b.wrapping_add(word(&k[4..k.len().min(8)]));
    }
    if k.len() > 8 {
        c = c.wrapping_add(word(&k[8..]));
    }
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c.wrapping_sub(b.rotate_left(24))
}

/// Appends the checksum of `out[from..]`.
fn checksum(out: &mut Vec<u8>, from: usize) {
    let sum = lookup3(&out[from..], 0);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// The size of the blocks of row `row` of the doubling table.
fn row_size(row: u32) -> u64 {
    if row == 0 { START_BLOCK } else { START_BLOCK << (row - 1) }
}

/// The heap offset where row `row` starts, within its indirect block.
fn row_offset(row: u32) -> u64 {
    if row == 0 { 0 } else { (START_BLOCK * WIDTH) << (row - 1) }
}

/// The rows of a child indirect block of row `row`.
fn child_rows(row: u32) -> u32 {
    row_size(row).ilog2() - FIRST_ROW_BITS + 1
}

/// An indirect block being planned: its offset in the heap, rows and entries.
struct Indirect {
    offset: u64,
    rows: u32,
    entries: Vec<Entry>,
}

enum Entry {
    /// A direct block: its index among the direct blocks.
    Direct(usize),
    Indirect(Indirect),
}

/// A direct block being planned: heap offset, size, and the objects it holds.
struct Direct {
    offset: u64,
    size: u64,
    objects: std::ops::Range<usize>,
}

/// Places the objects of `sizes` into direct blocks in heap order.
struct Packer<'a> {
    sizes: &'a [usize],
    next: usize,
    blocks: Vec<Direct>,
}

impl Packer<'_> {
    /// Fills a direct block of `size` bytes at heap offset `offset`.
    fn direct(&mut self, offset: u64, size: u64) -> usize {
        let start = self.next;
        let mut used = DIRECT_PREFIX as u64;
        while self.next < self.sizes.len() && used + self.sizes[self.next] as u64 <= size {
            used += self.sizes[self.next] as u64;
            self.next += 1;
        }
        self.blocks.push(Direct { offset, size, objects: start..self.next });
        self.blocks.len() - 1
    }

    /// Fills an indirect block of `rows` rows at heap offset `offset` while objects are
    /// left.
    fn indirect(&mut self, offset: u64, rows: u32) -> Indirect {
        let mut entries = Vec::new();
        'rows: for row in 0..rows {
            for col in 0..WIDTH {
                if self.next == self.sizes.len() {
                    break 'rows;
                }
                let at = offset + row_offset(row) + col * row_size(row);
                entries.push(if row < DIRECT_ROWS {
                    Entry::Direct(self.direct(at, row_size(row)))
                } else {
                    Entry::Indirect(self.indirect(at, child_rows(row)))
                });
            }
        }
        Indirect { offset, rows, entries }
    }
}

/// The links of a group in dense storage, encoded to be placed at one address.
pub(crate) struct Dense {
    pub(crate) bytes: Vec<u8>,
    /// Addresses of the fractal heap's header and of the name index's header.
    pub(crate) heap: u64,
    pub(crate) names: u64,
}

/// Encodes `links` (name and object address, in creation order) as dense storage whose
/// first byte will be at `base`. Refuses a link message over 491 bytes (a name of about
/// 470), which the heap's smallest blocks cannot hold, and two links of one name.
pub(crate) fn encode(links: &[(String, u64)], base: u64) -> Result<Dense, String> {
    // Every link message, one after the other, and where each ends.
    let mut messages = Vec::with_capacity(links.len() * 48);
    let mut ends = Vec::with_capacity(links.len());
    for (i, (name, addr)) in links.iter().enumerate() {
        link_message(&mut messages, name, i as u64, *addr);
        ends.push(messages.len());
    }
    let sizes: Vec<usize> = ends.iter().scan(0, |start, &end| Some(end - std::mem::replace(start, end))).collect();
    let fits = START_BYTES - DIRECT_PREFIX;
    if let Some(i) = sizes.iter().position(|&n| n > fits) {
        return Err(format!("link {:?} takes {} bytes; a large group's links take at most {fits}", links[i].0, sizes[i]));
    }
    // The name index's order: by hash, then (rarely needed) by name.
    let name = |i: u64| links[(i & 0xffff_ffff) as usize].0.as_bytes();
    let mut order: Vec<u64> = links.iter().enumerate().map(|(i, (n, _))| u64::from(lookup3(n.as_bytes(), 0)) << 32 | i as u64).collect();
    order.sort_unstable();
    for run in order.chunk_by_mut(|a, b| a >> 32 == b >> 32).filter(|r| r.len() > 1) {
        run.sort_unstable_by(|a, b| name(*a).cmp(name(*b)));
        if let Some(w) = run.windows(2).find(|w| name(w[0]) == name(w[1])) {
            return Err(format!("two links are named {:?}", links[(w[0] & 0xffff_ffff) as usize].0));
        }
    }
    let mut packer = Packer { sizes: &sizes, next: 0, blocks: Vec::new() };
    let root = if sizes.iter().sum::<usize>() + DIRECT_PREFIX <= START_BYTES {
        packer.direct(0, START_BLOCK);
        None
    } else {
        let mut root = packer.indirect(0, ROOT_ROWS);
        if packer.next < sizes.len() {
            return Err(format!("{} links are more than one heap holds", links.len()));
        }
        let used = u32::try_from(root.entries.len().div_ceil(ENTRIES_PER_ROW)).expect("at most 22 rows");
        root.rows = used.next_power_of_two().min(ROOT_ROWS);
        Some(root)
    };

    // Addresses: the heap header, the indirect blocks, the direct blocks, the B-tree.
    let mut iblocks = Vec::new();
    if let Some(r) = &root {
        flatten(r, &mut iblocks);
    }
    let iblock_bytes = |ib: &Indirect| 4 + 1 + 8 + OFFSET_BYTES + ib.rows as usize * ENTRIES_PER_ROW * 8 + 4;
    let heap = base;
    let mut at = base + HEAP_HEADER as u64;
    let mut iblock_addr = Vec::with_capacity(iblocks.len());
    for (ib, _) in &iblocks {
        iblock_addr.push(at);
        at += iblock_bytes(ib) as u64;
    }
    let mut dblock_addr = Vec::with_capacity(packer.blocks.len());
    for d in &packer.blocks {
        dblock_addr.push(at);
        at += d.size;
    }
    let tree_at = at;

    // Heap IDs: the offset of each object in the heap and its length.
    let mut ids = vec![[0u8; ID_BYTES]; links.len()];
    for d in &packer.blocks {
        let mut off = d.offset + DIRECT_PREFIX as u64;
        for i in d.objects.clone() {
            ids[i][1..5].copy_from_slice(&u32::try_from(off).expect("32-bit heap offsets").to_le_bytes());
            ids[i][5..7].copy_from_slice(&u16::try_from(sizes[i]).expect("small objects").to_le_bytes());
            off += sizes[i] as u64;
        }
    }

    let mut out = Vec::with_capacity(usize::try_from(tree_at - base).expect("in memory") + links.len() * 16 + 4 * NODE);
    let allocated: u64 = packer.blocks.iter().map(|d| d.size).sum();
    let last = packer.blocks.last().expect("at least one block");
    let (heap_size, iter_offset, root_addr, root_rows) = match &root {
        None => (START_BLOCK, 0, dblock_addr[0], 0),
        Some(r) => (row_offset(r.rows), last.offset + last.size, iblock_addr[0], r.rows),
    };
    heap_header(&mut out, links.len() as u64, [heap_size, allocated, iter_offset], root_addr, root_rows);
    for (ib, children) in &iblocks {
        let mut children = children.iter();
        let from = out.len();
        out.extend_from_slice(b"FHIB\0");
        out.extend_from_slice(&heap.to_le_bytes());
        out.extend_from_slice(&u32::try_from(ib.offset).expect("32-bit heap offsets").to_le_bytes());
        for e in &ib.entries {
            let addr = match e {
                Entry::Direct(d) => dblock_addr[*d],
                Entry::Indirect(_) => iblock_addr[*children.next().expect("one index per child")],
            };
            out.extend_from_slice(&addr.to_le_bytes());
        }
        for _ in ib.entries.len()..(ib.rows as usize * ENTRIES_PER_ROW) {
            out.extend_from_slice(&UNDEF.to_le_bytes());
        }
        checksum(&mut out, from);
    }
    for d in &packer.blocks {
        let from = out.len();
        out.extend_from_slice(b"FHDB\0");
        out.extend_from_slice(&heap.to_le_bytes());
        out.extend_from_slice(&u32::try_from(d.offset).expect("32-bit heap offsets").to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        if !d.objects.is_empty() {
            let first = if d.objects.start == 0 { 0 } else { ends[d.objects.start - 1] };
            out.extend_from_slice(&messages[first..ends[d.objects.end - 1]]);
        }
        out.resize(from + usize::try_from(d.size).expect("blocks of at most 64 KiB"), 0);
        let sum = lookup3(&out[from..], 0);
        out[from + DIRECT_PREFIX - 4..from + DIRECT_PREFIX].copy_from_slice(&sum.to_le_bytes());
    }
    debug_assert_eq!(base + out.len() as u64, tree_at);

    let records: Vec<[u8; RECORD]> = order
        .iter()
        .map(|&key| {
            let mut r = [0u8; RECORD];
            r[..4].copy_from_slice(&((key >> 32) as u32).to_le_bytes());
            r[4..].copy_from_slice(&ids[(key & 0xffff_ffff) as usize]);
            r
        })
        .collect();
    let names = base + out.len() as u64;
    Tree::new().encode(&records, names, &mut out);
    Ok(Dense { bytes: out, heap, names })
}

/// The indirect blocks under and including `ib`, parents before their children, each
/// with the indices of its child indirect blocks; returns the index of `ib`.
fn flatten<'a>(ib: &'a Indirect, out: &mut Vec<(&'a Indirect, Vec<usize>)>) -> usize {
    let me = out.len();
    out.push((ib, Vec::new()));
    for e in &ib.entries {
        if let Entry::Indirect(child) = e {
            let index = flatten(child, out);
            out[me].1.push(index);
        }
    }
    me
}

/// The fractal heap header (version 0) of a heap of `objects` link messages, with its
/// managed space's size, allocated size and iterator offset.
fn heap_header(out: &mut Vec<u8>, objects: u64, [size, allocated, iter]: [u64; 3], root: u64, root_rows: u32) {
    let from = out.len();
    out.extend_from_slice(b"FRHP\0");
    out.extend_from_slice(&[7, 0]);
    out.extend_from_slice(&0u16.to_le_bytes());
    // Flags: direct blocks are checksummed.
    out.push(0x02);
    out.extend_from_slice(&MAX_MANAGED.to_le_bytes());
    // No huge objects (next ID, B-tree); no free space recorded (amount, manager).
    for v in [0, UNDEF, 0, UNDEF, size, allocated, iter, objects, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[4, 0]);
    out.extend_from_slice(&START_BLOCK.to_le_bytes());
    out.extend_from_slice(&MAX_DIRECT.to_le_bytes());
    out.extend_from_slice(&MAX_INDEX.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&root.to_le_bytes());
    out.extend_from_slice(&u16::try_from(root_rows).expect("at most 22 rows").to_le_bytes());
    checksum(out, from);
    debug_assert_eq!(out.len() - from, HEAP_HEADER);
}

/// A version 2 B-tree's node capacities, per depth (`H5B2__hdr_init`).
struct Tree {
    /// Records a node of each depth holds at most, and a subtree of that depth.
    max: Vec<usize>,
    total: Vec<u64>,
    /// Bytes of a child's record count in its parent, per depth of the child.
    total_bytes: Vec<usize>,
}

/// The bytes `H5VM_limit_enc_size` gives a count of at most `n`.
fn count_bytes(n: u64) -> usize {
    (n.max(1).ilog2() / 8 + 1) as usize
}

/// The bytes of the number of records in a child node (leaves hold the most).
const NREC_BYTES: usize = 1;

impl Tree {
    fn new() -> Tree {
        let leaf = (NODE - NODE_PREFIX) / RECORD;
        debug_assert_eq!(count_bytes(leaf as u64), NREC_BYTES);
        let mut t = Tree { max: vec![leaf], total: vec![leaf as u64], total_bytes: vec![0] };
        while t.total.len() < 6 {
            let pointer = 8 + NREC_BYTES + t.total_bytes.last().copied().unwrap_or(0);
            let max = (NODE - (NODE_PREFIX + pointer)) / (RECORD + pointer);
            let total = (max as u64 + 1) * t.total.last().copied().unwrap_or(0) + max as u64;
            t.max.push(max);
            t.total.push(total);
            t.total_bytes.push(count_bytes(total));
        }
        t
    }

    /// Appends the B-tree header and nodes over the sorted `records`, the header at `addr`.
    fn encode(&self, records: &[[u8; RECORD]], addr: u64, out: &mut Vec<u8>) {
        let depth = self.total.iter().position(|&t| t >= records.len() as u64).expect("at most 10^9 links");
        let header_at = out.len();
        out.resize(header_at + TREE_HEADER, 0);
        let root = if records.is_empty() { (UNDEF, 0) } else { (self.node(records, depth, addr + TREE_HEADER as u64, out).0, self.root_records(records.len(), depth)) };
        let mut h = Vec::with_capacity(TREE_HEADER);
        h.extend_from_slice(b"BTHD\0");
        h.push(TREE_TYPE);
        h.extend_from_slice(&[0, 2, 0, 0]);
        h.extend_from_slice(&[11, 0]);
        h.extend_from_slice(&u16::try_from(depth).expect("a shallow tree").to_le_bytes());
        // Split and merge percentages.
        h.extend_from_slice(&[100, 40]);
        h.extend_from_slice(&root.0.to_le_bytes());
        h.extend_from_slice(&u16::try_from(root.1).expect("a node's records").to_le_bytes());
        h.extend_from_slice(&(records.len() as u64).to_le_bytes());
        checksum(&mut h, 0);
        out[header_at..header_at + TREE_HEADER].copy_from_slice(&h);
    }

    /// The children an internal node of `depth` over `n` records has.
    fn children(&self, n: usize, depth: usize) -> usize {
        let child = usize::try_from(self.total[depth - 1]).unwrap_or(usize::MAX - 1);
        (n + 1).div_ceil(child + 1).max(2)
    }

    fn root_records(&self, n: usize, depth: usize) -> usize {
        if depth == 0 { n } else { self.children(n, depth) - 1 }
    }

    /// Appends the subtree of `depth` over `records`, its node first, after the nodes
    /// already in `out` (whose end is at address `end`); returns the node's address and
    /// the address after the subtree.
    fn node(&self, records: &[[u8; RECORD]], depth: usize, end: u64, out: &mut Vec<u8>) -> (u64, u64) {
        let at = out.len();
        out.resize(at + NODE, 0);
        let mut node = Vec::with_capacity(NODE);
        node.extend_from_slice(if depth == 0 { b"BTLF\0" } else { b"BTIN\0" });
        node.push(TREE_TYPE);
        let mut next = end + NODE as u64;
        if depth == 0 {
            records.iter().for_each(|r| node.extend_from_slice(r));
        } else {
            let c = self.children(records.len(), depth);
            let per_child = records.len() - (c - 1);
            let mut pointers = Vec::with_capacity(c * 12);
            let mut start = 0;
            for i in 0..c {
                let n = per_child / c + usize::from(i < per_child % c);
                let child = &records[start..start + n];
                let (child_at, after) = self.node(child, depth - 1, next, out);
                next = after;
                pointers.extend_from_slice(&child_at.to_le_bytes());
                pointers.push(u8::try_from(self.root_records(n, depth - 1)).expect("at most 45 records a node"));
                if depth > 1 {
                    pointers.extend_from_slice(&(n as u64).to_le_bytes()[..self.total_bytes[depth - 1]]);
                }
                start += n;
                if i + 1 < c {
                    node.extend_from_slice(&records[start]);
                    start += 1;
                }
            }
            node.extend_from_slice(&pointers);
        }
        checksum(&mut node, 0);
        out[at..at + node.len()].copy_from_slice(&node);
        (end, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h5::{self, Batch, Container, File, GroupKind, Header, Kit, Mode};

    #[test]
    fn lookup3_is_bob_jenkins_hashlittle() {
        // The values lookup3.c's own driver prints.
        assert_eq!(lookup3(b"", 0), 0xdead_beef);
        assert_eq!(lookup3(b"Four score and seven years ago", 0), 0x1777_0551);
        assert_eq!(lookup3(b"Four score and seven years ago", 1), 0xcd62_8161);
    }

    fn names(n: usize) -> Vec<String> {
        // Mostly ASCII names of varying length, some UTF-8.
        (0..n).map(|i| if i % 97 == 5 { format!("µ-objekt {i}") } else { format!("object {i}{}", "x".repeat(i % 13)) }).collect()
    }

    /// Groups of 3, 9, 300 and 30,000 links (compact; a root direct block; a root
    /// indirect block; child indirect blocks and a B-tree of depth 3), written by a
    /// batch: libhdf5 finds every link by name and lists them in creation order, and
    /// then adds and removes links in them as in groups it made.
    #[test]
    fn new_groups_read_and_change_as_libhdf5_made_them() {
        let sizes = [3, 9, 300, 30_000];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dense.h5");
        h5::locked(|| {
            let kit = Kit::new().unwrap();
            let file = h5::create_for_test(&path, &kit);
            let mut batch = Batch::new(&file);
            for n in sizes {
                let c = batch.add_container(Container::New { parent: file.root().unwrap(), name: format!("g{n}"), links: Vec::new() });
                for name in names(n) {
                    batch.put_linked(Header::group(GroupKind::Small.info()), 0, &[(c, name)]).unwrap();
                }
                batch.close(c).unwrap();
            }
            batch.flush(&kit).unwrap();
            drop(batch);
            file.close().unwrap();
        });
        let check = |f: &hdf5::File, n: usize, removed: &[usize], added: usize| {
            let g = f.group(&format!("g{n}")).unwrap();
            let mut expected: Vec<String> = names(n).into_iter().enumerate().filter(|(i, _)| !removed.contains(i)).map(|(_, s)| s).collect();
            expected.extend((0..added).map(|i| format!("added {i}")));
            h5::locked(|| {
                let file = File::open(&path, Mode::ReadOnly, None, None).unwrap();
                assert_eq!(file.open_path(&format!("g{n}"), None).unwrap().link_names().unwrap(), expected, "creation order of g{n}");
            });
            let mut by_name = expected.clone();
            by_name.sort();
            let mut listed = g.member_names().unwrap();
            listed.sort();
            assert_eq!(listed, by_name, "g{n} listed (in the name index's order)");
            for name in &expected {
                assert!(g.link_exists(name), "{name} in g{n}");
                assert_eq!(g.group(name).unwrap().member_names().unwrap().len(), 0);
            }
            for i in removed {
                assert!(!g.link_exists(&names(n)[*i]));
            }
        };
        {
            let f = hdf5::File::open(&path).unwrap();
            for n in sizes {
                check(&f, n, &[], 0);
            }
        }
        // libhdf5 adds links (new heap blocks, B-tree splits) and removes some.
        let removed = |n: usize| {
            let mut r: Vec<usize> = [0, 2, 8, n - 1].into_iter().filter(|&i| i < n).collect();
            r.dedup();
            r
        };
        {
            let f = hdf5::File::open_rw(&path).unwrap();
            for n in sizes {
                let g = f.group(&format!("g{n}")).unwrap();
                let target = format!("/g{n}/{}", names(n)[1]);
                for i in 0..2000 {
                    g.link_hard(&target, &format!("added {i}")).unwrap();
                }
                for i in removed(n) {
                    g.unlink(&names(n)[i]).unwrap();
                }
            }
        }
        {
            let f = hdf5::File::open(&path).unwrap();
            for n in sizes {
                check(&f, n, &removed(n), 2000);
            }
        }
        // Down to fewer than six links, libhdf5 moves them into the header and deletes
        // the heap and the B-tree, walking every block.
        let f = hdf5::File::open_rw(&path).unwrap();
        let g = f.group("g30000").unwrap();
        let mut left = g.member_names().unwrap();
        left.retain(|name| name != "object 1x" && name != "added 7");
        left.iter().for_each(|name| g.unlink(name).unwrap());
        drop(g);
        drop(f);
        let f = hdf5::File::open(&path).unwrap();
        let mut names = f.group("g30000").unwrap().member_names().unwrap();
        names.sort();
        assert_eq!(names, ["added 7", "object 1x"]);
    }
}
