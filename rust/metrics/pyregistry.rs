//! The registry as Python sees it: prometheus_client's `CollectorRegistry` API, with the guide's
//! `prefix`, `default_labels` and a per-metric cardinality limit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::args::{self, name_set, read_labels, sorted};
use super::family::DEFAULT_CARDINALITY_LIMIT;
use super::multiprocess::{FilesSource, PyMultiProcessCollector};
use super::native::NativeFamily;
use super::process::Part;
use super::registry::{Options, Source};
use super::validate::{self, NameArg};
use super::views::{process_collector, BuiltinCollector, RestrictedRegistry};
use crate::runtime::errors::{Error, Result};

pub use super::registry::RegistryCore;

/// A registry as prometheus_client users know it.
#[pyclass(frozen, name = "Registry", module = "ferrotel._core")]
pub struct PyRegistry {
    pub core: Arc<RegistryCore>,
}

static DEFAULT_REGISTRY: PyOnceLock<Py<PyRegistry>> = PyOnceLock::new();

pub(super) fn default_options() -> Options {
    Options {
        prefix: String::new(),
        default_labels: Vec::new(),
        cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
        auto_describe: false,
        support_collectors_without_names: false,
    }
}

/// The default REGISTRY, which describes collectors without `describe()` by collecting them, as
/// prometheus_client's does.
pub fn default_registry(py: Python<'_>) -> &Py<PyRegistry> {
    DEFAULT_REGISTRY.get_or_init(py, || {
        let core = RegistryCore::new(Options {
            auto_describe: true,
            ..default_options()
        });
        Py::new(py, PyRegistry { core: Arc::new(core) }).expect("allocating the default registry")
    })
}

/// The registry a `registry=None` argument names: the one given, or the default REGISTRY.
pub fn registry_core(py: Python<'_>, registry: Option<&Bound<'_, PyRegistry>>) -> Arc<RegistryCore> {
    match registry {
        Some(r) => r.get().core.clone(),
        None => default_registry(py).get().core.clone(),
    }
}

/// Raised by `unregister()` of what is not registered: a `KeyError`, as prometheus_client's
/// (a dict look-up) is, and a `ValueError`.
fn not_registered(py: Python<'_>, collector: &Bound<'_, PyAny>) -> Error {
    let message = format!(
        "{} is not registered",
        collector.repr().map(|r| r.to_string()).unwrap_or_default()
    );
    let made = (|| -> PyResult<PyErr> {
        let class = py.import("ferrotel.registry")?.getattr("NotRegistered")?;
        Ok(PyErr::from_value(class.call1((message.as_str(),))?))
    })();
    Error::Python(made.unwrap_or_else(|e| e))
}

/// Which registry entry an object names: a ferrotel metric, a built-in collector, or itself.
fn matcher<'a>(collector: &'a Bound<'_, PyAny>) -> impl Fn(&Source) -> bool + 'a {
    let native = NativeFamily::from_object(collector);
    let part = collector.cast::<BuiltinCollector>().ok().map(|b| b.get().part);
    move |source: &Source| match (source, &native, part) {
        (Source::Native(f), Some(n), _) => f.same(n),
        (Source::Process(_, p), None, Some(part)) => *p == part,
        (Source::Python(obj), None, None) => obj.is(collector),
        (Source::Files(f), None, None) => f.object.as_ref().is_some_and(|o| o.is(collector)),
        _ => false,
    }
}

impl PyRegistry {
    fn add_part(&self, py: Python<'_>, part: Part) -> Result<()> {
        let holder = format!("ferrotel's built-in {part:?} collector");
        self.core.add(
            Source::Process(process_collector(py)?, part),
            part.sample_names(),
            holder,
        )
    }
}

pub(super) fn collect_families<'py>(
    py: Python<'py>,
    core: &Arc<RegistryCore>,
    names: Option<&HashSet<String>>,
) -> PyResult<Bound<'py, PyList>> {
    let families = py.detach(|| core.snapshot(names))?;
    super::collectors::to_prometheus_families(py, &families)
}

pub(super) type Rendered<'py> = (Bound<'py, PyBytes>, &'static str, Option<&'static str>);

