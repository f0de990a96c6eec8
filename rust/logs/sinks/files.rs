//! Log lines to size-rotated files. The sink has one writer thread, the only writer of its file,
//! so lines from many threads never interleave; a batch is written whole lines at a time and the
//! file rotates between lines, never inside one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::logs::format::{FormatSpec, LineFormat};
use crate::logs::pipeline::LogWorker;
use crate::logs::record::LogRecord;
use crate::runtime::errors::{self, Error};
use crate::transport::bytesize::byte_size;
use crate::transport::error::ExportError;
use crate::transport::worker::{BatchConfig, BatchWorker, Exporter};

/// Console and file lines are written within this long of being logged.
const LINE_DELAY: Duration = Duration::from_millis(100);

/// The batching of the console and file sinks.
pub(super) fn line_config(max_queue: usize) -> BatchConfig {
    BatchConfig {
        max_queue,
        max_batch: 512,
        delay: LINE_DELAY,
        ..BatchConfig::default()
    }
}

/// `FileSink(path, max_size="10MB", max_files=5)`: the guide's file output.
#[pyclass(frozen, name = "FileSink", module = "ferrotel._core")]
pub struct FileSink {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    max_queue: usize,
}

#[pymethods]
impl FileSink {
    #[new]
    #[pyo3(signature = (path, max_size=None, max_files=5, *, max_queue=10_000))]
    fn new(
        path: PathBuf,
        max_size: Option<&Bound<'_, PyAny>>,
        max_files: u32,
        max_queue: usize,
    ) -> errors::Result<Self> {
        let max_size = match max_size {
            Some(size) => byte_size(size, "max_size")?,
            None => 10 << 20,
        };
        if max_files == 0 {
            return Err(Error::invalid("max_files must be at least 1, got 0"));
        }
        if max_queue == 0 {
            return Err(Error::invalid("max_queue must be at least 1, got 0"));
        }
        Ok(Self {
            path,
            max_size,
            max_files,
            max_queue,
        })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    #[getter]
    fn max_size(&self) -> u64 {
        self.max_size
    }

    #[getter]
    fn max_files(&self) -> u32 {
        self.max_files
    }

    fn __repr__(&self) -> String {
        format!(
            "FileSink({:?}, max_size={}, max_files={})",
            self.path, self.max_size, self.max_files
        )
    }
}

impl FileSink {
    /// Opens the file once, so a path that cannot be written is a configuration error.
    pub fn start(&self, spec: &FormatSpec) -> errors::Result<LogWorker> {
        open_append(&self.path).map_err(|e| Error::invalid(format!("cannot write log file {:?}: {e}", self.path)))?;
        let (path, max_size, max_files) = (self.path.clone(), self.max_size, self.max_files);
        let spec = spec.clone();
        Ok(BatchWorker::start(
            "logs",
            line_config(self.max_queue),
            Arc::new(move || {
                Box::new(RotatingFile {
                    path: path.clone(),
                    max_size,
                    max_files,
                    format: spec.line(false),
                    file: None,
                    size: 0,
                    buf: Vec::new(),
                })
            }),
        ))
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `app.log`, then `app.log.1` (newest) … `app.log.{max_files - 1}` (oldest).
fn backup(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

struct RotatingFile {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    format: LineFormat,
    /// Opened by the writer thread on first use (and again after a failure or a fork).
    file: Option<File>,
    size: u64,
    buf: Vec<u8>,
}

impl RotatingFile {
    fn file(&mut self) -> std::io::Result<&mut File> {
        if self.file.is_none() {
            let file = open_append(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Appends `buf[..end]` (whole lines) and removes them from the buffer.
    fn write_out(&mut self, end: usize) -> std::io::Result<()> {
        if end == 0 {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        let written = self.file().and_then(|file| file.write_all(&buf[..end]));
        if written.is_ok() {
            self.size += end as u64;
        }
        buf.drain(..end);
        self.buf = buf;
        written
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.max_files > 1 {
            for n in (1..self.max_files - 1).rev() {
                let from = backup(&self.path, n);
                if from.exists() {
                    fs::rename(&from, backup(&self.path, n + 1))?;
                }
            }
            fs::rename(&self.path, backup(&self.path, 1))?;
        } else {
            File::create(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }

    fn write_batch(&mut self, batch: &[Arc<LogRecord>]) -> std::io::Result<()> {
        self.buf.clear();
        self.file()?;
        for record in batch {
            let start = self.buf.len();
            self.format.write_line(&mut self.buf, record);
            let before = self.size + start as u64;
            if before + (self.buf.len() - start) as u64 > self.max_size && before > 0 {
                self.write_out(start)?;
                self.rotate()?;
                self.file()?;
            }
        }
        self.write_out(self.buf.len())
    }
}

impl Exporter<Arc<LogRecord>> for RotatingFile {
    fn name(&self) -> &str {
        "file"
    }

    fn export(&mut self, batch: &[Arc<LogRecord>], _deadline: Instant) -> Result<(), ExportError> {
        self.write_batch(batch).map_err(|source| {
            self.file = None;
            ExportError::Io {
                target: self.path.display().to_string(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_numbered_after_the_name() {
        assert_eq!(
            backup(Path::new("/var/log/app.log"), 2),
            PathBuf::from("/var/log/app.log.2")
        );
    }
}
