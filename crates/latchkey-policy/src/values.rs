//! Parsing of typed condition values: numbers, dates, IP ranges, base64.
//!
//! Each parser returns `None` for text it does not understand; the operator
//! then treats that value as not matching, so a wrongly typed value can never
//! grant access by accident nor panic.

use std::net::IpAddr;

/// A decimal number as IAM's numeric operators read it (integers or decimals,
/// optionally with an exponent). `inf`, `NaN` and hex are refused.
pub(crate) fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// An instant as nanoseconds since the Unix epoch, from ISO 8601
/// (`2024-01-02`, `2024-01-02T03:04:05Z`, `2024-01-02T03:04:05.123+02:00`, ...)
/// or from epoch seconds (`1704164645`).
pub(crate) fn date(text: &str) -> Option<i128> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i128 = t.parse().ok()?;
        // Java's long bound: IAM refuses larger epoch values as a legacy-parsing error.
        if secs > i128::from(i64::MAX) {
            return None;
        }
        return Some(secs * 1_000_000_000);
    }
    iso8601(t)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(d - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(v)
    }
}

fn iso8601(t: &str) -> Option<i128> {
    let mut c = Cursor {
        b: t.as_bytes(),
        i: 0,
    };
    let negative = c.eat(b'-');
    let year = c.digits(4, 9)?;
    let year = if negative { -year } else { year };
    let (mut month, mut day) = (1, 1);
    if c.eat(b'-') {
        month = c.digits(2, 2)?;
        if c.eat(b'-') {
            day = c.digits(2, 2)?;
        }
    }
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let (mut hour, mut minute, mut second, mut nanos) = (0i64, 0i64, 0i64, 0i64);
    let mut offset_minutes = 0i64;
    if c.eat(b'T') || c.eat(b't') {
        hour = c.digits(2, 2)?;
        if c.eat(b':') {
            minute = c.digits(2, 2)?;
            if c.eat(b':') {
                second = c.digits(2, 2)?;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.i;
                    let frac = c.digits(1, 9)?;
                    let n = c.i - start;
                    nanos = frac * 10i64.pow(u32::try_from(9 - n).ok()?);
                    // Finer than nanoseconds: ignored rather than refused.
                    while matches!(c.peek(), Some(b'0'..=b'9')) {
                        c.i += 1;
                    }
                }
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        match c.peek() {
            Some(b'Z' | b'z') => c.i += 1,
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let h = c.digits(2, 2)?;
                c.eat(b':');
                let m = c.digits(2, 2).unwrap_or(0);
                if h > 23 || m > 59 {
                    return None;
                }
                offset_minutes = (h * 60 + m) * if sign == b'-' { -1 } else { 1 };
            }
            _ => {}
        }
    } else if c.eat(b'Z') || c.eat(b'z') {
    }
    if c.i != c.b.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = i128::from(days) * 86_400
        + i128::from(hour * 3600 + minute * 60 + second - offset_minutes * 60);
    Some(secs * 1_000_000_000 + i128::from(nanos))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An IPv4 or IPv6 range in CIDR notation; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
            None => (text, None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => {
                let bits = bits.unwrap_or(32);
                if bits > 32 {
                    return None;
                }
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                Some(Self::V4 {
                    net: u32::from(a) & mask,
                    mask,
                })
            }
            IpAddr::V6(a) => {
                let bits = bits.unwrap_or(128);
                if bits > 128 {
                    return None;
                }
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Some(Self::V6 {
                    net: u128::from(a) & mask,
                    mask,
                })
            }
        }
    }

    /// Evaluation reads the request's address once ([`request_ip`]) and then
    /// calls [`Self::contains_ip`] per range; this is the same test in one step.
    #[cfg(test)]
    pub(crate) fn contains(&self, text: &str) -> bool {
        request_ip(text).is_some_and(|ip| self.contains_ip(ip))
    }

    /// Whether the range holds an address read by [`request_ip`].
    pub(crate) fn contains_ip(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4 { net, mask }, IpAddr::V4(a)) => u32::from(a) & mask == *net,
            (Self::V6 { net, mask }, IpAddr::V6(a)) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}

/// A request's address as the IP operators compare it; read once per request
/// value rather than once per range.
pub(crate) fn request_ip(text: &str) -> Option<IpAddr> {
    let ip = text.trim().parse::<IpAddr>().ok()?;
    // An IPv4 client seen through an IPv6 socket arrives as ::ffff:a.b.c.d.
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// Standard base64 (padding optional); `None` for anything else.
pub(crate) fn base64(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in t.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // A single leftover sextet cannot encode a byte.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(date("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(date("86400"), Some(86_400_000_000_000));
        assert_eq!(date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            date("2020-02-29T12:00:00.5Z").map(|n| n % 1_000_000_000),
            Some(500_000_000)
        );
        assert_eq!(date("2021-02-29"), None);
        assert_eq!(date("sdfdsf"), None);
        assert_eq!(date("2016-12-13t2:00:00"), None);
        assert!(date("2017-07-01T00:00:00Z").unwrap() < date("2017-12-31T23:59:59Z").unwrap());
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.7"));
        assert!(c.contains("::ffff:203.0.113.7"));
        assert!(!c.contains("203.0.114.7"));
        assert!(!c.contains("not an ip"));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1"));
        assert!(!v6.contains("203.0.113.7"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("1.2.3.4"));
        assert_eq!(Cidr::parse("1.2.3.4/33"), None);
    }

    #[test]
    fn numbers_and_base64() {
        assert_eq!(number("10"), Some(10.0));
        assert_eq!(number("1e3"), Some(1000.0));
        assert_eq!(number("NaN"), None);
        assert_eq!(number("inf"), None);
        assert_eq!(base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64("a"), None);
        assert_eq!(base64("!!"), None);
    }
}
