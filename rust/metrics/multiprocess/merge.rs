//! Merging the files of a directory, as prometheus_client's `MultiProcessCollector` does:
//! counters, histograms and summaries add up across live and dead processes; a gauge follows
//! its `multiprocess_mode` (one series per pid for `all`/`liveall`, else the sum, min, max or
//! most recent value; the `live…` modes leave dead processes out).

use std::hash::{Hash, Hasher};

use indexmap::{Equivalent, IndexMap};

use super::format::{FamilyMeta, View};
use super::{GaugeMode, Layout};
use crate::metrics::exposition::{float_string, FamilyDesc, Kind, Sample, SampleSink};

/// One series' merged numbers: a value (a counter's, a gauge's, a sum), the time a
/// `mostrecent` gauge was set, and counts (histogram buckets, a summary's count).
#[derive(Clone, Default)]
pub struct Acc {
    pub value: f64,
    pub stamp: f64,
    pub counts: Vec<u64>,
}

/// A series: its label values and, for a gauge kept per process, the pid (0 otherwise).
#[derive(PartialEq, Eq)]
pub struct SeriesKey {
    pub values: Box<[String]>,
    pub pid: u32,
}

struct SeriesQuery<'a, 'b>(&'b [&'a str], u32);

fn hash_key<'s, H: Hasher>(values: impl ExactSizeIterator<Item = &'s str>, pid: u32, state: &mut H) {
    state.write_usize(values.len());
    for v in values {
        state.write(v.as_bytes());
        state.write_u8(0xff);
    }
    state.write_u32(pid);
}

impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(self.values.iter().map(String::as_str), self.pid, state)
    }
}

impl Hash for SeriesQuery<'_, '_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(self.0.iter().copied(), self.1, state)
    }
}

impl Equivalent<SeriesKey> for SeriesQuery<'_, '_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        self.1 == key.pid
            && self.0.len() == key.values.len()
            && self.0.iter().zip(key.values.iter()).all(|(a, b)| a == b)
    }
}

pub struct Family {
    pub meta: FamilyMeta,
    pub series: IndexMap<SeriesKey, Acc, foldhash::fast::RandomState>,
}

#[derive(Default)]
pub struct Merged {
    pub families: IndexMap<String, Family, foldhash::fast::RandomState>,
    /// The processes whose files were read and are alive.
    pub pids: Vec<u32>,
    written: Vec<bool>,
}

impl Merged {
    /// Adds one file; a dead process's `live…` gauges are left out.
    pub fn add(&mut self, view: &View<'_>, dead: bool) {
        // This file's family index → the merged family's, and how its labels map onto it.
        let mut targets: Vec<Option<(usize, Option<Vec<usize>>)>> = vec![None; view.families.len()];
        for (i, meta) in view.families.iter().enumerate() {
            if dead && matches!(meta.layout, Layout::Gauge(mode) if mode.live()) {
                continue;
            }
            let entry = self.families.entry(meta.name.clone());
            let index = entry.index();
            let family = entry.or_insert_with(|| Family {
                meta: meta.clone(),
                series: IndexMap::default(),
            });
            if !family.meta.layout.same_kind(&meta.layout) {
                continue;
            }
            let order = if family.meta.labelnames == meta.labelnames {
                None
            } else {
                // Label names in another order: map them; other names: leave the family out.
                let order: Option<Vec<usize>> = family
                    .meta
                    .labelnames
                    .iter()
                    .map(|n| meta.labelnames.iter().position(|m| m == n))
                    .collect();
                match order {
                    Some(order) if meta.labelnames.len() == order.len() => Some(order),
                    _ => continue,
                }
            };
            targets[i] = Some((index, order));
        }
        let mut reordered = Vec::new();
        for series in &view.series {
            let Some((index, order)) = &targets[series.family] else {
                continue;
            };
            let values: &[&str] = match order {
                None => &series.values,
                Some(order) => {
                    reordered.clear();
                    reordered.extend(order.iter().map(|i| series.values[*i]));
                    &reordered
                }
            };
            let family = &mut self.families[*index];
            let pid = match family.meta.layout {
                Layout::Gauge(mode) if mode.per_pid() && series.pid != 0 => series.pid,
                Layout::Gauge(mode) if mode.per_pid() => view.pid,
                _ => 0,
            };
            family.add(values, pid, &view.families[series.family].layout, series.cells);
        }
        if !dead && view.pid != 0 {
            self.pids.push(view.pid);
        }
    }

