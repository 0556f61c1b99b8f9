//! The embedded backend: one SQLite file in the data directory, in WAL mode
//! with full fsync on commit, so an acknowledged write survives a crash.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use latchkey_model::{
    AccessKey, AccessKeyId, AccessKeyOwner, Account, AccountId, KeyStatus, SecretAccessKey, Tag, UniqueId, User,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool, Sqlite, Transaction};

use crate::{Bootstrap, Loaded, LoadedAccessKey, MasterKey, Op, Store, StoreError};

/// Versioned migrations, applied in order, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/sqlite/0001_initial.sql"))];

/// Plaintext sealed at initialisation so that opening the store with another
/// master key fails at start-up, with a clear message, not on first use.
const CHECK_PLAINTEXT: &[u8] = b"latchkey master key check";
const CHECK_AAD: &[u8] = b"meta:master_key_check";

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
                sqlx::query("INSERT INTO users (id, account_id, name, name_lower, path, created) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(u.id.as_str())
                    .bind(u.account.to_string())
                    .bind(&u.name)
                    .bind(u.name.to_lowercase())
                    .bind(&u.path)
                    .bind(u.created)
                    .execute(&mut **tx)
                    .await?;
                for (position, tag) in u.tags.iter().enumerate() {
                    sqlx::query("INSERT INTO tags (owner_id, position, key, value) VALUES (?, ?, ?, ?)")
                        .bind(u.id.as_str())
                        .bind(position as i64)
                        .bind(&tag.key)
                        .bind(&tag.value)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Op::DeleteUser(id) => {
                sqlx::query("DELETE FROM tags WHERE owner_id = ?").bind(id.as_str()).execute(&mut **tx).await?;
                let done = sqlx::query("DELETE FROM users WHERE id = ?").bind(id.as_str()).execute(&mut **tx).await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Constraint(format!("user {id} does not exist")));
                }
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
        Self::bump_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        // One read transaction so the parts agree with each other and the version.
        let mut tx = self.pool.begin().await?;
        let version: i64 = sqlx::query_scalar("SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'version'), 0)")
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
        for row in sqlx::query("SELECT id, account_id, name, path, created FROM users").fetch_all(&mut *tx).await? {
            let id: String = row.try_get("id")?;
            users.push(User {
                tags: tags.remove(&id).unwrap_or_default(),
                id: UniqueId::from_stored(id),
                account: parse_account(row.try_get("account_id")?)?,
                name: row.try_get("name")?,
                path: row.try_get("path")?,
                created: row.try_get("created")?,
            });
        }

        let mut access_keys = Vec::new();
        for row in sqlx::query("SELECT id, account_id, user_id, status, secret, created FROM access_keys")
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
            });
        }
        tx.commit().await?;
        Ok(Loaded { version, accounts, users, access_keys })
    }

    async fn version(&self) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar("SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'version'), 0)")
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
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
}

fn parse_account(s: String) -> Result<AccountId, StoreError> {
    AccountId::from_str(&s).map_err(|_| StoreError::Corrupt(format!("account id {s}")))
}

fn encode_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
