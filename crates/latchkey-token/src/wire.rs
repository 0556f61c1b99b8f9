//! Length-prefixed binary primitives: a sink that either writes or only
//! counts (so the exact size is known before allocating), and a checked
//! reader cursor in the style of rustls's `codec::Reader`.

use crate::TokenError;

/// Where encoded bytes go; counting and writing share one encoder so the
/// pre-computed size cannot drift from what is written.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    fn put_u8(&mut self, byte: u8);
}

/// Counts bytes without storing them.
#[derive(Debug, Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
    fn put_u8(&mut self, _: u8) {
        self.0 = self.0.saturating_add(1);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_u8(&mut self, byte: u8) {
        self.push(byte);
    }
}

/// LEB128: lengths and time deltas are small, so most take one to three
/// bytes instead of eight.
pub(crate) fn put_varint<S: Sink>(sink: &mut S, mut value: u64) {
    while value >= 0x80 {
        sink.put_u8((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    sink.put_u8(value as u8);
}

/// Zigzag keeps small negative numbers (a malformed or clock-skewed delta)
/// as short as small positive ones.
pub(crate) fn put_signed<S: Sink>(sink: &mut S, value: i64) {
    put_varint(sink, ((value << 1) ^ (value >> 63)) as u64);
}

pub(crate) fn put_str<S: Sink>(sink: &mut S, s: &str) {
    put_varint(sink, s.len() as u64);
    sink.put(s.as_bytes());
}

/// A cursor that never reads past its slice: every accessor returns
/// `Malformed` instead.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], TokenError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(TokenError::Malformed)?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, TokenError> {
        let (&byte, tail) = self.rest.split_first().ok_or(TokenError::Malformed)?;
        self.rest = tail;
        Ok(byte)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, TokenError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            let low = u64::from(byte & 0x7f);
            // The tenth byte may carry only the top bit of a u64.
            if shift == 63 && low > 1 {
                return Err(TokenError::Malformed);
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return Err(TokenError::Malformed);
            }
        }
    }

    pub(crate) fn signed(&mut self) -> Result<i64, TokenError> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A length that must fit in what is left, so a forged count cannot
    /// drive a large allocation.
    pub(crate) fn len(&mut self) -> Result<usize, TokenError> {
        let n = usize::try_from(self.varint()?).map_err(|_| TokenError::Malformed)?;
        if n > self.rest.len() {
            return Err(TokenError::Malformed);
        }
        Ok(n)
    }

    pub(crate) fn string(&mut self) -> Result<String, TokenError> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_edges() {
        for v in [
            0,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut counter = Counter::default();
            put_varint(&mut counter, v);
            assert_eq!(counter.0, buf.len());
            let mut r = Reader::new(&buf);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn signed_round_trips_edges() {
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            i64::MIN,
            i64::MAX,
            1_700_000_000,
            -1_700_000_000,
        ] {
            let mut buf = Vec::new();
            put_signed(&mut buf, v);
            assert_eq!(Reader::new(&buf).signed().unwrap(), v);
        }
    }

    #[test]
    fn varint_refuses_overflow_and_truncation() {
        // Eleven continuation bytes, and a tenth byte carrying more than one bit.
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert!(Reader::new(&too_big).varint().is_err());
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[]).varint().is_err());
    }

    #[test]
    fn len_is_bounded_by_remaining_input() {
        let mut r = Reader::new(&[0x05, 1, 2, 3]);
        assert_eq!(r.len(), Err(TokenError::Malformed));
        let mut r = Reader::new(&[0x02, b'h', b'i']);
        assert_eq!(r.string().unwrap(), "hi");
        let mut r = Reader::new(&[0x02, 0xff, 0xfe]);
        assert_eq!(r.string(), Err(TokenError::Malformed));
    }
}
