//! Formatting on the sinks' threads: ECS JSON (one object per line, the spec's field order) and
//! `pretty` for people. Neither lets a value start a new line: JSON escapes every control and
//! line-separator character, and pretty prints them as escapes.

use std::io::Write;
use std::sync::Arc;

use super::enrich::Enrichment;
use super::record::{Field, LogRecord, Value};
use crate::transport::redact::{Redactor, REDACTED};

pub const ECS_VERSION: &str = "8.11.0";

/// Fields ferrotel writes itself; a context key spelled the same goes under `context.`.
const RESERVED: &[&str] = &[
    "@timestamp",
    "log.level",
    "message",
    "ecs.version",
    "log.logger",
    "service.name",
    "service.version",
    "service.environment",
    "host.hostname",
    "trace.id",
    "span.id",
    "error.type",
    "error.message",
    "error.stack_trace",
    "log.origin.file.name",
    "log.origin.file.line",
    "log.origin.function",
];

/// `context.{key}` for a reserved key, with one more `context.` while the record has a field of
/// that name too: a JSON object's keys stay unique.
fn renamed(record: &LogRecord, key: &str) -> String {
    let mut name = format!("context.{key}");
    while record.context().any(|(k, _)| *k == name) {
        name.insert_str(0, "context.");
    }
    name
}

fn push_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

thread_local! {
    /// The last second written and its `YYYY-MM-DDTHH:MM:SS.`: most lines share it.
    static SECOND: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
}

fn second_prefix(secs: u64) -> [u8; 20] {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut out = Vec::with_capacity(20);
    push_digits(&mut out, year.clamp(0, 9999) as u64, 4);
    for (sep, value) in [
        (b'-', month.into()),
        (b'-', day.into()),
        (b'T', rem / 3600),
        (b':', rem / 60 % 60),
        (b':', rem % 60),
    ] {
        out.push(sep);
        push_digits(&mut out, value, 2);
    }
    out.push(b'.');
    out.try_into().unwrap_or([b'?'; 20])
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds): on every line, so without the formatting
/// machinery and with the date worked out once a second.
fn write_timestamp(out: &mut Vec<u8>, time_ns: u64) {
    let secs = time_ns / 1_000_000_000;
    let prefix = SECOND.with(|cached| {
        let (second, prefix) = cached.get();
        if second == secs {
            return prefix;
        }
        let prefix = second_prefix(secs);
        cached.set((secs, prefix));
        prefix
    });
    out.extend_from_slice(&prefix);
    push_digits(out, (time_ns % 1_000_000_000) / 1_000, 6);
    out.push(b'Z');
}

/// Howard Hinnant's days-to-civil: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// How a character must be written so a line stays one line, if not as itself.
enum Escape {
    Short(u8),
    Code(u32),
}

/// The escape, and the character's UTF-8 length, for a character that needs one.
fn escape_at(bytes: &[u8], i: usize) -> Option<(Escape, usize)> {
    match bytes[i] {
        b'\n' => Some((Escape::Short(b'n'), 1)),
        b'\r' => Some((Escape::Short(b'r'), 1)),
        b'\t' => Some((Escape::Short(b't'), 1)),
        b @ (0..=0x1f | 0x7f) => Some((Escape::Code(b.into()), 1)),
        // U+0085, U+2028 and U+2029 end a line for some readers (Python's str.splitlines).
        0xc2 if bytes.get(i + 1) == Some(&0x85) => Some((Escape::Code(0x85), 2)),
        0xe2 if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) => {
            Some((Escape::Code(0x2000 + u32::from(bytes[i + 2]) - 0x80), 3))
        }
        _ => None,
    }
}

/// Bytes that may need an escape: controls, DEL, and the lead bytes of U+0085 and U+2028/9;
/// in quoted text also `"` and the backslash.
const fn attention(quoted: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[0x7f] = true;
    table[0xc2] = true;
    table[0xe2] = true;
    table[b'"' as usize] = quoted;
    table[b'\\' as usize] = quoted;
    table
}

static QUOTED: [bool; 256] = attention(true);
static BARE: [bool; 256] = attention(false);

/// Writes `text`, escaping what `escape_at` names and, when `quoted`, `"` and `\`.
fn write_escaped(out: &mut Vec<u8>, text: &str, quoted: bool, code: fn(&mut Vec<u8>, u32)) {
    let table = if quoted { &QUOTED } else { &BARE };
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !table[b as usize] {
            i += 1;
            continue;
        }
        let found = if b == b'"' || b == b'\\' {
            Some((Escape::Short(b), 1))
        } else {
            escape_at(bytes, i)
        };
        let Some((escape, len)) = found else {
            i += 1;
            continue;
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Escape::Short(c) => out.extend_from_slice(&[b'\\', c]),
            Escape::Code(c) => code(out, c),
        }
        i += len;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn json_code(out: &mut Vec<u8>, c: u32) {
    let _ = write!(out, "\\u{c:04x}");
}

fn pretty_code(out: &mut Vec<u8>, c: u32) {
    let _ = if c < 0x100 {
        write!(out, "\\x{c:02x}")
    } else {
        write!(out, "\\u{c:04x}")
    };
}

pub fn write_json_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    write_escaped(out, text, true, json_code);
    out.push(b'"');
}

