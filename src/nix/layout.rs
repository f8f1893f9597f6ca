//! Rank 0's serial phase: creates the NIX structure of a write and allocates every
//! dataset the ranks fill later.
//!
//! Follows the minimal layout of NIX_LAYOUT.md section 9, which Neo reads with every name,
//! annotation, type and order intact: sections live directly under their entity as
//! `metadata`, properties are compact datasets, and data arrays are contiguous.

use std::cell::RefCell;
use std::collections::HashMap;

use rayon::prelude::*;
use uuid::Uuid;

use super::names::{self, attr, group, prop, types};
use super::property::{Prop, Sharer, object_props, property, property_attrs, stamp};
use super::extents::Key;
use crate::error::Result;
use crate::h5::{File, GroupKind, Kit, NumType, Obj, Reserved};
use crate::model::{Annotations, Segment, Value};
use crate::parallel::describe::{ArrayDesc, Description, ObjectDesc, Payload, Role, Shape};
use crate::parallel::plan::{Placed, SegmentPlan};
use crate::progress::Ticker;

/// A hyphenated UUID4 (`entity_id`).
fn entity_id() -> String {
    Uuid::new_v4().hyphenated().to_string()
}

/// Writes what NIX requires of an entity (docs/NIX_CONFORMANCE.md): `name`, `type`,
/// `entity_id`, `created_at` and `updated_at`; returns the id.
fn entity(obj: &Obj<'_>, kit: &Kit, name: &str, type_: &str, created_at: &str, updated_at: &str) -> Result<String> {
    let id = entity_id();
    obj.attr_str(kit, attr::NAME, name, false)?;
    obj.attr_str(kit, attr::TYPE, type_, false)?;
    obj.attr_str(kit, attr::ENTITY_ID, &id, false)?;
    stamp(obj, kit, created_at, updated_at)?;
    Ok(id)
}

/// Writes the root attributes and the `/data` and `/metadata` groups of a new file, for a
/// run that started at `created_at`, written `at` (NIX times).
pub(crate) fn init_file(file: &File, kit: &Kit, created_at: &str, at: &str) -> Result<()> {
    let root = file.root()?;
    root.attr_str(kit, attr::FORMAT, names::FORMAT, true)?;
    root.attr_i32s(kit, attr::VERSION, &names::VERSION)?;
    root.attr_str(kit, attr::ID, &entity_id(), false)?;
    stamp(&root, kit, created_at, at)?;
    root.group(kit, group::DATA, GroupKind::Container)?;
    let metadata = root.group(kit, group::METADATA, GroupKind::Container)?;
    let neo = metadata.group(kit, group::NEO, GroupKind::Small)?;
    entity(&neo, kit, group::NEO, types::NEO_METADATA, at, at)?;
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
    entity(&sec, kit, name, type_, at, at)?;
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

/// The open containers of a Block.
pub(crate) struct BlockHandles<'f> {
    groups: Obj<'f>,
    data_arrays: Obj<'f>,
    multi_tags: Obj<'f>,
}

/// Creates Block `nix_name` under `/data`, written `at` (a NIX time).
pub(crate) fn create_block<'f>(file: &'f File, kit: &Kit, nix_name: &str, meta: &BlockMeta<'_>, at: &str) -> Result<BlockHandles<'f>> {
    let data = file.open_path(group::DATA, None)?;
    let block = data.group(kit, nix_name, GroupKind::Small)?;
    entity(&block, kit, nix_name, types::BLOCK, meta.created_at, at)?;
    let (_, props) = section(&block, kit, nix_name, types::BLOCK_METADATA, at)?;
    property(&props, kit, prop::NEO_NAME, &Value::Str(meta.name.to_owned()), false, at)?;
    annotations(&props, kit, meta.annotations, at)?;
    Ok(BlockHandles {
        groups: block.group(kit, group::GROUPS, GroupKind::Container)?,
        data_arrays: block.group(kit, group::DATA_ARRAYS, GroupKind::Container)?,
        multi_tags: block.group(kit, group::MULTI_TAGS, GroupKind::Container)?,
    })
}

