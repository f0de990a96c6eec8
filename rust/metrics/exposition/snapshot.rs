//! An owned copy of a registry's samples, for `get_sample_value` and for handing families to
//! prometheus_client. Also the form in which Python collectors' families enter the renderers.

use super::{Exemplar, FamilyDesc, Sample, SampleSink, Timestamp};

#[derive(Clone, Debug)]
pub struct OwnedSample {
    pub suffix: String,
    /// Set when the sample's name does not start with its family's.
    pub full_name: Option<String>,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<Timestamp>,
    pub exemplar: Option<Exemplar>,
}

impl OwnedSample {
    pub fn name(&self, family: &str) -> String {
        match &self.full_name {
            Some(full) => full.clone(),
            None => format!("{family}{}", self.suffix),
        }
    }
}

#[derive(Clone, Debug)]
pub struct OwnedFamily {
    pub desc: FamilyDesc,
    pub samples: Vec<OwnedSample>,
}

impl OwnedFamily {
    pub fn write(&self, sink: &mut dyn SampleSink) {
        sink.family(&self.desc);
        let mut names = Vec::new();
        let mut values = Vec::new();
        for s in &self.samples {
            names.clear();
            values.clear();
            for (n, v) in &s.labels {
                names.push(n.clone());
                values.push(v.clone());
            }
            let sample = Sample {
                suffix: &s.suffix,
                full_name: s.full_name.as_deref(),
                labelnames: &names,
                labelvalues: &values,
                extra: None,
                value: s.value,
                timestamp: s.timestamp.as_ref(),
                exemplar: s.exemplar.as_ref(),
            };
            sink.sample(&self.desc, &sample);
        }
    }
}

pub struct SnapshotSink<'d> {
    pub families: Vec<OwnedFamily>,
    default_labels: &'d [(String, String)],
}

impl<'d> SnapshotSink<'d> {
    pub fn new(default_labels: &'d [(String, String)]) -> Self {
        Self {
            families: Vec::new(),
            default_labels,
        }
    }
}

impl SampleSink for SnapshotSink<'_> {
    fn family(&mut self, desc: &FamilyDesc) {
        self.families.push(OwnedFamily {
            desc: desc.clone(),
            samples: Vec::new(),
        });
    }

    fn sample(&mut self, _desc: &FamilyDesc, sample: &Sample<'_>) {
        let mut labels: Vec<(String, String)> = self.default_labels.to_vec();
        labels.extend(
            sample
                .labelnames
                .iter()
                .cloned()
                .zip(sample.labelvalues.iter().cloned()),
        );
        if let Some((n, v)) = sample.extra {
            labels.push((n.to_string(), v.to_string()));
        }
        let owned = OwnedSample {
            suffix: sample.suffix.to_string(),
            full_name: sample.full_name.map(str::to_string),
            labels,
            value: sample.value,
            timestamp: sample.timestamp.cloned(),
            exemplar: sample.exemplar.cloned(),
        };
        if let Some(family) = self.families.last_mut() {
            family.samples.push(owned);
        }
    }
}
