//! Token keys, the key ring, and sealing / opening.

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::Engine;
use base64::engine::Simd;
use base64::engine::general_purpose::NO_PAD;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::{MAX_PACKED_LEN, MAX_TOKEN_LEN, MAX_TOKEN_LIFETIME_SECS, SessionClaims, TokenError};

/// The token format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// `version | key id | nonce`.
pub(crate) const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// Bytes a token adds around the packed claims.
pub(crate) const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// `version | key id` starts the associated data; the access key id follows.
const AAD_PREFIX: usize = 1 + KEY_ID_LEN;
/// AWS access key ids are at most 128 characters; up to that the associated
/// data is assembled on the stack.
const AAD_INLINE: usize = AAD_PREFIX + 128;

/// Fills `buf` from the OS CSPRNG.
///
/// Like `latchkey_model::random_bytes`: a process that cannot read its
/// CSPRNG must not mint keys or nonces (a repeated GCM nonce reveals the
/// authentication key), so failure aborts rather than degrades.
/// Nonces come from a userspace CSPRNG (ChaCha12, seeded and reseeded from
/// the OS): one is drawn per token, and a system call each cost as much as
/// the sealing itself. Keys still come from the OS directly.
fn fill_nonce(buf: &mut [u8]) {
    rand::Rng::fill_bytes(&mut rand::rng(), buf);
}

fn fill_random(buf: &mut [u8]) {
    #[expect(
        clippy::expect_used,
        reason = "no safe way to mint keys or nonces without an OS CSPRNG"
    )]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// One AES-256-GCM token key with its id and creation time.
///
/// The secret is zeroized on drop (the expanded cipher state too) and never
/// shown by `Debug`.
#[derive(Clone)]
pub struct TokenKey {
    id: u32,
    created_at: i64,
    secret: Zeroizing<[u8; 32]>,
    cipher: Aes256Gcm,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TokenKey {
    /// A new random key.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails.
    pub fn generate(id: u32, created_at: i64) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        fill_random(secret.as_mut());
        Self::with_secret(id, created_at, secret)
    }

    /// A key from stored bytes (after the store unseals them).
    ///
    /// Takes the array by value; the caller should zeroize its own copies.
    pub fn from_bytes(id: u32, created_at: i64, mut bytes: [u8; 32]) -> Self {
        let secret = Zeroizing::new(bytes);
        bytes.zeroize();
        Self::with_secret(id, created_at, secret)
    }

    fn with_secret(id: u32, created_at: i64, secret: Zeroizing<[u8; 32]>) -> Self {
        // Expanding the key schedule once here keeps it off the open path.
        let cipher = Aes256Gcm::new((&*secret).into());
        Self {
            id,
            created_at,
            secret,
            cipher,
        }
    }

    /// The key id tokens carry.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// When the key was created (unix seconds).
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// The raw secret, for sealing into the store under the master key.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

/// The token keys in force: the newest seals, all open.
///
/// Rotation is the store's and server's business: they add a key when
/// [`needs_rotation`](Self::needs_rotation) says so, drop the ids
/// [`retirable`](Self::retirable) returns, and build a new ring.
#[derive(Clone)]
pub struct KeyRing {
    current: TokenKey,
    /// Newest first.
    older: Vec<TokenKey>,
    /// base64url without padding, trailing bits refused. The SIMD engine
    /// (AVX2 / NEON, detected once here, scalar otherwise) decodes a
    /// typical token about three times faster than the scalar one, and
    /// accepts and refuses exactly the same inputs.
    base64: Simd,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("older", &self.older)
            .finish()
    }
}

impl KeyRing {
    /// A ring of `keys`; the newest by `created_at` (then the highest id)
    /// seals.
    ///
    /// # Errors
    ///
    /// [`TokenError::EmptyRing`] without keys, and
    /// [`TokenError::DuplicateKeyId`] if two keys share an id.
    pub fn new(mut keys: Vec<TokenKey>) -> Result<Self, TokenError> {
        let mut ids: Vec<u32> = keys.iter().map(TokenKey::id).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|w| w.first() == w.get(1)) {
            return Err(TokenError::DuplicateKeyId(
                pair.first().copied().unwrap_or_default(),
            ));
        }
        keys.sort_unstable_by_key(|k| std::cmp::Reverse((k.created_at, k.id)));
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or(TokenError::EmptyRing)?;
        Ok(Self {
            current,
            older: keys.collect(),
            base64: Simd::url_safe(NO_PAD),
        })
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> u32 {
        self.current.id
    }

    /// All keys, the current one first, then newest to oldest.
    pub fn keys(&self) -> impl Iterator<Item = &TokenKey> {
        std::iter::once(&self.current).chain(&self.older)
    }

