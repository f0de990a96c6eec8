//! The multiprocess mode (gunicorn, `uvicorn --workers`): every worker's counters, gauges,
//! histograms and summaries live in a memory-mapped file of its own in one directory, updated
//! with atomic operations from Rust, and any worker's scrape merges the directory's files, as
//! prometheus_client's multiprocess mode does but without a lock, a system call or Python per
//! update. `cells` points metric cells into files, `file` writes one, `format` is their bytes,
//! `merge` and `archive` read a directory and fold dead processes' files, `sys` the system calls.

mod archive;
mod cells;
mod file;
mod format;
mod merge;
mod sys;

use std::collections::HashSet;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyList;

pub use cells::{attach, enabled, track};

use super::exposition::SnapshotSink;
use super::native::NativeFamily;
use super::registry::{default_registry, to_prometheus_families};
use crate::runtime::errors::{Error, Result};
use crate::runtime::selfmetrics;

/// A gauge's `multiprocess_mode`, as prometheus_client names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum GaugeMode {
    #[default]
    All,
    LiveAll,
    Min,
    LiveMin,
    Max,
    LiveMax,
    Sum,
    LiveSum,
    MostRecent,
    LiveMostRecent,
}

const MODES: [(&str, GaugeMode); 10] = [
    ("all", GaugeMode::All),
    ("liveall", GaugeMode::LiveAll),
    ("min", GaugeMode::Min),
    ("livemin", GaugeMode::LiveMin),
    ("max", GaugeMode::Max),
    ("livemax", GaugeMode::LiveMax),
    ("sum", GaugeMode::Sum),
    ("livesum", GaugeMode::LiveSum),
    ("mostrecent", GaugeMode::MostRecent),
    ("livemostrecent", GaugeMode::LiveMostRecent),
];

impl GaugeMode {
    pub fn parse(name: &str) -> Result<Self> {
        MODES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid multiprocess mode: {name}: not one of {:?}",
                    MODES.iter().map(|(n, _)| *n).collect::<Vec<_>>()
                ))
            })
    }

    fn from_code(code: u8) -> Option<Self> {
        MODES.get(usize::from(code)).map(|(_, mode)| *mode)
    }

    /// Only live processes count: a dead one's value is dropped.
    pub fn live(self) -> bool {
        matches!(
            self,
            Self::LiveAll | Self::LiveMin | Self::LiveMax | Self::LiveSum | Self::LiveMostRecent
        )
    }

    /// One series per process, with a `pid` label.
    pub fn per_pid(self) -> bool {
        matches!(self, Self::All | Self::LiveAll)
    }

    /// The time of the last write is kept beside the value.
    pub fn stamped(self) -> bool {
        matches!(self, Self::MostRecent | Self::LiveMostRecent)
    }
}

/// How a metric type's cells lie in a file, and so how they merge.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// The count.
    Counter,
    /// The value, then the time it was set when the mode keeps it.
    Gauge(GaugeMode),
    /// A count per bucket (not cumulative), then the sum.
    Histogram(Arc<[f64]>),
    /// The count, then the sum.
    Summary,
}

impl Layout {
    pub fn words(&self) -> usize {
        match self {
            Layout::Counter => 1,
            Layout::Gauge(mode) => 1 + usize::from(mode.stamped()),
            Layout::Histogram(bounds) => bounds.len() + 1,
            Layout::Summary => 2,
        }
    }

    pub fn stamped(&self) -> bool {
        matches!(self, Layout::Gauge(mode) if mode.stamped())
    }

    fn same_kind(&self, other: &Layout) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Reports a problem once per file (or directory) and kind.
fn report_once(kind: &str, path: &Path, why: &dyn Display) {
    static REPORTED: Mutex<Option<HashSet<(String, PathBuf)>>> = Mutex::new(None);
    if REPORTED
        .lock()
        .get_or_insert_with(HashSet::new)
        .insert((kind.to_owned(), path.to_owned()))
    {
        eprintln!(
            "ferrotel: multiprocess file {} cannot be {kind} ({why}); it is left out. Further \
             problems are counted in ferrotel_dropped_total{{signal=\"metrics\",reason=\"multiprocess_{kind}\"}}.",
            path.display()
        );
    }
}

/// A file a scrape could not read: left out, counted, reported once; the scrape goes on.
fn unreadable(path: &Path, why: &dyn Display) {
    selfmetrics::record_drop("metrics", "multiprocess_read");
    report_once("read", path, why);
}

/// A file this process could not write: the series stays in this process only.
fn unwritable(path: &Path, why: &dyn Display) {
    selfmetrics::record_drop("metrics", "multiprocess_write");
    report_once("written", path, why);
}

/// Whether `family`'s numbers are in the directory's files rather than only here.
pub fn in_files(family: &NativeFamily) -> bool {
    !matches!(family, NativeFamily::Info(_) | NativeFamily::StateSet(_))
}

/// A registry's source of merged files: a `MultiProcessCollector`'s directory, or (for the
/// default REGISTRY in the multiprocess mode) whichever directory is set.
pub struct FilesSource {
    pub path: Option<PathBuf>,
    pub object: Option<Py<PyAny>>,
}

/// What one scrape of a registry read from multiprocess directories.
pub struct Scrape {
    active: Option<PathBuf>,
    dirs: Vec<(PathBuf, merge::Merged)>,
}

impl Scrape {
    /// Reads the directories a registry needs: its collectors', and the directory set, when
    /// it holds metrics whose numbers are there (`natives`). None when there are none.
    pub fn read(natives: bool, sources: Vec<Option<PathBuf>>) -> Option<Scrape> {
        let active = cells::active();
        let natives = natives.then(|| active.clone()).flatten();
        let mut dirs: Vec<(PathBuf, merge::Merged)> = Vec::new();
        for path in sources
            .into_iter()
            .map(|p| p.or_else(|| active.clone()))
            .chain([natives])
        {
            match path {
                Some(path) if !dirs.iter().any(|(p, _)| *p == path) => {
                    let merged = archive::read_dir(&path);
                    dirs.push((path, merged));
                }
                _ => {}
            }
        }
        (!dirs.is_empty()).then_some(Scrape { dirs, active })
    }

