//! Role profiles and their chains, resolved from the shared config files
//! into a plan: where the first credentials come from, then each role to
//! assume in turn. No I/O: the files are read by the caller (with the AWS
//! SDK's own parser) and handed in through [`Profiles`].

use std::fmt;

/// Read access to parsed profiles.
pub trait Profiles {
    /// Whether a profile of this name exists in either file.
    fn exists(&self, profile: &str) -> bool;
    /// A property of a profile.
    fn get(&self, profile: &str, key: &str) -> Option<&str>;
}

impl Profiles for aws_config::profile::ProfileSet {
    fn exists(&self, profile: &str) -> bool {
        self.get_profile(profile).is_some()
    }
    fn get(&self, profile: &str, key: &str) -> Option<&str> {
        self.get_profile(profile).and_then(|p| p.get(key)).map(str::trim).filter(|v| !v.is_empty())
    }
}

impl Profiles for std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    fn exists(&self, profile: &str) -> bool {
        self.contains_key(profile)
    }
    fn get(&self, profile: &str, key: &str) -> Option<&str> {
        self.get(profile).and_then(|p| p.get(key)).map(String::as_str)
    }
}

/// Where the first credentials of a plan come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The profile's own credentials, resolved by the AWS SDK (static keys,
    /// `credential_process`, SSO, web identity).
    Profile(String),
    /// The static keys of a role profile that names itself as its
    /// `source_profile`.
    StaticKeys(String),
    /// `AWS_ACCESS_KEY_ID` and friends.
    Environment,
    /// The SDK's default chain (containers, instance metadata, …), for
    /// `credential_source` and when nothing else is configured.
    DefaultChain,
}

/// One role to assume, with what the profile says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hop {
    /// The profile this hop comes from (none for a role ARN given directly).
    pub profile: Option<String>,
    pub role_arn: String,
    pub external_id: Option<String>,
    pub mfa_serial: Option<String>,
    pub session_name: Option<String>,
    pub duration: Option<u32>,
    pub endpoint_url: Option<String>,
    /// `latchkey_mfa_session = true`: get an MFA-backed session token first
    /// and assume the role with it, so one code serves several roles.
    pub mfa_session: bool,
}

/// Base credentials, then roles in the order they are assumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub base: Base,
    pub hops: Vec<Hop>,
}

/// Why a profile could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub enum ProfileError {
    NotFound(String),
    Cycle(Vec<String>),
    NoSource(String),
    BadDuration { profile: String, value: String },
    BadCredentialSource { profile: String, value: String },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(p) => write!(f, "profile `{p}` is not in the AWS config or credentials file"),
            Self::Cycle(chain) => write!(f, "profiles refer to each other in a loop: {}", chain.join(" -> ")),
            Self::NoSource(p) => {
                write!(f, "profile `{p}` has a role_arn but neither source_profile nor credential_source")
            }
            Self::BadDuration { profile, value } => {
                write!(f, "profile `{profile}`: duration_seconds `{value}` is not a number of seconds")
            }
            Self::BadCredentialSource { profile, value } => write!(
                f,
                "profile `{profile}`: credential_source `{value}` is not one of Environment, Ec2InstanceMetadata, EcsContainer"
            ),
        }
    }
}

impl std::error::Error for ProfileError {}

/// Whether a command-line target names a role rather than a profile.
pub fn is_role_arn(target: &str) -> bool {
    target.starts_with("arn:") && target.contains(":role/")
}

/// The plan for credentials of `name`: follows `source_profile` until a
/// profile with credentials of its own (or a `credential_source`).
pub fn resolve(profiles: &dyn Profiles, name: &str) -> Result<Plan, ProfileError> {
    let mut hops = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut current = name.to_owned();
    let base = loop {
        if !profiles.exists(&current) {
            return Err(ProfileError::NotFound(current));
        }
        if seen.contains(&current) {
            seen.push(current);
            return Err(ProfileError::Cycle(seen));
        }
        seen.push(current.clone());
        let Some(role_arn) = profiles.get(&current, "role_arn") else {
            break Base::Profile(current);
        };
        hops.push(hop(profiles, &current, role_arn)?);
        if let Some(source) = profiles.get(&current, "source_profile") {
            if source == current {
                break Base::StaticKeys(current);
            }
            current = source.to_owned();
        } else if let Some(source) = profiles.get(&current, "credential_source") {
            break match source {
                "Environment" => Base::Environment,
                "Ec2InstanceMetadata" | "EcsContainer" => Base::DefaultChain,
                other => {
                    return Err(ProfileError::BadCredentialSource { profile: current, value: other.to_owned() });
                }
            };
        } else {
            return Err(ProfileError::NoSource(current));
        }
    };
    hops.reverse();
    Ok(Plan { base, hops })
}

