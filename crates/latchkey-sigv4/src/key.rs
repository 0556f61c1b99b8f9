//! Credential scopes, derived signing keys, and a cache of the latter.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{PoisonError, RwLock};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

type HmacSha256 = Hmac<Sha256>;

/// A fresh HMAC-SHA256 instance keyed with `key`.
pub(crate) fn hmac(key: &[u8]) -> HmacSha256 {
    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of every length (long ones are hashed), so this cannot fail"
    )]
    HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts any key length")
}

fn hmac_once(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The `date/region/service` a signature is scoped to (the terminator is
/// always `aws4_request`).
///
/// Stored as the single string `date/region/service`, which is exactly what
/// the string to sign and the key cache need.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CredentialScope {
    text: String,
    date_end: usize,
    region_end: usize,
}

impl CredentialScope {
    /// A scope from its parts; `date` is `YYYYMMDD`.
    ///
    /// Nothing is validated: a scope is whatever the client claimed, and a
    /// wrong one simply yields a key that produces no matching signature.
    pub fn new(date: &str, region: &str, service: &str) -> Self {
        let mut text = String::with_capacity(date.len() + region.len() + service.len() + 2);
        text.push_str(date);
        let date_end = text.len();
        text.push('/');
        text.push_str(region);
        let region_end = text.len();
        text.push('/');
        text.push_str(service);
        Self {
            text,
            date_end,
            region_end,
        }
    }

    /// The scope's date, `YYYYMMDD` for any scope a real client sends.
    pub fn date(&self) -> &str {
        self.text.get(..self.date_end).unwrap_or_default()
    }

    /// The scope's region, e.g. `us-east-1`.
    pub fn region(&self) -> &str {
        self.text
            .get(self.date_end + 1..self.region_end)
            .unwrap_or_default()
    }

    /// The scope's service, e.g. `sts` or `iam`.
    pub fn service(&self) -> &str {
        self.text.get(self.region_end + 1..).unwrap_or_default()
    }

    /// `date/region/service`, without the `/aws4_request` terminator.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialScope")
            .field("date", &self.date())
            .field("region", &self.region())
            .field("service", &self.service())
            .finish()
    }
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/aws4_request", self.text)
    }
}

/// The SigV4 signing key `kSigning`: an HMAC chain over `"AWS4" + secret`,
/// the scope's date, region and service, and `"aws4_request"`.
///
/// It is as good as the secret for its scope (one day, one region, one
/// service), so it is redacted from `Debug` and wiped on drop.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// Derives the signing key for `scope` from a secret access key.
    pub fn derive(secret_access_key: &str, scope: &CredentialScope) -> Self {
        let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret_access_key.len()));
        k_secret.extend_from_slice(b"AWS4");
        k_secret.extend_from_slice(secret_access_key.as_bytes());
        let mut k = Zeroizing::new(hmac_once(&k_secret, scope.date().as_bytes()));
        for part in [scope.region(), scope.service(), "aws4_request"] {
            *k = hmac_once(&*k, part.as_bytes());
        }
        Self(*k)
    }

    /// Wraps an already derived key (e.g. one handed out to a trusted
    /// component instead of the secret).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

struct CacheEntry {
    access_key_id: Box<str>,
    scope: Box<str>,
    key: SigningKey,
}

/// A bounded, thread-safe map from (access key id, scope) to derived
/// [`SigningKey`], so the hot path does not redo four HMACs per request.
///
/// Entries are indexed by a keyed hash of the pair, so a hit allocates
/// nothing; the stored strings are compared to rule out collisions. When
/// full, an arbitrary entry (the hash order is randomized per process) is
/// evicted, which is fair enough for a working set that changes daily.
///
/// The cache only remembers derivations. It does not know whether a key was
/// deactivated or deleted since, so the caller must still check the access
/// key's status on every request (and may [`invalidate`](Self::invalidate)
/// it here when it changes).
pub struct SigningKeyCache {
    map: RwLock<HashMap<u64, CacheEntry>>,
    hasher: RandomState,
    capacity: usize,
}

