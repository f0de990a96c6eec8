//! Definition-time checks. Each error starts with prometheus_client's wording (code and tests
//! match on it) and names the offending value, so the mistake is found where the metric is
//! declared rather than at scrape time.
//!
//! Names follow Prometheus 3: any UTF-8 text is a valid metric or label name, and the exposition
//! quotes or escapes what the legacy `[a-zA-Z_:][a-zA-Z0-9_:]*` rule does not allow. The legacy
//! rule can be switched back on, as in prometheus_client (`enable_legacy_validation()`; the
//! Python package reads `PROMETHEUS_LEGACY_NAME_VALIDATION=true` at import).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::runtime::errors::{Error, Result};

static LEGACY: AtomicBool = AtomicBool::new(false);

/// Whether names must follow the legacy rule (prometheus_client's `get_legacy_validation()`).
#[pyfunction]
pub fn get_legacy_validation() -> bool {
    LEGACY.load(Ordering::Relaxed)
}

/// Names must match the legacy `[a-zA-Z_:][a-zA-Z0-9_:]*` rule from now on.
#[pyfunction]
pub fn enable_legacy_validation() {
    LEGACY.store(true, Ordering::Relaxed);
}

/// Any UTF-8 metric or label name is accepted from now on (the default).
#[pyfunction]
pub fn disable_legacy_validation() {
    LEGACY.store(false, Ordering::Relaxed);
}

fn legacy_char(c: char, first: bool, allow_colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (allow_colon && c == ':') || (!first && c.is_ascii_digit())
}

fn is_legacy(name: &str, allow_colon: bool) -> bool {
    !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| legacy_char(c, i == 0, allow_colon))
}

/// A metric name the legacy rule allows, so the exposition writes it as it is.
#[inline]
pub fn is_legacy_metric_name(name: &str) -> bool {
    is_legacy(name, true)
}

/// A label name the legacy rule allows.
#[inline]
pub fn is_legacy_label_name(name: &str) -> bool {
    is_legacy(name, false)
}

/// Whether `c`, at position `i` of a name, is kept by the exposition's escaping schemes.
pub fn legacy_rune(c: char, i: usize, allow_colon: bool) -> bool {
    legacy_char(c, i == 0, allow_colon)
}

