//! A restricted registry's view: only the samples whose names were asked for, and a family only
//! when one of its samples is kept (prometheus_client's `restricted_registry(names)`).

use std::collections::HashSet;

use super::{FamilyDesc, Sample, SampleSink};

pub struct FilterSink<'s> {
    inner: &'s mut dyn SampleSink,
    names: &'s HashSet<String>,
    /// The family whose header is written before its first kept sample.
    pending: Option<FamilyDesc>,
    name: String,
}

impl<'s> FilterSink<'s> {
    pub fn new(inner: &'s mut dyn SampleSink, names: &'s HashSet<String>) -> Self {
        Self {
            inner,
            names,
            pending: None,
            name: String::new(),
        }
    }
}

impl SampleSink for FilterSink<'_> {
    fn family(&mut self, desc: &FamilyDesc) {
        self.pending = Some(desc.clone());
    }

    fn sample(&mut self, desc: &FamilyDesc, sample: &Sample<'_>) {
        self.name.clear();
        match sample.full_name {
            Some(full) => self.name.push_str(full),
            None => {
                self.name.push_str(&desc.name);
                self.name.push_str(sample.suffix);
            }
        }
        if !self.names.contains(&self.name) {
            return;
        }
        if let Some(pending) = self.pending.take() {
            self.inner.family(&pending);
        }
        self.inner.sample(desc, sample);
    }
}
