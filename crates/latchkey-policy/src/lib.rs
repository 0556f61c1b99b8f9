#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod compile;
mod condition;
mod context;
mod error;
mod eval;
mod glob;
mod json;
mod limits;
mod model;
mod parse;
mod template;
mod values;

pub use compile::{CompiledPolicy, PrincipalMatch, names_iam_entity};
pub use context::Context;
pub use error::{ErrorKind, Location, PolicyError};
pub use eval::{
    Decision, Outcome, Outcomes, PolicyRef, PolicySet, PolicyType, Principal, PrincipalKind,
    Reason, Request, StatementRef, Verdict, evaluate, explain, simulate,
};
pub use glob::wildcard_match;
pub use limits::Limit;
pub use model::{
    Condition, ConditionOperator, Effect, Operator, Patterns, Policy, PolicyKind, PrincipalEntry,
    Principals, SetQualifier, Statement, Version,
};
pub use parse::{MAX_DOCUMENT_LEN, ParseOptions, parse, parse_with, policy_size};

/// Entry points for fuzzing and corpus replay; not part of the stable API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{
        CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind,
        Request,
    };

    /// Runs untrusted bytes through every stage a stored policy goes through:
    /// parse and validate as every kind, compile, and evaluate one request.
    pub fn parse_untrusted(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let _ = crate::policy_size(text);
        for kind in [
            PolicyKind::Identity,
            PolicyKind::Trust,
            PolicyKind::Resource,
            PolicyKind::Session,
            PolicyKind::Boundary,
            PolicyKind::ServiceControl,
        ] {
            let Ok(policy) = crate::parse(text, kind) else {
                continue;
            };
            let compiled = CompiledPolicy::new(&policy);
            let context = Context::new()
                .with("aws:username", "alice")
                .with("aws:SourceIp", "10.0.0.1")
                .with("aws:CurrentTime", "2024-01-01T00:00:00Z");
            let refs = [PolicyRef {
                id: "fuzz",
                policy: &compiled,
            }];
            let set = PolicySet {
                identity: &refs,
                resource: Some(PolicyRef {
                    id: "fuzz",
                    policy: &compiled,
                }),
                resource_account: "123456789012",
                ..PolicySet::default()
            };
            let request = Request {
                principal: Principal {
                    arn: "arn:aws:iam::123456789012:user/alice",
                    id: "",
                    account: "123456789012",
                    kind: PrincipalKind::User,
                },
                action: "s3:GetObject",
                resource: "arn:aws:s3:::bucket/key",
                context: &context,
            };
            let _ = crate::explain(&set, &request).to_string();
        }
    }
}
