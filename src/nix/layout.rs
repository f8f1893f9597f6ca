//! Rank 0's serial phase: creates the NIX structure of a write over the values
//! [`super::extents`] allocated for the ranks.
//!
//! Follows the minimal layout of NIX_LAYOUT.md section 9, which Neo reads with every name,
//! annotation, type and order intact: sections live directly under their entity as
//! `metadata`, properties are compact datasets, and data arrays are contiguous. The file,
//! its Blocks and segments are made through libhdf5; the spike trains and signals, which
//! are thousands, are encoded here as the bytes libhdf5 would write
//! ([`crate::h5::Header`]), and so are the large groups that hold them (a new Block's
//! `data_arrays` and `multi_tags`, a segment's): libhdf5 links each such group into its
//! parent, and links objects into the groups of a Block an earlier write made.

use foldhash::{HashMap, HashMapExt};

use rayon::prelude::*;
use uuid::Uuid;

use super::names::{self, attr, group, prop, types};
use super::property::{Attrs, Made, Prop, Sharer, object_props, property, property_attrs, stamp};
use super::extents::Key;
use crate::error::{Error, Result};
use crate::h5::{Batch, Container, File, GroupKind, Header, Kit, NumType, Obj, Storage, UNDEF};
use crate::model::{Annotations, Segment, Value};
use crate::parallel::describe::{ArrayDesc, Description, ObjectDesc, Role, Shape};
use crate::parallel::plan::{Placed, SegmentPlan};
use crate::progress::Ticker;

/// A hyphenated UUID4 (`entity_id`).
fn entity_id() -> String {
    Uuid::new_v4().hyphenated().to_string()
}

/// Writes what NIX requires of an entity (docs/NIX_CONFORMANCE.md): `name`, `type`,
/// `entity_id`, `created_at` and `updated_at`; returns the id.
fn entity(obj: &mut impl Attrs, name: &str, type_: &str, created_at: &str, updated_at: &str) -> Result<String> {
    let id = entity_id();
    obj.put_str(attr::NAME, name, false)?;
    obj.put_str(attr::TYPE, type_, false)?;
    obj.put_str(attr::ENTITY_ID, &id, false)?;
    stamp(obj, created_at, updated_at)?;
    Ok(id)
}

/// Writes the root attributes and the `/data` and `/metadata` groups of a new file, for a
/// run that started at `created_at`, written `at` (NIX times).
pub(crate) fn init_file(file: &File, kit: &Kit, created_at: &str, at: &str) -> Result<()> {
    let root = file.root()?;
    root.attr_str(kit, attr::FORMAT, names::FORMAT, true)?;
    root.attr_i32s(kit, attr::VERSION, &names::VERSION)?;
    root.attr_str(kit, attr::ID, &entity_id(), false)?;
    stamp(&mut Made(&root, kit), created_at, at)?;
    root.group(kit, group::DATA, GroupKind::Container)?;
    let metadata = root.group(kit, group::METADATA, GroupKind::Container)?;
    let neo = metadata.group(kit, group::NEO, GroupKind::Small)?;
    entity(&mut Made(&neo, kit), group::NEO, types::NEO_METADATA, at, at)?;
    let props = neo.group(kit, group::PROPERTIES, GroupKind::Properties)?;
    property(&props, kit, prop::VERSION, &Value::Str(names::NEO_VERSION.into()), false, at).map(drop)
}

/// Sets `updated_at` of the root and, if given, of Block `block` to `at`: a write changed
/// them. Files without the attribute (older ones of this crate) get it.
pub(crate) fn touch(file: &File, kit: &Kit, block: Option<&str>, at: &str) -> Result<()> {
    file.root()?.replace_attr_str(kit, attr::UPDATED_AT, at, true)?;
    if let Some(b) = block {
        file.open_path(&format!("/{}/{b}", group::DATA), Some(&format!("Block {b}")))?.replace_attr_str(kit, attr::UPDATED_AT, at, true)?;
    }
    Ok(())
}

/// A `metadata` section under `owner` named `name`, written `at`; returns its `properties`
/// group and the section itself. `neo_name` is written first, as Neo does.
fn section<'f>(owner: &Obj<'f>, kit: &Kit, name: &str, type_: &str, at: &str) -> Result<(Obj<'f>, Obj<'f>)> {
    let sec = owner.group(kit, group::METADATA, GroupKind::Small)?;
    entity(&mut Made(&sec, kit), name, type_, at, at)?;
    let props = sec.group(kit, group::PROPERTIES, GroupKind::Properties)?;
    Ok((sec, props))
}