/// Opens the containers of Block `nix_name`, to add segments to it.
pub(crate) fn open_block<'f>(file: &'f File, nix_name: &str) -> Result<BlockHandles<'f>> {
    let block = file.open_path(&format!("/{}/{nix_name}", group::DATA), Some(&format!("Block {nix_name}")))?;
    Ok(BlockHandles {
        groups: block.open(group::GROUPS)?,
        data_arrays: block.open(group::DATA_ARRAYS)?,
        multi_tags: block.open(group::MULTI_TAGS)?,
    })
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
    /// The datasets reserved for the ranks' values ([`super::extents`]).
    pub reserved: &'a HashMap<Key, Reserved>,
    /// Per rank, the datasets it fills in the data phase, with their file offsets.
    pub payloads: &'a RefCell<Vec<Vec<Payload>>>,
}

/// What one segment's objects share: repeated properties and identical time axes.
struct Shared<'f> {
    props: Sharer<'f>,
    /// `dimensions` groups by (sampling interval, offset, unit), when sharing.
    dims: RefCell<HashMap<(u64, u64, String), Obj<'f>>>,
}

/// Writes one segment: its group and section, then every spike train and signal in plan
/// order, allocating their datasets.
pub(crate) fn write_segment(block: &BlockHandles<'_>, kit: &Kit, job: &SegmentJob<'_>) -> Result<()> {
    let seg_name = names::object_name("segment", Uuid::new_v4());
    let g = block.groups.group(kit, &seg_name, GroupKind::Small)?;
    entity(&g, kit, &seg_name, types::SEGMENT, job.created_at, job.written_at)?;
    let (_, props) = section(&g, kit, &seg_name, types::SEGMENT_METADATA, job.written_at)?;
    property(&props, kit, prop::NEO_NAME, &Value::Str(job.segment.name.clone().unwrap_or_default()), false, job.written_at)?;
    annotations(&props, kit, &job.segment.annotations, job.written_at)?;
    drop(props);
    let (descs, index) = (job.descs, job.index);
    let objects = job.plan.analogsignals.par_iter().map(|p| object(descs, index, p, false));
    let objects = objects.chain(job.plan.spiketrains.par_iter().map(|p| object(descs, index, p, true)));
    let shared = Shared { props: Sharer::new(objects, job.share), dims: RefCell::new(HashMap::new()) };
    if !job.plan.analogsignals.is_empty() {
        let links = g.group(kit, group::DATA_ARRAYS, GroupKind::Container)?;
        for p in &job.plan.analogsignals {
            write_signal(block, kit, job, &shared, p, &links)?;
            job.ticker.tick();
        }
    }
    if !job.plan.spiketrains.is_empty() {
        let links = g.group(kit, group::MULTI_TAGS, GroupKind::Container)?;
        for p in &job.plan.spiketrains {
            write_train(block, kit, job, &shared, p, &links)?;
            job.ticker.tick();
        }
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

/// Links the data dataset of `n` elements reserved for `src` as `name` (an empty one is
/// created here), and notes where its rank writes its values in the data phase.
fn data_set<'f>(parent: &Obj<'f>, kit: &Kit, job: &SegmentJob<'_>, name: &str, t: NumType, n: u64, src: &Source<'_>) -> Result<Obj<'f>> {
    if n == 0 {
        return parent.allocate(kit, name, t, 0);
    }
    let segment = u32::try_from(job.index).expect("segment count fits u32");
    let key = (src.placed.rank, segment, src.spikes, src.placed.local, src.role);
    let reserved = job.reserved.get(&key).ok_or_else(|| crate::error::Error::Collective(format!("no dataset reserved for {}", parent.child_name(name))))?;
    let ds = parent.place(kit, *reserved, name)?;
    let payload = Payload { segment, spikes: src.spikes, local: src.placed.local, role: src.role, offset: reserved.offset };
    job.payloads.borrow_mut()[src.placed.rank as usize].push(payload);
    Ok(ds)
}

/// Writes an object's properties: shared where repeated, then the numeric array
/// annotations its rank fills.
fn properties<'f>(props: &Obj<'f>, kit: &Kit, job: &SegmentJob<'_>, shared: &Shared<'f>, d: &ObjectDesc, src: (bool, &Placed)) -> Result<()> {
    for p in object_props(d) {
        shared.props.put(props, kit, &p, job.written_at)?;
    }
    for (i, a) in d.arrays.iter().enumerate() {
        match a {
            ArrayDesc::Inline(key, v) => shared.props.put(props, kit, &Prop::array(key, v), job.written_at)?,
            ArrayDesc::Payload(key, t, n) => {
                let role = Role::Array(u32::try_from(i).expect("few arrays"));
                let ds = data_set(props, kit, job, key, *t, *n, &Source { spikes: src.0, placed: src.1, role })?;
                property_attrs(&ds, kit, key, None, None, true, job.written_at)?;
            }
        }
    }
    Ok(())
}

