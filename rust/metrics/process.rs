//! The guide's `DefaultMetrics`: process and Python runtime metrics under prometheus_client's
//! names, read at scrape time. Process figures come from `/proc` without the GIL; the garbage
//! collector's counts are read with it, in the registry's attached phase. The three parts are
//! registered apart, as prometheus_client's `PROCESS_COLLECTOR`, `PLATFORM_COLLECTOR` and
//! `GC_COLLECTOR` are, so each can be unregistered on its own.

use parking_lot::Mutex;
use pyo3::prelude::*;

use super::exposition::{FamilyDesc, Kind, Sample, SampleSink};

#[derive(Clone, Default)]
struct GcGeneration {
    collections: f64,
    collected: f64,
    uncollectable: f64,
}

pub struct ProcessCollector {
    /// `python_info` labels, read once.
    python: Vec<(String, String)>,
    gc: Mutex<Vec<GcGeneration>>,
}

struct ProcStat {
    cpu_seconds: f64,
    start_time: f64,
    virtual_bytes: f64,
    resident_bytes: f64,
}

fn sysconf(name: libc::c_int) -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let value = unsafe { libc::sysconf(name) };
    if value > 0 {
        value as f64
    } else {
        0.0
    }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn proc_stat(proc: &str) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{proc}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let ticks = sysconf(libc::_SC_CLK_TCK).max(1.0);
    Some(ProcStat {
        cpu_seconds: (field(14)? + field(15)?) / ticks,
        start_time: boot_time().unwrap_or(0.0) + field(22)? / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * sysconf(libc::_SC_PAGESIZE),
    })
}

fn max_fds(proc: &str) -> Option<f64> {
    let limits = std::fs::read_to_string(format!("/proc/{proc}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3).and_then(|v| v.parse().ok())
}

fn open_fds(proc: &str) -> Option<f64> {
    Some(std::fs::read_dir(format!("/proc/{proc}/fd")).ok()?.count() as f64)
}

fn threads(proc: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{proc}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// One of the three parts of the process metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `process_*`: CPU, memory, file descriptors, threads, start time.
    Process,
    /// `python_info`.
    Platform,
    /// `python_gc_*`.
    Gc,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Process, Part::Platform, Part::Gc];

    pub fn parse(name: &str) -> Option<Part> {
        match name {
            "process" => Some(Part::Process),
            "platform" => Some(Part::Platform),
            "gc" => Some(Part::Gc),
            _ => None,
        }
    }

    /// The sample names the part writes, which other collectors must not share.
    pub fn sample_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            Part::Process => &[
                "process_virtual_memory_bytes",
                "process_resident_memory_bytes",
                "process_start_time_seconds",
                "process_cpu_seconds",
                "process_cpu_seconds_total",
                "process_open_fds",
                "process_max_fds",
                "process_threads",
            ],
            Part::Platform => &["python_info"],
            Part::Gc => &[
                "python_gc_objects_collected",
                "python_gc_objects_collected_total",
                "python_gc_objects_uncollectable",
                "python_gc_objects_uncollectable_total",
                "python_gc_collections",
                "python_gc_collections_total",
            ],
        };
        names.iter().map(|s| s.to_string()).collect()
    }
}

/// One process's figures: this one's (`/proc/self`), or, in the multiprocess mode, each live
/// worker's (`/proc/<pid>`), labelled with its pid.
struct Figures {
    pid: Option<String>,
    stat: Option<ProcStat>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    threads: Option<f64>,
}

impl Figures {
    fn read(pid: Option<String>) -> Self {
        let proc = pid.as_deref().unwrap_or("self");
        Self {
            stat: proc_stat(proc),
            open_fds: open_fds(proc),
            max_fds: max_fds(proc),
            threads: threads(proc),
            pid,
        }
    }
}

fn family(
    sink: &mut dyn SampleSink,
    name: &str,
    help: &str,
    kind: Kind,
    processes: &[Figures],
    read: impl Fn(&Figures) -> Option<f64>,
) {
    let samples: Vec<(&Figures, f64)> = processes.iter().filter_map(|p| Some((p, read(p)?))).collect();
    if samples.is_empty() {
        return;
    }
    let labelnames: Box<[String]> = processes[0]
        .pid
        .as_ref()
        .map(|_| "pid".to_string())
        .into_iter()
        .collect();
    let desc = FamilyDesc::new(name, help, kind, labelnames);
    sink.family(&desc);
    let suffix = if kind == Kind::Counter { "_total" } else { "" };
    for (process, value) in samples {
        sink.sample(
            &desc,
            &Sample::new(suffix, &desc.labelnames, process.pid.as_slice(), value),
        );
    }
}

