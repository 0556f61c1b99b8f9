use std::collections::BTreeSet;
use std::str::FromStr as _;

use latchkey_model::{
    AccessKey, AccessKeyId, AccessKeyOwner, Account, AccountId, Attachment, Bucket, Group, IdentityProvider, InlinePolicy, KeyStatus,
    ManagedPolicy, MfaDevice, OwnerKind, PolicyVersion, PrincipalBinding, Role, SecretAccessKey, Tag, UniqueId, User,
};

/// What `initialize` writes: the management account and its root key.
#[derive(Debug)]
pub struct Bootstrap {
    /// The management account.
    pub account: Account,
    /// The root user's first access key.
    pub root_key: AccessKey,
    /// Its secret.
    pub root_secret: SecretAccessKey,
    /// Further changes made in the same transaction, after the account and
    /// the key (the server attaches FullAWSAccess to the management account).
    pub ops: Vec<Op>,
}

/// One change inside a transaction.
#[derive(Debug)]
pub enum Op {
    /// Adds an account.
    InsertAccount(Account),
    /// Adds a user (with its tags).
    InsertUser(User),
    /// Renames or moves a user.
    RenameUser {
        /// The user.
        id: UniqueId,
        /// New name.
        name: String,
        /// New path.
        path: String,
    },
    /// Removes a user; fails with a constraint error while keys remain.
    DeleteUser(UniqueId),
    /// Adds an access key and its secret.
    InsertAccessKey(AccessKey, SecretAccessKey),
    /// Activates or deactivates a key.
    SetAccessKeyStatus(AccessKeyId, KeyStatus),
    /// Removes a key.
    DeleteAccessKey(AccessKeyId),
    /// Records a key's last use.
    TouchAccessKey {
        /// The key.
        id: AccessKeyId,
        /// When.
        at: i64,
        /// Signing name of the service called.
        service: String,
        /// Region of the call.
        region: String,
    },
    /// Replaces the whole tag set of a user, group or role.
    SetTags(OwnerKind, UniqueId, Vec<Tag>),
    /// Sets or clears the permissions boundary of a user or role.
    SetBoundary(OwnerKind, UniqueId, Option<String>),
    /// Adds a group.
    InsertGroup(Group),
    /// Removes a group; fails while members remain.
    DeleteGroup(UniqueId),
    /// Adds a user to a group.
    AddToGroup {
        /// The group.
        group: UniqueId,
        /// The user.
        user: UniqueId,
        /// When (orders ListGroupsForUser).
        at: i64,
    },
    /// Removes a user from a group.
    RemoveFromGroup {
        /// The group.
        group: UniqueId,
        /// The user.
        user: UniqueId,
    },
    /// Adds a role (with its tags).
    InsertRole(Role),
    /// Replaces a role's description and maximum session duration.
    UpdateRole {
        /// The role.
        id: UniqueId,
        /// New description.
        description: Option<String>,
        /// New maximum session duration.
        max_session_duration: i64,
    },
    /// Replaces a role's trust policy and the bindings of the principals it names.
    SetTrustPolicy {
        /// The role.
        id: UniqueId,
        /// The document as given.
        document: String,
        /// Its users and roles, bound to their unique ids.
        principals: Vec<PrincipalBinding>,
    },
    /// Records an AssumeRole of the role.
    TouchRole {
        /// The role.
        id: UniqueId,
        /// When.
        at: i64,
        /// Region of the call.
        region: String,
    },
    /// Removes a role.
    DeleteRole(UniqueId),
    /// Adds a managed policy with its versions and tags.
    InsertPolicy(ManagedPolicy),
    /// Removes a managed policy and its versions.
    DeletePolicy(UniqueId),
    /// Adds a version to a managed policy.
    InsertPolicyVersion {
        /// The policy.
        policy: UniqueId,
        /// The version.
        version: PolicyVersion,
        /// The policy's next version number after this one.
        next_version: i64,
    },
    /// Removes a non-default version.
    DeletePolicyVersion(UniqueId, String),
    /// Makes a version the default.
    SetDefaultVersion {
        /// The policy.
        policy: UniqueId,
        /// `vN`
        version_id: String,
        /// When.
        at: i64,
    },
    /// Attaches a managed policy.
    Attach(Attachment),
    /// Detaches a managed policy.
    Detach(Attachment),
    /// Creates or replaces an inline policy.
    PutInline(InlinePolicy),
    /// Removes an inline policy.
    DeleteInline(OwnerKind, UniqueId, String),
    /// Adds a session-token key; fails if the id is taken (another node
    /// rotated first), so two nodes never create conflicting keys.
    InsertTokenKey(TokenKeyMaterial),
    /// Removes a retired session-token key.
    DeleteTokenKey(u32),
    /// Adds a virtual MFA device with its TOTP seed.
    InsertMfaDevice(MfaDevice, zeroize::Zeroizing<Vec<u8>>),
    /// Enables a device for a user, or (`None`) deactivates it.
    AssignMfaDevice {
        /// The device's serial number.
        serial: String,
        /// The user and the time, or `None`.
        assigned: Option<(UniqueId, i64)>,
    },
    /// Removes a virtual MFA device.
    DeleteMfaDevice(String),
    /// Adds an identity provider (with its tags, keyed by its ARN).
    InsertProvider(IdentityProvider),
    /// Replaces an OIDC provider's client ids and thumbprints.
    UpdateProvider(IdentityProvider),
    /// Removes an identity provider.
    DeleteProvider(String),
    /// Records an Organizations CreateAccount request.
    InsertCreateAccountRequest(CreateAccountRequest),
    /// Adds a service control policy.
    InsertScp(Scp),
    /// Removes a service control policy.
    DeleteScp(String),
    /// Attaches an SCP to the root or an account.
    AttachScp {
        /// `p-…`
        policy: String,
        /// `r-…` or an account id.
        target: String,
    },
    /// Detaches an SCP.
    DetachScp {
        /// `p-…`
        policy: String,
        /// `r-…` or an account id.
        target: String,
    },
    /// Adds an S3 bucket (with its policy, if it has one). Bucket names are
    /// global: a name taken in any account fails with
    /// [`crate::StoreError::Conflict`] (S3's `BucketAlreadyExists`).
    InsertBucket(Bucket),
    /// Removes a bucket and its policy; fails with
    /// [`crate::StoreError::Constraint`] when there is no such bucket.
    DeleteBucket(String),
    /// Replaces a bucket's policy, or (`None`) deletes it; fails with
    /// [`crate::StoreError::Constraint`] when there is no such bucket.
    SetBucketPolicy {
        /// The bucket.
        name: String,
        /// The document as the user sent it, or `None`.
        policy: Option<String>,
        /// The users and roles it names, bound to their unique ids (empty
        /// with `None`).
        principals: Vec<PrincipalBinding>,
    },
}

