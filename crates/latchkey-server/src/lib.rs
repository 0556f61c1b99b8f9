//! The latchkey service: one HTTP listener serving STS, IAM, Organizations
//! and CloudTrail the way AWS does.
//!
//! A request travels down the folders in order:
//! [`http`] (body limit, request id, routing) → [`protocol`] (awsQuery or
//! awsJson) → [`authn`] (SigV4 against the snapshot → [`authn::Caller`]) →
//! [`authz`] (may this caller do this action on this resource?) → [`api`]
//! (the action's handler) → [`state`] (the in-memory snapshot, and writes to
//! the store) → [`audit`] (the call's CloudTrail record, durable before the
//! response when the call wrote or issued credentials) → response. Every
//! failure on the way is one [`ApiError`], rendered in one place.
#![deny(missing_docs)]

pub mod api;
pub mod audit;
pub mod authn;
pub mod authz;
mod clock;
mod error;
pub mod http;
pub mod metrics;
pub mod protocol;
pub mod s3;
pub mod setup;
pub mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_model::UniqueId;

pub use clock::{Clock, OffsetClock, SystemClock};
pub use error::{ApiError, ErrorCode, Fault};
use latchkey_sigv4::SigningKeyCache;
use state::State;

/// Tunables of the HTTP service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Largest request body accepted (AWS's SAML assertions reach 100 KB).
    pub body_limit: usize,
    /// How long one request may take before it is answered with a timeout.
    pub request_timeout: Duration,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How often a new session-token key is created.
    pub token_key_rotation: Duration,
    /// Whether AccessDenied messages carry an encoded authorization message.
    pub encode_authorization_messages: bool,
    /// Calls whose records may wait for the audit writer before callers are
    /// made to wait (back-pressure).
    pub audit_queue: usize,
    /// Regions a credential scope may name besides AWS's own
    /// ([`authn::regions::AWS_REGIONS`]).
    pub extra_regions: Vec<String>,
    /// The S3 front end: its upstream store and addressing.
    pub s3: s3::S3Settings,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            token_key_rotation: Duration::from_secs(86_400),
            encode_authorization_messages: true,
            audit_queue: 4096,
            extra_regions: Vec::new(),
            s3: s3::S3Settings::default(),
        }
    }
}

/// A role's last AssumeRole, as GetRole's RoleLastUsed reports it.
#[derive(Debug, Clone)]
struct RoleUse {
    at: i64,
    region: String,
    /// Not yet written to the store.
    dirty: bool,
}

/// A long-term key's last use.
#[derive(Debug, Clone)]
struct KeyUse {
    at: i64,
    service: &'static str,
    region: String,
    dirty: bool,
}

/// The running service's shared parts.
#[derive(Debug)]
pub struct App {
    /// Snapshot and store.
    pub state: State,
    /// Derived SigV4 signing keys, so a request costs one HMAC chain per key per day.
    pub signing_keys: SigningKeyCache,
    /// The regions a credential scope may name.
    pub regions: authn::regions::Regions,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// Tunables.
    pub config: ServiceConfig,
    /// Roles assumed since the last flush: when and in which region. Kept in
    /// memory so AssumeRole writes nothing on its hot path; GetRole reads it
    /// over the snapshot, and [`App::flush_role_use`] persists it.
    role_use: Mutex<HashMap<UniqueId, RoleUse>>,
    /// Long-term keys used since start: when, service, region; flushed like role use.
    key_use: Mutex<HashMap<String, KeyUse>>,
    /// One-time-code bookkeeping per MFA device.
    pub mfa_guard: authn::mfa::Guard,
    /// The audit trail's write side.
    pub trail: latchkey_audit::Trail,
    /// Counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// When a refused request last made this node catch up with the store
    /// (milliseconds since the Unix epoch).
    last_catch_up: std::sync::atomic::AtomicU64,
    /// The S3 front end.
    pub s3: s3::Front,
}

