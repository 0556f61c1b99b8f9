//! Creating and opening a data directory: the store, the master key and the
//! root-credentials file.
//!
//! The store is the directory's SQLite file, or a PostgreSQL database
//! (`--database-url`) shared by several nodes. With PostgreSQL the master key
//! never goes into the database: `init` writes it to a key file (0600) that
//! every node is given (`--master-key-file`, or `LATCHKEY_MASTER_KEY`), and a
//! check value in the database makes a node with another key refuse to start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use latchkey_model::{AccessKey, AccessKeyId, AccessKeyOwner, Account, AccountId, KeyKind, KeyStatus, SecretAccessKey};
use latchkey_store::{Bootstrap, MasterKey, MasterKeyError, Op, PostgresStore, SqliteStore, Store, StoreError, write_secret_file};

/// File name of the root-credentials file inside a data directory.
pub const ROOT_CREDENTIALS: &str = "root-credentials";

/// Environment variable that supplies the master key instead of the key file.
pub const MASTER_KEY_ENV: &str = "LATCHKEY_MASTER_KEY";

/// What went wrong setting up or opening a data directory.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `init` on a directory that already holds a store.
    #[error("{0} is already initialised; nothing was changed (use another --data-dir, or remove this one to start over)")]
    AlreadyInitialized(String),
    /// The directory could not be created or read.
    #[error("data directory {path}: {reason}")]
    Dir {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The root-credentials file exists though the store is new.
    #[error("{0} already exists; refusing to overwrite credentials (remove it first)")]
    CredentialsExist(String),
    /// Anything from the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Master key problems.
    #[error(transparent)]
    MasterKey(#[from] latchkey_store::MasterKeyError),
    /// The audit trail could not be opened.
    #[error(transparent)]
    Trail(#[from] latchkey_audit::TrailError),
    /// `init` on a PostgreSQL database that already holds a store.
    #[error("database {0} is already initialised; nothing was changed (give the other nodes its master key instead)")]
    DatabaseAlreadyInitialized(String),
    /// The master key given does not open the shared database.
    #[error(
        "the master key given does not match the one database {0} was initialised with: give every node the key file \
         `latchkey init` wrote (--master-key-file) or its contents in LATCHKEY_MASTER_KEY"
    )]
    WrongMasterKey(String),
    /// `serve` on a PostgreSQL database nobody initialised.
    #[error("database {0} is not initialised; run `latchkey init --database-url ...` once first")]
    DatabaseNotInitialized(String),
    /// `migrate` into a database that already holds data.
    #[error("database {0} is not empty; migrate needs a fresh database (nothing was changed)")]
    TargetNotEmpty(String),
}

/// Where a node's store lives and where its master key comes from.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// The data directory: the SQLite store (when no database URL is
    /// given), the master key file by default, the root credentials.
    pub data_dir: PathBuf,
    /// `postgres://…`: the shared PostgreSQL store instead of SQLite.
    pub database_url: Option<String>,
    /// The master key file, instead of `DATA_DIR/master.key`.
    pub master_key_file: Option<PathBuf>,
}

impl Location {
    /// The embedded store in `dir`, its key in `dir/master.key`.
    pub fn embedded(dir: &Path) -> Self {
        Self { data_dir: dir.to_owned(), database_url: None, master_key_file: None }
    }

    fn key_path(&self) -> PathBuf {
        self.master_key_file.clone().unwrap_or_else(|| self.data_dir.join(MasterKey::FILE_NAME))
    }
}

/// `url` without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    match tail {
        Some(t) => format!("{scheme}://{authority}/{}", t.split('?').next().unwrap_or_default()),
        None => format!("{scheme}://{authority}"),
    }
}

/// What `init` created. The secret is here once, for `--output json`.
#[derive(Debug)]
pub struct Initialized {
    /// The management account.
    pub account: AccountId,
    /// The root access key id.
    pub access_key_id: AccessKeyId,
    /// The root secret.
    pub secret: SecretAccessKey,
    /// Where the credentials file was written.
    pub credentials_path: PathBuf,
    /// With PostgreSQL: the master key file every node must be given
    /// (`None` when the key came from `LATCHKEY_MASTER_KEY`).
    pub shared_key_path: Option<PathBuf>,
}

/// An opened data directory.
#[derive(Debug)]
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Set when this open initialised the directory.
    pub initialized: Option<Initialized>,
}

fn dir_error(path: &Path, e: impl std::fmt::Display) -> SetupError {
    SetupError::Dir { path: path.display().to_string(), reason: e.to_string() }
}

fn ensure_dir(dir: &Path) -> Result<(), SetupError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| dir_error(dir, e))
}