/// An Organizations CreateAccount request (always completed at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAccountRequest {
    /// `car-…`
    pub id: String,
    /// The account created.
    pub account: latchkey_model::AccountId,
    /// The name asked for.
    pub name: String,
    /// When.
    pub requested: i64,
}

/// A service control policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scp {
    /// `p-…`
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The JSON document.
    pub content: String,
}

/// A session-token key as stored: id, creation time, 32 secret bytes.
#[derive(Clone)]
pub struct TokenKeyMaterial {
    /// Key id, named in every token it seals.
    pub id: u32,
    /// When it was created (Unix seconds).
    pub created: i64,
    /// The AES-256 key.
    pub secret: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for TokenKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeyMaterial(id={}, created={}, <redacted>)", self.id, self.created)
    }
}

/// A key with its decrypted secret.
#[derive(Debug)]
pub struct LoadedAccessKey {
    /// Metadata.
    pub key: AccessKey,
    /// The secret, opened with the master key.
    pub secret: SecretAccessKey,
    /// Last use: when, service, region.
    pub last_used: Option<(i64, String, String)>,
}

/// Everything [`crate::Store::load`] returns.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The version this data corresponds to.
    pub version: i64,
    /// Accounts.
    pub accounts: Vec<Account>,
    /// Users of every account.
    pub users: Vec<User>,
    /// Access keys of every account.
    pub access_keys: Vec<LoadedAccessKey>,
    /// Groups.
    pub groups: Vec<Group>,
    /// (group id, user id) memberships, oldest first.
    pub memberships: Vec<(UniqueId, UniqueId)>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Customer-managed policies with their versions.
    pub policies: Vec<ManagedPolicy>,
    /// Attachments, in attachment order.
    pub attachments: Vec<Attachment>,
    /// Inline policies.
    pub inline_policies: Vec<InlinePolicy>,
    /// Session-token keys, decrypted.
    pub token_keys: Vec<TokenKeyMaterial>,
    /// CreateAccount requests, oldest first.
    pub create_account_requests: Vec<CreateAccountRequest>,
    /// Service control policies.
    pub scps: Vec<Scp>,
    /// Identity providers.
    pub providers: Vec<IdentityProvider>,
    /// Virtual MFA devices with their seeds.
    pub mfa_devices: Vec<(MfaDevice, zeroize::Zeroizing<Vec<u8>>)>,
    /// (policy id, target id) SCP attachments.
    pub scp_attachments: Vec<(String, String)>,
    /// S3 buckets, by name.
    pub buckets: Vec<Bucket>,
}

