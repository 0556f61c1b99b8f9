//! What an assume asks for, and the pure rules around it: durations,
//! session names, tags, MFA codes, and the role-chaining cap.

use serde::{Deserialize, Serialize};

/// AWS caps sessions assumed with role credentials ("role chaining") at one hour.
pub const CHAIN_CAP_SECS: u32 = 3600;

/// Everything `assume`, `exec` and `credential-process` take about the role.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AssumeRequest {
    /// A role ARN or a profile name.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Never serialised: a code is good once.
    #[serde(skip)]
    pub token_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// The session policy document itself (read from `--policy-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cache: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_session: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_session_duration: Option<u32>,
}

/// `3600`, `3600s`, `60m`, `1h`, `1h30m`: seconds.
pub fn parse_duration(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a duration (seconds, or like 15m, 1h, 1h30m)");
    let t = text.trim();
    if let Ok(n) = t.parse::<u32>() {
        return Ok(n);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    u32::try_from(total).map_err(|_| bad())
}

/// `KEY=VALUE`.
pub fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{text}` is not a tag: use KEY=VALUE")),
    }
}

/// The default session name: `latchkey-$USER-$EPOCH_SECONDS`, cut to what
/// AWS accepts (2 to 64 characters of `[\w+=,.@-]`).
pub fn default_session_name(user: Option<&str>, epoch_secs: u64) -> String {
    let user: String = user
        .unwrap_or("user")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .collect();
    let epoch = epoch_secs.to_string();
    let room = 64 - "latchkey--".len() - epoch.len();
    let user: String = user.chars().take(room).collect();
    let user = if user.is_empty() { "user".to_owned() } else { user };
    format!("latchkey-{user}-{epoch}")
}

/// A six-digit MFA code, as typed (spaces allowed).
pub fn parse_mfa_code(text: &str) -> Option<String> {
    let code: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// The duration to ask for, and the warning to print first, when the
/// source is itself a role session and more than an hour was requested.
pub fn chain_capped(requested: Option<u32>, chained: bool, role_arn: &str) -> (Option<u32>, Option<String>) {
    match requested {
        Some(d) if chained && d > CHAIN_CAP_SECS => (
            Some(CHAIN_CAP_SECS),
            Some(format!(
                "asking for 3600s instead of {d}s for `{role_arn}`: the source credentials are themselves a role session, and AWS caps sessions assumed by role chaining at 1 hour (whatever the role's MaxSessionDuration). For a longer session assume it from long-term (IAM user) credentials."
            )),
        ),
        other => (other, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("900"), Ok(900));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("15m3").is_err());
    }

    #[test]
    fn session_names_are_always_valid() {
        assert_eq!(default_session_name(Some("alice"), 1_700_000_000), "latchkey-alice-1700000000");
        assert_eq!(default_session_name(Some("dom\\al ice"), 1), "latchkey-dom-al-ice-1");
        assert_eq!(default_session_name(None, 1), "latchkey-user-1");
        let long = default_session_name(Some(&"x".repeat(200)), 1_700_000_000);
        assert_eq!(long.len(), 64);
        assert!(long.ends_with("-1700000000"));
    }

    #[test]
    fn mfa_codes_and_tags() {
        assert_eq!(parse_mfa_code(" 123 456\n"), Some("123456".into()));
        assert_eq!(parse_mfa_code("12345"), None);
        assert_eq!(parse_mfa_code("12345a"), None);
        assert_eq!(parse_tag("team=a=b"), Ok(("team".into(), "a=b".into())));
        assert!(parse_tag("=x").is_err());
    }

    #[test]
    fn the_chain_cap_warns_only_when_it_shortens() {
        assert_eq!(chain_capped(Some(7200), false, "r"), (Some(7200), None));
        assert_eq!(chain_capped(None, true, "r"), (None, None));
        assert_eq!(chain_capped(Some(3600), true, "r"), (Some(3600), None));
        let (d, warning) = chain_capped(Some(7200), true, "r");
        assert_eq!(d, Some(3600));
        assert!(warning.unwrap().contains("role chaining"));
    }

    #[test]
    fn the_token_code_is_never_serialised() {
        let r = AssumeRequest { target: "t".into(), token_code: Some("123456".into()), ..Default::default() };
        assert!(!serde_json::to_string(&r).unwrap().contains("123456"));
    }
}
