//! Sealing and opening through the public API: round trips, tampering,
//! binding to the access key id, rotation, malformed input, sizes, and
//! redaction.

#![cfg(test)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_token::{
    FORMAT_VERSION, KeyRing, MAX_PACKED_LEN, MAX_TOKEN_LEN, MAX_TOKEN_LIFETIME_SECS, SessionClaims,
    SessionKind, SessionUser, TokenError, TokenKey,
};

const NOW: i64 = 1_700_000_000;
const AKID: &str = "ASIAQ3EGUWTBOH2ZWL7K";
const SECRET: &str = "Zk8w9pQ+2hD1Lr7mT0bXvN4sYcJ6aE3uG5iK/oWq";
const DAY: i64 = 86_400;

fn typical() -> SessionClaims {
    SessionClaims {
        account: "123456789012".into(),
        kind: SessionKind::AssumedRole {
            role_id: "AROAQ3EGUWTBHXMPLE123".into(),
            role_name: "deploy-production".into(),
            role_path: "/service-role/".into(),
        },
        session_name: "github-actions-run-8841".into(),
        issued_at: NOW,
        expires_at: NOW + 3600,
        secret_access_key: SECRET.into(),
        mfa_authenticated: false,
        mfa_auth_time: None,
        source_identity: None,
        session_policy: None,
        policy_arns: vec![],
        tags: vec![
            ("team".into(), "platform".into()),
            ("env".into(), "production".into()),
        ],
        transitive_tag_keys: vec![],
        chained: false,
        source_arn: "arn:aws:iam::123456789012:user/ci/github-actions".into(),
        source_access_key_id: "AKIAQ3EGUWTBA7XMPLE1".into(),
    }
}

/// A minified policy of about `len` characters with realistic variety.
fn policy(len: usize) -> String {
    let services = [
        "s3", "dynamodb", "sqs", "sns", "kms", "logs", "ec2", "lambda",
    ];
    let verbs = [
        "Get", "Put", "List", "Describe", "Delete", "Create", "Update",
    ];
    let mut statements = Vec::new();
    let mut i = 0usize;
    loop {
        let svc = services[i % services.len()];
        let stmt = format!(
            r#"{{"Sid":"Stmt{i}","Effect":"{}","Action":["{svc}:{}Object{i}","{svc}:{}Item"],"Resource":"arn:aws:{svc}:us-east-{}:123456789012:res-{:x}/*","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"t{}"}}}}}}"#,
            if i.is_multiple_of(5) { "Deny" } else { "Allow" },
            verbs[i % verbs.len()],
            verbs[(i * 3 + 1) % verbs.len()],
            i % 2 + 1,
            i.wrapping_mul(2_654_435_761) % 0xffff_ffff,
            i * 7 % 13,
        );
        statements.push(stmt);
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        );
        if doc.len() >= len {
            let mut doc = doc;
            // Trim inside the last resource suffix is not valid JSON, but
            // the codec does not parse policies; only the length matters.
            doc.truncate(len);
            return doc;
        }
        i += 1;
    }
}

fn with_policy() -> SessionClaims {
    SessionClaims {
        session_policy: Some(policy(2048)),
        policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
        ..typical()
    }
}

fn with_policy_and_50_tags() -> SessionClaims {
    let mut c = with_policy();
    c.tags = (0..50)
        .map(|i| {
            (
                format!("tag-key-{i:02}"),
                format!("value-{:08x}", i * 2_654_435_761u64),
            )
        })
        .collect();
    c.transitive_tag_keys = (0..10).map(|i| format!("tag-key-{i:02}")).collect();
    c
}

