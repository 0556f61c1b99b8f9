//! Building the canonical request: the exact bytes both sides hash.
//!
//! The verifier and the signer share this code, so a request signed here is
//! canonicalized the same way when it comes back.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::HttpRequest;
use crate::error::{Error, QueryEscapeProblem};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// The algorithm name, first line of the string to sign.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash a client uses when it chose not to sign the body.
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// RFC 3986 unreserved characters: the only ones SigV4 leaves unescaped.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_digit(table: &[u8; 16], nibble: u8) -> u8 {
    table
        .get(usize::from(nibble & 0x0f))
        .copied()
        .unwrap_or(b'0')
}

/// Appends `b` as `%XX` (uppercase), or as itself when unreserved.
fn push_encoded_byte(out: &mut Vec<u8>, b: u8) {
    if is_unreserved(b) {
        out.push(b);
    } else {
        out.extend_from_slice(&[b'%', hex_digit(HEX_UPPER, b >> 4), hex_digit(HEX_UPPER, b)]);
    }
}

/// Appends `bytes` URI-encoded; `/` is kept when `keep_slash` (paths).
pub(crate) fn push_uri_encoded(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    // Copy runs of characters that need no escaping in one go; most paths
    // and query values are all unreserved.
    let mut rest = bytes;
    while !rest.is_empty() {
        let run = rest
            .iter()
            .position(|&b| !(is_unreserved(b) || (keep_slash && b == b'/')))
            .unwrap_or(rest.len());
        let (plain, tail) = rest.split_at(run);
        out.extend_from_slice(plain);
        match tail.split_first() {
            Some((&b, after)) => {
                push_encoded_byte(out, b);
                rest = after;
            }
            None => break,
        }
    }
}

/// URI-encodes a string for a query parameter value (signer side).
pub(crate) fn uri_encode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    push_uri_encoded(&mut out, s.as_bytes(), false);
    // Only ASCII was produced or copied from valid UTF-8 unreserved bytes.
    String::from_utf8(out).unwrap_or_default()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes the `%XX` escape at the start of `s` (which starts with `%`),
/// returning the byte and the rest after the escape.
fn decode_escape(s: &[u8]) -> Result<(u8, &[u8]), Error> {
    match s {
        [_, hi, lo, rest @ ..] => match (hex_value(*hi), hex_value(*lo)) {
            (Some(h), Some(l)) => Ok(((h << 4) | l, rest)),
            _ => Err(Error::MalformedQueryString(QueryEscapeProblem::IllegalHex(
                String::from_utf8_lossy(&[*hi, *lo]).into_owned(),
            ))),
        },
        _ => Err(Error::MalformedQueryString(
            QueryEscapeProblem::IncompleteTrailing,
        )),
    }
}

/// Percent-decodes a query component. `+` stays `+`: SigV4 clients encode
/// spaces as `%20`, and AWS reads a raw `+` literally.
pub(crate) fn percent_decode(s: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    if !s.contains(&b'%') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.iter().position(|&b| b == b'%') {
        let (plain, esc) = rest.split_at(pos);
        out.extend_from_slice(plain);
        let (b, after) = decode_escape(esc)?;
        out.push(b);
        rest = after;
    }
    out.extend_from_slice(rest);
    Ok(Cow::Owned(out))
}

/// Decodes then re-encodes a query component in one pass, so `%2f`, `%2F`
/// and a raw non-ASCII byte all canonicalize alike.
fn push_requoted(out: &mut Vec<u8>, s: &[u8]) -> Result<(), Error> {
    let mut rest = s;
    while let Some((&b, after)) = rest.split_first() {
        if b == b'%' {
            let (decoded, after) = decode_escape(rest)?;
            push_encoded_byte(out, decoded);
            rest = after;
        } else {
            push_encoded_byte(out, b);
            rest = after;
        }
    }
    Ok(())
}

