//! The one implementation of the store's operations, for both databases:
//! the migration runner, op application, loading and import. Generic over
//! [`Dialect`] (the database) and [`Conn`] (a connection or transaction of
//! it), each operation in one transaction of its own; the backends add what
//! is theirs around them (connecting, PostgreSQL's time limits).

use std::collections::HashMap;
use std::str::FromStr;

use futures_util::TryStreamExt as _;
use latchkey_model::{
    AccessKey, AccessKeyId, AccessKeyOwner, Account, AccountId, Attachment, Bucket, Group, IdentityProvider, InlinePolicy, KeyStatus,
    ManagedPolicy, MfaDevice, OwnerKind, PolicyVersion, ProviderKind, Role, SecretAccessKey, Tag, UniqueId, User,
};
use sqlx::{AssertSqlSafe, Pool, SqlSafeStr as _, SqlStr};

use crate::dialect::{Conn, Dialect, Get as _, args, render};
use crate::dialect::Arg;
use crate::ops::{Touched, Update};
use crate::{Bootstrap, CreateAccountRequest, Loaded, LoadedAccessKey, MasterKey, Op, Scp, StoreError, TokenKeyMaterial};

/// Plaintext sealed at initialisation so that opening the store with another
/// master key fails at start-up, with a clear message, not on first use.
const CHECK_PLAINTEXT: &[u8] = b"latchkey master key check";
const CHECK_AAD: &[u8] = b"meta:master_key_check";

/// Versioned migrations, written once for both databases (see
/// [`Dialect::SCHEMA_WORDS`]) and applied in order, each in its own
/// transaction.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_iam_entities.sql")),
    (3, include_str!("../migrations/0003_token_keys.sql")),
    (4, include_str!("../migrations/0004_organizations.sql")),
    (5, include_str!("../migrations/0005_mfa_devices.sql")),
    (6, include_str!("../migrations/0006_access_key_last_used.sql")),
    (7, include_str!("../migrations/0007_identity_providers.sql")),
    (8, include_str!("../migrations/0008_management_full_aws_access.sql")),
    (9, include_str!("../migrations/0009_trust_principals.sql")),
    (10, include_str!("../migrations/0010_changes.sql")),
    (11, include_str!("../migrations/0011_buckets.sql")),
];

/// How many batches the change log keeps. A node further behind than this
/// (down for a while, or partitioned) reads the whole store instead.
const CHANGES_KEPT: i64 = 10_000;

/// The most entities a refresh reads by key; past it (a bulk change) one
/// full load is simpler, and with a store that size it is not dearer.
/// Within both databases' limits of bound parameters per statement.
const MAX_TOUCHED: usize = 5_000;

const SCHEMA_MIGRATIONS: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version {int} PRIMARY KEY, applied {int} NOT NULL)";

/// Brings the schema up to date on `conn`, each migration in its own
/// transaction; refuses a schema newer than this binary's.
pub(crate) async fn migrate<DB: Dialect>(conn: &mut DB::Connection) -> Result<(), StoreError> {
    conn.execute_script(render::<DB>(SCHEMA_MIGRATIONS)).await?;
    let current: i64 = scalar(conn, "SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").await?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::SchemaTooNew { found: current, supported: newest });
    }
    for (version, template) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let c: &mut DB::Connection = &mut tx;
        c.execute_script(render::<DB>(template)).await?;
        c.execute("INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)", args![*version, unix_now()]).await?;
        tx.commit().await?;
        tracing::info!(version, "applied store migration");
    }
    Ok(())
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// The first column (named `v`) of a query's one row.
async fn scalar<C: Conn>(c: &mut C, sql: &'static str) -> Result<i64, StoreError> {
    let row = c.fetch_optional(sql, args![]).await?.ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))?;
    row.get("v")
}

/// Fails with [`StoreError::MasterKey`] when `master` does not open the
/// check value sealed at initialisation.
pub(crate) async fn check_master_key<DB: Dialect>(pool: &Pool<DB>, master: &MasterKey) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let c: &mut DB::Connection = &mut conn;
    let stored = c.fetch_optional("SELECT value FROM meta WHERE key = 'master_key_check'", args![]).await?;
    if let Some(row) = stored {
        let hex: String = row.get("value")?;
        let blob = decode_hex(&hex).ok_or_else(|| StoreError::Corrupt("master_key_check".into()))?;
        master.open(&blob, CHECK_AAD)?;
    }
    Ok(())
}

pub(crate) async fn is_initialized<DB: Dialect>(pool: &Pool<DB>) -> Result<bool, StoreError> {
    let mut conn = pool.acquire().await?;
    let c: &mut DB::Connection = &mut conn;
    Ok(c.fetch_optional("SELECT value FROM meta WHERE key = 'initialized'", args![]).await?.is_some())
}

/// The store's version, 0 before the first batch.
pub(crate) async fn version<DB: Dialect>(pool: &Pool<DB>) -> Result<i64, StoreError> {
    let mut conn = pool.acquire().await?;
    read_version::<DB::Connection>(&mut conn).await
}

async fn read_version<C: Conn>(c: &mut C) -> Result<i64, StoreError> {
    scalar(c, "SELECT COALESCE((SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'version'), 0) AS v").await
}

/// Bumps the version inside the batch's transaction and returns the new one.
async fn bump_version<C: Conn>(c: &mut C) -> Result<i64, StoreError> {
    let row = c
        .fetch_optional(
            "INSERT INTO meta (key, value) VALUES ('version', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)
             RETURNING CAST(value AS BIGINT) AS v",
            args![],
        )
        .await?
        .ok_or_else(|| StoreError::Corrupt("no version".into()))?;
    row.get("v")
}

