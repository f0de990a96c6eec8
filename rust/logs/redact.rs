//! Redaction, applied by the sinks as they format: values under sensitive keys are replaced,
//! and pattern rules (say, email masking) rewrite every string that leaves.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

use crate::runtime::errors::{Error, Result};

pub const REDACTED: &str = "[REDACTED]";

/// Matched anywhere in a key once it is lower-cased and stripped of `_`, `-`, `.` and spaces,
/// so `X-Api-Key`, `db_password` and `refreshToken` are all caught.
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "privatekey",
    "accesskey",
    "sessionid",
    "jwt",
    "csrf",
    "xsrf",
];

#[derive(Debug, Default)]
pub struct Redactor {
    /// Tells this redactor's answers apart in a thread's memo.
    id: u64,
    keys: Option<Regex>,
    patterns: Vec<(Regex, String)>,
}

/// Keys seen by this thread (a sink's writer) and whether they are sensitive: log keys repeat,
/// and matching them was the costliest part of formatting a line.
struct KeyMemo {
    redactor: u64,
    keys: HashMap<String, bool, foldhash::fast::RandomState>,
}

const KEY_MEMO_SIZE: usize = 4096;

thread_local! {
    static KEY_MEMO: RefCell<KeyMemo> = RefCell::new(KeyMemo { redactor: 0, keys: HashMap::default() });
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn normalize(key: &str) -> Cow<'_, str> {
    let clean = |b: u8| !matches!(b, b'_' | b'-' | b'.' | b' ') && !b.is_ascii_uppercase();
    if key.bytes().all(clean) {
        return Cow::Borrowed(key);
    }
    Cow::Owned(
        key.chars()
            .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    )
}

impl Redactor {
    /// `keys` are added to the defaults unless `defaults` is false; `patterns` are
    /// (regex, replacement) pairs, the replacement using `$1` / `${name}` for groups.
    pub fn new(keys: &[String], defaults: bool, patterns: &[(String, String)]) -> Result<Self> {
        let mut terms: Vec<String> = if defaults {
            DEFAULT_KEYS.iter().map(|k| k.to_string()).collect()
        } else {
            Vec::new()
        };
        for key in keys {
            let term = normalize(key);
            if term.is_empty() {
                return Err(Error::invalid(format!(
                    "redact key {key:?} is empty once separators are removed"
                )));
            }
            terms.push(regex::escape(&term));
        }
        let keys = if terms.is_empty() {
            None
        } else {
            Some(Regex::new(&terms.join("|")).map_err(|e| Error::invalid(e.to_string()))?)
        };
        let patterns = patterns
            .iter()
            .map(|(pattern, replacement)| {
                Regex::new(pattern)
                    .map(|re| (re, replacement.clone()))
                    .map_err(|e| Error::invalid(format!("invalid redact pattern {pattern:?}: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            keys,
            patterns,
        })
    }

    pub fn is_sensitive(&self, key: &str) -> bool {
        let Some(re) = &self.keys else {
            return false;
        };
        KEY_MEMO.with_borrow_mut(|memo| {
            if memo.redactor != self.id {
                memo.redactor = self.id;
                memo.keys.clear();
            }
            if let Some(&sensitive) = memo.keys.get(key) {
                return sensitive;
            }
            let sensitive = re.is_match(&normalize(key));
            if memo.keys.len() < KEY_MEMO_SIZE {
                memo.keys.insert(key.to_owned(), sensitive);
            }
            sensitive
        })
    }

    /// The text with every pattern rule applied; borrowed when nothing matched.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (re, replacement) in &self.patterns {
            if let Cow::Owned(changed) = re.replace_all(&out, replacement.as_str()) {
                out = Cow::Owned(changed);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_match_common_spellings() {
        let r = Redactor::new(&[], true, &[]).unwrap();
        for key in [
            "password",
            "db_password",
            "X-Api-Key",
            "refreshToken",
            "Set-Cookie",
            "Authorization",
        ] {
            assert!(r.is_sensitive(key), "{key}");
        }
        for key in ["user_id", "email", "path", "author"] {
            assert!(!r.is_sensitive(key), "{key}");
        }
    }

    #[test]
    fn custom_keys_and_no_defaults() {
        let r = Redactor::new(&["card_number".into()], false, &[]).unwrap();
        assert!(r.is_sensitive("cardNumber"));
        assert!(!r.is_sensitive("password"));
    }

    #[test]
    fn patterns_rewrite_and_borrow_when_unchanged() {
        let r = Redactor::new(&[], true, &[(r"\d{4}".into(), "####".into())]).unwrap();
        assert_eq!(r.scrub("pin 1234"), "pin ####");
        assert!(matches!(r.scrub("nothing"), Cow::Borrowed(_)));
    }
}
