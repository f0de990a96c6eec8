//! The registry: registration order, duplicate names, Python collectors, and rendering. Native
//! families render without the GIL; Python collectors and `set_function` gauges are read first,
//! attached, into owned families, so no Rust lock is ever held while attached.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::exposition::{negotiate, Exemplar, FamilyDesc, Format, Kind, OwnedFamily, OwnedSample, SnapshotSink};
use super::exposition::{SampleSink, TextSink};
use super::family::DEFAULT_CARDINALITY_LIMIT;
use super::multiprocess::{self, FilesSource, PyMultiProcessCollector, Scrape};
use super::native::NativeFamily;
use super::process::ProcessCollector;
use crate::runtime::errors::{Error, Result};

enum Source {
    Native(NativeFamily),
    Python(Py<PyAny>),
    Process(Arc<ProcessCollector>),
    /// ferrotel's own drop and export-failure counts.
    Own,
    /// The merged files of a multiprocess directory.
    Files(FilesSource),
}

struct Entry {
    id: u64,
    source: Source,
    names: Vec<String>,
}

pub struct RegistryCore {
    entries: Mutex<Vec<Entry>>,
    next_id: Mutex<u64>,
    /// Put before the name of each metric declared from now on.
    pub prefix: RwLock<String>,
    /// Added to every series at render time.
    pub default_labels: RwLock<Vec<(String, String)>>,
    pub cardinality_limit: usize,
}

pub struct Exposition {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub gzip: bool,
}

impl RegistryCore {
    fn add(&self, source: Source, names: Vec<String>) -> Result<()> {
        let mut entries = self.entries.lock();
        for name in &names {
            if entries.iter().any(|e| e.names.contains(name)) {
                return Err(Error::invalid(format!("duplicated timeseries in registry: {name:?}")));
            }
        }
        let mut next = self.next_id.lock();
        *next += 1;
        entries.push(Entry {
            id: *next,
            source,
            names,
        });
        Ok(())
    }

    /// Adds ferrotel's own counts (the default REGISTRY does so at import).
    pub fn register_own(&self) -> Result<()> {
        self.add(Source::Own, super::selfmetrics::names())
    }

    /// Adds a multiprocess directory's files (once for the directory set: the default REGISTRY).
    pub fn register_files(&self, source: FilesSource) -> Result<()> {
        if source.path.is_none()
            && self
                .entries
                .lock()
                .iter()
                .any(|e| matches!(&e.source, Source::Files(f) if f.path.is_none()))
        {
            return Ok(());
        }
        self.add(Source::Files(source), Vec::new())
    }

    pub fn register_native(&self, family: NativeFamily) -> Result<()> {
        let names = family.sample_names();
        self.add(Source::Native(family), names)
    }

    fn python_entries(&self, py: Python<'_>) -> Vec<(u64, Py<PyAny>)> {
        let entries = self.entries.lock();
        entries
            .iter()
            .filter_map(|e| match &e.source {
                Source::Python(obj) => Some((e.id, obj.clone_ref(py))),
                Source::Native(_) | Source::Process(_) | Source::Own | Source::Files(_) => None,
            })
            .collect()
    }

    fn needs_python(&self) -> bool {
        self.entries.lock().iter().any(|e| match &e.source {
            Source::Python(_) | Source::Process(_) => true,
            Source::Native(f) => f.needs_python(),
            Source::Own | Source::Files(_) => false,
        })
    }

    /// The attached phase: refresh function gauges and GC statistics, read every Python collector.
    fn collect_python(&self, py: Python<'_>) -> PyResult<HashMap<u64, Vec<OwnedFamily>>> {
        let (natives, processes): (Vec<NativeFamily>, Vec<Arc<ProcessCollector>>) = {
            let entries = self.entries.lock();
            let natives = entries
                .iter()
                .filter_map(|e| match &e.source {
                    Source::Native(f) if f.needs_python() => Some(f.clone()),
                    _ => None,
                })
                .collect();
            let processes = entries
                .iter()
                .filter_map(|e| match &e.source {
                    Source::Process(p) => Some(p.clone()),
                    _ => None,
                })
                .collect();
            (natives, processes)
        };
        for family in natives {
            family.refresh(py)?;
        }
        for process in processes {
            process.refresh(py)?;
        }
        let mut out = HashMap::new();
        for (id, collector) in self.python_entries(py) {
            let families = collector.bind(py).call_method0("collect")?;
            let mut owned = Vec::new();
            for family in families.try_iter()? {
                owned.push(owned_family(&family?)?);
            }
            out.insert(id, owned);
        }
        Ok(out)
    }

