//! The embedded trail: append-only segment files of JSON lines, one event
//! per line, made durable with one `fdatasync` per group commit, plus a
//! SQLite index for lookups that is filled behind them.
//!
//! The segments are the record of truth. Writing a line costs a copy into
//! the page cache and a share of one fdatasync; the index is written by a
//! task of its own in large batches without waiting for the disk, and
//! catches up from the segments at start, so a crash loses no event and at
//! worst re-indexes a few. Lookups wait until the index has caught up with
//! everything already durable, so a caller always finds its own calls.
//!
//! Layout: `DIR/NNNNNNNNNNNNNNNNNNNN.jsonl`, named by the sequence number of
//! its first line, and `DIR/index.db`. A line:
//! `{"seq":…,"id":…,"t":…,"a":…,"n":…,"s":…,"u":…,"k":…,"r":…,"res":[…],"x":[…],"e":EVENT}`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::index::{Entry, Index, Location};
use crate::{LookupResource, Page, Query, Record, TrailError, TrailStore};

/// The largest segment; a batch that does not fit in the open segment
/// starts a new one.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The first segment's size; each next one is twice the last, up to
/// [`SEGMENT_BYTES`].
const FIRST_SEGMENT_BYTES: u64 = 1024 * 1024;
/// How long a lookup waits for the index to catch up before answering
/// from what is indexed.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

#[derive(Serialize)]
struct Header<'a> {
    seq: i64,
    id: &'a str,
    t: i64,
    a: &'a str,
    n: &'a str,
    s: &'a str,
    u: Option<&'a str>,
    k: Option<&'a str>,
    r: bool,
    res: &'a [LookupResource],
    x: &'a [String],
}

/// A line's header: everything but the event.
#[derive(Deserialize)]
struct Head {
    seq: i64,
    id: String,
    t: i64,
    a: String,
    n: String,
    s: String,
    u: Option<String>,
    k: Option<String>,
    r: bool,
    res: Vec<LookupResource>,
    x: Vec<String>,
}

impl Head {
    fn into_record(self) -> Record {
        Record {
            event_id: self.id,
            event_time: self.t,
            account_id: self.a,
            event_name: self.n,
            event_source: self.s,
            username: self.u,
            access_key_id: self.k,
            read_only: self.r,
            resources: self.res,
            extra_names: self.x,
            body: String::new(),
        }
    }
}

/// The open segment being appended to.
#[derive(Debug)]
struct Log {
    file: Option<Arc<File>>,
    segment: i64,
    /// Where the data ends (the zeros begin).
    len: u64,
    /// The file's size.
    cap: u64,
    next_seq: i64,
}

/// Where an append goes.
enum Target {
    /// The open segment, at this offset.
    Open(Arc<File>, u64),
    /// A new segment: its first sequence number and size.
    New(i64, u64),
}

/// One append, ready to write.
struct Planned {
    target: Target,
    bytes: Vec<u8>,
    last: i64,
}

/// The segment-file trail.
#[derive(Debug)]
pub struct SegmentTrail {
    dir: PathBuf,
    log: Mutex<Log>,
    spare: Arc<Mutex<Spare>>,
    /// `None` for a spool that another store forwards (no local lookups).
    index: Option<Arc<Index>>,
    durable: Arc<AtomicI64>,
    indexed: watch::Receiver<i64>,
    /// Tells the indexer a lookup is waiting.
    hurry: Arc<Notify>,
    indexer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SegmentTrail {
    fn drop(&mut self) {
        if let Some(indexer) = &self.indexer {
            indexer.abort();
        }
    }
}

fn io(e: std::io::Error) -> TrailError {
    TrailError::Io(e.to_string())
}

fn segment_path(dir: &Path, first: i64) -> PathBuf {
    dir.join(format!("{first:020}.jsonl"))
}

/// The segments in `dir`, oldest first, by their first sequence number.
fn segments(dir: &Path) -> Result<Vec<i64>, TrailError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        if let Some(first) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")).and_then(|n| n.parse::<i64>().ok()) {
            out.push(first);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads one complete line into `out` (without its newline) and returns the
/// bytes it took, or `None` at the end of the data: end of file, the zeros
/// a segment is filled with before it is written, or a last line without
/// its newline (a write that was never acknowledged).
fn next_line(reader: &mut impl BufRead, out: &mut Vec<u8>) -> std::io::Result<Option<u64>> {
    out.clear();
    let mut taken = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match memchr::memchr2(b'\n', 0, buf) {
            Some(i) => {
                if buf.get(i) == Some(&0) {
                    return Ok(None);
                }
                out.extend_from_slice(buf.get(..i).unwrap_or_default());
                reader.consume(i + 1);
                return Ok(Some(taken + u64::try_from(i + 1).unwrap_or(0)));
            }
            None => {
                let n = buf.len();
                out.extend_from_slice(buf);
                reader.consume(n);
                taken += u64::try_from(n).unwrap_or(0);
            }
        }
    }
}

