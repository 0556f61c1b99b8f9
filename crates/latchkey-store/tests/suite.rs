//! The storage test suite, written once against `&dyn Store` and run against
//! both backends: SQLite in a temporary directory, and PostgreSQL in a
//! throwaway database created on the server named by
//! `LATCHKEY_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! The PostgreSQL tests fail, never skip, when no server answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests: a failure should fail the test loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use latchkey_model::{
    AccessKey, AccessKeyId, AccessKeyOwner, Account, AccountId, Attachment, Bucket, Group, IdPrefix, IdentityProvider, InlinePolicy,
    KeyKind, KeyStatus, ManagedPolicy, MfaDevice, OwnerKind, PolicyVersion, PrincipalBinding, ProviderKind, Role, SecretAccessKey,
    Tag, UniqueId,
    User,
};
use latchkey_store::{
    Bootstrap, CreateAccountRequest, Loaded, MasterKey, Op, PostgresStore, Scp, SqliteStore, Store, StoreError, TokenKeyMaterial,
    Touched, Update,
};
use sqlx::Connection;

// ---------------------------------------------------------------- backends

/// A fresh, empty store of one backend, re-openable with another key.
#[async_trait::async_trait]
trait Backend: Send + Sync {
    async fn open(&self, key: &str) -> Result<Arc<dyn Store>, StoreError>;
    /// Runs `sql` on the store's database behind its back (to make an old store).
    async fn exec(&self, sql: &str);
    /// The backend's `probe_initialized` on the store's database.
    async fn probe(&self) -> Result<bool, StoreError>;
}

struct Sqlite {
    dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    async fn open(&self, key: &str) -> Result<Arc<dyn Store>, StoreError> {
        let key = MasterKey::from_base64(key).unwrap();
        Ok(Arc::new(SqliteStore::open(&self.dir.path().join(SqliteStore::FILE_NAME), key).await?))
    }

    async fn exec(&self, sql: &str) {
        let path = self.dir.path().join(SqliteStore::FILE_NAME);
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    async fn probe(&self) -> Result<bool, StoreError> {
        SqliteStore::probe_initialized(&self.dir.path().join(SqliteStore::FILE_NAME)).await
    }
}

fn server_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A throwaway database on the test server; dropped by [`Postgres::drop_db`].
struct Postgres {
    admin_url: String,
    name: String,
    url: String,
}

impl Postgres {
    async fn create() -> Self {
        let admin_url = server_url();
        let mut suffix = [0u8; 6];
        latchkey_model::random_bytes(&mut suffix);
        let name = format!("latchkey_test_{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} (LATCHKEY_TEST_DATABASE_URL) does not answer: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("LATCHKEY_TEST_DATABASE_URL must name a database"),
        };
        Self { admin_url, name, url }
    }

    async fn drop_db(&self) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

#[async_trait::async_trait]
impl Backend for Postgres {
    async fn open(&self, key: &str) -> Result<Arc<dyn Store>, StoreError> {
        let key = MasterKey::from_base64(key).unwrap();
        Ok(Arc::new(PostgresStore::open(&self.url, key).await?))
    }

    async fn exec(&self, sql: &str) {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    async fn probe(&self) -> Result<bool, StoreError> {
        PostgresStore::probe_initialized(&self.url).await
    }
}

/// Runs `case` against each backend.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let b = super::Sqlite { dir: tempfile::tempdir().unwrap() };
                    super::$case(&b).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let b = super::Postgres::create().await;
                    let outcome = tokio::spawn(async move {
                        super::$case(&b).await;
                        b
                    })
                    .await;
                    match outcome {
                        Ok(b) => b.drop_db().await,
                        Err(e) => std::panic::resume_unwind(e.into_panic()),
                    }
                }
            )*
        }
    };
}

suite!(
    initialize_once,
    everything_round_trips,
    versions_grow_with_each_batch,
    uniqueness_is_a_conflict,
    missing_rows_are_constraint_errors,
    a_failed_batch_changes_nothing,
    wrong_master_key_is_refused_at_open,
    import_copies_everything_and_refuses_a_non_empty_store,
    bootstrap_ops_and_the_full_aws_access_migration,
    probes_see_initialisation_only,
    a_newer_schema_is_refused,
    the_change_log_gives_the_rows_of_what_changed,
    a_gap_in_the_change_log_reads_everything,
    a_bulk_change_reads_everything,
    apply_since_returns_the_batch_and_what_came_before_it,
    buckets_are_global_and_keep_their_policies,
);

// ---------------------------------------------------------------- fixtures

fn key_text() -> String {
    let (_, text) = MasterKey::generate();
    text.to_string()
}

