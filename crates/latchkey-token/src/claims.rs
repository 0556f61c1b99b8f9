//! What a session token carries, and its compact binary encoding.

use std::fmt;

use zeroize::Zeroizing;

use crate::TokenError;
use crate::wire::{Counter, Reader, Sink, put_signed, put_str, put_varint};

/// Version of the claims layout inside the sealed plaintext; independent of
/// the token format version so the claims can grow fields without changing
/// the envelope.
const CLAIMS_V1: u8 = 1;

/// Envelope flag: the payload after the secret is raw-deflate compressed.
const DEFLATED: u8 = 0x01;

/// Claims whose encoding exceeds this many bytes are offered to deflate;
/// below it the result rarely shrinks enough to pay for the CPU.
const COMPRESS_THRESHOLD: usize = 400;

/// deflate level: 6 is miniz's default and near its best ratio on JSON of a
/// few KiB, at a fraction of level 9's time.
const DEFLATE_LEVEL: u8 = 6;

/// Largest decompressed claims body accepted, bounding the inflate output
/// (defence in depth: only authenticated bytes are ever inflated).
pub(crate) const MAX_BODY_LEN: usize = 64 * 1024;

// Field flags at the start of the body.
const F_MFA: u8 = 0x01;
const F_CHAINED: u8 = 0x02;
const F_MFA_TIME: u8 = 0x04;
const F_SOURCE_IDENTITY: u8 = 0x08;
const F_SESSION_POLICY: u8 = 0x10;
/// `FederatedUser::user_id` or `SessionToken::user` is present.
const F_KIND_OPTION: u8 = 0x20;
const F_KNOWN: u8 =
    F_MFA | F_CHAINED | F_MFA_TIME | F_SOURCE_IDENTITY | F_SESSION_POLICY | F_KIND_OPTION;

const KIND_ASSUMED_ROLE: u8 = 1;
const KIND_FEDERATED_USER: u8 = 2;
const KIND_SESSION_TOKEN: u8 = 3;

/// Which STS action minted the session, with what that kind of session
/// needs to rebuild its principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKind {
    /// `AssumeRole` (and its SAML / web-identity siblings).
    AssumedRole {
        /// The role's unique id (`AROA…`).
        role_id: String,
        /// The role name.
        role_name: String,
        /// The role path (`/` by default).
        role_path: String,
    },
    /// `GetFederationToken`.
    FederatedUser {
        /// The federated user name (also the session name).
        name: String,
        /// The IAM user (`AIDA…`) who called `GetFederationToken`; `None`
        /// when the root user did.
        user_id: Option<String>,
    },
    /// `GetSessionToken`.
    SessionToken {
        /// The IAM user who called it; `None` for the account root user.
        user: Option<SessionUser>,
    },
}

/// The IAM user behind a `GetSessionToken` session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The user's unique id (`AIDA…`).
    pub id: String,
    /// The user name.
    pub name: String,
    /// The user path (`/` by default).
    pub path: String,
}

/// Everything the server needs to authenticate and authorize a request made
/// with temporary credentials, sealed inside the session token so the
/// server keeps no per-session state.
///
/// The codec stores the fields as given; validating them (12-digit account,
/// id prefixes, tag limits) is the caller's job when minting the session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// The 12-digit account id.
    pub account: String,
    /// Which kind of session, with its principal.
    pub kind: SessionKind,
    /// `RoleSessionName`; for a federated user, its name.
    pub session_name: String,
    /// When the session was issued (unix seconds).
    pub issued_at: i64,
    /// When the session expires (unix seconds); the server enforces it.
    pub expires_at: i64,
    /// The temporary secret access key. Never shown by `Debug`.
    pub secret_access_key: String,
    /// Whether the session was obtained with MFA.
    pub mfa_authenticated: bool,
    /// When MFA was presented (unix seconds).
    pub mfa_auth_time: Option<i64>,
    /// `SourceIdentity`, set once and carried through role chaining.
    pub source_identity: Option<String>,
    /// The inline session policy JSON, whitespace-minified by the caller.
    pub session_policy: Option<String>,
    /// Managed session policy ARNs.
    pub policy_arns: Vec<String>,
    /// Session tags, including inherited transitive ones.
    pub tags: Vec<(String, String)>,
    /// Keys of the tags that pass on to chained sessions.
    pub transitive_tag_keys: Vec<String>,
    /// Whether the session was obtained by role chaining.
    pub chained: bool,
    /// The principal that obtained the session, for audit.
    pub source_arn: String,
    /// The access key id that principal signed the request with.
    pub source_access_key_id: String,
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("account", &self.account)
            .field("kind", &self.kind)
            .field("session_name", &self.session_name)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("secret_access_key", &"<redacted>")
            .field("mfa_authenticated", &self.mfa_authenticated)
            .field("mfa_auth_time", &self.mfa_auth_time)
            .field("source_identity", &self.source_identity)
            .field("session_policy", &self.session_policy)
            .field("policy_arns", &self.policy_arns)
            .field("tags", &self.tags)
            .field("transitive_tag_keys", &self.transitive_tag_keys)
            .field("chained", &self.chained)
            .field("source_arn", &self.source_arn)
            .field("source_access_key_id", &self.source_access_key_id)
            .finish()
    }
}

