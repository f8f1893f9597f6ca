//! The single-rank paths around HDF5: describing, planning, counting shared properties,
//! packing and multiplexing, on 10,000 spike trains (4 ranks' descriptions for planning).
//! Needs the feature `test-hooks` (the `internals` entry points): `cargo bench --features test-hooks`.

use std::hint::black_box;

use bsb_results::contract::{RunIds, spike_train};
use bsb_results::{CellTarget, Device, Direction, Segment, internals, multiplex};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TRAINS: usize = 10_000;

fn segments(cells: std::ops::Range<usize>) -> Vec<Segment> {
    let device = Device::new("spikes", "spike_recorder");
    let ids = RunIds { simulation_id: "5bd0a9b8-0ba6-4a37-9c5a-1bd9d1d5c1ba", segment_id: "0c9d7c0e-57b1-4f3f-8a6b-1e2a6f7e0b11" };
    let spiketrains = cells
        .map(|c| {
            let cell = CellTarget::new(if c % 4 == 3 { "golgi_cell" } else { "granule_cell" }, i64::try_from(c).expect("few cells"), "iaf");
            let times = (0..20).map(|i| f64::from(i) * 50.0 + (c % 7) as f64).collect();
            spike_train(ids, &device, &cell, times, 1000.0).name(format!("cell_{c}")).build().expect("valid")
        })
        .collect();
    vec![Segment { spiketrains, ..Segment::default() }]
}

fn hot_paths(c: &mut Criterion) {
    let devices = vec!["spikes".to_owned()];
    let whole = segments(0..TRAINS);
    let gathered: Vec<Vec<u8>> =
        (0..4).map(|r| internals::describe(&devices, &segments(r * TRAINS / 4..(r + 1) * TRAINS / 4))).collect();
    let mut g = c.benchmark_group("10k spike trains");
    g.throughput(Throughput::Elements(TRAINS as u64));
    g.bench_function("describe and encode", |b| b.iter(|| black_box(internals::describe(&devices, &whole))));
    g.bench_function("decode and plan (4 ranks)", |b| b.iter(|| black_box(internals::plan_layout(&gathered).expect("plans"))));
    g.bench_function("count shared properties", |b| b.iter(|| black_box(internals::count_shared(&gathered).expect("counts"))));
    g.bench_function("pack payloads", |b| b.iter(|| black_box(internals::pack(&whole).expect("packs"))));
    let targets: Vec<_> = (0..i64::try_from(TRAINS).expect("few trains"))
        .map(|i| multiplex::cell_target(&CellTarget::new("granule_cell", i, "iaf"), Direction::Record))
        .collect();
    g.bench_function("multiplex roster", |b| b.iter(|| black_box(multiplex::multiplex_targets(&targets).expect("packs"))));
    g.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