/// One claims set per kind and per optional field, set and unset.
fn variants() -> Vec<SessionClaims> {
    let all_options = SessionClaims {
        mfa_authenticated: true,
        mfa_auth_time: Some(NOW - 120),
        source_identity: Some("alice@example.com".into()),
        session_policy: Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into()),
        policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into(), "arn:aws:iam::123456789012:policy/x".into()],
        tags: vec![("a".into(), "".into()), ("ünïcode".into(), "✓".into())],
        transitive_tag_keys: vec!["a".into()],
        chained: true,
        ..typical()
    };
    let kinds = [
        SessionKind::AssumedRole {
            role_id: "AROAX".into(),
            role_name: "r".into(),
            role_path: "/".into(),
        },
        SessionKind::FederatedUser {
            name: "bob".into(),
            user_id: None,
        },
        SessionKind::FederatedUser {
            name: "bob".into(),
            user_id: Some("AIDAQ3EGUWTB00000001".into()),
        },
        SessionKind::SessionToken { user: None },
        SessionKind::SessionToken {
            user: Some(SessionUser {
                id: "AIDAQ3EGUWTB00000002".into(),
                name: "carol".into(),
                path: "/eng/".into(),
            }),
        },
    ];
    let mut out = Vec::new();
    for kind in kinds {
        out.push(SessionClaims {
            kind: kind.clone(),
            ..typical()
        });
        out.push(SessionClaims {
            kind: kind.clone(),
            ..all_options.clone()
        });
        out.push(SessionClaims {
            kind,
            account: String::new(),
            session_name: String::new(),
            issued_at: i64::MIN,
            expires_at: i64::MAX,
            secret_access_key: String::new(),
            mfa_auth_time: Some(i64::MAX),
            source_identity: Some(String::new()),
            session_policy: Some(String::new()),
            tags: vec![(String::new(), String::new())],
            source_arn: String::new(),
            source_access_key_id: String::new(),
            ..all_options.clone()
        });
    }
    out.push(with_policy());
    out.push(with_policy_and_50_tags());
    out
}

fn ring() -> KeyRing {
    KeyRing::new(vec![TokenKey::generate(1, NOW)]).unwrap()
}

fn decode(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(token).unwrap()
}

fn encode(bin: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bin)
}

#[test]
fn round_trips_every_kind_and_optional_field() {
    let ring = ring();
    for claims in variants() {
        let token = ring.seal(&claims, AKID).unwrap();
        assert_eq!(ring.open(&token, AKID).unwrap(), claims);
    }
}

