//! Crossing between Python and the library's data: numpy arrays in and out, annotation
//! values, JSON trees.

use bsb_results::{Annotations, Value};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDate, PyDateTime, PyDict, PyList, PyString, PyTime, PyTuple};

use crate::errors::invalid;

/// `arg` as a numpy array of `dtype` (`float64`, `int64`): itself when it is one already,
/// otherwise converted from any array of numbers of a kind in `kinds` (numpy's `dtype.kind`
/// letters); anything else is a `TypeError` naming `arg`.
fn numeric<'py>(obj: &Bound<'py, PyAny>, arg: &str, dtype: &str, kinds: &str) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let array = np.call_method1("asarray", (obj,)).map_err(|e| {
        PyTypeError::new_err(format!("{arg} must be an array of numbers ({dtype}), not {}: {e}", type_name(obj)))
    })?;
    let found = array.getattr("dtype")?;
    if found.getattr("name")?.extract::<String>()? == dtype {
        return Ok(array);
    }
    let kind: String = found.getattr("kind")?.extract()?;
    if !kinds.contains(kind.as_str()) {
        return Err(PyTypeError::new_err(format!("{arg} must be an array of numbers ({dtype}), got dtype {found}")));
    }
    array.call_method1("astype", (dtype,))
}

/// The shape of a numpy array, checked to have `ndims` (one of) dimensions.
fn shape(array: &Bound<'_, PyAny>, arg: &str, ndims: &[usize]) -> PyResult<Vec<usize>> {
    let shape: Vec<usize> = array.getattr("shape")?.extract()?;
    if !ndims.contains(&shape.len()) {
        let want = ndims.iter().map(|n| format!("{n}-dimensional")).collect::<Vec<_>>().join(" or ");
        return Err(invalid(arg, format!("it must be {want}, got shape {shape:?}")));
    }
    Ok(shape)
}

/// A 1-D array of floats from any array-like of numbers: one copy into the library's buffer
/// (a straight copy when the array is contiguous float64, a strided gather otherwise).
pub(crate) fn floats(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Vec<f64>> {
    let array = numeric(obj, arg, "float64", "fiu")?;
    shape(&array, arg, &[1])?;
    let array = array.cast::<PyArray1<f64>>()?.readonly();
    Ok(match array.as_slice() {
        Ok(slice) => slice.to_vec(),
        Err(_) => array.as_array().iter().copied().collect(),
    })
}

/// A 1-D array of integers from any array-like of integers.
pub(crate) fn ints(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Vec<i64>> {
    let array = numeric(obj, arg, "int64", "iu")?;
    shape(&array, arg, &[1])?;
    let array = array.cast::<PyArray1<i64>>()?.readonly();
    Ok(match array.as_slice() {
        Ok(slice) => slice.to_vec(),
        Err(_) => array.as_array().iter().copied().collect(),
    })
}

/// Samples as `(channel-major buffer, channels)`: a 1-D array is one channel, a 2-D array
/// is `n_samples × n_channels` (Neo's shape). A Fortran-ordered array is copied straight;
/// any other layout is gathered, channel by channel, in one pass.
pub(crate) fn channels(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<(Vec<f64>, usize)> {
    let array = numeric(obj, arg, "float64", "fiu")?;
    if shape(&array, arg, &[1, 2])?.len() == 1 {
        return Ok((floats(&array, arg)?, 1));
    }
    let array = array.cast::<numpy::PyArray2<f64>>()?.readonly();
    let by_channel = array.as_array().reversed_axes();
    let n_channels = by_channel.nrows();
    let data = match by_channel.as_slice() {
        Some(slice) => slice.to_vec(),
        None => by_channel.iter().copied().collect(),
    };
    Ok((data, n_channels))
}

/// A float array handed to Python without copying.
pub(crate) fn array<'py, T: numpy::Element>(py: Python<'py>, values: Vec<T>) -> Bound<'py, PyArray1<T>> {
    PyArray1::from_vec(py, values)
}

/// `samples` (channel-major, `n_channels` of `n_samples`) as Neo's `n_samples × n_channels`
/// array: a transposed view of the buffer, without copying.
pub(crate) fn samples<'py>(py: Python<'py>, data: Vec<f64>, n_samples: usize, n_channels: usize) -> PyResult<Bound<'py, PyAny>> {
    let by_channel = PyArray1::from_vec(py, data).reshape([n_channels, n_samples])?;
    by_channel.getattr("T")
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map_or_else(|_| "?".into(), |n| n.to_string())
}

