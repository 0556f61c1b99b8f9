//! S3: AWS's documented examples (header-signed GET, presigned GET, chunked
//! PUT with and without trailer), deferred payload checks, and the
//! aws-chunked decoder fed in every way a network can split a body.

// The helpers outside `#[test]` functions fail the test by panicking too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use latchkey_sigv4::{
    BodyError, ChecksumAlgorithm, ChunkSigner, ChunkedDecoder, ChunkedEncoder, ChunkedMode,
    ChunkedOptions, ChunkedSummary, Error, HttpRequest, PayloadCheck, PayloadSigning, Sha256Check,
    SignedRequest, SigningKey, SigningParams, VerifyOptions, parse, presign_query, sign_headers,
};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2013-05-24T00:00:00Z, the time of all of AWS's S3 examples.
const NOW: i64 = 1_369_353_600;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn parsed(req: &HttpRequest<'_>) -> SignedRequest {
    parse(req).unwrap().expect("signed")
}

fn key(signed: &SignedRequest) -> SigningKey {
    SigningKey::derive(SECRET, signed.scope())
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// "Example: GET Object" of "Signature Calculations for the Authorization
/// Header: Transferring Payload in a Single Chunk".
#[test]
fn aws_example_get_object() {
    let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let headers: [(&str, &[u8]); 5] = [
        ("Host", b"examplebucket.s3.amazonaws.com"),
        ("Range", b"bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256.as_bytes()),
        ("x-amz-date", b"20130524T000000Z"),
        ("Authorization", auth.as_bytes()),
    ];
    let req = HttpRequest {
        method: "GET",
        path: "/test.txt",
        query: "",
        headers: &headers,
        body: b"",
    };
    let signed = parsed(&req);
    signed.check_scope("us-east-1", "s3").unwrap();
    let key = key(&signed);
    let s3 = VerifyOptions::s3();
    let (_, check) = signed.verify_deferred(&req, &key, NOW, &s3).unwrap();
    assert_eq!(check, PayloadCheck::Sha256(hex32(EMPTY_SHA256)));
    let PayloadCheck::Sha256(expected) = check else {
        unreachable!()
    };
    assert!(Sha256Check::new(expected).finish().is_ok());
    // The body is at hand here, so the one-shot check agrees.
    signed.verify_with(&req, &key, NOW, &s3).unwrap();
    // Documented canonical request.
    assert_eq!(
        String::from_utf8(signed.canonical_request(&req, &s3).unwrap()).unwrap(),
        format!(
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
        )
    );
    // Fifteen minutes of skew, as for every header-signed request.
    assert!(signed.verify_deferred(&req, &key, NOW + 900, &s3).is_ok());
    assert!(matches!(
        signed.verify_deferred(&req, &key, NOW + 901, &s3),
        Err(Error::SignatureExpired { .. })
    ));
    // A changed range breaks it.
    let mut tampered = headers;
    tampered[1].1 = b"bytes=0-10";
    let req = HttpRequest {
        headers: &tampered,
        ..req
    };
    assert_eq!(
        signed.verify_deferred(&req, &key, NOW, &s3).unwrap_err(),
        Error::SignatureDoesNotMatch
    );
}

/// "Example: GET Object" of "Authenticating Requests: Using Query
/// Parameters".
#[test]
fn aws_example_presigned_get() {
    let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    let headers: [(&str, &[u8]); 1] = [("Host", b"examplebucket.s3.amazonaws.com")];
    let req = HttpRequest {
        method: "GET",
        path: "/test.txt",
        query,
        headers: &headers,
        body: b"",
    };
    let signed = parsed(&req);
    let key = key(&signed);
    let s3 = VerifyOptions::s3();
    let (_, check) = signed.verify_deferred(&req, &key, NOW, &s3).unwrap();
    assert_eq!(check, PayloadCheck::Unsigned);
    // S3 honours X-Amz-Expires: a day here.
    assert!(
        signed
            .verify_deferred(&req, &key, NOW + 86_400, &s3)
            .is_ok()
    );
    let e = signed
        .verify_deferred(&req, &key, NOW + 86_401, &s3)
        .unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("AccessDenied", 403));
    // The STS defaults cap a presigned request at 15 minutes, and need
    // the body to be known empty before accepting UNSIGNED-PAYLOAD.
    assert!(signed.verify(&req, &key, NOW + 900).is_ok());
    assert!(signed.verify(&req, &key, NOW + 901).is_err());
    assert_eq!(
        signed
            .verify_deferred(&req, &key, NOW, &VerifyOptions::default())
            .unwrap_err(),
        Error::UnsignedPayloadNotAllowed
    );
}

struct ChunkedExample {
    mode: ChunkedMode,
    seed: &'static str,
    signed_headers: &'static str,
    chunk_signatures: [&'static str; 3],
    trailer: Option<(&'static str, &'static str)>,
}

/// "Example: PUT Object" of "Transferring Payload in Multiple Chunks".
const CHUNKED: ChunkedExample = ChunkedExample {
    mode: ChunkedMode::Signed,
    seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    signed_headers: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
    chunk_signatures: [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ],
    trailer: None,
};

/// "Example: PUT Object" of "Including Trailing Headers (Chunked Upload)".
const CHUNKED_TRAILER: ChunkedExample = ChunkedExample {
    mode: ChunkedMode::SignedWithTrailer,
    seed: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
    signed_headers: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
    chunk_signatures: [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ],
    trailer: Some((
        "x-amz-checksum-crc32c:sOO8/Q==",
        "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435",
    )),
};

impl ChunkedExample {
    fn payload() -> Vec<u8> {
        vec![b'a'; 66_560]
    }

    fn body(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (len, sig) in [
            (65_536, self.chunk_signatures[0]),
            (1024, self.chunk_signatures[1]),
        ] {
            body.extend_from_slice(format!("{len:x};chunk-signature={sig}\r\n").as_bytes());
            body.extend(std::iter::repeat_n(b'a', len));
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(
            format!("0;chunk-signature={}\r\n", self.chunk_signatures[2]).as_bytes(),
        );
        match self.trailer {
            None => body.extend_from_slice(b"\r\n"),
            Some((line, sig)) => body.extend_from_slice(
                format!("{line}\r\nx-amz-trailer-signature:{sig}\r\n\r\n").as_bytes(),
            ),
        }
        body
    }

    /// Verifies the example's request and returns a decoder for its body.
    fn decoder(&self, decoded_length: Option<u64>) -> ChunkedDecoder {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders={},Signature={}",
            self.signed_headers, self.seed
        );
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("Host", b"s3.amazonaws.com"),
            ("x-amz-date", b"20130524T000000Z"),
            ("x-amz-storage-class", b"REDUCED_REDUNDANCY"),
            ("Authorization", auth.as_bytes()),
            (
                "x-amz-content-sha256",
                self.mode.content_sha256().as_bytes(),
            ),
            ("Content-Encoding", b"aws-chunked"),
            ("x-amz-decoded-content-length", b"66560"),
            ("Content-Length", b"66824"),
        ];
        if self.trailer.is_some() {
            headers.push(("x-amz-trailer", b"x-amz-checksum-crc32c"));
        }
        let req = HttpRequest {
            method: "PUT",
            path: "/examplebucket/chunkObject.txt",
            query: "",
            headers: &headers,
            body: b"",
        };
        let signed = parsed(&req);
        let key = key(&signed);
        let (valid, check) = signed
            .verify_deferred(&req, &key, NOW, &VerifyOptions::s3())
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(check, PayloadCheck::Chunked(self.mode));
        let verifier = signed.chunk_verifier(&key, &valid).unwrap();
        let mut options = ChunkedOptions::from_headers(&headers).unwrap();
        assert_eq!(options.decoded_content_length, Some(66_560));
        // The decoded length is signed, so a wrong one is handed to the
        // decoder directly.
        if decoded_length.is_some() {
            options.decoded_content_length = decoded_length;
        }
        ChunkedDecoder::new(self.mode, Some(verifier), options)
    }

    fn fresh(&self) -> ChunkedDecoder {
        self.decoder(None)
    }
}

/// Feeds `body` in the pieces `cuts` makes of it; returns what was
/// released and the outcome.
fn decode_split(
    mut d: ChunkedDecoder,
    body: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, Result<ChunkedSummary, BodyError>) {
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        if let Err(e) = d.feed(&body[start..cut], &mut out) {
            // Spent: it keeps answering the same error.
            assert_eq!(d.finish().unwrap_err(), e);
            return (out, Err(e));
        }
        start = cut;
    }
    let result = d.finish();
    (out, result)
}

