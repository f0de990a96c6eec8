//! A log record: built once on the caller's thread as plain Rust data, then shared (`Arc`) by
//! every sink, which formats it on its own thread. No Python object outlives the call.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};

use super::convert::display;
use crate::runtime::errors::{Error, Result};

/// A stdlib-compatible level number (DEBUG=10 … CRITICAL=50).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(pub u8);

impl Level {
    pub const DEBUG: Level = Level(10);
    pub const INFO: Level = Level(20);
    pub const WARNING: Level = Level(30);
    pub const ERROR: Level = Level(40);
    pub const CRITICAL: Level = Level(50);

    /// Custom stdlib levels take the name of the standard level at or below them.
    pub fn name(self) -> &'static str {
        match self.0 {
            0..=19 => "debug",
            20..=29 => "info",
            30..=39 => "warning",
            40..=49 => "error",
            _ => "critical",
        }
    }

    pub fn from_number(n: i64) -> Level {
        Level(n.clamp(0, u8::MAX as i64) as u8)
    }

    pub fn parse(name: &str) -> Option<Level> {
        Some(match name.to_ascii_lowercase().as_str() {
            "debug" => Level::DEBUG,
            "info" => Level::INFO,
            "warn" | "warning" => Level::WARNING,
            "error" => Level::ERROR,
            "critical" | "fatal" => Level::CRITICAL,
            _ => return None,
        })
    }

    /// A level given as a name (`"info"`) or a number (`20`, `logging.INFO`).
    pub fn extract(value: &Bound<'_, PyAny>) -> Result<Level> {
        if let Ok(name) = value.cast::<PyString>() {
            let name = name.to_str()?;
            return Level::parse(name).ok_or_else(|| {
                Error::invalid(format!(
                    "unknown log level {name:?}: use debug, info, warning, error or critical"
                ))
            });
        }
        match value.extract::<i64>() {
            Ok(n) if !value.is_instance_of::<PyBool>() => Ok(Level::from_number(n)),
            _ => Err(Error::wrong_type(format!(
                "a log level is a name or a number, not {}",
                value.repr()?
            ))),
        }
    }
}

/// A context value. Anything that is not a JSON type is kept as its `str()`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(Vec<Field>),
}

/// A field name: static for ferrotel's own fields, owned for the application's.
pub type Key = std::borrow::Cow<'static, str>;

pub type Field = (Key, Value);

/// Fields shared by many records: a bound logger's and a `log_context` block's.
pub type SharedFields = Arc<[Field]>;

#[derive(Clone, Debug, Default)]
pub struct ErrorInfo {
    pub kind: String,
    pub message: String,
    pub stack_trace: String,
}

/// Where a stdlib record was made (it already paid for finding out).
#[derive(Clone, Debug)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    pub function: String,
}

#[derive(Debug)]
pub struct LogRecord {
    pub time_ns: u64,
    pub level: Level,
    pub logger: Arc<str>,
    pub message: String,
    /// Layers of context, later ones win on a repeated key: `log_context`, `bind`, the call.
    pub scoped: Option<SharedFields>,
    pub bound: Option<SharedFields>,
    pub fields: Vec<Field>,
    pub span: Option<(u128, u64)>,
    pub error: Option<Box<ErrorInfo>>,
    pub origin: Option<Box<Origin>>,
}

impl LogRecord {
    /// Every context field once, in layer order, a later layer's value replacing an earlier
    /// one's. Keys are unique within a layer (each comes from a dict or from `merge`).
    pub fn context(&self) -> impl Iterator<Item = &Field> {
        let layers: [&[Field]; 3] = [
            self.scoped.as_deref().unwrap_or(&[]),
            self.bound.as_deref().unwrap_or(&[]),
            &self.fields,
        ];
        layers.into_iter().enumerate().flat_map(move |(layer, fields)| {
            fields.iter().filter(move |(key, _)| {
                !layers[layer + 1..]
                    .iter()
                    .any(|later| later.iter().any(|(k, _)| k == key))
            })
        })
    }
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// `error.type`, `error.message` and `error.stack_trace` of an exception. Never raises.
pub fn error_info(exc: &Bound<'_, PyAny>, stack_trace: Option<String>) -> Box<ErrorInfo> {
    let py = exc.py();
    let kind = exc.get_type();
    let name = kind.qualname().map(|n| n.to_string()).unwrap_or_default();
    let kind = match kind.module().map(|m| m.to_string()) {
        Ok(module) if module != "builtins" && module != "__main__" => format!("{module}.{name}"),
        _ => name,
    };
    let stack_trace = stack_trace.unwrap_or_else(|| {
        // the three-argument form: format_exception(exc) alone is new in 3.10
        py.import("traceback")
            .and_then(|tb| {
                let trace = exc.getattr("__traceback__")?;
                tb.call_method1("format_exception", (exc.get_type(), exc, trace))
            })
            .and_then(|lines| PyString::new(py, "").call_method1("join", (lines,)))
            .map(|text| display(&text))
            .unwrap_or_default()
    });
    Box::new(ErrorInfo {
        kind,
        message: display(exc),
        stack_trace: stack_trace.trim_end().to_string(),
    })
}

/// `base` with `overrides` laid over it: a repeated key keeps its place and takes the new value.
pub fn merge(base: &[Field], overrides: Vec<Field>) -> SharedFields {
    let mut merged: Vec<Field> = base.to_vec();
    for (key, value) in overrides {
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => merged.push((key, value)),
        }
    }
    merged.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(key: &str, n: i64) -> Field {
        (key.to_string().into(), Value::Int(n))
    }

    #[test]
    fn later_layers_win_and_each_key_appears_once() {
        let record = LogRecord {
            time_ns: 0,
            level: Level::INFO,
            logger: "t".into(),
            message: String::new(),
            scoped: Some(vec![f("a", 1), f("b", 1)].into()),
            bound: Some(vec![f("b", 2), f("c", 2)].into()),
            fields: vec![f("c", 3), f("d", 4)],
            span: None,
            error: None,
            origin: None,
        };
        let seen: Vec<_> = record.context().cloned().collect();
        assert_eq!(seen, vec![f("a", 1), f("b", 2), f("c", 3), f("d", 4)]);
    }

    #[test]
    fn level_names_and_parsing() {
        assert_eq!(Level(5).name(), "debug");
        assert_eq!(Level(25).name(), "info");
        assert_eq!(Level(60).name(), "critical");
        assert_eq!(Level::parse("WARN"), Some(Level::WARNING));
        assert_eq!(Level::parse("verbose"), None);
    }

    #[test]
    fn merge_keeps_order_and_replaces() {
        let merged = merge(&[f("a", 1), f("b", 1)], vec![f("b", 2), f("c", 2)]);
        assert_eq!(&merged[..], &[f("a", 1), f("b", 2), f("c", 2)]);
    }
}