fn annotations(props: &Obj<'_>, kit: &Kit, annotations: &Annotations, at: &str) -> Result<()> {
    annotations.iter().try_for_each(|(k, v)| property(props, kit, k, v, false, at).map(drop))
}

/// The run-level content of a new Block.
#[derive(Clone, Copy)]
pub(crate) struct BlockMeta<'a> {
    /// The run's name (`neo_name`).
    pub name: &'a str,
    pub annotations: &'a Annotations,
    /// NIX time of the run's start.
    pub created_at: &'a str,
}

/// The open containers of a Block: its `groups`, and a batch whose containers
/// [`BLOCK_ARRAYS`] and [`BLOCK_TAGS`] are its `data_arrays` and `multi_tags`. A layout
/// ends with [`BlockHandles::finish`].
pub(crate) struct BlockHandles<'f> {
    groups: Obj<'f>,
    batch: Batch<'f>,
}

impl BlockHandles<'_> {
    /// Places what the segments left in the batch: a new Block's `data_arrays` and
    /// `multi_tags`, with every link they got, and libhdf5's links into an existing one.
    pub(crate) fn finish(mut self, kit: &Kit) -> Result<()> {
        self.batch.close(BLOCK_ARRAYS)?;
        self.batch.close(BLOCK_TAGS)?;
        self.batch.flush(kit)
    }
}

/// Creates Block `nix_name` under `/data`, written `at` (a NIX time).
pub(crate) fn create_block<'f>(file: &'f File, kit: &Kit, nix_name: &str, meta: &BlockMeta<'_>, at: &str) -> Result<BlockHandles<'f>> {
    let data = file.open_path(group::DATA, None)?;
    let block = data.group(kit, nix_name, GroupKind::Small)?;
    entity(&mut Made(&block, kit), nix_name, types::BLOCK, meta.created_at, at)?;
    let (_, props) = section(&block, kit, nix_name, types::BLOCK_METADATA, at)?;
    property(&props, kit, prop::NEO_NAME, &Value::Str(meta.name.to_owned()), false, at)?;
    annotations(&props, kit, meta.annotations, at)?;
    let groups = block.group(kit, group::GROUPS, GroupKind::Container)?;
    let mut batch = Batch::new(file);
    batch.add_container(Container::New { parent: block.open(".")?, name: group::DATA_ARRAYS.into(), links: Vec::new() });
    batch.add_container(Container::New { parent: block, name: group::MULTI_TAGS.into(), links: Vec::new() });
    Ok(BlockHandles { groups, batch })
}

/// Opens the containers of Block `nix_name`, to add segments to it.
pub(crate) fn open_block<'f>(file: &'f File, nix_name: &str) -> Result<BlockHandles<'f>> {
    let block = file.open_path(&format!("/{}/{nix_name}", group::DATA), Some(&format!("Block {nix_name}")))?;
    let mut batch = Batch::new(file);
    batch.add_container(Container::Made(block.open(group::DATA_ARRAYS)?));
    batch.add_container(Container::Made(block.open(group::MULTI_TAGS)?));
    Ok(BlockHandles { groups: block.open(group::GROUPS)?, batch })
}

/// Rewrites the string annotation `key` of Block `nix_name` in place `at` (a NIX time),
/// keeping its place among the annotations (the final provenance of a streamed run).
pub(crate) fn annotate_block(file: &File, kit: &Kit, nix_name: &str, key: &str, value: &Value, at: &str) -> Result<()> {
    let path = format!("/{}/{nix_name}/{}/{}/{key}", group::DATA, group::METADATA, group::PROPERTIES);
    let ds = file.open_path(&path, None)?;
    match value {
        Value::Str(s) if ds.len()? == 1 => {
            ds.write_strings(kit, &[s])?;
            ds.replace_attr_str(kit, attr::UPDATED_AT, at, true)
        }
        other => Err(crate::error::Error::invalid(format!("annotation {key:?}"), format!("only a one-string annotation is rewritten in place, not {other:?}"))),
    }
}

/// Everything the layout of one segment needs.
pub(crate) struct SegmentJob<'a> {
    /// Index among the segments being written.
    pub index: usize,
    /// Rank 0's copy of the segment (its annotations are everybody's).
    pub segment: &'a Segment,
    /// The NIX time of the flush (the segment's `created_at`).
    pub created_at: &'a str,
    /// The NIX time of this write: `created_at` of everything else it creates, and
    /// `updated_at` of all.
    pub written_at: &'a str,
    pub plan: &'a SegmentPlan,
    pub descs: &'a [Description],
    /// Share repeated properties and dimensions by hard links.
    pub share: bool,
    pub ticker: &'a Ticker<'a>,
    /// Where the ranks' values of each dataset start ([`super::extents`]).
    pub reserved: &'a HashMap<Key, u64>,
}

