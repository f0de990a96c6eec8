//! Tracers: `get_tracer(name)` returns one; `tracer.span(...)` starts a span under the current
//! one (or `parent=`), sampled by the pipeline's sampler.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::runtime::errors::{self, Error};
use pyo3::types::{PyDict, PyString, PyTuple};

use super::attributes;
use super::context;
use super::data::{now_ns, Scope, SpanKind};
use super::ids;
use super::pipeline;
use super::span::{link_context, PySpan, Recording, SpanContext};
use super::text;

fn parse_kind(kind: Option<&Bound<'_, PyAny>>) -> errors::Result<SpanKind> {
    let Some(kind) = kind.filter(|k| !k.is_none()) else {
        return Ok(SpanKind::Internal);
    };
    let parsed = if let Ok(s) = kind.cast::<PyString>() {
        SpanKind::parse(&text::lossy(s))
    } else if let Ok(name) = kind.getattr("name") {
        // OpenTelemetry's SpanKind enum.
        SpanKind::parse(&name.str()?.to_string())
    } else {
        None
    };
    parsed.ok_or_else(|| {
        Error::invalid(format!(
            "span kind {} is not one of internal, server, client, producer, consumer",
            kind.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// `parent=None` means the current span; `parent=False` starts a new trace.
fn parent_context(py: Python<'_>, parent: Option<&Bound<'_, PyAny>>) -> PyResult<Option<SpanContext>> {
    match parent {
        Some(p) if p.is_instance_of::<pyo3::types::PyBool>() && !p.is_truthy()? => Ok(None),
        Some(p) if !p.is_none() => Ok(Some(link_context(p)?)),
        _ => Ok(context::current(py)
            .and_then(|span| span.cast::<PySpan>().ok().map(|s| s.get().ctx.clone()))
            .filter(|ctx| ctx.is_valid())),
    }
}

#[pyclass(frozen, name = "Tracer", module = "ferrotel._core")]
pub struct PyTracer {
    scope: Arc<Scope>,
}

impl PyTracer {
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyString>,
        attributes: Option<&Bound<'_, PyDict>>,
        kind: Option<&Bound<'_, PyAny>>,
        parent: Option<&Bound<'_, PyAny>>,
        links: Option<&Bound<'_, PyAny>>,
        start_time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySpan> {
        let kind = parse_kind(kind)?;
        let parent = parent_context(py, parent)?;
        self.start_parsed(name, attributes, kind, parent, links, start_time)
    }

    #[allow(clippy::too_many_arguments)]
    fn start_parsed(
        &self,
        name: &Bound<'_, PyString>,
        attributes: Option<&Bound<'_, PyDict>>,
        kind: SpanKind,
        parent: Option<SpanContext>,
        links: Option<&Bound<'_, PyAny>>,
        start_time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySpan> {
        let (ctx, pipeline) = sample_child(parent.as_ref());
        let Some(pipeline) = pipeline else {
            return Ok(PySpan::non_recording(ctx));
        };
        let start_ns = match start_time {
            Some(t) if !t.is_none() => {
                if t.is_instance_of::<pyo3::types::PyInt>() {
                    t.extract::<u64>()?
                } else {
                    (t.extract::<f64>()? * 1e9) as u64
                }
            }
            _ => now_ns(),
        };
        let mut recording = Recording::new(
            text::owned(name),
            kind,
            parent.as_ref(),
            start_ns,
            self.scope.clone(),
            pipeline,
        );
        if let Some(attrs) = attributes {
            let limits = &recording.pipeline.limits;
            recording.dropped_attributes =
                attributes::read_dict(attrs, &mut recording.attributes, limits.max_attributes, limits);
        }
        let span = PySpan::new(ctx, Some(recording));
        if let Some(links) = links.filter(|l| !l.is_none()) {
            for link in links.try_iter()? {
                let link = link?;
                span.add_link_from(&link)?;
            }
        }
        Ok(span)
    }

    pub fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }
}

/// The context of a new span under `parent` (a new trace without one), and the pipeline to
/// record it into when the sampler keeps it.
#[inline]
pub fn sample_child(parent: Option<&SpanContext>) -> (SpanContext, Option<Arc<pipeline::Pipeline>>) {
    // A trace id of ours is random (Level 2's `random` flag); a caller's keeps its own flag.
    let (trace_id, span_id, random) = match parent {
        Some(p) => (p.trace_id, ids::span_id(), p.flags & SpanContext::RANDOM),
        None => {
            let (trace_id, span_id) = ids::trace_and_span_id();
            (trace_id, span_id, SpanContext::RANDOM)
        }
    };
    let (sampled, pipeline) = pipeline::sample(parent, trace_id);
    let ctx = SpanContext {
        trace_id,
        span_id,
        flags: sampled as u8 | random,
        trace_state: parent.map(|p| p.trace_state.clone()).unwrap_or_default(),
        remote: false,
    };
    (ctx, pipeline.filter(|_| sampled))
}

#[pymethods]
impl PyTracer {
    #[new]
    #[pyo3(signature = (name, version=""))]
    fn new(name: &str, version: &str) -> Self {
        Self {
            scope: Arc::new(Scope {
                name: name.to_string(),
                version: version.to_string(),
            }),
        }
    }

    #[getter]
    fn name(&self) -> &str {
        &self.scope.name
    }

    /// The guide's `tracer.trace(name, fn)`: calls (or, for a coroutine function, awaits)
    /// `fn(span)` inside a span; an exception is recorded, sets ERROR, and is re-raised.
    #[pyo3(signature = (name, func, attributes=None, kind=None))]
    fn trace<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyString>,
        func: &Bound<'py, PyAny>,
        attributes: Option<&Bound<'py, PyDict>>,
        kind: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("ferrotel.tracing")?
            .call_method1("_trace", (slf, name, func, attributes, kind))
    }

    fn __repr__(&self) -> String {
        format!("<Tracer {:?}>", self.scope.name)
    }
}

/// `span`, `start_span` and `start_as_current_span`: one body under three names, each with
/// its own docstring.
macro_rules! span_starters {
    ($($(#[$doc:meta])* fn $method:ident;)*) => {
        #[pymethods]
        impl PyTracer {
            $(
                $(#[$doc])*
                #[pyo3(signature = (name, attributes=None, kind=None, parent=None, links=None, start_time=None))]
                #[allow(clippy::too_many_arguments)]
                fn $method(
                    &self,
                    py: Python<'_>,
                    name: &Bound<'_, PyString>,
                    attributes: Option<&Bound<'_, PyDict>>,
                    kind: Option<&Bound<'_, PyAny>>,
                    parent: Option<&Bound<'_, PyAny>>,
                    links: Option<&Bound<'_, PyAny>>,
                    start_time: Option<&Bound<'_, PyAny>>,
                ) -> PyResult<PySpan> {
                    self.start(py, name, attributes, kind, parent, links, start_time)
                }
            )*
        }
    };
}

span_starters! {
    /// A span to use as `with tracer.span("name") as span:` (current inside the block, ended on
    /// exit, an exception recorded and the status set to ERROR if one escapes).
    fn span;
    /// A started span that is not made current; end it with `span.end()`.
    fn start_span;
    /// The same as `span`, under OpenTelemetry's name.
    fn start_as_current_span;
}

extern "C" {
    /// CPython's bound-method constructor (`types.MethodType`), public C API that pyo3-ffi
    /// does not declare.
    fn PyMethod_New(func: *mut pyo3::ffi::PyObject, obj: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject;
}

/// What `@traced` makes of a plain function: a callable that runs it inside a span (current
/// while it runs; an exception recorded, the status set to ERROR, and re-raised), with no
/// Python frame or `with` block of its own. The Python layer copies the function's name,
/// docstring and `__wrapped__` onto it (`functools.update_wrapper`); it binds as a method does.
#[pyclass(frozen, dict, weakref, name = "TracedFunction", module = "ferrotel._core")]
pub struct PyTraced {
    tracer: Py<PyTracer>,
    name: Py<PyString>,
    attributes: Option<Py<PyDict>>,
    kind: SpanKind,
    func: Py<PyAny>,
}

#[pymethods]
impl PyTraced {
    #[new]
    #[pyo3(signature = (tracer, name, func, attributes=None, kind=None))]
    fn new(
        tracer: Py<PyTracer>,
        name: Py<PyString>,
        func: Py<PyAny>,
        attributes: Option<Py<PyDict>>,
        kind: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            tracer,
            name,
            attributes,
            kind: parse_kind(kind)?,
            func,
        })
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let parent = parent_context(py, None)?;
        let attributes = self.attributes.as_ref().map(|a| a.bind(py));
        let span = self
            .tracer
            .get()
            .start_parsed(self.name.bind(py), attributes, self.kind, parent, None, None)?;
        let span = Bound::new(py, span)?;
        PySpan::enter(&span)?;
        let result = self.func.bind(py).call(args, kwargs);
        let exc = result.as_ref().err().map(|err| {
            let value = err.value(py).clone();
            // Before 3.12 the traceback travels beside the exception until it is raised again.
            if let Some(tb) = err.traceback(py) {
                let _ = value.setattr(pyo3::intern!(py, "__traceback__"), tb);
            }
            value.into_any()
        });
        PySpan::exit(&span, exc.as_ref());
        result
    }

    /// Bound to an instance as a function is, so `@traced` works on methods.
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        obj: Option<&Bound<'py, PyAny>>,
        _owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match obj.filter(|o| !o.is_none()) {
            // SAFETY: both are live objects; PyMethod_New returns a new reference or NULL with
            // an exception set.
            Some(obj) => unsafe { Bound::from_owned_ptr_or_err(slf.py(), PyMethod_New(slf.as_ptr(), obj.as_ptr())) },
            None => Ok(slf.clone().into_any()),
        }
    }

    /// Pickled by reference, as the function it stands for is.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.getattr("__qualname__")
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let name = slf
            .getattr("__qualname__")
            .and_then(|n| n.str().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("<traced function {name}>")
    }
}

/// The current span, or None outside any span.
#[pyfunction]
pub fn current_span(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    context::current(py)
}

/// Makes `span` current until the returned token is passed to `_reset_current_span`.
#[pyfunction]
pub fn _set_current_span<'py>(span: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    context::set(span.py(), span)
}

#[pyfunction]
pub fn _reset_current_span(token: &Bound<'_, PyAny>) {
    context::reset(token.py(), token);
}

/// The ContextVar that holds the current span.
#[pyfunction]
pub fn _current_span_var(py: Python<'_>) -> Bound<'_, PyAny> {
    context::context_var(py)
}

/// A span that only carries `context`, to make an extracted remote context current.
#[pyfunction]
pub fn non_recording_span(context: &Bound<'_, PyAny>) -> PyResult<PySpan> {
    Ok(PySpan::non_recording(link_context(context)?))
}
