//! The PostgreSQL backend, for several nodes sharing one database.
//!
//! Same tables, same ops, same error mapping as the SQLite backend (this file
//! mirrors `sqlite.rs` statement for statement, with `$n` placeholders).
//! What is particular to sharing: every committed batch is announced with
//! `NOTIFY latchkey_changes, '<version>'`; [`Store::changes`] follows those
//! announcements (and polls the version, so a lost one heals); and every call
//! is bounded in time so that during an outage writes fail fast rather than
//! hang.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use latchkey_model::{
    AccessKey, AccessKeyId, AccessKeyOwner, Account, Attachment, Group, IdentityProvider, InlinePolicy, KeyStatus,
    ManagedPolicy, MfaDevice, OwnerKind, ProviderKind, PolicyVersion, Role, SecretAccessKey, Tag, UniqueId, User,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::watch;

use crate::sqlite::{CHECK_AAD, CHECK_PLAINTEXT, decode_hex, encode_hex, parse_account, parse_kind, token_key_aad};
use crate::{
    Bootstrap, CreateAccountRequest, Loaded, LoadedAccessKey, MasterKey, Op, Scp, Store, StoreError, TokenKeyMaterial,
};

/// Versioned migrations, the twins of the SQLite ones (same numbers, same
/// tables and columns), applied in order, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../migrations/postgres/0002_iam_entities.sql")),
    (3, include_str!("../migrations/postgres/0003_token_keys.sql")),
    (4, include_str!("../migrations/postgres/0004_organizations.sql")),
    (5, include_str!("../migrations/postgres/0005_mfa_devices.sql")),
    (6, include_str!("../migrations/postgres/0006_access_key_last_used.sql")),
    (7, include_str!("../migrations/postgres/0007_identity_providers.sql")),
    (8, include_str!("../migrations/postgres/0008_management_full_aws_access.sql")),
    (9, include_str!("../migrations/postgres/0009_trust_principals.sql")),
];

/// The channel every committed batch is announced on, with its version.
pub const CHANNEL: &str = "latchkey_changes";

/// Key of the advisory lock that serialises migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x6c61_7463_686b_6579; // "latchkey"

/// How long a caller waits for a pooled connection before the store counts
/// as unavailable: writes fail fast instead of hanging during an outage.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound on any one store call, network stalls included.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Server-side limit on one statement.
const STATEMENT_TIMEOUT: &str = "4s";
/// How often the change follower asks for the version even without a
/// notification, so a missed one heals.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// The PostgreSQL store, shared by several nodes.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    master: MasterKey,
    changes: watch::Sender<i64>,
    follower: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Runs a store call under [`CALL_TIMEOUT`].
