//! The SQL both index backends (the embedded SQLite index and the shared
//! PostgreSQL table) build for a lookup, written once.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::{Attribute, Query};

/// Appends `WHERE …` for `q` (its account, time range, page and attribute)
/// and `ORDER BY seq DESC LIMIT` one more row than asked, so [`page`] can
/// tell whether a next page exists. `contains` is the backend's
/// substring-position function taking (haystack, needle): `instr` in SQLite,
/// `strpos` in PostgreSQL.
pub(crate) fn push_lookup<DB: Database>(qb: &mut QueryBuilder<DB>, q: &Query, contains: &str)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
{
    qb.push(" WHERE account_id = ").push_bind(q.account_id.clone());
    if let Some(start) = q.start {
        qb.push(" AND event_time >= ").push_bind(start);
    }
    if let Some(end) = q.end {
        qb.push(" AND event_time <= ").push_bind(end);
    }
    if let Some(before) = q.before_seq {
        qb.push(" AND seq < ").push_bind(before);
    }
    let equals = |qb: &mut QueryBuilder<DB>, column: &str, v: &String| {
        qb.push(format!(" AND {column} = ")).push_bind(v.clone());
    };
    // Terms are stored '\n'-wrapped, so a whole term matches, never a part.
    let has_term = |qb: &mut QueryBuilder<DB>, column: &str, v: &String| {
        qb.push(format!(" AND {contains}({column}, ")).push_bind(format!("\n{v}\n")).push(") > 0");
    };
    match &q.attribute {
        None => {}
        Some(Attribute::EventId(v)) => equals(qb, "event_id", v),
        Some(Attribute::EventName(v)) => equals(qb, "event_name", v),
        Some(Attribute::Username(v)) => equals(qb, "username", v),
        Some(Attribute::AccessKeyId(v)) => equals(qb, "access_key_id", v),
        Some(Attribute::EventSource(v)) => equals(qb, "event_source", v),
        Some(Attribute::ReadOnly(v)) => {
            qb.push(" AND read_only = ").push_bind(*v);
        }
        Some(Attribute::ResourceName(v)) => has_term(qb, "names", v),
        Some(Attribute::ResourceType(v)) => has_term(qb, "types", v),
    }
    let limit = i64::try_from(q.limit).unwrap_or(50);
    qb.push(" ORDER BY seq DESC LIMIT ").push_bind(limit + 1);
}

/// Appends `WHERE …` for an export scan: rows after `after_seq` within
/// `[since, until]`, oldest first, at most `limit`.
pub(crate) fn push_scan<DB: Database>(qb: &mut QueryBuilder<DB>, since: Option<i64>, until: Option<i64>, after_seq: i64, limit: usize)
where
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    qb.push(" WHERE seq > ").push_bind(after_seq);
    if let Some(s) = since {
        qb.push(" AND event_time >= ").push_bind(s);
    }
    if let Some(u) = until {
        qb.push(" AND event_time <= ").push_bind(u);
    }
    qb.push(" ORDER BY seq LIMIT ").push_bind(i64::try_from(limit).unwrap_or(1000));
}

/// Cuts the extra row [`push_lookup`] asked for: the page, and where the
/// next one starts (the last kept row's sequence number) when there is one.
pub(crate) fn page<T>(mut rows: Vec<T>, limit: usize, seq: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(seq);
        (rows, next)
    } else {
        (rows, None)
    }
}
