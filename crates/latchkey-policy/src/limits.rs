//! Size quotas per kind of policy, with AWS's `LimitExceeded` messages.
//!
//! Which quota applies depends on where a document is stored (a managed policy,
//! one of a role's inline policies, ...), which only the server knows; it
//! measures with [`policy_size`](crate::policy_size) (whitespace is not counted)
//! and asks the matching [`Limit`].

use crate::error::{ErrorKind, PolicyError};

/// A size quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit<'a> {
    /// A managed policy version: 6,144 characters.
    ManagedPolicy,
    /// A role trust policy: 2,048 characters (AWS lets accounts raise it to 4,096).
    TrustPolicy {
        /// The quota in force for the account.
        max: usize,
    },
    /// All inline policies of a user together: 2,048 characters.
    InlineUser {
        /// The user's name, quoted by AWS's message.
        user: &'a str,
    },
    /// All inline policies of a role together: 10,240 characters.
    InlineRole {
        /// The role's name.
        role: &'a str,
    },
    /// All inline policies of a group together: 5,120 characters.
    InlineGroup {
        /// The group's name.
        group: &'a str,
    },
    /// A service control policy: 5,120 characters.
    ServiceControlPolicy,
    /// Session policies passed to STS: 2,048 characters of plain text.
    SessionPolicy,
}

impl Limit<'_> {
    /// The default trust-policy quota.
    pub const TRUST_POLICY: Self = Self::TrustPolicy { max: 2048 };

    /// The largest size allowed.
    pub fn max(&self) -> usize {
        match *self {
            Self::ManagedPolicy => 6144,
            Self::TrustPolicy { max } => max,
            Self::InlineUser { .. } | Self::SessionPolicy => 2048,
            Self::InlineRole { .. } => 10240,
            Self::InlineGroup { .. } | Self::ServiceControlPolicy => 5120,
        }
    }

    /// Refuses `size` (as counted by [`policy_size`](crate::policy_size)) when over the quota.
    pub fn check(&self, size: usize) -> Result<(), PolicyError> {
        let max = self.max();
        if size <= max {
            return Ok(());
        }
        let detail = format!(
            "the policy has {size} characters (whitespace not counted), over the quota of {max}"
        );
        let error = match *self {
            Self::ManagedPolicy | Self::ServiceControlPolicy => PolicyError::new(
                ErrorKind::LimitExceeded,
                format!("Cannot exceed quota for PolicySize: {max}"),
            ),
            Self::TrustPolicy { .. } => PolicyError::new(
                ErrorKind::LimitExceeded,
                format!("Cannot exceed quota for ACLSizePerRole: {max}"),
            ),
            Self::InlineUser { user } => PolicyError::new(
                ErrorKind::LimitExceeded,
                format!("Maximum policy size of {max} bytes exceeded for user {user}"),
            ),
            Self::InlineRole { role } => PolicyError::new(
                ErrorKind::LimitExceeded,
                format!("Maximum policy size of {max} bytes exceeded for role {role}"),
            ),
            Self::InlineGroup { group } => PolicyError::new(
                ErrorKind::LimitExceeded,
                format!("Maximum policy size of {max} bytes exceeded for group {group}"),
            ),
            Self::SessionPolicy => PolicyError::new(
                ErrorKind::PackedPolicyTooLarge,
                format!(
                    "Packed policy consumes {}% of allotted space",
                    (size * 100).div_ceil(max)
                ),
            ),
        };
        Err(error.with_detail(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert!(Limit::ManagedPolicy.check(6144).is_ok());
        let e = Limit::ManagedPolicy.check(6145).unwrap_err();
        assert_eq!(
            (e.aws_code(), e.aws_message()),
            ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144")
        );
        let e = Limit::TRUST_POLICY.check(3000).unwrap_err();
        assert_eq!(
            e.aws_message(),
            "Cannot exceed quota for ACLSizePerRole: 2048"
        );
        let e = Limit::InlineRole { role: "r" }.check(20000).unwrap_err();
        assert_eq!(
            e.aws_message(),
            "Maximum policy size of 10240 bytes exceeded for role r"
        );
        let e = Limit::SessionPolicy.check(2049).unwrap_err();
        assert_eq!(e.aws_code(), "PackedPolicyTooLarge");
    }
}
