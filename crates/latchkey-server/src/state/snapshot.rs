use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use latchkey_model::{
    AccessKey, AccessKeyOwner, Account, AccountId, Group, ManagedPolicy, OwnerKind, Role, SecretAccessKey, UniqueId, User,
};
use latchkey_policy::{CompiledPolicy, PolicyKind};
use latchkey_store::Loaded;

use super::policies::{AWS_MANAGED_COMPILED, NamedPolicy, compile_stored};

/// One immutable view of the IAM state.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Store version this view was built from.
    pub version: i64,
    /// Accounts by id.
    pub accounts: HashMap<AccountId, AccountState>,
    /// Every long-term access key, by id, with its secret: authentication
    /// reads only this map.
    pub keys: HashMap<String, KeyEntry>,
    /// Session-token keys; `None` until the first key is created.
    pub token_ring: Option<Arc<latchkey_token::KeyRing>>,
    /// The organization every account belongs to.
    pub org: Organization,
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

    fn build(accounts: &HashMap<AccountId, AccountState>, parts: OrgParts) -> Self {
        let management = accounts.values().filter_map(|a| a.account.as_ref()).find(|a| a.management).map(|a| a.id);
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
    /// Compiled by the first AssumeRole of this snapshot: with 100,000
    /// roles, compiling every trust policy made start-up and every
    /// snapshot rebuild take seconds and most of the memory.
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

/// A customer-managed policy with its default version compiled.
#[derive(Debug)]
pub struct PolicyEntry {
    /// The policy and its versions.
    pub policy: ManagedPolicy,
    /// The default version, compiled.
    pub compiled: NamedPolicy,
}

/// An inline policy with its compiled form.
#[derive(Debug)]
pub struct InlineEntry {
    /// The document as given.
    pub document: String,
    /// Compiled.
    pub compiled: NamedPolicy,
}

/// What authorises a user or role: every identity-based policy that applies
/// (own inline and attached, and for users their groups'), and the boundary.
/// Built once per snapshot so a request only borrows it.
#[derive(Debug, Default)]
pub struct Effective {
    /// Identity-based policies.
    pub identity: Vec<NamedPolicy>,
    /// The permissions boundary, if any.
    pub boundary: Option<NamedPolicy>,
}

/// One account's entities.
#[derive(Debug, Default)]
pub struct AccountState {
    /// The account.
    pub account: Option<Account>,
    /// Users by lower-cased name (IAM names are case-insensitive), which is
    /// also the order listings return them in.
    pub users: BTreeMap<String, User>,
    /// Lower-cased user name by unique id.
    pub user_names: HashMap<UniqueId, String>,
    /// Access key ids by owner (`None` = root), in creation order.
    pub keys_by_owner: HashMap<Option<UniqueId>, Vec<String>>,
    /// Groups by lower-cased name.
    pub groups: BTreeMap<String, Group>,
    /// Lower-cased group name by id.
    pub group_names: HashMap<UniqueId, String>,
    /// Members of each group, in the order they were added.
    pub members: HashMap<UniqueId, Vec<UniqueId>>,
    /// Groups of each user, in the order the user joined them.
    pub groups_of: HashMap<UniqueId, Vec<UniqueId>>,
    /// Roles by lower-cased name.
    pub roles: BTreeMap<String, RoleEntry>,
    /// Lower-cased role name by id.
    pub role_names: HashMap<UniqueId, String>,
    /// Customer-managed policies by lower-cased name.
    pub policies: BTreeMap<String, PolicyEntry>,
    /// Lower-cased policy name by ARN.
    pub policy_arns: HashMap<String, String>,
    /// Inline policies of each user, group or role, by name.
    pub inline: HashMap<UniqueId, BTreeMap<String, InlineEntry>>,
    /// Attached managed policy ARNs of each user, group or role, in attachment order.
    pub attached: HashMap<UniqueId, Vec<String>>,
    /// Entities each policy ARN is attached to: (kind, id).
    pub attached_to: HashMap<String, Vec<(OwnerKind, UniqueId)>>,
    /// The effective policies of each user and role.
    pub effective: HashMap<UniqueId, Arc<Effective>>,
    /// Virtual MFA devices by serial number, with their seeds.
    pub mfa: BTreeMap<String, MfaEntry>,
    /// OIDC and SAML identity providers by ARN.
    pub providers: BTreeMap<String, latchkey_model::IdentityProvider>,
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
        self.users.get(&name.to_lowercase())
    }

    /// A user by unique id.
    pub fn user_by_id(&self, id: &UniqueId) -> Option<&User> {
        self.user_names.get(id).and_then(|n| self.users.get(n))
    }

    /// A group by name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(&name.to_lowercase())
    }

    /// A group by id.
    pub fn group_by_id(&self, id: &UniqueId) -> Option<&Group> {
        self.group_names.get(id).and_then(|n| self.groups.get(n))
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&RoleEntry> {
        self.roles.get(&name.to_lowercase())
    }

    /// A role by unique id.
    pub fn role_by_id(&self, id: &UniqueId) -> Option<&RoleEntry> {
        self.role_names.get(id).and_then(|n| self.roles.get(n))
    }

    /// A customer-managed policy by ARN.
    pub fn policy_by_arn(&self, arn: &str) -> Option<&PolicyEntry> {
        self.policy_arns.get(arn).and_then(|n| self.policies.get(n))
    }

    /// Any managed policy (customer's or AWS's) by ARN, compiled.
    pub fn managed(&self, arn: &str) -> Option<&NamedPolicy> {
        self.policy_by_arn(arn).map(|p| &p.compiled).or_else(|| aws_managed(arn))
    }

    /// The access key ids of root (`None`) or a user.
    pub fn keys_of(&self, owner: Option<&UniqueId>) -> &[String] {
        self.keys_by_owner.get(&owner.cloned()).map_or(&[], Vec::as_slice)
    }

    /// The policies that authorise a user or role.
    pub fn effective(&self, id: &UniqueId) -> Option<&Arc<Effective>> {
        self.effective.get(id)
    }

    fn owner_policies(&self, owner: &UniqueId, into: &mut Vec<NamedPolicy>) {
        if let Some(inline) = self.inline.get(owner) {
            into.extend(inline.values().map(|e| e.compiled.clone()));
        }
        if let Some(arns) = self.attached.get(owner) {
            into.extend(arns.iter().filter_map(|a| self.managed(a).cloned()));
        }
    }

    fn compute_effective(&mut self) {
        let mut effective = HashMap::with_capacity(self.users.len() + self.roles.len());
        // Entities without policies (most roles of a large store) share one
        // empty set instead of an allocation each.
        let empty = Arc::new(Effective::default());
        let share = |identity: Vec<NamedPolicy>, boundary: Option<NamedPolicy>| {
            if identity.is_empty() && boundary.is_none() { empty.clone() } else { Arc::new(Effective { identity, boundary }) }
        };
        for u in self.users.values() {
            let mut identity = Vec::new();
            self.owner_policies(&u.id, &mut identity);
            for g in self.groups_of.get(&u.id).map_or(&[][..], Vec::as_slice) {
                self.owner_policies(g, &mut identity);
            }
            let boundary = u.permissions_boundary.as_deref().and_then(|a| self.managed(a).cloned());
            effective.insert(u.id.clone(), share(identity, boundary));
        }
        for r in self.roles.values() {
            let mut identity = Vec::new();
            self.owner_policies(&r.role.id, &mut identity);
            let boundary = r.role.permissions_boundary.as_deref().and_then(|a| self.managed(a).cloned());
            effective.insert(r.role.id.clone(), share(identity, boundary));
        }
        self.effective = effective;
    }
}

