//! Native objects that CPython calls through vectorcall, without PyO3's `__call__` machinery.
//!
//! PyO3 gives a class's `__call__` only the `tp_call` slot: every call builds an argument tuple,
//! and the trampoline parses it as a tuple and a dict. For the few objects called on every span
//! or request (a span in a `with` block, the `start_response` a WSGI app gets) that is a sizable
//! share of the call. Such a class keeps an `ffi::vectorcallfunc` in a field; `install` points
//! its type's vectorcall offset at that field, once, when the type is made.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use pyo3::PyClass;

use super::errors::Error;

/// How far into an object of `T` its Rust value starts, measured on one object: PyO3 does not
/// publish its object layout. Every class of the same alignment lays its value at the same
/// place (a `repr(C)` object header, then the value).
pub fn value_offset<T>(obj: &Bound<'_, T>) -> isize
where
    T: PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
{
    obj.get() as *const T as isize - obj.as_ptr() as isize
}

/// Makes the objects of `ty` callable through the `ffi::vectorcallfunc` found `offset` bytes
/// into each of them. Done when the type is made (the module's init, or a subclass's
/// `__init_subclass__`), before any object of it exists or is called, so no thread ever calls
/// a type halfway patched.
///
/// # Safety
/// Every object of `ty` must hold a valid `ffi::vectorcallfunc` at `offset`.
pub unsafe fn install(ty: &Bound<'_, PyType>, offset: isize) {
    // SAFETY: a live type object; these are the fields CPython reads on a call, and
    // PyType_Modified drops any cached lookups. The caller vouches for `offset`.
    unsafe {
        let tp = ty.as_type_ptr();
        (*tp).tp_vectorcall_offset = offset;
        (*tp).tp_call = Some(ffi::PyVectorcall_Call);
        (*tp).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
        ffi::PyType_Modified(tp);
    }
}

/// As `install`, for a new subclass (perhaps a Python one) of a class installed at `offset`,
/// unless the subclass defines a `__call__` of its own (its `tp_call` is then neither the
/// base's original `tp_call` nor vectorcall's). `base_call` is the base's `tp_call` from before
/// the base was installed.
///
/// # Safety
/// As for `install`: a subclass keeps its base's part of the object at the same place.
pub unsafe fn install_for_subclass(ty: &Bound<'_, PyType>, offset: isize, base_call: usize) {
    // SAFETY: a live type object, read before it is patched (see `install`).
    unsafe {
        let tp = ty.as_type_ptr();
        if (*tp).tp_flags & ffi::Py_TPFLAGS_HAVE_VECTORCALL != 0 && (*tp).tp_vectorcall_offset == offset {
            return;
        }
        let call = tp_call_address(ty);
        if call != base_call && call != ffi::PyVectorcall_Call as *const () as usize {
            return;
        }
        install(ty, offset);
    }
}

/// The address of a type's `tp_call`, 0 when it has none.
pub fn tp_call_address(ty: &Bound<'_, PyType>) -> usize {
    // SAFETY: a live type object.
    unsafe { (*ty.as_type_ptr()).tp_call.map_or(0, |f| f as usize) }
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
        PyErr::from(Error::Panic(message)).restore(py);
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
) -> Result<[Option<Borrowed<'a, 'py, PyAny>>; N], Error> {
    let mut bound: [Option<Borrowed<'a, 'py, PyAny>>; N] = [None; N];
    // SAFETY: as the caller guarantees: `nargs` positional arguments, then one value per name
    // in `kwnames`.
    unsafe {
        let nargs = ffi::PyVectorcall_NARGS(nargsf) as usize;
        if nargs > N {
            return Err(Error::wrong_type(format!(
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
            let name = name.cast::<PyString>().map_err(PyErr::from)?;
            let name = name.to_str()?;
            let Some(index) = names.iter().position(|n| *n == name) else {
                return Err(Error::wrong_type(format!(
                    "{function}() got an unexpected keyword argument '{name}'"
                )));
            };
            if bound[index].is_some() {
                return Err(Error::wrong_type(format!(
                    "{function}() got multiple values for argument '{name}'"
                )));
            }
            bound[index] = Some(Borrowed::from_ptr(py, *args.add(nargs + j as usize)));
        }
    }
    Ok(bound)
}
