//! Decoding S3's aws-chunked bodies as they arrive ([`ChunkedDecoder`]),
//! checking each chunk's signature ([`ChunkVerifier`]) before releasing it.
//!
//! The body looks like this (AWS S3 API reference, "Transferring payload in
//! multiple chunks" and "Including trailing headers"):
//!
//! ```text
//! 10000;chunk-signature=<64 hex>\r\n<65536 bytes>\r\n      signed chunks
//! 0;chunk-signature=<64 hex>\r\n\r\n                       final chunk
//!
//! 10000;chunk-signature=<64 hex>\r\n<65536 bytes>\r\n      signed, with trailer
//! 0;chunk-signature=<64 hex>\r\n
//! x-amz-checksum-crc32:<base64>\r\n
//! x-amz-trailer-signature:<64 hex>\r\n\r\n
//!
//! 10000\r\n<65536 bytes>\r\n                               unsigned, with trailer
//! 0\r\n
//! x-amz-checksum-crc32:<base64>\r\n\r\n
//! ```
//!
//! Each chunk signature is an HMAC, with the request's signing key, over
//! `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous signature>\n<sha256("")>\n<sha256(data)>`,
//! the first previous signature being the request's own (the "seed"); the
//! trailer's is over
//! `AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<previous signature>\n<sha256(trailer)>`,
//! where the trailer is its headers as `name:value\n`. The chain means no
//! chunk can be dropped, reordered or moved to another request.

use std::fmt;

use hmac::Mac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::canonical::{decode_hex32, hex_lower};
use crate::error::BodyError;
use crate::key::{CredentialScope, SigningKey, hmac};
use crate::payload::{Checksum, ChecksumAlgorithm, ChecksumValue, ChunkedMode};

/// SHA-256 of the empty string, the fixed fifth line of a chunk's string to
/// sign (where a whole request would have its headers' hash).
const EMPTY_SHA256_HEX: &[u8; 64] =
    b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The longest chunk header line accepted, CRLF excluded. A real one is at
/// most 16 hex digits, `;chunk-signature=` and 64 hex digits (97 bytes).
pub const MAX_CHUNK_HEADER: usize = 256;
/// The most trailer bytes accepted (all trailing header lines together).
pub const MAX_TRAILER: usize = 16 * 1024;
/// The default largest signed chunk: each one is held in memory until its
/// signature is checked. AWS SDKs send 64 KiB or 128 KiB chunks.
pub const DEFAULT_MAX_CHUNK_SIZE: u64 = 16 * 1024 * 1024;

/// The signature chain of an aws-chunked body: what signs (and verifies)
/// the next chunk. Shared by [`ChunkVerifier`] and the signer's
/// [`ChunkSigner`](crate::ChunkSigner).
#[derive(Clone)]
pub(crate) struct ChunkChain {
    key: SigningKey,
    amz_date: [u8; 16],
    scope: CredentialScope,
    previous: [u8; 32],
}

impl ChunkChain {
    pub(crate) fn new(
        key: SigningKey,
        amz_date: [u8; 16],
        scope: CredentialScope,
        seed: [u8; 32],
    ) -> Self {
        Self {
            key,
            amz_date,
            scope,
            previous: seed,
        }
    }

    fn sign(&self, kind: &[u8], lines: &[&[u8]]) -> [u8; 32] {
        let mut mac = hmac(self.key.bytes());
        mac.update(kind);
        mac.update(b"\n");
        mac.update(&self.amz_date);
        mac.update(b"\n");
        mac.update(self.scope.as_str().as_bytes());
        mac.update(b"/aws4_request\n");
        mac.update(&hex_lower(&self.previous));
        for line in lines {
            mac.update(b"\n");
            mac.update(line);
        }
        mac.finalize().into_bytes().into()
    }

    /// The signature of the next chunk, whose data has SHA-256 `data_hash`.
    pub(crate) fn chunk_signature(&self, data_hash: &[u8; 32]) -> [u8; 32] {
        self.sign(
            b"AWS4-HMAC-SHA256-PAYLOAD",
            &[EMPTY_SHA256_HEX, &hex_lower(data_hash)],
        )
    }

