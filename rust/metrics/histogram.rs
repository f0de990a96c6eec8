//! Histogram: cumulative buckets, sum and count. `_count` is the sum of the buckets read in the
//! same pass, so a scrape during writes always has `+Inf == _count`.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::created;
use super::declare::{declare_family, number};
use super::exposition::{float_string, Exemplar, FamilyDesc, Kind, Sample, SampleSink, Timestamp};
use super::family::{Core, Family};
use super::multiprocess::Layout;
use super::native::{metric_common_methods, NativeFamily};
use super::registry::RegistryArg;
use super::timer::{Timer, TimerTarget};
use super::validate::{NameArg, TextArg};
use super::value::{unix_now, AtomicCount, AtomicF64, SharedCell};
use crate::runtime::errors::{Error, Result};
use crate::runtime::selfmetrics;

pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    f64::INFINITY,
];

pub struct HistogramConfig {
    /// Upper bounds, ending with +Inf.
    bounds: Arc<[f64]>,
    /// The `le` label of each bound, formatted once.
    le: Arc<[String]>,
}

impl HistogramConfig {
    pub fn new(mut bounds: Vec<f64>) -> Result<Self> {
        if bounds.iter().any(|b| b.is_nan()) {
            return Err(Error::invalid(format!(
                "Buckets not in sorted order: {bounds:?} contain NaN"
            )));
        }
        if bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::invalid(format!(
                "Buckets not in sorted order: {bounds:?} must be in increasing order"
            )));
        }
        if bounds.last() != Some(&f64::INFINITY) {
            bounds.push(f64::INFINITY);
        }
        if bounds.len() < 2 {
            return Err(Error::invalid(format!(
                "Must have at least two buckets: {bounds:?} has only +Inf"
            )));
        }
        let le = bounds.iter().map(|b| float_string(*b)).collect();
        Ok(Self {
            bounds: bounds.into(),
            le,
        })
    }
}

impl HistogramConfig {
    /// A histogram with a negative bucket records negative values, and then has no `_sum` nor
    /// `_count` (OpenMetrics allows no `_sum` there, nor a `_count` without one; the `+Inf`
    /// bucket is the count). prometheus_client leaves out `_sum` only, which its own OpenMetrics
    /// parser then rejects.
    fn negative_buckets(&self) -> bool {
        self.bounds[0] < 0.0
    }
}

/// Whether an observation is left out (and counted): NaN and infinities would make `_sum` NaN
/// or infinite for the rest of the process, and a negative value in a histogram or summary
/// without negative buckets a `_sum` that goes down, which OpenMetrics forbids.
#[inline]
pub fn observation_dropped(value: f64, negative_ok: bool) -> bool {
    if value.is_finite() && (value >= 0.0 || negative_ok) {
        return false;
    }
    let reason = if value.is_nan() {
        "nan_value"
    } else if !value.is_finite() {
        "non_finite_value"
    } else {
        "negative_value"
    };
    selfmetrics::record_drop("metrics", reason);
    true
}

pub struct HistogramCore {
    buckets: Box<[AtomicCount]>,
    exemplars: Box<[Mutex<Option<Exemplar>>]>,
    sum: AtomicF64,
    bounds: Arc<[f64]>,
    le: Arc<[String]>,
    created: AtomicF64,
}

impl HistogramCore {
    #[inline]
    fn bucket(&self, value: f64) -> usize {
        self.bounds.partition_point(|b| *b < value)
    }

    /// Keeps a `{trace_id="..."}` exemplar for the bucket `observe` returned, rewriting the one
    /// already there in place (no allocation once a bucket has had one).
    pub fn set_trace_exemplar(&self, bucket: usize, trace_id: &str, value: f64, timestamp: f64) {
        let Some(slot) = self.exemplars.get(bucket) else {
            return;
        };
        let mut slot = slot.lock();
        match slot.as_mut() {
            Some(existing) if existing.labels.len() == 1 && existing.labels[0].0 == "trace_id" => {
                let id = &mut existing.labels[0].1;
                id.clear();
                id.push_str(trace_id);
                existing.value = value;
                existing.timestamp = Some(Timestamp::seconds(timestamp));
            }
            _ => {
                *slot = Some(Exemplar {
                    labels: vec![("trace_id".to_owned(), trace_id.to_owned())],
                    value,
                    timestamp: Some(Timestamp::seconds(timestamp)),
                });
            }
        }
    }

    #[inline]
    pub fn observe(&self, value: f64) -> usize {
        let i = self.bucket(value);
        self.buckets[i].add(1);
        self.sum.add(value);
        i
    }
}