fn hop(profiles: &dyn Profiles, name: &str, role_arn: &str) -> Result<Hop, ProfileError> {
    let get = |k: &str| profiles.get(name, k).map(str::to_owned);
    let duration = match profiles.get(name, "duration_seconds") {
        None => None,
        Some(v) => Some(
            v.parse::<u32>()
                .map_err(|_| ProfileError::BadDuration { profile: name.to_owned(), value: v.to_owned() })?,
        ),
    };
    Ok(Hop {
        profile: Some(name.to_owned()),
        role_arn: role_arn.to_owned(),
        external_id: get("external_id"),
        mfa_serial: get("mfa_serial"),
        session_name: get("role_session_name"),
        duration,
        endpoint_url: get("endpoint_url"),
        mfa_session: profiles.get(name, "latchkey_mfa_session").is_some_and(|v| v.eq_ignore_ascii_case("true")),
    })
}

/// The endpoint of a plan: the first `endpoint_url` from the target's
/// hop back towards the base.
pub fn endpoint_of(plan: &Plan) -> Option<&str> {
    plan.hops.iter().rev().find_map(|h| h.endpoint_url.as_deref())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    type Files = BTreeMap<String, BTreeMap<String, String>>;

    fn files(entries: &[(&str, &[(&str, &str)])]) -> Files {
        entries
            .iter()
            .map(|(name, props)| {
                ((*name).to_owned(), props.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
            })
            .collect()
    }

    #[test]
    fn a_chain_is_assumed_from_the_base_outwards() {
        let f = files(&[
            ("base", &[("aws_access_key_id", "AKIA")]),
            ("ops", &[("role_arn", "arn:aws:iam::1:role/ops"), ("source_profile", "base"), ("mfa_serial", "m")]),
            (
                "admin",
                &[
                    ("role_arn", "arn:aws:iam::1:role/admin"),
                    ("source_profile", "ops"),
                    ("duration_seconds", "7200"),
                    ("external_id", "x"),
                    ("role_session_name", "me"),
                    ("endpoint_url", "http://e"),
                ],
            ),
        ]);
        let plan = resolve(&f, "admin").unwrap();
        assert_eq!(plan.base, Base::Profile("base".into()));
        let arns: Vec<&str> = plan.hops.iter().map(|h| h.role_arn.as_str()).collect();
        assert_eq!(arns, ["arn:aws:iam::1:role/ops", "arn:aws:iam::1:role/admin"]);
        assert_eq!(plan.hops[0].mfa_serial.as_deref(), Some("m"));
        assert_eq!(plan.hops[1].duration, Some(7200));
        assert_eq!(plan.hops[1].external_id.as_deref(), Some("x"));
        assert_eq!(plan.hops[1].session_name.as_deref(), Some("me"));
        assert_eq!(endpoint_of(&plan), Some("http://e"));
    }

    #[test]
    fn plain_profiles_self_sources_and_credential_sources() {
        let f = files(&[
            ("plain", &[("aws_access_key_id", "AKIA")]),
            ("self", &[("role_arn", "arn:aws:iam::1:role/r"), ("source_profile", "self")]),
            ("env", &[("role_arn", "arn:aws:iam::1:role/r"), ("credential_source", "Environment")]),
            ("imds", &[("role_arn", "arn:aws:iam::1:role/r"), ("credential_source", "Ec2InstanceMetadata")]),
        ]);
        assert_eq!(resolve(&f, "plain").unwrap(), Plan { base: Base::Profile("plain".into()), hops: vec![] });
        assert_eq!(resolve(&f, "self").unwrap().base, Base::StaticKeys("self".into()));
        assert_eq!(resolve(&f, "env").unwrap().base, Base::Environment);
        assert_eq!(resolve(&f, "imds").unwrap().base, Base::DefaultChain);
    }

    #[test]
    fn broken_chains_say_why() {
        let f = files(&[
            ("a", &[("role_arn", "arn:aws:iam::1:role/a"), ("source_profile", "b")]),
            ("b", &[("role_arn", "arn:aws:iam::1:role/b"), ("source_profile", "a")]),
            ("lonely", &[("role_arn", "arn:aws:iam::1:role/l")]),
            ("dangling", &[("role_arn", "arn:aws:iam::1:role/d"), ("source_profile", "ghost")]),
            ("bad", &[("role_arn", "arn:aws:iam::1:role/d"), ("source_profile", "a"), ("duration_seconds", "1h")]),
        ]);
        assert_eq!(resolve(&f, "a"), Err(ProfileError::Cycle(vec!["a".into(), "b".into(), "a".into()])));
        assert_eq!(resolve(&f, "lonely"), Err(ProfileError::NoSource("lonely".into())));
        assert_eq!(resolve(&f, "dangling"), Err(ProfileError::NotFound("ghost".into())));
        assert!(matches!(resolve(&f, "bad"), Err(ProfileError::BadDuration { .. })));
        assert_eq!(resolve(&f, "nope"), Err(ProfileError::NotFound("nope".into())));
    }

    #[test]
    fn role_arns_are_told_from_profile_names() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/admin"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/path/admin"));
        assert!(!is_role_arn("admin"));
    }
}
