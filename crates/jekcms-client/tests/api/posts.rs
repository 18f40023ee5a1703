//! The posts endpoints, lists as pages and streams, and idempotent bulk imports.

use crate::support::TestServer;
use futures_util::TryStreamExt;
use jekcms_client::{ErrorCode, NewPost, PostFilter, PostPatch, PostSort, PostStatus};
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread")]
async fn create_get_update_delete() {
    let server = TestServer::start(|_| {}).await;
    let posts = server.client().await.posts();

    let created = posts
        .create(
            NewPost::new("  Hello  ")
                .body("text")
                .tags(["rust", "cms"])
                .status(PostStatus::Published),
        )
        .await
        .unwrap();
    assert_eq!(created.title, "Hello");
    assert_eq!(created.slug, "hello");
    assert_eq!(created.status, PostStatus::Published);
    assert!(created.published_at.is_some());
    assert_eq!(posts.get(created.id).await.unwrap(), created);

    let patch = PostPatch {
        title: Some("Hello again".into()),
        body: Some(None),
        ..PostPatch::default()
    };
    let updated = posts.update(created.id, &patch).await.unwrap();
    assert_eq!(updated.title, "Hello again");
    assert_eq!(updated.slug, "hello", "the slug does not follow the title");
    assert_eq!(updated.body, None);
    assert_eq!(updated.tags, ["rust", "cms"]);

    posts.delete(created.id).await.unwrap();
    let err = posts.get(created.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    let err = posts.delete(created.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_follows_next_cursor_over_every_post() {
    let server = TestServer::start(|_| {}).await;
    let posts = server.client().await.posts();
    let report = posts
        .bulk_create((0..310).map(|i| {
            let post = NewPost::new(format!("Post {i:03}"));
            if i % 3 == 0 {
                post.tags(["three"])
            } else {
                post
            }
        }))
        .await
        .unwrap();
    assert_eq!(report.created, 310);
    let created: Vec<i64> = report.results.iter().map(|r| r.id.unwrap()).collect();

    // Oldest first: exactly the import, in order, across pages of 100, 100, 100 and 10.
    let walked: Vec<i64> = posts
        .list(PostFilter::default().sort(PostSort::CreatedAsc))
        .stream()
        .map_ok(|p| p.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(walked, created);

    // The default order with an odd page size: the same set, no duplicates, and the same
    // sequence as walking the pages by hand.
    let filter = PostFilter::default().limit(7);
    let streamed: Vec<i64> = posts
        .list(filter.clone())
        .stream()
        .map_ok(|p| p.id)
        .try_collect()
        .await
        .unwrap();
    let mut by_hand = Vec::new();
    let mut page = posts.list(filter.clone().include_total()).await.unwrap();
    assert_eq!(page.total, Some(310));
    loop {
        by_hand.extend(page.items.iter().map(|p| p.id));
        let Some(cursor) = page.next_cursor.clone() else {
            assert!(!page.has_more);
            break;
        };
        page = posts.list(filter.clone()).after(cursor).await.unwrap();
    }
    assert_eq!(streamed, by_hand);
    assert_eq!(streamed.iter().collect::<HashSet<_>>().len(), 310);
    assert_eq!(
        streamed.iter().collect::<HashSet<_>>(),
        created.iter().collect::<HashSet<_>>()
    );

    // Filters go through.
    let tagged: Vec<_> = posts
        .list(PostFilter::default().tag("three"))
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tagged.len(), 104);
    assert!(tagged.iter().all(|p| p.tags == ["three"]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_create_run_twice_creates_once() {
    let server = TestServer::start(|_| {}).await;
    let import = || (0..250).map(|i| NewPost::new(format!("Imported {i}")).body("b"));
    let total = |client: jekcms_client::Client| async move {
        client
            .posts()
            .list(PostFilter::default().limit(1).include_total())
            .await
            .unwrap()
            .total
    };

    let client = server.client().await;
    let first = client.posts().bulk_create(import()).await.unwrap();
    assert_eq!((first.created, first.failed), (250, 0));
    assert_eq!((first.chunks, first.replayed_chunks), (3, 0));
    assert_eq!(total(client.clone()).await, Some(250));

    let again = client.posts().bulk_create(import()).await.unwrap();
    assert_eq!((again.chunks, again.replayed_chunks), (3, 3));
    assert_eq!(again.results, first.results, "the same ids, replayed");
    assert_eq!(total(client.clone()).await, Some(250));

    // Another run of the import program: a new client, a new session, the same user.
    let rerun = server.client().await;
    let third = rerun.posts().bulk_create(import()).await.unwrap();
    assert_eq!(third.replayed_chunks, 3);
    assert_eq!(total(rerun).await, Some(250));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raw_page_is_the_typed_page_as_sent() {
    let server = TestServer::start(|_| {}).await;
    let posts = server.client().await.posts();
    posts
        .bulk_create((0..5).map(|i| NewPost::new(format!("Raw “{i}” & <b>")).tags(["t"])))
        .await
        .unwrap();
    let filter = PostFilter::default().limit(3);
    let typed = posts.list(filter.clone()).await.unwrap();
    let raw = posts.list(filter.clone()).raw_page().await.unwrap();
    // Cursors are sealed with a fresh nonce each time: equal in meaning, not in text.
    assert_eq!(raw.next_cursor.is_some(), typed.next_cursor.is_some());
    assert_eq!(raw.has_more, typed.has_more);
    let reread: Vec<jekcms_client::Post> = raw
        .items
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap())
        .collect();
    assert_eq!(reread, typed.items);
    // The text is the server's own: field order as the API documents it, not re-encoded.
    assert!(
        raw.items[0].get().starts_with(r#"{"id":"#),
        "{}",
        raw.items[0].get()
    );
    let next = posts
        .list(filter)
        .after(raw.next_cursor.unwrap())
        .raw_page()
        .await
        .unwrap();
    assert_eq!(next.items.len(), 2);
    server.stop().await;
}

/// What a website's front end looks up: a post by slug, posts with any of several tags.
#[tokio::test(flavor = "multi_thread")]
async fn lookups_by_slug_and_any_of_several_tags() {
    let server = TestServer::start(|_| {}).await;
    let posts = server.client().await.posts();
    for (title, tag) in [("Alpha", "x"), ("Beta", "y"), ("Gamma", "z")] {
        posts.create(NewPost::new(title).tags([tag])).await.unwrap();
    }
    let either: Vec<String> = posts
        .list(
            PostFilter::default()
                .tag("x")
                .any_tag("y")
                .sort(PostSort::CreatedAsc),
        )
        .stream()
        .map_ok(|p| p.title)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(either, ["Alpha", "Beta"]);
    let page = posts
        .list(PostFilter::default().slug("gamma"))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].title, "Gamma");
    server.stop().await;
}