pub(super) fn render_for<'py>(
    py: Python<'py>,
    core: &Arc<RegistryCore>,
    accept: Option<&str>,
    accept_encoding: Option<&str>,
    names: Option<&HashSet<String>>,
) -> PyResult<Rendered<'py>> {
    // Detached while rendering: other Python threads run; a Python collector re-attaches.
    let exposition = py.detach(|| core.exposition_of(accept, accept_encoding, names))?;
    let encoding = exposition.gzip.then_some("gzip");
    Ok((PyBytes::new(py, &exposition.body), exposition.content_type, encoding))
}

#[pymethods]
impl PyRegistry {
    #[new]
    #[pyo3(signature = (auto_describe=false, target_info=None, support_collectors_without_names=false, *, prefix=NameArg::default(), default_labels=None, cardinality_limit=None))]
    fn new(
        auto_describe: bool,
        target_info: Option<&Bound<'_, PyDict>>,
        support_collectors_without_names: bool,
        prefix: NameArg,
        default_labels: Option<&Bound<'_, PyDict>>,
        cardinality_limit: Option<&Bound<'_, PyAny>>,
    ) -> Result<Self> {
        if !prefix.0.is_empty() {
            validate::metric_name(&prefix.0)?;
        }
        let core = RegistryCore::new(Options {
            prefix: prefix.0,
            default_labels: default_labels
                .map(|d| read_labels(d, "default label"))
                .transpose()?
                .unwrap_or_default(),
            cardinality_limit: args::cardinality_limit(cardinality_limit)?,
            auto_describe,
            support_collectors_without_names,
        });
        let target = target_info.filter(|t| !t.is_empty());
        core.set_target_info(
            target
                .map(|t| sorted(read_labels(t, "target_info label")))
                .transpose()?,
        )?;
        Ok(Self { core: Arc::new(core) })
    }

    #[getter]
    fn prefix(&self) -> String {
        self.core.prefix.read().clone()
    }