fn bootstrap(account: AccountId) -> Bootstrap {
    Bootstrap {
        account: Account { id: account, name: "management".into(), email: String::new(), management: true, created: 1_700_000_000 },
        root_key: AccessKey {
            id: AccessKeyId::generate(KeyKind::LongTerm, &account),
            account,
            owner: AccessKeyOwner::Root,
            status: KeyStatus::Active,
            created: 1_700_000_000,
        },
        root_secret: SecretAccessKey::generate(),
        ops: Vec::new(),
    }
}

fn user(account: AccountId, name: &str) -> User {
    User {
        id: UniqueId::generate(IdPrefix::User, &account),
        account,
        name: name.into(),
        path: "/".into(),
        created: 1_700_000_100,
        tags: vec![Tag { key: "team".into(), value: "blue".into() }, Tag { key: "a".into(), value: String::new() }],
        permissions_boundary: None,
    }
}

async fn initialized(b: &dyn Backend) -> (Arc<dyn Store>, String, Bootstrap) {
    let key = key_text();
    let store = b.open(&key).await.unwrap();
    let boot = bootstrap(AccountId::random());
    store.initialize(&boot).await.unwrap();
    (store, key, boot)
}

/// A batch touching every kind of row.
fn everything(account: AccountId) -> (Vec<Op>, User, Role) {
    let alice = user(account, "alice");
    let group = Group {
        id: UniqueId::generate(IdPrefix::Group, &account),
        account,
        name: "admins".into(),
        path: "/ops/".into(),
        created: 1_700_000_200,
    };
    let role = Role {
        id: UniqueId::generate(IdPrefix::Role, &account),
        account,
        name: "deployer".into(),
        path: "/".into(),
        trust_policy: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        trust_principals: Some(
            vec![PrincipalBinding { arn: format!("arn:aws:iam::{account}:user/alice"), id: alice.id.clone() }].into(),
        ),
        description: Some("deploys".into()),
        max_session_duration: 7200,
        created: 1_700_000_300,
        tags: vec![Tag { key: "env".into(), value: "prod".into() }],
        permissions_boundary: Some("arn:aws:iam::aws:policy/ReadOnlyAccess".into()),
        last_used: None,
    };
    let policy = ManagedPolicy {
        id: UniqueId::generate(IdPrefix::Policy, &account),
        account,
        name: "deploy".into(),
        path: "/".into(),
        description: None,
        default_version: "v1".into(),
        next_version: 2,
        created: 1_700_000_400,
        updated: 1_700_000_400,
        versions: vec![PolicyVersion { version_id: "v1".into(), document: "{}".into(), created: 1_700_000_400 }],
        tags: vec![],
    };
    let key = AccessKey {
        id: AccessKeyId::generate(KeyKind::LongTerm, &account),
        account,
        owner: AccessKeyOwner::User(alice.id.clone()),
        status: KeyStatus::Active,
        created: 1_700_000_500,
    };
    let serial = format!("arn:aws:iam::{account}:mfa/alice");
    let ops = vec![
        Op::InsertUser(alice.clone()),
        Op::InsertGroup(group.clone()),
        Op::AddToGroup { group: group.id.clone(), user: alice.id.clone(), at: 1_700_000_250 },
        Op::InsertRole(role.clone()),
        Op::TouchRole { id: role.id.clone(), at: 1_700_000_350, region: "eu-west-1".into() },
        Op::InsertPolicy(policy.clone()),
        Op::InsertPolicyVersion {
            policy: policy.id.clone(),
            version: PolicyVersion { version_id: "v2".into(), document: r#"{"v":2}"#.into(), created: 1_700_000_450 },
            next_version: 3,
        },
        Op::SetDefaultVersion { policy: policy.id.clone(), version_id: "v2".into(), at: 1_700_000_460 },
        Op::Attach(Attachment { policy_arn: policy.arn(), owner_kind: OwnerKind::Role, owner: role.id.clone() }),
        Op::Attach(Attachment {
            policy_arn: "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
            owner_kind: OwnerKind::User,
            owner: alice.id.clone(),
        }),
        Op::PutInline(InlinePolicy { owner_kind: OwnerKind::Group, owner: group.id.clone(), name: "inline".into(), document: "{}".into() }),
        Op::InsertAccessKey(key.clone(), SecretAccessKey::from_string("s3cr3t/with+chars".into())),
        Op::TouchAccessKey { id: key.id.clone(), at: 1_700_000_600, service: "iam".into(), region: "us-east-1".into() },
        Op::InsertTokenKey(TokenKeyMaterial { id: 1, created: 1_700_000_000, secret: zeroize::Zeroizing::new([7u8; 32]) }),
        Op::InsertMfaDevice(
            MfaDevice { serial: serial.clone(), account, assigned: None, created: 1_700_000_700 },
            zeroize::Zeroizing::new(b"seed-bytes".to_vec()),
        ),
        Op::AssignMfaDevice { serial, assigned: Some((alice.id.clone(), 1_700_000_710)) },
        Op::InsertProvider(IdentityProvider {
            arn: format!("arn:aws:iam::{account}:oidc-provider/example.com"),
            account,
            kind: ProviderKind::Oidc,
            name: "https://example.com".into(),
            client_ids: vec!["a".into(), "b".into()],
            thumbprints: vec!["0".repeat(40)],
            metadata: String::new(),
            created: 1_700_000_800,
            tags: vec![Tag { key: "k".into(), value: "v".into() }],
        }),
        Op::InsertScp(Scp { id: "p-abcdefgh".into(), name: "deny-all".into(), description: String::new(), content: "{}".into() }),
        Op::AttachScp { policy: "p-abcdefgh".into(), target: account.to_string() },
        Op::InsertBucket(bucket(account, &format!("plain-{account}"))),
        Op::InsertBucket(Bucket {
            policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
            policy_principals: vec![PrincipalBinding { arn: format!("arn:aws:iam::{account}:user/alice"), id: alice.id.clone() }],
            ..bucket(account, &format!("with-policy-{account}"))
        }),
    ];
    (ops, alice, role)
}

fn bucket(account: AccountId, name: &str) -> Bucket {
    Bucket {
        name: name.into(),
        account,
        created: 1_700_001_000,
        region: "eu-central-1".into(),
        policy: None,
        policy_principals: Vec::new(),
    }
}

/// `Loaded` in a canonical order, so two stores can be compared.
fn canonical(mut l: Loaded) -> String {
    l.accounts.sort_by_key(|a| a.id.to_string());
    l.users.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    l.groups.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    l.roles.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    l.policies.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    l.access_keys.sort_by(|a, b| a.key.id.as_str().cmp(b.key.id.as_str()));
    let keys: Vec<_> = l.access_keys.iter().map(|k| (k.key.clone(), k.secret.expose().to_owned(), k.last_used.clone())).collect();
    let tokens: Vec<_> = l.token_keys.iter().map(|k| (k.id, k.created, *k.secret)).collect();
    let mfa: Vec<_> = l.mfa_devices.iter().map(|(d, s)| (d.clone(), s.to_vec())).collect();
    format!(
        "{} {:?} {:?} {keys:?} {:?} {:?} {:?} {:?} {:?} {:?} {tokens:?} {:?} {:?} {:?} {mfa:?} {:?} {:?}",
        l.version,
        l.accounts,
        l.users,
        l.groups,
        l.memberships,
        l.roles,
        l.policies,
        l.attachments,
        l.inline_policies,
        l.create_account_requests,
        l.scps,
        l.providers,
        l.scp_attachments,
        l.buckets
    )
}

// ---------------------------------------------------------------- cases

async fn initialize_once(b: &dyn Backend) {
    let key = key_text();
    let store = b.open(&key).await.unwrap();
    assert!(!store.is_initialized().await.unwrap());
    let boot = bootstrap(AccountId::random());
    store.initialize(&boot).await.unwrap();
    assert!(store.is_initialized().await.unwrap());
    let again = store.initialize(&bootstrap(AccountId::random())).await;
    assert!(matches!(again, Err(StoreError::AlreadyInitialized)), "{again:?}");

    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.accounts, vec![boot.account.clone()]);
    assert_eq!(loaded.access_keys.len(), 1);
    assert_eq!(loaded.access_keys[0].key, boot.root_key);
    assert_eq!(loaded.access_keys[0].secret.expose(), boot.root_secret.expose());
    assert_eq!(loaded.version, store.version().await.unwrap());
    assert!(loaded.version >= 1);
    store.close().await;
}

