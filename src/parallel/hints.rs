//! MPI-IO hints: which layer runs the data phase (Open MPI's OMPIO or ROMIO), which keys
//! that layer reads, and the checks every hint passes before any MPI call sees it.
//!
//! A hint MPI cannot hold (a key longer than `MPI_MAX_INFO_KEY`) would make
//! `MPI_Info_set` abort the job, and a key the layer does not read does nothing at all;
//! both are errors here, naming the hint.

use serde::Serialize;

use crate::error::{Error, Result};

/// The MPI-IO implementation behind `MPI_File_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Layer {
    /// Open MPI's own MPI-IO (the default of Open MPI 4 and later).
    #[serde(rename = "OMPIO")]
    Ompio,
    /// ROMIO: MPICH and its derivatives, or Open MPI with `OMPI_MCA_io=romio...`.
    #[serde(rename = "ROMIO")]
    Romio,
}

impl Layer {
    /// The layer `MPI_Get_library_version`'s `version` selects, given the `io` component
    /// Open MPI was told to use (`OMPI_MCA_io`, as `mpirun --mca io ...` sets it).
    pub(crate) fn detect(version: &str, ompi_io: Option<&str>) -> Layer {
        let romio_selected =
            ompi_io.is_some_and(|io| io.split(',').any(|c| c.trim().starts_with("romio")));
        if version.contains("Open MPI") && !romio_selected {
            Layer::Ompio
        } else {
            Layer::Romio
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Layer::Ompio => "OMPIO",
            Layer::Romio => "ROMIO",
        }
    }

    /// The hint keys this layer reads, with the kind of value each takes.
    fn keys(self) -> &'static [(&'static str, Value)] {
        match self {
            Layer::Ompio => &[
                ("cb_buffer_size", Value::Bytes),
                ("cb_nodes", Value::Count),
                ("collective_buffering", Value::Bool),
                ("stripe_size", Value::Bytes),
                ("stripe_width", Value::Count),
            ],
            Layer::Romio => &[
                ("cb_buffer_size", Value::Bytes),
                ("cb_nodes", Value::Count),
                ("cb_config_list", Value::Text),
                ("romio_cb_read", Value::Switch),
                ("romio_cb_write", Value::Switch),
                ("romio_ds_read", Value::Switch),
                ("romio_ds_write", Value::Switch),
                ("romio_no_indep_rw", Value::Bool),
                ("romio_cb_fr_alignment", Value::Bytes),
                ("romio_cb_fr_types", Value::Switch),
                ("romio_cb_pfr", Value::Switch),
                ("romio_cb_alltoall", Value::Switch),
                ("romio_cb_ds_threshold", Value::Bytes),
                ("ind_rd_buffer_size", Value::Bytes),
                ("ind_wr_buffer_size", Value::Bytes),
                ("striping_factor", Value::Count),
                ("striping_unit", Value::Bytes),
                ("start_iodevice", Value::Count),
                ("direct_read", Value::Bool),
                ("direct_write", Value::Bool),
                ("romio_lustre_co_ratio", Value::Count),
                ("romio_lustre_coll_threshold", Value::Bytes),
                ("romio_lustre_ds_in_coll", Value::Switch),
                ("romio_filesystem_type", Value::Text),
            ],
        }
    }
}

/// What a hint's value must look like.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// A positive number of bytes.
    Bytes,
    /// A positive count.
    Count,
    /// `true` or `false`.
    Bool,
    /// `enable`, `disable` or `automatic` (ROMIO's switches).
    Switch,
    /// Anything MPI can hold.
    Text,
}

impl Value {
    fn check(self, value: &str) -> std::result::Result<(), &'static str> {
        let ok = match self {
            Value::Bytes | Value::Count => value
                .parse::<u64>()
                .is_ok_and(|n| n > 0 && i32::try_from(n).is_ok()),
            Value::Bool => matches!(value, "true" | "false"),
            Value::Switch => matches!(value, "enable" | "disable" | "automatic"),
            Value::Text => true,
        };
        ok.then_some(()).ok_or(match self {
            Value::Bytes => "a positive number of bytes below 2 GiB",
            Value::Count => "a positive count",
            Value::Bool => "true or false",
            Value::Switch => "enable, disable or automatic",
            Value::Text => "text",
        })
    }
}

/// The longest key and value MPI holds (`MPI_MAX_INFO_KEY`, `MPI_MAX_INFO_VAL`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub key: usize,
    pub value: usize,
}

/// Checks `hints` for `layer`: lengths MPI can hold, no NUL byte, each key once, a key
/// the layer reads, and a value of the kind that key takes.
///
/// # Errors
/// [`Error::Validation`] naming the first bad hint and why.
pub(crate) fn validate(hints: &[(String, String)], layer: Layer, limits: Limits) -> Result<()> {
    for (i, (key, value)) in hints.iter().enumerate() {
        let bad = |problem: String| Error::invalid(format!("MPI-IO hint {key}={value}"), problem);
        if key.is_empty() || key.len() > limits.key {
            return Err(bad(format!(
                "a key takes 1 to {} bytes (MPI_MAX_INFO_KEY), this one {}",
                limits.key,
                key.len()
            )));
        }
        if value.is_empty() || value.len() > limits.value {
            return Err(bad(format!(
                "a value takes 1 to {} bytes (MPI_MAX_INFO_VAL), this one {}",
                limits.value,
                value.len()
            )));
        }
        if key.contains('\0') || value.contains('\0') {
            return Err(bad("a hint cannot hold a NUL byte".into()));
        }
        if hints[..i].iter().any(|(k, _)| k == key) {
            return Err(bad("the key is given twice".into()));
        }
        let Some((_, kind)) = layer.keys().iter().find(|(k, _)| k == key) else {
            let known: Vec<&str> = layer.keys().iter().map(|(k, _)| *k).collect();
            return Err(bad(format!(
                "{} (the MPI-IO layer of this run) does not read this key; it reads {}",
                layer.name(),
                known.join(", ")
            )));
        };
        kind.check(value)
            .map_err(|want| bad(format!("the value must be {want}")))?;
    }
    Ok(())
}

