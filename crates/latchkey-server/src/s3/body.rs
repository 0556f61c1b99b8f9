//! The request body, checked as it streams: against the signed SHA-256,
//! the aws-chunked chunk signatures, length and trailing checksum, or an
//! `x-amz-checksum-*` header.
//!
//! Whatever the check, the last piece of the body is held back until the
//! whole body has passed it. The upstream therefore never receives a
//! complete body that failed: a failure ends the upstream request short of
//! its `Content-Length`, and S3-compatible stores store nothing from an
//! incomplete request.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use latchkey_sigv4::{BodyError, ChecksumCheck, ChunkedDecoder, Sha256Check};

use crate::{ApiError, ErrorCode};

/// What the body must pass.
#[derive(Debug)]
pub enum Check {
    /// Nothing beyond an optional `x-amz-checksum-*` header.
    Unsigned(Option<ChecksumCheck>),
    /// The signed SHA-256, and an optional checksum header.
    Sha256(Sha256Check, Option<ChecksumCheck>),
    /// aws-chunked.
    Chunked(Box<ChunkedDecoder>),
}

impl Check {
    /// Takes the next piece of the body; what may be passed on.
    fn feed(&mut self, data: &[u8]) -> Result<Bytes, BodyError> {
        match self {
            Self::Unsigned(sum) => {
                if let Some(s) = sum {
                    s.update(data);
                }
                Ok(Bytes::copy_from_slice(data))
            }
            Self::Sha256(h, sum) => {
                h.update(data);
                if let Some(s) = sum {
                    s.update(data);
                }
                Ok(Bytes::copy_from_slice(data))
            }
            Self::Chunked(d) => {
                let mut out = Vec::with_capacity(data.len());
                d.feed(data, &mut out)?;
                Ok(Bytes::from(out))
            }
        }
    }

    /// The body has ended: did it pass?
    fn finish(self) -> Result<(), BodyError> {
        match self {
            Self::Unsigned(sum) => sum.map_or(Ok(()), |s| s.finish().map(drop)),
            Self::Sha256(h, sum) => {
                h.finish()?;
                sum.map_or(Ok(()), |s| s.finish().map(drop))
            }
            Self::Chunked(mut d) => d.finish().map(drop),
        }
    }
}

/// Where a streamed check leaves its failure for the handler, which learns
/// of it only as an aborted upstream request.
#[derive(Debug, Clone, Default)]
pub struct Failure(Arc<Mutex<Option<ApiError>>>);

impl Failure {
    fn set(&self, e: ApiError) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(e);
        }
    }

    /// The failure, if the body failed its check.
    pub fn take(&self) -> Option<ApiError> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// S3's error for a body that failed.
pub fn body_error(e: &BodyError) -> ApiError {
    use latchkey_sigv4::BodyCode as C;
    let code = match e.s3_code() {
        C::SignatureDoesNotMatch => ErrorCode::SignatureDoesNotMatch,
        C::IncompleteBody => ErrorCode::IncompleteBody,
        C::InvalidRequest => ErrorCode::InvalidRequest,
        C::MalformedTrailerError => ErrorCode::MalformedTrailerError,
        C::BadDigest => ErrorCode::BadDigest,
        C::XAmzContentSHA256Mismatch => ErrorCode::XAmzContentSHA256Mismatch,
    };
    ApiError::of(code, e.message())
}

fn incomplete() -> ApiError {
    ApiError::of(ErrorCode::IncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
}

struct Stream {
    input: axum::body::BodyDataStream,
    check: Option<Check>,
    held: Option<Bytes>,
    failure: Failure,
}

/// `body`, passed on piece by piece as it passes `check`, the last piece
/// only once the whole has; a failure is left in `failure` and ends the
/// stream with an error.
pub fn checked(body: Body, check: Check, failure: Failure) -> Body {
    let state = Stream { input: body.into_data_stream(), check: Some(check), held: None, failure };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        loop {
            let Some(check) = s.check.as_mut() else {
                // Finished: release what was held, then end.
                return s.held.take().map(|b| (Ok::<_, std::io::Error>(b), s));
            };
            match s.input.next().await {
                Some(Ok(data)) => match check.feed(&data) {
                    Ok(out) if out.is_empty() => {}
                    Ok(out) => {
                        if let Some(previous) = s.held.replace(out) {
                            return Some((Ok(previous), s));
                        }
                    }
                    Err(e) => return Some(fail(&mut s, body_error(&e))),
                },
                Some(Err(_)) => return Some(fail(&mut s, incomplete())),
                None => {
                    let check = s.check.take()?;
                    if let Err(e) = check.finish() {
                        return Some(fail(&mut s, body_error(&e)));
                    }
                }
            }
        }
    });
    Body::from_stream(stream)
}

fn fail(s: &mut Stream, e: ApiError) -> (Result<Bytes, std::io::Error>, Stream) {
    s.held = None;
    s.check = None;
    s.failure.set(e);
    let state = Stream {
        input: Body::empty().into_data_stream(),
        check: None,
        held: None,
        failure: s.failure.clone(),
    };
    (Err(std::io::Error::other("the request body failed its check")), state)
}

/// Reads a small body whole (a bucket policy, a DeleteObjects list),
/// checked, refusing more than `limit` bytes.
pub async fn collect(body: Body, mut check: Check, limit: usize) -> Result<Bytes, ApiError> {
    let mut input = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(piece) = input.next().await {
        let piece = piece.map_err(|_| incomplete())?;
        let passed = check.feed(&piece).map_err(|e| body_error(&e))?;
        if out.len() + passed.len() > limit {
            return Err(ApiError::of(ErrorCode::EntityTooLarge, "Your proposed upload exceeds the maximum allowed size"));
        }
        out.extend_from_slice(&passed);
    }
    check.finish().map_err(|e| body_error(&e))?;
    Ok(Bytes::from(out))
}