/// The containers of a Block's batch: its `data_arrays` and `multi_tags`.
const BLOCK_ARRAYS: usize = 0;
const BLOCK_TAGS: usize = 1;

/// The key of a time axis: sampling interval, offset and unit.
type AxisKey = (u64, u64, String);

/// What one segment's objects share: repeated properties and identical time axes.
struct Shared {
    /// The batch's container of the segment's group being filled (its `data_arrays` or
    /// `multi_tags`).
    segment_links: usize,
    props: Sharer,
    /// With sharing, how many channels use each time axis, and the `dimensions` groups
    /// made so far.
    axes: Option<(HashMap<AxisKey, u32>, HashMap<AxisKey, u64>)>,
}

fn axis_key(interval: f64, offset: f64, unit: &str) -> AxisKey {
    (interval.to_bits(), offset.to_bits(), unit.to_owned())
}

/// Writes one segment: its group and section, then every spike train and signal in plan
/// order over its allocated values. The objects themselves are encoded here
/// ([`crate::h5::Header`]) and placed in the Block's batch, and so are the segment's
/// groups of them.
pub(crate) fn write_segment(block: &mut BlockHandles<'_>, kit: &Kit, job: &SegmentJob<'_>) -> Result<()> {
    let seg_name = names::object_name("segment", Uuid::new_v4());
    let g = block.groups.group(kit, &seg_name, GroupKind::Small)?;
    entity(&mut Made(&g, kit), &seg_name, types::SEGMENT, job.created_at, job.written_at)?;
    let (_, props) = section(&g, kit, &seg_name, types::SEGMENT_METADATA, job.written_at)?;
    property(&props, kit, prop::NEO_NAME, &Value::Str(job.segment.name.clone().unwrap_or_default()), false, job.written_at)?;
    annotations(&props, kit, &job.segment.annotations, job.written_at)?;
    drop(props);
    let (descs, index) = (job.descs, job.index);
    let objects = job.plan.analogsignals.par_iter().map(|p| object(descs, index, p, false));
    let objects = objects.chain(job.plan.spiketrains.par_iter().map(|p| object(descs, index, p, true)));
    let axes = job.share.then(|| {
        let mut counts = HashMap::new();
        for p in &job.plan.analogsignals {
            let d = object(descs, index, p, false);
            if let Shape::Signal { n_channels, sampling_period, ref time_units, .. } = d.shape {
                *counts.entry(axis_key(sampling_period, d.t_start, time_units)).or_insert(0) += n_channels;
            }
        }
        (counts, HashMap::new())
    });
    let mut shared = Shared { segment_links: 0, props: Sharer::new(objects, job.share), axes };
    let batch = &mut block.batch;
    for (spikes, placed, links_name) in [(false, &job.plan.analogsignals, group::DATA_ARRAYS), (true, &job.plan.spiketrains, group::MULTI_TAGS)] {
        if placed.is_empty() {
            continue;
        }
        shared.segment_links = batch.add_container(Container::New { parent: g.open(".")?, name: links_name.into(), links: Vec::new() });
        for p in placed {
            let written = if spikes { write_train(batch, job, &mut shared, p) } else { write_signal(batch, job, &mut shared, p) };
            written.map_err(|e| match e {
                Error::Validation { problem, .. } => {
                    let d = object(descs, index, p, spikes);
                    let what = format!("{} {:?} of rank {}", if spikes { "spike train" } else { "signal" }, d.name.as_deref().unwrap_or(""), p.rank);
                    Error::invalid(what, problem)
                }
                other => other,
            })?;
            if batch.is_full() {
                batch.flush(kit)?;
            }
            job.ticker.tick();
        }
        batch.close(shared.segment_links)?;
        batch.flush(kit)?;
    }
    Ok(())
}

fn object<'a>(descs: &'a [Description], segment: usize, p: &Placed, spikes: bool) -> &'a ObjectDesc {
    let seg = &descs[p.rank as usize].segments[segment];
    if spikes { &seg.spiketrains[p.local as usize] } else { &seg.analogsignals[p.local as usize] }
}

/// Which dataset of which placed object a data set is.
struct Source<'p> {
    spikes: bool,
    placed: &'p Placed,
    role: Role,
}

