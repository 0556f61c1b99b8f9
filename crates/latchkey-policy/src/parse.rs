//! JSON text → raw statements with positions → checked [`Policy`].
//!
//! IAM checks a document in stages and reports only the first stage that fails,
//! each with a fixed message. The stages and their order follow what AWS answers
//! (as recorded by emulator test suites that replay real IAM responses: moto's
//! `test_iam_policies.py`, and LocalStack's AWS-validated
//! `tests/aws/services/iam/test_iam_policies.py` with its snapshot of IAM's answers):
//!
//! 1. grammar: JSON, element names and types — "Syntax errors in policy."
//!    (a trust policy that is not JSON at all: "This policy contains invalid Json")
//! 2. (managed policies and SCPs only) version — "Policy document must be version
//!    2012-10-17 or greater.", before anything below
//! 3. the legacy parser: exact-case `Effect`, `Date*` values, resource ARN shape —
//!    "The policy failed legacy parsing"
//! 4. statement ids: format (IAM policies), then uniqueness
//! 5. actions present, then (policies that need them) resources present, then
//!    resource ARN errors (which quote the resource), then action vendor prefixes
//! 6. per kind: principals forbidden or required, resources forbidden,
//!    principal values.

use std::borrow::Cow;

use crate::compile::{CompiledPolicy, CompiledStatement, StatementParts};
use crate::condition::CompiledCondition;
use crate::error::PolicyError;
use crate::json::{self, Doc, Member, Node, Span, Value};
use crate::model::{
    Condition, ConditionOperator, Effect, Patterns, Policy, PolicyKind, PrincipalEntry, Principals,
    Statement, Version,
};
use crate::values;

/// The largest document accepted at all, whatever its kind: the length limit of
/// IAM's `PolicyDocument` parameters. Quotas per kind are checked by [`crate::Limit`].
pub const MAX_DOCUMENT_LEN: usize = 131_072;

pub(crate) const SYNTAX: &str = "Syntax errors in policy.";
/// CreateRole and UpdateAssumeRolePolicy's answer to a trust policy that is not
/// JSON (as AWS users report it, and LocalStack's AWS-validated
/// `test_create_role_with_malformed_assume_role_policy_document` recorded it).
pub(crate) const INVALID_JSON: &str = "This policy contains invalid Json";
pub(crate) const VERSION_TOO_OLD: &str = "Policy document must be version 2012-10-17 or greater.";
pub(crate) const LEGACY: &str = "The policy failed legacy parsing";
pub(crate) const SID_FORMAT: &str = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*";
pub(crate) const SID_UNIQUE: &str = "Statement IDs (SID) in a single policy must be unique.";
pub(crate) const NO_ACTIONS: &str = "Policy statement must contain actions.";
pub(crate) const NO_RESOURCES: &str = "Policy statement must contain resources.";
pub(crate) const NO_VENDOR: &str =
    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
pub(crate) const ONE_COLON: &str = "Actions/Condition can contain only one colon.";
pub(crate) const HAS_PRINCIPAL: &str = "Policy document should not specify a principal.";
pub(crate) const NO_PRINCIPAL: &str = "Missing required field Principal";
pub(crate) const TRUST_RESOURCE: &str = "Has prohibited field Resource";
pub(crate) const TRUST_ACTIONS: &str = "AssumeRole policy may only specify STS AssumeRole actions.";
pub(crate) const TRUST_STAR: &str =
    "AssumeRolepolicy contained an invalid principal: \"STAR\":\"*\".";

const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];
const IAM_PATHS: [&str; 13] = [
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// Options for [`parse_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Refuse documents without `"Version": "2012-10-17"`, as IAM does for
    /// managed policies (`CreatePolicy`, `CreatePolicyVersion`) and Organizations
    /// for SCPs. Inline and trust policies may leave it out (it then defaults to
    /// 2008-10-17) or give 2008-10-17.
    pub require_current_version: bool,
}

impl ParseOptions {
    /// Options for a managed policy (`CreatePolicy`, `CreatePolicyVersion`) or
    /// an SCP ("Every SCP must specify the Version element", Organizations
    /// User Guide, SCP syntax).
    pub fn managed() -> Self {
        Self {
            require_current_version: true,
        }
    }
}

/// Parses and validates a policy document of the given kind, as IAM does when
/// the document is stored. The error is the first one IAM would report.
pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
    parse_with(text, kind, ParseOptions::default())
}

/// [`parse`] with options.
pub fn parse_with(
    text: &str,
    kind: PolicyKind,
    options: ParseOptions,
) -> Result<Policy, PolicyError> {
    let doc = document(text, kind)?;
    let (checker, raw) = validate(text, &doc, kind, options)?;
    Ok(checker.build(&raw))
}