    #[getter]
    fn default_labels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (k, v) in self.core.default_labels.read().iter() {
            dict.set_item(k, v)?;
        }
        Ok(dict)
    }

    #[getter]
    fn cardinality_limit(&self) -> usize {
        self.core.cardinality_limit
    }

    /// Changes the prefix (for metrics declared from now on) and the default labels (for every
    /// series from the next scrape on): what `ferrotel.configure(metrics=...)` sets.
    #[pyo3(signature = (*, prefix=None, default_labels=None))]
    fn configure(&self, prefix: Option<NameArg>, default_labels: Option<&Bound<'_, PyDict>>) -> Result<()> {
        if let Some(prefix) = &prefix {
            if !prefix.0.is_empty() {
                validate::metric_name(&prefix.0)?;
            }
        }
        let labels = default_labels.map(|d| read_labels(d, "default label")).transpose()?;
        if let Some(labels) = &labels {
            let mut clash = None;
            self.core.for_each(|source| {
                if let Source::Native(family) = source {
                    if let Some((name, _)) = labels.iter().find(|(n, _)| family.desc().labelnames.contains(n)) {
                        clash.get_or_insert_with(|| (name.clone(), family.desc().name.clone()));
                    }
                }
            });
            if let Some((name, metric)) = clash {
                return Err(Error::invalid(format!(
                    "default label {name:?} is already a label of metric {metric:?}"
                )));
            }
        }
        if let Some(prefix) = prefix {
            *self.core.prefix.write() = prefix.0;
        }
        if let Some(labels) = labels {
            *self.core.default_labels.write() = labels;
        }
        Ok(())
    }

    /// Registers a ferrotel metric, a built-in collector, or any object with `collect()`.
    pub fn register(&self, py: Python<'_>, collector: &Bound<'_, PyAny>) -> Result<()> {
        if let Some(family) = NativeFamily::from_object(collector) {
            return self.core.register_native(family);
        }
        if let Ok(builtin) = collector.cast::<BuiltinCollector>() {
            return self.add_part(py, builtin.get().part);
        }
        if let Ok(files) = collector.cast::<PyMultiProcessCollector>() {
            return self.core.register_files(FilesSource {
                path: Some(files.get().path.clone()),
                object: Some(collector.clone().unbind()),
            });
        }
        if !collector.hasattr("collect")? {
            return Err(Error::wrong_type(format!(
                "{} has no collect() method",
                collector.repr()?
            )));
        }
        let names = if collector.hasattr("describe")? {
            super::collectors::names_of(&collector.call_method0("describe")?)?
        } else if self.core.auto_describe {
            super::collectors::names_of(&collector.call_method0("collect")?)?
        } else {
            Vec::new()
        };
        let holder = collector.repr()?.to_string();
        self.core.add(Source::Python(collector.clone().unbind()), names, holder)
    }

    /// Adds the process and Python runtime metrics (the guide's `DefaultMetrics`).
    pub fn register_process_metrics(&self, py: Python<'_>) -> Result<()> {
        for part in Part::ALL {
            if !self.core.contains(|s| matches!(s, Source::Process(_, p) if *p == part)) {
                self.add_part(py, part)?;
            }
        }
        Ok(())
    }

    /// Whether this metric (or collector) is registered here.
    fn __contains__(&self, collector: &Bound<'_, PyAny>) -> bool {
        self.core.contains(matcher(collector))
    }

    /// Removes a collector, freeing every name it held.
    fn unregister(&self, py: Python<'_>, collector: &Bound<'_, PyAny>) -> Result<()> {
        if self.core.remove(matcher(collector)) {
            Ok(())
        } else {
            Err(not_registered(py, collector))
        }
    }

    /// The families as prometheus_client `Metric` objects, so this registry can be registered
    /// in a prometheus_client registry.
    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        collect_families(py, &self.core, None)
    }

    /// A view collecting only the samples named (`["http_requests_total"]`).
    fn restricted_registry(&self, names: &Bound<'_, PyAny>) -> Result<RestrictedRegistry> {
        Ok(RestrictedRegistry::new(self.core.clone(), name_set(names)?))
    }

    /// Sets (or, with None, removes) the labels of the `target_info` series.
    #[pyo3(signature = (labels))]
    fn set_target_info(&self, labels: Option<&Bound<'_, PyDict>>) -> Result<()> {
        let labels = labels.filter(|l| !l.is_empty());
        self.core.set_target_info(
            labels
                .map(|l| sorted(read_labels(l, "target_info label")))
                .transpose()?,
        )
    }

    fn get_target_info(&self) -> Option<HashMap<String, String>> {
        self.core.target_info().map(|pairs| pairs.into_iter().collect())
    }

    /// The value of one sample, or None: `get_sample_value("http_requests_total", {"path": "/"})`.
    #[pyo3(signature = (name, labels=None))]
    fn get_sample_value(
        &self,
        py: Python<'_>,
        name: &str,
        labels: Option<HashMap<String, String>>,
    ) -> PyResult<Option<f64>> {
        let mut wanted: Vec<(String, String)> = labels.unwrap_or_default().into_iter().collect();
        wanted.sort();
        for family in py.detach(|| self.core.snapshot(None))? {
            for sample in &family.samples {
                if sample.name(&family.desc.name) != name {
                    continue;
                }
                let mut have = sample.labels.clone();
                have.sort();
                if have == wanted {
                    return Ok(Some(sample.value));
                }
            }
        }
        Ok(None)
    }

    /// A registered metric by name, as the guide's `metrics.counter('x')` finds it.
    #[pyo3(signature = (name, kind=None))]
    fn get<'py>(&self, py: Python<'py>, name: &str, kind: Option<&str>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let stripped = name
            .strip_suffix("_total")
            .or_else(|| name.strip_suffix("_info"))
            .unwrap_or(name);
        let prefix = self.core.prefix.read().clone();
        let candidates = [
            name.to_string(),
            stripped.to_string(),
            format!("{prefix}{name}"),
            format!("{prefix}{stripped}"),
        ];
        let mut found = None;
        self.core.for_each(|source| match source {
            Source::Native(f)
                if found.is_none()
                    && candidates.contains(&f.desc().name)
                    && kind.is_none_or(|k| f.desc().kind.as_str() == k) =>
            {
                found = Some(f.clone())
            }
            _ => {}
        });
        found.map(|f| f.to_object(py)).transpose()
    }

    /// The exposition for a scrape: `(body, content_type, content_encoding)`; `names` restricts
    /// it to those samples (`?name[]=` in prometheus_client's apps).
    #[pyo3(signature = (accept=None, accept_encoding=None, names=None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        accept: Option<&str>,
        accept_encoding: Option<&str>,
        names: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Rendered<'py>> {
        let names = names.filter(|n| !n.is_none()).map(name_set).transpose()?;
        render_for(py, &self.core, accept, accept_encoding, names.as_ref())
    }

    fn __repr__(&self) -> String {
        let mut count = 0;
        self.core.for_each(|_| count += 1);
        format!(
            "<ferrotel.Registry prefix={:?} metrics={count}>",
            self.core.prefix.read()
        )
    }
}
