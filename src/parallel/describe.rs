//! What each rank tells rank 0 about its buffered objects: everything but the samples.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::h5::{NumType, Nums};
use crate::model::{AnalogSignal, Annotations, Segment, SpikeTrain, Value};

/// One rank's description of the segments being written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Description {
    /// Device names in this rank's registration order.
    pub devices: Vec<String>,
    /// One per segment being written, in checkpoint order.
    pub segments: Vec<SegmentDesc>,
}

/// The objects of one segment on one rank.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SegmentDesc {
    pub spiketrains: Vec<ObjectDesc>,
    pub analogsignals: Vec<ObjectDesc>,
}

/// One spike train or signal, without its samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ObjectDesc {
    pub name: Option<String>,
    pub units: String,
    pub t_start: f64,
    pub shape: Shape,
    pub annotations: Annotations,
    pub arrays: Vec<ArrayDesc>,
}

/// What differs between spike trains and signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Shape {
    Spikes { t_stop: f64, n: u64 },
    Signal { n_samples: u64, n_channels: u32, sampling_period: f64, time_units: String },
}

/// An array annotation: small string lists travel with the description; numeric lists
/// (one entry per spike, possibly millions) are written by their own rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ArrayDesc {
    Inline(String, Value),
    Payload(String, NumType, u64),
}

/// Which dataset of an object a payload fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Role {
    /// A spike train's times.
    Times,
    /// Channel `c` of a signal.
    Channel(u32),
    /// Array annotation `i` (index into `ObjectDesc::arrays`).
    Array(u32),
}

/// A dataset one rank fills in the data phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Payload {
    /// Index of the segment among those being written.
    pub segment: u32,
    /// Spike train (`true`) or signal.
    pub spikes: bool,
    /// Index of the object in this rank's segment buffer.
    pub local: u32,
    pub role: Role,
    /// Where the dataset's values start in the file.
    pub offset: u64,
}

impl Description {
    /// Describes `segments` of a rank whose recorders belong to `devices`.
    pub(crate) fn of(devices: Vec<String>, segments: &[Segment]) -> Description {
        let segments = segments
            .iter()
            .map(|s| SegmentDesc {
                spiketrains: s.spiketrains.iter().map(describe_train).collect(),
                analogsignals: s.analogsignals.iter().map(describe_signal).collect(),
            })
            .collect();
        Description { devices, segments }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("descriptions are plain data")
    }

    pub(crate) fn decode(bytes: &[u8], rank: usize) -> Result<Description> {
        postcard::from_bytes(bytes).map_err(|e| Error::Collective(format!("description from rank {rank} is unreadable: {e}")))
    }
}

fn describe_arrays(arrays: &Annotations) -> Vec<ArrayDesc> {
    arrays
        .iter()
        .map(|(key, value)| {
            let numeric = match value {
                Value::IntList(_) => Some(NumType::I64),
                Value::FloatList(_) => Some(NumType::F64),
                Value::BoolList(_) => Some(NumType::Bool),
                _ => None,
            };
            match numeric {
                Some(t) if !value.is_empty() => ArrayDesc::Payload(key.to_owned(), t, value.len() as u64),
                _ => ArrayDesc::Inline(key.to_owned(), value.clone()),
            }
        })
        .collect()
}

fn describe_train(t: &SpikeTrain) -> ObjectDesc {
    ObjectDesc {
        name: t.name.clone(),
        units: t.units.clone(),
        t_start: t.t_start,
        shape: Shape::Spikes { t_stop: t.t_stop, n: t.times.len() as u64 },
        annotations: t.annotations.clone(),
        arrays: describe_arrays(&t.array_annotations),
    }
}

fn describe_signal(s: &AnalogSignal) -> ObjectDesc {
    ObjectDesc {
        name: s.name.clone(),
        units: s.units.clone(),
        t_start: s.t_start,
        shape: Shape::Signal {
            n_samples: s.n_samples as u64,
            n_channels: u32::try_from(s.n_channels).unwrap_or(u32::MAX),
            sampling_period: s.sampling_period,
            time_units: s.time_units.clone(),
        },
        annotations: s.annotations.clone(),
        arrays: describe_arrays(&s.array_annotations),
    }
}

/// A payload's values, borrowed where the buffer's layout allows.
pub(crate) enum PayloadData<'a> {
    F64(&'a [f64]),
    I64(&'a [i64]),
    Bool(Vec<i8>),
}

impl PayloadData<'_> {
    pub(crate) fn nums(&self) -> Nums<'_> {
        match self {
            PayloadData::F64(v) => Nums::F64(v),
            PayloadData::I64(v) => Nums::I64(v),
            PayloadData::Bool(v) => Nums::Bool(v),
        }
    }
}

/// Finds the values of `payload` in this rank's `segments`.
pub(crate) fn payload_data<'a>(segments: &'a [Segment], payload: &Payload) -> Result<PayloadData<'a>> {
    let missing = || Error::Collective(format!("no local object for the payload at offset {}", payload.offset));
    let segment = segments.get(payload.segment as usize).ok_or_else(missing)?;
    let local = payload.local as usize;
    let arrays = if payload.spikes {
        let t = segment.spiketrains.get(local).ok_or_else(missing)?;
        if payload.role == Role::Times {
            return Ok(PayloadData::F64(&t.times));
        }
        &t.array_annotations
    } else {
        let s = segment.analogsignals.get(local).ok_or_else(missing)?;
        if let Role::Channel(c) = payload.role {
            if c as usize >= s.n_channels {
                return Err(missing());
            }
            return Ok(PayloadData::F64(s.channel(c as usize)));
        }
        &s.array_annotations
    };
    let Role::Array(i) = payload.role else { return Err(missing()) };
    match arrays.iter().nth(i as usize).map(|(_, v)| v) {
        Some(Value::FloatList(v)) => Ok(PayloadData::F64(v)),
        Some(Value::IntList(v)) => Ok(PayloadData::I64(v)),
        Some(Value::BoolList(v)) => Ok(PayloadData::Bool(v.iter().map(|b| i8::from(*b)).collect())),
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_round_trip_and_split_arrays() {
        let t = SpikeTrain::builder(vec![1.0, 2.0], 3.0)
            .annotate("bsb_cell_id", 1i64)
            .array_annotate("bsb_target_index", vec![0i64, 1])
            .array_annotate("labels", vec!["a", "b"])
            .build()
            .unwrap();
        let seg = Segment { spiketrains: vec![t], ..Segment::default() };
        let d = Description::of(vec!["dev".into()], std::slice::from_ref(&seg));
        assert_eq!(Description::decode(&d.encode(), 0).unwrap(), d);
        let arrays = &d.segments[0].spiketrains[0].arrays;
        assert_eq!(arrays[0], ArrayDesc::Payload("bsb_target_index".into(), NumType::I64, 2));
        assert!(matches!(arrays[1], ArrayDesc::Inline(..)));
        let p = Payload { segment: 0, spikes: true, local: 0, role: Role::Array(0), offset: 0 };
        assert!(matches!(payload_data(std::slice::from_ref(&seg), &p).unwrap(), PayloadData::I64([0, 1])));
        let p = Payload { role: Role::Times, ..p };
        assert!(matches!(payload_data(std::slice::from_ref(&seg), &p).unwrap(), PayloadData::F64([1.0, 2.0])));
    }
}