/// Validation straight into a compiled policy, skipping the owned model.
pub(crate) fn parse_compiled(text: &str, kind: PolicyKind) -> Result<CompiledPolicy, PolicyError> {
    let doc = document(text, kind)?;
    let (_, raw) = validate(text, &doc, kind, ParseOptions::default())?;
    let variables = raw.version.as_ref().map(|v| v.value) == Some(Version::V2012_10_17);
    let mut scratch = crate::compile::Scratch::default();
    let statements = raw
        .statements
        .iter()
        .map(|st| {
            let conditions = raw
                .conditions
                .get(st.conditions.clone())
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    CompiledCondition::from_parts(
                        c.operator,
                        c.key,
                        c.values.iter().map(|v| scalar_text(v).0),
                        variables,
                    )
                })
                .collect();
            CompiledStatement::from_parts(
                StatementParts {
                    sid: st.sid.map(|s| s.value),
                    effect: if st.effect.value == "Allow" {
                        Effect::Allow
                    } else {
                        Effect::Deny
                    },
                    not_action: st.action.as_ref().is_some_and(|a| a.negated),
                    actions: st.action.iter().flat_map(|a| a.texts()),
                    resources: st.resource.as_ref().map(|r| (r.negated, r.texts())),
                    principals: st.principal.as_ref().map(|p| {
                        crate::compile::Principals::from_entries(
                            p.negated,
                            p.star,
                            p.entries.iter().map(|(kind, v)| (*kind, v.value)),
                        )
                    }),
                    conditions,
                },
                variables,
                &mut scratch,
            )
        })
        .collect();
    Ok(CompiledPolicy::from_statements(kind, statements))
}

fn document(text: &str, kind: PolicyKind) -> Result<json::Doc<'_>, PolicyError> {
    if text.len() > MAX_DOCUMENT_LEN {
        return Err(PolicyError::malformed(SYNTAX).with_detail(format!(
            "the document is longer than {MAX_DOCUMENT_LEN} bytes"
        )));
    }
    json::parse(text).map_err(|e| {
        PolicyError::malformed(if kind == PolicyKind::Trust {
            INVALID_JSON
        } else {
            SYNTAX
        })
        .with_detail(e.detail)
        .at(text, e.offset)
    })
}

fn validate<'t>(
    text: &'t str,
    doc: &'t Doc<'t>,
    kind: PolicyKind,
    options: ParseOptions,
) -> Result<(Checker<'t>, RawPolicy<'t>), PolicyError> {
    let raw = grammar(doc).map_err(|e| e.into_error(text))?;
    let checker = Checker { text, kind };
    checker.check(&raw, options)?;
    Ok((checker, raw))
}

/// The count IAM applies quotas to: every character except whitespace.
pub fn policy_size(text: &str) -> usize {
    if text.is_ascii() {
        // ASCII whitespace as `char::is_whitespace` defines it (which includes \x0B).
        return text
            .bytes()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r'))
            .count();
    }
    text.chars().filter(|c| !c.is_whitespace()).count()
}

// ---------------------------------------------------------------- raw form
//
// The raw form borrows from the JSON document: lists are slices of its nodes,
// so checking a policy allocates almost nothing.

#[derive(Debug, Clone, Copy)]
struct Spanned<T> {
    value: T,
    span: Span,
}

#[derive(Debug)]
struct RawPolicy<'a> {
    version: Option<Spanned<Version>>,
    id: Option<&'a str>,
    statements: Vec<RawStatement<'a>>,
    /// The conditions of every statement, each statement's contiguous.
    conditions: Vec<RawCondition<'a>>,
}

#[derive(Debug)]
struct RawStatement<'a> {
    span: Span,
    sid: Option<Spanned<&'a str>>,
    effect: Spanned<&'a str>,
    action: Option<RawList<'a>>,
    resource: Option<RawList<'a>>,
    principal: Option<RawPrincipal<'a>>,
    /// Range in [`RawPolicy::conditions`].
    conditions: std::ops::Range<usize>,
}

#[derive(Debug)]
struct RawList<'a> {
    negated: bool,
    span: Span,
    /// Whether the element was written as a single string rather than an array.
    single: bool,
    /// String nodes only (checked by the grammar).
    items: &'a [Node<'a>],
}

impl<'a> RawList<'a> {
    fn iter(&self) -> impl Iterator<Item = Spanned<&'a str>> + Clone + 'a {
        self.items.iter().map(|n| Spanned {
            value: n.as_str().unwrap_or_default(),
            span: n.span,
        })
    }

    fn texts(&self) -> impl Iterator<Item = &'a str> + Clone + 'a {
        self.items.iter().map(|n| n.as_str().unwrap_or_default())
    }
}