/// The ops that rebuild `loaded` in an empty store, in an order that
/// satisfies the foreign keys: accounts, users, groups and memberships, roles,
/// policies, attachments, keys, devices, providers, buckets, Organizations data. Ids, secrets and
/// orderings (attachments, memberships) are kept; a membership's time is
/// replaced by its rank, which is all ListGroupsForUser reads from it.
pub(crate) fn import_ops(loaded: &Loaded) -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(loaded.accounts.iter().cloned().map(Op::InsertAccount));
    ops.extend(loaded.users.iter().cloned().map(Op::InsertUser));
    ops.extend(loaded.groups.iter().cloned().map(Op::InsertGroup));
    for (rank, (group, user)) in loaded.memberships.iter().enumerate() {
        let at = i64::try_from(rank).unwrap_or(i64::MAX);
        ops.push(Op::AddToGroup { group: group.clone(), user: user.clone(), at });
    }
    for role in &loaded.roles {
        ops.push(Op::InsertRole(role.clone()));
        if let Some((at, region)) = &role.last_used {
            ops.push(Op::TouchRole { id: role.id.clone(), at: *at, region: region.clone() });
        }
    }
    ops.extend(loaded.policies.iter().cloned().map(Op::InsertPolicy));
    ops.extend(loaded.attachments.iter().cloned().map(Op::Attach));
    ops.extend(loaded.inline_policies.iter().cloned().map(Op::PutInline));
    for k in &loaded.access_keys {
        ops.push(Op::InsertAccessKey(k.key.clone(), k.secret.clone()));
        if let Some((at, service, region)) = &k.last_used {
            ops.push(Op::TouchAccessKey { id: k.key.id.clone(), at: *at, service: service.clone(), region: region.clone() });
        }
    }
    ops.extend(loaded.token_keys.iter().cloned().map(Op::InsertTokenKey));
    ops.extend(loaded.mfa_devices.iter().map(|(d, seed)| Op::InsertMfaDevice(d.clone(), seed.clone())));
    ops.extend(loaded.providers.iter().cloned().map(Op::InsertProvider));
    ops.extend(loaded.buckets.iter().cloned().map(Op::InsertBucket));
    ops.extend(loaded.create_account_requests.iter().cloned().map(Op::InsertCreateAccountRequest));
    ops.extend(loaded.scps.iter().cloned().map(Op::InsertScp));
    for (policy, target) in &loaded.scp_attachments {
        ops.push(Op::AttachScp { policy: policy.clone(), target: target.clone() });
    }
    ops
}

/// The `roles.trust_principals` column: one `ARN ID` pair a line (neither
/// holds white space). `None` stays NULL: a policy saved before bindings.
pub(crate) fn encode_principals(principals: Option<&[PrincipalBinding]>) -> Option<String> {
    principals.map(|list| list.iter().map(|b| format!("{} {}\n", b.arn, b.id.as_str())).collect())
}

/// Decodes `roles.trust_principals` columns (the inverse of
/// [`encode_principals`]), handing out one shared list per distinct text. A
/// malformed line is skipped, so the ARN it held matches nobody.
#[derive(Debug, Default)]
pub(crate) struct SharedBindings {
    seen: std::collections::HashMap<String, std::sync::Arc<[PrincipalBinding]>>,
}