/// Takes a store back to before migration 8: the migrations after it undone
/// too, since a store runs those above its highest applied version.
const BEFORE_MIGRATION_8: &str =
    "DROP TABLE buckets; DROP TABLE changes; ALTER TABLE roles DROP COLUMN trust_principals; DELETE FROM schema_migrations WHERE version >= 8";

/// `initialize` applies the bootstrap's further ops; migration 8 gives an
/// older store's management account (and only it) its FullAWSAccess
/// attachment, once.
async fn bootstrap_ops_and_the_full_aws_access_migration(b: &dyn Backend) {
    let key = key_text();
    let store = b.open(&key).await.unwrap();
    let mut boot = bootstrap(AccountId::random());
    let management = boot.account.id.to_string();
    boot.ops.push(Op::AttachScp { policy: "p-FullAWSAccess".into(), target: management.clone() });
    store.initialize(&boot).await.unwrap();
    let full = ("p-FullAWSAccess".to_owned(), management.clone());
    assert_eq!(store.load().await.unwrap().scp_attachments, vec![full.clone()]);

    // A store initialised before the migration: no attachment for the
    // management account, a member account without one either.
    let member = Account { id: AccountId::random(), name: "member".into(), email: "m@example.com".into(), management: false, created: 1 };
    store.apply(&[Op::InsertAccount(member)]).await.unwrap();
    store.close().await;
    b.exec(&format!("DELETE FROM scp_attachments; {BEFORE_MIGRATION_8}")).await;
    let store = b.open(&key).await.unwrap();
    assert_eq!(store.load().await.unwrap().scp_attachments, vec![full.clone()]);
    store.close().await;

    // Already attached: the migration adds nothing.
    b.exec(BEFORE_MIGRATION_8).await;
    let store = b.open(&key).await.unwrap();
    assert_eq!(store.load().await.unwrap().scp_attachments, vec![full]);
    store.close().await;
}