fn decode(d: ChunkedDecoder, body: &[u8]) -> (Vec<u8>, Result<ChunkedSummary, BodyError>) {
    decode_split(d, body, &[])
}

/// A small deterministic generator for split points.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn random_cuts(rng: &mut Lcg, len: usize, n: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..n).map(|_| rng.below(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

#[test]
fn aws_example_chunked_put() {
    let body = CHUNKED.body();
    assert_eq!(body.len(), 66_824, "the documented Content-Length");
    let (out, result) = decode(CHUNKED.fresh(), &body);
    assert_eq!(out, ChunkedExample::payload());
    assert_eq!(
        result.unwrap(),
        ChunkedSummary {
            decoded_length: 66_560,
            checksum: None
        }
    );
}

#[test]
fn aws_example_chunked_put_with_trailer() {
    let body = CHUNKED_TRAILER.body();
    let (out, result) = decode(CHUNKED_TRAILER.fresh(), &body);
    assert_eq!(out, ChunkedExample::payload());
    let summary = result.unwrap();
    let checksum = summary.checksum.unwrap();
    assert_eq!(checksum.algorithm, ChecksumAlgorithm::Crc32c);
    assert_eq!(checksum.to_base64(), "sOO8/Q==");

    // AWS's worked example shows an empty line between the final chunk
    // and the trailer; accept that too.
    let text = body.clone();
    let at = find(&text, b"x-amz-checksum-crc32c:");
    let mut with_blank = text[..at].to_vec();
    with_blank.extend_from_slice(b"\r\n");
    with_blank.extend_from_slice(&text[at..]);
    let (out, result) = decode(CHUNKED_TRAILER.fresh(), &with_blank);
    assert_eq!(out.len(), 66_560);
    assert!(result.is_ok());

    // A changed trailer breaks the trailer signature, even when the new
    // checksum would be right for another payload.
    let mut forged = body.clone();
    forged[at + "x-amz-checksum-crc32c:".len()] ^= 1;
    let (out, result) = decode(CHUNKED_TRAILER.fresh(), &forged);
    assert_eq!(out.len(), 66_560);
    let e = result.unwrap_err();
    assert_eq!(e, BodyError::TrailerSignatureMismatch);
    assert_eq!((e.code(), e.http_status()), ("SignatureDoesNotMatch", 403));
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

#[test]
fn chunked_example_split_anywhere() {
    for example in [&CHUNKED, &CHUNKED_TRAILER] {
        let body = example.body();
        let payload = ChunkedExample::payload();
        // One byte at a time.
        let mut d = example.fresh();
        let mut out = Vec::new();
        for b in &body {
            d.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert!(d.is_done());
        assert!(d.finish().is_ok());
        assert_eq!(out, payload);
        // Every two-piece split around the framing: chunk headers, the
        // CRLFs after data, the final chunk and the trailer.
        let second = 65_536 + 88 + 2;
        let third = second + 86 + 1024 + 2;
        let points = (0..200)
            .chain(65_536 + 40..second + 150)
            .chain(third - 100..body.len() + 1);
        for cut in points {
            let (out, result) = decode_split(example.fresh(), &body, &[cut]);
            assert!(result.is_ok(), "cut at {cut}: {result:?}");
            assert_eq!(out.len(), payload.len(), "cut at {cut}");
        }
        // Many random splits, into up to 40 pieces.
        let mut rng = Lcg(7);
        for round in 0..100 {
            let n = rng.below(40);
            let cuts = random_cuts(&mut rng, body.len(), n);
            let (out, result) = decode_split(example.fresh(), &body, &cuts);
            assert!(result.is_ok(), "round {round}: {cuts:?}");
            assert_eq!(out, payload);
        }
    }
}

#[test]
fn forged_chunks_release_nothing_of_themselves() {
    let body = CHUNKED.body();
    let data1 = 88; // first chunk's data starts here
    let header2 = data1 + 65_536 + 2;
    let data2 = header2 + 86;
    let header3 = data2 + 1024 + 2;
    let cases: [(usize, usize); 6] = [
        (data1, 0),             // first byte of the first chunk's data
        (data1 + 65_535, 0),    // its last byte
        (30, 0),                // its signature
        (data2 + 7, 65_536),    // second chunk's data
        (header2 + 50, 65_536), // second chunk's signature
        (header3 + 40, 66_560), // the final chunk's signature
    ];
    for (at, released) in cases {
        let mut forged = body.clone();
        forged[at] = match forged[at] {
            b'a' => b'b',
            b'0' => b'1',
            _ => b'0',
        };
        // Whole, and split inside the forged chunk.
        for cuts in [&[][..], &[at][..], &[at - 1, at + 1][..]] {
            let (out, result) = decode_split(CHUNKED.fresh(), &forged, cuts);
            let e = result.unwrap_err();
            assert_eq!(e, BodyError::ChunkSignatureMismatch, "byte {at}");
            assert_eq!((e.code(), e.http_status()), ("SignatureDoesNotMatch", 403));
            assert_eq!(out.len(), released, "byte {at}");
            assert!(out.iter().all(|&b| b == b'a'));
        }
    }
}

#[test]
fn truncated_and_overlong_bodies() {
    let body = CHUNKED.body();
    let mut rng = Lcg(11);
    let mut ends: Vec<usize> = (0..60).map(|_| rng.below(body.len())).collect();
    ends.extend([0, 1, 87, 88, 65_624, 65_625, body.len() - 2, body.len() - 1]);
    for end in ends {
        let (out, result) = decode(CHUNKED.fresh(), &body[..end]);
        let e = result.unwrap_err();
        assert_eq!(e, BodyError::Truncated, "end {end}");
        assert_eq!((e.code(), e.http_status()), ("IncompleteBody", 400));
        assert!(out.len() <= 66_560);
    }
    let mut longer = body.clone();
    longer.extend_from_slice(b"0;");
    let (out, result) = decode(CHUNKED.fresh(), &longer);
    assert_eq!(result.unwrap_err(), BodyError::DataAfterEnd);
    assert_eq!(out.len(), 66_560);
    // A body longer or shorter than x-amz-decoded-content-length: the
    // chunk that goes past it is refused before any of it is released.
    let (out, result) = decode(CHUNKED.decoder(Some(66_559)), &body);
    assert_eq!(
        result.unwrap_err(),
        BodyError::DecodedLengthMismatch {
            declared: 66_559,
            received: 66_560
        }
    );
    assert_eq!(out.len(), 65_536);
    let (_, result) = decode(CHUNKED.decoder(Some(66_561)), &body);
    let e = result.unwrap_err();
    assert_eq!(
        e,
        BodyError::DecodedLengthMismatch {
            declared: 66_561,
            received: 66_560
        }
    );
    assert_eq!(e.code(), "IncompleteBody");
}

#[test]
fn malformed_framing() {
    let sig = "0".repeat(64);
    let mut too_long = vec![b'1'; 300];
    too_long.extend_from_slice(b"\r\n");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!("zz;chunk-signature={sig}\r\n").into_bytes(),
            "InvalidRequest",
        ),
        (
            format!(";chunk-signature={sig}\r\n").into_bytes(),
            "InvalidRequest",
        ),
        (
            format!("10000000000000000;chunk-signature={sig}\r\n").into_bytes(),
            "InvalidRequest",
        ),
        (b"10\r\n".to_vec(), "InvalidRequest"),
        (
            format!("10;chunk-signature={sig}\n").into_bytes(),
            "InvalidRequest",
        ),
        (
            format!("10;chunk-sig={sig}\r\n").into_bytes(),
            "InvalidRequest",
        ),
        (
            b"10;chunk-signature=abc\r\n".to_vec(),
            "SignatureDoesNotMatch",
        ),
        (too_long, "InvalidRequest"),
        // Past x-amz-decoded-content-length, refused before its data.
        (
            format!("1000001;chunk-signature={sig}\r\n").into_bytes(),
            "IncompleteBody",
        ),
        (
            format!("ffffffffffffffff;chunk-signature={sig}\r\n").into_bytes(),
            "IncompleteBody",
        ),
    ];
    for (body, code) in cases {
        let (out, result) = decode(CHUNKED.fresh(), &body);
        let e = result.unwrap_err();
        assert_eq!(
            e.code(),
            code,
            "{:?}: {e:?}",
            String::from_utf8_lossy(&body)
        );
        assert!(out.is_empty());
    }
    // Data not followed by CRLF.
    let body = CHUNKED.body();
    let mut broken = body.clone();
    broken[88 + 65_536] = b'x';
    let (out, result) = decode(CHUNKED.fresh(), &broken);
    assert!(matches!(result, Err(BodyError::MalformedChunk { .. })));
    assert!(out.is_empty());
    // A chunk size limit below the example's chunks.
    let mut d = ChunkedDecoder::new(
        ChunkedMode::Signed,
        None,
        ChunkedOptions {
            max_chunk_size: 1024,
            ..ChunkedOptions::default()
        },
    );
    assert_eq!(
        d.feed(&body, &mut Vec::new()).unwrap_err(),
        BodyError::ChunkTooLarge {
            size: 65_536,
            max: 1024
        }
    );
    // Without a verifier, signed chunks cannot verify.
    let d = ChunkedDecoder::new(ChunkedMode::Signed, None, ChunkedOptions::default());
    assert_eq!(
        decode(d, &body).1.unwrap_err(),
        BodyError::ChunkSignatureMismatch
    );
}