/// The claims as they will be sealed: the body either written straight into
/// the token buffer, or already encoded (and perhaps deflated).
pub(crate) struct Packed {
    body: Option<Zeroizing<Vec<u8>>>,
    flags: u8,
    len: usize,
}

impl Packed {
    /// Length of the plaintext that will be sealed.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl SessionClaims {
    /// Size in bytes of the claims' binary encoding before compression.
    ///
    /// Cheap (no allocation): use it for quick limits and metrics. The bytes
    /// a token actually carries are [`packed_len`](Self::packed_len).
    pub fn encoded_len(&self) -> usize {
        self.head_len().saturating_add(self.body_len())
    }

    /// Size in bytes the claims occupy inside a token, after compression.
    ///
    /// The token text is then `ceil((packed_len + 33) * 4 / 3)` characters
    /// (33 bytes of header and tag, base64url without padding); sealing
    /// refuses claims above
    /// [`MAX_PACKED_LEN`](crate::MAX_PACKED_LEN). This compresses large
    /// claims, so it costs about as much as sealing them; the server can
    /// report `PackedPolicySize` as `packed_len * 100 / MAX_PACKED_LEN`.
    pub fn packed_len(&self) -> usize {
        self.pack().len
    }

    /// Version, envelope flags and the secret: never compressed, so that
    /// caller-chosen policy text never shares a deflate window with the
    /// secret (no compression length oracle).
    fn head_len(&self) -> usize {
        let mut c = Counter(2);
        put_str(&mut c, &self.secret_access_key);
        c.0
    }

    fn body_len(&self) -> usize {
        let mut c = Counter::default();
        self.encode_body(&mut c);
        c.0
    }

    pub(crate) fn pack(&self) -> Packed {
        let head = self.head_len();
        let body_len = self.body_len();
        let len = head.saturating_add(body_len);
        if len <= COMPRESS_THRESHOLD || body_len > MAX_BODY_LEN {
            // Oversized bodies are left raw: sealing refuses them by length,
            // and opening would refuse to inflate them.
            return Packed {
                body: None,
                flags: 0,
                len,
            };
        }
        let mut body = Zeroizing::new(Vec::with_capacity(body_len));
        self.encode_body(&mut *body);
        let deflated = Zeroizing::new(miniz_oxide::deflate::compress_to_vec(&body, DEFLATE_LEVEL));
        if deflated.len() < body.len() {
            let len = head.saturating_add(deflated.len());
            Packed {
                body: Some(deflated),
                flags: DEFLATED,
                len,
            }
        } else {
            Packed {
                body: Some(body),
                flags: 0,
                len,
            }
        }
    }