async fn everything_round_trips(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let account = boot.account.id;
    let (ops, alice, role) = everything(account);
    store.apply(&ops).await.unwrap();
    let more = [
        Op::InsertCreateAccountRequest(CreateAccountRequest {
            id: "car-1".into(),
            account,
            name: "management".into(),
            requested: 1_700_000_900,
        }),
        Op::SetBoundary(OwnerKind::User, alice.id.clone(), Some("arn:aws:iam::aws:policy/IAMReadOnlyAccess".into())),
        Op::UpdateRole { id: role.id.clone(), description: None, max_session_duration: 3600 },
    ];
    store.apply(&more).await.unwrap();

    let l = store.load().await.unwrap();
    let u = l.users.iter().find(|u| u.id == alice.id).unwrap();
    assert_eq!(u.tags, alice.tags, "tags keep their order");
    assert_eq!(u.permissions_boundary.as_deref(), Some("arn:aws:iam::aws:policy/IAMReadOnlyAccess"));
    assert_eq!(l.memberships.len(), 1);
    let r = l.roles.iter().find(|r| r.id == role.id).unwrap();
    assert_eq!(r.last_used, Some((1_700_000_350, "eu-west-1".into())));
    assert_eq!((r.description.as_deref(), r.max_session_duration), (None, 3600));
    assert_eq!(r.tags, role.tags);
    assert_eq!(r.trust_principals, role.trust_principals, "principal bindings round-trip");
    let rebound = vec![PrincipalBinding { arn: "arn:aws:iam::111111111111:role/x".into(), id: role.id.clone() }];
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/x"},"Action":"sts:AssumeRole"}]}"#;
    store
        .apply(&[Op::SetTrustPolicy { id: role.id.clone(), document: doc.into(), principals: rebound.clone() }])
        .await
        .unwrap();
    let l = store.load().await.unwrap();
    let r = l.roles.iter().find(|r| r.id == role.id).unwrap();
    assert_eq!((r.trust_policy.as_str(), r.trust_principals.as_deref()), (doc, Some(rebound.as_slice())));
    let p = &l.policies[0];
    assert_eq!((p.default_version.as_str(), p.next_version, p.versions.len()), ("v2", 3, 2));
    assert_eq!(l.attachments.len(), 2);
    assert_eq!(l.attachments[0].owner_kind, OwnerKind::Role, "attachment order is kept");
    assert_eq!(l.inline_policies.len(), 1);
    let k = l.access_keys.iter().find(|k| k.key.owner == AccessKeyOwner::User(alice.id.clone())).unwrap();
    assert_eq!(k.secret.expose(), "s3cr3t/with+chars");
    assert_eq!(k.last_used, Some((1_700_000_600, "iam".into(), "us-east-1".into())));
    assert_eq!(l.token_keys.len(), 1);
    assert_eq!(*l.token_keys[0].secret, [7u8; 32]);
    assert_eq!(l.mfa_devices[0].0.assigned, Some((alice.id.clone(), 1_700_000_710)));
    assert_eq!(l.mfa_devices[0].1.as_slice(), b"seed-bytes");
    assert_eq!(l.providers[0].client_ids, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(l.providers[0].tags.len(), 1);
    assert_eq!(l.scps.len(), 1);
    assert_eq!(l.scp_attachments, vec![("p-abcdefgh".to_owned(), account.to_string())]);
    assert_eq!(l.create_account_requests.len(), 1);
    let with_policy = l.buckets.iter().find(|b| b.policy.is_some()).unwrap();
    let expected = ops.iter().find_map(|op| match op {
        Op::InsertBucket(b) if b.policy.is_some() => Some(b),
        _ => None,
    });
    assert_eq!(Some(with_policy), expected, "a bucket, its policy and bindings round-trip");
    assert_eq!(l.buckets.len(), 2);

    // And the deletions.
    let group = l.groups[0].id.clone();
    let key_id = k.key.id.clone();
    store
        .apply(&[
            Op::RemoveFromGroup { group: group.clone(), user: alice.id.clone() },
            Op::DeleteInline(OwnerKind::Group, group.clone(), "inline".into()),
            Op::DeleteGroup(group),
            Op::AssignMfaDevice { serial: l.mfa_devices[0].0.serial.clone(), assigned: None },
            Op::DeleteAccessKey(key_id),
            Op::DeleteUser(alice.id.clone()),
            Op::DetachScp { policy: "p-abcdefgh".into(), target: account.to_string() },
            Op::DeleteScp("p-abcdefgh".into()),
            Op::DeleteTokenKey(1),
            Op::DeletePolicyVersion(p.id.clone(), "v1".into()),
            Op::DeleteBucket(with_policy.name.clone()),
        ])
        .await
        .unwrap();
    let l = store.load().await.unwrap();
    assert!(l.users.is_empty() && l.groups.is_empty() && l.memberships.is_empty() && l.scps.is_empty());
    assert!(l.token_keys.is_empty());
    assert_eq!(l.policies[0].versions.len(), 1);
    assert_eq!(l.attachments.len(), 1, "the user's attachment went with the user");
    assert_eq!(l.buckets.len(), 1);
    store.close().await;
}

/// `full` cut down to the entities `t` names, as `load_since` reads them.
fn only(mut full: Loaded, t: &Touched) -> Loaded {
    let owner = |id: &UniqueId| t.users.contains(id) || t.groups.contains(id) || t.roles.contains(id);
    full.accounts.retain(|a| t.accounts.contains(&a.id));
    full.users.retain(|u| t.users.contains(&u.id));
    full.groups.retain(|g| t.groups.contains(&g.id));
    full.memberships.retain(|(g, u)| t.groups.contains(g) || t.users.contains(u));
    full.roles.retain(|r| t.roles.contains(&r.id));
    full.policies.retain(|p| t.policies.contains(&p.id));
    full.attachments.retain(|a| owner(&a.owner));
    full.inline_policies.retain(|p| owner(&p.owner));
    full.access_keys.retain(|k| t.access_keys.contains(&k.key.id));
    full.mfa_devices.retain(|(d, _)| t.mfa_devices.contains(&d.serial));
    full.providers.retain(|p| t.providers.contains(&p.arn));
    full.buckets.retain(|b| t.buckets.contains(&b.name));
    if !t.token_keys {
        full.token_keys.clear();
    }
    if !t.organization {
        full.scps.clear();
        full.scp_attachments.clear();
        full.create_account_requests.clear();
    }
    full
}

async fn the_change_log_gives_the_rows_of_what_changed(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let v0 = store.version().await.unwrap();
    assert!(matches!(store.load_since(v0).await.unwrap(), Update::Current));

    let (ops, alice, _) = everything(boot.account.id);
    let v1 = store.apply(&ops).await.unwrap();
    let Update::Changed { touched, rows } = store.load_since(v0).await.unwrap() else { panic!("expected the changed rows") };
    assert_eq!(touched, Touched::of(&ops));
    assert_eq!(rows.version, v1);
    let full = store.load().await.unwrap();
    assert_eq!(full.access_keys.len(), 2, "the root key and alice's");
    assert_eq!(canonical(rows), canonical(only(full, &touched)), "exactly the touched entities, as a full load has them");

    // Two batches at once: their union, deletions as named entities without rows.
    let group = store.load().await.unwrap().groups[0].id.clone();
    let v2 = store.apply(&[Op::RemoveFromGroup { group: group.clone(), user: alice.id.clone() }]).await.unwrap();
    let v3 = store
        .apply(&[Op::DeleteInline(OwnerKind::Group, group.clone(), "inline".into()), Op::DeleteGroup(group.clone())])
        .await
        .unwrap();
    assert_eq!((v2, v3), (v1 + 1, v1 + 2));
    let Update::Changed { touched, rows } = store.load_since(v1).await.unwrap() else { panic!("expected the changed rows") };
    assert_eq!(rows.version, v3);
    assert!(touched.groups.contains(&group) && touched.users.contains(&alice.id));
    assert!(rows.groups.is_empty(), "the group is gone");
    assert_eq!(rows.users.len(), 1, "alice is still there");
    assert!(rows.memberships.is_empty() && rows.inline_policies.is_empty());
    assert_eq!(rows.attachments.len(), 1, "alice's attachment, read because alice was touched");
    assert!(rows.roles.is_empty() && rows.policies.is_empty() && rows.access_keys.is_empty(), "nothing else is read");
    assert!(matches!(store.load_since(v3).await.unwrap(), Update::Current));
    store.close().await;
}

async fn apply_since_returns_the_batch_and_what_came_before_it(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let v0 = store.version().await.unwrap();
    let u1 = user(boot.account.id, "u1");
    let Update::Changed { touched, rows } = store.apply_since(&[Op::InsertUser(u1.clone())], v0).await.unwrap() else {
        panic!("expected the changed rows")
    };
    assert_eq!((touched.users.len(), rows.version, rows.users.len()), (1, v0 + 1, 1));
    // Another writer's batch between the snapshot and this one comes too.
    let u2 = user(boot.account.id, "u2");
    store.apply(&[Op::InsertUser(u2.clone())]).await.unwrap();
    let u3 = user(boot.account.id, "u3");
    let Update::Changed { touched, rows } = store.apply_since(&[Op::InsertUser(u3.clone())], v0 + 1).await.unwrap() else {
        panic!("expected the changed rows")
    };
    assert!(touched.users.contains(&u2.id) && touched.users.contains(&u3.id) && !touched.users.contains(&u1.id));
    assert_eq!((rows.version, rows.users.len()), (v0 + 3, 2));
    // A failed batch changes nothing and reads nothing.
    assert!(matches!(store.apply_since(&[Op::InsertUser(u3)], v0 + 3).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.load_since(v0 + 3).await.unwrap(), Update::Current));
    store.close().await;
}

async fn a_gap_in_the_change_log_reads_everything(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let v0 = store.version().await.unwrap();
    store.apply(&[Op::InsertUser(user(boot.account.id, "u1"))]).await.unwrap();
    // As if pruned, or written by a binary that kept no log.
    b.exec("DELETE FROM changes").await;
    let v2 = store.apply(&[Op::InsertUser(user(boot.account.id, "u2"))]).await.unwrap();
    let Update::Everything(all) = store.load_since(v0).await.unwrap() else { panic!("a gap must read everything") };
    assert_eq!((all.version, all.users.len()), (v2, 2));
    assert!(matches!(store.load_since(v2 - 1).await.unwrap(), Update::Changed { .. }), "after the gap the log serves again");
    store.close().await;
}

async fn a_bulk_change_reads_everything(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let v0 = store.version().await.unwrap();
    let ops: Vec<Op> = (0..5_001).map(|i| Op::InsertUser(user(boot.account.id, &format!("bulk{i}")))).collect();
    store.apply(&ops).await.unwrap();
    let Update::Everything(all) = store.load_since(v0).await.unwrap() else { panic!("5,001 entities: one full load") };
    assert_eq!(all.users.len(), 5_001);
    store.close().await;
}

async fn versions_grow_with_each_batch(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let v0 = store.version().await.unwrap();
    let v1 = store.apply(&[Op::InsertUser(user(boot.account.id, "u1"))]).await.unwrap();
    let v2 = store.apply(&[Op::InsertUser(user(boot.account.id, "u2"))]).await.unwrap();
    assert!(v0 < v1 && v1 < v2, "{v0} {v1} {v2}");
    assert_eq!(store.version().await.unwrap(), v2);
    assert_eq!(store.load().await.unwrap().version, v2);
    store.close().await;
}

async fn uniqueness_is_a_conflict(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    store.apply(&[Op::InsertUser(user(boot.account.id, "Bob"))]).await.unwrap();
    let e = store.apply(&[Op::InsertUser(user(boot.account.id, "bOB"))]).await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "names are unique regardless of case: {e:?}");
    let tk = || Op::InsertTokenKey(TokenKeyMaterial { id: 9, created: 1, secret: zeroize::Zeroizing::new([1u8; 32]) });
    store.apply(&[tk()]).await.unwrap();
    let e = store.apply(&[tk()]).await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "a token key id is taken once: {e:?}");
    store.close().await;
}

