//! Redaction of spans, on the exporters' threads: the rules the log sinks follow (the shared
//! `transport::redact` engine) applied to span, event and link attributes and to the status
//! description. The application's thread pays nothing for it; an exporter thread, a memoised
//! key lookup per attribute and a scan of each string value (`Redactor::scrub`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::traces::data::{AttrValue, Attributes, SpanData};
use crate::transport::error::ExportError;
use crate::transport::redact::{Redactor, REDACTED};
use crate::transport::worker::{Exporter, ExporterFactory};

fn scrub_value(r: &Redactor, value: &AttrValue) -> Option<AttrValue> {
    match value {
        AttrValue::Str(s) => match r.scrub(s) {
            Cow::Owned(changed) => Some(AttrValue::Str(changed)),
            Cow::Borrowed(_) => None,
        },
        AttrValue::StrArray(items) => {
            let scrubbed: Vec<Cow<'_, str>> = items.iter().map(|s| r.scrub(s)).collect();
            scrubbed
                .iter()
                .any(|s| matches!(s, Cow::Owned(_)))
                .then(|| AttrValue::StrArray(scrubbed.into_iter().map(Cow::into_owned).collect()))
        }
        _ => None,
    }
}

/// What `r` makes of `attributes`; None when it changes nothing.
fn redact_attributes(r: &Redactor, attributes: &Attributes) -> Option<Attributes> {
    let mut out: Option<Attributes> = None;
    for (i, (key, value)) in attributes.iter().enumerate() {
        let replaced = if r.is_sensitive(key) {
            (*value != AttrValue::Str(REDACTED.into())).then(|| AttrValue::Str(REDACTED.into()))
        } else {
            scrub_value(r, value)
        };
        if let Some(v) = replaced {
            out.get_or_insert_with(|| attributes.clone())[i].1 = v;
        }
    }
    out
}

/// `span` as `r` leaves it; None when it changes nothing (the span is then passed on as it is).
pub fn redacted(r: &Redactor, span: &SpanData) -> Option<SpanData> {
    let mut out: Option<SpanData> = None;
    if let Some(a) = redact_attributes(r, &span.attributes) {
        out.get_or_insert_with(|| span.clone()).attributes = a;
    }
    for (i, event) in span.events.iter().enumerate() {
        if let Some(a) = redact_attributes(r, &event.attributes) {
            out.get_or_insert_with(|| span.clone()).events[i].attributes = a;
        }
    }
    for (i, link) in span.links.iter().enumerate() {
        if let Some(a) = redact_attributes(r, &link.attributes) {
            out.get_or_insert_with(|| span.clone()).links[i].attributes = a;
        }
    }
    if let Cow::Owned(message) = r.scrub(&span.status_message) {
        out.get_or_insert_with(|| span.clone()).status_message = message;
    }
    out
}

/// An exporter that hands its inner exporter the batch as `redactor` leaves it.
struct Redacting {
    inner: Box<dyn Exporter<Arc<SpanData>>>,
    redactor: Arc<Redactor>,
    batch: Vec<Arc<SpanData>>,
}

impl Exporter<Arc<SpanData>> for Redacting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn export(&mut self, batch: &[Arc<SpanData>], deadline: Instant) -> Result<(), ExportError> {
        let redactor = &self.redactor;
        self.batch.extend(
            batch
                .iter()
                .map(|s| redacted(redactor, s).map_or_else(|| s.clone(), Arc::new)),
        );
        let result = self.inner.export(&self.batch, deadline);
        self.batch.clear();
        result
    }
}

/// `factory`'s exporters, behind redaction.
pub fn redacting(factory: ExporterFactory<Arc<SpanData>>, redactor: Arc<Redactor>) -> ExporterFactory<Arc<SpanData>> {
    Arc::new(move || {
        Box::new(Redacting {
            inner: factory(),
            redactor: redactor.clone(),
            batch: Vec::new(),
        })
    })
}