/// Calls `f` with each complete line of a segment and its offset; returns
/// where the data ends.
fn each_line(path: &Path, mut f: impl FnMut(u64, &str)) -> Result<u64, TrailError> {
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut offset = 0u64;
    let mut line = Vec::new();
    while let Some(n) = next_line(&mut reader, &mut line).map_err(io)? {
        if let Ok(text) = std::str::from_utf8(&line) {
            f(offset, text);
        }
        offset += n;
    }
    Ok(offset)
}

/// Creates segment `first` in `dir`, `size` bytes of zeros written through
/// to the disk: appends then overwrite zeros in place, so an `fdatasync`
/// has only data to flush, never the file's size or block map (on this
/// machine's ext4: 133 µs instead of 212 µs, a third less CPU). The file is
/// filled under a temporary name and renamed when complete.
fn create_segment(dir: &Path, first: i64, size: u64, spare: &Mutex<Spare>) -> Result<File, TrailError> {
    let ready = spare.lock().ok().is_some_and(|mut s| match *s {
        Spare::Ready(have) if have >= size => {
            *s = Spare::None;
            true
        }
        _ => false,
    });
    let (tmp, file) = if ready {
        let tmp = dir.join(SPARE_NAME);
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&tmp).map_err(io)?;
        (tmp, file)
    } else {
        let tmp = dir.join(format!("{first:020}.jsonl.tmp"));
        let file = zero_filled(&tmp, size)?;
        (tmp, file)
    };
    std::fs::rename(&tmp, segment_path(dir, first)).map_err(io)?;
    // The new name must survive a crash too.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(file)
}

/// `size` bytes of zeros at `path`, on the disk.
fn zero_filled(path: &Path, size: u64) -> Result<File, TrailError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left.min(1 << 20)).unwrap_or(1 << 20);
        file.write_all(zeros.get(..n).unwrap_or_default()).map_err(io)?;
        left -= u64::try_from(n).unwrap_or(0);
    }
    file.sync_all().map_err(io)?;
    Ok(file)
}

/// The next segment, zero-filled ahead of time so that starting a segment
/// does not stall the calls waiting for a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spare {
    None,
    Making,
    /// `spare.jsonl.tmp` is complete, of this size.
    Ready(u64),
}

const SPARE_NAME: &str = "spare.jsonl.tmp";

/// Starts zero-filling the spare segment in the background, unless one is
/// ready or being made.
fn make_spare(dir: PathBuf, size: u64, spare: Arc<Mutex<Spare>>) {
    let Ok(mut s) = spare.lock() else { return };
    if *s != Spare::None {
        return;
    }
    *s = Spare::Making;
    drop(s);
    tokio::task::spawn_blocking(move || {
        let done = zero_filled(&dir.join(SPARE_NAME), size);
        if let Ok(mut s) = spare.lock() {
            *s = match done {
                Ok(_) => Spare::Ready(size),
                Err(e) => {
                    tracing::warn!(error = %e, "could not prepare the next audit segment; it will be made when needed");
                    Spare::None
                }
            };
        }
    });
}

/// How many bytes after the data's end `complete` are not zeros: what a
/// crash left of a write that was never acknowledged.
fn torn_len(file: &File, complete: u64, cap: u64) -> Result<u64, TrailError> {
    use std::os::unix::fs::FileExt;
    let mut torn = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = complete;
    while at < cap {
        let n = file.read_at(&mut buf, at).map_err(io)?;
        if n == 0 {
            break;
        }
        match buf.get(..n).unwrap_or_default().iter().position(|b| *b == 0) {
            Some(i) => return Ok(torn + u64::try_from(i).unwrap_or(0)),
            None => {
                torn += u64::try_from(n).unwrap_or(0);
                at += u64::try_from(n).unwrap_or(0);
            }
        }
    }
    Ok(torn)
}