    /// The signature of the trailer, whose `name:value\n` lines have
    /// SHA-256 `trailer_hash`.
    pub(crate) fn trailer_signature(&self, trailer_hash: &[u8; 32]) -> [u8; 32] {
        self.sign(b"AWS4-HMAC-SHA256-TRAILER", &[&hex_lower(trailer_hash)])
    }

    pub(crate) fn advance(&mut self, signature: [u8; 32]) {
        self.previous = signature;
    }
}

/// Checks the chunk signatures of an aws-chunked body, in order, starting
/// from the request's signature.
///
/// Made by [`SignedRequest::chunk_verifier`](crate::SignedRequest::chunk_verifier)
/// once the request's own signature has been verified; holds the signing
/// key, so `Debug` shows nothing of it. [`ChunkedDecoder`] drives it; use it
/// directly only to decode the framing yourself.
#[derive(Clone)]
pub struct ChunkVerifier {
    chain: ChunkChain,
}

impl ChunkVerifier {
    pub(crate) fn new(chain: ChunkChain) -> Self {
        Self { chain }
    }

    /// Checks, in constant time, the signature of the next chunk, whose data
    /// has SHA-256 `data_hash`; on success the chain moves past it.
    pub fn verify_chunk(&mut self, data_hash: &[u8; 32], signature: &[u8; 32]) -> bool {
        let computed = self.chain.chunk_signature(data_hash);
        let ok = bool::from(computed.ct_eq(signature));
        if ok {
            self.chain.advance(computed);
        }
        ok
    }

    /// Checks, in constant time, the trailer signature over trailing
    /// headers whose `name:value\n` lines have SHA-256 `trailer_hash`.
    pub fn verify_trailer(&mut self, trailer_hash: &[u8; 32], signature: &[u8; 32]) -> bool {
        let computed = self.chain.trailer_signature(trailer_hash);
        let ok = bool::from(computed.ct_eq(signature));
        if ok {
            self.chain.advance(computed);
        }
        ok
    }
}

impl fmt::Debug for ChunkVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkVerifier")
            .field("scope", &self.chain.scope)
            .finish_non_exhaustive()
    }
}

/// What a [`ChunkedDecoder`] checks besides the framing and signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedOptions {
    /// `x-amz-decoded-content-length`: the decoded payload must be exactly
    /// this long (a chunk that would go past it is refused before any of
    /// it is released).
    pub decoded_content_length: Option<u64>,
    /// The checksum `x-amz-trailer` announces: the trailer must carry it,
    /// and it must match the decoded payload.
    pub trailer_checksum: Option<ChecksumAlgorithm>,
    /// The largest signed chunk accepted (they are buffered whole until
    /// their signature is checked); unsigned chunks stream and have no
    /// limit.
    pub max_chunk_size: u64,
}

impl Default for ChunkedOptions {
    fn default() -> Self {
        Self {
            decoded_content_length: None,
            trailer_checksum: None,
            max_chunk_size: DEFAULT_MAX_CHUNK_SIZE,
        }
    }
}

impl ChunkedOptions {
    /// Options from a request's `x-amz-decoded-content-length` and
    /// `x-amz-trailer` headers (names in any case). `x-amz-trailer` may name
    /// one `x-amz-checksum-*` header, nothing else.
    pub fn from_headers(headers: &[(&str, &[u8])]) -> Result<Self, BodyError> {
        let mut options = Self::default();
        let mut lengths = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-amz-decoded-content-length"));
        if let Some((_, value)) = lengths.next() {
            if lengths.next().is_some() {
                return Err(BodyError::InvalidDecodedContentLength);
            }
            options.decoded_content_length = Some(parse_decimal(value.trim_ascii())?);
        }
        let mut names = Vec::new();
        for (_, value) in headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-amz-trailer"))
        {
            for name in value.split(|&b| b == b',') {
                let name = name.trim_ascii();
                if !name.is_empty() {
                    names.push((name, value));
                }
            }
        }
        match names.as_slice() {
            [] => {}
            [(name, value)] => {
                let algorithm = std::str::from_utf8(name)
                    .ok()
                    .and_then(ChecksumAlgorithm::from_header_name)
                    .ok_or_else(|| BodyError::UnsupportedTrailer {
                        value: String::from_utf8_lossy(value).into_owned(),
                    })?;
                options.trailer_checksum = Some(algorithm);
            }
            [.., (_, value)] => {
                return Err(BodyError::UnsupportedTrailer {
                    value: String::from_utf8_lossy(value).into_owned(),
                });
            }
        }
        Ok(options)
    }
}

