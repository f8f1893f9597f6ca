//! Annotations as NIX properties (NIX_LAYOUT.md section 7), and sharing of repeated ones.
//!
//! A property is a dataset in a section's `properties` group. Thousands of objects of one
//! segment carry the same `bsb_device_name`, `bsb_segment_id` or `t_stop`; HDF5 hard links
//! are symmetric, so one dataset can be linked into every `properties` group that needs it
//! and Neo reads it there exactly as if it were a copy. Creating a link costs a fraction of
//! creating a dataset with its attributes, and the file shrinks accordingly.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use rayon::prelude::*;
use uuid::Uuid;

use super::names::{attr, marker, prop};
use crate::error::Result;
use crate::h5::{Kit, Nums, Obj};
use crate::model::Value;
use crate::parallel::describe::{ArrayDesc, ObjectDesc, Shape};

/// Writes one annotation as a property dataset with its attributes, created and updated
/// `at` (a NIX time); returns the dataset.
pub(crate) fn property<'f>(props: &Obj<'f>, kit: &Kit, key: &str, value: &Value, array: bool, at: &str) -> Result<Obj<'f>> {
    let mut definition = None;
    let mut unit = None;
    let ds = match value {
        Value::Str(s) if s.is_empty() => props.strings(kit, key, &[])?,
        Value::Str(s) => props.strings(kit, key, &[s])?,
        Value::DateTime(s) | Value::Date(s) | Value::Time(s) => {
            definition = Some(match value {
                Value::DateTime(_) => marker::DATETIME,
                Value::Date(_) => marker::DATE,
                _ => marker::TIME,
            });
            props.strings(kit, key, &[s])?
        }
        Value::Int(i) => props.numbers(kit, key, Nums::I64(&[*i]))?,
        Value::Float(f) => props.numbers(kit, key, Nums::F64(&[*f]))?,
        Value::Bool(b) => props.numbers(kit, key, Nums::Bool(&[i8::from(*b)]))?,
        Value::Quantity { values, unit: u } => {
            unit = Some(u.as_str());
            props.numbers(kit, key, Nums::F64(values))?
        }
        v if v.is_empty() => {
            definition = Some(marker::EMPTYLIST);
            props.strings(kit, key, &[])?
        }
        Value::StrList(v) => props.strings(kit, key, &v.iter().map(String::as_str).collect::<Vec<_>>())?,
        Value::IntList(v) => props.numbers(kit, key, Nums::I64(v))?,
        Value::FloatList(v) => props.numbers(kit, key, Nums::F64(v))?,
        Value::BoolList(v) => props.numbers(kit, key, Nums::Bool(&v.iter().map(|b| i8::from(*b)).collect::<Vec<_>>()))?,
    };
    property_attrs(&ds, kit, key, unit, definition, array, at)?;
    Ok(ds)
}

/// The attributes of a property dataset: `name`, `entity_id`, `created_at` and
/// `updated_at` (both `at`), and the optional markers.
pub(crate) fn property_attrs(ds: &Obj<'_>, kit: &Kit, key: &str, unit: Option<&str>, definition: Option<&str>, array: bool, at: &str) -> Result<()> {
    ds.attr_str(kit, attr::NAME, key, false)?;
    ds.attr_str(kit, attr::ENTITY_ID, &Uuid::new_v4().hyphenated().to_string(), false)?;
    stamp(ds, kit, at, at)?;
    if let Some(u) = unit {
        ds.attr_str(kit, attr::UNIT, u, false)?;
    }
    if let Some(d) = definition {
        ds.attr_str(kit, attr::DEFINITION, d, false)?;
    }
    if array {
        ds.attr_str(kit, attr::TYPE, marker::ARRAY_ANNOTATION, false)?;
    }
    Ok(())
}

/// Writes NIX's `created_at` and `updated_at` of an entity (NIX times, 15 ASCII bytes).
pub(crate) fn stamp(obj: &Obj<'_>, kit: &Kit, created_at: &str, updated_at: &str) -> Result<()> {
    obj.attr_str(kit, attr::CREATED_AT, created_at, true)?;
    obj.attr_str(kit, attr::UPDATED_AT, updated_at, true)
}

/// One property of an object's section, before the numeric array annotations.
pub(crate) struct Prop<'a> {
    pub key: &'a str,
    pub value: Cow<'a, Value>,
    /// An array annotation (`type="ARRAYANNOTATION"`).
    pub array: bool,
}

