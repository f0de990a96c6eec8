//! Python objects into a record's plain Rust values, on the caller's thread. The caller's
//! payload can be any shape — a list holding itself, a DAG of shared lists whose expansion is
//! exponential, a dict whose values' `__str__` changes it — so the work per record is bounded:
//! a container already on the path is `"<cycle>"`, and past the depth, value or text budget
//! the rest is a `"<truncated: …>"` marker. The record is always emitted; what was cut is
//! counted in `ferrotel_dropped_total{signal="logs",reason="payload_cycle"|"payload_truncated"}`.

use std::collections::HashSet;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::record::{Field, Value};
use crate::runtime::selfmetrics::record_drops;

/// Deep enough for real payloads; a container deeper than this is a marker, never its `str()`
/// (Python's own repr of a shared-list DAG is exponential too).
const MAX_DEPTH: usize = 8;
/// Values (scalars and containers, keys not counted) converted per record.
const MAX_VALUES: usize = 10_000;
/// Bytes of text (keys and strings) kept per record: 1 MiB, the size of a very long log line.
const MAX_TEXT: usize = 1 << 20;

pub const CYCLE: &str = "<cycle>";

fn truncated_items(n: usize) -> Value {
    Value::Str(format!("<truncated: {n} items>"))
}

/// The key under which a cut dict says how many entries it left out.
const TRUNCATED_KEY: &str = "<truncated>";

/// One record's conversion: its budgets, the containers on the current path, and what was cut,
/// counted when it is dropped.
pub struct Converter {
    values: usize,
    text: usize,
    /// The identities of the containers from the top down to the one being converted; they are
    /// alive (borrowed on the stack) for as long as they are on the path.
    path: [usize; MAX_DEPTH],
    depth: usize,
    cycles: usize,
    cut: usize,
}

impl Default for Converter {
    fn default() -> Self {
        Self {
            values: MAX_VALUES,
            text: MAX_TEXT,
            path: [0; MAX_DEPTH],
            depth: 0,
            cycles: 0,
            cut: 0,
        }
    }
}

impl Drop for Converter {
    fn drop(&mut self) {
        if self.cycles > 0 {
            record_drops("logs", "payload_cycle", self.cycles);
        }
        if self.cut > 0 {
            record_drops("logs", "payload_truncated", self.cut);
        }
    }
}

impl Converter {
    /// Context fields from a dict (keyword arguments, the guide's `context`, a nested dict).
    pub fn fields(&mut self, dict: &Bound<'_, PyDict>) -> Vec<Field> {
        self.entries(items(dict), dict.len())
    }

