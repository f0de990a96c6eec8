//! prometheus_client's `Metric` objects in both directions: a custom collector's families read
//! into owned families (rendered as prometheus_client renders them), and ferrotel's families
//! handed out as `Metric`s by `collect()`.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};

use super::exposition::{Exemplar, FamilyDesc, Kind, OwnedFamily, OwnedSample, Timestamp};
use super::native::sample_names;
use super::validate;
use crate::runtime::errors::{Error, Result};

fn text(value: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    let s = value.cast::<PyString>().map_err(|_| {
        let shown = value.repr().map(|r| r.to_string()).unwrap_or_default();
        Error::wrong_type(format!("{what} {shown} is not a str"))
    })?;
    Ok(validate::lossy_text(s).into_owned())
}

fn labels(dict: &Bound<'_, PyAny>, what: &str) -> Result<Vec<(String, String)>> {
    let dict = dict.cast::<PyDict>().map_err(|e| Error::from(PyErr::from(e)))?;
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        out.push((text(&k, what)?, text(&v, what)?));
    }
    out.sort();
    Ok(out)
}

/// A timestamp as prometheus_client writes it: `str()` of the value in OpenMetrics, seconds for
/// the 0.0.4 milliseconds.
fn timestamp(value: &Bound<'_, PyAny>) -> Result<Option<Timestamp>> {
    if value.is_none() {
        return Ok(None);
    }
    // prometheus_client's Timestamp has __float__; floats and ints are themselves.
    let seconds: f64 = value
        .extract()
        .or_else(|_| value.call_method0("__float__")?.extract())?;
    let text = if value.is_exact_instance_of::<PyFloat>() {
        None
    } else {
        Some(value.str()?.to_str()?.into())
    };
    Ok(Some(Timestamp { seconds, text }))
}

/// The name and type of a prometheus_client `Metric`, as its collector describes it.
pub fn describe(family: &Bound<'_, PyAny>) -> Result<FamilyDesc> {
    let name = text(&family.getattr("name")?, "metric name")?;
    let kind = Kind::parse(&family.getattr("type")?.extract::<String>()?);
    let mut desc = FamilyDesc::new(
        name,
        text(&family.getattr("documentation")?, "documentation")?,
        kind,
        Box::new([]),
    );
    desc.unit = family
        .getattr("unit")
        .ok()
        .filter(|u| !u.is_none())
        .map(|u| text(&u, "unit"))
        .transpose()?
        .unwrap_or_default();
    desc.passthrough = true;
    Ok(desc)
}

/// The sample names a collector's described families may write.
pub fn names_of(described: &Bound<'_, PyAny>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for family in described.try_iter()? {
        names.extend(sample_names(&describe(&family?)?));
    }
    Ok(names)
}

/// A prometheus_client `Metric` (from a custom collector) as an owned family.
pub fn owned_family(family: &Bound<'_, PyAny>) -> Result<OwnedFamily> {
    let desc = describe(family)?;
    let mut samples = Vec::new();
    for sample in family.getattr("samples")?.try_iter()? {
        let sample = sample?;
        let value = sample.getattr("value")?;
        if value.is_none() {
            // A native histogram's sample, which neither text format carries.
            continue;
        }
        let name = text(&sample.getattr("name")?, "sample name")?;
        let (suffix, full_name) = match name.strip_prefix(desc.name.as_str()) {
            Some(suffix) => (suffix.to_string(), None),
            None => (String::new(), Some(name.clone())),
        };
        let exemplar = sample.getattr("exemplar")?;
        let exemplar = if exemplar.is_none() {
            None
        } else {
            Some(Exemplar {
                labels: labels(&exemplar.getattr("labels")?, "exemplar label")?,
                value: exemplar.getattr("value")?.extract()?,
                timestamp: timestamp(&exemplar.getattr("timestamp")?)?,
            })
        };
        samples.push(OwnedSample {
            suffix,
            full_name,
            labels: labels(&sample.getattr("labels")?, "label")?,
            value: value.extract()?,
            timestamp: timestamp(&sample.getattr("timestamp")?)?,
            exemplar,
        });
    }
    Ok(OwnedFamily { desc, samples })
}

fn timestamp_object<'py>(py: Python<'py>, ts: &Option<Timestamp>) -> Option<Bound<'py, PyAny>> {
    ts.as_ref()
        .map(|t| match t.text.as_deref().and_then(|s| s.parse::<i64>().ok()) {
            Some(i) => PyInt::new(py, i).into_any(),
            None => PyFloat::new(py, t.seconds).into_any(),
        })
}

/// Families as prometheus_client `Metric`s, so a registry can sit inside a prometheus_client one.
pub fn to_prometheus_families<'py>(py: Python<'py>, families: &[OwnedFamily]) -> PyResult<Bound<'py, PyList>> {
    let core = py.import("prometheus_client.metrics_core")?;
    let samples_mod = py.import("prometheus_client.samples")?;
    let metric_cls = core.getattr("Metric")?;
    let sample_cls = samples_mod.getattr("Sample")?;
    let exemplar_cls = samples_mod.getattr("Exemplar")?;
    let out = PyList::empty(py);
    for family in families {
        let metric = metric_cls.call1((
            &family.desc.name,
            &family.desc.help,
            family.desc.kind.as_str(),
            &family.desc.unit,
        ))?;
        let samples = PyList::empty(py);
        for s in &family.samples {
            let labels: HashMap<&str, &str> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let exemplar = match &s.exemplar {
                Some(e) => {
                    let labels: HashMap<&str, &str> = e.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    Some(exemplar_cls.call1((labels, e.value, timestamp_object(py, &e.timestamp)))?)
                }
                None => None,
            };
            let name = s.name(&family.desc.name);
            let timestamp = timestamp_object(py, &s.timestamp);
            samples.append(sample_cls.call1((name, labels, s.value, timestamp, exemplar))?)?;
        }
        metric.setattr("samples", samples)?;
        out.append(metric)?;
    }
    Ok(out)
}