#[derive(Debug)]
struct RawPrincipal<'a> {
    negated: bool,
    span: Span,
    star: bool,
    /// (type as written, value)
    entries: Vec<(&'a str, Spanned<&'a str>)>,
}

#[derive(Debug)]
struct RawCondition<'a> {
    operator: ConditionOperator,
    key: &'a str,
    /// String, number or boolean nodes only (checked by the grammar).
    values: &'a [Node<'a>],
}

/// A condition value's text, and whether it was a JSON boolean (only valid
/// where IAM accepts one; kept for the legacy date check).
fn scalar_text<'a>(node: &'a Node<'a>) -> (&'a str, bool) {
    match &node.value {
        Value::String(s) => (s, false),
        Value::Number(n) => (n, false),
        Value::Bool(b) => (if *b { "true" } else { "false" }, true),
        _ => ("", false),
    }
}

struct GrammarError {
    offset: usize,
    detail: Cow<'static, str>,
}

impl GrammarError {
    fn at(span: Span, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            offset: span.start,
            detail: detail.into(),
        }
    }

    fn into_error(self, text: &str) -> PolicyError {
        PolicyError::malformed(SYNTAX)
            .with_detail(self.detail)
            .at(text, self.offset)
    }
}

type GResult<T> = Result<T, GrammarError>;

fn members<'a>(
    doc: &'a Doc<'a>,
    node: &'a Node<'a>,
    what: &'static str,
) -> GResult<&'a [Member<'a>]> {
    match &node.value {
        Value::Object(_) => Ok(doc.members(node)),
        _ => Err(GrammarError::at(
            node.span,
            format!("{what} must be an object, not {}", node.type_name()),
        )),
    }
}

fn string<'a>(node: &'a Node<'a>, what: &'static str) -> GResult<Spanned<&'a str>> {
    match &node.value {
        Value::String(s) => Ok(Spanned {
            value: s,
            span: node.span,
        }),
        _ => Err(GrammarError::at(
            node.span,
            format!("`{what}` must be a string, not {}", node.type_name()),
        )),
    }
}

fn string_list<'a>(
    doc: &'a Doc<'a>,
    node: &'a Node<'a>,
    what: &'static str,
    negated: bool,
) -> GResult<RawList<'a>> {
    let (single, items) = match &node.value {
        Value::String(_) => (true, std::slice::from_ref(node)),
        Value::Array(_) => {
            let items = doc.items(node);
            for n in items {
                string(n, what)?;
            }
            (false, items)
        }
        _ => {
            return Err(GrammarError::at(
                node.span,
                format!(
                    "`{what}` must be a string or an array of strings, not {}",
                    node.type_name()
                ),
            ));
        }
    };
    Ok(RawList {
        negated,
        span: node.span,
        single,
        items,
    })
}

fn grammar<'a>(doc: &'a Doc<'a>) -> GResult<RawPolicy<'a>> {
    let root = &doc.root;
    let top = members(doc, root, "the policy document")?;
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for m in top {
        match &*m.key {
            "Version" => {
                let s = string(&m.value, "Version")?;
                let v = match s.value {
                    "2012-10-17" => Version::V2012_10_17,
                    "2008-10-17" => Version::V2008_10_17,
                    other => {
                        return Err(GrammarError::at(
                            s.span,
                            format!(
                                "`Version` must be `2012-10-17` or `2008-10-17`, not `{other}`"
                            ),
                        ));
                    }
                };
                version = Some(Spanned {
                    value: v,
                    span: s.span,
                });
            }
            "Id" => id = Some(string(&m.value, "Id")?.value),
            "Statement" => statement = Some(&m.value),
            other => {
                return Err(GrammarError::at(
                    m.key_span,
                    format!("unknown element `{other}` in the policy document"),
                ));
            }
        }
    }
    let statement = statement.ok_or_else(|| {
        GrammarError::at(root.span, "the policy document has no `Statement` element")
    })?;
    let nodes: &[Node<'a>] = match &statement.value {
        Value::Object(_) => std::slice::from_ref(statement),
        Value::Array(_) => doc.items(statement),
        _ => {
            return Err(GrammarError::at(
                statement.span,
                "`Statement` must be an object or an array of objects",
            ));
        }
    };
    if nodes.is_empty() {
        return Err(GrammarError::at(statement.span, "`Statement` is empty"));
    }
    let mut statements = Vec::with_capacity(nodes.len());
    let mut conditions = Vec::new();
    for node in nodes {
        statements.push(statement_grammar(doc, node, &mut conditions)?);
    }
    Ok(RawPolicy {
        version,
        id,
        statements,
        conditions,
    })
}