    /// Seals `claims` for the temporary credentials `access_key_id`
    /// (`ASIA…`), under the current key.
    ///
    /// The token opens only when presented with that same access key id.
    ///
    /// # Errors
    ///
    /// [`TokenError::ClaimsTooLarge`] if the packed claims exceed
    /// [`MAX_PACKED_LEN`], so that every token sealed here also opens.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails.
    pub fn seal(&self, claims: &SessionClaims, access_key_id: &str) -> Result<String, TokenError> {
        let packed = claims.pack();
        if packed.len() > MAX_PACKED_LEN {
            return Err(TokenError::ClaimsTooLarge);
        }
        self.seal_with(packed.len(), access_key_id, |bin| claims.write_packed(&packed, bin))
    }

    /// Seals the `len` bytes `write` appends, under the current key, with
    /// `aad_id` (an access key id, or a blob's purpose) bound as associated data.
    fn seal_with(&self, len: usize, aad_id: &str, write: impl FnOnce(&mut Vec<u8>)) -> Result<String, TokenError> {
        let key = &self.current;
        let mut nonce = [0u8; NONCE_LEN];
        fill_nonce(&mut nonce);
        let key_id = key.id.to_be_bytes();

        let mut bin = Vec::with_capacity(OVERHEAD + len);
        bin.push(FORMAT_VERSION);
        bin.extend_from_slice(&key_id);
        bin.extend_from_slice(&nonce);
        write(&mut bin);

        let tag = match bin.split_at_mut_checked(HEADER_LEN) {
            Some((_, msg)) => with_aad(key_id, aad_id, |aad| {
                key.cipher
                    .encrypt_inout_detached(&Nonce::from(nonce), aad, msg.into())
                    .ok()
            }),
            None => None,
        };
        // GCM refuses only messages beyond 64 GiB, far above what is sealed
        // here; should it ever fail, the buffer still holds plaintext.
        let Some(tag) = tag else {
            bin.zeroize();
            return Err(TokenError::ClaimsTooLarge);
        };
        bin.extend_from_slice(&tag);

        let mut text = String::with_capacity(base64_len(bin.len()));
        self.base64.encode_string(&bin, &mut text);
        Ok(text)
    }