#[test]
fn chunked_options_from_headers() {
    let o = ChunkedOptions::from_headers(&[
        ("X-Amz-Decoded-Content-Length", b" 42 "),
        ("X-Amz-Trailer", b"x-amz-checksum-sha256"),
    ])
    .unwrap();
    assert_eq!(o.decoded_content_length, Some(42));
    assert_eq!(o.trailer_checksum, Some(ChecksumAlgorithm::Sha256));
    assert_eq!(
        ChunkedOptions::from_headers(&[]).unwrap(),
        ChunkedOptions::default()
    );
    for bad in [&b"-1"[..], b"", b"1e3", b"99999999999999999999"] {
        let e = ChunkedOptions::from_headers(&[("x-amz-decoded-content-length", bad)]).unwrap_err();
        assert_eq!(e, BodyError::InvalidDecodedContentLength);
    }
    for bad in [
        &b"x-amz-checksum-md5"[..],
        b"x-amz-checksum-crc32,x-amz-checksum-sha1",
        b"content-md5",
    ] {
        let e = ChunkedOptions::from_headers(&[("x-amz-trailer", bad)]).unwrap_err();
        assert!(matches!(e, BodyError::UnsupportedTrailer { .. }), "{e:?}");
        assert_eq!(e.code(), "InvalidRequest");
    }
}

