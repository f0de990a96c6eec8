//! What every metric constructor shares: prometheus_client's arguments turned into a validated
//! family description, and the registry the family goes into.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyString};

use super::exposition::{Exemplar, FamilyDesc, Kind, Timestamp};
use super::family::{Core, Family};
use super::native::NativeFamily;
use super::registry::RegistryArg;
use super::validate;
use super::value::unix_now;
use crate::runtime::errors::{Error, Result};

/// A metric family made from a constructor's arguments, and its only child when it has no labels.
pub type Declared<C> = (Arc<Family<C>>, Option<Arc<C>>);

/// What every metric constructor does once its own arguments are checked: names the family,
/// checks its labels, makes it with `config` and registers it (unless `registry=None`) as
/// `wrap` makes it native.
#[allow(clippy::too_many_arguments)]
pub fn declare_family<C: Core>(
    py: Python<'_>,
    kind: Kind,
    name: &str,
    documentation: &str,
    labelnames: Option<&Bound<'_, PyAny>>,
    namespace: &str,
    subsystem: &str,
    unit: &str,
    registry: RegistryArg,
    reserved: &[&str],
    config: C::Config,
    wrap: fn(Arc<Family<C>>) -> NativeFamily,
) -> Result<Declared<C>> {
    let registry = registry.resolve(py);
    let prefix = registry.as_ref().map(|r| r.prefix.read().clone()).unwrap_or_default();
    let built = validate::full_name(kind.as_str(), name, namespace, subsystem, unit)?;
    let full = if prefix.is_empty() || built.starts_with(&prefix) {
        built
    } else {
        format!("{prefix}{built}")
    };
    validate::metric_name(&full)?;
    let labelnames = label_names(labelnames)?;
    validate::label_names(&labelnames, reserved)?;
    if let Some(registry) = &registry {
        for (default, _) in registry.default_labels.read().iter() {
            if labelnames.contains(default) {
                return Err(Error::invalid(format!(
                    "label name {default:?} of metric {full:?} is already a default label of its registry"
                )));
            }
        }
    }
    // An Enum writes its state in a label named after the metric.
    if kind == Kind::StateSet && (labelnames.contains(&full) || labelnames.iter().any(|l| l == name)) {
        return Err(Error::invalid(format!(
            "Overlapping labels for Enum metric: {name}: the state is written in a label named {full:?}"
        )));
    }
    let limit = registry
        .as_ref()
        .map(|r| r.cardinality_limit)
        .unwrap_or(super::family::DEFAULT_CARDINALITY_LIMIT);
    let mut desc = FamilyDesc::new(full, documentation, kind, labelnames.into_boxed_slice());
    desc.unit = unit.to_string();
    let family = Arc::new(Family::new(desc, config, limit));
    super::multiprocess::track(&family);
    if let Some(registry) = registry {
        registry.register_native(wrap(family.clone()))?;
    }
    let child = family.unlabelled().map(|c| c.core.clone());
    Ok((family, child))
}

fn label_names(labelnames: Option<&Bound<'_, PyAny>>) -> Result<Vec<String>> {
    let Some(labelnames) = labelnames else {
        return Ok(Vec::new());
    };
    if labelnames.is_instance_of::<PyString>() {
        return Err(Error::wrong_type(format!(
            "labelnames must be a sequence of str, not the str {}",
            labelnames.repr()?
        )));
    }
    let mut names = Vec::new();
    for item in labelnames.try_iter()? {
        let item = item?;
        match item.cast::<PyString>() {
            Ok(s) => names.push(validate::name_text(s, "label name")?.to_string()),
            Err(_) => return Err(Error::wrong_type(format!("label name {} is not a str", item.repr()?))),
        }
    }
    Ok(names)
}

/// A recorded number: float fast, then anything with `__float__`; errors name the value.
#[inline]
pub fn number(value: &Bound<'_, PyAny>, metric: &str) -> Result<f64> {
    if let Ok(f) = value.cast_exact::<PyFloat>() {
        return Ok(f.value());
    }
    value.extract::<f64>().map_err(|_| {
        Error::wrong_type(format!(
            "metric {metric:?}: value {} is not a number",
            value.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// An exemplar's labels, checked against OpenMetrics' 128-character limit.
pub fn exemplar(labels: &Bound<'_, PyDict>, value: f64) -> Result<Exemplar> {
    let mut pairs = Vec::with_capacity(labels.len());
    let mut runes = 0;
    for (k, v) in labels.iter() {
        let k = k
            .cast::<PyString>()
            .map_err(|_| Error::wrong_type(format!("exemplar label {k} is not a str")))?;
        let k = validate::name_text(k, "exemplar label name")?.to_string();
        validate::label_name(&k, &[])?;
        let v = super::family::label_value(&v)?.as_ref().to_string();
        runes += k.chars().count() + v.chars().count();
        pairs.push((k, v));
    }
    if runes > 128 {
        return Err(Error::invalid(format!(
            "Exemplar labels have {runes} UTF-8 characters, exceeding the limit of 128: {pairs:?}"
        )));
    }
    Ok(Exemplar {
        labels: pairs,
        value,
        timestamp: Some(Timestamp::seconds(unix_now())),
    })
}

/// `remove_by_labels(labels)`: each given label's position among the family's label names and
/// its value as `str()`; checked as prometheus_client checks it.
pub fn label_positions<C: Core>(family: &Family<C>, labels: &Bound<'_, PyAny>) -> Result<Vec<(usize, String)>> {
    let names = &family.desc.labelnames;
    if names.is_empty() {
        return Err(Error::invalid(format!(
            "No label names were set when constructing {}",
            family.describe()
        )));
    }
    let labels = labels.cast::<PyDict>().map_err(|_| {
        Error::wrong_type(format!(
            "labels must be a dict of {{label_name: label_value}}, got {}",
            labels.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })?;
    let mut wanted = Vec::with_capacity(labels.len());
    let mut unknown = Vec::new();
    for (k, v) in labels.iter() {
        let key = super::family::label_value(&k)?.as_ref().to_string();
        match names.iter().position(|n| *n == key) {
            Some(i) => wanted.push((i, super::family::label_value(&v)?.as_ref().to_string())),
            None => unknown.push(key),
        }
    }
    if !unknown.is_empty() {
        return Err(Error::invalid(format!(
            "Unknown label names: {unknown:?}; expected {names:?}"
        )));
    }
    Ok(wanted)
}