/// [`crate::Store::initialize`], in one transaction.
pub(crate) async fn initialize<DB: Dialect>(pool: &Pool<DB>, master: &MasterKey, b: &Bootstrap) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let c: &mut DB::Connection = &mut tx;
    let marker = c
        .execute(
            "INSERT INTO meta (key, value) VALUES ('initialized', $1) ON CONFLICT(key) DO NOTHING",
            args![b.account.id.to_string()],
        )
        .await?;
    if marker == 0 {
        return Err(StoreError::AlreadyInitialized);
    }
    let check = encode_hex(&master.seal(CHECK_PLAINTEXT, CHECK_AAD));
    c.execute("INSERT INTO meta (key, value) VALUES ('master_key_check', $1)", args![check]).await?;
    apply_op(c, master, &Op::InsertAccount(b.account.clone())).await?;
    apply_op(c, master, &Op::InsertAccessKey(b.root_key.clone(), b.root_secret.clone())).await?;
    for op in &b.ops {
        apply_op(c, master, op).await?;
    }
    bump_version(c).await?;
    tx.commit().await?;
    Ok(())
}

/// [`crate::Store::apply`], in one transaction: the new version. An error
/// drops the transaction, which rolls the whole batch back.
pub(crate) async fn apply<DB: Dialect>(pool: &Pool<DB>, master: &MasterKey, ops: &[Op]) -> Result<i64, StoreError> {
    let mut tx = pool.begin().await?;
    let c: &mut DB::Connection = &mut tx;
    let (version, _) = write_batch::<DB>(c, master, ops).await?;
    tx.commit().await?;
    Ok(version)
}

/// [`crate::Store::apply_since`]: the batch, then what changed since
/// `since`, read in the same transaction (so with no statement of its own
/// to begin or end, and no other writer's batch in between unnoticed).
pub(crate) async fn apply_since<DB: Dialect>(
    pool: &Pool<DB>,
    master: &MasterKey,
    ops: &[Op],
    since: i64,
) -> Result<Update, StoreError> {
    let mut tx = pool.begin().await?;
    let c: &mut DB::Connection = &mut tx;
    let (version, touched) = write_batch::<DB>(c, master, ops).await?;
    let update = if version == since + 1 {
        // Versions are consecutive: no other batch since, so the change is
        // this batch's alone and the log need not be read.
        read_touched::<DB>(c, master, version, Some(touched)).await?
    } else {
        read_since::<DB>(c, master, since, version).await?
    };
    tx.commit().await?;
    Ok(update)
}

/// Applies `ops`, bumps the version, logs what they touch and announces
/// the version (PostgreSQL), on the caller's transaction.
async fn write_batch<DB: Dialect>(c: &mut DB::Connection, master: &MasterKey, ops: &[Op]) -> Result<(i64, Touched), StoreError> {
    for op in ops {
        apply_op(c, master, op).await?;
    }
    let version = bump_version(c).await?;
    let touched = Touched::of(ops);
    c.execute("INSERT INTO changes (version, touched) VALUES ($1, $2)", args![version, touched.encode()]).await?;
    // Pruned now and then, not by every batch: the log only needs to reach
    // back about CHANGES_KEPT batches.
    if version % 100 == 0 {
        c.execute("DELETE FROM changes WHERE version <= $1", args![version - CHANGES_KEPT]).await?;
    }
    if let Some((sql, args)) = DB::announce(version) {
        c.execute(sql, args).await?;
    }
    Ok((version, touched))
}

