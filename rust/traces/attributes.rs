//! Span attribute values from Python: str, bool, int, float and homogeneous lists of them.
//! Anything else is dropped and counted rather than raised: attributes are set at record time.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::data::{AttrValue, Attributes};
use super::text;
use crate::runtime::selfmetrics;

#[derive(Clone, Debug)]
pub struct SpanLimits {
    pub max_attributes: usize,
    pub max_events: usize,
    pub max_links: usize,
    pub max_attributes_per_event: usize,
    pub max_value_length: Option<usize>,
}

impl Default for SpanLimits {
    /// The OpenTelemetry defaults (`OTEL_SPAN_*_COUNT_LIMIT`).
    fn default() -> Self {
        Self {
            max_attributes: 128,
            max_events: 128,
            max_links: 128,
            max_attributes_per_event: 128,
            max_value_length: None,
        }
    }
}

fn truncate(mut s: String, limit: Option<usize>) -> String {
    if let Some(limit) = limit {
        if s.chars().count() > limit {
            s = s.chars().take(limit).collect();
        }
    }
    s
}

fn scalar(value: &Bound<'_, PyAny>, limit: Option<usize>) -> Option<AttrValue> {
    if let Ok(s) = value.cast::<PyString>() {
        return Some(AttrValue::Str(truncate(text::owned(s), limit)));
    }
    // bool before int: Python's bool is an int.
    if let Ok(b) = value.cast::<PyBool>() {
        return Some(AttrValue::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        return value.extract::<i64>().ok().map(AttrValue::Int);
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Some(AttrValue::Double(f.value()));
    }
    None
}

/// A Python value as an attribute value; None when it is not one of the allowed types.
pub fn attr_value(value: &Bound<'_, PyAny>, limit: Option<usize>) -> Option<AttrValue> {
    if let Some(v) = scalar(value, limit) {
        return Some(v);
    }
    if !(value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>()) {
        return None;
    }
    let items: Vec<AttrValue> = value
        .try_iter()
        .ok()?
        .map(|i| i.ok().and_then(|i| scalar(&i, limit)))
        .collect::<Option<_>>()?;
    let first = items.first().cloned().unwrap_or(AttrValue::Str(String::new()));
    macro_rules! collect {
        ($variant:ident, $array:ident) => {
            items
                .into_iter()
                .map(|v| {
                    if let AttrValue::$variant(x) = v {
                        Some(x)
                    } else {
                        None
                    }
                })
                .collect::<Option<Vec<_>>>()
                .map(AttrValue::$array)
        };
    }
    match first {
        AttrValue::Str(_) => collect!(Str, StrArray),
        AttrValue::Bool(_) => collect!(Bool, BoolArray),
        AttrValue::Int(_) => collect!(Int, IntArray),
        AttrValue::Double(_) => collect!(Double, DoubleArray),
        _ => None,
    }
}

/// Sets `key` in `attributes` within `max` entries; returns false when the value was dropped.
pub fn set(attributes: &mut Attributes, key: String, value: AttrValue, max: usize) -> bool {
    let key: super::data::AttrKey = key.into();
    if let Some(slot) = attributes.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
        return true;
    }
    if attributes.len() >= max {
        return false;
    }
    attributes.push((key, value));
    true
}

/// Reads a dict of attributes; returns how many were dropped (invalid type or over the limit).
pub fn read_dict(dict: &Bound<'_, PyDict>, attributes: &mut Attributes, max: usize, limits: &SpanLimits) -> u32 {
    let mut dropped = 0;
    // A dict's keys are distinct: into an empty list they go without looking for an earlier one.
    let fresh = attributes.is_empty();
    attributes.reserve(dict.len().min(max));
    for (key, value) in dict.iter() {
        let key = match key.cast::<PyString>() {
            Ok(k) => text::owned(k),
            Err(_) => {
                selfmetrics::record_drop("traces", "invalid_attribute");
                dropped += 1;
                continue;
            }
        };
        match attr_value(&value, limits.max_value_length) {
            Some(value) if fresh && attributes.len() < max => attributes.push((key.into(), value)),
            Some(value) => {
                if !set(attributes, key, value, max) {
                    selfmetrics::record_drop("traces", "attribute_limit");
                    dropped += 1;
                }
            }
            None => {
                selfmetrics::record_drop("traces", "invalid_attribute");
                dropped += 1;
            }
        }
    }
    dropped
}

pub fn to_python<'py>(py: Python<'py>, value: &AttrValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        AttrValue::Str(s) => PyString::new(py, s).into_any(),
        AttrValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        AttrValue::Int(i) => i.into_pyobject(py)?.into_any(),
        AttrValue::Double(f) => PyFloat::new(py, *f).into_any(),
        AttrValue::StrArray(v) => PyTuple::new(py, v)?.into_any(),
        AttrValue::BoolArray(v) => PyTuple::new(py, v)?.into_any(),
        AttrValue::IntArray(v) => PyTuple::new(py, v)?.into_any(),
        AttrValue::DoubleArray(v) => PyTuple::new(py, v)?.into_any(),
    })
}

pub fn dict_to_python<'py>(py: Python<'py>, attributes: &Attributes) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in attributes {
        dict.set_item(k, to_python(py, v)?)?;
    }
    Ok(dict)
}
