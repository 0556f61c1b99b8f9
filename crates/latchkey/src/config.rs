//! Settings from flags, environment, a TOML file and defaults, in that order
//! of precedence. Clap already puts flags before environment variables; the
//! file fills in what neither gave.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./latchkey-data";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7300";

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable key=value lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `init`'s output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Messages for a person; the secret only in the credentials file.
    Text,
    /// One JSON object on stdout with AccountId, AccessKeyId and SecretAccessKey.
    Json,
}

/// Options shared by `serve` and `init`.
#[derive(Debug, Args)]
pub struct Common {
    /// Data directory: the SQLite store, the master key and the root-credentials file
    /// [default: ./latchkey-data]
    #[arg(long, env = "LATCHKEY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// PostgreSQL database shared by several nodes (postgres://USER[:PASSWORD]@HOST[:PORT]/DB),
    /// instead of the data directory's SQLite store
    #[arg(long, env = "LATCHKEY_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Master key file (LATCHKEY_MASTER_KEY, the key itself, wins over it)
    /// [default: DATA_DIR/master.key]
    #[arg(long, env = "LATCHKEY_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,

    /// TOML file with the same settings (flags and environment variables take precedence)
    #[arg(long, env = "LATCHKEY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log level or tracing filter, e.g. `info`, `debug`, `latchkey=debug` [default: info]
    #[arg(long, env = "LATCHKEY_LOG", value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Log line format [default: text]
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// `latchkey serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: Common,

    /// Address to listen on [default: 127.0.0.1:7300]
    #[arg(long, env = "LATCHKEY_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// Largest request body accepted, in bytes [default: 1048576]
    #[arg(long, env = "LATCHKEY_BODY_LIMIT", value_name = "BYTES")]
    pub body_limit: Option<usize>,

    /// Seconds a request may take before it is answered with 503 [default: 30]
    #[arg(long, env = "LATCHKEY_REQUEST_TIMEOUT", value_name = "SECS")]
    pub request_timeout: Option<u64>,

    /// Seconds a graceful shutdown waits for in-flight requests [default: 30]
    #[arg(long, env = "LATCHKEY_SHUTDOWN_GRACE", value_name = "SECS")]
    pub shutdown_grace: Option<u64>,

    /// Seconds between session-token key rotations; older keys keep verifying
    /// until every token they sealed has expired [default: 86400]
    #[arg(long, env = "LATCHKEY_TOKEN_KEY_ROTATION", value_name = "SECS")]
    pub token_key_rotation: Option<u64>,

    /// Append an encoded authorization message (readable with
    /// DecodeAuthorizationMessage) to every AccessDenied [default: true]
    #[arg(long, env = "LATCHKEY_ENCODE_AUTHORIZATION_MESSAGES", value_name = "BOOL")]
    pub encode_authorization_messages: Option<bool>,

    /// Days audit records are kept, like CloudTrail's event history [default: 90]
    #[arg(long, env = "LATCHKEY_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub audit_retention_days: Option<u64>,

    /// Regions a signature's credential scope may name besides AWS's own,
    /// comma-separated (e.g. `local-1,dc-2`) [default: none]
    #[arg(long, env = "LATCHKEY_EXTRA_REGIONS", value_name = "REGION,...", value_delimiter = ',')]
    pub extra_regions: Option<Vec<String>>,

    /// Serve S3 on the same listener, in front of this S3-compatible store
    /// (`http://HOST:PORT`); its key comes from
    /// LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID and
    /// LATCHKEY_S3_UPSTREAM_SECRET_ACCESS_KEY [default: S3 off]
    #[arg(long, env = "LATCHKEY_S3_UPSTREAM", value_name = "URL")]
    pub s3_upstream: Option<String>,

    /// Also address buckets virtual-hosted style, as BUCKET.DOMAIN
    /// [default: path style only]
    #[arg(long, env = "LATCHKEY_S3_DOMAIN", value_name = "DOMAIN")]
    pub s3_domain: Option<String>,

    /// The region latchkey signs for at the upstream store [default: us-east-1]
    #[arg(long, env = "LATCHKEY_S3_UPSTREAM_REGION", value_name = "REGION")]
    pub s3_upstream_region: Option<String>,
}

/// `latchkey audit …`
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Write the audit trail (every account's) as JSON Lines, one CloudTrail
    /// event per line, oldest first. Safe beside a running server.
    Export(ExportArgs),
}

