//! The pull client: visible posts by list, stream and slug with a site's `pk_` key, and
//! the revalidation of kept answers (`If-None-Match` → `304`).

use crate::fake::{Fake, fail};
use crate::support::TestServer;
use chrono::{DateTime, Duration as Span, Utc};
use futures_util::TryStreamExt;
use jekcms_client::{
    Client, ErrorCode, NewPost, PostPatch, PostStatus, PullClient, PullField, PullPost, PullQuery,
    PullSort,
};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn slugs(posts: &[PullPost]) -> Vec<&str> {
    posts.iter().map(|p| p.slug.as_deref().unwrap()).collect()
}

/// A published post, published `hours_ago` hours ago (negative: scheduled).
async fn publish(client: &Client, slug: &str, tags: &[&str], hours_ago: i64) -> i64 {
    let at: DateTime<Utc> = Utc::now() - Span::hours(hours_ago);
    let post = NewPost {
        published_at: Some(at),
        excerpt: Some(format!("About {slug}")),
        ..NewPost::new(slug.to_uppercase())
            .slug(slug)
            .body(format!("The body of {slug}"))
            .tags(tags.iter().copied())
            .status(PostStatus::Published)
    };
    client.posts().create(post).await.unwrap().id
}

#[tokio::test(flavor = "multi_thread")]
async fn visible_posts_by_page_stream_and_slug() {
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let alpha = publish(&client, "alpha", &["news"], 3).await;
    publish(&client, "beta", &["news", "rust"], 2).await;
    publish(&client, "gamma", &["rust"], 1).await;
    publish(&client, "soon", &["news"], -1).await;
    client
        .posts()
        .create(NewPost::new("Draft").slug("draft").tags(["news"]))
        .await
        .unwrap();
    let site = server.pull(&server.rotate_pull_key().await);

    // Newest published first; every field but the body; drafts and scheduled posts left out.
    let page = site
        .posts(PullQuery::default().include_total())
        .await
        .unwrap();
    assert_eq!(slugs(&page.items), ["gamma", "beta", "alpha"]);
    assert_eq!(page.total, Some(3));
    assert!(!page.has_more && page.next_cursor.is_none());
    let first = &page.items[2];
    assert_eq!(first.id, Some(alpha));
    assert_eq!(first.title.as_deref(), Some("ALPHA"));
    assert_eq!(first.excerpt.as_deref(), Some("About alpha"));
    assert_eq!(first.tags.as_deref(), Some(&["news".to_owned()][..]));
    assert!(first.published_at.is_some() && first.updated_at.is_some());
    assert_eq!(first.body, None, "no body in a list unless asked for");

    // Pages along the cursor.
    let one = site
        .posts(PullQuery::default().limit(2))
        .page()
        .await
        .unwrap();
    assert_eq!(slugs(&one.items), ["gamma", "beta"]);
    assert!(one.has_more);
    let two = site
        .posts(PullQuery::default().limit(2))
        .after(one.next_cursor.unwrap())
        .await
        .unwrap();
    assert_eq!(slugs(&two.items), ["alpha"]);
    assert!(two.next_cursor.is_none());

    // A stream walks every page, one post a page here.
    let walked: Vec<PullPost> = site
        .posts(PullQuery::default().sort(PullSort::PublishedAsc).limit(1))
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(slugs(&walked), ["alpha", "beta", "gamma"]);

    // Filters and sorts.
    let by = |q: PullQuery| {
        let site = site.clone();
        async move { site.posts(q).await.unwrap().items }
    };
    assert_eq!(
        slugs(&by(PullQuery::default().tag("news")).await),
        ["beta", "alpha"]
    );
    assert_eq!(
        slugs(&by(PullQuery::default().tag("news").tag("rust")).await),
        ["gamma", "beta", "alpha"]
    );
    assert_eq!(
        slugs(&by(PullQuery::default().search("lph")).await),
        ["alpha"]
    );
    assert_eq!(
        slugs(&by(PullQuery::default().sort(PullSort::TitleDesc)).await),
        ["gamma", "beta", "alpha"]
    );
    let since = Utc::now() + Span::hours(1);
    assert!(
        by(PullQuery::default().updated_since(since))
            .await
            .is_empty()
    );

    // Exactly the fields asked for.
    let fields = by(PullQuery::default()
        .sort(PullSort::PublishedAsc)
        .fields([PullField::Slug, PullField::Body]))
    .await;
    let mut expected = PullPost::default();
    expected.slug = Some("alpha".into());
    expected.body = Some("The body of alpha".into());
    assert_eq!(fields[0], expected);

    // By slug: every field, body included; anything not visible is NOT_FOUND.
    let post = site.post("alpha").await.unwrap();
    assert_eq!(post.id, Some(alpha));
    assert_eq!(post.body.as_deref(), Some("The body of alpha"));
    assert_eq!(post.title.as_deref(), Some("ALPHA"));
    for hidden in ["draft", "soon", "no-such-post", "Not_A_Slug"] {
        let err = site.post(hidden).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotFound), "{hidden}: {err}");
        assert_eq!(err.status(), Some(404));
    }

    // A bad query is the server's VALIDATION_FAILED, naming the parameter.
    let err = site
        .posts(PullQuery::default().limit(1000))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ValidationFailed));
    assert_eq!(err.field(), Some("limit"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_answer_is_revalidated_and_a_write_is_seen() {
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let id = publish(&client, "one", &["news"], 1).await;
    let site = server.pull(&server.rotate_pull_key().await);
    let list = || site.posts(PullQuery::default().tag("news"));

    let first = list().await.unwrap();
    let post = site.post("one").await.unwrap();
    assert_eq!(site.revalidations(), 0, "nothing kept yet");

    // Asked again: the server answers 304 and the client returns the same data. (The
    // counter moves only on a 304 to the If-None-Match the client sent.)
    let again = list().await.unwrap();
    assert_eq!(site.revalidations(), 1);
    assert_eq!(again.items, first.items);
    assert_eq!(
        (again.has_more, again.next_cursor, again.total),
        (first.has_more, first.next_cursor.clone(), first.total)
    );
    assert_eq!(site.post("one").await.unwrap(), post);
    assert_eq!(site.revalidations(), 2);
    // Clones share what is kept.
    assert_eq!(site.clone().post("one").await.unwrap(), post);
    assert_eq!(site.revalidations(), 3);
    // Another URL is another answer: not revalidated the first time.
    let titles = site
        .posts(PullQuery::default().tag("news").fields([PullField::Title]))
        .await
        .unwrap();
    assert_eq!(titles.items[0].title.as_deref(), Some("ONE"));
    assert_eq!(site.revalidations(), 3);

    // A write is seen by the next call: a whole new answer, not the kept one.
    let patch = PostPatch {
        title: Some("One, edited".into()),
        body: Some(Some("Edited".into())),
        ..PostPatch::default()
    };
    client.posts().update(id, &patch).await.unwrap();
    let edited = list().await.unwrap();
    assert_eq!(edited.items[0].title.as_deref(), Some("One, edited"));
    assert_ne!(edited.items, first.items);
    let edited_post = site.post("one").await.unwrap();
    assert_eq!(edited_post.body.as_deref(), Some("Edited"));
    assert_eq!(
        site.revalidations(),
        3,
        "changed answers are not revalidations"
    );
    // …and the new answer is what is kept and revalidated from then on.
    assert_eq!(list().await.unwrap().items, edited.items);
    assert_eq!(site.revalidations(), 4);
    // Forgotten: a whole answer again.
    site.forget_kept_responses();
    assert_eq!(list().await.unwrap().items, edited.items);
    assert_eq!(site.revalidations(), 4);

    // A post that stops being visible is NOT_FOUND, not its kept copy.
    let unpublish = PostPatch {
        status: Some(PostStatus::Draft),
        ..PostPatch::default()
    };
    client.posts().update(id, &unpublish).await.unwrap();
    let err = site.post("one").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    assert!(list().await.unwrap().items.is_empty());

    // A client that keeps nothing never revalidates; forgetting starts afresh.
    let forgetful = PullClient::builder(&server.base_url, server.rotate_pull_key().await)
        .keep_responses(0, 0)
        .build()
        .unwrap();
    for _ in 0..2 {
        assert!(forgetful.posts(PullQuery::default()).await.is_ok());
    }
    assert_eq!(forgetful.revalidations(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_rotated_out_key_is_auth_invalid() {
    let server = TestServer::start(|_| {}).await;
    let old = server.rotate_pull_key().await;
    let new = server.rotate_pull_key().await;
    for key in [
        old.as_str(),
        "pk_nonsense",
        server.api_key.as_str(),
        server.api_secret.as_str(),
    ] {
        let err = server
            .pull(key)
            .posts(PullQuery::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::AuthInvalid), "{err}");
        assert_eq!(err.status(), Some(401));
        assert!(!err.to_string().contains(key), "{err}");
    }
    let site = server.pull(&new);
    assert!(
        site.posts(PullQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let shown = format!("{site:?}");
    assert!(!shown.contains(&new), "{shown}");
    server.stop().await;
}

fn list_body(title: &str) -> String {
    json!({"success": true, "data": [{"slug": "a", "title": title}],
        "meta": {"request_id": "first", "next_cursor": null, "has_more": false, "limit": 20},
        "errors": []})
    .to_string()
}

#[tokio::test]
async fn rate_limits_and_5xx_are_waited_out_with_the_same_if_none_match() {
    // What the real app does not do on cue: a 429 with a short Retry-After, a 503.
    let fake = Fake::start(|req, nth| {
        let json = ("content-type", "application/json".to_owned());
        let tag = ("etag", "W/\"v1\"".to_owned());
        match (req.line.as_str(), nth) {
            ("GET /api/v2/pull/posts", 0) => {
                let (status, mut headers, body) = fail(429, "RATE_LIMITED").unwrap();
                headers.push(("retry-after", "1".into()));
                Some((status, headers, body))
            }
            ("GET /api/v2/pull/posts", 1) => Some((200, vec![json, tag], list_body("A"))),
            ("GET /api/v2/pull/posts", 2) => fail(503, "UNAVAILABLE"),
            ("GET /api/v2/pull/posts", _) if req.header("if-none-match") == Some("W/\"v1\"") => {
                Some((
                    304,
                    vec![tag, ("x-request-id", "second".into())],
                    String::new(),
                ))
            }
            _ => fail(404, "NOT_FOUND"),
        }
    })
    .await;
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let site = PullClient::builder(&fake.base_url, "pk_SECRET-PULL-KEY")
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .on_rate_limit_wait(move |wait| seen.lock().unwrap().push(wait))
        .build()
        .unwrap();

    let first = site.posts(PullQuery::default()).await.unwrap();
    assert_eq!(first.items[0].title.as_deref(), Some("A"));
    assert_eq!(first.request_id, "first");
    assert_eq!(*waits.lock().unwrap(), [Duration::from_secs(1)]);
    assert_eq!(site.revalidations(), 0);

    // The 503 is retried with the same If-None-Match; the 304 answers from the kept copy,
    // with the request id of the answer that said so.
    let again = site.posts(PullQuery::default()).await.unwrap();
    assert_eq!(again.items, first.items);
    assert_eq!(again.request_id, "second");
    assert_eq!(site.revalidations(), 1);

    let sent = fake.requests("GET /api/v2/pull/posts");
    assert_eq!(sent.len(), 4);
    for req in &sent {
        assert_eq!(req.header("x-api-key"), Some("pk_SECRET-PULL-KEY"));
        assert_eq!(req.header("authorization"), None);
    }
    assert_eq!(sent[1].header("if-none-match"), None);
    assert_eq!(sent[2].header("if-none-match"), Some("W/\"v1\""));
    assert_eq!(sent[3].header("if-none-match"), Some("W/\"v1\""));
}

#[tokio::test]
async fn what_is_gone_or_unreadable_is_not_kept() {
    let fake = Fake::start(|req, nth| {
        let json = ("content-type", "application/json".to_owned());
        let tag = ("etag", "W/\"v1\"".to_owned());
        let post = json!({"success": true, "data": {"slug": "a", "body": "B"},
            "meta": {"request_id": "r"}, "errors": []})
        .to_string();
        match (req.line.as_str(), nth) {
            ("GET /api/v2/pull/posts/a", 0 | 2) => Some((200, vec![json, tag], post)),
            ("GET /api/v2/pull/posts/a", 1) => fail(404, "NOT_FOUND"),
            ("GET /api/v2/pull/posts/b", 0) => Some((200, vec![json, tag], "<html>".into())),
            ("GET /api/v2/pull/posts/b", _) => Some((200, vec![json, tag], post)),
            _ => fail(404, "NOT_FOUND"),
        }
    })
    .await;
    let site = PullClient::new(&fake.base_url, "pk_x").unwrap();
    assert_eq!(site.post("a").await.unwrap().body.as_deref(), Some("B"));
    let err = site.post("a").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    site.post("a").await.unwrap();
    let sent = fake.requests("GET /api/v2/pull/posts/a");
    assert_eq!(sent[1].header("if-none-match"), Some("W/\"v1\""));
    assert_eq!(
        sent[2].header("if-none-match"),
        None,
        "forgotten after the 404"
    );

    assert!(site.post("b").await.is_err(), "not an envelope");
    site.post("b").await.unwrap();
    let sent = fake.requests("GET /api/v2/pull/posts/b");
    assert_eq!(
        sent[1].header("if-none-match"),
        None,
        "the unreadable answer was not kept"
    );
    assert_eq!(site.revalidations(), 0);
}
