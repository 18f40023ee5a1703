//! Post CRUD, validation, slugs, ETags.

use crate::helpers::both_stores;
use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::json;

both_stores! {
    async fn create_get_patch_delete(app) {
        let t = app.owner().await;
        let r = app.post("/api/v2/posts", &t.access, json!({
            "title": "  Hello World  ", "excerpt": "short", "body": "text", "tags": ["rust", "web", "rust"], "status": "draft"
        })).await;
        let v = r.expect(201);
        let post = &v["data"];
        let id = post["id"].as_i64().unwrap();
        assert_eq!(r.header("location"), Some(format!("/api/v2/posts/{id}").as_str()));
        assert_eq!(post["title"], "Hello World");
        assert_eq!(post["slug"], "hello-world");
        assert_eq!(post["tags"], json!(["rust", "web"]));
        assert_eq!(post["status"], "draft");
        assert_eq!(post["published_at"], serde_json::Value::Null);
        assert_eq!(post["author_id"], t.user_id);
        assert_eq!(post["site_id"], t.site_id);
        assert!(post["created_at"].as_str().unwrap().ends_with('Z'));

        let path = format!("/api/v2/posts/{id}");
        let got = app.get(&path, &t.access).await;
        assert_eq!(got.expect(200)["data"], *post);

        // Publishing sets published_at; the title change keeps the slug.
        let patched = app.patch(&path, &t.access, json!({"status": "published", "title": "New title", "excerpt": null})).await.expect(200);
        assert_eq!(patched["data"]["slug"], "hello-world");
        assert_eq!(patched["data"]["title"], "New title");
        assert_eq!(patched["data"]["excerpt"], serde_json::Value::Null);
        assert_eq!(patched["data"]["body"], "text");
        assert!(patched["data"]["published_at"].is_string());

        let del = app.delete(&path, &t.access).await.expect(200);
        assert_eq!(del["data"], json!({"id": id, "deleted": true}));
        app.delete(&path, &t.access).await.expect_error(404, "NOT_FOUND");
        app.get(&path, &t.access).await.expect_error(404, "NOT_FOUND");
    }

    async fn slugs_are_generated_unique_and_conflicts_are_409(app) {
        let t = app.owner().await;
        let a = app.create_post(&t.access, json!({"title": "Same Title"})).await;
        let b = app.create_post(&t.access, json!({"title": "Same Title"})).await;
        let c = app.create_post(&t.access, json!({"title": "Same title!"})).await;
        assert_eq!((a["slug"].as_str(), b["slug"].as_str(), c["slug"].as_str()),
                   (Some("same-title"), Some("same-title-2"), Some("same-title-3")));
        let r = app.post("/api/v2/posts", &t.access, json!({"title": "x", "slug": "same-title"})).await;
        r.expect_error(409, "CONFLICT");
        assert_eq!(r.field(), "slug");
        let r = app.patch(&format!("/api/v2/posts/{}", b["id"]), &t.access, json!({"slug": "same-title"})).await;
        r.expect_error(409, "CONFLICT");
        // Concurrent creates with one title all succeed with distinct slugs.
        let calls = (0..5).map(|_| app.post("/api/v2/posts", &t.access, json!({"title": "Race"})));
        let results = futures_util::future::join_all(calls).await;
        let mut slugs: Vec<String> = results.iter().map(|r| r.expect(201)["data"]["slug"].as_str().unwrap().to_owned()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), 5);
    }

    async fn validation_names_every_bad_field(app) {
        let t = app.owner().await;
        let r = app.post("/api/v2/posts", &t.access, json!({
            "title": "", "slug": "Not A Slug", "status": "live", "tags": "rust", "published_at": "tomorrow", "views": 3
        })).await;
        let v = r.expect_error(422, "VALIDATION_FAILED");
        let mut fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        fields.sort();
        assert_eq!(fields, ["published_at", "slug", "status", "tags", "title", "views"]);
        app.post("/api/v2/posts", &t.access, json!({"title": "t".repeat(301)})).await.expect_error(422, "VALIDATION_FAILED");
        app.post("/api/v2/posts", &t.access, json!({"title": "t", "excerpt": "e".repeat(1001)})).await.expect_error(422, "VALIDATION_FAILED");
        let tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        let r = app.post("/api/v2/posts", &t.access, json!({"title": "t", "tags": tags})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "tags");
        let r = app.post("/api/v2/posts", &t.access, json!({"title": "t", "body": "b".repeat(1_000_001)})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "body");
        let r = app.post("/api/v2/posts", &t.access, json!(["not", "an", "object"])).await;
        r.expect_error(422, "VALIDATION_FAILED");
        let r = app.patch("/api/v2/posts/1", &t.access, json!({"title": "x"})).await;
        r.expect_error(404, "NOT_FOUND");
        // Nothing was created by any of the failures.
        let list = app.get("/api/v2/posts?include=total", &t.access).await.expect(200);
        assert_eq!(list["meta"]["total"], 0);
    }

    async fn bodies_are_checked_before_use(app) {
        let t = app.owner().await;
        let bad_json = TestRequest::post().uri("/api/v2/posts")
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("content-type", "application/json"))
            .set_payload("{\"title\": ");
        app.call(bad_json).await.expect_error(400, "MALFORMED_REQUEST");
        let not_json = TestRequest::post().uri("/api/v2/posts")
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("content-type", "text/plain"))
            .set_payload("title=x");
        app.call(not_json).await.expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
        let huge = TestRequest::post().uri("/api/v2/posts")
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("content-type", "application/json"))
            .set_payload(format!("{{\"title\": \"t\", \"body\": \"{}\"}}", "x".repeat(5 * 1024 * 1024)));
        app.call(huge).await.expect_error(413, "PAYLOAD_TOO_LARGE");
    }

    async fn etags_drive_conditional_requests(app) {
        let t = app.owner().await;
        let post = app.create_post(&t.access, json!({"title": "Cached"})).await;
        let path = format!("/api/v2/posts/{}", post["id"]);
        let first = app.get(&path, &t.access).await;
        first.expect(200);
        let etag = first.header("etag").unwrap().to_owned();
        let cached = app.call(TestRequest::get().uri(&path)
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("if-none-match", etag.clone()))).await;
        assert_eq!(cached.status, 304);
        assert!(cached.body.is_empty());
        // A stale If-Match is refused; the current one applies.
        let ok = app.call(TestRequest::patch().uri(&path)
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("if-match", etag.clone()))
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"title":"v2"}"#)).await;
        ok.expect(200);
        let new_etag = ok.header("etag").unwrap().to_owned();
        assert_ne!(new_etag, etag);
        let stale = app.call(TestRequest::patch().uri(&path)
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("if-match", etag.clone()))
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"title":"v3"}"#)).await;
        stale.expect_error(412, "PRECONDITION_FAILED");
        let now = app.get(&path, &t.access).await.expect(200);
        assert_eq!(now["data"]["title"], "v2");
        // The old ETag no longer short-circuits.
        let fresh = app.call(TestRequest::get().uri(&path)
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("if-none-match", etag))).await;
        assert_eq!(fresh.status, 200);
    }

    async fn non_numeric_ids_are_404(app) {
        let t = app.owner().await;
        app.get("/api/v2/posts/abc", &t.access).await.expect_error(404, "NOT_FOUND");
        app.send(Method::DELETE, "/api/v2/posts/99999999999999999999", Some(&t.access), None).await.expect_error(404, "NOT_FOUND");
    }
}