fn write_json_value(out: &mut Vec<u8>, value: &Value, redactor: &Redactor) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Value::Float(f) => out.extend_from_slice(ryu::Buffer::new().format_finite(*f).as_bytes()),
        Value::Str(s) => write_json_str(out, &redactor.scrub(s)),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_value(out, item, redactor);
            }
            out.push(b']');
        }
        Value::Map(fields) => {
            out.push(b'{');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_field(out, field, redactor);
            }
            out.push(b'}');
        }
    }
}

fn write_json_field(out: &mut Vec<u8>, (key, value): &Field, redactor: &Redactor) {
    write_json_str(out, key);
    out.push(b':');
    if redactor.is_sensitive(key) {
        write_json_str(out, REDACTED);
    } else {
        write_json_value(out, value, redactor);
    }
}

fn hex_ids(span: (u128, u64)) -> (String, String) {
    (
        crate::traces::ids::trace_hex(span.0),
        crate::traces::ids::span_hex(span.1),
    )
}

/// ECS JSON: `@timestamp`, `log.level`, `message` first, as the ECS logging spec recommends.
pub struct JsonFormat {
    /// `,"ecs.version":…` and the enrichment, rendered once per configuration.
    constant: Vec<u8>,
    redactor: Arc<Redactor>,
}