    fn write(&self, sink: &mut dyn SampleSink, python: &HashMap<u64, Vec<OwnedFamily>>, files: &mut Option<Scrape>) {
        let entries = self.entries.lock();
        for entry in entries.iter() {
            match &entry.source {
                Source::Native(family) => {
                    if !files.as_mut().is_some_and(|f| f.native(family, sink)) {
                        family.write(sink)
                    }
                }
                Source::Process(process) => process.write(sink, files.as_ref().and_then(Scrape::pids)),
                Source::Own => super::selfmetrics::write(sink),
                Source::Files(source) => {
                    if let Some(files) = files.as_mut() {
                        files.collector(source, sink);
                    }
                }
                Source::Python(_) => {
                    for family in python.get(&entry.id).into_iter().flatten() {
                        family.write(sink);
                    }
                }
            }
        }
    }

    fn python_parts(&self) -> PyResult<HashMap<u64, Vec<OwnedFamily>>> {
        if !self.needs_python() {
            return Ok(HashMap::new());
        }
        // From a server thread at interpreter exit there is no Python left to ask.
        Python::try_attach(|py| self.collect_python(py)).unwrap_or_else(|| Ok(HashMap::new()))
    }

    /// The multiprocess files this registry shows, read (unlocked) before it is written.
    fn files_parts(&self) -> Option<Scrape> {
        let (natives, sources) = {
            let entries = self.entries.lock();
            let natives = entries
                .iter()
                .any(|e| matches!(&e.source, Source::Native(f) if multiprocess::in_files(f)));
            let sources = entries
                .iter()
                .filter_map(|e| match &e.source {
                    Source::Files(f) => Some(f.path.clone()),
                    _ => None,
                })
                .collect();
            (natives, sources)
        };
        Scrape::read(natives, sources)
    }

    /// Renders in `format`; attaches to Python only when a Python collector needs it.
    pub fn render(&self, format: Format) -> PyResult<Vec<u8>> {
        crate::runtime::hooks::settle();
        let python = self.python_parts()?;
        let mut files = self.files_parts();
        let defaults = self.default_labels.read().clone();
        let mut sink = TextSink::new(format, &defaults);
        self.write(&mut sink, &python, &mut files);
        Ok(sink.finish())
    }

    pub fn snapshot(&self) -> PyResult<Vec<OwnedFamily>> {
        crate::runtime::hooks::settle();
        let python = self.python_parts()?;
        let mut files = self.files_parts();
        let defaults = self.default_labels.read().clone();
        let mut sink = SnapshotSink::new(&defaults);
        self.write(&mut sink, &python, &mut files);
        Ok(sink.families)
    }

    /// What a scrape answers: format from `Accept`, gzip when `Accept-Encoding` allows it.
    pub fn exposition(&self, accept: Option<&str>, accept_encoding: Option<&str>) -> PyResult<Exposition> {
        let format = negotiate(accept);
        let body = self.render(format)?;
        let gzip = crate::transport::gzip::accepted(accept_encoding);
        let body = if gzip {
            crate::transport::gzip::compress(&body)
        } else {
            body
        };
        Ok(Exposition {
            body,
            content_type: format.content_type(),
            gzip,
        })
    }
}

