//! The arguments registries take: which registry a metric goes into, label dictionaries, the
//! cardinality limit, sample names; each mistake a `ValueError` or `TypeError` naming the value.

use std::collections::HashSet;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::family::DEFAULT_CARDINALITY_LIMIT;
use super::pyregistry::{default_registry, PyRegistry};
use super::registry::RegistryCore;
use super::validate;
use crate::runtime::errors::{Error, Result};

/// The `registry=` argument: omitted means the default REGISTRY, `None` means unregistered.
pub enum RegistryArg {
    Default,
    Unregistered,
    Given(Arc<RegistryCore>),
}

impl RegistryArg {
    pub fn resolve(self, py: Python<'_>) -> Option<Arc<RegistryCore>> {
        match self {
            RegistryArg::Default => Some(default_registry(py).get().core.clone()),
            RegistryArg::Unregistered => None,
            RegistryArg::Given(core) => Some(core),
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for RegistryArg {
    type Error = Error;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> Result<Self> {
        if obj.is_none() {
            return Ok(RegistryArg::Unregistered);
        }
        match obj.cast::<PyRegistry>() {
            Ok(r) => Ok(RegistryArg::Given(r.get().core.clone())),
            Err(_) => Err(Error::wrong_type(format!(
                "registry must be a ferrotel Registry or None, got {}",
                obj.repr().map(|r| r.to_string()).unwrap_or_default()
            ))),
        }
    }
}

pub fn read_labels(labels: &Bound<'_, PyDict>, what: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(labels.len());
    for (k, v) in labels.iter() {
        let k = k
            .cast::<PyString>()
            .map_err(|_| Error::wrong_type(format!("{what} name {k} is not a str")))?;
        let k = validate::name_text(k, &format!("{what} name"))?.to_string();
        validate::label_name(&k, &[])?;
        out.push((k, super::family::label_value(&v)?.as_ref().to_string()));
    }
    Ok(out)
}

pub fn cardinality_limit(value: Option<&Bound<'_, PyAny>>) -> Result<usize> {
    let Some(value) = value else {
        return Ok(DEFAULT_CARDINALITY_LIMIT);
    };
    let shown = value.repr().map(|r| r.to_string()).unwrap_or_default();
    if value.cast::<pyo3::types::PyInt>().is_err() {
        return Err(Error::wrong_type(format!(
            "cardinality_limit must be an int, got {shown}"
        )));
    }
    match value.extract::<i64>() {
        Ok(n) if n >= 1 => {
            usize::try_from(n).map_err(|_| Error::invalid(format!("cardinality_limit {shown} is too large")))
        }
        Ok(_) => Err(Error::invalid(format!(
            "cardinality_limit must be at least 1, got {shown}"
        ))),
        Err(_) => Err(Error::invalid(format!("cardinality_limit {shown} is out of range"))),
    }
}

/// Sample names given as any iterable of `str`.
pub fn name_set(names: &Bound<'_, PyAny>) -> Result<HashSet<String>> {
    let mut set = HashSet::new();
    for name in names.try_iter()? {
        set.insert(name?.extract::<String>()?);
    }
    Ok(set)
}

pub fn sorted(labels: Result<Vec<(String, String)>>) -> Result<Vec<(String, String)>> {
    labels.map(|mut l| {
        l.sort();
        l
    })
}
