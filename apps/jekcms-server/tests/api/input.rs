//! Input hardening (issue #14): NUL characters, duplicate keys, error amplification, the role
//! checked before a body is read, years outside 0000–9999, `Range`, `HEAD` and `/docs`,
//! `Cache-Control`, the `Bearer` scheme, upload names and image dimensions.

use crate::helpers::{Resp, TestApp, both_stores};
use crate::media::{PNG, multipart};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_auth::Role;
use serde_json::{Value, json};

/// A request with a raw JSON payload, as a client could write it (duplicate keys, NUL).
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: impl Into<Vec<u8>>,
) -> Resp {
    let body: Vec<u8> = body.into();
    app.call(
        TestRequest::default()
            .method(method)
            .uri(path)
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-type", "application/json"))
            .set_payload(body),
    )
    .await
}

/// A v1 request with a key pair.
async fn v1(
    app: &TestApp,
    method: Method,
    path: &str,
    pair: &(String, String),
    body: Option<Value>,
) -> Resp {
    let mut req = TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("x-api-key", pair.0.as_str()))
        .insert_header(("x-api-secret", pair.1.as_str()));
    if let Some(b) = body {
        req = req
            .insert_header(("content-type", "application/json"))
            .set_payload(b.to_string());
    }
    app.call(req).await
}

/// Titles of every post of the caller's site, newest first.
async fn titles(app: &TestApp, token: &str) -> Vec<String> {
    app.get("/api/v2/posts?limit=100", token).await.expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect()
}

