//! The two date formats SigV4 meets, without a date-time dependency.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn to_unix(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    Some(
        days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3600
            + i64::from(min) * 60
            + i64::from(sec),
    )
}

/// Parses `YYYYMMDD'T'HHMMSS'Z'` into unix seconds.
pub(crate) fn parse_iso_basic(s: &[u8]) -> Option<i64> {
    let [
        y0,
        y1,
        y2,
        y3,
        mo0,
        mo1,
        d0,
        d1,
        b'T',
        h0,
        h1,
        mi0,
        mi1,
        s0,
        s1,
        b'Z',
    ] = *s
    else {
        return None;
    };
    to_unix(
        i64::from(digits(&[y0, y1, y2, y3])?),
        digits(&[mo0, mo1])?,
        digits(&[d0, d1])?,
        digits(&[h0, h1])?,
        digits(&[mi0, mi1])?,
        digits(&[s0, s1])?,
    )
}

/// Parses an RFC 1123 date (`Sun, 30 Aug 2015 12:36:00 GMT`) into unix
/// seconds; the weekday is not cross-checked, as HTTP servers do not either.
pub(crate) fn parse_rfc1123(s: &[u8]) -> Option<i64> {
    let [
        _,
        _,
        _,
        b',',
        b' ',
        d0,
        d1,
        b' ',
        m0,
        m1,
        m2,
        b' ',
        y0,
        y1,
        y2,
        y3,
        b' ',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
        b' ',
        b'G',
        b'M',
        b'T',
    ] = *s
    else {
        return None;
    };
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let month = MONTHS.iter().position(|m| **m == [m0, m1, m2])?;
    to_unix(
        i64::from(digits(&[y0, y1, y2, y3])?),
        u32::try_from(month + 1).ok()?,
        digits(&[d0, d1])?,
        digits(&[h0, h1])?,
        digits(&[mi0, mi1])?,
        digits(&[s0, s1])?,
    )
}

/// Formats unix seconds as `YYYYMMDD'T'HHMMSS'Z'`, or `None` outside the
/// years 0000..=9999 that the format can hold.
pub(crate) fn iso_basic_bytes(t: i64) -> Option<[u8; 16]> {
    let (year, month, day) = civil_from_days(t.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return None;
    }
    let secs = t.rem_euclid(86_400);
    let mut out = *b"00000000T000000Z";
    let mut put = |range: std::ops::Range<usize>, mut v: i64| {
        for i in range.rev() {
            if let Some(slot) = out.get_mut(i) {
                // `v % 10` is a single digit, so the cast cannot truncate.
                *slot = b'0' + u8::try_from(v % 10).unwrap_or(0);
            }
            v /= 10;
        }
    };
    put(0..4, year);
    put(4..6, i64::from(month));
    put(6..8, i64::from(day));
    put(9..11, secs / 3600);
    put(11..13, secs % 3600 / 60);
    put(13..15, secs % 60);
    Some(out)
}

/// Like [`iso_basic_bytes`], for messages: never fails, falls back to the
/// raw number for absurd times.
pub(crate) fn format_iso_basic(t: i64) -> String {
    match iso_basic_bytes(t) {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_iso_basic(b"20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(&iso_basic_bytes(t).unwrap(), b"20150830T123600Z");
        assert_eq!(parse_rfc1123(b"Sun, 30 Aug 2015 12:36:00 GMT"), Some(t));
        assert_eq!(format_iso_basic(0), "19700101T000000Z");
        assert_eq!(parse_iso_basic(b"20000229T000000Z"), Some(951_782_400));
    }

    #[test]
    fn rejects_bad_dates() {
        for bad in [
            &b"20150830T123600"[..],
            b"2015083OT123600Z",
            b"20150230T123600Z",
            b"20190229T000000Z",
            b"20151301T000000Z",
            b"20150830T246000Z",
            b"20150830T236000Z",
            b"20150830T235960Z",
            b"20150800T000000Z",
            b"",
        ] {
            assert_eq!(
                parse_iso_basic(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_rfc1123(b"Sun, 30 Foo 2015 12:36:00 GMT"), None);
        assert_eq!(parse_rfc1123(b"Sun, 30 Aug 2015 12:36:00 UTC"), None);
    }

    #[test]
    fn formats_extremes_without_panicking() {
        for t in [i64::MIN, i64::MAX, -1, 253_402_300_799, 253_402_300_800] {
            let _ = format_iso_basic(t);
        }
        assert_eq!(format_iso_basic(253_402_300_799), "99991231T235959Z");
    }
}