/// Appends the canonical query string. For presigned requests the
/// `X-Amz-Signature` parameter is left out (it cannot sign itself).
pub(crate) fn push_canonical_query(
    out: &mut Vec<u8>,
    query: &[u8],
    exclude_signature: bool,
) -> Result<(), Error> {
    if query.is_empty() {
        return Ok(());
    }
    // All pairs are encoded into one scratch buffer and sorted as ranges,
    // which keeps this to two allocations however many parameters there are.
    let mut scratch: Vec<u8> = Vec::with_capacity(query.len() + query.len() / 2);
    let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
    for raw in query.split(|&b| b == b'&') {
        if raw.is_empty() {
            continue;
        }
        let (key, value) = match raw.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (k, v) = raw.split_at(eq);
                (k, v.get(1..).unwrap_or_default())
            }
            None => (raw, &b""[..]),
        };
        let start = scratch.len();
        push_requoted(&mut scratch, key)?;
        let key_end = scratch.len();
        if exclude_signature && scratch.get(start..key_end) == Some(&b"X-Amz-Signature"[..]) {
            // Still validate the value's escapes so errors do not depend on
            // which parameter a malformed escape sits in.
            push_requoted(&mut scratch, value)?;
            scratch.truncate(start);
            continue;
        }
        push_requoted(&mut scratch, value)?;
        pairs.push((start, key_end, scratch.len()));
    }
    let slice = |a: usize, b: usize| scratch.get(a..b).unwrap_or_default();
    pairs.sort_unstable_by(|x, y| {
        slice(x.0, x.1)
            .cmp(slice(y.0, y.1))
            .then_with(|| slice(x.1, x.2).cmp(slice(y.1, y.2)))
    });
    for (i, &(start, key_end, end)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(slice(start, key_end));
        out.push(b'=');
        out.extend_from_slice(slice(key_end, end));
    }
    Ok(())
}

/// True when removing dot segments and duplicate slashes would change the
/// path, so the common case skips the segment stack.
fn needs_normalizing(path: &[u8]) -> bool {
    if path.first() != Some(&b'/') {
        return true;
    }
    path.windows(2).any(|w| w == b"//")
        || path.windows(3).any(|w| w == b"/./")
        || path.windows(4).any(|w| w == b"/../")
        || path.ends_with(b"/.")
        || path.ends_with(b"/..")
}

/// Removes `.`/`..` segments and empty segments (RFC 3986 5.2.4 plus the
/// slash collapsing AWS services expect); a trailing `/`, `/.` or `/..`
/// keeps the result ending in `/`, as in the AWS SDKs for Rust and C.
pub(crate) fn normalize_path(path: &[u8]) -> Cow<'_, [u8]> {
    if !needs_normalizing(path) {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    for seg in path.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for seg in &segments {
        out.push(b'/');
        out.extend_from_slice(seg);
    }
    let trailing = path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/..");
    if out.is_empty() || trailing {
        out.push(b'/');
    }
    Cow::Owned(out)
}

/// Appends the canonical URI: the (optionally normalized) path as received,
/// URI-encoded once more when `double_encode`. STS, IAM and every non-S3
/// service "double encode": the client encodes the already-encoded wire
/// path again, so `%20` on the wire becomes `%2520` here. S3 does neither:
/// botocore's `S3SigV4Auth` signs the wire path exactly as sent (an empty
/// one as `/`), so for S3 `double_encode` and `normalize` are both off.
pub(crate) fn push_canonical_path(
    out: &mut Vec<u8>,
    path: &[u8],
    normalize: bool,
    double_encode: bool,
) {
    if path.is_empty() {
        out.push(b'/');
        return;
    }
    let path = if normalize {
        normalize_path(path)
    } else {
        Cow::Borrowed(path)
    };
    if double_encode {
        push_uri_encoded(out, &path, true);
    } else {
        out.extend_from_slice(&path);
    }
}

/// Appends a header value with leading/trailing whitespace removed and inner
/// runs of whitespace (including folded line breaks) collapsed to one space.
fn push_trimmed_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if b.is_ascii_whitespace() {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Appends `name:value\n` for every signed header, in `SignedHeaders`
/// order, joining repeated headers with `,` in the order they arrived.
pub(crate) fn push_canonical_headers(
    out: &mut Vec<u8>,
    headers: &[(&str, &[u8])],
    signed_headers: &str,
) -> Result<(), Error> {
    for name in signed_headers.split(';') {
        let mut found = false;
        for (_, value) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if found {
                out.push(b',');
            } else {
                out.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
                out.push(b':');
                found = true;
            }
            push_trimmed_value(out, value);
        }
        if !found {
            return Err(Error::SignedHeaderMissing {
                name: name.to_owned(),
            });
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Lowercase hex of a digest.
pub(crate) fn hex_lower(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = hex_digit(HEX_LOWER, b >> 4);
            *lo = hex_digit(HEX_LOWER, b);
        }
    }
    out
}

/// Decodes 64 hex digits (either case) into 32 bytes.
pub(crate) fn decode_hex32(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *slot = (hex_value(*hi)? << 4) | hex_value(*lo)?;
    }
    Some(out)
}

/// SHA-256 of `data` as lowercase hex.
pub(crate) fn sha256_hex(data: &[u8]) -> [u8; 64] {
    hex_lower(&Sha256::digest(data).into())
}

