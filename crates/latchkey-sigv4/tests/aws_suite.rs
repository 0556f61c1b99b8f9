//! Runs AWS's SigV4 test suite (the aws-c-auth `v4` cases) through the
//! verifier and the signer.
//!
//! Each case directory holds `request.txt` (unsigned), `header-*` and
//! `query-*` files (canonical request, string to sign, signature, signed
//! request, for the `Authorization`-header and presigned forms) and
//! `context.json` (credentials, whether the path is normalized, whether the
//! body hash is sent as `x-amz-content-sha256`, session token handling).

#![cfg(test)]

use std::fs;
use std::path::{Path, PathBuf};

use latchkey_sigv4::{
    Error, HttpRequest, Placement, SignedRequest, SigningKey, SigningParams, VerifyOptions, parse,
    presign_query, sign_headers,
};

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/sigv4/v4");
const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the suite's signing time.
const NOW: i64 = 1_440_938_160;

/// A raw HTTP/1.1 request from a suite file, owned.
#[derive(Clone, Debug)]
struct Raw {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Raw {
    /// Parses the suite's request files. The request target may contain
    /// spaces (`GET /example space/ HTTP/1.1`), so the method ends at the
    /// first space and the version starts at the last. A line starting
    /// with whitespace continues the previous header (obs-fold); its line
    /// break is kept, for the canonicalizer to collapse.
    fn parse(bytes: &[u8]) -> Raw {
        let text_end = find(bytes, b"\n\n");
        let (head, body) = match text_end {
            Some(i) => (&bytes[..i], bytes[i + 2..].to_vec()),
            None => (bytes, Vec::new()),
        };
        let head = std::str::from_utf8(head).expect("suite heads are UTF-8");
        let mut lines = head.split('\n');
        let request_line = lines.next().expect("request line");
        let (method, rest) = request_line.split_once(' ').expect("method");
        let (target, _version) = rest.rsplit_once(' ').expect("version");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("continuation follows a header");
                last.1.push(b'\n');
                last.1.extend_from_slice(line.as_bytes());
            } else {
                let (name, value) = line.split_once(':').expect("header colon");
                headers.push((name.to_owned(), value.as_bytes().to_vec()));
            }
        }
        Raw {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        f(&HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        })
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The few `context.json` fields the cases vary, read without a JSON crate.
#[derive(Debug)]
struct Context {
    normalize: bool,
    sign_body: bool,
    token: Option<String>,
    omit_session_token: bool,
}

impl Context {
    fn load(dir: &Path) -> Context {
        let text = fs::read_to_string(dir.join("context.json")).expect("context.json");
        let flag = |name: &str| text.contains(&format!("\"{name}\": true"));
        let token = text
            .split_once("\"token\": \"")
            .map(|(_, rest)| rest.split_once('"').expect("closing quote").0.to_owned());
        assert!(text.contains(&format!("\"access_key_id\": \"{ACCESS_KEY}\"")));
        assert!(text.contains(&format!("\"secret_access_key\": \"{SECRET}\"")));
        assert!(text.contains("\"timestamp\": \"2015-08-30T12:36:00Z\""));
        Context {
            normalize: flag("normalize"),
            sign_body: flag("sign_body"),
            token,
            omit_session_token: flag("omit_session_token"),
        }
    }

    fn opts(&self) -> VerifyOptions {
        VerifyOptions {
            normalize_path: self.normalize,
            ..VerifyOptions::default()
        }
    }

    fn params(&self) -> SigningParams<'_> {
        let mut p = SigningParams::new(ACCESS_KEY, SECRET, "us-east-1", "service", NOW);
        p.session_token = self.token.as_deref();
        p.sign_session_token = !self.omit_session_token;
        p.content_sha256_header = self.sign_body;
        p.normalize_path = self.normalize;
        p
    }
}

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(SUITE)
        .expect("the suite is at testdata/sigv4/v4")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("context.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 38,
        "expected the 38 v4 cases, found {}",
        dirs.len()
    );
    dirs
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
}

fn key() -> SigningKey {
    SigningKey::derive(
        SECRET,
        &latchkey_sigv4::CredentialScope::new("20150830", "us-east-1", "service"),
    )
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn parsed(raw: &Raw) -> SignedRequest {
    raw.with(parse)
        .unwrap_or_else(|e| panic!("parse failed: {e}"))
        .expect("request is signed")
}

/// The suite's own signed requests: our canonical request and string to
/// sign must match AWS's byte for byte, and the signature must verify.
#[test]
fn suite_header_signed_requests_verify() {
    for dir in cases() {
        let case = name(&dir);
        let ctx = Context::load(&dir);
        let raw = Raw::parse(&read(&dir, "header-signed-request.txt"));
        let signed = parsed(&raw);
        assert_eq!(signed.placement(), Placement::Header, "{case}");
        assert_eq!(signed.access_key_id(), ACCESS_KEY, "{case}");
        assert_eq!(signed.timestamp(), NOW, "{case}");
        assert_eq!(signed.session_token(), ctx.token.as_deref(), "{case}");
        let opts = ctx.opts();
        let creq = raw.with(|r| signed.canonical_request(r, &opts)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&creq),
            String::from_utf8_lossy(&read(&dir, "header-canonical-request.txt")),
            "{case}: canonical request"
        );
        let sts = raw.with(|r| signed.string_to_sign(r, &opts)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&sts),
            String::from_utf8_lossy(&read(&dir, "header-string-to-sign.txt")),
            "{case}: string to sign"
        );
        raw.with(|r| signed.verify_with(r, &key(), NOW, &opts))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        signed.check_scope("us-east-1", "service").unwrap();
    }
}

