//! S3 buckets: the ops a handler writes, and how it reads a failed write.
//!
//! latchkey keeps which account owns each bucket (names are global) and
//! each bucket's policy; the S3 front end writes them as any handler
//! writes, through [`super::State::write`] with the proof its decision
//! made, deciding against the snapshot under the write lock:
//!
//! ```ignore
//! use latchkey_server::state::buckets;
//!
//! // CreateBucket
//! let created = ctx.app.state.write(&proof, |snap| {
//!     if let Some(e) = snap.bucket(name) {
//!         return Err(if e.bucket.account == ctx.caller.account { owned_by_you() } else { already_exists() });
//!     }
//!     Ok((vec![buckets::create(name, ctx.caller.account, region, ctx.now)], ()))
//! }).await;
//! match created {
//!     // Another node created it between the snapshot and the commit.
//!     Err(e) if buckets::name_taken(&e) => return Err(already_exists()),
//!     other => other?,
//! }
//!
//! // PutBucketPolicy (the document's size and its Resource elements are
//! // the front end's to check first)
//! ctx.app.state.write(&proof, |snap| {
//!     snap.bucket(name).ok_or_else(no_such_bucket)?;
//!     let op = buckets::put_policy(snap, name, document).map_err(|e| malformed_policy(e.message()))?;
//!     Ok((vec![op], ()))
//! }).await?;
//!
//! // DeleteBucketPolicy, DeleteBucket
//! ctx.app.state.write(&proof, |snap| {
//!     snap.bucket(name).ok_or_else(no_such_bucket)?;
//!     Ok((vec![buckets::delete_policy(name)], ()))   // or buckets::delete(name)
//! }).await?;
//! ```
//!
//! Reading: [`super::Snapshot::bucket`] (owner, region, policy document and
//! the compiled policy to hand the engine as the resource policy) and
//! [`super::Snapshot::buckets_of`] (ListBuckets, by name). GetBucketPolicy
//! answers with [`super::principals::display`] of the document and its
//! bindings, as GetRole does: a principal deleted since shows as its
//! unique id.

use latchkey_model::{AccountId, Bucket};
use latchkey_policy::{PolicyError, PolicyKind};
use latchkey_store::Op;

use super::Snapshot;
use super::principals::{self, InvalidPrincipal};
use crate::{ApiError, ErrorCode};

/// Why a bucket policy cannot be saved: S3's `MalformedPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketPolicyError {
    /// Not a resource-based policy the engine accepts.
    Malformed(PolicyError),
    /// A user or role ARN names no existing entity.
    InvalidPrincipal(InvalidPrincipal),
}

impl BucketPolicyError {
    /// The message to answer with.
    pub fn message(&self) -> String {
        match self {
            Self::Malformed(e) => e.aws_message().to_owned(),
            Self::InvalidPrincipal(e) => e.message(),
        }
    }
}

/// A new bucket of `account`, without a policy.
pub fn create(name: &str, account: AccountId, region: &str, created: i64) -> Op {
    Op::InsertBucket(Bucket {
        name: name.to_owned(),
        account,
        created,
        region: region.to_owned(),
        policy: None,
        policy_principals: Vec::new(),
    })
}

/// Saves `document` as the policy of bucket `name`: parsed as a
/// resource-based policy, its user and role ARNs bound to the entities that
/// hold them in `snap` (one that names nobody is refused, as AWS refuses
/// it). Call it inside [`super::State::write`]'s decision, so the bindings
/// are made against the snapshot the write is decided on.
pub fn put_policy(snap: &Snapshot, name: &str, document: &str) -> Result<Op, BucketPolicyError> {
    let policy = latchkey_policy::parse(document, PolicyKind::Resource).map_err(BucketPolicyError::Malformed)?;
    let principals = principals::bind(snap, &policy).map_err(BucketPolicyError::InvalidPrincipal)?;
    Ok(Op::SetBucketPolicy { name: name.to_owned(), policy: Some(document.to_owned()), principals })
}

/// Deletes the policy of bucket `name`.
pub fn delete_policy(name: &str) -> Op {
    Op::SetBucketPolicy { name: name.to_owned(), policy: None, principals: Vec::new() }
}

/// Deletes bucket `name` with its policy.
pub fn delete(name: &str) -> Op {
    Op::DeleteBucket(name.to_owned())
}

/// Whether a failed [`super::State::write`] of [`create`] lost the name to
/// another writer (the store's unique key, reported as
/// `EntityAlreadyExists` by [`ApiError::from_write`]): S3's
/// `BucketAlreadyExists`. A batch holding only the insert has no other
/// unique key to conflict on.
pub fn name_taken(e: &ApiError) -> bool {
    e.kind() == ErrorCode::EntityAlreadyExists
}

