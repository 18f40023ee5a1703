//! The legacy v1 API (API.md §7): shapes, headers, key-pair auth, offset pages, shared data
//! with v2, the switch, and its own rate limit.

use crate::helpers::{Resp, TestApp, both_stores};
use crate::media::{PNG, multipart};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_accounts::AccountStore;
use jekcms_auth::{CredentialFamily, Role, SecretHash};
use jekcms_store::Backend;
use serde_json::{Value, json};

/// A v1 key pair.
struct Pair {
    key: String,
    secret: String,
    key_row: i64,
    site_id: i64,
    user_id: i64,
}

async fn pair(app: &TestApp, email: &str, role: Role) -> Pair {
    let store = &app.state.store;
    let site = store.ensure_site("default", "default").await.unwrap();
    let user = store
        .ensure_user(site.id, email, email, role)
        .await
        .unwrap();
    let key = CredentialFamily::ApiKey.generate();
    let secret = CredentialFamily::ApiSecret.generate();
    let info = jekcms_accounts::AccountStore::create_key(
        store,
        user.site_id,
        jekcms_accounts::model::NewApiKey {
            user_id: user.id,
            family: jekcms_accounts::KeyFamily::Api,
            name: "v1".to_owned(),
            public_id: key.to_owned(),
            secret_hash: SecretHash::of(&secret),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    Pair {
        key,
        secret,
        key_row: info.id,
        site_id: site.id,
        user_id: user.id,
    }
}

async fn v1(
    app: &TestApp,
    method: Method,
    path: &str,
    p: Option<&Pair>,
    body: Option<Value>,
) -> Resp {
    let mut req = TestRequest::default().method(method).uri(path);
    if let Some(p) = p {
        req = req
            .insert_header(("x-api-key", p.key.as_str()))
            .insert_header(("x-api-secret", p.secret.as_str()));
    }
    if let Some(b) = body {
        req = req
            .insert_header(("content-type", "application/json"))
            .set_payload(b.to_string());
    }
    app.call(req).await
}

/// Asserts a v1 response: status, the deprecation headers with the successor, JSON body.
#[track_caller]
fn expect_v1(r: &Resp, status: u16, successor: &str) -> Value {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("deprecation"), Some("@1795392000"));
    assert_eq!(r.header("sunset"), Some("Tue, 01 Jun 2027 00:00:00 GMT"));
    assert_eq!(
        r.header("link"),
        Some(format!("<{successor}>; rel=\"successor-version\"").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

/// Asserts a v1 error: `{"error": "…"}` and nothing else.
#[track_caller]
fn expect_v1_error(r: &Resp, status: u16, successor: &str) -> String {
    let v = expect_v1(r, status, successor);
    let obj = v.as_object().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(obj.len(), 1, "{v}");
    obj["error"].as_str().unwrap().to_owned()
}

both_stores! {
    async fn shapes_pages_and_headers(app) {
        let p = pair(&app, "owner@example.com", Role::Owner).await;
        let r = v1(&app, Method::POST, "/api/v1/posts/create", Some(&p), Some(json!({"title": "Legacy one", "body": "text", "tags": ["old"]}))).await;
        let v = expect_v1(&r, 201, "/api/v2/posts");
        let post = &v["post"];
        assert_eq!(post["title"], "Legacy one");
        assert_eq!(post["slug"], "legacy-one");
        assert_eq!(post["author_id"], p.user_id);
        assert_eq!(post["site_id"], p.site_id);
        let id = post["id"].as_i64().unwrap();
        for i in 2..=5 {
            let r = v1(&app, Method::POST, "/api/v1/posts/create", Some(&p), Some(json!({"title": format!("Legacy {i}")}))).await;
            expect_v1(&r, 201, "/api/v2/posts");
        }
        let r = v1(&app, Method::GET, "/api/v1/posts?page=3&per_page=2", Some(&p), None).await;
        let v = expect_v1(&r, 200, "/api/v2/posts");
        assert_eq!((v["page"].as_u64(), v["per_page"].as_u64(), v["total"].as_u64(), v["total_pages"].as_u64()), (Some(3), Some(2), Some(5), Some(3)));
        assert_eq!(v["posts"].as_array().unwrap().len(), 1);
        assert_eq!(v["posts"][0]["id"], id, "newest first, so the first post is last");
        let v = expect_v1(&v1(&app, Method::GET, "/api/v1/posts", Some(&p), None).await, 200, "/api/v2/posts");
        assert_eq!((v["page"].as_u64(), v["per_page"].as_u64()), (Some(1), Some(20)));
        let titles: Vec<&str> = v["posts"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Legacy 5", "Legacy 4", "Legacy 3", "Legacy 2", "Legacy one"]);
        let v = expect_v1(&v1(&app, Method::GET, "/api/v1/posts?per_page=1000", Some(&p), None).await, 200, "/api/v2/posts");
        assert_eq!(v["per_page"], 100, "per_page is clamped");
        let v = expect_v1(&v1(&app, Method::GET, "/api/v1/posts?page=9", Some(&p), None).await, 200, "/api/v2/posts");
        assert_eq!(v["posts"], json!([]));
        let e = expect_v1_error(&v1(&app, Method::GET, "/api/v1/posts?page=0", Some(&p), None).await, 422, "/api/v2/posts");
        assert!(e.contains("page"), "{e}");

        // Update is partial: fields not sent are unchanged.
        let path = format!("/api/v1/posts/update/{id}");
        let v = expect_v1(&v1(&app, Method::POST, &path, Some(&p), Some(json!({"title": "Renamed"}))).await, 200, &format!("/api/v2/posts/{id}"));
        assert_eq!(v["post"]["title"], "Renamed");
        assert_eq!(v["post"]["body"], "text");
        assert_eq!(v["post"]["tags"], json!(["old"]));
        let e = expect_v1_error(&v1(&app, Method::POST, &path, Some(&p), Some(json!({"colour": "red"}))).await, 422, &format!("/api/v2/posts/{id}"));
        assert!(e.contains("colour"), "{e}");
        let e = expect_v1_error(&v1(&app, Method::POST, "/api/v1/posts/create", Some(&p), Some(json!({"title": ""}))).await, 422, "/api/v2/posts");
        assert!(e.contains("title"), "{e}");
        expect_v1_error(&v1(&app, Method::POST, "/api/v1/posts/create", Some(&p), Some(json!({"title": "x", "slug": "renamed-not", "colour": 1}))).await, 422, "/api/v2/posts");
        expect_v1_error(&v1(&app, Method::POST, "/api/v1/posts/create", Some(&p), Some(json!({"title": "x", "slug": "legacy-one"}))).await, 409, "/api/v2/posts");

        // Delete, twice.
        let del = format!("/api/v1/posts/delete/{id}");
        let v = expect_v1(&v1(&app, Method::POST, &del, Some(&p), None).await, 200, &format!("/api/v2/posts/{id}"));
        assert_eq!(v, json!({"deleted": true, "id": id}));
        expect_v1_error(&v1(&app, Method::POST, &del, Some(&p), None).await, 404, &format!("/api/v2/posts/{id}"));
        expect_v1_error(&v1(&app, Method::POST, "/api/v1/posts/delete/abc", Some(&p), None).await, 404, "/api/v2");

        // Media: a bare array.
        let v = expect_v1(&v1(&app, Method::GET, "/api/v1/media/list", Some(&p), None).await, 200, "/api/v2/media");
        assert_eq!(v, json!([]));
        let t = app.owner().await;
        app.call(multipart(&t.access, &[("file", Some("a.png"), PNG)])).await.expect(201);
        let v = expect_v1(&v1(&app, Method::GET, "/api/v1/media/list?per_page=5", Some(&p), None).await, 200, "/api/v2/media");
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["mime_type"], "image/png");
        // v1 items are v2's media, public_url included.
        let public_url = v[0]["public_url"].as_str().unwrap();
        assert!(public_url.starts_with("/m/") && public_url.ends_with("/a.png"), "{public_url}");
        assert_eq!(app.call(TestRequest::get().uri(public_url)).await.status, 200);

        // Unknown routes and methods under /api/v1 answer in v1's shape, with the headers.
        expect_v1_error(&v1(&app, Method::GET, "/api/v1/nothing", Some(&p), None).await, 404, "/api/v2");
        let r = v1(&app, Method::GET, "/api/v1/posts/create", Some(&p), None).await;
        expect_v1_error(&r, 405, "/api/v2/posts");
        assert_eq!(r.header("allow"), Some("POST"));
    }

    async fn v1_and_v2_share_the_data(app) {
        let p = pair(&app, "owner@example.com", Role::Owner).await;
        let t = app.owner().await;
        let v = expect_v1(&v1(&app, Method::POST, "/api/v1/posts/create", Some(&p), Some(json!({"title": "From v1"}))).await, 201, "/api/v2/posts");
        let id = v["post"]["id"].as_i64().unwrap();
        let got = app.get(&format!("/api/v2/posts/{id}"), &t.access).await.expect(200);
        assert_eq!(got["data"], v["post"], "v2 reads what v1 wrote, in the same shape");
        let made = app.create_post(&t.access, json!({"title": "From v2", "status": "published"})).await;
        app.patch(&format!("/api/v2/posts/{id}"), &t.access, json!({"excerpt": "edited in v2"})).await.expect(200);
        let list = expect_v1(&v1(&app, Method::GET, "/api/v1/posts", Some(&p), None).await, 200, "/api/v2/posts");
        assert_eq!(list["total"], 2);
        assert_eq!(list["posts"][0], made);
        assert_eq!(list["posts"][1]["excerpt"], "edited in v2");
        // A v1 delete is a v2 404.
        expect_v1(&v1(&app, Method::POST, &format!("/api/v1/posts/delete/{}", made["id"]), Some(&p), None).await, 200, &format!("/api/v2/posts/{}", made["id"]));
        app.get(&format!("/api/v2/posts/{}", made["id"]), &t.access).await.expect_error(404, "NOT_FOUND");
    }

    async fn key_pair_auth_and_roles(app) {
        let p = pair(&app, "owner@example.com", Role::Owner).await;
        let e = expect_v1_error(&v1(&app, Method::GET, "/api/v1/posts", None, None).await, 401, "/api/v2/posts");
        assert!(e.contains("X-API-Key"), "{e}");
        let wrong = Pair { secret: CredentialFamily::ApiSecret.generate(), ..pair(&app, "owner@example.com", Role::Owner).await };
        let e = expect_v1_error(&v1(&app, Method::GET, "/api/v1/posts", Some(&wrong), None).await, 401, "/api/v2/posts");
        assert!(!e.contains(&wrong.secret));
        // A bearer token is for v2.
        let t = app.owner().await;
        let r = app.get("/api/v1/posts", &t.access).await;
        let e = expect_v1_error(&r, 401, "/api/v2/posts");
        assert!(e.contains("/api/v2"), "{e}");
        // An mcp_ key is refused with the message saying where it belongs.
        let store = &app.state.store;
        let user = store.ensure_user(p.site_id, "owner@example.com", "owner@example.com", Role::Owner).await.unwrap();
        let mcp = CredentialFamily::Mcp.generate();
        jekcms_accounts::AccountStore::create_key(
            store,
            user.site_id,
            jekcms_accounts::model::NewApiKey {
                user_id: user.id,
                family: jekcms_accounts::KeyFamily::Mcp,
                name: "agent".to_owned(),
                public_id: mcp.to_owned(),
                secret_hash: SecretHash::of("unused"),
                expires_at: None,
            },
        ).await.unwrap();
        let as_mcp = Pair { key: mcp, ..pair(&app, "owner@example.com", Role::Owner).await };
        let e = expect_v1_error(&v1(&app, Method::GET, "/api/v1/posts", Some(&as_mcp), None).await, 401, "/api/v2/posts");
        assert!(e.contains("/mcp"), "{e}");
        // Role checks are the domain's: a viewer reads but may not write.
        let viewer = pair(&app, "viewer@example.com", Role::Viewer).await;
        expect_v1(&v1(&app, Method::GET, "/api/v1/posts", Some(&viewer), None).await, 200, "/api/v2/posts");
        expect_v1_error(&v1(&app, Method::POST, "/api/v1/posts/create", Some(&viewer), Some(json!({"title": "no"}))).await, 403, "/api/v2/posts");
        // Demotion and revocation take effect on the next request.
        let author = pair(&app, "author@example.com", Role::Author).await;
        expect_v1(&v1(&app, Method::POST, "/api/v1/posts/create", Some(&author), Some(json!({"title": "yes"}))).await, 201, "/api/v2/posts");
        store.set_user_role(author.site_id, author.user_id, Role::Viewer).await.unwrap();
        expect_v1_error(&v1(&app, Method::POST, "/api/v1/posts/create", Some(&author), Some(json!({"title": "no"}))).await, 403, "/api/v2/posts");
        AccountStore::revoke_key(store, p.site_id, p.key_row, jekcms_auth::now()).await.unwrap();
        let e = expect_v1_error(&v1(&app, Method::GET, "/api/v1/posts", Some(&p), None).await, 401, "/api/v2/posts");
        assert!(e.contains("revoked"), "{e}");
        // Another site's posts stay invisible. (The demoted author is refused before the body
        // is read, whatever the id: 403 says nothing about which posts exist.)
        let other = app.login("other", "other@example.com", Role::Owner).await;
        let theirs = app.create_post(&other.access, json!({"title": "Theirs"})).await;
        expect_v1_error(&v1(&app, Method::POST, &format!("/api/v1/posts/update/{}", theirs["id"]), Some(&author), Some(json!({"title": "x"}))).await, 403, &format!("/api/v2/posts/{}", theirs["id"]));
        let editor = pair(&app, "editor@example.com", Role::Editor).await;
        expect_v1_error(&v1(&app, Method::POST, &format!("/api/v1/posts/update/{}", theirs["id"]), Some(&editor), Some(json!({"title": "x"}))).await, 404, &format!("/api/v2/posts/{}", theirs["id"]));
    }
}

async fn switched_off(backend: Backend) {
    let Some(app) = TestApp::new(backend, |c| c.v1_enabled = false).await else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let p = pair(&app, "owner@example.com", Role::Owner).await;
    for (method, path) in [
        (Method::GET, "/api/v1/posts"),
        (Method::POST, "/api/v1/posts/create"),
        (Method::GET, "/api/v1/posts/create"),
        (Method::GET, "/api/v1/media/list"),
    ] {
        let r = v1(&app, method, path, Some(&p), Some(json!({"title": "x"}))).await;
        r.expect_error(404, "NOT_FOUND");
        assert_eq!(r.header("deprecation"), None);
    }
    let t = app.owner().await;
    app.get("/api/v2/posts", &t.access).await.expect(200);
}

#[actix_web::test]
async fn v1_switched_off_is_404_sqlite() {
    switched_off(Backend::Sqlite).await;
}

#[actix_web::test]
async fn v1_switched_off_is_404_postgres() {
    switched_off(Backend::Postgres).await;
}

/// v1 is limited per key, with the same headers; its count is separate from v2 sessions.
async fn limited_per_key(backend: Backend) {
    let Some(app) = TestApp::new(backend, |c| {
        c.rate_limit_standard = Some(jekcms_ratelimit::Quota::parse("3/min").unwrap());
    })
    .await
    else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let p = pair(&app, "editor@example.com", Role::Editor).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = v1(&app, Method::GET, "/api/v1/posts", Some(&p), None).await;
        expect_v1(&r, 200, "/api/v2/posts");
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert!(r.header("ratelimit-policy").unwrap().starts_with("\"key\""));
        remaining.push(r.header("x-ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = v1(&app, Method::GET, "/api/v1/posts", Some(&p), None).await;
    let e = expect_v1_error(&r, 429, "/api/v2/posts");
    assert!(e.contains("rate limit"), "{e}");
    assert!(r.header("retry-after").is_some());
    // The same user's v2 session has its own quota.
    let t = app
        .login("default", "editor@example.com", Role::Editor)
        .await;
    let r = app.get("/api/v2/posts", &t.access).await;
    r.expect(200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("2"));
}

#[actix_web::test]
async fn v1_is_rate_limited_per_key_sqlite() {
    limited_per_key(Backend::Sqlite).await;
}

#[actix_web::test]
async fn v1_is_rate_limited_per_key_postgres() {
    limited_per_key(Backend::Postgres).await;
}
