//! Bulk import (`POST /api/v2/bulk/posts`): per-item results, atomic mode, a failure inside
//! the transaction, roles and the rate limit.

use crate::helpers::{TestApp, both_stores};
use jekcms_auth::Role;
use jekcms_store::Backend;
use serde_json::{Value, json};

/// How many posts of the site have a title containing `q`.
async fn count(app: &TestApp, token: &str, q: &str) -> i64 {
    let v = app
        .get(&format!("/api/v2/posts?include=total&q={q}"), token)
        .await
        .expect(200);
    v["meta"]["total"].as_i64().unwrap()
}

async fn slug_of(app: &TestApp, token: &str, id: i64) -> String {
    let v = app
        .get(&format!("/api/v2/posts/{id}"), token)
        .await
        .expect(200);
    v["data"]["slug"].as_str().unwrap().to_owned()
}

fn fields(errors: &Value) -> Vec<String> {
    let mut f: Vec<String> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    f.sort();
    f
}

both_stores! {
    async fn mixed_batch_reports_each_item_in_order(app) {
        let t = app.login("default", "editor@example.com", Role::Editor).await;
        app.create_post(&t.access, json!({"title": "Existing", "slug": "taken"})).await;
        let r = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": [
            {"title": "Bulk one", "tags": ["a", "b"], "status": "published"},
            {"title": ""},
            {"title": "Bulk colour", "colour": "red"},
            {"title": "Bulk same"},
            {"title": "Bulk same"},
            {"title": "Bulk mine", "slug": "mine"},
            {"title": "Bulk mine again", "slug": "mine"},
            {"title": "Bulk taken", "slug": "taken"},
            {"title": "Mine"},
        ]})).await;
        let v = r.expect(200);
        let d = &v["data"];
        assert_eq!((d["created"].as_i64(), d["failed"].as_i64()), (Some(5), Some(4)), "{d}");
        let results = d["results"].as_array().unwrap();
        assert_eq!(results.len(), 9);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r["index"], i);
        }
        assert_eq!(results[1]["errors"][0]["field"], "posts[1].title");
        assert_eq!(results[1]["errors"][0]["code"], "VALIDATION_FAILED");
        assert_eq!(results[2]["errors"][0]["field"], "posts[2].colour");
        assert_eq!(results[6]["errors"][0]["field"], "posts[6].slug");
        assert_eq!(results[6]["errors"][0]["code"], "CONFLICT");
        assert_eq!(results[7]["errors"][0]["code"], "CONFLICT");
        // The created posts are real, with the rules of a single create.
        let one = app.get(&format!("/api/v2/posts/{}", results[0]["id"]), &t.access).await.expect(200);
        assert_eq!(one["data"]["slug"], "bulk-one");
        assert_eq!(one["data"]["tags"], json!(["a", "b"]));
        assert!(one["data"]["published_at"].is_string());
        assert_eq!(one["data"]["author_id"], t.user_id);
        let slug = |i: usize| slug_of(&app, &t.access, results[i]["id"].as_i64().unwrap());
        assert_eq!(slug(3).await, "bulk-same");
        assert_eq!(slug(4).await, "bulk-same-2");
        assert_eq!(slug(5).await, "mine");
        // A generated slug steps around a slug given in the same batch.
        assert_eq!(slug(8).await, "mine-2");
        // Tag filters see the bulk-created tags.
        let tagged = app.get("/api/v2/posts?tag=b", &t.access).await.expect(200);
        assert_eq!(tagged["data"].as_array().unwrap().len(), 1);
        assert_eq!(count(&app, &t.access, "bulk").await, 4);
    }

    async fn suffixes_continue_after_slugs_imported_before(app) {
        let t = app.owner().await;
        app.create_post(&t.access, json!({"title": "Dup"})).await;
        app.create_post(&t.access, json!({"title": "Dup"})).await;
        let v = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": [
            {"title": "Dup"}, {"title": "Dup"}, {"title": "Fresh"},
        ]})).await.expect(200);
        let results = v["data"]["results"].as_array().unwrap().clone();
        let mut slugs = Vec::new();
        for r in &results {
            slugs.push(slug_of(&app, &t.access, r["id"].as_i64().unwrap()).await);
        }
        assert_eq!(slugs[2], "fresh");
        let mut dups = slugs[..2].to_vec();
        dups.sort();
        assert_eq!(dups, ["dup-3", "dup-4"]);
        // And once more: every candidate of this batch is taken.
        let v = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": [
            {"title": "Dup"}, {"title": "Fresh"},
        ]})).await.expect(200);
        let ids: Vec<i64> = v["data"]["results"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(slug_of(&app, &t.access, ids[0]).await, "dup-5");
        assert_eq!(slug_of(&app, &t.access, ids[1]).await, "fresh-2");
    }

    async fn limits_and_malformed_bodies(app) {
        let t = app.owner().await;
        let posts: Vec<Value> = (0..101).map(|i| json!({"title": format!("p{i}")})).collect();
        let r = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": posts})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "posts");
        let posts: Vec<Value> = (0..100).map(|i| json!({"title": format!("hundred {i}")})).collect();
        let v = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": posts})).await.expect(200);
        assert_eq!(v["data"]["created"], 100);
        assert_eq!(count(&app, &t.access, "hundred").await, 100);
        for (body, field) in [
            (json!({"posts": []}), "posts"),
            (json!({"items": [{"title": "x"}]}), "items"),
            (json!([{"title": "x"}]), "body"),
        ] {
            let r = app.post("/api/v2/bulk/posts", &t.access, body).await;
            r.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(r.field(), field);
        }
        let r = app.post("/api/v2/bulk/posts?atomic=maybe", &t.access, json!({"posts": [{"title": "x"}]})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "atomic");
    }

    async fn atomic_is_all_or_nothing(app) {
        let t = app.owner().await;
        app.create_post(&t.access, json!({"title": "Existing", "slug": "taken"})).await;
        let r = app.post("/api/v2/bulk/posts?atomic=true", &t.access, json!({"posts": [
            {"title": "Atomic a"}, {"title": "", "views": 3}, {"title": "Atomic c", "status": "live"},
        ]})).await;
        let v = r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(fields(&v["errors"]), ["posts[1].title", "posts[1].views", "posts[2].status"]);
        assert_eq!(count(&app, &t.access, "atomic").await, 0);
        // A taken slug (in the site or earlier in the batch) is a 409 naming every one.
        let r = app.post("/api/v2/bulk/posts?atomic=true", &t.access, json!({"posts": [
            {"title": "Atomic a"}, {"title": "Atomic b", "slug": "taken"}, {"title": "Atomic c", "slug": "c"}, {"title": "Atomic d", "slug": "c"},
        ]})).await;
        let v = r.expect_error(409, "CONFLICT");
        assert_eq!(fields(&v["errors"]), ["posts[1].slug", "posts[3].slug"]);
        assert_eq!(count(&app, &t.access, "atomic").await, 0);
        // All valid: all created.
        let v = app.post("/api/v2/bulk/posts?atomic=true", &t.access, json!({"posts": [
            {"title": "Atomic a"}, {"title": "Atomic b"},
        ]})).await.expect(200);
        assert_eq!(v["data"]["created"], 2);
        assert_eq!(count(&app, &t.access, "atomic").await, 2);
    }

    async fn a_failure_inside_the_transaction_leaves_nothing(app) {
        let t = app.owner().await;
        // A trigger that fails the insert of one tag row: by then the batch's posts (and the
        // tags of earlier posts) are already inserted in the transaction.
        let store = &app.state.store;
        match store.backend() {
            Backend::Sqlite => store.execute_for_tests(
                "CREATE TRIGGER poison BEFORE INSERT ON post_tags WHEN NEW.tag = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned tag'); END",
            ).await.unwrap(),
            Backend::Postgres => {
                store.execute_for_tests(
                    "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                     IF NEW.tag = 'poison' THEN RAISE EXCEPTION 'poisoned tag'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql",
                ).await.unwrap();
                store.execute_for_tests(
                    "CREATE TRIGGER poison BEFORE INSERT ON post_tags FOR EACH ROW EXECUTE FUNCTION poison()",
                ).await.unwrap();
            }
        }
        let batch = json!({"posts": [
            {"title": "Crash a", "tags": ["x"]},
            {"title": "Crash b", "tags": ["y"]},
            {"title": "Crash c", "tags": ["z", "poison"]},
            {"title": "Crash d"},
        ]});
        for path in ["/api/v2/bulk/posts", "/api/v2/bulk/posts?atomic=true"] {
            let r = app.post(path, &t.access, batch.clone()).await;
            let v = r.expect_error(500, "INTERNAL_ERROR");
            let text = v.to_string();
            assert!(!text.contains("poison") && !text.contains("INSERT"), "{text}");
            assert_eq!(count(&app, &t.access, "crash").await, 0, "no post of the batch exists");
            let tagged = app.get("/api/v2/posts?tag=x", &t.access).await.expect(200);
            assert_eq!(tagged["data"], json!([]));
        }
        // The same batch without the poisoned tag goes through.
        let v = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": [{"title": "Crash a", "tags": ["x"]}]})).await.expect(200);
        assert_eq!(v["data"]["created"], 1);
    }

    async fn an_item_may_name_a_user_of_the_site_as_its_author(app) {
        let editor = app.login("default", "editor@example.com", Role::Editor).await;
        let writer = app.login("default", "writer@example.com", Role::Author).await;
        let stranger = app.login("other", "stranger@example.com", Role::Owner).await;
        let v = app.post("/api/v2/bulk/posts", &editor.access, json!({"posts": [
            {"title": "By writer", "author_id": writer.user_id},
            {"title": "By me", "author_id": editor.user_id},
            {"title": "By nobody known", "author_id": stranger.user_id},
            {"title": "By a string", "author_id": "7"},
            {"title": "By default"},
        ]})).await.expect(200);
        let results = v["data"]["results"].as_array().unwrap().clone();
        assert_eq!((v["data"]["created"].as_i64(), v["data"]["failed"].as_i64()), (Some(3), Some(2)), "{v}");
        let author_of = |i: usize| {
            let id = results[i]["id"].as_i64().unwrap();
            let (app, token) = (&app, editor.access.clone());
            async move { app.get(&format!("/api/v2/posts/{id}"), &token).await.expect(200)["data"]["author_id"].clone() }
        };
        assert_eq!(author_of(0).await, writer.user_id);
        assert_eq!(author_of(1).await, editor.user_id);
        assert_eq!(author_of(4).await, editor.user_id);
        for i in [2, 3] {
            assert_eq!(results[i]["errors"][0]["field"], format!("posts[{i}].author_id"));
            assert_eq!(results[i]["errors"][0]["code"], "VALIDATION_FAILED");
        }
        // The named author may edit the post as their own.
        let id = results[0]["id"].as_i64().unwrap();
        app.patch(&format!("/api/v2/posts/{id}"), &writer.access, json!({"title": "Mine now"})).await.expect(200);
        // Atomic: an unknown author fails the call, nothing is created.
        let r = app.post("/api/v2/bulk/posts?atomic=true", &editor.access, json!({"posts": [
            {"title": "Atomic ok"}, {"title": "Atomic bad", "author_id": stranger.user_id},
        ]})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(count(&app, &editor.access, "Atomic").await, 0);
    }

    async fn only_editors_and_above_bulk_import(app) {
        let author = app.login("default", "author@example.com", Role::Author).await;
        let r = app.post("/api/v2/bulk/posts", &author.access, json!({"posts": [{"title": "x"}]})).await;
        r.expect_error(403, "FORBIDDEN");
        assert_eq!(count(&app, &author.access, "x").await, 0);
        let editor = app.login("default", "editor@example.com", Role::Editor).await;
        app.post("/api/v2/bulk/posts", &editor.access, json!({"posts": [{"title": "x"}]})).await.expect(200);
        // Another site's posts are invisible and do not block its slugs.
        let other = app.login("other", "other@example.com", Role::Owner).await;
        let v = app.post("/api/v2/bulk/posts", &other.access, json!({"posts": [{"title": "x", "slug": "x"}]})).await.expect(200);
        assert_eq!(v["data"]["created"], 1);
        assert_eq!(count(&app, &other.access, "x").await, 1);
    }
}

