//! The §2.3 role table, cell by cell, through every endpoint that exists; site isolation
//! over every endpoint; and revocation seen by a second server instance.
//!
//! Expected answers are written out literally from API.md §2.3, not computed from
//! `Role::may`, so a broken rule fails here even if the policy code agrees with itself.

use crate::helpers::{Resp, TestApp, Tokens, both_stores};
use crate::media::{PNG, multipart};
use actix_web::http::Method;
use jekcms_auth::Role;
use jekcms_content::PostRepository;
use jekcms_store::Backend;
use serde_json::{Value, json};

const ROLES: [Role; 5] = [
    Role::Viewer,
    Role::Author,
    Role::Editor,
    Role::Admin,
    Role::Owner,
];

// Rows of API.md §2.3: [viewer, author, editor, admin, owner].
const READ: [bool; 5] = [true, true, true, true, true];
const CREATE: [bool; 5] = [false, true, true, true, true];
const CHANGE_OWN: [bool; 5] = [false, true, true, true, true];
const CHANGE_ANYONES: [bool; 5] = [false, false, true, true, true];
const MANAGE_BELOW: [bool; 5] = [false, false, false, true, true];
const OWNERS: [bool; 5] = [false, false, false, false, true];
const ADMIN_TIER: [bool; 5] = [false, false, false, true, true];

