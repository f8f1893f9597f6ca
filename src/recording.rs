//! Recordings: the flat view of a run, one per recorded target ([`iter_recordings`]).
//!
//! A multiplexed object (BSB 8) speaks for many targets; it is demultiplexed into one
//! recording per roster target (the spikes whose `bsb_target_index` is its index) or per
//! channel, each with the object's annotations plus its own roster entry, exactly as
//! BSB 8.0.2's `iter_recordings` does.

use crate::contract::keys;
use crate::model::{AnalogSignal, Annotations, Block, SpikeTrain, Value};
use crate::multiplex::{MULTIPLEXED, PRESENT_SUFFIX, ROSTER, TARGET_INDEX};
use crate::reader::Kind;

/// One recorded target of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Index of its segment in the run.
    pub segment: usize,
    /// Placement set of the recorded cell.
    pub ps_name: String,
    /// Id of the recorded cell (-1 when absent).
    pub cell_id: i64,
    /// The device that recorded it (`""` when absent).
    pub device: String,
    /// The recorded quantity or the train's name.
    pub name: String,
    /// Units of the samples or spike times.
    pub units: String,
    pub kind: Kind,
    /// The target's data: a spike train, or a one-channel signal of a multiplexed one.
    pub data: RecordingData,
    /// All annotations (a multiplexed target's own roster entry included).
    pub annotations: Annotations,
}

/// The data of a recording.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordingData {
    SpikeTrain(SpikeTrain),
    AnalogSignal(AnalogSignal),
}

/// Which recordings to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub device: Option<String>,
    pub ps_name: Option<String>,
    pub cell_id: Option<i64>,
}

impl Filter {
    /// Whether annotations of a recording pass.
    pub fn accepts(&self, annotations: &Annotations) -> bool {
        let device = self.device.as_deref().is_none_or(|d| annotations.get_str(keys::DEVICE_NAME) == Some(d));
        let ps = self.ps_name.as_deref().is_none_or(|p| annotations.get_str(keys::PS_NAME) == Some(p));
        let cell = self.cell_id.is_none_or(|c| annotations.get_int(keys::CELL_ID) == Some(c));
        device && ps && cell
    }
}

/// One recording per spike train and analog signal of `block` with a cell anchor, in file
/// order (per segment: spike trains, then signals), multiplexed objects demultiplexed.
pub fn iter_recordings(block: &Block) -> impl Iterator<Item = Recording> + '_ {
    iter_recordings_where(block, Filter::default())
}

/// [`iter_recordings`], keeping the recordings `filter` accepts.
pub fn iter_recordings_where(block: &Block, filter: Filter) -> impl Iterator<Item = Recording> + '_ {
    block.segments.iter().enumerate().flat_map(move |(segment, s)| {
        let trains = s.spiketrains.iter().flat_map(move |t| {
            parts(&t.annotations, &t.array_annotations, 1).into_iter().map(move |p| {
                let data = RecordingData::SpikeTrain(p.pick.train(t));
                (p.annotations, data, t.name.clone(), t.units.clone(), Kind::SpikeTrain)
            })
        });
        let signals = s.analogsignals.iter().flat_map(move |a| {
            parts(&a.annotations, &a.array_annotations, a.n_channels).into_iter().map(move |p| {
                let data = RecordingData::AnalogSignal(p.pick.signal(a));
                (p.annotations, data, a.name.clone(), a.units.clone(), Kind::AnalogSignal)
            })
        });
        let filter = filter.clone();
        trains.chain(signals).filter_map(move |(annotations, data, name, units, kind)| {
            let ps_name = annotations.get_str(keys::PS_NAME)?.to_owned();
            filter.accepts(&annotations).then(|| Recording {
                segment,
                ps_name,
                cell_id: annotations.get_int(keys::CELL_ID).unwrap_or(-1),
                device: annotations.get_str(keys::DEVICE_NAME).unwrap_or_default().to_owned(),
                name: name.unwrap_or_default(),
                units,
                kind,
                data,
                annotations,
            })
        })
    })
}

/// One target of an object: its annotations and which part of the object's data is its.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The object's annotations plus the target's roster entry.
    pub annotations: Annotations,
    /// Its part of the object's data.
    pub pick: Pick,
}

/// The part of an object's data that belongs to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// All of it (not multiplexed).
    All,
    /// The spikes whose `bsb_target_index` is this.
    Target(i64),
    /// This channel.
    Channel(usize),
}

impl Pick {
    /// How many values this part holds of an object of `n` spikes, or `n` samples per
    /// channel over `channels` channels (read from the target index, not the data).
    pub fn count(self, n: usize, channels: usize, array_annotations: &Annotations) -> usize {
        match self {
            Pick::All => n * channels,
            Pick::Channel(_) => n,
            Pick::Target(i) => target_index(array_annotations).iter().filter(|t| **t == i).count(),
        }
    }