#[test]
fn layout_is_version_key_id_nonce_ciphertext_tag() {
    let ring = KeyRing::new(vec![TokenKey::generate(0x0102_0304, NOW)]).unwrap();
    let claims = typical();
    let token = ring.seal(&claims, AKID).unwrap();
    assert_eq!(token.len(), ((claims.packed_len() + 33) * 4).div_ceil(3));
    let bin = decode(&token);
    assert_eq!(bin[0], FORMAT_VERSION);
    assert_eq!(&bin[1..5], &[1, 2, 3, 4]);
    assert_eq!(bin.len(), 1 + 4 + 12 + claims.packed_len() + 16);
    // Uncompressed below the threshold, and the secret is not in the clear.
    assert_eq!(claims.packed_len(), claims.encoded_len());
    assert!(!bin.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
}

#[test]
fn every_seal_uses_a_fresh_nonce() {
    let ring = ring();
    let a = ring.seal(&typical(), AKID).unwrap();
    let b = ring.seal(&typical(), AKID).unwrap();
    assert_ne!(a, b);
    assert_ne!(decode(&a)[5..17], decode(&b)[5..17]);
}

#[test]
fn every_flipped_bit_is_refused() {
    let ring = ring();
    for claims in [typical(), with_policy()] {
        let bin = decode(&ring.seal(&claims, AKID).unwrap());
        for i in 0..bin.len() * 8 {
            let mut t = bin.clone();
            t[i / 8] ^= 1 << (i % 8);
            let err = ring.open(&encode(&t), AKID).unwrap_err();
            let expected = match i / 8 {
                0 => TokenError::UnsupportedVersion,
                1..5 => TokenError::UnknownKey,
                _ => TokenError::Tampered,
            };
            assert_eq!(err, expected, "bit {i}");
        }
    }
}

#[test]
fn every_changed_character_is_refused() {
    let ring = ring();
    let token = ring.seal(&typical(), AKID).unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let others = ['=', '+', '/', ' ', '.', '\n', 'é'];
    let chars: Vec<char> = token.chars().collect();
    for i in 0..chars.len() {
        for c in alphabet.chars().chain(others) {
            if c == chars[i] {
                continue;
            }
            let mut t = chars.clone();
            t[i] = c;
            let t: String = t.into_iter().collect();
            assert!(ring.open(&t, AKID).is_err(), "position {i} -> {c:?}");
        }
    }
}

#[test]
fn token_is_bound_to_its_access_key_id() {
    let ring = ring();
    let token = ring.seal(&typical(), AKID).unwrap();
    for other in [
        "ASIAQ3EGUWTBOH2ZWL7L",
        "asiaq3eguwtboh2zwl7k",
        "",
        "ASIAQ3EGUWTBOH2ZWL7K ",
        &AKID[..19],
    ] {
        assert_eq!(
            ring.open(&token, other),
            Err(TokenError::Tampered),
            "{other:?}"
        );
    }
    // Access key ids beyond the inline associated-data buffer work too.
    let long = "A".repeat(500);
    let token = ring.seal(&typical(), &long).unwrap();
    assert_eq!(ring.open(&token, &long).unwrap(), typical());
    assert_eq!(ring.open(&token, &long[..499]), Err(TokenError::Tampered));
}

#[test]
fn unknown_and_removed_keys_are_refused() {
    let k1 = TokenKey::generate(1, NOW);
    let k2 = TokenKey::generate(2, NOW + DAY);
    let token = KeyRing::new(vec![k1.clone()])
        .unwrap()
        .seal(&typical(), AKID)
        .unwrap();

    let other = KeyRing::new(vec![TokenKey::generate(9, NOW)]).unwrap();
    assert_eq!(other.open(&token, AKID), Err(TokenError::UnknownKey));

    // Same id, different secret: the key id matches, authentication fails.
    let impostor = KeyRing::new(vec![TokenKey::generate(1, NOW)]).unwrap();
    assert_eq!(impostor.open(&token, AKID), Err(TokenError::Tampered));

    let rotated = KeyRing::new(vec![k2.clone(), k1]).unwrap();
    assert_eq!(rotated.open(&token, AKID).unwrap(), typical());
    let retired = KeyRing::new(vec![k2]).unwrap();
    assert_eq!(retired.open(&token, AKID), Err(TokenError::UnknownKey));
}

#[test]
fn previous_key_opens_after_rotation_and_current_seals() {
    let k1 = TokenKey::generate(1, NOW);
    let stored = *k1.expose_bytes();
    let before = KeyRing::new(vec![k1]).unwrap();
    let old_token = before.seal(&typical(), AKID).unwrap();

    // The store reloads the old key from its bytes and adds a newer one.
    let reloaded = TokenKey::from_bytes(1, NOW, stored);
    let after = KeyRing::new(vec![reloaded, TokenKey::generate(2, NOW + DAY)]).unwrap();
    assert_eq!(after.current_id(), 2);
    assert_eq!(after.open(&old_token, AKID).unwrap(), typical());

    let new_token = after.seal(&typical(), AKID).unwrap();
    assert_eq!(&decode(&new_token)[1..5], &2u32.to_be_bytes());
    assert_eq!(before.open(&new_token, AKID), Err(TokenError::UnknownKey));
}

#[test]
fn ring_construction() {
    assert_eq!(KeyRing::new(vec![]).unwrap_err(), TokenError::EmptyRing);
    let dup = KeyRing::new(vec![
        TokenKey::generate(5, NOW),
        TokenKey::generate(6, NOW),
        TokenKey::generate(5, NOW + 1),
    ]);
    assert_eq!(dup.unwrap_err(), TokenError::DuplicateKeyId(5));

    // Newest by creation time seals, whatever the order given.
    let ring = KeyRing::new(vec![
        TokenKey::generate(30, NOW - DAY),
        TokenKey::generate(10, NOW + DAY),
        TokenKey::generate(20, NOW),
    ])
    .unwrap();
    assert_eq!(ring.current_id(), 10);
    assert_eq!(
        ring.keys().map(TokenKey::id).collect::<Vec<_>>(),
        [10, 20, 30]
    );
    // Ties on creation time go to the higher id.
    let ring = KeyRing::new(vec![TokenKey::generate(3, NOW), TokenKey::generate(4, NOW)]).unwrap();
    assert_eq!(ring.current_id(), 4);
    assert_eq!(ring.keys().next().unwrap().created_at(), NOW);
}

#[test]
fn rotation_schedule() {
    let period = DAY;
    let ring = KeyRing::new(vec![TokenKey::generate(1, NOW)]).unwrap();
    assert!(!ring.needs_rotation(NOW, period));
    assert!(!ring.needs_rotation(NOW + period - 1, period));
    assert!(ring.needs_rotation(NOW + period, period));
    assert!(ring.needs_rotation(i64::MAX, period));
    assert!(!ring.needs_rotation(i64::MIN, period));
    assert!(
        ring.retirable(i64::MAX, period).is_empty(),
        "the current key is never retirable"
    );

    // On-time rotation: key 1 is superseded at NOW + period.
    let ring = KeyRing::new(vec![
        TokenKey::generate(1, NOW),
        TokenKey::generate(2, NOW + period),
        TokenKey::generate(3, NOW + 2 * period),
    ])
    .unwrap();
    let edge = NOW + period + MAX_TOKEN_LIFETIME_SECS;
    assert!(ring.retirable(edge, period).is_empty());
    assert_eq!(ring.retirable(edge + 1, period), vec![1]);
    assert_eq!(ring.retirable(edge + period + 1, period), vec![2, 1]);
    assert_eq!(ring.retirable(i64::MAX, i64::MAX), Vec::<u32>::new());
    assert_eq!(ring.retirable(i64::MAX, period), vec![2, 1]);

    // Late rotation: key 1 stayed current for ten periods, so tokens it
    // sealed live until ten periods + the lifetime.
    let ring = KeyRing::new(vec![
        TokenKey::generate(1, NOW),
        TokenKey::generate(2, NOW + 10 * period),
    ])
    .unwrap();
    assert!(
        ring.retirable(NOW + 10 * period + MAX_TOKEN_LIFETIME_SECS, period)
            .is_empty()
    );
    assert_eq!(
        ring.retirable(NOW + 10 * period + MAX_TOKEN_LIFETIME_SECS + 1, period),
        vec![1]
    );
}

#[test]
fn malformed_input_is_refused_without_panic() {
    let ring = ring();
    let token = ring.seal(&typical(), AKID).unwrap();
    for n in 0..token.len() {
        assert!(ring.open(&token[..n], AKID).is_err(), "prefix {n}");
    }
    let bin = decode(&token);
    for n in 0..bin.len() {
        assert!(
            ring.open(&encode(&bin[..n]), AKID).is_err(),
            "binary prefix {n}"
        );
    }
    assert_eq!(ring.open("", AKID), Err(TokenError::Malformed));
    assert_eq!(ring.open("not base64!", AKID), Err(TokenError::Malformed));
    assert_eq!(
        ring.open(&format!("{token}="), AKID),
        Err(TokenError::Malformed)
    );
    // The standard alphabet is not accepted.
    if token.contains(['-', '_']) {
        assert_eq!(
            ring.open(&token.replace('-', "+").replace('_', "/"), AKID),
            Err(TokenError::Malformed)
        );
    }
    assert_eq!(
        ring.open(&"A".repeat(MAX_TOKEN_LEN + 1), AKID),
        Err(TokenError::TooLong)
    );
    assert_eq!(
        ring.open(&format!("{token}{}", "A".repeat(MAX_TOKEN_LEN)), AKID),
        Err(TokenError::TooLong)
    );
    assert!(ring.open(&"A".repeat(MAX_TOKEN_LEN), AKID).is_err());
    // A well-formed header with a version from the future.
    let mut future = bin.clone();
    future[0] = FORMAT_VERSION + 1;
    assert_eq!(
        ring.open(&encode(&future), AKID),
        Err(TokenError::UnsupportedVersion)
    );
}

#[test]
fn sizes() {
    let ring = ring();
    let report = |name: &str, claims: &SessionClaims| {
        let token = ring.seal(claims, AKID).unwrap();
        println!(
            "{name}: encoded {} B, packed {} B, token {} chars",
            claims.encoded_len(),
            claims.packed_len(),
            token.len()
        );
        token.len()
    };
    assert!(report("typical (2 tags, no policy)", &typical()) < 1024);
    let policy = with_policy();
    assert_eq!(policy.session_policy.as_ref().unwrap().len(), 2048);
    assert!(
        policy.packed_len() < policy.encoded_len(),
        "the policy case is compressed"
    );
    assert!(report("2048-char session policy", &policy) < 2048);
    let tagged = with_policy_and_50_tags();
    assert!(report("2048-char session policy + 50 tags", &tagged) <= MAX_TOKEN_LEN);
}

#[test]
fn whatever_seals_opens_and_too_large_is_refused() {
    let ring = ring();
    // Incompressible text: a xorshift stream over the base64 alphabet.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: String = (0..4 * MAX_TOKEN_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(x % 64) as usize],
            )
        })
        .collect();
    let with_len = |len: usize| SessionClaims {
        session_policy: Some(noise[..len].to_owned()),
        ..typical()
    };
    // The policy length at which the packed claims first exceed the limit
    // (deflate makes this irregular, so search).
    let (mut lo, mut hi) = (0, noise.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if with_len(mid).packed_len() > MAX_PACKED_LEN {
            hi = mid
        } else {
            lo = mid + 1
        }
    }
    let (mut sealed, mut refused) = (0, 0);
    for len in lo - 40..lo + 40 {
        let claims = with_len(len);
        match ring.seal(&claims, AKID) {
            Ok(token) => {
                assert!(claims.packed_len() <= MAX_PACKED_LEN);
                assert!(token.len() <= MAX_TOKEN_LEN);
                assert_eq!(ring.open(&token, AKID).unwrap(), claims);
                sealed += 1;
            }
            Err(e) => {
                assert_eq!(e, TokenError::ClaimsTooLarge);
                assert!(claims.packed_len() > MAX_PACKED_LEN);
                refused += 1;
            }
        }
    }
    assert!(
        sealed > 0 && refused > 0,
        "sealed {sealed}, refused {refused}"
    );
    let huge = SessionClaims {
        session_policy: Some(noise.repeat(20)),
        ..typical()
    };
    assert_eq!(ring.seal(&huge, AKID), Err(TokenError::ClaimsTooLarge));
}

