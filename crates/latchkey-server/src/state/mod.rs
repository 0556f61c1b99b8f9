//! The in-memory snapshot every request reads, and the write path that
//! replaces it.
//!
//! Consistency: writes on a node are serialised by one lock; each write is
//! applied to the store in one transaction, then the snapshot is refreshed
//! and swapped in before the write's response is sent. A write is therefore
//! visible to the next request on the same node. Reads never wait for writes
//! and never touch the database.
//!
//! A refresh costs what changed, not what the store holds: the store's
//! change log names the entities each batch touched, [`State::refresh`]
//! reads just their rows ([`Store::load_since`]) and
//! [`Snapshot::patched`] makes the next snapshot sharing everything else
//! with the current one. The node that wrote and every other node on the
//! same database refresh the same way; a full load happens at start-up and
//! when the log no longer reaches back (a node long disconnected).
//!
//! Several nodes on one database: each node follows the store's change
//! versions ([`State::follow`]) and refreshes when another node committed,
//! and a write first catches up with the store when it is behind, so it
//! decides against current data; a race between two nodes' writes is still
//! settled by the store's unique keys.

pub mod buckets;
pub mod policies;
pub mod principals;
mod snapshot;

pub use snapshot::{
    AccountState, BucketEntry, Effective, FULL_AWS_ACCESS, InlineEntry, KeyEntry, MfaEntry, Organization, PolicyEntry, RoleEntry, ScpEntry, Snapshot,
    aws_managed,
};

use std::sync::Arc;

use arc_swap::ArcSwap;
use latchkey_store::{Op, Store, Update};
use tokio::sync::Mutex;

use crate::ApiError;
use crate::authz::Authorized;

/// Why a write with no caller behind it may happen: the only way to an
/// [`Authorized::internal`] proof. Its constructor is private to `state`,
/// so handlers cannot make one; the writers that do are listed here.
#[derive(Debug, Clone, Copy)]
pub struct Internal {
    purpose: &'static str,
}

impl Internal {
    /// [`State::rotate_token_keys`]: session-token keys are made and retired
    /// on a timer, by no caller.
    const TOKEN_KEY_ROTATION: Self = Self { purpose: "token-key rotation" };
    /// [`State::bind_legacy_trusts`]: once at start, before serving.
    const LEGACY_TRUST_BINDING: Self = Self { purpose: "binding of legacy trust policies" };
    /// [`State::apply_quietly`]: last-used times of keys and roles, recorded
    /// for calls already decided.
    const LAST_USED: Self = Self { purpose: "last-used bookkeeping" };
    /// Unit tests of the write path.
    #[cfg(test)]
    pub(crate) const TEST: Self = Self { purpose: "test" };

    /// What the write is for.
    pub fn purpose(self) -> &'static str {
        self.purpose
    }
}

/// The snapshot plus the store behind it.
#[derive(Debug)]
pub struct State {
    current: ArcSwap<Snapshot>,
    store: Arc<dyn Store>,
    write_lock: Mutex<()>,
    /// Serialises refreshes: each patches the snapshot the previous one
    /// made.
    refresh_lock: Mutex<()>,
    /// Whether each patched snapshot is compared with a full load
    /// ([`State::check_refreshes`]).
    check: std::sync::atomic::AtomicBool,
}