/// A prometheus_client `Metric` (from a custom collector) as an owned family.
fn owned_family(family: &Bound<'_, PyAny>) -> PyResult<OwnedFamily> {
    let name: String = family.getattr("name")?.extract()?;
    let kind = Kind::parse(&family.getattr("type")?.extract::<String>()?);
    let desc = FamilyDesc {
        help: family.getattr("documentation")?.extract()?,
        unit: family.getattr("unit").and_then(|u| u.extract()).unwrap_or_default(),
        kind,
        labelnames: Box::new([]),
        name,
    };
    let mut samples = Vec::new();
    for sample in family.getattr("samples")?.try_iter()? {
        let sample = sample?;
        let sample_name: String = sample.getattr("name")?.extract()?;
        let suffix = sample_name
            .strip_prefix(desc.name.as_str())
            .unwrap_or(&sample_name)
            .to_string();
        let labels: Vec<(String, String)> = sample
            .getattr("labels")?
            .extract::<HashMap<String, String>>()?
            .into_iter()
            .collect();
        let mut labels = labels;
        labels.sort();
        let timestamp = optional_float(&sample.getattr("timestamp")?)?;
        let exemplar = sample.getattr("exemplar")?;
        let exemplar = if exemplar.is_none() {
            None
        } else {
            let mut labels: Vec<(String, String)> = exemplar
                .getattr("labels")?
                .extract::<HashMap<String, String>>()?
                .into_iter()
                .collect();
            labels.sort();
            Some(Exemplar {
                labels,
                value: exemplar.getattr("value")?.extract()?,
                timestamp: optional_float(&exemplar.getattr("timestamp")?)?,
            })
        };
        let value: f64 = sample.getattr("value")?.extract()?;
        samples.push(OwnedSample {
            suffix,
            labels,
            value,
            timestamp,
            exemplar,
        });
    }
    Ok(OwnedFamily { desc, samples })
}

fn optional_float(value: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    if value.is_none() {
        return Ok(None);
    }
    // prometheus_client's Timestamp has __float__.
    Ok(Some(
        value
            .call_method0("__float__")
            .and_then(|f| f.extract())
            .or_else(|_| value.extract())?,
    ))
}

/// A registry as prometheus_client users know it, with the guide's `prefix`, `default_labels`
/// and a per-metric cardinality limit.
#[pyclass(frozen, name = "Registry", module = "ferrotel._core")]
pub struct PyRegistry {
    pub core: Arc<RegistryCore>,
}

static DEFAULT_REGISTRY: PyOnceLock<Py<PyRegistry>> = PyOnceLock::new();

pub fn default_registry(py: Python<'_>) -> &Py<PyRegistry> {
    DEFAULT_REGISTRY.get_or_init(py, || {
        Py::new(
            py,
            PyRegistry {
                core: Arc::new(new_core(String::new(), Vec::new(), DEFAULT_CARDINALITY_LIMIT)),
            },
        )
        .expect("allocating the default registry")
    })
}

fn new_core(prefix: String, default_labels: Vec<(String, String)>, cardinality_limit: usize) -> RegistryCore {
    RegistryCore {
        entries: Mutex::new(Vec::new()),
        next_id: Mutex::new(0),
        prefix: RwLock::new(prefix),
        default_labels: RwLock::new(default_labels),
        cardinality_limit,
    }
}

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