    /// Writes the family `name` if the files have it (once per scrape); false when they do not.
    pub fn write_family(&mut self, name: &str, sink: &mut dyn SampleSink) -> bool {
        let Some(index) = self.families.get_index_of(name) else {
            return false;
        };
        self.write_index(index, sink);
        true
    }

    /// Writes every family not written yet.
    pub fn write_rest(&mut self, sink: &mut dyn SampleSink) {
        for index in 0..self.families.len() {
            self.write_index(index, sink);
        }
    }

    fn write_index(&mut self, index: usize, sink: &mut dyn SampleSink) {
        self.written.resize(self.families.len(), false);
        if !std::mem::replace(&mut self.written[index], true) {
            self.families[index].write(sink);
        }
    }
}

fn f(word: u64) -> f64 {
    f64::from_bits(word)
}

impl Family {
    fn add(&mut self, values: &[&str], pid: u32, layout: &Layout, cells: &[u64]) {
        if let (Layout::Histogram(mine), Layout::Histogram(theirs)) = (&self.meta.layout, layout) {
            if mine != theirs {
                return self.add_other_buckets(values, pid, theirs, cells);
            }
        }
        let mode = match self.meta.layout {
            Layout::Gauge(mode) => Some(mode),
            _ => None,
        };
        // A stamped gauge's second word is the time it was set; an unstamped one never was.
        let stamp = if cells.len() == 2 && mode.is_some() {
            f(cells[1])
        } else {
            0.0
        };
        let acc = match self.series.get_index_of(&SeriesQuery(values, pid)) {
            Some(i) => &mut self.series[i],
            None => {
                let key = SeriesKey {
                    values: values.iter().map(|v| v.to_string()).collect(),
                    pid,
                };
                let fresh = match &self.meta.layout {
                    Layout::Counter | Layout::Summary => Acc {
                        counts: vec![0; usize::from(matches!(self.meta.layout, Layout::Summary))],
                        ..Acc::default()
                    },
                    Layout::Histogram(bounds) => Acc {
                        counts: vec![0; bounds.len()],
                        ..Acc::default()
                    },
                    // The first value of a gauge is the value, whatever the mode.
                    Layout::Gauge(_) => {
                        self.series.insert(
                            key,
                            Acc {
                                value: f(cells[0]),
                                stamp,
                                counts: Vec::new(),
                            },
                        );
                        return;
                    }
                };
                self.series.entry(key).or_insert(fresh)
            }
        };
        match (&self.meta.layout, mode) {
            (Layout::Counter, _) => acc.value += f(cells[0]),
            (Layout::Summary, _) => {
                acc.counts[0] += cells[0];
                acc.value += f(cells[1]);
            }
            (Layout::Histogram(bounds), _) => {
                for (count, cell) in acc.counts.iter_mut().zip(&cells[..bounds.len()]) {
                    *count += cell;
                }
                acc.value += f(cells[bounds.len()]);
            }
            (Layout::Gauge(_), Some(mode)) => {
                let v = f(cells[0]);
                match mode {
                    GaugeMode::All | GaugeMode::LiveAll => acc.value = v,
                    GaugeMode::Sum | GaugeMode::LiveSum => acc.value += v,
                    GaugeMode::Max | GaugeMode::LiveMax => acc.value = acc.value.max(v),
                    GaugeMode::Min | GaugeMode::LiveMin => acc.value = acc.value.min(v),
                    GaugeMode::MostRecent | GaugeMode::LiveMostRecent => {
                        if stamp > acc.stamp {
                            acc.value = v;
                            acc.stamp = stamp;
                        }
                    }
                }
            }
            (Layout::Gauge(_), None) => {}
        }
    }

    /// A histogram whose buckets differ from the family's: every bound either has goes into
    /// the family's bounds (prometheus_client merges buckets by `le` the same way).
    #[cold]
    fn add_other_buckets(&mut self, values: &[&str], pid: u32, theirs: &[f64], cells: &[u64]) {
        let Layout::Histogram(mine) = &self.meta.layout else {
            return;
        };
        let mut bounds: Vec<f64> = mine.to_vec();
        for b in theirs {
            if let Err(at) = bounds.binary_search_by(|x| x.total_cmp(b)) {
                bounds.insert(at, *b);
                for acc in self.series.values_mut() {
                    acc.counts.insert(at, 0);
                }
            }
        }
        self.meta.layout = Layout::Histogram(bounds.clone().into());
        let mut aligned = vec![0u64; bounds.len() + 1];
        for (b, count) in theirs.iter().zip(cells) {
            if let Ok(at) = bounds.binary_search_by(|x| x.total_cmp(b)) {
                aligned[at] = *count;
            }
        }
        aligned[bounds.len()] = cells[theirs.len()];
        let layout = self.meta.layout.clone();
        self.add(values, pid, &layout, &aligned);
    }