/// Encodes the dataset of `n` elements of `t` whose values `src`'s rank writes (over
/// the values allocated for it; an empty one has none), with the attributes `attrs`
/// writes; returns its address.
fn data_set(batch: &mut Batch<'_>, job: &SegmentJob<'_>, t: NumType, n: u64, src: &Source<'_>, attrs: impl FnOnce(&mut Header) -> Result<()>) -> Result<u64> {
    let storage = if n == 0 {
        Storage::Contiguous { addr: UNDEF, bytes: 0 }
    } else {
        let segment = u32::try_from(job.index).expect("segment count fits u32");
        let key = (src.placed.rank, segment, src.spikes, src.placed.local, src.role);
        let offset = *job.reserved.get(&key).ok_or_else(|| Error::Collective(format!("no values allocated for object {} of rank {}", src.placed.local, src.placed.rank)))?;
        Storage::Contiguous { addr: offset, bytes: n * t.size() }
    };
    let mut h = Header::dataset(t.elem(), n, &storage);
    attrs(&mut h)?;
    batch.put(h, 1)
}

/// Encodes an object's `properties` group: its properties, shared where repeated, then
/// the numeric array annotations its rank fills; returns its address.
fn properties(batch: &mut Batch<'_>, job: &SegmentJob<'_>, shared: &mut Shared, d: &ObjectDesc, src: (bool, &Placed)) -> Result<u64> {
    let mut props = Header::group(GroupKind::Properties.info());
    let mut keys: Vec<&str> = Vec::new();
    let mut once = |key| unique(&mut keys, key);
    let at = job.written_at;
    for p in object_props(d) {
        once(p.key)?;
        shared.props.put(&mut props, batch, &p, at)?;
    }
    for (i, a) in d.arrays.iter().enumerate() {
        match a {
            ArrayDesc::Inline(key, v) => {
                once(key)?;
                shared.props.put(&mut props, batch, &Prop::array(key, v), at)?;
            }
            ArrayDesc::Payload(key, t, n) => {
                once(key)?;
                let role = Role::Array(u32::try_from(i).expect("few arrays"));
                let addr = data_set(batch, job, *t, *n, &Source { spikes: src.0, placed: src.1, role }, |h| property_attrs(h, key, None, None, true, at))?;
                props.link(key, addr);
            }
        }
    }
    batch.put(props, 1)
}

/// Notes the property `key` of an object, refusing one it already has: two links of one
/// name would make the group unreadable.
fn unique<'d>(keys: &mut Vec<&'d str>, key: &'d str) -> Result<()> {
    if keys.contains(&key) {
        return Err(Error::invalid("an object", format!("annotation {key:?} is given twice (as an annotation and an array annotation)")));
    }
    keys.push(key);
    Ok(())
}

/// Encodes a `metadata` section named `name` over the `properties` group at `props`,
/// written `at`, with `refcount` links to it; returns its address.
fn encoded_section(batch: &mut Batch<'_>, name: &str, type_: &str, at: &str, props: u64, refcount: u32) -> Result<u64> {
    let mut sec = Header::group(GroupKind::Small.info());
    entity(&mut sec, name, type_, at, at)?;
    sec.link(group::PROPERTIES, props);
    batch.put(sec, refcount)
}

fn write_train(batch: &mut Batch<'_>, job: &SegmentJob<'_>, shared: &mut Shared, p: &Placed) -> Result<()> {
    let d = object(job.descs, job.index, p, true);
    let Shape::Spikes { n, .. } = d.shape else { unreachable!("planned as a spike train") };
    let name = names::object_name("spiketrain", p.id);
    let times = names::times_array(&name);
    let at = job.written_at;
    let values = data_set(batch, job, NumType::F64, n, &Source { spikes: true, placed: p, role: Role::Times }, |_| Ok(()))?;
    let mut da = Header::group(GroupKind::Small.info());
    entity(&mut da, &times, types::SPIKETRAIN_TIMES, at, at)?;
    da.attr_str(attr::UNIT, &d.units, false);
    da.link(group::VALUES, values);
    // Linked by the multi-tag's `positions` here and by the Block's `data_arrays`.
    let da = batch.put_linked(da, 1, &[(BLOCK_ARRAYS, times)])?;
    let props = properties(batch, job, shared, d, (true, p))?;
    let sec = encoded_section(batch, &name, types::SPIKETRAIN_METADATA, at, props, 1)?;
    let mut mt = Header::group(GroupKind::Small.info());
    let mt_id = entity(&mut mt, &name, types::SPIKETRAIN, at, at)?;
    mt.link(group::POSITIONS, da);
    mt.link(group::METADATA, sec);
    batch.put_linked(mt, 0, &[(BLOCK_TAGS, name), (shared.segment_links, mt_id)]).map(drop)
}