impl SharedBindings {
    pub(crate) fn decode(&mut self, text: Option<String>) -> Option<std::sync::Arc<[PrincipalBinding]>> {
        let text = text?;
        if let Some(list) = self.seen.get(&text) {
            return Some(list.clone());
        }
        let list: std::sync::Arc<[PrincipalBinding]> = text
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(arn, id)| PrincipalBinding { arn: arn.to_owned(), id: UniqueId::from_stored(id.to_owned()) })
            .collect();
        self.seen.insert(text, list.clone());
        Some(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_round_trip_and_identical_lists_are_shared() {
        let list = vec![
            PrincipalBinding { arn: "arn:aws:iam::111111111111:user/a".into(), id: UniqueId::from_stored("AIDAAAAA".into()) },
            PrincipalBinding { arn: "arn:aws:iam::111111111111:role/r".into(), id: UniqueId::from_stored("AROARRRR".into()) },
        ];
        let text = encode_principals(Some(&list));
        let mut shared = SharedBindings::default();
        let first = shared.decode(text.clone());
        let second = shared.decode(text);
        assert_eq!(first.as_deref(), Some(list.as_slice()));
        assert!(matches!((&first, &second), (Some(a), Some(b)) if std::sync::Arc::ptr_eq(a, b)));
        assert_eq!(shared.decode(None), None, "NULL: saved before bindings");
        assert_eq!(shared.decode(Some(String::new())).as_deref(), Some(&[][..]));
        let kept = shared.decode(Some("garbage\narn:aws:iam::1:user/x AIDAX\n".into()));
        assert_eq!(kept.map(|l| l.len()), Some(1), "a malformed line is skipped");
    }
}

/// What a batch of ops changed, named by the entities a snapshot keeps: a
/// user, group or role with what it owns (tags, inline policies,
/// attachments, memberships), a managed policy with its versions, an access
/// key, and so on. The store records it with each batch (the change log),
/// and a snapshot refreshes exactly these entities from the store, whether
/// the batch was committed by this node or by another one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Touched {
    /// Accounts.
    pub accounts: BTreeSet<AccountId>,
    /// Users (with their tags, inline policies, attachments and groups).
    pub users: BTreeSet<UniqueId>,
    /// Groups (with their inline policies, attachments and members).
    pub groups: BTreeSet<UniqueId>,
    /// Roles (with their tags, inline policies and attachments).
    pub roles: BTreeSet<UniqueId>,
    /// Customer-managed policies (with their versions and tags).
    pub policies: BTreeSet<UniqueId>,
    /// Access keys.
    pub access_keys: BTreeSet<AccessKeyId>,
    /// Virtual MFA devices, by serial number.
    pub mfa_devices: BTreeSet<String>,
    /// Identity providers, by ARN.
    pub providers: BTreeSet<String>,
    /// S3 buckets (with their policies), by name.
    pub buckets: BTreeSet<String>,
    /// The session-token key ring (a handful of rows: read whole).
    pub token_keys: bool,
    /// The organization: SCPs, their attachments, CreateAccount requests
    /// (few rows: read whole).
    pub organization: bool,
}

impl Touched {
    /// What `ops` change.
    pub fn of(ops: &[Op]) -> Self {
        let mut t = Self::default();
        for op in ops {
            t.add(op);
        }
        t
    }

    fn owner(&mut self, kind: OwnerKind, id: &UniqueId) {
        let set = match kind {
            OwnerKind::User => &mut self.users,
            OwnerKind::Group => &mut self.groups,
            OwnerKind::Role => &mut self.roles,
        };
        set.insert(id.clone());
    }