/// Where the indexer has read up to: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cursor {
    pub segment: i64,
    pub offset: u64,
}

/// Reads at most `max` index entries after `cursor` with sequence numbers
/// up to `upto`, and the cursor after the last one read. Stops at a line not
/// yet complete (still being written).
pub(crate) fn read_from(dir: &Path, mut cursor: Cursor, upto: i64, max: usize, with_body: bool) -> Result<(Vec<Entry>, Cursor), TrailError> {
    let mut out = Vec::new();
    let from = cursor.segment;
    for first in segments(dir)?.into_iter().filter(|f| *f >= from) {
        let start = if first == cursor.segment { cursor.offset } else { 0 };
        let mut file = File::open(segment_path(dir, first)).map_err(io)?;
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut reader = BufReader::new(file);
        let mut offset = start;
        let mut line = Vec::new();
        cursor = Cursor { segment: first, offset };
        while let Some(n) = next_line(&mut reader, &mut line).map_err(io)? {
            if let Some(e) = std::str::from_utf8(&line).ok().and_then(|text| entry_of(first, offset, text, with_body)) {
                if e.seq > upto {
                    return Ok((out, cursor));
                }
                out.push(e);
            }
            offset += n;
            cursor.offset = offset;
            if out.len() >= max {
                return Ok((out, cursor));
            }
        }
    }
    Ok((out, cursor))
}

/// What starts a line's event. A line is the header's members, then this,
/// the event, and `}`; a JSON string cannot hold these bytes (its quotes are
/// escaped) and no header member is named `e`, so the first occurrence ends
/// the header.
const EVENT_KEY: &[u8] = b",\"e\":";

/// A line's header, and where its event starts and ends. Only the header
/// is parsed: the event is most of the line, and scanning it took a fifth
/// of the indexer's time.
fn split_line(text: &str) -> Option<(Head, usize, usize)> {
    let cut = memchr::memmem::find(text.as_bytes(), EVENT_KEY)?;
    let start = cut + EVENT_KEY.len();
    let end = text.len().checked_sub(1).filter(|e| text.as_bytes().get(*e) == Some(&b'}') && *e > start)?;
    let mut head = String::with_capacity(cut + 1);
    head.push_str(text.get(..cut)?);
    head.push('}');
    Some((serde_json::from_str(&head).ok()?, start, end))
}

/// The index entry of `line` found at `offset` of `segment`.
fn entry_of(segment: i64, offset: u64, text: &str, with_body: bool) -> Option<Entry> {
    let (head, start, end) = split_line(text)?;
    let at = Location {
        segment,
        offset: i64::try_from(offset).ok()? + i64::try_from(start).ok()?,
        len: i64::try_from(end - start).ok()?,
    };
    let body = if with_body { text.get(start..end)?.to_owned() } else { String::new() };
    Some(Entry { seq: head.seq, record: Record { body, ..head.into_record() }, at })
}

impl SegmentTrail {
    /// Directory name inside a data directory.
    pub const DIR_NAME: &'static str = "audit";

    /// Opens (creating if needed) the trail in `dir`: cuts off a last line a
    /// crash left half-written, and indexes what the index lacks. Call from
    /// within a Tokio runtime; starts the indexer task.
    pub async fn open(dir: &Path) -> Result<Self, TrailError> {
        Self::open_with(dir, true).await
    }

    /// Opens the trail in `dir` as a durable local spool only, without the
    /// lookup index: for a store that forwards the events elsewhere
    /// ([`crate::PgTrail`]).
    pub async fn open_spool(dir: &Path) -> Result<Self, TrailError> {
        Self::open_with(dir, false).await
    }

