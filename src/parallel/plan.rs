//! The layout planner: pure, no MPI and no HDF5.
//!
//! From every rank's [`Description`] it decides the file order of each segment's objects
//! and the UUIDs their NIX names are made of (the NIX layer makes the names). The order follows CONTRACT.md and
//! does not depend on how cells are spread over ranks: spike trains, then signals; within
//! each, by device (registration order), `bsb_ps_name`, `bsb_cell_id`, name; objects
//! without a cell anchor last, by rank.

use std::cmp::Ordering;
use std::collections::HashMap;

use uuid::Uuid;

use super::describe::Description;
use crate::contract::keys;

/// Where one object of the file comes from, and the UUID of its NIX name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    pub rank: u32,
    pub local: u32,
    /// Names the object: `neo.spiketrain.<hex>` or `neo.analogsignal.<hex>`.
    pub id: Uuid,
}

/// The order of one segment's objects in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SegmentPlan {
    pub spiketrains: Vec<Placed>,
    pub analogsignals: Vec<Placed>,
}

/// The whole layout of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub segments: Vec<SegmentPlan>,
}

impl Plan {
    /// The total number of objects.
    pub(crate) fn objects(&self) -> usize {
        self.segments.iter().map(|s| s.spiketrains.len() + s.analogsignals.len()).sum()
    }
}

/// Plans a write of the described segments. `new_id` draws the UUIDs that object names
/// are made of.
pub(crate) fn plan(descs: &[Description], new_id: &mut dyn FnMut() -> Uuid) -> Plan {
    let device_order = device_order(descs);
    let n_segments = descs.iter().map(|d| d.segments.len()).max().unwrap_or(0);
    let mut segments = Vec::with_capacity(n_segments);
    for s in 0..n_segments {
        let mut plan = SegmentPlan::default();
        for spikes in [true, false] {
            let order = order(descs, s, spikes, &device_order);
            let placed: Vec<Placed> = order.into_iter().map(|(rank, local)| Placed { rank, local, id: new_id() }).collect();
            if spikes {
                plan.spiketrains = placed;
            } else {
                plan.analogsignals = placed;
            }
        }
        segments.push(plan);
    }
    Plan { segments }
}

/// Global device order: by the earliest registration index any rank gave a device, then
/// by name, so a device's place does not depend on which ranks hold it.
fn device_order(descs: &[Description]) -> HashMap<&str, usize> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for d in descs {
        for (i, name) in d.devices.iter().enumerate() {
            first.entry(name).and_modify(|f| *f = (*f).min(i)).or_insert(i);
        }
    }
    let mut names: Vec<(&str, usize)> = first.into_iter().collect();
    names.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    names.into_iter().enumerate().map(|(order, (name, _))| (name, order)).collect()
}

/// The sort key of one object.
struct Key<'a> {
    /// `(device rank, device, ps_name, cell_id, name)` for objects with a cell anchor.
    anchored: Option<(usize, &'a str, &'a str, i64, &'a str)>,
    rank: u32,
    local: u32,
}

impl Key<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.anchored, &other.anchored) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then(self.rank.cmp(&other.rank))
        .then(self.local.cmp(&other.local))
    }
}

