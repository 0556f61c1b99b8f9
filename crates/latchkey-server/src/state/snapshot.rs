use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use latchkey_model::{
    AccessKey, AccessKeyOwner, Account, AccountId, Attachment, Bucket, Group, IdentityProvider, InlinePolicy, ManagedPolicy, OwnerKind,
    Role, SecretAccessKey, UniqueId, User,
};
use latchkey_policy::{CompiledPolicy, PolicyKind};
use latchkey_store::{Loaded, Touched};

use super::policies::{AWS_MANAGED_COMPILED, NamedPolicy, compile_stored};

/// An ordered map that snapshots share: a new snapshot copies only the
/// paths to what it changes, so a write costs the same with 10 roles or
/// 100,000. Listings read these in name order.
pub type Map<K, V> = imbl::OrdMap<K, V>;
/// An unordered index that snapshots share, as [`Map`]. Hashed with
/// foldhash (seeded per map), several times faster than SipHash on the
/// short keys here; the keys are ids and names an administrator chose.
pub type Index<K, V> = imbl::GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;
/// A list that snapshots share, for lists that grow with the account (a
/// group's members, the entities a policy is attached to).
pub type List<T> = imbl::Vector<T>;

/// One immutable view of the IAM state. Cloning it is cheap (its maps are
/// shared); [`Snapshot::patched`] makes the next one from what changed.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Store version this view was built from.
    pub version: i64,
    /// Accounts by id.
    pub accounts: Index<AccountId, Arc<AccountState>>,
    /// Every long-term access key, by id, with its secret: authentication
    /// reads only this map.
    pub keys: Index<String, Arc<KeyEntry>>,
    /// Session-token keys; `None` until the first key is created.
    pub token_ring: Option<Arc<latchkey_token::KeyRing>>,
    /// The organization every account belongs to.
    pub org: Arc<Organization>,
    /// S3 buckets of every account by name (bucket names are global), with
    /// their policies compiled. Read through [`Snapshot::bucket`] and
    /// [`Snapshot::buckets_of`].
    pub buckets: Map<String, Arc<BucketEntry>>,
}

/// The organization of the management account, with its SCPs.
#[derive(Debug, Default)]
pub struct Organization {
    /// The management account.
    pub management: Option<AccountId>,
    /// `o-…`
    pub id: String,
    /// `r-…`
    pub root_id: String,
    /// CreateAccount requests, oldest first.
    pub requests: Vec<latchkey_store::CreateAccountRequest>,
    /// SCPs by id, FullAWSAccess included.
    pub scps: BTreeMap<String, ScpEntry>,
    /// Policy ids attached to each target (`r-…` or an account id).
    pub attached: HashMap<String, Vec<String>>,
}

/// A service control policy and its compiled form.
#[derive(Debug)]
pub struct ScpEntry {
    /// The policy.
    pub scp: latchkey_store::Scp,
    /// Whether AWS manages it (FullAWSAccess).
    pub aws_managed: bool,
    /// Compiled.
    pub compiled: NamedPolicy,
}

/// The AWS-managed SCP every target starts with.
pub const FULL_AWS_ACCESS: &str = "p-FullAWSAccess";

impl Organization {
    /// The policy ARN of an SCP.
    pub fn policy_arn(&self, id: &str, aws_managed: bool) -> String {
        match (aws_managed, self.management) {
            (true, _) => format!("arn:aws:organizations::aws:policy/service_control_policy/{id}"),
            (false, Some(m)) => format!("arn:aws:organizations::{m}:policy/{}/service_control_policy/{id}", self.id),
            (false, None) => String::new(),
        }
    }

    /// The SCP levels that apply to principals of `account`: the root's, then
    /// the account's. None for the management account, as AWS does.
    pub fn levels(&self, account: &AccountId) -> Option<[Vec<NamedPolicy>; 2]> {
        if self.management.is_none() || self.management == Some(*account) {
            return None;
        }
        let at = |target: &str| -> Vec<NamedPolicy> {
            self.attached
                .get(target)
                .map(|ids| ids.iter().filter_map(|i| self.scps.get(i)).map(|e| e.compiled.clone()).collect())
                .unwrap_or_default()
        };
        Some([at(&self.root_id), at(&account.to_string())])
    }

    fn build(management: Option<AccountId>, parts: OrgParts) -> Self {
        let seed = management.map_or(0, |m| m.as_u64());
        let id = format!("o-{}", base36(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 10));
        let root_id = format!("r-{}", base36(seed.wrapping_mul(0xC2B2_AE3D_27D4_EB4F), 4));
        let mut scps = BTreeMap::new();
        let full = latchkey_store::Scp {
            id: FULL_AWS_ACCESS.to_owned(),
            name: "FullAWSAccess".to_owned(),
            description: "Allows access to every operation".to_owned(),
            content: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.to_owned(),
        };
        for (scp, aws_managed) in std::iter::once((full, true)).chain(parts.scps.into_iter().map(|s| (s, false))) {
            let compiled = NamedPolicy {
                id: Arc::from(scp.id.as_str()),
                policy: compile_stored(&scp.content, PolicyKind::ServiceControl),
            };
            scps.insert(scp.id.clone(), ScpEntry { scp, aws_managed, compiled });
        }
        let mut attached: HashMap<String, Vec<String>> = HashMap::new();
        // FullAWSAccess stays attached to the root: latchkey has no OUs, and
        // the account level is where SCPs are narrowed.
        attached.entry(root_id.clone()).or_default().push(FULL_AWS_ACCESS.to_owned());
        for (policy, target) in parts.attachments {
            attached.entry(target).or_default().push(policy);
        }
        Self { management, id, root_id, requests: parts.requests, scps, attached }
    }
}