fn statement_grammar<'a>(
    doc: &'a Doc<'a>,
    node: &'a Node<'a>,
    all_conditions: &mut Vec<RawCondition<'a>>,
) -> GResult<RawStatement<'a>> {
    let fields = members(doc, node, "a statement")?;
    let mut sid = None;
    let mut effect = None;
    let mut action = None;
    let mut resource = None;
    let mut principal = None;
    let mut conditions = all_conditions.len()..all_conditions.len();
    for m in fields {
        let key = &*m.key;
        let twice = |present: bool, other: &'static str| {
            if present {
                Err(GrammarError::at(
                    m.key_span,
                    format!("a statement cannot have both `{key}` and `{other}`"),
                ))
            } else {
                Ok(())
            }
        };
        match key {
            "Sid" => sid = Some(string(&m.value, "Sid")?),
            "Effect" => {
                let e = string(&m.value, "Effect")?;
                if !e.value.eq_ignore_ascii_case("Allow") && !e.value.eq_ignore_ascii_case("Deny") {
                    return Err(GrammarError::at(
                        e.span,
                        format!("`Effect` must be `Allow` or `Deny`, not `{}`", e.value),
                    ));
                }
                effect = Some(e);
            }
            "Action" | "NotAction" => {
                twice(
                    action.is_some(),
                    if key == "Action" {
                        "NotAction"
                    } else {
                        "Action"
                    },
                )?;
                action = Some(string_list(
                    doc,
                    &m.value,
                    if key == "Action" {
                        "Action"
                    } else {
                        "NotAction"
                    },
                    key == "NotAction",
                )?);
            }
            "Resource" | "NotResource" => {
                twice(
                    resource.is_some(),
                    if key == "Resource" {
                        "NotResource"
                    } else {
                        "Resource"
                    },
                )?;
                resource = Some(string_list(
                    doc,
                    &m.value,
                    if key == "Resource" {
                        "Resource"
                    } else {
                        "NotResource"
                    },
                    key == "NotResource",
                )?);
            }
            "Principal" | "NotPrincipal" => {
                twice(
                    principal.is_some(),
                    if key == "Principal" {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    },
                )?;
                principal = Some(principal_grammar(doc, &m.value, key == "NotPrincipal")?);
            }
            "Condition" => {
                // A repeated `Condition` is refused by the JSON reader, so the
                // statement's conditions are the ones pushed now.
                let first = all_conditions.len();
                condition_grammar(doc, &m.value, all_conditions)?;
                conditions = first..all_conditions.len();
            }
            other => {
                return Err(GrammarError::at(
                    m.key_span,
                    format!("unknown element `{other}` in a statement"),
                ));
            }
        }
    }
    let effect = effect
        .ok_or_else(|| GrammarError::at(node.span, "the statement has no `Effect` element"))?;
    Ok(RawStatement {
        span: node.span,
        sid,
        effect,
        action,
        resource,
        principal,
        conditions,
    })
}

fn principal_grammar<'a>(
    doc: &'a Doc<'a>,
    node: &'a Node<'a>,
    negated: bool,
) -> GResult<RawPrincipal<'a>> {
    let what = if negated { "NotPrincipal" } else { "Principal" };
    match &node.value {
        Value::String(s) if s == "*" => Ok(RawPrincipal {
            negated,
            span: node.span,
            star: true,
            entries: Vec::new(),
        }),
        Value::Object(_) => {
            let mut entries = Vec::new();
            for m in doc.members(node) {
                if !matches!(&*m.key, "AWS" | "Service" | "Federated" | "CanonicalUser") {
                    return Err(GrammarError::at(
                        m.key_span,
                        format!("unknown principal type `{}`", m.key),
                    ));
                }
                let list = string_list(doc, &m.value, what, false)?;
                for item in list.iter() {
                    entries.push((&*m.key, item));
                }
            }
            if entries.is_empty() {
                return Err(GrammarError::at(
                    node.span,
                    format!("`{what}` names no principal"),
                ));
            }
            Ok(RawPrincipal {
                negated,
                span: node.span,
                star: false,
                entries,
            })
        }
        _ => Err(GrammarError::at(
            node.span,
            format!("`{what}` must be `\"*\"` or an object of principal types"),
        )),
    }
}

