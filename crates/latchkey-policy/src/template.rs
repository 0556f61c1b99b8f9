//! Policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'none'}`) and
//! the escapes `${*}`, `${?}`, `${$}`.
//!
//! A template is split into pieces once, at compile time. At request time the
//! pieces are resolved against the context into borrowed segments (no string is
//! built) and matched segment by segment: wildcards stay active only in the text
//! the policy author wrote, never in substituted values or escapes.

use crate::context::Context;
use crate::glob::{Tok, match_tokens};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text from the policy; `*` and `?` in it are wildcards where the element allows them.
    Text(Box<str>),
    /// Text that is always literal (an escape).
    Literal(&'static str),
    /// A variable: lower-cased key and optional default.
    Var {
        key: Box<str>,
        default: Option<Box<str>>,
    },
}

/// Whether `text` contains `${` (a cheaper test than a substring search on the
/// short strings policies are made of).
pub(crate) fn has_variable(text: &str) -> bool {
    text.as_bytes().windows(2).any(|w| w == b"${")
}

/// A string value that may contain policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    /// A `Vec` sized up front rather than a boxed slice, which would mean a
    /// second allocation to shrink it.
    pieces: Vec<Piece>,
}

impl Template {
    /// Splits `text` into pieces; with `variables` false (policy Version
    /// 2008-10-17 or none) the whole text is one literal piece.
    pub(crate) fn parse(text: &str, variables: bool) -> Self {
        if !variables || !has_variable(text) {
            return Self {
                pieces: vec![Piece::Text(text.into())],
            };
        }
        let bytes = text.as_bytes();
        // Each `${` adds at most a variable and the text before it.
        let openings = bytes.windows(2).filter(|w| *w == b"${").count();
        let mut pieces = Vec::with_capacity(2 * openings + 1);
        // Literal text runs from `text_start`; a malformed `${` stays part of it,
        // so every text piece is one slice of the original.
        let mut text_start = 0;
        let mut search = 0;
        while let Some(start) = bytes
            .get(search..)
            .and_then(|rest| rest.windows(2).position(|w| w == b"${"))
            .map(|i| search + i)
        {
            let body_start = start + 2;
            let parsed = bytes
                .get(body_start..)
                .and_then(|rest| rest.iter().position(|&b| b == b'}'))
                .and_then(|len| {
                    let body = text.get(body_start..body_start + len)?;
                    Some((parse_body(body)?, body_start + len))
                });
            match parsed {
                Some((piece, close)) => {
                    if text_start < start {
                        pieces.push(Piece::Text(
                            text.get(text_start..start).unwrap_or_default().into(),
                        ));
                    }
                    pieces.push(piece);
                    text_start = close + 1;
                    search = close + 1;
                }
                // Not a well-formed variable: IAM keeps such text as written.
                None => search = body_start,
            }
        }
        if text_start < text.len() {
            pieces.push(Piece::Text(
                text.get(text_start..).unwrap_or_default().into(),
            ));
        }
        Self { pieces }
    }

    /// The plain text when the template has no variables and no escapes.
    pub(crate) fn as_plain(&self) -> Option<&str> {
        match &*self.pieces {
            [Piece::Text(t)] => Some(t),
            [] => Some(""),
            _ => None,
        }
    }

    /// Substitutes variables; `None` when a variable has neither a value nor a default.
    pub(crate) fn resolve<'a>(&'a self, ctx: &'a Context) -> Option<Resolved<'a>> {
        let mut out = Resolved::default();
        for piece in &*self.pieces {
            let seg = match piece {
                Piece::Text(t) => Seg {
                    text: t,
                    wild: true,
                },
                Piece::Literal(t) => Seg {
                    text: t,
                    wild: false,
                },
                Piece::Var { key, default } => Seg {
                    text: ctx.single_lower(key).or(default.as_deref())?,
                    wild: false,
                },
            };
            out.push(seg);
        }
        Some(out)
    }
}

