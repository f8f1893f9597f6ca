//! NIX properties back into annotations, the way Neo's NixIO decodes them.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::h5::{Data, Link, Obj, find};
use crate::model::{Annotations, Value};
use crate::nix::names::{attr, group, marker, prop};

/// One decoded property.
#[derive(Debug, Clone)]
pub(crate) struct Property {
    pub key: String,
    pub value: Value,
    /// An array annotation (`type="ARRAYANNOTATION"`).
    pub array: bool,
}

/// The annotations of one section, split as Neo splits them.
#[derive(Debug, Default)]
pub(crate) struct Section {
    /// `neo_name`: the object's name.
    pub name: Option<String>,
    /// Properties that are constructor arguments in Neo (`t_start`, `t_stop`).
    pub reserved: Annotations,
    pub annotations: Annotations,
    pub array_annotations: Annotations,
}

/// Reads properties, each shared dataset once (files of this crate link one property
/// dataset into many sections).
#[derive(Default)]
pub(crate) struct PropertyReader {
    by_address: RefCell<HashMap<u64, Property>>,
}

impl PropertyReader {
    /// Reads the `properties` of the section `owner/metadata`, where `children` are
    /// `owner`'s links (only the `wanted` keys, if given); `consumed` are keys Neo passes
    /// to constructors rather than keeping as annotations.
    pub(crate) fn section(
        &self,
        owner: &Obj<'_>,
        children: &[Link],
        dxpl: hdf5_sys::h5i::hid_t,
        wanted: Option<&[&str]>,
        consumed: &[&str],
        what: &dyn Fn() -> String,
    ) -> Result<Section> {
        let mut out = Section::default();
        let Some(metadata) = find(children, group::METADATA) else {
            return Ok(out);
        };
        let section = owner.open_link(metadata).map_err(|e| dangling(owner, what, e))?;
        let Some(properties) = find(&section.links()?, group::PROPERTIES).cloned() else {
            return Ok(out);
        };
        let props = section.open_link(&properties)?;
        for link in props.links()? {
            if wanted.is_some_and(|w| !w.contains(&link.name.as_str())) {
                continue;
            }
            let p = self.property(&props, &link, dxpl, what)?;
            if p.key == prop::NEO_NAME {
                out.name = Some(match p.value {
                    Value::Str(s) => s,
                    Value::StrList(v) if v.is_empty() => String::new(),
                    other => other.to_json().to_string(),
                });
            } else if p.array {
                out.array_annotations.insert(p.key, p.value);
            } else if consumed.contains(&p.key.as_str()) {
                out.reserved.insert(p.key, p.value);
            } else {
                out.annotations.insert(p.key, p.value);
            }
        }
        Ok(out)
    }

    fn property(&self, props: &Obj<'_>, link: &Link, dxpl: hdf5_sys::h5i::hid_t, what: &dyn Fn() -> String) -> Result<Property> {
        if let Some(p) = link.address.and_then(|a| self.by_address.borrow().get(&a).cloned()) {
            return Ok(p);
        }
        let ds = props.open_link(link).map_err(|e| dangling(props, what, e))?;
        let bad = |problem: String| {
            Error::Format { path: props.file().path().into(), problem: format!("{}: property {:?} {problem}", what(), link.name) }
        };
        let key = ds.attr_string(attr::NAME)?.ok_or_else(|| bad("has no 'name' attribute".into()))?;
        let unit = ds.attr_string(attr::UNIT)?;
        let definition = ds.attr_string(attr::DEFINITION)?;
        let array = ds.attr_string(attr::TYPE)?.as_deref() == Some(marker::ARRAY_ANNOTATION);
        let value = decode(ds.read(dxpl)?, definition.as_deref(), unit, array);
        let p = Property { key, value, array };
        if let Some(a) = link.address {
            self.by_address.borrow_mut().insert(a, p.clone());
        }
        Ok(p)
    }
}

/// A link that cannot be followed (a soft link to nothing, say).
pub(crate) fn dangling(at: &Obj<'_>, what: &dyn Fn() -> String, e: Error) -> Error {
    Error::Format { path: at.file().path().into(), problem: format!("{}: a link under {} cannot be followed ({e})", what(), at.name()) }
}

/// A property's values as Neo hands them back: one value becomes a scalar, none becomes
/// `""` (a string property) or `[]` (`EMPTYLIST` or numbers), a unit makes a quantity, a
/// date marker a date; array annotations always stay lists.
fn decode(data: Data, definition: Option<&str>, unit: Option<String>, array: bool) -> Value {
    let empty_list = || Value::StrList(Vec::new());
    if let (Some(unit), Data::F64(values)) = (&unit, &data) {
        return Value::Quantity { values: values.clone(), unit: unit.clone() };
    }
    let one = !array;
    match data {
        Data::Strings(v) if v.is_empty() => {
            if definition == Some(marker::EMPTYLIST) || array { empty_list() } else { Value::Str(String::new()) }
        }
        Data::Strings(mut v) if one && v.len() == 1 => {
            let s = v.remove(0);
            match definition {
                Some(marker::DATETIME) => Value::DateTime(s),
                Some(marker::DATE) => Value::Date(s),
                Some(marker::TIME) => Value::Time(s),
                _ => Value::Str(s),
            }
        }
        Data::Strings(v) => Value::StrList(v),
        Data::F64(v) if v.is_empty() => empty_list(),
        Data::F64(v) if one && v.len() == 1 => Value::Float(v[0]),
        Data::F64(v) => Value::FloatList(v),
        Data::I64(v) if v.is_empty() => empty_list(),
        Data::I64(v) if one && v.len() == 1 => Value::Int(v[0]),
        Data::I64(v) => Value::IntList(v),
        Data::Bool(v) if v.is_empty() => empty_list(),
        Data::Bool(v) if one && v.len() == 1 => Value::Bool(v[0]),
        Data::Bool(v) => Value::BoolList(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_follows_neo() {
        assert_eq!(decode(Data::Strings(vec![]), None, None, false), Value::Str(String::new()));
        assert_eq!(decode(Data::Strings(vec![]), Some("EMPTYLIST"), None, false), Value::StrList(vec![]));
        assert_eq!(decode(Data::I64(vec![3]), None, None, false), Value::Int(3));
        assert_eq!(decode(Data::I64(vec![3]), None, None, true), Value::IntList(vec![3]), "array annotations stay lists");
        assert_eq!(decode(Data::Bool(vec![true, false]), None, None, false), Value::BoolList(vec![true, false]));
        assert_eq!(
            decode(Data::F64(vec![0.025]), None, Some("ms".into()), false),
            Value::Quantity { values: vec![0.025], unit: "ms".into() }
        );
        assert_eq!(decode(Data::Strings(vec!["2024-05-06T07:08:09.123456".into()]), Some("DATETIME"), None, false), Value::DateTime("2024-05-06T07:08:09.123456".into()));
        assert_eq!(decode(Data::F64(vec![]), None, None, false), Value::StrList(vec![]));
    }
}
