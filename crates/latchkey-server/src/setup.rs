//! Creating and opening a data directory: the store, the master key and the
//! root-credentials file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use latchkey_model::{AccessKey, AccessKeyId, AccessKeyOwner, Account, AccountId, KeyKind, KeyStatus, SecretAccessKey};
use latchkey_store::{Bootstrap, MasterKey, SqliteStore, Store, StoreError, write_secret_file};

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

/// The master key: from the environment if set, else the data directory's
/// key file, created when `create` is set and the file is missing.
fn master_key(dir: &Path, create: bool) -> Result<MasterKey, SetupError> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return Ok(MasterKey::from_base64(&text)?);
    }
    let path = dir.join(MasterKey::FILE_NAME);
    if path.exists() || !create {
        Ok(MasterKey::read_file(&path)?)
    } else {
        Ok(MasterKey::create_file(&path)?)
    }
}

/// Opens the data directory's store, creating the directory, key and schema as needed.
async fn open_store(dir: &Path) -> Result<SqliteStore, SetupError> {
    ensure_dir(dir)?;
    let db = dir.join(SqliteStore::FILE_NAME);
    let key = master_key(dir, !db.exists())?;
    Ok(SqliteStore::open(&db, key).await?)
}

/// `latchkey init`: refuses an initialised directory, changing nothing.
pub async fn init(dir: &Path, account: Option<AccountId>, now: i64) -> Result<Initialized, SetupError> {
    // Decide before touching anything, so a second init leaves no trace.
    let db = dir.join(SqliteStore::FILE_NAME);
    if db.exists() && SqliteStore::probe_initialized(&db).await? {
        return Err(SetupError::AlreadyInitialized(dir.display().to_string()));
    }
    let store = open_store(dir).await?;
    let done = initialize(dir, &store, account, now).await;
    store.close().await;
    done
}

async fn initialize(dir: &Path, store: &SqliteStore, account: Option<AccountId>, now: i64) -> Result<Initialized, SetupError> {
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
    };
    if let Err(e) = store.initialize(&bootstrap).await {
        let _ = std::fs::remove_file(&staging);
        return Err(match e {
            StoreError::AlreadyInitialized => SetupError::AlreadyInitialized(dir.display().to_string()),
            other => other.into(),
        });
    }
    std::fs::rename(&staging, &credentials_path).map_err(|e| dir_error(&credentials_path, e))?;
    Ok(Initialized { account, access_key_id: key_id, secret, credentials_path })
}

/// `latchkey serve`: opens the directory, initialising it first when empty.
pub async fn open(dir: &Path, now: i64) -> Result<Opened, SetupError> {
    let store = open_store(dir).await?;
    let initialized = if store.is_initialized().await? {
        None
    } else {
        Some(initialize(dir, &store, None, now).await?)
    };
    Ok(Opened { store: Arc::new(store), initialized })
}

/// Opens an initialised data directory for an offline command, refusing an
/// empty one rather than initialising it.
pub async fn open_existing(dir: &Path) -> Result<Arc<dyn Store>, SetupError> {
    let not_initialised =
        || SetupError::Dir { path: dir.display().to_string(), reason: "not an initialised latchkey data directory".into() };
    if !dir.join(SqliteStore::FILE_NAME).exists() {
        return Err(not_initialised());
    }
    // A normal open: a running server's latest writes may still be in the WAL,
    // which the immutable probe `init` uses would not see.
    let store = open_store(dir).await?;
    if !store.is_initialized().await? {
        store.close().await;
        return Err(not_initialised());
    }
    Ok(Arc::new(store))
}

/// Opens (creating if needed) the data directory's audit trail.
pub async fn open_trail(dir: &Path) -> Result<Arc<dyn latchkey_audit::TrailStore>, SetupError> {
    ensure_dir(dir)?;
    Ok(Arc::new(latchkey_audit::SegmentTrail::open(&dir.join(latchkey_audit::SegmentTrail::DIR_NAME)).await?))
}
