//! The opt-in value rules: secrets recognised by their shape wherever they appear, whatever the
//! key. Each costs a scan of every string that leaves (see `ferrotel.logs.configure`).

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::{memchr2_iter, memmem};
use regex::Regex;

use super::REDACTED;
use crate::runtime::errors::{Error, Result};

pub const NAMES: [&str; 3] = ["cards", "emails", "bearer_tokens"];

#[derive(Debug, Default)]
pub struct ValueRules {
    cards: bool,
    emails: Option<Regex>,
    /// `Bearer <token>` and JSON Web Tokens.
    bearer: Option<[Regex; 2]>,
}

/// Where a JSON Web Token's header starts (`{"` in base64url).
static JWT_START: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("eyJ"));

/// Whether `text` holds the word `bearer` in any case: checked by memchr before the regex runs,
/// which is several times slower on text without it.
fn mentions_bearer(text: &str) -> bool {
    let b = text.as_bytes();
    memchr2_iter(b'b', b'B', b).any(|i| b.get(i..i + 6).is_some_and(|w| w.eq_ignore_ascii_case(b"bearer")))
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a built-in pattern compiles")
}

impl ValueRules {
    pub fn new(names: &[String]) -> Result<Self> {
        let mut rules = Self::default();
        for name in names {
            match name.as_str() {
                "cards" => rules.cards = true,
                "emails" => {
                    rules.emails = Some(compile(
                        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                    ))
                }
                "bearer_tokens" => {
                    rules.bearer = Some([
                        // ASCII word boundaries: a Unicode `\b` keeps the regex off its DFA.
                        compile(r"(?i)(?-u:\b)(bearer)\s+[A-Za-z0-9._~+/-]+=*"),
                        compile(r"(?-u:\b)eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
                    ])
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown redact value rule {name:?}: use {}",
                        NAMES.join(", ")
                    )))
                }
            }
        }
        Ok(rules)
    }

    pub fn is_empty(&self) -> bool {
        !self.cards && self.emails.is_none() && self.bearer.is_none()
    }

    pub fn apply<'a>(&self, mut out: Cow<'a, str>) -> Cow<'a, str> {
        if self.cards {
            if let Some(changed) = cards(&out) {
                out = Cow::Owned(changed);
            }
        }
        fn rewrite<'a>(out: Cow<'a, str>, re: &Regex, replacement: &str) -> Cow<'a, str> {
            match re.replace_all(&out, replacement) {
                Cow::Owned(changed) => Cow::Owned(changed),
                Cow::Borrowed(_) => out,
            }
        }
        // An address needs an `@`: most text is passed over by one memchr.
        if let Some(re) = self.emails.as_ref().filter(|_| out.contains('@')) {
            out = rewrite(out, re, REDACTED);
        }
        if let Some([bearer, jwt]) = &self.bearer {
            if mentions_bearer(&out) {
                out = rewrite(out, bearer, "$1 [REDACTED]");
            }
            if JWT_START.find(out.as_bytes()).is_some() {
                out = rewrite(out, jwt, REDACTED);
            }
        }
        out
    }
}

/// The Luhn checksum of the digits in `number` (separators skipped).
fn luhn(number: &[u8]) -> bool {
    let mut sum = 0;
    for (i, d) in number.iter().rev().filter(|b| b.is_ascii_digit()).enumerate() {
        let d = u32::from(d - b'0');
        sum += if i % 2 == 1 {
            if d > 4 {
                d * 2 - 9
            } else {
                d * 2
            }
        } else {
            d
        };
    }
    sum % 10 == 0
}

/// Card numbers standing alone: 13 to 19 digits, single spaces or dashes between groups, a
/// first digit of 2 to 6 (the card networks' ranges), and a valid Luhn checksum.
fn cards(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let (mut out, mut copied, mut i) = (String::new(), 0, 0);
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let (start, mut end, mut digits) = (i, i, 0);
        while end < b.len() {
            if b[end].is_ascii_digit() {
                digits += 1;
                end += 1;
            } else if matches!(b[end], b' ' | b'-') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
                end += 1;
            } else {
                break;
            }
        }
        let alone = !b.get(end).is_some_and(u8::is_ascii_alphanumeric);
        if alone && (13..=19).contains(&digits) && (b'2'..=b'6').contains(&b[start]) && luhn(&b[start..end]) {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end;
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(names: &[&str]) -> ValueRules {
        ValueRules::new(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn card_numbers_with_a_valid_checksum() {
        let r = rules(&["cards"]);
        for (text, expected) in [
            ("paid with 4111 1111 1111 1111.", "paid with [REDACTED]."),
            ("card=5555-5555-5555-4444 ok", "card=[REDACTED] ok"),
            ("amex 378282246310005", "amex [REDACTED]"),
            ("not luhn 4111 1111 1111 1112", "not luhn 4111 1111 1111 1112"),
            ("a timestamp 1700000000123456789", "a timestamp 1700000000123456789"),
            ("an id x4111111111111111", "an id x4111111111111111"),
            ("order 12 items", "order 12 items"),
        ] {
            assert_eq!(r.apply(Cow::Borrowed(text)), expected, "{text}");
        }
    }

    #[test]
    fn emails_and_bearer_tokens() {
        let r = rules(&["emails", "bearer_tokens"]);
        assert_eq!(
            r.apply(Cow::Borrowed("to jane.doe@example.co.uk now")),
            "to [REDACTED] now"
        );
        assert_eq!(
            r.apply(Cow::Borrowed("sent bearer abc-123_x= here")),
            "sent bearer [REDACTED] here"
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(r.apply(Cow::Borrowed(&format!("jwt {jwt}"))), "jwt [REDACTED]");
        assert!(matches!(r.apply(Cow::Borrowed("plain text")), Cow::Borrowed(_)));
        assert!(ValueRules::new(&["phones".into()]).is_err());
    }
}
