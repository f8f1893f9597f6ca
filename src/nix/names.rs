//! Every NIX and Neo name and attribute string, in one place (NIX_LAYOUT.md).

use std::ffi::CStr;

/// Root `format` attribute value.
pub const FORMAT: &str = "nix";
/// The NIX format version written (and the newest minor version read).
pub const VERSION: [i32; 3] = [1, 2, 1];
/// The Neo version recorded in `/metadata/neo`.
pub const NEO_VERSION: &str = "0.14.6";
/// `created_at`/`updated_at` format (UTC).
pub const TIME_FORMAT: &str = "%Y%m%dT%H%M%S";

/// The NIX form of a time (`created_at`, `updated_at`; [`TIME_FORMAT`], UTC).
pub(crate) fn nix_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format(TIME_FORMAT).to_string()
}

/// Attribute names.
pub mod attr {
    use super::CStr;
    pub const FORMAT: &CStr = c"format";
    pub const VERSION: &CStr = c"version";
    pub const ID: &CStr = c"id";
    pub const CREATED_AT: &CStr = c"created_at";
    pub const UPDATED_AT: &CStr = c"updated_at";
    pub const NAME: &CStr = c"name";
    pub const TYPE: &CStr = c"type";
    pub const ENTITY_ID: &CStr = c"entity_id";
    pub const UNIT: &CStr = c"unit";
    pub const DEFINITION: &CStr = c"definition";
    pub const DIMENSION_TYPE: &CStr = c"dimension_type";
    pub const SAMPLING_INTERVAL: &CStr = c"sampling_interval";
    pub const OFFSET: &CStr = c"offset";
    pub const LABEL: &CStr = c"label";
}

/// Group and link names.
pub mod group {
    pub const DATA: &str = "data";
    pub const METADATA: &str = "metadata";
    pub const GROUPS: &str = "groups";
    pub const DATA_ARRAYS: &str = "data_arrays";
    pub const MULTI_TAGS: &str = "multi_tags";
    pub const PROPERTIES: &str = "properties";
    pub const SECTIONS: &str = "sections";
    pub const DIMENSIONS: &str = "dimensions";
    pub const FIRST_DIMENSION: &str = "1";
    pub const POSITIONS: &str = "positions";
    /// A DataArray's values.
    pub const VALUES: &str = "data";
    /// The Neo metadata section under `/metadata`.
    pub const NEO: &str = "neo";
}

/// Entity `type` values.
pub mod types {
    pub const BLOCK: &str = "neo.block";
    pub const BLOCK_METADATA: &str = "neo.block.metadata";
    pub const SEGMENT: &str = "neo.segment";
    pub const SEGMENT_METADATA: &str = "neo.segment.metadata";
    pub const ANALOGSIGNAL: &str = "neo.analogsignal";
    pub const ANALOGSIGNAL_METADATA: &str = "neo.analogsignal.metadata";
    pub const SPIKETRAIN: &str = "neo.spiketrain";
    pub const SPIKETRAIN_METADATA: &str = "neo.spiketrain.metadata";
    pub const SPIKETRAIN_TIMES: &str = "neo.spiketrain.times";
    pub const NEO_METADATA: &str = "neo.metadata";
    pub const SAMPLE_DIMENSION: &str = "sample";
    pub const TIME_LABEL: &str = "time";
}

/// Property names Neo writes for itself.
pub mod prop {
    pub const NEO_NAME: &str = "neo_name";
    pub const NIX_NAME: &str = "nix_name";
    pub const T_START: &str = "t_start";
    pub const T_STOP: &str = "t_stop";
    pub const VERSION: &str = "version";
}

/// Property `definition` and `type` markers.
pub mod marker {
    pub const EMPTYLIST: &str = "EMPTYLIST";
    pub const DATETIME: &str = "DATETIME";
    pub const DATE: &str = "DATE";
    pub const TIME: &str = "TIME";
    pub const ARRAY_ANNOTATION: &str = "ARRAYANNOTATION";
}

/// The generated name of a Neo object: `neo.<kind>.<32 hex digits>`.
pub fn object_name(kind: &str, id: uuid::Uuid) -> String {
    format!("neo.{kind}.{}", id.simple())
}

/// The DataArray of a spike train's times.
pub fn times_array(name: &str) -> String {
    format!("{name}.times")
}

/// The DataArray of channel `c` of a signal.
pub fn channel_array(name: &str, c: usize) -> String {
    format!("{name}.{c}")
}
