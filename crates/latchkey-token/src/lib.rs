//! Session tokens for latchkey's temporary credentials: the codec that
//! seals [`SessionClaims`] into the opaque `SessionToken` string STS hands
//! out, and the [`KeyRing`] of rotating keys that seals and opens them.
//!
//! latchkey keeps no per-session state: everything needed to authenticate a
//! request signed with temporary credentials (the temporary secret, the
//! principal, session policy and tags) travels inside the token, encrypted
//! and authenticated under a server-side key. The crate is pure: no I/O, no
//! clock (times are passed in), randomness only for keys and nonces.
//!
//! # Overview
//!
//! The design follows rustls's session-ticket encrypter: a token is
//!
//! ```text
//! base64url-nopad( version (1) | key id (4, big-endian) | nonce (12)
//!                  | AES-256-GCM(plaintext) | tag (16) )
//! associated data = version | key id | access key id (ASIA…)
//! plaintext       = claims version (1) | flags (1) | secret access key
//!                   | body, raw-deflated when that is shorter and the
//!                     claims exceed 400 bytes
//! ```
//!
//! - The key id names which ring key sealed the token, so tokens survive
//!   rotation while their key stays in the ring; ids are compared in
//!   constant time.
//! - The access key id is bound as associated data: a token presented with
//!   any other access key id fails to open, as does any changed byte.
//! - Token text above [`MAX_TOKEN_LEN`] is refused before decoding.
//! - The secret is never compressed together with caller-chosen text, so
//!   token length cannot leak it.
//! - Every failure to open maps to one answer (`InvalidClientTokenId`);
//!   expiry is the server's check against [`SessionClaims::expires_at`].
//!
//! Key material is zeroized on drop and redacted from `Debug`, as is the
//! temporary secret in [`SessionClaims`].
//!
//! # Example
//!
//! ```
//! use latchkey_token::{KeyRing, SessionClaims, SessionKind, TokenError, TokenKey};
//!
//! # fn main() -> Result<(), TokenError> {
//! let now = 1_700_000_000;
//! let key = TokenKey::generate(7, now);
//! let ring = KeyRing::new(vec![key.clone()])?;
//! let claims = SessionClaims {
//!     account: "123456789012".into(),
//!     kind: SessionKind::AssumedRole {
//!         role_id: "AROAEXAMPLEID0000001".into(),
//!         role_name: "deploy".into(),
//!         role_path: "/".into(),
//!     },
//!     session_name: "ci-run-42".into(),
//!     issued_at: now,
//!     expires_at: now + 3600,
//!     secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
//!     mfa_authenticated: false,
//!     mfa_auth_time: None,
//!     source_identity: None,
//!     session_policy: None,
//!     policy_arns: vec![],
//!     tags: vec![("team".into(), "infra".into())],
//!     transitive_tag_keys: vec![],
//!     chained: false,
//!     source_arn: "arn:aws:iam::123456789012:user/alice".into(),
//!     source_access_key_id: "AKIAEXAMPLE000000001".into(),
//! };
//!
//! let token = ring.seal(&claims, "ASIAEXAMPLE000000001")?;
//! assert_eq!(ring.open(&token, "ASIAEXAMPLE000000001")?, claims);
//!
//! // Bound to its access key id.
//! assert_eq!(ring.open(&token, "ASIAEXAMPLE000000002"), Err(TokenError::Tampered));
//!
//! // After rotation the previous key still opens what it sealed...
//! let day = 86_400;
//! assert!(ring.needs_rotation(now + day, day));
//! let rotated = KeyRing::new(vec![key, TokenKey::generate(8, now + day)])?;
//! assert_eq!(rotated.current_id(), 8);
//! assert!(rotated.open(&token, "ASIAEXAMPLE000000001").is_ok());
//!
//! // ...until every token it sealed has expired.
//! let last_expiry = now + day + latchkey_token::MAX_TOKEN_LIFETIME_SECS;
//! assert!(rotated.retirable(last_expiry, day).is_empty());
//! assert_eq!(rotated.retirable(last_expiry + 1, day), vec![7]);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod claims;
mod error;
mod ring;
mod wire;

pub use claims::{SessionClaims, SessionKind, SessionUser};
pub use error::TokenError;
pub use ring::{MAX_BLOB_LEN, FORMAT_VERSION, KeyRing, TokenKey};

/// Longest token text [`KeyRing::open`] decodes (8 KiB).
pub const MAX_TOKEN_LEN: usize = 8192;

/// Largest packed claims ([`SessionClaims::packed_len`]) a token can carry:
/// what fits in [`MAX_TOKEN_LEN`] characters after the header and tag.
pub const MAX_PACKED_LEN: usize = MAX_TOKEN_LEN / 4 * 3 - ring::OVERHEAD;

/// Longest session STS issues (36 hours, for `GetSessionToken` and
/// `GetFederationToken`); a retired key must outlive every token it sealed
/// by this much.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 129_600;