    fn train(self, t: &SpikeTrain) -> SpikeTrain {
        let Pick::Target(i) = self else { return t.clone() };
        let index = target_index(&t.array_annotations);
        let times = t.times.iter().zip(index.iter()).filter(|(_, x)| **x == i).map(|(time, _)| *time).collect();
        SpikeTrain { times, array_annotations: Annotations::new(), ..t.clone() }
    }

    fn signal(self, a: &AnalogSignal) -> AnalogSignal {
        let Pick::Channel(c) = self else { return a.clone() };
        AnalogSignal { data: a.channel(c).to_vec(), n_channels: 1, array_annotations: Annotations::new(), ..a.clone() }
    }
}

/// The per-spike roster indices of a multiplexed train (empty when it has none).
pub(crate) fn target_index(array_annotations: &Annotations) -> std::borrow::Cow<'_, [i64]> {
    match array_annotations.get(TARGET_INDEX) {
        Some(Value::IntList(v)) => std::borrow::Cow::Borrowed(v),
        Some(Value::Int(i)) => std::borrow::Cow::Owned(vec![*i]),
        _ => std::borrow::Cow::Borrowed(&[]),
    }
}

/// The targets of an object of `n_channels` channels: itself, or, if it is multiplexed,
/// one per roster entry (spike trains) or channel (signals).
pub fn parts(annotations: &Annotations, array_annotations: &Annotations, n_channels: usize) -> Vec<Part> {
    parts_keeping(annotations, array_annotations, n_channels, None)
}

/// [`parts`] with only the annotations named in `keys` (all when `None`): far less
/// memory for an object of many targets when only a few keys are needed.
pub fn parts_keeping(annotations: &Annotations, array_annotations: &Annotations, n_channels: usize, keys: Option<&[&str]>) -> Vec<Part> {
    let kept = |key: &str| keys.is_none_or(|keys| keys.contains(&key) || key.strip_suffix(PRESENT_SUFFIX).is_some_and(|k| keys.contains(&k)));
    let only = |a: &Annotations| if keys.is_none() { a.clone() } else { a.iter().filter(|(k, _)| kept(k)).map(|(k, v)| (k.to_owned(), v.clone())).collect() };
    if annotations.get(MULTIPLEXED).and_then(Value::as_bool) != Some(true) {
        return vec![Part { annotations: only(annotations), pick: Pick::All }];
    }
    let roster = annotations.get(ROSTER).cloned();
    let mut base = only(annotations);
    base.remove(MULTIPLEXED);
    base.remove(ROSTER);
    match roster {
        Some(Value::Str(roster)) => {
            let mut roster = roster_columns(&roster);
            roster.retain(|(k, _)| kept(k));
            let n = roster.first().map_or(0, |(_, v)| v.len());
            (0..n).map(|i| Part { annotations: entry(&base, &roster, i), pick: Pick::Target(i64::try_from(i).unwrap_or(i64::MAX)) }).collect()
        }
        _ => {
            let columns: Vec<(String, Vec<Value>)> = array_annotations.iter().filter(|(k, _)| kept(k)).map(|(k, v)| (k.to_owned(), split(v))).collect();
            (0..n_channels).map(|c| Part { annotations: entry(&base, &columns, c), pick: Pick::Channel(c) }).collect()
        }
    }
}

/// `base` plus target `i`'s entry of the roster, dropping entries whose `_present` is false.
fn entry(base: &Annotations, roster: &[(String, Vec<Value>)], i: usize) -> Annotations {
    let mut out = base.clone();
    for (key, values) in roster {
        if key.ends_with(PRESENT_SUFFIX) {
            continue;
        }
        let present = roster.iter().find(|(k, _)| *k == format!("{key}{PRESENT_SUFFIX}"));
        if present.is_some_and(|(_, p)| p.get(i).and_then(Value::as_bool) == Some(false)) {
            continue;
        }
        if let Some(v) = values.get(i) {
            out.insert(key.as_str(), v.clone());
        }
    }
    out
}

/// A list annotation as one value per element.
fn split(v: &Value) -> Vec<Value> {
    match v {
        Value::StrList(x) => x.iter().cloned().map(Value::Str).collect(),
        Value::IntList(x) => x.iter().copied().map(Value::Int).collect(),
        Value::FloatList(x) => x.iter().copied().map(Value::Float).collect(),
        Value::BoolList(x) => x.iter().copied().map(Value::Bool).collect(),
        other => vec![other.clone()],
    }
}

/// The roster's columns, in its order. Python's `json.dumps` writes NaN sentinels as
/// `NaN`, which JSON lacks: such tokens (outside strings) read as NaN.
fn roster_columns(json: &str) -> Vec<(String, Vec<Value>)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&python_json(json)) else { return Vec::new() };
    map.into_iter()
        .map(|(key, column)| {
            let values = column.as_array().map_or_else(Vec::new, |items| {
                items
                    .iter()
                    .map(|x| match x {
                        serde_json::Value::String(s) => Value::Str(s.clone()),
                        serde_json::Value::Bool(b) => Value::Bool(*b),
                        serde_json::Value::Number(n) => n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
                        _ => Value::Float(f64::NAN),
                    })
                    .collect()
            });
            (key, values)
        })
        .collect()
}