/// `latchkey audit export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: Common,

    /// Only events at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z, or Unix seconds)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only events at or before this time (RFC 3339 or Unix seconds)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Write to FILE instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `latchkey init`
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub common: Common,

    /// Id of the management account (12 digits) [default: random]
    #[arg(long, env = "LATCHKEY_ACCOUNT_ID", value_name = "12DIGITS")]
    pub account_id: Option<String>,

    /// `json` prints {"AccountId", "AccessKeyId", "SecretAccessKey"} on stdout and nothing else
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `latchkey explain`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub common: Common,

    /// The encoded message (the text after "Encoded authorization failure message: "), or - to read it from stdin
    #[arg(value_name = "MESSAGE")]
    pub message: String,

    /// Print the decoded JSON instead of a summary
    #[arg(long)]
    pub json: bool,
}

/// `latchkey migrate`
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Data directory whose SQLite store is copied; its master key (DIR/master.key, or
    /// LATCHKEY_MASTER_KEY) becomes the key every PostgreSQL node is given
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,

    /// The PostgreSQL database to copy into; it must be empty
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// The TOML file's keys; an unknown key is an error, not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    listen: Option<String>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
    account_id: Option<String>,
    body_limit: Option<usize>,
    request_timeout: Option<u64>,
    shutdown_grace: Option<u64>,
    token_key_rotation: Option<u64>,
    encode_authorization_messages: Option<bool>,
    audit_retention_days: Option<u64>,
    extra_regions: Option<RegionList>,
    s3_upstream: Option<String>,
    s3_upstream_region: Option<String>,
    s3_upstream_access_key_id: Option<String>,
    s3_upstream_secret_access_key: Option<String>,
    s3_domain: Option<String>,
}

/// `extra_regions` in the file: a list, or one comma-separated string as
/// the flag and the environment variable take it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RegionList {
    List(Vec<String>),
    Text(String),
}

impl RegionList {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::List(v) => v,
            Self::Text(t) => t.split(',').map(str::to_owned).collect(),
        }
    }
}