impl Core for HistogramCore {
    type Config = HistogramConfig;

    fn new(config: &HistogramConfig) -> Self {
        Self {
            buckets: config.bounds.iter().map(|_| AtomicCount::default()).collect(),
            exemplars: config.bounds.iter().map(|_| Mutex::new(None)).collect(),
            sum: AtomicF64::new(0.0),
            bounds: config.bounds.clone(),
            le: config.le.clone(),
            created: AtomicF64::new(unix_now()),
        }
    }

    fn write(&self, desc: &FamilyDesc, labels: &[String], sink: &mut dyn SampleSink) {
        let names = &desc.labelnames;
        let counts: Vec<u64> = self.buckets.iter().map(AtomicCount::get).collect();
        let le = &self.le;
        let mut cumulative = 0u64;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let exemplar = self.exemplars[i].lock();
            let mut sample = Sample::new("_bucket", names, labels, cumulative as f64);
            sample.extra = Some(("le", &le[i]));
            sample.exemplar = exemplar.as_ref();
            sink.sample(desc, &sample);
        }
        if self.bounds[0] >= 0.0 {
            sink.sample(desc, &Sample::new("_count", names, labels, cumulative as f64));
            sink.sample(desc, &Sample::new("_sum", names, labels, self.sum.get()));
        }
        created::write(desc, labels, self.created.get(), sink);
    }

    fn layout(config: &HistogramConfig) -> Option<Layout> {
        Some(Layout::Histogram(config.bounds.clone()))
    }

    fn cells(&self) -> Vec<&dyn SharedCell> {
        let buckets = self.buckets.iter().map(|b| b as &dyn SharedCell);
        buckets.chain([&self.sum as &dyn SharedCell]).collect()
    }
}

/// prometheus_client's `Histogram`, recording in Rust.
#[pyclass(frozen, name = "Histogram", module = "ferrotel._core")]
pub struct PyHistogram {
    pub family: Arc<Family<HistogramCore>>,
    pub child: Option<Arc<HistogramCore>>,
}

metric_common_methods!(PyHistogram, HistogramCore, Histogram);

#[pymethods]
impl PyHistogram {
    #[new]
    #[pyo3(signature = (name, documentation=TextArg::default(), labelnames=None, namespace=NameArg::default(), subsystem=NameArg::default(), unit=NameArg::default(), registry=RegistryArg::Default, _labelvalues=None, buckets=None))]
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
        buckets: Option<&Bound<'_, PyAny>>,
    ) -> Result<Self> {
        let bounds = match buckets {
            None => DEFAULT_BUCKETS.to_vec(),
            Some(b) => {
                let mut bounds = Vec::new();
                for item in b.try_iter()? {
                    // prometheus_client's float(bucket): numbers, and strings such as "0.5".
                    let item = item?;
                    let bound = item
                        .extract::<f64>()
                        .or_else(|_| py.get_type::<pyo3::types::PyFloat>().call1((&item,))?.extract::<f64>());
                    bounds.push(bound.map_err(|_| {
                        Error::wrong_type(format!(
                            "histogram bucket {} is not a number",
                            item.repr().map(|r| r.to_string()).unwrap_or_default()
                        ))
                    })?);
                }
                bounds
            }
        };
        let config = HistogramConfig::new(bounds)?;
        let (family, child) = declare_family(
            py,
            Kind::Histogram,
            &name.0,
            &documentation.0,
            labelnames,
            &namespace.0,
            &subsystem.0,
            &unit.0,
            registry,
            &["le"],
            config,
            NativeFamily::Histogram,
        )?;
        Ok(Self { family, child })
    }

    /// Records one observation; an exemplar dict is kept for the bucket it falls in.
    #[pyo3(signature = (amount, exemplar=None))]
    fn observe(&self, amount: &Bound<'_, PyAny>, exemplar: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let core = self.cell()?;
        let value = number(amount, &self.family.desc.name)?;
        if observation_dropped(value, self.family.config.negative_buckets()) {
            return Ok(());
        }
        let bucket = core.observe(value);
        if let Some(labels) = exemplar {
            *core.exemplars[bucket].lock() = Some(super::declare::exemplar(labels, value)?);
        }
        Ok(())
    }

    /// Observes the duration in seconds of a block or decorated function.
    fn time(slf: &Bound<'_, Self>) -> PyResult<Timer> {
        Ok(Timer::new(
            slf.clone().into_any().unbind(),
            slf.get().child.clone().map(TimerTarget::Histogram),
        ))
    }

    #[getter(_upper_bounds)]
    fn upper_bounds(&self) -> Vec<f64> {
        self.family.config.bounds.to_vec()
    }
}