fn condition_grammar<'a>(
    doc: &'a Doc<'a>,
    node: &'a Node<'a>,
    out: &mut Vec<RawCondition<'a>>,
) -> GResult<()> {
    for block in members(doc, node, "`Condition`")? {
        let keys = members(doc, &block.value, "a condition operator's value")?;
        let operator = ConditionOperator::parse(&block.key);
        let first = out.len();
        for k in keys {
            let values = match &k.value.value {
                Value::Array(_) => doc.items(&k.value),
                _ => std::slice::from_ref(&k.value),
            };
            for item in values {
                if !matches!(
                    item.value,
                    Value::String(_) | Value::Number(_) | Value::Bool(_)
                ) {
                    return Err(GrammarError::at(
                        item.span,
                        format!(
                            "condition values must be strings, numbers or booleans, not {}",
                            item.type_name()
                        ),
                    ));
                }
            }
            if let Some(operator) = operator {
                out.push(RawCondition {
                    operator,
                    key: &k.key,
                    values,
                });
            }
        }
        // IAM ignores an unknown operator whose block is empty.
        if operator.is_none() && !keys.is_empty() {
            out.truncate(first);
            return Err(GrammarError::at(
                block.key_span,
                format!("unknown condition operator `{}`", block.key),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- checks

struct Checker<'t> {
    text: &'t str,
    kind: PolicyKind,
}

impl Checker<'_> {
    fn fail(&self, message: impl Into<Cow<'static, str>>, span: Span) -> PolicyError {
        PolicyError::malformed(message).at(self.text, span.start)
    }

    fn check(&self, raw: &RawPolicy<'_>, options: ParseOptions) -> Result<(), PolicyError> {
        if options.require_current_version
            && raw.version.as_ref().map(|v| v.value) != Some(Version::V2012_10_17)
        {
            let span = raw.version.as_ref().map_or(Span::default(), |v| v.span);
            return Err(self.fail(VERSION_TOO_OLD, span));
        }
        self.legacy(raw)?;
        self.sids(raw)?;
        for st in &raw.statements {
            if !present(st.action.as_ref()) {
                return Err(self.fail(NO_ACTIONS, st.span));
            }
        }
        // Before the resource format and action prefix errors: IAM answers
        // `{"Effect": "Allow", "Action": "invalid"}` with this (LocalStack's
        // recording of CreatePolicy, invalid-29).
        if needs_resources(self.kind) {
            for st in &raw.statements {
                if !present(st.resource.as_ref()) {
                    return Err(self.fail(NO_RESOURCES, st.span));
                }
            }
        }
        if let Some((message, span)) = resource_error(raw) {
            return Err(self.fail(message, span));
        }
        for st in &raw.statements {
            if let Some(list) = &st.action {
                for a in list.iter() {
                    if let Some(message) = action_error(a.value) {
                        return Err(self.fail(message, a.span));
                    }
                }
            }
        }
        self.per_kind(raw)
    }

    fn legacy(&self, raw: &RawPolicy<'_>) -> Result<(), PolicyError> {
        for st in &raw.statements {
            if st.effect.value != "Allow" && st.effect.value != "Deny" {
                return Err(self
                    .fail(LEGACY, st.effect.span)
                    .with_detail("`Effect` is case-sensitive: write `Allow` or `Deny`"));
            }
            for c in raw
                .conditions
                .get(st.conditions.clone())
                .unwrap_or_default()
            {
                if !c.operator.operator.is_date() {
                    continue;
                }
                for v in c.values {
                    let (text, boolean) = scalar_text(v);
                    if boolean || values::date(text).is_none() {
                        return Err(self
                            .fail(LEGACY, v.span)
                            .with_detail(format!("`{text}` is not a date")));
                    }
                }
            }
        }
        // Resource shape, checked only while no resource format error is pending
        // (IAM reports those later, with the resource quoted).
        let mut pending = false;
        for negated in [false, true] {
            for st in &raw.statements {
                let Some(list) = st.resource.as_ref().filter(|l| l.negated == negated) else {
                    continue;
                };
                pending = pending || list.texts().any(|r| !resource_format_ok(r));
                if pending {
                    continue;
                }
                for r in list.iter() {
                    if !legacy_resource(r.value, list.single) {
                        return Err(self
                            .fail(LEGACY, r.span)
                            .with_detail(format!("`{}` is not a well-formed ARN", r.value)));
                    }
                }
            }
        }
        Ok(())
    }

    fn sids(&self, raw: &RawPolicy<'_>) -> Result<(), PolicyError> {
        // Resource policies belong to other services, which allow any Sid text.
        if self.kind != PolicyKind::Resource {
            for st in &raw.statements {
                if let Some(sid) = &st.sid
                    && !sid.value.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(self.fail(SID_FORMAT, sid.span));
                }
            }
        }
        // Quadratic, like any list search, but without building a list:
        // policies have tens of statements.
        for (i, st) in raw.statements.iter().enumerate() {
            if let Some(sid) = &st.sid
                && !sid.value.is_empty()
                && raw
                    .statements
                    .get(..i)
                    .unwrap_or_default()
                    .iter()
                    .any(|earlier| earlier.sid.is_some_and(|e| e.value == sid.value))
            {
                return Err(self.fail(SID_UNIQUE, sid.span));
            }
        }
        Ok(())
    }

    fn per_kind(&self, raw: &RawPolicy<'_>) -> Result<(), PolicyError> {
        match self.kind {
            PolicyKind::Identity
            | PolicyKind::Session
            | PolicyKind::Boundary
            | PolicyKind::ServiceControl => {
                for st in &raw.statements {
                    if let Some(p) = &st.principal {
                        return Err(self.fail(HAS_PRINCIPAL, p.span));
                    }
                }
            }
            PolicyKind::Trust => {
                for st in &raw.statements {
                    if st.principal.is_none() {
                        return Err(self.fail(NO_PRINCIPAL, st.span));
                    }
                }
                for st in &raw.statements {
                    if let Some(r) = &st.resource {
                        return Err(self.fail(TRUST_RESOURCE, r.span));
                    }
                }
                for st in &raw.statements {
                    if let Some(list) = st.action.as_ref().filter(|l| !l.negated) {
                        for a in list.iter() {
                            let v = a.value;
                            let sts = v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("sts:"));
                            if !(sts || v == "*") {
                                return Err(self.fail(TRUST_ACTIONS, a.span));
                            }
                        }
                    }
                }
                for st in &raw.statements {
                    if let Some(p) = &st.principal
                        && p.star
                    {
                        return Err(self.fail(TRUST_STAR, p.span));
                    }
                }
                self.principal_values(raw)?;
            }
            PolicyKind::Resource => {
                for st in &raw.statements {
                    if st.principal.is_none() {
                        return Err(self.fail(NO_PRINCIPAL, st.span));
                    }
                }
                for st in &raw.statements {
                    if !present(st.resource.as_ref()) {
                        return Err(self.fail(NO_RESOURCES, st.span));
                    }
                }
                self.principal_values(raw)?;
            }
        }
        Ok(())
    }

    fn principal_values(&self, raw: &RawPolicy<'_>) -> Result<(), PolicyError> {
        for st in &raw.statements {
            let Some(p) = &st.principal else { continue };
            if p.negated && st.effect.value != "Deny" {
                return Err(self
                    .fail(SYNTAX, p.span)
                    .with_detail("`NotPrincipal` can only be used with `\"Effect\": \"Deny\"`"));
            }
            for (kind, value) in &p.entries {
                let ok = match *kind {
                    "AWS" => valid_aws_principal(value.value),
                    "Service" => {
                        !value.value.is_empty()
                            && !value.value.contains(['*', '?'])
                            && !value.value.contains(char::is_whitespace)
                    }
                    _ => !value.value.is_empty(),
                };
                if !ok {
                    return Err(self.fail(
                        format!(
                            "Invalid principal in policy: \"{kind}\":\"{}\"",
                            value.value
                        ),
                        value.span,
                    ));
                }
            }
        }
        Ok(())
    }

    fn build(&self, raw: &RawPolicy<'_>) -> Policy {
        let version_given = raw.version.is_some();
        let version = raw
            .version
            .as_ref()
            .map_or(Version::V2008_10_17, |v| v.value);
        let statements = raw
            .statements
            .iter()
            .map(|st| Statement {
                sid: st.sid.map(|s| s.value.to_owned()),
                effect: if st.effect.value == "Allow" {
                    Effect::Allow
                } else {
                    Effect::Deny
                },
                action: st.action.as_ref().map_or_else(
                    || Patterns {
                        negated: false,
                        values: Vec::new(),
                    },
                    to_patterns,
                ),
                resource: st.resource.as_ref().map(to_patterns),
                principal: st.principal.as_ref().map(|p| Principals {
                    negated: p.negated,
                    entries: if p.star {
                        vec![PrincipalEntry::Everyone]
                    } else {
                        p.entries
                            .iter()
                            .map(|(kind, v)| principal_entry(kind, v.value.to_owned()))
                            .collect()
                    },
                }),
                conditions: raw
                    .conditions
                    .get(st.conditions.clone())
                    .unwrap_or_default()
                    .iter()
                    .map(|c| Condition {
                        operator: c.operator,
                        key: c.key.to_owned(),
                        values: c
                            .values
                            .iter()
                            .map(|v| scalar_text(v).0.to_owned())
                            .collect(),
                    })
                    .collect(),
                span: (st.span.start, st.span.end),
            })
            .collect();
        Policy {
            kind: self.kind,
            version,
            version_given,
            id: raw.id.map(str::to_owned),
            statements,
            size: policy_size(self.text),
        }
    }
}

fn principal_entry(kind: &str, v: String) -> PrincipalEntry {
    match kind {
        "AWS" => PrincipalEntry::Aws(v),
        "Service" => PrincipalEntry::Service(v),
        "Federated" => PrincipalEntry::Federated(v),
        _ => PrincipalEntry::CanonicalUser(v),
    }
}

fn to_patterns(list: &RawList<'_>) -> Patterns {
    Patterns {
        negated: list.negated,
        values: list.texts().map(str::to_owned).collect(),
    }
}

/// Identity-like policies must name resources in every statement; trust
/// policies must not, and resource policies are checked per kind later.
fn needs_resources(kind: PolicyKind) -> bool {
    matches!(
        kind,
        PolicyKind::Identity
            | PolicyKind::Session
            | PolicyKind::Boundary
            | PolicyKind::ServiceControl
    )
}

/// The element is there and, when an array, not empty.
fn present(list: Option<&RawList<'_>>) -> bool {
    list.is_some_and(|l| l.single || !l.items.is_empty())
}

/// IAM's legacy ARN shape check. A lone string and array items are checked
/// slightly differently, as IAM does.
fn legacy_resource(original: &str, single: bool) -> bool {
    with_stripped(original, |r| {
        if r == "*" {
            return true;
        }
        let colons = r.bytes().filter(|&b| b == b':').count();
        if colons < 5 && r.as_bytes().windows(2).any(|w| w == b"::") {
            return false;
        }
        if single {
            // The third colon-separated component exists and is not empty.
            split_colon(r)
                .and_then(|(_, rest)| split_colon(rest))
                .is_some_and(|(_, third)| !third.is_empty() && !third.starts_with(':'))
        } else {
            r.len() >= 3
        }
    })
}

/// The error IAM reports for a resource in the wrong format, if any. For each
/// element, IAM checks every statement's `Resource` and then every statement's
/// `NotResource`, array items in reverse sorted order, and reports the last error.
fn resource_error(raw: &RawPolicy<'_>) -> Option<(String, Span)> {
    // The common case, no error at all, needs neither sorting nor messages.
    let any = raw.statements.iter().any(|st| {
        st.resource
            .as_ref()
            .is_some_and(|l| l.texts().any(|r| !resource_format_ok(r)))
    });
    if !any {
        return None;
    }
    let mut last = None;
    for negated in [false, true] {
        for st in &raw.statements {
            let Some(list) = st.resource.as_ref().filter(|l| l.negated == negated) else {
                continue;
            };
            let mut items: Vec<Spanned<&str>> = list.iter().collect();
            if !list.single {
                items.sort_by(|a, b| b.value.cmp(a.value));
            }
            for r in items {
                if let Some(message) = resource_format(r.value) {
                    last = Some((message, r.span));
                }
            }
        }
    }
    last
}

/// `text` split at its first colon (a byte search: cheaper than a `char`
/// pattern on the short strings of a policy).
fn split_colon(text: &str) -> Option<(&str, &str)> {
    let i = text.bytes().position(|b| b == b':')?;
    Some((text.get(..i)?, text.get(i + 1..)?))
}

/// Calls `f` with the resource in which each `${...}` variable is replaced by
/// a placeholder, so that colons inside variable names (`${aws:PrincipalAccount}`)
/// do not count as ARN separators in the shape checks. Usual resources are
/// rewritten on the stack.
fn with_stripped<R>(r: &str, f: impl FnOnce(&str) -> R) -> R {
    if !crate::template::has_variable(r) {
        return f(r);
    }
    let mut buf = [0u8; 256];
    match strip_variables_into(r, &mut buf) {
        Some(stripped) => f(stripped),
        None => f(&without_variables(r)),
    }
}

/// [`without_variables`] into `buf`; `None` when it does not fit.
fn strip_variables_into<'b>(r: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    fn append(buf: &mut [u8], len: &mut usize, bytes: &[u8]) -> Option<()> {
        buf.get_mut(*len..*len + bytes.len())?
            .copy_from_slice(bytes);
        *len += bytes.len();
        Some(())
    }
    let mut len = 0;
    let mut rest = r.as_bytes();
    while let Some(start) = rest.windows(2).position(|w| w == b"${") {
        let (before, after) = rest.split_at_checked(start)?;
        append(buf, &mut len, before)?;
        match after.iter().position(|&b| b == b'}') {
            Some(end) => {
                append(buf, &mut len, b"v")?;
                rest = after.get(end + 1..)?;
            }
            None => {
                append(buf, &mut len, after)?;
                rest = &[];
            }
        }
    }
    append(buf, &mut len, rest)?;
    // Cuts fall on ASCII bytes, so the text stays UTF-8.
    std::str::from_utf8(buf.get(..len)?).ok()
}