impl State {
    /// Loads the first snapshot from `store`.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, latchkey_store::StoreError> {
        let started = std::time::Instant::now();
        let loaded = store.load().await?;
        let read = started.elapsed();
        let snap = Snapshot::build(loaded);
        tracing::info!(
            version = snap.version,
            read_ms = read.as_millis(),
            build_ms = (started.elapsed() - read).as_millis(),
            "loaded the store"
        );
        Ok(Self {
            current: ArcSwap::from_pointee(snap),
            store,
            write_lock: Mutex::new(()),
            refresh_lock: Mutex::new(()),
            check: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Check mode, for tests (`LATCHKEY_CHECK_SNAPSHOTS=1`): after each
    /// patch, load everything as well and compare. A difference is logged
    /// as an error naming the differing facts, and the full build replaces
    /// the patched snapshot. It costs a full load per write.
    pub fn check_refreshes(&self, on: bool) {
        self.check.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The snapshot in force now. Cheap: an atomic load and a reference count.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Runs `decide` against the latest snapshot while holding the node's
    /// write lock, applies the ops it returns in one transaction, and swaps in
    /// the refreshed snapshot before returning `decide`'s value. If `decide` fails
    /// nothing is written. `proof` is the decision that allowed the write:
    /// without one there is no write.
    pub async fn write<T>(
        &self,
        proof: &Authorized,
        decide: impl FnOnce(&Snapshot) -> Result<(Vec<Op>, T), ApiError>,
    ) -> Result<T, ApiError> {
        let _guard = self.write_lock.lock().await;
        // Another node may have written since this snapshot was made: one
        // cheap version read, and a refresh only when it is behind. When the
        // store cannot answer, the write fails fast here (503).
        self.refresh().await?;
        let snap = self.snapshot();
        let (ops, out) = decide(&snap)?;
        if ops.is_empty() {
            return Ok(out);
        }
        tracing::debug!(action = proof.action(), resource = proof.resource(), allowed_by = %proof.basis(), ops = ops.len(), "write");
        // The batch and the rows it changed come back from one transaction.
        let update = self.store.apply_since(&ops, snap.version).await.map_err(ApiError::from_write)?;
        self.install(update).await?;
        Ok(out)
    }

    /// Makes sure a current session-token key exists, creating one when there
    /// is none or the newest is older than `period`, and drops keys no token
    /// can still need. Key ids come from the store's unique key, so two nodes
    /// racing to rotate cannot both win: the loser reloads and uses the
    /// winner's key.
    pub async fn rotate_token_keys(&self, now: i64, period: i64) -> Result<(), ApiError> {
        let result = self
            .write(&Authorized::internal(Internal::TOKEN_KEY_ROTATION), |snap| {
                let mut ops = Vec::new();
                let needs = snap.token_ring.as_ref().is_none_or(|r| r.needs_rotation(now, period));
                if needs {
                    let next = snap.token_ring.as_ref().map_or(1, |r| r.keys().map(|k| k.id()).max().unwrap_or(0) + 1);
                    let key = latchkey_token::TokenKey::generate(next, now);
                    ops.push(Op::InsertTokenKey(latchkey_store::TokenKeyMaterial {
                        id: key.id(),
                        created: key.created_at(),
                        secret: zeroize::Zeroizing::new(*key.expose_bytes()),
                    }));
                }
                if let Some(ring) = &snap.token_ring {
                    ops.extend(ring.retirable(now, period).into_iter().map(Op::DeleteTokenKey));
                }
                Ok((ops, ()))
            })
            .await;
        match result {
            // Another node created the same key id first; its key is as good.
            Err(e) if e.kind() == crate::ErrorCode::EntityAlreadyExists => self.refresh().await.map(drop),
            other => other,
        }
    }

    /// Binds the principals of trust policies saved before latchkey bound
    /// them (`Role::trust_principals` is `None`) to the users and roles that
    /// hold their names now, so that from then on a namesake created after
    /// a deletion is not trusted. Runs once at start; returns how many roles
    /// it bound.
    pub async fn bind_legacy_trusts(&self) -> Result<usize, ApiError> {
        self.write(&Authorized::internal(Internal::LEGACY_TRUST_BINDING), |snap| {
            let ops: Vec<Op> = snap
                .accounts
                .values()
                .flat_map(|a| a.roles.values())
                .filter(|r| r.role.trust_principals.is_none())
                .map(|r| {
                    let principals = latchkey_policy::parse(&r.role.trust_policy, latchkey_policy::PolicyKind::Trust)
                        .map(|p| principals::bind_stored(snap, &p))
                        .unwrap_or_default();
                    Op::SetTrustPolicy { id: r.role.id.clone(), document: r.role.trust_policy.clone(), principals }
                })
                .collect();
            let n = ops.len();
            Ok((ops, n))
        })
        .await
    }

    /// Applies bookkeeping ops (last-used times) that change nothing the
    /// snapshot's decisions depend on, without refreshing it; readers overlay
    /// the pending values themselves, and the next refresh reads them. Any other op is refused: this path
    /// needs no decision because it can write nothing else.
    pub async fn apply_quietly(&self, ops: &[Op]) -> Result<(), ApiError> {
        if !ops.iter().all(|op| matches!(op, Op::TouchRole { .. } | Op::TouchAccessKey { .. })) {
            return Err(ApiError::internal("apply_quietly was given an op that is not last-used bookkeeping"));
        }
        let proof = Authorized::internal(Internal::LAST_USED);
        let _guard = self.write_lock.lock().await;
        tracing::trace!(allowed_by = %proof.basis(), ops = ops.len(), "bookkeeping write");
        // In batches small enough for every node to refresh by key (a
        // minute of AssumeRole over many roles can touch thousands).
        for batch in ops.chunks(1_000) {
            self.store.apply(batch).await.map_err(ApiError::from_write)?;
        }
        Ok(())
    }

    /// Brings the snapshot up to the store's version: nothing when it is
    /// current; otherwise the entities changed since are read and patched
    /// into the next snapshot (or, past a gap in the change log, everything
    /// is read and built anew). Whether the snapshot moved.
    pub async fn refresh(&self) -> Result<bool, ApiError> {
        let since = self.snapshot().version;
        let update = self.store.load_since(since).await?;
        self.install(update).await
    }

    /// Patches `update` into the snapshot in force and swaps the result in;
    /// whether the snapshot moved. The snapshot may have moved past the
    /// version `update` was read from (a follower's refresh in between):
    /// patching replaces entities by their current rows, so applying it
    /// again is harmless, and an update older than the snapshot is dropped.
    async fn install(&self, update: Update) -> Result<bool, ApiError> {
        let _guard = self.refresh_lock.lock().await;
        let current = self.snapshot();
        let version = match &update {
            Update::Current => return Ok(false),
            Update::Changed { rows, .. } => rows.version,
            Update::Everything(loaded) => loaded.version,
        };
        if version <= current.version {
            return Ok(false);
        }
        let next = match update {
            Update::Current => return Ok(false),
            Update::Changed { touched, rows } => {
                let patched = current.patched(&touched, rows);
                if self.check.load(std::sync::atomic::Ordering::Relaxed) {
                    self.checked(patched, &touched).await?
                } else {
                    patched
                }
            }
            Update::Everything(loaded) => {
                tracing::info!(from = current.version, to = loaded.version, "the change log did not reach back: reloaded everything");
                Snapshot::build(loaded)
            }
        };
        self.current.store(Arc::new(next));
        Ok(true)
    }

    /// `patched` compared with a snapshot built from a full load at the
    /// same version (check mode); the full build wins a difference.
    async fn checked(&self, patched: Snapshot, touched: &latchkey_store::Touched) -> Result<Snapshot, ApiError> {
        let full = Snapshot::build(self.store.load().await?);
        if full.version != patched.version {
            // Another node committed in between: nothing to compare.
            return Ok(full);
        }
        let (want, got) = (full.fingerprint(), patched.fingerprint());
        if want == got {
            return Ok(patched);
        }
        let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
        tracing::error!(?touched, ?missing, ?extra, "snapshot diverged from the store after a refresh");
        Ok(full)
    }

    /// Keeps the snapshot current with other writers to a shared store:
    /// refreshes whenever the store reports a version newer than the
    /// snapshot's. Returns at once for a store only this process writes to.
    /// A failed refresh is retried at the store's next report (its periodic
    /// reconciliation reports even when nothing changed).
    pub async fn follow(&self) {
        let Some(mut changes) = self.store.changes() else { return };
        while changes.changed().await.is_ok() {
            let seen = *changes.borrow_and_update();
            if seen > self.snapshot().version
                && let Err(e) = self.refresh().await
            {
                tracing::warn!(error = %e.message(), "could not refresh the snapshot from the store; will retry");
            }
        }
    }
}