/// An AWS-managed policy by ARN.
pub fn aws_managed(arn: &str) -> Option<&'static NamedPolicy> {
    AWS_MANAGED_COMPILED.iter().find(|(a, _)| a == arn).map(|(_, p)| p)
}

impl Snapshot {
    /// Indexes and compiles what the store loaded.
    pub fn build(mut loaded: Loaded) -> Self {
        let org_parts = OrgParts {
            scps: std::mem::take(&mut loaded.scps),
            attachments: std::mem::take(&mut loaded.scp_attachments),
            requests: std::mem::take(&mut loaded.create_account_requests),
        };
        let mut accounts: HashMap<AccountId, AccountState> = loaded
            .accounts
            .into_iter()
            .map(|a| (a.id, AccountState { account: Some(a), ..AccountState::default() }))
            .collect();
        for u in loaded.users {
            if let Some(acct) = accounts.get_mut(&u.account) {
                let lower = u.name.to_lowercase();
                acct.user_names.insert(u.id.clone(), lower.clone());
                acct.users.insert(lower, u);
            }
        }
        for g in loaded.groups {
            if let Some(acct) = accounts.get_mut(&g.account) {
                let lower = g.name.to_lowercase();
                acct.group_names.insert(g.id.clone(), lower.clone());
                acct.groups.insert(lower, g);
            }
        }
        // Memberships and policies name their owner by id only; find the account once.
        let mut owner_account: HashMap<UniqueId, AccountId> = HashMap::new();
        for (id, acct) in &accounts {
            owner_account.extend(acct.user_names.keys().map(|u| (u.clone(), *id)));
            owner_account.extend(acct.group_names.keys().map(|g| (g.clone(), *id)));
        }
        for r in loaded.roles {
            owner_account.insert(r.id.clone(), r.account);
            if let Some(acct) = accounts.get_mut(&r.account) {
                let lower = r.name.to_lowercase();
                acct.role_names.insert(r.id.clone(), lower.clone());
                acct.roles.insert(lower, RoleEntry::new(r));
            }
        }
        for (group, user) in loaded.memberships {
            if let Some(acct) = owner_account.get(&user).and_then(|a| accounts.get_mut(a)) {
                acct.members.entry(group.clone()).or_default().push(user.clone());
                acct.groups_of.entry(user).or_default().push(group);
            }
        }
        for p in loaded.policies {
            if let Some(acct) = accounts.get_mut(&p.account) {
                let arn = p.arn();
                let compiled = NamedPolicy {
                    id: Arc::from(arn.as_str()),
                    policy: compile_stored(p.default_document().unwrap_or_default(), PolicyKind::Identity),
                };
                let lower = p.name.to_lowercase();
                acct.policy_arns.insert(arn, lower.clone());
                acct.policies.insert(lower, PolicyEntry { policy: p, compiled });
            }
        }
        for a in loaded.attachments {
            if let Some(acct) = owner_account.get(&a.owner).and_then(|x| accounts.get_mut(x)) {
                acct.attached.entry(a.owner.clone()).or_default().push(a.policy_arn.clone());
                acct.attached_to.entry(a.policy_arn).or_default().push((a.owner_kind, a.owner));
            }
        }
        for p in loaded.inline_policies {
            if let Some(acct) = owner_account.get(&p.owner).and_then(|x| accounts.get_mut(x)) {
                let owner_name = match p.owner_kind {
                    OwnerKind::User => acct.user_names.get(&p.owner),
                    OwnerKind::Group => acct.group_names.get(&p.owner),
                    OwnerKind::Role => acct.role_names.get(&p.owner),
                }
                .cloned()
                .unwrap_or_default();
                let id = format!("{}/{}/{}", p.owner_kind.as_str(), owner_name, p.name);
                let compiled =
                    NamedPolicy { id: Arc::from(id.as_str()), policy: compile_stored(&p.document, PolicyKind::Identity) };
                acct.inline.entry(p.owner).or_default().insert(p.name, InlineEntry { document: p.document, compiled });
            }
        }

        for p in std::mem::take(&mut loaded.providers) {
            if let Some(acct) = accounts.get_mut(&p.account) {
                acct.providers.insert(p.arn.clone(), p);
            }
        }
        for (device, seed) in std::mem::take(&mut loaded.mfa_devices) {
            if let Some(acct) = accounts.get_mut(&device.account) {
                acct.mfa.insert(device.serial.clone(), MfaEntry { device, seed });
            }
        }
        let mut keys = HashMap::with_capacity(loaded.access_keys.len());
        let mut sorted = loaded.access_keys;
        sorted.sort_by(|a, b| (a.key.created, a.key.id.as_str()).cmp(&(b.key.created, b.key.id.as_str())));
        for k in sorted {
            if let Some(acct) = accounts.get_mut(&k.key.account) {
                let owner = match &k.key.owner {
                    AccessKeyOwner::Root => None,
                    AccessKeyOwner::User(id) => Some(id.clone()),
                };
                acct.keys_by_owner.entry(owner).or_default().push(k.key.id.as_str().to_owned());
            }
            keys.insert(k.key.id.as_str().to_owned(), KeyEntry { key: k.key, secret: k.secret, last_used: k.last_used });
        }
        for acct in accounts.values_mut() {
            acct.compute_effective();
        }
        let token_keys: Vec<_> = loaded
            .token_keys
            .iter()
            .map(|k| latchkey_token::TokenKey::from_bytes(k.id, k.created, *k.secret))
            .collect();
        let token_ring = latchkey_token::KeyRing::new(token_keys).ok().map(Arc::new);
        let org = Organization::build(&accounts, org_parts);
        Self { version: loaded.version, accounts, keys, token_ring, org }
    }

    /// An account's state.
    pub fn account(&self, id: &AccountId) -> Option<&AccountState> {
        self.accounts.get(id)
    }
}
