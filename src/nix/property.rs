//! Annotations as NIX properties (NIX_LAYOUT.md section 7), and sharing of repeated ones.
//!
//! A property is a dataset in a section's `properties` group. Thousands of objects of one
//! segment carry the same `bsb_device_name`, `bsb_segment_id` or `t_stop`; HDF5 hard links
//! are symmetric, so one dataset can be linked into every `properties` group that needs it
//! and Neo reads it there exactly as if it were a copy. Creating a link costs a fraction of
//! creating a dataset with its attributes, and the file shrinks accordingly.

use std::borrow::Cow;
use foldhash::{HashMap, HashMapExt};
use std::ffi::CStr;

use rayon::prelude::*;
use uuid::Uuid;

use super::names::{attr, marker, prop};
use crate::error::Result;
use crate::h5::{Batch, COMPACT_LIMIT, Elem, Header, Kit, Nums, Obj, Storage};
use crate::model::Value;
use crate::parallel::describe::{ArrayDesc, ObjectDesc, Shape};

/// Where attributes go: an object libhdf5 made, or a header being encoded.
pub(crate) trait Attrs {
    /// A scalar fixed-length string attribute (ASCII or UTF-8).
    fn put_str(&mut self, name: &CStr, value: &str, ascii: bool) -> Result<()>;
}

impl Attrs for Header {
    fn put_str(&mut self, name: &CStr, value: &str, ascii: bool) -> Result<()> {
        self.attr_str(name, value, ascii);
        Ok(())
    }
}

