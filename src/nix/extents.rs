//! Each rank's values in one extent: before rank 0 lays out any object of a write, it
//! reserves the datasets of rank 0, then those of rank 1, ..., each rank's run starting
//! on an `align` boundary, and pads after the last run, so that a rank's data of one
//! write is one contiguous extent and no block of `align` bytes holds two ranks' data,
//! or data and metadata. The layout then links each reserved dataset where NIX wants it,
//! in Neo's object order, and the ranks write their extents in the data phase.

use std::collections::HashMap;

use crate::error::Result;
use crate::h5::{File, Kit, NumType, Obj, Reserved};
use crate::parallel::describe::{ArrayDesc, Description, ObjectDesc, Role, Shape};
use crate::parallel::plan::Plan;

/// Which dataset of which object: `(rank, segment, spike train?, index on its rank, role)`.
pub(crate) type Key = (u32, u32, bool, u32, Role);

/// The reserved datasets of a write, and the padding that keeps the extents apart (freed
/// when dropped, after the layout: until then nothing else can be allocated there).
pub(crate) struct Extents<'f> {
    pub reserved: HashMap<Key, Reserved>,
    pads: Vec<Obj<'f>>,
}

/// The datasets `descs[rank]` fills, in plan order: `(key, type, elements)`, none empty.
fn datasets(plan: &Plan, descs: &[Description]) -> Vec<Vec<(Key, NumType, u64)>> {
    let mut by_rank = vec![Vec::new(); descs.len()];
    for (s, seg) in plan.segments.iter().enumerate() {
        let segment = u32::try_from(s).expect("segment count fits u32");
        for (spikes, placed) in [(false, &seg.analogsignals), (true, &seg.spiketrains)] {
            for p in placed {
                let d = &descs[p.rank as usize].segments[s];
                let object: &ObjectDesc = if spikes { &d.spiketrains[p.local as usize] } else { &d.analogsignals[p.local as usize] };
                let list: &mut Vec<_> = &mut by_rank[p.rank as usize];
                let mut push = |role, t, n| {
                    if n > 0 {
                        list.push(((p.rank, segment, spikes, p.local, role), t, n));
                    }
                };
                match object.shape {
                    Shape::Spikes { n, .. } => push(Role::Times, NumType::F64, n),
                    Shape::Signal { n_samples, n_channels, .. } => (0..n_channels).for_each(|c| push(Role::Channel(c), NumType::F64, n_samples)),
                }
                for (i, a) in object.arrays.iter().enumerate() {
                    if let ArrayDesc::Payload(_, t, n) = a {
                        push(Role::Array(u32::try_from(i).expect("few arrays")), *t, *n);
                    }
                }
            }
        }
    }
    by_rank
}

/// Bytes from `at` to the next multiple of `align` (0 when `align` is 0 or 1).
fn gap(at: u64, align: u64) -> u64 {
    if align <= 1 { 0 } else { (align - at % align) % align }
}

/// How many datasets (and pads) a write of `plan` reserves: what its metadata block must
/// hold for the extents to stay in one piece.
pub(crate) fn count(plan: &Plan, descs: &[Description]) -> u64 {
    datasets(plan, descs).iter().map(|d| d.len() as u64 + 1).sum::<u64>() + 1
}

/// Reserves the datasets of every rank, rank after rank, each run aligned to `align`.
pub(crate) fn reserve<'f>(file: &'f File, kit: &Kit, plan: &Plan, descs: &[Description], align: u64) -> Result<Extents<'f>> {
    let mut reserved = HashMap::new();
    let mut pads = Vec::new();
    let pad_to_boundary = |pads: &mut Vec<Obj<'f>>| -> Result<()> {
        let bytes = gap(file.end_of_allocation()?, align);
        if bytes > 0 {
            pads.push(file.pad(kit, usize::try_from(bytes).expect("align fits usize"))?);
        }
        Ok(())
    };
    for list in datasets(plan, descs) {
        if list.is_empty() {
            continue;
        }
        pad_to_boundary(&mut pads)?;
        for (key, t, n) in list {
            reserved.insert(key, file.reserve(kit, t, usize::try_from(n).expect("validated sizes fit usize"))?);
        }
    }
    if !reserved.is_empty() {
        pad_to_boundary(&mut pads)?;
    }
    Ok(Extents { reserved, pads })
}

impl Extents<'_> {
    /// Frees the padding (call after the layout, before closing the file).
    pub(crate) fn release(self) {
        drop(self.pads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_reach_the_next_boundary() {
        assert_eq!(gap(0, 1 << 20), 0);
        assert_eq!(gap(1, 1 << 20), (1 << 20) - 1);
        assert_eq!(gap(5000, 4096), 3192);
        assert_eq!(gap(12345, 1), 0);
        assert_eq!(gap(12345, 0), 0);
    }
}