    fn merged(&mut self, path: Option<&Path>) -> Option<&mut merge::Merged> {
        let path = path.or(self.active.as_deref())?;
        self.dirs.iter_mut().find(|(p, _)| p == path).map(|(_, m)| m)
    }

    /// Writes a registered metric from the files; false when they do not have it.
    pub fn native(&mut self, family: &NativeFamily, sink: &mut dyn super::exposition::SampleSink) -> bool {
        in_files(family)
            && self
                .merged(None)
                .is_some_and(|m| m.write_family(&family.desc().name, sink))
    }

    /// Writes what a collector's directory has that the registry's metrics did not write.
    pub fn collector(&mut self, source: &FilesSource, sink: &mut dyn super::exposition::SampleSink) {
        if let Some(merged) = self.merged(source.path.as_deref()) {
            merged.write_rest(sink);
        }
    }

    /// The live processes of the directory set (for per-process metrics with a `pid` label).
    pub fn pids(&self) -> Option<&[u32]> {
        let active = self.active.as_deref()?;
        self.dirs
            .iter()
            .find(|(p, _)| p == active)
            .map(|(_, m)| m.pids.as_slice())
    }
}

fn directory(path: &Path) -> Result<PathBuf> {
    sys::supported().map_err(|e| Error::Os(e.to_string()))?;
    match path.canonicalize() {
        Ok(p) if p.is_dir() => Ok(p),
        _ => Err(Error::invalid(format!(
            "multiprocess directory {:?} is not a directory",
            path.display().to_string()
        ))),
    }
}

/// `_multiprocess_dir(path, attach_existing=True)`: where metrics keep their numbers from now
/// on (None: in this process). With `attach_existing`, the metrics declared so far move there.
#[pyfunction]
#[pyo3(signature = (path, attach_existing=true))]
pub fn _multiprocess_dir(py: Python<'_>, path: Option<PathBuf>, attach_existing: bool) -> Result<()> {
    let dir = path.as_deref().map(directory).transpose()?;
    if dir.is_some() {
        default_registry(py).get().core.register_files(FilesSource {
            path: None,
            object: None,
        })?;
    }
    py.detach(|| cells::set_directory(dir, attach_existing));
    Ok(())
}

/// Whether this platform has the mode (Unix: `flock` and shared `mmap`); not Windows.
#[pyfunction]
pub fn _multiprocess_supported() -> bool {
    sys::SUPPORTED
}

/// The directory set, if any.
#[pyfunction]
pub fn _multiprocess_active() -> Option<PathBuf> {
    cells::active()
}

/// Folds a dead process's file into the directory's archive (its `live…` gauges dropped), with
/// every other dead process's file still there: one left by a fold that was killed between
/// writing the archive and removing the files is then removed, not forgotten by the new archive
/// (which lists only the files it absorbs) and counted twice. A live process's file is locked,
/// so `pid` still alive is left as it is.
#[pyfunction]
pub fn _mark_process_dead(py: Python<'_>, pid: u32, path: PathBuf) -> Result<()> {
    let dir = directory(&path)?;
    py.detach(|| archive::fold(&dir, |_, _| true, true))
        .map_err(|e| Error::os(format!("folding the file of process {pid}"), e))
}

/// prometheus_client's `MultiProcessCollector`: the merged files of one directory.
#[pyclass(frozen, subclass, name = "MultiProcessCollector", module = "ferrotel._core")]
pub struct PyMultiProcessCollector {
    pub path: PathBuf,
}

#[pymethods]
impl PyMultiProcessCollector {
    #[new]
    fn new(path: PathBuf) -> Result<Self> {
        Ok(Self {
            path: directory(&path)?,
        })
    }

    #[getter(_path)]
    fn path_(&self) -> PathBuf {
        self.path.clone()
    }

    /// The merged families as prometheus_client `Metric` objects.
    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let families = py.detach(|| {
            let mut sink = SnapshotSink::new(&[]);
            archive::read_dir(&self.path).write_rest(&mut sink);
            sink.families
        });
        to_prometheus_families(py, &families)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ferrotel.multiprocess.MultiProcessCollector {:?}>",
            self.path.display().to_string()
        )
    }
}
