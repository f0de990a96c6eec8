//! Native objects that CPython calls through vectorcall, without PyO3's `__call__` machinery.
//!
//! PyO3 gives a class's `__call__` only the `tp_call` slot: every call builds an argument tuple,
//! and the trampoline parses it as a tuple and a dict. For the few objects called on every span
//! or request (a span in a `with` block, the `start_response` a WSGI app gets) that is a sizable
//! share of the call. Such a class keeps an `ffi::vectorcallfunc` in a field; `install` points
//! its type's vectorcall offset at that field.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::PyClass;

/// Makes `obj`'s type callable through the function stored at `slot`, a field of `obj`. Every
/// object of the type must hold a valid function there and share the layout (a class that
/// cannot be subclassed, so its layout is fixed). Done once per `once`, before any object of
/// the type is called.
pub fn install<T: PyClass>(once: &Once, obj: &Bound<'_, T>, slot: *const ffi::vectorcallfunc) {
    once.call_once(|| {
        // Where the field sits inside the object: measured, as PyO3 does not publish its
        // object layout.
        let offset = slot as isize - obj.as_ptr() as isize;
        let ty = obj.as_any().get_type();
        // SAFETY: a live heap type owned by this module; these are the fields CPython reads on
        // a call, and PyType_Modified drops any cached lookups. `offset` points at a
        // `ffi::vectorcallfunc` in every object of the type.
        unsafe {
            let tp = ty.as_type_ptr();
            (*tp).tp_vectorcall_offset = offset;
            (*tp).tp_call = Some(ffi::PyVectorcall_Call);
            (*tp).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
            ffi::PyType_Modified(tp);
        }
    });
}

/// Makes `obj`'s type (a subclass, perhaps a Python one, of a class with a vectorcall field
/// at `slot`) callable through that field, unless the type has a `__call__` of its own (its
/// `tp_call` is then neither the class's `__call__` nor vectorcall's). Idempotent; cheap once
/// done. `base_call` keeps the class's own `tp_call`, read before any type was changed.
pub fn install_for_subclass<T: PyClass>(
    obj: &Bound<'_, T>,
    slot: *const ffi::vectorcallfunc,
    base_call: &std::sync::OnceLock<usize>,
) {
    let ty = obj.as_any().get_type();
    let base = obj.py().get_type::<T>();
    // SAFETY: live type objects; as for `install`, and a Python subclass keeps its base's part
    // of the object at the same place, so `offset` holds for every instance of `ty`.
    unsafe {
        let address = |f: Option<ffi::ternaryfunc>| f.map_or(0, |f| f as usize);
        let original = *base_call.get_or_init(|| address((*base.as_type_ptr()).tp_call));
        let tp = ty.as_type_ptr();
        if (*tp).tp_flags & ffi::Py_TPFLAGS_HAVE_VECTORCALL != 0 {
            return;
        }
        let call = address((*tp).tp_call);
        if call != original && call != address(Some(ffi::PyVectorcall_Call)) {
            return;
        }
        (*tp).tp_vectorcall_offset = slot as isize - obj.as_ptr() as isize;
        (*tp).tp_call = Some(ffi::PyVectorcall_Call);
        (*tp).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
        ffi::PyType_Modified(tp);
    }
}

/// Runs `f` as PyO3's own trampolines do, minus their bookkeeping: an error restored as the
/// raised exception, a panic turned into PanicException rather than unwinding into CPython.
///
/// CPython calls a vectorcall attached. PyO3's attach count is not raised (that costs a
/// thread-local round trip, or PyGILState_Ensure through `Python::attach`, and is most of a
/// trampoline), so a `Py` dropped inside is queued for PyO3's next call rather than released at
/// once: the hot paths drop only `Bound`s.
pub fn guarded(f: impl FnOnce(Python<'_>) -> PyResult<*mut ffi::PyObject>) -> *mut ffi::PyObject {
    // SAFETY: CPython runs a vectorcall attached to the interpreter.
    let py = unsafe { Python::assume_attached() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        f(py).unwrap_or_else(|err| {
            err.restore(py);
            std::ptr::null_mut()
        })
    }));
    outcome.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic in a native call".to_string());
        PanicException::new_err(message).restore(py);
        std::ptr::null_mut()
    })
}

/// A vectorcall's arguments bound to `names`, positional first and then by keyword, as
/// `def function(name0, name1, ...)` binds them; a TypeError naming `function` for too many,
/// an unknown keyword or one given twice. Missing ones are None.
///
/// # Safety
/// `args`, `nargsf` and `kwnames` as CPython passed them to a vectorcall function, alive for 'a.
pub unsafe fn bind<'a, 'py, const N: usize>(
    py: Python<'py>,
    function: &str,
    names: [&str; N],
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[Option<Borrowed<'a, 'py, PyAny>>; N]> {
    let mut bound: [Option<Borrowed<'a, 'py, PyAny>>; N] = [None; N];
    // SAFETY: as the caller guarantees: `nargs` positional arguments, then one value per name
    // in `kwnames`.
    unsafe {
        let nargs = ffi::PyVectorcall_NARGS(nargsf) as usize;
        if nargs > N {
            return Err(PyTypeError::new_err(format!(
                "{function}() takes at most {N} arguments ({nargs} given)"
            )));
        }
        for (i, slot) in bound.iter_mut().enumerate().take(nargs) {
            *slot = Some(Borrowed::from_ptr(py, *args.add(i)));
        }
        if kwnames.is_null() {
            return Ok(bound);
        }
        for j in 0..ffi::PyTuple_GET_SIZE(kwnames) {
            let name = Borrowed::from_ptr(py, ffi::PyTuple_GET_ITEM(kwnames, j));
            let name = name.cast::<PyString>()?;
            let name = name.to_str()?;
            let Some(index) = names.iter().position(|n| *n == name) else {
                return Err(PyTypeError::new_err(format!(
                    "{function}() got an unexpected keyword argument '{name}'"
                )));
            };
            if bound[index].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "{function}() got multiple values for argument '{name}'"
                )));
            }
            bound[index] = Some(Borrowed::from_ptr(py, *args.add(nargs + j as usize)));
        }
    }
    Ok(bound)
}
