//! Typed annotation values and ordered annotation maps.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One annotation value, as Neo's NixIO can store it.
///
/// Nested objects have no NIX form (Neo keeps only their keys): store them as JSON strings
/// with [`Value::json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A string.
    Str(String),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean (stored as Neo's `{FALSE, TRUE}` enum).
    Bool(bool),
    /// A list of strings.
    StrList(Vec<String>),
    /// A list of integers.
    IntList(Vec<i64>),
    /// A list of floats.
    FloatList(Vec<f64>),
    /// A list of booleans.
    BoolList(Vec<bool>),
    /// A number or list of numbers with a unit (a `quantities.Quantity` in Neo).
    Quantity {
        /// The magnitudes.
        values: Vec<f64>,
        /// The unit, as `quantities` spells it (`ms`, `mV`).
        unit: String,
    },
    /// A date and time, `%Y-%m-%dT%H:%M:%S.%f` (a `datetime` in Neo).
    DateTime(String),
    /// A date, `%Y-%m-%d`.
    Date(String),
    /// A time of day, `%H:%M:%S.%f`.
    Time(String),
}

impl Value {
    /// A JSON value stored as its JSON text, the contract's form for nested objects.
    pub fn json(value: &serde_json::Value) -> Value {
        Value::Str(value.to_string())
    }

    /// The number of elements (1 for scalars).
    pub fn len(&self) -> usize {
        match self {
            Value::StrList(v) => v.len(),
            Value::IntList(v) => v.len(),
            Value::FloatList(v) => v.len(),
            Value::BoolList(v) => v.len(),
            Value::Quantity { values, .. } => values.len(),
            _ => 1,
        }
    }

    /// Whether this is a list without elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as NIX hands it back: a one-element list becomes its element, and an
    /// empty list of any type becomes an empty string list (Neo's `EMPTYLIST`).
    pub fn normalized(&self) -> Value {
        match self {
            Value::StrList(v) if v.len() == 1 => Value::Str(v[0].clone()),
            Value::IntList(v) if v.len() == 1 => Value::Int(v[0]),
            Value::FloatList(v) if v.len() == 1 => Value::Float(v[0]),
            Value::BoolList(v) if v.len() == 1 => Value::Bool(v[0]),
            v if v.is_empty() && !matches!(v, Value::Quantity { .. }) => Value::StrList(vec![]),
            v => v.clone(),
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a float, if it is a float or an integer.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The value as a bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as JSON (quantities become their magnitudes).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Value::Str(s) | Value::DateTime(s) | Value::Date(s) | Value::Time(s) => json!(s),
            Value::Int(i) => json!(i),
            Value::Float(f) => json_float(*f),
            Value::Bool(b) => json!(b),
            Value::StrList(v) => json!(v),
            Value::IntList(v) => json!(v),
            Value::FloatList(v) => v.iter().map(|f| json_float(*f)).collect(),
            Value::BoolList(v) => json!(v),
            Value::Quantity { values, unit } => {
                let magnitude: serde_json::Value = if values.len() == 1 {
                    json_float(values[0])
                } else {
                    values.iter().map(|f| json_float(*f)).collect()
                };
                json!({ "value": magnitude, "unit": unit })
            }
        }
    }

    /// Checks what HDF5 cannot store: NUL bytes inside strings, and empty units.
    fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Value::Str(s) | Value::DateTime(s) | Value::Date(s) | Value::Time(s) => check_no_nul(s),
            Value::StrList(v) => v.iter().try_for_each(|s| check_no_nul(s)),
            Value::Quantity { unit, .. } if unit.trim().is_empty() => Err("a quantity needs a unit".into()),
            Value::Quantity { unit, .. } => check_no_nul(unit),
            _ => Ok(()),
        }
    }
}

/// JSON has no NaN or infinities: they become `null`.
fn json_float(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// HDF5 strings end at the first NUL byte, so a string holding one would be cut short.
pub(crate) fn check_no_nul(s: &str) -> std::result::Result<(), String> {
    if s.contains('\0') {
        return Err(format!("{s:?} contains a NUL byte, which HDF5 strings cannot hold"));
    }
    Ok(())
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v.into())
            }
        }
    )*};
}

value_from! {
    String => Str, &str => Str, i64 => Int, i32 => Int, u32 => Int, f64 => Float, bool => Bool,
    Vec<String> => StrList, Vec<i64> => IntList, Vec<f64> => FloatList, Vec<bool> => BoolList,
}

impl From<Vec<&str>> for Value {
    fn from(v: Vec<&str>) -> Self {
        Value::StrList(v.into_iter().map(str::to_owned).collect())
    }
}

/// Annotation keys that Neo uses for itself: annotating with them breaks the write or the
/// read back (NIX_LAYOUT.md section 7).
pub const RESERVED_KEYS: &[&str] = &[
    "name",
    "description",
    "file_origin",
    "file_datetime",
    "rec_datetime",
    "units",
    "dtype",
    "copy",
    "t_start",
    "t_stop",
    "sampling_rate",
    "sampling_period",
    "waveforms",
    "left_sweep",
    "array_annotations",
    "nix_name",
    "neo_name",
    "neo_parent",
];

