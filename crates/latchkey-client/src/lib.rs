//! The latchkey client: assume roles on any STS endpoint (real AWS as much
//! as latchkey) and hand the session to a shell, a command or an SDK.
//!
//! The pure parts carry no I/O and are tested on their own:
//! [`shell`] (lines for `eval`, quoted per shell), [`stack`] (the identity
//! stack in `LATCHKEY_STACK`), [`profile`] (role profiles and chains),
//! [`request`] (durations, session names, the role-chaining cap),
//! [`explain`] (why an AssumeRole was refused), [`scripts`] (shell-init),
//! [`creds`]. [`cache`] is the on-disk credentials cache; [`flow`] talks to
//! STS through the AWS SDK for Rust, with its own config loader.

pub mod cache;
pub mod creds;
pub mod explain;
pub mod flow;
pub mod profile;
pub mod request;
pub mod scripts;
pub mod shell;
pub mod stack;

use crate::creds::format_time;
use crate::flow::Assumed;
use crate::request::AssumeRequest;
use crate::stack::Frame;

/// The managed variables for an assumed session: the credentials, their
/// expiry, and `LATCHKEY_*` for prompts and for `refresh`.
pub fn frame(assumed: &Assumed, req: &AssumeRequest) -> Frame {
    let mut f = Frame::new();
    let mut set = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    set("AWS_ACCESS_KEY_ID", assumed.creds.access_key_id.clone());
    set("AWS_SECRET_ACCESS_KEY", assumed.creds.secret_access_key.clone());
    if let Some(t) = &assumed.creds.session_token {
        set("AWS_SESSION_TOKEN", t.clone());
    }
    if let Some(e) = assumed.creds.expiration {
        set("AWS_CREDENTIAL_EXPIRATION", format_time(e));
        set("LATCHKEY_EXPIRATION", format_time(e));
    }
    set("LATCHKEY_ROLE_ARN", assumed.role_arn.clone());
    set("LATCHKEY_SESSION_NAME", assumed.session_name.clone());
    set("LATCHKEY_TARGET", serde_json::to_string(req).unwrap_or_default());
    f
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::creds::Creds;

    #[test]
    fn a_session_sets_only_managed_variables_and_no_mfa_code() {
        let assumed = Assumed {
            creds: Creds {
                access_key_id: "ASIAEXAMPLE".into(),
                secret_access_key: "secret".into(),
                session_token: Some("token".into()),
                expiration: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            },
            role_arn: "arn:aws:iam::1:role/r".into(),
            session_arn: "arn:aws:sts::1:assumed-role/r/s".into(),
            session_name: "s".into(),
            cached: false,
        };
        let req = AssumeRequest { target: "r".into(), token_code: Some("123456".into()), ..Default::default() };
        let f = frame(&assumed, &req);
        assert!(f.keys().all(|k| stack::MANAGED.contains(&k.as_str())));
        assert_eq!(f["AWS_CREDENTIAL_EXPIRATION"], "2027-01-15T08:00:00Z");
        assert_eq!(f["LATCHKEY_EXPIRATION"], f["AWS_CREDENTIAL_EXPIRATION"]);
        assert_eq!(f["LATCHKEY_ROLE_ARN"], "arn:aws:iam::1:role/r");
        assert!(!f["LATCHKEY_TARGET"].contains("123456"));
        assert!(!f.contains_key("AWS_SECURITY_TOKEN"));
    }
}
