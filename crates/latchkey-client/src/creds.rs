//! Credentials as latchkey hands them around: their `Debug` never shows the
//! secret or the token, and they print as the `credential_process` object.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of AWS credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    #[serde(default, with = "rfc3339", skip_serializing_if = "Option::is_none")]
    pub expiration: Option<SystemTime>,
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Creds")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .field("expiration", &self.expiration.map(format_time))
            .finish()
    }
}

impl Creds {
    /// Time left at `now`; `None` once expired. Credentials without an
    /// expiry never expire.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        match self.expiration {
            None => Some(Duration::MAX),
            Some(exp) => exp.duration_since(now).ok().filter(|d| !d.is_zero()),
        }
    }

    /// Whether these are temporary credentials (they carry a session token).
    pub fn is_temporary(&self) -> bool {
        self.session_token.is_some()
    }

    /// The object `credential_process` prints: `{"Version":1,…}`.
    pub fn process_json(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Process<'a> {
            version: u8,
            #[serde(flatten)]
            creds: &'a Creds,
        }
        serde_json::to_string(&Process { version: 1, creds: self }).unwrap_or_default()
    }

    pub fn from_sdk(c: &aws_credential_types::Credentials) -> Self {
        Self {
            access_key_id: c.access_key_id().to_owned(),
            secret_access_key: c.secret_access_key().to_owned(),
            session_token: c.session_token().map(str::to_owned),
            expiration: c.expiry(),
        }
    }

    pub fn to_sdk(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.clone(),
            self.session_token.clone(),
            self.expiration,
            "latchkey",
        )
    }

    pub fn from_sts(c: &aws_sdk_sts::types::Credentials) -> Self {
        Self {
            access_key_id: c.access_key_id().to_owned(),
            secret_access_key: c.secret_access_key().to_owned(),
            session_token: Some(c.session_token().to_owned()),
            expiration: SystemTime::try_from(*c.expiration()).ok(),
        }
    }
}

/// `2026-01-02T03:04:05Z`, whole seconds.
pub fn format_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let whole = UNIX_EPOCH + Duration::from_secs(secs);
    DateTime::from(whole).fmt(Format::DateTime).unwrap_or_default()
}

/// An RFC 3339 time as the AWS tools write it.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let dt = DateTime::from_str(text.trim(), Format::DateTime).ok()?;
    SystemTime::try_from(dt).ok()
}

/// `1h05m`, `12m`, `40s`: a duration for people.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{sec}s")
    }
}

mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_time(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(None),
            Some(t) => parse_time(&t).map(Some).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 time")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Creds {
        Creds {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("tok".into()),
            expiration: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        }
    }

    #[test]
    fn credential_process_shape() {
        let v: serde_json::Value = serde_json::from_str(&creds().process_json()).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(v["SecretAccessKey"], "very-secret");
        assert_eq!(v["SessionToken"], "tok");
        assert_eq!(v["Expiration"], "2027-01-15T08:00:00Z");
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?}", creds());
        assert!(!shown.contains("very-secret") && !shown.contains("tok\""));
        assert!(shown.contains("ASIAEXAMPLE"));
    }

    #[test]
    fn times_round_trip_and_durations_read_well() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_time(&format_time(t)), Some(t));
        assert_eq!(parse_time("2027-01-15T08:00:00.000Z"), Some(t));
        assert_eq!(human(Duration::from_secs(3900)), "1h05m");
        assert_eq!(human(Duration::from_secs(720)), "12m");
        assert_eq!(human(Duration::from_secs(40)), "40s");
        let mut c = creds();
        assert_eq!(c.remaining(t + Duration::from_secs(1)), None);
        assert_eq!(c.remaining(t - Duration::from_secs(5)), Some(Duration::from_secs(5)));
        c.expiration = None;
        assert!(c.remaining(t).is_some());
    }
}
