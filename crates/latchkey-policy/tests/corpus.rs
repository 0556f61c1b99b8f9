//! Data-driven corpus: every `tests/corpus/*.json` file is loaded and every case
//! run; all failures are reported together, by file and case name.
//!
//! A file holds either `"cases"` (requests → expected decisions) or
//! `"malformed"` (documents → expected AWS error). See `tests/corpus/README.md`.

use std::fmt::Write as _;
use std::path::Path;

use latchkey_policy::{
    CompiledPolicy, Context, ParseOptions, PolicyKind, PolicyRef, PolicySet, PolicyType, Principal,
    PrincipalKind, Reason, Request, Verdict, evaluate, explain, parse_with,
};
use serde_json::{Map, Value};

fn document_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Owned {
    id: String,
    policy: CompiledPolicy,
}

fn compile(entry: &Value, kind: PolicyKind, fallback_id: &str) -> Result<Owned, String> {
    let (id, doc) = match entry.get("document") {
        Some(doc) => (
            entry
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or(fallback_id)
                .to_owned(),
            doc,
        ),
        None => (fallback_id.to_owned(), entry),
    };
    let text = document_text(doc);
    let policy = parse_with(&text, kind, ParseOptions::default())
        .map_err(|e| format!("policy `{id}` does not parse: {e}"))?;
    Ok(Owned {
        id,
        policy: CompiledPolicy::new(&policy),
    })
}

fn compile_list(v: Option<&Value>, kind: PolicyKind, prefix: &str) -> Result<Vec<Owned>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, e)| compile(e, kind, &format!("{prefix}{i}")))
            .collect(),
        Some(single) => Ok(vec![compile(single, kind, prefix)?]),
    }
}

fn refs(list: &[Owned]) -> Vec<PolicyRef<'_>> {
    list.iter()
        .map(|o| PolicyRef {
            id: &o.id,
            policy: &o.policy,
        })
        .collect()
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or("")
}

fn principal<'a>(v: &'a Value, role_arn: &'a mut String) -> Result<Principal<'a>, String> {
    let (arn, extra) = match v {
        Value::String(s) => (s.as_str(), None),
        Value::Object(m) => (m.get("arn").and_then(Value::as_str).unwrap_or(""), Some(m)),
        _ => return Err("principal must be a string or an object".into()),
    };
    let field = |k: &str| extra.and_then(|m| m.get(k)).and_then(Value::as_str);
    if let Some(name) = arn.strip_prefix("service:") {
        return Ok(Principal {
            arn: "",
            id: "",
            account: "",
            kind: PrincipalKind::Service(name),
        });
    }
    if let Some(p) = arn.strip_prefix("web:") {
        return Ok(Principal {
            arn: "",
            id: "",
            account: "",
            kind: PrincipalKind::WebIdentity { provider: p },
        });
    }
    if let Some(p) = arn.strip_prefix("saml:") {
        return Ok(Principal {
            arn: "",
            id: "",
            account: "",
            kind: PrincipalKind::Saml { provider: p },
        });
    }
    if arn == "anonymous" {
        return Ok(Principal {
            arn: "",
            id: "",
            account: "",
            kind: PrincipalKind::Anonymous,
        });
    }
    let account = field("account").unwrap_or_else(|| account_of(arn));
    let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
    let kind = if resource == "root" {
        PrincipalKind::Root
    } else if resource.starts_with("user/") {
        PrincipalKind::User
    } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
        match field("role_arn") {
            Some(r) => PrincipalKind::AssumedRole { role_arn: r },
            None => {
                let role = rest.split('/').next().unwrap_or("");
                *role_arn = format!("arn:aws:iam::{account}:role/{role}");
                PrincipalKind::AssumedRole {
                    role_arn: role_arn.as_str(),
                }
            }
        }
    } else if resource.starts_with("federated-user/") {
        PrincipalKind::FederatedUser {
            user_arn: field("user_arn").unwrap_or(""),
        }
    } else {
        return Err(format!("cannot tell the kind of principal `{arn}`"));
    };
    Ok(Principal { arn, id: "", account, kind })
}

fn context(v: Option<&Value>) -> Context {
    let mut ctx = Context::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            match v {
                Value::Array(items) => {
                    ctx.insert_multi(k, items.iter().map(scalar));
                }
                other => {
                    ctx.insert(k, scalar(other));
                }
            }
        }
    }
    ctx
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn policy_type(s: &str) -> Result<PolicyType, String> {
    Ok(match s {
        "identity" => PolicyType::Identity,
        "resource" | "trust" => PolicyType::Resource,
        "boundary" => PolicyType::Boundary,
        "session" => PolicyType::Session,
        "scp" => PolicyType::Scp,
        other => return Err(format!("unknown policy type `{other}`")),
    })
}