/// The master key: from the environment if set, else the key file
/// (`--master-key-file`, by default in the data directory), created when
/// `create` is set and the file is missing.
fn master_key(loc: &Location, create: bool) -> Result<MasterKey, SetupError> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return Ok(MasterKey::from_base64(&text)?);
    }
    let path = loc.key_path();
    if path.exists() || !create {
        Ok(MasterKey::read_file(&path)?)
    } else {
        Ok(MasterKey::create_file(&path)?)
    }
}

/// Opens the data directory's store, creating the directory, key and schema as needed.
async fn open_store(loc: &Location) -> Result<SqliteStore, SetupError> {
    let dir = &loc.data_dir;
    ensure_dir(dir)?;
    let db = dir.join(SqliteStore::FILE_NAME);
    let key = master_key(loc, !db.exists())?;
    Ok(SqliteStore::open(&db, key).await?)
}

/// Opens the PostgreSQL store with the given key, turning a key mismatch
/// into a message that says what to do.
async fn open_postgres(url: &str, key: MasterKey) -> Result<PostgresStore, SetupError> {
    match PostgresStore::open(url, key).await {
        Err(StoreError::MasterKey(MasterKeyError::Mismatch)) => Err(SetupError::WrongMasterKey(redact_url(url))),
        other => Ok(other?),
    }
}

/// `latchkey init`: refuses an initialised directory, changing nothing.
pub async fn init(dir: &Path, account: Option<AccountId>, now: i64) -> Result<Initialized, SetupError> {
    init_at(&Location::embedded(dir), account, now).await
}

/// `latchkey init` for any location. With PostgreSQL: refuses an
/// initialised database; otherwise creates the master key file (0600) unless
/// a key is given, initialises the database and writes the root credentials
/// into the data directory.
pub async fn init_at(loc: &Location, account: Option<AccountId>, now: i64) -> Result<Initialized, SetupError> {
    let dir = &loc.data_dir;
    let Some(url) = &loc.database_url else {
        // Decide before touching anything, so a second init leaves no trace.
        let db = dir.join(SqliteStore::FILE_NAME);
        if db.exists() && SqliteStore::probe_initialized(&db).await? {
            return Err(SetupError::AlreadyInitialized(dir.display().to_string()));
        }
        let store = open_store(loc).await?;
        let done = initialize(dir, &store, account, now).await;
        store.close().await;
        return done;
    };
    if PostgresStore::probe_initialized(url).await? {
        return Err(SetupError::DatabaseAlreadyInitialized(redact_url(url)));
    }
    ensure_dir(dir)?;
    let key_path = loc.key_path();
    let created_key = std::env::var(MASTER_KEY_ENV).is_err() && !key_path.exists();
    let key = master_key(loc, true)?;
    let done = match open_postgres(url, key).await {
        Ok(store) => {
            let done = initialize(dir, &store, account, now).await;
            store.close().await;
            done
        }
        Err(e) => Err(e),
    };
    if done.is_err() && created_key {
        // A refused init leaves no key file behind.
        let _ = std::fs::remove_file(&key_path);
    }
    let from_env = std::env::var(MASTER_KEY_ENV).is_ok();
    done.map(|d| Initialized { shared_key_path: (!from_env).then_some(key_path), ..d }).map_err(|e| match e {
        SetupError::AlreadyInitialized(_) => SetupError::DatabaseAlreadyInitialized(redact_url(url)),
        other => other,
    })
}

async fn initialize(dir: &Path, store: &dyn Store, account: Option<AccountId>, now: i64) -> Result<Initialized, SetupError> {
    let credentials_path = dir.join(ROOT_CREDENTIALS);
    if credentials_path.exists() {
        return Err(SetupError::CredentialsExist(credentials_path.display().to_string()));
    }
    let account = account.unwrap_or_else(AccountId::random);
    let key_id = AccessKeyId::generate(KeyKind::LongTerm, &account);
    let secret = SecretAccessKey::generate();

    // The credentials go to a temporary file first and are renamed into place
    // only once the store has committed, so neither can exist without the other.
    let staging = dir.join(format!(".{ROOT_CREDENTIALS}.new"));
    let _ = std::fs::remove_file(&staging);
    let ini = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key_id,
        secret.expose()
    );
    write_secret_file(&staging, ini.as_bytes()).map_err(|e| dir_error(&staging, e))?;

    let bootstrap = Bootstrap {
        account: Account { id: account, name: "management".into(), email: String::new(), management: true, created: now },
        root_key: AccessKey {
            id: key_id.clone(),
            account,
            owner: AccessKeyOwner::Root,
            status: KeyStatus::Active,
            created: now,
        },
        root_secret: secret.clone(),
        // AWS attaches FullAWSAccess to every account, the management
        // account included, though SCPs never restrict it.
        ops: vec![Op::AttachScp { policy: crate::state::FULL_AWS_ACCESS.to_owned(), target: account.to_string() }],
    };
    if let Err(e) = store.initialize(&bootstrap).await {
        let _ = std::fs::remove_file(&staging);
        return Err(match e {
            StoreError::AlreadyInitialized => SetupError::AlreadyInitialized(dir.display().to_string()),
            other => other.into(),
        });
    }
    std::fs::rename(&staging, &credentials_path).map_err(|e| dir_error(&credentials_path, e))?;
    Ok(Initialized { account, access_key_id: key_id, secret, credentials_path, shared_key_path: None })
}

