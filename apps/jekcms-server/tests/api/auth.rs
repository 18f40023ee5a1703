//! Token pair, revocation, credential families and roles.

use crate::helpers::{TestApp, both_stores};
use actix_web::http::Method;
use jekcms_accounts::AccountStore;
use jekcms_auth::{CredentialFamily, Role};
use jekcms_store::Backend;
use serde_json::json;

both_stores! {
    async fn key_exchange_gives_a_working_pair(app) {
        let t = app.owner().await;
        assert!(t.access.starts_with("v4.local."));
        assert!(t.refresh.starts_with("rf_"));
        let me = app.get("/api/v2/me", &t.access).await.expect(200);
        assert_eq!(me["data"]["user"]["role"], "owner");
        assert_eq!(me["data"]["credential"]["family"], "api");
        assert!(me["data"]["credential"]["key_id"].as_str().unwrap().starts_with("api_"));
        let index = app.get("/api/v2", &t.access).await.expect(200);
        assert_eq!(index["data"]["version"], "v2");
    }

    async fn wrong_secret_and_unknown_key_look_the_same(app) {
        let (key, _secret, _, _) = app.api_key("default", "a@example.com", Role::Owner).await;
        let wrong = app.send(Method::POST, "/api/v2/auth/token", None,
            Some(json!({"api_key": key, "api_secret": CredentialFamily::ApiSecret.generate()}))).await;
        let unknown = app.send(Method::POST, "/api/v2/auth/token", None,
            Some(json!({"api_key": CredentialFamily::ApiKey.generate(), "api_secret": CredentialFamily::ApiSecret.generate()}))).await;
        let a = wrong.expect_error(401, "AUTH_INVALID");
        let b = unknown.expect_error(401, "AUTH_INVALID");
        assert_eq!(a["errors"], b["errors"]);
        assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    }

    async fn token_exchange_validates_its_body(app) {
        let r = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": "x"}))).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "api_secret");
        let r = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": "x", "api_secret": "y", "extra": 1}))).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "extra");
    }

    async fn no_or_bad_bearer_is_401_with_challenge(app) {
        let r = app.send(Method::GET, "/api/v2/posts", None, None).await;
        r.expect_error(401, "AUTH_INVALID");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let r = app.get("/api/v2/posts", "v4.local.garbage").await;
        r.expect_error(401, "AUTH_INVALID");
        assert_eq!(r.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    }

    async fn wrong_families_say_where_they_belong(app) {
        let t = app.owner().await;
        let cases = [
            (CredentialFamily::Mcp.generate(), "/mcp"),
            (t.refresh.clone(), "/api/v2/auth/refresh"),
            (CredentialFamily::ApiKey.generate(), "/api/v2/auth/token"),
            (CredentialFamily::Pull.generate(), "/api/v2/pull"),
        ];
        for (credential, hint) in cases {
            let r = app.get("/api/v2/posts", &credential).await;
            let v = r.expect_error(401, "AUTH_INVALID");
            assert!(v["errors"][0]["message"].as_str().unwrap().contains(hint), "{v}");
        }
        // An access token is no refresh token.
        let r = app.refresh(&t.access).await;
        r.expect_error(401, "AUTH_INVALID");
        // An mcp_ key cannot be exchanged at /auth/token as an api_ key.
        let r = app.send(Method::POST, "/api/v2/auth/token", None,
            Some(json!({"api_key": CredentialFamily::Mcp.generate(), "api_secret": CredentialFamily::ApiSecret.generate()}))).await;
        let v = r.expect_error(401, "AUTH_INVALID");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("/mcp"), "{v}");
    }

    async fn query_token_works_on_get_only(app) {
        let t = app.owner().await;
        app.send(Method::GET, &format!("/api/v2/me?token={}", t.access), None, None).await.expect(200);
        let r = app.send(Method::POST, &format!("/api/v2/posts?token={}", t.access), None, Some(json!({"title": "x"}))).await;
        r.expect_error(401, "AUTH_INVALID");
    }

    async fn refresh_rotates_and_the_old_token_is_refused(app) {
        let t = app.owner().await;
        let r = app.refresh(&t.refresh).await;
        let v = r.expect(200);
        let new_access = v["data"]["access_token"].as_str().unwrap().to_owned();
        let new_refresh = v["data"]["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(new_refresh, t.refresh);
        assert_eq!(v["data"]["token_type"], "Bearer");
        assert_eq!(v["data"]["expires_in"], 900);
        assert!(v["data"]["refresh_expires_in"].as_i64().unwrap() <= 2_592_000);
        // Within the grace window the old token is refused but the session lives on.
        let again = app.refresh(&t.refresh).await;
        again.expect_error(401, "AUTH_INVALID");
        app.get("/api/v2/me", &new_access).await.expect(200);
        app.get("/api/v2/me", &t.access).await.expect(200);
        // The new refresh token still works.
        app.refresh(&new_refresh).await.expect(200);
    }

    async fn concurrent_refreshes_of_one_token_have_one_winner(app) {
        let t = app.owner().await;
        let body = json!({"refresh_token": t.refresh});
        let calls = (0..6).map(|_| app.send(Method::POST, "/api/v2/auth/refresh", None, Some(body.clone())));
        let results = futures_util::future::join_all(calls).await;
        let ok = results.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        for r in results.iter().filter(|r| r.status != 200) {
            r.expect_error(401, "AUTH_INVALID");
        }
    }

    async fn logout_revokes_the_session_at_once(app) {
        let t = app.owner().await;
        app.get("/api/v2/me", &t.access).await.expect(200);
        app.revoke(&t.refresh).await.expect(200);
        app.get("/api/v2/me", &t.access).await.expect_error(401, "AUTH_INVALID");
        app.refresh(&t.refresh).await
            .expect_error(401, "AUTH_INVALID");
        // Unknown tokens get the same answer: logout reveals nothing.
        app.revoke(&CredentialFamily::Refresh.generate()).await.expect(200);
    }

    async fn revoking_the_key_ends_its_sessions(app) {
        let t = app.owner().await;
        let key_id: i64 = 1;
        AccountStore::revoke_key(&app.state.store, t.site_id, key_id, jekcms_auth::now()).await.unwrap();
        app.get("/api/v2/me", &t.access).await.expect_error(401, "AUTH_INVALID");
    }

    // The post list and a post by id check the session with the read itself (on
    // PostgreSQL the check rides on the page query: one round trip). A revoked session or
    // key is still refused on the very next read, before anything the read found: no page,
    // and no 404 or 422 that would tell what the read saw.
    async fn reads_carrying_the_session_check_refuse_a_revoked_session_at_once(app) {
        let t = app.owner().await;
        let post = app.create_post(&t.access, json!({"title": "Kept"})).await;
        let path = format!("/api/v2/posts/{}", post["id"]);
        let reads = [
            "/api/v2/posts".to_owned(),
            "/api/v2/posts?sort=title".to_owned(),
            "/api/v2/posts?sort=-published_at".to_owned(),
            "/api/v2/posts?include=total".to_owned(),
            path.clone(),
        ];
        for read in &reads {
            app.get(read, &t.access).await.expect(200);
        }
        app.revoke(&t.refresh).await.expect(200);
        for read in reads.iter().chain(["/api/v2/posts/999999".to_owned(), "/api/v2/posts?cursor=garbage".to_owned()].iter()) {
            let e = app.get(read, &t.access).await.expect_error(401, "AUTH_INVALID");
            assert!(e["errors"][0]["message"].as_str().unwrap().contains("revoked"), "{read}: {e}");
            assert!(e.get("data").is_none_or(serde_json::Value::is_null), "{read}: {e}");
        }
        // A key revoked: its other session is refused on the same reads.
        let (key, secret, ..) = app.api_key("default", "reader@example.com", Role::Viewer).await;
        let v = app
            .send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": key, "api_secret": secret})))
            .await
            .expect(200);
        let access = v["data"]["access_token"].as_str().unwrap().to_owned();
        app.get(&path, &access).await.expect(200);
        let keys = app.get("/api/v2/api-keys", &access).await.expect(200);
        let listed = keys["data"].as_array().unwrap().iter().find(|k| k["key_id"] == key.as_str());
        let key_id = listed.and_then(|k| k["id"].as_i64()).expect("the viewer's key is listed");
        AccountStore::revoke_key(&app.state.store, t.site_id, key_id, jekcms_auth::now()).await.unwrap();
        for read in &reads {
            app.get(read, &access).await.expect_error(401, "AUTH_INVALID");
        }
    }

    async fn a_demotion_applies_on_the_next_request(app) {
        let t = app.login("default", "ed@example.com", Role::Editor).await;
        app.post("/api/v2/posts", &t.access, json!({"title": "mine"})).await.expect(201);
        app.state.store.set_user_role(t.site_id, t.user_id, Role::Viewer).await.unwrap();
        app.post("/api/v2/posts", &t.access, json!({"title": "no longer"})).await.expect_error(403, "FORBIDDEN");
    }

    async fn roles_are_enforced_on_content(app) {
        let author = app.login("default", "author@example.com", Role::Author).await;
        let other = app.login("default", "other@example.com", Role::Author).await;
        let editor = app.login("default", "editor@example.com", Role::Editor).await;
        let viewer = app.login("default", "viewer@example.com", Role::Viewer).await;
        let post = app.create_post(&author.access, json!({"title": "By author"})).await;
        let path = format!("/api/v2/posts/{}", post["id"]);
        app.get(&path, &viewer.access).await.expect(200);
        app.post("/api/v2/posts", &viewer.access, json!({"title": "x"})).await.expect_error(403, "FORBIDDEN");
        app.patch(&path, &viewer.access, json!({"title": "x"})).await.expect_error(403, "FORBIDDEN");
        app.patch(&path, &other.access, json!({"title": "x"})).await.expect_error(403, "FORBIDDEN");
        app.delete(&path, &other.access).await.expect_error(403, "FORBIDDEN");
        app.patch(&path, &author.access, json!({"title": "own edit"})).await.expect(200);
        app.patch(&path, &editor.access, json!({"title": "editor edit"})).await.expect(200);
        app.delete(&path, &editor.access).await.expect(200);
    }

    async fn sites_are_isolated(app) {
        let a = app.login("site-a", "a@example.com", Role::Owner).await;
        let b = app.login("site-b", "b@example.com", Role::Owner).await;
        let post = app.create_post(&a.access, json!({"title": "A's secret", "slug": "shared"})).await;
        let path = format!("/api/v2/posts/{}", post["id"]);
        app.get(&path, &b.access).await.expect_error(404, "NOT_FOUND");
        app.patch(&path, &b.access, json!({"title": "hijack"})).await.expect_error(404, "NOT_FOUND");
        app.delete(&path, &b.access).await.expect_error(404, "NOT_FOUND");
        let list = app.get("/api/v2/posts?include=total", &b.access).await.expect(200);
        assert_eq!(list["data"], json!([]));
        assert_eq!(list["meta"]["total"], 0);
        // The same slug is free in another site.
        app.create_post(&b.access, json!({"title": "B", "slug": "shared"})).await;
        // A's post is untouched.
        let still = app.get(&path, &a.access).await.expect(200);
        assert_eq!(still["data"]["title"], "A's secret");
    }
}

/// Reuse after the grace window revokes the whole session (grace set to 0 s).
#[actix_web::test]
async fn reuse_after_grace_revokes_the_session_sqlite() {
    reuse_after_grace(Backend::Sqlite).await;
}

#[actix_web::test]
async fn reuse_after_grace_revokes_the_session_postgres() {
    reuse_after_grace(Backend::Postgres).await;
}

async fn reuse_after_grace(backend: Backend) {
    let Some(app) = TestApp::new(backend, |c| {
        c.refresh_reuse_grace = std::time::Duration::ZERO
    })
    .await
    else {
        return;
    };
    let t = app.owner().await;
    let v = app.refresh(&t.refresh).await.expect(200);
    let new_access = v["data"]["access_token"].as_str().unwrap().to_owned();
    let new_refresh = v["data"]["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = app.refresh(&t.refresh).await;
    let body = r.expect_error(401, "AUTH_INVALID");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    // Every token of the session is dead now.
    app.get("/api/v2/me", &new_access)
        .await
        .expect_error(401, "AUTH_INVALID");
    app.get("/api/v2/me", &t.access)
        .await
        .expect_error(401, "AUTH_INVALID");
    app.refresh(&new_refresh)
        .await
        .expect_error(401, "AUTH_INVALID");
}

/// An expired access token is AUTH_EXPIRED, not AUTH_INVALID.
#[actix_web::test]
async fn expired_access_token_is_auth_expired() {
    let app = TestApp::new(Backend::Sqlite, |c| {
        c.access_token_ttl = std::time::Duration::from_secs(1)
    })
    .await
    .unwrap();
    let t = app.owner().await;
    app.get("/api/v2/me", &t.access).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = app.get("/api/v2/me", &t.access).await;
    r.expect_error(401, "AUTH_EXPIRED");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
}
