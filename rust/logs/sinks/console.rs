//! Log lines to stdout or stderr. The sink has one writer thread, the only writer of its stream
//! in ferrotel, so its lines never interleave with each other; the application's own output is
//! another matter (see `ConsoleExporter`).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use super::files::line_config;
use crate::logs::format::{FormatSpec, LineFormat};
use crate::logs::pipeline::LogWorker;
use crate::logs::record::LogRecord;
use crate::runtime::errors::{self, Error};
use crate::transport::error::ExportError;
use crate::transport::worker::{BatchWorker, Exporter};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn parse(name: &str) -> errors::Result<Stream> {
        match name {
            "stdout" => Ok(Stream::Stdout),
            "stderr" => Ok(Stream::Stderr),
            _ => Err(Error::invalid(format!(
                "console must be True, False, \"stdout\" or \"stderr\", not {name:?}"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// The most one `write(2)` puts into a pipe with no other writer's bytes inside it (POSIX
/// `PIPE_BUF`: 4096 on Linux, 512 on macOS).
#[cfg(unix)]
const ATOMIC_WRITE: usize = libc::PIPE_BUF;
/// Windows promises no such size; batches are cut as on Linux.
#[cfg(not(unix))]
const ATOMIC_WRITE: usize = 4096;

/// The console is shared with the application's own `print()`, other libraries and child
/// processes, so each `write(2)` carries only whole lines and at most `ATOMIC_WRITE` bytes: through
/// a pipe every line then stays one piece, whoever else writes whole lines there (a longer line
/// goes alone, in one `write_all`, and only it can still be split by another writer). Writing
/// through `sys.stdout` under its lock instead would take the GIL on this thread for every batch,
/// slowing the application's threads, and would still not keep the lines whole when `print()`
/// writes its text and its newline in two calls (unbuffered, `-u` or `PYTHONUNBUFFERED`).
struct ConsoleExporter {
    stream: Stream,
    format: LineFormat,
    buf: Vec<u8>,
}

impl ConsoleExporter {
    fn write_batch(&mut self, out: &mut impl Write, batch: &[Arc<LogRecord>]) -> std::io::Result<()> {
        self.buf.clear();
        for record in batch {
            let start = self.buf.len();
            self.format.write_line(&mut self.buf, record);
            if self.buf.len() > ATOMIC_WRITE && start > 0 {
                out.write_all(&self.buf[..start])?;
                self.buf.drain(..start);
            }
        }
        out.write_all(&self.buf)?;
        out.flush()
    }
}

impl Exporter<Arc<LogRecord>> for ConsoleExporter {
    fn name(&self) -> &str {
        "console"
    }

    fn export(&mut self, batch: &[Arc<LogRecord>], _deadline: Instant) -> Result<(), ExportError> {
        let written = match self.stream {
            Stream::Stdout => self.write_batch(&mut std::io::stdout().lock(), batch),
            Stream::Stderr => self.write_batch(&mut std::io::stderr().lock(), batch),
        };
        written.map_err(|source| ExportError::Io {
            target: self.stream.name().to_string(),
            source,
        })
    }
}

/// Colour only on a terminal, and only when `color` allows it (false when `NO_COLOR` is set:
/// the Python layer reads the environment).
pub fn start_console(stream: Stream, spec: &FormatSpec, max_queue: usize, color: bool) -> LogWorker {
    let color = color && stream.is_terminal();
    let spec = spec.clone();
    BatchWorker::start(
        "logs",
        line_config(max_queue),
        Arc::new(move || {
            Box::new(ConsoleExporter {
                stream,
                format: spec.line(color),
                buf: Vec::new(),
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::enrich::Enrichment;
    use crate::logs::record::Level;
    use crate::transport::redact::Redactor;

    /// Keeps each `write` call apart.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(message_len: usize) -> Arc<LogRecord> {
        Arc::new(LogRecord {
            time_ns: 0,
            level: Level::INFO,
            logger: "t".into(),
            message: "m".repeat(message_len),
            scoped: None,
            bound: None,
            fields: Vec::new(),
            span: None,
            error: None,
            origin: None,
        })
    }

    #[test]
    fn console_writes_hold_whole_lines_within_an_atomic_pipe_write() {
        let spec = FormatSpec {
            pretty: false,
            enrichment: Enrichment::default(),
            redactor: Arc::new(Redactor::new(&[], true, &[], &[]).unwrap()),
        };
        let mut console = ConsoleExporter {
            stream: Stream::Stdout,
            format: spec.line(false),
            buf: Vec::new(),
        };
        let lengths = [10, 300, 1000, 5000, 20, 4000, 4000, 90, 9000];
        let batch: Vec<_> = (0..40).flat_map(|_| lengths).map(record).collect();
        let mut out = Writes::default();
        console.write_batch(&mut out, &batch).unwrap();

        let lines: usize = out.0.iter().map(|w| w.iter().filter(|&&b| b == b'\n').count()).sum();
        assert_eq!(lines, batch.len());
        assert!(out.0.len() < batch.len(), "short lines share a write");
        for write in &out.0 {
            assert_eq!(write.last(), Some(&b'\n'), "a write ends at the end of a line");
            let one_line = write.iter().filter(|&&b| b == b'\n').count() == 1;
            assert!(write.len() <= ATOMIC_WRITE || one_line, "{} bytes", write.len());
        }
    }
}
