//! Definition-time checks. Each error names the offending value, so the mistake is found where
//! the metric is declared rather than at scrape time.

use crate::runtime::errors::{Error, Result};

fn is_name(name: &str, allow_colon: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (allow_colon && c == ':');
    match chars.next() {
        Some(c) if first_ok(c) => chars.all(|c| first_ok(c) || c.is_ascii_digit()),
        _ => false,
    }
}

pub fn metric_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("metric name must not be empty"));
    }
    if !is_name(name, true) {
        return Err(Error::invalid(format!(
            "invalid metric name {name:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
        )));
    }
    Ok(())
}

pub fn label_name(name: &str, reserved: &[&str]) -> Result<()> {
    if !is_name(name, false) {
        return Err(Error::invalid(format!(
            "invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]*"
        )));
    }
    if name.starts_with("__") {
        return Err(Error::invalid(format!(
            "invalid label name {name:?}: names starting with '__' are reserved"
        )));
    }
    if reserved.contains(&name) {
        return Err(Error::invalid(format!(
            "label name {name:?} is reserved for this metric type"
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
        return Err(Error::invalid("metric name must not be empty"));
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
        if kind == "info" || kind == "stateset" {
            return Err(Error::invalid(format!(
                "metric {full:?} is of a type that cannot have a unit"
            )));
        }
        if !full.ends_with(&format!("_{unit}")) {
            full.push('_');
            full.push_str(unit);
        }
    }
    metric_name(&full)?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_name("http_requests", true));
        assert!(is_name("a:b", true));
        assert!(!is_name("a:b", false));
        assert!(!is_name("1abc", true));
        assert!(!is_name("", true));
        assert!(!is_name("a-b", true));
    }
}