fn merged(defaults: Option<&Map<String, Value>>, case: &Map<String, Value>) -> Map<String, Value> {
    let mut out = defaults.cloned().unwrap_or_default();
    for (k, v) in case {
        // `policies` merge one level deeper so a case can add or replace one slot.
        if let (Some(Value::Object(base)), Value::Object(over)) = (out.get_mut(k), v)
            && k == "policies"
        {
            for (pk, pv) in over {
                base.insert(pk.clone(), pv.clone());
            }
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

fn run_case(case: &Map<String, Value>) -> Result<(), String> {
    let empty = Map::new();
    let policies = case
        .get("policies")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let identity = compile_list(policies.get("identity"), PolicyKind::Identity, "identity")?;
    let resource = match (policies.get("resource"), policies.get("trust")) {
        (Some(r), _) if !r.is_null() => Some(compile(r, PolicyKind::Resource, "resource")?),
        (_, Some(t)) if !t.is_null() => Some(compile(t, PolicyKind::Trust, "trust")?),
        _ => None,
    };
    let boundary = match policies.get("boundary") {
        Some(b) if !b.is_null() => Some(compile(b, PolicyKind::Boundary, "boundary")?),
        _ => None,
    };
    let session = match policies.get("session") {
        Some(Value::Null) | None => None,
        s => Some(compile_list(s, PolicyKind::Session, "session")?),
    };
    let scps: Vec<Vec<Owned>> = match policies.get("scps") {
        Some(Value::Array(levels)) => levels
            .iter()
            .enumerate()
            .map(|(i, l)| compile_list(Some(l), PolicyKind::ServiceControl, &format!("scp{i}.")))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };

    let identity_refs = refs(&identity);
    let session_refs = session.as_deref().map(refs);
    let scp_refs: Vec<Vec<PolicyRef<'_>>> = scps.iter().map(|l| refs(l)).collect();
    let scp_slices: Vec<&[PolicyRef<'_>]> = scp_refs.iter().map(Vec::as_slice).collect();
    let set = PolicySet {
        identity: &identity_refs,
        resource: resource.as_ref().map(|o| PolicyRef {
            id: &o.id,
            policy: &o.policy,
        }),
        boundary: boundary.as_ref().map(|o| PolicyRef {
            id: &o.id,
            policy: &o.policy,
        }),
        session: session_refs.as_deref(),
        scps: &scp_slices,
        resource_account: case
            .get("resource_account")
            .and_then(Value::as_str)
            .unwrap_or(""),
    };
    let mut role_arn = String::new();
    let principal = principal(case.get("principal").ok_or("no principal")?, &mut role_arn)?;
    let ctx = context(case.get("context"));
    let request = Request {
        principal,
        action: case
            .get("action")
            .and_then(Value::as_str)
            .ok_or("no action")?,
        resource: case.get("resource").and_then(Value::as_str).unwrap_or("*"),
        context: &ctx,
    };
    let decision = evaluate(&set, &request);
    let explained = explain(&set, &request);
    if decision.verdict() != explained.verdict() || decision.reason() != explained.reason() {
        return Err(format!(
            "evaluate ({decision}) and explain ({explained}) disagree"
        ));
    }

    let expect = case
        .get("expect")
        .and_then(Value::as_object)
        .ok_or("no expect")?;
    let verdict = match expect.get("verdict").and_then(Value::as_str) {
        Some("Allow") => Verdict::Allow,
        Some("ExplicitDeny") => Verdict::ExplicitDeny,
        Some("ImplicitDeny") => Verdict::ImplicitDeny,
        other => return Err(format!("bad expected verdict {other:?}")),
    };
    let mut problems = String::new();
    if decision.verdict() != verdict {
        let _ = write!(
            problems,
            "verdict {:?}, expected {verdict:?}; ",
            decision.verdict()
        );
    }
    if let Some(by) = expect.get("by") {
        let ok = match (by, decision.reason()) {
            (Value::String(s), Reason::RootUser) => s == "root",
            (Value::Object(m), Reason::Allowed(r) | Reason::Denied(r)) => {
                m.get("policy")
                    .and_then(Value::as_str)
                    .is_none_or(|p| p == r.policy_id)
                    && m.get("statement")
                        .and_then(Value::as_u64)
                        .is_none_or(|s| s as usize == r.statement)
                    && m.get("sid")
                        .and_then(Value::as_str)
                        .is_none_or(|s| Some(s) == r.sid)
                    && m.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| policy_type(t).is_ok_and(|t| t == r.policy_type))
            }
            _ => false,
        };
        if !ok {
            let _ = write!(
                problems,
                "decided by {:?}, expected {by}; ",
                decision.reason()
            );
        }
    }
    if let Some(missing) = expect.get("missing").and_then(Value::as_str) {
        let t = policy_type(missing)?;
        if decision.reason() != Reason::NotAllowed(t) {
            let _ = write!(
                problems,
                "reason {:?}, expected no {t} allowing; ",
                decision.reason()
            );
        }
    }
    if let Some(Value::Array(want)) = expect.get("matched") {
        let got: Vec<(String, usize)> = explained
            .matched()
            .iter()
            .map(|m| (m.policy_id.to_owned(), m.statement))
            .collect();
        let want: Vec<(String, usize)> = want
            .iter()
            .map(|w| {
                (
                    w.get(0).and_then(Value::as_str).unwrap_or("").to_owned(),
                    w.get(1).and_then(Value::as_u64).unwrap_or(0) as usize,
                )
            })
            .collect();
        if got != want {
            let _ = write!(problems, "matched {got:?}, expected {want:?}; ");
        }
    }
    if let Some(msg) = expect.get("message").and_then(Value::as_str)
        && decision.access_denied_message().as_deref() != Some(msg)
    {
        let _ = write!(problems, "message {:?}; ", decision.access_denied_message());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{problems}({decision})"))
    }
}

fn kind_of(s: &str) -> Result<PolicyKind, String> {
    Ok(match s {
        "identity" => PolicyKind::Identity,
        "trust" => PolicyKind::Trust,
        "resource" => PolicyKind::Resource,
        "session" => PolicyKind::Session,
        "boundary" => PolicyKind::Boundary,
        "scp" => PolicyKind::ServiceControl,
        other => return Err(format!("unknown kind `{other}`")),
    })
}

fn run_malformed(case: &Map<String, Value>) -> Result<(), String> {
    let kind = kind_of(
        case.get("kind")
            .and_then(Value::as_str)
            .unwrap_or("identity"),
    )?;
    let text = document_text(case.get("document").ok_or("no document")?);
    let mut options = ParseOptions::default();
    if case.get("managed").and_then(Value::as_bool) == Some(true) {
        options = ParseOptions::managed();
    }
    let result = parse_with(&text, kind, options);
    match (case.get("error").and_then(Value::as_str), result) {
        (None, Ok(_)) => Ok(()),
        (None, Err(e)) => Err(format!("refused with `{e}`, expected valid")),
        (Some(want), Ok(_)) => Err(format!("accepted, expected `{want}`")),
        (Some(want), Err(e)) => {
            if e.aws_message() != want {
                return Err(format!("got `{}`, expected `{want}`", e.aws_message()));
            }
            if let Some(code) = case.get("code").and_then(Value::as_str)
                && code != e.aws_code()
            {
                return Err(format!("code `{}`, expected `{code}`", e.aws_code()));
            }
            if let Some(Value::Array(lc)) = case.get("at") {
                let want = (
                    lc.first().and_then(Value::as_u64),
                    lc.get(1).and_then(Value::as_u64),
                );
                let got = e
                    .location()
                    .map(|l| (Some(l.line as u64), Some(l.column as u64)));
                if got != Some(want) {
                    return Err(format!("location {:?}, expected {want:?}", e.location()));
                }
            }
            Ok(())
        }
    }
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let (mut decisions, mut malformed) = (0, 0);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let doc: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not JSON: {e}"));
                continue;
            }
        };
        let defaults = doc.get("defaults").and_then(Value::as_object);
        for case in doc
            .get("cases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            decisions += 1;
            let case = merged(defaults, case.as_object().unwrap());
            let case_name = case
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            if let Err(e) = run_case(&case) {
                failures.push(format!("{name} / {case_name}: {e}"));
            }
        }
        for case in doc
            .get("malformed")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            malformed += 1;
            let case = merged(defaults, case.as_object().unwrap());
            let case_name = case
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            if let Err(e) = run_malformed(&case) {
                failures.push(format!("{name} / {case_name}: {e}"));
            }
        }
    }
    println!(
        "corpus: {decisions} decision cases, {malformed} document cases in {} files",
        files.len()
    );
    assert!(decisions >= 300, "only {decisions} decision cases");
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
