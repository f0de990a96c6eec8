//! A log record: built once on the caller's thread as plain Rust data, then shared (`Arc`) by
//! every sink, which formats it on its own thread. No Python object outlives the call.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

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

/// Deep enough for real payloads, shallow enough that a self-containing list ends quickly.
const MAX_DEPTH: u32 = 8;

pub fn text(s: &Bound<'_, PyString>) -> String {
    match s.to_str() {
        Ok(s) => s.to_owned(),
        // Lone surrogates cannot be UTF-8; keep the rest of the text.
        Err(_) => s.to_string_lossy().into_owned(),
    }
}

/// `str(obj)`, then `repr(obj)`; an object whose both raise is named by its type. Never raises.
pub fn display(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(s) = obj.str() {
        return text(&s);
    }
    if let Ok(s) = obj.repr() {
        return text(&s);
    }
    let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    format!("<unprintable {kind}>")
}

pub fn value(obj: &Bound<'_, PyAny>) -> Value {
    value_at(obj, 0)
}

fn value_at(obj: &Bound<'_, PyAny>, depth: u32) -> Value {
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return Value::Str(text(s));
    }
    if obj.is_none() {
        return Value::Null;
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Value::Bool(b.is_true());
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(n) => Value::Int(n),
            Err(_) => Value::Str(display(obj)),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let f = f.value();
        return if f.is_finite() {
            Value::Float(f)
        } else {
            Value::Str(display(obj))
        };
    }
    if depth < MAX_DEPTH {
        if let Ok(dict) = obj.cast::<PyDict>() {
            return Value::Map(
                dict.iter()
                    .map(|(k, v)| (key(&k).into(), value_at(&v, depth + 1)))
                    .collect(),
            );
        }
        if let Ok(list) = obj.cast::<PyList>() {
            return Value::List(list.iter().map(|v| value_at(&v, depth + 1)).collect());
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            return Value::List(tuple.iter().map(|v| value_at(&v, depth + 1)).collect());
        }
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Value::Str(text(s));
    }
    Value::Str(display(obj))
}

pub fn key(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyString>() {
        Ok(s) => text(s),
        Err(_) => display(obj),
    }
}

/// Context fields from a dict (keyword arguments, `extra`, the guide's `context`).
pub fn fields(dict: &Bound<'_, PyDict>) -> Vec<Field> {
    dict.iter().map(|(k, v)| (key(&k).into(), value(&v))).collect()
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
        py.import("traceback")
            .and_then(|tb| tb.call_method1("format_exception", (exc,)))
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