    /// Adds what `op` changes.
    pub fn add(&mut self, op: &Op) {
        match op {
            Op::InsertAccount(a) => {
                self.accounts.insert(a.id);
                // The organization's id derives from the management account.
                self.organization = true;
            }
            Op::InsertUser(u) => self.owner(OwnerKind::User, &u.id),
            Op::RenameUser { id, .. } | Op::DeleteUser(id) => self.owner(OwnerKind::User, id),
            Op::InsertAccessKey(k, _) => {
                self.access_keys.insert(k.id.clone());
            }
            Op::SetAccessKeyStatus(id, _) | Op::DeleteAccessKey(id) | Op::TouchAccessKey { id, .. } => {
                self.access_keys.insert(id.clone());
            }
            Op::SetTags(kind, id, _) | Op::SetBoundary(kind, id, _) | Op::DeleteInline(kind, id, _) => self.owner(*kind, id),
            Op::InsertGroup(g) => self.owner(OwnerKind::Group, &g.id),
            Op::DeleteGroup(id) => self.owner(OwnerKind::Group, id),
            Op::AddToGroup { group, user, .. } | Op::RemoveFromGroup { group, user } => {
                self.owner(OwnerKind::Group, group);
                self.owner(OwnerKind::User, user);
            }
            Op::InsertRole(r) => self.owner(OwnerKind::Role, &r.id),
            Op::UpdateRole { id, .. } | Op::SetTrustPolicy { id, .. } | Op::TouchRole { id, .. } | Op::DeleteRole(id) => {
                self.owner(OwnerKind::Role, id);
            }
            Op::InsertPolicy(p) => {
                self.policies.insert(p.id.clone());
            }
            Op::DeletePolicy(id)
            | Op::InsertPolicyVersion { policy: id, .. }
            | Op::DeletePolicyVersion(id, _)
            | Op::SetDefaultVersion { policy: id, .. } => {
                self.policies.insert(id.clone());
            }
            Op::Attach(a) | Op::Detach(a) => self.owner(a.owner_kind, &a.owner),
            Op::PutInline(p) => self.owner(p.owner_kind, &p.owner),
            Op::InsertTokenKey(_) | Op::DeleteTokenKey(_) => self.token_keys = true,
            Op::InsertMfaDevice(d, _) => {
                self.mfa_devices.insert(d.serial.clone());
            }
            Op::AssignMfaDevice { serial, .. } | Op::DeleteMfaDevice(serial) => {
                self.mfa_devices.insert(serial.clone());
            }
            Op::InsertProvider(p) | Op::UpdateProvider(p) => {
                self.providers.insert(p.arn.clone());
            }
            Op::DeleteProvider(arn) => {
                self.providers.insert(arn.clone());
            }
            Op::InsertBucket(b) => {
                self.buckets.insert(b.name.clone());
            }
            Op::DeleteBucket(name) | Op::SetBucketPolicy { name, .. } => {
                self.buckets.insert(name.clone());
            }
            Op::InsertCreateAccountRequest(_)
            | Op::InsertScp(_)
            | Op::DeleteScp(_)
            | Op::AttachScp { .. }
            | Op::DetachScp { .. } => self.organization = true,
        }
    }

    /// Adds everything `other` names.
    pub fn merge(&mut self, other: Self) {
        self.accounts.extend(other.accounts);
        self.users.extend(other.users);
        self.groups.extend(other.groups);
        self.roles.extend(other.roles);
        self.policies.extend(other.policies);
        self.access_keys.extend(other.access_keys);
        self.mfa_devices.extend(other.mfa_devices);
        self.providers.extend(other.providers);
        self.buckets.extend(other.buckets);
        self.token_keys |= other.token_keys;
        self.organization |= other.organization;
    }

    /// How many entities are named (the two whole-table flags count one each).
    pub fn len(&self) -> usize {
        self.accounts.len()
            + self.users.len()
            + self.groups.len()
            + self.roles.len()
            + self.policies.len()
            + self.access_keys.len()
            + self.mfa_devices.len()
            + self.providers.len()
            + self.buckets.len()
            + usize::from(self.token_keys)
            + usize::from(self.organization)
    }

    /// Whether nothing is named.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The change log's text: one `kind key` line per entity. Keys are ids,
    /// serial numbers, ARNs and bucket names, none of which holds white
    /// space (and the key is the rest of its line, so a space would do no
    /// harm; a line break would fail to decode, which reads everything).
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        let mut line = |kind: &str, key: &str| {
            out.push_str(kind);
            out.push(' ');
            out.push_str(key);
            out.push('\n');
        };
        self.accounts.iter().for_each(|a| line("a", &a.to_string()));
        self.users.iter().for_each(|u| line("u", u.as_str()));
        self.groups.iter().for_each(|g| line("g", g.as_str()));
        self.roles.iter().for_each(|r| line("r", r.as_str()));
        self.policies.iter().for_each(|p| line("p", p.as_str()));
        self.access_keys.iter().for_each(|k| line("k", k.as_str()));
        self.mfa_devices.iter().for_each(|m| line("m", m));
        self.providers.iter().for_each(|i| line("i", i));
        self.buckets.iter().for_each(|b| line("b", b));
        if self.token_keys {
            line("t", "-");
        }
        if self.organization {
            line("o", "-");
        }
        out
    }

    /// The inverse of [`Touched::encode`]; `None` for text it did not write.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let mut t = Self::default();
        for line in text.lines() {
            let (kind, key) = line.split_once(' ')?;
            let id = || UniqueId::from_stored(key.to_owned());
            match kind {
                "a" => {
                    t.accounts.insert(AccountId::from_str(key).ok()?);
                }
                "u" => {
                    t.users.insert(id());
                }
                "g" => {
                    t.groups.insert(id());
                }
                "r" => {
                    t.roles.insert(id());
                }
                "p" => {
                    t.policies.insert(id());
                }
                "k" => {
                    t.access_keys.insert(AccessKeyId::parse(key)?);
                }
                "m" => {
                    t.mfa_devices.insert(key.to_owned());
                }
                "i" => {
                    t.providers.insert(key.to_owned());
                }
                "b" => {
                    t.buckets.insert(key.to_owned());
                }
                "t" => t.token_keys = true,
                "o" => t.organization = true,
                _ => return None,
            }
        }
        Some(t)
    }
}

