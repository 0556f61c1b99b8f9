use crate::{AccessKeyId, AccountId, Timestamp, UniqueId};

/// An AWS account known to this latchkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The 12-digit id.
    pub id: AccountId,
    /// Display name (Organizations' AccountName).
    pub name: String,
    /// Owner e-mail (Organizations).
    pub email: String,
    /// Whether this is the organization's management account.
    pub management: bool,
    /// When it was created.
    pub created: Timestamp,
}

/// A tag on an IAM entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// 1–128 characters.
    pub key: String,
    /// 0–256 characters.
    pub value: String,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `AIDA…`
    pub id: UniqueId,
    /// The owning account.
    pub account: AccountId,
    /// Unique in the account, compared case-insensitively as IAM does.
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// When it was created.
    pub created: Timestamp,
    /// Tags in the order they were given.
    pub tags: Vec<Tag>,
}

impl User {
    /// `arn:aws:iam::ACCT:user/PATH/NAME`
    pub fn arn(&self) -> String {
        crate::Arn::iam(&self.account, "user", &self.path, &self.name)
    }
}

/// Who an access key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessKeyOwner {
    /// The account's root user.
    Root,
    /// An IAM user, by unique id.
    User(UniqueId),
}

/// Whether a key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Refused at authentication, as AWS refuses it.
    Inactive,
}

impl KeyStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    }
}

/// A long-term access key's metadata (its secret travels separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// `AKIA…`
    pub id: AccessKeyId,
    /// The owning account.
    pub account: AccountId,
    /// Root or a user.
    pub owner: AccessKeyOwner,
    /// Active or Inactive.
    pub status: KeyStatus,
    /// When it was created.
    pub created: Timestamp,
}
