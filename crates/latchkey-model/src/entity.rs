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
    /// ARN of the managed policy used as permissions boundary.
    pub permissions_boundary: Option<String>,
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

/// Which kind of IAM identity owns a policy, a tag set or a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerKind {
    /// An IAM user.
    User,
    /// An IAM group.
    Group,
    /// An IAM role.
    Role,
}

impl OwnerKind {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
            OwnerKind::Role => "role",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(OwnerKind::User),
            "group" => Some(OwnerKind::Group),
            "role" => Some(OwnerKind::Role),
            _ => None,
        }
    }
}

/// An IAM group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `AGPA…`
    pub id: UniqueId,
    /// The owning account.
    pub account: AccountId,
    /// Unique in the account, case-insensitively.
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// When it was created.
    pub created: Timestamp,
}

impl Group {
    /// `arn:aws:iam::ACCT:group/PATH/NAME`
    pub fn arn(&self) -> String {
        crate::Arn::iam(&self.account, "group", &self.path, &self.name)
    }
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `AROA…`
    pub id: UniqueId,
    /// The owning account.
    pub account: AccountId,
    /// Unique in the account, case-insensitively.
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// The trust policy document as given.
    pub trust_policy: String,
    /// The users and roles the trust policy names, bound to their unique ids
    /// when it was saved; `None` for a policy saved before latchkey bound
    /// principals (bound at the next start, see `State::bind_legacy_trusts`).
    pub trust_principals: Option<std::sync::Arc<[PrincipalBinding]>>,
    /// Free text, up to 1000 characters.
    pub description: Option<String>,
    /// 3600–43200 seconds.
    pub max_session_duration: i64,
    /// When it was created.
    pub created: Timestamp,
    /// Tags in the order given.
    pub tags: Vec<Tag>,
    /// ARN of the managed policy used as permissions boundary.
    pub permissions_boundary: Option<String>,
    /// Last AssumeRole: when and in which region.
    pub last_used: Option<(Timestamp, String)>,
}

/// A user or role that a stored resource policy names by ARN, bound to the
/// unique id the entity had when the policy was saved (AWS's model: the
/// policy keeps naming that entity, not whoever later holds the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalBinding {
    /// The ARN as the policy writes it.
    pub arn: String,
    /// The entity's unique id at the time.
    pub id: UniqueId,
}

impl Role {
    /// `arn:aws:iam::ACCT:role/PATH/NAME`
    pub fn arn(&self) -> String {
        crate::Arn::iam(&self.account, "role", &self.path, &self.name)
    }
}

/// A customer-managed policy (AWS-managed ones are built into the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// `ANPA…`
    pub id: UniqueId,
    /// The owning account.
    pub account: AccountId,
    /// Unique in the account, case-insensitively.
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// Free text.
    pub description: Option<String>,
    /// `v1`, `v2`, …
    pub default_version: String,
    /// The number the next version gets.
    pub next_version: i64,
    /// When it was created.
    pub created: Timestamp,
    /// When its default version last changed.
    pub updated: Timestamp,
    /// Versions, oldest first.
    pub versions: Vec<PolicyVersion>,
    /// Tags in the order given.
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    /// `arn:aws:iam::ACCT:policy/PATH/NAME`
    pub fn arn(&self) -> String {
        crate::Arn::iam(&self.account, "policy", &self.path, &self.name)
    }

    /// The default version's document.
    pub fn default_document(&self) -> Option<&str> {
        self.versions.iter().find(|v| v.version_id == self.default_version).map(|v| v.document.as_str())
    }
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// `v1`, `v2`, …
    pub version_id: String,
    /// The JSON document as given.
    pub document: String,
    /// When it was created.
    pub created: Timestamp,
}

/// An inline policy embedded in a user, group or role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinePolicy {
    /// Owner kind.
    pub owner_kind: OwnerKind,
    /// Owner's unique id.
    pub owner: UniqueId,
    /// Policy name, unique per owner.
    pub name: String,
    /// The JSON document as given.
    pub document: String,
}

/// A managed policy attached to a user, group or role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The policy's ARN (customer-managed or `arn:aws:iam::aws:policy/…`).
    pub policy_arn: String,
    /// Owner kind.
    pub owner_kind: OwnerKind,
    /// Owner's unique id.
    pub owner: UniqueId,
}

/// A virtual MFA device (its seed travels separately, sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaDevice {
    /// `arn:aws:iam::ACCT:mfa/PATH/NAME`, which AWS calls the serial number.
    pub serial: String,
    /// The owning account.
    pub account: AccountId,
    /// The user it is enabled for, and since when.
    pub assigned: Option<(UniqueId, Timestamp)>,
    /// When it was created.
    pub created: Timestamp,
}

/// Whether a provider speaks OpenID Connect or SAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect (AssumeRoleWithWebIdentity).
    Oidc,
    /// SAML 2.0 (AssumeRoleWithSAML).
    Saml,
}

/// An IAM identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// `arn:aws:iam::ACCT:oidc-provider/HOST/PATH` or `…:saml-provider/NAME`.
    pub arn: String,
    /// The owning account.
    pub account: AccountId,
    /// OIDC or SAML.
    pub kind: ProviderKind,
    /// OIDC: the issuer URL as given; SAML: the provider's name.
    pub name: String,
    /// OIDC audiences.
    pub client_ids: Vec<String>,
    /// OIDC certificate thumbprints (40 hex characters each).
    pub thumbprints: Vec<String>,
    /// SAML metadata document.
    pub metadata: String,
    /// When it was created.
    pub created: Timestamp,
    /// Tags in the order given.
    pub tags: Vec<Tag>,
}

/// An S3 bucket, as latchkey keeps it: its owner and its bucket policy.
/// Bucket names are global (one bucket of a name across every account);
/// the objects are the S3 front end's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket's name, unique across all accounts.
    pub name: String,
    /// The owning account.
    pub account: AccountId,
    /// When it was created.
    pub created: Timestamp,
    /// Its region (`LocationConstraint`), e.g. `us-east-1`.
    pub region: String,
    /// The bucket policy document as the user sent it.
    pub policy: Option<String>,
    /// The users and roles the policy names, bound to their unique ids when
    /// it was saved (as a role's trust policy binds them); empty without a
    /// policy. An entity ARN without a binding here matches nobody.
    pub policy_principals: Vec<PrincipalBinding>,
}

impl Bucket {
    /// `arn:aws:s3:::NAME`
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.name)
    }
}
