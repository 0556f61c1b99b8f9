//! Prometheus metrics, rendered as text at `GET /metrics`.
//!
//! Label values come only from fixed sets (routed action names, error codes
//! of our own), never from what a client sends, so a client cannot grow the
//! label space. One short mutex section per request; nothing allocates after
//! an action's first call.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ErrorCode;

/// Upper bounds (seconds) of the request-latency buckets.
const LATENCY_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Upper bounds (seconds) of the audit-commit buckets.
const FSYNC_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// A cumulative histogram.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, secs: f64) {
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b)
            && let Some(c) = self.counts.get_mut(i)
        {
            *c += 1;
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// One action's figures, copied out of the lock for rendering.
type ActionRow = ((&'static str, &'static str), Vec<(Option<ErrorCode>, u64)>, Histogram);

#[derive(Debug)]
struct ActionStats {
    /// Calls by error code, `None` counting the successes.
    outcomes: Vec<(Option<ErrorCode>, u64)>,
    latency: Histogram,
}

/// The service's counters.
#[derive(Debug)]
pub struct Metrics {
    actions: Mutex<HashMap<(&'static str, &'static str), ActionStats>>,
    issued: Mutex<HashMap<&'static str, u64>>,
    denials: AtomicU64,
    audit_commits: Mutex<Histogram>,
    audit_records: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            actions: Mutex::new(HashMap::new()),
            issued: Mutex::new(HashMap::new()),
            denials: AtomicU64::new(0),
            audit_commits: Mutex::new(Histogram::new(FSYNC_BUCKETS)),
            audit_records: AtomicU64::new(0),
        }
    }
}

/// Live values read when the page is rendered.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Calls queued for the audit writer.
    pub audit_queue_depth: i64,
    /// Whether the last audit append succeeded.
    pub audit_healthy: bool,
    /// Seconds since the current session-token key was created.
    pub token_key_age: Option<i64>,
}

