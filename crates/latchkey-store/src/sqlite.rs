//! The embedded backend: one SQLite file in the data directory, in WAL mode
//! with full fsync on commit, so an acknowledged write survives a crash.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use latchkey_model::{
    AccessKey, AccessKeyId, AccessKeyOwner, Account, AccountId, Attachment, Group, IdentityProvider, InlinePolicy, KeyStatus,
    ManagedPolicy, MfaDevice, OwnerKind, ProviderKind, PolicyVersion, Role, SecretAccessKey, Tag, UniqueId, User,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool, Sqlite, Transaction};

use crate::{
    Bootstrap, CreateAccountRequest, Loaded, LoadedAccessKey, MasterKey, Op, Scp, Store, StoreError, TokenKeyMaterial,
};

/// Versioned migrations, applied in order, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, include_str!("../migrations/sqlite/0002_iam_entities.sql")),
    (3, include_str!("../migrations/sqlite/0003_token_keys.sql")),
    (4, include_str!("../migrations/sqlite/0004_organizations.sql")),
    (5, include_str!("../migrations/sqlite/0005_mfa_devices.sql")),
    (6, include_str!("../migrations/sqlite/0006_access_key_last_used.sql")),
    (7, include_str!("../migrations/sqlite/0007_identity_providers.sql")),
    (8, include_str!("../migrations/sqlite/0008_management_full_aws_access.sql")),
    (9, include_str!("../migrations/sqlite/0009_trust_principals.sql")),
];

/// Plaintext sealed at initialisation so that opening the store with another
/// master key fails at start-up, with a clear message, not on first use.
pub(crate) const CHECK_PLAINTEXT: &[u8] = b"latchkey master key check";
pub(crate) const CHECK_AAD: &[u8] = b"meta:master_key_check";

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    master: MasterKey,
}