/// An S3 client's request: signs `payload` in `mode` with a `checksum`
/// trailer and returns the headers and the encoded body.
struct Upload {
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn upload(
    mode: ChunkedMode,
    checksum: Option<ChecksumAlgorithm>,
    payload: &[u8],
    chunk_size: usize,
) -> Upload {
    let mut params = SigningParams::new(ACCESS_KEY, SECRET, "us-east-1", "s3", NOW).for_s3();
    params.payload = PayloadSigning::Chunked(mode);
    let length = payload.len().to_string();
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("Host".into(), b"examplebucket.s3.amazonaws.com".to_vec()),
        ("Content-Encoding".into(), b"aws-chunked".to_vec()),
        ("x-amz-decoded-content-length".into(), length.into_bytes()),
    ];
    if let Some(c) = checksum {
        headers.push(("x-amz-trailer".into(), c.header_name().as_bytes().to_vec()));
    }
    let borrowed: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = HttpRequest {
        method: "PUT",
        path: "/my%20key",
        query: "",
        headers: &borrowed,
        body: b"",
    };
    let signature = sign_headers(&params, &req).unwrap();
    assert_eq!(
        signature.x_amz_content_sha256.as_deref(),
        Some(mode.content_sha256())
    );
    let signer = mode
        .is_signed()
        .then(|| ChunkSigner::new(&params, &signature.signature).unwrap());
    let mut encoder = ChunkedEncoder::new(mode, signer, checksum);
    let mut body = Vec::new();
    for piece in payload.chunks(chunk_size) {
        encoder.chunk(piece, &mut body);
    }
    encoder.finish(&mut body);
    for (n, v) in signature.headers() {
        headers.push((n.to_owned(), v.as_bytes().to_vec()));
    }
    Upload { headers, body }
}

