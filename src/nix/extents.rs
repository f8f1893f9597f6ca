//! Each rank's values in one extent: before rank 0 lays out any object of a write, it
//! allocates the values of rank 0, then those of rank 1, ..., each rank's run starting
//! on an `align` boundary, and skips to the next boundary after the last run, so that a
//! rank's data of one write is one contiguous extent and no block of `align` bytes holds
//! two ranks' data, or data and metadata. The layout then creates each dataset where NIX
//! wants it, in Neo's object order, over its values, and the ranks write their extents
//! in the data phase.

use foldhash::{HashMap, HashMapExt};

use crate::error::Result;
use crate::h5::{File, NumType};
use crate::parallel::describe::{ArrayDesc, Description, ObjectDesc, Payload, Role, Shape};
use crate::parallel::plan::Plan;

/// Which dataset of which object: `(rank, segment, spike train?, index on its rank, role)`.
pub(crate) type Key = (u32, u32, bool, u32, Role);

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

/// Where the ranks' values go.
pub(crate) struct Extents {
    /// Where each dataset's values start.
    pub offsets: HashMap<Key, u64>,
    /// Per rank, the datasets it fills in the data phase, in plan order.
    pub payloads: Vec<Vec<Payload>>,
}

/// Allocates the values of every rank, rank after rank, each run starting on a multiple
/// of `align`, and skips to the next boundary after the last run.
pub(crate) fn reserve(file: &File, plan: &Plan, descs: &[Description], align: u64) -> Result<Extents> {
    let mut offsets = HashMap::new();
    let mut payloads = Vec::with_capacity(descs.len());
    for list in datasets(plan, descs) {
        let mut mine = Vec::with_capacity(list.len());
        if !list.is_empty() {
            let bytes = list.iter().map(|(_, t, n)| t.size() * n).sum();
            let mut at = file.claim(bytes, align)?;
            for (key, t, n) in list {
                let (_, segment, spikes, local, role) = key;
                mine.push(Payload { segment, spikes, local, role, offset: at });
                offsets.insert(key, at);
                at += t.size() * n;
            }
        }
        payloads.push(mine);
    }
    if !offsets.is_empty() {
        file.claim(0, align)?;
    }
    Ok(Extents { offsets, payloads })
}