/// What [`crate::Store::load_since`] found since a snapshot's version.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per refresh, moved once or twice: boxing would cost an allocation to save a few hundred bytes of copy"
)]
pub enum Update {
    /// Nothing was committed since.
    Current,
    /// The current rows of the entities changed since (`rows.version` is the
    /// version they are as of); an entity named in `touched` without a row
    /// in `rows` was deleted.
    Changed {
        /// What changed.
        touched: Touched,
        /// Those entities' rows: a [`Loaded`] holding only them.
        rows: Loaded,
    },
    /// Everything, as [`crate::Store::load`] returns it: the change log no
    /// longer reaches back to the version asked about, or so much changed
    /// that reading it all is cheaper.
    Everything(Loaded),
}

impl LoadedAccessKey {
    /// The user owning the key, `None` for the root user.
    pub fn owner(&self) -> Option<&UniqueId> {
        match &self.key.owner {
            AccessKeyOwner::Root => None,
            AccessKeyOwner::User(id) => Some(id),
        }
    }
}

#[cfg(test)]
mod touched_tests {
    use super::*;

    #[test]
    fn touched_round_trips_through_the_change_log_text() {
        let mut t = Touched::default();
        t.accounts.insert(AccountId::from_str("111111111111").unwrap());
        t.users.insert(UniqueId::from_stored("AIDAUSER".into()));
        t.groups.insert(UniqueId::from_stored("AGPAGROUP".into()));
        t.roles.insert(UniqueId::from_stored("AROAROLE".into()));
        t.policies.insert(UniqueId::from_stored("ANPAPOLICY".into()));
        t.mfa_devices.insert("arn:aws:iam::111111111111:mfa/dev".into());
        t.providers.insert("arn:aws:iam::111111111111:oidc-provider/example.com/x".into());
        t.buckets.insert("my.bucket-1".into());
        t.token_keys = true;
        t.organization = true;
        assert_eq!(Touched::decode(&t.encode()), Some(t.clone()));
        assert_eq!(t.len(), 10);
        assert_eq!(Touched::decode(""), Some(Touched::default()));
        assert_eq!(Touched::decode("x y\n"), None, "an unknown kind is refused, not skipped");
        assert_eq!(Touched::decode("u\n"), None);
    }

    #[test]
    fn a_membership_touches_both_sides_and_an_attachment_its_owner() {
        let (g, u) = (UniqueId::from_stored("AGPAG".into()), UniqueId::from_stored("AIDAU".into()));
        let t = Touched::of(&[
            Op::AddToGroup { group: g.clone(), user: u.clone(), at: 1 },
            Op::Attach(Attachment { policy_arn: "arn:aws:iam::aws:policy/X".into(), owner_kind: OwnerKind::Group, owner: g.clone() }),
        ]);
        assert_eq!(t.groups.into_iter().collect::<Vec<_>>(), vec![g]);
        assert_eq!(t.users.into_iter().collect::<Vec<_>>(), vec![u]);
        assert!(t.policies.is_empty(), "attaching changes the owner, not the policy");
    }
}

#[cfg(test)]
mod bucket_tests {
    use super::*;

    #[test]
    fn bucket_ops_touch_the_bucket_by_name() {
        let account = AccountId::from_str("111111111111").unwrap();
        let bucket = Bucket {
            name: "b1".into(),
            account,
            created: 1,
            region: "us-east-1".into(),
            policy: None,
            policy_principals: Vec::new(),
        };
        let t = Touched::of(&[
            Op::InsertBucket(bucket),
            Op::SetBucketPolicy { name: "b2".into(), policy: Some("{}".into()), principals: Vec::new() },
            Op::DeleteBucket("b3".into()),
        ]);
        assert_eq!(t.buckets.iter().map(String::as_str).collect::<Vec<_>>(), ["b1", "b2", "b3"]);
        assert_eq!(t.len(), 3, "nothing else: a bucket is its own entity");
        assert_eq!(Touched::decode(&t.encode()), Some(t));
    }
}