    async fn open_with(dir: &Path, indexed: bool) -> Result<Self, TrailError> {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(io)?;

        // A segment still being zero-filled when the process stopped.
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|x| x == "tmp") {
                std::fs::remove_file(&path).map_err(io)?;
            }
        }
        let all = segments(dir)?;
        let mut log = Log { file: None, segment: 0, len: 0, cap: 0, next_seq: 1 };
        if let Some(&last) = all.last() {
            let path = segment_path(dir, last);
            // Only the last line's sequence number matters: parse that one.
            let mut last_text = String::new();
            let complete = each_line(&path, |_, text| text.clone_into(&mut last_text))?;
            let last_seq = split_line(&last_text).map(|(h, _, _)| h.seq);
            let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).map_err(io)?;
            let cap = file.metadata().map_err(io)?.len();
            let torn = torn_len(&file, complete, cap)?;
            if torn > 0 {
                tracing::warn!(segment = %path.display(), "clearing an audit line a crash left half-written (its call was never answered)");
                use std::os::unix::fs::FileExt;
                file.write_all_at(&vec![0u8; usize::try_from(torn).unwrap_or(0)], complete).map_err(io)?;
                file.sync_all().map_err(io)?;
            }
            log = Log { file: Some(Arc::new(file)), segment: last, len: complete, cap, next_seq: last_seq.map_or(last, |s| s + 1) };
        }

        let durable = log.next_seq - 1;
        let (indexed_tx, indexed_rx) = watch::channel(durable);
        let hurry = Arc::new(Notify::new());
        if !indexed {
            return Ok(Self {
                dir: dir.to_owned(),
                log: Mutex::new(log),
                spare: Arc::new(Mutex::new(Spare::None)),
                index: None,
                durable: Arc::new(AtomicI64::new(durable)),
                indexed: indexed_rx,
                hurry,
                indexer: None,
            });
        }
        let index = Arc::new(Index::open(&dir.join("index.db")).await?);

        // What the index lacks (after a crash: everything) is indexed by the
        // indexer task in bounded rounds, so that start-up neither waits for
        // it nor holds the backlog in memory; lookups wait for it.
        let indexed = index.last_seq().await?.min(durable);
        let mut cursor = Cursor { segment: log.segment, offset: log.len };
        if indexed < durable {
            let first = all
                .iter()
                .enumerate()
                .find(|(i, _)| all.get(i + 1).copied().unwrap_or(i64::MAX) > indexed + 1)
                .map_or(0, |(_, f)| *f);
            cursor = Cursor { segment: first, offset: 0 };
            tracing::info!(events = durable - indexed, "indexing audit events written before the last stop");
        }
        indexed_tx.send_replace(indexed);
        let durable = Arc::new(AtomicI64::new(durable));
        let indexer = tokio::spawn(run_indexer(
            dir.to_owned(),
            index.clone(),
            durable.clone(),
            hurry.clone(),
            indexed_tx,
            cursor,
        ));
        Ok(Self {
            dir: dir.to_owned(),
            log: Mutex::new(log),
            spare: Arc::new(Mutex::new(Spare::None)),
            index: Some(index),
            durable,
            indexed: indexed_rx,
            hurry,
            indexer: Some(indexer),
        })
    }

    /// Serialises `records` as lines and decides where they go: after the
    /// open segment's data, or a new segment when they do not fit.
    fn plan(&self, records: &[Record]) -> Result<Planned, TrailError> {
        let mut log = self.log.lock().map_err(|_| TrailError::Unavailable)?;
        let first = log.next_seq;
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.body.len() + 256).sum());
        for r in records {
            let seq = log.next_seq;
            log.next_seq += 1;
            let header = Header {
                seq,
                id: &r.event_id,
                t: r.event_time,
                a: &r.account_id,
                n: &r.event_name,
                s: &r.event_source,
                u: r.username.as_deref(),
                k: r.access_key_id.as_deref(),
                r: r.read_only,
                res: &r.resources,
                x: &r.extra_names,
            };
            serde_json::to_writer(&mut buf, &header).map_err(|e| TrailError::Corrupt(e.to_string()))?;
            buf.pop();
            buf.extend_from_slice(b",\"e\":");
            buf.extend_from_slice(r.body.as_bytes());
            buf.extend_from_slice(b"}\n");
        }
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        let target = match &log.file {
            Some(file) if log.len.saturating_add(len) <= log.cap => Target::Open(file.clone(), log.len),
            // Segments start small and double, so a small trail stays small.
            _ => Target::New(first, SEGMENT_BYTES.min(log.cap.saturating_mul(2).max(FIRST_SEGMENT_BYTES)).max(len)),
        };
        Ok(Planned { target, bytes: buf, last: log.next_seq - 1 })
    }

    /// The trail's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest durable sequence number.
    pub(crate) fn durable_seq(&self) -> i64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Deletes the closed segments whose every line has a sequence number
    /// up to `upto` (forwarded elsewhere); returns how many segments.
    pub(crate) fn drop_segments_through(&self, upto: i64) -> Result<usize, TrailError> {
        let current = self.log.lock().map_err(|_| TrailError::Unavailable)?.segment;
        let all = segments(&self.dir)?;
        let mut dropped = 0;
        for (i, &first) in all.iter().enumerate() {
            let next_first = all.get(i + 1).copied().unwrap_or(i64::MAX);
            if first >= current || next_first > upto + 1 {
                break;
            }
            std::fs::remove_file(segment_path(&self.dir, first)).map_err(io)?;
            dropped += 1;
        }
        Ok(dropped)
    }

    fn read_event(&self, at: Location) -> Result<String, TrailError> {
        let mut file = File::open(segment_path(&self.dir, at.segment)).map_err(io)?;
        file.seek(SeekFrom::Start(u64::try_from(at.offset).map_err(|e| TrailError::Corrupt(e.to_string()))?)).map_err(io)?;
        let mut bytes = vec![0; usize::try_from(at.len).map_err(|e| TrailError::Corrupt(e.to_string()))?];
        file.read_exact(&mut bytes).map_err(io)?;
        String::from_utf8(bytes).map_err(|e| TrailError::Corrupt(e.to_string()))
    }

    async fn with_bodies(&self, hits: Vec<crate::index::Hit>) -> Result<Vec<(i64, Record)>, TrailError> {
        hits.into_iter()
            .map(|h| {
                let body = self.read_event(h.at)?;
                Ok((h.seq, Record { body, ..h.record }))
            })
            .collect()
    }

    /// Waits (bounded) until the index holds every durable event.
    async fn catch_up(&self) {
        let target = self.durable.load(Ordering::Acquire);
        let mut rx = self.indexed.clone();
        if *rx.borrow() < target {
            self.hurry.notify_one();
        }
        let _ = tokio::time::timeout(CATCH_UP_WAIT, rx.wait_for(|v| *v >= target)).await;
    }
}

