//! The SQLite trail and the group-commit writer.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test helpers: a failure should fail the test loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use latchkey_audit::{Attribute, LookupResource, Page, Query, Record, SegmentTrail, Trail, TrailError, TrailStore};

fn record(i: usize, account: &str, name: &str) -> Record {
    Record {
        event_id: format!("event-{account}-{i}"),
        event_time: 1_000 + i64::try_from(i).unwrap(),
        account_id: account.to_owned(),
        event_name: name.to_owned(),
        event_source: "sts.amazonaws.com".to_owned(),
        username: Some(format!("user{}", i % 3)),
        access_key_id: Some(format!("AKIA{i:016}")),
        read_only: i.is_multiple_of(2),
        resources: vec![LookupResource { kind: "AWS::IAM::Role".into(), name: format!("arn:aws:iam::{account}:role/r{i}") }],
        extra_names: vec![format!("source-{i}")],
        body: format!("{{\"n\":{i}}}"),
    }
}

fn query(account: &str, attribute: Option<Attribute>) -> Query {
    Query { account_id: account.to_owned(), attribute, start: None, end: None, limit: 50, before_seq: None }
}

async fn open() -> (tempfile::TempDir, SegmentTrail) {
    let dir = tempfile::tempdir().unwrap();
    let trail = SegmentTrail::open(&dir.path().join(SegmentTrail::DIR_NAME)).await.unwrap();
    (dir, trail)
}

#[tokio::test]
async fn lookups_filter_by_each_attribute_and_account() {
    let (_dir, trail) = open().await;
    let mut records: Vec<Record> = (0..10).map(|i| record(i, "111111111111", if i == 4 { "CreateUser" } else { "AssumeRole" })).collect();
    records.push(record(4, "222222222222", "CreateUser"));
    trail.append(&records).await.unwrap();

    let page = trail.lookup(&query("111111111111", None)).await.unwrap();
    assert_eq!(page.records.len(), 10, "other accounts' events are not visible");
    let times: Vec<i64> = page.records.iter().map(|(_, r)| r.event_time).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first: {times:?}");

    let one = |a: Attribute| {
        let trail = &trail;
        async move { trail.lookup(&query("111111111111", Some(a))).await.unwrap().records }
    };
    assert_eq!(one(Attribute::EventName("CreateUser".into())).await.len(), 1);
    assert_eq!(one(Attribute::EventId("event-111111111111-3".into())).await.len(), 1);
    assert_eq!(one(Attribute::Username("user0".into())).await.len(), 4);
    assert_eq!(one(Attribute::AccessKeyId(format!("AKIA{:016}", 7))).await.len(), 1);
    assert_eq!(one(Attribute::ReadOnly(true)).await.len(), 5);
    assert_eq!(one(Attribute::EventSource("sts.amazonaws.com".into())).await.len(), 10);
    assert_eq!(one(Attribute::EventSource("iam.amazonaws.com".into())).await.len(), 0);
    assert_eq!(one(Attribute::ResourceName("arn:aws:iam::111111111111:role/r5".into())).await.len(), 1);
    assert_eq!(one(Attribute::ResourceName("source-6".into())).await.len(), 1, "extra names match");
    assert_eq!(one(Attribute::ResourceName("source-".into())).await.len(), 0, "whole terms only");
    assert_eq!(one(Attribute::ResourceType("AWS::IAM::Role".into())).await.len(), 10);
    assert_eq!(one(Attribute::ResourceType("AWS::IAM".into())).await.len(), 0);

    let round = &one(Attribute::EventId("event-111111111111-9".into())).await[0].1;
    assert_eq!(round.body, "{\"n\":9}");
    assert_eq!(round.resources, records[9].resources);
}

#[tokio::test]
async fn pages_and_time_ranges() {
    let (_dir, trail) = open().await;
    let records: Vec<Record> = (0..25).map(|i| record(i, "111111111111", "AssumeRole")).collect();
    trail.append(&records).await.unwrap();
    let mut seen = Vec::new();
    let mut q = query("111111111111", None);
    q.limit = 10;
    loop {
        let Page { records, next } = trail.lookup(&q).await.unwrap();
        seen.extend(records.into_iter().map(|(_, r)| r.event_time));
        match next {
            Some(seq) => q.before_seq = Some(seq),
            None => break,
        }
    }
    assert_eq!(seen, (1000..1025).rev().collect::<Vec<_>>());

    let mut q = query("111111111111", None);
    q.start = Some(1005);
    q.end = Some(1009);
    assert_eq!(trail.lookup(&q).await.unwrap().records.len(), 5);
}