/// The suite's presigned requests. One case, `post-sts-header-after`,
/// appends `X-Amz-Security-Token` *after* signing (an IoT convention); a
/// verifier cannot know to leave a present parameter out of the canonical
/// query, and AWS STS/IAM sign every parameter but `X-Amz-Signature`, so
/// that one must be refused.
#[test]
fn suite_presigned_requests_verify() {
    for dir in cases() {
        let case = name(&dir);
        let ctx = Context::load(&dir);
        let raw = Raw::parse(&read(&dir, "query-signed-request.txt"));
        let signed = parsed(&raw);
        assert_eq!(signed.placement(), Placement::Query, "{case}");
        assert_eq!(signed.expires(), Some(3600), "{case}");
        assert_eq!(signed.session_token(), ctx.token.as_deref(), "{case}");
        let opts = ctx.opts();
        let creq = raw.with(|r| signed.canonical_request(r, &opts)).unwrap();
        let sts = raw.with(|r| signed.string_to_sign(r, &opts)).unwrap();
        let result = raw.with(|r| signed.verify_with(r, &key(), NOW, &opts));
        if ctx.omit_session_token {
            assert_ne!(creq, read(&dir, "query-canonical-request.txt"), "{case}");
            assert_eq!(result.unwrap_err(), Error::SignatureDoesNotMatch, "{case}");
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&creq),
            String::from_utf8_lossy(&read(&dir, "query-canonical-request.txt")),
            "{case}: canonical request"
        );
        assert_eq!(
            String::from_utf8_lossy(&sts),
            String::from_utf8_lossy(&read(&dir, "query-string-to-sign.txt")),
            "{case}: string to sign"
        );
        result.unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}

/// Our signer, fed the unsigned `request.txt`, must produce exactly the
/// suite's `Authorization` header and presigned query.
#[test]
fn signer_reproduces_suite() {
    for dir in cases() {
        let case = name(&dir);
        let ctx = Context::load(&dir);
        let unsigned = Raw::parse(&read(&dir, "request.txt"));
        let expected = Raw::parse(&read(&dir, "header-signed-request.txt"));

        let sig = unsigned.with(|r| sign_headers(&ctx.params(), r)).unwrap();
        assert_eq!(
            sig.authorization.as_bytes(),
            expected.header("authorization").unwrap(),
            "{case}: Authorization"
        );
        assert_eq!(
            sig.signature,
            String::from_utf8(read(&dir, "header-signature.txt"))
                .unwrap()
                .trim(),
            "{case}"
        );
        assert_eq!(
            sig.x_amz_content_sha256.as_deref().map(str::as_bytes),
            expected.header("x-amz-content-sha256"),
            "{case}"
        );

        let query = unsigned
            .with(|r| presign_query(&ctx.params(), r, 3600))
            .unwrap();
        let expected = Raw::parse(&read(&dir, "query-signed-request.txt"));
        assert_eq!(query, expected.query, "{case}: presigned query");
        assert!(
            query.ends_with(
                String::from_utf8(read(&dir, "query-signature.txt"))
                    .unwrap()
                    .trim()
            ),
            "{case}"
        );
    }
}

/// The request as signed by `sign_headers`, with the added headers.
fn header_signed(unsigned: &Raw, params: &SigningParams<'_>) -> Raw {
    let sig = unsigned.with(|r| sign_headers(params, r)).unwrap();
    let mut raw = unsigned.clone();
    for (name, value) in sig.headers() {
        raw.headers
            .push((name.to_owned(), value.as_bytes().to_vec()));
    }
    raw
}

/// The request presigned by `presign_query`.
fn presigned(unsigned: &Raw, params: &SigningParams<'_>) -> Raw {
    let query = unsigned.with(|r| presign_query(params, r, 3600)).unwrap();
    Raw {
        query,
        ..unsigned.clone()
    }
}

