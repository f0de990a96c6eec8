//! How a `with` block enters and leaves a span without allocating.
//!
//! CPython's `with` statement looks `__enter__` and `__exit__` up on the type and binds each to
//! the object (`_PyObject_LookupSpecial`). For an ordinary method that makes a bound-method
//! object per lookup: two allocations and frees per block, about a seventh of what an unsampled
//! span costs (callgrind). Here both names are descriptors that bind to the span itself, and the
//! span is callable through vectorcall: called with no arguments it is entered, with the three
//! arguments of `__exit__` it is left. `type(span).__enter__(span)` and
//! `type(span).__exit__(span, *exc_info)`, as `contextlib.ExitStack` calls them, work too.
//!
//! Any other call of a span raises TypeError: calling a span is reserved for `with`.

use pyo3::ffi;
use pyo3::prelude::*;

use crate::runtime::errors::Error;
use pyo3::types::PyTuple;

use super::span::PySpan;
use crate::runtime::vectorcall::guarded;

/// `Span.__enter__` and `Span.__exit__`: bound to a span, they are the span itself.
#[pyclass(frozen, name = "SpanWithMethod", module = "ferrotel._core")]
pub struct WithMethod {
    exit: bool,
}

#[pymethods]
impl WithMethod {
    /// The span when looked up on one (the same as the native slot `bind` below).
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        obj: Option<&Bound<'py, PyAny>>,
        _owner: Option<&Bound<'py, PyAny>>,
    ) -> Bound<'py, PyAny> {
        match obj.filter(|o| !o.is_none()) {
            Some(obj) => obj.clone(),
            None => slf.clone().into_any(),
        }
    }

    /// Unbound use: `Span.__enter__(span)`, `Span.__exit__(span, exc_type, exc, tb)`.
    #[pyo3(signature = (span, *args))]
    fn __call__(&self, span: &Bound<'_, PySpan>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let py = span.py();
        if self.exit {
            let exc = args.get_item(1).ok();
            PySpan::exit(span, exc.as_ref());
            Ok(false.into_pyobject(py)?.to_owned().into_any().unbind())
        } else {
            PySpan::enter(span)?;
            Ok(span.clone().into_any().unbind())
        }
    }

    fn __repr__(&self) -> &'static str {
        if self.exit {
            "<method '__exit__' of 'ferrotel._core.Span' objects>"
        } else {
            "<method '__enter__' of 'ferrotel._core.Span' objects>"
        }
    }
}

/// The descriptor slot of `WithMethod`, without PyO3's argument conversion: it runs twice per
/// `with` block. Cannot fail and calls nothing.
unsafe extern "C" fn bind(
    descr: *mut ffi::PyObject,
    obj: *mut ffi::PyObject,
    _owner: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython passes a live descriptor and a live object or NULL; the result is a new
    // reference to one of them.
    unsafe {
        let target = if obj.is_null() || obj == ffi::Py_None() {
            descr
        } else {
            obj
        };
        ffi::Py_INCREF(target);
        target
    }
}

/// The span's vectorcall: `span()` enters it, `span(exc_type, exc, tb)` leaves it.
///
/// # Safety
/// Called by CPython, attached, with `callable` a live `Span` and `args` holding the count
/// `nargsf` says.
pub unsafe extern "C" fn call(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as the caller guarantees.
    let (nargs, keywords) = unsafe {
        (
            ffi::PyVectorcall_NARGS(nargsf),
            !kwnames.is_null() && ffi::PyTuple_GET_SIZE(kwnames) > 0,
        )
    };
    guarded(|py| {
        // SAFETY: only Span's type points its vectorcall slot here.
        let span = unsafe { Bound::from_borrowed_ptr(py, callable).cast_into_unchecked::<PySpan>() };
        match (nargs, keywords) {
            (0, false) => {
                PySpan::enter(&span)?;
                Ok(span.into_any().into_ptr())
            }
            (3, false) => {
                // SAFETY: three arguments were passed; the exception is the second.
                let exc = unsafe { Bound::from_borrowed_ptr(py, *args.add(1)) };
                PySpan::exit(&span, Some(&exc));
                Ok(false.into_pyobject(py)?.to_owned().into_any().into_ptr())
            }
            _ => Err(Error::wrong_type(
                "a Span is not callable: enter and leave it with `with` (or call __enter__/__exit__)",
            )
            .into()),
        }
    })
}

/// Makes `Span` objects callable through `call` and installs the two descriptors. Run once,
/// when the module is initialised, before any span exists.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let span_type = py.get_type::<PySpan>();
    let method_type = py.get_type::<WithMethod>();
    // Every Span has the same layout (the class cannot be subclassed): one made here shows
    // where the function pointer sits.
    let probe = Bound::new(py, PySpan::non_recording(Default::default()))?;
    let offset = probe.get().call_slot() as isize - probe.as_ptr() as isize;
    // SAFETY: every Span holds its vectorcall function in that field, at that place.
    unsafe { crate::runtime::vectorcall::install(&span_type, offset) };
    // SAFETY: a live heap type owned by this module; the descriptor slot CPython reads on a
    // lookup, and PyType_Modified drops cached lookups.
    unsafe {
        let mt = method_type.as_type_ptr();
        (*mt).tp_descr_get = Some(bind);
        ffi::PyType_Modified(mt);
    }
    span_type.setattr("__enter__", Bound::new(py, WithMethod { exit: false })?)?;
    span_type.setattr("__exit__", Bound::new(py, WithMethod { exit: true })?)?;
    // Django's templates call callables they meet; a span must not be entered that way.
    span_type.setattr("do_not_call_in_templates", true)?;
    // SAFETY: a live type object.
    unsafe { ffi::PyType_Modified(span_type.as_type_ptr()) };
    Ok(())
}
