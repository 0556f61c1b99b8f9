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

/// An instant as nanoseconds since the Unix epoch, as IAM reads the values of
/// the `Date` operators.
///
/// AWS asks for "one of the W3C implementations of the ISO 8601 date formats"
/// or epoch (UNIX) time [UG: reference_policies_elements_condition_operators].
/// What IAM accepts is wider than the W3C profile: its answers to `CreatePolicy`
/// (recorded by LocalStack's AWS-validated policy suite, the same cases as
/// moto's) accept `01T`, `2016-12-13t2:00:00.593194+23` and `-292275054`, and
/// refuse `+1` as an offset and ten fraction digits. That is exactly the ISO
/// grammar of Joda-Time's `ISODateTimeFormat.dateTimeParser()`, which this
/// follows:
///
/// ```text
/// datetime      = time | date-opt-time
/// time          = 'T' time-element [offset]
/// date-opt-time = date-element ['T' [time-element] [offset]]
/// date-element  = yyyy ['-' MM ['-' dd]] | yyyy '-' DDD | xxxx '-W' ww ['-' e]
/// time-element  = HH [':' mm [':' ss [fraction] | fraction] | fraction]
/// fraction      = ('.' | ',') digit{1,9}
/// offset        = 'Z' | ('+' | '-') HH [[':'] mm [[':'] ss [('.' | ',') SSS]]]
/// ```
///
/// Numbers take one digit up to their width (a year up to nine, with an
/// optional sign), `T` and `Z` either case, and a value without an offset is
/// UTC. Times are kept to the millisecond, as Joda-Time keeps them. A value of
/// digits only is epoch seconds (`1704164645`), up to Java's `long`.
pub(crate) fn date(text: &str) -> Option<i128> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i128 = t.parse().ok()?;
        // Java's long bound: IAM refuses larger epoch values as a legacy-parsing error.
        if secs > i128::from(i64::MAX) {
            return None;
        }
        return Some(secs * NANOS_PER_SEC);
    }
    iso8601(t)
}

const NANOS_PER_SEC: i128 = 1_000_000_000;
const NANOS_PER_MILLI: i128 = 1_000_000;
/// Joda-Time's ISO chronology covers these years.
const YEARS: std::ops::RangeInclusive<i64> = -292_275_054..=292_278_993;

