//! Times appends to a segment trail (durable lines, index behind): `cargo run --release -p latchkey-audit --example append -- BATCH N`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "a measuring tool")]

use std::time::Instant;

use latchkey_audit::{LookupResource, Record, SegmentTrail, TrailStore};

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (batch, n) = (args.first().copied().unwrap_or(64), args.get(1).copied().unwrap_or(20_000));
    let dir = tempfile::tempdir().unwrap();
    let trail = SegmentTrail::open(&dir.path().join("audit")).await.unwrap();
    let body = "x".repeat(1800);
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            event_id: format!("{i:08}-1111-2222-3333-444455556666"),
            event_time: 1_800_000_000 + i64::try_from(i).unwrap() / 1000,
            account_id: "111122223333".into(),
            event_name: "AssumeRole".into(),
            event_source: "sts.amazonaws.com".into(),
            username: Some("alice".into()),
            access_key_id: Some("AKIAEXAMPLEEXAMPLE01".into()),
            read_only: true,
            resources: vec![
                LookupResource { kind: "AWS::IAM::Role".into(), name: "arn:aws:iam::111122223333:role/deployer".into() },
                LookupResource { kind: "AWS::IAM::AccessKey".into(), name: format!("ASIA{i:016}") },
            ],
            extra_names: vec![],
            body: body.clone(),
        })
        .collect();
    let cpu0 = cpu();
    let t0 = Instant::now();
    for chunk in records.chunks(batch) {
        trail.append(chunk).await.unwrap();
    }
    let wall = t0.elapsed();
    let cpu = cpu() - cpu0;
    println!(
        "{n} records in batches of {batch}: {:.0} records/s wall, {:.1} µs CPU per record (process, incl. kernel)",
        n as f64 / wall.as_secs_f64(),
        cpu * 1e6 / n as f64
    );
}

fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}
