//! Multiplexed recordings: one object speaks for many targets (BSB 8.0.2's encoding).
//!
//! A spike train of all of a device's targets on one rank carries `bsb_multiplexed = true`,
//! the kind and direction every target shares, and a JSON roster `bsb_roster` of
//! `{key: [value per target]}`; its per-spike array annotation `bsb_target_index` names
//! each spike's target. A multi-channel signal carries the roster as one array annotation
//! per key instead, one entry per channel. Where a target lacks a key, its entry is a
//! sentinel (`""`, `false`, `-1` or NaN by type) and `<key>_present` says which are real.

use std::collections::BTreeSet;

use crate::contract::{self, CellTarget, Device, Direction, RunIds, keys};
use crate::error::{Error, Result};
use crate::model::{AnalogSignalBuilder, Annotations, SpikeTrain, SpikeTrainBuilder, Value};

/// Marks a multiplexed object.
pub const MULTIPLEXED: &str = "bsb_multiplexed";
/// The spike train's roster, a JSON string.
pub const ROSTER: &str = "bsb_roster";
/// The spike train's per-spike target index.
pub const TARGET_INDEX: &str = "bsb_target_index";
/// Suffix of the companion list saying which roster entries are real.
pub const PRESENT_SUFFIX: &str = "_present";

/// The per-target annotations of a cell: kind, direction and the cell anchor.
pub fn cell_target(cell: &CellTarget, direction: Direction) -> Annotations {
    Annotations::from_iter([
        (keys::RECORDING_KIND, Value::Str(cell.recording_kind.clone())),
        (keys::DIRECTION, Value::Str(direction.as_str().to_owned())),
        (keys::PS_NAME, Value::Str(cell.ps_name.clone())),
        (keys::CELL_MODEL, Value::Str(cell.cell_model.clone())),
        (keys::CELL_ID, Value::Int(cell.cell_id)),
    ])
}

/// Annotations of a spike train recording every target in `targets` (roster order): the
/// shared kind and direction, `bsb_multiplexed` and the JSON roster. Pair it with a
/// `bsb_target_index` array annotation (one roster index per spike).
///
/// # Errors
/// [`Error::Validation`] when the targets differ in kind or direction, or a key holds
/// values of incompatible types.
pub fn multiplex_targets(targets: &[Annotations]) -> Result<Annotations> {
    let mut out = baseline(targets)?;
    out.insert(ROSTER, Value::Str(roster_json(&pack(targets)?)));
    Ok(out)
}

/// One spike train for every target in `targets` (roster order; see [`cell_target`]):
/// `times` with the roster index of each spike's target in `target_index`, the device's
/// baseline, the roster and `bsb_target_index`, as BSB 8 writes it.
///
/// # Errors
/// [`Error::Validation`] as [`multiplex_targets`], and when an index does not name a target.
pub fn spike_train(
    ids: RunIds<'_>,
    device: &Device,
    targets: &[Annotations],
    times: Vec<f64>,
    target_index: Vec<i64>,
    t_stop: f64,
) -> Result<SpikeTrainBuilder> {
    let roster = multiplex_targets(targets)?;
    if let Some((i, t)) = target_index.iter().enumerate().find(|(_, t)| usize::try_from(**t).map_or(true, |t| t >= targets.len())) {
        return Err(Error::invalid("multiplexed spike train", format!("spike {i} has target index {t}, but there are {} targets", targets.len())));
    }
    Ok(SpikeTrain::builder(times, t_stop)
        .annotate_all(&contract::baseline(device, shared_kind(targets), ids))
        .annotate_all(&roster)
        .array_annotate(TARGET_INDEX, target_index))
}

/// A signal with one channel per target in `targets` (roster order): the device's
/// baseline, and the roster as one array annotation per key.
///
/// # Errors
/// [`Error::Validation`] as [`multiplex_channels`], and when the signal does not have one
/// channel per target.
pub fn analog_signal(ids: RunIds<'_>, device: &Device, targets: &[Annotations], signal: AnalogSignalBuilder) -> Result<AnalogSignalBuilder> {
    let (base, arrays) = multiplex_channels(targets)?;
    if signal.n_channels() != targets.len() {
        return Err(Error::invalid(
            "multiplexed analog signal",
            format!("it has {} channels for {} targets; it needs one channel per target", signal.n_channels(), targets.len()),
        ));
    }
    let mut signal = signal.annotate_all(&contract::baseline(device, shared_kind(targets), ids)).annotate_all(&base);
    for (k, v) in arrays.iter() {
        signal = signal.array_annotate(k, v.clone());
    }
    Ok(signal)
}