/// Every way of changing a signed request that must break it: the method,
/// the path, the query, each signed header's value, the body (where it is
/// signed), and each hex digit of the signature.
fn mutations(raw: &Raw, signed_headers: &str, placement: Placement) -> Vec<(String, Raw)> {
    let mut out = Vec::new();
    let other = if raw.method == "GET" { "POST" } else { "GET" };
    out.push((
        "method".into(),
        Raw {
            method: other.into(),
            ..raw.clone()
        },
    ));
    out.push((
        "method case".into(),
        Raw {
            method: raw.method.to_lowercase(),
            ..raw.clone()
        },
    ));
    out.push((
        "path".into(),
        Raw {
            path: format!("{}x", raw.path),
            ..raw.clone()
        },
    ));
    out.push((
        "path segment".into(),
        Raw {
            path: format!("/extra{}", raw.path),
            ..raw.clone()
        },
    ));
    out.push((
        "query added".into(),
        Raw {
            query: if raw.query.is_empty() {
                "Extra=1".into()
            } else {
                format!("Extra=1&{}", raw.query)
            },
            ..raw.clone()
        },
    ));
    if !raw.query.is_empty() {
        out.push((
            "query value".into(),
            Raw {
                query: raw.query.replacen('=', "=x", 1),
                ..raw.clone()
            },
        ));
    }
    for name in signed_headers.split(';') {
        let mut changed = raw.clone();
        for (n, v) in &mut changed.headers {
            if n.eq_ignore_ascii_case(name) {
                v.push(b'x');
            }
        }
        out.push((format!("header {name}"), changed));
        let mut removed = raw.clone();
        removed
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        out.push((format!("header {name} removed"), removed));
    }
    out.push((
        "body".into(),
        Raw {
            body: [&raw.body[..], b"x"].concat(),
            ..raw.clone()
        },
    ));
    for i in 0..64 {
        let mut changed = raw.clone();
        let flip = |sig: &mut [u8]| {
            sig[i] = if sig[i] == b'0' { b'1' } else { b'0' };
        };
        match placement {
            Placement::Header => {
                let auth = changed
                    .headers
                    .iter_mut()
                    .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                    .unwrap();
                let at = find(&auth.1, b"Signature=").unwrap() + b"Signature=".len();
                flip(&mut auth.1[at..at + 64]);
            }
            Placement::Query => {
                let at = changed.query.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
                let mut bytes = changed.query.into_bytes();
                flip(&mut bytes[at..at + 64]);
                changed.query = String::from_utf8(bytes).unwrap();
            }
        }
        out.push((format!("signature digit {i}"), changed));
    }
    out
}

fn assert_mutations_rejected(case: &str, raw: &Raw, opts: &VerifyOptions) {
    let signed = parsed(raw);
    raw.with(|r| signed.verify_with(r, &key(), NOW, opts))
        .unwrap_or_else(|e| panic!("{case}: unmodified request rejected: {e}"));
    let mut count = 0;
    for (what, changed) in mutations(raw, signed.signed_headers(), signed.placement()) {
        // A mutation may already break parsing (e.g. the host header
        // removed); that is a rejection too.
        let result = changed.with(|r| {
            let reparsed = parse(r)?.ok_or(Error::MissingAuthenticationToken)?;
            reparsed.verify_with(r, &key(), NOW, opts)
        });
        let err = result.err().unwrap_or_else(|| {
            panic!(
                "{case}: {:?} request still verified after changing {what}",
                signed.placement()
            )
        });
        assert!(
            matches!(
                err.code(),
                "SignatureDoesNotMatch" | "XAmzContentSHA256Mismatch" | "IncompleteSignature"
            ),
            "{case}: {what}: unexpected {err:?}"
        );
        count += 1;
    }
    assert!(count >= 70, "{case}: only {count} mutations");
}

/// A presigned variant of every case, made by our signer from the unsigned
/// request, verifies, and stops verifying after any change.
#[test]
fn presigned_variant_of_every_case() {
    for dir in cases() {
        let case = name(&dir);
        let ctx = Context::load(&dir);
        let unsigned = Raw::parse(&read(&dir, "request.txt"));
        let mut params = ctx.params();
        // Sign the token, which the verifier (rightly) insists on.
        params.sign_session_token = true;
        let raw = presigned(&unsigned, &params);
        assert_mutations_rejected(&case, &raw, &ctx.opts());
    }
}

/// Same for the header-signed form.
#[test]
fn header_signed_variant_of_every_case() {
    for dir in cases() {
        let case = name(&dir);
        let ctx = Context::load(&dir);
        let unsigned = Raw::parse(&read(&dir, "request.txt"));
        let raw = header_signed(&unsigned, &ctx.params());
        assert_mutations_rejected(&case, &raw, &ctx.opts());
    }
}

/// The suite's own signed requests stop verifying after any change, too.
#[test]
fn suite_requests_reject_mutations() {
    for dir in cases() {
        let case = name(&dir);
        let ctx = Context::load(&dir);
        let raw = Raw::parse(&read(&dir, "header-signed-request.txt"));
        assert_mutations_rejected(&case, &raw, &ctx.opts());
        if !ctx.omit_session_token {
            let raw = Raw::parse(&read(&dir, "query-signed-request.txt"));
            assert_mutations_rejected(&case, &raw, &ctx.opts());
        }
    }
}