/// How often the indexer looks at the trail.
const INDEX_TICK: Duration = Duration::from_millis(250);
/// Events left unindexed before the indexer works even while calls keep
/// arriving; with none arriving for a tick, it indexes whatever is there.
const INDEX_BACKLOG: i64 = 100_000;
/// Events read and indexed at once, in one transaction. SQLite copies every
/// bound value with its own (glibc's) allocator, which keeps what it once
/// held: rounds of 2184 rows (one statement's worth) took a node under
/// GetCallerIdentity load to a 60 MB RSS peak, rounds of 256 to 40 MB, at
/// the same throughput.
const INDEX_ROUND: usize = 256;

/// Indexes in the quiet moments: while calls keep arriving the index work
/// waits (up to [`INDEX_BACKLOG`] events), so that the request path's CPU is
/// not shared with it; a lookup makes it work at once. The events come from
/// the segments themselves, so waiting costs no memory.
async fn run_indexer(
    dir: PathBuf,
    index: Arc<Index>,
    durable: Arc<AtomicI64>,
    hurry: Arc<Notify>,
    indexed: watch::Sender<i64>,
    mut cursor: Cursor,
) {
    let mut tick = tokio::time::interval(INDEX_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = durable.load(Ordering::Acquire);
    let mut done = *indexed.borrow();
    loop {
        let hurried = tokio::select! {
            _ = tick.tick() => false,
            () = hurry.notified() => true,
        };
        let now = durable.load(Ordering::Acquire);
        let idle = now == seen;
        seen = now;
        if now <= done || !(hurried || idle || now - done >= INDEX_BACKLOG) {
            continue;
        }
        // In bounded rounds, so that a large backlog never sits in memory.
        while done < now {
            let dir2 = dir.clone();
            let read = tokio::task::spawn_blocking(move || read_from(&dir2, cursor, now, INDEX_ROUND, false)).await;
            let (entries, next) = match read {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "reading audit segments for the index failed; retrying");
                    break;
                }
                Err(_) => break,
            };
            let Some(last) = entries.last().map(|e| e.seq) else { break };
            if let Err(e) = index.insert(&entries).await {
                // The events stay in their segments; the next tick retries.
                tracing::warn!(error = %e, "indexing audit events failed; retrying");
                break;
            }
            cursor = next;
            done = last;
            indexed.send_replace(done);
        }
    }
}