/// The recording kind of the targets (`cell` when they have none).
fn shared_kind(targets: &[Annotations]) -> &str {
    targets.first().and_then(|t| t.get_str(keys::RECORDING_KIND)).unwrap_or("cell")
}

/// Annotations and array annotations of a signal recording `targets` as one channel each:
/// the shared baseline, and one list per key (one entry per channel).
///
/// # Errors
/// As [`multiplex_targets`].
pub fn multiplex_channels(targets: &[Annotations]) -> Result<(Annotations, Annotations)> {
    Ok((baseline(targets)?, pack(targets)?))
}

/// `bsb_multiplexed`, and the kind and direction all targets must share.
fn baseline(targets: &[Annotations]) -> Result<Annotations> {
    let mut out = Annotations::new();
    out.insert(MULTIPLEXED, Value::Bool(true));
    for key in [keys::RECORDING_KIND, keys::DIRECTION] {
        let values: BTreeSet<&str> = targets.iter().filter_map(|t| t.get_str(key)).collect();
        if values.len() > 1 {
            return Err(Error::invalid(
                "multiplexed recording",
                format!("all targets must share one {key}, got {values:?}"),
            ));
        }
        if let Some(v) = values.first() {
            out.insert(key, *v);
        }
    }
    Ok(out)
}

/// One list per key that any target has (sorted by key), with sentinels and `_present`
/// companions where a target lacks the key.
fn pack(targets: &[Annotations]) -> Result<Annotations> {
    let keys: BTreeSet<&str> = targets
        .iter()
        .flat_map(Annotations::keys)
        .filter(|k| *k != keys::RECORDING_KIND && *k != keys::DIRECTION)
        .collect();
    let mut out = Annotations::new();
    for key in keys {
        let raw: Vec<Option<&Value>> = targets.iter().map(|t| t.get(key)).collect();
        out.insert(key, column(key, &raw)?);
        if raw.iter().any(Option::is_none) {
            out.insert(format!("{key}{PRESENT_SUFFIX}"), Value::BoolList(raw.iter().map(Option::is_some).collect()));
        }
    }
    Ok(out)
}

/// The list of one key's values, missing ones filled with the sentinel of its type.
fn column(key: &str, raw: &[Option<&Value>]) -> Result<Value> {
    let present = raw.iter().flatten();
    let any_float = present.clone().any(|v| matches!(v, Value::Float(_)));
    let list = match present.clone().next() {
        Some(Value::Str(_)) => fill(raw, String::new(), |v| v.as_str().map(str::to_owned)).map(Value::StrList),
        Some(Value::Bool(_)) => fill(raw, false, Value::as_bool).map(Value::BoolList),
        Some(Value::Int(_) | Value::Float(_)) if any_float => fill(raw, f64::NAN, Value::as_float).map(Value::FloatList),
        Some(Value::Int(_)) => fill(raw, -1, Value::as_int).map(Value::IntList),
        _ => None,
    };
    list.ok_or_else(|| {
        Error::invalid("multiplexed recording", format!("{key:?} must hold scalars of one type (string, number or bool) on every target"))
    })
}

/// `get` of each value, `sentinel` where a target lacks it; `None` if a value has another type.
fn fill<T: Clone>(raw: &[Option<&Value>], sentinel: T, get: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    raw.iter().map(|v| v.map_or(Some(sentinel.clone()), &get)).collect()
}

/// The roster as Python's `json.dumps` writes it (NaN sentinels as `NaN`), so BSB's reader
/// decodes it unchanged.
fn roster_json(roster: &Annotations) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in roster.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&serde_json::to_string(key).expect("a string"));
        out.push_str(": [");
        let items: Vec<String> = match value {
            Value::StrList(v) => v.iter().map(|s| serde_json::to_string(s).expect("a string")).collect(),
            Value::IntList(v) => v.iter().map(i64::to_string).collect(),
            Value::BoolList(v) => v.iter().map(bool::to_string).collect(),
            Value::FloatList(v) => v.iter().map(|f| python_float(*f)).collect(),
            other => unreachable!("pack makes lists only, got {other:?}"),
        };
        out.push_str(&items.join(", "));
        out.push(']');
    }
    out.push('}');
    out
}

