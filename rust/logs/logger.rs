//! `ferrotel.get_logger(name)`: the level methods are reached straight from user code, check
//! the level first, and hand one `LogRecord` to the pipeline.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::context;
use super::convert;
use super::pipeline;
use super::record::{self, ErrorInfo, Field, Level, LogRecord, SharedFields};
use crate::traces::context::current_span_ids;

#[pyclass(frozen, name = "Logger", module = "ferrotel._core")]
pub struct PyLogger {
    name: Arc<str>,
    bound: Option<SharedFields>,
}

fn message_text(message: &Bound<'_, PyAny>) -> String {
    match message.cast_exact::<PyString>() {
        Ok(s) => convert::text(s),
        Err(_) => convert::display(message),
    }
}

impl PyLogger {
    fn emit(&self, py: Python<'_>, level: Level, message: String, fields: Vec<Field>, error: Option<Box<ErrorInfo>>) {
        let record = LogRecord {
            time_ns: record::now_ns(),
            level,
            logger: self.name.clone(),
            message,
            scoped: context::current(py),
            bound: self.bound.clone(),
            fields,
            span: current_span_ids(py),
            error,
            origin: None,
        };
        pipeline::dispatch(py, record);
    }

    #[inline]
    fn at(&self, py: Python<'_>, level: Level, message: &Bound<'_, PyAny>, context: Option<&Bound<'_, PyDict>>) {
        if !pipeline::enabled(level) {
            return;
        }
        let fields = context.map(convert::fields).unwrap_or_default();
        self.emit(py, level, message_text(message), fields, None);
    }
}

#[pymethods]
impl PyLogger {
    #[new]
    #[pyo3(signature = (name="root"))]
    fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            bound: None,
        }
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[pyo3(signature = (message, **context))]
    fn debug(&self, py: Python<'_>, message: &Bound<'_, PyAny>, context: Option<&Bound<'_, PyDict>>) {
        self.at(py, Level::DEBUG, message, context);
    }

    #[pyo3(signature = (message, **context))]
    fn info(&self, py: Python<'_>, message: &Bound<'_, PyAny>, context: Option<&Bound<'_, PyDict>>) {
        self.at(py, Level::INFO, message, context);
    }

    #[pyo3(signature = (message, **context))]
    fn warning(&self, py: Python<'_>, message: &Bound<'_, PyAny>, context: Option<&Bound<'_, PyDict>>) {
        self.at(py, Level::WARNING, message, context);
    }

    #[pyo3(signature = (message, **context))]
    fn error(&self, py: Python<'_>, message: &Bound<'_, PyAny>, context: Option<&Bound<'_, PyDict>>) {
        self.at(py, Level::ERROR, message, context);
    }

    #[pyo3(signature = (message, **context))]
    fn critical(&self, py: Python<'_>, message: &Bound<'_, PyAny>, context: Option<&Bound<'_, PyDict>>) {
        self.at(py, Level::CRITICAL, message, context);
    }

    /// An error with the exception being handled as `error.*` fields.
    #[pyo3(signature = (message, **context))]
    fn exception(&self, py: Python<'_>, message: &Bound<'_, PyAny>, context: Option<&Bound<'_, PyDict>>) {
        if !pipeline::enabled(Level::ERROR) {
            return;
        }
        // sys.exc_info()[1], not sys.exception(): that is new in 3.11
        let error = py
            .import("sys")
            .and_then(|sys| sys.call_method0("exc_info"))
            .and_then(|info| info.get_item(1))
            .ok()
            .filter(|exc| !exc.is_none())
            .map(|exc| record::error_info(&exc, None));
        let fields = context.map(convert::fields).unwrap_or_default();
        self.emit(py, Level::ERROR, message_text(message), fields, error);
    }

    /// The guide's form: `log({"level": "info", "message": ..., "context": {...}})`.
    /// A malformed entry is still logged (as `info`, its text as the message); it never raises.
    fn log(&self, py: Python<'_>, entry: &Bound<'_, PyAny>) {
        let Ok(entry) = entry.cast::<PyDict>() else {
            if pipeline::enabled(Level::INFO) {
                self.emit(py, Level::INFO, convert::display(entry), Vec::new(), None);
            }
            return;
        };
        let level = entry
            .get_item("level")
            .ok()
            .flatten()
            .and_then(|level| Level::extract(&level).ok())
            .unwrap_or(Level::INFO);
        if !pipeline::enabled(level) {
            return;
        }
        let message = match entry.get_item("message").ok().flatten() {
            Some(message) => message_text(&message),
            None => String::new(),
        };
        let fields = match entry.get_item("context").ok().flatten() {
            Some(context) => match context.cast::<PyDict>() {
                Ok(context) => convert::fields(context),
                Err(_) => vec![("context".into(), convert::value(&context))],
            },
            None => Vec::new(),
        };
        self.emit(py, level, message, fields, None);
    }

    /// A logger with the same name whose records all carry `context`.
    #[pyo3(signature = (**context))]
    fn bind(&self, context: Option<&Bound<'_, PyDict>>) -> Self {
        let added = context.map(convert::fields).unwrap_or_default();
        Self {
            name: self.name.clone(),
            bound: Some(record::merge(self.bound.as_deref().unwrap_or(&[]), added)),
        }
    }

    fn is_enabled_for(&self, level: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(pipeline::enabled(Level::extract(level)?))
    }

    fn __repr__(&self) -> String {
        let keys: Vec<&str> = self
            .bound
            .iter()
            .flat_map(|f| f.iter())
            .map(|(k, _)| k.as_ref())
            .collect();
        format!("<Logger {:?} bound=[{}]>", &*self.name, keys.join(", "))
    }
}