impl Upload {
    fn decoder(&self) -> Result<ChunkedDecoder, String> {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = HttpRequest {
            method: "PUT",
            path: "/my%20key",
            query: "",
            headers: &headers,
            body: b"",
        };
        let signed = parsed(&req);
        let key = key(&signed);
        let (valid, check) = signed
            .verify_deferred(&req, &key, NOW, &VerifyOptions::s3())
            .map_err(|e| format!("{e:?}"))?;
        let PayloadCheck::Chunked(mode) = check else {
            return Err(format!("{check:?}"));
        };
        let verifier = signed.chunk_verifier(&key, &valid).unwrap();
        let options = ChunkedOptions::from_headers(&headers).map_err(|e| format!("{e:?}"))?;
        Ok(ChunkedDecoder::new(mode, Some(verifier), options))
    }
}

#[test]
fn encoder_round_trips() {
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut rng = Lcg(3);
    for mode in [
        ChunkedMode::Signed,
        ChunkedMode::SignedWithTrailer,
        ChunkedMode::UnsignedWithTrailer,
    ] {
        for checksum in [
            None,
            Some(ChecksumAlgorithm::Crc32),
            Some(ChecksumAlgorithm::Crc32c),
            Some(ChecksumAlgorithm::Crc64Nvme),
            Some(ChecksumAlgorithm::Sha1),
            Some(ChecksumAlgorithm::Sha256),
        ] {
            if mode == ChunkedMode::Signed && checksum.is_some() {
                continue;
            }
            for (len, chunk) in [(10_000, 4096), (0, 64), (1, 64), (300, 100)] {
                let up = upload(mode, checksum, &payload[..len], chunk);
                let (out, result) = decode(up.decoder().unwrap(), &up.body);
                let summary = result.unwrap_or_else(|e| panic!("{mode:?} {checksum:?}: {e:?}"));
                assert_eq!(out, &payload[..len]);
                assert_eq!(summary.decoded_length, len as u64);
                assert_eq!(summary.checksum.map(|c| c.algorithm), checksum);
                // Small bodies: every split point.
                if up.body.len() < 600 {
                    for cut in 0..=up.body.len() {
                        let (out, result) = decode_split(up.decoder().unwrap(), &up.body, &[cut]);
                        assert!(result.is_ok(), "{mode:?} {checksum:?} cut {cut}");
                        assert_eq!(out, &payload[..len]);
                    }
                }
                let cuts = random_cuts(&mut rng, up.body.len(), 20);
                let (out, result) = decode_split(up.decoder().unwrap(), &up.body, &cuts);
                assert!(result.is_ok());
                assert_eq!(out, &payload[..len]);
            }
        }
    }
}