/// What the store holds about the organization.
struct OrgParts {
    scps: Vec<latchkey_store::Scp>,
    attachments: Vec<(String, String)>,
    requests: Vec<latchkey_store::CreateAccountRequest>,
}

fn base36(mut n: u64, len: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| {
            let d = DIGITS.get(usize::try_from(n % 36).unwrap_or(0)).copied().unwrap_or(b'0');
            n /= 36;
            char::from(d)
        })
        .collect()
}

/// A long-term key and its secret.
#[derive(Debug)]
pub struct KeyEntry {
    /// Metadata.
    pub key: AccessKey,
    /// The decrypted secret.
    pub secret: SecretAccessKey,
    /// Last use recorded in the store: when, service, region.
    pub last_used: Option<(i64, String, String)>,
}

/// A role, and its trust policy compiled on first use.
#[derive(Debug)]
pub struct RoleEntry {
    /// The role.
    pub role: Role,
    /// Compiled by the first AssumeRole that needs it, and kept by every
    /// later snapshot until the role changes: with 100,000 roles,
    /// compiling every trust policy up front made start-up take seconds
    /// and most of the memory.
    trust: std::sync::OnceLock<Arc<CompiledPolicy>>,
}

impl RoleEntry {
    /// An entry for `role`; its trust policy is compiled when first asked for.
    pub fn new(role: Role) -> Self {
        Self { role, trust: std::sync::OnceLock::new() }
    }

    /// The compiled trust policy.
    pub fn trust(&self) -> &CompiledPolicy {
        self.trust.get_or_init(|| {
            let compiled = compile_stored(&self.role.trust_policy, PolicyKind::Trust);
            match &self.role.trust_principals {
                Some(bindings) => {
                    // Freshly compiled, so unwrapping takes it without a copy.
                    let mut bound = Arc::unwrap_or_clone(compiled);
                    bound.bind_principals(&super::principals::binder(bindings));
                    Arc::new(bound)
                }
                None => compiled,
            }
        })
    }
}

/// An S3 bucket and its bucket policy, compiled as a resource-based policy
/// (`PolicyKind::Resource`: within the account it or the caller's identity
/// policies may allow, across accounts both must) with its users and roles
/// bound to the unique ids they had when it was saved, as a role's trust
/// policy is. Compiled when the bucket enters the snapshot, and kept by
/// later snapshots until the bucket changes: its bindings are ids, so no
/// rename or deletion of a user or role calls for binding it again.
#[derive(Debug)]
pub struct BucketEntry {
    /// The bucket, with its policy document as stored.
    pub bucket: Bucket,
    /// The policy, compiled and bound; `None` without one. Pass it to the
    /// engine as the resource policy (`policy.as_ref()`).
    pub policy: Option<CompiledPolicy>,
}

impl BucketEntry {
    /// An entry for `bucket`, its policy compiled and bound.
    pub fn new(bucket: Bucket) -> Self {
        let policy = bucket.policy.as_deref().map(|doc| {
            // Freshly compiled, so unwrapping takes it without a copy.
            let mut compiled = Arc::unwrap_or_clone(compile_stored(doc, PolicyKind::Resource));
            compiled.bind_principals(&super::principals::binder(&bucket.policy_principals));
            compiled
        });
        Self { bucket, policy }
    }
}

/// A customer-managed policy with its default version compiled.
#[derive(Debug)]
pub struct PolicyEntry {
    /// The policy and its versions.
    pub policy: ManagedPolicy,
    /// The default version, compiled.
    pub compiled: NamedPolicy,
}

/// An inline policy with its compiled form.
#[derive(Debug, Clone)]
pub struct InlineEntry {
    /// The document as given.
    pub document: String,
    /// Compiled.
    pub compiled: NamedPolicy,
}

/// What authorises a user or role: every identity-based policy that applies
/// (own inline and attached, and for users their groups'), and the boundary.
/// Gathered when the entity or a policy it uses changes, so a request only
/// borrows it.
#[derive(Debug, Default)]
pub struct Effective {
    /// Identity-based policies.
    pub identity: Vec<NamedPolicy>,
    /// The permissions boundary, if any.
    pub boundary: Option<NamedPolicy>,
}

/// One account's entities. Cloning it is cheap: every map is shared with
/// the snapshot it came from until one of them changes.
#[derive(Debug, Default, Clone)]
pub struct AccountState {
    /// The account.
    pub account: Option<Account>,
    /// Users by lower-cased name (IAM names are case-insensitive), which is
    /// also the order listings return them in.
    pub users: Map<String, Arc<User>>,
    /// Lower-cased user name by unique id.
    pub user_names: Index<UniqueId, String>,
    /// Access key ids by owner (`None` = root), in creation order.
    pub keys_by_owner: Index<Option<UniqueId>, Arc<Vec<String>>>,
    /// Groups by lower-cased name.
    pub groups: Map<String, Arc<Group>>,
    /// Lower-cased group name by id.
    pub group_names: Index<UniqueId, String>,
    /// Members of each group, in the order they were added.
    pub members: Index<UniqueId, List<UniqueId>>,
    /// Groups of each user, in the order the user joined them.
    pub groups_of: Index<UniqueId, Arc<Vec<UniqueId>>>,
    /// Roles by lower-cased name.
    pub roles: Map<String, Arc<RoleEntry>>,
    /// Lower-cased role name by id.
    pub role_names: Index<UniqueId, String>,
    /// Customer-managed policies by lower-cased name.
    pub policies: Map<String, Arc<PolicyEntry>>,
    /// Lower-cased policy name by ARN.
    pub policy_arns: Index<String, String>,
    /// Lower-cased policy name by id.
    pub policy_names: Index<UniqueId, String>,
    /// Inline policies of each user, group or role, by name.
    pub inline: Index<UniqueId, Arc<BTreeMap<String, InlineEntry>>>,
    /// Attached managed policy ARNs of each user, group or role, in attachment order.
    pub attached: Index<UniqueId, Arc<Vec<String>>>,
    /// Entities each policy ARN is attached to: (kind, id), in attachment order.
    pub attached_to: Index<String, List<(OwnerKind, UniqueId)>>,
    /// The effective policies of each user and role that has any: most
    /// roles of a large store have none, and take no entry.
    pub effective: Index<UniqueId, Arc<Effective>>,
    /// Virtual MFA devices by serial number, with their seeds.
    pub mfa: Map<String, Arc<MfaEntry>>,
    /// OIDC and SAML identity providers by ARN.
    pub providers: Map<String, Arc<IdentityProvider>>,
}

