//! The current span, kept in a `contextvars.ContextVar` so it follows threads, asyncio tasks
//! and `asyncio.gather` the way Python code expects. Read through the C API: it is on every
//! span start.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use super::span::PySpan;

static CURRENT_SPAN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn var(py: Python<'_>) -> &Bound<'_, PyAny> {
    CURRENT_SPAN
        .get_or_init(py, || {
            let kwargs = PyDict::new(py);
            kwargs.set_item("default", py.None()).expect("a dict takes a str key");
            py.import("contextvars")
                .and_then(|m| m.getattr("ContextVar"))
                .and_then(|cls| cls.call(("ferrotel_current_span",), Some(&kwargs)))
                .expect("contextvars.ContextVar is always available")
                .unbind()
        })
        .bind(py)
}

/// The ContextVar itself, for the OpenTelemetry API bridge in the Python layer.
pub fn context_var(py: Python<'_>) -> Bound<'_, PyAny> {
    var(py).clone()
}

/// The current span object (a ferrotel `Span`), if any.
pub fn current(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    let var = var(py);
    let mut value: *mut pyo3::ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `var` is a live ContextVar; on success `value` holds a new reference (the
    // variable's default, None, when unset), on failure it stays NULL and an error is set.
    let rc = unsafe { pyo3::ffi::PyContextVar_Get(var.as_ptr(), std::ptr::null_mut(), &mut value) };
    if rc < 0 || value.is_null() {
        let _ = PyErr::take(py);
        return None;
    }
    // SAFETY: `value` is a new, non-null reference returned by PyContextVar_Get.
    let value = unsafe { Bound::from_owned_ptr(py, value) };
    (!value.is_none()).then_some(value)
}

/// Makes `span` current; the returned token restores the previous value.
pub fn set<'py>(py: Python<'py>, span: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: both pointers are live objects; the result is a new reference or NULL with an error.
    unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyContextVar_Set(var(py).as_ptr(), span.as_ptr())) }
}

/// Restores the value before `set`. A token from another context (a span entered in one task
/// and left in another) is refused by Python; the current context is then left as it is.
pub fn reset(py: Python<'_>, token: &Bound<'_, PyAny>) {
    // SAFETY: both are live objects; a failure sets an error, which is cleared.
    if unsafe { pyo3::ffi::PyContextVar_Reset(var(py).as_ptr(), token.as_ptr()) } < 0 {
        let _ = PyErr::take(py);
    }
}

/// The trace and span ids of the current span, for log records. None outside any span.
pub fn current_span_ids(py: Python<'_>) -> Option<(u128, u64)> {
    let span = current(py)?;
    let span = span.cast::<PySpan>().ok()?;
    let ctx = &span.get().ctx;
    ctx.is_valid().then_some((ctx.trace_id, ctx.span_id))
}
