//! CloudTrail (awsJson1_1): LookupEvents over the caller's account's trail.

use latchkey_audit::{Attribute, Query};
use serde_json::{Value, json};

use crate::{ApiError, ErrorCode};
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Request};

/// Every CloudTrail operation latchkey routes.
pub const ACTIONS: &[&str] = &["LookupEvents"];

/// Runs `action`.
pub async fn dispatch(action: &str, ctx: &Ctx<'_>) -> Option<Output> {
    Some(match action {
        "LookupEvents" => lookup_events(ctx).await,
        _ => return None,
    })
}

/// Parses LookupAttributes (at most one, as AWS allows).
fn attribute(ctx: &Ctx<'_>) -> Result<Option<Attribute>, ApiError> {
    let Some(list) = ctx.json.get("LookupAttributes") else { return Ok(None) };
    let items = list.as_array().ok_or_else(|| ApiError::of(ErrorCode::SerializationException, "LookupAttributes must be a list"))?;
    let first = match items.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(ApiError::of(ErrorCode::InvalidLookupAttributesException, "You cannot specify more than one lookup attribute.")),
    };
    let key = first.get("AttributeKey").and_then(Value::as_str);
    let value = first.get("AttributeValue").and_then(Value::as_str);
    let (Some(key), Some(value)) = (key, value) else {
        return Err(ApiError::of(ErrorCode::InvalidLookupAttributesException, "A lookup attribute needs an AttributeKey and an AttributeValue."));
    };
    if value.is_empty() || value.chars().count() > 2000 {
        return Err(ApiError::of(
            ErrorCode::InvalidLookupAttributesException,
            "1 validation error detected: Value at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: Member must have length between 1 and 2000",
        ));
    }
    let v = value.to_owned();
    Ok(Some(match key {
        "EventId" => Attribute::EventId(v),
        "EventName" => Attribute::EventName(v),
        "Username" => Attribute::Username(v),
        "AccessKeyId" => Attribute::AccessKeyId(v),
        "EventSource" => Attribute::EventSource(v),
        "ResourceName" => Attribute::ResourceName(v),
        "ResourceType" => Attribute::ResourceType(v),
        "ReadOnly" => match value {
            "true" => Attribute::ReadOnly(true),
            "false" => Attribute::ReadOnly(false),
            _ => return Err(ApiError::of(ErrorCode::InvalidLookupAttributesException, "ReadOnly must be true or false.")),
        },
        other => {
            return Err(ApiError::of(
                ErrorCode::ValidationException,
                format!(
                    "1 validation error detected: Value '{other}' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: Member must satisfy enum value set: [EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId]"
                ),
            ));
        }
    }))
}

/// A timestamp member: awsJson sends epoch seconds (possibly fractional).
fn time(ctx: &Ctx<'_>, name: &str) -> Result<Option<i64>, ApiError> {
    match ctx.json.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            // Whole seconds: events are stored at one-second precision.
            .map(|f| Some(f.floor() as i64))
            .ok_or_else(|| ApiError::of(ErrorCode::SerializationException, format!("{name} must be a timestamp"))),
    }
}

/// The page token: the sequence number to continue below, bound to the
/// query it belongs to so that it cannot be replayed with another.
fn token(seq: i64, fingerprint: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{seq}.{fingerprint:016x}"))
}

fn parse_token(text: &str, fingerprint: u64) -> Option<i64> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (seq, fp) = raw.split_once('.')?;
    (u64::from_str_radix(fp, 16).ok()? == fingerprint).then_some(())?;
    seq.parse().ok().filter(|s: &i64| *s > 0)
}

/// FNV-1a over the query's shape.
fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

async fn lookup_events(ctx: &Ctx<'_>) -> Output {
    let attribute = attribute(ctx)?;
    let start = time(ctx, "StartTime")?;
    let end = time(ctx, "EndTime")?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::of(ErrorCode::InvalidTimeRangeException, "Start time must not be after end time."));
    }
    let limit = match ctx.json.get("MaxResults") {
        None | Some(Value::Null) => 50,
        Some(v) => match v.as_i64() {
            Some(n @ 1..=50) => usize::try_from(n).unwrap_or(50),
            _ => return Err(ApiError::of(ErrorCode::InvalidMaxResultsException, "MaxResults must be between 1 and 50.")),
        },
    };
    let category = ctx.json.get("EventCategory").and_then(Value::as_str);
    if let Some(c) = category
        && c != "insight"
    {
        return Err(ApiError::of(ErrorCode::InvalidEventCategoryException, format!("Invalid event category {c}.")));
    }
    let proof = authz::authorize(ctx, Request { action: "cloudtrail:LookupEvents", resource: "*" })?;
    if category.is_some() {
        // latchkey produces no Insights events.
        return Ok(Answer::new(proof, Some(json!({ "Events": [] }).to_string())));
    }

    let account = ctx.caller.account.to_string();
    let shape = format!("{attribute:?}|{start:?}|{end:?}");
    let fp = fingerprint(&[&account, &shape]);
    let before_seq = match ctx.json.get("NextToken").and_then(Value::as_str) {
        None => None,
        Some(t) => Some(parse_token(t, fp).ok_or_else(|| ApiError::of(ErrorCode::InvalidNextTokenException, "Invalid NextToken."))?),
    };
    let query = Query { account_id: account, attribute, start, end, limit, before_seq };
    let page = ctx.app.trail.store().lookup(&query).await.map_err(|e| {
        tracing::error!(error = %e, "audit lookup failed");
        ApiError::service_unavailable("The audit trail could not be read.")
    })?;
    let events: Vec<Value> = page
        .records
        .iter()
        .map(|(_, r)| {
            let mut e = json!({
                "EventId": r.event_id,
                "EventName": r.event_name,
                "ReadOnly": if r.read_only { "true" } else { "false" },
                "EventTime": r.event_time,
                "EventSource": r.event_source,
                "Resources": r.resources,
                "CloudTrailEvent": r.body,
            });
            if let Some(obj) = e.as_object_mut() {
                if let Some(k) = &r.access_key_id {
                    obj.insert("AccessKeyId".into(), Value::String(k.clone()));
                }
                if let Some(u) = &r.username {
                    obj.insert("Username".into(), Value::String(u.clone()));
                }
            }
            e
        })
        .collect();
    let mut out = json!({ "Events": events });
    if let (Some(next), Some(obj)) = (page.next, out.as_object_mut()) {
        obj.insert("NextToken".into(), Value::String(token(next, fp)));
    }
    Ok(Answer::new(proof, Some(out.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_query() {
        let fp = fingerprint(&["111122223333", "EventName"]);
        let t = token(42, fp);
        assert_eq!(parse_token(&t, fp), Some(42));
        assert_eq!(parse_token(&t, fingerprint(&["111122223333", "Username"])), None);
        assert_eq!(parse_token("garbage", fp), None);
        assert_eq!(parse_token(&token(0, fp), fp), None);
    }
}
