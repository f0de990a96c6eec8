//! The stdlib bridge: a `logging.LogRecord` read in one pass over its `__dict__` into a
//! `LogRecord`, `extra` fields included, and sent through the same pipeline.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyString, PyTuple};

use super::context;
use super::convert::{self, Converter};
use super::pipeline;
use super::record::{self, Level, LogRecord, Origin};
use crate::traces::context::current_span_ids;

/// Attributes every `LogRecord` has (and `message`/`asctime`, which formatters add); the rest
/// of its `__dict__` came from `extra=`.
fn is_standard(key: &str) -> bool {
    matches!(
        key,
        "name"
            | "msg"
            | "args"
            | "levelname"
            | "levelno"
            | "pathname"
            | "filename"
            | "module"
            | "exc_info"
            | "exc_text"
            | "stack_info"
            | "lineno"
            | "funcName"
            | "created"
            | "msecs"
            | "relativeCreated"
            | "thread"
            | "threadName"
            | "processName"
            | "process"
            | "taskName"
            | "message"
            | "asctime"
    )
}

/// `record.getMessage()` without the call when there is nothing to interpolate.
fn message(record: &Bound<'_, PyAny>, msg: Option<&Bound<'_, PyAny>>, args: Option<&Bound<'_, PyAny>>) -> String {
    let no_args = args.is_none_or(|a| a.is_none() || a.cast::<PyTuple>().is_ok_and(|t| t.is_empty()));
    if let (true, Some(msg)) = (no_args, msg) {
        if let Ok(text) = msg.cast_exact::<PyString>() {
            return convert::text(text);
        }
    }
    match record.call_method0(intern!(record.py(), "getMessage")) {
        Ok(text) => convert::display(&text),
        Err(_) => msg.map(convert::display).unwrap_or_default(),
    }
}

/// A str attribute; None (or anything else) without the cost of a failed extraction's exception.
fn string(value: &Bound<'_, PyAny>) -> Option<String> {
    value.cast::<PyString>().ok().map(convert::text)
}

fn build(record: &Bound<'_, PyAny>, level: Level, attrs: &Bound<'_, PyDict>) -> LogRecord {
    let py = record.py();
    let (mut logger_name, mut msg, mut args, mut created) = (None, None, None, None);
    let (mut exc_info, mut exc_text, mut stack_info) = (None, None, None);
    let (mut file, mut line, mut function) = (None, None, None);
    // The `extra` fields, converted together as one record's fields: one budget, unique keys.
    let mut extra = Vec::new();
    for (key, value) in convert::items(attrs) {
        let Some(name) = key.cast::<PyString>().ok().and_then(|k| k.to_str().ok()) else {
            extra.push((key.clone(), value));
            continue;
        };
        match name {
            "name" => logger_name = Some(value),
            "msg" => msg = Some(value),
            "args" => args = Some(value),
            "created" => created = value.cast::<PyFloat>().ok().map(|f| f.value()),
            "exc_info" => exc_info = Some(value),
            "exc_text" => exc_text = string(&value),
            "stack_info" => stack_info = string(&value),
            "filename" => file = string(&value),
            "lineno" => line = value.cast::<PyInt>().ok().and_then(|n| n.extract::<u32>().ok()),
            "funcName" => function = string(&value),
            _ if is_standard(name) => {}
            _ => extra.push((key.clone(), value)),
        }
    }
    let count = extra.len();
    let mut fields = Converter::default().entries(extra.into_iter(), count);
    if let Some(stack) = stack_info {
        fields.push(("stack_info".into(), record::Value::Str(stack)));
    }
    let error = exc_info
        .and_then(|info| info.cast_into::<PyTuple>().ok())
        .and_then(|info| info.get_item(1).ok())
        .filter(|exc| !exc.is_none())
        .map(|exc| record::error_info(&exc, exc_text.filter(|t| !t.is_empty())));
    let origin = match (file, line, function) {
        (Some(file), Some(line), Some(function)) => Some(Box::new(Origin { file, line, function })),
        _ => None,
    };
    LogRecord {
        time_ns: created.map_or_else(record::now_ns, |s| (s * 1e9) as u64),
        level,
        logger: logger_name.map(|n| convert::key(&n)).unwrap_or_default().into(),
        message: message(record, msg.as_ref(), args.as_ref()),
        scoped: context::current(py),
        bound: None,
        fields,
        span: current_span_ids(py),
        error,
        origin,
    }
}

/// `Handler.emit` (and `Handler.handle`): sends a stdlib `LogRecord` through ferrotel's
/// pipeline; true when it was handed over. Never raises.
#[pyfunction]
pub fn emit_stdlib_record(py: Python<'_>, record: &Bound<'_, PyAny>) -> bool {
    let level = record
        .getattr(intern!(py, "levelno"))
        .and_then(|n| n.extract::<i64>())
        .map(Level::from_number);
    let Ok(level) = level else {
        crate::runtime::selfmetrics::record_drop("logs", "invalid_record");
        return false;
    };
    if !pipeline::enabled(level) {
        return false;
    }
    let attrs = record.getattr(intern!(py, "__dict__")).ok();
    match attrs.and_then(|attrs| attrs.cast_into::<PyDict>().ok()) {
        Some(attrs) => {
            pipeline::dispatch(py, build(record, level, &attrs));
            true
        }
        None => {
            crate::runtime::selfmetrics::record_drop("logs", "invalid_record");
            false
        }
    }
}
