use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// `2026-11-23T15:04:05Z`, the form AWS's XML and JSON use for dates.
pub fn format_iso8601(t: Timestamp) -> String {
    let dt = OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let dt = dt.replace_nanosecond(0).unwrap_or(dt);
    dt.format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses `2026-11-23T15:04:05Z` (any RFC 3339 offset) or whole Unix
/// seconds.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    OffsetDateTime::parse(text, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_aws() {
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso8601(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn parses_both_forms() {
        assert_eq!(parse_time("2026-11-18T11:06:40Z"), Some(1_795_000_000));
        assert_eq!(parse_time("2026-11-18T12:06:40+01:00"), Some(1_795_000_000));
        assert_eq!(parse_time("1795000000"), Some(1_795_000_000));
        assert_eq!(parse_time("yesterday"), None);
    }
}
