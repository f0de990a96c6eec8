//! Redaction, shared by every signal's output (log sinks, span exporters): values under
//! sensitive keys are replaced, secrets written inside text (`password=…`, `Authorization:
//! Bearer …`, a URL's `user:pass@`) are found and replaced, and the opt-in value rules (card
//! numbers, e-mail addresses, bearer tokens) and the user's own patterns rewrite every string
//! that leaves. It runs on the threads that write or export, never on the application's.

mod text;
mod values;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

use crate::runtime::errors::{Error, Result};
use values::ValueRules;

pub const REDACTED: &str = "[REDACTED]";

/// Matched anywhere in a key once it is lower-cased and stripped of `_`, `-`, `.` and spaces,
/// so `X-Api-Key`, `db_password` and `refreshToken` are all caught.
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "privatekey",
    "accesskey",
    "session",
    "jwt",
    "csrf",
    "xsrf",
];

/// Matched as a whole word of a key (split at `_`, `-`, `.`, spaces and camelCase humps): short
/// enough to hide inside innocent words (`classname` holds `ssn`, `spinner` holds `pin`).
pub const DEFAULT_WORDS: &[&str] = &["pwd", "ssn", "pin", "cvv", "cvc"];

#[derive(Debug, Default)]
pub struct Redactor {
    /// Tells this redactor's answers apart in a thread's memo.
    id: u64,
    keys: Option<Regex>,
    words: &'static [&'static str],
    /// Credentials in URLs (`scheme://user:pass@host`): one of the default rules.
    urls: bool,
    values: ValueRules,
    patterns: Vec<(Regex, String)>,
}

/// Keys seen by this thread (a sink's writer, an exporter) and whether they are sensitive: keys
/// repeat, and matching them was the costliest part of formatting a log line.
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

/// Whether one of `key`'s words (split at non-alphanumerics and at a lower-case letter followed
/// by an upper-case one) is `word`, ignoring case.
fn has_word(key: &str, word: &str) -> bool {
    let b = key.as_bytes();
    let mut start = 0;
    for i in 0..=b.len() {
        let boundary = i == b.len()
            || !b[i].is_ascii_alphanumeric()
            || (i > start && b[i].is_ascii_uppercase() && b[i - 1].is_ascii_lowercase());
        if boundary {
            if b[start..i].eq_ignore_ascii_case(word.as_bytes()) {
                return true;
            }
            start = if i < b.len() && b[i].is_ascii_alphanumeric() {
                i
            } else {
                i + 1
            };
        }
    }
    false
}

/// `out` after `rule`, which answers None when it changed nothing.
fn apply<'a>(out: Cow<'a, str>, rule: impl FnOnce(&str) -> Option<String>) -> Cow<'a, str> {
    match rule(&out) {
        Some(changed) => Cow::Owned(changed),
        None => out,
    }
}

