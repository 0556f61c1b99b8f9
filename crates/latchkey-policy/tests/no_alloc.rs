//! The common evaluation path must not allocate: a counting allocator checks it.

use latchkey_policy::{
    CompiledPolicy, Context, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind, Request,
    Verdict, evaluate,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

// The allocator counts every thread, so the checks run one after the other in
// a single test rather than as parallel tests.
#[test]
fn allocations() {
    checks::evaluation_does_not_allocate();
    checks::parse_allocation_budget();
}

#[cfg(test)]
mod checks {
    use super::*;

    pub(super) fn evaluation_does_not_allocate() {
        let policy = CompiledPolicy::parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["s3:Get*","S3:List*"],"Resource":["arn:aws:s3:::photos/*"]},
            {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::home/${aws:username}/*",
             "Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
            {"Effect":"Deny","NotAction":"iam:*","Resource":"*",
             "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1"]},"DateLessThan":{"aws:TokenIssueTime":"2020-01-01T00:00:00Z"}}},
            {"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["x"]},"NumericLessThan":{"s3:max-keys":"10"}}}
        ]}"#,
        PolicyKind::Identity,
    )
    .unwrap();
        let refs = [PolicyRef {
            id: "p",
            policy: &policy,
        }];
        let set = PolicySet {
            identity: &refs,
            ..PolicySet::default()
        };
        let ctx = Context::new()
            .with("aws:username", "alice")
            .with("aws:SourceIp", "10.1.1.1")
            .with("s3:prefix", "home/alice/x")
            .with("aws:RequestedRegion", "eu-west-1")
            .with("aws:TokenIssueTime", "2024-01-01T00:00:00Z")
            .with("s3:max-keys", "5")
            .with_multi("aws:TagKeys", ["y"]);
        let req = Request {
            principal: Principal {
                arn: "arn:aws:iam::111122223333:user/alice",
                id: "",
                account: "111122223333",
                kind: PrincipalKind::User,
            },
            action: "S3:PutObject",
            resource: "arn:aws:s3:::home/alice/a.txt",
            context: &ctx,
        };
        let region = Region::new(GLOBAL);
        let decision = evaluate(&set, &req);
        let stats = region.change();
        assert_eq!(decision.verdict(), Verdict::Allow);
        assert_eq!(
            stats.allocations + stats.reallocations,
            0,
            "evaluate allocated: {stats:?}"
        );
    }

    pub(super) fn parse_allocation_budget() {
        let mut statements = Vec::new();
        for i in 0..20 {
            statements.push(format!(
            r#"{{"Sid":"S{i}","Effect":"Allow","Action":["s3:Get*","s3:PutObject","ec2:Describe*","iam:*AccessKey*"],"Resource":["arn:aws:s3:::bucket-{i}/*","arn:aws:s3:::home/${{aws:username}}/{i}/*"],"Condition":{{"StringEquals":{{"aws:RequestedRegion":["eu-west-1","us-east-1"]}},"IpAddress":{{"aws:SourceIp":"10.{i}.0.0/16"}}}}}}"#
        ));
        }
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        );
        let region = Region::new(GLOBAL);
        let policy = latchkey_policy::parse(&text, PolicyKind::Identity).unwrap();
        let parsed = region.change();
        let compiled = CompiledPolicy::new(&policy);
        let total = region.change();
        drop(compiled);
        let region = Region::new(GLOBAL);
        let direct = CompiledPolicy::parse(&text, PolicyKind::Identity).unwrap();
        let direct_stats = region.change();
        drop(direct);
        println!(
            "20 statements: parse {} allocations, parse then compile {}, CompiledPolicy::parse {}",
            parsed.allocations, total.allocations, direct_stats.allocations
        );
        assert!(direct_stats.allocations < 20 * 50, "{direct_stats:?}");
        // A generous ceiling that still catches an accidental per-byte or quadratic allocation.
        assert!(total.allocations < 20 * 80, "{total:?}");
    }
}