#[pymethods]
impl PyRegistry {
    #[new]
    #[pyo3(signature = (auto_describe=false, target_info=None, *, prefix="".to_string(), default_labels=None, cardinality_limit=DEFAULT_CARDINALITY_LIMIT))]
    fn new(
        auto_describe: bool,
        target_info: Option<&Bound<'_, PyDict>>,
        prefix: String,
        default_labels: Option<&Bound<'_, PyDict>>,
        cardinality_limit: usize,
    ) -> Result<Self> {
        let _ = auto_describe;
        if target_info.is_some() {
            return Err(Error::invalid("target_info is not supported; use default_labels"));
        }
        if !prefix.is_empty() {
            super::validate::metric_name(&prefix)?;
        }
        let labels = match default_labels {
            Some(d) => read_labels(d)?,
            None => Vec::new(),
        };
        if cardinality_limit == 0 {
            return Err(Error::invalid("cardinality_limit must be at least 1, got 0"));
        }
        Ok(Self {
            core: Arc::new(new_core(prefix, labels, cardinality_limit)),
        })
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

    /// Changes the prefix (for metrics declared from now on) and the default labels (for every
    /// series from the next scrape on): what `ferrotel.configure(metrics=...)` sets.
    #[pyo3(signature = (*, prefix=None, default_labels=None))]
    fn configure(&self, prefix: Option<String>, default_labels: Option<&Bound<'_, PyDict>>) -> Result<()> {
        if let Some(prefix) = &prefix {
            if !prefix.is_empty() {
                super::validate::metric_name(prefix)?;
            }
        }
        let labels = match default_labels {
            Some(d) => Some(read_labels(d)?),
            None => None,
        };
        if let Some(labels) = &labels {
            let entries = self.core.entries.lock();
            for entry in entries.iter() {
                if let Source::Native(family) = &entry.source {
                    if let Some((name, _)) = labels.iter().find(|(n, _)| family.desc().labelnames.contains(n)) {
                        return Err(Error::invalid(format!(
                            "default label {name:?} is already a label of metric {:?}",
                            family.desc().name
                        )));
                    }
                }
            }
        }
        if let Some(prefix) = prefix {
            *self.core.prefix.write() = prefix;
        }
        if let Some(labels) = labels {
            *self.core.default_labels.write() = labels;
        }
        Ok(())
    }

    #[getter]
    fn cardinality_limit(&self) -> usize {
        self.core.cardinality_limit
    }

    /// Registers a ferrotel metric or any object with `collect()`.
    fn register(&self, collector: &Bound<'_, PyAny>) -> Result<()> {
        if let Some(family) = NativeFamily::from_object(collector) {
            return self.core.register_native(family);
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
        let described = if collector.hasattr("describe")? {
            collector.call_method0("describe")?
        } else {
            collector.call_method0("collect")?
        };
        let mut names = Vec::new();
        for family in described.try_iter()? {
            let family = owned_family(&family?)?;
            names.extend(super::native::sample_names(&family.desc));
        }
        self.core.add(Source::Python(collector.clone().unbind()), names)
    }

    /// Adds the process and Python runtime metrics (the guide's `DefaultMetrics`).
    pub fn register_process_metrics(&self, py: Python<'_>) -> Result<()> {
        if self
            .core
            .entries
            .lock()
            .iter()
            .any(|e| matches!(e.source, Source::Process(_)))
        {
            return Ok(());
        }
        let collector = Arc::new(ProcessCollector::new(py)?);
        self.core
            .add(Source::Process(collector), ProcessCollector::sample_names())
    }

    /// Whether this metric (or collector) is registered here.
    fn __contains__(&self, collector: &Bound<'_, PyAny>) -> bool {
        let native = NativeFamily::from_object(collector);
        self.core.entries.lock().iter().any(|e| match (&e.source, &native) {
            (Source::Native(f), Some(n)) => f.same(n),
            (Source::Python(obj), None) => obj.is(collector),
            (Source::Files(f), None) => f.object.as_ref().is_some_and(|o| o.is(collector)),
            _ => false,
        })
    }

    fn unregister(&self, collector: &Bound<'_, PyAny>) -> Result<()> {
        let native = NativeFamily::from_object(collector);
        let removed = {
            let mut entries = self.core.entries.lock();
            let position = entries.iter().position(|e| match (&e.source, &native) {
                (Source::Native(f), Some(n)) => f.same(n),
                (Source::Python(obj), None) => obj.is(collector),
                (Source::Files(f), None) => f.object.as_ref().is_some_and(|o| o.is(collector)),
                _ => false,
            });
            position.map(|i| entries.remove(i))
        };
        match removed {
            Some(entry) => {
                drop(entry);
                Ok(())
            }
            None => Err(Error::invalid(format!("{} is not registered", collector.repr()?))),
        }
    }

    /// The families as prometheus_client `Metric` objects, so this registry can be registered
    /// in a prometheus_client registry.
    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let families = py.detach(|| self.core.snapshot())?;
        to_prometheus_families(py, &families)
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
        for family in py.detach(|| self.core.snapshot())? {
            for sample in &family.samples {
                if family.desc.name.len() + sample.suffix.len() != name.len()
                    || !name.starts_with(&family.desc.name)
                    || !name.ends_with(&sample.suffix)
                {
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
        let found = {
            let entries = self.core.entries.lock();
            entries.iter().find_map(|e| match &e.source {
                Source::Native(f)
                    if candidates.contains(&f.desc().name) && kind.is_none_or(|k| f.desc().kind.as_str() == k) =>
                {
                    Some(f.clone())
                }
                _ => None,
            })
        };
        found.map(|f| f.to_object(py)).transpose()
    }

    /// The exposition for a scrape: `(body, content_type, content_encoding)`.
    #[pyo3(signature = (accept=None, accept_encoding=None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        accept: Option<&str>,
        accept_encoding: Option<&str>,
    ) -> PyResult<(Bound<'py, PyBytes>, &'static str, Option<&'static str>)> {
        // Detached while rendering: other Python threads run; a Python collector re-attaches.
        let exposition = py.detach(|| self.core.exposition(accept, accept_encoding))?;
        let encoding = exposition.gzip.then_some("gzip");
        Ok((PyBytes::new(py, &exposition.body), exposition.content_type, encoding))
    }

    fn __repr__(&self) -> String {
        format!(
            "<ferrotel.Registry prefix={:?} metrics={}>",
            self.core.prefix.read(),
            self.core.entries.lock().len()
        )
    }
}

fn read_labels(labels: &Bound<'_, PyDict>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(labels.len());
    for (k, v) in labels.iter() {
        let k: String = k
            .extract()
            .map_err(|_| Error::wrong_type(format!("default label name {k} is not a str")))?;
        super::validate::label_name(&k, &[])?;
        out.push((k, v.str()?.to_str()?.to_string()));
    }
    Ok(out)
}

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
            let labels = PyDict::new(py);
            for (k, v) in &s.labels {
                labels.set_item(k, v)?;
            }
            let exemplar = match &s.exemplar {
                Some(e) => {
                    let el = PyDict::new(py);
                    for (k, v) in &e.labels {
                        el.set_item(k, v)?;
                    }
                    Some(exemplar_cls.call1((el, e.value, e.timestamp))?)
                }
                None => None,
            };
            let name = format!("{}{}", family.desc.name, s.suffix);
            samples.append(sample_cls.call1((name, labels, s.value, s.timestamp, exemplar))?)?;
        }
        metric.setattr("samples", samples)?;
        out.append(metric)?;
    }
    Ok(out)
}