fn parse_decimal(digits: &[u8]) -> Result<u64, BodyError> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(BodyError::InvalidDecodedContentLength);
    }
    Ok(digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// What a fully decoded body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedSummary {
    /// The decoded payload's length.
    pub decoded_length: u64,
    /// The trailing checksum, already checked against the payload.
    pub checksum: Option<ChecksumValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Reading chunk data; `remaining` bytes to go.
    Data,
    /// Reading the CRLF after chunk data; `crlf_seen` of it read.
    DataEnd,
    /// Reading the empty line after the final chunk (no trailer).
    FinalEnd,
    /// Reading trailing header lines up to an empty one.
    Trailer,
    /// The body is complete; nothing may follow.
    Done,
}

/// An incremental aws-chunked decoder: feed it the body as it arrives, in
/// slices split anywhere, and it appends the decoded payload to `out`.
///
/// Signed chunks are held until whole, and released only once their
/// signature verifies, so a forged chunk releases nothing of itself;
/// unsigned chunks are released as they arrive. Either way nothing is
/// final until [`finish`](Self::finish) succeeds: the trailing checksum and
/// the length are only known to be right at the end, so a caller must not
/// commit (store, acknowledge) the payload before then.
///
/// After an error the decoder is spent: every later call returns the same
/// error.
pub struct ChunkedDecoder {
    mode: ChunkedMode,
    verifier: Option<ChunkVerifier>,
    options: ChunkedOptions,
    state: State,
    /// The header or trailer line being read (with its CRLF while partial).
    line: Vec<u8>,
    /// Signed chunk data held until its signature is checked.
    chunk: Vec<u8>,
    remaining: u64,
    crlf_seen: u8,
    /// The signature the current chunk's header announced.
    announced: [u8; 32],
    decoded: u64,
    checksum: Option<Checksum>,
    trailer_len: usize,
    trailer_lines: usize,
    skipped_blank: bool,
    /// The trailing headers as signed: `name:value\n` each.
    trailer_canonical: Vec<u8>,
    trailer_value: Option<Vec<u8>>,
    trailer_signature: Option<[u8; 32]>,
    checksum_value: Option<ChecksumValue>,
    failed: Option<BodyError>,
}

impl ChunkedDecoder {
    /// A decoder for a body in `mode`. Signed modes need the `verifier`
    /// from [`SignedRequest::chunk_verifier`](crate::SignedRequest::chunk_verifier);
    /// without one every signed chunk fails to verify. An unsigned mode
    /// ignores it.
    pub fn new(
        mode: ChunkedMode,
        verifier: Option<ChunkVerifier>,
        options: ChunkedOptions,
    ) -> Self {
        Self {
            mode,
            verifier: if mode.is_signed() { verifier } else { None },
            options,
            state: State::Header,
            line: Vec::with_capacity(128),
            chunk: Vec::new(),
            remaining: 0,
            crlf_seen: 0,
            announced: [0; 32],
            decoded: 0,
            checksum: options.trailer_checksum.map(Checksum::new),
            trailer_len: 0,
            trailer_lines: 0,
            skipped_blank: false,
            trailer_canonical: Vec::new(),
            trailer_value: None,
            trailer_signature: None,
            checksum_value: None,
            failed: None,
        }
    }