/// [`crate::Store::import`], in one transaction.
pub(crate) async fn import<DB: Dialect>(pool: &Pool<DB>, master: &MasterKey, loaded: &Loaded) -> Result<(), StoreError> {
    let management = loaded
        .accounts
        .iter()
        .find(|a| a.management)
        .ok_or_else(|| StoreError::Corrupt("no management account to import".into()))?;
    let mut tx = pool.begin().await?;
    let c: &mut DB::Connection = &mut tx;
    // On PostgreSQL this refuses a second importer running at the same
    // moment too: both insert the same meta keys, and one of them waits,
    // then conflicts.
    if scalar(c, "SELECT (SELECT COUNT(*) FROM meta) + (SELECT COUNT(*) FROM accounts) AS v").await? != 0 {
        return Err(StoreError::NotEmpty);
    }
    for (key, value) in [
        ("initialized", management.id.to_string()),
        ("master_key_check", encode_hex(&master.seal(CHECK_PLAINTEXT, CHECK_AAD))),
        ("version", loaded.version.to_string()),
    ] {
        c.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", args![key, value]).await?;
    }
    for op in crate::ops::import_ops(loaded) {
        apply_op(c, master, &op).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A query's rows, each made into a `T` as it streams by.
async fn rows<C: Conn, T>(
    c: &mut C,
    query: Option<Select<'_>>,
    mut each: impl FnMut(C::Row) -> Result<T, StoreError> + Send,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    // Nothing of this table is in scope: no statement at all.
    let Some(Select { sql, args }) = query else { return Ok(out) };
    let mut rows = c.fetch(sql, args);
    while let Some(row) = rows.try_next().await? {
        out.push(each(row)?);
    }
    Ok(out)
}

/// [`crate::Store::load`], in one read transaction so the parts agree with
/// each other and with the version.
///
/// Rows are streamed rather than fetched all at once: sqlx copies each value
/// with SQLite's (glibc's) allocator, and with 100,000 roles fetching whole
/// tables left ~120 MB in glibc's arenas after start-up (BENCHMARKS.md).
pub(crate) async fn load<DB: Dialect>(pool: &Pool<DB>, master: &MasterKey) -> Result<Loaded, StoreError> {
    let mut tx = pool.begin().await?;
    let c: &mut DB::Connection = &mut tx;
    if let Some(sql) = DB::BEGIN_LOAD {
        c.execute(sql, args![]).await?;
    }
    let version = read_version(c).await?;
    let loaded = load_rows::<DB>(c, master, version, Scope::All).await?;
    tx.commit().await?;
    Ok(loaded)
}

/// [`crate::Store::load_since`], in one read transaction: the change log
/// after `since` and the rows of what it names agree with each other.
pub(crate) async fn load_since<DB: Dialect>(pool: &Pool<DB>, master: &MasterKey, since: i64) -> Result<Update, StoreError> {
    // The common case, nothing new, costs one statement and no transaction.
    if version(pool).await? <= since {
        return Ok(Update::Current);
    }
    let mut tx = pool.begin().await?;
    let c: &mut DB::Connection = &mut tx;
    if let Some(sql) = DB::BEGIN_LOAD {
        c.execute(sql, args![]).await?;
    }
    let version = read_version(c).await?;
    let update = read_since::<DB>(c, master, since, version).await?;
    tx.commit().await?;
    Ok(update)
}

/// What changed from `since` up to `version`, read on the caller's
/// transaction: the log, then the rows it names.
async fn read_since<DB: Dialect>(c: &mut DB::Connection, master: &MasterKey, since: i64, version: i64) -> Result<Update, StoreError> {
    let log = rows(
        c,
        Some(Select { sql: "SELECT version, touched FROM changes WHERE version > $1 ORDER BY version".into_sql_str(), args: args![since] }),
        |row| Ok((row.get("version")?, row.get("touched")?)),
    )
    .await?;
    read_touched::<DB>(c, master, version, gather(since, version, log)).await
}

/// The rows of `touched` as of `version`, or everything when the log had
/// a gap (`None`) or names too much to read by key.
async fn read_touched<DB: Dialect>(
    c: &mut DB::Connection,
    master: &MasterKey,
    version: i64,
    touched: Option<Touched>,
) -> Result<Update, StoreError> {
    Ok(match touched {
        Some(touched) if touched.is_empty() => Update::Changed { touched, rows: Loaded { version, ..Loaded::default() } },
        Some(touched) if touched.len() <= MAX_TOUCHED => {
            let rows = load_rows::<DB>(c, master, version, Scope::Only(&touched)).await?;
            Update::Changed { touched, rows }
        }
        _ => Update::Everything(load_rows::<DB>(c, master, version, Scope::All).await?),
    })
}

/// What the change log says changed from `since` to `version`, or `None`
/// when it does not cover every batch in between (pruned, or written by
/// `initialize`/`import`, which log nothing).
fn gather(since: i64, version: i64, log: Vec<(i64, String)>) -> Option<Touched> {
    let mut touched = Touched::default();
    let mut expected = since + 1;
    for (v, text) in log {
        if v != expected {
            return None;
        }
        touched.merge(Touched::decode(&text)?);
        expected += 1;
    }
    (expected == version + 1).then_some(touched)
}

/// Which rows a load reads.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    /// Every row: start-up, and healing a gap in the change log.
    All,
    /// The rows of these entities only.
    Only(&'a Touched),
}

/// An entity's key as its table stores it.
trait Key {
    fn key(&self) -> &str;
}

impl Key for UniqueId {
    fn key(&self) -> &str {
        self.as_str()
    }
}

impl Key for AccessKeyId {
    fn key(&self) -> &str {
        self.as_str()
    }
}

impl Key for String {
    fn key(&self) -> &str {
        self
    }
}

/// A statement and its arguments.
struct Select<'a> {
    sql: SqlStr,
    args: Vec<Arg<'a>>,
}

impl<'a> Scope<'a> {
    /// `base`, restricted in scope `Only` to the rows whose key columns hold
    /// one of the given keys (one `column IN (...)` per pair, OR-ed), then
    /// `tail` (its ORDER BY). `None` when the scope names none of the keys:
    /// the table has nothing to read.
    fn select<'k>(self, base: &str, keys: Vec<(&str, Vec<Arg<'k>>)>, tail: &str) -> Option<Select<'k>> {
        if let Scope::All = self {
            return Some(Select { sql: AssertSqlSafe(format!("{base} {tail}")).into_sql_str(), args: Vec::new() });
        }
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        for (column, values) in keys {
            if values.is_empty() {
                continue;
            }
            let first = args.len() + 1;
            let placeholders: Vec<String> = (first..first + values.len()).map(|n| format!("${n}")).collect();
            conditions.push(format!("{column} IN ({})", placeholders.join(", ")));
            args.extend(values);
        }
        if conditions.is_empty() {
            return None;
        }
        // Only placeholders and this crate's column names go into the text;
        // the keys are bound.
        let sql = format!("{base} WHERE {} {tail}", conditions.join(" OR "));
        Some(Select { sql: AssertSqlSafe(sql).into_sql_str(), args })
    }

    /// The keys of one kind in scope `Only`, as arguments (none in scope
    /// `All`, which binds none).
    fn keys<T: Key + 'a>(self, pick: fn(&Touched) -> &std::collections::BTreeSet<T>) -> Vec<Arg<'a>> {
        match self {
            Scope::All => Vec::new(),
            Scope::Only(t) => pick(t).iter().map(|k| Arg::Str(k.key())).collect(),
        }
    }

    /// Whether a table read whole when touched at all is in scope.
    fn whole(self, flag: impl FnOnce(&Touched) -> bool) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(t) => flag(t),
        }
    }
}

