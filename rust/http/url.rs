//! What a server span records as `url.path`: the request's path alone. The query string and any
//! credentials stay out of telemetry, whatever the server left in the path it handed over.

/// `raw` without what is not its path: a request target in absolute form
/// (`http://user:pass@host/p`, which servers pass on as the path) loses its scheme and
/// authority, a `//user:pass@host/p` its authority, and everything from `?` or `#` (a query
/// string, or a `%3F` the server decoded) is cut. Borrowed: this allocates nothing.
pub fn url_path(raw: &str) -> &str {
    let mut path = raw;
    if let Some(i) = path.find("://") {
        let scheme = &path[..i];
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if is_scheme {
            path = after_authority(&path[i + 3..]);
        }
    } else if let Some(rest) = path.strip_prefix("//") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if authority.contains('@') {
            path = after_authority(rest);
        }
    }
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

fn after_authority(rest: &str) -> &str {
    match rest.find(['/', '?', '#']) {
        Some(j) if rest.as_bytes()[j] == b'/' => &rest[j..],
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::url_path;

    #[test]
    fn only_the_path_is_kept() {
        for (raw, path) in [
            ("/songs/1", "/songs/1"),
            ("/search?q=x&token=secret", "/search"),
            ("/a#frag", "/a"),
            ("http://user:pass@example.com/songs/1?x=1", "/songs/1"),
            ("https://example.com", "/"),
            ("https://t0ken@example.com?x", "/"),
            ("//user:pass@example.com/p", "/p"),
            ("//double//slashes", "//double//slashes"),
            ("/redirect/http://u:p@h/x", "/redirect/http://u:p@h/x"),
            ("", ""),
        ] {
            assert_eq!(url_path(raw), path, "{raw:?}");
        }
    }
}
