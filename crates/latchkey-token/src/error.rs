//! Why a token could not be sealed or opened.

/// Why a token could not be sealed or opened, or a key ring built.
///
/// The server answers every opening failure with `InvalidClientTokenId`;
/// the variants exist for logs and tests, not for clients, so that a
/// probing client learns nothing about which check refused its token.
/// Expiry is not checked here: the server compares
/// [`SessionClaims::expires_at`](crate::SessionClaims::expires_at) with its
/// clock and answers `ExpiredToken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not base64url, too short, or (after authentication) claims that do
    /// not parse.
    #[error("the session token is malformed")]
    Malformed,
    /// The token text is longer than [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN);
    /// refused before decoding.
    #[error("the session token is too long")]
    TooLong,
    /// The token names a format version this build does not read.
    #[error("the session token has an unsupported format version")]
    UnsupportedVersion,
    /// The token was sealed by a key that is not (or no longer) in the ring.
    #[error("the session token was sealed by an unknown key")]
    UnknownKey,
    /// Authentication failed: the token was altered, or is presented with
    /// another access key id than the one it was issued with.
    #[error("the session token failed authentication")]
    Tampered,
    /// Sealing refused: the packed claims would make a token longer than
    /// [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN), which [`KeyRing::open`]
    /// would refuse (the server answers `PackedPolicyTooLarge`).
    ///
    /// [`KeyRing::open`]: crate::KeyRing::open
    #[error("the session claims are too large to fit in a session token")]
    ClaimsTooLarge,
    /// A key ring needs at least one key.
    #[error("a key ring needs at least one key")]
    EmptyRing,
    /// Two keys in a ring share an id, so a token could not say which
    /// opens it.
    #[error("duplicate token key id {0}")]
    DuplicateKeyId(u32),
}