async fn missing_rows_are_constraint_errors(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let account = boot.account.id;
    let u = user(account, "carol");
    let key = AccessKey {
        id: AccessKeyId::generate(KeyKind::LongTerm, &account),
        account,
        owner: AccessKeyOwner::User(u.id.clone()),
        status: KeyStatus::Active,
        created: 1,
    };
    store.apply(&[Op::InsertUser(u.clone()), Op::InsertAccessKey(key, SecretAccessKey::generate())]).await.unwrap();
    let e = store.apply(&[Op::DeleteUser(u.id.clone())]).await;
    assert!(matches!(e, Err(StoreError::Constraint(_))), "a user with keys cannot go: {e:?}");
    let ghost = UniqueId::generate(IdPrefix::User, &account);
    let e = store.apply(&[Op::RenameUser { id: ghost.clone(), name: "x".into(), path: "/".into() }]).await;
    assert!(matches!(e, Err(StoreError::Constraint(_))), "{e:?}");
    let e = store.apply(&[Op::AddToGroup { group: UniqueId::generate(IdPrefix::Group, &account), user: u.id.clone(), at: 1 }]).await;
    assert!(matches!(e, Err(StoreError::Constraint(_))), "membership of a missing group: {e:?}");
    store.close().await;
}

async fn a_failed_batch_changes_nothing(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let v = store.version().await.unwrap();
    let e = store
        .apply(&[Op::InsertUser(user(boot.account.id, "dave")), Op::InsertUser(user(boot.account.id, "DAVE"))])
        .await;
    assert!(e.is_err());
    assert_eq!(store.version().await.unwrap(), v);
    assert!(store.load().await.unwrap().users.is_empty());
    store.close().await;
}