    /// Context fields from `len` key-value pairs (a stdlib record's `extra`).
    pub fn entries<'py>(
        &mut self,
        pairs: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        len: usize,
    ) -> Vec<Field> {
        let mut fields: Vec<Field> = Vec::with_capacity(len);
        // Every key of a JSON object must be unique. Keys that were not whole strings (`1` next
        // to `"1"`, lone surrogates made U+FFFD, text cut at the budget) can come out the same
        // as another; from the first of those on, the map's keys are checked.
        let mut seen: Option<HashSet<String>> = None;
        let checked = |seen: &mut Option<HashSet<String>>, fields: &[Field], key| {
            let seen = seen.get_or_insert_with(|| fields.iter().map(|(k, _)| k.to_string()).collect());
            unique(seen, key)
        };
        for (k, v) in pairs {
            if self.values == 0 {
                let left = len.saturating_sub(fields.len());
                self.cut += left;
                let key = checked(&mut seen, &fields, TRUNCATED_KEY.to_string());
                fields.push((key.into(), truncated_items(left)));
                break;
            }
            let key = match self.key(&k) {
                (key, true) if seen.is_none() => key,
                (key, _) => checked(&mut seen, &fields, key),
            };
            fields.push((key.into(), self.value(&v)));
        }
        fields
    }

    pub fn value(&mut self, obj: &Bound<'_, PyAny>) -> Value {
        if self.values == 0 {
            self.cut += 1;
            return truncated_items(1);
        }
        self.values -= 1;
        if let Ok(s) = obj.cast_exact::<PyString>() {
            return self.text(s);
        }
        if obj.is_none() {
            return Value::Null;
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return Value::Bool(b.is_true());
        }
        if obj.is_instance_of::<PyInt>() {
            return match obj.extract::<i64>() {
                Ok(n) => Value::Int(n),
                Err(_) => self.owned(display(obj)),
            };
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            let f = f.value();
            return if f.is_finite() {
                Value::Float(f)
            } else {
                self.owned(display(obj))
            };
        }
        if let Ok(dict) = obj.cast::<PyDict>() {
            return self.nested(obj, dict.len(), |c| Value::Map(c.fields(dict)));
        }
        if let Ok(list) = obj.cast::<PyList>() {
            return self.nested(obj, list.len(), |c| Value::List(c.list(list.iter(), list.len())));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            return self.nested(obj, tuple.len(), |c| Value::List(c.list(tuple.iter(), tuple.len())));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return self.text(s);
        }
        self.owned(display(obj))
    }

    /// A container's items, converted one level down unless it is already on the path (a
    /// cycle) or too deep.
    fn nested(&mut self, obj: &Bound<'_, PyAny>, len: usize, convert: impl FnOnce(&mut Self) -> Value) -> Value {
        let id = obj.as_ptr() as usize;
        if self.path[..self.depth].contains(&id) {
            self.cycles += 1;
            return Value::Str(CYCLE.into());
        }
        if self.depth == MAX_DEPTH {
            self.cut += len;
            return truncated_items(len);
        }
        self.path[self.depth] = id;
        self.depth += 1;
        let value = convert(self);
        self.depth -= 1;
        value
    }

    fn list<'py>(&mut self, items: impl Iterator<Item = Bound<'py, PyAny>>, len: usize) -> Vec<Value> {
        let mut values = Vec::with_capacity(len.min(self.values));
        for item in items {
            if self.values == 0 {
                let left = len.saturating_sub(values.len());
                self.cut += left;
                values.push(truncated_items(left));
                break;
            }
            values.push(self.value(&item));
        }
        values
    }

    /// The key's text, and whether it is the whole text of a `str` (then no other key of a
    /// dict can have the same).
    fn key(&mut self, obj: &Bound<'_, PyAny>) -> (String, bool) {
        let cut = self.cut;
        match obj.cast::<PyString>() {
            Ok(s) => match s.to_str() {
                Ok(s) => (self.budget(s), self.cut == cut),
                Err(_) => (self.budget(&text(s)), false),
            },
            Err(_) => (self.budget(&display(obj)), false),
        }
    }

    fn text(&mut self, s: &Bound<'_, PyString>) -> Value {
        Value::Str(self.string(s))
    }

    fn string(&mut self, s: &Bound<'_, PyString>) -> String {
        match s.to_str() {
            Ok(s) => self.budget(s),
            Err(_) => self.budget(&text(s)),
        }
    }

    fn owned(&mut self, s: String) -> Value {
        if s.len() <= self.text {
            self.text -= s.len();
            return Value::Str(s);
        }
        Value::Str(self.budget(&s))
    }

    /// The text, or as much of it as the text budget has left with a marker saying how many
    /// bytes were cut.
    fn budget(&mut self, s: &str) -> String {
        if s.len() <= self.text {
            self.text -= s.len();
            return s.to_owned();
        }
        let mut keep = self.text;
        while !s.is_char_boundary(keep) {
            keep -= 1;
        }
        self.text -= keep;
        self.cut += 1;
        format!("{}<truncated: {} bytes>", &s[..keep], s.len() - keep)
    }
}

/// `key`, or `key#2`, `key#3` … when a key of the same map already has that text.
fn unique(seen: &mut HashSet<String>, key: String) -> String {
    let key = if seen.contains(&key) {
        (2..)
            .map(|n| format!("{key}#{n}"))
            .find(|k| !seen.contains(k))
            .expect("a free suffix")
    } else {
        key
    };
    seen.insert(key.clone());
    key
}

/// A dict's items, ending early (instead of panicking, as PyO3's iterator does) when the dict
/// changes size while they are converted: a value's `__str__` can run any code.
pub fn items<'a, 'py>(
    dict: &'a Bound<'py, PyDict>,
) -> impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)> + 'a {
    let len = dict.len();
    let mut iter = dict.iter();
    // At most `len` steps: PyO3 also panics when the keys were replaced at the same size.
    std::iter::from_fn(move || if dict.len() == len { iter.next() } else { None }).take(len)
}

/// Context fields from a dict, as one record's conversion.
pub fn fields(dict: &Bound<'_, PyDict>) -> Vec<Field> {
    Converter::default().fields(dict)
}

/// One value, as one record's conversion.
pub fn value(obj: &Bound<'_, PyAny>) -> Value {
    Converter::default().value(obj)
}

pub fn text(s: &Bound<'_, PyString>) -> String {
    match s.to_str() {
        Ok(s) => s.to_owned(),
        // Lone surrogates cannot be UTF-8; keep the rest of the text.
        Err(_) => s.to_string_lossy().into_owned(),
    }
}

/// `str(obj)`, then `repr(obj)`; an object whose both raise is named by its type. Never raises.
pub fn display(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(s) = obj.str() {
        return text(&s);
    }
    if let Ok(s) = obj.repr() {
        return text(&s);
    }
    let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    format!("<unprintable {kind}>")
}

pub fn key(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyString>() {
        Ok(s) => text(s),
        Err(_) => display(obj),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_already_in_the_map_gets_the_first_free_suffix() {
        let mut seen: HashSet<String> = ["1", "1#2"].map(String::from).into();
        assert_eq!(unique(&mut seen, "1".into()), "1#3");
        assert_eq!(unique(&mut seen, "2".into()), "2");
        assert_eq!(unique(&mut seen, "2".into()), "2#2");
        assert_eq!(seen.len(), 5);
    }
}