#[test]
fn trailing_checksums_are_checked() {
    let payload = b"hello, trailing checksum".repeat(50);
    // Unsigned: a wrong checksum is S3's BadDigest.
    let up = upload(
        ChunkedMode::UnsignedWithTrailer,
        Some(ChecksumAlgorithm::Crc32),
        &payload,
        256,
    );
    let text = String::from_utf8_lossy(&up.body).into_owned();
    assert!(text.contains("\r\n0\r\nx-amz-checksum-crc32:"), "{text}");
    assert!(text.ends_with("==\r\n\r\n"), "{text}");
    let mut changed = up.body.clone();
    let at = find(&changed, b"x-amz-checksum-crc32:") + "x-amz-checksum-crc32:".len();
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    let (out, result) = decode(up.decoder().unwrap(), &changed);
    let e = result.unwrap_err();
    assert_eq!(e, BodyError::ChecksumMismatch { algorithm: "CRC32" });
    assert_eq!((e.code(), e.http_status()), ("BadDigest", 400));
    assert_eq!(
        e.message(),
        "The CRC32 you specified did not match the calculated checksum."
    );
    // The payload was released (it streams), but finish() refuses it.
    assert_eq!(out, payload);
    // A changed payload byte, likewise.
    let mut changed = up.body.clone();
    changed[10] ^= 0x20;
    assert!(matches!(
        decode(up.decoder().unwrap(), &changed).1,
        Err(BodyError::ChecksumMismatch { .. })
    ));
    // A missing, repeated or unannounced trailer.
    let cut = find(&up.body, b"x-amz-checksum-crc32:");
    for trailer in [
        &b"\r\n\r\n"[..],
        b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
        b"x-amz-checksum-sha1:AAAAAA==\r\n\r\n",
        b"no colon\r\n\r\n",
        b"x-amz-trailer-signature:00\r\n\r\n",
    ] {
        let mut body = up.body[..cut].to_vec();
        body.extend_from_slice(trailer);
        let e = decode(up.decoder().unwrap(), &body).1.unwrap_err();
        assert_eq!(e.code(), "MalformedTrailerError", "{trailer:?}: {e:?}");
    }
    // An invalid value.
    let mut body = up.body[..cut].to_vec();
    body.extend_from_slice(b"x-amz-checksum-crc32:!!\r\n\r\n");
    assert_eq!(
        decode(up.decoder().unwrap(), &body).1.unwrap_err(),
        BodyError::InvalidChecksum {
            header: "x-amz-checksum-crc32"
        }
    );
    // A trailer over 16 KiB.
    let mut body = up.body[..cut].to_vec();
    body.extend_from_slice(&vec![b'x'; 17_000]);
    assert!(matches!(
        decode(up.decoder().unwrap(), &body).1,
        Err(BodyError::MalformedTrailer { .. })
    ));

    // Signed: any change to the trailer breaks its signature first.
    let up = upload(
        ChunkedMode::SignedWithTrailer,
        Some(ChecksumAlgorithm::Sha256),
        &payload,
        256,
    );
    let at = find(&up.body, b"x-amz-checksum-sha256:") + "x-amz-checksum-sha256:".len();
    let mut changed = up.body.clone();
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        decode(up.decoder().unwrap(), &changed).1.unwrap_err(),
        BodyError::TrailerSignatureMismatch
    );
    // A trailer without its signature.
    let sig_at = find(&up.body, b"x-amz-trailer-signature:");
    let mut body = up.body[..sig_at].to_vec();
    body.extend_from_slice(b"\r\n");
    assert_eq!(
        decode(up.decoder().unwrap(), &body).1.unwrap_err(),
        BodyError::TrailerSignatureMismatch
    );
    // A header after the signature.
    let mut body = up.body[..up.body.len() - 2].to_vec();
    body.extend_from_slice(b"x-amz-checksum-sha256:AAAA\r\n\r\n");
    assert!(matches!(
        decode(up.decoder().unwrap(), &body).1,
        Err(BodyError::MalformedTrailer { .. })
    ));
}