    /// The mode being decoded.
    pub fn mode(&self) -> ChunkedMode {
        self.mode
    }

    /// Decoded payload bytes released so far.
    pub fn decoded_length(&self) -> u64 {
        self.decoded
    }

    /// Whether the whole body, trailer included, has been read and checked.
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.failed.is_none()
    }

    /// Decodes the next slice of the body, appending released payload
    /// bytes to `out`. On error `out` may have received earlier chunks'
    /// bytes from this same slice (each verified), but nothing of the chunk
    /// at fault.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut input = input;
        let result = self.feed_inner(&mut input, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Declares the end of the body. Fails when the body stopped short
    /// ([`BodyError::Truncated`]) or an earlier error occurred; otherwise
    /// the payload's length and checked trailing checksum.
    pub fn finish(&mut self) -> Result<ChunkedSummary, BodyError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.state != State::Done {
            self.failed = Some(BodyError::Truncated);
            return Err(BodyError::Truncated);
        }
        Ok(ChunkedSummary {
            decoded_length: self.decoded,
            checksum: self.checksum_value.clone(),
        })
    }

    fn feed_inner(&mut self, input: &mut &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    if self
                        .take_line(input, MAX_CHUNK_HEADER)
                        .map_err(|problem| BodyError::MalformedChunk { problem })?
                    {
                        self.on_chunk_header()?;
                    }
                }
                State::Data => self.on_data(input, out),
                State::DataEnd => {
                    let Some((&b, rest)) = input.split_first() else {
                        break;
                    };
                    let expected = if self.crlf_seen == 0 { b'\r' } else { b'\n' };
                    if b != expected {
                        return Err(BodyError::MalformedChunk {
                            problem: "chunk data is not followed by CRLF",
                        });
                    }
                    *input = rest;
                    self.crlf_seen += 1;
                    if self.crlf_seen == 2 {
                        self.crlf_seen = 0;
                        self.end_chunk(out)?;
                        self.state = State::Header;
                    }
                }
                State::FinalEnd => {
                    if self
                        .take_line(input, 0)
                        .map_err(|_| BodyError::MalformedChunk {
                            problem: "the final chunk is not followed by CRLF",
                        })?
                    {
                        self.state = State::Done;
                    }
                }
                State::Trailer => {
                    let limit = MAX_TRAILER.saturating_sub(self.trailer_len);
                    if self
                        .take_line(input, limit)
                        .map_err(|problem| BodyError::MalformedTrailer { problem })?
                    {
                        self.on_trailer_line()?;
                    }
                }
                State::Done => return Err(BodyError::DataAfterEnd),
            }
        }
        Ok(())
    }

    /// Moves bytes from `input` into the line buffer up to a `\n`. Returns
    /// true once a whole line is there (its CRLF removed); refuses a line
    /// longer than `limit` or ending in a bare LF.
    fn take_line(&mut self, input: &mut &[u8], limit: usize) -> Result<bool, &'static str> {
        let newline = input.iter().position(|&b| b == b'\n');
        let take = newline.map_or(input.len(), |i| i + 1);
        let (head, rest) = input.split_at(take);
        if self.line.len() + head.len() > limit.saturating_add(2) {
            return Err("line too long");
        }
        self.line.extend_from_slice(head);
        *input = rest;
        if newline.is_none() {
            return Ok(false);
        }
        if !self.line.ends_with(b"\r\n") {
            return Err("line not ended by CRLF");
        }
        self.line.truncate(self.line.len() - 2);
        Ok(true)
    }

    fn on_chunk_header(&mut self) -> Result<(), BodyError> {
        let line = std::mem::take(&mut self.line);
        let result = self.parse_chunk_header(&line);
        self.line = line;
        self.line.clear();
        let (size, signature) = result?;
        if let Some(signature) = signature {
            self.announced = signature;
        }
        let total = self.decoded.saturating_add(size);
        if let Some(declared) = self.options.decoded_content_length
            && total > declared
        {
            return Err(BodyError::DecodedLengthMismatch {
                declared,
                received: total,
            });
        }
        if size > 0 {
            if self.mode.is_signed() && size > self.options.max_chunk_size {
                return Err(BodyError::ChunkTooLarge {
                    size,
                    max: self.options.max_chunk_size,
                });
            }
            self.remaining = size;
            self.state = State::Data;
            return Ok(());
        }
        // The final chunk.
        if self.mode.is_signed() {
            self.verify_chunk(&Sha256::digest(b"").into())?;
        }
        if let Some(declared) = self.options.decoded_content_length
            && self.decoded != declared
        {
            return Err(BodyError::DecodedLengthMismatch {
                declared,
                received: self.decoded,
            });
        }
        self.state = if self.mode.has_trailer() {
            State::Trailer
        } else {
            State::FinalEnd
        };
        Ok(())
    }

    /// `hex-size[;chunk-signature=64hex]`: the signature is required in
    /// signed modes and refused otherwise.
    fn parse_chunk_header(&self, line: &[u8]) -> Result<(u64, Option<[u8; 32]>), BodyError> {
        let malformed = |problem| BodyError::MalformedChunk { problem };
        let (size, ext) = match line.iter().position(|&b| b == b';') {
            Some(i) => {
                let (size, ext) = line.split_at(i);
                (size, Some(ext.get(1..).unwrap_or_default()))
            }
            None => (line, None),
        };
        if size.is_empty() || size.len() > 16 {
            return Err(malformed("chunk size is not 1 to 16 hex digits"));
        }
        let mut n: u64 = 0;
        for &b in size {
            let digit = char::from(b)
                .to_digit(16)
                .ok_or(malformed("chunk size is not hexadecimal"))?;
            n = (n << 4) | u64::from(digit);
        }
        let signature = match (self.mode.is_signed(), ext) {
            (true, Some(ext)) => {
                let sig = ext
                    .strip_prefix(b"chunk-signature=")
                    .ok_or(malformed("chunk header lacks chunk-signature"))?;
                // A signature that is not 64 hex digits cannot match.
                Some(decode_hex32(sig).ok_or(BodyError::ChunkSignatureMismatch)?)
            }
            (true, None) => return Err(malformed("chunk header lacks chunk-signature")),
            (false, Some(_)) => return Err(malformed("unsigned chunk header has extensions")),
            (false, None) => None,
        };
        Ok((n, signature))
    }

    fn on_data(&mut self, input: &mut &[u8], out: &mut Vec<u8>) {
        let take = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(input.len());
        let (data, rest) = input.split_at(take);
        *input = rest;
        // `take` fits in both types: it is at most `remaining`.
        self.remaining -= take as u64;
        if self.mode.is_signed() {
            self.chunk.extend_from_slice(data);
        } else {
            self.release(data, out);
        }
        if self.remaining == 0 {
            self.state = State::DataEnd;
        }
    }

    fn end_chunk(&mut self, out: &mut Vec<u8>) -> Result<(), BodyError> {
        if !self.mode.is_signed() {
            return Ok(());
        }
        self.verify_chunk(&Sha256::digest(&self.chunk).into())?;
        let chunk = std::mem::take(&mut self.chunk);
        self.release(&chunk, out);
        self.chunk = chunk;
        self.chunk.clear();
        Ok(())
    }

    fn verify_chunk(&mut self, data_hash: &[u8; 32]) -> Result<(), BodyError> {
        let announced = self.announced;
        let verified = self
            .verifier
            .as_mut()
            .is_some_and(|v| v.verify_chunk(data_hash, &announced));
        if verified {
            Ok(())
        } else {
            Err(BodyError::ChunkSignatureMismatch)
        }
    }

    fn release(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if let Some(c) = &mut self.checksum {
            c.update(data);
        }
        self.decoded = self.decoded.saturating_add(data.len() as u64);
        out.extend_from_slice(data);
    }

    /// Whether the trailer must still hold something: the signature of a
    /// signed body, or the checksum `x-amz-trailer` announced.
    fn trailer_expected(&self) -> bool {
        self.mode.is_signed() || self.options.trailer_checksum.is_some()
    }

    fn on_trailer_line(&mut self) -> Result<(), BodyError> {
        let malformed = |problem| BodyError::MalformedTrailer { problem };
        self.trailer_len += self.line.len() + 2;
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            // Some writers (and AWS's own worked example) put an empty line
            // between the final chunk and the trailer; while the trailer
            // still owes something, that line cannot be its end.
            if self.trailer_lines == 0 && !self.skipped_blank && self.trailer_expected() {
                self.skipped_blank = true;
                self.line = line;
                return Ok(());
            }
            self.line = line;
            return self.end_trailer();
        }
        self.trailer_lines += 1;
        let result = self.parse_trailer_line(&line);
        self.line = line;
        self.line.clear();
        result.map_err(|e| match e {
            Some(e) => e,
            None => malformed("trailing header is not name:value"),
        })
    }

    /// Records one `name:value` trailer line; `Err(None)` for a line that
    /// is not a header at all.
    fn parse_trailer_line(&mut self, line: &[u8]) -> Result<(), Option<BodyError>> {
        let malformed = |problem| Some(BodyError::MalformedTrailer { problem });
        if self.trailer_signature.is_some() {
            return Err(malformed("trailing header after x-amz-trailer-signature"));
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(None)?;
        let (name, value) = line.split_at(colon);
        let name = name.trim_ascii();
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if name.eq_ignore_ascii_case(b"x-amz-trailer-signature") {
            if !self.mode.is_signed() {
                return Err(malformed("trailer signature in an unsigned body"));
            }
            let signature = decode_hex32(value).ok_or(Some(BodyError::TrailerSignatureMismatch))?;
            self.trailer_signature = Some(signature);
            return Ok(());
        }
        let Some(algorithm) = self.options.trailer_checksum else {
            return Err(malformed("trailing header not announced by x-amz-trailer"));
        };
        if !name.eq_ignore_ascii_case(algorithm.header_name().as_bytes()) {
            return Err(malformed("trailing header not announced by x-amz-trailer"));
        }
        if self.trailer_value.is_some() {
            return Err(malformed("trailing header repeated"));
        }
        self.trailer_value = Some(value.to_vec());
        self.trailer_canonical
            .extend_from_slice(algorithm.header_name().as_bytes());
        self.trailer_canonical.push(b':');
        self.trailer_canonical.extend_from_slice(value);
        self.trailer_canonical.push(b'\n');
        Ok(())
    }

    fn end_trailer(&mut self) -> Result<(), BodyError> {
        if self.mode.is_signed() {
            let signature = self
                .trailer_signature
                .ok_or(BodyError::TrailerSignatureMismatch)?;
            let hash: [u8; 32] = Sha256::digest(&self.trailer_canonical).into();
            let verified = self
                .verifier
                .as_mut()
                .is_some_and(|v| v.verify_trailer(&hash, &signature));
            if !verified {
                return Err(BodyError::TrailerSignatureMismatch);
            }
        }
        if let Some(algorithm) = self.options.trailer_checksum {
            let value = self
                .trailer_value
                .as_deref()
                .ok_or(BodyError::MalformedTrailer {
                    problem: "the checksum x-amz-trailer announced is missing",
                })?;
            let expected = algorithm.decode_value(value)?;
            let computed = self
                .checksum
                .take()
                .unwrap_or_else(|| Checksum::new(algorithm))
                .finalize();
            if !bool::from(computed.bytes.ct_eq(&expected)) {
                return Err(BodyError::ChecksumMismatch {
                    algorithm: algorithm.name(),
                });
            }
            self.checksum_value = Some(computed);
        }
        self.state = State::Done;
        Ok(())
    }
}

impl fmt::Debug for ChunkedDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("mode", &self.mode)
            .field("options", &self.options)
            .field("state", &self.state)
            .field("decoded", &self.decoded)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
