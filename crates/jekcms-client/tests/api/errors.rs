//! Failures carry the envelope's code, message, field and request id.

use crate::support::TestServer;
use jekcms_client::{ErrorCode, NewPost};

#[tokio::test(flavor = "multi_thread")]
async fn an_error_carries_code_field_and_request_id() {
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;

    let err = client
        .posts()
        .create(NewPost::new("   "))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert_eq!(err.code(), Some(ErrorCode::ValidationFailed));
    assert_eq!(err.field(), Some("title"));
    let failure = err.api().unwrap();
    assert!(!failure.message.is_empty());
    assert!(!failure.request_id.is_empty());
    assert!(err.to_string().contains(&failure.request_id), "{err}");

    let err = client.posts().get(987_654).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    assert_eq!(err.status(), Some(404));

    client
        .posts()
        .create(NewPost::new("First").slug("taken"))
        .await
        .unwrap();
    let err = client
        .posts()
        .create(NewPost::new("Second").slug("taken"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict));
    assert_eq!(err.field(), Some("slug"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_item_errors_name_the_position_in_the_whole_input() {
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let posts = (0..130).map(|i| {
        if i == 117 {
            NewPost::new("")
        } else {
            NewPost::new(format!("Item {i}"))
        }
    });
    let report = client.posts().bulk_create(posts).await.unwrap();
    assert_eq!((report.created, report.failed, report.chunks), (129, 1, 2));
    let bad = &report.results[117];
    assert_eq!(bad.index, 117);
    assert_eq!(bad.id, None);
    assert_eq!(bad.errors[0].code, ErrorCode::ValidationFailed);
    assert_eq!(bad.errors[0].field.as_deref(), Some("posts[117].title"));
    assert!(report.results.iter().enumerate().all(|(i, r)| r.index == i));
    server.stop().await;
}
