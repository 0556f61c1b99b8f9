//! Domain types and identifiers shared by every latchkey crate.
//!
//! Nothing here does I/O. The crate knows how AWS spells things: 12-digit
//! account ids, ARNs, unique ids (`AIDA…`, `AROA…`), access key ids that carry
//! their account inside them (`AKIA…`, `ASIA…`), IAM names and paths, and the
//! timestamp format of the wire.
//!
//! ```
//! use latchkey_model::{AccountId, AccessKeyId, KeyKind};
//!
//! let account: AccountId = "123456789012".parse().unwrap();
//! let key = AccessKeyId::generate(KeyKind::LongTerm, &account);
//! assert!(key.as_str().starts_with("AKIA"));
//! assert_eq!(AccessKeyId::decode_account(key.as_str()), Some(account));
//! ```
#![deny(missing_docs)]

mod arn;
mod entity;
mod ids;
mod names;
mod secret;
mod time;
pub mod totp;

pub use arn::Arn;
pub use entity::{
    AccessKey, AccessKeyOwner, Account, Attachment, Bucket, Group, IdentityProvider, InlinePolicy, KeyStatus, ManagedPolicy,
    MfaDevice, OwnerKind, PolicyVersion, PrincipalBinding, ProviderKind,
    Role, Tag, User,
};
pub use ids::{AccessKeyId, AccountId, IdPrefix, InvalidAccountId, KeyKind, UniqueId};
pub use names::{NameError, validate_path, validate_user_name};
pub use secret::SecretAccessKey;
pub use time::{Timestamp, format_iso8601, parse_time};

/// Fills `buf` for per-request material (temporary key ids and secrets): a
/// userspace CSPRNG (ChaCha12, seeded and periodically reseeded from the
/// operating system) rather than a system call per draw, which on the mint
/// path cost as much as sealing the token. Long-lived key material uses
/// [`random_bytes`].
pub fn session_random_bytes(buf: &mut [u8]) {
    rand::Rng::fill_bytes(&mut rand::rng(), buf);
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// Identifier and secret generation cannot proceed without entropy, and a
/// process that cannot read its CSPRNG must not limp on with predictable
/// secrets, so failure aborts.
pub fn random_bytes(buf: &mut [u8]) {
    #[expect(clippy::expect_used, reason = "no safe way to mint secrets without an OS CSPRNG")]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}