fn parse_body(body: &str) -> Option<Piece> {
    match body {
        "*" => return Some(Piece::Literal("*")),
        "?" => return Some(Piece::Literal("?")),
        "$" => return Some(Piece::Literal("$")),
        _ => {}
    }
    let (key, default) = match body.split_once(',') {
        None => (body.trim(), None),
        Some((key, default)) => {
            let default = default.trim();
            let inner = default.strip_prefix('\'')?.strip_suffix('\'')?;
            if inner.contains('\'') {
                return None;
            }
            (key.trim(), Some(inner.into()))
        }
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some(Piece::Var {
        key: key.to_lowercase().into(),
        default,
    })
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg<'a> {
    text: &'a str,
    wild: bool,
}

const INLINE: usize = 8;

/// Resolved segments; the common case (few pieces) lives on the stack.
#[derive(Debug, Default)]
pub(crate) struct Resolved<'a> {
    inline: [Option<Seg<'a>>; INLINE],
    spill: Vec<Seg<'a>>,
    count: usize,
    len: usize,
}

impl<'a> Resolved<'a> {
    fn push(&mut self, seg: Seg<'a>) {
        self.len += seg.text.len();
        match self.inline.get_mut(self.count) {
            Some(slot) => *slot = Some(seg),
            None => self.spill.push(seg),
        }
        self.count += 1;
    }

    fn segs(&self) -> impl Iterator<Item = &Seg<'a>> {
        self.inline.iter().flatten().chain(self.spill.iter())
    }

    /// Total length in bytes of the substituted text.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The token at byte position `pos` of the substituted text.
    pub(crate) fn tok(&self, mut pos: usize) -> Tok {
        for seg in self.segs() {
            if let Some(&b) = seg.text.as_bytes().get(pos) {
                return match (seg.wild, b) {
                    (true, b'*') => Tok::Star,
                    (true, b'?') => Tok::One,
                    _ => Tok::Byte(b),
                };
            }
            pos -= seg.text.len();
        }
        Tok::Byte(0)
    }

    fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.segs().flat_map(|s| s.text.chars())
    }

    /// Exact comparison with the substituted text (wildcards are plain characters).
    pub(crate) fn equals(&self, text: &str) -> bool {
        self.len == text.len() && self.segs().flat_map(|s| s.text.bytes()).eq(text.bytes())
    }

    /// Comparison ignoring case (Unicode simple lower-casing).
    pub(crate) fn equals_ignore_case(&self, text: &str) -> bool {
        self.chars()
            .flat_map(char::to_lowercase)
            .eq(text.chars().flat_map(char::to_lowercase))
    }

    /// Wildcard match with `*` and `?` active only in policy-written text.
    pub(crate) fn glob(&self, text: &str) -> bool {
        match_tokens(self.len, |i| self.tok(i), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_variables_defaults_and_escapes() {
        let t = Template::parse(
            "arn:aws:s3:::b/${aws:username}/${*}${aws:PrincipalTag/Team, 'none'}",
            true,
        );
        assert_eq!(
            &*t.pieces,
            &[
                Piece::Text("arn:aws:s3:::b/".into()),
                Piece::Var {
                    key: "aws:username".into(),
                    default: None
                },
                Piece::Text("/".into()),
                Piece::Literal("*"),
                Piece::Var {
                    key: "aws:principaltag/team".into(),
                    default: Some("none".into())
                },
            ]
        );
        let ctx = Context::new().with("aws:username", "al*ce");
        let r = t.resolve(&ctx).unwrap();
        assert!(r.equals("arn:aws:s3:::b/al*ce/*none"));
        assert!(r.glob("arn:aws:s3:::b/al*ce/*none"));
        assert!(!r.glob("arn:aws:s3:::b/alice/*none"));
        assert!(
            Template::parse("${aws:username}", true)
                .resolve(&Context::new())
                .is_none()
        );
    }

    #[test]
    fn old_version_keeps_text() {
        let t = Template::parse("a/${aws:username}", false);
        assert_eq!(t.as_plain(), Some("a/${aws:username}"));
        assert_eq!(
            Template::parse("a/${oops", true).as_plain(),
            Some("a/${oops")
        );
    }
}
