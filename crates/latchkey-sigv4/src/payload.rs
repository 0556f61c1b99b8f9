//! What is left to check on a body that is streamed after its signature was
//! verified ([`PayloadCheck`]), and the incremental checks themselves: the
//! declared SHA-256 ([`Sha256Check`]) and S3's `x-amz-checksum-*`
//! checksums ([`ChecksumCheck`]).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc::{CRC_32_ISCSI, CRC_64_NVME, Crc, Table};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::BodyError;

/// The three aws-chunked bodies an S3 client can announce in
/// `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkedMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: every chunk signed, chained
    /// from the request's signature.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks, then
    /// trailing headers with their own signature.
    SignedWithTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks, then trailing
    /// headers (a checksum), nothing signed after the headers.
    UnsignedWithTrailer,
}

impl ChunkedMode {
    /// The `x-amz-content-sha256` value that announces this mode.
    pub fn content_sha256(self) -> &'static str {
        match self {
            Self::Signed => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            Self::SignedWithTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            Self::UnsignedWithTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        }
    }

    /// The mode an `x-amz-content-sha256` value announces, if any.
    pub fn from_content_sha256(value: &[u8]) -> Option<Self> {
        [
            Self::Signed,
            Self::SignedWithTrailer,
            Self::UnsignedWithTrailer,
        ]
        .into_iter()
        .find(|m| m.content_sha256().as_bytes() == value)
    }

    /// Whether chunks carry signatures.
    pub fn is_signed(self) -> bool {
        !matches!(self, Self::UnsignedWithTrailer)
    }

    /// Whether trailing headers follow the final chunk.
    pub fn has_trailer(self) -> bool {
        !matches!(self, Self::Signed)
    }
}

/// What the caller must still check on a body that
/// [`verify_deferred`](crate::SignedRequest::verify_deferred) did not see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadCheck {
    /// The signature covers this SHA-256 of the body: hash the body as it
    /// streams ([`Sha256Check`]) and refuse it at the end on a mismatch
    /// (`XAmzContentSHA256Mismatch`), before committing anything.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the signature does not cover the body; only an
    /// `x-amz-checksum-*` header, if any, can be checked
    /// ([`ChecksumCheck::from_headers`]).
    Unsigned,
    /// An aws-chunked body: decode it with a
    /// [`ChunkedDecoder`](crate::ChunkedDecoder), which checks the chunk
    /// signatures, the length and the trailing checksum.
    Chunked(ChunkedMode),
}

/// The checksums S3 accepts in `x-amz-checksum-*` headers and trailers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC, as in zlib), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli), 4 bytes.
    Crc32c,
    /// CRC-64/NVME, 8 bytes.
    Crc64Nvme,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm.
    pub const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The header (or trailer) that carries this checksum, lowercase.
    pub fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm a header name (any case) carries, if any.
    pub fn from_header_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name))
    }

    /// The name S3 uses in messages and in `x-amz-checksum-algorithm`,
    /// e.g. `CRC32`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The digest's size in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// Decodes a header or trailer value: base64 of a digest of the right
    /// size, surrounding whitespace ignored.
    pub fn decode_value(self, value: &[u8]) -> Result<Vec<u8>, BodyError> {
        match BASE64.decode(value.trim_ascii()) {
            Ok(bytes) if bytes.len() == self.digest_len() => Ok(bytes),
            _ => Err(BodyError::InvalidChecksum {
                header: self.header_name(),
            }),
        }
    }
}

/// A 16-lane table (about 16 KiB, built at compile time): several times
/// faster than the one-lane default on large bodies.
static CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);
static CRC64NVME: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_NVME);

enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(crc::Digest<'static, u32, Table<16>>),
    Crc64Nvme(crc::Digest<'static, u64, Table<16>>),
    Sha1(Sha1),
    Sha256(Sha256),
}

/// An incremental `x-amz-checksum-*` computation.
pub struct Checksum {
    algorithm: ChecksumAlgorithm,
    hasher: Hasher,
}

impl Checksum {
    /// A checksum over no bytes yet.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let hasher = match algorithm {
            ChecksumAlgorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Hasher::Crc32c(CRC32C.digest()),
            ChecksumAlgorithm::Crc64Nvme => Hasher::Crc64Nvme(CRC64NVME.digest()),
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        };
        Self { algorithm, hasher }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.hasher {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(h) => h.update(data),
            Hasher::Crc64Nvme(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The digest, big-endian for the CRCs (as S3 encodes them).
    pub fn finalize(self) -> ChecksumValue {
        let bytes = match self.hasher {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc64Nvme(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        ChecksumValue {
            algorithm: self.algorithm,
            bytes,
        }
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checksum")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A finished checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumValue {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The digest (big-endian for the CRCs).
    pub bytes: Vec<u8>,
}

impl ChecksumValue {
    /// The digest in base64, as it goes in an `x-amz-checksum-*` header.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.bytes)
    }
}

/// Checks a body against a declared `x-amz-checksum-*` value as it
/// streams: feed it the (decoded) body, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct ChecksumCheck {
    expected: Vec<u8>,
    checksum: Checksum,
}

impl ChecksumCheck {
    /// A check against `value`, the base64 header or trailer value.
    pub fn new(algorithm: ChecksumAlgorithm, value: &[u8]) -> Result<Self, BodyError> {
        Ok(Self {
            expected: algorithm.decode_value(value)?,
            checksum: Checksum::new(algorithm),
        })
    }

    /// The check a plain (not aws-chunked) body's headers ask for: the one
    /// `x-amz-checksum-*` header among `headers`, if any. Two of them are
    /// refused, as S3 does.
    pub fn from_headers(headers: &[(&str, &[u8])]) -> Result<Option<Self>, BodyError> {
        let mut found: Option<(ChecksumAlgorithm, &[u8])> = None;
        for (name, value) in headers {
            if let Some(algorithm) = ChecksumAlgorithm::from_header_name(name) {
                if found.is_some() {
                    return Err(BodyError::MultipleChecksums);
                }
                found = Some((algorithm, value));
            }
        }
        found
            .map(|(algorithm, value)| Self::new(algorithm, value))
            .transpose()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.checksum.algorithm
    }

    /// Adds body bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.checksum.update(data);
    }

    /// Compares the body's checksum with the declared one
    /// ([`BodyError::ChecksumMismatch`], S3's `BadDigest`).
    pub fn finish(self) -> Result<ChecksumValue, BodyError> {
        let algorithm = self.checksum.algorithm;
        let value = self.checksum.finalize();
        if bool::from(value.bytes.ct_eq(&self.expected)) {
            Ok(value)
        } else {
            Err(BodyError::ChecksumMismatch {
                algorithm: algorithm.name(),
            })
        }
    }
}

/// Checks a body against the SHA-256 its signature covers
/// ([`PayloadCheck::Sha256`]) as it streams.
#[derive(Debug, Clone)]
pub struct Sha256Check {
    expected: [u8; 32],
    hasher: Sha256,
}

impl Sha256Check {
    /// A check against `expected`.
    pub fn new(expected: [u8; 32]) -> Self {
        Self {
            expected,
            hasher: Sha256::new(),
        }
    }

    /// Adds body bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Compares the body's hash with the signed one
    /// ([`BodyError::ContentSha256Mismatch`], S3's
    /// `XAmzContentSHA256Mismatch`).
    pub fn finish(self) -> Result<(), BodyError> {
        let computed: [u8; 32] = self.hasher.finalize().into();
        if bool::from(computed.ct_eq(&self.expected)) {
            Ok(())
        } else {
            Err(BodyError::ContentSha256Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut c = Checksum::new(algorithm);
        c.update(data);
        c.finalize().to_base64()
    }

    #[test]
    fn known_checksums() {
        // Check values from the CRC catalogue ("123456789") and FIPS 180.
        let check = |algorithm, hex: &str| {
            let mut c = Checksum::new(algorithm);
            c.update(b"1234");
            c.update(b"56789");
            let got: String = c
                .finalize()
                .bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, hex, "{algorithm:?}");
        };
        check(ChecksumAlgorithm::Crc32, "cbf43926");
        check(ChecksumAlgorithm::Crc32c, "e3069283");
        check(ChecksumAlgorithm::Crc64Nvme, "ae8b14860a799888");
        check(
            ChecksumAlgorithm::Sha1,
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
        );
        check(
            ChecksumAlgorithm::Sha256,
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
        );
        // The trailer in AWS's chunked-upload example: 66560 × 'a'.
        assert_eq!(b64(ChecksumAlgorithm::Crc32c, &[b'a'; 66_560]), "sOO8/Q==");
    }

    #[test]
    fn checksum_checks() {
        let value = b64(ChecksumAlgorithm::Crc32, b"hello");
        let headers: [(&str, &[u8]); 2] = [
            ("Content-Type", b"text/plain"),
            ("X-Amz-Checksum-Crc32", value.as_bytes()),
        ];
        let mut c = ChecksumCheck::from_headers(&headers).unwrap().unwrap();
        c.update(b"hel");
        c.update(b"lo");
        assert_eq!(c.finish().unwrap().to_base64(), value);

        let mut c = ChecksumCheck::from_headers(&headers).unwrap().unwrap();
        c.update(b"hellO");
        let e = c.finish().unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("BadDigest", 400));
        assert_eq!(
            e.message(),
            "The CRC32 you specified did not match the calculated checksum."
        );

        assert!(
            ChecksumCheck::from_headers(&[("x-amz-checksum-type", b"FULL_OBJECT")])
                .unwrap()
                .is_none()
        );
        let two: [(&str, &[u8]); 2] = [
            ("x-amz-checksum-crc32", b"AAAAAA=="),
            ("x-amz-checksum-sha1", b"AAAAAA=="),
        ];
        assert_eq!(
            ChecksumCheck::from_headers(&two).unwrap_err(),
            BodyError::MultipleChecksums
        );
        for bad in [&b"AAAA"[..], b"not base64!", b"AAAAAAAAAAA="] {
            let e = ChecksumCheck::new(ChecksumAlgorithm::Crc32, bad).unwrap_err();
            assert_eq!(e.code(), "InvalidRequest");
            assert_eq!(
                e.message(),
                "Value for x-amz-checksum-crc32 header is invalid."
            );
        }
    }

    #[test]
    fn sha256_check() {
        let expected: [u8; 32] = Sha256::digest(b"body").into();
        let mut c = Sha256Check::new(expected);
        c.update(b"bo");
        c.update(b"dy");
        assert!(c.finish().is_ok());
        let mut c = Sha256Check::new(expected);
        c.update(b"bodY");
        let e = c.finish().unwrap_err();
        assert_eq!(
            (e.code(), e.http_status()),
            ("XAmzContentSHA256Mismatch", 400)
        );
    }

    #[test]
    fn modes_and_names() {
        for m in [
            ChunkedMode::Signed,
            ChunkedMode::SignedWithTrailer,
            ChunkedMode::UnsignedWithTrailer,
        ] {
            assert_eq!(
                ChunkedMode::from_content_sha256(m.content_sha256().as_bytes()),
                Some(m)
            );
        }
        assert_eq!(
            ChunkedMode::from_content_sha256(b"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"),
            None
        );
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(
                ChecksumAlgorithm::from_header_name(&a.header_name().to_uppercase()),
                Some(a)
            );
            let mut c = Checksum::new(a);
            c.update(b"x");
            assert_eq!(c.finalize().bytes.len(), a.digest_len());
        }
    }
}
