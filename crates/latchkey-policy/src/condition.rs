//! Compiled conditions: policy values parsed once into the type their operator
//! compares, then tested against the request context.

use crate::context::Context;
use crate::glob::{Tok, match_tokens, wild_tok};
use crate::model::{Condition, ConditionOperator, Operator, SetQualifier};
use crate::template::Template;
use crate::values::{self, Cidr};

#[derive(Debug, Clone)]
enum Str {
    Plain(Box<str>),
    Template(Template),
}

#[derive(Debug, Clone)]
enum Values {
    Str(Box<[Str]>),
    /// Values of the case-insensitive operators, lower-cased when plain.
    Folded(Box<[Str]>),
    Num(Box<[Option<f64>]>),
    Date(Box<[Option<i128>]>),
    Bool(Box<[Option<bool>]>),
    Binary(Box<[Option<Box<[u8]>>]>),
    Ip(Box<[Option<Cidr>]>),
}

/// The positive comparison behind an operator; negated operators are its complement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Equals,
    EqualsIgnoreCase,
    Like,
    NumEq,
    NumLt,
    NumLe,
    NumGt,
    NumGe,
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledCondition {
    operator: ConditionOperator,
    negated: bool,
    test: Test,
    key: Box<str>,
    values: Values,
}

fn test_of(op: Operator) -> Test {
    use Operator as O;
    match op {
        O::StringEquals | O::StringNotEquals => Test::Equals,
        O::StringEqualsIgnoreCase | O::StringNotEqualsIgnoreCase => Test::EqualsIgnoreCase,
        O::StringLike | O::StringNotLike => Test::Like,
        O::NumericEquals | O::NumericNotEquals | O::DateEquals | O::DateNotEquals => Test::NumEq,
        O::NumericLessThan | O::DateLessThan => Test::NumLt,
        O::NumericLessThanEquals | O::DateLessThanEquals => Test::NumLe,
        O::NumericGreaterThan | O::DateGreaterThan => Test::NumGt,
        O::NumericGreaterThanEquals | O::DateGreaterThanEquals => Test::NumGe,
        O::Bool => Test::Bool,
        O::BinaryEquals => Test::Binary,
        O::IpAddress | O::NotIpAddress => Test::Ip,
        O::ArnEquals | O::ArnLike | O::ArnNotEquals | O::ArnNotLike => Test::Arn,
        O::Null => Test::Null,
    }
}