#[tokio::test]
async fn scan_and_export_in_order_with_time_filters() {
    let (dir, trail) = open().await;
    let records: Vec<Record> = (0..20).map(|i| record(i, "111111111111", "AssumeRole")).collect();
    trail.append(&records[..7]).await.unwrap();
    trail.append(&records[7..]).await.unwrap();
    let all = trail.scan(None, None, 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|(_, r)| r.event_time).collect::<Vec<_>>(), (1000..1020).collect::<Vec<_>>());
    assert_eq!(all[3].1.body, "{\"n\":3}");
    let later = trail.scan(Some(1015), Some(1016), 0, 100).await.unwrap();
    assert_eq!(later.len(), 2);
    let mut out = Vec::new();
    let n = latchkey_audit::export(&dir.path().join(SegmentTrail::DIR_NAME), Some(1018), None, &mut out).unwrap();
    assert_eq!(n, 2);
    assert_eq!(String::from_utf8(out).unwrap(), "{\"n\":18}\n{\"n\":19}\n");
}

/// The indexer parses only a line's header and finds the event by the bytes
/// `,"e":`; names that spell those bytes must not move the cut.
#[tokio::test]
async fn header_strings_that_spell_the_event_key_do_not_cut_the_line() {
    let (dir, trail) = open().await;
    let mut r = record(0, "111111111111", "AssumeRole");
    r.username = Some(",\"e\":{\"n\":666}}".to_owned());
    r.extra_names = vec!["x\",\"e\":1".to_owned(), "\\\",\"e\":".to_owned()];
    r.body = "{\"n\":0,\"e\":\"tail\"}".to_owned();
    trail.append(&[r.clone(), record(1, "111111111111", "AssumeRole")]).await.unwrap();
    let hits = trail.lookup(&query("111111111111", Some(Attribute::Username(r.username.clone().unwrap())))).await.unwrap().records;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].1.body, r.body);
    let by_name = trail.lookup(&query("111111111111", Some(Attribute::ResourceName(r.extra_names[1].clone())))).await.unwrap().records;
    assert_eq!(by_name.len(), 1);
    let mut out = Vec::new();
    latchkey_audit::export(&dir.path().join(SegmentTrail::DIR_NAME), None, None, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), format!("{}\n{{\"n\":1}}\n", r.body));
}

#[tokio::test]
async fn a_half_written_line_is_cut_off_and_a_lost_index_is_rebuilt() {
    let (dir, trail) = open().await;
    let records: Vec<Record> = (0..5).map(|i| record(i, "111111111111", "AssumeRole")).collect();
    trail.append(&records).await.unwrap();
    trail.close().await;
    drop(trail);
    let audit = dir.path().join(SegmentTrail::DIR_NAME);
    let segment = std::fs::read_dir(&audit)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    // A crash mid-write leaves a line without its newline where the zeros
    // of the preallocated segment began.
    let bytes = std::fs::read(&segment).unwrap();
    let end = bytes.iter().position(|b| *b == 0).unwrap();
    {
        use std::os::unix::fs::FileExt;
        std::fs::OpenOptions::new().write(true).open(&segment).unwrap().write_all_at(b"{\"seq\":6,\"id\":\"torn", end as u64).unwrap();
    }
    for f in ["index.db", "index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(audit.join(f));
    }
    let trail = SegmentTrail::open(&audit).await.unwrap();
    let page = trail.lookup(&query("111111111111", None)).await.unwrap();
    assert_eq!(page.records.len(), 5, "the index was rebuilt from the segment");
    let after = std::fs::read(&segment).unwrap();
    assert!(!after.windows(4).any(|w| w == b"torn"), "the torn line was cleared");
    trail.append(&[record(9, "111111111111", "CreateUser")]).await.unwrap();
    let names: Vec<String> = trail.lookup(&query("111111111111", None)).await.unwrap().records.into_iter().map(|(_, r)| r.event_name).collect();
    assert_eq!(names.first().map(String::as_str), Some("CreateUser"));
    assert_eq!(names.len(), 6);
}