impl App {
    /// Builds the service over a loaded state, starting the audit writer on
    /// the current runtime.
    pub fn new(state: State, clock: Arc<dyn Clock>, config: ServiceConfig, trail: Arc<dyn latchkey_audit::TrailStore>) -> Arc<Self> {
        let metrics = Arc::new(metrics::Metrics::default());
        let observed = metrics.clone();
        let trail = latchkey_audit::Trail::start(
            trail,
            config.audit_queue,
            Some(Box::new(move |took, records| observed.audit_commit(took, records))),
        );
        // The binary checks the settings with `s3::Front::new` before it
        // gets here, so a failure here is only logged.
        let s3 = s3::Front::new(&config.s3).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the S3 front end could not start; S3 calls will be refused");
            s3::Front::default()
        });
        Arc::new(Self {
            s3,
            state,
            signing_keys: SigningKeyCache::new(4096),
            regions: authn::regions::Regions::with_extra(config.extra_regions.iter().cloned()),
            clock,
            config,
            role_use: Mutex::new(HashMap::new()),
            key_use: Mutex::new(HashMap::new()),
            mfa_guard: authn::mfa::Guard::default(),
            trail,
            metrics,
            last_catch_up: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Whether a refused request may make this node catch up with the
    /// store: at most a hundred times a second, so that a flood of refused
    /// or forged requests cannot make every request read the database.
    pub fn may_catch_up(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let last = self.last_catch_up.load(Ordering::Relaxed);
        now.saturating_sub(last) >= 10
            && self.last_catch_up.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// Notes that `role` was assumed at `at` in `region`.
    pub fn record_role_use(&self, role: &UniqueId, at: i64, region: &str) {
        if let Ok(mut m) = self.role_use.lock() {
            m.insert(role.clone(), RoleUse { at, region: region.to_owned(), dirty: true });
        }
    }

    /// Notes that the long-term key `id` signed a call to `service` in
    /// `region`. Allocates only on a key's first use since start.
    pub fn record_key_use(&self, id: &str, at: i64, service: &'static str, region: &str) {
        let Ok(mut m) = self.key_use.lock() else { return };
        match m.get_mut(id) {
            Some(u) => {
                u.at = at;
                u.service = service;
                if u.region != region {
                    region.clone_into(&mut u.region);
                }
                u.dirty = true;
            }
            None => {
                m.insert(id.to_owned(), KeyUse { at, service, region: region.to_owned(), dirty: true });
            }
        }
    }

    /// The newest known use of the key `id` since start.
    pub fn key_use(&self, id: &str) -> Option<(i64, String, String)> {
        self.key_use.lock().ok().and_then(|m| m.get(id).map(|u| (u.at, u.service.to_owned(), u.region.clone())))
    }

    /// The last use of `role` not yet persisted.
    pub fn pending_role_use(&self, role: &UniqueId) -> Option<(i64, String)> {
        self.role_use.lock().ok().and_then(|m| m.get(role).map(|u| (u.at, u.region.clone())))
    }

    /// Writes the recorded role uses to the store in one transaction.
    pub async fn flush_role_use(&self) -> Result<(), ApiError> {
        // Entries stay in the map after flushing: the snapshot is not rebuilt
        // for bookkeeping, so GetRole keeps reading the newest value here.
        let pending: Vec<(UniqueId, (i64, String))> = match self.role_use.lock() {
            Ok(mut m) => m
                .iter_mut()
                .filter(|(_, u)| u.dirty)
                .map(|(id, u)| {
                    u.dirty = false;
                    (id.clone(), (u.at, u.region.clone()))
                })
                .collect(),
            Err(_) => return Ok(()),
        };
        let mut ops: Vec<_> = pending
            .into_iter()
            .map(|(id, (at, region))| latchkey_store::Op::TouchRole { id, at, region })
            .collect();
        if let Ok(mut m) = self.key_use.lock() {
            for (id, u) in m.iter_mut().filter(|(_, u)| u.dirty) {
                u.dirty = false;
                if let Some(id) = latchkey_model::AccessKeyId::parse(id) {
                    ops.push(latchkey_store::Op::TouchAccessKey {
                        id,
                        at: u.at,
                        service: u.service.to_owned(),
                        region: u.region.clone(),
                    });
                }
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        let result = self.state.apply_quietly(&ops).await;
        if result.is_err() {
            // The store is away (a shared database's outage): mark the uses
            // dirty again so that the next flush retries them.
            self.mark_dirty(&ops);
        }
        result
    }

    fn mark_dirty(&self, ops: &[latchkey_store::Op]) {
        for op in ops {
            match op {
                latchkey_store::Op::TouchRole { id, .. } => {
                    if let Ok(mut m) = self.role_use.lock()
                        && let Some(u) = m.get_mut(id)
                    {
                        u.dirty = true;
                    }
                }
                latchkey_store::Op::TouchAccessKey { id, .. } => {
                    if let Ok(mut m) = self.key_use.lock()
                        && let Some(u) = m.get_mut(id.as_str())
                    {
                        u.dirty = true;
                    }
                }
                _ => {}
            }
        }
    }
}
