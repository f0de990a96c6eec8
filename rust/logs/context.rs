//! `log_context(...)`: fields scoped to a block, kept in a `contextvars.ContextVar` so they
//! follow threads and asyncio tasks. The variable holds fields already converted to Rust data,
//! so a log call only clones an `Arc`.

use parking_lot::Mutex;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use super::convert;
use super::record::{self, Field, SharedFields};

/// The value of the context variable: the merged fields of every enclosing block.
#[pyclass(frozen, module = "ferrotel._core")]
pub struct ScopedFields(SharedFields);

static VAR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn var(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    VAR.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("contextvars")?
                .getattr("ContextVar")?
                .call1(("ferrotel.log_context",))?
                .unbind(),
        )
    })
    .map(|v| v.bind(py))
}

/// The fields of the enclosing `log_context` blocks, if any.
pub fn current(py: Python<'_>) -> Option<SharedFields> {
    let var = var(py).ok()?;
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `var` is a live ContextVar and we are attached to Python; PyContextVar_Get stores
    // a new reference, or NULL when the variable is unset, in `value`.
    let status = unsafe { ffi::PyContextVar_Get(var.as_ptr(), std::ptr::null_mut(), &mut value) };
    if status < 0 {
        PyErr::take(py);
        return None;
    }
    if value.is_null() {
        return None;
    }
    // SAFETY: `value` is the owned, non-null reference PyContextVar_Get returned.
    let value = unsafe { Bound::from_owned_ptr(py, value) };
    value.cast::<ScopedFields>().ok().map(|s| s.get().0.clone())
}

/// `with log_context(request_id=...):` adds fields to every record logged inside the block.
#[pyclass(frozen, name = "LogContext", module = "ferrotel._core")]
pub struct LogContext {
    fields: Vec<Field>,
    /// One token per entry still open, so the same object can be entered again inside itself.
    tokens: Mutex<Vec<Py<PyAny>>>,
}

#[pymethods]
impl LogContext {
    #[new]
    #[pyo3(signature = (**context))]
    fn new(context: Option<&Bound<'_, PyDict>>) -> Self {
        Self {
            fields: context.map(convert::fields).unwrap_or_default(),
            tokens: Mutex::new(Vec::new()),
        }
    }

    fn __enter__(slf: &Bound<'_, Self>) -> PyResult<Py<Self>> {
        let py = slf.py();
        let this = slf.get();
        let outer = current(py);
        let merged = record::merge(outer.as_deref().unwrap_or(&[]), this.fields.clone());
        let token = var(py)?.call_method1("set", (ScopedFields(merged),))?;
        this.tokens.lock().push(token.unbind());
        Ok(slf.clone().unbind())
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let token = self.tokens.lock().pop();
        if let Some(token) = token {
            var(py)?.call_method1("reset", (token,))?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let keys: Vec<&str> = self.fields.iter().map(|(k, _)| k.as_ref()).collect();
        format!("log_context({})", keys.join(", "))
    }
}
