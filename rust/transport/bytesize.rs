//! Byte sizes as users write them: `"10MB"`, `"512 KiB"`, `1048576`.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::runtime::errors::{Error, Result};

/// A byte count given as a number or a string such as `"10MB"`, `"512 KiB"` or `"1g"`
/// (K, M and G are powers of 1024).
pub fn byte_size(value: &Bound<'_, PyAny>, what: &str) -> Result<u64> {
    let bytes = if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_str()?;
        parse_size(text)
            .ok_or_else(|| Error::invalid(format!("{what} {text:?} is not a size such as 10MB, 512KB or 1048576")))?
    } else {
        value
            .extract::<u64>()
            .map_err(|_| Error::wrong_type(format!("{what} must be a number of bytes or a string such as \"10MB\"")))?
    };
    if bytes == 0 {
        return Err(Error::invalid(format!("{what} must be at least one byte")));
    }
    Ok(bytes)
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..split].parse().ok()?;
    let shift = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    Some((number * (1u64 << shift) as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Some(10 << 20));
        assert_eq!(parse_size("512 kib"), Some(512 << 10));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1.5K"), Some(1536));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("ten MB"), None);
        assert_eq!(parse_size("10 parsecs"), None);
    }
}
