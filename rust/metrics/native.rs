//! The native metric families a registry holds, and the methods every metric class shares
//! (`labels`, `remove`, `clear`, `collect`, `describe`), generated once for each class.

use std::sync::Arc;

use pyo3::prelude::*;

use super::counter::{CounterCore, PyCounter};
use super::exposition::{FamilyDesc, Kind, SampleSink};
use super::family::Family;
use super::gauge::{GaugeCore, PyGauge};
use super::histogram::{HistogramCore, PyHistogram};
use super::info::{InfoCore, PyInfo, PyStateSet, StateSetCore};
use super::summary::{PySummary, SummaryCore};

#[derive(Clone)]
pub enum NativeFamily {
    Counter(Arc<Family<CounterCore>>),
    Gauge(Arc<Family<GaugeCore>>),
    Histogram(Arc<Family<HistogramCore>>),
    Summary(Arc<Family<SummaryCore>>),
    Info(Arc<Family<InfoCore>>),
    StateSet(Arc<Family<StateSetCore>>),
}

macro_rules! each {
    ($self:expr, $f:ident => $body:expr) => {
        match $self {
            NativeFamily::Counter($f) => $body,
            NativeFamily::Gauge($f) => $body,
            NativeFamily::Histogram($f) => $body,
            NativeFamily::Summary($f) => $body,
            NativeFamily::Info($f) => $body,
            NativeFamily::StateSet($f) => $body,
        }
    };
}

impl NativeFamily {
    pub fn desc(&self) -> &FamilyDesc {
        each!(self, f => &f.desc)
    }

    pub fn write(&self, sink: &mut dyn SampleSink) {
        each!(self, f => f.write(sink))
    }

    pub fn sample_names(&self) -> Vec<String> {
        sample_names(self.desc())
    }

    pub fn needs_python(&self) -> bool {
        matches!(self, NativeFamily::Gauge(f) if f.config.has_function())
    }

    pub fn refresh(&self, py: Python<'_>) {
        if let NativeFamily::Gauge(f) = self {
            super::gauge::refresh_functions(py, f)
        }
    }