impl Metrics {
    /// Counts one request. `action` must come from a fixed set (see
    /// [`crate::http`]); `error` is the call's error code, `None` for a
    /// success.
    pub fn request(&self, service: &'static str, action: &'static str, error: Option<ErrorCode>, latency: Duration) {
        let Ok(mut map) = self.actions.lock() else { return };
        let stats =
            map.entry((service, action)).or_insert_with(|| ActionStats { outcomes: Vec::new(), latency: Histogram::new(LATENCY_BUCKETS) });
        match stats.outcomes.iter_mut().find(|(o, _)| *o == error) {
            Some((_, n)) => *n += 1,
            None => stats.outcomes.push((error, 1)),
        }
        stats.latency.observe(latency.as_secs_f64());
        if error == Some(ErrorCode::AccessDenied) {
            self.denials.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts credentials handed out, by kind (the issuing action).
    pub fn issued(&self, kind: &'static str) {
        if let Ok(mut m) = self.issued.lock() {
            *m.entry(kind).or_insert(0) += 1;
        }
    }

    /// One audit commit: how long it took (fsync included) and its size.
    pub fn audit_commit(&self, took: Duration, records: usize) {
        if let Ok(mut h) = self.audit_commits.lock() {
            h.observe(took.as_secs_f64());
        }
        self.audit_records.fetch_add(u64::try_from(records).unwrap_or(0), Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP latchkey_requests_total API calls by service, action and outcome (Success or the error code).\n");
        out.push_str("# TYPE latchkey_requests_total counter\n");
        let actions: Vec<ActionRow> = match self.actions.lock() {
            Ok(m) => {
                let mut v: Vec<_> = m
                    .iter()
                    .map(|(k, s)| (*k, s.outcomes.clone(), s.latency.clone()))
                    .collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            }
            Err(_) => Vec::new(),
        };
        for ((service, action), outcomes, _) in &actions {
            for (error, n) in outcomes {
                let outcome = error.map_or("Success", ErrorCode::as_str);
                let _ = writeln!(out, "latchkey_requests_total{{service=\"{service}\",action=\"{action}\",outcome=\"{outcome}\"}} {n}");
            }
        }
        out.push_str("# HELP latchkey_request_duration_seconds Time from request to response, by action.\n");
        out.push_str("# TYPE latchkey_request_duration_seconds histogram\n");
        for ((service, action), _, h) in &actions {
            h.render(&mut out, "latchkey_request_duration_seconds", &format!("service=\"{service}\",action=\"{action}\""));
        }
        out.push_str("# HELP latchkey_credentials_issued_total Temporary credentials handed out, by the action that issued them.\n");
        out.push_str("# TYPE latchkey_credentials_issued_total counter\n");
        if let Ok(m) = self.issued.lock() {
            let mut kinds: Vec<_> = m.iter().collect();
            kinds.sort();
            for (kind, n) in kinds {
                let _ = writeln!(out, "latchkey_credentials_issued_total{{kind=\"{kind}\"}} {n}");
            }
        }
        out.push_str("# HELP latchkey_access_denied_total Calls refused with AccessDenied.\n");
        out.push_str("# TYPE latchkey_access_denied_total counter\n");
        let _ = writeln!(out, "latchkey_access_denied_total {}", self.denials.load(Ordering::Relaxed));
        out.push_str("# HELP latchkey_audit_queue_depth Calls whose audit records are queued and not yet written.\n");
        out.push_str("# TYPE latchkey_audit_queue_depth gauge\n");
        let _ = writeln!(out, "latchkey_audit_queue_depth {}", gauges.audit_queue_depth);
        out.push_str("# HELP latchkey_audit_healthy 1 when the last audit append succeeded.\n");
        out.push_str("# TYPE latchkey_audit_healthy gauge\n");
        let _ = writeln!(out, "latchkey_audit_healthy {}", u8::from(gauges.audit_healthy));
        out.push_str("# HELP latchkey_audit_records_total Audit records written.\n");
        out.push_str("# TYPE latchkey_audit_records_total counter\n");
        let _ = writeln!(out, "latchkey_audit_records_total {}", self.audit_records.load(Ordering::Relaxed));
        out.push_str("# HELP latchkey_audit_commit_seconds Time of one audit group commit, fsync included.\n");
        out.push_str("# TYPE latchkey_audit_commit_seconds histogram\n");
        if let Ok(h) = self.audit_commits.lock() {
            h.render(&mut out, "latchkey_audit_commit_seconds", "");
        }
        if let Some(age) = gauges.token_key_age {
            out.push_str("# HELP latchkey_token_key_age_seconds Age of the session-token key that seals new tokens.\n");
            out.push_str("# TYPE latchkey_token_key_age_seconds gauge\n");
            let _ = writeln!(out, "latchkey_token_key_age_seconds {age}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("sts", "AssumeRole", None, Duration::from_micros(300));
        m.request("sts", "AssumeRole", Some(ErrorCode::AccessDenied), Duration::from_millis(3));
        m.issued("AssumeRole");
        m.audit_commit(Duration::from_millis(2), 7);
        let text = m.render(Gauges { audit_queue_depth: 3, audit_healthy: true, token_key_age: Some(10) });
        assert!(text.contains("latchkey_requests_total{service=\"sts\",action=\"AssumeRole\",outcome=\"Success\"} 1"));
        assert!(text.contains("outcome=\"AccessDenied\"} 1"));
        assert!(text.contains("latchkey_request_duration_seconds_bucket{service=\"sts\",action=\"AssumeRole\",le=\"0.0005\"} 1"));
        assert!(text.contains("latchkey_request_duration_seconds_bucket{service=\"sts\",action=\"AssumeRole\",le=\"0.005\"} 2"));
        assert!(text.contains("latchkey_request_duration_seconds_count{service=\"sts\",action=\"AssumeRole\"} 2"));
        assert!(text.contains("latchkey_credentials_issued_total{kind=\"AssumeRole\"} 1"));
        assert!(text.contains("latchkey_access_denied_total 1"));
        assert!(text.contains("latchkey_audit_queue_depth 3"));
        assert!(text.contains("latchkey_audit_records_total 7"));
        assert!(text.contains("latchkey_audit_commit_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("latchkey_token_key_age_seconds 10"));
    }
}