#[test]
fn chunk_signatures_bind_the_request() {
    let payload = vec![7u8; 1000];
    let a = upload(ChunkedMode::Signed, None, &payload, 100);
    assert!(decode(a.decoder().unwrap(), &a.body).1.is_ok());
    // The same body under another request's signature (signed a second
    // later) does not verify: the chain starts from the request's.
    let mut params = SigningParams::new(ACCESS_KEY, SECRET, "us-east-1", "s3", NOW + 1).for_s3();
    params.payload = PayloadSigning::Chunked(ChunkedMode::Signed);
    let base: Vec<(String, Vec<u8>)> = a.headers.iter().take(3).cloned().collect();
    let borrowed: Vec<(&str, &[u8])> = base
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = HttpRequest {
        method: "PUT",
        path: "/my%20key",
        query: "",
        headers: &borrowed,
        body: b"",
    };
    let sig = sign_headers(&params, &req).unwrap();
    let mut headers = base.clone();
    for (n, v) in sig.headers() {
        headers.push((n.to_owned(), v.as_bytes().to_vec()));
    }
    let other = Upload {
        headers,
        body: Vec::new(),
    };
    let (out, result) = decode(other.decoder().unwrap(), &a.body);
    assert_eq!(result.unwrap_err(), BodyError::ChunkSignatureMismatch);
    assert!(out.is_empty());
    // Dropping a chunk breaks the chain at the next one.
    let first_end = find(&a.body, b"\r\n64;") + 2;
    let second_end = first_end + find(&a.body[first_end..], b"\r\n64;") + 2;
    let mut dropped = a.body[..first_end].to_vec();
    dropped.extend_from_slice(&a.body[second_end..]);
    let (out, result) = decode(a.decoder().unwrap(), &dropped);
    assert_eq!(result.unwrap_err(), BodyError::ChunkSignatureMismatch);
    assert_eq!(out.len(), 100);
}