/// A float as Python's `repr` writes it: `1.0`, `0.25`, `NaN`, `Infinity`.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        format!("{f:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: i64, pre: Option<i64>) -> Annotations {
        let mut a = cell_target(&CellTarget::new("granule_cell", id, "iaf"), Direction::Record);
        if let Some(p) = pre {
            a.insert("bsb_pre_cell_id", p);
            a.insert("bsb_weight", 0.5);
        }
        a
    }

    #[test]
    fn roster_packs_every_key_sorted_with_present_lists() {
        let a = multiplex_targets(&[target(3, Some(1)), target(4, None)]).unwrap();
        assert_eq!(a.get("bsb_multiplexed"), Some(&Value::Bool(true)));
        assert_eq!(a.get_str("bsb_recording_kind"), Some("cell"));
        assert_eq!(a.get_str("bsb_direction"), Some("record"));
        assert_eq!(
            a.get_str("bsb_roster").unwrap(),
            r#"{"bsb_cell_id": [3, 4], "bsb_cell_model": ["iaf", "iaf"], "bsb_pre_cell_id": [1, -1], "bsb_pre_cell_id_present": [true, false], "bsb_ps_name": ["granule_cell", "granule_cell"], "bsb_weight": [0.5, NaN], "bsb_weight_present": [true, false]}"#
        );
    }

    #[test]
    fn channels_get_one_list_per_key() {
        let (base, arrays) = multiplex_channels(&[target(0, None), target(1, None)]).unwrap();
        assert_eq!(base.get("bsb_multiplexed"), Some(&Value::Bool(true)));
        assert_eq!(arrays.get("bsb_cell_id"), Some(&Value::IntList(vec![0, 1])));
        assert!(arrays.get("bsb_recording_kind").is_none());
    }

    #[test]
    fn targets_must_agree_on_kind_and_types() {
        let mut other = target(1, None);
        other.insert("bsb_recording_kind", "synapse");
        assert!(multiplex_targets(&[target(0, None), other]).is_err());
        let mut bad = target(1, None);
        bad.insert("bsb_cell_id", "x");
        assert!(multiplex_targets(&[target(0, None), bad]).is_err());
    }

    const IDS: RunIds<'static> = RunIds { simulation_id: "sim", segment_id: "seg" };

    #[test]
    fn spike_train_carries_baseline_roster_and_indices() {
        let dev = Device::new("spikes", "spike_recorder");
        let t = spike_train(IDS, &dev, &[target(3, None), target(4, None)], vec![1.0, 2.0], vec![1, 0], 5.0).unwrap().build().unwrap();
        let a = t.annotations();
        assert_eq!((a.get_str("bsb_device_name"), a.get_str("bsb_recording_kind")), (Some("spikes"), Some("cell")));
        assert_eq!(a.get("bsb_multiplexed"), Some(&Value::Bool(true)));
        assert!(a.get_str(ROSTER).unwrap().contains(r#""bsb_cell_id": [3, 4]"#));
        assert_eq!(t.array_annotations().get(TARGET_INDEX), Some(&Value::IntList(vec![1, 0])));
        let e = spike_train(IDS, &dev, &[target(3, None)], vec![1.0], vec![1], 5.0).unwrap_err().to_string();
        assert!(e.contains("target index 1") && e.contains("1 targets"), "{e}");
        assert!(spike_train(IDS, &dev, &[target(3, None)], vec![1.0], vec![-1], 5.0).is_err());
    }

    #[test]
    fn signal_needs_one_channel_per_target() {
        use crate::model::AnalogSignal;
        let dev = Device::new("vm", "voltmeter");
        let two = || AnalogSignal::from_channels(vec![vec![1.0], vec![2.0]], "mV", 0.1);
        let s = analog_signal(IDS, &dev, &[target(0, None), target(1, None)], two()).unwrap().build().unwrap();
        assert_eq!(s.array_annotations().get("bsb_cell_id"), Some(&Value::IntList(vec![0, 1])));
        assert_eq!(s.annotations().get_str("bsb_segment_id"), Some("seg"));
        let e = analog_signal(IDS, &dev, &[target(0, None)], two()).unwrap_err().to_string();
        assert!(e.contains("2 channels for 1 targets"), "{e}");
    }

    #[test]
    fn mixed_ints_and_floats_become_floats() {
        let mut a = target(0, None);
        a.insert("bsb_arc", 1i64);
        let mut b = target(1, None);
        b.insert("bsb_arc", 0.5);
        let (_, arrays) = multiplex_channels(&[a, b]).unwrap();
        assert_eq!(arrays.get("bsb_arc"), Some(&Value::FloatList(vec![1.0, 0.5])));
    }
}