/// The rows in `scope`, read on `c` (inside the caller's transaction).
async fn load_rows<DB: Dialect>(
    c: &mut DB::Connection,
    master: &MasterKey,
    version: i64,
    scope: Scope<'_>,
) -> Result<Loaded, StoreError> {
    let users = || scope.keys(|t| &t.users);
    let groups = || scope.keys(|t| &t.groups);
    let roles = || scope.keys(|t| &t.roles);
    let policies = || scope.keys(|t| &t.policies);
    let providers = || scope.keys(|t| &t.providers);
    let accounts: Vec<Arg<'_>> = match scope {
        Scope::All => Vec::new(),
        Scope::Only(t) => t.accounts.iter().map(|a| Arg::String(a.to_string())).collect(),
    };

    let query = scope.select("SELECT id, name, email, management, created FROM accounts", vec![("id", accounts)], "");
    let accounts = rows(c, query, |row| {
        Ok(Account {
            id: parse_account(row.get("id")?)?,
            name: row.get("name")?,
            email: row.get("email")?,
            management: row.get("management")?,
            created: row.get("created")?,
        })
    })
    .await?;

    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    let owners = vec![("owner_id", users()), ("owner_id", roles()), ("owner_id", policies()), ("owner_id", providers())];
    let query = scope.select("SELECT owner_id, key, value FROM tags", owners, "ORDER BY owner_id, position");
    rows(c, query, |row| {
        tags.entry(row.get("owner_id")?).or_default().push(Tag { key: row.get("key")?, value: row.get("value")? });
        Ok(())
    })
    .await?;

    let query = scope.select("SELECT id, account_id, name, path, created, permissions_boundary FROM users", vec![("id", users())], "");
    let loaded_users = rows(c, query, |row| {
        let id: String = row.get("id")?;
        Ok(User {
            tags: tags.remove(&id).unwrap_or_default(),
            id: UniqueId::from_stored(id),
            account: parse_account(row.get("account_id")?)?,
            name: row.get("name")?,
            path: row.get("path")?,
            created: row.get("created")?,
            permissions_boundary: row.get("permissions_boundary")?,
        })
    })
    .await?;

    let query = scope.select("SELECT id, account_id, name, path, created FROM groups", vec![("id", groups())], "");
    let loaded_groups = rows(c, query, |row| {
        Ok(Group {
            id: UniqueId::from_stored(row.get("id")?),
            account: parse_account(row.get("account_id")?)?,
            name: row.get("name")?,
            path: row.get("path")?,
            created: row.get("created")?,
        })
    })
    .await?;
    let order = DB::INSERTION_ORDER;
    let sides = vec![("group_id", groups()), ("user_id", users())];
    let query = scope.select("SELECT group_id, user_id FROM group_members", sides, &format!("ORDER BY added, {order}"));
    let memberships = rows(c, query, |row| {
        Ok((UniqueId::from_stored(row.get("group_id")?), UniqueId::from_stored(row.get("user_id")?)))
    })
    .await?;

    // Roles trusting the same principals share one list: with 100,000 roles
    // that mostly trust a few principals, one list each cost ~30 MB.
    let mut bindings = crate::ops::SharedBindings::default();
    let query = scope.select(
        "SELECT id, account_id, name, path, trust_policy, description, max_session_duration, permissions_boundary,
                created, last_used, last_used_region, trust_principals FROM roles",
        vec![("id", roles())],
        "",
    );
    let loaded_roles = rows(
        c,
        query,
        |row| {
            let id: String = row.get("id")?;
            let last_used: Option<i64> = row.get("last_used")?;
            let region: Option<String> = row.get("last_used_region")?;
            Ok(Role {
                tags: tags.remove(&id).unwrap_or_default(),
                id: UniqueId::from_stored(id),
                account: parse_account(row.get("account_id")?)?,
                name: row.get("name")?,
                path: row.get("path")?,
                trust_policy: row.get("trust_policy")?,
                trust_principals: bindings.decode(row.get("trust_principals")?),
                description: row.get("description")?,
                max_session_duration: row.get("max_session_duration")?,
                permissions_boundary: row.get("permissions_boundary")?,
                created: row.get("created")?,
                last_used: last_used.map(|t| (t, region.unwrap_or_default())),
            })
        },
    )
    .await?;

    let mut versions: HashMap<String, Vec<PolicyVersion>> = HashMap::new();
    let query = scope.select(
        "SELECT policy_id, version_id, document, created FROM policy_versions",
        vec![("policy_id", policies())],
        "ORDER BY policy_id, seq",
    );
    rows(
        c,
        query,
        |row| {
            versions.entry(row.get("policy_id")?).or_default().push(PolicyVersion {
                version_id: row.get("version_id")?,
                document: row.get("document")?,
                created: row.get("created")?,
            });
            Ok(())
        },
    )
    .await?;
    let query = scope.select(
        "SELECT id, account_id, name, path, description, default_version, next_version, created, updated
         FROM managed_policies",
        vec![("id", policies())],
        "",
    );
    let loaded_policies = rows(
        c,
        query,
        |row| {
            let id: String = row.get("id")?;
            Ok(ManagedPolicy {
                tags: tags.remove(&id).unwrap_or_default(),
                versions: versions.remove(&id).unwrap_or_default(),
                id: UniqueId::from_stored(id),
                account: parse_account(row.get("account_id")?)?,
                name: row.get("name")?,
                path: row.get("path")?,
                description: row.get("description")?,
                default_version: row.get("default_version")?,
                next_version: row.get("next_version")?,
                created: row.get("created")?,
                updated: row.get("updated")?,
            })
        },
    )
    .await?;

    let owners = || vec![("owner_id", users()), ("owner_id", groups()), ("owner_id", roles())];
    let query = scope.select("SELECT policy_arn, owner_kind, owner_id FROM attachments", owners(), "ORDER BY seq");
    let attachments = rows(c, query, |row| {
        Ok(Attachment {
            policy_arn: row.get("policy_arn")?,
            owner_kind: parse_kind(row.get("owner_kind")?)?,
            owner: UniqueId::from_stored(row.get("owner_id")?),
        })
    })
    .await?;
    let query =
        scope.select("SELECT owner_kind, owner_id, name, document FROM inline_policies", owners(), "ORDER BY owner_id, name");
    let inline_policies = rows(
        c,
        query,
        |row| {
            Ok(InlinePolicy {
                owner_kind: parse_kind(row.get("owner_kind")?)?,
                owner: UniqueId::from_stored(row.get("owner_id")?),
                name: row.get("name")?,
                document: row.get("document")?,
            })
        },
    )
    .await?;

    let query = scope.select(
        "SELECT id, account_id, user_id, status, secret, created, last_used, last_used_service, last_used_region
         FROM access_keys",
        vec![("id", scope.keys(|t| &t.access_keys))],
        "",
    );
    let access_keys = rows(
        c,
        query,
        |row| {
            let id_text: String = row.get("id")?;
            let id = AccessKeyId::parse(&id_text).ok_or_else(|| StoreError::Corrupt(format!("access key id {id_text}")))?;
            let blob: Vec<u8> = row.get("secret")?;
            let plain = master.open(&blob, id.as_str().as_bytes())?;
            let secret = String::from_utf8(plain.to_vec()).map_err(|_| StoreError::Corrupt(format!("secret of {id}")))?;
            let user_id: Option<String> = row.get("user_id")?;
            let status: String = row.get("status")?;
            let at: Option<i64> = row.get("last_used")?;
            let service: Option<String> = row.get("last_used_service")?;
            let region: Option<String> = row.get("last_used_region")?;
            Ok(LoadedAccessKey {
                key: AccessKey {
                    id,
                    account: parse_account(row.get("account_id")?)?,
                    owner: user_id.map_or(AccessKeyOwner::Root, |u| AccessKeyOwner::User(UniqueId::from_stored(u))),
                    status: KeyStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
                    created: row.get("created")?,
                },
                secret: SecretAccessKey::from_string(secret),
                last_used: at.map(|t| (t, service.unwrap_or_default(), region.unwrap_or_default())),
            })
        },
    )
    .await?;
    let whole = |flag: bool, sql: String| flag.then(|| Select { sql: AssertSqlSafe(sql).into_sql_str(), args: Vec::new() });
    let query = whole(scope.whole(|t| t.token_keys), "SELECT id, created, secret FROM token_keys ORDER BY id".to_owned());
    let token_keys = rows(c, query, |row| {
        let id: i64 = row.get("id")?;
        let id = u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("token key id {id}")))?;
        let blob: Vec<u8> = row.get("secret")?;
        let plain = master.open(&blob, &token_key_aad(id))?;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| StoreError::Corrupt(format!("token key {id} length")))?;
        Ok(TokenKeyMaterial { id, created: row.get("created")?, secret: zeroize::Zeroizing::new(bytes) })
    })
    .await?;
    let org = scope.whole(|t| t.organization);
    let query = whole(org, "SELECT id, account_id, name, requested FROM create_account_requests ORDER BY requested, id".to_owned());
    let create_account_requests = rows(
        c,
        query,
        |row| {
            Ok(CreateAccountRequest {
                id: row.get("id")?,
                account: parse_account(row.get("account_id")?)?,
                name: row.get("name")?,
                requested: row.get("requested")?,
            })
        },
    )
    .await?;
    let query = whole(org, "SELECT id, name, description, content FROM scps ORDER BY name".to_owned());
    let scps = rows(c, query, |row| {
        Ok(Scp { id: row.get("id")?, name: row.get("name")?, description: row.get("description")?, content: row.get("content")? })
    })
    .await?;
    let query = whole(org, format!("SELECT policy_id, target_id FROM scp_attachments ORDER BY {order}"));
    let scp_attachments = rows(c, query, |row| Ok((row.get("policy_id")?, row.get("target_id")?))).await?;
    let query = scope.select(
        "SELECT arn, account_id, kind, name, client_ids, thumbprints, metadata, created FROM identity_providers",
        vec![("arn", providers())],
        "ORDER BY arn",
    );
    let providers = rows(
        c,
        query,
        |row| {
            let arn: String = row.get("arn")?;
            let kind: String = row.get("kind")?;
            let lines = |s: String| -> Vec<String> { s.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect() };
            Ok(IdentityProvider {
                tags: tags.remove(&arn).unwrap_or_default(),
                account: parse_account(row.get("account_id")?)?,
                kind: if kind == "saml" { ProviderKind::Saml } else { ProviderKind::Oidc },
                name: row.get("name")?,
                client_ids: lines(row.get("client_ids")?),
                thumbprints: lines(row.get("thumbprints")?),
                metadata: row.get("metadata")?,
                created: row.get("created")?,
                arn,
            })
        },
    )
    .await?;
    let query = scope.select(
        "SELECT serial, account_id, user_id, enabled, created, seed FROM mfa_devices",
        vec![("serial", scope.keys(|t| &t.mfa_devices))],
        "ORDER BY created, serial",
    );
    let mfa_devices = rows(
        c,
        query,
        |row| {
            let serial: String = row.get("serial")?;
            let blob: Vec<u8> = row.get("seed")?;
            let seed = master.open(&blob, serial.as_bytes())?;
            let user: Option<String> = row.get("user_id")?;
            let enabled: Option<i64> = row.get("enabled")?;
            Ok((
                MfaDevice {
                    account: parse_account(row.get("account_id")?)?,
                    assigned: user.zip(enabled).map(|(u, t)| (UniqueId::from_stored(u), t)),
                    created: row.get("created")?,
                    serial,
                },
                seed,
            ))
        },
    )
    .await?;
    let query = scope.select(
        "SELECT name, account_id, region, policy, policy_principals, created FROM buckets",
        vec![("name", scope.keys(|t| &t.buckets))],
        "ORDER BY name",
    );
    let buckets = rows(c, query, |row| {
        Ok(Bucket {
            name: row.get("name")?,
            account: parse_account(row.get("account_id")?)?,
            region: row.get("region")?,
            policy: row.get("policy")?,
            policy_principals: bindings.decode(row.get("policy_principals")?).map(|b| b.to_vec()).unwrap_or_default(),
            created: row.get("created")?,
        })
    })
    .await?;
    Ok(Loaded {
        providers,
        buckets,
        mfa_devices,
        create_account_requests,
        scps,
        scp_attachments,
        version,
        accounts,
        users: loaded_users,
        access_keys,
        groups: loaded_groups,
        memberships,
        roles: loaded_roles,
        policies: loaded_policies,
        attachments,
        inline_policies,
        token_keys,
    })
}