/// The `(rank, local)` of every object of one kind in segment `s`, in file order.
fn order(descs: &[Description], s: usize, spikes: bool, devices: &HashMap<&str, usize>) -> Vec<(u32, u32)> {
    let mut keys: Vec<Key<'_>> = Vec::new();
    for (rank, d) in descs.iter().enumerate() {
        let Some(seg) = d.segments.get(s) else { continue };
        let list = if spikes { &seg.spiketrains } else { &seg.analogsignals };
        for (local, o) in list.iter().enumerate() {
            let a = &o.annotations;
            let anchored = match (a.get_str(keys::PS_NAME), a.get_int(keys::CELL_ID)) {
                (Some(ps), Some(cell)) => {
                    let device = a.get_str(keys::DEVICE_NAME).unwrap_or("");
                    let rank = devices.get(device).copied().unwrap_or(usize::MAX);
                    Some((rank, device, ps, cell, o.name.as_deref().unwrap_or("")))
                }
                _ => None,
            };
            let rank = u32::try_from(rank).expect("rank fits u32");
            let local = u32::try_from(local).expect("object count fits u32");
            keys.push(Key { anchored, rank, local });
        }
    }
    keys.sort_by(Key::cmp);
    keys.into_iter().map(|k| (k.rank, k.local)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Annotations, Value};
    use crate::parallel::describe::{ObjectDesc, SegmentDesc, Shape};
    use proptest::prelude::*;

    fn object(descs: &[Description], rank: u32, segment: usize, spikes: bool, local: u32) -> &ObjectDesc {
        let seg = &descs[rank as usize].segments[segment];
        let list = if spikes { &seg.spiketrains } else { &seg.analogsignals };
        &list[local as usize]
    }

    fn counter() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    fn train(device: &str, ps: Option<&str>, cell: i64, n: u64) -> ObjectDesc {
        let mut a = Annotations::new();
        a.insert("bsb_device_name", device);
        if let Some(ps) = ps {
            a.insert("bsb_ps_name", ps);
            a.insert("bsb_cell_id", cell);
        }
        ObjectDesc {
            name: Some(format!("c{cell}")),
            units: "ms".into(),
            t_start: 0.0,
            shape: Shape::Spikes { t_stop: 1.0, n },
            annotations: a,
            arrays: vec![],
        }
    }

    fn rank(devices: &[&str], trains: Vec<ObjectDesc>) -> Description {
        Description {
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
            segments: vec![SegmentDesc { spiketrains: trains, analogsignals: vec![] }],
        }
    }

    fn cells(plan: &Plan, descs: &[Description]) -> Vec<(String, i64)> {
        plan.segments[0]
            .spiketrains
            .iter()
            .map(|p| {
                let a = &object(descs, p.rank, 0, true, p.local).annotations;
                (a.get_str("bsb_device_name").unwrap().to_owned(), a.get_int("bsb_cell_id").unwrap_or(-1))
            })
            .collect()
    }

    #[test]
    fn order_is_device_then_ps_then_cell_then_unanchored_by_rank() {
        let descs = vec![
            rank(&["spikes", "stim"], vec![train("stim", None, 0, 1), train("spikes", Some("b"), 4, 1), train("spikes", Some("a"), 9, 1)]),
            rank(&["spikes", "stim"], vec![train("spikes", Some("a"), 2, 0), train("stim", None, 0, 2)]),
        ];
        let p = plan(&descs, &mut counter());
        assert_eq!(
            cells(&p, &descs),
            [("spikes".into(), 2), ("spikes".into(), 9), ("spikes".into(), 4), ("stim".into(), -1), ("stim".into(), -1)]
        );
        let unanchored: Vec<_> = p.segments[0].spiketrains[3..].iter().map(|x| x.rank).collect();
        assert_eq!(unanchored, [0, 1]);
    }

    #[test]
    fn every_object_draws_its_own_id() {
        let descs = vec![rank(&["d"], vec![train("d", Some("a"), 1, 1), train("d", Some("a"), 2, 1)])];
        let p = plan(&descs, &mut counter());
        let ids: Vec<_> = p.segments[0].spiketrains.iter().map(|x| x.id).collect();
        assert_eq!(ids, [Uuid::from_u128(1), Uuid::from_u128(2)]);
    }

    #[test]
    fn device_order_takes_the_earliest_registration() {
        let descs = vec![rank(&["b"], vec![]), rank(&["a", "b"], vec![])];
        let order = device_order(&descs);
        assert_eq!((order["a"], order["b"]), (0, 1));
    }

    proptest! {
        /// However cells are dealt to ranks, the file order is the same.
        #[test]
        fn order_does_not_depend_on_rank_count(
            cells in proptest::collection::vec((0u8..3, 0i64..50), 1..40),
            ranks in 1usize..5,
            seed in any::<u64>(),
        ) {
            let devices = ["d0", "d1", "d2"];
            let make = |(d, c): &(u8, i64)| train(devices[*d as usize], Some(["x", "y"][(*c % 2) as usize]), *c, 1);
            let single = vec![rank(&devices, cells.iter().map(make).collect())];
            let mut spread: Vec<Description> = (0..ranks).map(|_| rank(&devices, vec![])).collect();
            for (i, c) in cells.iter().enumerate() {
                let r = usize::try_from((i as u64).wrapping_mul(seed | 1).wrapping_add(seed >> 7) % ranks as u64).unwrap();
                spread[r].segments[0].spiketrains.push(make(c));
            }
            let a = plan(&single, &mut counter());
            let b = plan(&spread, &mut counter());
            let key = |p: &Plan, d: &[Description]| -> Vec<(String, String, i64)> {
                p.segments[0].spiketrains.iter().map(|x| {
                    let a = &object(d, x.rank, 0, true, x.local).annotations;
                    (a.get_str("bsb_device_name").unwrap().to_owned(), a.get_str("bsb_ps_name").unwrap().to_owned(), a.get_int("bsb_cell_id").unwrap())
                }).collect()
            };
            prop_assert_eq!(key(&a, &single), key(&b, &spread));
            prop_assert_eq!(b.objects(), cells.len());
        }
    }

    #[test]
    fn value_annotations_do_not_matter_for_order() {
        let mut t = train("d", Some("a"), 1, 1);
        t.annotations.insert("bsb_extra", Value::Bool(true));
        let descs = vec![rank(&["d"], vec![t])];
        assert_eq!(plan(&descs, &mut counter()).objects(), 1);
    }
}