async fn wrong_master_key_is_refused_at_open(b: &dyn Backend) {
    let (store, key, _) = initialized(b).await;
    store.close().await;
    let e = b.open(&key_text()).await;
    assert!(matches!(e, Err(StoreError::MasterKey(_))), "{e:?}");
    let again = b.open(&key).await.unwrap();
    assert!(again.is_initialized().await.unwrap());
    again.close().await;
}

/// The read-only probe `init` and `migrate` use: never true before
/// `initialize` (PostgreSQL's empty database: false; SQLite's missing file:
/// an error, which the caller checks for first), false for a migrated
/// store, true once initialised.
async fn probes_see_initialisation_only(b: &dyn Backend) {
    let key = key_text();
    let before = b.probe().await;
    assert!(!matches!(before, Ok(true)), "{before:?}");
    let store = b.open(&key).await.unwrap();
    store.close().await;
    assert!(!b.probe().await.unwrap());
    let store = b.open(&key).await.unwrap();
    store.initialize(&bootstrap(AccountId::random())).await.unwrap();
    store.close().await;
    assert!(b.probe().await.unwrap());
}

/// A store migrated by a newer latchkey is refused, not touched.
async fn a_newer_schema_is_refused(b: &dyn Backend) {
    let key = key_text();
    let store = b.open(&key).await.unwrap();
    store.close().await;
    b.exec("INSERT INTO schema_migrations (version, applied) VALUES (1000, 0)").await;
    let e = b.open(&key).await;
    assert!(matches!(e, Err(StoreError::SchemaTooNew { found: 1000, .. })), "{e:?}");
}

