//! Info (a constant set of key-value labels) and Enum (one state of a state set).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use super::declare::declare_family;
use super::exposition::{FamilyDesc, Kind, Sample, SampleSink};
use super::family::{Core, Family};
use super::native::{metric_common_methods, NativeFamily};
use super::registry::RegistryArg;
use super::validate;
use super::validate::{NameArg, TextArg};
use crate::runtime::errors::{Error, Result};

#[derive(Default)]
pub struct InfoCore {
    pairs: Mutex<Vec<(String, String)>>,
}

impl Core for InfoCore {
    type Config = ();

    fn new(_: &()) -> Self {
        Self::default()
    }

    fn write(&self, desc: &FamilyDesc, labels: &[String], sink: &mut dyn SampleSink) {
        let pairs = self.pairs.lock();
        let mut names: Vec<String> = desc.labelnames.to_vec();
        let mut values: Vec<String> = labels.to_vec();
        for (k, v) in pairs.iter() {
            names.push(k.clone());
            values.push(v.clone());
        }
        drop(pairs);
        sink.sample(desc, &Sample::new("_info", &names, &values, 1.0));
    }
}

/// prometheus_client's `Info`: `build_info.info({"version": "1.2"})`.
#[pyclass(frozen, name = "Info", module = "ferrotel._core")]
pub struct PyInfo {
    pub family: Arc<Family<InfoCore>>,
    pub child: Option<Arc<InfoCore>>,
}

metric_common_methods!(PyInfo, InfoCore, Info);

#[pymethods]
impl PyInfo {
    #[new]
    #[pyo3(signature = (name, documentation=TextArg::default(), labelnames=None, namespace=NameArg::default(), subsystem=NameArg::default(), unit=NameArg::default(), registry=RegistryArg::Default, _labelvalues=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: NameArg,
        documentation: TextArg,
        labelnames: Option<&Bound<'_, PyAny>>,
        namespace: NameArg,
        subsystem: NameArg,
        unit: NameArg,
        registry: RegistryArg,
        _labelvalues: Option<&Bound<'_, PyTuple>>,
    ) -> Result<Self> {
        let (family, child) = declare_family(
            py,
            Kind::Info,
            &name.0,
            &documentation.0,
            labelnames,
            &namespace.0,
            &subsystem.0,
            &unit.0,
            registry,
            &[],
            (),
            NativeFamily::Info,
        )?;
        Ok(Self { family, child })
    }

    /// Sets the info labels; they must not repeat the metric's own label names, nor be None.
    fn info(&self, val: &Bound<'_, PyDict>) -> Result<()> {
        let core = self.cell()?;
        let mut pairs = Vec::with_capacity(val.len());
        for (k, v) in val.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| Error::wrong_type(format!("info label {k} is not a str")))?;
            let key = validate::name_text(key, "info label name")?.to_string();
            validate::label_name(&key, &[])?;
            if self.family.desc.labelnames.contains(&key) {
                return Err(Error::invalid(format!(
                    "Overlapping labels for Info metric, metric: {:?} child: {}: {key:?} is a label of {:?}",
                    self.family.desc.labelnames,
                    val.repr()?,
                    self.family.desc.name
                )));
            }
            if v.is_none() {
                return Err(Error::invalid(format!(
                    "Label value cannot be None: info label {key:?} of {:?}",
                    self.family.desc.name
                )));
            }
            let value = v
                .cast::<PyString>()
                .map_err(|_| Error::wrong_type(format!("info value {v} for {key:?} is not a str")))?;
            pairs.push((key, validate::lossy_text(value).into_owned()));
        }
        *core.pairs.lock() = pairs;
        Ok(())
    }
}

pub struct StateSetCore {
    state: AtomicUsize,
    states: Arc<[String]>,
}

impl Core for StateSetCore {
    type Config = Arc<[String]>;

    fn new(states: &Arc<[String]>) -> Self {
        Self {
            state: AtomicUsize::new(0),
            states: states.clone(),
        }
    }

    fn write(&self, desc: &FamilyDesc, labels: &[String], sink: &mut dyn SampleSink) {
        let current = self.state.load(Ordering::Relaxed);
        for (i, state) in self.states.iter().enumerate() {
            let mut sample = Sample::new("", &desc.labelnames, labels, if i == current { 1.0 } else { 0.0 });
            sample.extra = Some((&desc.name, state));
            sink.sample(desc, &sample);
        }
    }
}

/// prometheus_client's `Enum`: `Enum("task_state", "...", states=["starting", "running"])`.
#[pyclass(frozen, name = "Enum", module = "ferrotel._core")]
pub struct PyStateSet {
    pub family: Arc<Family<StateSetCore>>,
    pub child: Option<Arc<StateSetCore>>,
}

metric_common_methods!(PyStateSet, StateSetCore, Enum);

#[pymethods]
impl PyStateSet {
    #[new]
    #[pyo3(signature = (name, documentation=TextArg::default(), labelnames=None, namespace=NameArg::default(), subsystem=NameArg::default(), unit=NameArg::default(), registry=RegistryArg::Default, _labelvalues=None, states=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: NameArg,
        documentation: TextArg,
        labelnames: Option<&Bound<'_, PyAny>>,
        namespace: NameArg,
        subsystem: NameArg,
        unit: NameArg,
        registry: RegistryArg,
        _labelvalues: Option<&Bound<'_, PyTuple>>,
        states: Option<Vec<String>>,
    ) -> Result<Self> {
        let states = states.unwrap_or_default();
        if states.is_empty() {
            return Err(Error::invalid(format!(
                "No states provided for Enum metric: {}",
                name.0
            )));
        }
        let (family, child) = declare_family(
            py,
            Kind::StateSet,
            &name.0,
            &documentation.0,
            labelnames,
            &namespace.0,
            &subsystem.0,
            &unit.0,
            registry,
            &[],
            states.into(),
            NativeFamily::StateSet,
        )?;
        Ok(Self { family, child })
    }

    /// Sets the current state, which must be one of `states`.
    fn state(&self, state: &str) -> PyResult<()> {
        let core = self.cell()?;
        match core.states.iter().position(|s| s == state) {
            Some(i) => {
                core.state.store(i, Ordering::Relaxed);
                Ok(())
            }
            None => Err(Error::invalid(format!(
                "{state:?} is not in list: Enum {:?} has the states {:?}",
                self.family.desc.name, core.states
            ))
            .into()),
        }
    }
}