/// `str::to_lowercase`, boxed with a single allocation in the usual ASCII case.
fn lower_box(s: &str) -> Box<str> {
    if s.is_ascii() {
        let mut b: Box<str> = s.into();
        b.make_ascii_lowercase();
        b
    } else {
        s.to_lowercase().into()
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

impl CompiledCondition {
    pub(crate) fn new(c: &Condition, variables: bool) -> Self {
        Self::from_parts(
            c.operator,
            &c.key,
            c.values.iter().map(String::as_str),
            variables,
        )
    }

    pub(crate) fn from_parts<'v>(
        operator: ConditionOperator,
        key: &str,
        values: impl Iterator<Item = &'v str>,
        variables: bool,
    ) -> Self {
        let op = operator.operator;
        let test = test_of(op);
        let str_of = |fold: bool, v: &str| -> Str {
            if !(variables && op.takes_variables() && crate::template::has_variable(v)) {
                return if fold {
                    Str::Plain(lower_box(v))
                } else {
                    Str::Plain(v.into())
                };
            }
            let t = Template::parse(v, true);
            match t.as_plain() {
                Some(p) if fold => Str::Plain(lower_box(p)),
                Some(p) => Str::Plain(p.into()),
                None => Str::Template(t),
            }
        };
        let compiled = match test {
            Test::Equals | Test::Like | Test::Arn => {
                Values::Str(values.map(|v| str_of(false, v)).collect())
            }
            Test::EqualsIgnoreCase => Values::Folded(values.map(|v| str_of(true, v)).collect()),
            _ if op.is_date() => Values::Date(values.map(values::date).collect()),
            Test::NumEq | Test::NumLt | Test::NumLe | Test::NumGt | Test::NumGe => {
                Values::Num(values.map(values::number).collect())
            }
            Test::Bool | Test::Null => Values::Bool(values.map(parse_bool).collect()),
            Test::Binary => Values::Binary(
                values
                    .map(|v| values::base64(v).map(Vec::into_boxed_slice))
                    .collect(),
            ),
            Test::Ip => Values::Ip(values.map(Cidr::parse).collect()),
        };
        Self {
            operator,
            negated: op.is_negated(),
            test,
            key: lower_box(key),
            values: compiled,
        }
    }

    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let present = ctx.get_lower(&self.key).filter(|v| !v.is_empty());
        if self.test == Test::Null {
            let absent = present.is_none();
            let Values::Bool(wanted) = &self.values else {
                return false;
            };
            return wanted.contains(&Some(absent));
        }
        let Some(request_values) = present else {
            if self.operator.if_exists {
                return true;
            }
            return match self.operator.qualifier {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                // A missing key matches no value, so only negated operators hold.
                SetQualifier::None => self.negated,
            };
        };
        let value_ok = |v: &str| self.any_value_matches(v, ctx) != self.negated;
        let mut each = request_values.iter().map(|v| &**v);
        match self.operator.qualifier {
            SetQualifier::ForAllValues => each.all(value_ok),
            SetQualifier::ForAnyValue => each.any(value_ok),
            // A multi-valued key without a set qualifier: positive operators
            // need one matching value, negated ones need every value unmatched,
            // i.e. each stays the exact complement of the other.
            SetQualifier::None if self.negated => each.all(value_ok),
            SetQualifier::None => each.any(value_ok),
        }
    }

    /// Whether `request` matches at least one policy value (the positive test).
    fn any_value_matches(&self, request: &str, ctx: &Context) -> bool {
        match &self.values {
            Values::Str(vals) => vals.iter().any(|p| match (self.test, p) {
                (Test::Equals, Str::Plain(p)) => **p == *request,
                (Test::Equals, Str::Template(t)) => {
                    t.resolve(ctx).is_some_and(|r| r.equals(request))
                }
                (Test::Like, Str::Plain(p)) => crate::glob::wildcard_match(p, request),
                (Test::Like, Str::Template(t)) => t.resolve(ctx).is_some_and(|r| r.glob(request)),
                (Test::Arn, Str::Plain(p)) => {
                    let b = p.as_bytes();
                    arn_match(b.len(), |i| wild_tok(b, i), request)
                }
                (Test::Arn, Str::Template(t)) => t
                    .resolve(ctx)
                    .is_some_and(|r| arn_match(r.len(), |i| r.tok(i), request)),
                _ => false,
            }),
            Values::Folded(vals) => vals.iter().any(|p| match p {
                Str::Plain(p) => p.chars().eq(request.chars().flat_map(char::to_lowercase)),
                Str::Template(t) => t
                    .resolve(ctx)
                    .is_some_and(|r| r.equals_ignore_case(request)),
            }),
            Values::Num(vals) => {
                let Some(n) = values::number(request) else {
                    return false;
                };
                vals.iter()
                    .flatten()
                    .any(|p| self.compare(n.partial_cmp(p)))
            }
            Values::Date(vals) => {
                let Some(n) = values::date(request) else {
                    return false;
                };
                vals.iter().flatten().any(|p| self.compare(Some(n.cmp(p))))
            }
            Values::Bool(vals) => {
                let Some(b) = parse_bool(request) else {
                    return false;
                };
                vals.contains(&Some(b))
            }
            Values::Binary(vals) => {
                let Some(bytes) = values::base64(request) else {
                    return false;
                };
                vals.iter().flatten().any(|p| **p == *bytes)
            }
            Values::Ip(vals) => {
                let Some(ip) = values::request_ip(request) else {
                    return false;
                };
                vals.iter().flatten().any(|c| c.contains_ip(ip))
            }
        }
    }

    fn compare(&self, ord: Option<std::cmp::Ordering>) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        matches!(
            (self.test, ord),
            (Test::NumEq, Some(Equal))
                | (Test::NumLt, Some(Less))
                | (Test::NumLe, Some(Less | Equal))
                | (Test::NumGt, Some(Greater))
                | (Test::NumGe, Some(Greater | Equal))
        )
    }
}

/// ARN matching: each of the six colon-separated components is matched on its
/// own, so a wildcard never spans a colon before the resource part (which may
/// itself contain colons).
pub(crate) fn arn_match(len: usize, tok: impl Fn(usize) -> Tok, text: &str) -> bool {
    let mut bounds = [0usize; 6];
    let mut found = 0;
    for i in 0..len {
        if tok(i) == Tok::Byte(b':') {
            if let Some(slot) = bounds.get_mut(found + 1) {
                *slot = i;
                found += 1;
            } else {
                break;
            }
        }
    }
    if found < 5 {
        // Not an ARN pattern: only a lone `*` (or a plain glob) can still match.
        return match_tokens(len, &tok, text.as_bytes()) && (0..len).all(|i| tok(i) == Tok::Star);
    }
    let mut parts = text.splitn(6, ':');
    for k in 0..6 {
        let Some(part) = parts.next() else {
            return false;
        };
        let start = if k == 0 {
            0
        } else {
            bounds.get(k).map_or(len, |b| b + 1)
        };
        let end = bounds.get(k + 1).copied().unwrap_or(len);
        if !match_tokens(
            end.saturating_sub(start),
            |i| tok(start + i),
            part.as_bytes(),
        ) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn_like(p: &str, t: &str) -> bool {
        let b = p.as_bytes();
        arn_match(b.len(), |i| wild_tok(b, i), t)
    }

    #[test]
    fn arns_match_by_component() {
        assert!(arn_like(
            "arn:aws:iam::*:role/admin",
            "arn:aws:iam::123456789012:role/admin"
        ));
        assert!(!arn_like(
            "arn:aws:iam::*",
            "arn:aws:iam::123456789012:role/admin"
        ));
        assert!(arn_like(
            "arn:aws:iam::*:*",
            "arn:aws:iam::123456789012:role/a:b"
        ));
        assert!(arn_like(
            "arn:aws:logs:*:*:log-group:*",
            "arn:aws:logs:us-east-1:1:log-group:x:log-stream:y"
        ));
        assert!(!arn_like("arn:aws:s3:::b*", "arn:aws:s3:us-east-1::bx"));
        assert!(arn_like("*", "arn:aws:s3:::b"));
        assert!(!arn_like("arn:aws:s3:::b", "not-an-arn"));
    }
}