#[test]
fn deferred_verification_of_s3_requests() {
    let base = || {
        let mut p = SigningParams::new(ACCESS_KEY, SECRET, "us-east-1", "s3", NOW).for_s3();
        p.payload = PayloadSigning::BodySha256;
        p
    };
    let body = b"object body";
    let host: (&str, &[u8]) = ("Host", b"examplebucket.s3.amazonaws.com");
    let sign = |params: &SigningParams<'_>, path: &str| {
        let req = HttpRequest {
            method: "PUT",
            path,
            query: "",
            headers: &[host],
            body,
        };
        sign_headers(params, &req).unwrap()
    };
    let check = |path: &str, headers: &[(&str, &[u8])], opts: &VerifyOptions| {
        let req = HttpRequest {
            method: "PUT",
            path,
            query: "",
            headers,
            body: b"not available yet",
        };
        let signed = parsed(&req);
        signed
            .verify_deferred(&req, &key(&signed), NOW, opts)
            .map(|(_, c)| c)
    };
    let s3 = VerifyOptions::s3();

    // The path is signed as sent: `%20` stays `%20`, dots stay.
    for path in ["/bucket/my%20key", "/bucket/a/../b//c", ""] {
        let sig = sign(&base(), path);
        let mut headers = vec![host];
        let added = sig.headers();
        headers.extend(added.iter().map(|(n, v)| (*n, v.as_bytes())));
        let c = check(path, &headers, &s3).unwrap();
        let PayloadCheck::Sha256(expected) = c else {
            panic!("{c:?}")
        };
        let mut sha = Sha256Check::new(expected);
        sha.update(body);
        assert!(sha.finish().is_ok());
        let mut sha = Sha256Check::new(expected);
        sha.update(b"another body");
        assert_eq!(
            sha.finish().unwrap_err().code(),
            "XAmzContentSHA256Mismatch"
        );
        // STS-style canonicalization would encode the path again.
        if path.contains('%') || path.contains("..") {
            assert_eq!(
                check(
                    path,
                    &headers,
                    &VerifyOptions {
                        allow_unsigned_payload: true,
                        ..VerifyOptions::default()
                    }
                )
                .unwrap_err(),
                Error::SignatureDoesNotMatch,
                "{path}"
            );
        }
    }

    // x-amz-content-sha256 is required on header-signed requests.
    let mut params = base();
    params.content_sha256_header = false;
    let sig = sign(&params, "/k");
    let mut headers = vec![host];
    let added = sig.headers();
    headers.extend(added.iter().map(|(n, v)| (*n, v.as_bytes())));
    let e = check("/k", &headers, &s3).unwrap_err();
    assert_eq!(e, Error::MissingContentSha256);
    assert_eq!((e.code(), e.http_status()), ("InvalidRequest", 400));
    assert_eq!(
        e.message(),
        "Missing required header for this request: x-amz-content-sha256"
    );

    // Values outside the accepted set, SigV4a's streaming ones included.
    for value in [
        &b"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"[..],
        b"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
        b"STREAMING-UNSIGNED-PAYLOAD",
        b"unsigned-payload",
        b"abc",
    ] {
        let mut headers = headers.clone();
        headers.push(("x-amz-content-sha256", value));
        let e = check("/k", &headers, &s3).unwrap_err();
        assert!(matches!(e, Error::InvalidContentSha256 { .. }), "{e:?}");
        assert_eq!((e.code(), e.http_status()), ("InvalidArgument", 400));
    }

    // UNSIGNED-PAYLOAD and the unsigned trailer need allow_unsigned_payload.
    for payload in [
        PayloadSigning::Unsigned,
        PayloadSigning::Chunked(ChunkedMode::UnsignedWithTrailer),
    ] {
        let mut params = base();
        params.payload = payload;
        let sig = sign(&params, "/k");
        let mut headers = vec![host];
        let added = sig.headers();
        headers.extend(added.iter().map(|(n, v)| (*n, v.as_bytes())));
        assert!(check("/k", &headers, &s3).is_ok());
        let strict = VerifyOptions {
            allow_unsigned_payload: false,
            ..s3
        };
        assert_eq!(
            check("/k", &headers, &strict).unwrap_err(),
            Error::UnsignedPayloadNotAllowed
        );
    }

    // Presigned: UNSIGNED-PAYLOAD unless declared otherwise.
    let params = SigningParams::new(ACCESS_KEY, SECRET, "us-east-1", "s3", NOW).for_s3();
    let mut unsigned = params;
    unsigned.payload = PayloadSigning::Unsigned;
    let req = HttpRequest {
        method: "PUT",
        path: "/my%20key",
        query: "",
        headers: &[host],
        body: b"",
    };
    let query = presign_query(&unsigned, &req, 604_800).unwrap();
    let req = HttpRequest {
        query: &query,
        body: b"streamed later",
        ..req
    };
    let signed = parsed(&req);
    let key = key(&signed);
    let (_, c) = signed.verify_deferred(&req, &key, NOW, &s3).unwrap();
    assert_eq!(c, PayloadCheck::Unsigned);
    assert!(
        signed
            .verify_deferred(&req, &key, NOW + 604_800, &s3)
            .is_ok()
    );
    assert!(
        signed
            .verify_deferred(&req, &key, NOW + 604_801, &s3)
            .is_err()
    );
}

#[test]
fn debug_output_hides_keys() {
    let up = upload(ChunkedMode::Signed, None, b"x", 1);
    let d = up.decoder().unwrap();
    let text = format!("{d:?}");
    assert!(text.contains("Signed"));
    let params = SigningParams::new(ACCESS_KEY, SECRET, "us-east-1", "s3", NOW);
    let signer = ChunkSigner::new(&params, &"ab".repeat(32)).unwrap();
    assert_eq!(format!("{signer:?}"), "ChunkSigner(<redacted>)");
    assert!(ChunkSigner::new(&params, "zz").is_err());
}

#[test]
fn codes_are_listed_whole() {
    use latchkey_sigv4::{BodyCode, Code};
    let names: std::collections::HashSet<&str> = BodyCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names.len(), BodyCode::ALL.len());
    assert!(Code::ALL.contains(&Code::InvalidRequest));
    assert!(Code::ALL.contains(&Code::InvalidArgument));
    assert_eq!(Code::InvalidRequest.http_status(), 400);
    assert_eq!(Code::InvalidArgument.http_status(), 400);
    for (e, code, status) in [
        (
            BodyError::ChunkSignatureMismatch,
            "SignatureDoesNotMatch",
            403,
        ),
        (
            BodyError::TrailerSignatureMismatch,
            "SignatureDoesNotMatch",
            403,
        ),
        (BodyError::Truncated, "IncompleteBody", 400),
        (BodyError::DataAfterEnd, "InvalidRequest", 400),
        (
            BodyError::MalformedTrailer { problem: "x" },
            "MalformedTrailerError",
            400,
        ),
        (
            BodyError::ContentSha256Mismatch,
            "XAmzContentSHA256Mismatch",
            400,
        ),
    ] {
        assert_eq!((e.code(), e.http_status()), (code, status), "{e:?}");
        assert_eq!(e.to_string(), e.message());
    }
}