/// A virtual MFA device and its TOTP seed.
pub struct MfaEntry {
    /// The device.
    pub device: latchkey_model::MfaDevice,
    /// The seed, decrypted.
    pub seed: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for MfaEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaEntry").field("device", &self.device).field("seed", &"<redacted>").finish()
    }
}

impl AccountState {
    /// The account record.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// A user by name, case-insensitively.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(&name.to_lowercase()).map(Arc::as_ref)
    }

    /// A user by unique id.
    pub fn user_by_id(&self, id: &UniqueId) -> Option<&User> {
        self.user_names.get(id).and_then(|n| self.users.get(n)).map(Arc::as_ref)
    }

    /// A group by name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(&name.to_lowercase()).map(Arc::as_ref)
    }

    /// A group by id.
    pub fn group_by_id(&self, id: &UniqueId) -> Option<&Group> {
        self.group_names.get(id).and_then(|n| self.groups.get(n)).map(Arc::as_ref)
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&RoleEntry> {
        self.roles.get(&name.to_lowercase()).map(Arc::as_ref)
    }

    /// A role by unique id.
    pub fn role_by_id(&self, id: &UniqueId) -> Option<&RoleEntry> {
        self.role_names.get(id).and_then(|n| self.roles.get(n)).map(Arc::as_ref)
    }

    /// A customer-managed policy by ARN.
    pub fn policy_by_arn(&self, arn: &str) -> Option<&PolicyEntry> {
        self.policy_arns.get(arn).and_then(|n| self.policies.get(n)).map(Arc::as_ref)
    }

    /// Any managed policy (customer's or AWS's) by ARN, compiled.
    pub fn managed(&self, arn: &str) -> Option<&NamedPolicy> {
        self.policy_by_arn(arn).map(|p| &p.compiled).or_else(|| aws_managed(arn))
    }

    /// The access key ids of root (`None`) or a user.
    pub fn keys_of(&self, owner: Option<&UniqueId>) -> &[String] {
        self.keys_by_owner.get(&owner.cloned()).map_or(&[], |k| k.as_slice())
    }

    /// The policies that authorise a user or role; `None` when it has none.
    pub fn effective(&self, id: &UniqueId) -> Option<&Arc<Effective>> {
        self.effective.get(id)
    }

    /// The groups of a user, in the order joined.
    pub fn groups_of(&self, user: &UniqueId) -> &[UniqueId] {
        self.groups_of.get(user).map_or(&[], |g| g.as_slice())
    }

    /// The managed policies attached to a user, group or role.
    pub fn attached(&self, owner: &UniqueId) -> &[String] {
        self.attached.get(owner).map_or(&[], |a| a.as_slice())
    }

    fn owner_policies(&self, owner: &UniqueId, into: &mut Vec<NamedPolicy>) {
        if let Some(inline) = self.inline.get(owner) {
            into.extend(inline.values().map(|e| e.compiled.clone()));
        }
        into.extend(self.attached(owner).iter().filter_map(|a| self.managed(a).cloned()));
    }

    /// Gathers the effective policies of a user or role from the maps as
    /// they are now; `None` when it has none, or is neither (any more).
    fn gather_effective(&self, id: &UniqueId) -> Option<Arc<Effective>> {
        let mut identity = Vec::new();
        let boundary = if let Some(u) = self.user_by_id(id) {
            self.owner_policies(id, &mut identity);
            for g in self.groups_of(id) {
                self.owner_policies(g, &mut identity);
            }
            u.permissions_boundary.as_deref()
        } else {
            let r = self.role_by_id(id)?;
            self.owner_policies(id, &mut identity);
            r.role.permissions_boundary.as_deref()
        };
        let boundary = boundary.and_then(|a| self.managed(a).cloned());
        (!identity.is_empty() || boundary.is_some()).then(|| Arc::new(Effective { identity, boundary }))
    }

    // ----- removal: an entity's old version, with what it owns

    fn remove_user(&mut self, id: &UniqueId) {
        if let Some(name) = self.user_names.remove(id) {
            self.users.remove(&name);
        }
        self.groups_of.remove(id);
    }

    fn remove_group(&mut self, id: &UniqueId) {
        if let Some(name) = self.group_names.remove(id) {
            self.groups.remove(&name);
        }
        self.members.remove(id);
    }

    fn remove_role(&mut self, id: &UniqueId) {
        if let Some(name) = self.role_names.remove(id) {
            self.roles.remove(&name);
        }
    }

    /// Removes a managed policy; its ARN, if it was here.
    fn remove_policy(&mut self, id: &UniqueId) -> Option<String> {
        let old = self.policies.remove(&self.policy_names.remove(id)?)?;
        let arn = old.policy.arn();
        self.policy_arns.remove(&arn);
        Some(arn)
    }

    // ----- insertion

    fn insert_user(&mut self, u: User) {
        let lower = u.name.to_lowercase();
        self.user_names.insert(u.id.clone(), lower.clone());
        self.users.insert(lower, Arc::new(u));
    }

    fn insert_group(&mut self, g: Group) {
        let lower = g.name.to_lowercase();
        self.group_names.insert(g.id.clone(), lower.clone());
        self.groups.insert(lower, Arc::new(g));
    }

    fn insert_role(&mut self, r: Role) {
        let lower = r.name.to_lowercase();
        self.role_names.insert(r.id.clone(), lower.clone());
        self.roles.insert(lower, Arc::new(RoleEntry::new(r)));
    }

    fn insert_policy(&mut self, p: ManagedPolicy) {
        let arn = p.arn();
        let compiled = NamedPolicy {
            id: Arc::from(arn.as_str()),
            policy: compile_stored(p.default_document().unwrap_or_default(), PolicyKind::Identity),
        };
        let lower = p.name.to_lowercase();
        self.policy_arns.insert(arn, lower.clone());
        self.policy_names.insert(p.id.clone(), lower.clone());
        self.policies.insert(lower, Arc::new(PolicyEntry { policy: p, compiled }));
    }

    /// Replaces an owner's attachments with `now` (in attachment order),
    /// keeping the policies' lists of owners in order: an attachment that
    /// stays keeps its place, a new one (the newest) goes last.
    fn set_attached(&mut self, kind: OwnerKind, owner: &UniqueId, now: Vec<String>) {
        let before = self.attached.remove(owner).unwrap_or_default();
        for arn in before.iter().filter(|a| !now.contains(a)) {
            if let Some(list) = self.attached_to.get_mut(arn) {
                list.retain(|(_, id)| id != owner);
                if list.is_empty() {
                    self.attached_to.remove(arn);
                }
            }
        }
        for arn in now.iter().filter(|a| !before.contains(a)) {
            self.attached_to.entry(arn.clone()).or_default().push_back((kind, owner.clone()));
        }
        if !now.is_empty() {
            self.attached.insert(owner.clone(), Arc::new(now));
        }
    }

    /// Replaces an owner's inline policies, reusing the compiled form of
    /// each document that did not change.
    fn set_inline(&mut self, kind: OwnerKind, owner: &UniqueId, now: Vec<InlinePolicy>) {
        let before = self.inline.remove(owner);
        if now.is_empty() {
            return;
        }
        let owner_name = match kind {
            OwnerKind::User => self.user_names.get(owner),
            OwnerKind::Group => self.group_names.get(owner),
            OwnerKind::Role => self.role_names.get(owner),
        }
        .cloned()
        .unwrap_or_default();
        let entries = now
            .into_iter()
            .map(|p| {
                let id = format!("{}/{}/{}", kind.as_str(), owner_name, p.name);
                let kept = before.as_ref().and_then(|b| b.get(&p.name)).filter(|e| e.document == p.document && *e.compiled.id == *id);
                let entry = match kept {
                    Some(e) => e.clone(),
                    None => {
                        let compiled = NamedPolicy {
                            id: Arc::from(id.as_str()),
                            policy: compile_stored(&p.document, PolicyKind::Identity),
                        };
                        InlineEntry { document: p.document, compiled }
                    }
                };
                (p.name, entry)
            })
            .collect();
        self.inline.insert(owner.clone(), Arc::new(entries));
    }

    /// Users and roles whose permissions boundary is `arn`.
    fn bounded_by(&self, arn: &str) -> Vec<UniqueId> {
        let users = self.users.values().filter(|u| u.permissions_boundary.as_deref() == Some(arn)).map(|u| u.id.clone());
        let roles =
            self.roles.values().filter(|r| r.role.permissions_boundary.as_deref() == Some(arn)).map(|r| r.role.id.clone());
        users.chain(roles).collect()
    }
}

