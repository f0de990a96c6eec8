//! gzip, one copy: request bodies the exporters send, and the scrape answers `/metrics` gives.

use std::io::Write;

/// `body` gzip-compressed (fast level: exporters and scrapes favour CPU over bytes).
pub fn compress(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// Whether an `Accept-Encoding` header allows gzip (`gzip;q=0` does not).
pub fn accepted(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|header| {
        header.split(',').any(|part| {
            let mut params = part.split(';').map(str::trim);
            params.next().is_some_and(|coding| coding.eq_ignore_ascii_case("gzip"))
                && !params.any(|p| {
                    p.strip_prefix("q=")
                        .is_some_and(|q| q.parse::<f64>().is_ok_and(|q| q == 0.0))
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation() {
        assert!(accepted(Some("gzip")));
        assert!(accepted(Some("deflate, GZIP;q=0.5")));
        assert!(!accepted(Some("gzip;q=0")));
        assert!(!accepted(Some("identity")));
        assert!(!accepted(None));
    }

    #[test]
    fn round_trip() {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&compress(b"hello")[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello");
    }
}