#[track_caller]
fn check(r: &Resp, allowed: bool, ok_status: u16, what: &str, role: Role) {
    let status = r.status.as_u16();
    if allowed {
        assert_eq!(
            status,
            ok_status,
            "{role} {what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    } else {
        assert_eq!(
            status,
            403,
            "{role} {what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["errors"][0]["code"], "FORBIDDEN");
    }
}

async fn upload(app: &TestApp, token: &str) -> Resp {
    app.call(multipart(token, &[("file", Some("a.png"), PNG)]))
        .await
}

fn id(v: &Value) -> i64 {
    v["data"]["id"].as_i64().unwrap()
}

/// Every cell of the table for one role, each on fresh fixtures.
async fn role_row(app: &TestApp, index: usize, other_author: &Tokens, owner: &Tokens) {
    let role = ROLES[index];
    let me = app
        .login("default", &format!("{role}@example.com"), role)
        .await;
    let t = me.access.as_str();

    // Someone else's post and medium.
    let theirs = app
        .create_post(&other_author.access, json!({"title": "theirs"}))
        .await;
    let their_post = format!("/api/v2/posts/{}", theirs["id"]);
    let their_media = format!(
        "/api/v2/media/{}",
        id(&upload(app, &other_author.access).await.expect(201))
    );
    // The caller's own post, written straight to the store (a viewer cannot create one).
    let own = app
        .state
        .store
        .create_post(
            &jekcms_content::activity::Writer {
                actor: jekcms_content::service::Actor {
                    user_id: me.user_id,
                    site_id: me.site_id,
                    role: jekcms_auth::Role::Viewer,
                },
                family: jekcms_content::activity::ActorFamily::Cli,
                key_id: None,
                request_id: None,
            },
            jekcms_content::post::parse_new(json!({"title": "own"}), "").unwrap(),
            None,
        )
        .await
        .unwrap();
    let own_post = format!("/api/v2/posts/{}", own.id);

    // read posts (all statuses) and media
    for path in [
        "/api/v2/posts".to_owned(),
        their_post.clone(),
        "/api/v2/media".into(),
        their_media.clone(),
        format!("{their_media}/content"),
    ] {
        let r = app.get(&path, t).await;
        check(&r, READ[index], 200, &format!("GET {path}"), role);
    }
    // create posts, upload media
    check(
        &app.post("/api/v2/posts", t, json!({"title": "new"})).await,
        CREATE[index],
        201,
        "create post",
        role,
    );
    let up = upload(app, t).await;
    check(&up, CREATE[index], 201, "upload", role);
    // edit, publish, delete own posts and media
    check(
        &app.patch(&own_post, t, json!({"status": "published"}))
            .await,
        CHANGE_OWN[index],
        200,
        "publish own post",
        role,
    );
    check(
        &app.delete(&own_post, t).await,
        CHANGE_OWN[index],
        200,
        "delete own post",
        role,
    );
    if up.status == 201 {
        let own_media = format!("/api/v2/media/{}", id(&up.json()));
        check(
            &app.patch(&own_media, t, json!({"alt_text": "mine"})).await,
            CHANGE_OWN[index],
            200,
            "edit own media",
            role,
        );
        check(
            &app.delete(&own_media, t).await,
            CHANGE_OWN[index],
            200,
            "delete own media",
            role,
        );
    }
    // edit, publish, delete anyone's; bulk import
    check(
        &app.patch(&their_post, t, json!({"status": "published"}))
            .await,
        CHANGE_ANYONES[index],
        200,
        "publish another's post",
        role,
    );
    check(
        &app.patch(&their_media, t, json!({"alt_text": "x"})).await,
        CHANGE_ANYONES[index],
        200,
        "edit another's media",
        role,
    );
    check(
        &app.delete(&their_post, t).await,
        CHANGE_ANYONES[index],
        200,
        "delete another's post",
        role,
    );
    check(
        &app.delete(&their_media, t).await,
        CHANGE_ANYONES[index],
        200,
        "delete another's media",
        role,
    );
    check(
        &app.post(
            "/api/v2/bulk/posts",
            t,
            json!({"posts": [{"title": "bulk"}]}),
        )
        .await,
        CHANGE_ANYONES[index],
        200,
        "bulk import",
        role,
    );

    // manage users and keys below own role
    let n = index * 100;
    let viewer_a = app
        .add_user(&owner.access, &format!("va{n}@example.com"), "viewer", None)
        .await;
    let viewer_b = app
        .add_user(&owner.access, &format!("vb{n}@example.com"), "viewer", None)
        .await;
    check(
        &app.get("/api/v2/users", t).await,
        MANAGE_BELOW[index],
        200,
        "list users",
        role,
    );
    check(
        &app.get(&format!("/api/v2/users/{viewer_a}"), t).await,
        MANAGE_BELOW[index],
        200,
        "read a user",
        role,
    );
    check(
        &app.post(
            "/api/v2/users",
            t,
            json!({"name": "n", "email": format!("new{n}@example.com"), "role": "viewer"}),
        )
        .await,
        MANAGE_BELOW[index],
        201,
        "create a viewer",
        role,
    );
    check(
        &app.patch(
            &format!("/api/v2/users/{viewer_a}"),
            t,
            json!({"role": "author"}),
        )
        .await,
        MANAGE_BELOW[index],
        200,
        "change a viewer's role",
        role,
    );
    check(
        &app.post(
            "/api/v2/api-keys",
            t,
            json!({"name": "k", "user_id": viewer_b}),
        )
        .await,
        MANAGE_BELOW[index],
        201,
        "create a key for a viewer",
        role,
    );
    let viewer_key = app
        .post(
            "/api/v2/api-keys",
            &owner.access,
            json!({"name": "k", "user_id": viewer_b}),
        )
        .await
        .expect(201);
    check(
        &app.delete(&format!("/api/v2/api-keys/{}", id(&viewer_key)), t)
            .await,
        MANAGE_BELOW[index],
        200,
        "revoke a viewer's key",
        role,
    );
    check(
        &app.delete(&format!("/api/v2/users/{viewer_b}"), t).await,
        MANAGE_BELOW[index],
        200,
        "delete a viewer",
        role,
    );

    // site settings, pull keys, webhooks, owners (the owner part exists so far)
    let spare_owner = app
        .add_user(&owner.access, &format!("o{n}@example.com"), "owner", None)
        .await;
    check(
        &app.post(
            "/api/v2/users",
            t,
            json!({"name": "n", "email": format!("newowner{n}@example.com"), "role": "owner"}),
        )
        .await,
        OWNERS[index],
        201,
        "create an owner",
        role,
    );
    check(
        &app.patch(
            &format!("/api/v2/users/{viewer_a}"),
            &owner.access,
            json!({"role": "viewer"}),
        )
        .await,
        true,
        200,
        "(reset)",
        role,
    );
    check(
        &app.patch(
            &format!("/api/v2/users/{viewer_a}"),
            t,
            json!({"role": "owner"}),
        )
        .await,
        OWNERS[index],
        200,
        "promote to owner",
        role,
    );
    check(
        &app.post(
            "/api/v2/api-keys",
            t,
            json!({"name": "k", "user_id": spare_owner}),
        )
        .await,
        OWNERS[index],
        201,
        "create a key for an owner",
        role,
    );
    check(
        &app.delete(&format!("/api/v2/users/{spare_owner}"), t).await,
        OWNERS[index],
        200,
        "delete an owner",
        role,
    );

    // rate-limit tier
    let r = app.get("/api/v2/me", t).await;
    let limit = r.header("x-ratelimit-limit").unwrap().to_owned();
    assert_eq!(
        limit,
        if ADMIN_TIER[index] { "900" } else { "600" },
        "{role} tier"
    );
}

async fn role_matrix(backend: Backend) {
    let Some(app) = TestApp::new(backend, |c| {
        c.rate_limit_standard = jekcms_ratelimit::Quota::parse("600/min").ok();
        c.rate_limit_admin = jekcms_ratelimit::Quota::parse("900/min").ok();
    })
    .await
    else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let owner = app.owner().await;
    let other_author = app
        .login("default", "other-author@example.com", Role::Author)
        .await;
    for index in 0..ROLES.len() {
        role_row(&app, index, &other_author, &owner).await;
    }
}

#[actix_web::test]
async fn every_cell_of_the_role_table_sqlite() {
    role_matrix(Backend::Sqlite).await;
}

#[actix_web::test]
async fn every_cell_of_the_role_table_postgres() {
    role_matrix(Backend::Postgres).await;
}

both_stores! {
    async fn nothing_of_another_site_is_reachable(app) {
        let a = app.login("site-a", "a@example.com", Role::Owner).await;
        let a_other = app.add_user(&a.access, "a2@example.com", "viewer", None).await;
        let b = app.login("site-b", "b@example.com", Role::Owner).await;
        let b_user = app.add_user(&b.access, "b2@example.com", "author", Some("b's long password")).await;
        let b_post = app.create_post(&b.access, json!({"title": "B secret title", "slug": "b-secret"})).await;
        let b_media = id(&upload(&app, &b.access).await.expect(201));
        let b_key = id(&app.post("/api/v2/api-keys", &b.access, json!({"name": "B secret key", "user_id": b_user})).await.expect(201));

        let p = format!("/api/v2/posts/{}", b_post["id"]);
        let m = format!("/api/v2/media/{b_media}");
        let u = format!("/api/v2/users/{b_user}");
        let k = format!("/api/v2/api-keys/{b_key}");
        let attempts: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, p.clone(), None),
            (Method::PATCH, p.clone(), Some(json!({"title": "pwned"}))),
            (Method::DELETE, p.clone(), None),
            (Method::GET, m.clone(), None),
            (Method::GET, format!("{m}/content"), None),
            (Method::PATCH, m.clone(), Some(json!({"alt_text": "pwned"}))),
            (Method::DELETE, m.clone(), None),
            (Method::GET, u.clone(), None),
            (Method::PATCH, u.clone(), Some(json!({"role": "viewer"}))),
            (Method::DELETE, u.clone(), None),
            (Method::DELETE, k.clone(), None),
        ];
        for (method, path, body) in attempts {
            let r = app.send(method.clone(), &path, Some(&a.access), body).await;
            let text = String::from_utf8_lossy(&r.body).to_string();
            assert!(!text.contains("B secret") && !text.contains("b2@example.com"), "{method} {path}: {text}");
            r.expect_error(404, "NOT_FOUND");
        }
        // The legacy v1 API is the same domain code: the same isolation.
        let (a_key, a_secret, _, _) = app.api_key("site-a", "a-v1@example.com", Role::Owner).await;
        let v1 = |method: Method, path: String, body: Option<Value>| {
            let mut req = actix_web::test::TestRequest::default()
                .method(method)
                .uri(&path)
                .insert_header(("x-api-key", a_key.clone()))
                .insert_header(("x-api-secret", a_secret.clone()));
            if let Some(b) = body {
                req = req.insert_header(("content-type", "application/json")).set_payload(b.to_string());
            }
            app.call(req)
        };
        for path in [format!("/api/v1/posts/update/{}", b_post["id"]), format!("/api/v1/posts/delete/{}", b_post["id"])] {
            let r = v1(Method::POST, path.clone(), Some(json!({"title": "pwned"}))).await;
            let text = String::from_utf8_lossy(&r.body).to_string();
            assert_eq!(r.status.as_u16(), 404, "{path}: {text}");
            assert!(!text.contains("B secret"), "{path}: {text}");
        }
        for path in ["/api/v1/posts?per_page=100", "/api/v1/media/list"] {
            let r = v1(Method::GET, path.to_owned(), None).await;
            let text = String::from_utf8_lossy(&r.body).to_string();
            assert_eq!(r.status.as_u16(), 200, "{path}: {text}");
            assert!(!text.contains("B secret") && !text.contains(&format!("\"id\":{b_media},")), "{path}: {text}");
        }
        // Lists and filters show only site A.
        for path in ["/api/v2/posts", "/api/v2/media", "/api/v2/users", "/api/v2/api-keys", &format!("/api/v2/posts?author_id={b_user}")] {
            let r = app.get(path, &a.access).await;
            let text = String::from_utf8_lossy(&r.body).to_string();
            assert!(!text.contains("B secret") && !text.contains("b2@example.com"), "{path}: {text}");
            for row in r.expect(200)["data"].as_array().unwrap() {
                assert!(row.get("site_id").is_none_or(|s| s == a.site_id), "{path}: {row}");
            }
        }
        // Ids of site B in bodies and parameters are refused like unknown ids.
        app.post("/api/v2/api-keys", &a.access, json!({"name": "x", "user_id": b_user})).await
            .expect_error(422, "VALIDATION_FAILED");
        app.delete(&format!("/api/v2/users/{a_other}?reassign_to={b_user}"), &a.access).await
            .expect_error(422, "VALIDATION_FAILED");
        // …and nothing of B changed.
        let still = app.get(&p, &b.access).await.expect(200);
        assert_eq!(still["data"]["title"], "B secret title");
        app.get(&m, &b.access).await.expect(200);
        assert_eq!(app.get(&u, &b.access).await.expect(200)["data"]["role"], "author");
        let keys = app.get("/api/v2/api-keys", &b.access).await.expect(200);
        assert!(keys["data"].as_array().unwrap().iter().any(|k| k["id"] == b_key && k["revoked_at"].is_null()));
        app.get(&format!("/api/v2/users/{a_other}"), &a.access).await.expect(200);
    }

    async fn every_kind_of_revocation_reaches_another_instance_at_once(app) {
        let other = app.another_instance().await;
        let owner = app.owner().await;
        let password = "a long enough password";
        // Four victims, each signed in; every token works on both instances first.
        let mut victims = Vec::new();
        for n in 0..4 {
            let email = format!("v{n}@example.com");
            let id = app.add_user(&owner.access, &email, "editor", Some(password)).await;
            let key = app.post("/api/v2/api-keys", &owner.access, json!({"name": "k", "user_id": id})).await.expect(201);
            let pair = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({
                "api_key": key["data"]["api_key"], "api_secret": key["data"]["api_secret"]}))).await.expect(200);
            let by_key = pair["data"]["access_token"].as_str().unwrap().to_owned();
            let by_password = app.password_login(&email, password).await;
            for t in [&by_key, &by_password.access] {
                other.get("/api/v2/me", t).await.expect(200);
            }
            victims.push((id, id_of_key(&key), by_key, by_password));
        }
        // 0: key revoked on this instance → its tokens fail on the other.
        app.delete(&format!("/api/v2/api-keys/{}", victims[0].1), &owner.access).await.expect(200);
        other.get("/api/v2/me", &victims[0].2).await.expect_error(401, "AUTH_INVALID");
        other.get("/api/v2/me", &victims[0].3.access).await.expect(200);
        // 1: logout here → that session fails there.
        app.revoke(&victims[1].3.refresh).await.expect(200);
        other.get("/api/v2/me", &victims[1].3.access).await.expect_error(401, "AUTH_INVALID");
        // 2: demotion here → every token of the user fails there.
        app.patch(&format!("/api/v2/users/{}", victims[2].0), &owner.access, json!({"role": "author"})).await.expect(200);
        other.get("/api/v2/me", &victims[2].2).await.expect_error(401, "AUTH_INVALID");
        other.get("/api/v2/me", &victims[2].3.access).await.expect_error(401, "AUTH_INVALID");
        // 3: deletion here → every token of the user fails there.
        app.delete(&format!("/api/v2/users/{}", victims[3].0), &owner.access).await.expect(200);
        other.get("/api/v2/me", &victims[3].2).await.expect_error(401, "AUTH_INVALID");
        other.get("/api/v2/me", &victims[3].3.access).await.expect_error(401, "AUTH_INVALID");
        other.refresh(&victims[3].3.refresh).await.expect_error(401, "AUTH_INVALID");
    }
}

fn id_of_key(v: &Value) -> i64 {
    v["data"]["id"].as_i64().unwrap()
}
