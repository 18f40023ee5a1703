//! HTTP caching of the management API: an `ETag` on every list and post, `304` for a
//! current `If-None-Match`, `Cache-Control: private, no-cache`, and no stale answer after a
//! write, whichever instance took it.

use crate::helpers::{Resp, TestApp, both_stores};
use crate::media::{PNG, multipart};
use actix_web::test::TestRequest;
use serde_json::json;

async fn get(app: &TestApp, path: &str, token: &str, etag: Option<&str>) -> Resp {
    let mut req = TestRequest::get()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {token}")));
    if let Some(tag) = etag {
        req = req.insert_header(("if-none-match", tag));
    }
    app.call(req).await
}

/// The list's ETag, after checking that revalidating with it is a bodiless 304.
async fn current_etag(app: &TestApp, path: &str, token: &str) -> String {
    let first = get(app, path, token, None).await;
    first.expect(200);
    assert_eq!(
        first.header("cache-control"),
        Some("private, no-cache"),
        "{path}"
    );
    let etag = first
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on {path}"))
        .to_owned();
    let again = get(app, path, token, Some(&etag)).await;
    assert_eq!(again.status, 304, "{path}");
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert!(
        again.header("x-ratelimit-limit").is_some(),
        "quota headers stay on a 304"
    );
    etag
}

both_stores! {
    async fn a_current_tag_is_answered_before_the_list_query(app) {
        let owner = app.owner().await;
        app.create_post(&owner.access, json!({"title": "One"})).await;
        app.call(multipart(&owner.access, &[("file", Some("a.png"), PNG)])).await.expect(201);
        let posts = current_etag(&app, "/api/v2/posts", &owner.access).await;
        let media = current_etag(&app, "/api/v2/media", &owner.access).await;
        // With the tables the lists read gone, a revalidation still gets its 304 (the tag
        // comes from the site's content version, read with the caller's session), while a
        // request that needs the rows fails.
        let store = &app.state.store;
        store.execute_for_tests("ALTER TABLE posts RENAME TO posts_hidden").await.unwrap();
        store.execute_for_tests("ALTER TABLE media RENAME TO media_hidden").await.unwrap();
        assert_eq!(get(&app, "/api/v2/posts", &owner.access, Some(&posts)).await.status, 304);
        assert_eq!(get(&app, "/api/v2/media", &owner.access, Some(&media)).await.status, 304);
        get(&app, "/api/v2/posts", &owner.access, None).await.expect_error(500, "INTERNAL_ERROR");
        store.execute_for_tests("ALTER TABLE posts_hidden RENAME TO posts").await.unwrap();
        store.execute_for_tests("ALTER TABLE media_hidden RENAME TO media").await.unwrap();
        get(&app, "/api/v2/posts", &owner.access, None).await.expect(200);
    }

    async fn lists_revalidate_until_something_changes(app) {
        let owner = app.owner().await;
        let post = app.create_post(&owner.access, json!({"title": "One"})).await;
        let b = app.another_instance().await;

        for path in ["/api/v2/posts", "/api/v2/posts?status=draft&limit=5", "/api/v2/media", "/api/v2/users", "/api/v2/api-keys"] {
            current_etag(&app, path, &owner.access).await;
        }
        // Another query of the same list has another tag.
        let all = current_etag(&app, "/api/v2/posts", &owner.access).await;
        let drafts = current_etag(&app, "/api/v2/posts?status=draft", &owner.access).await;
        assert_ne!(all, drafts);

        // A write through instance A is seen at once by B, for every query of the list.
        app.patch(&format!("/api/v2/posts/{}", post["id"]), &owner.access, json!({"title": "Two"}))
            .await
            .expect(200);
        let r = get(&b, "/api/v2/posts", &owner.access, Some(&all)).await;
        assert_eq!(r.json()["data"][0]["title"], "Two");
        let r = get(&b, "/api/v2/posts?status=draft", &owner.access, Some(&drafts)).await;
        assert_eq!(r.status, 200);

        let media = current_etag(&b, "/api/v2/media", &owner.access).await;
        let up = app.call(multipart(&owner.access, &[("file", Some("a.png"), PNG)])).await.expect(201);
        assert_eq!(get(&b, "/api/v2/media", &owner.access, Some(&media)).await.status, 200);
        let media = current_etag(&b, "/api/v2/media", &owner.access).await;
        app.patch(&format!("/api/v2/media/{}", up["data"]["id"]), &owner.access, json!({"alt_text": "A"}))
            .await
            .expect(200);
        assert_eq!(get(&b, "/api/v2/media", &owner.access, Some(&media)).await.status, 200);

        let users = current_etag(&b, "/api/v2/users", &owner.access).await;
        app.add_user(&owner.access, "new@example.com", "editor", None).await;
        assert_eq!(get(&b, "/api/v2/users", &owner.access, Some(&users)).await.status, 200);

        // A single post keeps its version tag; errors are not cacheable either.
        let one = get(&app, &format!("/api/v2/posts/{}", post["id"]), &owner.access, None).await;
        let tag = one.header("etag").unwrap().to_owned();
        assert_eq!(get(&b, &format!("/api/v2/posts/{}", post["id"]), &owner.access, Some(&tag)).await.status, 304);
        let missing = get(&app, "/api/v2/posts/999999", &owner.access, None).await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.header("cache-control"), Some("private, no-cache"));
        // A tag is never a credential: a stranger without one gets 401, not 304.
        let anon = app.call(TestRequest::get().uri("/api/v2/posts").insert_header(("if-none-match", all.as_str()))).await;
        assert_eq!(anon.status, 401);
    }
}
