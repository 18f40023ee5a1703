//! `Idempotency-Key` on `POST /api/v2/posts` and `POST /api/v2/bulk/posts`.

use crate::helpers::{Resp, TestApp, both_stores};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_auth::Role;
use serde_json::{Value, json};

async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> Resp {
    app.call(
        TestRequest::default()
            .method(Method::POST)
            .uri(path)
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("idempotency-key", key))
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_string()),
    )
    .await
}

async fn total(app: &TestApp, token: &str) -> i64 {
    app.get("/api/v2/posts?include=total", token)
        .await
        .expect(200)["meta"]["total"]
        .as_i64()
        .unwrap()
}

both_stores! {
    async fn a_retry_replays_the_first_response_and_creates_nothing(app) {
        let t = app.owner().await;
        let body = json!({"title": "Once only", "tags": ["a"]});
        let first = post_with_key(&app, "/api/v2/posts", &t.access, "order-1", &body).await;
        let v1 = first.expect(201);
        assert_eq!(first.header("idempotent-replayed"), None);
        let second = post_with_key(&app, "/api/v2/posts", &t.access, "order-1", &body).await;
        let v2 = second.expect(201);
        assert_eq!(v2["data"], v1["data"]);
        assert_eq!(second.header("location"), first.header("location"));
        assert_eq!(second.header("idempotent-replayed"), Some("true"));
        assert_ne!(v2["meta"]["request_id"], v1["meta"]["request_id"]);
        assert_eq!(total(&app, &t.access).await, 1);
        // Whitespace is not a different body.
        let spaced = app.call(TestRequest::default().method(Method::POST).uri("/api/v2/posts")
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .insert_header(("idempotency-key", "order-1"))
            .insert_header(("content-type", "application/json"))
            .set_payload("{ \"title\" : \"Once only\",  \"tags\": [\"a\"] }")).await;
        assert_eq!(spaced.expect(201)["data"]["id"], v1["data"]["id"]);
        // A new key is a new request.
        post_with_key(&app, "/api/v2/posts", &t.access, "order-2", &body).await.expect(201);
        assert_eq!(total(&app, &t.access).await, 2);
    }

    async fn the_same_key_with_another_body_is_422(app) {
        let t = app.owner().await;
        post_with_key(&app, "/api/v2/posts", &t.access, "k", &json!({"title": "A"})).await.expect(201);
        let r = post_with_key(&app, "/api/v2/posts", &t.access, "k", &json!({"title": "B"})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "Idempotency-Key");
        // Another endpoint is another request too.
        let r = post_with_key(&app, "/api/v2/bulk/posts", &t.access, "k", &json!({"posts": [{"title": "A"}]})).await;
        assert_eq!(r.field(), "Idempotency-Key");
        assert_eq!(total(&app, &t.access).await, 1);
        // Bad keys.
        for key in [String::new(), "k".repeat(256)] {
            let r = post_with_key(&app, "/api/v2/posts", &t.access, &key, &json!({"title": "C"})).await;
            r.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(r.field(), "Idempotency-Key");
        }
        post_with_key(&app, "/api/v2/posts", &t.access, &"k".repeat(255), &json!({"title": "C"})).await.expect(201);
        // An invalid body does not use up the key: fixed, it goes through.
        let r = post_with_key(&app, "/api/v2/posts", &t.access, "fix-me", &json!({"title": ""})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        post_with_key(&app, "/api/v2/posts", &t.access, "fix-me", &json!({"title": "Fixed"})).await.expect(201);
        assert_eq!(total(&app, &t.access).await, 3);
    }

    async fn concurrent_identical_requests_create_once(app) {
        let t = app.owner().await;
        let body = json!({"title": "Raced"});
        let calls = (0..6).map(|_| post_with_key(&app, "/api/v2/posts", &t.access, "race", &body));
        let results = futures_util::future::join_all(calls).await;
        let ids: Vec<Value> = results.iter().map(|r| r.expect(201)["data"]["id"].clone()).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let replayed = results.iter().filter(|r| r.header("idempotent-replayed") == Some("true")).count();
        assert_eq!(replayed, 5);
        assert_eq!(total(&app, &t.access).await, 1);
        // The same for a bulk import.
        let bulk = json!({"posts": [{"title": "Bulk raced 1"}, {"title": "Bulk raced 2"}]});
        let calls = (0..4).map(|_| post_with_key(&app, "/api/v2/bulk/posts", &t.access, "bulk-race", &bulk));
        let results = futures_util::future::join_all(calls).await;
        let data: Vec<Value> = results.iter().map(|r| r.expect(200)["data"].clone()).collect();
        assert!(data.iter().all(|d| *d == data[0]), "{data:?}");
        assert_eq!(total(&app, &t.access).await, 3);
    }

    async fn keys_are_per_user_and_outcomes_are_replayed_too(app) {
        let a = app.owner().await;
        let b = app.login("default", "editor@example.com", Role::Editor).await;
        let body = json!({"title": "Shared key", "slug": "shared"});
        let ra = post_with_key(&app, "/api/v2/posts", &a.access, "same", &body).await;
        ra.expect(201);
        // Another user's key space: their request runs (and meets the slug conflict).
        let rb = post_with_key(&app, "/api/v2/posts", &b.access, "same", &body).await;
        rb.expect_error(409, "CONFLICT");
        // A 409 outcome is remembered like a success.
        app.delete(&format!("/api/v2/posts/{}", ra.json()["data"]["id"]), &a.access).await.expect(200);
        let again = post_with_key(&app, "/api/v2/posts", &b.access, "same", &body).await;
        again.expect_error(409, "CONFLICT");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(total(&app, &a.access).await, 0);
    }

    async fn bulk_retries_replay_and_keys_expire_after_a_day(app) {
        let t = app.owner().await;
        let body = json!({"posts": [{"title": "Day one"}, {"title": ""}]});
        let first = post_with_key(&app, "/api/v2/bulk/posts", &t.access, "import-1", &body).await.expect(200);
        let again = post_with_key(&app, "/api/v2/bulk/posts", &t.access, "import-1", &body).await.expect(200);
        assert_eq!(first["data"], again["data"]);
        assert_eq!(total(&app, &t.access).await, 1);
        // 25 hours later the key is forgotten: the same request runs again.
        app.state.store.execute_for_tests(
            "UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00'",
        ).await.unwrap();
        let later = post_with_key(&app, "/api/v2/bulk/posts", &t.access, "import-1", &body).await.expect(200);
        assert_ne!(later["data"]["results"][0]["id"], first["data"]["results"][0]["id"]);
        assert_eq!(total(&app, &t.access).await, 2);
    }
}