    /// Appends exactly `packed.len()` bytes of plaintext to `out`.
    pub(crate) fn write_packed(&self, packed: &Packed, out: &mut Vec<u8>) {
        out.push(CLAIMS_V1);
        out.push(packed.flags);
        put_str(out, &self.secret_access_key);
        match &packed.body {
            Some(body) => out.extend_from_slice(body),
            None => self.encode_body(out),
        }
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.mfa_authenticated {
            flags |= F_MFA;
        }
        if self.chained {
            flags |= F_CHAINED;
        }
        if self.mfa_auth_time.is_some() {
            flags |= F_MFA_TIME;
        }
        if self.source_identity.is_some() {
            flags |= F_SOURCE_IDENTITY;
        }
        if self.session_policy.is_some() {
            flags |= F_SESSION_POLICY;
        }
        let kind_option = match &self.kind {
            SessionKind::AssumedRole { .. } => false,
            SessionKind::FederatedUser { user_id, .. } => user_id.is_some(),
            SessionKind::SessionToken { user } => user.is_some(),
        };
        if kind_option {
            flags |= F_KIND_OPTION;
        }
        flags
    }

    /// Body layout (v1):
    ///
    /// ```text
    /// flags u8 | account str | kind u8 | kind fields | session_name str
    /// | issued_at zigzag | expires_at - issued_at zigzag
    /// | [mfa_auth_time - issued_at zigzag] | [source_identity str]
    /// | [session_policy str] | n, policy_arns str* | n, (key str, value str)*
    /// | n, transitive_tag_keys str* | source_arn str | source_access_key_id str
    /// ```
    ///
    /// `str` is a varint byte length and UTF-8; `n` a varint count;
    /// bracketed fields are present when their flag is set.
    fn encode_body<S: Sink>(&self, s: &mut S) {
        s.put_u8(self.flags());
        put_str(s, &self.account);
        match &self.kind {
            SessionKind::AssumedRole {
                role_id,
                role_name,
                role_path,
            } => {
                s.put_u8(KIND_ASSUMED_ROLE);
                put_str(s, role_id);
                put_str(s, role_name);
                put_str(s, role_path);
            }
            SessionKind::FederatedUser { name, user_id } => {
                s.put_u8(KIND_FEDERATED_USER);
                put_str(s, name);
                if let Some(id) = user_id {
                    put_str(s, id);
                }
            }
            SessionKind::SessionToken { user } => {
                s.put_u8(KIND_SESSION_TOKEN);
                if let Some(u) = user {
                    put_str(s, &u.id);
                    put_str(s, &u.name);
                    put_str(s, &u.path);
                }
            }
        }
        put_str(s, &self.session_name);
        put_signed(s, self.issued_at);
        // Deltas from issue time fit in two or three bytes; wrapping keeps
        // arbitrary values exact.
        put_signed(s, self.expires_at.wrapping_sub(self.issued_at));
        if let Some(t) = self.mfa_auth_time {
            put_signed(s, t.wrapping_sub(self.issued_at));
        }
        if let Some(v) = &self.source_identity {
            put_str(s, v);
        }
        if let Some(v) = &self.session_policy {
            put_str(s, v);
        }
        put_varint(s, self.policy_arns.len() as u64);
        for arn in &self.policy_arns {
            put_str(s, arn);
        }
        put_varint(s, self.tags.len() as u64);
        for (k, v) in &self.tags {
            put_str(s, k);
            put_str(s, v);
        }
        put_varint(s, self.transitive_tag_keys.len() as u64);
        for k in &self.transitive_tag_keys {
            put_str(s, k);
        }
        put_str(s, &self.source_arn);
        put_str(s, &self.source_access_key_id);
    }

    /// Parses a plaintext written by [`write_packed`](Self::write_packed).
    pub(crate) fn decode(plaintext: &[u8]) -> Result<Self, TokenError> {
        let mut r = Reader::new(plaintext);
        if r.u8()? != CLAIMS_V1 {
            return Err(TokenError::UnsupportedVersion);
        }
        let flags = r.u8()?;
        if flags & !DEFLATED != 0 {
            return Err(TokenError::Malformed);
        }
        let secret_access_key = r.string()?;
        if flags & DEFLATED != 0 {
            let body = miniz_oxide::inflate::decompress_to_vec_with_limit(r.rest(), MAX_BODY_LEN)
                .map(Zeroizing::new)
                .map_err(|_| TokenError::Malformed)?;
            Self::decode_body(&mut Reader::new(&body), secret_access_key)
        } else {
            Self::decode_body(&mut r, secret_access_key)
        }
    }