/// The collective buffer of each MPI-IO aggregator unless the hints set one
/// (`cb_buffer_size`): 4 MiB, a few Lustre stripes. ROMIO's own default is 16 MiB and
/// OMPIO's 32 MiB, which on a rank that holds little data costs more memory than the data.
pub(crate) const CB_BUFFER_SIZE: usize = 4 << 20;

/// The most bytes a rank hands one collective call: half of the collective buffer of
/// `hints` (as [`collective`] completes them), as OMPIO's aggregators write theirs, and at
/// least 4 KiB. Larger calls cost memory for the copies MPI-IO makes, and on the
/// development VM one write call of 4 MiB or more is 5-10x slower than the same bytes in
/// calls of 2 MiB (README, "Performance").
pub(crate) fn round_bytes(hints: &[(String, String)]) -> usize {
    let buffer = hints.iter().find(|(k, _)| k == "cb_buffer_size").and_then(|(_, v)| v.parse::<usize>().ok());
    (buffer.unwrap_or(CB_BUFFER_SIZE) / 2).max(4096)
}

/// `hints` for a collective data phase: the caller's, plus [`CB_BUFFER_SIZE`] where they
/// do not set `cb_buffer_size` (both layers read it).
pub(crate) fn collective(hints: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = hints.to_vec();
    if !hints.iter().any(|(k, _)| k == "cb_buffer_size") {
        all.push(("cb_buffer_size".to_owned(), CB_BUFFER_SIZE.to_string()));
    }
    all
}

/// How the data phase went through MPI-IO, for the write summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MpioReport {
    /// `OMPIO` or `ROMIO`.
    pub layer: String,
    /// `collective` or `independent`.
    pub io: String,
    /// The hints of the file as `MPI_File_get_info` reports them after the open.
    pub hints: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        key: 36,
        value: 256,
    };

    fn hints(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn layer_follows_library_and_io_component() {
        assert_eq!(
            Layer::detect("Open MPI v4.1.4, package: Debian", None),
            Layer::Ompio
        );
        assert_eq!(
            Layer::detect("Open MPI v4.1.4", Some("romio321")),
            Layer::Romio
        );
        assert_eq!(
            Layer::detect("Open MPI v4.1.4", Some("^romio321")),
            Layer::Ompio
        );
        assert_eq!(Layer::detect("MPICH Version: 4.0", None), Layer::Romio);
    }

    #[test]
    fn collective_writes_get_a_small_buffer_unless_told() {
        let set = collective(&[]);
        assert_eq!(set, hints(&[("cb_buffer_size", "4194304")]));
        assert_eq!(round_bytes(&set), 2 << 20);
        validate(&set, Layer::Ompio, LIMITS).unwrap();
        let own = hints(&[("cb_buffer_size", "16777216"), ("cb_nodes", "2")]);
        assert_eq!(collective(&own), own);
        assert_eq!(round_bytes(&own), 8 << 20);
        assert_eq!(round_bytes(&hints(&[("cb_buffer_size", "1")])), 4096);
    }

    #[test]
    fn good_hints_pass() {
        validate(
            &hints(&[
                ("cb_buffer_size", "16777216"),
                ("romio_cb_write", "enable"),
                ("striping_factor", "8"),
            ]),
            Layer::Romio,
            LIMITS,
        )
        .unwrap();
        validate(
            &hints(&[
                ("cb_nodes", "2"),
                ("stripe_size", "1048576"),
                ("collective_buffering", "true"),
            ]),
            Layer::Ompio,
            LIMITS,
        )
        .unwrap();
    }

    #[test]
    fn bad_hints_name_the_hint_and_the_reason() {
        let long = "k".repeat(37);
        type Case<'a> = (&'a [(&'a str, &'a str)], Layer, &'a str);
        let cases: [Case<'_>; 6] = [
            (&[(long.as_str(), "1")], Layer::Romio, "MPI_MAX_INFO_KEY"),
            (
                &[("romio_cb_write", "enable")],
                Layer::Ompio,
                "OMPIO (the MPI-IO layer of this run) does not read this key",
            ),
            (&[("striping_factor", "4")], Layer::Ompio, "stripe_width"),
            (
                &[("romio_cb_write", "on")],
                Layer::Romio,
                "enable, disable or automatic",
            ),
            (
                &[("cb_buffer_size", "-1")],
                Layer::Romio,
                "positive number of bytes",
            ),
            (
                &[("cb_nodes", "2"), ("cb_nodes", "3")],
                Layer::Romio,
                "given twice",
            ),
        ];
        for (pairs, layer, want) in cases {
            let err = validate(&hints(pairs), layer, LIMITS)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
            assert!(
                err.contains(&format!(
                    "MPI-IO hint {}={}",
                    pairs[pairs.len() - 1].0,
                    pairs[pairs.len() - 1].1
                )),
                "{err}"
            );
        }
        let err = validate(
            &hints(&[("cb_nodes", &"9".repeat(257))]),
            Layer::Romio,
            LIMITS,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("MPI_MAX_INFO_VAL"), "{err}");
    }
}
