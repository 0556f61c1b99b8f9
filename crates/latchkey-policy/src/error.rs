//! The one error type of the crate, carrying AWS's wire code and message.

use std::borrow::Cow;
use std::fmt;

/// Where in the policy text an error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Byte offset from the start of the text.
    pub offset: usize,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Location {
    pub(crate) fn in_text(text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let mut line = 1;
        let mut line_start = 0;
        for (i, b) in text.bytes().enumerate().take(offset) {
            if b == b'\n' {
                line += 1;
                line_start = i + 1;
            }
        }
        let column = text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count())
            + 1;
        Self {
            offset,
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The AWS error class a [`PolicyError`] belongs to.
///
/// Not `#[non_exhaustive]` on purpose: the server maps each kind onto its
/// own error codes, and a kind added here should break that mapping at
/// compile time rather than fall into a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ErrorKind {
    /// The document is not a valid policy (IAM `MalformedPolicyDocument`, HTTP 400).
    MalformedPolicyDocument,
    /// The document is larger than the quota that applies to it (IAM `LimitExceeded`, HTTP 409).
    LimitExceeded,
    /// A session policy passed to STS is too long (STS `PackedPolicyTooLarge`, HTTP 400).
    PackedPolicyTooLarge,
}

/// A policy document that IAM would refuse.
///
/// [`aws_message`](Self::aws_message) is the exact text AWS answers with, so the
/// server can put it on the wire unchanged; [`detail`](Self::detail) and
/// [`location`](Self::location) are latchkey's own additions for people and tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    kind: ErrorKind,
    message: Cow<'static, str>,
    detail: Option<Cow<'static, str>>,
    location: Option<Location>,
}

impl PolicyError {
    pub(crate) fn malformed(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: ErrorKind::MalformedPolicyDocument,
            message: message.into(),
            detail: None,
            location: None,
        }
    }

    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            detail: None,
            location: None,
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn at(mut self, text: &str, offset: usize) -> Self {
        self.location = Some(Location::in_text(text, offset));
        self
    }

    /// The error class.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// AWS's error code: `MalformedPolicyDocument`, `LimitExceeded` or `PackedPolicyTooLarge`.
    pub fn aws_code(&self) -> &'static str {
        match self.kind {
            ErrorKind::MalformedPolicyDocument => "MalformedPolicyDocument",
            ErrorKind::LimitExceeded => "LimitExceeded",
            ErrorKind::PackedPolicyTooLarge => "PackedPolicyTooLarge",
        }
    }

    /// The HTTP status AWS answers this error with.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            ErrorKind::MalformedPolicyDocument | ErrorKind::PackedPolicyTooLarge => 400,
            ErrorKind::LimitExceeded => 409,
        }
    }

    /// The message exactly as AWS words it.
    pub fn aws_message(&self) -> &str {
        &self.message
    }

    /// latchkey's own explanation, when AWS's message is too vague to act on
    /// (for example what exactly was wrong behind "Syntax errors in policy.").
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Where the error is, when it concerns one place in the text.
    pub fn location(&self) -> Option<Location> {
        self.location
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.aws_code(), self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        if let Some(location) = &self.location {
            write!(f, " at {location}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "{\n  \"é\": x";
        let loc = Location::in_text(text, text.find('x').unwrap());
        assert_eq!((loc.line, loc.column), (2, 8));
    }
}