/// An AWS-managed policy by ARN.
pub fn aws_managed(arn: &str) -> Option<&'static NamedPolicy> {
    AWS_MANAGED_COMPILED.iter().find(|(a, _)| a == arn).map(|(_, p)| p)
}

/// What a patch reads from `rows`: everything (a snapshot built from a
/// full load) or the entities a change names.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Everything,
    Only(&'a Touched),
}

impl Scope<'_> {
    fn user(self, id: &UniqueId) -> bool {
        matches!(self, Scope::Everything) || matches!(self, Scope::Only(t) if t.users.contains(id))
    }

    fn group(self, id: &UniqueId) -> bool {
        matches!(self, Scope::Everything) || matches!(self, Scope::Only(t) if t.groups.contains(id))
    }

    fn owner(self, kind: OwnerKind, id: &UniqueId) -> bool {
        match kind {
            OwnerKind::User => self.user(id),
            OwnerKind::Group => self.group(id),
            OwnerKind::Role => matches!(self, Scope::Everything) || matches!(self, Scope::Only(t) if t.roles.contains(id)),
        }
    }

    fn token_keys(self) -> bool {
        matches!(self, Scope::Everything) || matches!(self, Scope::Only(t) if t.token_keys)
    }

    fn organization(self) -> bool {
        matches!(self, Scope::Everything) || matches!(self, Scope::Only(t) if t.organization)
    }
}

