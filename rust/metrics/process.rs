//! The guide's `DefaultMetrics`: process and Python runtime metrics under prometheus_client's
//! names, read at scrape time. Process figures come from `/proc` on Linux (`source` says what the
//! other platforms give), without the GIL; the garbage collector's counts are read with it, in
//! the registry's attached phase. The three parts are
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

/// How each platform reads a process's figures: `/proc` on Linux; `proc_pidinfo`, `getrusage`
/// and `getrlimit` on macOS; `getrusage` and `getrlimit` on other Unix systems; nothing on
/// Windows, where the `process_*` families are left out. A figure a platform cannot give is left
/// out, not reported as zero.
#[cfg(target_os = "linux")]
mod source {
    use super::Figures;

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

    /// CPU seconds, start time, virtual and resident bytes, from `/proc/<pid>/stat`.
    fn stat(proc: &str, figures: &mut Figures) -> Option<()> {
        let stat = std::fs::read_to_string(format!("/proc/{proc}/stat")).ok()?;
        // Fields after the command name, which may hold spaces, in parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok());
        let ticks = sysconf(libc::_SC_CLK_TCK).max(1.0);
        let (user, system, start, virt, rss) = (field(14)?, field(15)?, field(22)?, field(23)?, field(24)?);
        figures.cpu_seconds = Some((user + system) / ticks);
        figures.start_time = Some(boot_time().unwrap_or(0.0) + start / ticks);
        figures.virtual_bytes = Some(virt);
        figures.resident_bytes = Some(rss * sysconf(libc::_SC_PAGESIZE));
        Some(())
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

    /// `pid` None: this process (`/proc/self`).
    pub fn read(pid: Option<u32>, figures: &mut Figures) {
        let proc = pid.map_or_else(|| "self".to_string(), |p| p.to_string());
        stat(&proc, figures);
        figures.open_fds = open_fds(&proc);
        figures.max_fds = max_fds(&proc);
        figures.threads = threads(&proc);
    }
}

/// This process's CPU time (`getrusage`) and soft open-file limit (`getrlimit`): what every Unix
/// gives of the process figures, for this process only.
#[cfg(all(unix, not(target_os = "linux")))]
mod own {
    use super::Figures;

    fn seconds(t: libc::timeval) -> f64 {
        t.tv_sec as f64 + t.tv_usec as f64 / 1e6
    }

    pub fn read(figures: &mut Figures) {
        // SAFETY: `rusage` is a struct of integers, for which all zeros is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage only writes the struct it is given.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            figures.cpu_seconds = Some(seconds(usage.ru_utime) + seconds(usage.ru_stime));
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            figures.max_fds = Some(limit.rlim_cur as f64);
        }
    }
}

/// macOS: `proc_pidinfo` gives memory, threads, start time and open descriptors for any process
/// of the same user; CPU time and the open-file limit come from `getrusage`/`getrlimit`, so only
/// for this process (`proc_pidinfo`'s CPU times are in Mach time units).
#[cfg(target_os = "macos")]
mod source {
    use std::mem::{size_of, MaybeUninit};

    use super::Figures;

    /// One `proc_pidinfo` record; None if the call gives less than a whole one. Only for the
    /// records of plain integers used here (`proc_taskinfo`, `proc_bsdinfo`).
    fn info<T>(pid: libc::c_int, flavor: libc::c_int) -> Option<T> {
        let mut out = MaybeUninit::<T>::zeroed();
        let size = size_of::<T>() as libc::c_int;
        // SAFETY: the kernel writes at most `size` bytes into `out`.
        let written = unsafe { libc::proc_pidinfo(pid, flavor, 0, out.as_mut_ptr().cast(), size) };
        // SAFETY: T is a struct of integers, so the zeroed or written bytes are a valid value.
        (written == size).then(|| unsafe { out.assume_init() })
    }

