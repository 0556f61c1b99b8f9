//! The Rust AWS SDK (aws-sdk-sts, aws-sdk-iam) against a real latchkey process.

mod common;

use common::{Server, sdk_config};

#[tokio::test]
async fn root_identity_and_key_info() {
    let server = Server::start();
    let conf = sdk_config(&server.endpoint, &server.root.access_key_id, &server.root.secret, None).await;
    let sts = aws_sdk_sts::Client::new(&conf);
    let id = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(id.account(), Some(server.root.account.as_str()));
    assert_eq!(id.arn(), Some(format!("arn:aws:iam::{}:root", server.root.account).as_str()));
    assert_eq!(id.user_id(), Some(server.root.account.as_str()));

    let info = sts.get_access_key_info().access_key_id(&server.root.access_key_id).send().await.unwrap();
    assert_eq!(info.account(), Some(server.root.account.as_str()));
}

#[tokio::test]
async fn user_lifecycle_through_iam() {
    let server = Server::start();
    let conf = sdk_config(&server.endpoint, &server.root.access_key_id, &server.root.secret, None).await;
    let iam = aws_sdk_iam::Client::new(&conf);

    let created = iam.create_user().user_name("alice").path("/eng/").send().await.unwrap();
    let user = created.user().unwrap();
    assert_eq!(user.arn(), format!("arn:aws:iam::{}:user/eng/alice", server.root.account));
    assert!(user.user_id().starts_with("AIDA"));
    assert_eq!(user.user_id().len(), 21);

    let dup = iam.create_user().user_name("ALICE").send().await.unwrap_err();
    assert_eq!(dup.as_service_error().and_then(|e| e.meta().code()), Some("EntityAlreadyExists"));

    let key = iam.create_access_key().user_name("alice").send().await.unwrap();
    let key = key.access_key().unwrap();
    assert!(key.access_key_id().starts_with("AKIA"));
    assert_eq!(key.secret_access_key().len(), 40);

    // The new user's own key authenticates, and GetCallerIdentity needs no permission.
    let user_conf = sdk_config(&server.endpoint, key.access_key_id(), key.secret_access_key(), None).await;
    let me = aws_sdk_sts::Client::new(&user_conf).get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(user.arn()));
    assert_eq!(me.user_id(), Some(user.user_id()));

    // A user holds no policy yet, so IAM refuses it with AWS's message.
    let denied = aws_sdk_iam::Client::new(&user_conf).list_users().send().await.unwrap_err();
    let meta = denied.as_service_error().unwrap().meta();
    assert_eq!(meta.code(), Some("AccessDenied"));
    assert!(meta.message().unwrap().contains("is not authorized to perform: iam:ListUsers"));

    iam.create_access_key().user_name("alice").send().await.unwrap();
    let third = iam.create_access_key().user_name("alice").send().await.unwrap_err();
    assert_eq!(third.as_service_error().and_then(|e| e.meta().code()), Some("LimitExceeded"));

    let listed = iam.list_access_keys().user_name("alice").send().await.unwrap();
    assert_eq!(listed.access_key_metadata().len(), 2);

    let conflict = iam.delete_user().user_name("alice").send().await.unwrap_err();
    assert_eq!(conflict.as_service_error().and_then(|e| e.meta().code()), Some("DeleteConflict"));

    // Deactivate: the key is refused as AWS refuses it.
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(key.access_key_id())
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let refused = aws_sdk_sts::Client::new(&user_conf).get_caller_identity().send().await.unwrap_err();
    assert_eq!(refused.as_service_error().and_then(|e| e.meta().code()), Some("InvalidClientTokenId"));

    for k in listed.access_key_metadata() {
        iam.delete_access_key().user_name("alice").access_key_id(k.access_key_id().unwrap()).send().await.unwrap();
    }
    iam.delete_user().user_name("alice").send().await.unwrap();
    let gone = iam.get_user().user_name("alice").send().await.unwrap_err();
    assert_eq!(gone.as_service_error().and_then(|e| e.meta().code()), Some("NoSuchEntity"));
}

#[tokio::test]
async fn list_users_pages() {
    let server = Server::start();
    let conf = sdk_config(&server.endpoint, &server.root.access_key_id, &server.root.secret, None).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    for i in 0..5 {
        iam.create_user().user_name(format!("u{i}")).send().await.unwrap();
    }
    let first = iam.list_users().max_items(2).send().await.unwrap();
    assert_eq!(first.users().len(), 2);
    assert!(first.is_truncated());
    let names: Vec<String> = iam
        .list_users()
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user_name().to_owned())
        .collect();
    assert_eq!(names, ["u0", "u1", "u2", "u3", "u4"]);
}
