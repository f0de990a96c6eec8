//! The in-memory exporter, for tests: finished spans as dicts.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::traces::attributes::dict_to_python;
use crate::traces::data::SpanData;
use crate::traces::ids::{span_hex, trace_hex};
use crate::traces::pipeline::SpanStore;

#[pyclass(frozen, name = "InMemorySpanExporter", module = "ferrotel._core")]
pub struct InMemorySpanExporter {
    pub store: Arc<SpanStore>,
}

fn span_dict<'py>(py: Python<'py>, s: &SpanData) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &s.name)?;
    d.set_item("trace_id", trace_hex(s.trace_id))?;
    d.set_item("span_id", span_hex(s.span_id))?;
    d.set_item("parent_span_id", s.parent_span_id.map(span_hex))?;
    d.set_item("kind", s.kind.name())?;
    d.set_item("start_time", s.start_ns)?;
    d.set_item("end_time", s.end_ns)?;
    d.set_item("status", s.status.name())?;
    d.set_item("status_description", &s.status_message)?;
    d.set_item("attributes", dict_to_python(py, &s.attributes)?)?;
    let events = PyList::empty(py);
    for e in &s.events {
        let event = PyDict::new(py);
        event.set_item("name", &e.name)?;
        event.set_item("timestamp", e.time_ns)?;
        event.set_item("attributes", dict_to_python(py, &e.attributes)?)?;
        events.append(event)?;
    }
    d.set_item("events", events)?;
    let links = PyList::empty(py);
    for l in &s.links {
        let link = PyDict::new(py);
        link.set_item("trace_id", trace_hex(l.trace_id))?;
        link.set_item("span_id", span_hex(l.span_id))?;
        link.set_item("attributes", dict_to_python(py, &l.attributes)?)?;
        links.append(link)?;
    }
    d.set_item("links", links)?;
    d.set_item("resource", dict_to_python(py, &s.resource.attributes)?)?;
    d.set_item("scope", &s.scope.name)?;
    d.set_item("dropped_attributes", s.dropped_attributes)?;
    d.set_item("dropped_events", s.dropped_events)?;
    d.set_item("dropped_links", s.dropped_links)?;
    Ok(d)
}

#[pymethods]
impl InMemorySpanExporter {
    #[new]
    fn new() -> Self {
        Self {
            store: Arc::new(SpanStore::default()),
        }
    }

    /// Spans ended so far, oldest first, as dicts.
    fn get_finished_spans<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        crate::runtime::hooks::settle();
        let spans: Vec<Arc<SpanData>> = self.store.spans.lock().clone();
        let list = PyList::empty(py);
        for s in spans {
            list.append(span_dict(py, &s)?)?;
        }
        Ok(list)
    }

    fn clear(&self) {
        crate::runtime::hooks::settle();
        let removed = std::mem::take(&mut *self.store.spans.lock());
        drop(removed);
    }
}