impl Snapshot {
    /// Indexes and compiles a full load.
    pub fn build(loaded: Loaded) -> Self {
        let mut snap = Self::default();
        snap.apply(Scope::Everything, loaded);
        snap
    }

    /// The next snapshot: this one with the entities `touched` names
    /// replaced by their `rows` (what [`latchkey_store::Store::load_since`]
    /// read), or removed when they have none. It shares every other entity
    /// with this one, so its cost follows the change, not the store's size.
    pub fn patched(&self, touched: &Touched, rows: Loaded) -> Self {
        let mut next = self.clone();
        next.apply(Scope::Only(touched), rows);
        next
    }

    /// An account's state.
    pub fn account(&self, id: &AccountId) -> Option<&AccountState> {
        self.accounts.get(id).map(Arc::as_ref)
    }

    /// A bucket by name, whichever account owns it (names are global, and
    /// case-sensitive as S3's are).
    pub fn bucket(&self, name: &str) -> Option<&BucketEntry> {
        self.buckets.get(name).map(Arc::as_ref)
    }

    /// The buckets `account` owns, by name (ListBuckets). A scan of every
    /// bucket: listing is rare next to the lookups by name.
    pub fn buckets_of(&self, account: &AccountId) -> impl Iterator<Item = &Bucket> {
        self.buckets.values().map(|e| &e.bucket).filter(move |b| b.account == *account)
    }

    /// The account holding an entity, found by `has`: a removal knows the
    /// id only (the store has no row for it any more).
    fn holder(&self, has: impl Fn(&AccountState) -> bool) -> Option<AccountId> {
        self.accounts.iter().find(|(_, a)| has(a)).map(|(id, _)| *id)
    }

    /// The account's state, to change: copied from the previous snapshot's
    /// on first use (a copy of the maps' roots, not of their entries).
    fn account_mut(&mut self, id: AccountId) -> &mut AccountState {
        Arc::make_mut(self.accounts.entry(id).or_default())
    }