    pub fn same(&self, other: &NativeFamily) -> bool {
        match (self, other) {
            (NativeFamily::Counter(a), NativeFamily::Counter(b)) => Arc::ptr_eq(a, b),
            (NativeFamily::Gauge(a), NativeFamily::Gauge(b)) => Arc::ptr_eq(a, b),
            (NativeFamily::Histogram(a), NativeFamily::Histogram(b)) => Arc::ptr_eq(a, b),
            (NativeFamily::Summary(a), NativeFamily::Summary(b)) => Arc::ptr_eq(a, b),
            (NativeFamily::Info(a), NativeFamily::Info(b)) => Arc::ptr_eq(a, b),
            (NativeFamily::StateSet(a), NativeFamily::StateSet(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub fn from_object(obj: &Bound<'_, PyAny>) -> Option<NativeFamily> {
        if let Ok(m) = obj.cast::<PyCounter>() {
            return Some(NativeFamily::Counter(m.get().family.clone()));
        }
        if let Ok(m) = obj.cast::<PyGauge>() {
            return Some(NativeFamily::Gauge(m.get().family.clone()));
        }
        if let Ok(m) = obj.cast::<PyHistogram>() {
            return Some(NativeFamily::Histogram(m.get().family.clone()));
        }
        if let Ok(m) = obj.cast::<PySummary>() {
            return Some(NativeFamily::Summary(m.get().family.clone()));
        }
        if let Ok(m) = obj.cast::<PyInfo>() {
            return Some(NativeFamily::Info(m.get().family.clone()));
        }
        if let Ok(m) = obj.cast::<PyStateSet>() {
            return Some(NativeFamily::StateSet(m.get().family.clone()));
        }
        None
    }

    /// A Python handle on this family (the parent, or the only child of an unlabelled family).
    pub fn to_object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        fn make<'py, C: super::family::Core, T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(
            py: Python<'py>,
            family: &Arc<Family<C>>,
            wrap: fn(Arc<Family<C>>, Option<Arc<C>>) -> T,
        ) -> PyResult<Bound<'py, PyAny>> {
            let child = family.unlabelled().map(|c| c.core.clone());
            Ok(Bound::new(py, wrap(family.clone(), child))?.into_any())
        }
        match self {
            NativeFamily::Counter(f) => make(py, f, |family, child| PyCounter { family, child }),
            NativeFamily::Gauge(f) => make(py, f, |family, child| PyGauge { family, child }),
            NativeFamily::Histogram(f) => make(py, f, |family, child| PyHistogram { family, child }),
            NativeFamily::Summary(f) => make(py, f, |family, child| PySummary { family, child }),
            NativeFamily::Info(f) => make(py, f, |family, child| PyInfo { family, child }),
            NativeFamily::StateSet(f) => make(py, f, |family, child| PyStateSet { family, child }),
        }
    }
}

/// The sample names a family may write, which two registered families must not share.
pub fn sample_names(desc: &FamilyDesc) -> Vec<String> {
    let suffixes: &[&str] = match desc.kind {
        Kind::Counter => &["", "_total", "_created"],
        Kind::Histogram => &["", "_bucket", "_count", "_sum", "_created"],
        Kind::GaugeHistogram => &["", "_bucket", "_gcount", "_gsum"],
        Kind::Summary => &["", "_count", "_sum", "_created"],
        Kind::Info => &["", "_info"],
        Kind::Gauge | Kind::StateSet | Kind::Unknown => &[""],
    };
    suffixes.iter().map(|s| format!("{}{s}", desc.name)).collect()
}

/// Methods every metric class has: `labels`, `remove`, `clear`, `collect`, `describe`, reprs.
macro_rules! metric_common_methods {
    ($class:ident, $core:ty, $family:ident) => {
        #[pyo3::pymethods]
        impl $class {
            /// The child for one label set: `labels("GET", "/")` or `labels(method="GET", path="/")`.
            /// Values of any type are written as `str(value)`, as prometheus_client does.
            #[pyo3(signature = (*values, **kwvalues))]
            fn labels(
                &self,
                py: pyo3::Python<'_>,
                values: &pyo3::Bound<'_, pyo3::types::PyTuple>,
                kwvalues: Option<&pyo3::Bound<'_, pyo3::types::PyDict>>,
            ) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>> {
                if self.child.is_some() && !self.family.desc.labelnames.is_empty() {
                    return Err($crate::runtime::errors::Error::invalid(format!(
                        "{} already has labels set; can not chain calls to .labels()",
                        self.family.describe()
                    ))
                    .into());
                }
                let values = self.family.label_values(values, kwvalues)?;
                let child = self.family.child_for(&values);
                if let Some(obj) = child.object.get() {
                    return Ok(obj.clone_ref(py));
                }
                let made = pyo3::Py::new(
                    py,
                    $class {
                        family: self.family.clone(),
                        child: Some(child.core.clone()),
                    },
                )?;
                Ok(child.object.get_or_init(|| made.into_any()).clone_ref(py))
            }

            /// Removes one label set.
            #[pyo3(signature = (*values))]
            fn remove(&self, values: &pyo3::Bound<'_, pyo3::types::PyTuple>) -> pyo3::PyResult<()> {
                let names = &self.family.desc.labelnames;
                if names.is_empty() {
                    return Err($crate::runtime::errors::Error::invalid(format!(
                        "No label names were set when constructing {}",
                        self.family.describe()
                    ))
                    .into());
                }
                if values.len() != names.len() {
                    return Err($crate::runtime::errors::Error::invalid(format!(
                        "Incorrect label count (expected {}, got {}): metric {:?} has the labels {:?}",
                        names.len(),
                        values.repr()?,
                        self.family.desc.name,
                        names
                    ))
                    .into());
                }
                let values = $crate::metrics::declare::positional_values(values.as_slice())?;
                drop(self.family.remove(&values));
                Ok(())
            }

            /// Removes every label set whose labels include these (a partial match), as
            /// prometheus_client's `remove_by_labels({"method": "GET"})`.
            fn remove_by_labels(&self, labels: &pyo3::Bound<'_, pyo3::PyAny>) -> pyo3::PyResult<()> {
                let wanted = $crate::metrics::declare::label_positions(&self.family, labels)?;
                if !wanted.is_empty() {
                    drop(self.family.remove_matching(&wanted));
                }
                Ok(())
            }

            /// Removes every label set.
            fn clear(&self) {
                drop(self.family.clear());
            }

            /// This metric's family as prometheus_client `Metric` objects.
            fn collect<'py>(&self, py: pyo3::Python<'py>) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyList>> {
                let mut sink = $crate::metrics::exposition::SnapshotSink::new(&[]);
                self.family.write(&mut sink);
                $crate::metrics::registry::to_prometheus_families(py, &sink.families)
            }

            fn describe<'py>(&self, py: pyo3::Python<'py>) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyList>> {
                let family = $crate::metrics::exposition::OwnedFamily {
                    desc: self.family.desc.clone(),
                    samples: vec![],
                };
                $crate::metrics::registry::to_prometheus_families(py, &[family])
            }

            #[getter(_name)]
            fn name_(&self) -> &str {
                &self.family.desc.name
            }

            #[getter(_documentation)]
            fn documentation_(&self) -> &str {
                &self.family.desc.help
            }

            #[getter(_labelnames)]
            fn labelnames_(&self) -> Vec<String> {
                self.family.desc.labelnames.to_vec()
            }

            #[getter(_type)]
            fn type_(&self) -> &'static str {
                self.family.desc.kind.as_str()
            }

            /// `ferrotel.Counter(requests)`, as prometheus_client names its own classes.
            fn __repr__(&self) -> String {
                format!("ferrotel.{}({})", stringify!($family), self.family.desc.name)
            }

            /// `counter:requests`, as prometheus_client's `str()` of a metric.
            fn __str__(&self) -> String {
                self.family.describe()
            }
        }

        impl $class {
            /// The child this handle records into; a labelled parent has none.
            #[inline]
            fn cell(&self) -> pyo3::PyResult<&$core> {
                match &self.child {
                    Some(core) => Ok(core),
                    None => Err($crate::runtime::errors::Error::invalid(format!(
                        "{} metric is missing label values: metric {:?} has the labels {:?}; \
                         call .labels(...) first",
                        self.family.desc.kind.as_str(),
                        self.family.desc.name,
                        self.family.desc.labelnames
                    ))
                    .into()),
                }
            }

            #[allow(dead_code)]
            fn cell_arc(&self) -> pyo3::PyResult<std::sync::Arc<$core>> {
                self.cell()?;
                Ok(self.child.clone().expect("checked above"))
            }
        }
    };
}

pub(crate) use metric_common_methods;