/// The index is written without a journal on disk: a process that stops
/// without closing it may leave it torn, and the next open must start it
/// afresh from the segments rather than trust it.
#[tokio::test]
async fn an_index_left_open_by_a_crash_is_rebuilt_from_the_segments() {
    let (dir, trail) = open().await;
    let records: Vec<Record> = (0..30).map(|i| record(i, "111111111111", "AssumeRole")).collect();
    trail.append(&records).await.unwrap();
    assert_eq!(trail.lookup(&query("111111111111", None)).await.unwrap().records.len(), 30);
    // No close: as after kill -9. Then the torn write a crash can leave.
    drop(trail);
    let audit = dir.path().join(SegmentTrail::DIR_NAME);
    assert!(audit.join("index.open").exists(), "an open index is marked");
    std::fs::write(audit.join("index.db"), b"SQLite format 3\0 torn by a crash").unwrap();

    let trail = SegmentTrail::open(&audit).await.unwrap();
    let page = trail.lookup(&query("111111111111", None)).await.unwrap();
    assert_eq!(page.records.len(), 30, "every event is found again");
    assert_eq!(page.records[0].1.body, "{\"n\":29}");
    trail.close().await;
    assert!(!audit.join("index.open").exists(), "a clean close clears the mark");
    drop(trail);
    let trail = SegmentTrail::open(&audit).await.unwrap();
    assert_eq!(trail.lookup(&query("111111111111", Some(Attribute::Username("user1".into())))).await.unwrap().records.len(), 10);
}

#[cfg(unix)]
#[tokio::test]
async fn segments_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, trail) = open().await;
    trail.append(&[record(1, "111111111111", "A")]).await.unwrap();
    let audit = dir.path().join(SegmentTrail::DIR_NAME);
    assert_eq!(std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777, 0o700);
    for e in std::fs::read_dir(&audit).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}

/// A trail that counts its appends and fails them while `failing` is set.
#[derive(Debug)]
struct Watched {
    inner: SegmentTrail,
    appends: AtomicUsize,
    failing: AtomicBool,
}

#[async_trait]
impl TrailStore for Watched {
    async fn append(&self, r: &[Record]) -> Result<(), TrailError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(TrailError::Corrupt("disk on fire".into()));
        }
        self.inner.append(r).await
    }
    async fn lookup(&self, q: &Query) -> Result<Page, TrailError> {
        self.inner.lookup(q).await
    }
    async fn scan(&self, a: Option<i64>, b: Option<i64>, c: i64, d: usize) -> Result<Vec<(i64, Record)>, TrailError> {
        self.inner.scan(a, b, c, d).await
    }
    async fn purge(&self, b: i64) -> Result<u64, TrailError> {
        self.inner.purge(b).await
    }
    async fn close(&self) {}
}

async fn watched(failing: bool) -> (tempfile::TempDir, Arc<Watched>) {
    let (dir, inner) = open().await;
    (dir, Arc::new(Watched { inner, appends: AtomicUsize::new(0), failing: AtomicBool::new(failing) }))
}

#[tokio::test]
async fn group_commit_makes_every_awaited_record_durable_in_few_transactions() {
    let (_dir, store) = watched(false).await;
    let trail = Arc::new(Trail::start(store.clone(), 4096, None));
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let trail = trail.clone();
            tokio::spawn(async move { trail.record_durable(vec![record(i, "111111111111", "AssumeRole")]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.scan(None, None, 0, 1000).await.unwrap().len(), 400);
    let commits = store.appends.load(Ordering::SeqCst);
    assert!(commits < 400, "records were grouped: {commits} commits for 400 records");
    assert_eq!(trail.queue_depth(), 0);
}

#[tokio::test]
async fn a_failing_store_fails_waiters_and_retries_unawaited_records() {
    let (_dir, store) = watched(true).await;
    let trail = Trail::start(store.clone(), 64, None);
    trail.record(vec![record(1, "111111111111", "GetCallerIdentity")]).await.unwrap();
    let refused = trail.record_durable(vec![record(2, "111111111111", "AssumeRole")]).await;
    assert!(matches!(refused, Err(TrailError::Unavailable)));
    assert!(!trail.is_healthy());
    store.failing.store(false, Ordering::SeqCst);
    trail.flush().await.unwrap();
    let kept: Vec<String> = store.scan(None, None, 0, 10).await.unwrap().into_iter().map(|(_, r)| r.event_name).collect();
    assert_eq!(kept, vec!["GetCallerIdentity"], "the unawaited record was retried; the refused call's was not kept");
    assert!(trail.is_healthy());
}