/// The registry a `registry=None` argument names: the one given, or the default REGISTRY.
pub fn registry_core(py: Python<'_>, registry: Option<&Bound<'_, PyRegistry>>) -> Arc<RegistryCore> {
    match registry {
        Some(r) => r.get().core.clone(),
        None => default_registry(py).get().core.clone(),
    }
}

/// The exposition of `registry` in `format`, rendered detached.
fn render_bytes<'py>(
    py: Python<'py>,
    registry: Option<&Bound<'py, PyRegistry>>,
    format: Format,
) -> PyResult<Bound<'py, PyBytes>> {
    let core = registry_core(py, registry);
    let body = py.detach(|| core.render(format))?;
    Ok(PyBytes::new(py, &body))
}

/// `generate_latest(registry=REGISTRY)`: the 0.0.4 text exposition, as prometheus_client names it.
#[pyfunction]
#[pyo3(signature = (registry=None))]
pub fn generate_latest<'py>(
    py: Python<'py>,
    registry: Option<&Bound<'py, PyRegistry>>,
) -> PyResult<Bound<'py, PyBytes>> {
    render_bytes(py, registry, Format::Text004)
}

/// `generate_openmetrics(registry=REGISTRY)`: the OpenMetrics 1.0 exposition.
#[pyfunction]
#[pyo3(signature = (registry=None))]
pub fn generate_openmetrics<'py>(
    py: Python<'py>,
    registry: Option<&Bound<'py, PyRegistry>>,
) -> PyResult<Bound<'py, PyBytes>> {
    render_bytes(py, registry, Format::OpenMetrics)
}