#[test]
fn debug_never_shows_secrets() {
    let bytes = [0x5a; 32];
    let key = TokenKey::from_bytes(77, NOW, bytes);
    let ring = KeyRing::new(vec![key.clone(), TokenKey::generate(78, NOW + 1)]).unwrap();
    let claims = typical();
    let shown = [
        format!("{key:?}"),
        format!("{key:#?}"),
        format!("{ring:?}"),
        format!("{ring:#?}"),
        format!("{claims:?}"),
        format!("{claims:#?}"),
    ];
    let raw = format!("{bytes:?}");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    for (i, s) in shown.iter().enumerate() {
        assert!(!s.contains(SECRET), "{i}: {s}");
        assert!(!s.contains("90, 90"), "{i}: {s}");
        assert!(!s.contains(&raw) && !s.contains(&hex[..8]), "{i}: {s}");
        assert!(!s.contains(&URL_SAFE_NO_PAD.encode(bytes)[..8]), "{i}: {s}");
    }
    assert!(shown[0].contains("77") && shown[0].contains("redacted"));
    assert!(shown[4].contains("deploy-production") && shown[4].contains("redacted"));
    assert_eq!(key.expose_bytes(), &bytes);
}

#[test]
fn ring_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KeyRing>();
    assert_send_sync::<TokenKey>();
    assert_send_sync::<SessionClaims>();
    assert_send_sync::<TokenError>();
}