fn write_signal(batch: &mut Batch<'_>, job: &SegmentJob<'_>, shared: &mut Shared, p: &Placed) -> Result<()> {
    let d = object(job.descs, job.index, p, false);
    let Shape::Signal { n_samples, n_channels, sampling_period, ref time_units } = d.shape else {
        unreachable!("planned as a signal")
    };
    let name = names::object_name("analogsignal", p.id);
    let at = job.written_at;
    let mut section_of_first: Option<u64> = None;
    for c in 0..n_channels {
        let array = names::channel_array(&name, c as usize);
        let role = Role::Channel(c);
        let values = data_set(batch, job, NumType::F64, n_samples, &Source { spikes: false, placed: p, role }, |_| Ok(()))?;
        let dims = time_axis(batch, shared, sampling_period, d.t_start, time_units)?;
        let sec = match section_of_first {
            Some(sec) => sec,
            None => {
                let props = properties(batch, job, shared, d, (false, p))?;
                // Every channel links the first channel's section.
                let sec = encoded_section(batch, &name, types::ANALOGSIGNAL_METADATA, at, props, n_channels)?;
                *section_of_first.insert(sec)
            }
        };
        let mut da = Header::group(GroupKind::Channel.info());
        let da_id = entity(&mut da, &array, types::ANALOGSIGNAL, at, at)?;
        da.attr_str(attr::UNIT, &d.units, false);
        da.link(group::VALUES, values);
        da.link(group::DIMENSIONS, dims);
        da.link(group::METADATA, sec);
        batch.put_linked(da, 0, &[(BLOCK_ARRAYS, array), (shared.segment_links, da_id)])?;
    }
    Ok(())
}

/// The `dimensions` group of a channel, holding its SampledDimension `1`; with sharing,
/// channels with the same time axis link one group. Returns its address.
fn time_axis(batch: &mut Batch<'_>, shared: &mut Shared, interval: f64, offset: f64, unit: &str) -> Result<u64> {
    let key = axis_key(interval, offset, unit);
    let refcount = match &shared.axes {
        Some((counts, made)) => match made.get(&key) {
            Some(addr) => return Ok(*addr),
            None => counts.get(&key).copied().unwrap_or(1),
        },
        None => 1,
    };
    let mut dim = Header::group(GroupKind::Small.info());
    dim.attr_str(attr::DIMENSION_TYPE, types::SAMPLE_DIMENSION, false);
    dim.attr_f64(attr::SAMPLING_INTERVAL, interval);
    dim.attr_str(attr::UNIT, unit, false);
    dim.attr_f64(attr::OFFSET, offset);
    dim.attr_str(attr::LABEL, types::TIME_LABEL, false);
    let dim = batch.put(dim, 1)?;
    let mut dims = Header::group(GroupKind::Small.info());
    dims.link(group::FIRST_DIMENSION, dim);
    let dims = batch.put(dims, refcount)?;
    if let Some((_, made)) = &mut shared.axes {
        made.insert(key, dims);
    }
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h5::{self, Mode};
    use hdf5::types::VarLenAscii;

    #[test]
    fn touch_replaces_or_adds_updated_at() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("older.nio");
        {
            // The root as Neo writes it (a variable-length string); a Block of an older file
            // of this crate, without `updated_at`.
            let f = hdf5::File::create(&path).unwrap();
            let old: VarLenAscii = VarLenAscii::from_ascii("20200101T000000").unwrap();
            f.new_attr::<VarLenAscii>().create("updated_at").unwrap().write_scalar(&old).unwrap();
            f.create_group("data/neo.block.x").unwrap();
        }
        h5::locked(|| {
            let kit = Kit::new().unwrap();
            let file = File::open(&path, Mode::ReadWrite, Some(&kit), None).unwrap();
            touch(&file, &kit, Some("neo.block.x"), "20260102T030405").unwrap();
            for at in [".", "/data/neo.block.x"] {
                let obj = file.open_path(at, None).unwrap();
                assert_eq!(obj.attr_string(attr::UPDATED_AT).unwrap().as_deref(), Some("20260102T030405"), "{at}");
            }
            assert!(touch(&file, &kit, Some("neo.block.missing"), "20260102T030405").unwrap_err().to_string().contains("neo.block.missing"));
        });
    }
}