/// One bulk call, however many posts it carries, is one request against the quota.
async fn bulk_counts_once(backend: Backend) {
    let Some(app) = TestApp::new(backend, |c| {
        c.rate_limit_standard = Some(jekcms_ratelimit::Quota::parse("3/min").unwrap());
    })
    .await
    else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let t = app
        .login("default", "editor@example.com", Role::Editor)
        .await;
    let mut remaining = Vec::new();
    for call in 0..3 {
        let posts: Vec<Value> = (0..50)
            .map(|i| json!({"title": format!("limited {call} {i}")}))
            .collect();
        let r = app
            .post("/api/v2/bulk/posts", &t.access, json!({ "posts": posts }))
            .await;
        assert_eq!(r.expect(200)["data"]["created"], 50);
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        remaining.push(r.header("x-ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = app
        .post(
            "/api/v2/bulk/posts",
            &t.access,
            json!({"posts": [{"title": "one too many"}]}),
        )
        .await;
    r.expect_error(429, "RATE_LIMITED");
}

#[actix_web::test]
async fn bulk_counts_once_against_the_rate_limit_sqlite() {
    bulk_counts_once(Backend::Sqlite).await;
}

#[actix_web::test]
async fn bulk_counts_once_against_the_rate_limit_postgres() {
    bulk_counts_once(Backend::Postgres).await;
}
