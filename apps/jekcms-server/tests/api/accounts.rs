//! Registration, login, users and API keys (API.md §2.2, §2.3).

use crate::helpers::{TestApp, both_stores};
use actix_web::http::Method;
use jekcms_auth::{CredentialFamily, Role};
use jekcms_store::Backend;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn register(app: &TestApp, email: &str, site_name: &str) -> Value {
    let body = json!({"name": "Ada", "email": email, "password": PASSWORD, "site_name": site_name});
    let r = app
        .send(Method::POST, "/api/v2/auth/register", None, Some(body))
        .await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.expect(201);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/v2/users/{}", v["data"]["user"]["id"])
    );
    v["data"].clone()
}

/// A body's errors without the request id, to compare two refusals.
fn errors_of(v: &Value) -> Value {
    v["errors"].clone()
}

both_stores! {
    async fn registration_creates_a_site_owned_by_the_registrant(app) {
        let d = register(&app, "Ada@Example.com", "Ada's Blog").await;
        assert_eq!(d["user"]["role"], "owner");
        assert_eq!(d["user"]["email"], "ada@example.com");
        assert_eq!(d["user"]["has_password"], true);
        assert!(d["user"].get("password_hash").is_none());
        assert_eq!(d["site"]["slug"], "ada-s-blog");
        assert_eq!(d["token_type"], "Bearer");
        assert_eq!(d["expires_in"], 900);
        let access = d["access_token"].as_str().unwrap();
        let me = app.get("/api/v2/me", access).await.expect(200);
        assert_eq!(me["data"]["credential"]["family"], "password");
        assert!(me["data"]["credential"].get("key_id").is_none());
        assert_eq!(me["data"]["site"]["id"], d["site"]["id"]);
        // The refresh token works like any other.
        app.refresh(d["refresh_token"].as_str().unwrap()).await.expect(200);

        // Same site name: another slug.
        let other = register(&app, "bob@example.com", "Ada's Blog").await;
        assert_eq!(other["site"]["slug"], "ada-s-blog-2");
        // The operator's slug is never handed to a registrant.
        let d = register(&app, "eve@example.com", "Default").await;
        assert_eq!(d["site"]["slug"], "default-2");
        let operator = app.owner().await;
        assert_ne!(operator.site_id, d["site"]["id"].as_i64().unwrap());

        // Every bad field at once.
        let body = json!({"name": "", "email": "nope", "password": "short", "colour": "red"});
        let v = app.send(Method::POST, "/api/v2/auth/register", None, Some(body)).await
            .expect_error(422, "VALIDATION_FAILED");
        let fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["colour", "name", "email", "password", "site_name"]);
        let body = json!({"name": "A", "email": "a@b.co", "password": "x".repeat(257), "site_name": "S"});
        let r = app.send(Method::POST, "/api/v2/auth/register", None, Some(body)).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "password");
    }

    async fn login_answers_wrong_email_and_wrong_password_alike(app) {
        let owner = app.owner().await;
        app.add_user(&owner.access, "writer@example.com", "author", Some(PASSWORD)).await;
        app.add_user(&owner.access, "keyonly@example.com", "author", None).await;

        let ok = app.send(Method::POST, "/api/v2/auth/login", None,
            Some(json!({"email": " Writer@Example.com ", "password": PASSWORD}))).await;
        assert_eq!(ok.header("cache-control"), Some("no-store"));
        let v = ok.expect(200);
        assert_eq!(v["data"]["user"]["email"], "writer@example.com");
        assert_eq!(v["data"]["user"]["role"], "author");
        assert_eq!(v["data"]["refresh_expires_in"], 2592000);
        let t = v["data"]["access_token"].as_str().unwrap();
        app.post("/api/v2/posts", t, json!({"title": "by password"})).await.expect(201);

        let attempt = |email: &'static str, password: &'static str| {
            app.send(Method::POST, "/api/v2/auth/login", None, Some(json!({"email": email, "password": password})))
        };
        let wrong_password = attempt("writer@example.com", "not the password at all").await;
        let wrong_email = attempt("nobody@example.com", PASSWORD).await;
        let no_password = attempt("keyonly@example.com", PASSWORD).await;
        let a = wrong_password.expect_error(401, "AUTH_INVALID");
        for other in [&wrong_email, &no_password] {
            assert_eq!(errors_of(&other.expect_error(401, "AUTH_INVALID")), errors_of(&a));
            assert_eq!(other.header("www-authenticate"), wrong_password.header("www-authenticate"));
        }
        app.send(Method::POST, "/api/v2/auth/login", None, Some(json!({"email": "writer@example.com"}))).await
            .expect_error(422, "VALIDATION_FAILED");
    }

    async fn emails_are_unique_per_site_and_login_never_says_where_one_is(app) {
        // One person registers two sites with one email: no 409 tells anyone it was taken.
        let first = register(&app, "ada@example.com", "First").await;
        let second = register(&app, "ADA@example.com", "Second").await;
        assert_ne!(first["site"]["id"], second["site"]["id"]);
        // A viewer of another site learns nothing of those addresses: creating the same
        // email in their own site is no conflict; a second one in the same site is.
        let owner = app.owner().await;
        app.add_user(&owner.access, "ada@example.com", "viewer", Some(PASSWORD)).await;
        let r = app.post("/api/v2/users", &owner.access, json!({"name": "x", "email": "Ada@example.com", "role": "viewer"})).await;
        assert_eq!(r.expect_error(409, "CONFLICT")["errors"][0]["field"], "email");

        // Without `site`, an email that three sites have signs in nowhere, with the very
        // answer of a wrong password; with it, each site's own password opens that site.
        let login = |body: Value| app.send(Method::POST, "/api/v2/auth/login", None, Some(body));
        let wrong = login(json!({"email": "nobody@example.com", "password": PASSWORD})).await
            .expect_error(401, "AUTH_INVALID");
        let shared = login(json!({"email": "ada@example.com", "password": PASSWORD})).await
            .expect_error(401, "AUTH_INVALID");
        assert_eq!(errors_of(&shared), errors_of(&wrong));
        assert!(wrong["errors"][0]["message"].as_str().unwrap().contains("site"), "{wrong}");
        for site in [&first["site"], &second["site"]] {
            let v = login(json!({"email": "ada@example.com", "password": PASSWORD, "site": site["slug"]})).await.expect(200);
            assert_eq!(v["data"]["user"]["site_id"], site["id"]);
        }
        let v = login(json!({"email": "ada@example.com", "password": PASSWORD, "site": "default"})).await.expect(200);
        assert_eq!(v["data"]["user"]["site_id"], owner.site_id);
        // An unknown site, or a site without that email, is a wrong password too.
        for site in ["nowhere", "ada-s-blog"] {
            let r = login(json!({"email": "ada@example.com", "password": PASSWORD, "site": site})).await
                .expect_error(401, "AUTH_INVALID");
            assert_eq!(errors_of(&r), errors_of(&wrong));
        }
        // An email of exactly one site needs no `site`.
        register(&app, "solo@example.com", "Solo").await;
        app.password_login("solo@example.com", PASSWORD).await;
        let r = login(json!({"email": "solo@example.com", "password": PASSWORD, "site": 7})).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "site");
    }

    async fn a_site_without_api_access_is_told_so_at_login_and_token(app) {
        let owner = app.owner().await;
        app.add_user(&owner.access, "w@example.com", "author", Some(PASSWORD)).await;
        let (key, secret, _, site_id) = app.api_key("default", "k@example.com", Role::Editor).await;
        app.state.store.set_site_api_access(site_id, false).await.unwrap();
        let r = app.send(Method::POST, "/api/v2/auth/login", None, Some(json!({"email": "w@example.com", "password": PASSWORD}))).await;
        assert_eq!(r.expect_error(402, "LICENSE_REQUIRED")["data"], Value::Null);
        assert!(r.json()["data"].get("access_token").is_none());
        app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": key, "api_secret": secret}))).await
            .expect_error(402, "LICENSE_REQUIRED");
        // Only for whoever proved the credentials: a wrong password is still a wrong password.
        app.send(Method::POST, "/api/v2/auth/login", None, Some(json!({"email": "w@example.com", "password": "not the password at all"}))).await
            .expect_error(401, "AUTH_INVALID");
        let wrong = CredentialFamily::ApiSecret.generate();
        app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": key, "api_secret": wrong}))).await
            .expect_error(401, "AUTH_INVALID");
        app.state.store.set_site_api_access(site_id, true).await.unwrap();
        app.password_login("w@example.com", PASSWORD).await;
    }

    async fn admins_manage_users_below_their_role(app) {
        let owner = app.owner().await;
        let admin_id = app.add_user(&owner.access, "admin@example.com", "admin", Some(PASSWORD)).await;
        let admin = app.password_login("admin@example.com", PASSWORD).await;
        let editor_id = app.add_user(&admin.access, "editor@example.com", "editor", Some(PASSWORD)).await;
        let editor = app.password_login("editor@example.com", PASSWORD).await;

        // Nobody grants a role above (or, below owner, equal to) their own.
        for role in ["admin", "owner"] {
            let r = app.post("/api/v2/users", &admin.access, json!({"name": "x", "email": format!("{role}2@example.com"), "role": role})).await;
            r.expect_error(403, "FORBIDDEN");
        }
        app.patch(&format!("/api/v2/users/{editor_id}"), &admin.access, json!({"role": "owner"})).await
            .expect_error(403, "FORBIDDEN");
        app.patch(&format!("/api/v2/users/{}", owner.user_id), &admin.access, json!({"name": "x"})).await
            .expect_error(403, "FORBIDDEN");
        app.patch(&format!("/api/v2/users/{admin_id}"), &admin.access, json!({"role": "owner"})).await
            .expect_error(403, "FORBIDDEN");
        // Owners may make owners.
        app.add_user(&owner.access, "owner2@example.com", "owner", None).await;

        // Editors read only themselves and change only their own profile.
        app.get("/api/v2/users", &editor.access).await.expect_error(403, "FORBIDDEN");
        app.get(&format!("/api/v2/users/{admin_id}"), &editor.access).await.expect_error(403, "FORBIDDEN");
        let me = app.get(&format!("/api/v2/users/{editor_id}"), &editor.access).await.expect(200);
        assert_eq!(me["data"]["role"], "editor");
        app.patch(&format!("/api/v2/users/{editor_id}"), &editor.access, json!({"name": "Ed"})).await.expect(200);
        app.patch(&format!("/api/v2/users/{editor_id}"), &editor.access, json!({"role": "admin"})).await
            .expect_error(403, "FORBIDDEN");

        // Admins list everyone of the site, in pages.
        let page = app.get("/api/v2/users?limit=2", &admin.access).await.expect(200);
        assert_eq!(page["data"].as_array().unwrap().len(), 2);
        let cursor = page["meta"]["next_cursor"].as_str().unwrap().to_owned();
        let rest = app.get(&format!("/api/v2/users?limit=10&cursor={cursor}"), &admin.access).await.expect(200);
        let all: Vec<i64> = page["data"].as_array().unwrap().iter().chain(rest["data"].as_array().unwrap())
            .map(|u| u["id"].as_i64().unwrap()).collect();
        assert_eq!(all.len(), 4);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(rest["meta"]["next_cursor"], Value::Null);
        assert_eq!(app.get("/api/v2/users?limit=0", &admin.access).await.field(), "limit");
        assert_eq!(app.get(&format!("/api/v2/api-keys?cursor={cursor}"), &admin.access).await.field(), "cursor");
        assert_eq!(app.get("/api/v2/users?sort=name", &admin.access).await.field(), "sort");

        // Duplicate email, unknown fields, null.
        let r = app.post("/api/v2/users", &admin.access, json!({"name": "x", "email": "EDITOR@example.com", "role": "viewer"})).await;
        let v = r.expect_error(409, "CONFLICT");
        assert_eq!((&v["errors"][0]["field"], &v["errors"][0]["message"]), (&json!("email"), &json!("email is already taken")));
        let r = app.patch(&format!("/api/v2/users/{editor_id}"), &admin.access, json!({"email": "admin@example.com"})).await;
        assert_eq!(r.expect_error(409, "CONFLICT")["errors"][0]["field"], "email");
        let r = app.patch(&format!("/api/v2/users/{editor_id}"), &admin.access, json!({"name": null, "is_admin": true})).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"].as_array().unwrap().len(), 2);
        app.get("/api/v2/users/999999", &admin.access).await.expect_error(404, "NOT_FOUND");
    }

    async fn the_last_owner_stays(app) {
        let owner = app.owner().await;
        let path = format!("/api/v2/users/{}", owner.user_id);
        let r = app.patch(&path, &owner.access, json!({"role": "admin"})).await;
        r.expect_error(409, "CONFLICT");
        app.delete(&path, &owner.access).await.expect_error(409, "CONFLICT");
        // With a second owner, the first may step down; then the second is the last.
        let second = app.add_user(&owner.access, "second@example.com", "owner", Some(PASSWORD)).await;
        let second_t = app.password_login("second@example.com", PASSWORD).await;
        let v = app.patch(&path, &owner.access, json!({"role": "admin"})).await.expect(200);
        assert_eq!(v["data"]["role"], "admin");
        app.delete(&format!("/api/v2/users/{second}"), &second_t.access).await.expect_error(409, "CONFLICT");
        let still = app.get(&format!("/api/v2/users/{second}"), &second_t.access).await.expect(200);
        assert_eq!(still["data"]["role"], "owner");
    }

    async fn two_owners_demoting_each_other_at_once_leave_one(app) {
        let owner = app.owner().await;
        let second = app.add_user(&owner.access, "second@example.com", "owner", Some(PASSWORD)).await;
        let second_t = app.password_login("second@example.com", PASSWORD).await;
        let (a, b) = futures_util::future::join(
            app.patch(&format!("/api/v2/users/{second}"), &owner.access, json!({"role": "admin"})),
            app.patch(&format!("/api/v2/users/{}", owner.user_id), &second_t.access, json!({"role": "admin"})),
        ).await;
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        // Exactly one demotion wins; the other is refused (409 last owner, or 401 because
        // the winner's demotion already ended the loser's session).
        assert_eq!(statuses[0], 200, "{statuses:?}");
        assert!(statuses[1] == 409 || statuses[1] == 401, "{statuses:?}");
        let owners = app.state.store.count_owners(owner.site_id).await.unwrap();
        assert_eq!(owners, 1);
    }

    async fn a_demotion_ends_the_users_sessions_at_once(app) {
        let owner = app.owner().await;
        let id = app.add_user(&owner.access, "ed@example.com", "editor", Some(PASSWORD)).await;
        let by_password = app.password_login("ed@example.com", PASSWORD).await;
        let key = app.post("/api/v2/api-keys", &owner.access, json!({"name": "ed", "user_id": id})).await.expect(201);
        let by_key = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({
            "api_key": key["data"]["api_key"], "api_secret": key["data"]["api_secret"]}))).await.expect(200);
        let by_key = by_key["data"]["access_token"].as_str().unwrap().to_owned();
        app.post("/api/v2/posts", &by_key, json!({"title": "mine"})).await.expect(201);
        // A promotion keeps sessions (the new role applies at once).
        app.patch(&format!("/api/v2/users/{id}"), &owner.access, json!({"role": "admin"})).await.expect(200);
        app.get("/api/v2/users", &by_password.access).await.expect(200);
        // A demotion ends them: every token issued before is refused.
        app.patch(&format!("/api/v2/users/{id}"), &owner.access, json!({"role": "viewer"})).await.expect(200);
        for t in [&by_password.access, &by_key] {
            app.get("/api/v2/me", t).await.expect_error(401, "AUTH_INVALID");
        }
        app.refresh(&by_password.refresh).await.expect_error(401, "AUTH_INVALID");
        // The key itself still works, with the new role.
        let again = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({
            "api_key": key["data"]["api_key"], "api_secret": key["data"]["api_secret"]}))).await.expect(200);
        let again = again["data"]["access_token"].as_str().unwrap();
        app.post("/api/v2/posts", again, json!({"title": "no longer"})).await.expect_error(403, "FORBIDDEN");
    }

    async fn a_password_change_ends_sessions_and_the_old_password(app) {
        let owner = app.owner().await;
        let id = app.add_user(&owner.access, "pw@example.com", "author", Some(PASSWORD)).await;
        let t = app.password_login("pw@example.com", PASSWORD).await;
        app.patch(&format!("/api/v2/users/{id}"), &t.access, json!({"password": "short"})).await
            .expect_error(422, "VALIDATION_FAILED");
        app.patch(&format!("/api/v2/users/{id}"), &t.access, json!({"password": "a brand new passphrase", "current_password": PASSWORD})).await.expect(200);
        app.get("/api/v2/me", &t.access).await.expect_error(401, "AUTH_INVALID");
        app.send(Method::POST, "/api/v2/auth/login", None, Some(json!({"email": "pw@example.com", "password": PASSWORD}))).await
            .expect_error(401, "AUTH_INVALID");
        app.password_login("pw@example.com", "a brand new passphrase").await;
    }

    async fn own_password_and_email_need_the_current_password_and_a_password_session(app) {
        let owner = app.owner().await;
        let id = app.add_user(&owner.access, "v@example.com", "viewer", Some(PASSWORD)).await;
        let path = format!("/api/v2/users/{id}");
        let key = app.post("/api/v2/api-keys", &owner.access, json!({"name": "v", "user_id": id})).await.expect(201);
        let key_session = || async {
            let pair = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({
                "api_key": key["data"]["api_key"], "api_secret": key["data"]["api_secret"]}))).await.expect(200);
            pair["data"]["access_token"].as_str().unwrap().to_owned()
        };
        let by_key = key_session().await;
        // A key's session may rename its user, but never set a password or email that would
        // outlive the key — even knowing the current password.
        app.patch(&path, &by_key, json!({"name": "Vee"})).await.expect(200);
        for body in [
            json!({"password": "taken over by the key"}),
            json!({"email": "attacker@example.com"}),
            json!({"password": "taken over by the key", "current_password": PASSWORD}),
        ] {
            let r = app.patch(&path, &by_key, body).await.expect_error(403, "FORBIDDEN");
            assert!(r["errors"][0]["message"].as_str().unwrap().contains("/auth/login"), "{r}");
        }
        // A password session must confirm the current password.
        let by_password = app.password_login("v@example.com", PASSWORD).await;
        for body in [
            json!({"password": "a brand new passphrase"}),
            json!({"email": "vee@example.com"}),
            json!({"password": "a brand new passphrase", "current_password": "not the password at all"}),
        ] {
            assert_eq!(app.patch(&path, &by_password.access, body).await.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "current_password");
        }
        let v = app.patch(&path, &by_password.access, json!({"email": "vee@example.com", "current_password": PASSWORD})).await.expect(200);
        assert_eq!(v["data"]["email"], "vee@example.com");
        app.password_login("vee@example.com", PASSWORD).await;
        // An admin resetting someone's password needs no current password, and ends every
        // session of that user, those from keys included.
        let by_key = key_session().await;
        app.patch(&path, &owner.access, json!({"password": "reset by the owner"})).await.expect(200);
        app.get("/api/v2/me", &by_key).await.expect_error(401, "AUTH_INVALID");
        app.get("/api/v2/me", &by_password.access).await.expect_error(401, "AUTH_INVALID");
        app.password_login("vee@example.com", "reset by the owner").await;
    }

    async fn deleting_a_user_hands_over_their_content_and_ends_their_access(app) {
        let owner = app.owner().await;
        let admin_id = app.add_user(&owner.access, "admin@example.com", "admin", Some(PASSWORD)).await;
        let admin = app.password_login("admin@example.com", PASSWORD).await;
        let writer_id = app.add_user(&owner.access, "writer@example.com", "author", Some(PASSWORD)).await;
        let writer = app.password_login("writer@example.com", PASSWORD).await;
        let post = app.create_post(&writer.access, json!({"title": "Legacy"})).await;
        let path = format!("/api/v2/users/{writer_id}");
        app.delete(&format!("{path}?reassign_to={writer_id}"), &admin.access).await.expect_error(422, "VALIDATION_FAILED");
        app.delete(&format!("{path}?reassign_to=999999"), &admin.access).await.expect_error(422, "VALIDATION_FAILED");
        for (query, field) in [("reassign_to=1&reassign_to=1", "reassign_to"), ("reassign=1", "reassign")] {
            let r = app.delete(&format!("{path}?{query}"), &admin.access).await;
            assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], field, "{query}");
        }
        let v = app.delete(&path, &admin.access).await.expect(200);
        assert_eq!(v["data"], json!({"id": writer_id, "deleted": true, "reassigned_to": admin_id}));
        app.get("/api/v2/me", &writer.access).await.expect_error(401, "AUTH_INVALID");
        app.refresh(&writer.refresh).await.expect_error(401, "AUTH_INVALID");
        let p = app.get(&format!("/api/v2/posts/{}", post["id"]), &owner.access).await.expect(200);
        assert_eq!(p["data"]["author_id"], admin_id);
        assert_ne!(p["data"]["updated_at"], post["updated_at"]);
        app.delete(&path, &admin.access).await.expect_error(404, "NOT_FOUND");
        // The email is free again.
        app.add_user(&owner.access, "writer@example.com", "viewer", None).await;
        // Admins cannot delete themselves or owners.
        app.delete(&format!("/api/v2/users/{admin_id}"), &admin.access).await.expect_error(403, "FORBIDDEN");
        app.delete(&format!("/api/v2/users/{}", owner.user_id), &admin.access).await.expect_error(403, "FORBIDDEN");
    }

    async fn keys_are_shown_once_listed_without_secrets_and_revoked_at_once(app) {
        let owner = app.owner().await;
        let admin_id = app.add_user(&owner.access, "admin@example.com", "admin", Some(PASSWORD)).await;
        let admin = app.password_login("admin@example.com", PASSWORD).await;
        let editor_id = app.add_user(&admin.access, "editor@example.com", "editor", None).await;

        let r = app.post("/api/v2/api-keys", &admin.access, json!({"name": "deploy", "user_id": editor_id, "expires_at": "2999-01-01T00:00:00Z"})).await;
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let created = r.expect(201)["data"].clone();
        let api_key = created["api_key"].as_str().unwrap().to_owned();
        let secret = created["api_secret"].as_str().unwrap().to_owned();
        assert!(api_key.starts_with("api_") && secret.starts_with("sk_"));
        assert_eq!(created["key_id"], api_key.as_str());
        assert_eq!((created["family"].as_str(), created["user_id"].as_i64()), (Some("api"), Some(editor_id)));
        assert_eq!(created["expires_at"], "2999-01-01T00:00:00Z");
        assert_eq!(created["last_used_at"], Value::Null);

        let pair = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": api_key, "api_secret": secret}))).await.expect(200);
        let access = pair["data"]["access_token"].as_str().unwrap().to_owned();
        let me = app.get("/api/v2/me", &access).await.expect(200);
        assert_eq!((me["data"]["user"]["id"].as_i64(), me["data"]["credential"]["key_id"].as_str()), (Some(editor_id), Some(api_key.as_str())));

        let mcp = app.post("/api/v2/api-keys", &admin.access, json!({"name": "agent", "family": "mcp"})).await.expect(201)["data"].clone();
        let token = mcp["token"].as_str().unwrap();
        assert!(token.starts_with("mcp_") && mcp.get("api_secret").is_none());
        // The listed id of an MCP token is its own random string: no run of it is in the token.
        let mcp_id = mcp["key_id"].as_str().unwrap();
        assert!(mcp_id.starts_with("mcpid_") && mcp_id.len() == 22, "{mcp_id}");
        let random = &mcp_id["mcpid_".len()..];
        let chars: Vec<char> = random.chars().collect();
        for run in chars.windows(6) {
            let run: String = run.iter().collect();
            assert!(!token.contains(&run), "the MCP id {mcp_id} shares {run} with its token");
        }
        assert_eq!(mcp["user_id"], admin_id);
        let r = app.get("/api/v2/me", token).await;
        assert!(r.expect_error(401, "AUTH_INVALID")["errors"][0]["message"].as_str().unwrap().contains("/mcp"));

        let list = app.get("/api/v2/api-keys", &admin.access).await;
        let text = String::from_utf8_lossy(&list.body).to_string();
        assert!(!text.contains(&secret) && !text.contains(token), "no secrets in listings");
        let list = list.expect(200);
        let listed = list["data"].as_array().unwrap().iter().find(|k| k["key_id"] == api_key.as_str()).unwrap().clone();
        assert!(listed["last_used_at"].is_string(), "{listed}");
        assert!(listed.get("api_secret").is_none());

        // Revoked: the access token from it fails on the next request; a second revoke is 404.
        let path = format!("/api/v2/api-keys/{}", created["id"]);
        let v = app.delete(&path, &admin.access).await.expect(200);
        assert!(v["data"]["revoked_at"].is_string());
        app.get("/api/v2/me", &access).await.expect_error(401, "AUTH_INVALID");
        app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": api_key, "api_secret": secret}))).await
            .expect_error(401, "AUTH_INVALID");
        app.delete(&path, &admin.access).await.expect_error(404, "NOT_FOUND");

        // Bad requests.
        for (body, field) in [
            (json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}), "expires_at"),
            (json!({"name": "x", "family": "pk"}), "family"),
            (json!({"name": "x", "user_id": 999999}), "user_id"),
            (json!({"family": "api"}), "name"),
        ] {
            assert_eq!(app.post("/api/v2/api-keys", &admin.access, body).await.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], field);
        }
        // Keys for owners are the owners' business.
        app.post("/api/v2/api-keys", &admin.access, json!({"name": "x", "user_id": owner.user_id})).await.expect_error(403, "FORBIDDEN");
    }

    async fn everyone_lists_and_revokes_their_own_keys_only(app) {
        let owner = app.owner().await;
        let (key, secret, editor_id, _) = app.api_key("default", "ed@example.com", Role::Editor).await;
        let ed = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": key, "api_secret": secret}))).await.expect(200);
        let ed = ed["data"]["access_token"].as_str().unwrap().to_owned();
        app.post("/api/v2/api-keys", &ed, json!({"name": "mine"})).await.expect_error(403, "FORBIDDEN");
        let own = app.get("/api/v2/api-keys", &ed).await.expect(200);
        let own = own["data"].as_array().unwrap();
        assert_eq!(own.len(), 1, "only the editor's own key: {own:?}");
        assert_eq!(own[0]["user_id"], editor_id);
        // The owner's keys are invisible and untouchable for the editor.
        let owner_keys = app.get("/api/v2/api-keys", &owner.access).await.expect(200);
        let owner_key = owner_keys["data"].as_array().unwrap().iter().find(|k| k["user_id"] == owner.user_id).unwrap().clone();
        app.delete(&format!("/api/v2/api-keys/{}", owner_key["id"]), &ed).await.expect_error(403, "FORBIDDEN");
        app.delete(&format!("/api/v2/api-keys/{}", own[0]["id"]), &ed).await.expect(200);
        app.get("/api/v2/me", &ed).await.expect_error(401, "AUTH_INVALID");
    }
}

#[actix_web::test]
async fn registration_is_closed_unless_enabled() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::new(backend, |c| c.open_registration = false).await else {
            continue;
        };
        let body = json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD, "site_name": "Blog"});
        app.send(Method::POST, "/api/v2/auth/register", None, Some(body))
            .await
            .expect_error(404, "NOT_FOUND");
        // Even a malformed body: the endpoint is not there.
        app.send(Method::POST, "/api/v2/auth/register", None, None)
            .await
            .expect_error(404, "NOT_FOUND");
    }
}