    /// Opens a token presented with `access_key_id`.
    ///
    /// Expiry is not checked: compare `expires_at` with the clock.
    ///
    /// # Errors
    ///
    /// [`TokenError::TooLong`] above [`MAX_TOKEN_LEN`] (before decoding),
    /// [`TokenError::Malformed`] if it is not a token,
    /// [`TokenError::UnsupportedVersion`], [`TokenError::UnknownKey`] if
    /// the sealing key is not in the ring, and [`TokenError::Tampered`] if
    /// it was altered or belongs to another access key id.
    pub fn open(&self, token: &str, access_key_id: &str) -> Result<SessionClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        let mut bin = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(token.len())));
        let msg = self.open_in_place(token, access_key_id, &mut bin)?;
        SessionClaims::decode(msg)
    }

    /// Whether `token` names a key id newer than every key in this ring: a
    /// key another node created a moment ago, which this ring has not
    /// loaded yet (the caller may refresh its keys and try again). Reads
    /// only the token's header.
    pub fn names_newer_key(&self, token: &str) -> bool {
        let mut bin = Vec::with_capacity(8);
        let Some(prefix) = token.get(..8) else { return false };
        if self.base64.decode_vec(prefix, &mut bin).is_err() {
            return false;
        }
        let [version, i0, i1, i2, i3, ..] = bin.as_slice() else { return false };
        let id = u32::from_be_bytes([*i0, *i1, *i2, *i3]);
        *version == FORMAT_VERSION && self.keys().all(|k| id > k.id)
    }

    /// Decodes `text` into `bin` and decrypts it there, with `aad_id` bound
    /// as associated data; returns the plaintext within `bin`.
    fn open_in_place<'b>(&self, text: &str, aad_id: &str, bin: &'b mut Vec<u8>) -> Result<&'b [u8], TokenError> {
        self.base64
            .decode_vec(text, bin)
            .map_err(|_| TokenError::Malformed)?;

        let (header, sealed) = bin
            .split_at_mut_checked(HEADER_LEN)
            .ok_or(TokenError::Malformed)?;
        let header: &[u8; HEADER_LEN] = (&*header).try_into().map_err(|_| TokenError::Malformed)?;
        let [version, i0, i1, i2, i3, nonce @ ..] = *header;
        if version != FORMAT_VERSION {
            return Err(TokenError::UnsupportedVersion);
        }
        let key_id = [i0, i1, i2, i3];
        let key = self.find(key_id).ok_or(TokenError::UnknownKey)?;

        let msg_len = sealed
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(TokenError::Malformed)?;
        let (msg, tag) = sealed
            .split_at_mut_checked(msg_len)
            .ok_or(TokenError::Malformed)?;
        let tag = Tag::try_from(&*tag).map_err(|_| TokenError::Malformed)?;
        with_aad(key_id, aad_id, |aad| {
            key.cipher
                .decrypt_inout_detached(&Nonce::from(nonce), aad, (&mut *msg).into(), &tag)
        })
        .map_err(|_| TokenError::Tampered)?;
        Ok(msg)
    }

    /// Seals an opaque blob (an encoded authorization message) under the
    /// current key. `purpose` takes the access key id's place in the
    /// associated data, so a blob never opens as a session token, nor a
    /// token as a blob; use a word that cannot be a key id (`authz-message`).
    ///
    /// # Errors
    ///
    /// [`TokenError::ClaimsTooLarge`] above [`MAX_BLOB_LEN`] bytes.
    pub fn seal_blob(&self, plaintext: &[u8], purpose: &str) -> Result<String, TokenError> {
        if plaintext.len() > MAX_BLOB_LEN {
            return Err(TokenError::ClaimsTooLarge);
        }
        self.seal_with(plaintext.len(), purpose, |bin| bin.extend_from_slice(plaintext))
    }

    /// Opens a blob sealed by [`KeyRing::seal_blob`] for the same `purpose`.
    ///
    /// # Errors
    ///
    /// As [`KeyRing::open`].
    pub fn open_blob(&self, text: &str, purpose: &str) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        if text.len() > base64_len(OVERHEAD + MAX_BLOB_LEN) {
            return Err(TokenError::TooLong);
        }
        let mut bin = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(text.len())));
        let msg = self.open_in_place(text, purpose, &mut bin)?;
        Ok(Zeroizing::new(msg.to_vec()))
    }

    /// Whether the current key is at least `period_secs` old, so a new key
    /// should be added.
    pub fn needs_rotation(&self, now: i64, period_secs: i64) -> bool {
        now.saturating_sub(self.current.created_at) >= period_secs
    }

    /// Ids of keys that may be dropped: not current, created more than
    /// `period_secs +` [`MAX_TOKEN_LIFETIME_SECS`] ago, and superseded (the
    /// next newer key created) more than `MAX_TOKEN_LIFETIME_SECS` ago.
    ///
    /// A key seals only while current, so after that every token it sealed
    /// has expired. The second condition covers a rotation that ran late,
    /// when a key stayed current longer than one period.
    pub fn retirable(&self, now: i64, period_secs: i64) -> Vec<u32> {
        let horizon = period_secs.saturating_add(MAX_TOKEN_LIFETIME_SECS);
        let mut superseded_at = self.current.created_at;
        let mut out = Vec::new();
        for key in &self.older {
            if now.saturating_sub(key.created_at) > horizon
                && now.saturating_sub(superseded_at) > MAX_TOKEN_LIFETIME_SECS
            {
                out.push(key.id);
            }
            superseded_at = key.created_at;
        }
        out
    }

    /// Looks a key up by its id, comparing every id in constant time as
    /// rustls does for ticket key names.
    fn find(&self, key_id: [u8; KEY_ID_LEN]) -> Option<&TokenKey> {
        let mut found = None;
        for key in self.keys() {
            if bool::from(key.id.to_be_bytes().ct_eq(&key_id)) {
                found = Some(key);
            }
        }
        found
    }
}

/// Unpadded base64 length of `n` bytes.
const fn base64_len(n: usize) -> usize {
    (n / 3) * 4
        + match n % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// Runs `f` with the associated data `version | key id | access key id`,
/// built on the stack for every real access key id.
/// The largest blob [`KeyRing::seal_blob`] seals.
pub const MAX_BLOB_LEN: usize = 64 * 1024;

fn with_aad<R>(key_id: [u8; KEY_ID_LEN], access_key_id: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let akid = access_key_id.as_bytes();
    let total = AAD_PREFIX.saturating_add(akid.len());
    let parts = std::iter::once(&FORMAT_VERSION).chain(&key_id).chain(akid);
    let mut inline = [0u8; AAD_INLINE];
    if let Some(buf) = inline.get_mut(..total) {
        for (dst, src) in buf.iter_mut().zip(parts) {
            *dst = *src;
        }
        f(buf)
    } else {
        let heap: Vec<u8> = parts.copied().collect();
        f(&heap)
    }
}