/// Text of a Python `str` argument that is a name: a lone surrogate (as `os.fsdecode` makes)
/// cannot be written as UTF-8, so it is a `ValueError` naming the value.
pub fn name_text<'a>(value: &'a Bound<'_, PyString>, what: &str) -> Result<&'a str> {
    value.to_str().map_err(|_| {
        Error::invalid(format!(
            "invalid {what} {}: not valid UTF-8 (it holds a lone surrogate)",
            value.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// Text that is not a name (documentation, a label value): each lone surrogate becomes one
/// U+FFFD (through UTF-16, where a lone surrogate is one unit).
pub fn lossy_text<'a>(value: &'a Bound<'_, PyString>) -> Cow<'a, str> {
    if let Ok(s) = value.to_str() {
        return Cow::Borrowed(s);
    }
    let units = value
        .call_method1("encode", ("utf-16-le", "surrogatepass"))
        .and_then(|b| b.extract::<Vec<u8>>());
    match units {
        Ok(bytes) => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            Cow::Owned(String::from_utf16_lossy(&units))
        }
        Err(_) => Cow::Owned(value.to_string_lossy().into_owned()),
    }
}

/// A name argument (metric name, namespace, subsystem, unit): a `str` whose lone surrogate is a
/// `ValueError` naming it, instead of a bare `UnicodeEncodeError` from the argument conversion.
#[derive(Default)]
pub struct NameArg(pub String);

/// The `str` an argument must be, or a `TypeError` naming what was given.
fn str_arg<'a, 'py>(obj: Borrowed<'a, 'py, PyAny>, what: &str) -> Result<Borrowed<'a, 'py, PyString>> {
    obj.cast::<PyString>().map_err(|_| {
        Error::wrong_type(format!(
            "{what} must be a str, got {}",
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

impl<'a, 'py> FromPyObject<'a, 'py> for NameArg {
    type Error = Error;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> Result<Self> {
        let text = str_arg(obj, "a metric name")?;
        Ok(NameArg(name_text(&text, "name")?.to_string()))
    }
}

/// A documentation argument: any `str`, a lone surrogate written as U+FFFD.
#[derive(Default)]
pub struct TextArg(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for TextArg {
    type Error = Error;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> Result<Self> {
        let text = str_arg(obj, "documentation")?;
        Ok(TextArg(lossy_text(&text).into_owned()))
    }
}

pub fn metric_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("metric name cannot be empty"));
    }
    if get_legacy_validation() && !is_legacy_metric_name(name) {
        return Err(Error::invalid(format!(
            "invalid metric name {name}: {name:?} does not match [a-zA-Z_:][a-zA-Z0-9_:]* \
             (legacy name validation is on)"
        )));
    }
    Ok(())
}

pub fn label_name(name: &str, reserved: &[&str]) -> Result<()> {
    if get_legacy_validation() && !is_legacy_label_name(name) {
        return Err(Error::invalid(format!(
            "Invalid label metric name: {name}: {name:?} does not match [a-zA-Z_][a-zA-Z0-9_]* \
             (legacy name validation is on)"
        )));
    }
    if name.is_empty() {
        return Err(Error::invalid(
            "Invalid label metric name: a label name cannot be empty",
        ));
    }
    if name.starts_with("__") {
        return Err(Error::invalid(format!(
            "Reserved label metric name: {name}: names starting with '__' are reserved"
        )));
    }
    if reserved.contains(&name) {
        return Err(Error::invalid(format!(
            "Reserved label metric name: {name}: {name:?} is reserved for this metric type"
        )));
    }
    Ok(())
}

pub fn label_names(names: &[String], reserved: &[&str]) -> Result<()> {
    for (i, name) in names.iter().enumerate() {
        label_name(name, reserved)?;
        if names[..i].contains(name) {
            return Err(Error::invalid(format!("duplicate label name {name:?}")));
        }
    }
    Ok(())
}

/// prometheus_client's name building: namespace_subsystem_name, `_total` dropped from counters
/// (the exposition adds it back), and the unit appended when missing.
pub fn full_name(kind: &str, name: &str, namespace: &str, subsystem: &str, unit: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::invalid("Metric name should not be empty"));
    }
    let mut full = String::new();
    for part in [namespace, subsystem] {
        if !part.is_empty() {
            full.push_str(part);
            full.push('_');
        }
    }
    full.push_str(name);
    if kind == "counter" && full.ends_with("_total") {
        full.truncate(full.len() - "_total".len());
    }
    if !unit.is_empty() {
        if !full.ends_with(&format!("_{unit}")) {
            full.push('_');
            full.push_str(unit);
        }
        if kind == "info" || kind == "stateset" {
            return Err(Error::invalid(format!(
                "Metric name is of a type that cannot have a unit: {full}"
            )));
        }
    }
    metric_name(&full)?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names() {
        assert!(is_legacy_metric_name("http_requests"));
        assert!(is_legacy_metric_name("a:b"));
        assert!(!is_legacy_label_name("a:b"));
        assert!(!is_legacy_metric_name("1abc"));
        assert!(!is_legacy_metric_name(""));
        assert!(!is_legacy_metric_name("a-b"));
        assert!(!is_legacy_metric_name("café"));
    }

    #[test]
    fn utf8_names_are_valid_unless_legacy() {
        assert!(metric_name("my.metric").is_ok());
        assert!(label_name("user.id", &[]).is_ok());
        assert!(label_name("__x", &[]).is_err());
        assert!(label_name("", &[]).is_err());
    }
}
