//! The activity log through the client, against the real server.

use crate::support::TestServer;
use futures_util::TryStreamExt;
use jekcms_client::{ActivityFilter, ErrorCode, NewPost};

#[tokio::test(flavor = "multi_thread")]
async fn every_write_is_listed_and_filtered() {
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let posts = client.posts();
    let report = posts
        .bulk_create((0..150).map(|i| NewPost::new(format!("Post {i}"))))
        .await
        .unwrap();
    assert_eq!(report.created, 150);
    let first = report.results[0].id.unwrap();
    posts.delete(first).await.unwrap();

    let page = client
        .activity(ActivityFilter::default().limit(2))
        .await
        .unwrap();
    assert_eq!(page.items[0].event_type, "post.deleted");
    assert_eq!(page.items[0].subject.id, first);
    assert_eq!(page.items[0].subject.kind, "post");
    assert_eq!(page.items[0].actor.family, "api");
    assert!(page.items[0].request_id.is_some());
    assert!(page.next_cursor.is_some());

    // Every event, newest first, over several pages of 100.
    let all: Vec<_> = client
        .activity(ActivityFilter::default())
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 151);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    let created: Vec<_> = client
        .activity(ActivityFilter::default().event_type("post.created"))
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(created.len(), 150);
    let since_now = client
        .activity(ActivityFilter::default().since(chrono::Utc::now() + chrono::Duration::hours(1)))
        .await
        .unwrap();
    assert!(since_now.items.is_empty());

    // An editor may not read it.
    let (key, secret) = server.key_for("editor").await;
    let editor = jekcms_client::Client::builder(&server.base_url, &key, &secret)
        .connect()
        .await
        .unwrap();
    let refused = editor
        .activity(ActivityFilter::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::Forbidden));
    server.stop().await;
}