#[async_trait]
impl TrailStore for SegmentTrail {
    async fn append(&self, records: &[Record]) -> Result<(), TrailError> {
        if records.is_empty() {
            return Ok(());
        }
        let Planned { target, bytes, last } = self.plan(records)?;
        let dir = self.dir.clone();
        let spare = self.spare.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<(Arc<File>, Target, u64), TrailError> {
            use std::os::unix::fs::FileExt;
            let (file, at) = match &target {
                Target::Open(file, at) => (file.clone(), *at),
                Target::New(first, size) => (Arc::new(create_segment(&dir, *first, *size, &spare)?), 0),
            };
            file.write_all_at(&bytes, at).map_err(io)?;
            file.sync_data().map_err(io)?;
            Ok((file, target, u64::try_from(bytes.len()).unwrap_or(0)))
        })
        .await
        .map_err(|_| TrailError::Unavailable)
        .and_then(|r| r);
        let mut log = self.log.lock().map_err(|_| TrailError::Unavailable)?;
        match written {
            Ok((file, Target::New(first, size), n)) => {
                log.file = Some(file);
                log.segment = first;
                log.cap = size;
                log.len = n;
                make_spare(self.dir.clone(), SEGMENT_BYTES.min(size.saturating_mul(2)), self.spare.clone());
            }
            Ok((_, Target::Open(..), n)) => log.len += n,
            Err(e) => {
                // Whatever part reached the file is an unacknowledged tail;
                // the next append starts a new segment after it.
                log.file = None;
                return Err(e);
            }
        }
        drop(log);
        self.durable.store(last, Ordering::Release);
        Ok(())
    }

    async fn lookup(&self, q: &Query) -> Result<Page, TrailError> {
        self.catch_up().await;
        let index = self.index.as_ref().ok_or(TrailError::Unavailable)?;
        let (hits, next) = crate::sql::page(index.lookup(q).await?, q.limit, |h| h.seq);
        Ok(Page { records: self.with_bodies(hits).await?, next })
    }

    async fn scan(&self, since: Option<i64>, until: Option<i64>, after_seq: i64, limit: usize) -> Result<Vec<(i64, Record)>, TrailError> {
        self.catch_up().await;
        let index = self.index.as_ref().ok_or(TrailError::Unavailable)?;
        let hits = index.scan(since, until, after_seq, limit).await?;
        self.with_bodies(hits).await
    }

    async fn purge(&self, before: i64) -> Result<u64, TrailError> {
        let index = self.index.as_ref().ok_or(TrailError::Unavailable)?;
        let current = self.log.lock().map_err(|_| TrailError::Unavailable)?.segment;
        let mut dropped = 0;
        for first in segments(&self.dir)? {
            if first >= current {
                break;
            }
            match index.newest_time_in(first).await? {
                Some(newest) if newest < before => {
                    dropped += index.drop_segment(first).await?;
                    std::fs::remove_file(segment_path(&self.dir, first)).map_err(io)?;
                }
                _ => break,
            }
        }
        Ok(dropped)
    }

    async fn close(&self) {
        if let Some(index) = &self.index {
            self.catch_up().await;
            index.close().await;
        }
    }
}

/// Writes every event in the trail at `dir` within `[since, until]`, oldest
/// first, one JSON object per line, straight from the segments (safe beside
/// a running server: a line still being written is not complete yet and is
/// left out). Returns how many.
pub fn export(dir: &Path, since: Option<i64>, until: Option<i64>, out: &mut dyn Write) -> Result<u64, TrailError> {
    let mut written = 0;
    let mut failure = None;
    for first in segments(dir)? {
        each_line(&segment_path(dir, first), |_, text| {
            if failure.is_some() {
                return;
            }
            let Some((head, start, end)) = split_line(text) else { return };
            if since.is_some_and(|s| head.t < s) || until.is_some_and(|u| head.t > u) {
                return;
            }
            let event = text.get(start..end).unwrap_or_default();
            match out.write_all(event.as_bytes()).and_then(|()| out.write_all(b"\n")) {
                Ok(()) => written += 1,
                Err(e) => failure = Some(e),
            }
        })?;
    }
    match failure {
        Some(e) => Err(io(e)),
        None => Ok(written),
    }
}