/// Python's JSON dialect made standard: `NaN`, `Infinity` and `-Infinity` outside strings
/// become `null`.
fn python_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"].iter().find(|t| rest.starts_with(**t)) {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{CellTarget, Direction};
    use crate::model::Segment;
    use crate::multiplex::{cell_target, multiplex_channels, multiplex_targets};

    #[test]
    fn python_json_reads_nan_tokens_but_not_inside_strings() {
        assert_eq!(python_json(r#"{"a": [1.5, NaN, -Infinity], "NaN": "Infinity"}"#), r#"{"a": [1.5, null, null], "NaN": "Infinity"}"#);
        assert_eq!(python_json(r#"{"q": "say \"NaN\""}"#), r#"{"q": "say \"NaN\""}"#);
    }

    fn targets() -> Vec<Annotations> {
        let mut with_pre = cell_target(&CellTarget::new("grc", 4, "m"), Direction::Record);
        with_pre.insert("bsb_pre_cell_id", 9i64);
        vec![cell_target(&CellTarget::new("grc", 3, "m"), Direction::Record), with_pre]
    }

    #[test]
    fn multiplexed_trains_split_by_target_index() {
        let mut a = multiplex_targets(&targets()).unwrap();
        a.insert("bsb_device_name", "spikes");
        let t = SpikeTrain::builder(vec![1.0, 2.0, 3.0], 5.0).annotate_all(&a).array_annotate(TARGET_INDEX, vec![1i64, 0, 1]).build().unwrap();
        let block = Block { segments: vec![Segment { spiketrains: vec![t], ..Segment::default() }], ..Block::default() };
        let recs: Vec<_> = iter_recordings(&block).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].cell_id, recs[1].cell_id), (3, 4));
        let RecordingData::SpikeTrain(t1) = &recs[1].data else { panic!() };
        assert_eq!(t1.times(), [1.0, 3.0]);
        assert!(recs[0].annotations.get("bsb_pre_cell_id").is_none(), "a missing key stays missing");
        assert_eq!(recs[1].annotations.get_int("bsb_pre_cell_id"), Some(9));
        assert!(recs[0].annotations.get(MULTIPLEXED).is_none() && recs[0].annotations.get(ROSTER).is_none());
        assert_eq!(recs[0].device, "spikes");
    }

    #[test]
    fn parts_keeping_keys_are_parts_without_the_rest() {
        let mut a = multiplex_targets(&targets()).unwrap();
        a.insert("bsb_device_name", "spikes");
        let arrays = Annotations::from_iter([(TARGET_INDEX, Value::IntList(vec![1, 0]))]);
        let keys = [keys::CELL_ID, "bsb_pre_cell_id"];
        let kept = parts_keeping(&a, &arrays, 1, Some(&keys));
        let all = parts(&a, &arrays, 1);
        assert_eq!(kept.len(), 2);
        for (k, p) in kept.iter().zip(&all) {
            assert_eq!(k.pick, p.pick);
            let expected: Annotations = p.annotations.iter().filter(|(key, _)| keys.contains(key)).map(|(key, v)| (key.to_owned(), v.clone())).collect();
            assert_eq!(k.annotations, expected);
        }
        assert!(kept[0].annotations.get("bsb_pre_cell_id").is_none() && kept[1].annotations.get_int("bsb_pre_cell_id") == Some(9));
    }

    #[test]
    fn multiplexed_signals_split_by_channel_and_filters_apply() {
        let (base, arrays) = multiplex_channels(&targets()).unwrap();
        let mut b = AnalogSignal::from_channels(vec![vec![1.0, 2.0], vec![3.0, 4.0]], "mV", 0.1).annotate_all(&base).annotate("bsb_device_name", "vm");
        for (k, v) in arrays.iter() {
            b = b.array_annotate(k, v.clone());
        }
        let block = Block { segments: vec![Segment { analogsignals: vec![b.build().unwrap()], ..Segment::default() }], ..Block::default() };
        let only = Filter { cell_id: Some(4), ..Filter::default() };
        let recs: Vec<_> = iter_recordings_where(&block, only).collect();
        assert_eq!(recs.len(), 1);
        let RecordingData::AnalogSignal(s) = &recs[0].data else { panic!() };
        assert_eq!((s.n_channels(), s.channel(0)), (1, &[3.0, 4.0][..]));
    }

    #[test]
    fn objects_without_an_anchor_are_skipped() {
        let t = SpikeTrain::builder(vec![1.0], 2.0).annotate("bsb_recording_kind", "stimulus").build().unwrap();
        let block = Block { segments: vec![Segment { spiketrains: vec![t], ..Segment::default() }], ..Block::default() };
        assert_eq!(iter_recordings(&block).count(), 0);
    }
}
