//! A small JSON reader that keeps the byte position of every value.
//!
//! `serde_json` would accept the same language, but it forgets where each value
//! came from, and a policy error has to point at the offending element. The reader
//! is recursive with a hard depth limit, so hostile nesting is refused with an
//! error instead of exhausting the stack.

use std::borrow::Cow;
use std::hash::BuildHasher;

/// Deeper than any valid policy (root → Statement → [..] → Condition → operator
/// → key → [..] is seven) with ample room, yet far from any stack limit.
pub(crate) const MAX_DEPTH: usize = 32;

/// A half-open byte range into the policy text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Where the children of an array or object sit in the [`Doc`]'s flat storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Children {
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// Numbers are kept as written: IAM compares condition values as text or
    /// re-parses them per operator, so no precision may be lost here.
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Children),
    Object(Children),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node<'a> {
    pub(crate) value: Value<'a>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member<'a> {
    pub(crate) key: Cow<'a, str>,
    pub(crate) key_span: Span,
    pub(crate) value: Node<'a>,
}

/// A parsed document. Containers do not own their children: every array item
/// and object member lives in one of two flat vectors, so a whole policy costs
/// a handful of allocations instead of one per container.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub(crate) root: Node<'a>,
    items: Vec<Node<'a>>,
    members: Vec<Member<'a>>,
}

impl<'a> Doc<'a> {
    /// The items of an array; empty for any other value.
    pub(crate) fn items(&self, node: &Node<'a>) -> &[Node<'a>] {
        match node.value {
            Value::Array(c) => self.items.get(c.start..c.end).unwrap_or_default(),
            _ => &[],
        }
    }

    /// The members of an object; empty for any other value.
    pub(crate) fn members(&self, node: &Node<'a>) -> &[Member<'a>] {
        match node.value {
            Value::Object(c) => self.members.get(c.start..c.end).unwrap_or_default(),
            _ => &[],
        }
    }
}

/// Why the text is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) offset: usize,
    pub(crate) detail: &'static str,
}

impl<'a> Node<'a> {
    /// The text of a string value.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

pub(crate) fn parse(text: &str) -> Result<Doc<'_>, SyntaxError> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        // Compact policies run at roughly one array item per 32 bytes and one
        // member per 32; reserving up front avoids copying while growing.
        items: Vec::with_capacity(text.len() / 32),
        members: Vec::with_capacity(text.len() / 32),
        open_items: Vec::with_capacity(32),
        open_members: Vec::with_capacity(32),
    };
    reader.skip_ws();
    let root = reader.value(0)?;
    reader.skip_ws();
    if reader.pos != reader.bytes.len() {
        return Err(reader.error("unexpected text after the document"));
    }
    Ok(Doc {
        root,
        items: reader.items,
        members: reader.members,
    })
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Finished containers' children, each container's contiguous.
    items: Vec<Node<'a>>,
    members: Vec<Member<'a>>,
    /// Children of the containers still open, innermost last; a container
    /// moves its own from here to `items`/`members` when it closes.
    open_items: Vec<Node<'a>>,
    open_members: Vec<Member<'a>>,
}