/// Whether a failed write of [`put_policy`], [`delete_policy`] or
/// [`delete`] found the bucket gone (deleted by another writer since the
/// snapshot; `DeleteConflict` from [`ApiError::from_write`]): S3's
/// `NoSuchBucket`.
pub fn bucket_gone(e: &ApiError) -> bool {
    e.kind() == ErrorCode::DeleteConflict
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use latchkey_model::{Account, IdPrefix, UniqueId, User};
    use latchkey_store::Loaded;

    use super::*;

    #[test]
    fn a_policy_is_saved_with_its_principals_bound() {
        let account = AccountId::from_str("111111111111").unwrap();
        let alice = User {
            id: UniqueId::generate(IdPrefix::User, &account),
            account,
            name: "alice".into(),
            path: "/".into(),
            created: 1,
            tags: Vec::new(),
            permissions_boundary: None,
        };
        let snap = Snapshot::build(Loaded {
            version: 1,
            accounts: vec![Account { id: account, name: "a".into(), email: String::new(), management: true, created: 1 }],
            users: vec![alice.clone()],
            ..Loaded::default()
        });
        let doc = |who: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["{who}","111111111111"]}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}]}}"#
            )
        };
        let Ok(Op::SetBucketPolicy { name, policy, principals }) = put_policy(&snap, "b", &doc("arn:aws:iam::111111111111:user/alice"))
        else {
            panic!("the policy is accepted")
        };
        assert_eq!((name.as_str(), policy.as_deref()), ("b", Some(doc("arn:aws:iam::111111111111:user/alice").as_str())));
        assert_eq!(principals.iter().map(|p| (p.arn.as_str(), &p.id)).collect::<Vec<_>>(), [("arn:aws:iam::111111111111:user/alice", &alice.id)]);

        let e = put_policy(&snap, "b", &doc("arn:aws:iam::111111111111:user/nobody")).unwrap_err();
        assert_eq!(e.message(), r#"Invalid principal in policy: "AWS":"arn:aws:iam::111111111111:user/nobody""#);
        let no_resource = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#;
        assert!(matches!(put_policy(&snap, "b", no_resource), Err(BucketPolicyError::Malformed(_))));
        assert!(matches!(delete_policy("b"), Op::SetBucketPolicy { policy: None, .. }));
        assert!(matches!(create("b", account, "eu-west-1", 5), Op::InsertBucket(Bucket { policy: None, created: 5, .. })));

        let taken = ApiError::from_write(latchkey_store::StoreError::Conflict("UNIQUE constraint failed: buckets.name".into()));
        assert!(name_taken(&taken) && !bucket_gone(&taken));
        let gone = ApiError::from_write(latchkey_store::StoreError::Constraint("bucket b does not exist".into()));
        assert!(bucket_gone(&gone) && !name_taken(&gone));
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;
    use crate::authz::Authorized;
    use crate::state::{Internal, State};

    /// The ops through [`State::write`]: the writer's patched snapshot is
    /// the one a full load builds, after each write (what
    /// `LATCHKEY_CHECK_SNAPSHOTS` checks in the end-to-end suites), and a
    /// name taken by another writer reads as [`name_taken`].
    #[tokio::test]
    async fn written_buckets_patch_the_snapshot_as_a_full_load_builds_it() {
        let dir = tempfile::tempdir().unwrap();
        let opened = crate::setup::open(dir.path(), 1_700_000_000).await.unwrap();
        let account = opened.initialized.as_ref().unwrap().account;
        let store = opened.store.clone();
        let state = State::load(opened.store).await.unwrap();
        let proof = Authorized::internal(Internal::TEST);
        let agrees = |state: &State, full: latchkey_store::Loaded| {
            assert_eq!(state.snapshot().fingerprint(), Snapshot::build(full).fingerprint());
        };

        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"s3:*","Resource":"arn:aws:s3:::b1/*"}}]}}"#
        );
        state.write(&proof, |_| Ok((vec![create("b1", account, "us-east-1", 1), create("b2", account, "eu-west-1", 2)], ()))).await.unwrap();
        agrees(&state, store.load().await.unwrap());
        state.write(&proof, |snap| Ok((vec![put_policy(snap, "b1", &doc).unwrap()], ()))).await.unwrap();
        agrees(&state, store.load().await.unwrap());
        let snap = state.snapshot();
        let entry = snap.bucket("b1").unwrap();
        assert_eq!(entry.bucket.policy.as_deref(), Some(doc.as_str()));
        assert!(entry.policy.is_some());
        assert_eq!(snap.buckets_of(&account).map(|b| b.name.as_str()).collect::<Vec<_>>(), ["b1", "b2"]);

        // Another node takes a name first: the write's conflict.
        store.apply(&[create("b3", account, "us-east-1", 3)]).await.unwrap();
        let e = state.write(&proof, |_| Ok((vec![create("b3", account, "us-east-1", 4)], ()))).await;
        // The write caught up before deciding, so a decision that looked
        // would have seen it; this one did not look.
        assert!(e.as_ref().is_err_and(name_taken), "{e:?}");
        assert!(state.snapshot().bucket("b3").is_some(), "the write caught up with the other node first");

        state.write(&proof, |_| Ok((vec![delete_policy("b1"), delete("b2")], ()))).await.unwrap();
        agrees(&state, store.load().await.unwrap());
        let snap = state.snapshot();
        assert!(snap.bucket("b1").is_some_and(|e| e.policy.is_none() && e.bucket.policy.is_none()));
        assert!(snap.bucket("b2").is_none());
        let e = state.write(&proof, |_| Ok((vec![delete("b2")], ()))).await;
        assert!(e.as_ref().is_err_and(bucket_gone), "{e:?}");
    }
}