async fn bounded<T>(f: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(StoreError::Backend("the database did not answer in time".into())))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`), brings the schema up to date and
    /// checks that `master` opens what the database holds.
    pub async fn open(url: &str, master: MasterKey) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?
            .application_name("latchkey")
            .options([("statement_timeout", STATEMENT_TIMEOUT), ("client_min_messages", "warning")]);
        let pool = bounded(async {
            Ok(PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?)
        })
        .await?;
        let (changes, _) = watch::channel(0);
        let store = Self { pool, master, changes, follower: std::sync::Mutex::new(None) };
        store.migrate().await?;
        store.check_master_key().await?;
        Ok(store)
    }

    /// Whether the database at `url` is initialised, read without creating
    /// or changing anything (no migration runs), so a refused `init` or
    /// `migrate` leaves the database as it was.
    pub async fn probe_initialized(url: &str) -> Result<bool, StoreError> {
        bounded(async {
            let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
            let found: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'initialized'")
                .fetch_optional(&mut conn)
            .await
            .or_else(|e| match &e {
                // No meta table: a database latchkey never migrated.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                _ => Err(e),
            })?;
            sqlx::Connection::close(conn).await?;
            Ok(found.is_some())
        })
        .await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // One connection holds the advisory lock while it migrates, so nodes
        // started together apply each migration once.
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        let result = async {
            sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)")
                .execute(&mut *conn)
                .await?;
            let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&mut *conn)
                .await?;
            let newest = MIGRATIONS.last().map_or(0, |m| m.0);
            if current > newest {
                return Err(StoreError::SchemaTooNew { found: current, supported: newest });
            }
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied) VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::info!(version, "applied store migration");
            }
            Ok(())
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        result
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

    async fn read_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'version'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Follows other writers: LISTEN on [`CHANNEL`], plus a version poll every
    /// [`RECONCILE_EVERY`] and after each (re)connection; reconnects with
    /// backoff. Every value seen is published, even an unchanged one, so a
    /// follower whose last reload failed tries again.
    async fn follow(pool: PgPool, tx: watch::Sender<i64>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            let listener = async {
                let mut l = PgListener::connect_with(&pool).await?;
                l.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = match tokio::time::timeout(CALL_TIMEOUT, listener).await {
                Ok(Ok(l)) => l,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis(), "cannot listen for store changes; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
                Err(_) => {
                    tracing::warn!(retry_ms = backoff.as_millis(), "listening for store changes timed out; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(250);
            // Whatever was committed while not listening.
            Self::poll(&pool, &tx).await;
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    n = listener.try_recv() => match n {
                        Ok(Some(n)) => {
                            if let Ok(v) = n.payload().parse::<i64>() {
                                tx.send_replace(v);
                            }
                        }
                        // Connection lost and re-established: notifications may be lost.
                        Ok(None) => Self::poll(&pool, &tx).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the store change listener; reconnecting");
                            break;
                        }
                    },
                    _ = tick.tick() => Self::poll(&pool, &tx).await,
                }
            }
        }
    }

    async fn poll(pool: &PgPool, tx: &watch::Sender<i64>) {
        let read = sqlx::query_scalar::<_, i64>("SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'version'").fetch_optional(pool);
        match tokio::time::timeout(CALL_TIMEOUT, read).await {
            Ok(Ok(v)) => {
                tx.send_replace(v.unwrap_or(0));
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "store version poll failed"),
            Err(_) => tracing::debug!("store version poll timed out"),
        }
    }

    fn seal_secret(&self, key: &AccessKeyId, secret: &SecretAccessKey) -> Vec<u8> {
        self.master.seal(secret.expose().as_bytes(), key.as_str().as_bytes())
    }

    async fn apply_op(&self, tx: &mut Transaction<'_, Postgres>, op: &Op) -> Result<(), StoreError> {
        match op {
            Op::InsertAccount(a) => {
                sqlx::query("INSERT INTO accounts (id, name, email, management, created) VALUES ($1, $2, $3, $4, $5)")
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
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
                expect_one(sqlx::query("DELETE FROM users WHERE id = $1").bind(id.as_str()).execute(&mut **tx).await?, "user", id)?;
            }
            Op::RenameUser { id, name, path } => {
                let done = sqlx::query("UPDATE users SET name = $1, name_lower = $2, path = $3 WHERE id = $4")
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
                    OwnerKind::User => "UPDATE users SET permissions_boundary = $1 WHERE id = $2",
                    OwnerKind::Role => "UPDATE roles SET permissions_boundary = $1 WHERE id = $2",
                    OwnerKind::Group => return Err(StoreError::Constraint("groups have no permissions boundary".into())),
                };
                expect_one(sqlx::query(sql).bind(arn).bind(owner.as_str()).execute(&mut **tx).await?, kind.as_str(), owner)?;
            }
            Op::InsertGroup(g) => {
                sqlx::query("INSERT INTO groups (id, account_id, name, name_lower, path, created) VALUES ($1, $2, $3, $4, $5, $6)")
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
                expect_one(sqlx::query("DELETE FROM groups WHERE id = $1").bind(id.as_str()).execute(&mut **tx).await?, "group", id)?;
            }
            Op::AddToGroup { group, user, at } => {
                sqlx::query("INSERT INTO group_members (group_id, user_id, added) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(group.as_str())
                    .bind(user.as_str())
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::RemoveFromGroup { group, user } => {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(group.as_str())
                    .bind(user.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::InsertRole(r) => {
                sqlx::query(
                    "INSERT INTO roles (id, account_id, name, name_lower, path, trust_policy, description,
                                        max_session_duration, permissions_boundary, created, trust_principals)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
                let done = sqlx::query("UPDATE roles SET description = $1, max_session_duration = $2 WHERE id = $3")
                    .bind(description)
                    .bind(max_session_duration)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "role", id)?;
            }
            Op::SetTrustPolicy { id, document, principals } => {
                let done = sqlx::query("UPDATE roles SET trust_policy = $1, trust_principals = $2 WHERE id = $3")
                    .bind(document)
                    .bind(crate::ops::encode_principals(Some(principals)))
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "role", id)?;
            }
            Op::TouchRole { id, at, region } => {
                sqlx::query("UPDATE roles SET last_used = $1, last_used_region = $2 WHERE id = $3")
                    .bind(at)
                    .bind(region)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteRole(id) => {
                delete_owned(tx, id).await?;
                expect_one(sqlx::query("DELETE FROM roles WHERE id = $1").bind(id.as_str()).execute(&mut **tx).await?, "role", id)?;
            }
            Op::InsertPolicy(p) => {
                sqlx::query(
                    "INSERT INTO managed_policies (id, account_id, name, name_lower, path, description, default_version,
                                                   next_version, created, updated)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
                sqlx::query("DELETE FROM tags WHERE owner_id = $1").bind(id.as_str()).execute(&mut **tx).await?;
                let done = sqlx::query("DELETE FROM managed_policies WHERE id = $1").bind(id.as_str()).execute(&mut **tx).await?;
                expect_one(done, "policy", id)?;
            }
            Op::InsertPolicyVersion { policy, version, next_version } => {
                insert_version(tx, policy, version).await?;
                let done = sqlx::query("UPDATE managed_policies SET next_version = $1 WHERE id = $2")
                    .bind(next_version)
                    .bind(policy.as_str())
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "policy", policy)?;
            }
            Op::DeletePolicyVersion(policy, version) => {
                let done = sqlx::query("DELETE FROM policy_versions WHERE policy_id = $1 AND version_id = $2")
                    .bind(policy.as_str())
                    .bind(version)
                    .execute(&mut **tx)
                    .await?;
                expect_one(done, "policy version", policy)?;
            }
            Op::SetDefaultVersion { policy, version_id, at } => {
                let done = sqlx::query("UPDATE managed_policies SET default_version = $1, updated = $2 WHERE id = $3")
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
                     VALUES ($1, $2, $3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM attachments))
                     ON CONFLICT DO NOTHING",
                )
                .bind(&a.policy_arn)
                .bind(a.owner_kind.as_str())
                .bind(a.owner.as_str())
                .execute(&mut **tx)
                .await?;
            }
            Op::Detach(a) => {
                sqlx::query("DELETE FROM attachments WHERE policy_arn = $1 AND owner_id = $2")
                    .bind(&a.policy_arn)
                    .bind(a.owner.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::PutInline(p) => {
                sqlx::query(
                    "INSERT INTO inline_policies (owner_kind, owner_id, name, document) VALUES ($1, $2, $3, $4)
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
                sqlx::query("INSERT INTO token_keys (id, created, secret) VALUES ($1, $2, $3)")
                    .bind(i64::from(k.id))
                    .bind(k.created)
                    .bind(self.master.seal(k.secret.as_slice(), &token_key_aad(k.id)))
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteTokenKey(id) => {
                sqlx::query("DELETE FROM token_keys WHERE id = $1").bind(i64::from(*id)).execute(&mut **tx).await?;
            }
            Op::InsertMfaDevice(d, seed) => {
                sqlx::query("INSERT INTO mfa_devices (serial, account_id, user_id, enabled, created, seed) VALUES ($1, $2, $3, $4, $5, $6)")
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
                let done = sqlx::query("UPDATE mfa_devices SET user_id = $1, enabled = $2 WHERE serial = $3")
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
                sqlx::query("DELETE FROM mfa_devices WHERE serial = $1").bind(serial).execute(&mut **tx).await?;
            }
            Op::InsertProvider(p) | Op::UpdateProvider(p) => {
                let insert = matches!(op, Op::InsertProvider(_));
                let sql = if insert {
                    "INSERT INTO identity_providers (account_id, kind, name, client_ids, thumbprints, metadata, created, arn)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                } else {
                    "UPDATE identity_providers SET account_id = $1, kind = $2, name = $3, client_ids = $4, thumbprints = $5,
                     metadata = $6, created = $7 WHERE arn = $8"
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
                sqlx::query("DELETE FROM tags WHERE owner_id = $1").bind(arn).execute(&mut **tx).await?;
                sqlx::query("DELETE FROM identity_providers WHERE arn = $1").bind(arn).execute(&mut **tx).await?;
            }
            Op::InsertCreateAccountRequest(r) => {
                sqlx::query("INSERT INTO create_account_requests (id, account_id, name, requested) VALUES ($1, $2, $3, $4)")
                    .bind(&r.id)
                    .bind(r.account.to_string())
                    .bind(&r.name)
                    .bind(r.requested)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::InsertScp(p) => {
                sqlx::query("INSERT INTO scps (id, name, description, content) VALUES ($1, $2, $3, $4)")
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(&p.description)
                    .bind(&p.content)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteScp(id) => {
                sqlx::query("DELETE FROM scp_attachments WHERE policy_id = $1").bind(id).execute(&mut **tx).await?;
                sqlx::query("DELETE FROM scps WHERE id = $1").bind(id).execute(&mut **tx).await?;
            }
            Op::AttachScp { policy, target } => {
                sqlx::query("INSERT INTO scp_attachments (policy_id, target_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(policy)
                    .bind(target)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DetachScp { policy, target } => {
                sqlx::query("DELETE FROM scp_attachments WHERE policy_id = $1 AND target_id = $2")
                    .bind(policy)
                    .bind(target)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteInline(owner, name) => {
                let done = sqlx::query("DELETE FROM inline_policies WHERE owner_id = $1 AND name = $2")
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
                sqlx::query("INSERT INTO access_keys (id, account_id, user_id, status, secret, created) VALUES ($1, $2, $3, $4, $5, $6)")
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
                let done = sqlx::query("UPDATE access_keys SET status = $1 WHERE id = $2")
                    .bind(status.as_str())
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Constraint(format!("access key {id} does not exist")));
                }
            }
            Op::TouchAccessKey { id, at, service, region } => {
                sqlx::query("UPDATE access_keys SET last_used = $1, last_used_service = $2, last_used_region = $3 WHERE id = $4")
                    .bind(at)
                    .bind(service)
                    .bind(region)
                    .bind(id.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteAccessKey(id) => {
                let done = sqlx::query("DELETE FROM access_keys WHERE id = $1").bind(id.as_str()).execute(&mut **tx).await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Constraint(format!("access key {id} does not exist")));
                }
            }
        }
        Ok(())
    }

    async fn bump_version(tx: &mut Transaction<'_, Postgres>) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar(
            "INSERT INTO meta (key, value) VALUES ('version', '1')
             ON CONFLICT (key) DO UPDATE SET value = (CAST(meta.value AS BIGINT) + 1)::TEXT
             RETURNING CAST(value AS BIGINT)",
        )
        .fetch_one(&mut **tx)
        .await?;
        Ok(v)
    }
}

/// The bodies of the [`Store`] calls, which the trait impl runs under timeouts.
impl PostgresStore {
    async fn is_initialized_inner(&self) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'initialized'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn initialize_inner(&self, b: &Bootstrap) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let marker = sqlx::query("INSERT INTO meta (key, value) VALUES ('initialized', $1) ON CONFLICT(key) DO NOTHING")
            .bind(b.account.id.to_string())
            .execute(&mut *tx)
            .await?;
        if marker.rows_affected() == 0 {
            return Err(StoreError::AlreadyInitialized);
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ('master_key_check', $1)")
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

    async fn load_inner(&self) -> Result<Loaded, StoreError> {
        // One snapshot-isolated read transaction so the parts agree with each
        // other and with the version, whatever other nodes commit meanwhile.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        let version: i64 = sqlx::query_scalar("SELECT COALESCE((SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'version'), 0)")
            .fetch_one(&mut *tx)
            .await?;

        let mut accounts = Vec::new();
        for row in sqlx::query("SELECT id, name, email, management, created FROM accounts").fetch_all(&mut *tx).await? {
            accounts.push(Account {
                id: parse_account(row.try_get("id")?)?,
                name: row.try_get("name")?,
                email: row.try_get("email")?,
                management: row.try_get("management")?,
                created: row.try_get("created")?,
            });
        }

        let mut tags: std::collections::HashMap<String, Vec<Tag>> = std::collections::HashMap::new();
        for row in sqlx::query("SELECT owner_id, key, value FROM tags ORDER BY owner_id, position").fetch_all(&mut *tx).await? {
            tags.entry(row.try_get("owner_id")?)
                .or_default()
                .push(Tag { key: row.try_get("key")?, value: row.try_get("value")? });
        }

        let mut users = Vec::new();
        for row in sqlx::query("SELECT id, account_id, name, path, created, permissions_boundary FROM users")
            .fetch_all(&mut *tx)
            .await?
        {
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

        let mut groups = Vec::new();
        for row in sqlx::query("SELECT id, account_id, name, path, created FROM groups").fetch_all(&mut *tx).await? {
            groups.push(Group {
                id: UniqueId::from_stored(row.try_get("id")?),
                account: parse_account(row.try_get("account_id")?)?,
                name: row.try_get("name")?,
                path: row.try_get("path")?,
                created: row.try_get("created")?,
            });
        }
        let mut memberships = Vec::new();
        for row in sqlx::query("SELECT group_id, user_id FROM group_members ORDER BY added, seq").fetch_all(&mut *tx).await? {
            memberships.push((UniqueId::from_stored(row.try_get("group_id")?), UniqueId::from_stored(row.try_get("user_id")?)));
        }

        let mut roles = Vec::new();
        for row in sqlx::query(
            "SELECT id, account_id, name, path, trust_policy, description, max_session_duration, permissions_boundary,
                    created, last_used, last_used_region, trust_principals FROM roles",
        )
        .fetch_all(&mut *tx)
        .await?
        {
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

        let mut versions: std::collections::HashMap<String, Vec<PolicyVersion>> = std::collections::HashMap::new();
        for row in sqlx::query("SELECT policy_id, version_id, document, created FROM policy_versions ORDER BY policy_id, seq")
            .fetch_all(&mut *tx)
            .await?
        {
            versions.entry(row.try_get("policy_id")?).or_default().push(PolicyVersion {
                version_id: row.try_get("version_id")?,
                document: row.try_get("document")?,
                created: row.try_get("created")?,
            });
        }
        let mut policies = Vec::new();
        for row in sqlx::query(
            "SELECT id, account_id, name, path, description, default_version, next_version, created, updated
             FROM managed_policies",
        )
        .fetch_all(&mut *tx)
        .await?
        {
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

        let mut attachments = Vec::new();
        for row in sqlx::query("SELECT policy_arn, owner_kind, owner_id FROM attachments ORDER BY seq").fetch_all(&mut *tx).await? {
            attachments.push(Attachment {
                policy_arn: row.try_get("policy_arn")?,
                owner_kind: parse_kind(row.try_get("owner_kind")?)?,
                owner: UniqueId::from_stored(row.try_get("owner_id")?),
            });
        }
        let mut inline_policies = Vec::new();
        for row in sqlx::query("SELECT owner_kind, owner_id, name, document FROM inline_policies ORDER BY owner_id, name")
            .fetch_all(&mut *tx)
            .await?
        {
            inline_policies.push(InlinePolicy {
                owner_kind: parse_kind(row.try_get("owner_kind")?)?,
                owner: UniqueId::from_stored(row.try_get("owner_id")?),
                name: row.try_get("name")?,
                document: row.try_get("document")?,
            });
        }

        let mut access_keys = Vec::new();
        for row in sqlx::query(
            "SELECT id, account_id, user_id, status, secret, created, last_used, last_used_service, last_used_region
             FROM access_keys",
        )
            .fetch_all(&mut *tx)
            .await?
        {
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
        let mut token_keys = Vec::new();
        for row in sqlx::query("SELECT id, created, secret FROM token_keys ORDER BY id").fetch_all(&mut *tx).await? {
            let id: i64 = row.try_get("id")?;
            let id = u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("token key id {id}")))?;
            let blob: Vec<u8> = row.try_get("secret")?;
            let plain = self.master.open(&blob, &token_key_aad(id))?;
            let bytes: [u8; 32] =
                plain.as_slice().try_into().map_err(|_| StoreError::Corrupt(format!("token key {id} length")))?;
            token_keys.push(TokenKeyMaterial { id, created: row.try_get("created")?, secret: zeroize::Zeroizing::new(bytes) });
        }
        let mut create_account_requests = Vec::new();
        for row in sqlx::query("SELECT id, account_id, name, requested FROM create_account_requests ORDER BY requested, id")
            .fetch_all(&mut *tx)
            .await?
        {
            create_account_requests.push(CreateAccountRequest {
                id: row.try_get("id")?,
                account: parse_account(row.try_get("account_id")?)?,
                name: row.try_get("name")?,
                requested: row.try_get("requested")?,
            });
        }
        let mut scps = Vec::new();
        for row in sqlx::query("SELECT id, name, description, content FROM scps ORDER BY name").fetch_all(&mut *tx).await? {
            scps.push(Scp {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                content: row.try_get("content")?,
            });
        }
        let mut scp_attachments = Vec::new();
        for row in sqlx::query("SELECT policy_id, target_id FROM scp_attachments ORDER BY seq").fetch_all(&mut *tx).await? {
            scp_attachments.push((row.try_get("policy_id")?, row.try_get("target_id")?));
        }
        let mut providers = Vec::new();
        for row in sqlx::query(
            "SELECT arn, account_id, kind, name, client_ids, thumbprints, metadata, created FROM identity_providers ORDER BY arn",
        )
        .fetch_all(&mut *tx)
        .await?
        {
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
        let mut mfa_devices = Vec::new();
        for row in sqlx::query("SELECT serial, account_id, user_id, enabled, created, seed FROM mfa_devices ORDER BY created, serial")
            .fetch_all(&mut *tx)
            .await?
        {
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

    async fn apply_inner(&self, ops: &[Op]) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        for op in ops {
            // An error drops `tx`, which rolls the whole batch back.
            self.apply_op(&mut tx, op).await?;
        }
        let v = Self::bump_version(&mut tx).await?;
        // Delivered to every listener when (and only if) the batch commits.
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(v.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(v)
    }

    async fn import_inner(&self, loaded: &Loaded) -> Result<(), StoreError> {
        let management = loaded
            .accounts
            .iter()
            .find(|a| a.management)
            .ok_or_else(|| StoreError::Corrupt("no management account to import".into()))?;
        let mut tx = self.pool.begin().await?;
        // Refuses a second importer running at the same moment too: both
        // insert the same meta keys, and one of them waits, then conflicts.
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
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)").bind(key).bind(value).execute(&mut *tx).await?;
        }
        for op in crate::ops::import_ops(loaded) {
            self.apply_op(&mut tx, &op).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How long a full load may take: it reads every table.
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[async_trait]
impl Store for PostgresStore {
    async fn is_initialized(&self) -> Result<bool, StoreError> {
        bounded(self.is_initialized_inner()).await
    }

    async fn initialize(&self, bootstrap: &Bootstrap) -> Result<(), StoreError> {
        bounded(self.initialize_inner(bootstrap)).await
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        tokio::time::timeout(LOAD_TIMEOUT, self.load_inner())
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("loading from the database timed out".into())))
    }

    async fn version(&self) -> Result<i64, StoreError> {
        bounded(self.read_version()).await
    }

    async fn close(&self) {
        if let Ok(mut f) = self.follower.lock()
            && let Some(task) = f.take()
        {
            task.abort();
        }
        self.pool.close().await;
    }

    async fn apply(&self, ops: &[Op]) -> Result<i64, StoreError> {
        bounded(self.apply_inner(ops)).await
    }

    async fn import(&self, loaded: &Loaded) -> Result<(), StoreError> {
        tokio::time::timeout(LOAD_TIMEOUT, self.import_inner(loaded))
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("importing into the database timed out".into())))
    }

    fn changes(&self) -> Option<watch::Receiver<i64>> {
        // The follower starts with the first subscriber: `init` and
        // `migrate` never need one.
        if let Ok(mut f) = self.follower.lock()
            && f.is_none()
        {
            *f = Some(tokio::spawn(Self::follow(self.pool.clone(), self.changes.clone())));
        }
        Some(self.changes.subscribe())
    }
}

/// Replaces an owner's tags.
async fn set_tags(tx: &mut Transaction<'_, Postgres>, owner: &UniqueId, tags: &[Tag]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM tags WHERE owner_id = $1").bind(owner.as_str()).execute(&mut **tx).await?;
    for (position, tag) in tags.iter().enumerate() {
        sqlx::query("INSERT INTO tags (owner_id, position, key, value) VALUES ($1, $2, $3, $4)")
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
async fn delete_owned(tx: &mut Transaction<'_, Postgres>, owner: &UniqueId) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM tags WHERE owner_id = $1",
        "DELETE FROM inline_policies WHERE owner_id = $1",
        "DELETE FROM attachments WHERE owner_id = $1",
    ] {
        sqlx::query(sql).bind(owner.as_str()).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_version(tx: &mut Transaction<'_, Postgres>, policy: &UniqueId, v: &PolicyVersion) -> Result<(), StoreError> {
    let seq: i64 = v.version_id.trim_start_matches('v').parse().unwrap_or(0);
    sqlx::query("INSERT INTO policy_versions (policy_id, version_id, seq, document, created) VALUES ($1, $2, $3, $4, $5)")
        .bind(policy.as_str())
        .bind(&v.version_id)
        .bind(seq)
        .bind(&v.document)
        .bind(v.created)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn expect_one(done: sqlx::postgres::PgQueryResult, what: &str, id: &UniqueId) -> Result<(), StoreError> {
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Constraint(format!("{what} {id} does not exist")))
    }
}