fn write_train<'f>(block: &BlockHandles<'f>, kit: &Kit, job: &SegmentJob<'_>, shared: &Shared<'f>, p: &Placed, links: &Obj<'_>) -> Result<()> {
    let d = object(job.descs, job.index, p, true);
    let Shape::Spikes { n, .. } = d.shape else { unreachable!("planned as a spike train") };
    let name = names::object_name("spiketrain", p.id);
    let times = names::times_array(&name);
    let da = block.data_arrays.group(kit, &times, GroupKind::Small)?;
    let at = job.written_at;
    entity(&da, kit, &times, types::SPIKETRAIN_TIMES, at, at)?;
    da.attr_str(kit, attr::UNIT, &d.units, false)?;
    data_set(&da, kit, job, group::VALUES, NumType::F64, n, &Source { spikes: true, placed: p, role: Role::Times })?;
    let mt = block.multi_tags.group(kit, &name, GroupKind::Small)?;
    let mt_id = entity(&mt, kit, &name, types::SPIKETRAIN, at, at)?;
    mt.link(kit, &da, group::POSITIONS)?;
    let (_, props) = section(&mt, kit, &name, types::SPIKETRAIN_METADATA, at)?;
    properties(&props, kit, job, shared, d, (true, p))?;
    links.link(kit, &mt, &mt_id)
}

fn write_signal<'f>(block: &BlockHandles<'f>, kit: &Kit, job: &SegmentJob<'_>, shared: &Shared<'f>, p: &Placed, links: &Obj<'_>) -> Result<()> {
    let d = object(job.descs, job.index, p, false);
    let Shape::Signal { n_samples, n_channels, sampling_period, ref time_units } = d.shape else {
        unreachable!("planned as a signal")
    };
    let name = names::object_name("analogsignal", p.id);
    let mut section_of_first: Option<Obj<'_>> = None;
    for c in 0..n_channels as usize {
        let array = names::channel_array(&name, c);
        let da = block.data_arrays.group(kit, &array, GroupKind::Channel)?;
        let da_id = entity(&da, kit, &array, types::ANALOGSIGNAL, job.written_at, job.written_at)?;
        da.attr_str(kit, attr::UNIT, &d.units, false)?;
        let role = Role::Channel(u32::try_from(c).expect("channel count fits u32"));
        data_set(&da, kit, job, group::VALUES, NumType::F64, n_samples, &Source { spikes: false, placed: p, role })?;
        time_axis(&da, kit, job.share, shared, sampling_period, d.t_start, time_units)?;
        match &section_of_first {
            Some(sec) => da.link(kit, sec, group::METADATA)?,
            None => {
                let (sec, props) = section(&da, kit, &name, types::ANALOGSIGNAL_METADATA, job.written_at)?;
                properties(&props, kit, job, shared, d, (false, p))?;
                section_of_first = Some(sec);
            }
        }
        links.link(kit, &da, &da_id)?;
    }
    Ok(())
}

/// The SampledDimension `dimensions/1` of a channel; with sharing, channels with the same
/// time axis link one group.
fn time_axis<'f>(da: &Obj<'f>, kit: &Kit, share: bool, shared: &Shared<'f>, interval: f64, offset: f64, unit: &str) -> Result<()> {
    let key = (interval.to_bits(), offset.to_bits(), unit.to_owned());
    if let Some(dims) = shared.dims.borrow().get(&key) {
        return da.link(kit, dims, group::DIMENSIONS);
    }
    let dims = da.group(kit, group::DIMENSIONS, GroupKind::Small)?;
    let dim = dims.group(kit, group::FIRST_DIMENSION, GroupKind::Small)?;
    dim.attr_str(kit, attr::DIMENSION_TYPE, types::SAMPLE_DIMENSION, false)?;
    dim.attr_f64(kit, attr::SAMPLING_INTERVAL, interval)?;
    dim.attr_str(kit, attr::UNIT, unit, false)?;
    dim.attr_f64(kit, attr::OFFSET, offset)?;
    dim.attr_str(kit, attr::LABEL, types::TIME_LABEL, false)?;
    if share {
        shared.dims.borrow_mut().insert(key, dims);
    }
    Ok(())
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