/// What `latchkey migrate` relies on: the target gets the same everything.
async fn import_copies_everything_and_refuses_a_non_empty_store(b: &dyn Backend) {
    // The source is always SQLite (the embedded store being migrated).
    let source_dir = Sqlite { dir: tempfile::tempdir().unwrap() };
    let (source, _, boot) = initialized(&source_dir).await;
    let (ops, _, _) = everything(boot.account.id);
    source.apply(&ops).await.unwrap();
    let loaded = source.load().await.unwrap();
    let expected = canonical(source.load().await.unwrap());
    source.close().await;

    let target = b.open(&key_text()).await.unwrap();
    target.import(&loaded).await.unwrap();
    assert!(target.is_initialized().await.unwrap());
    assert_eq!(canonical(target.load().await.unwrap()), expected);
    assert_eq!(target.version().await.unwrap(), loaded.version);
    // Writes carry on from the imported version.
    let v = target.apply(&[Op::InsertUser(user(boot.account.id, "after"))]).await.unwrap();
    assert_eq!(v, loaded.version + 1);

    let e = target.import(&loaded).await;
    assert!(matches!(e, Err(StoreError::NotEmpty)), "{e:?}");
    target.close().await;
}

/// Bucket names are global: a name taken in any account is a conflict (the
/// server's `BucketAlreadyExists`). A policy and its bindings round-trip,
/// are replaced and deleted; the change log names buckets by name.
async fn buckets_are_global_and_keep_their_policies(b: &dyn Backend) {
    let (store, _, boot) = initialized(b).await;
    let management = boot.account.id;
    let member = Account { id: AccountId::random(), name: "member".into(), email: "m@example.com".into(), management: false, created: 1 };
    store.apply(&[Op::InsertAccount(member.clone())]).await.unwrap();
    let v0 = store.version().await.unwrap();
    store.apply(&[Op::InsertBucket(bucket(management, "shared-name"))]).await.unwrap();
    for owner in [management, member.id] {
        let e = store.apply(&[Op::InsertBucket(bucket(owner, "shared-name"))]).await;
        assert!(matches!(e, Err(StoreError::Conflict(_))), "a name is taken across accounts: {e:?}");
    }
    let e = store.apply(&[Op::InsertBucket(bucket(AccountId::random(), "orphan"))]).await;
    assert!(matches!(e, Err(StoreError::Constraint(_))), "an unknown account: {e:?}");
    store.apply(&[Op::InsertBucket(bucket(member.id, "a-member-bucket"))]).await.unwrap();

    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/u"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared-name/*"}]}"#;
    let binding = PrincipalBinding { arn: "arn:aws:iam::111111111111:user/u".into(), id: UniqueId::from_stored("AIDAUUUU".into()) };
    let v = store
        .apply(&[Op::SetBucketPolicy { name: "shared-name".into(), policy: Some(doc.into()), principals: vec![binding.clone()] }])
        .await
        .unwrap();
    let Update::Changed { touched, rows } = store.load_since(v - 1).await.unwrap() else { panic!("expected the changed rows") };
    assert_eq!(touched.buckets.iter().map(String::as_str).collect::<Vec<_>>(), ["shared-name"]);
    assert_eq!(touched.len(), 1);
    assert_eq!(rows.buckets.len(), 1, "only the touched bucket is read");
    let got = &rows.buckets[0];
    assert_eq!((got.name.as_str(), got.account, got.region.as_str()), ("shared-name", management, "eu-central-1"));
    assert_eq!((got.policy.as_deref(), got.policy_principals.as_slice()), (Some(doc), std::slice::from_ref(&binding)));

    let l = store.load().await.unwrap();
    let names: Vec<(&str, AccountId)> = l.buckets.iter().map(|b| (b.name.as_str(), b.account)).collect();
    assert_eq!(names, [("a-member-bucket", member.id), ("shared-name", management)], "by name, with their owners");

    store.apply(&[Op::SetBucketPolicy { name: "shared-name".into(), policy: None, principals: Vec::new() }]).await.unwrap();
    let l = store.load().await.unwrap();
    let got = l.buckets.iter().find(|b| b.name == "shared-name").unwrap();
    assert_eq!((got.policy.as_deref(), got.policy_principals.len()), (None, 0), "the policy is gone");

    for op in [
        Op::SetBucketPolicy { name: "nope".into(), policy: Some(doc.into()), principals: Vec::new() },
        Op::DeleteBucket("nope".into()),
    ] {
        let e = store.apply(&[op]).await;
        assert!(matches!(e, Err(StoreError::Constraint(_))), "no such bucket: {e:?}");
    }
    let v = store.apply(&[Op::DeleteBucket("shared-name".into())]).await.unwrap();
    let Update::Changed { touched, rows } = store.load_since(v - 1).await.unwrap() else { panic!("expected the changed rows") };
    assert!(touched.buckets.contains("shared-name") && rows.buckets.is_empty(), "named without a row: deleted");
    // The name is free again, for any account.
    store.apply(&[Op::InsertBucket(bucket(member.id, "shared-name"))]).await.unwrap();

    let Update::Changed { touched, rows } = store.load_since(v0).await.unwrap() else { panic!("expected the changed rows") };
    assert_eq!(touched.buckets.len(), 2);
    assert_eq!(canonical(rows), canonical(only(store.load().await.unwrap(), &touched)));
    store.close().await;
}

