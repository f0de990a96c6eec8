//! Text from Python that telemetry records: always valid UTF-8, never an error. A `str` may hold
//! lone surrogates (`os.fsdecode` makes them from undecodable bytes, and exception messages carry
//! them on); each becomes U+FFFD, and the rest is kept as it is.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

/// `text` as UTF-8: borrowed in the usual case (one `to_str`, as before), rebuilt only when the
/// string holds a surrogate.
#[inline]
pub fn lossy<'a>(text: &'a Bound<'_, PyString>) -> Cow<'a, str> {
    match text.to_str() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(replace_surrogates(text)),
    }
}

/// `lossy`, owned.
#[inline]
pub fn owned(text: &Bound<'_, PyString>) -> String {
    lossy(text).into_owned()
}

/// `str(value)` as valid text; a `__str__` that raises gives `<unprintable T object>`, as
/// `traceback` writes it.
pub fn str_of(value: &Bound<'_, PyAny>) -> String {
    match value.str() {
        Ok(s) => owned(&s),
        Err(_) => format!(
            "<unprintable {} object>",
            value
                .get_type()
                .name()
                .map(|n| owned(&n))
                .unwrap_or_else(|_| "?".into())
        ),
    }
}

#[cold]
fn replace_surrogates(text: &Bound<'_, PyString>) -> String {
    // "surrogatepass" writes each surrogate as the three bytes ED A0..BF 80..BF and everything
    // else as ordinary UTF-8: each such triple becomes one U+FFFD.
    let Ok(bytes) = text
        .call_method1("encode", ("utf-8", "surrogatepass"))
        .and_then(|b| b.extract::<Vec<u8>>())
    else {
        return text.to_string_lossy().into_owned();
    };
    String::from_utf8(replace_encoded_surrogates(&bytes))
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn replace_encoded_surrogates(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xED && bytes.get(i + 1).is_some_and(|b| (0xA0..=0xBF).contains(b)) && i + 2 < bytes.len() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::replace_encoded_surrogates;

    #[test]
    fn each_encoded_surrogate_becomes_one_replacement_character() {
        // "caf\udce9" and "\ud83d\ude00" as Python's surrogatepass writes them.
        let cafe = [b'c', b'a', b'f', 0xED, 0xB3, 0xA9];
        assert_eq!(
            String::from_utf8(replace_encoded_surrogates(&cafe)).unwrap(),
            "caf\u{FFFD}"
        );
        let pair = [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80, b'!'];
        assert_eq!(
            String::from_utf8(replace_encoded_surrogates(&pair)).unwrap(),
            "\u{FFFD}\u{FFFD}!"
        );
        // Other three-byte characters starting with ED (U+D000..U+D7FF) are kept.
        let hangul = "\u{D55C}".as_bytes();
        assert_eq!(replace_encoded_surrogates(hangul), hangul);
    }
}