/// An object libhdf5 made, with the kit its attributes are written with.
pub(crate) struct Made<'a, 'f>(pub &'a Obj<'f>, pub &'a Kit);

impl Attrs for Made<'_, '_> {
    fn put_str(&mut self, name: &CStr, value: &str, ascii: bool) -> Result<()> {
        self.0.attr_str(self.1, name, value, ascii)
    }
}

/// The values of a property dataset.
enum Data<'a> {
    Strings(Vec<&'a str>),
    F64(&'a [f64]),
    I64(&'a [i64]),
    /// Neo's bools, one byte each.
    Bool(Vec<i8>),
}

/// What a property dataset of `value` holds: its values, `unit` and `definition`.
fn content(value: &Value) -> (Data<'_>, Option<&str>, Option<&'static str>) {
    let bools = |v: &[bool]| Data::Bool(v.iter().map(|b| i8::from(*b)).collect());
    match value {
        Value::Str(s) if s.is_empty() => (Data::Strings(vec![]), None, None),
        Value::Str(s) => (Data::Strings(vec![s]), None, None),
        Value::DateTime(s) => (Data::Strings(vec![s]), None, Some(marker::DATETIME)),
        Value::Date(s) => (Data::Strings(vec![s]), None, Some(marker::DATE)),
        Value::Time(s) => (Data::Strings(vec![s]), None, Some(marker::TIME)),
        Value::Int(i) => (Data::I64(std::slice::from_ref(i)), None, None),
        Value::Float(f) => (Data::F64(std::slice::from_ref(f)), None, None),
        Value::Bool(b) => (bools(std::slice::from_ref(b)), None, None),
        Value::Quantity { values, unit } => (Data::F64(values), Some(unit.as_str()), None),
        v if v.is_empty() => (Data::Strings(vec![]), None, Some(marker::EMPTYLIST)),
        Value::StrList(v) => (Data::Strings(v.iter().map(String::as_str).collect()), None, None),
        Value::IntList(v) => (Data::I64(v), None, None),
        Value::FloatList(v) => (Data::F64(v), None, None),
        Value::BoolList(v) => (bools(v), None, None),
    }
}

/// Writes one annotation as a property dataset with its attributes, created and updated
/// `at` (a NIX time), through libhdf5 (the sections of Blocks and segments); returns the
/// dataset.
pub(crate) fn property<'f>(props: &Obj<'f>, kit: &Kit, key: &str, value: &Value, array: bool, at: &str) -> Result<Obj<'f>> {
    let (data, unit, definition) = content(value);
    let ds = match &data {
        Data::Strings(v) => props.strings(kit, key, v)?,
        Data::F64(v) => props.numbers(kit, key, Nums::F64(v))?,
        Data::I64(v) => props.numbers(kit, key, Nums::I64(v))?,
        Data::Bool(v) => props.numbers(kit, key, Nums::Bool(v))?,
    };
    property_attrs(&mut Made(&ds, kit), key, unit, definition, array, at)?;
    Ok(ds)
}

/// Encodes one annotation as a property dataset ([`property`]'s twin for the objects of
/// a segment) with `refcount` links to it; returns its address.
fn encode_property(batch: &mut Batch<'_>, key: &str, value: &Value, array: bool, at: &str, refcount: u32) -> Result<u64> {
    let (data, unit, definition) = content(value);
    let (elem, n, bytes): (Elem, usize, Vec<u8>) = match data {
        Data::Strings(v) => {
            let mut bytes = Vec::with_capacity(16 * v.len());
            for s in &v {
                bytes.extend_from_slice(&batch.string(s)?);
            }
            (Elem::VlenUtf8, v.len(), bytes)
        }
        Data::F64(v) => (Elem::F64, v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Data::I64(v) => (Elem::I64, v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Data::Bool(v) => (Elem::Bool, v.len(), v.iter().map(|b| b.to_le_bytes()[0]).collect()),
    };
    let storage = if bytes.len() <= COMPACT_LIMIT {
        Storage::Compact(bytes)
    } else {
        Storage::Contiguous { addr: batch.raw(&bytes)?, bytes: bytes.len() as u64 }
    };
    let mut h = Header::dataset(elem, n as u64, &storage);
    property_attrs(&mut h, key, unit, definition, array, at)?;
    batch.put(h, refcount)
}

/// The attributes of a property dataset: `name`, `entity_id`, `created_at` and
/// `updated_at` (both `at`), and the optional markers.
pub(crate) fn property_attrs(ds: &mut impl Attrs, key: &str, unit: Option<&str>, definition: Option<&str>, array: bool, at: &str) -> Result<()> {
    ds.put_str(attr::NAME, key, false)?;
    ds.put_str(attr::ENTITY_ID, &Uuid::new_v4().hyphenated().to_string(), false)?;
    stamp(ds, at, at)?;
    if let Some(u) = unit {
        ds.put_str(attr::UNIT, u, false)?;
    }
    if let Some(d) = definition {
        ds.put_str(attr::DEFINITION, d, false)?;
    }
    if array {
        ds.put_str(attr::TYPE, marker::ARRAY_ANNOTATION, false)?;
    }
    Ok(())
}

/// Writes NIX's `created_at` and `updated_at` of an entity (NIX times, 15 ASCII bytes).
pub(crate) fn stamp(obj: &mut impl Attrs, created_at: &str, updated_at: &str) -> Result<()> {
    obj.put_str(attr::CREATED_AT, created_at, true)?;
    obj.put_str(attr::UPDATED_AT, updated_at, true)
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

/// Encodes the properties of one segment's objects, sharing the repeated ones.
pub(crate) struct Sharer {
    /// How many objects of the segment carry each property; `None` when sharing is off.
    counts: Option<HashMap<Vec<u8>, u32>>,
    /// The shared datasets made so far, by address.
    made: HashMap<Vec<u8>, u64>,
}

impl Sharer {
    /// Counts the properties of `objects`; with `share` off, every property is written.
    pub(crate) fn new<'d>(objects: impl ParallelIterator<Item = &'d ObjectDesc>, share: bool) -> Self {
        // Counted where the properties are met (a map per rayon task, merged into the
        // larger), not collected first: at 100,000 objects, two million keys.
        let counts = share.then(|| {
            let mut counts = objects
                .fold(HashMap::new, |mut counts: HashMap<Vec<u8>, u32>, d| {
                    for p in object_props(d).into_iter().chain(d.arrays.iter().filter_map(inline_array)) {
                        *counts.entry(p.share_key()).or_insert(0) += 1;
                    }
                    counts
                })
                .reduce(HashMap::new, |a, b| {
                    let (mut into, from) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                    for (k, n) in from {
                        *into.entry(k).or_insert(0) += n;
                    }
                    into
                });
            counts.retain(|_, n| *n > 1);
            counts
        });
        Sharer { counts, made: HashMap::new() }
    }

    /// How many distinct properties repeat (and are shared; for the benches).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn repeated(&self) -> usize {
        self.counts.as_ref().map_or(0, HashMap::len)
    }

    /// Links `p` into the `properties` group `props`: the dataset of an equal property
    /// made earlier for another object, or a new one written `at` (a NIX time). A shared
    /// dataset is encoded with the links every object of the segment carrying it makes.
    pub(crate) fn put(&mut self, props: &mut Header, batch: &mut Batch<'_>, p: &Prop<'_>, at: &str) -> Result<()> {
        let key = self.counts.as_ref().map(|_| p.share_key());
        let addr = match key.as_ref().and_then(|k| Some((k, *self.counts.as_ref()?.get(k)?))) {
            None => encode_property(batch, p.key, &p.value, p.array, at, 1)?,
            Some((k, n)) => match self.made.get(k) {
                Some(addr) => *addr,
                None => {
                    let addr = encode_property(batch, p.key, &p.value, p.array, at, n)?;
                    self.made.insert(k.clone(), addr);
                    addr
                }
            },
        };
        props.link(p.key, addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h5::{self, Attr, Container, File, GroupKind, Mode};
    use crate::nix::names::attr;
    use hdf5_sys::h5d::H5Dget_type;
    use hdf5_sys::h5t::{H5Tclose, H5Tequal};

    /// Every kind of annotation, as libhdf5 writes it and as it is encoded: the same
    /// types, shapes, values and attributes when read back through libhdf5.
    #[test]
    fn encoded_properties_read_as_libhdf5_writes_them() {
        let long_key = "k".repeat(300);
        let values: Vec<(&str, Value, bool)> = vec![
            ("s", Value::Str("granule_cell".into()), false),
            ("empty", Value::Str(String::new()), false),
            ("when", Value::DateTime("2026-12-07T10:00:00".into()), false),
            ("i", Value::Int(-7), false),
            ("f", Value::Float(2.5), false),
            ("b", Value::Bool(true), false),
            ("q", Value::Quantity { values: vec![1.0, 2.0], unit: "ms".into() }, false),
            ("none", Value::StrList(vec![]), false),
            ("strs", Value::StrList(vec!["a".into(), String::new(), "ünï".into(), "x".repeat(5000)]), true),
            ("ints", Value::IntList((0..3000).collect()), false),
            ("bools", Value::BoolList(vec![true, false, true]), true),
            ("µ", Value::FloatList(vec![0.5; 3]), false),
            (&long_key, Value::Int(1), false),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("props.h5");
        h5::locked(|| {
            let kit = Kit::new().unwrap();
            let file = h5::create_for_test(&path, &kit);
            let root = file.root().unwrap();
            let made = root.group(&kit, "made", GroupKind::Properties).unwrap();
            for (key, v, array) in &values {
                property(&made, &kit, key, v, *array, "20260101T000000").unwrap();
            }
            let mut batch = Batch::new(&file);
            let into = batch.add_container(Container::Made(file.root().unwrap()));
            let mut props = Header::group(GroupKind::Properties.info());
            for (key, v, array) in &values {
                let addr = encode_property(&mut batch, key, v, *array, "20260101T000000", 1).unwrap();
                props.link(key, addr);
            }
            batch.put_linked(props, 0, &[(into, "encoded".into())]).unwrap();
            batch.flush(&kit).unwrap();
            drop((batch, made, root));
            file.close().unwrap();
        });
        h5::locked(|| {
            let kit = Kit::new().unwrap();
            let file = File::open(&path, Mode::ReadOnly, None, None).unwrap();
            let (made, encoded) = (file.open_path("made", None).unwrap(), file.open_path("encoded", None).unwrap());
            assert_eq!(made.link_names().unwrap(), encoded.link_names().unwrap(), "the same names, in creation order");
            for (key, _, _) in &values {
                let (a, b) = (made.open(key).unwrap(), encoded.open(key).unwrap());
                assert_eq!(a.read(kit.dxpl()).unwrap(), b.read(kit.dxpl()).unwrap(), "{key}");
                // SAFETY: open datasets; the type ids are closed here.
                let same_type = unsafe {
                    let (ta, tb) = (H5Dget_type(a.id()), H5Dget_type(b.id()));
                    let eq = H5Tequal(ta, tb);
                    H5Tclose(ta);
                    H5Tclose(tb);
                    eq
                };
                assert!(same_type > 0, "{key}: types differ");
                for name in [attr::NAME, attr::UNIT, attr::DEFINITION, attr::TYPE, attr::CREATED_AT, attr::UPDATED_AT] {
                    assert_eq!(a.attr(name).unwrap(), b.attr(name).unwrap(), "{key}@{name:?}");
                }
                assert!(matches!(b.attr(attr::ENTITY_ID).unwrap(), Some(Attr::Str(id)) if id.len() == 36));
            }
        });
    }
}
