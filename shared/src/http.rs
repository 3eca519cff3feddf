//! HTTP rules with no I/O: which content coding a client gets (RFC 9110 §12.5.3), decided from
//! its `Accept-Encoding` by q-values, never by the order it lists codings in.

/// Whether to send the brotli twin of a file rather than the file itself (`identity`), for a
/// client whose `Accept-Encoding` is `header` (`None`: no header, anything goes but identity is
/// safest). Brotli wins when its q-value (its own, else `*`'s) is above 0 and not below an
/// explicitly listed `identity`'s: every browser that lists `br` gets it, wherever in the
/// list. `br;q=0` refuses it.
pub fn prefers_brotli(header: Option<&str>) -> bool {
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else { return false };
    let (mut br, mut identity, mut star) = (None, None, None);
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match coding.as_str() {
            "br" => br = Some(q),
            "identity" => identity = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    // Uncompressed competes only when the client names it: otherwise any acceptable
    // compression is what it wants.
    br > 0.0 && br >= identity.unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_by_q_values_not_by_order() {
        // What browsers send: br anywhere in the list.
        assert!(prefers_brotli(Some("gzip, deflate, br, zstd")), "Chrome");
        assert!(prefers_brotli(Some("gzip, deflate, br")), "Firefox, Safari");
        assert!(prefers_brotli(Some("br, gzip")));
        assert!(prefers_brotli(Some("gzip;q=1.0, br;q=0.8")), "br is still better than no compression");
        assert!(prefers_brotli(Some("*")));
        assert!(prefers_brotli(Some("BR")));
        // Refused, or not offered.
        assert!(!prefers_brotli(Some("gzip, br;q=0")));
        assert!(!prefers_brotli(Some("gzip, deflate")));
        assert!(!prefers_brotli(Some("identity")));
        assert!(!prefers_brotli(Some("br;q=0.5, identity")), "identity (q=1) is preferred");
        assert!(prefers_brotli(Some("br;q=0.5, identity;q=0.1")));
        assert!(prefers_brotli(Some("br;q=0.5, *;q=0")), "identity refused by *;q=0");
        assert!(!prefers_brotli(Some("*;q=0")));
        assert!(!prefers_brotli(Some("")));
        assert!(!prefers_brotli(None));
    }
}