#[derive(Clone)]
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
    /// One ASCII letter, either case.
    fn eat_letter(&mut self, c: u8) -> bool {
        if self.peek().is_some_and(|p| p.eq_ignore_ascii_case(&c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn at_digit(&self) -> bool {
        self.peek().is_some_and(|b| b.is_ascii_digit())
    }
    /// Between `min` and `max` digits (as many as there are, up to `max`).
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
    /// An optionally signed number of one to `max` digits.
    fn signed(&mut self, max: usize) -> Option<i64> {
        let negative = if self.eat(b'-') {
            true
        } else {
            self.eat(b'+');
            false
        };
        let v = self.digits(1, max)?;
        Some(if negative { -v } else { v })
    }
    /// `.` or `,` and one to nine digits, as a fraction of `unit` nanoseconds.
    /// A tenth digit is left unread, so the value fails as a whole.
    fn fraction(&mut self, unit: i128) -> Option<i128> {
        let save = self.i;
        if !(self.eat(b'.') || self.eat(b',')) {
            return None;
        }
        let start = self.i;
        let Some(frac) = self.digits(1, 9) else {
            self.i = save;
            return None;
        };
        let scale = 10i128.pow(u32::try_from(self.i - start).ok()?);
        Some(i128::from(frac) * unit / scale)
    }
}

/// A date element as read, before its fields are checked.
#[derive(Clone, Copy)]
enum DateFields {
    Calendar { year: i64, month: i64, day: i64 },
    Ordinal { year: i64, day: i64 },
    Week { year: i64, week: i64, weekday: i64 },
}

impl DateFields {
    /// Days since 1970-01-01, when every field is in range.
    fn days(self) -> Option<i64> {
        match self {
            Self::Calendar { year, month, day } => (YEARS.contains(&year)
                && (1..=12).contains(&month)
                && (1..=days_in_month(year, month)).contains(&day))
            .then(|| days_from_civil(year, month, day)),
            Self::Ordinal { year, day } => {
                let len = if is_leap(year) { 366 } else { 365 };
                (YEARS.contains(&year) && (1..=len).contains(&day))
                    .then(|| days_from_civil(year, 1, 1) + day - 1)
            }
            Self::Week {
                year,
                week,
                weekday,
            } => (YEARS.contains(&year)
                && (1..=weeks_in_year(year)).contains(&week)
                && (1..=7).contains(&weekday))
            .then(|| week_one_monday(year) + (week - 1) * 7 + weekday - 1),
        }
    }
}

/// `yyyy ['-' MM ['-' dd]]`
fn calendar_date(c: &mut Cursor<'_>) -> Option<DateFields> {
    let year = c.signed(9)?;
    let (mut month, mut day) = (1, 1);
    let save = c.i;
    if c.eat(b'-') {
        match c.digits(1, 2) {
            Some(m) => {
                month = m;
                let save = c.i;
                if c.eat(b'-') {
                    match c.digits(1, 2) {
                        Some(d) => day = d,
                        None => c.i = save,
                    }
                }
            }
            None => c.i = save,
        }
    }
    Some(DateFields::Calendar { year, month, day })
}

/// `yyyy '-' DDD`
fn ordinal_date(c: &mut Cursor<'_>) -> Option<DateFields> {
    let year = c.signed(9)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = c.digits(1, 3)?;
    Some(DateFields::Ordinal { year, day })
}

/// `xxxx '-W' ww ['-' e]`
fn week_date(c: &mut Cursor<'_>) -> Option<DateFields> {
    let year = c.signed(9)?;
    if !(c.eat(b'-') && c.eat_letter(b'W')) {
        return None;
    }
    let week = c.digits(1, 2)?;
    let mut weekday = 1;
    let save = c.i;
    if c.eat(b'-') {
        match c.digits(1, 1) {
            Some(d) => weekday = d,
            None => c.i = save,
        }
    }
    Some(DateFields::Week {
        year,
        week,
        weekday,
    })
}

/// The date element: of the three forms, the one that reads furthest (the
/// first listed on a tie), as Joda-Time chooses among alternatives.
fn date_element(c: &mut Cursor<'_>) -> Option<DateFields> {
    let mut best: Option<(Cursor<'_>, DateFields)> = None;
    for form in [calendar_date, week_date, ordinal_date] {
        let mut attempt = c.clone();
        if let Some(fields) = form(&mut attempt)
            && best.as_ref().is_none_or(|(b, _)| attempt.i > b.i)
        {
            best = Some((attempt, fields));
        }
    }
    let (end, fields) = best?;
    c.i = end.i;
    Some(fields)
}

/// `HH [':' mm [':' ss [fraction] | fraction] | fraction]`, as nanoseconds
/// since midnight, kept to the millisecond.
fn time_element(c: &mut Cursor<'_>) -> Option<i128> {
    const HOUR: i128 = 3600 * NANOS_PER_SEC;
    const MINUTE: i128 = 60 * NANOS_PER_SEC;
    let hour = c.digits(1, 2)?;
    let mut nanos = i128::from(hour) * HOUR;
    let mut fields_ok = hour <= 23;
    let save = c.i;
    if c.eat(b':') {
        match c.digits(1, 2) {
            Some(minute) => {
                fields_ok &= minute <= 59;
                nanos += i128::from(minute) * MINUTE;
                let save = c.i;
                if c.eat(b':') {
                    match c.digits(1, 2) {
                        Some(second) => {
                            fields_ok &= second <= 59;
                            nanos += i128::from(second) * NANOS_PER_SEC;
                            nanos += c.fraction(NANOS_PER_SEC).unwrap_or(0);
                        }
                        None => c.i = save,
                    }
                } else {
                    nanos += c.fraction(MINUTE).unwrap_or(0);
                }
            }
            None => c.i = save,
        }
    } else {
        nanos += c.fraction(HOUR).unwrap_or(0);
    }
    fields_ok.then_some(nanos - nanos % NANOS_PER_MILLI)
}

/// `'Z' | ('+' | '-') HH [[':'] mm [[':'] ss [('.' | ',') SSS]]]`, as
/// nanoseconds east of UTC; `None` when the text there is not an offset at
/// all, `Some(None)` when it starts as one but is malformed.
fn offset(c: &mut Cursor<'_>) -> Option<Option<i128>> {
    if c.eat_letter(b'Z') {
        return Some(Some(0));
    }
    let sign: i128 = match c.peek() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    c.i += 1;
    let two = |c: &mut Cursor<'_>, max: i64| {
        let start = c.i;
        let v = c.digits(2, 2).filter(|v| *v <= max);
        if v.is_none() {
            c.i = start;
        }
        v
    };
    let Some(hours) = two(c, 23) else {
        return Some(None);
    };
    let mut nanos = i128::from(hours) * 3600 * NANOS_PER_SEC;
    let separators = c.eat(b':');
    if separators || c.at_digit() {
        let Some(minutes) = two(c, 59) else {
            return Some(None);
        };
        nanos += i128::from(minutes) * 60 * NANOS_PER_SEC;
        let more = if separators {
            c.eat(b':')
        } else {
            c.at_digit()
        };
        if more {
            let Some(seconds) = two(c, 59) else {
                return Some(None);
            };
            nanos += i128::from(seconds) * NANOS_PER_SEC;
            if c.eat(b'.') || c.eat(b',') {
                // Milliseconds: one to three digits of a fraction.
                let start = c.i;
                let Some(v) = c.digits(1, 3) else {
                    return Some(None);
                };
                let scale = 10i128.pow(u32::try_from(3 - (c.i - start)).ok()?);
                nanos += i128::from(v) * scale * NANOS_PER_MILLI;
            }
        }
    }
    Some(Some(sign * nanos))
}

fn iso8601(t: &str) -> Option<i128> {
    let mut c = Cursor {
        b: t.as_bytes(),
        i: 0,
    };
    // An offset is read only after a `T` (`2019-07-01TZ`, not `2019-07-01Z`).
    let (days, mut nanos, saw_t) = if c.eat_letter(b'T') {
        (0, time_element(&mut c)?, true)
    } else {
        let days = date_element(&mut c)?.days()?;
        let saw_t = c.eat_letter(b'T');
        let nanos = if saw_t && c.at_digit() {
            time_element(&mut c)?
        } else {
            0
        };
        (days, nanos, saw_t)
    };
    if saw_t && let Some(off) = offset(&mut c) {
        nanos -= off?;
    }
    if c.i != c.b.len() {
        return None;
    }
    Some(i128::from(days) * 86_400 * NANOS_PER_SEC + nanos)
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

/// The Monday of ISO week 1 of `year`, in days since 1970-01-01: the week
/// holding the year's first Thursday.
fn week_one_monday(year: i64) -> i64 {
    let jan4 = days_from_civil(year, 1, 4);
    // 1970-01-01 was a Thursday: weekday 1 (Monday) .. 7 (Sunday).
    let weekday = (jan4 + 3).rem_euclid(7) + 1;
    jan4 - (weekday - 1)
}

/// 52 or 53: the number of ISO weeks in `year`.
fn weeks_in_year(year: i64) -> i64 {
    (week_one_monday(year + 1) - week_one_monday(year)) / 7
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
        assert!(date("2017-07-01T00:00:00Z").unwrap() < date("2017-12-31T23:59:59Z").unwrap());
    }

    const DAY: i128 = 86_400 * NANOS_PER_SEC;
    const HOUR: i128 = 3600 * NANOS_PER_SEC;

    /// The values IAM's recorded answers to `CreatePolicy` accept and refuse
    /// (LocalStack's AWS-validated `test_iam_policies`, valid-5/30/34/35/36/37
    /// and invalid-64/72/73/74/75).
    #[test]
    fn dates_as_iam_answers() {
        for ok in [
            "2017-07-01T00:00:00Z",
            "01T",
            "2019-07-01T13:20:15Z",
            "2016-12-13T21:20:37.593194+00:00",
            "2016-12-13t2:00:00.593194+23",
            "-292275054",
        ] {
            assert!(date(ok).is_some(), "{ok}");
        }
        for bad in [
            "sdfdsf",
            "234-13",
            "2016-12-13t2:00:00.593194+1",
            "2016-12-13t2:00:00.1999999999+10:59",
            "9223372036854775808",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    /// Every form of Joda-Time's ISO parser, and what each means.
    #[test]
    fn date_forms() {
        let july1 = date("2019-07-01T00:00:00Z").unwrap();
        for same in [
            "2019-07-01",
            "2019-7-1",
            "2019-07-01T",
            "2019-07-01TZ",
            "2019-07-01T00",
            "2019-07-01t00:00z",
            "2019-07-01T02:00:00+02:00",
            "2019-07-01T02:00+0200",
            "2019-07-01T2+02",
            "2019-06-30T22:00:00.000-02:00",
            "2019-182",
            "2019-W27-1",
            "2019-w27-1",
            "1561939200",
        ] {
            assert_eq!(date(same), Some(july1), "{same}");
        }
        assert_eq!(date("2019-07"), date("2019-07-01"));
        assert_eq!(
            date("2019"),
            Some(2019 * NANOS_PER_SEC),
            "digits only are epoch seconds"
        );
        assert_eq!(date("2019-W27"), Some(july1));
        assert_eq!(date("2019-07-01T10.5"), Some(july1 + 10 * HOUR + HOUR / 2));
        assert_eq!(
            date("2019-07-01T10:30.5"),
            Some(july1 + 10 * HOUR + 30 * 60 * NANOS_PER_SEC + 30 * NANOS_PER_SEC)
        );
        assert_eq!(
            date("2019-07-01T10:00:00,25Z"),
            Some(july1 + 10 * HOUR + NANOS_PER_SEC / 4)
        );
        assert_eq!(date("T10:00Z"), Some(10 * HOUR));
        assert_eq!(date("01T"), Some(date("0001-01-01").unwrap()));
        assert_eq!(
            date("-0001-01-01"),
            Some(date("0000-01-01").unwrap() - 365 * DAY)
        );
        // Kept to the millisecond, as Joda-Time keeps instants.
        assert_eq!(date("2019-07-01T00:00:00.0009Z"), Some(july1));
        assert_eq!(
            date("2019-07-01T00:00:00.123456789Z"),
            Some(july1 + 123 * 1_000_000)
        );
        assert_eq!(
            date("2019-07-01T00:00:00+01:30:15.5"),
            Some(july1 - (5415 * NANOS_PER_SEC + 500_000_000))
        );
        // 2020 has 53 ISO weeks and 366 days; 2019 has neither.
        assert!(date("2020-W53-7").is_some());
        assert_eq!(date("2019-W53-1"), None);
        assert!(date("2020-366").is_some());
        assert_eq!(date("2019-366"), None);
        for bad in [
            "",
            "2019-07-01Z",
            "2019-07-01T24:00",
            "2019-07-01T23:60",
            "2019-07-01T23:59:60",
            "2019-07-01T10:",
            "2019-07-01T10.",
            "2019-07-01T10:00:00.1234567890",
            "2019-07-01T10+24",
            "2019-07-01T10+02:60",
            "2019-07-01T10+2",
            "2019-07-01 10:00",
            "2019-13-01",
            "2019-00",
            "2019-02-29",
            "2019-000",
            "2019-W00",
            "2019-W27-8",
            "T",
            "292278994-01-01",
            "-292275055-01-01",
            "1234567890-01-01",
        ] {
            assert_eq!(date(bad), None, "{bad:?}");
        }
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
