//! Entry points into the single-rank hot paths, for the criterion benches (feature
//! `test-hooks`).

use crate::error::Result;
use crate::model::Segment;
use crate::parallel::describe::{Description, Payload, Role, payload_data};
use crate::parallel::plan;

/// Describes this rank's segments and encodes the description (what a rank sends).
pub fn describe(devices: &[String], segments: &[Segment]) -> Vec<u8> {
    Description::of(devices.to_vec(), segments).encode()
}

/// Decodes the gathered descriptions and plans the layout; returns the object count.
pub fn plan_layout(gathered: &[Vec<u8>]) -> Result<usize> {
    let descs = gathered.iter().enumerate().map(|(r, d)| Description::decode(d, r)).collect::<Result<Vec<_>>>()?;
    Ok(plan::plan(&descs, &mut uuid::Uuid::new_v4).objects())
}

/// Counts the repeated properties of the first segment's spike trains, as the layout does
/// before sharing them; returns how many distinct properties repeat.
pub fn count_shared(gathered: &[Vec<u8>]) -> Result<usize> {
    use rayon::prelude::*;
    let descs = gathered.iter().enumerate().map(|(r, d)| Description::decode(d, r)).collect::<Result<Vec<_>>>()?;
    let objects = descs.par_iter().flat_map(|d| d.segments[0].spiketrains.par_iter());
    Ok(crate::nix::property::Sharer::new(objects, true).repeated())
}

/// Looks up every spike train's times as the data phase does; returns the bytes found.
pub fn pack(segments: &[Segment]) -> Result<usize> {
    let mut bytes = 0;
    for (local, _) in segments[0].spiketrains.iter().enumerate() {
        let p = Payload { segment: 0, spikes: true, local: u32::try_from(local).unwrap_or(u32::MAX), role: Role::Times, offset: 0 };
        bytes += payload_data(segments, &p)?.nums().bytes();
    }
    Ok(bytes)
}
