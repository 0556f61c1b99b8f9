//! The credentials cache: one file per (endpoint, source identity, role,
//! session options), in `$LATCHKEY_CACHE_DIR`, else `$XDG_CACHE_HOME/latchkey`,
//! else `~/.cache/latchkey`. The directory is mode 0700 and every file 0600
//! (written to a private temporary file, then renamed into place); a file
//! anyone else could read or write is ignored. Entries are reused until
//! five minutes before they expire, as the AWS CLI does with its own cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::creds::Creds;

/// How long before expiry a cached entry stops being used.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// What a cached session depends on. Two requests with the same key would
/// get equivalent sessions, so the cached one may stand in.
#[derive(Debug, Serialize)]
pub struct Key<'a> {
    /// `assume-role` or `session-token`.
    pub kind: &'a str,
    pub endpoint: &'a str,
    pub region: &'a str,
    /// The access key id of the credentials the call is signed with.
    pub source_key_id: &'a str,
    pub role_arn: &'a str,
    /// Only when chosen explicitly: the default carries the time.
    pub session_name: Option<&'a str>,
    pub duration: Option<u32>,
    pub external_id: Option<&'a str>,
    pub serial_number: Option<&'a str>,
    pub source_identity: Option<&'a str>,
    pub policy: Option<&'a str>,
    pub policy_arns: &'a [String],
    pub tags: &'a [(String, String)],
    pub transitive_tag_keys: &'a [String],
}

impl Key<'_> {
    /// The entry's file name: a SHA-256 of the key, so nothing of the key
    /// (role names, external ids) shows in the name.
    pub fn file_name(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        let mut name = String::with_capacity(69);
        for b in digest.iter() {
            name.push_str(&format!("{b:02x}"));
        }
        name.push_str(".json");
        name
    }
}

/// A cached session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    pub credentials: Creds,
    /// The role session's ARN (`arn:…:assumed-role/ROLE/SESSION`), or the
    /// user's ARN for a session token.
    pub arn: String,
    pub session_name: Option<String>,
}

impl Entry {
    /// Whether the entry may still be used at `now`.
    pub fn fresh(&self, now: SystemTime) -> bool {
        self.credentials.remaining(now).is_some_and(|left| left > REFRESH_MARGIN)
    }
}

/// The cache directory from the environment, without creating it.
pub fn default_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let nonempty = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = nonempty("LATCHKEY_CACHE_DIR") {
        return Some(d);
    }
    if let Some(d) = nonempty("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(d.join("latchkey"));
    }
    let home = nonempty("HOME")?;
    if cfg!(target_os = "macos") {
        Some(home.join("Library/Caches/latchkey"))
    } else {
        Some(home.join(".cache/latchkey"))
    }
}

/// The cache on disk.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `key` if present, private and fresh at `now`.
    pub fn get(&self, key: &Key<'_>, now: SystemTime) -> Option<Entry> {
        let path = self.dir.join(key.file_name());
        if !private(&path) {
            return None;
        }
        let text = std::fs::read(&path).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        entry.fresh(now).then_some(entry)
    }

    /// Stores `entry` under `key`, mode 0600, atomically.
    pub fn put(&self, key: &Key<'_>, entry: &Entry) -> std::io::Result<()> {
        make_private_dir(&self.dir)?;
        let body = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        let path = self.dir.join(key.file_name());
        let tmp = self.dir.join(format!(".{}.{}.tmp", key.file_name(), std::process::id()));
        let result = write_private(&tmp, &body).and_then(|()| std::fs::rename(&tmp, &path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        self.prune(SystemTime::now());
        result
    }

    /// Removes entries that have expired, so the directory does not grow
    /// without end (best effort: errors are ignored).
    pub fn prune(&self, now: SystemTime) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return };
        for file in dir.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let expired = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
                .is_some_and(|e| e.credentials.remaining(now).is_none());
            if expired {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Removes the entry for `key`, if any.
    pub fn remove(&self, key: &Key<'_>) {
        let _ = std::fs::remove_file(self.dir.join(key.file_name()));
    }
}

#[cfg(unix)]
fn private(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // A regular file (not a link planted in its place), private to its
    // owner, who also owns the directory.
    let dir_owner = path.parent().and_then(|d| std::fs::metadata(d).ok()).map(|m| m.uid());
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.mode() & 0o077 == 0 && Some(m.uid()) == dir_owner)
}

#[cfg(not(unix))]
fn private(path: &Path) -> bool {
    path.is_file()
}

#[cfg(unix)]
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(body)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(source: &'a str, name: Option<&'a str>) -> Key<'a> {
        Key {
            kind: "assume-role",
            endpoint: "http://127.0.0.1:7300",
            region: "us-east-1",
            source_key_id: source,
            role_arn: "arn:aws:iam::1:role/r",
            session_name: name,
            duration: None,
            external_id: None,
            serial_number: None,
            source_identity: None,
            policy: None,
            policy_arns: &[],
            tags: &[],
            transitive_tag_keys: &[],
        }
    }

    fn entry(expires_in: u64) -> Entry {
        Entry {
            credentials: Creds {
                access_key_id: "ASIAEXAMPLE".into(),
                secret_access_key: "secret".into(),
                session_token: Some("token".into()),
                expiration: Some(SystemTime::now() + Duration::from_secs(expires_in)),
            },
            arn: "arn:aws:sts::1:assumed-role/r/s".into(),
            session_name: Some("s".into()),
        }
    }

    #[test]
    fn keys_differ_by_source_and_options() {
        assert_eq!(key("AKIA1", None).file_name(), key("AKIA1", None).file_name());
        assert_ne!(key("AKIA1", None).file_name(), key("AKIA2", None).file_name());
        assert_ne!(key("AKIA1", None).file_name(), key("AKIA1", Some("n")).file_name());
        assert!(!key("AKIA1", None).file_name().contains("role"));
    }

    #[test]
    fn entries_are_private_and_expire_early() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"));
        let k = key("AKIA1", None);
        cache.put(&k, &entry(3600)).unwrap();
        assert!(cache.get(&k, SystemTime::now()).is_some());
        assert!(cache.get(&k, SystemTime::now() + Duration::from_secs(3600 - 299)).is_none());
        assert!(cache.get(&key("AKIA2", None), SystemTime::now()).is_none());

        use std::os::unix::fs::PermissionsExt as _;
        let path = cache.dir().join(k.file_name());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(cache.dir()).unwrap().permissions().mode() & 0o777, 0o700);
        // Expired entries are swept when another is written.
        let old = key("AKIA3", None);
        cache.put(&old, &entry(3600)).unwrap();
        cache.prune(SystemTime::now() + Duration::from_secs(7200));
        assert!(!cache.dir().join(old.file_name()).exists());
        cache.put(&k, &entry(3600)).unwrap();
        // A file others could read is not trusted.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cache.get(&k, SystemTime::now()).is_none());
    }

    #[test]
    fn the_directory_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(default_dir(&env(&[("LATCHKEY_CACHE_DIR", "/c"), ("HOME", "/h")])), Some("/c".into()));
        assert_eq!(default_dir(&env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])), Some("/x/latchkey".into()));
        assert_eq!(default_dir(&env(&[])), None);
    }
}
