use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Sealed-blob format version.
const FORMAT_V1: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Why a master key could not be read or could not open a blob.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The key text is not base64 of 32 bytes.
    #[error("the master key must be 32 bytes, base64-encoded ({0})")]
    Malformed(&'static str),
    /// The key file could not be read or written.
    #[error("master key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The key file is readable by others than its owner.
    #[error("master key file {0} must not be readable by group or others (chmod 600)")]
    Permissions(String),
    /// A blob sealed by another key, or tampered with.
    #[error("the master key does not open data in this store: wrong key, or the data was altered")]
    Mismatch,
}

/// The AES-256-GCM key that seals secrets at rest.
///
/// Each sealed blob names the key that sealed it (a 4-byte fingerprint), so a
/// key ring can later open blobs sealed by a previous master key while new
/// ones are sealed by the current key.
pub struct MasterKey {
    cipher: Aes256Gcm,
    id: [u8; KEY_ID_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={:02x?}, <redacted>)", self.id)
    }
}

impl MasterKey {
    /// File name of the key inside a data directory.
    pub const FILE_NAME: &'static str = "master.key";

    /// A new random key.
    pub fn generate() -> (Self, Zeroizing<String>) {
        let mut raw = Zeroizing::new([0u8; 32]);
        latchkey_model::random_bytes(raw.as_mut());
        let text = Zeroizing::new(STANDARD.encode(raw.as_ref()));
        (Self::from_bytes(&raw), text)
    }

    fn from_bytes(raw: &[u8; 32]) -> Self {
        let digest = Sha256::digest([b"latchkey master key id".as_slice(), raw.as_slice()].concat());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(digest.get(..KEY_ID_LEN).unwrap_or(&[0; KEY_ID_LEN]));
        let cipher = Aes256Gcm::new(raw.into());
        Self { cipher, id }
    }

    /// Parses the base64 text form (what `LATCHKEY_MASTER_KEY` and the key file hold).
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let mut bytes = Zeroizing::new(
            STANDARD.decode(text.trim()).map_err(|_| MasterKeyError::Malformed("not base64"))?,
        );
        let raw: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| MasterKeyError::Malformed("wrong length"))?;
        bytes.zeroize();
        let mut raw = Zeroizing::new(raw);
        let key = Self::from_bytes(&raw);
        raw.zeroize();
        Ok(key)
    }

    /// Reads a key file, refusing one that others can read.
    pub fn read_file(path: &Path) -> Result<Self, MasterKeyError> {
        let file_err = |e: std::io::Error| MasterKeyError::File { path: path.display().to_string(), reason: e.to_string() };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(file_err)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(MasterKeyError::Permissions(path.display().to_string()));
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(file_err)?);
        Self::from_base64(&text)
    }

    /// Creates a new key file (mode 0600, never overwriting) and returns its key.
    pub fn create_file(path: &Path) -> Result<Self, MasterKeyError> {
        let (key, text) = Self::generate();
        write_secret_file(path, text.as_bytes())
            .map_err(|e| MasterKeyError::File { path: path.display().to_string(), reason: e.to_string() })?;
        Ok(key)
    }

    /// Seals `plaintext`, binding `aad` (the owning row's identity).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        latchkey_model::random_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        let full_aad = [self.id.as_slice(), aad].concat();
        // AES-GCM encryption only fails for inputs beyond 64 GiB.
        if let Ok(ct) = self.cipher.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &full_aad }) {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// Opens a blob sealed by [`MasterKey::seal`] with the same `aad`.
    pub fn open(&self, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let (header, ct) = blob.split_at_checked(HEADER_LEN).ok_or(MasterKeyError::Mismatch)?;
        let (version, rest) = header.split_first().ok_or(MasterKeyError::Mismatch)?;
        let (id, nonce) = rest.split_at_checked(KEY_ID_LEN).ok_or(MasterKeyError::Mismatch)?;
        if *version != FORMAT_V1 || id != self.id {
            return Err(MasterKeyError::Mismatch);
        }
        let nonce = Nonce::try_from(nonce).map_err(|_| MasterKeyError::Mismatch)?;
        let full_aad = [self.id.as_slice(), aad].concat();
        self.cipher
            .decrypt(&nonce, Payload { msg: ct, aad: &full_aad })
            .map(Zeroizing::new)
            .map_err(|_| MasterKeyError::Mismatch)
    }
}

/// Writes a new file readable only by its owner, failing if it exists.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let (k, text) = MasterKey::generate();
        let blob = k.seal(b"wJalrXUtnFEMI/K7MDENG", b"AKIAEXAMPLE");
        assert_eq!(&*k.open(&blob, b"AKIAEXAMPLE").unwrap(), b"wJalrXUtnFEMI/K7MDENG");
        assert!(k.open(&blob, b"AKIAOTHER").is_err(), "aad binds the row");
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert!(k.open(&t, b"AKIAEXAMPLE").is_err(), "byte {i}");
        }
        assert!(k.open(&blob[..10], b"AKIAEXAMPLE").is_err());
        let again = MasterKey::from_base64(&text).unwrap();
        assert!(again.open(&blob, b"AKIAEXAMPLE").is_ok());
        let (other, _) = MasterKey::generate();
        assert!(other.open(&blob, b"AKIAEXAMPLE").is_err());
        assert!(!format!("{k:?}").contains(text.as_str()));
    }

    #[test]
    fn key_text_is_checked() {
        assert!(MasterKey::from_base64("short").is_err());
        assert!(MasterKey::from_base64("AAAA").is_err());
    }
}
