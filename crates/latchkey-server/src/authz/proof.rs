//! [`Authorized`]: the proof that a decision allowed an action on a
//! resource, which writes ([`crate::state::State::write`]) and successful
//! answers ([`crate::api::Answer`]) require.
//!
//! A proof is made in exactly three places, all in this module:
//!
//! - [`super::decide`], from the policy engine's Allow (or the root user's
//!   ownership of its account): [`Basis::Statement`] or [`Basis::RootUser`];
//! - [`Authorized::no_permission_needed`], for the actions listed in
//!   [`NO_PERMISSION_NEEDED`], which AWS serves without asking any policy;
//! - [`Authorized::internal`], for writes with no caller behind them, which
//!   needs an [`crate::state::Internal`] only `state` can make.

use std::borrow::Cow;

use latchkey_policy::PolicyType;

use crate::ApiError;

/// The actions AWS serves without a permission check, as `service:Action`:
/// an explicit deny cannot stop them. Checked against the routed actions
/// by a test, and walked by `tests/authz_walk.rs`.
pub const NO_PERMISSION_NEEDED: &[&str] = &[
    // "No permissions are required to perform this operation."
    "sts:GetCallerIdentity",
    // Any IAM user (or root) may get a session of itself.
    "sts:GetSessionToken",
];

/// What allowed an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// An Allow statement granted it (the resource policy's when that
    /// granted on its own or across accounts, otherwise the identity
    /// policy's).
    Statement {
        /// The type of the policy holding the statement.
        policy_type: PolicyType,
        /// The policy's id (its ARN, or `owner/name` for an inline policy).
        policy_id: String,
        /// The statement's index in the policy (0-based).
        statement: usize,
    },
    /// The root user of the resource's account.
    RootUser,
    /// The action is one of [`NO_PERMISSION_NEEDED`].
    NoPermissionNeeded,
    /// A write with no caller behind it; says which.
    Internal(&'static str),
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Statement { policy_type, policy_id, statement } => write!(f, "{policy_type} `{policy_id}`, statement {statement}"),
            Self::RootUser => f.write_str("root user"),
            Self::NoPermissionNeeded => f.write_str("no permission needed"),
            Self::Internal(why) => write!(f, "internal: {why}"),
        }
    }
}

/// Proof that `action` on `resource` was allowed, and by what. Not `Clone`
/// and without a public constructor: see the module's documentation for
/// the three places that make one.
#[derive(Debug)]
#[must_use = "a proof is required by the write or the answer it authorises"]
pub struct Authorized {
    // Static for the proofs made on every GetCallerIdentity, so the hot
    // path allocates nothing for them.
    action: Cow<'static, str>,
    resource: Cow<'static, str>,
    basis: Basis,
}

impl Authorized {
    /// The proof of an allowing decision; made by [`super::decide`] only.
    /// `None` unless `reason` is an allowing one.
    pub(super) fn decided(action: &str, resource: &str, reason: latchkey_policy::Reason<'_>) -> Option<Self> {
        let basis = match reason {
            latchkey_policy::Reason::Allowed(s) => {
                Basis::Statement { policy_type: s.policy_type, policy_id: s.policy_id.to_owned(), statement: s.statement }
            }
            latchkey_policy::Reason::RootUser => Basis::RootUser,
            latchkey_policy::Reason::Denied(_) | latchkey_policy::Reason::NotAllowed(_) => return None,
        };
        Some(Self { action: Cow::Owned(action.to_owned()), resource: Cow::Owned(resource.to_owned()), basis })
    }

    /// The root user acting on its own account, when no SCP binds it: no
    /// policy was asked. Made by [`super::decide`] only.
    pub(super) fn root_user(action: &str, resource: &str) -> Self {
        Self { action: Cow::Owned(action.to_owned()), resource: Cow::Owned(resource.to_owned()), basis: Basis::RootUser }
    }

    /// The proof for one of the [`NO_PERMISSION_NEEDED`] actions
    /// (`sts:GetCallerIdentity`); any other action is refused as an
    /// internal failure, so this cannot stand in for a decision.
    pub fn no_permission_needed(action: &'static str) -> Result<Self, ApiError> {
        if !NO_PERMISSION_NEEDED.contains(&action) {
            return Err(ApiError::internal(format!("{action} is not an action that needs no permission")));
        }
        Ok(Self { action: Cow::Borrowed(action), resource: Cow::Borrowed("*"), basis: Basis::NoPermissionNeeded })
    }

    /// The proof for a write with no caller behind it (token-key rotation,
    /// last-used bookkeeping, the start-up binding of legacy trust
    /// policies). [`crate::state::Internal`] can only be made inside
    /// `state`, so no handler reaches this.
    pub fn internal(why: crate::state::Internal) -> Self {
        Self { action: Cow::Borrowed("latchkey:Internal"), resource: Cow::Borrowed("*"), basis: Basis::Internal(why.purpose()) }
    }

    /// The action allowed, as `service:Action`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The resource it was allowed on (an ARN, or `*`).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// What allowed it.
    pub fn basis(&self) -> &Basis {
        &self.basis
    }

    /// What allowed it, keeping nothing else (for the request's log line).
    pub fn into_basis(self) -> Basis {
        self.basis
    }
}

#[cfg(test)]
mod tests {
    use super::{Authorized, Basis, NO_PERMISSION_NEEDED};

    #[test]
    fn no_permission_needed_lists_only_routed_actions() {
        for entry in NO_PERMISSION_NEEDED {
            let (service, action) = entry.split_once(':').unwrap_or_default();
            let routed = match service {
                "sts" => crate::api::sts::ACTIONS,
                "iam" => crate::api::iam::ACTIONS,
                "organizations" => crate::api::organizations::ACTIONS,
                "cloudtrail" => crate::api::cloudtrail::ACTIONS,
                _ => &[],
            };
            assert!(routed.contains(&action), "{entry} is not a routed action");
        }
    }

    #[test]
    fn no_permission_needed_refuses_other_actions() {
        let proof = Authorized::no_permission_needed("sts:GetCallerIdentity").map(|p| p.basis().clone());
        assert_eq!(proof.ok(), Some(Basis::NoPermissionNeeded));
        for action in ["sts:AssumeRole", "sts:GetFederationToken", "iam:CreateUser", "sts:getcalleridentity"] {
            assert!(Authorized::no_permission_needed(action).is_err(), "{action}");
        }
    }
}