    fn apply(&mut self, scope: Scope<'_>, mut rows: Loaded) {
        self.version = rows.version;
        // Users and roles whose effective policies must be gathered again.
        let mut dirty: Vec<(AccountId, UniqueId)> = Vec::new();
        // Managed policies removed or (re)inserted, whose users must be too.
        let mut changed_policies: Vec<(AccountId, String)> = Vec::new();

        // 1. Remove the old version of every named entity.
        if let Scope::Only(t) = scope {
            for id in &t.users {
                if let Some(a) = self.holder(|a| a.user_names.contains_key(id)) {
                    self.account_mut(a).remove_user(id);
                    dirty.push((a, id.clone()));
                }
            }
            for id in &t.groups {
                if let Some(a) = self.holder(|a| a.group_names.contains_key(id)) {
                    let acct = self.account_mut(a);
                    dirty.extend(acct.members.get(id).into_iter().flatten().map(|u| (a, u.clone())));
                    acct.remove_group(id);
                }
            }
            for id in &t.roles {
                if let Some(a) = self.holder(|a| a.role_names.contains_key(id)) {
                    self.account_mut(a).remove_role(id);
                    dirty.push((a, id.clone()));
                }
            }
            for id in &t.policies {
                if let Some(a) = self.holder(|a| a.policy_names.contains_key(id))
                    && let Some(arn) = self.account_mut(a).remove_policy(id)
                {
                    changed_policies.push((a, arn));
                }
            }
            for id in &t.access_keys {
                if let Some(old) = self.keys.remove(id.as_str()) {
                    let owner = owner_of(&old.key);
                    let acct = self.account_mut(old.key.account);
                    if let Some(list) = acct.keys_by_owner.get_mut(&owner) {
                        Arc::make_mut(list).retain(|k| k != id.as_str());
                        if list.is_empty() {
                            acct.keys_by_owner.remove(&owner);
                        }
                    }
                }
            }
            for serial in &t.mfa_devices {
                if let Some(a) = self.holder(|a| a.mfa.contains_key(serial)) {
                    self.account_mut(a).mfa.remove(serial);
                }
            }
            for arn in &t.providers {
                if let Some(a) = self.holder(|a| a.providers.contains_key(arn)) {
                    self.account_mut(a).providers.remove(arn);
                }
            }
            for name in &t.buckets {
                self.buckets.remove(name);
            }
        }

        // 2. Insert what the store holds now.
        for a in std::mem::take(&mut rows.accounts) {
            let id = a.id;
            self.account_mut(id).account = Some(a);
        }
        let mut owner_account: HashMap<UniqueId, AccountId> = HashMap::new();
        for u in std::mem::take(&mut rows.users) {
            owner_account.insert(u.id.clone(), u.account);
            dirty.push((u.account, u.id.clone()));
            self.account_mut(u.account).insert_user(u);
        }
        for g in std::mem::take(&mut rows.groups) {
            owner_account.insert(g.id.clone(), g.account);
            self.account_mut(g.account).insert_group(g);
        }
        for r in std::mem::take(&mut rows.roles) {
            owner_account.insert(r.id.clone(), r.account);
            // A full build gathers only for roles that can have policies
            // (a boundary here; inline and attached ones below): with
            // 100,000 roles, most have none.
            if matches!(scope, Scope::Only(_)) || r.permissions_boundary.is_some() {
                dirty.push((r.account, r.id.clone()));
            }
            self.account_mut(r.account).insert_role(r);
        }
        // A membership is read when either side changed; each side's list is
        // rebuilt only for the side that did (the other's is unchanged).
        let mut members: HashMap<UniqueId, Vec<UniqueId>> = HashMap::new();
        let mut groups_of: HashMap<UniqueId, Vec<UniqueId>> = HashMap::new();
        for (group, user) in std::mem::take(&mut rows.memberships) {
            if scope.group(&group) {
                members.entry(group.clone()).or_default().push(user.clone());
            }
            if scope.user(&user) {
                groups_of.entry(user).or_default().push(group);
            }
        }
        for (group, list) in members {
            if let Some(a) = owner_account.get(&group).copied() {
                dirty.extend(list.iter().map(|u| (a, u.clone())));
                self.account_mut(a).members.insert(group, list.into_iter().collect());
            }
        }
        for (user, list) in groups_of {
            if let Some(a) = owner_account.get(&user).copied() {
                self.account_mut(a).groups_of.insert(user, Arc::new(list));
            }
        }
        for p in std::mem::take(&mut rows.policies) {
            changed_policies.push((p.account, p.arn()));
            self.account_mut(p.account).insert_policy(p);
        }

        // What each named owner owns now: attachments, inline policies.
        let mut attached: HashMap<UniqueId, (OwnerKind, Vec<String>)> = HashMap::new();
        for Attachment { policy_arn, owner_kind, owner } in std::mem::take(&mut rows.attachments) {
            attached.entry(owner).or_insert_with(|| (owner_kind, Vec::new())).1.push(policy_arn);
        }
        let mut inline: HashMap<UniqueId, (OwnerKind, Vec<InlinePolicy>)> = HashMap::new();
        for p in std::mem::take(&mut rows.inline_policies) {
            inline.entry(p.owner.clone()).or_insert_with(|| (p.owner_kind, Vec::new())).1.push(p);
        }
        let owners: Vec<(OwnerKind, UniqueId)> = match scope {
            Scope::Everything => {
                let mut all: HashMap<UniqueId, OwnerKind> = attached.iter().map(|(id, (k, _))| (id.clone(), *k)).collect();
                all.extend(inline.iter().map(|(id, (k, _))| (id.clone(), *k)));
                all.into_iter().map(|(id, k)| (k, id)).collect()
            }
            Scope::Only(t) => t
                .users
                .iter()
                .map(|u| (OwnerKind::User, u.clone()))
                .chain(t.groups.iter().map(|g| (OwnerKind::Group, g.clone())))
                .chain(t.roles.iter().map(|r| (OwnerKind::Role, r.clone())))
                .collect(),
        };
        for (kind, owner) in owners {
            debug_assert!(scope.owner(kind, &owner));
            // A deleted owner has no row: its account is the one that held
            // its attachments (they went with it).
            let account = owner_account
                .get(&owner)
                .copied()
                .or_else(|| self.holder(|a| a.attached.contains_key(&owner) || a.inline.contains_key(&owner)));
            let Some(a) = account else { continue };
            let acct = self.account_mut(a);
            acct.set_inline(kind, &owner, inline.remove(&owner).map(|(_, list)| list).unwrap_or_default());
            acct.set_attached(kind, &owner, attached.remove(&owner).map(|(_, list)| list).unwrap_or_default());
            if kind == OwnerKind::Role {
                dirty.push((a, owner.clone()));
            }
            if kind == OwnerKind::Group {
                dirty.extend(acct.members.get(&owner).into_iter().flatten().map(|u| (a, u.clone())));
            }
        }

        // Keys, in creation order within each owner's list.
        let mut keys = std::mem::take(&mut rows.access_keys);
        keys.sort_by(|a, b| (a.key.created, a.key.id.as_str()).cmp(&(b.key.created, b.key.id.as_str())));
        for k in keys {
            let (owner, account) = (owner_of(&k.key), k.key.account);
            let id = k.key.id.as_str().to_owned();
            self.keys.insert(id.clone(), Arc::new(KeyEntry { key: k.key, secret: k.secret, last_used: k.last_used }));
            let mut list: Vec<String> = self.account(&account).map(|a| a.keys_of(owner.as_ref()).to_vec()).unwrap_or_default();
            list.push(id);
            // An owner has a handful of keys at most (IAM allows two a user).
            let created = |k: &String| self.keys.get(k).map_or(0, |e| e.key.created);
            list.sort_by(|x, y| (created(x), x).cmp(&(created(y), y)));
            self.account_mut(account).keys_by_owner.insert(owner, Arc::new(list));
        }
        for (device, seed) in std::mem::take(&mut rows.mfa_devices) {
            self.account_mut(device.account).mfa.insert(device.serial.clone(), Arc::new(MfaEntry { device, seed }));
        }
        for p in std::mem::take(&mut rows.providers) {
            self.account_mut(p.account).providers.insert(p.arn.clone(), Arc::new(p));
        }
        for b in std::mem::take(&mut rows.buckets) {
            self.buckets.insert(b.name.clone(), Arc::new(BucketEntry::new(b)));
        }
        if scope.token_keys() {
            let token_keys: Vec<_> =
                rows.token_keys.iter().map(|k| latchkey_token::TokenKey::from_bytes(k.id, k.created, *k.secret)).collect();
            self.token_ring = latchkey_token::KeyRing::new(token_keys).ok().map(Arc::new);
        }
        if scope.organization() {
            let management = self.accounts.values().filter_map(|a| a.account.as_ref()).find(|a| a.management).map(|a| a.id);
            let parts = OrgParts {
                scps: std::mem::take(&mut rows.scps),
                attachments: std::mem::take(&mut rows.scp_attachments),
                requests: std::mem::take(&mut rows.create_account_requests),
            };
            self.org = Arc::new(Organization::build(management, parts));
        }

        // 3. Gather the effective policies of every user and role whose
        // policies may have changed.
        // (A full build has every user and role in `dirty` already.)
        if let Scope::Only(_) = scope {
            changed_policies.sort();
            changed_policies.dedup();
            for (a, arn) in &changed_policies {
                let Some(acct) = self.accounts.get(a) else { continue };
                for (kind, id) in acct.attached_to.get(arn).into_iter().flatten() {
                    match kind {
                        OwnerKind::Group => dirty.extend(acct.members.get(id).into_iter().flatten().map(|u| (*a, u.clone()))),
                        OwnerKind::User | OwnerKind::Role => dirty.push((*a, id.clone())),
                    }
                }
                // Boundaries name a policy by ARN and may outlive it; no
                // index is kept for them, as policies change far less
                // often than roles.
                dirty.extend(acct.bounded_by(arn).into_iter().map(|id| (*a, id)));
            }
        }
        dirty.sort();
        dirty.dedup();
        for (a, id) in dirty {
            let acct = self.account_mut(a);
            match acct.gather_effective(&id) {
                Some(e) => {
                    acct.effective.insert(id, e);
                }
                None => {
                    acct.effective.remove(&id);
                }
            }
        }
    }
}

