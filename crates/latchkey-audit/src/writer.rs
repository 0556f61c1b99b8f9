//! Group commit: one task owns the trail's writes. Requests queue their
//! records on a bounded channel; the task takes everything queued, appends
//! it in one transaction (one fsync), then wakes the requests that wait for
//! durability. Under load a batch grows to what arrived during the last
//! fsync, so throughput scales with concurrency instead of collapsing.
//!
//! Nothing is dropped silently: a full queue makes senders wait
//! (back-pressure), and records nobody waits for are retried until the
//! store takes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::{Record, TrailError, TrailStore};

/// Jobs taken per batch.
const MAX_JOBS: usize = 1024;
/// Records held for retry before the writer stops taking new jobs, so that
/// a failing store turns into back-pressure rather than memory growth.
const MAX_PENDING: usize = 16 * 1024;

/// What a commit reports to whoever watches (metrics).
pub type CommitObserver = Box<dyn Fn(Duration, usize) + Send + Sync>;

struct Job {
    records: Vec<Record>,
    ack: Option<oneshot::Sender<bool>>,
}

struct Shared {
    depth: AtomicI64,
    healthy: AtomicBool,
    observer: Option<CommitObserver>,
}

/// The trail's write side. Cheap to share behind an `Arc`.
pub struct Trail {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    store: Arc<dyn TrailStore>,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail").field("depth", &self.queue_depth()).field("healthy", &self.is_healthy()).finish_non_exhaustive()
    }
}

impl Trail {
    /// Starts the writer task on the current runtime. `capacity` bounds the
    /// queue (jobs, each one call's records).
    pub fn start(store: Arc<dyn TrailStore>, capacity: usize, observer: Option<CommitObserver>) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared { depth: AtomicI64::new(0), healthy: AtomicBool::new(true), observer });
        tokio::spawn(run(store.clone(), rx, shared.clone()));
        Self { tx, shared, store }
    }

    /// The store behind the trail, for lookups.
    pub fn store(&self) -> &Arc<dyn TrailStore> {
        &self.store
    }

    /// Queues `records` and returns once they are on disk. Fails when the
    /// trail cannot be written; the caller must then not hand out what the
    /// records describe.
    pub async fn record_durable(&self, records: Vec<Record>) -> Result<(), TrailError> {
        let (ack, done) = oneshot::channel();
        self.send(Job { records, ack: Some(ack) }).await?;
        match done.await {
            Ok(true) => Ok(()),
            _ => Err(TrailError::Unavailable),
        }
    }

    /// Queues `records` without waiting for the disk; waits only for room in
    /// the queue.
    pub async fn record(&self, records: Vec<Record>) -> Result<(), TrailError> {
        self.send(Job { records, ack: None }).await
    }

    /// Returns once everything queued before the call is on disk.
    pub async fn flush(&self) -> Result<(), TrailError> {
        self.record_durable(Vec::new()).await
    }

    /// Jobs queued and not yet written.
    pub fn queue_depth(&self) -> i64 {
        self.shared.depth.load(Ordering::Relaxed)
    }

    /// False after a failed append, until one succeeds.
    pub fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed)
    }

    async fn send(&self, job: Job) -> Result<(), TrailError> {
        self.shared.depth.fetch_add(1, Ordering::Relaxed);
        self.tx.send(job).await.map_err(|_| {
            self.shared.depth.fetch_sub(1, Ordering::Relaxed);
            TrailError::Unavailable
        })
    }
}

async fn run(store: Arc<dyn TrailStore>, mut rx: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_JOBS);
    // Records nobody waits for whose append failed: retried first.
    let mut pending: Vec<Record> = Vec::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        if pending.len() < MAX_PENDING {
            let wait_for_more = pending.is_empty();
            if wait_for_more {
                if rx.recv_many(&mut jobs, MAX_JOBS).await == 0 {
                    return;
                }
            } else {
                while jobs.len() < MAX_JOBS {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
            }
        }
        let taken = jobs.len();
        let mut batch = std::mem::take(&mut pending);
        // Which records belong to calls still waiting: those are not retried.
        let mut awaited = Vec::with_capacity(batch.len());
        awaited.resize(batch.len(), false);
        for job in &mut jobs {
            awaited.resize(batch.len() + job.records.len(), job.ack.is_some());
            batch.append(&mut job.records);
        }
        let started = Instant::now();
        let result = if batch.is_empty() { Ok(()) } else { store.append(&batch).await };
        if let Some(observe) = &shared.observer
            && !batch.is_empty()
        {
            observe(started.elapsed(), batch.len());
        }
        match result {
            Ok(()) => {
                shared.healthy.store(true, Ordering::Relaxed);
                backoff = Duration::from_millis(50);
                for job in jobs.drain(..) {
                    if let Some(ack) = job.ack {
                        let _ = ack.send(true);
                    }
                }
            }
            Err(e) => {
                shared.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, records = batch.len(), "audit trail append failed; credential-issuing calls fail until it recovers");
                // Waiters are told now (their calls fail and hand nothing
                // out); the records of calls that already answered are kept
                // and retried.
                for job in jobs.drain(..) {
                    if let Some(ack) = job.ack {
                        let _ = ack.send(false);
                    }
                }
                pending = batch.into_iter().zip(awaited).filter(|(_, waited)| !waited).map(|(r, _)| r).collect();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        shared.depth.fetch_sub(i64::try_from(taken).unwrap_or(0), Ordering::Relaxed);
    }
}