    fn open_fds(pid: libc::c_int) -> Option<f64> {
        let record = size_of::<libc::proc_fdinfo>();
        // SAFETY: with no buffer, proc_pidinfo only returns the size the list needs.
        let needed = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
        if needed <= 0 {
            return None;
        }
        // Room for a few descriptors opened between the two calls.
        let mut list: Vec<libc::proc_fdinfo> = Vec::with_capacity(needed as usize / record + 16);
        let capacity = (list.capacity() * record) as libc::c_int;
        // SAFETY: the kernel writes at most `capacity` bytes into the vector's buffer.
        let written = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, list.as_mut_ptr().cast(), capacity) };
        (written > 0).then(|| (written as usize / record) as f64)
    }

    /// `pid` None: this process.
    pub fn read(pid: Option<u32>, figures: &mut Figures) {
        let own = std::process::id();
        let target = pid.unwrap_or(own);
        if target == own {
            super::own::read(figures);
        }
        let Ok(target) = libc::c_int::try_from(target) else {
            return;
        };
        if let Some(task) = info::<libc::proc_taskinfo>(target, libc::PROC_PIDTASKINFO) {
            figures.virtual_bytes = Some(task.pti_virtual_size as f64);
            figures.resident_bytes = Some(task.pti_resident_size as f64);
            figures.threads = Some(f64::from(task.pti_threadnum));
        }
        if let Some(bsd) = info::<libc::proc_bsdinfo>(target, libc::PROC_PIDTBSDINFO) {
            figures.start_time = Some(bsd.pbi_start_tvsec as f64 + bsd.pbi_start_tvusec as f64 / 1e6);
        }
        figures.open_fds = open_fds(target);
    }
}

/// Other Unix systems (the BSDs, ...): CPU time and the open-file limit, for this process.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
mod source {
    use super::Figures;

    /// `pid` None: this process.
    pub fn read(pid: Option<u32>, figures: &mut Figures) {
        if pid.is_none_or(|p| p == std::process::id()) {
            super::own::read(figures);
        }
    }
}

/// Windows: nothing (the standard library gives none of these figures).
#[cfg(not(unix))]
mod source {
    use super::Figures;

    pub fn read(_: Option<u32>, _: &mut Figures) {}
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

/// One process's figures: this one's, or, in the multiprocess mode, each live worker's, labelled
/// with its pid. None: not available on this platform (or the process is gone).
#[derive(Default)]
struct Figures {
    pid: Option<String>,
    cpu_seconds: Option<f64>,
    start_time: Option<f64>,
    virtual_bytes: Option<f64>,
    resident_bytes: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    threads: Option<f64>,
}

impl Figures {
    fn read(pid: Option<u32>) -> Self {
        let mut figures = Figures {
            pid: pid.map(|p| p.to_string()),
            ..Figures::default()
        };
        source::read(pid, &mut figures);
        figures
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
            [own].iter().chain(others).map(|p| Figures::read(Some(*p))).collect()
        }
    };
    let p = processes.as_slice();
    family(
        sink,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        Kind::Gauge,
        p,
        |p| p.virtual_bytes,
    );
    family(
        sink,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        Kind::Gauge,
        p,
        |p| p.resident_bytes,
    );
    family(
        sink,
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        Kind::Gauge,
        p,
        |p| p.start_time,
    );
    family(
        sink,
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        Kind::Counter,
        p,
        |p| p.cpu_seconds,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures each platform promises (README, "Metrics"), for this process read as itself
    /// and by its pid (the multiprocess mode's way).
    #[test]
    fn this_process_has_the_figures_its_platform_gives() {
        let everything = cfg!(any(target_os = "linux", target_os = "macos"));
        for figures in [Figures::read(None), Figures::read(Some(std::process::id()))] {
            assert_eq!(figures.cpu_seconds.is_some(), cfg!(unix));
            assert_eq!(figures.max_fds.is_some(), cfg!(unix));
            assert_eq!(figures.resident_bytes.is_some(), everything);
            assert_eq!(figures.virtual_bytes.is_some(), everything);
            assert_eq!(figures.threads.is_some(), everything);
            assert_eq!(figures.open_fds.is_some(), everything);
            assert_eq!(figures.start_time.is_some(), everything);
            assert!(figures.cpu_seconds.is_none_or(|s| s >= 0.0));
            assert!(figures.resident_bytes.is_none_or(|b| b > 0.0));
            assert!(figures.threads.is_none_or(|t| t >= 1.0));
            assert!(figures.open_fds.is_none_or(|n| n >= 1.0));
            assert!(figures.start_time.is_none_or(|t| t > 0.0));
        }
    }

    /// A process that does not exist has no figures, not zeros.
    #[test]
    fn a_missing_process_has_no_figures() {
        let gone = Figures::read(Some(u32::MAX - 1));
        assert!(gone.resident_bytes.is_none() && gone.threads.is_none() && gone.cpu_seconds.is_none());
    }
}