/// `latchkey serve`: opens the directory, initialising it first when empty.
pub async fn open(dir: &Path, now: i64) -> Result<Opened, SetupError> {
    open_at(&Location::embedded(dir), now).await
}

/// `latchkey serve` for any location. An empty SQLite directory is
/// initialised; a PostgreSQL database must have been initialised by
/// `latchkey init` (so that nodes started together cannot each create a
/// different master key), and its master key must be given.
pub async fn open_at(loc: &Location, now: i64) -> Result<Opened, SetupError> {
    let dir = &loc.data_dir;
    if loc.database_url.is_some() {
        ensure_dir(dir)?;
        return Ok(Opened { store: open_shared(loc).await?, initialized: None });
    }
    let store = open_store(loc).await?;
    let initialized = if store.is_initialized().await? {
        None
    } else {
        Some(initialize(dir, &store, None, now).await?)
    };
    Ok(Opened { store: Arc::new(store), initialized })
}

/// Opens an initialised PostgreSQL store with the node's key.
async fn open_shared(loc: &Location) -> Result<Arc<dyn Store>, SetupError> {
    let url = loc.database_url.as_deref().unwrap_or_default();
    let store = open_postgres(url, master_key(loc, false)?).await?;
    if !store.is_initialized().await? {
        store.close().await;
        return Err(SetupError::DatabaseNotInitialized(redact_url(url)));
    }
    Ok(Arc::new(store))
}

/// `latchkey migrate`: copies the initialised SQLite store of `from` into the
/// empty PostgreSQL database `to`, under the same master key (the source's:
/// `LATCHKEY_MASTER_KEY` or `from/master.key`), refusing a non-empty target.
/// Returns the number of the version copied.
pub async fn migrate(from: &Path, to: &str) -> Result<i64, SetupError> {
    let source = open_existing(from).await?;
    let loaded = source.load().await;
    source.close().await;
    let loaded = loaded?;
    if PostgresStore::probe_initialized(to).await? {
        return Err(SetupError::TargetNotEmpty(redact_url(to)));
    }
    let target = open_postgres(to, master_key(&Location::embedded(from), false)?).await?;
    let done = target.import(&loaded).await;
    target.close().await;
    match done {
        Ok(()) => Ok(loaded.version),
        Err(StoreError::NotEmpty) => Err(SetupError::TargetNotEmpty(redact_url(to))),
        Err(e) => Err(e.into()),
    }
}

/// Opens an initialised data directory for an offline command, refusing an
/// empty one rather than initialising it.
pub async fn open_existing(dir: &Path) -> Result<Arc<dyn Store>, SetupError> {
    open_existing_at(&Location::embedded(dir)).await
}

/// [`open_existing`] for any location.
pub async fn open_existing_at(loc: &Location) -> Result<Arc<dyn Store>, SetupError> {
    if loc.database_url.is_some() {
        return open_shared(loc).await;
    }
    let dir = &loc.data_dir;
    let not_initialised =
        || SetupError::Dir { path: dir.display().to_string(), reason: "not an initialised latchkey data directory".into() };
    if !dir.join(SqliteStore::FILE_NAME).exists() {
        return Err(not_initialised());
    }
    // A normal open: a running server's latest writes may still be in the WAL,
    // which the immutable probe `init` uses would not see.
    let store = open_store(loc).await?;
    if !store.is_initialized().await? {
        store.close().await;
        return Err(not_initialised());
    }
    Ok(Arc::new(store))
}

/// Opens the audit trail for `location`: the data directory's own, or with
/// PostgreSQL the shared one, spooled through the data directory.
pub async fn open_trail_at(location: &Location) -> Result<Arc<dyn latchkey_audit::TrailStore>, SetupError> {
    match &location.database_url {
        None => open_trail(&location.data_dir).await,
        Some(url) => {
            ensure_dir(&location.data_dir)?;
            let spool = location.data_dir.join(latchkey_audit::SegmentTrail::DIR_NAME);
            Ok(Arc::new(latchkey_audit::PgTrail::open(&spool, url).await?))
        }
    }
}

/// Opens (creating if needed) the data directory's audit trail.
pub async fn open_trail(dir: &Path) -> Result<Arc<dyn latchkey_audit::TrailStore>, SetupError> {
    ensure_dir(dir)?;
    Ok(Arc::new(latchkey_audit::SegmentTrail::open(&dir.join(latchkey_audit::SegmentTrail::DIR_NAME)).await?))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact_url("postgres://u:pw@h:5432/db?sslmode=require&password=x"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h"), "postgres://h");
    }
}