fn seal_secret(master: &MasterKey, key: &AccessKeyId, secret: &SecretAccessKey) -> Vec<u8> {
    master.seal(secret.expose().as_bytes(), key.as_str().as_bytes())
}

/// Applies one op inside the batch's transaction.
async fn apply_op<C: Conn>(c: &mut C, master: &MasterKey, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::InsertAccount(a) => {
            c.execute(
                "INSERT INTO accounts (id, name, email, management, created) VALUES ($1, $2, $3, $4, $5)",
                args![a.id.to_string(), &a.name, &a.email, a.management, a.created],
            )
            .await?;
        }
        Op::InsertUser(u) => {
            c.execute(
                "INSERT INTO users (id, account_id, name, name_lower, path, created, permissions_boundary)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                args![
                    u.id.as_str(),
                    u.account.to_string(),
                    &u.name,
                    u.name.to_lowercase(),
                    &u.path,
                    u.created,
                    &u.permissions_boundary
                ],
            )
            .await?;
            set_tags(c, &u.id, &u.tags).await?;
        }
        Op::DeleteUser(id) => {
            delete_owned(c, id).await?;
            expect_one(c.execute("DELETE FROM users WHERE id = $1", args![id.as_str()]).await?, "user", id)?;
        }
        Op::RenameUser { id, name, path } => {
            let done = c
                .execute(
                    "UPDATE users SET name = $1, name_lower = $2, path = $3 WHERE id = $4",
                    args![name, name.to_lowercase(), path, id.as_str()],
                )
                .await?;
            expect_one(done, "user", id)?;
        }
        Op::SetTags(_, owner, tags) => set_tags(c, owner, tags).await?,
        Op::SetBoundary(kind, owner, arn) => {
            let sql = match kind {
                OwnerKind::User => "UPDATE users SET permissions_boundary = $1 WHERE id = $2",
                OwnerKind::Role => "UPDATE roles SET permissions_boundary = $1 WHERE id = $2",
                OwnerKind::Group => return Err(StoreError::Constraint("groups have no permissions boundary".into())),
            };
            expect_one(c.execute(sql, args![arn, owner.as_str()]).await?, kind.as_str(), owner)?;
        }
        Op::InsertGroup(g) => {
            c.execute(
                "INSERT INTO groups (id, account_id, name, name_lower, path, created) VALUES ($1, $2, $3, $4, $5, $6)",
                args![g.id.as_str(), g.account.to_string(), &g.name, g.name.to_lowercase(), &g.path, g.created],
            )
            .await?;
        }
        Op::DeleteGroup(id) => {
            delete_owned(c, id).await?;
            expect_one(c.execute("DELETE FROM groups WHERE id = $1", args![id.as_str()]).await?, "group", id)?;
        }
        Op::AddToGroup { group, user, at } => {
            c.execute(
                "INSERT INTO group_members (group_id, user_id, added) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                args![group.as_str(), user.as_str(), at],
            )
            .await?;
        }
        Op::RemoveFromGroup { group, user } => {
            c.execute("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2", args![group.as_str(), user.as_str()])
                .await?;
        }
        Op::InsertRole(r) => {
            c.execute(
                "INSERT INTO roles (id, account_id, name, name_lower, path, trust_policy, description,
                                    max_session_duration, permissions_boundary, created, trust_principals)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                args![
                    r.id.as_str(),
                    r.account.to_string(),
                    &r.name,
                    r.name.to_lowercase(),
                    &r.path,
                    &r.trust_policy,
                    &r.description,
                    r.max_session_duration,
                    &r.permissions_boundary,
                    r.created,
                    crate::ops::encode_principals(r.trust_principals.as_deref())
                ],
            )
            .await?;
            set_tags(c, &r.id, &r.tags).await?;
        }
        Op::UpdateRole { id, description, max_session_duration } => {
            let done = c
                .execute(
                    "UPDATE roles SET description = $1, max_session_duration = $2 WHERE id = $3",
                    args![description, max_session_duration, id.as_str()],
                )
                .await?;
            expect_one(done, "role", id)?;
        }
        Op::SetTrustPolicy { id, document, principals } => {
            let done = c
                .execute(
                    "UPDATE roles SET trust_policy = $1, trust_principals = $2 WHERE id = $3",
                    args![document, crate::ops::encode_principals(Some(principals)), id.as_str()],
                )
                .await?;
            expect_one(done, "role", id)?;
        }
        Op::TouchRole { id, at, region } => {
            c.execute("UPDATE roles SET last_used = $1, last_used_region = $2 WHERE id = $3", args![at, region, id.as_str()])
                .await?;
        }
        Op::DeleteRole(id) => {
            delete_owned(c, id).await?;
            expect_one(c.execute("DELETE FROM roles WHERE id = $1", args![id.as_str()]).await?, "role", id)?;
        }
        Op::InsertPolicy(p) => {
            c.execute(
                "INSERT INTO managed_policies (id, account_id, name, name_lower, path, description, default_version,
                                               next_version, created, updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                args![
                    p.id.as_str(),
                    p.account.to_string(),
                    &p.name,
                    p.name.to_lowercase(),
                    &p.path,
                    &p.description,
                    &p.default_version,
                    p.next_version,
                    p.created,
                    p.updated
                ],
            )
            .await?;
            for v in &p.versions {
                insert_version(c, &p.id, v).await?;
            }
            set_tags(c, &p.id, &p.tags).await?;
        }
        Op::DeletePolicy(id) => {
            c.execute("DELETE FROM tags WHERE owner_id = $1", args![id.as_str()]).await?;
            let done = c.execute("DELETE FROM managed_policies WHERE id = $1", args![id.as_str()]).await?;
            expect_one(done, "policy", id)?;
        }
        Op::InsertPolicyVersion { policy, version, next_version } => {
            insert_version(c, policy, version).await?;
            let done = c
                .execute("UPDATE managed_policies SET next_version = $1 WHERE id = $2", args![next_version, policy.as_str()])
                .await?;
            expect_one(done, "policy", policy)?;
        }
        Op::DeletePolicyVersion(policy, version) => {
            let done = c
                .execute("DELETE FROM policy_versions WHERE policy_id = $1 AND version_id = $2", args![policy.as_str(), version])
                .await?;
            expect_one(done, "policy version", policy)?;
        }
        Op::SetDefaultVersion { policy, version_id, at } => {
            let done = c
                .execute(
                    "UPDATE managed_policies SET default_version = $1, updated = $2 WHERE id = $3",
                    args![version_id, at, policy.as_str()],
                )
                .await?;
            expect_one(done, "policy", policy)?;
        }
        Op::Attach(a) => {
            c.execute(
                "INSERT INTO attachments (policy_arn, owner_kind, owner_id, seq)
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM attachments))
                 ON CONFLICT DO NOTHING",
                args![&a.policy_arn, a.owner_kind.as_str(), a.owner.as_str()],
            )
            .await?;
        }
        Op::Detach(a) => {
            c.execute("DELETE FROM attachments WHERE policy_arn = $1 AND owner_id = $2", args![&a.policy_arn, a.owner.as_str()])
                .await?;
        }
        Op::PutInline(p) => {
            c.execute(
                "INSERT INTO inline_policies (owner_kind, owner_id, name, document) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (owner_id, name) DO UPDATE SET document = excluded.document",
                args![p.owner_kind.as_str(), p.owner.as_str(), &p.name, &p.document],
            )
            .await?;
        }
        Op::InsertTokenKey(k) => {
            let sealed = master.seal(k.secret.as_slice(), &token_key_aad(k.id));
            c.execute(
                "INSERT INTO token_keys (id, created, secret) VALUES ($1, $2, $3)",
                args![i64::from(k.id), k.created, sealed],
            )
            .await?;
        }
        Op::DeleteTokenKey(id) => {
            c.execute("DELETE FROM token_keys WHERE id = $1", args![i64::from(*id)]).await?;
        }
        Op::InsertMfaDevice(d, seed) => {
            let (user, enabled) = (d.assigned.as_ref().map(|(u, _)| u.as_str()), d.assigned.as_ref().map(|(_, t)| *t));
            let sealed = master.seal(seed, d.serial.as_bytes());
            c.execute(
                "INSERT INTO mfa_devices (serial, account_id, user_id, enabled, created, seed) VALUES ($1, $2, $3, $4, $5, $6)",
                args![&d.serial, d.account.to_string(), user, enabled, d.created, sealed],
            )
            .await?;
        }
        Op::AssignMfaDevice { serial, assigned } => {
            let (user, enabled) = (assigned.as_ref().map(|(u, _)| u.as_str()), assigned.as_ref().map(|(_, t)| *t));
            let done = c
                .execute("UPDATE mfa_devices SET user_id = $1, enabled = $2 WHERE serial = $3", args![user, enabled, serial])
                .await?;
            if done != 1 {
                return Err(StoreError::Constraint(format!("MFA device {serial} does not exist")));
            }
        }
        Op::DeleteMfaDevice(serial) => {
            c.execute("DELETE FROM mfa_devices WHERE serial = $1", args![serial]).await?;
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
            let kind = match p.kind {
                ProviderKind::Oidc => "oidc",
                ProviderKind::Saml => "saml",
            };
            c.execute(
                sql,
                args![
                    p.account.to_string(),
                    kind,
                    &p.name,
                    p.client_ids.join("\n"),
                    p.thumbprints.join("\n"),
                    &p.metadata,
                    p.created,
                    &p.arn
                ],
            )
            .await?;
            set_tags(c, &UniqueId::from_stored(p.arn.clone()), &p.tags).await?;
        }
        Op::DeleteProvider(arn) => {
            c.execute("DELETE FROM tags WHERE owner_id = $1", args![arn]).await?;
            c.execute("DELETE FROM identity_providers WHERE arn = $1", args![arn]).await?;
        }
        Op::InsertBucket(b) => {
            c.execute(
                "INSERT INTO buckets (name, account_id, region, policy, policy_principals, created)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    &b.name,
                    b.account.to_string(),
                    &b.region,
                    &b.policy,
                    crate::ops::encode_principals(Some(&b.policy_principals)),
                    b.created
                ],
            )
            .await?;
        }
        Op::DeleteBucket(name) => {
            let done = c.execute("DELETE FROM buckets WHERE name = $1", args![name]).await?;
            expect_bucket(done, name)?;
        }
        Op::SetBucketPolicy { name, policy, principals } => {
            let done = c
                .execute(
                    "UPDATE buckets SET policy = $1, policy_principals = $2 WHERE name = $3",
                    args![policy, crate::ops::encode_principals(Some(principals)), name],
                )
                .await?;
            expect_bucket(done, name)?;
        }
        Op::InsertCreateAccountRequest(r) => {
            c.execute(
                "INSERT INTO create_account_requests (id, account_id, name, requested) VALUES ($1, $2, $3, $4)",
                args![&r.id, r.account.to_string(), &r.name, r.requested],
            )
            .await?;
        }
        Op::InsertScp(p) => {
            c.execute(
                "INSERT INTO scps (id, name, description, content) VALUES ($1, $2, $3, $4)",
                args![&p.id, &p.name, &p.description, &p.content],
            )
            .await?;
        }
        Op::DeleteScp(id) => {
            c.execute("DELETE FROM scp_attachments WHERE policy_id = $1", args![id]).await?;
            c.execute("DELETE FROM scps WHERE id = $1", args![id]).await?;
        }
        Op::AttachScp { policy, target } => {
            c.execute(
                "INSERT INTO scp_attachments (policy_id, target_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                args![policy, target],
            )
            .await?;
        }
        Op::DetachScp { policy, target } => {
            c.execute("DELETE FROM scp_attachments WHERE policy_id = $1 AND target_id = $2", args![policy, target]).await?;
        }
        Op::DeleteInline(_, owner, name) => {
            let done =
                c.execute("DELETE FROM inline_policies WHERE owner_id = $1 AND name = $2", args![owner.as_str(), name]).await?;
            expect_one(done, "inline policy", owner)?;
        }
        Op::InsertAccessKey(k, secret) => {
            let user_id = match &k.owner {
                AccessKeyOwner::Root => None,
                AccessKeyOwner::User(id) => Some(id.as_str()),
            };
            c.execute(
                "INSERT INTO access_keys (id, account_id, user_id, status, secret, created) VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    k.id.as_str(),
                    k.account.to_string(),
                    user_id,
                    k.status.as_str(),
                    seal_secret(master, &k.id, secret),
                    k.created
                ],
            )
            .await?;
        }
        Op::SetAccessKeyStatus(id, status) => {
            let done = c.execute("UPDATE access_keys SET status = $1 WHERE id = $2", args![status.as_str(), id.as_str()]).await?;
            if done != 1 {
                return Err(StoreError::Constraint(format!("access key {id} does not exist")));
            }
        }
        Op::TouchAccessKey { id, at, service, region } => {
            c.execute(
                "UPDATE access_keys SET last_used = $1, last_used_service = $2, last_used_region = $3 WHERE id = $4",
                args![at, service, region, id.as_str()],
            )
            .await?;
        }
        Op::DeleteAccessKey(id) => {
            let done = c.execute("DELETE FROM access_keys WHERE id = $1", args![id.as_str()]).await?;
            if done != 1 {
                return Err(StoreError::Constraint(format!("access key {id} does not exist")));
            }
        }
    }
    Ok(())
}
/// Replaces an owner's tags.
async fn set_tags(c: &mut impl Conn, owner: &UniqueId, tags: &[Tag]) -> Result<(), StoreError> {
    c.execute("DELETE FROM tags WHERE owner_id = $1", args![owner.as_str()]).await?;
    for (position, tag) in tags.iter().enumerate() {
        c.execute(
            "INSERT INTO tags (owner_id, position, key, value) VALUES ($1, $2, $3, $4)",
            args![owner.as_str(), i64::try_from(position).unwrap_or(i64::MAX), &tag.key, &tag.value],
        )
        .await?;
    }
    Ok(())
}

