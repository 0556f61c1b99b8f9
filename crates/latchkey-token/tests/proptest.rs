//! Property tests: arbitrary input never panics `open`, and arbitrary claims
//! round-trip through seal and open.

#![cfg(test)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_token::{KeyRing, SessionClaims, SessionKind, SessionUser, TokenKey};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

fn kind() -> impl Strategy<Value = SessionKind> {
    prop_oneof![
        (text(), text(), text()).prop_map(|(role_id, role_name, role_path)| {
            SessionKind::AssumedRole {
                role_id,
                role_name,
                role_path,
            }
        }),
        (text(), option::of(text()))
            .prop_map(|(name, user_id)| SessionKind::FederatedUser { name, user_id }),
        option::of((text(), text(), text())).prop_map(|u| SessionKind::SessionToken {
            user: u.map(|(id, name, path)| SessionUser { id, name, path })
        }),
    ]
}

fn claims() -> impl Strategy<Value = SessionClaims> {
    (
        (
            text(),
            kind(),
            text(),
            any::<i64>(),
            any::<i64>(),
            text(),
            any::<bool>(),
            option::of(any::<i64>()),
        ),
        (
            option::of(text()),
            // Long enough to cross the compression threshold, both as
            // repetitive and as arbitrary text.
            option::of(prop_oneof![".{0,700}", "[ab]{0,2000}"]),
            vec(text(), 0..4),
            vec((text(), text()), 0..8),
            vec(text(), 0..4),
            any::<bool>(),
            text(),
            text(),
        ),
    )
        .prop_map(
            |(
                (
                    account,
                    kind,
                    session_name,
                    issued_at,
                    expires_at,
                    secret_access_key,
                    mfa_authenticated,
                    mfa_auth_time,
                ),
                (
                    source_identity,
                    session_policy,
                    policy_arns,
                    tags,
                    transitive_tag_keys,
                    chained,
                    source_arn,
                    source_access_key_id,
                ),
            )| SessionClaims {
                account,
                kind,
                session_name,
                issued_at,
                expires_at,
                secret_access_key,
                mfa_authenticated,
                mfa_auth_time,
                source_identity,
                session_policy,
                policy_arns,
                tags,
                transitive_tag_keys,
                chained,
                source_arn,
                source_access_key_id,
            },
        )
}

fn ring() -> KeyRing {
    KeyRing::new(vec![
        TokenKey::from_bytes(1, 0, [7; 32]),
        TokenKey::from_bytes(2, 1, [8; 32]),
    ])
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_open(token in ".{0,200}|[A-Za-z0-9_-]{0,400}", akid in ".{0,30}") {
        prop_assert!(ring().open(&token, &akid).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_open(mut bin in vec(any::<u8>(), 0..600), key in 0u32..4) {
        // Give most inputs a valid header so they reach authentication.
        if bin.len() > 5 {
            bin[0] = 1;
            bin[1..5].copy_from_slice(&key.to_be_bytes());
        }
        prop_assert!(ring().open(&URL_SAFE_NO_PAD.encode(&bin), "ASIAEXAMPLE").is_err());
    }

    #[test]
    fn arbitrary_claims_round_trip(claims in claims(), akid in ".{0,140}") {
        let ring = ring();
        let token = ring.seal(&claims, &akid).unwrap();
        prop_assert!(token.len() <= latchkey_token::MAX_TOKEN_LEN);
        prop_assert_eq!(ring.open(&token, &akid).unwrap(), claims.clone());
        prop_assert!(claims.packed_len() <= claims.encoded_len());
        let other = format!("{akid}x");
        prop_assert!(ring.open(&token, &other).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// `open` decodes with base64's SIMD engine; it must accept and refuse
    /// exactly what the scalar engine does (the tamper tests rely on
    /// trailing bits and padding being refused).
    #[test]
    fn simd_base64_matches_scalar(text in "[A-Za-z0-9_-]{0,300}[A-Za-z0-9_=+/ -]{0,3}[A-Za-z0-9_-]{0,80}") {
        let simd = base64::engine::Simd::url_safe(base64::engine::general_purpose::NO_PAD);
        prop_assert_eq!(simd.decode(&text).ok(), URL_SAFE_NO_PAD.decode(&text).ok());
    }

    #[test]
    fn simd_base64_encodes_like_scalar(bytes in vec(any::<u8>(), 0..400)) {
        let simd = base64::engine::Simd::url_safe(base64::engine::general_purpose::NO_PAD);
        prop_assert_eq!(simd.encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes));
    }
}
