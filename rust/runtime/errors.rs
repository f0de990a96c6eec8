//! ferrotel's errors, in one place. Definition-time mistakes become `ValueError`/`TypeError`
//! naming the value; OS failures (a port in use, a file that cannot be opened) `OSError`; a
//! Rust panic surfaces as `PanicException`, never an abort.

use std::fmt;

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;

pub use pyo3::panic::PanicException;

#[derive(Debug)]
pub enum Error {
    /// A value out of its allowed set or range: `ValueError`.
    Invalid(String),
    /// A value of the wrong type: `TypeError`.
    WrongType(String),
    /// The operating system refused (bind, open, spawn): `OSError`.
    Os(String),
    /// A Rust panic caught at a boundary PyO3 does not guard: `PanicException`.
    Panic(String),
    /// An exception raised by Python code ferrotel called, passed on unchanged.
    Python(PyErr),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    pub fn wrong_type(message: impl Into<String>) -> Self {
        Error::WrongType(message.into())
    }

    pub fn os(context: impl fmt::Display, err: impl fmt::Display) -> Self {
        Error::Os(format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m) | Error::WrongType(m) | Error::Os(m) | Error::Panic(m) => f.write_str(m),
            Error::Python(e) => write!(f, "{e}"),
        }
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Invalid(m) => PyValueError::new_err(m),
            Error::WrongType(m) => PyTypeError::new_err(m),
            Error::Os(m) => PyOSError::new_err(m),
            Error::Panic(m) => PanicException::new_err(m),
            Error::Python(e) => e,
        }
    }
}

impl From<PyErr> for Error {
    fn from(err: PyErr) -> Error {
        Error::Python(err)
    }
}

/// Raises a Rust panic, so tests can check it surfaces as a Python exception.
#[pyfunction]
pub fn _debug_panic(message: &str) {
    panic!("{message}");
}
