//! Trace and span ids: random, never zero, written as lower-case hex.

use std::cell::Cell;

thread_local! {
    /// wyrand state (fastrand's generator), one per thread; 0 until first use. A const
    /// initialiser keeps the thread-local access to one lookup per draw.
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// `N` random 64-bit words from one thread-local access.
#[inline]
fn words<const N: usize>() -> [u64; N] {
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = fastrand::u64(..) | 1;
        }
        let mut out = [0u64; N];
        for word in &mut out {
            s = s.wrapping_add(0xa076_1d64_78bd_642f);
            let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
            *word = ((t >> 64) as u64) ^ (t as u64);
        }
        state.set(s);
        out
    })
}

fn trace_from(high: u64, low: u64) -> u128 {
    (u128::from(high) << 64) | u128::from(low)
}

pub fn trace_id() -> u128 {
    loop {
        let [high, low] = words::<2>();
        let id = trace_from(high, low);
        if id != 0 {
            return id;
        }
    }
}

pub fn span_id() -> u64 {
    loop {
        let [id] = words::<1>();
        if id != 0 {
            return id;
        }
    }
}

/// A new trace id and span id together (one draw for a root span).
pub fn trace_and_span_id() -> (u128, u64) {
    let [high, low, span] = words::<3>();
    let trace = trace_from(high, low);
    if trace == 0 || span == 0 {
        return (trace_id(), span_id());
    }
    (trace, span)
}

/// After `fork()` the child would otherwise repeat the parent's id sequence.
pub fn reseed_after_fork() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = fastrand::u64(..) ^ (nanos as u64) ^ ((std::process::id() as u64) << 32);
    fastrand::seed(seed);
    STATE.with(|state| state.set(fastrand::u64(..) | 1));
}

/// Two lower-case hex digits for every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    pairs
};

/// `id`'s low `N * 4` bits as `N` lower-case hex digits, `N` even.
fn hex_digits<const N: usize>(id: u128) -> [u8; N] {
    let bytes = id.to_be_bytes();
    let mut digits = [0u8; N];
    for (pair, &byte) in digits.chunks_exact_mut(2).zip(&bytes[16 - N / 2..]) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    digits
}

/// A trace id as its 32 hex digits, held inline: the middleware writes one on every request
/// (a response header, the exemplar) without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHex([u8; 32]);

impl TraceHex {
    pub fn new(id: u128) -> Self {
        Self(hex_digits(id))
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: only ASCII hex digits are ever stored.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

pub fn trace_hex(id: u128) -> String {
    TraceHex::new(id).as_str().to_owned()
}

pub fn span_hex(id: u64) -> String {
    let digits = hex_digits::<16>(id.into());
    // SAFETY: only ASCII hex digits.
    unsafe { std::str::from_utf8_unchecked(&digits) }.to_owned()
}

fn lower_hex(text: &str, len: usize) -> Option<u128> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

/// A W3C trace id: 32 lower-case hex digits, not all zero.
pub fn parse_trace_id(text: &str) -> Option<u128> {
    lower_hex(text, 32).filter(|id| *id != 0)
}

/// A span id: 16 lower-case hex digits, not all zero.
pub fn parse_span_id(text: &str) -> Option<u64> {
    lower_hex(text, 16).map(|id| id as u64).filter(|id| *id != 0)
}

/// B3 trace ids may be 64-bit (16 digits) or 128-bit (32 digits).
pub fn parse_b3_trace_id(text: &str) -> Option<u128> {
    match text.len() {
        16 => lower_hex(text, 16).filter(|id| *id != 0),
        _ => parse_trace_id(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = trace_id();
        assert_eq!(parse_trace_id(&trace_hex(id)), Some(id));
        let sid = span_id();
        assert_eq!(parse_span_id(&span_hex(sid)), Some(sid));
        assert_eq!(parse_trace_id(&"0".repeat(32)), None);
        assert_eq!(parse_trace_id(&"A".repeat(32)), None);
        assert_eq!(parse_span_id("abc"), None);
        assert_eq!(parse_b3_trace_id("00000000000000ff"), Some(255));
        assert_eq!(trace_hex(0xab), format!("{:032x}", 0xab));
        assert_eq!(span_hex(u64::MAX), "ffffffffffffffff");
        assert_eq!(
            trace_hex(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
            "0123456789abcdeffedcba9876543210"
        );
        assert_eq!(span_hex(0x00f0_0a0b_c0d0_e0f1), "00f00a0bc0d0e0f1");
        assert_eq!(trace_hex(u128::MAX - 1), format!("{:032x}", u128::MAX - 1));
        let (a, b) = trace_and_span_id();
        let (c, d) = trace_and_span_id();
        assert!(a != 0 && b != 0 && a != c && b != d);
    }
}

/// 32 random hex digits: a request id, cheaper than `uuid.uuid4().hex` (no system call).
#[pyo3::pyfunction]
pub fn random_id() -> String {
    trace_hex(trace_id())
}
