//! IAM wildcards (`*` any run of characters, `?` exactly one character).
//!
//! Patterns are classified once, when a policy is compiled: exact strings go to a
//! hash set, `prefix*` to a prefix list, and only the rest to the general matcher.
//! The general matcher is the classic two-pointer algorithm that remembers only
//! the most recent `*`; it runs in O(pattern × text) in the worst case and never
//! backtracks exponentially, whatever the pattern.

use rustc_hash::FxHashSet;

/// One element of a pattern as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A byte that must appear as is.
    Byte(u8),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character (not byte).
    One,
}

/// Length of the UTF-8 sequence that starts with `b`.
fn char_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Matches `text` against the `len` tokens produced by `tok`.
///
/// `text` must be valid UTF-8 so that `?` and `*` step over whole characters.
pub(crate) fn match_tokens(len: usize, tok: impl Fn(usize) -> Tok, text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Pattern position just after the last `*`, and the text position it was
    // tried against; on a mismatch the star swallows one more character.
    let mut resume: Option<(usize, usize)> = None;
    while let Some(&byte) = text.get(t) {
        if p < len {
            match tok(p) {
                Tok::Star => {
                    p += 1;
                    resume = Some((p, t));
                    continue;
                }
                Tok::One => {
                    p += 1;
                    t += char_len(byte);
                    continue;
                }
                Tok::Byte(b) if b == byte => {
                    p += 1;
                    t += 1;
                    continue;
                }
                Tok::Byte(_) => {}
            }
        }
        match resume {
            Some((rp, rt)) => {
                let next = rt + text.get(rt).map_or(1, |&b| char_len(b));
                resume = Some((rp, next));
                p = rp;
                t = next;
            }
            None => return false,
        }
    }
    while p < len && tok(p) == Tok::Star {
        p += 1;
    }
    p == len
}

/// Byte-wise tokens of a pattern in which `*` and `?` are wildcards.
pub(crate) fn wild_tok(pattern: &[u8], i: usize) -> Tok {
    match pattern.get(i) {
        Some(b'*') => Tok::Star,
        Some(b'?') => Tok::One,
        Some(&b) => Tok::Byte(b),
        None => Tok::Byte(0),
    }
}

/// Matches `text` against `pattern` with IAM wildcards, case-sensitively.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    match_tokens(p.len(), |i| wild_tok(p, i), text.as_bytes())
}

/// A pattern that has at least one wildcard.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    pattern: Box<str>,
}

impl Glob {
    pub(crate) fn is_match(&self, text: &str) -> bool {
        wildcard_match(&self.pattern, text)
    }
}

/// What a single pattern turned out to be.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    Glob(Glob),
}

pub(crate) fn classify(pattern: String) -> Kind {
    if pattern.bytes().all(|b| b == b'*') && !pattern.is_empty() {
        return Kind::Any;
    }
    let first_wild = pattern.find(['*', '?']);
    match first_wild {
        None => Kind::Exact(pattern.into_boxed_str()),
        Some(i) if i + 1 == pattern.len() && pattern.ends_with('*') => {
            let mut prefix = pattern;
            prefix.truncate(i);
            Kind::Prefix(prefix.into_boxed_str())
        }
        Some(_) => Kind::Glob(Glob {
            pattern: pattern.into_boxed_str(),
        }),
    }
}

/// Many patterns compiled into one matcher.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobSet {
    any: bool,
    /// Exact patterns; a short list is scanned, a long one is hashed.
    exact: Vec<Box<str>>,
    exact_set: FxHashSet<Box<str>>,
    prefixes: Vec<Box<str>>,
    globs: Vec<Glob>,
}

impl GlobSet {
    pub(crate) fn add(&mut self, pattern: String) {
        match classify(pattern) {
            Kind::Any => self.any = true,
            Kind::Exact(s) => {
                if !self.exact_set.is_empty() {
                    self.exact_set.insert(s);
                } else if self.exact.len() < 8 {
                    self.exact.push(s);
                } else {
                    self.exact_set = self.exact.drain(..).collect();
                    self.exact_set.insert(s);
                }
            }
            Kind::Prefix(p) => self.prefixes.push(p),
            Kind::Glob(g) => self.globs.push(g),
        }
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.any
            || self.exact.iter().any(|e| **e == *text)
            || (!self.exact_set.is_empty() && self.exact_set.contains(text))
            || self.prefixes.iter().any(|p| text.starts_with(&**p))
            || self.globs.iter().any(|g| g.is_match(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(wildcard_match("a?c", "aéc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*x*y*", "axxbyy"));
        assert!(!wildcard_match("*x*y", "axxbyyz"));
        assert!(wildcard_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/k/x"));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("é*", "éa"));
    }

    #[test]
    fn pathological_patterns_stay_linearish() {
        let text = "a".repeat(5000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!wildcard_match(&pattern, &text));
    }
}