#[test]
fn blobs_round_trip_and_never_pass_for_tokens() {
    let ring = latchkey_token::KeyRing::new(vec![latchkey_token::TokenKey::generate(7, 0)]).unwrap();
    let sealed = ring.seal_blob(b"{\"allowed\":false}", "authz-message").unwrap();
    assert_eq!(&**ring.open_blob(&sealed, "authz-message").unwrap(), b"{\"allowed\":false}");
    assert!(ring.open_blob(&sealed, "other").is_err());
    assert!(ring.open(&sealed, "authz-message").is_err());
    let mut bytes = sealed.clone().into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    assert!(ring.open_blob(&String::from_utf8(bytes).unwrap(), "authz-message").is_err());
    let other = latchkey_token::KeyRing::new(vec![latchkey_token::TokenKey::generate(8, 0)]).unwrap();
    assert!(other.open_blob(&sealed, "authz-message").is_err());
}

#[test]
fn a_token_from_a_newer_key_is_recognised_by_its_header_only() {
    let old = KeyRing::new(vec![TokenKey::generate(1, 1_000), TokenKey::generate(2, 2_000)]).unwrap();
    let newer = KeyRing::new(vec![TokenKey::generate(2, 2_000), TokenKey::generate(3, 3_000)]).unwrap();
    let claims = typical();
    let from_newer = newer.seal(&claims, "ASIAEXAMPLE").unwrap();
    let from_old = old.seal(&claims, "ASIAEXAMPLE").unwrap();
    assert!(old.names_newer_key(&from_newer), "key 3 is newer than every key of the old ring");
    assert!(!old.names_newer_key(&from_old));
    assert!(!newer.names_newer_key(&from_newer));
    assert!(!old.names_newer_key("short"));
    assert!(!old.names_newer_key("!!!!!!!!!!!!!!!!"));
}