impl SqliteStore {
    /// File name of the database inside a data directory.
    pub const FILE_NAME: &'static str = "latchkey.db";

    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub async fn open(path: &Path, master: MasterKey) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        let store = Self { pool, master };
        store.migrate().await?;
        store.check_master_key().await?;
        Ok(store)
    }

    /// Whether the database at `path` is initialised, read without locks or
    /// writes of any kind (not even WAL bookkeeping), so that a refused
    /// `init` leaves every file as it was.
    pub async fn probe_initialized(path: &Path) -> Result<bool, StoreError> {
        let options = SqliteConnectOptions::new().filename(path).read_only(true).immutable(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let found: Result<Option<String>, _> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'initialized'").fetch_optional(&pool).await;
        pool.close().await;
        // No meta table yet means a store whose first migration never ran.
        Ok(matches!(found, Ok(Some(_))))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)")
            .execute(&self.pool)
            .await?;
        let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > newest {
            return Err(StoreError::SchemaTooNew { found: current, supported: newest });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied) VALUES (?, unixepoch())")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, "applied store migration");
        }
        Ok(())
    }

    async fn check_master_key(&self) -> Result<(), StoreError> {
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'master_key_check'")
            .fetch_optional(&self.pool)
            .await?;
        if let Some(hex) = stored {
            let blob = decode_hex(&hex).ok_or_else(|| StoreError::Corrupt("master_key_check".into()))?;
            self.master.open(&blob, CHECK_AAD)?;
        }
        Ok(())
    }

    fn seal_secret(&self, key: &AccessKeyId, secret: &SecretAccessKey) -> Vec<u8> {
        self.master.seal(secret.expose().as_bytes(), key.as_str().as_bytes())
    }

    async fn apply_op(&self, tx: &mut Transaction<'_, Sqlite>, op: &Op) -> Result<(), StoreError> {
        match op {
            Op::InsertAccount(a) => {
                sqlx::query("INSERT INTO accounts (id, name, email, management, created) VALUES (?, ?, ?, ?, ?)")
                    .bind(a.id.to_string())
                    .bind(&a.name)
                    .bind(&a.email)
                    .bind(a.management)
                    .bind(a.created)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::InsertUser(u) => {
                sqlx::query(
                    "INSERT INTO users (id, account_id, name, name_lower, path, created, permissions_boundary)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(u.id.as_str())
                .bind(u.account.to_string())
                .bind(&u.name)
                .bind(u.name.to_lowercase())
                .bind(&u.path)
                .bind(u.created)
                .bind(&u.permissions_boundary)
                .execute(&mut **tx)
                .await?;
                set_tags(tx, &u.id, &u.tags).await?;
            }
            Op::DeleteUser(id) => {
                delete_owned(tx, id).await?;
                expect_one(sqlx::query("DELETE FROM users WHERE id = ?").bind(id.as_str()).execute(&mut **tx).await?, "user", id)?;
            }
            Op::RenameUser { id, name, path } => {
                let done = sqlx::query("UPDATE users SET name = ?, name_lower = ?, path = ? WHERE id = ?")
                    .bind(name)
                    .bind(name.to_lowercase())
                    .bind(path)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "user", id)?;
            }
            Op::SetTags(owner, tags) => set_tags(tx, owner, tags).await?,
            Op::SetBoundary(kind, owner, arn) => {
                let sql = match kind {
                    OwnerKind::User => "UPDATE users SET permissions_boundary = ? WHERE id = ?",
                    OwnerKind::Role => "UPDATE roles SET permissions_boundary = ? WHERE id = ?",
                    OwnerKind::Group => return Err(StoreError::Constraint("groups have no permissions boundary".into())),
                };
                expect_one(sqlx::query(sql).bind(arn).bind(owner.as_str()).execute(&mut **tx).await?, kind.as_str(), owner)?;
            }
            Op::InsertGroup(g) => {
                sqlx::query("INSERT INTO groups (id, account_id, name, name_lower, path, created) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(g.id.as_str())
                    .bind(g.account.to_string())
                    .bind(&g.name)
                    .bind(g.name.to_lowercase())
                    .bind(&g.path)
                    .bind(g.created)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteGroup(id) => {
                delete_owned(tx, id).await?;
                expect_one(sqlx::query("DELETE FROM groups WHERE id = ?").bind(id.as_str()).execute(&mut **tx).await?, "group", id)?;
            }
            Op::AddToGroup { group, user, at } => {
                sqlx::query("INSERT INTO group_members (group_id, user_id, added) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                    .bind(group.as_str())
                    .bind(user.as_str())
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::RemoveFromGroup { group, user } => {
                sqlx::query("DELETE FROM group_members WHERE group_id = ? AND user_id = ?")
                    .bind(group.as_str())
                    .bind(user.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::InsertRole(r) => {
                sqlx::query(
                    "INSERT INTO roles (id, account_id, name, name_lower, path, trust_policy, description,
                                        max_session_duration, permissions_boundary, created, trust_principals)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(r.id.as_str())
                .bind(r.account.to_string())
                .bind(&r.name)
                .bind(r.name.to_lowercase())
                .bind(&r.path)
                .bind(&r.trust_policy)
                .bind(&r.description)
                .bind(r.max_session_duration)
                .bind(&r.permissions_boundary)
                .bind(r.created)
                .bind(crate::ops::encode_principals(r.trust_principals.as_deref()))
                .execute(&mut **tx)
                .await?;
                set_tags(tx, &r.id, &r.tags).await?;
            }
            Op::UpdateRole { id, description, max_session_duration } => {
                let done = sqlx::query("UPDATE roles SET description = ?, max_session_duration = ? WHERE id = ?")
                    .bind(description)
                    .bind(max_session_duration)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "role", id)?;
            }
            Op::SetTrustPolicy { id, document, principals } => {
                let done = sqlx::query("UPDATE roles SET trust_policy = ?, trust_principals = ? WHERE id = ?")
                    .bind(document)
                    .bind(crate::ops::encode_principals(Some(principals)))
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "role", id)?;
            }
            Op::TouchRole { id, at, region } => {
                sqlx::query("UPDATE roles SET last_used = ?, last_used_region = ? WHERE id = ?")
                    .bind(at)
                    .bind(region)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteRole(id) => {
                delete_owned(tx, id).await?;
                expect_one(sqlx::query("DELETE FROM roles WHERE id = ?").bind(id.as_str()).execute(&mut **tx).await?, "role", id)?;
            }
            Op::InsertPolicy(p) => {
                sqlx::query(
                    "INSERT INTO managed_policies (id, account_id, name, name_lower, path, description, default_version,
                                                   next_version, created, updated)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(p.id.as_str())
                .bind(p.account.to_string())
                .bind(&p.name)
                .bind(p.name.to_lowercase())
                .bind(&p.path)
                .bind(&p.description)
                .bind(&p.default_version)
                .bind(p.next_version)
                .bind(p.created)
                .bind(p.updated)
                .execute(&mut **tx)
                .await?;
                for v in &p.versions {
                    insert_version(tx, &p.id, v).await?;
                }
                set_tags(tx, &p.id, &p.tags).await?;
            }
            Op::DeletePolicy(id) => {
                sqlx::query("DELETE FROM tags WHERE owner_id = ?").bind(id.as_str()).execute(&mut **tx).await?;
                let done = sqlx::query("DELETE FROM managed_policies WHERE id = ?").bind(id.as_str()).execute(&mut **tx).await?;
                expect_one(done, "policy", id)?;
            }
            Op::InsertPolicyVersion { policy, version, next_version } => {
                insert_version(tx, policy, version).await?;
                let done = sqlx::query("UPDATE managed_policies SET next_version = ? WHERE id = ?")
                    .bind(next_version)
                    .bind(policy.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "policy", policy)?;
            }
            Op::DeletePolicyVersion(policy, version) => {
                let done = sqlx::query("DELETE FROM policy_versions WHERE policy_id = ? AND version_id = ?")
                    .bind(policy.as_str())
                    .bind(version)
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "policy version", policy)?;
            }
            Op::SetDefaultVersion { policy, version_id, at } => {
                let done = sqlx::query("UPDATE managed_policies SET default_version = ?, updated = ? WHERE id = ?")
                    .bind(version_id)
                    .bind(at)
                    .bind(policy.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "policy", policy)?;
            }
            Op::Attach(a) => {
                sqlx::query(
                    "INSERT INTO attachments (policy_arn, owner_kind, owner_id, seq)
                     VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM attachments))
                     ON CONFLICT DO NOTHING",
                )
                .bind(&a.policy_arn)
                .bind(a.owner_kind.as_str())
                .bind(a.owner.as_str())
                .execute(&mut **tx)
                .await?;
            }
            Op::Detach(a) => {
                sqlx::query("DELETE FROM attachments WHERE policy_arn = ? AND owner_id = ?")
                    .bind(&a.policy_arn)
                    .bind(a.owner.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::PutInline(p) => {
                sqlx::query(
                    "INSERT INTO inline_policies (owner_kind, owner_id, name, document) VALUES (?, ?, ?, ?)
                     ON CONFLICT (owner_id, name) DO UPDATE SET document = excluded.document",
                )
                .bind(p.owner_kind.as_str())
                .bind(p.owner.as_str())
                .bind(&p.name)
                .bind(&p.document)
                .execute(&mut **tx)
                .await?;
            }
            Op::InsertTokenKey(k) => {
                sqlx::query("INSERT INTO token_keys (id, created, secret) VALUES (?, ?, ?)")
                    .bind(i64::from(k.id))
                    .bind(k.created)
                    .bind(self.master.seal(k.secret.as_slice(), &token_key_aad(k.id)))
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteTokenKey(id) => {
                sqlx::query("DELETE FROM token_keys WHERE id = ?").bind(i64::from(*id)).execute(&mut **tx).await?;
            }
            Op::InsertMfaDevice(d, seed) => {
                sqlx::query("INSERT INTO mfa_devices (serial, account_id, user_id, enabled, created, seed) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(&d.serial)
                    .bind(d.account.to_string())
                    .bind(d.assigned.as_ref().map(|(u, _)| u.as_str()))
                    .bind(d.assigned.as_ref().map(|(_, t)| *t))
                    .bind(d.created)
                    .bind(self.master.seal(seed, d.serial.as_bytes()))
                    .execute(&mut **tx)
                    .await?;
            }
            Op::AssignMfaDevice { serial, assigned } => {
                let done = sqlx::query("UPDATE mfa_devices SET user_id = ?, enabled = ? WHERE serial = ?")
                    .bind(assigned.as_ref().map(|(u, _)| u.as_str()))
                    .bind(assigned.as_ref().map(|(_, t)| *t))
                    .bind(serial)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Constraint(format!("MFA device {serial} does not exist")));
                }
            }
            Op::DeleteMfaDevice(serial) => {
                sqlx::query("DELETE FROM mfa_devices WHERE serial = ?").bind(serial).execute(&mut **tx).await?;
            }
            Op::InsertProvider(p) | Op::UpdateProvider(p) => {
                let insert = matches!(op, Op::InsertProvider(_));
                let sql = if insert {
                    "INSERT INTO identity_providers (account_id, kind, name, client_ids, thumbprints, metadata, created, arn)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                } else {
                    "UPDATE identity_providers SET account_id = ?, kind = ?, name = ?, client_ids = ?, thumbprints = ?,
                     metadata = ?, created = ? WHERE arn = ?"
                };
                sqlx::query(sql)
                    .bind(p.account.to_string())
                    .bind(match p.kind {
                        ProviderKind::Oidc => "oidc",
                        ProviderKind::Saml => "saml",
                    })
                    .bind(&p.name)
                    .bind(p.client_ids.join("\n"))
                    .bind(p.thumbprints.join("\n"))
                    .bind(&p.metadata)
                    .bind(p.created)
                    .bind(&p.arn)
                    .execute(&mut **tx)
                    .await?;
                set_tags(tx, &UniqueId::from_stored(p.arn.clone()), &p.tags).await?;
            }
            Op::DeleteProvider(arn) => {
                sqlx::query("DELETE FROM tags WHERE owner_id = ?").bind(arn).execute(&mut **tx).await?;
                sqlx::query("DELETE FROM identity_providers WHERE arn = ?").bind(arn).execute(&mut **tx).await?;
            }
            Op::InsertCreateAccountRequest(r) => {
                sqlx::query("INSERT INTO create_account_requests (id, account_id, name, requested) VALUES (?, ?, ?, ?)")
                    .bind(&r.id)
                    .bind(r.account.to_string())
                    .bind(&r.name)
                    .bind(r.requested)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::InsertScp(p) => {
                sqlx::query("INSERT INTO scps (id, name, description, content) VALUES (?, ?, ?, ?)")
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(&p.description)
                    .bind(&p.content)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteScp(id) => {
                sqlx::query("DELETE FROM scp_attachments WHERE policy_id = ?").bind(id).execute(&mut **tx).await?;
                sqlx::query("DELETE FROM scps WHERE id = ?").bind(id).execute(&mut **tx).await?;
            }
            Op::AttachScp { policy, target } => {
                sqlx::query("INSERT INTO scp_attachments (policy_id, target_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
                    .bind(policy)
                    .bind(target)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DetachScp { policy, target } => {
                sqlx::query("DELETE FROM scp_attachments WHERE policy_id = ? AND target_id = ?")
                    .bind(policy)
                    .bind(target)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteInline(owner, name) => {
                let done = sqlx::query("DELETE FROM inline_policies WHERE owner_id = ? AND name = ?")
                    .bind(owner.as_str())
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "inline policy", owner)?;
            }
            Op::InsertAccessKey(k, secret) => {
                let user_id = match &k.owner {
                    AccessKeyOwner::Root => None,
                    AccessKeyOwner::User(id) => Some(id.as_str()),
                };
                sqlx::query("INSERT INTO access_keys (id, account_id, user_id, status, secret, created) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(k.id.as_str())
                    .bind(k.account.to_string())
                    .bind(user_id)
                    .bind(k.status.as_str())
                    .bind(self.seal_secret(&k.id, secret))
                    .bind(k.created)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::SetAccessKeyStatus(id, status) => {
                let done = sqlx::query("UPDATE access_keys SET status = ? WHERE id = ?")
                    .bind(status.as_str())
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Constraint(format!("access key {id} does not exist")));
                }
            }
            Op::TouchAccessKey { id, at, service, region } => {
                sqlx::query("UPDATE access_keys SET last_used = ?, last_used_service = ?, last_used_region = ? WHERE id = ?")
                    .bind(at)
                    .bind(service)
                    .bind(region)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteAccessKey(id) => {
                let done = sqlx::query("DELETE FROM access_keys WHERE id = ?").bind(id.as_str()).execute(&mut **tx).await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Constraint(format!("access key {id} does not exist")));
                }
            }
        }
        Ok(())
    }

    async fn bump_version(tx: &mut Transaction<'_, Sqlite>) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar(
            "INSERT INTO meta (key, value) VALUES ('version', '1')
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
             RETURNING CAST(value AS INTEGER)",
        )
        .fetch_one(&mut **tx)
        .await?;
        Ok(v)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn is_initialized(&self) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'initialized'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn initialize(&self, b: &Bootstrap) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let marker = sqlx::query("INSERT INTO meta (key, value) VALUES ('initialized', ?) ON CONFLICT(key) DO NOTHING")
            .bind(b.account.id.to_string())
            .execute(&mut *tx)
            .await?;
        if marker.rows_affected() == 0 {
            return Err(StoreError::AlreadyInitialized);
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ('master_key_check', ?)")
            .bind(encode_hex(&self.master.seal(CHECK_PLAINTEXT, CHECK_AAD)))
            .execute(&mut *tx)
            .await?;
        self.apply_op(&mut tx, &Op::InsertAccount(b.account.clone())).await?;
        self.apply_op(&mut tx, &Op::InsertAccessKey(b.root_key.clone(), b.root_secret.clone())).await?;
        for op in &b.ops {
            self.apply_op(&mut tx, op).await?;
        }
        Self::bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        // One read transaction so the parts agree with each other and the version.
        // Rows are streamed rather than fetched all at once: sqlx copies each
        // value with SQLite's (glibc's) allocator, and with 100,000 roles those
        // copies left ~120 MB in glibc's arenas after start-up (BENCHMARKS.md).
        let mut tx = self.pool.begin().await?;
        let version: i64 = sqlx::query_scalar("SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'version'), 0)")
            .fetch_one(&mut *tx)
            .await?;

        let mut accounts = Vec::new();
        {
            let mut rows = sqlx::query("SELECT id, name, email, management, created FROM accounts").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                accounts.push(Account {
                    id: parse_account(row.try_get("id")?)?,
                    name: row.try_get("name")?,
                    email: row.try_get("email")?,
                    management: row.try_get("management")?,
                    created: row.try_get("created")?,
                });
            }
        }

        let mut tags: std::collections::HashMap<String, Vec<Tag>> = std::collections::HashMap::new();
        {
            let mut rows = sqlx::query("SELECT owner_id, key, value FROM tags ORDER BY owner_id, position").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                tags.entry(row.try_get("owner_id")?)
                    .or_default()
                    .push(Tag { key: row.try_get("key")?, value: row.try_get("value")? });
            }
        }

        let mut users = Vec::new();
        {
            let mut rows = sqlx::query("SELECT id, account_id, name, path, created, permissions_boundary FROM users").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let id: String = row.try_get("id")?;
                users.push(User {
                    tags: tags.remove(&id).unwrap_or_default(),
                    id: UniqueId::from_stored(id),
                    account: parse_account(row.try_get("account_id")?)?,
                    name: row.try_get("name")?,
                    path: row.try_get("path")?,
                    created: row.try_get("created")?,
                    permissions_boundary: row.try_get("permissions_boundary")?,
                });
            }
        }

        let mut groups = Vec::new();
        {
            let mut rows = sqlx::query("SELECT id, account_id, name, path, created FROM groups").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                groups.push(Group {
                    id: UniqueId::from_stored(row.try_get("id")?),
                    account: parse_account(row.try_get("account_id")?)?,
                    name: row.try_get("name")?,
                    path: row.try_get("path")?,
                    created: row.try_get("created")?,
                });
            }
        }
        let mut memberships = Vec::new();
        {
            let mut rows = sqlx::query("SELECT group_id, user_id FROM group_members ORDER BY added, rowid").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                memberships.push((UniqueId::from_stored(row.try_get("group_id")?), UniqueId::from_stored(row.try_get("user_id")?)));
            }
        }

        let mut roles = Vec::new();
        {
            let mut rows = sqlx::query(
                "SELECT id, account_id, name, path, trust_policy, description, max_session_duration, permissions_boundary,
                        created, last_used, last_used_region, trust_principals FROM roles",
            ).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let id: String = row.try_get("id")?;
                let last_used: Option<i64> = row.try_get("last_used")?;
                let region: Option<String> = row.try_get("last_used_region")?;
                roles.push(Role {
                    tags: tags.remove(&id).unwrap_or_default(),
                    id: UniqueId::from_stored(id),
                    account: parse_account(row.try_get("account_id")?)?,
                    name: row.try_get("name")?,
                    path: row.try_get("path")?,
                    trust_policy: row.try_get("trust_policy")?,
                    trust_principals: crate::ops::decode_principals(row.try_get("trust_principals")?),
                    description: row.try_get("description")?,
                    max_session_duration: row.try_get("max_session_duration")?,
                    permissions_boundary: row.try_get("permissions_boundary")?,
                    created: row.try_get("created")?,
                    last_used: last_used.map(|t| (t, region.unwrap_or_default())),
                });
            }
        }

        let mut versions: std::collections::HashMap<String, Vec<PolicyVersion>> = std::collections::HashMap::new();
        {
            let mut rows = sqlx::query("SELECT policy_id, version_id, document, created FROM policy_versions ORDER BY policy_id, seq").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                versions.entry(row.try_get("policy_id")?).or_default().push(PolicyVersion {
                    version_id: row.try_get("version_id")?,
                    document: row.try_get("document")?,
                    created: row.try_get("created")?,
                });
            }
        }
        let mut policies = Vec::new();
        {
            let mut rows = sqlx::query(
                "SELECT id, account_id, name, path, description, default_version, next_version, created, updated
                 FROM managed_policies",
            ).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let id: String = row.try_get("id")?;
                policies.push(ManagedPolicy {
                    tags: tags.remove(&id).unwrap_or_default(),
                    versions: versions.remove(&id).unwrap_or_default(),
                    id: UniqueId::from_stored(id),
                    account: parse_account(row.try_get("account_id")?)?,
                    name: row.try_get("name")?,
                    path: row.try_get("path")?,
                    description: row.try_get("description")?,
                    default_version: row.try_get("default_version")?,
                    next_version: row.try_get("next_version")?,
                    created: row.try_get("created")?,
                    updated: row.try_get("updated")?,
                });
            }
        }

        let mut attachments = Vec::new();
        {
            let mut rows = sqlx::query("SELECT policy_arn, owner_kind, owner_id FROM attachments ORDER BY seq").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                attachments.push(Attachment {
                    policy_arn: row.try_get("policy_arn")?,
                    owner_kind: parse_kind(row.try_get("owner_kind")?)?,
                    owner: UniqueId::from_stored(row.try_get("owner_id")?),
                });
            }
        }
        let mut inline_policies = Vec::new();
        {
            let mut rows = sqlx::query("SELECT owner_kind, owner_id, name, document FROM inline_policies ORDER BY owner_id, name").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                inline_policies.push(InlinePolicy {
                    owner_kind: parse_kind(row.try_get("owner_kind")?)?,
                    owner: UniqueId::from_stored(row.try_get("owner_id")?),
                    name: row.try_get("name")?,
                    document: row.try_get("document")?,
                });
            }
        }

        let mut access_keys = Vec::new();
        {
            let mut rows = sqlx::query(
                "SELECT id, account_id, user_id, status, secret, created, last_used, last_used_service, last_used_region
                 FROM access_keys",
            ).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let id_text: String = row.try_get("id")?;
                let id = AccessKeyId::parse(&id_text).ok_or_else(|| StoreError::Corrupt(format!("access key id {id_text}")))?;
                let blob: Vec<u8> = row.try_get("secret")?;
                let plain = self.master.open(&blob, id.as_str().as_bytes())?;
                let secret = String::from_utf8(plain.to_vec()).map_err(|_| StoreError::Corrupt(format!("secret of {id}")))?;
                let user_id: Option<String> = row.try_get("user_id")?;
                let status: String = row.try_get("status")?;
                access_keys.push(LoadedAccessKey {
                    key: AccessKey {
                        id,
                        account: parse_account(row.try_get("account_id")?)?,
                        owner: user_id.map_or(AccessKeyOwner::Root, |u| AccessKeyOwner::User(UniqueId::from_stored(u))),
                        status: KeyStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
                        created: row.try_get("created")?,
                    },
                    secret: SecretAccessKey::from_string(secret),
                    last_used: {
                        let at: Option<i64> = row.try_get("last_used")?;
                        let service: Option<String> = row.try_get("last_used_service")?;
                        let region: Option<String> = row.try_get("last_used_region")?;
                        at.map(|t| (t, service.unwrap_or_default(), region.unwrap_or_default()))
                    },
                });
            }
        }
        let mut token_keys = Vec::new();
        {
            let mut rows = sqlx::query("SELECT id, created, secret FROM token_keys ORDER BY id").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let id: i64 = row.try_get("id")?;
                let id = u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("token key id {id}")))?;
                let blob: Vec<u8> = row.try_get("secret")?;
                let plain = self.master.open(&blob, &token_key_aad(id))?;
                let bytes: [u8; 32] =
                    plain.as_slice().try_into().map_err(|_| StoreError::Corrupt(format!("token key {id} length")))?;
                token_keys.push(TokenKeyMaterial { id, created: row.try_get("created")?, secret: zeroize::Zeroizing::new(bytes) });
            }
        }
        let mut create_account_requests = Vec::new();
        {
            let mut rows = sqlx::query("SELECT id, account_id, name, requested FROM create_account_requests ORDER BY requested, id").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                create_account_requests.push(CreateAccountRequest {
                    id: row.try_get("id")?,
                    account: parse_account(row.try_get("account_id")?)?,
                    name: row.try_get("name")?,
                    requested: row.try_get("requested")?,
                });
            }
        }
        let mut scps = Vec::new();
        {
            let mut rows = sqlx::query("SELECT id, name, description, content FROM scps ORDER BY name").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                scps.push(Scp {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    content: row.try_get("content")?,
                });
            }
        }
        let mut scp_attachments = Vec::new();
        {
            let mut rows = sqlx::query("SELECT policy_id, target_id FROM scp_attachments ORDER BY rowid").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                scp_attachments.push((row.try_get("policy_id")?, row.try_get("target_id")?));
            }
        }
        let mut providers = Vec::new();
        {
            let mut rows = sqlx::query(
                "SELECT arn, account_id, kind, name, client_ids, thumbprints, metadata, created FROM identity_providers ORDER BY arn",
            ).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let arn: String = row.try_get("arn")?;
                let kind: String = row.try_get("kind")?;
                let lines = |s: String| -> Vec<String> { s.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect() };
                providers.push(IdentityProvider {
                    tags: tags.remove(&arn).unwrap_or_default(),
                    account: parse_account(row.try_get("account_id")?)?,
                    kind: if kind == "saml" { ProviderKind::Saml } else { ProviderKind::Oidc },
                    name: row.try_get("name")?,
                    client_ids: lines(row.try_get("client_ids")?),
                    thumbprints: lines(row.try_get("thumbprints")?),
                    metadata: row.try_get("metadata")?,
                    created: row.try_get("created")?,
                    arn,
                });
            }
        }
        let mut mfa_devices = Vec::new();
        {
            let mut rows = sqlx::query("SELECT serial, account_id, user_id, enabled, created, seed FROM mfa_devices ORDER BY created, serial").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let serial: String = row.try_get("serial")?;
                let blob: Vec<u8> = row.try_get("seed")?;
                let seed = self.master.open(&blob, serial.as_bytes())?;
                let user: Option<String> = row.try_get("user_id")?;
                let enabled: Option<i64> = row.try_get("enabled")?;
                mfa_devices.push((
                    MfaDevice {
                        account: parse_account(row.try_get("account_id")?)?,
                        assigned: user.zip(enabled).map(|(u, t)| (UniqueId::from_stored(u), t)),
                        created: row.try_get("created")?,
                        serial,
                    },
                    seed,
                ));
            }
        }
        tx.commit().await?;
        Ok(Loaded {
            providers,
            mfa_devices,
            create_account_requests,
            scps,
            scp_attachments,
            version,
            accounts,
            users,
            access_keys,
            groups,
            memberships,
            roles,
            policies,
            attachments,
            inline_policies,
            token_keys,
        })
    }

    async fn version(&self) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar("SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'version'), 0)")
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }

    async fn close(&self) {
        // Closing the last connection checkpoints the WAL into the database file.
        self.pool.close().await;
    }

    async fn apply(&self, ops: &[Op]) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        for op in ops {
            // An error drops `tx`, which rolls the whole batch back.
            self.apply_op(&mut tx, op).await?;
        }
        let v = Self::bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(v)
    }

    async fn import(&self, loaded: &Loaded) -> Result<(), StoreError> {
        let management = loaded
            .accounts
            .iter()
            .find(|a| a.management)
            .ok_or_else(|| StoreError::Corrupt("no management account to import".into()))?;
        let mut tx = self.pool.begin().await?;
        let rows: i64 = sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM meta) + (SELECT COUNT(*) FROM accounts)")
            .fetch_one(&mut *tx)
            .await?;
        if rows != 0 {
            return Err(StoreError::NotEmpty);
        }
        for (key, value) in [
            ("initialized", management.id.to_string()),
            ("master_key_check", encode_hex(&self.master.seal(CHECK_PLAINTEXT, CHECK_AAD))),
            ("version", loaded.version.to_string()),
        ] {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)").bind(key).bind(value).execute(&mut *tx).await?;
        }
        for op in crate::ops::import_ops(loaded) {
            self.apply_op(&mut tx, &op).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

pub(crate) fn token_key_aad(id: u32) -> Vec<u8> {
    format!("token_key:{id}").into_bytes()
}

/// Replaces an owner's tags.
async fn set_tags(tx: &mut Transaction<'_, Sqlite>, owner: &UniqueId, tags: &[Tag]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM tags WHERE owner_id = ?").bind(owner.as_str()).execute(&mut **tx).await?;
    for (position, tag) in tags.iter().enumerate() {
        sqlx::query("INSERT INTO tags (owner_id, position, key, value) VALUES (?, ?, ?, ?)")
            .bind(owner.as_str())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Removes what an identity owns outright (tags, inline policies, its
/// attachments). Memberships and keys are not removed here: IAM refuses to
/// delete an identity that still has them, and the foreign keys enforce it.
async fn delete_owned(tx: &mut Transaction<'_, Sqlite>, owner: &UniqueId) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM tags WHERE owner_id = ?",
        "DELETE FROM inline_policies WHERE owner_id = ?",
        "DELETE FROM attachments WHERE owner_id = ?",
    ] {
        sqlx::query(sql).bind(owner.as_str()).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_version(tx: &mut Transaction<'_, Sqlite>, policy: &UniqueId, v: &PolicyVersion) -> Result<(), StoreError> {
    let seq: i64 = v.version_id.trim_start_matches('v').parse().unwrap_or(0);
    sqlx::query("INSERT INTO policy_versions (policy_id, version_id, seq, document, created) VALUES (?, ?, ?, ?, ?)")
        .bind(policy.as_str())
        .bind(&v.version_id)
        .bind(seq)
        .bind(&v.document)
        .bind(v.created)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn expect_one(done: sqlx::sqlite::SqliteQueryResult, what: &str, id: &UniqueId) -> Result<(), StoreError> {
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Constraint(format!("{what} {id} does not exist")))
    }
}

pub(crate) fn parse_kind(s: String) -> Result<OwnerKind, StoreError> {
    OwnerKind::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("owner kind {s}")))
}

pub(crate) fn parse_account(s: String) -> Result<AccountId, StoreError> {
    AccountId::from_str(&s).map_err(|_| StoreError::Corrupt(format!("account id {s}")))
}

pub(crate) fn encode_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
