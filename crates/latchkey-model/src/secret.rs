use std::fmt;

use data_encoding::BASE64;

use crate::{random_bytes, session_random_bytes};

/// A secret access key. Its `Debug` never shows the value, and the bytes are
/// wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretAccessKey(String);

impl SecretAccessKey {
    /// Forty characters of base64 from the CSPRNG, the shape AWS uses.
    pub fn generate() -> Self {
        Self::generate_with(random_bytes)
    }

    /// The same for temporary credentials, from the per-request CSPRNG.
    pub fn generate_temporary() -> Self {
        Self::generate_with(session_random_bytes)
    }

    fn generate_with(fill: fn(&mut [u8])) -> Self {
        let mut raw = [0u8; 30];
        fill(&mut raw);
        let s = BASE64.encode(&raw);
        raw.fill(0);
        Self(s)
    }

    /// Wraps a secret read from storage or from a decrypted token.
    pub fn from_string(s: String) -> Self {
        Self(s)
    }

    /// The secret itself, for signing-key derivation and for the one response
    /// that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretAccessKey {
    fn drop(&mut self) {
        // Wipe the heap copy so a later allocation cannot read the secret back.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

impl fmt::Debug for SecretAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretAccessKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_chars_and_redacted() {
        let s = SecretAccessKey::generate();
        assert_eq!(s.expose().len(), 40);
        assert!(!format!("{s:?}").contains(s.expose()));
        assert_ne!(s, SecretAccessKey::generate());
    }
}