    fn decode_body(r: &mut Reader<'_>, secret_access_key: String) -> Result<Self, TokenError> {
        let flags = r.u8()?;
        if flags & !F_KNOWN != 0 {
            return Err(TokenError::Malformed);
        }
        let has = |f: u8| flags & f != 0;
        let account = r.string()?;
        let kind = match r.u8()? {
            KIND_ASSUMED_ROLE if !has(F_KIND_OPTION) => SessionKind::AssumedRole {
                role_id: r.string()?,
                role_name: r.string()?,
                role_path: r.string()?,
            },
            KIND_FEDERATED_USER => SessionKind::FederatedUser {
                name: r.string()?,
                user_id: if has(F_KIND_OPTION) {
                    Some(r.string()?)
                } else {
                    None
                },
            },
            KIND_SESSION_TOKEN => SessionKind::SessionToken {
                user: if has(F_KIND_OPTION) {
                    Some(SessionUser {
                        id: r.string()?,
                        name: r.string()?,
                        path: r.string()?,
                    })
                } else {
                    None
                },
            },
            _ => return Err(TokenError::Malformed),
        };
        let session_name = r.string()?;
        let issued_at = r.signed()?;
        let expires_at = issued_at.wrapping_add(r.signed()?);
        let mfa_auth_time = if has(F_MFA_TIME) {
            Some(issued_at.wrapping_add(r.signed()?))
        } else {
            None
        };
        let source_identity = if has(F_SOURCE_IDENTITY) {
            Some(r.string()?)
        } else {
            None
        };
        let session_policy = if has(F_SESSION_POLICY) {
            Some(r.string()?)
        } else {
            None
        };
        let n = r.len()?;
        let mut policy_arns = Vec::with_capacity(n);
        for _ in 0..n {
            policy_arns.push(r.string()?);
        }
        // Each tag takes at least two bytes, so a forged count cannot
        // reserve more than the input could hold.
        let n = r.len()?;
        let mut tags = Vec::with_capacity(n.min(r.rest().len() / 2));
        for _ in 0..n {
            tags.push((r.string()?, r.string()?));
        }
        let n = r.len()?;
        let mut transitive_tag_keys = Vec::with_capacity(n);
        for _ in 0..n {
            transitive_tag_keys.push(r.string()?);
        }
        let source_arn = r.string()?;
        let source_access_key_id = r.string()?;
        if !r.is_empty() {
            return Err(TokenError::Malformed);
        }
        Ok(Self {
            account,
            kind,
            session_name,
            issued_at,
            expires_at,
            secret_access_key,
            mfa_authenticated: has(F_MFA),
            mfa_auth_time,
            source_identity,
            session_policy,
            policy_arns,
            tags,
            transitive_tag_keys,
            chained: has(F_CHAINED),
            source_arn,
            source_access_key_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample(policy: Option<String>) -> SessionClaims {
        SessionClaims {
            account: "123456789012".into(),
            kind: SessionKind::SessionToken {
                user: Some(SessionUser {
                    id: "AIDAX".into(),
                    name: "u".into(),
                    path: "/".into(),
                }),
            },
            session_name: "s".into(),
            issued_at: 1_700_000_000,
            expires_at: 1_700_003_600,
            secret_access_key: "SECRETSECRETSECRETSECRETSECRETSECRETSECR".into(),
            mfa_authenticated: true,
            mfa_auth_time: Some(1_699_999_000),
            source_identity: Some("id".into()),
            session_policy: policy,
            policy_arns: vec!["arn".into()],
            tags: vec![("k".into(), "v".into())],
            transitive_tag_keys: vec!["k".into()],
            chained: true,
            source_arn: "arn:aws:iam::123456789012:user/u".into(),
            source_access_key_id: "AKIAX".into(),
        }
    }

    fn plaintext(c: &SessionClaims) -> Vec<u8> {
        let packed = c.pack();
        let mut out = Vec::new();
        c.write_packed(&packed, &mut out);
        assert_eq!(out.len(), packed.len());
        out
    }

    #[test]
    fn raw_and_deflated_round_trip_with_exact_lengths() {
        for policy in [
            None,
            Some("x".repeat(10)),
            Some("{\"Effect\":\"Allow\"}".repeat(100)),
        ] {
            let c = sample(policy);
            let pt = plaintext(&c);
            assert_eq!(c.packed_len(), pt.len());
            let deflated = pt[1] & DEFLATED != 0;
            assert_eq!(deflated, c.encoded_len() > COMPRESS_THRESHOLD);
            if !deflated {
                assert_eq!(pt.len(), c.encoded_len());
            }
            assert_eq!(SessionClaims::decode(&pt).unwrap(), c);
        }
    }

    #[test]
    fn secret_stays_outside_the_compressed_stream() {
        let c = sample(Some("{\"Effect\":\"Allow\"}".repeat(100)));
        let pt = plaintext(&c);
        assert_eq!(pt[1], DEFLATED);
        let head = 2 + 1 + c.secret_access_key.len();
        assert_eq!(&pt[3..head], c.secret_access_key.as_bytes());
    }

    #[test]
    fn high_entropy_claims_never_grow() {
        // Deflate falls back to stored blocks, and packing keeps the raw
        // body whenever deflate does not shrink it.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: String = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_u32(0x1_0000 + (x % 0xf_0000) as u32).unwrap()
            })
            .collect();
        for len in (100..2000).step_by(50) {
            let c = sample(Some(noise.chars().take(len).collect()));
            let pt = plaintext(&c);
            assert!(pt.len() <= c.encoded_len());
            assert_eq!(SessionClaims::decode(&pt).unwrap(), c);
        }
    }

    #[test]
    fn refuses_unknown_versions_flags_and_trailing_bytes() {
        let pt = plaintext(&sample(None));
        let mut v = pt.clone();
        v[0] = 2;
        assert_eq!(
            SessionClaims::decode(&v),
            Err(TokenError::UnsupportedVersion)
        );
        let mut v = pt.clone();
        v[1] = 0x02;
        assert_eq!(SessionClaims::decode(&v), Err(TokenError::Malformed));
        let body_flags = 2 + 1 + 40;
        let mut v = pt.clone();
        v[body_flags] |= 0x80;
        assert_eq!(SessionClaims::decode(&v), Err(TokenError::Malformed));
        let mut v = pt.clone();
        v.push(0);
        assert_eq!(SessionClaims::decode(&v), Err(TokenError::Malformed));
        for n in 0..pt.len() {
            assert!(SessionClaims::decode(&pt[..n]).is_err(), "prefix {n}");
        }
        assert_eq!(SessionClaims::decode(&[]), Err(TokenError::Malformed));
    }

    #[test]
    fn inflate_output_is_bounded() {
        let bomb = miniz_oxide::deflate::compress_to_vec(&vec![0u8; 1 << 20], 9);
        let mut pt = vec![CLAIMS_V1, DEFLATED, 0];
        pt.extend_from_slice(&bomb);
        assert_eq!(SessionClaims::decode(&pt), Err(TokenError::Malformed));
        // A body just over the limit, deflated, is refused; sealing would
        // have left it raw.
        let c = sample(Some("a".repeat(MAX_BODY_LEN)));
        assert_eq!(c.pack().flags, 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn arbitrary_plaintext_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), deflate in any::<bool>()) {
            let mut pt = vec![CLAIMS_V1, 0];
            pt.extend_from_slice(&bytes);
            let _ = SessionClaims::decode(&pt);
            if deflate {
                pt[1] = DEFLATED;
                let _ = SessionClaims::decode(&pt);
                let mut z = vec![CLAIMS_V1, DEFLATED, 0];
                z.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&bytes, 1));
                let _ = SessionClaims::decode(&z);
            }
            let _ = SessionClaims::decode(&bytes);
        }

        #[test]
        fn mutated_plaintext_never_panics(pos in any::<prop::sample::Index>(), byte in any::<u8>(), big in any::<bool>()) {
            let mut pt = plaintext(&sample(big.then(|| "{\"Action\":\"s3:*\"}".repeat(40))));
            let i = pos.index(pt.len());
            pt[i] = byte;
            let _ = SessionClaims::decode(&pt);
        }
    }
}
