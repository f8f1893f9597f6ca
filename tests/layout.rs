//! The structure of our files at the level `h5dump` shows, checked with `hdf5-metno`
//! (independently of our reader) against what NIX_LAYOUT.md section 9 says Neo needs:
//! the root attributes, `/data` and `/metadata`, `entity_id` UUIDs on every entity and
//! property, `created_at` in `%Y%m%dT%H%M%S`, the types and units, the time dimension,
//! the `metadata` links, bools as enums, and link creation order tracked on every group.
//! Beyond Neo, what NIX itself requires of every entity (docs/NIX_CONFORMANCE.md):
//! `created_at` and `updated_at` on all, and a `type` on every section.

use std::path::{Path, PathBuf};
use std::process::Command;

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Group, Location};

fn simulate(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let done = Command::new(env!("CARGO_BIN_EXE_bsb-results"))
        .args(["simulate", "--cells", "6", "--voltage-cells", "2", "--duration-ms", "20", "--checkpoints", "2", "--quiet", "--out"])
        .arg(&path)
        .args(extra)
        .output()
        .expect("bsb-results runs");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    path
}

/// A string attribute, whatever its string type.
fn text(loc: &Location, name: &str) -> String {
    let a = loc.attr(name).unwrap_or_else(|_| panic!("{}@{name} is missing", loc.name()));
    match a.dtype().unwrap().to_descriptor().unwrap() {
        TypeDescriptor::FixedAscii(_) => a.read_scalar::<FixedAscii<128>>().unwrap().as_str().to_owned(),
        TypeDescriptor::FixedUnicode(_) => a.read_scalar::<FixedUnicode<128>>().unwrap().as_str().to_owned(),
        TypeDescriptor::VarLenAscii => a.read_scalar::<VarLenAscii>().unwrap().as_str().to_owned(),
        TypeDescriptor::VarLenUnicode => a.read_scalar::<VarLenUnicode>().unwrap().as_str().to_owned(),
        other => panic!("{}@{name} is {other:?}, not a string", loc.name()),
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

fn is_nix_time(s: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S").is_ok()
}

/// An entity's NIX timestamps: both present, in NIX's format, created no later than updated.
fn stamped(loc: &Location) {
    let (created, updated) = (text(loc, "created_at"), text(loc, "updated_at"));
    assert!(is_nix_time(&created) && is_nix_time(&updated), "{}: {created:?}, {updated:?}", loc.name());
    assert!(created <= updated, "{} was created at {created}, after its update at {updated}", loc.name());
}

/// A section: a UUID `entity_id`, a `type`, the timestamps; returns its properties.
fn section(owner: &Group, type_: &str) -> Group {
    let section = owner.group("metadata").unwrap();
    assert!(is_uuid(&text(&section, "entity_id")));
    assert_eq!(text(&section, "type"), type_);
    stamped(&section);
    section.group("properties").unwrap()
}

/// Every group below `/` tracks link creation order (Neo reads segments, objects and
/// annotations in that order).
fn all_tracked(g: &Group, seen: &mut usize) {
    for name in g.member_names().unwrap() {
        if let Ok(child) = g.group(&name) {
            let order = child.create_plist().unwrap().link_creation_order();
            assert_ne!(format!("{order:?}"), "Untracked", "{} does not track link creation order", child.name());
            *seen += 1;
            all_tracked(&child, seen);
        }
    }
}

/// A property dataset: `name` equal to its link, a UUID `entity_id`.
fn property(props: &Group, key: &str) -> hdf5::Dataset {
    let ds = props.dataset(key).unwrap_or_else(|_| panic!("{}/{key} is missing", props.name()));
    assert_eq!(text(&ds, "name"), key);
    assert!(is_uuid(&text(&ds, "entity_id")), "{}/{key} entity_id", props.name());
    stamped(&ds);
    ds
}

fn check_file(path: &Path) {
    let file = hdf5::File::open(path).unwrap();
    assert_eq!(text(&file, "format"), "nix");
    assert_eq!(file.attr("version").unwrap().read_raw::<i32>().unwrap(), [1, 2, 1]);
    assert!(is_uuid(&text(&file, "id")));
    stamped(&file);
    let data = file.group("data").unwrap();
    file.group("metadata").unwrap();
    let mut seen = 0;
    all_tracked(&file, &mut seen);
    assert!(seen > 20, "only {seen} groups");

    let block = data.group(&data.member_names().unwrap()[0]).unwrap();
    assert_eq!(text(&block, "type"), "neo.block");
    assert!(is_uuid(&text(&block, "entity_id")));
    stamped(&block);
    let props = section(&block, "neo.block.metadata");
    for key in ["neo_name", "config", "bsb_simulation_id", "bsb_provenance", "run_index"] {
        property(&props, key);
    }
    let groups = block.group("groups").unwrap();
    let segments = groups.member_names().unwrap();
    assert_eq!(segments.len(), 2);
    for s in segments {
        let seg = groups.group(&s).unwrap();
        assert_eq!(text(&seg, "type"), "neo.segment");
        assert!(is_uuid(&text(&seg, "entity_id")));
        stamped(&seg);
        let sp = section(&seg, "neo.segment.metadata");
        assert_eq!(property(&sp, "checkpoint_index").dtype().unwrap().to_descriptor().unwrap().to_string(), "int64");
        for link in seg.group("multi_tags").unwrap().member_names().unwrap() {
            assert!(is_uuid(&link), "segment links are named by entity_id");
            let tag = seg.group(&format!("multi_tags/{link}")).unwrap();
            assert_eq!(text(&tag, "type"), "neo.spiketrain");
            assert_eq!(text(&tag, "entity_id"), link);
            stamped(&tag);
            let positions = tag.group("positions").unwrap();
            assert_eq!((text(&positions, "type"), text(&positions, "unit")), ("neo.spiketrain.times".into(), "ms".into()));
            assert!(positions.dataset("data").is_ok());
            stamped(&positions);
            let tp = section(&tag, "neo.spiketrain.metadata");
            for key in ["neo_name", "t_start", "t_stop"] {
                property(&tp, key);
            }
            assert_eq!(text(&property(&tp, "t_stop"), "unit"), "ms");
        }
        for link in seg.group("data_arrays").unwrap().member_names().unwrap() {
            let da = seg.group(&format!("data_arrays/{link}")).unwrap();
            assert_eq!(text(&da, "type"), "neo.analogsignal");
            assert_eq!(text(&da, "unit"), "mV");
            stamped(&da);
            assert!(text(&da, "name").rsplit_once('.').is_some_and(|(base, c)| base.starts_with("neo.analogsignal.") && c.parse::<u32>().is_ok()));
            let dim = da.group("dimensions/1").unwrap();
            assert_eq!((text(&dim, "dimension_type"), text(&dim, "label"), text(&dim, "unit")), ("sample".into(), "time".into(), "ms".into()));
            assert!(dim.attr("sampling_interval").unwrap().read_scalar::<f64>().unwrap() > 0.0);
            assert_eq!(text(&property(&section(&da, "neo.analogsignal.metadata"), "t_start"), "unit"), "ms");
        }
    }
}

#[test]
fn files_have_the_structure_neo_needs() {
    let dir = tempfile::tempdir().unwrap();
    check_file(&simulate(dir.path(), "plain.nio", &[]));
    check_file(&simulate(dir.path(), "shared-off.nio", &["--no-sharing"]));
    let muxed = simulate(dir.path(), "mux.nio", &["--multiplex"]);
    check_file(&muxed);

    // A bool is Neo's {FALSE, TRUE} enum over int8, not a plain integer.
    let file = hdf5::File::open(&muxed).unwrap();
    let block = file.group("data").unwrap().member_names().unwrap().remove(0);
    let groups = file.group(&format!("data/{block}/groups")).unwrap();
    let seg = groups.member_names().unwrap().remove(0);
    let tags = groups.group(&format!("{seg}/multi_tags")).unwrap();
    let tag = tags.member_names().unwrap().into_iter().map(|t| tags.group(&t).unwrap()).find(|t| t.group("metadata/properties").unwrap().link_exists("bsb_multiplexed"));
    let flag = tag.expect("a multiplexed train").dataset("metadata/properties/bsb_multiplexed").unwrap();
    match flag.dtype().unwrap().to_descriptor().unwrap() {
        TypeDescriptor::Enum(e) => {
            let names: Vec<_> = e.members.iter().map(|m| (m.name.clone(), m.value)).collect();
            assert_eq!(names, [("FALSE".to_owned(), 0), ("TRUE".to_owned(), 1)]);
        }
        TypeDescriptor::Boolean => {}
        other => panic!("bsb_multiplexed is {other:?}, not Neo's bool enum"),
    }
}