impl Redactor {
    /// `keys` are added to the defaults unless `defaults` is false (which also drops the search
    /// for credentials in URLs); `values` names opt-in value rules (`cards`, `emails`,
    /// `bearer_tokens`); `patterns` are (regex, replacement) pairs, the replacement using `$1` /
    /// `${name}` for groups.
    pub fn new(keys: &[String], defaults: bool, values: &[String], patterns: &[(String, String)]) -> Result<Self> {
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
            words: if defaults { DEFAULT_WORDS } else { &[] },
            urls: defaults,
            values: ValueRules::new(values)?,
            patterns,
        })
    }

    /// True when no rule can change anything: callers then skip redaction altogether.
    pub fn is_noop(&self) -> bool {
        self.keys.is_none() && self.words.is_empty() && !self.urls && self.values.is_empty() && self.patterns.is_empty()
    }

    fn has_key_rules(&self) -> bool {
        self.keys.is_some() || !self.words.is_empty()
    }

    pub fn is_sensitive(&self, key: &str) -> bool {
        if !self.has_key_rules() {
            return false;
        }
        KEY_MEMO.with_borrow_mut(|memo| {
            if memo.redactor != self.id {
                memo.redactor = self.id;
                memo.keys.clear();
            }
            if let Some(&sensitive) = memo.keys.get(key) {
                return sensitive;
            }
            let sensitive = self.keys.as_ref().is_some_and(|re| re.is_match(&normalize(key)))
                || self.words.iter().any(|w| has_word(key, w));
            if memo.keys.len() < KEY_MEMO_SIZE {
                memo.keys.insert(key.to_owned(), sensitive);
            }
            sensitive
        })
    }

    /// The text with every rule applied: secrets after sensitive keys and in URLs, the opt-in
    /// value rules, then the patterns. Borrowed when nothing matched.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if self.urls {
            out = apply(out, text::url_credentials);
        }
        if self.has_key_rules() {
            out = apply(out, |t| text::keyed_values(t, |key| self.is_sensitive(key)));
        }
        out = self.values.apply(out);
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

    fn defaults() -> Redactor {
        Redactor::new(&[], true, &[], &[]).unwrap()
    }

    #[test]
    fn default_keys_match_common_spellings() {
        let r = defaults();
        for key in [
            "password",
            "db_password",
            "X-Api-Key",
            "api_key",
            "refreshToken",
            "Set-Cookie",
            "Authorization",
            "pwd",
            "userPwd",
            "passphrase",
            "ssn",
            "user_ssn",
            "secret",
            "session",
            "sessionId",
            "card_cvv",
        ] {
            assert!(r.is_sensitive(key), "{key}");
        }
        for key in ["user_id", "email", "path", "author", "classname", "spinner", "pinned"] {
            assert!(!r.is_sensitive(key), "{key}");
        }
    }

    #[test]
    fn custom_keys_and_no_defaults() {
        let r = Redactor::new(&["card_number".into()], false, &[], &[]).unwrap();
        assert!(r.is_sensitive("cardNumber"));
        assert!(!r.is_sensitive("password") && !r.is_sensitive("ssn"));
        assert_eq!(r.scrub("cardNumber=1 password=2"), "cardNumber=[REDACTED] password=2");
        assert!(Redactor::new(&[], false, &[], &[]).unwrap().is_noop());
        assert!(!defaults().is_noop());
    }

    #[test]
    fn secrets_in_text_are_replaced() {
        let r = defaults();
        for (text, expected) in [
            (
                "login failed password=hunter2 user=bob",
                "login failed password=[REDACTED] user=bob",
            ),
            (
                "GET /cb?code=1&access_token=abc&x=2",
                "GET /cb?code=1&access_token=[REDACTED]&x=2",
            ),
            (
                r#"{"api_key": "k-123", "user": "bob"}"#,
                r#"{"api_key": "[REDACTED]", "user": "bob"}"#,
            ),
            ("{'pwd': 'hunter 2'}", "{'pwd': '[REDACTED]'}"),
            ("Authorization: Bearer abc.def.ghi", "Authorization: [REDACTED]"),
            (
                "db at postgres://app:s3cret@db:5432/x",
                "db at postgres://app:[REDACTED]@db:5432/x",
            ),
            (
                "clone https://ghp_t0ken@github.com/o/r",
                "clone https://[REDACTED]@github.com/o/r",
            ),
            (
                "time 12:30:45, url https://example.com/a?b=c",
                "time 12:30:45, url https://example.com/a?b=c",
            ),
        ] {
            assert_eq!(r.scrub(text), expected, "{text}");
        }
        assert!(matches!(r.scrub("nothing to see: here=1"), Cow::Borrowed(_)));
        assert_eq!(r.scrub(&r.scrub("password=x")), "password=[REDACTED]");
    }

    #[test]
    fn patterns_rewrite_and_borrow_when_unchanged() {
        let r = Redactor::new(&[], true, &[], &[(r"\d{4}".into(), "####".into())]).unwrap();
        assert_eq!(r.scrub("pin 1234"), "pin ####");
        assert!(matches!(r.scrub("nothing"), Cow::Borrowed(_)));
    }
}