impl JsonFormat {
    pub fn new(enrichment: &Enrichment, redactor: Arc<Redactor>) -> Self {
        let mut constant = Vec::new();
        let fields = [
            ("ecs.version", Some(ECS_VERSION)),
            ("service.name", enrichment.service.as_deref()),
            ("service.version", enrichment.version.as_deref()),
            ("service.environment", enrichment.environment.as_deref()),
            ("host.hostname", enrichment.hostname.as_deref()),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                constant.push(b',');
                write_json_str(&mut constant, key);
                constant.push(b':');
                write_json_str(&mut constant, value);
            }
        }
        Self { constant, redactor }
    }

    fn string_field(&self, out: &mut Vec<u8>, key: &str, value: &str) {
        out.push(b',');
        write_json_str(out, key);
        out.push(b':');
        write_json_str(out, &self.redactor.scrub(value));
    }

    /// One JSON object, without the trailing newline.
    pub fn write(&self, out: &mut Vec<u8>, record: &LogRecord) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        write_timestamp(out, record.time_ns);
        out.extend_from_slice(b"\",\"log.level\":\"");
        out.extend_from_slice(record.level.name().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        write_json_str(out, &self.redactor.scrub(&record.message));
        out.extend_from_slice(&self.constant);
        out.extend_from_slice(b",\"log.logger\":");
        write_json_str(out, &record.logger);
        if let Some(span) = record.span {
            let (trace_id, span_id) = hex_ids(span);
            let _ = write!(out, ",\"trace.id\":\"{trace_id}\",\"span.id\":\"{span_id}\"");
        }
        if let Some(error) = &record.error {
            self.string_field(out, "error.type", &error.kind);
            self.string_field(out, "error.message", &error.message);
            self.string_field(out, "error.stack_trace", &error.stack_trace);
        }
        if let Some(origin) = &record.origin {
            self.string_field(out, "log.origin.file.name", &origin.file);
            out.extend_from_slice(b",\"log.origin.file.line\":");
            out.extend_from_slice(itoa::Buffer::new().format(origin.line).as_bytes());
            self.string_field(out, "log.origin.function", &origin.function);
        }
        for field in record.context() {
            out.push(b',');
            if RESERVED.contains(&field.0.as_ref()) {
                let renamed = (renamed(record, &field.0).into(), field.1.clone());
                write_json_field(out, &renamed, &self.redactor);
            } else {
                write_json_field(out, field, &self.redactor);
            }
        }
        out.push(b'}');
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const CYAN: &str = "\x1b[36m";

/// The level as pretty prints it (padded so messages line up) and its colour.
fn level_label(record: &LogRecord) -> (&'static str, &'static str) {
    match record.level.name() {
        "debug" => ("DEBUG    ", "\x1b[34m"),
        "info" => ("INFO     ", "\x1b[32m"),
        "warning" => ("WARNING  ", "\x1b[33m"),
        "error" => ("ERROR    ", "\x1b[31m"),
        _ => ("CRITICAL ", "\x1b[1;31m"),
    }
}

/// One line for people: `time LEVEL logger  message  key=value …`, then an indented stack trace.
pub struct PrettyFormat {
    color: bool,
    redactor: Arc<Redactor>,
}

impl PrettyFormat {
    pub fn new(color: bool, redactor: Arc<Redactor>) -> Self {
        Self { color, redactor }
    }

    fn paint(&self, out: &mut Vec<u8>, color: &str, text: &str) {
        if self.color {
            out.extend_from_slice(color.as_bytes());
        }
        write_escaped(out, text, false, pretty_code);
        if self.color {
            out.extend_from_slice(RESET.as_bytes());
        }
    }

    fn text_value(&self, out: &mut Vec<u8>, text: &str) {
        let text = self.redactor.scrub(text);
        let bare = !text.is_empty() && !text.bytes().any(|b| matches!(b, b' ' | b'"' | b'=' | b'\\'));
        if bare {
            write_escaped(out, &text, false, pretty_code);
        } else {
            out.push(b'"');
            write_escaped(out, &text, true, pretty_code);
            out.push(b'"');
        }
    }

    fn pair(&self, out: &mut Vec<u8>, key: &str, value: &Value) {
        out.push(b' ');
        self.paint(out, CYAN, key);
        out.push(b'=');
        match value {
            _ if self.redactor.is_sensitive(key) => out.extend_from_slice(REDACTED.as_bytes()),
            Value::Str(s) => self.text_value(out, s),
            other => write_json_value(out, other, &self.redactor),
        }
    }

    /// The whole entry, ending in a newline.
    pub fn write(&self, out: &mut Vec<u8>, record: &LogRecord) {
        write_timestamp(out, record.time_ns);
        out.push(b' ');
        let (label, color) = level_label(record);
        self.paint(out, color, label);
        self.paint(out, DIM, &record.logger);
        out.extend_from_slice(b"  ");
        write_escaped(out, &self.redactor.scrub(&record.message), false, pretty_code);
        if record.context().next().is_some() || record.span.is_some() || record.error.is_some() {
            out.push(b' ');
        }
        for (key, value) in record.context() {
            self.pair(out, key, value);
        }
        if let Some((trace_id, span_id)) = record.span.map(hex_ids) {
            self.pair(out, "trace.id", &Value::Str(trace_id));
            self.pair(out, "span.id", &Value::Str(span_id));
        }
        if let Some(error) = &record.error {
            self.pair(out, "error.type", &Value::Str(error.kind.clone()));
            self.pair(out, "error.message", &Value::Str(error.message.clone()));
            // Continuation lines are indented, so none can pass for an entry of its own.
            for line in self.redactor.scrub(&error.stack_trace).lines() {
                out.extend_from_slice(b"\n    ");
                write_escaped(out, line, false, pretty_code);
            }
        }
        out.push(b'\n');
    }
}

/// The line format of the console and file sinks.
pub enum LineFormat {
    Json(JsonFormat),
    Pretty(PrettyFormat),
}

impl LineFormat {
    pub fn write_line(&self, out: &mut Vec<u8>, record: &LogRecord) {
        match self {
            LineFormat::Json(json) => {
                json.write(out, record);
                out.push(b'\n');
            }
            LineFormat::Pretty(pretty) => pretty.write(out, record),
        }
    }
}

/// What a sink needs to build its formatter on its own thread.
#[derive(Clone, Debug)]
pub struct FormatSpec {
    pub pretty: bool,
    pub enrichment: Enrichment,
    pub redactor: Arc<Redactor>,
}

impl FormatSpec {
    pub fn json(&self) -> JsonFormat {
        JsonFormat::new(&self.enrichment, self.redactor.clone())
    }

    /// The console's and the file's format; colour only ever for a terminal.
    pub fn line(&self, color: bool) -> LineFormat {
        if self.pretty {
            LineFormat::Pretty(PrettyFormat::new(color, self.redactor.clone()))
        } else {
            LineFormat::Json(self.json())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> String {
        let mut out = Vec::new();
        write_json_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps() {
        let mut out = Vec::new();
        write_timestamp(&mut out, 1_700_000_000_123_456_789);
        assert_eq!(out, b"2023-11-14T22:13:20.123456Z");
        out.clear();
        write_timestamp(&mut out, 951_782_400_000_000_000);
        assert_eq!(out, b"2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn json_escapes_controls_and_line_separators() {
        assert_eq!(json("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json("l1\nl2\r\t\x1b"), r#""l1\nl2\r\t\u001b""#);
        assert_eq!(json("x\u{2028}y\u{2029}z\u{85}é"), "\"x\\u2028y\\u2029z\\u0085é\"");
    }

    #[test]
    fn pretty_escapes_without_quoting() {
        let mut out = Vec::new();
        write_escaped(&mut out, "a\nb\u{2028}\x1b[31m", false, pretty_code);
        assert_eq!(String::from_utf8(out).unwrap(), r"a\nb\u2028\x1b[31m");
    }
}