impl ProcessCollector {
    pub fn new(py: Python<'_>) -> PyResult<Self> {
        let info = py.import("sys")?.getattr("version_info")?;
        let platform = py.import("platform")?;
        let python = vec![
            (
                "implementation".to_string(),
                platform.call_method0("python_implementation")?.extract()?,
            ),
            ("major".to_string(), info.getattr("major")?.str()?.to_string()),
            ("minor".to_string(), info.getattr("minor")?.str()?.to_string()),
            ("patchlevel".to_string(), info.getattr("micro")?.str()?.to_string()),
            (
                "version".to_string(),
                platform.call_method0("python_version")?.extract()?,
            ),
        ];
        Ok(Self {
            python,
            gc: Mutex::new(Vec::new()),
        })
    }

    /// Reads the garbage collector's statistics; called attached, holding no lock.
    pub fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let stats = py.import("gc")?.call_method0("get_stats")?;
        let mut generations = Vec::new();
        for generation in stats.try_iter()? {
            let generation = generation?;
            let get = |key: &str| -> PyResult<f64> { generation.get_item(key)?.extract() };
            generations.push(GcGeneration {
                collections: get("collections")?,
                collected: get("collected")?,
                uncollectable: get("uncollectable")?,
            });
        }
        *self.gc.lock() = generations;
        Ok(())
    }

    /// One part; in the multiprocess mode (`pids`: the live workers), the process figures of each
    /// worker with a `pid` label, and this one's garbage collector statistics with its own.
    pub fn write(&self, part: Part, sink: &mut dyn SampleSink, pids: Option<&[u32]>) {
        match part {
            Part::Process => write_process(sink, pids),
            Part::Platform => self.write_platform(sink),
            Part::Gc => self.write_gc(sink, pids.map(|_| std::process::id().to_string())),
        }
    }

    fn write_platform(&self, sink: &mut dyn SampleSink) {
        let names: Vec<String> = self.python.iter().map(|(k, _)| k.clone()).collect();
        let values: Vec<String> = self.python.iter().map(|(_, v)| v.clone()).collect();
        let desc = FamilyDesc::new(
            "python_info",
            "Python platform information",
            Kind::Gauge,
            names.clone().into_boxed_slice(),
        );
        sink.family(&desc);
        sink.sample(&desc, &Sample::new("", &names, &values, 1.0));
    }

    fn write_gc(&self, sink: &mut dyn SampleSink, pid: Option<String>) {
        let gc = self.gc.lock().clone();
        let label: Vec<String> = pid
            .iter()
            .map(|_| "pid".to_string())
            .chain(["generation".to_string()])
            .collect();
        for (name, help, read) in [
            (
                "python_gc_objects_collected",
                "Objects collected during gc",
                (|g: &GcGeneration| g.collected) as fn(&GcGeneration) -> f64,
            ),
            (
                "python_gc_objects_uncollectable",
                "Uncollectable objects found during GC",
                |g| g.uncollectable,
            ),
            (
                "python_gc_collections",
                "Number of times this generation was collected",
                |g| g.collections,
            ),
        ] {
            let desc = FamilyDesc::new(name, help, Kind::Counter, label.clone().into_boxed_slice());
            sink.family(&desc);
            for (i, generation) in gc.iter().enumerate() {
                let value: Vec<String> = pid.iter().cloned().chain([i.to_string()]).collect();
                sink.sample(&desc, &Sample::new("_total", &label, &value, read(generation)));
            }
        }
    }
}

fn write_process(sink: &mut dyn SampleSink, pids: Option<&[u32]>) {
    let processes: Vec<Figures> = match pids {
        None => vec![Figures::read(None)],
        Some(pids) => {
            let own = std::process::id();
            let others = pids.iter().filter(|p| **p != own);
            [own]
                .iter()
                .chain(others)
                .map(|p| Figures::read(Some(p.to_string())))
                .collect()
        }
    };
    let p = processes.as_slice();
    let stat = |f: fn(&ProcStat) -> f64| move |p: &Figures| p.stat.as_ref().map(f);
    family(
        sink,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        Kind::Gauge,
        p,
        stat(|s| s.virtual_bytes),
    );
    family(
        sink,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        Kind::Gauge,
        p,
        stat(|s| s.resident_bytes),
    );
    family(
        sink,
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        Kind::Gauge,
        p,
        stat(|s| s.start_time),
    );
    family(
        sink,
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        Kind::Counter,
        p,
        stat(|s| s.cpu_seconds),
    );
    family(
        sink,
        "process_open_fds",
        "Number of open file descriptors.",
        Kind::Gauge,
        p,
        |p| p.open_fds,
    );
    family(
        sink,
        "process_max_fds",
        "Maximum number of open file descriptors.",
        Kind::Gauge,
        p,
        |p| p.max_fds,
    );
    family(
        sink,
        "process_threads",
        "Number of OS threads in the process.",
        Kind::Gauge,
        p,
        |p| p.threads,
    );
}