both_stores! {
    async fn nul_is_refused_in_every_string_field_and_parameter(app) {
        let t = app.owner().await;
        let post = app.create_post(&t.access, json!({"title": "clean"})).await;
        let id = post["id"].as_i64().unwrap();
        for field in ["title", "slug", "excerpt", "body", "published_at"] {
            let mut body = json!({"title": "t"});
            body[field] = json!("before\u{0}after");
            let r = app.post("/api/v2/posts", &t.access, body.clone()).await;
            assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], field);
            let r = app.patch(&format!("/api/v2/posts/{id}"), &t.access, body).await;
            assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], field);
        }
        let r = app.post("/api/v2/posts", &t.access, json!({"title": "t", "tags": ["a\u{0}"]})).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "tags");

        // Query parameters: PostgreSQL answered 500; SQLite's `q=%00` matched every post.
        for (param, field) in [("q=%00", "q"), ("tag=a%00", "tag"), ("q=a%00b", "q"), ("sort=title%00", "sort")] {
            let r = app.get(&format!("/api/v2/posts?{param}"), &t.access).await;
            assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], field, "{param}");
        }
        let r = app.get("/api/v2/media?mime_type=image%00", &t.access).await;
        assert_eq!(r.field(), "mime_type");
        let r = app.get("/api/v2/users?cursor=%00", &t.access).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "cursor");

        // Users, keys, token exchange.
        let r = app.post("/api/v2/users", &t.access, json!({"name": "n\u{0}", "email": "n@example.com", "role": "viewer"})).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "name");
        let r = app.post("/api/v2/api-keys", &t.access, json!({"name": "k\u{0}"})).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "name");
        let r = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": "api_\u{0}", "api_secret": "sk_x"}))).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "api_key");
        let r = app.send(Method::POST, "/api/v2/auth/refresh", None, Some(json!({"refresh_token": "rf_\u{0}"}))).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "refresh_token");

        // Media: alt text in a patch and in an upload.
        let m = app.call(multipart(&t.access, &[("file", Some("a.png"), PNG)])).await.expect(201);
        let media_id = m["data"]["id"].as_i64().unwrap();
        let r = app.patch(&format!("/api/v2/media/{media_id}"), &t.access, json!({"alt_text": "x\u{0}"})).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "alt_text");
        let r = app.call(multipart(&t.access, &[("file", Some("b.png"), PNG), ("alt_text", None, b"x\0y")])).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "alt_text");

        // v1 create and update.
        let (key, secret, _, _) = app.api_key("default", "v1@example.com", Role::Editor).await;
        let pair = (key, secret);
        let r = v1(&app, Method::POST, "/api/v1/posts/create", &pair, Some(json!({"title": "t", "body": "\u{0}"}))).await;
        assert_eq!(r.status, 422);
        assert!(r.json()["error"].as_str().unwrap().starts_with("body"), "{:?}", r.json());
        let r = v1(&app, Method::POST, &format!("/api/v1/posts/update/{id}"), &pair, Some(json!({"excerpt": "\u{0}"}))).await;
        assert_eq!(r.status, 422);
        let r = v1(&app, Method::GET, "/api/v1/posts?page=%00", &pair, None).await;
        assert_eq!(r.status, 422);

        // A bulk import: the item with NUL fails on its own, the others are created.
        let r = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": [
            {"title": "bulk one"}, {"title": "bulk two", "body": "x\u{0}"}, {"title": "bulk three"},
        ]})).await;
        let v = r.expect(200);
        assert_eq!((v["data"]["created"].as_i64(), v["data"]["failed"].as_i64()), (Some(2), Some(1)));
        assert_eq!(v["data"]["results"][1]["errors"][0]["field"], "posts[1].body");

        let mut got = titles(&app, &t.access).await;
        got.sort();
        assert_eq!(got, ["bulk one", "bulk three", "clean"]);
    }

    async fn a_login_with_nul_is_a_wrong_email(app) {
        let t = app.owner().await;
        app.add_user(&t.access, "nul@example.com", "editor", Some("a long enough password")).await;
        let wrong = app.send(Method::POST, "/api/v2/auth/login", None, Some(json!({"email": "nobody@example.com", "password": "a long enough password"}))).await;
        let wrong = wrong.expect_error(401, "AUTH_INVALID");
        for body in [
            json!({"email": "nul@example.com\u{0}", "password": "a long enough password"}),
            json!({"email": "\u{0}", "password": "x"}),
            json!({"email": "nul@example.com", "password": "a long enough password\u{0}"}),
        ] {
            let r = app.send(Method::POST, "/api/v2/auth/login", None, Some(body)).await;
            assert_eq!(r.expect_error(401, "AUTH_INVALID")["errors"], wrong["errors"]);
        }
        app.password_login("nul@example.com", "a long enough password").await;
    }

    async fn duplicate_keys_are_422_naming_the_field(app) {
        let t = app.owner().await;
        let r = raw(&app, Method::POST, "/api/v2/posts", &t.access, r#"{"title": "a", "title": "b"}"#).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "title");
        let r = raw(&app, Method::POST, "/api/v2/bulk/posts", &t.access,
            r#"{"posts": [{"title": "a"}, {"title": "b", "slug": "x", "slug": "y"}]}"#).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "posts[1].slug");
        let r = raw(&app, Method::POST, "/api/v2/posts", &t.access, r#"{"title": "a", "tags": ["x"], "tags": []}"#).await;
        assert_eq!(r.field(), "tags");
        let r = app.call(TestRequest::post().uri("/api/v2/auth/login")
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"email": "a@example.com", "email": "b@example.com", "password": "p"}"#)).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "email");
        assert!(titles(&app, &t.access).await.is_empty());
        // The same key in two objects is fine.
        let r = raw(&app, Method::POST, "/api/v2/bulk/posts", &t.access, r#"{"posts": [{"title": "a"}, {"title": "b"}]}"#).await;
        r.expect(200);
    }

    async fn error_lists_stay_short(app) {
        let t = app.owner().await;
        // 500 unknown keys (and no title): 20 entries and one that counts the rest.
        let mut body = serde_json::Map::new();
        for i in 0..500 {
            body.insert(format!("unknown_{i:03}"), json!(1));
        }
        let r = app.post("/api/v2/posts", &t.access, Value::Object(body)).await;
        let v = r.expect_error(422, "VALIDATION_FAILED");
        let errors = v["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 21, "{v}");
        assert_eq!(errors[20]["message"], "and 481 more errors");
        assert!(r.body.len() < 6_000, "{} bytes", r.body.len());

        // A key as long as the body is not echoed in full.
        let mut body = serde_json::Map::new();
        body.insert("title".into(), json!("t"));
        body.insert("k".repeat(1_000_000), json!(1));
        let r = app.post("/api/v2/posts", &t.access, Value::Object(body)).await;
        let v = r.expect_error(422, "VALIDATION_FAILED");
        assert!(v["errors"][0]["field"].as_str().unwrap().chars().count() <= 101);
        assert!(r.body.len() < 2_000, "{} bytes", r.body.len());

        // 4 MB of tiny unknown keys: refused early, with a short answer.
        let mut huge = String::from("{");
        let mut i = 0u64;
        while huge.len() < 4 * 1024 * 1024 - 32 {
            huge.push_str(&format!("\"{i:x}\":0,"));
            i += 1;
        }
        huge.push_str("\"title\":\"t\"}");
        let r = raw(&app, Method::POST, "/api/v2/posts", &t.access, huge).await;
        r.expect_error(413, "PAYLOAD_TOO_LARGE");
        assert!(r.body.len() < 1_000, "{} bytes", r.body.len());

        // Bulk: each item's error list is capped too.
        let mut item = serde_json::Map::new();
        item.insert("title".into(), json!("t"));
        for i in 0..100 {
            item.insert(format!("x{i}"), json!(1));
        }
        let v = app.post("/api/v2/bulk/posts", &t.access, json!({"posts": [Value::Object(item), {"title": "ok"}]})).await.expect(200);
        assert_eq!(v["data"]["results"][0]["errors"].as_array().unwrap().len(), 21);
        assert_eq!(v["data"]["created"], 1);
    }

    async fn the_role_is_checked_before_the_body_is_read(app) {
        let t = app.owner().await;
        let post = app.create_post(&t.access, json!({"title": "mine"})).await;
        let id = post["id"].as_i64().unwrap();
        let viewer = app.login("default", "viewer@example.com", Role::Viewer).await;
        let author = app.login("default", "author@example.com", Role::Author).await;
        // Not JSON at all, or too large: a viewer hears 403, not what is wrong with the body.
        let too_large = vec![b' '; 5 * 1024 * 1024];
        for body in [b"{not json".to_vec(), too_large] {
            for (method, path, who) in [
                (Method::POST, "/api/v2/posts".to_owned(), &viewer),
                (Method::PATCH, format!("/api/v2/posts/{id}"), &viewer),
                (Method::PATCH, "/api/v2/media/1".to_owned(), &viewer),
                (Method::POST, "/api/v2/bulk/posts".to_owned(), &viewer),
                (Method::POST, "/api/v2/bulk/posts".to_owned(), &author),
            ] {
                let r = raw(&app, method.clone(), &path, &who.access, body.clone()).await;
                r.expect_error(403, "FORBIDDEN");
            }
        }
        let (key, secret, _, _) = app.api_key("default", "v1viewer@example.com", Role::Viewer).await;
        let r = app.call(TestRequest::post().uri("/api/v1/posts/create")
            .insert_header(("x-api-key", key.as_str())).insert_header(("x-api-secret", secret.as_str()))
            .insert_header(("content-type", "application/json")).set_payload("{not json")).await;
        assert_eq!(r.status, 403);
        // Those who may write still get the body's faults.
        let r = raw(&app, Method::POST, "/api/v2/posts", &author.access, "{not json").await;
        r.expect_error(400, "MALFORMED_REQUEST");
    }

    async fn times_outside_years_0000_to_9999_are_refused(app) {
        let t = app.owner().await;
        for outside in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+00:01"] {
            let r = app.post("/api/v2/posts", &t.access, json!({"title": "t", "status": "published", "published_at": outside})).await;
            assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "published_at");
            let q = outside.replace('+', "%2B");
            let r = app.get(&format!("/api/v2/posts?updated_since={q}"), &t.access).await;
            assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "updated_since");
        }
        // The edges are kept exactly and take part in a published_at walk.
        let first = "0000-01-01T00:00:00Z";
        let last = "9999-12-31T23:59:59.999999Z";
        for (title, at) in [("first", first), ("last", last), ("now", "2026-06-01T12:00:00Z")] {
            let p = app.create_post(&t.access, json!({"title": title, "status": "published", "published_at": at})).await;
            assert_eq!(p["published_at"], at);
        }
        let mut walked = Vec::new();
        let mut path = "/api/v2/posts?sort=published_at&limit=1".to_owned();
        loop {
            let v = app.get(&path, &t.access).await.expect(200);
            walked.extend(v["data"].as_array().unwrap().iter().map(|p| p["published_at"].clone()));
            match v["meta"]["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v2/posts?sort=published_at&limit=1&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(walked, [json!(first), json!("2026-06-01T12:00:00Z"), json!(last)]);
        let v = app.get("/api/v2/posts?updated_since=0000-01-01T00:00:00Z", &t.access).await.expect(200);
        assert_eq!(v["data"].as_array().unwrap().len(), 3);
    }

    async fn ranges_answer_206_416_or_the_whole_file(app) {
        let t = app.owner().await;
        let m = app.call(multipart(&t.access, &[("file", Some("r.png"), PNG)])).await.expect(201);
        let url = m["data"]["url"].as_str().unwrap().to_owned();
        let get = |range: &'static str| {
            TestRequest::get().uri(&url)
                .insert_header(("authorization", format!("Bearer {}", t.access)))
                .insert_header(("range", range))
        };
        let r = app.call(get("bytes=0-3")).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (206, &PNG[..4]));
        assert_eq!(r.header("content-range"), Some(format!("bytes 0-3/{}", PNG.len()).as_str()));
        // Well-formed but outside the file: 416 in the envelope, with the file's length.
        for range in ["bytes=100-", "bytes=33-40"] {
            let r = app.call(get(range)).await;
            r.expect_error(416, "RANGE_NOT_SATISFIABLE");
            assert_eq!(r.header("content-range"), Some(format!("bytes */{}", PNG.len()).as_str()), "{range}");
        }
        // Malformed: ignored, the whole file.
        for range in ["bytes=5-1", "nonsense", "bytes=", "bytes=a-b", "pages=1-2", "bytes=99999999999999999999999-"] {
            let r = app.call(get(range)).await;
            assert_eq!((r.status.as_u16(), &r.body[..]), (200, PNG), "{range}");
        }
    }

    async fn head_answers_like_get_and_docs_without_slash_works(app) {
        let t = app.owner().await;
        let post = app.create_post(&t.access, json!({"title": "h"})).await;
        let id = post["id"].as_i64().unwrap();
        for path in ["/api/v2/posts".to_owned(), format!("/api/v2/posts/{id}"), "/api/v2/me".to_owned(), "/api/v2".to_owned()] {
            let get = app.send(Method::GET, &path, Some(&t.access), None).await;
            let head = app.send(Method::HEAD, &path, Some(&t.access), None).await;
            assert_eq!(head.status, get.status, "{path}");
            assert_eq!(head.header("content-type"), Some("application/json"), "{path}");
            assert_eq!(head.header("etag"), get.header("etag"), "{path}");
            assert!(head.header("x-request-id").is_some());
        }
        for path in ["/healthz", "/readyz", "/api/v2/openapi.json", "/docs/"] {
            let r = app.send(Method::HEAD, path, None, None).await;
            assert_eq!(r.status, 200, "{path}");
        }
        let (key, secret, _, _) = app.api_key("default", "headv1@example.com", Role::Viewer).await;
        let r = v1(&app, Method::HEAD, "/api/v1/posts", &(key, secret), None).await;
        assert_eq!(r.status, 200);
        // HEAD without a credential is refused as GET would be.
        app.send(Method::HEAD, "/api/v2/posts", None, None).await.expect_error(401, "AUTH_INVALID");
        // Where GET is not allowed, neither is HEAD; the answer names the method sent.
        let r = app.send(Method::HEAD, "/api/v2/auth/token", None, None).await;
        let v = r.expect_error(405, "METHOD_NOT_ALLOWED");
        assert!(v["errors"][0]["message"].as_str().unwrap().starts_with("HEAD "), "{v}");
        assert_eq!(r.header("allow"), Some("POST"));

        let r = app.send(Method::GET, "/docs", None, None).await;
        assert_eq!(r.status, 308);
        assert_eq!(r.header("location"), Some("/docs/"));
        let r = app.send(Method::GET, "/docs/", None, None).await;
        assert_eq!(r.status, 200);
    }

    async fn cache_control_private_for_credentials_no_store_for_secrets(app) {
        let t = app.owner().await;
        let post = app.create_post(&t.access, json!({"title": "c"})).await;
        let id = post["id"].as_i64().unwrap();
        for path in ["/api/v2/posts".to_owned(), format!("/api/v2/posts/{id}"), "/api/v2/me".to_owned(), "/api/v2/nothing".to_owned()] {
            let r = app.get(&path, &t.access).await;
            assert_eq!(r.header("cache-control"), Some("private, no-cache"), "{path}");
        }
        let r = app.send(Method::GET, "/api/v2/posts", Some("v4.local.forged"), None).await;
        assert_eq!(r.header("cache-control"), Some("private, no-cache"));
        let r = app.post("/api/v2/posts", &t.access, json!({"title": "d"})).await;
        assert_eq!(r.header("cache-control"), Some("private, no-cache"));
        let r = app.call(TestRequest::get().uri(&format!("/api/v2/posts?token={}", t.access))).await;
        assert_eq!(r.header("cache-control"), Some("private, no-cache"));
        let (key, secret, _, _) = app.api_key("default", "cc@example.com", Role::Viewer).await;
        let r = v1(&app, Method::GET, "/api/v1/posts", &(key.clone(), secret.clone()), None).await;
        assert_eq!(r.header("cache-control"), Some("private, no-cache"));
        // Credentials stay no-store.
        let r = app.send(Method::POST, "/api/v2/auth/token", None, Some(json!({"api_key": key, "api_secret": secret}))).await;
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let r = app.post("/api/v2/api-keys", &t.access, json!({"name": "k"})).await;
        r.expect(201);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        // Public answers are left alone.
        let r = app.send(Method::GET, "/healthz", None, None).await;
        assert_eq!(r.header("cache-control"), None);
    }

    async fn the_bearer_scheme_is_case_insensitive(app) {
        let t = app.owner().await;
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let r = app.call(TestRequest::get().uri("/api/v2/me")
                .insert_header(("authorization", format!("{scheme} {}", t.access)))).await;
            r.expect(200);
        }
        for value in [format!("Basic {}", t.access), format!("Bearer{}", t.access), "Bearer ".to_owned()] {
            let r = app.call(TestRequest::get().uri("/api/v2/me").insert_header(("authorization", value))).await;
            r.expect_error(401, "AUTH_INVALID");
        }
    }

    async fn uploads_get_their_sniffed_extension_and_sane_sizes(app) {
        let t = app.owner().await;
        for (sent, stored) in [
            ("evil.html", "evil.png"),
            ("invoice\u{202E}gpj.exe", "invoicegpj.png"),
            ("zero\u{200B}width.PNG", "zerowidth.png"),
            ("notes", "notes.png"),
        ] {
            let v = app.call(multipart(&t.access, &[("file", Some(sent), PNG)])).await.expect(201);
            assert_eq!(v["data"]["filename"], stored, "{sent}");
            let bytes = app.get(v["data"]["url"].as_str().unwrap(), &t.access).await;
            assert!(bytes.header("content-disposition").unwrap().contains(stored));
        }
        // A header claiming more pixels than anyone should decode: refused, nothing kept.
        let mut huge = PNG.to_vec();
        huge[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        let before = app.get("/api/v2/media", &t.access).await.expect(200)["data"].as_array().unwrap().len();
        let r = app.call(multipart(&t.access, &[("file", Some("bomb.png"), &huge)])).await;
        assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "file");
        huge[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let r = app.call(multipart(&t.access, &[("file", Some("bomb.png"), &huge)])).await;
        assert_eq!(r.field(), "file");
        let after = app.get("/api/v2/media", &t.access).await.expect(200)["data"].as_array().unwrap().len();
        assert_eq!(before, after);
        let stored: usize = std::fs::read_dir(&app.media_dir).unwrap().flatten()
            .map(|d| std::fs::read_dir(d.path()).map(|r| r.count()).unwrap_or(0)).sum();
        assert_eq!(stored, before);
    }
}