/// An annotation value from Python: `str`, `bool`, `int`, `float` (numpy scalars too),
/// `datetime`/`date`/`time`, a list, tuple or 1-D array of one of those, or a `dict`
/// (stored as its JSON text, the contract's form for nested objects).
pub(crate) fn value(obj: &Bound<'_, PyAny>, key: &str) -> PyResult<Value> {
    if let Some(v) = scalar(obj)? {
        return Ok(v);
    }
    if obj.is_instance_of::<PyDict>() {
        let text: String = obj.py().import("json")?.call_method1("dumps", (obj,))?.extract()?;
        return Ok(Value::Str(text));
    }
    if obj.hasattr("tolist")? && !obj.is_instance_of::<PyString>() {
        return value(&obj.call_method0("tolist")?, key);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return list(obj, key);
    }
    if obj.is_none() {
        return Err(invalid(format!("annotation {key:?}"), "None cannot be stored in a NIX file"));
    }
    Err(PyTypeError::new_err(format!(
        "annotation {key:?}: a {} cannot be stored (use str, bool, int, float, datetime, a list of one of those, or a dict)",
        type_name(obj)
    )))
}

/// A scalar value, or `None` when `obj` is not one.
fn scalar(obj: &Bound<'_, PyAny>) -> PyResult<Option<Value>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(Value::Str(s.to_str()?.to_owned())));
    }
    if obj.hasattr("__len__")? {
        return Ok(None);
    }
    if obj.is_instance_of::<PyBool>() || matches!(type_name(obj).as_str(), "bool" | "bool_") {
        return Ok(Some(Value::Bool(obj.is_truthy()?)));
    }
    if obj.is_instance_of::<PyDateTime>() {
        return Ok(Some(Value::DateTime(obj.call_method1("strftime", ("%Y-%m-%dT%H:%M:%S.%f",))?.extract()?)));
    }
    if obj.is_instance_of::<PyDate>() {
        return Ok(Some(Value::Date(obj.call_method1("strftime", ("%Y-%m-%d",))?.extract()?)));
    }
    if obj.is_instance_of::<PyTime>() {
        return Ok(Some(Value::Time(obj.call_method1("strftime", ("%H:%M:%S.%f",))?.extract()?)));
    }
    if obj.hasattr("__index__")? {
        return Ok(Some(Value::Int(obj.extract()?)));
    }
    if obj.hasattr("__float__")? {
        return Ok(Some(Value::Float(obj.extract()?)));
    }
    Ok(None)
}

/// A list of one type: strings, bools, ints, or numbers (floats where any is one).
fn list(obj: &Bound<'_, PyAny>, key: &str) -> PyResult<Value> {
    let mut items = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        match scalar(&item)? {
            Some(v @ (Value::Str(_) | Value::Bool(_) | Value::Int(_) | Value::Float(_))) => items.push(v),
            _ => return Err(PyTypeError::new_err(format!("annotation {key:?}: list items must be str, bool, int or float, got {}", type_name(&item)))),
        }
    }
    let all = |f: fn(&Value) -> bool| items.iter().all(f);
    Ok(if items.is_empty() || all(|v| matches!(v, Value::Str(_))) {
        Value::StrList(items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
    } else if all(|v| matches!(v, Value::Bool(_))) {
        Value::BoolList(items.iter().filter_map(Value::as_bool).collect())
    } else if all(|v| matches!(v, Value::Int(_))) {
        Value::IntList(items.iter().filter_map(Value::as_int).collect())
    } else if all(|v| matches!(v, Value::Int(_) | Value::Float(_))) {
        Value::FloatList(items.iter().filter_map(Value::as_float).collect())
    } else {
        return Err(PyTypeError::new_err(format!("annotation {key:?}: a list must hold items of one type (str, bool or numbers)")));
    })
}

