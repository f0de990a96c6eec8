//! Durations given in seconds from Python, checked where they are given.

use std::time::Duration;

use super::errors::{Error, Result};

/// A timeout: zero or more seconds.
pub fn non_negative(seconds: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        Error::invalid(format!(
            "{what} must be a non-negative number of seconds, got {seconds}"
        ))
    })
}

/// A period or deadline that must pass: more than zero seconds.
pub fn positive(seconds: f64, what: &str) -> Result<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if seconds > 0.0 => Ok(d),
        _ => Err(Error::invalid(format!(
            "{what} must be a positive number of seconds, got {seconds}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(positive(0.0, "t").is_err());
        assert!(positive(f64::INFINITY, "t").is_err());
        assert!(positive(f64::NAN, "t").is_err());
        assert_eq!(positive(1.5, "t").unwrap(), Duration::from_millis(1500));
        assert!(non_negative(0.0, "t").is_ok());
        assert!(non_negative(-1.0, "t").is_err());
    }
}