/// Removes what an identity owns outright (tags, inline policies, its
/// attachments). Memberships and keys are not removed here: IAM refuses to
/// delete an identity that still has them, and the foreign keys enforce it.
async fn delete_owned(c: &mut impl Conn, owner: &UniqueId) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM tags WHERE owner_id = $1",
        "DELETE FROM inline_policies WHERE owner_id = $1",
        "DELETE FROM attachments WHERE owner_id = $1",
    ] {
        c.execute(sql, args![owner.as_str()]).await?;
    }
    Ok(())
}

async fn insert_version(c: &mut impl Conn, policy: &UniqueId, v: &PolicyVersion) -> Result<(), StoreError> {
    let seq: i64 = v.version_id.trim_start_matches('v').parse().unwrap_or(0);
    c.execute(
        "INSERT INTO policy_versions (policy_id, version_id, seq, document, created) VALUES ($1, $2, $3, $4, $5)",
        args![policy.as_str(), &v.version_id, seq, &v.document, v.created],
    )
    .await?;
    Ok(())
}

fn expect_one(done: u64, what: &str, id: &UniqueId) -> Result<(), StoreError> {
    if done == 1 { Ok(()) } else { Err(StoreError::Constraint(format!("{what} {id} does not exist"))) }
}

fn expect_bucket(done: u64, name: &str) -> Result<(), StoreError> {
    if done == 1 { Ok(()) } else { Err(StoreError::Constraint(format!("bucket {name} does not exist"))) }
}

fn token_key_aad(id: u32) -> Vec<u8> {
    format!("token_key:{id}").into_bytes()
}

fn parse_kind(s: String) -> Result<OwnerKind, StoreError> {
    OwnerKind::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("owner kind {s}")))
}

fn parse_account(s: String) -> Result<AccountId, StoreError> {
    AccountId::from_str(&s).map_err(|_| StoreError::Corrupt(format!("account id {s}")))
}

fn encode_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