    fn write(&self, sink: &mut dyn SampleSink) {
        let meta = &self.meta;
        let kind = match meta.layout {
            Layout::Counter => Kind::Counter,
            Layout::Gauge(_) => Kind::Gauge,
            Layout::Histogram(_) => Kind::Histogram,
            Layout::Summary => Kind::Summary,
        };
        let desc = FamilyDesc {
            name: meta.name.clone(),
            help: meta.help.clone(),
            unit: meta.unit.clone(),
            kind,
            labelnames: meta.labelnames.clone(),
            passthrough: false,
        };
        sink.family(&desc);
        let names = &desc.labelnames;
        let le: Vec<String> = match &meta.layout {
            Layout::Histogram(bounds) => bounds.iter().map(|b| float_string(*b)).collect(),
            _ => Vec::new(),
        };
        let mut pid = itoa::Buffer::new();
        for (key, acc) in &self.series {
            let values = &key.values;
            match meta.layout {
                Layout::Counter => sink.sample(&desc, &Sample::new("_total", names, values, acc.value)),
                Layout::Gauge(mode) => {
                    if mode.stamped() && acc.stamp == 0.0 {
                        continue; // never set
                    }
                    let mut sample = Sample::new("", names, values, acc.value);
                    if key.pid != 0 {
                        sample.extra = Some(("pid", pid.format(key.pid)));
                    }
                    sink.sample(&desc, &sample);
                }
                Layout::Histogram(_) => {
                    let mut cumulative = 0u64;
                    for (count, le) in acc.counts.iter().zip(&le) {
                        cumulative += count;
                        let mut sample = Sample::new("_bucket", names, values, cumulative as f64);
                        sample.extra = Some(("le", le));
                        sink.sample(&desc, &sample);
                    }
                    sink.sample(&desc, &Sample::new("_count", names, values, cumulative as f64));
                    sink.sample(&desc, &Sample::new("_sum", names, values, acc.value));
                }
                Layout::Summary => {
                    sink.sample(&desc, &Sample::new("_count", names, values, acc.counts[0] as f64));
                    sink.sample(&desc, &Sample::new("_sum", names, values, acc.value));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::SnapshotSink;
    use crate::metrics::multiprocess::format::{FamilyMeta, SeriesView};

    fn histogram(bounds: &[f64]) -> FamilyMeta {
        FamilyMeta {
            name: "latency".into(),
            help: String::new(),
            unit: String::new(),
            layout: Layout::Histogram(bounds.into()),
            labelnames: Box::new([]),
        }
    }

    fn view<'a>(pid: u32, meta: FamilyMeta, cells: &'a [u64]) -> View<'a> {
        View {
            pid,
            file_id: pid.into(),
            families: vec![meta],
            series: vec![SeriesView {
                family: 0,
                pid: 0,
                cells,
                values: Default::default(),
            }],
            absorbed: Vec::new(),
        }
    }

    #[test]
    fn histograms_with_other_buckets_merge_by_bound() {
        let mut merged = Merged::default();
        let inf = f64::INFINITY;
        merged.add(&view(1, histogram(&[1.0, inf]), &[2, 1, 3.5f64.to_bits()]), false);
        merged.add(&view(2, histogram(&[0.5, inf]), &[4, 0, 1.0f64.to_bits()]), true);
        let mut sink = SnapshotSink::new(&[]);
        merged.write_rest(&mut sink);
        let samples: Vec<(String, f64)> = sink.families[0]
            .samples
            .iter()
            .map(|s| (format!("{}{:?}", s.suffix, s.labels), s.value))
            .collect();
        let le = |b: &str| format!("_bucket[(\"le\", \"{b}\")]");
        assert_eq!(
            samples,
            [
                (le("0.5"), 4.0),
                (le("1.0"), 6.0),
                (le("+Inf"), 7.0),
                ("_count[]".to_string(), 7.0),
                ("_sum[]".to_string(), 4.5),
            ]
        );
        assert_eq!(merged.pids, [1], "only live processes");
    }
}
