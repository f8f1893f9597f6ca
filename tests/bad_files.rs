//! Bad files get clear errors from the reader, never a panic: not HDF5, not NIX, an
//! unsupported NIX version, truncated, missing required attributes, dangling links.
//! The files are made by damaging a good one with `hdf5-metno` (not our writer).

use std::path::{Path, PathBuf};
use std::process::Command;

use bsb_results::{ErrorKind, NioFile, read_nio};
use hdf5::types::VarLenUnicode;

/// A small good file written by the binary (a plain process: an MPI singleton).
fn good(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let done = Command::new(env!("CARGO_BIN_EXE_bsb-results"))
        .args(["simulate", "--cells", "4", "--voltage-cells", "1", "--duration-ms", "10", "--quiet", "--out"])
        .arg(&path)
        .output()
        .expect("bsb-results runs");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    path
}

/// The reader's error on `path`: kind and message (which must name the file).
fn error(path: &Path) -> (ErrorKind, String) {
    let e = read_nio(path).expect_err("a bad file was read");
    let message = e.to_string();
    assert!(message.contains(&path.display().to_string()), "the error names the file: {message}");
    (e.kind(), message)
}

/// The first spike train's MultiTag of the only segment, by its path in the file.
fn first_train(file: &hdf5::File) -> String {
    let block = file.group("data").unwrap().member_names().unwrap().remove(0);
    let groups = file.group(&format!("data/{block}/groups")).unwrap();
    let segment = groups.member_names().unwrap().remove(0);
    let tags = format!("data/{block}/groups/{segment}/multi_tags");
    let tag = file.group(&tags).unwrap().member_names().unwrap().remove(0);
    format!("{tags}/{tag}")
}

fn nix_root(path: &Path, format: &str, version: [i32; 3], groups: &[&str]) {
    let file = hdf5::File::create(path).unwrap();
    let text: VarLenUnicode = format.parse().unwrap();
    file.new_attr::<VarLenUnicode>().create("format").unwrap().write_scalar(&text).unwrap();
    file.new_attr::<i32>().shape(3).create("version").unwrap().write(&version).unwrap();
    for g in groups {
        file.create_group(g).unwrap();
    }
}

#[test]
fn bad_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let missing = d.join("missing.nio");
    let (kind, message) = error(&missing);
    assert_eq!(kind, ErrorKind::Io, "{message}");

    let text = d.join("text.nio");
    std::fs::write(&text, "results, but in words").unwrap();
    let (kind, message) = error(&text);
    assert!(kind == ErrorKind::Format && message.contains("HDF5 cannot open it"), "{message}");

    let plain = d.join("plain.h5");
    hdf5::File::create(&plain).unwrap().create_group("x").unwrap();
    let (kind, message) = error(&plain);
    assert!(kind == ErrorKind::Format && message.contains("no root attribute 'format'"), "{message}");

    let future = d.join("future.nio");
    nix_root(&future, "nix", [1, 3, 0], &["data", "metadata"]);
    let (_, message) = error(&future);
    assert!(message.contains("NIX version 1.3.0 is not supported"), "{message}");

    let other = d.join("other.nio");
    nix_root(&other, "zarr", [1, 2, 1], &["data", "metadata"]);
    assert!(error(&other).1.contains("\"zarr\""));

    let no_data = d.join("no_data.nio");
    nix_root(&no_data, "nix", [1, 2, 1], &["metadata"]);
    assert!(error(&no_data).1.contains("'/data' is missing"));

    let empty = d.join("empty.nio");
    nix_root(&empty, "nix", [1, 2, 1], &["data", "metadata"]);
    assert!(error(&empty).1.contains("holds no run"));

    let source = good(d, "good.nio");
    let bytes = std::fs::read(&source).unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 100, 4000, 200] {
        let truncated = d.join(format!("truncated{cut}.nio"));
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let (kind, message) = error(&truncated);
        assert!(matches!(kind, ErrorKind::Format | ErrorKind::Hdf5), "truncated at {cut}: {message}");
    }

    let damaged = |name: &str, damage: &dyn Fn(&hdf5::File, &str)| {
        let path = d.join(name);
        std::fs::copy(&source, &path).unwrap();
        let file = hdf5::File::open_rw(&path).unwrap();
        damage(&file, &first_train(&file));
        file.close().unwrap();
        error(&path)
    };
    let (kind, message) = damaged("no_unit.nio", &|f, train| f.group(&format!("{train}/positions")).unwrap().delete_attr("unit").unwrap());
    assert!(kind == ErrorKind::Format && message.contains("times have no unit"), "{message}");
    let (_, message) = damaged("no_t_stop.nio", &|f, train| f.group(&format!("{train}/metadata/properties")).unwrap().unlink("t_stop").unwrap());
    assert!(message.contains("has no t_stop"), "{message}");
    let (_, message) = damaged("no_name.nio", &|f, train| f.dataset(&format!("{train}/metadata/properties/bsb_cell_id")).unwrap().delete_attr("name").unwrap());
    assert!(message.contains("has no 'name' attribute"), "{message}");
    let (_, message) = damaged("bad_group.nio", &|f, train| {
        let segment = train.rsplit_once("/multi_tags").unwrap().0;
        let g = f.group(segment).unwrap();
        g.delete_attr("type").unwrap();
        let odd: VarLenUnicode = "neo.mystery".parse().unwrap();
        g.new_attr::<VarLenUnicode>().create("type").unwrap().write_scalar(&odd).unwrap();
    });
    assert!(message.contains("unexpected group type"), "{message}");
    let (kind, message) = damaged("dangling.nio", &|f, train| {
        let (tags, tag) = train.rsplit_once('/').unwrap();
        let tags = f.group(tags).unwrap();
        tags.unlink(tag).unwrap();
        tags.link_soft("/data/nowhere", tag).unwrap();
    });
    assert!(kind == ErrorKind::Format && message.contains("cannot be followed"), "{message}");

    let file = NioFile::open(&source).unwrap();
    assert!(file.run("nobody", None).unwrap_err().to_string().contains("no run \"nobody\""));
}