impl<'a> Prop<'a> {
    /// An array annotation `key` of `value` (one entry per spike or channel).
    pub(crate) fn array(key: &'a str, value: &'a Value) -> Self {
        Prop { key, value: Cow::Borrowed(value), array: true }
    }

    /// The identity under which equal properties are shared.
    fn share_key(&self) -> Vec<u8> {
        postcard::to_stdvec(&(self.key, &*self.value, self.array)).expect("plain data")
    }
}

/// The properties of an object's section in Neo's order: for a spike train `neo_name`,
/// `t_start`, `t_stop`; for a signal `t_start`, `neo_name`; then the annotations. (Array
/// annotations follow, in their own order: see [`inline_array`].)
pub(crate) fn object_props(d: &ObjectDesc) -> Vec<Prop<'_>> {
    let name = Prop { key: prop::NEO_NAME, value: Cow::Owned(Value::Str(d.name.clone().unwrap_or_default())), array: false };
    let quantity = |key, v: f64, unit: &str| Prop {
        key,
        value: Cow::Owned(Value::Quantity { values: vec![v], unit: unit.to_owned() }),
        array: false,
    };
    let mut out = match &d.shape {
        Shape::Spikes { t_stop, .. } => {
            vec![name, quantity(prop::T_START, d.t_start, &d.units), quantity(prop::T_STOP, *t_stop, &d.units)]
        }
        Shape::Signal { time_units, .. } => vec![quantity(prop::T_START, d.t_start, time_units), name],
    };
    out.extend(d.annotations.iter().map(|(key, v)| Prop { key, value: Cow::Borrowed(v), array: false }));
    out
}

/// An array annotation that travels with the description (strings), as a property.
pub(crate) fn inline_array(a: &ArrayDesc) -> Option<Prop<'_>> {
    match a {
        ArrayDesc::Inline(key, v) => Some(Prop::array(key, v)),
        ArrayDesc::Payload(..) => None,
    }
}

/// At most this many shared datasets stay open per segment (each pins its header in
/// HDF5's metadata cache).
const MAX_SHARED: usize = 8192;

/// Writes the properties of one segment's objects, sharing the repeated ones.
pub(crate) struct Sharer<'f> {
    /// How many objects of the segment carry each property; `None` when sharing is off.
    counts: Option<HashMap<Vec<u8>, u32>>,
    made: RefCell<HashMap<Vec<u8>, Obj<'f>>>,
}

impl<'f> Sharer<'f> {
    /// Counts the properties of `objects`; with `share` off, every property is written.
    pub(crate) fn new<'d>(objects: impl ParallelIterator<Item = &'d ObjectDesc>, share: bool) -> Self {
        let counts = share.then(|| {
            let keys: Vec<Vec<u8>> = objects
                .flat_map_iter(|d| object_props(d).into_iter().chain(d.arrays.iter().filter_map(inline_array)).map(|p| p.share_key()))
                .collect();
            let mut counts = HashMap::with_capacity(keys.len() / 4);
            for k in keys {
                *counts.entry(k).or_insert(0u32) += 1;
            }
            counts.retain(|_, n| *n > 1);
            counts
        });
        Sharer { counts, made: RefCell::new(HashMap::new()) }
    }

    /// How many distinct properties repeat (and are shared; for the benches).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn repeated(&self) -> usize {
        self.counts.as_ref().map_or(0, HashMap::len)
    }

    /// Writes `p` into `props`: a link to an earlier equal property, or a new dataset
    /// written `at` (a NIX time).
    pub(crate) fn put(&self, props: &Obj<'f>, kit: &Kit, p: &Prop<'_>, at: &str) -> Result<()> {
        let Some(counts) = &self.counts else {
            return property(props, kit, p.key, &p.value, p.array, at).map(drop);
        };
        let key = p.share_key();
        if !counts.contains_key(&key) {
            return property(props, kit, p.key, &p.value, p.array, at).map(drop);
        }
        if let Some(first) = self.made.borrow().get(&key) {
            return props.link(kit, first, p.key);
        }
        let ds = property(props, kit, p.key, &p.value, p.array, at)?;
        let mut made = self.made.borrow_mut();
        if made.len() < MAX_SHARED {
            made.insert(key, ds);
        }
        Ok(())
    }
}