/// The resource with each `${...}` variable replaced by a placeholder (see
/// [`with_stripped`]).
fn without_variables(r: &str) -> Cow<'_, str> {
    if !crate::template::has_variable(r) {
        return Cow::Borrowed(r);
    }
    let mut out = String::with_capacity(r.len());
    let mut rest = r;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        match after.find('}') {
            Some(end) => {
                out.push('v');
                rest = after.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// What is wrong with a resource's format; the message is built from it only
/// when an error is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResourceProblem {
    NotArn,
    Partition,
    NoVendor,
    IamRegion,
    S3Region,
    IamPath,
}

/// The format check, on the resource with its variables stripped.
fn resource_problem(r: &str) -> Option<ResourceProblem> {
    let Some((_, rest)) = split_colon(r) else {
        return Some(ResourceProblem::NotArn);
    };
    let (partition, rest, found) = match split_colon(rest) {
        Some((p, rest)) => (p, rest, true),
        None => (rest, "", false),
    };
    if partition != "*" && !PARTITIONS.contains(&partition) {
        return Some(ResourceProblem::Partition);
    }
    if !found {
        return Some(ResourceProblem::NoVendor);
    }
    let (service, after_service) = split_colon(rest).unwrap_or((rest, ""));
    let after_region = split_colon(after_service).map_or("", |(_, a)| a);
    let resource_id = split_colon(after_region).map_or("", |(_, a)| a);
    let has_region = !after_service.starts_with(':');
    if service == "iam" && has_region {
        return Some(ResourceProblem::IamRegion);
    }
    if service == "s3" && has_region && !resource_id.starts_with("accesspoint/") {
        return Some(ResourceProblem::S3Region);
    }
    if service == "iam"
        && resource_id != "*"
        && resource_id != "root"
        && !IAM_PATHS.iter().any(|p| resource_id.starts_with(p))
    {
        return Some(ResourceProblem::IamPath);
    }
    None
}

fn resource_format_ok(original: &str) -> bool {
    original == "*" || with_stripped(original, |r| resource_problem(r).is_none())
}

fn resource_format(original: &str) -> Option<String> {
    if original == "*" {
        return None;
    }
    with_stripped(original, |r| {
        Some(match resource_problem(r)? {
            ResourceProblem::NotArn => {
                format!("Resource {original} must be in ARN format or \"*\".")
            }
            ResourceProblem::Partition => partition_message(r),
            ResourceProblem::NoVendor => {
                "Resource vendor must be fully qualified and cannot contain regexes.".into()
            }
            ResourceProblem::IamRegion => {
                format!("IAM resource {original} cannot contain region information.")
            }
            ResourceProblem::S3Region => {
                format!("Resource {original} can not contain region information.")
            }
            ResourceProblem::IamPath => format!(
                "IAM resource path must either be \"*\", root, or start with {}.",
                IAM_PATHS.join(", ")
            ),
        })
    })
}

/// IAM's message for an unknown partition quotes the resource rebuilt from its parts.
fn partition_message(r: &str) -> String {
    let rest = r.split_once(':').map_or("", |(_, rest)| rest);
    let (partition, rest) = rest.split_once(':').unwrap_or((rest, ""));
    let rem: Vec<&str> = rest.split(':').collect();
    let get = |i: usize| rem.get(i).copied().unwrap_or("*");
    let a1 = if rem.len() == 1 && get(0).is_empty() {
        "*"
    } else {
        get(0)
    };
    let a4 = if rem.len() > 3 {
        rem.get(3..).map_or_else(|| "*".to_owned(), |r| r.join(":"))
    } else {
        "*".to_owned()
    };
    format!(
        "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{a1}:{}:{}:{a4}\".",
        get(1),
        get(2)
    )
}

fn action_error(action: &str) -> Option<String> {
    let Some((vendor, rest)) = split_colon(action) else {
        return (action != "*").then(|| NO_VENDOR.to_owned());
    };
    if rest.bytes().any(|b| b == b':') {
        return Some(ONE_COLON.to_owned());
    }
    if vendor != "*"
        && !vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Some(format!("Vendor {vendor} is not valid"));
    }
    None
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `*`, an account id, a unique id, or an IAM/STS principal ARN without wildcards.
pub(crate) fn valid_aws_principal(p: &str) -> bool {
    if p == "*" || is_account_id(p) {
        return true;
    }
    // Unique ids (AIDA..., AROA...) appear when a named principal was deleted.
    if p.len() >= 16
        && p.starts_with('A')
        && p.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return true;
    }
    if p.contains(['*', '?']) {
        return false;
    }
    let mut parts = p.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    if !PARTITIONS.contains(&partition) || !is_account_id(account) {
        return false;
    }
    let named = |prefix: &str| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/'))
    };
    match service {
        "iam" => resource == "root" || named("user/") || named("role/"),
        "sts" => {
            named("federated-user/")
                || resource
                    .strip_prefix("assumed-role/")
                    .and_then(|r| r.split_once('/'))
                    .is_some_and(|(role, session)| !role.is_empty() && !session.is_empty())
        }
        _ => false,
    }
}