/// The extra regions, trimmed, empty items dropped; an item that cannot be
/// a region name is an error rather than a silently useless setting.
fn resolve_extra_regions(flag: Option<&Vec<String>>, file: Option<RegionList>) -> anyhow::Result<Vec<String>> {
    let items = match flag {
        Some(v) => v.clone(),
        None => file.map(RegionList::into_vec).unwrap_or_default(),
    };
    let mut out = Vec::new();
    for item in items {
        let name = item.trim();
        if name.is_empty() {
            continue;
        }
        if !latchkey_server::authn::regions::is_valid_name(name) {
            anyhow::bail!("invalid extra region `{name}` (expected letters, digits, `-` or `_`, at most 64 characters)");
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

impl FileConfig {
    fn read(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Settings after precedence is applied.
#[derive(Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub log_level: String,
    pub log_format: LogFormat,
    pub account_id: Option<String>,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub token_key_rotation: Duration,
    pub encode_authorization_messages: bool,
    pub audit_retention: Duration,
    pub extra_regions: Vec<String>,
    pub s3: latchkey_server::s3::S3Settings,
}

impl Settings {
    /// Where the store lives and where its master key comes from.
    pub fn location(&self) -> latchkey_server::setup::Location {
        latchkey_server::setup::Location {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            master_key_file: self.master_key_file.clone(),
        }
    }
}

/// The database URL and the master key file, after precedence.
fn resolve_store(c: &Common, file: &FileConfig) -> (Option<String>, Option<PathBuf>) {
    (
        c.database_url.clone().or_else(|| file.database_url.clone()),
        c.master_key_file.clone().or_else(|| file.master_key_file.clone()),
    )
}

/// The S3 front end's settings. The upstream's key comes from the
/// environment or the file only (never a flag, which `ps` would show).
fn resolve_s3(a: &ServeArgs, file: &FileConfig) -> anyhow::Result<latchkey_server::s3::S3Settings> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let domain = a.s3_domain.clone().or_else(|| file.s3_domain.clone());
    let Some(url) = a.s3_upstream.clone().or_else(|| file.s3_upstream.clone()) else {
        return Ok(latchkey_server::s3::S3Settings { upstream: None, domain });
    };
    let uri: http::Uri = url.parse().map_err(|e| anyhow::anyhow!("--s3-upstream {url:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        anyhow::bail!("--s3-upstream must be an http:// or https:// URL with a host, not {url:?}");
    }
    let access_key_id = env("LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID")
        .or_else(|| file.s3_upstream_access_key_id.clone())
        .ok_or_else(|| anyhow::anyhow!("--s3-upstream needs LATCHKEY_S3_UPSTREAM_ACCESS_KEY_ID (or s3_upstream_access_key_id in the file)"))?;
    let secret = env("LATCHKEY_S3_UPSTREAM_SECRET_ACCESS_KEY")
        .or_else(|| file.s3_upstream_secret_access_key.clone())
        .ok_or_else(|| anyhow::anyhow!("--s3-upstream needs LATCHKEY_S3_UPSTREAM_SECRET_ACCESS_KEY (or s3_upstream_secret_access_key in the file)"))?;
    let region = a.s3_upstream_region.clone().or_else(|| file.s3_upstream_region.clone()).unwrap_or_else(|| "us-east-1".to_owned());
    let upstream = latchkey_server::s3::UpstreamSettings {
        url: uri,
        access_key_id,
        secret_access_key: zeroize::Zeroizing::new(secret),
        region,
    };
    Ok(latchkey_server::s3::S3Settings { upstream: Some(upstream), domain })
}

fn resolve_common(c: &Common, file: &FileConfig) -> (PathBuf, String, LogFormat) {
    (
        c.data_dir.clone().or_else(|| file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        c.log_level.clone().or_else(|| file.log_level.clone()).unwrap_or_else(|| "info".to_owned()),
        c.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
    )
}

impl Settings {
    pub fn for_serve(a: &ServeArgs) -> anyhow::Result<Self> {
        let file = FileConfig::read(a.common.config.as_deref())?;
        let (data_dir, log_level, log_format) = resolve_common(&a.common, &file);
        let (database_url, master_key_file) = resolve_store(&a.common, &file);
        let listen_text = a.listen.clone().or_else(|| file.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = resolve_listen(&listen_text)?;
        Ok(Self {
            data_dir,
            database_url,
            master_key_file,
            listen,
            log_level,
            log_format,
            account_id: file.account_id.clone(),
            body_limit: a.body_limit.or(file.body_limit).unwrap_or(1024 * 1024),
            request_timeout: Duration::from_secs(a.request_timeout.or(file.request_timeout).unwrap_or(30)),
            shutdown_grace: Duration::from_secs(a.shutdown_grace.or(file.shutdown_grace).unwrap_or(30)),
            token_key_rotation: Duration::from_secs(
                a.token_key_rotation.or(file.token_key_rotation).unwrap_or(86_400).max(60),
            ),
            encode_authorization_messages: a
                .encode_authorization_messages
                .or(file.encode_authorization_messages)
                .unwrap_or(true),
            audit_retention: Duration::from_secs(
                a.audit_retention_days.or(file.audit_retention_days).unwrap_or(90).max(1).saturating_mul(86_400),
            ),
            s3: resolve_s3(a, &file)?,
            extra_regions: resolve_extra_regions(a.extra_regions.as_ref(), file.extra_regions)?,
        })
    }

    pub fn for_common(c: &Common) -> anyhow::Result<Self> {
        let file = FileConfig::read(c.config.as_deref())?;
        let (data_dir, log_level, log_format) = resolve_common(c, &file);
        let (database_url, master_key_file) = resolve_store(c, &file);
        Ok(Self {
            data_dir,
            database_url,
            master_key_file,
            listen: resolve_listen(DEFAULT_LISTEN)?,
            log_level,
            log_format,
            account_id: None,
            body_limit: 0,
            request_timeout: Duration::ZERO,
            shutdown_grace: Duration::ZERO,
            token_key_rotation: Duration::ZERO,
            encode_authorization_messages: true,
            audit_retention: Duration::ZERO,
            extra_regions: Vec::new(),
            s3: latchkey_server::s3::S3Settings::default(),
        })
    }

    pub fn for_init(a: &InitArgs) -> anyhow::Result<Self> {
        let file = FileConfig::read(a.common.config.as_deref())?;
        let (data_dir, log_level, log_format) = resolve_common(&a.common, &file);
        let (database_url, master_key_file) = resolve_store(&a.common, &file);
        Ok(Self {
            data_dir,
            database_url,
            master_key_file,
            listen: resolve_listen(DEFAULT_LISTEN)?,
            log_level,
            log_format,
            account_id: a.account_id.clone().or(file.account_id),
            body_limit: 0,
            request_timeout: Duration::ZERO,
            shutdown_grace: Duration::ZERO,
            token_key_rotation: Duration::ZERO,
            encode_authorization_messages: true,
            audit_retention: Duration::ZERO,
            extra_regions: Vec::new(),
            s3: latchkey_server::s3::S3Settings::default(),
        })
    }
}

fn resolve_listen(text: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .with_context(|| format!("invalid listen address `{text}` (expected HOST:PORT)"))?
        .next()
        .with_context(|| format!("listen address `{text}` resolves to nothing"))
}