impl SigningKeyCache {
    /// A cache holding at most `capacity` keys (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::with_capacity(capacity.min(4096))),
            hasher: RandomState::new(),
            capacity,
        }
    }

    /// The cached key for this pair, or one derived from the secret that
    /// `secret` returns (called only on a miss).
    pub fn get_or_derive<S: AsRef<str>>(
        &self,
        access_key_id: &str,
        scope: &CredentialScope,
        secret: impl FnOnce() -> S,
    ) -> SigningKey {
        match self.get_or_try_derive(access_key_id, scope, || {
            Ok::<S, std::convert::Infallible>(secret())
        }) {
            Ok(key) => key,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_derive`](Self::get_or_derive), for a secret lookup that
    /// can fail (unknown access key); the error is passed through and
    /// nothing is cached.
    pub fn get_or_try_derive<S: AsRef<str>, E>(
        &self,
        access_key_id: &str,
        scope: &CredentialScope,
        secret: impl FnOnce() -> Result<S, E>,
    ) -> Result<SigningKey, E> {
        let id = self.hasher.hash_one((access_key_id, scope.as_str()));
        if let Some(key) = self.lookup(id, access_key_id, scope) {
            return Ok(key);
        }
        let key = SigningKey::derive(secret()?.as_ref(), scope);
        if self.capacity > 0 {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            if map.len() >= self.capacity
                && !map.contains_key(&id)
                && let Some(victim) = map.keys().next().copied()
            {
                map.remove(&victim);
            }
            map.insert(
                id,
                CacheEntry {
                    access_key_id: access_key_id.into(),
                    scope: scope.as_str().into(),
                    key: key.clone(),
                },
            );
        }
        Ok(key)
    }

    fn lookup(&self, id: u64, access_key_id: &str, scope: &CredentialScope) -> Option<SigningKey> {
        // A poisoned lock only means another thread panicked mid-insert;
        // every entry is still a complete, correct derivation.
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&id)
            .filter(|e| &*e.access_key_id == access_key_id && &*e.scope == scope.as_str())
            .map(|e| e.key.clone())
    }

    /// Drops every cached key of this access key (e.g. when it is rotated
    /// or deleted).
    pub fn invalidate(&self, access_key_id: &str) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| &*e.access_key_id != access_key_id);
    }

    /// Drops every cached key.
    pub fn clear(&self) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> CredentialScope {
        CredentialScope::new("20150830", "us-east-1", "iam")
    }

    #[test]
    fn derives_the_documented_key() {
        // From the AWS SigV4 documentation's "derive a signing key" example.
        let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &scope());
        let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn scope_accessors() {
        let s = scope();
        assert_eq!(
            (s.date(), s.region(), s.service()),
            ("20150830", "us-east-1", "iam")
        );
        assert_eq!(s.to_string(), "20150830/us-east-1/iam/aws4_request");
        let odd = CredentialScope::new("", "", "");
        assert_eq!((odd.date(), odd.region(), odd.service()), ("", "", ""));
    }

    #[test]
    fn debug_is_redacted() {
        let key = SigningKey::derive("secret", &scope());
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
        let cache = SigningKeyCache::new(2);
        cache.get_or_derive("AKID", &scope(), || "secret");
        let dbg = format!("{cache:?}");
        assert!(!dbg.contains("secret") && dbg.contains("len: 1"), "{dbg}");
    }

    #[test]
    fn cache_hits_and_bounds() {
        let cache = SigningKeyCache::new(2);
        let mut calls = 0;
        for _ in 0..3 {
            let k = cache.get_or_derive("AKID", &scope(), || {
                calls += 1;
                "secret"
            });
            assert_eq!(k, SigningKey::derive("secret", &scope()));
        }
        assert_eq!(calls, 1);
        for id in ["A", "B", "C", "D"] {
            cache.get_or_derive(id, &scope(), || "s");
            assert!(cache.len() <= 2);
        }
        cache.invalidate("D");
        assert!(cache.len() <= 1);
        cache.clear();
        assert!(cache.is_empty());
        let err: Result<SigningKey, &str> =
            cache.get_or_try_derive("X", &scope(), || Err::<&str, _>("unknown"));
        assert_eq!(err.unwrap_err(), "unknown");
        assert!(cache.is_empty());
        let none = SigningKeyCache::new(0);
        none.get_or_derive("A", &scope(), || "s");
        assert!(none.is_empty());
    }
}
