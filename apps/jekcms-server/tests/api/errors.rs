//! The envelope holds for every failure: routing, methods, panics, request ids.

use crate::helpers::{TestApp, both_stores};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_store::Backend;
use serde_json::json;

both_stores! {
    async fn unknown_routes_and_methods(app) {
        let t = app.owner().await;
        // Routing before authentication: 404 with or without a credential.
        app.send(Method::GET, "/api/v2/nothing", None, None).await.expect_error(404, "NOT_FOUND");
        app.get("/api/v2/nothing", &t.access).await.expect_error(404, "NOT_FOUND");
        let r = app.send(Method::PUT, "/api/v2/posts", None, None).await;
        r.expect_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
        let r = app.send(Method::POST, "/api/v2/posts/1", Some(&t.access), None).await;
        r.expect_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("allow"), Some("DELETE, GET, HEAD, PATCH"));
    }

    async fn panics_become_a_500_envelope_without_internals(app) {
        let r = app.send(Method::GET, "/api/v2/__test/panic", None, None).await;
        let v = r.expect_error(500, "INTERNAL_ERROR");
        let text = v.to_string();
        assert!(!text.contains("secret") && !text.contains(".rs") && !text.contains("panic"), "{text}");
    }

    async fn request_ids_are_echoed_or_made(app) {
        let r = app.call(TestRequest::get().uri("/api/v2/nothing").insert_header(("x-request-id", "client-id-1"))).await;
        assert_eq!(r.expect(404)["meta"]["request_id"], "client-id-1");
        let r = app.call(TestRequest::get().uri("/api/v2/nothing").insert_header(("x-request-id", "bad id with spaces"))).await;
        let v = r.expect(404);
        assert_ne!(v["meta"]["request_id"], "bad id with spaces");
        assert!(!v["meta"]["request_id"].as_str().unwrap().is_empty());
    }

    async fn a_site_without_api_access_gets_402(app) {
        let t = app.owner().await;
        app.get("/api/v2/posts", &t.access).await.expect(200);
        app.state.store.set_site_api_access(t.site_id, false).await.unwrap();
        for path in ["/api/v2", "/api/v2/posts", "/api/v2/me", "/api/v2/media"] {
            app.get(path, &t.access).await.expect_error(402, "LICENSE_REQUIRED");
        }
        app.post("/api/v2/posts", &t.access, json!({"title": "x"})).await.expect_error(402, "LICENSE_REQUIRED");
        app.state.store.set_site_api_access(t.site_id, true).await.unwrap();
        app.get("/api/v2/posts", &t.access).await.expect(200);
    }

    async fn health_ready_spec_and_docs(app) {
        let r = app.send(Method::GET, "/healthz", None, None).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"ok"[..]));
        let r = app.send(Method::GET, "/readyz", None, None).await;
        assert_eq!(r.status, 200);
        let r = app.send(Method::GET, "/api/v2/openapi.json", None, None).await;
        assert_eq!(r.status, 200);
        let spec = r.json();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(spec["paths"]["/api/v2/posts"].is_object());
        let r = app.send(Method::GET, "/docs/", None, None).await;
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains("swagger"));
        // The docs page loads its assets from this server, not a CDN.
        assert!(!String::from_utf8_lossy(&r.body).contains("https://"));
    }
}

/// With the database gone, requests get `503 UNAVAILABLE` (not a 500) and `/readyz` says so;
/// nothing about the database leaks. PostgreSQL only: a SQLite file cannot be taken away
/// from open connections.
#[actix_web::test]
async fn an_unreachable_database_is_503() {
    let Some(app) = TestApp::new(Backend::Postgres, |_| {}).await else {
        return;
    };
    let t = app.owner().await;
    app.get("/api/v2/posts", &t.access).await.expect(200);
    assert!(app.db.make_unreachable().await);
    let r = app.get("/api/v2/posts", &t.access).await;
    let v = r.expect_error(503, "UNAVAILABLE");
    let text = v.to_string();
    assert!(
        !text.contains("jekcms_test") && !text.contains("postgres"),
        "{text}"
    );
    let ready = app
        .send(actix_web::http::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(ready.status, 503);
    app.send(actix_web::http::Method::GET, "/healthz", None, None)
        .await;
}
