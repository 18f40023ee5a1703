//! The activity log (API.md §10): every write of every API records its events in its own
//! transaction, with its actor and request; rolled-back writes record nothing; a scheduled
//! post is announced once, whichever instance gets there; old events are deleted.

use crate::helpers::{TestApp, both_stores};
use crate::media::{PNG, multipart};
use actix_web::test::TestRequest;
use jekcms_auth::Role;
use serde_json::{Value, json};

/// The site's activity as `token` sees it (first page of 100), with `query`.
async fn activity(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v2/activity?limit=100{query}"), token)
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// `(type, subject id)` of each event, newest first.
fn kinds(events: &[Value]) -> Vec<(String, i64)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["subject"]["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

both_stores! {
    async fn every_write_is_recorded_with_its_actor_and_request(app) {
        let owner = app.owner().await;
        // A post created through the v2 API with a request id of the client's.
        let res = app
            .call(TestRequest::post()
                .uri("/api/v2/posts")
                .insert_header(("authorization", format!("Bearer {}", owner.access)))
                .insert_header(("x-request-id", "client-req-1"))
                .insert_header(("content-type", "application/json"))
                .set_payload(json!({"title": "Hello", "status": "published"}).to_string()))
            .await;
        let post = res.expect(201)["data"]["id"].as_i64().unwrap();
        let events = activity(&app, &owner.access, "").await;
        assert_eq!(kinds(&events), [("post.published".to_owned(), post), ("post.created".to_owned(), post)]);
        let created = &events[1];
        assert_eq!(created["actor"]["user_id"], owner.user_id);
        assert_eq!(created["actor"]["family"], "api");
        assert!(created["actor"]["key_id"].as_str().unwrap().starts_with("api_"));
        assert_eq!(created["subject"]["kind"], "post");
        assert_eq!(created["request_id"], "client-req-1");
        assert!(created["occurred_at"].as_str().unwrap().ends_with('Z'));
        assert!(events[0]["id"].as_i64() > created["id"].as_i64(), "newest first");

        // Updates, unpublishing, deletion; media; bulk (one event per post); key rotation.
        app.patch(&format!("/api/v2/posts/{post}"), &owner.access, json!({"title": "Hi"})).await.expect(200);
        app.patch(&format!("/api/v2/posts/{post}"), &owner.access, json!({"status": "draft"})).await.expect(200);
        app.patch(&format!("/api/v2/posts/{post}"), &owner.access, json!({"status": "published"})).await.expect(200);
        app.delete(&format!("/api/v2/posts/{post}"), &owner.access).await.expect(200);
        let media = app.call(multipart(&owner.access, &[("file", Some("a.png"), PNG)])).await.expect(201)["data"]["id"].as_i64().unwrap();
        app.patch(&format!("/api/v2/media/{media}"), &owner.access, json!({"alt_text": "A"})).await.expect(200);
        app.delete(&format!("/api/v2/media/{media}"), &owner.access).await.expect(200);
        let bulk = app
            .post("/api/v2/bulk/posts", &owner.access, json!({"posts": [{"title": "B1"}, {"title": ""}, {"title": "B3", "status": "published"}]}))
            .await
            .expect(200);
        let b1 = bulk["data"]["results"][0]["id"].as_i64().unwrap();
        let b3 = bulk["data"]["results"][2]["id"].as_i64().unwrap();
        app.post(&format!("/api/v2/sites/{}/rotate-keys", owner.site_id), &owner.access, json!({})).await.expect(200);
        let events = activity(&app, &owner.access, "").await;
        let expected: Vec<(String, i64)> = [
            ("site.keys_rotated", owner.site_id),
            ("post.published", b3),
            ("post.created", b3),
            ("post.created", b1),
            ("media.deleted", media),
            ("media.updated", media),
            ("media.created", media),
            ("post.deleted", post),
            ("post.published", post),
            ("post.updated", post),
            ("post.unpublished", post),
            ("post.updated", post),
            ("post.updated", post),
            ("post.published", post),
            ("post.created", post),
        ]
        .into_iter()
        .map(|(t, id)| (t.to_owned(), id))
        .collect();
        assert_eq!(kinds(&events), expected);
        assert_eq!(events[0]["subject"]["kind"], "site");
        assert_eq!(events[4]["subject"]["kind"], "media");
        // Events of one bulk request share its request id; another request has another.
        assert_eq!(events[1]["request_id"], events[3]["request_id"]);
        assert_ne!(events[0]["request_id"], events[1]["request_id"]);

        // A password session, and the legacy v1 API.
        let editor = app.add_user(&owner.access, "ed@example.com", "editor", Some("correct horse battery")).await;
        let session = app.password_login("ed@example.com", "correct horse battery").await;
        let by_password = app.create_post(&session.access, json!({"title": "By password"})).await["id"].as_i64().unwrap();
        let (key, secret, v1_user, _) = app.api_key("default", "legacy@example.com", Role::Editor).await;
        let res = app
            .call(TestRequest::post()
                .uri("/api/v1/posts/create")
                .insert_header(("x-api-key", key.as_str()))
                .insert_header(("x-api-secret", secret.as_str()))
                .insert_header(("content-type", "application/json"))
                .set_payload(json!({"title": "By v1"}).to_string()))
            .await;
        assert_eq!(res.status, 201);
        let events = activity(&app, &owner.access, "").await;
        assert_eq!(events[1]["subject"]["id"], by_password);
        assert_eq!(events[1]["actor"], json!({"user_id": editor, "family": "password", "key_id": null}));
        assert_eq!(events[0]["actor"], json!({"user_id": v1_user, "family": "api", "key_id": key}));

        // Reads are not recorded.
        let before = activity(&app, &owner.access, "").await.len();
        app.get("/api/v2/posts", &owner.access).await.expect(200);
        app.get(&format!("/api/v2/posts/{by_password}"), &owner.access).await.expect(200);
        assert_eq!(activity(&app, &owner.access, "").await.len(), before);
    }

    async fn filters_pages_and_who_may_read(app) {
        let owner = app.owner().await;
        let admin = app.login("default", "admin@example.com", Role::Admin).await;
        for i in 0..5 {
            app.create_post(&owner.access, json!({"title": format!("O{i}")})).await;
        }
        let by_admin = app.create_post(&admin.access, json!({"title": "A"})).await["id"].as_i64().unwrap();
        app.delete(&format!("/api/v2/posts/{by_admin}"), &admin.access).await.expect(200);

        let mine = activity(&app, &admin.access, &format!("&actor_id={}", admin.user_id)).await;
        assert_eq!(kinds(&mine), [("post.deleted".to_owned(), by_admin), ("post.created".to_owned(), by_admin)]);
        let deleted = activity(&app, &owner.access, "&type=post.deleted").await;
        assert_eq!(deleted.len(), 1);
        let both = activity(&app, &owner.access, "&type=post.deleted&type=post.created").await;
        assert_eq!(both.len(), 7);
        assert_eq!(activity(&app, &owner.access, "&type=post.created,post.deleted").await, both);
        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert!(activity(&app, &owner.access, &format!("&since={future}")).await.is_empty());
        assert_eq!(activity(&app, &owner.access, "&since=2000-01-01T00:00:00Z").await.len(), 7);

        // Cursor pages walk the whole log once, newest first.
        let mut seen = Vec::new();
        let mut path = "/api/v2/activity?limit=3".to_owned();
        loop {
            let v = app.get(&path, &owner.access).await.expect(200);
            seen.extend(v["data"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()));
            match v["meta"]["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v2/activity?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7);
        assert!(seen.windows(2).all(|w| w[0] > w[1]));
        // A cursor is sealed to its filters.
        let v = app.get("/api/v2/activity?limit=1", &owner.access).await.expect(200);
        let cursor = v["meta"]["next_cursor"].as_str().unwrap().to_owned();
        app.get(&format!("/api/v2/activity?limit=1&type=post.created&cursor={cursor}"), &owner.access)
            .await
            .expect_error(422, "VALIDATION_FAILED");

        for bad in ["type=post.nope", "actor_id=x", "since=yesterday", "colour=red"] {
            app.get(&format!("/api/v2/activity?{bad}"), &owner.access).await.expect_error(422, "VALIDATION_FAILED");
        }
        let editor = app.login("default", "editor@example.com", Role::Editor).await;
        app.get("/api/v2/activity", &editor.access).await.expect_error(403, "FORBIDDEN");
        // Another site's events are not visible.
        let other = app.login("other", "o@example.com", Role::Owner).await;
        assert!(activity(&app, &other.access, "").await.is_empty());
    }

    async fn rolled_back_writes_record_nothing(app) {
        let owner = app.owner().await;
        let post = app.create_post(&owner.access, json!({"title": "Kept", "slug": "kept"})).await["id"].as_i64().unwrap();
        let before = activity(&app, &owner.access, "").await;
        // An atomic bulk that fails on a taken slug.
        app.post("/api/v2/bulk/posts?atomic=true", &owner.access, json!({"posts": [{"title": "New"}, {"title": "Dup", "slug": "kept"}]}))
            .await
            .expect_error(409, "CONFLICT");
        // An update refused by If-Match, and one refused for a taken slug.
        let res = app
            .call(TestRequest::patch()
                .uri(&format!("/api/v2/posts/{post}"))
                .insert_header(("authorization", format!("Bearer {}", owner.access)))
                .insert_header(("if-match", "\"stale\""))
                .insert_header(("content-type", "application/json"))
                .set_payload(json!({"title": "Changed"}).to_string()))
            .await;
        res.expect_error(412, "PRECONDITION_FAILED");
        app.create_post(&owner.access, json!({"title": "Other", "slug": "other"})).await;
        app.patch(&format!("/api/v2/posts/{post}"), &owner.access, json!({"slug": "other"})).await.expect_error(409, "CONFLICT");
        let after = activity(&app, &owner.access, "").await;
        assert_eq!(after.len(), before.len() + 1, "only the second create: {after:?}");
        assert_eq!(after[1..], before[..]);
    }

    async fn a_scheduled_post_is_announced_once(app) {
        let owner = app.owner().await;
        let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
        let post = app
            .create_post(&owner.access, json!({"title": "Later", "status": "published", "published_at": at.to_rfc3339()}))
            .await["id"]
            .as_i64()
            .unwrap();
        // Scheduled, not yet visible: created only.
        assert_eq!(jekcms_server::jobs::announce_due_publications(&app.state.store).await.unwrap(), 0);
        assert_eq!(kinds(&activity(&app, &owner.access, "").await), [("post.created".to_owned(), post)]);
        tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
        // Two instances race for it: one announces it.
        let other = app.another_instance().await;
        let (a, b) = tokio::join!(
            jekcms_server::jobs::announce_due_publications(&app.state.store),
            jekcms_server::jobs::announce_due_publications(&other.state.store),
        );
        assert_eq!(a.unwrap() + b.unwrap(), 1);
        let events = activity(&app, &owner.access, "").await;
        assert_eq!(kinds(&events), [("post.published".to_owned(), post), ("post.created".to_owned(), post)]);
        assert_eq!(events[0]["actor"], json!({"user_id": null, "family": "system", "key_id": null}));
        assert_eq!(events[0]["request_id"], Value::Null);
        assert_eq!(jekcms_server::jobs::announce_due_publications(&app.state.store).await.unwrap(), 0);
        // An edit after it does not announce it again; rescheduling and reaching the new
        // time does.
        app.patch(&format!("/api/v2/posts/{post}"), &owner.access, json!({"title": "Now"})).await.expect(200);
        let later = chrono::Utc::now() + chrono::Duration::milliseconds(800);
        app.patch(&format!("/api/v2/posts/{post}"), &owner.access, json!({"published_at": later.to_rfc3339()})).await.expect(200);
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        assert_eq!(jekcms_server::jobs::announce_due_publications(&app.state.store).await.unwrap(), 1);
        let types: Vec<String> = kinds(&activity(&app, &owner.access, "").await).into_iter().map(|(t, _)| t).collect();
        assert_eq!(types, ["post.published", "post.unpublished", "post.updated", "post.updated", "post.published", "post.created"]);
    }

    async fn content_changing_hands_is_recorded(app) {
        let owner = app.owner().await;
        let author = app.login("default", "author@example.com", Role::Author).await;
        let p1 = app.create_post(&author.access, json!({"title": "One"})).await["id"].as_i64().unwrap();
        let p2 = app.create_post(&author.access, json!({"title": "Two"})).await["id"].as_i64().unwrap();
        let m = app.call(multipart(&author.access, &[("file", Some("a.png"), PNG)])).await.expect(201)["data"]["id"].as_i64().unwrap();
        app.delete(&format!("/api/v2/users/{}", author.user_id), &owner.access).await.expect(200);
        let events = activity(&app, &owner.access, "").await;
        let mut moved = kinds(&events[..3]);
        moved.sort();
        assert_eq!(moved, [("media.updated".to_owned(), m), ("post.updated".to_owned(), p1), ("post.updated".to_owned(), p2)]);
        assert!(events[..3].iter().all(|e| e["actor"]["user_id"] == owner.user_id));
        // The author's own events stay in the log after the author is gone.
        assert_eq!(events[3]["actor"]["user_id"], author.user_id);
    }

    async fn old_events_are_deleted(app) {
        let owner = app.owner().await;
        app.create_post(&owner.access, json!({"title": "Old"})).await;
        let store = &app.state.store;
        assert_eq!(store.prune_activity(chrono::Utc::now() - chrono::Duration::days(1)).await.unwrap(), 0);
        assert_eq!(activity(&app, &owner.access, "").await.len(), 1);
        assert_eq!(store.prune_activity(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1);
        assert!(activity(&app, &owner.access, "").await.is_empty());
    }
}
