//! What a NIX file already holds: the checks `rw` mode makes before it adds a run.

use std::path::Path;

use super::names::{self, attr, group, prop};
use crate::error::{Error, Result};
use crate::h5::{self, Attr, Data, File, Mode};

/// Checks that `path` is a NIX file of a version this crate reads.
pub(crate) fn check_nix(path: &Path) -> Result<()> {
    h5::locked(|| {
        let file = File::open(path, Mode::ReadOnly, None, None).map_err(|e| match e {
            Error::Hdf5 { message, .. } => not_nix(path, &format!("HDF5 cannot open it ({message})")),
            other => other,
        })?;
        check_root(&file)
    })
}

fn not_nix(path: &Path, problem: &str) -> Error {
    Error::Format { path: path.into(), problem: problem.into() }
}

/// Checks the root attributes of an open file: `format` is `nix`, major version 1, minor
/// version at most the one written here.
pub(crate) fn check_root(file: &File) -> Result<()> {
    let root = file.root()?;
    match root.attr_string(attr::FORMAT)? {
        Some(f) if f == names::FORMAT => {}
        Some(f) => return Err(not_nix(file.path(), &format!("root attribute 'format' is {f:?}, not \"nix\""))),
        None => return Err(not_nix(file.path(), "it has no root attribute 'format' (an HDF5 file, but not NIX)")),
    }
    let version = match root.attr(attr::VERSION)? {
        Some(Attr::Ints(v)) if v.len() == 3 => v,
        _ => return Err(not_nix(file.path(), "root attribute 'version' is missing or not three integers")),
    };
    if version[0] != i64::from(names::VERSION[0]) || version[1] > i64::from(names::VERSION[1]) {
        return Err(not_nix(
            file.path(),
            &format!("NIX version {}.{}.{} is not supported (1.0 to 1.{})", version[0], version[1], version[2], names::VERSION[1]),
        ));
    }
    for required in [group::DATA, group::METADATA] {
        if !root.has(required) {
            return Err(not_nix(file.path(), &format!("required group '/{required}' is missing")));
        }
    }
    Ok(())
}

/// The run names (`neo_name`) of the Blocks in an open NIX file, in creation order.
pub(crate) fn block_names(file: &File, dxpl: hdf5_sys::h5i::hid_t) -> Result<Vec<(String, Option<String>)>> {
    let data = file.open_path(group::DATA, None)?;
    let mut out = Vec::new();
    for block in data.link_names()? {
        let path = format!("{block}/{}/{}/{}", group::METADATA, group::PROPERTIES, prop::NEO_NAME);
        let neo_name = if data.has(&block) && data.open(&block)?.has(group::METADATA) {
            match data.open(&path).and_then(|d| d.read(dxpl)) {
                Ok(Data::Strings(v)) => v.into_iter().next(),
                _ => None,
            }
        } else {
            None
        };
        out.push((block, neo_name));
    }
    Ok(out)
}

/// How many Blocks of an open file are runs named `name`: the next run's `run_index`.
pub(crate) fn count_named(file: &File, name: &str) -> Result<usize> {
    let kit = h5::Kit::new()?;
    check_root(file)?;
    Ok(block_names(file, kit.dxpl())?.iter().filter(|(_, n)| n.as_deref() == Some(name)).count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h5::Kit;
    use crate::model::{Annotations, Value};
    use crate::nix::layout::{self, BlockMeta};

    #[test]
    fn runs_are_counted_by_name_and_non_nix_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.nio");
        h5::locked(|| {
            let kit = Kit::new().unwrap();
            let file = h5::create_for_test(&path, &kit);
            layout::init_file(&file, &kit, "20260101T000000", "20260101T000000").unwrap();
            let annotations = Annotations::from_iter([("note", Value::from("ünïcode"))]);
            for (i, name) in ["a", "b", "a"].iter().enumerate() {
                let meta = BlockMeta { name, annotations: &annotations, created_at: "20260101T000000" };
                layout::create_block(&file, &kit, &format!("neo.block.{i}"), &meta, "20260101T000000").unwrap().finish(&kit).unwrap();
            }
            assert_eq!(count_named(&file, "a").unwrap(), 2);
            assert_eq!(count_named(&file, "b").unwrap(), 1);
            assert_eq!(count_named(&file, "c").unwrap(), 0);
            let names: Vec<_> = block_names(&file, kit.dxpl()).unwrap().into_iter().map(|(_, n)| n.unwrap()).collect();
            assert_eq!(names, ["a", "b", "a"], "in creation order");
            file.close().unwrap();
        });
        assert!(check_nix(&path).is_ok());
        let text = dir.path().join("text.nio");
        std::fs::write(&text, "not nix").unwrap();
        let err = check_nix(&text).unwrap_err().to_string();
        assert!(err.contains("text.nio") && err.contains("not a readable NIX file"), "{err}");
    }
}