/// Checks an annotation key: not empty, no `/`, no NUL, not a name Neo reserves.
pub fn validate_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() {
        return Err("annotation keys cannot be empty".into());
    }
    if key.contains('/') {
        return Err(format!("annotation key {key:?} contains '/', which NIX names cannot hold"));
    }
    check_no_nul(key)?;
    if RESERVED_KEYS.contains(&key) {
        return Err(format!("annotation key {key:?} is reserved by Neo's file format"));
    }
    Ok(())
}

/// An ordered map of annotations: keys keep the order they were first set in, which is the
/// order Neo writes and reads them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotations(Vec<(String, Value)>);

impl Annotations {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` annotations.
    pub fn with_capacity(n: usize) -> Self {
        Annotations(Vec::with_capacity(n))
    }

    /// Sets `key` to `value`, keeping the key's place if it was already set.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Sets `key` only if it is not set yet.
    pub fn set_default(&mut self, key: &str, value: impl Into<Value>) {
        if self.get(key).is_none() {
            self.0.push((key.to_owned(), value.into()));
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    /// The string value of `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The integer value of `key`.
    pub fn get_int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_int)
    }

    /// Iterates over `(key, value)` in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// The number of annotations.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every value normalized as NIX hands it back (see [`Value::normalized`]).
    pub fn normalized(&self) -> Annotations {
        Annotations(self.0.iter().map(|(k, v)| (k.clone(), v.normalized())).collect())
    }

    /// The annotations as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.iter().map(|(k, v)| (k.to_owned(), v.to_json())).collect())
    }

    /// Checks every key and value; `what` names the annotated object in the error.
    pub fn validate(&self, what: &dyn Fn() -> String) -> Result<()> {
        for (key, value) in self.iter() {
            validate_key(key).map_err(|p| Error::invalid(what(), p))?;
            value.validate().map_err(|p| Error::invalid(what(), format!("annotation {key:?}: {p}")))?;
        }
        Ok(())
    }

    /// Checks array annotations: each a list of `len` elements (one per spike or channel).
    pub(crate) fn validate_arrays(&self, len: usize, per: &str, what: &dyn Fn() -> String) -> Result<()> {
        self.validate(what)?;
        for (key, value) in self.iter() {
            let is_list = matches!(
                value,
                Value::StrList(_) | Value::IntList(_) | Value::FloatList(_) | Value::BoolList(_)
            );
            if !is_list || value.len() != len {
                return Err(Error::invalid(
                    what(),
                    format!("array annotation {key:?} needs one list entry per {per} ({len}), got {}", value.len()),
                ));
            }
        }
        Ok(())
    }
}

impl IntoIterator for Annotations {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    /// The `(key, value)` pairs, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Annotations {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut a = Annotations::new();
        for (k, v) in iter {
            a.insert(k, v);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_keeps_first_position() {
        let mut a = Annotations::new();
        a.insert("b", 1i64);
        a.insert("a", 2i64);
        a.insert("b", 3i64);
        assert_eq!(a.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(a.get_int("b"), Some(3));
    }

    #[test]
    fn set_default_keeps_existing() {
        let mut a = Annotations::new();
        a.insert("bsb_device_name", "mine");
        a.set_default("bsb_device_name", "stamped");
        a.set_default("bsb_segment_id", "s");
        assert_eq!(a.get_str("bsb_device_name"), Some("mine"));
        assert_eq!(a.get_str("bsb_segment_id"), Some("s"));
    }

    #[test]
    fn keys_are_validated() {
        for bad in ["", "a/b", "nix_name", "neo_name", "t_start", "sampling_rate", "units", "x\0y"] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_key("bsb_cell_id").is_ok());
        let a: Annotations = [("neo_name", Value::from("x"))].into_iter().collect();
        let err = a.validate(&|| "spike train 'x'".into()).unwrap_err();
        assert!(err.to_string().contains("spike train 'x'"), "{err}");
    }

    #[test]
    fn nul_in_values_is_rejected() {
        let a: Annotations = [("k", Value::from("a\0b"))].into_iter().collect();
        assert!(a.validate(&|| "x".into()).is_err());
        let q: Annotations = [("k", Value::Quantity { values: vec![1.0], unit: String::new() })].into_iter().collect();
        assert!(q.validate(&|| "x".into()).is_err());
    }

    #[test]
    fn normalization_matches_nix() {
        assert_eq!(Value::from(vec![3i64]).normalized(), Value::Int(3));
        assert_eq!(Value::IntList(vec![]).normalized(), Value::StrList(vec![]));
        assert_eq!(Value::from(vec![1.0, 2.0]).normalized(), Value::FloatList(vec![1.0, 2.0]));
        assert_eq!(Value::from("").normalized(), Value::Str(String::new()));
    }

    #[test]
    fn json_objects_become_strings() {
        let v = Value::json(&serde_json::json!({"a": {"b": 1}}));
        assert_eq!(v, Value::Str(r#"{"a":{"b":1}}"#.into()));
    }

    #[test]
    fn array_annotations_need_one_entry_each() {
        let a: Annotations = [("idx", Value::from(vec![0i64, 1]))].into_iter().collect();
        assert!(a.validate_arrays(2, "spike", &|| "t".into()).is_ok());
        assert!(a.validate_arrays(3, "spike", &|| "t".into()).is_err());
        let s: Annotations = [("idx", Value::Int(1))].into_iter().collect();
        assert!(s.validate_arrays(1, "spike", &|| "t".into()).is_err());
    }
}