/// The owner key of `keys_by_owner`.
fn owner_of(key: &AccessKey) -> Option<UniqueId> {
    match &key.owner {
        AccessKeyOwner::Root => None,
        AccessKeyOwner::User(id) => Some(id.clone()),
    }
}

impl Snapshot {
    /// Every fact this snapshot holds, one line each in a fixed order
    /// (secrets as a digest), so two snapshots of the same store state
    /// compare equal however they were made: `LATCHKEY_CHECK_SNAPSHOTS`
    /// compares each patched snapshot with one built from a full load.
    pub(crate) fn fingerprint(&self) -> Vec<String> {
        fn sorted<K: Ord + std::fmt::Debug, V: std::fmt::Debug>(it: impl Iterator<Item = (K, V)>) -> Vec<(K, V)> {
            let mut v: Vec<_> = it.collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
        let mut out = vec![format!("version {}", self.version)];
        for (id, a) in sorted(self.accounts.iter()) {
            out.push(format!("account {id} {:?}", a.account));
            out.extend(a.users.iter().map(|(k, u)| format!("{id} user {k} {u:?}")));
            out.extend(sorted(a.user_names.iter()).into_iter().map(|(k, v)| format!("{id} user_name {k} {v}")));
            out.extend(sorted(a.keys_by_owner.iter()).into_iter().map(|(k, v)| format!("{id} keys_of {k:?} {v:?}")));
            out.extend(a.groups.iter().map(|(k, g)| format!("{id} group {k} {g:?}")));
            out.extend(sorted(a.group_names.iter()).into_iter().map(|(k, v)| format!("{id} group_name {k} {v}")));
            out.extend(sorted(a.members.iter()).into_iter().map(|(k, v)| format!("{id} members {k} {v:?}")));
            out.extend(sorted(a.groups_of.iter()).into_iter().map(|(k, v)| format!("{id} groups_of {k} {v:?}")));
            out.extend(a.roles.iter().map(|(k, r)| format!("{id} role {k} {:?}", r.role)));
            out.extend(sorted(a.role_names.iter()).into_iter().map(|(k, v)| format!("{id} role_name {k} {v}")));
            out.extend(a.policies.iter().map(|(k, p)| format!("{id} policy {k} {:?} {}", p.policy, p.compiled.id)));
            out.extend(sorted(a.policy_arns.iter()).into_iter().map(|(k, v)| format!("{id} policy_arn {k} {v}")));
            out.extend(sorted(a.policy_names.iter()).into_iter().map(|(k, v)| format!("{id} policy_name {k} {v}")));
            for (owner, entries) in sorted(a.inline.iter()) {
                out.extend(entries.iter().map(|(n, e)| format!("{id} inline {owner} {n} {:?} {}", e.document, e.compiled.id)));
            }
            out.extend(sorted(a.attached.iter()).into_iter().map(|(k, v)| format!("{id} attached {k} {v:?}")));
            out.extend(sorted(a.attached_to.iter()).into_iter().map(|(k, v)| format!("{id} attached_to {k} {v:?}")));
            for (who, e) in sorted(a.effective.iter()) {
                let identity: Vec<&str> = e.identity.iter().map(|p| &*p.id).collect();
                out.push(format!("{id} effective {who} {identity:?} {:?}", e.boundary.as_ref().map(|b| &*b.id)));
            }
            out.extend(a.mfa.iter().map(|(k, m)| format!("{id} mfa {k} {:?} seed {}", m.device, digest(&m.seed))));
            out.extend(a.providers.iter().map(|(k, p)| format!("{id} provider {k} {p:?}")));
        }
        for (k, e) in sorted(self.keys.iter()) {
            out.push(format!("key {k} {:?} {:?} secret {}", e.key, e.last_used, digest(e.secret.expose().as_bytes())));
        }
        let ring: Vec<(u32, i64)> =
            self.token_ring.iter().flat_map(|r| r.keys().map(|k| (k.id(), k.created_at())).collect::<Vec<_>>()).collect();
        out.push(format!("token keys {ring:?}"));
        let org = &self.org;
        out.push(format!("org {:?} {} {} {:?}", org.management, org.id, org.root_id, org.requests));
        out.extend(org.scps.iter().map(|(k, e)| format!("scp {k} {:?} {}", e.scp, e.aws_managed)));
        out.extend(sorted(org.attached.iter()).into_iter().map(|(k, v)| format!("scp attached {k} {v:?}")));
        out.extend(self.buckets.iter().map(|(k, e)| format!("bucket {k} {:?} compiled {}", e.bucket, e.policy.is_some())));
        out
    }
}

/// A short digest of secret bytes, for comparing without printing them.
fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod bucket_tests {
    use std::str::FromStr as _;

    use latchkey_model::{IdPrefix, PrincipalBinding};
    use latchkey_policy::{Context, PolicyRef, PolicySet, Principal, PrincipalKind, Request, Verdict, evaluate};
    use latchkey_store::Op;

    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    fn account(id: &str) -> Account {
        Account { id: AccountId::from_str(id).unwrap(), name: id.into(), email: String::new(), management: false, created: 1 }
    }

    fn bucket(name: &str, owner: &Account) -> Bucket {
        Bucket {
            name: name.into(),
            account: owner.id,
            created: 10,
            region: "us-east-1".into(),
            policy: None,
            policy_principals: Vec::new(),
        }
    }

    fn user(name: &str, owner: &Account) -> User {
        User {
            id: UniqueId::generate(IdPrefix::User, &owner.id),
            account: owner.id,
            name: name.into(),
            path: "/".into(),
            created: 1,
            tags: Vec::new(),
            permissions_boundary: None,
        }
    }

    /// Whether `policy` alone (another account's caller: it must allow)
    /// lets the user with `id` read an object of bucket `b`.
    fn allows(policy: &CompiledPolicy, id: &str) -> bool {
        let context = Context::new();
        let set = PolicySet { resource: Some(PolicyRef { id: "bucket", policy }), resource_account: "", ..PolicySet::default() };
        let request = Request {
            principal: Principal { arn: "arn:aws:iam::111111111111:user/alice", id, account: "111111111111", kind: PrincipalKind::User },
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/key",
            context: &context,
        };
        evaluate(&set, &request).verdict() == Verdict::Allow
    }

    /// Buckets are global, listed per account by name, patched by name
    /// exactly as a full build makes them, and their policies are bound.
    #[test]
    fn buckets_are_built_patched_and_bound() {
        let (a, b) = (account("111111111111"), account("222222222222"));
        let alice = user("alice", &a);
        let mut with_policy = bucket("b", &a);
        with_policy.policy = Some(POLICY.into());
        with_policy.policy_principals =
            vec![PrincipalBinding { arn: "arn:aws:iam::111111111111:user/alice".into(), id: alice.id.clone() }];
        let full = |buckets: Vec<Bucket>| Loaded {
            version: 1,
            accounts: vec![a.clone(), b.clone()],
            users: vec![alice.clone()],
            buckets,
            ..Loaded::default()
        };
        let snap = Snapshot::build(full(vec![bucket("zeta", &a), with_policy.clone(), bucket("alpha", &a), bucket("mid", &b)]));

        let names = |snap: &Snapshot, owner: &Account| snap.buckets_of(&owner.id).map(|b| b.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&snap, &a), ["alpha", "b", "zeta"], "the owner's only, by name");
        assert_eq!(names(&snap, &b), ["mid"]);
        assert_eq!(snap.bucket("mid").map(|e| e.bucket.account), Some(b.id));
        assert!(snap.bucket("MID").is_none(), "names are case-sensitive");
        assert!(snap.bucket("zeta").is_some_and(|e| e.policy.is_none()));
        let policy = snap.bucket("b").and_then(|e| e.policy.as_ref()).unwrap();
        assert_eq!(policy.kind(), PolicyKind::Resource);
        assert!(allows(policy, alice.id.as_str()), "the user the policy was saved for");
        assert!(!allows(policy, "AIDANAMESAKE000000000"), "a namesake created later is another principal");

        // A patch: a policy deleted, a bucket deleted, one created.
        let ops = [
            Op::SetBucketPolicy { name: "b".into(), policy: None, principals: Vec::new() },
            Op::DeleteBucket("zeta".into()),
            Op::InsertBucket(bucket("new", &b)),
        ];
        let touched = Touched::of(&ops);
        let now = vec![bucket("alpha", &a), bucket("b", &a), bucket("mid", &b), bucket("new", &b)];
        let rows = Loaded {
            version: 2,
            buckets: now.iter().filter(|x| touched.buckets.contains(&x.name)).cloned().collect(),
            ..Loaded::default()
        };
        let patched = snap.patched(&touched, rows);
        let built = Snapshot::build(Loaded { version: 2, ..full(now) });
        assert_eq!(patched.fingerprint(), built.fingerprint());
        assert_eq!(names(&patched, &a), ["alpha", "b"]);
        assert_eq!(names(&patched, &b), ["mid", "new"]);
        assert!(patched.bucket("b").is_some_and(|e| e.policy.is_none()));
        assert!(snap.bucket("zeta").is_some(), "the previous snapshot is untouched");
        assert!(
            Arc::ptr_eq(snap.buckets.get("alpha").unwrap(), patched.buckets.get("alpha").unwrap()),
            "an untouched bucket is shared, its policy not compiled again"
        );
        assert!(patched.fingerprint().iter().any(|l| l.starts_with("bucket new ")), "buckets are in the fingerprint");
    }

    /// A stored policy that no longer compiles denies everything rather
    /// than vanishing (which could drop a Deny).
    #[test]
    fn a_policy_that_no_longer_compiles_denies() {
        let a = account("111111111111");
        let mut broken = bucket("b", &a);
        broken.policy = Some("{not json".into());
        let entry = BucketEntry::new(broken);
        let policy = entry.policy.as_ref().unwrap();
        assert!(!allows(policy, "AIDAANYONE"));
    }
}