impl<'a> Reader<'a> {
    fn error(&self, detail: &'static str) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            detail,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, detail: &'static str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(detail))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node<'a>, SyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nesting is too deep"));
        }
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.error("expected a value")),
            None => return Err(self.error("unexpected end of the document")),
        };
        Ok(Node {
            value,
            span: Span {
                start,
                end: self.pos,
            },
        })
    }

    fn literal(&mut self, word: &'static str, value: Value<'a>) -> Result<Value<'a>, SyntaxError> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        self.pos += 1;
        let base = self.open_members.len();
        // Small objects (all of a valid policy's) are checked for repeated names
        // by scanning; past that, hashes of the names keep the check linear, a
        // hash hit being confirmed by comparing names.
        let mut seen: Option<rustc_hash::FxHashSet<u64>> = None;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(self.close_object(base));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name in double quotes"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = Span {
                start: key_start,
                end: self.pos,
            };
            let members = self.open_members.get(base..).unwrap_or_default();
            // A repeated name makes the document ambiguous: parsers disagree on
            // which copy wins, and an authorisation decision must not depend on it.
            let repeated = if members.len() < 16 {
                members.iter().any(|m| m.key == key)
            } else {
                let set = seen.get_or_insert_with(|| {
                    members
                        .iter()
                        .map(|m| rustc_hash::FxBuildHasher.hash_one(&*m.key))
                        .collect()
                });
                !set.insert(rustc_hash::FxBuildHasher.hash_one(&*key))
                    && members.iter().any(|m| m.key == key)
            };
            if repeated {
                return Err(SyntaxError {
                    offset: key_start,
                    detail: "duplicate member name",
                });
            }
            self.skip_ws();
            self.expect(b':', "expected `:` after a member name")?;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            self.open_members.push(Member {
                key,
                key_span,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(self.close_object(base));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn close_object(&mut self, base: usize) -> Value<'a> {
        let start = self.members.len();
        self.members
            .extend(self.open_members.drain(base.min(self.open_members.len())..));
        Value::Object(Children {
            start,
            end: self.members.len(),
        })
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        self.pos += 1;
        let base = self.open_items.len();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(self.close_array(base));
        }
        loop {
            self.skip_ws();
            let item = self.value(depth + 1)?;
            self.open_items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(self.close_array(base));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn close_array(&mut self, base: usize) -> Value<'a> {
        let start = self.items.len();
        self.items
            .extend(self.open_items.drain(base.min(self.open_items.len())..));
        Value::Array(Children {
            start,
            end: self.items.len(),
        })
    }

    fn number(&mut self) -> Result<Value<'a>, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("malformed number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("malformed number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("malformed number"));
            }
            self.digits();
        }
        let text = self
            .text
            .get(start..self.pos)
            .ok_or_else(|| self.error("malformed number"))?;
        Ok(Value::Number(text))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: most policy strings have no escapes and borrow the input.
        // One tight scan finds the first byte that needs attention.
        self.pos += plain_run(self.bytes.get(start..).unwrap_or_default());
        match self.peek() {
            None => return Err(self.error("unterminated string")),
            Some(b'"') => {
                let s = self
                    .text
                    .get(start..self.pos)
                    .ok_or_else(|| self.error("malformed string"))?;
                self.pos += 1;
                return Ok(Cow::Borrowed(s));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.error("control character in a string")),
        }
        let mut out = String::from(
            self.text
                .get(start..self.pos)
                .ok_or_else(|| self.error("malformed string"))?,
        );
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(0..=0x1f) => return Err(self.error("control character in a string")),
                Some(_) => {
                    let run_start = self.pos;
                    while let Some(b) = self.peek() {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.push_str(
                        self.text
                            .get(run_start..self.pos)
                            .ok_or_else(|| self.error("malformed string"))?,
                    );
                }
            }
        }
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let b = self
            .peek()
            .ok_or_else(|| self.error("unterminated string"))?;
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                if (0xD800..0xDC00).contains(&first) {
                    if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(self.error("unpaired surrogate in a string"));
                    }
                    self.pos += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.error("unpaired surrogate in a string"));
                    }
                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    char::from_u32(code).ok_or_else(|| self.error("invalid escape"))?
                } else {
                    char::from_u32(first)
                        .ok_or_else(|| self.error("unpaired surrogate in a string"))?
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.error("invalid escape"));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut code = 0u32;
        for _ in 0..4 {
            let b = self
                .peek()
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            let digit = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }
}

/// Length of the leading run of `bytes` that a string can hold as is: up to
/// the first `"`, `\\` or control character. Eight bytes are tested at a time
/// with the classic "has a zero byte" word trick, which never misses one (the
/// byte loop then finds the exact position).
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
    let mut done = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk).map(u64::from_le_bytes) else {
            break;
        };
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        if found & HIGH != 0 {
            break;
        }
        done += 8;
    }
    let rest = bytes.get(done..).unwrap_or_default();
    done + rest.iter().position(|&b| special(b)).unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_values_with_spans() {
        let text = r#" {"a": [1, "x\u00e9", true, null], "b": {"c": -2.5e3}} "#;
        let doc = parse(text).unwrap();
        let members = doc.members(&doc.root);
        assert_eq!(members[0].key, "a");
        assert_eq!(
            &text[members[0].value.span.start..members[0].value.span.end],
            r#"[1, "x\u00e9", true, null]"#
        );
        let items = doc.items(&members[0].value);
        assert_eq!(items[1].as_str(), Some("xé"));
        let inner = doc.members(&members[1].value);
        assert_eq!(inner[0].value.value, Value::Number("-2.5e3"));
    }

    #[test]
    fn refuses_bad_documents() {
        for bad in [
            "",
            "{",
            "{\"a\":}",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "\"\\x\"",
            "{\"a\":1 \"b\":2}",
            "{} x",
            "{\"a\":1,\"a\":2}",
            "\"\\ud800\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_runs_stop_at_the_first_special_byte() {
        let naive = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        let samples: [&[u8]; 8] = [
            b"",
            b"abc",
            b"arn:aws:s3:::bucket/key\"rest",
            b"0123456789abcdef\\x",
            b"\x1f",
            "é\u{7f}ÿ 0123456789\"".as_bytes(),
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
            b"0123456789012345678901234567",
        ];
        for s in samples {
            assert_eq!(plain_run(s), naive(s), "{s:?}");
        }
        for i in 0..=255u8 {
            let mut s = *b"abcdefghijklmnop";
            s[9] = i;
            assert_eq!(plain_run(&s), naive(&s), "{i}");
        }
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse(&deep).unwrap_err().detail, "nesting is too deep");
    }
}
