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

/// What a single pattern turned out to be; the order is the order in which
/// [`GlobSet::is_match`] tries them, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Exact,
    Prefix,
    Glob,
}

/// One pattern of a [`GlobSet`]: a byte range of its text.
#[derive(Debug, Clone, Copy)]
struct Entry {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Reusable buffers for building [`GlobSet`]s, so that compiling a policy
/// allocates each set's storage once, at its final size.
#[derive(Debug, Default)]
pub(crate) struct GlobScratch {
    text: String,
    entries: Vec<Entry>,
}

/// Exact patterns up to this many are compared one by one; more are hashed.
const SCAN_EXACT: usize = 8;

/// Many patterns compiled into one matcher. The patterns share one string and
/// are classified once: exact strings, `prefix*`, and general globs.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobSet {
    any: bool,
    text: Box<str>,
    /// Sorted by kind.
    entries: Box<[Entry]>,
    /// Exact patterns when there are many (they are then not in `entries`).
    exact_set: FxHashSet<Box<str>>,
}

impl GlobSet {
    /// Compiles `patterns`, lower-cased first (as `str::to_lowercase`) when `lower`.
    pub(crate) fn build<'p>(
        patterns: impl Iterator<Item = &'p str>,
        lower: bool,
        scratch: &mut GlobScratch,
    ) -> Self {
        scratch.text.clear();
        scratch.entries.clear();
        let mut any = false;
        for pattern in patterns {
            let start = scratch.text.len();
            if !lower {
                scratch.text.push_str(pattern);
            } else if pattern.is_ascii() {
                scratch.text.push_str(pattern);
                if let Some(added) = scratch.text.get_mut(start..) {
                    added.make_ascii_lowercase();
                }
            } else {
                scratch.text.push_str(&pattern.to_lowercase());
            }
            let added = scratch.text.get(start..).unwrap_or_default();
            let end = scratch.text.len();
            if !added.is_empty() && added.bytes().all(|b| b == b'*') {
                any = true;
                scratch.text.truncate(start);
                continue;
            }
            let entry = match added.bytes().position(|b| b == b'*' || b == b'?') {
                None => Entry {
                    kind: Kind::Exact,
                    start,
                    end,
                },
                Some(i) if start + i + 1 == end && added.ends_with('*') => Entry {
                    kind: Kind::Prefix,
                    start,
                    end: start + i,
                },
                Some(_) => Entry {
                    kind: Kind::Glob,
                    start,
                    end,
                },
            };
            scratch.entries.push(entry);
        }
        let text = scratch.text.as_str();
        let mut exact_set = FxHashSet::default();
        let exact = scratch
            .entries
            .iter()
            .filter(|e| e.kind == Kind::Exact)
            .count();
        if exact > SCAN_EXACT {
            exact_set = scratch
                .entries
                .iter()
                .filter(|e| e.kind == Kind::Exact)
                .filter_map(|e| text.get(e.start..e.end))
                .map(Box::from)
                .collect();
            scratch.entries.retain(|e| e.kind != Kind::Exact);
        }
        scratch.entries.sort_unstable_by_key(|e| e.kind);
        Self {
            any,
            text: text.into(),
            entries: scratch.entries.as_slice().into(),
            exact_set,
        }
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        if self.any || (!self.exact_set.is_empty() && self.exact_set.contains(text)) {
            return true;
        }
        let all = self.text.as_bytes();
        let text = text.as_bytes();
        self.entries.iter().any(|e| {
            let Some(p) = all.get(e.start..e.end) else {
                return false;
            };
            match e.kind {
                Kind::Exact => p == text,
                Kind::Prefix => text.starts_with(p),
                Kind::Glob => match_tokens(p.len(), |i| wild_tok(p, i), text),
            }
        })
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
