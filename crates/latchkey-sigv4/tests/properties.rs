//! Property tests: whatever is signed verifies, any signature digit flipped
//! does not, and no input makes `parse` or `verify` panic.

#![cfg(test)]

use latchkey_sigv4::{
    HttpRequest, SigningKey, SigningParams, VerifyOptions, parse, presign_query, sign_headers,
};
use proptest::prelude::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_440_938_160;

/// Percent-encodes everything but unreserved characters, as SDKs do for
/// query components; sometimes lowercase hex, which servers must accept.
fn encode(s: &str, lower: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    token: Option<String>,
    presign: bool,
    normalize: bool,
}

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,12}".prop_filter("not a header the signer manages", |n| {
        let n = n.to_ascii_lowercase();
        !n.starts_with("x-amz-")
            && !matches!(
                n.as_str(),
                "authorization" | "host" | "user-agent" | "expect" | "x-amzn-trace-id" | "date"
            )
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            "[A-Z]{1,8}"
        ],
        // Raw wire paths: already-encoded bytes, dot segments, repeated
        // slashes, even stray `%`s (paths are not decoded).
        prop::collection::vec("[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,8}", 0..6),
        prop::collection::vec((any::<String>(), any::<String>(), any::<bool>()), 0..5),
        prop::collection::vec(
            (header_name(), prop::collection::vec(any::<u8>(), 0..24)),
            0..5,
        ),
        prop::collection::vec(any::<u8>(), 0..80),
        prop::option::of("[A-Za-z0-9/+=]{1,40}"),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(method, segments, query, headers, body, token, presign, normalize)| {
                let path = format!("/{}", segments.join("/"));
                let query = query
                    .iter()
                    .map(|(k, v, lower)| format!("{}={}", encode(k, *lower), encode(v, *lower)))
                    .collect::<Vec<_>>()
                    .join("&");
                let mut headers = headers;
                headers.push(("Host".into(), b"sts.amazonaws.com".to_vec()));
                Case {
                    method,
                    path,
                    query,
                    headers,
                    body,
                    token,
                    presign,
                    normalize,
                }
            },
        )
}

impl Case {
    /// The signed request: (query, headers).
    fn sign(&self) -> (String, Vec<(String, Vec<u8>)>) {
        let mut params = SigningParams::new("AKIDEXAMPLE", SECRET, "us-east-1", "sts", NOW);
        params.session_token = self.token.as_deref();
        params.normalize_path = self.normalize;
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        };
        if self.presign {
            (
                presign_query(&params, &req, 600).unwrap(),
                self.headers.clone(),
            )
        } else {
            let sig = sign_headers(&params, &req).unwrap();
            let mut all = self.headers.clone();
            all.extend(
                sig.headers()
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec())),
            );
            (self.query.clone(), all)
        }
    }

    fn verify(
        &self,
        query: &str,
        headers: &[(String, Vec<u8>)],
    ) -> Result<(), latchkey_sigv4::Error> {
        let headers: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = HttpRequest {
            method: &self.method,
            path: &self.path,
            query,
            headers: &headers,
            body: &self.body,
        };
        let signed = parse(&req)?.ok_or(latchkey_sigv4::Error::MissingAuthenticationToken)?;
        let key = SigningKey::derive(SECRET, signed.scope());
        let opts = VerifyOptions {
            normalize_path: self.normalize,
            ..VerifyOptions::default()
        };
        signed.verify_with(&req, &key, NOW, &opts).map(|_| ())
    }
}

fn flip_hex(s: &mut [u8], i: usize, to: u8) {
    let digits = b"0123456789abcdef";
    let mut replacement = digits[usize::from(to) % 16];
    if replacement == s[i] {
        replacement = digits[(usize::from(to) + 1) % 16];
    }
    s[i] = replacement;
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(case in case()) {
        let (query, headers) = case.sign();
        prop_assert!(case.verify(&query, &headers).is_ok(), "{:?}", case.verify(&query, &headers));
    }

    #[test]
    fn any_flipped_signature_digit_fails(case in case(), i in 0usize..64, to in any::<u8>()) {
        let (mut query, mut headers) = case.sign();
        if case.presign {
            let at = query.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
            let mut bytes = query.into_bytes();
            flip_hex(&mut bytes[at..], i, to);
            query = String::from_utf8(bytes).unwrap();
        } else {
            let auth = headers.iter_mut().find(|(n, _)| n == "Authorization").unwrap();
            let at = auth.1.windows(10).position(|w| w == b"Signature=").unwrap() + 10;
            flip_hex(&mut auth.1[at..], i, to);
        }
        prop_assert_eq!(
            case.verify(&query, &headers).unwrap_err(),
            latchkey_sigv4::Error::SignatureDoesNotMatch
        );
    }

    /// Fuzz-style: arbitrary bytes as the Authorization header and an
    /// arbitrary query never panic, in parsing or in anything after it.
    #[test]
    fn parse_never_panics(
        auth in prop::collection::vec(any::<u8>(), 0..200),
        query in any::<String>(),
        path in any::<String>(),
        date in prop::collection::vec(any::<u8>(), 0..24),
        use_auth in any::<bool>(),
        now in any::<i64>(),
    ) {
        let mut headers: Vec<(&str, &[u8])> = vec![("host", b"h"), ("x-amz-date", &date)];
        if use_auth {
            headers.push(("authorization", &auth));
        }
        let req = HttpRequest { method: "GET", path: &path, query: &query, headers: &headers, body: b"" };
        if let Ok(Some(signed)) = parse(&req) {
            let key = SigningKey::derive("s", signed.scope());
            let _ = signed.verify(&req, &key, now);
            let _ = signed.check_scope("us-east-1", "sts");
            let _ = signed.canonical_request(&req, &VerifyOptions::default());
            let _ = format!("{signed:?}");
        }
    }

    /// Structured fuzzing: query strings built from the real parameter names
    /// with arbitrary values, so parsing gets past the first checks.
    #[test]
    fn presigned_parse_never_panics(
        values in prop::collection::vec((0usize..8, "[ -~]{0,40}"), 0..12),
        now in any::<i64>(),
    ) {
        const NAMES: [&str; 8] = [
            "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
            "X-Amz-Signature", "X-Amz-Expires", "X-Amz-Security-Token", "Other",
        ];
        let query = values
            .iter()
            .map(|(i, v)| format!("{}={v}", NAMES[*i]))
            .collect::<Vec<_>>()
            .join("&");
        let headers: Vec<(&str, &[u8])> = vec![("host", b"h")];
        let req = HttpRequest { method: "GET", path: "/", query: &query, headers: &headers, body: b"" };
        if let Ok(Some(signed)) = parse(&req) {
            let key = SigningKey::derive("s", signed.scope());
            let _ = signed.verify(&req, &key, now);
            let _ = signed.string_to_sign(&req, &VerifyOptions::default());
        }
    }
}
