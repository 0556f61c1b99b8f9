use std::fmt;

use crate::AccountId;

/// An ARN split into its six components. Borrowed, so parsing allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`.
    pub partition: &'a str,
    /// `iam`, `sts`, …
    pub service: &'a str,
    /// Empty for IAM and STS.
    pub region: &'a str,
    /// Twelve digits, `aws` for AWS-managed policies, or empty.
    pub account: &'a str,
    /// Everything after the fifth colon (`user/path/name`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `arn:partition:service:region:account:resource`.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut it = s.splitn(6, ':');
        if it.next()? != "arn" {
            return None;
        }
        let partition = it.next()?;
        let service = it.next()?;
        let region = it.next()?;
        let account = it.next()?;
        let resource = it.next()?;
        if partition.is_empty() || service.is_empty() {
            return None;
        }
        Some(Self { partition, service, region, account, resource })
    }

    /// The account as a typed id, when it is twelve digits.
    pub fn account_id(&self) -> Option<AccountId> {
        self.account.parse().ok()
    }

    /// The IAM ARN of an entity: `arn:aws:iam::ACCT:TYPE/PATHNAME`, where
    /// `path` starts and ends with `/`.
    pub fn iam(account: &AccountId, kind: &str, path: &str, name: &str) -> String {
        format!("arn:aws:iam::{account}:{kind}{path}{name}")
    }

    /// The root ARN of an account.
    pub fn root(account: &AccountId) -> String {
        format!("arn:aws:iam::{account}:root")
    }
}

impl fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:{}:{}:{}:{}", self.partition, self.service, self.region, self.account, self.resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let a = Arn::parse("arn:aws:iam::123456789012:user/eng/alice").unwrap();
        assert_eq!(a.service, "iam");
        assert_eq!(a.resource, "user/eng/alice");
        assert_eq!(a.to_string(), "arn:aws:iam::123456789012:user/eng/alice");
        assert!(Arn::parse("arn:aws:iam").is_none());
        assert!(Arn::parse("nope:aws:iam::1:x").is_none());
        let acct: AccountId = "123456789012".parse().unwrap();
        assert_eq!(Arn::iam(&acct, "role", "/x/", "r"), "arn:aws:iam::123456789012:role/x/r");
    }
}