/// How the path enters the canonical request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathStyle {
    /// Remove dot segments and duplicate slashes first.
    pub(crate) normalize: bool,
    /// URI-encode the (already encoded) wire path once more.
    pub(crate) double_encode: bool,
}

/// Everything of the canonical request except the final payload-hash line.
pub(crate) fn canonical_request_prefix(
    req: &HttpRequest<'_>,
    query: &str,
    exclude_signature: bool,
    headers: &[(&str, &[u8])],
    signed_headers: &str,
    path: PathStyle,
) -> Result<Vec<u8>, Error> {
    let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut out = Vec::with_capacity(
        req.method.len()
            + req.path.len() * 3
            + query.len() * 3
            + header_bytes
            + signed_headers.len() * 2
            + 80,
    );
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    push_canonical_path(
        &mut out,
        req.path.as_bytes(),
        path.normalize,
        path.double_encode,
    );
    out.push(b'\n');
    push_canonical_query(&mut out, query.as_bytes(), exclude_signature)?;
    out.push(b'\n');
    push_canonical_headers(&mut out, headers, signed_headers)?;
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str, exclude: bool) -> Result<String, Error> {
        let mut out = Vec::new();
        push_canonical_query(&mut out, q.as_bytes(), exclude)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn path(p: &str, normalize: bool) -> String {
        let mut out = Vec::new();
        push_canonical_path(&mut out, p.as_bytes(), normalize, true);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn query_sorting_and_encoding() {
        assert_eq!(query("b=2&a=1&a=0", false).unwrap(), "a=0&a=1&b=2");
        assert_eq!(
            query("Param-3=x&Param=y", false).unwrap(),
            "Param=y&Param-3=x"
        );
        assert_eq!(query("a+b=c d&e", false).unwrap(), "a%2Bb=c%20d&e=");
        assert_eq!(query("k=%2f%2F%7e", false).unwrap(), "k=%2F%2F~");
        assert_eq!(query("&&a=1&", false).unwrap(), "a=1");
        assert_eq!(query("a==b", false).unwrap(), "a=%3Db");
        assert_eq!(
            query("X-Amz-Signature=abc&X-Amz-Date=1", true).unwrap(),
            "X-Amz-Date=1"
        );
        assert_eq!(
            query("X-Amz-Signature=abc", false).unwrap(),
            "X-Amz-Signature=abc"
        );
    }

    #[test]
    fn query_escape_errors() {
        assert_eq!(
            query("a=%yy", false).unwrap_err().message(),
            "Illegal hex character in escape % pattern: %yy"
        );
        assert_eq!(
            query("a=%4", false).unwrap_err().message(),
            "Incomplete trailing escape % sequence"
        );
        assert!(query("X-Amz-Signature=%", true).is_err());
    }

    #[test]
    fn path_normalization() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("//example//", "/example/"),
            ("/./example", "/example"),
            ("/a/b/../c/./d", "/a/c/d"),
            ("/a/b/..", "/a/"),
            ("/../../x", "/x"),
            ("foo/bar", "/foo/bar"),
            ("/.x/..y", "/.x/..y"),
            ("/example space/", "/example%20space/"),
            ("/a%20b", "/a%2520b"),
        ] {
            assert_eq!(path(input, true), want, "{input}");
        }
        assert_eq!(path("//example//", false), "//example//");
        assert_eq!(path("/a/../b", false), "/a/../b");
    }

    #[test]
    fn s3_paths_are_signed_as_sent() {
        let s3 = |p: &str| {
            let mut out = Vec::new();
            push_canonical_path(&mut out, p.as_bytes(), false, false);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(s3(""), "/");
        assert_eq!(s3("/bucket/a%20b"), "/bucket/a%20b");
        assert_eq!(s3("//a/./b/../c"), "//a/./b/../c");
        assert_eq!(s3("/k%2Fey~"), "/k%2Fey~");
    }

    #[test]
    fn header_values_trimmed() {
        let mut out = Vec::new();
        push_trimmed_value(&mut out, b"  a \t b\n   c  ");
        assert_eq!(out, b"a b c");
        out.clear();
        push_trimmed_value(&mut out, b"   ");
        assert_eq!(out, b"");
    }

    #[test]
    fn hex_helpers() {
        let digest = [0xabu8; 32];
        let hex = hex_lower(&digest);
        assert_eq!(decode_hex32(&hex), Some(digest));
        assert_eq!(decode_hex32(&hex.to_ascii_uppercase()), Some(digest));
        assert_eq!(decode_hex32(b"zz"), None);
        assert_eq!(decode_hex32(&[b'g'; 64]), None);
    }
}