/// Annotations from a Python mapping (`None` is none), each key prefixed with `prefix`.
pub(crate) fn annotations(obj: Option<&Bound<'_, PyAny>>, prefix: &str) -> PyResult<Annotations> {
    let mut out = Annotations::new();
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(out) };
    let dict = obj.cast::<PyDict>().map_err(|_| PyTypeError::new_err(format!("annotations must be a dict, not {}", type_name(obj))))?;
    for (k, v) in dict.iter() {
        let key: String = k.extract().map_err(|_| PyTypeError::new_err(format!("annotation keys must be str, not {}", type_name(&k))))?;
        let key = format!("{prefix}{key}");
        let value = value(&v, &key)?;
        out.insert(key, value);
    }
    Ok(out)
}

/// An annotation value as Python sees it: scalars as `str`/`int`/`float`/`bool`, lists as
/// lists (numpy arrays when `arrays`), dates as `datetime`, quantities as
/// `bsb_results.Quantity`.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value, arrays: bool) -> PyResult<Bound<'py, PyAny>> {
    let datetime = |method: &str, text: &str, format: &str| -> PyResult<Bound<'py, PyAny>> {
        let parsed = py.import("datetime")?.getattr("datetime")?.call_method1("strptime", (text, format))?;
        if method == "datetime" { Ok(parsed) } else { parsed.call_method0(method) }
    };
    Ok(match value {
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::StrList(v) if arrays => py.import("numpy")?.call_method1("array", (v.clone(),))?,
        Value::StrList(v) => v.into_pyobject(py)?.into_any(),
        Value::IntList(v) if arrays => array(py, v.clone()).into_any(),
        Value::IntList(v) => v.into_pyobject(py)?.into_any(),
        Value::FloatList(v) if arrays => array(py, v.clone()).into_any(),
        Value::FloatList(v) => v.into_pyobject(py)?.into_any(),
        Value::BoolList(v) if arrays => py.import("numpy")?.call_method1("array", (v.clone(), "bool"))?,
        Value::BoolList(v) => v.into_pyobject(py)?.into_any(),
        Value::Quantity { values, unit } => {
            let magnitude = if values.len() == 1 { values[0].into_pyobject(py)?.into_any() } else { array(py, values.clone()).into_any() };
            py.import("bsb_results._tree")?.getattr("Quantity")?.call1((magnitude, unit))?
        }
        Value::DateTime(s) => datetime("datetime", s, "%Y-%m-%dT%H:%M:%S.%f")?,
        Value::Date(s) => datetime("date", s, "%Y-%m-%d")?,
        Value::Time(s) => datetime("time", s, "%H:%M:%S.%f")?,
    })
}

/// Annotations as a Python `dict`, in order.
pub(crate) fn dict<'py>(py: Python<'py>, annotations: &Annotations, arrays: bool) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (k, v) in annotations.iter() {
        out.set_item(k, to_py(py, v, arrays)?)?;
    }
    Ok(out)
}

/// A JSON tree from Python: a `str` is taken as JSON text, anything else is dumped with
/// `json.dumps`.
pub(crate) fn json_in(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<serde_json::Value> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(serde_json::json!({})) };
    let text: String = match obj.cast::<PyString>() {
        Ok(s) => s.to_str()?.to_owned(),
        Err(_) => obj.py().import("json")?.call_method1("dumps", (obj,)).map_err(|e| PyTypeError::new_err(format!("{what} must be JSON-serializable: {e}")))?.extract()?,
    };
    serde_json::from_str(&text).map_err(|e| invalid(what, format!("not valid JSON: {e}")))
}

/// A JSON tree as Python objects (`json.loads`).
pub(crate) fn json_out<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (value.to_string(),))
}