// ---------------------------------------------------------------- PostgreSQL only

/// A change committed through one store reaches another store's follower,
/// which is what keeps several nodes' snapshots current.
#[tokio::test]
async fn postgres_changes_reach_other_nodes() {
    let db = Postgres::create().await;
    let key = key_text();
    let a = db.open(&key).await.unwrap();
    let b = db.open(&key).await.unwrap();
    let boot = bootstrap(AccountId::random());
    a.initialize(&boot).await.unwrap();
    let mut rx = b.changes().expect("PostgreSQL reports changes");
    // The follower's first poll.
    tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.unwrap().unwrap();
    let v = a.apply(&[Op::InsertUser(user(boot.account.id, "erin"))]).await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            rx.changed().await.unwrap();
            if *rx.borrow_and_update() >= v {
                break;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "version {v} not seen within 1 s");
    a.close().await;
    b.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn sqlite_reports_no_changes() {
    let b = Sqlite { dir: tempfile::tempdir().unwrap() };
    let store = b.open(&key_text()).await.unwrap();
    assert!(store.changes().is_none());
    store.close().await;
}

/// An unreachable server is an error quickly, not a hang.
#[tokio::test]
async fn postgres_unreachable_fails_fast() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = std::time::Instant::now();
    let key = MasterKey::from_base64(&key_text()).unwrap();
    let e = PostgresStore::open(&format!("postgres://postgres@127.0.0.1:{port}/postgres"), key).await;
    assert!(matches!(e, Err(StoreError::Backend(_))), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(8), "{:?}", start.elapsed());
}
