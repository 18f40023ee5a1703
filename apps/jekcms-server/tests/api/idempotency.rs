//! `Idempotency-Key` on `POST /api/v2/posts` and `POST /api/v2/bulk/posts`.

use crate::helpers::{Resp, TestApp, both_stores};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_auth::Role;
use jekcms_content::bulk::BulkOutcome;
use jekcms_content::idempotency::{
    self, Begun, Claim, Fingerprint, IdempotencyKey, IdempotencyStore, RETENTION, Scope,
    StoredResponse,
};
use jekcms_content::service::{self, Actor};
use jekcms_content::{ContentError, Post};
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

    async fn keys_are_per_user_and_conflicts_are_not_replayed(app) {
        let a = app.owner().await;
        let b = app.login("default", "editor@example.com", Role::Editor).await;
        let body = json!({"title": "Shared key", "slug": "shared"});
        let ra = post_with_key(&app, "/api/v2/posts", &a.access, "same", &body).await;
        ra.expect(201);
        // Another user's key space: their request runs (and meets the slug conflict).
        let rb = post_with_key(&app, "/api/v2/posts", &b.access, "same", &body).await;
        rb.expect_error(409, "CONFLICT");
        // A 409 depends on the moment, not on the body: it is not remembered. Once the slug
        // is free, the retry with the same key creates the post.
        app.delete(&format!("/api/v2/posts/{}", ra.json()["data"]["id"]), &a.access).await.expect(200);
        let again = post_with_key(&app, "/api/v2/posts", &b.access, "same", &body).await;
        let created = again.expect(201);
        assert_eq!(again.header("idempotent-replayed"), None);
        assert_eq!(created["data"]["slug"], "shared");
        assert_eq!(total(&app, &a.access).await, 1);
        // The same for an atomic bulk call refused for a taken slug.
        let bulk = json!({"posts": [{"title": "Bulk shared", "slug": "shared"}]});
        let r = post_with_key(&app, "/api/v2/bulk/posts?atomic=true", &a.access, "bulk-same", &bulk).await;
        r.expect_error(409, "CONFLICT");
        app.delete(&format!("/api/v2/posts/{}", created["data"]["id"]), &b.access).await.expect(200);
        let r = post_with_key(&app, "/api/v2/bulk/posts?atomic=true", &a.access, "bulk-same", &bulk).await;
        assert_eq!(r.expect(200)["data"]["created"], 1);
        assert_eq!(r.header("idempotent-replayed"), None);
    }

    async fn a_403_is_not_replayed_once_the_role_allows_the_request(app) {
        let owner = app.owner().await;
        let author = app.login("default", "author@example.com", Role::Author).await;
        let bulk = json!({"posts": [{"title": "Imported after a promotion"}]});
        let r = post_with_key(&app, "/api/v2/bulk/posts", &author.access, "promoted", &bulk).await;
        r.expect_error(403, "FORBIDDEN");
        app.patch(&format!("/api/v2/users/{}", author.user_id), &owner.access, json!({"role": "editor"}))
            .await
            .expect(200);
        let editor = app.login("default", "author@example.com", Role::Editor).await;
        assert_eq!(editor.user_id, author.user_id);
        let r = post_with_key(&app, "/api/v2/bulk/posts", &editor.access, "promoted", &bulk).await;
        assert_eq!(r.expect(200)["data"]["created"], 1);
        assert_eq!(r.header("idempotent-replayed"), None);
        assert_eq!(total(&app, &owner.access).await, 1);
    }

    async fn a_claim_whose_request_died_is_taken_over_after_its_lease(app) {
        let t = app.owner().await;
        let body = json!({"title": "Cut off"});
        // What a request killed between its claim and its commit leaves behind.
        let scope = Scope { site_id: t.site_id, user_id: t.user_id };
        let fingerprint = Fingerprint::of("POST /api/v2/posts?", &body);
        let now = jekcms_content::now();
        let claim = app.state.store
            .claim(scope, "died", &fingerprint, now, now + chrono::Duration::seconds(60), now - RETENTION)
            .await
            .unwrap();
        assert_eq!(claim, Claim::Won(1));
        // While its lease runs, a retry waits, then is told to come back.
        let r = post_with_key(&app, "/api/v2/posts", &t.access, "died", &body).await;
        r.expect_error(409, "CONFLICT");
        assert_eq!(total(&app, &t.access).await, 0);
        // Once it has run out, the retry does the work, once.
        app.state.store.execute_for_tests(
            "UPDATE idempotency_keys SET lease_until = '2000-01-01 00:00:00'",
        ).await.unwrap();
        let r = post_with_key(&app, "/api/v2/posts", &t.access, "died", &body).await;
        let created = r.expect(201);
        assert_eq!(r.header("idempotent-replayed"), None);
        let again = post_with_key(&app, "/api/v2/posts", &t.access, "died", &body).await;
        assert_eq!(again.expect(201)["data"], created["data"]);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(total(&app, &t.access).await, 1);
    }

    async fn a_request_that_outlived_its_lease_cannot_commit(app) {
        let t = app.owner().await;
        let store = &app.state.store;
        let scope = Scope { site_id: t.site_id, user_id: t.user_id };
        let key = IdempotencyKey::parse("slow").unwrap();
        let fingerprint = Fingerprint::of("op", &json!({}));
        let lease = std::time::Duration::from_secs(60);
        let Begun::Claimed(slow) = idempotency::begin(store, scope, &key, fingerprint, lease).await.unwrap() else {
            panic!("the first request claims the key");
        };
        store.execute_for_tests("UPDATE idempotency_keys SET lease_until = '2000-01-01 00:00:00'").await.unwrap();
        let Begun::Claimed(retry) = idempotency::begin(store, scope, &key, fingerprint, lease).await.unwrap() else {
            panic!("the retry takes the expired claim over");
        };
        assert_eq!((slow.ticket().attempt, retry.ticket().attempt), (1, 2));
        let actor = jekcms_content::activity::Writer {
            actor: Actor { user_id: t.user_id, site_id: t.site_id, role: Role::Owner },
            family: jekcms_content::activity::ActorFamily::Api,
            key_id: None,
            request_id: None,
        };
        let render = |p: &Post| Some(StoredResponse { status: 201, body: json!({"data": {"id": p.id}}) });
        let new = |title: &str| jekcms_content::post::parse_new(json!({"title": title}), "").unwrap();
        // The slow request wakes up and tries to commit: refused, and nothing is created.
        let late = service::create_post(store, &actor, new("late"), Some(slow.record(&render))).await;
        assert!(matches!(late, Err(ContentError::InProgress(_))), "{late:?}");
        let items = vec![Ok(jekcms_content::bulk::BulkPost { post: new("late bulk"), author_id: None })];
        let render_bulk = |_: &BulkOutcome| Some(StoredResponse { status: 200, body: json!({}) });
        let late = service::bulk_create_posts(store, &actor, items, false, Some(slow.record(&render_bulk))).await;
        assert!(matches!(late, Err(ContentError::InProgress(_))), "{late:?}");
        assert_eq!(total(&app, &t.access).await, 0);
        // The retry holding the claim commits, with its response.
        let post = service::create_post(store, &actor, new("retried"), Some(retry.record(&render))).await.unwrap();
        match idempotency::begin(store, scope, &key, fingerprint, lease).await.unwrap() {
            Begun::Replayed(r) => assert_eq!(r.body["data"]["id"], post.id),
            Begun::Claimed(c) => panic!("claimed again: {:?}", c.ticket()),
        }
        assert_eq!(total(&app, &t.access).await, 1);
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

/// A 401 or a 429 says nothing about the work: the retry with the same key, once the
/// credentials or the quota allow it, does the work instead of replaying the refusal.
async fn refusals_before_the_work_are_not_replayed(backend: jekcms_store::Backend) {
    let Some(app) = TestApp::new(backend, |c| {
        c.rate_limit_standard = jekcms_ratelimit::Quota::parse("1/s").ok();
    })
    .await
    else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let t = app
        .login("default", "editor@example.com", Role::Editor)
        .await;
    let owner = app.owner().await;
    let body = json!({"title": "After a refusal"});
    let r = post_with_key(
        &app,
        "/api/v2/posts",
        "v4.local.not-a-token",
        "refused",
        &body,
    )
    .await;
    r.expect_error(401, "AUTH_INVALID");
    // The quota of one a second is spent by the first call, so the next is refused.
    app.get("/api/v2/posts", &t.access).await.expect(200);
    let r = post_with_key(&app, "/api/v2/posts", &t.access, "refused", &body).await;
    r.expect_error(429, "RATE_LIMITED");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = post_with_key(&app, "/api/v2/posts", &t.access, "refused", &body).await;
    r.expect(201);
    assert_eq!(r.header("idempotent-replayed"), None);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = post_with_key(&app, "/api/v2/posts", &t.access, "refused", &body).await;
    again.expect(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(total(&app, &owner.access).await, 1);
}

#[actix_web::test]
async fn refusals_before_the_work_are_not_replayed_sqlite() {
    refusals_before_the_work_are_not_replayed(jekcms_store::Backend::Sqlite).await;
}

#[actix_web::test]
async fn refusals_before_the_work_are_not_replayed_postgres() {
    refusals_before_the_work_are_not_replayed(jekcms_store::Backend::Postgres).await;
}
