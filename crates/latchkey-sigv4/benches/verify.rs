//! The verifier's hot path: parse + verify of a botocore-style STS POST,
//! with the signing key served from the cache.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark whose setup or measured call fails must abort, not be measured"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_sigv4::{
    CredentialScope, HttpRequest, SigningKey, SigningKeyCache, SigningParams, parse, presign_query,
    sign_headers,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_440_938_160;
const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";

fn bench(c: &mut Criterion) {
    let params = SigningParams::new("AKIDEXAMPLE", SECRET, "us-east-1", "sts", NOW);
    let base: Vec<(&str, &[u8])> = vec![
        ("Host", b"sts.us-east-1.amazonaws.com"),
        (
            "Content-Type",
            b"application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let unsigned = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body: BODY,
    };
    let sig = sign_headers(&params, &unsigned).unwrap();
    let added = sig.headers();
    let mut headers = base.clone();
    headers.extend(added.iter().map(|(n, v)| (*n, v.as_bytes())));
    let req = HttpRequest {
        headers: &headers,
        ..unsigned
    };
    let cache = SigningKeyCache::new(1024);

    c.bench_function("sts_post/parse+verify (cached key)", |b| {
        b.iter(|| {
            let req = black_box(&req);
            let signed = parse(req).unwrap().unwrap();
            signed.check_scope("us-east-1", "sts").unwrap();
            let key = cache.get_or_derive(signed.access_key_id(), signed.scope(), || SECRET);
            signed.verify(req, &key, NOW).unwrap()
        })
    });

    let presigned_query = presign_query(&params, &unsigned, 900).unwrap();
    let presigned = HttpRequest {
        query: &presigned_query,
        ..unsigned
    };
    c.bench_function("sts_post/presigned parse+verify (cached key)", |b| {
        b.iter(|| {
            let req = black_box(&presigned);
            let signed = parse(req).unwrap().unwrap();
            let key = cache.get_or_derive(signed.access_key_id(), signed.scope(), || SECRET);
            signed.verify(req, &key, NOW).unwrap()
        })
    });

    let scope = CredentialScope::new("20150830", "us-east-1", "sts");
    c.bench_function("signing_key/derive (uncached)", |b| {
        b.iter(|| SigningKey::derive(black_box(SECRET), black_box(&scope)))
    });

    c.bench_function("sts_post/sign_headers", |b| {
        b.iter(|| sign_headers(black_box(&params), black_box(&unsigned)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
