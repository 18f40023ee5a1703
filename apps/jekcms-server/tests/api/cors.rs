//! CORS as browsers exercise it: preflights (allowed and refused) and the headers of the
//! actual responses, for the deployment-wide `JEKCMS_CORS_ORIGINS` and a site's own
//! `cors_origins` (pull API only).

use crate::helpers::{Resp, TestApp};
use crate::media::{PNG, multipart};
use actix_web::test::TestRequest;
use jekcms_server::cors::CorsOrigins;
use jekcms_store::Backend;
use serde_json::json;

async fn app(backend: Backend, origins: &str) -> Option<TestApp> {
    let origins = CorsOrigins::parse(origins).unwrap();
    TestApp::new(backend, move |c| c.cors_origins = origins).await
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> Resp {
    app.call(
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri(path)
            .insert_header(("origin", origin))
            .insert_header(("access-control-request-method", "GET"))
            .insert_header(("access-control-request-headers", "authorization, x-api-key")),
    )
    .await
}

fn assert_allowed_preflight(r: &Resp, allow_origin: &str) {
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty());
    assert_eq!(r.header("access-control-allow-origin"), Some(allow_origin));
    let headers = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "authorization",
        "content-type",
        "if-match",
        "if-none-match",
        "idempotency-key",
        "x-api-key",
        "x-request-id",
    ] {
        assert!(headers.contains(h), "{h} in {headers}");
    }
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("GET")
    );
    assert!(r.header("access-control-max-age").is_some());
    assert!(r.header("vary").unwrap().contains("Origin"));
    assert!(r.header("access-control-allow-credentials").is_none());
}

/// A refused preflight to `/api/v2`: `403 FORBIDDEN` naming the origin, no CORS headers.
fn assert_refused_preflight(r: &Resp) {
    assert!(r.header("access-control-allow-origin").is_none());
    let body = r.expect_error(403, "FORBIDDEN");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("may not call this API from a browser"),
        "{body}"
    );
}

async fn get_from(app: &TestApp, path: &str, origin: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = TestRequest::get()
        .uri(path)
        .insert_header(("origin", origin));
    for h in headers {
        req = req.insert_header(*h);
    }
    app.call(req).await
}

async fn deployment_wide_origins(backend: Backend) {
    let Some(app) = app(backend, "https://admin.example, http://localhost:3000").await else {
        return;
    };
    let owner = app.owner().await;
    let bearer = format!("Bearer {}", owner.access);
    for origin in ["https://admin.example", "http://localhost:3000"] {
        assert_allowed_preflight(&preflight(&app, "/api/v2/posts", origin).await, origin);
        let r = get_from(&app, "/api/v2/posts", origin, &[("authorization", &bearer)]).await;
        r.expect(200);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        let exposed = r.header("access-control-expose-headers").unwrap();
        for h in [
            "ETag",
            "X-Request-Id",
            "RateLimit-Policy",
            "Retry-After",
            "Location",
        ] {
            assert!(exposed.contains(h), "{h}");
        }
        assert!(r.header("vary").unwrap().contains("Origin"));
    }
    // Errors carry them too, so a front end can read the envelope of a 401.
    let r = get_from(&app, "/api/v2/posts", "https://admin.example", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://admin.example")
    );
    for refused in [
        "https://evil.example",
        "https://admin.example.evil.example",
        "null",
    ] {
        assert_refused_preflight(&preflight(&app, "/api/v2/posts", refused).await);
        let r = get_from(
            &app,
            "/api/v2/posts",
            refused,
            &[("authorization", &bearer)],
        )
        .await;
        r.expect(200);
        assert!(r.header("access-control-allow-origin").is_none());
        assert!(r.header("access-control-expose-headers").is_none());
    }
    // The legacy API is not for browsers.
    let r = preflight(&app, "/api/v1/posts", "https://admin.example").await;
    assert_ne!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());
}

async fn any_origin(backend: Backend) {
    let Some(app) = app(backend, "*").await else {
        return;
    };
    let owner = app.owner().await;
    assert_allowed_preflight(
        &preflight(&app, "/api/v2/posts", "https://anyone.example").await,
        "*",
    );
    let r = get_from(
        &app,
        "/api/v2/posts",
        "https://anyone.example",
        &[("authorization", &format!("Bearer {}", owner.access))],
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-credentials").is_none());
}

async fn a_sites_origins_open_its_pull_api_only(backend: Backend) {
    let Some(app) = app(backend, "").await else {
        return;
    };
    let owner = app.owner().await;
    app.patch(
        "/api/v2/site",
        &owner.access,
        json!({"cors_origins": ["https://blog.example"]}),
    )
    .await
    .expect(200);
    let key = app
        .post(
            &format!("/api/v2/sites/{}/rotate-keys", owner.site_id),
            &owner.access,
            json!({}),
        )
        .await
        .expect(200)["data"]["new_api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app
        .login("other", "o@example.com", jekcms_auth::Role::Owner)
        .await;
    let other_key = app
        .post(
            &format!("/api/v2/sites/{}/rotate-keys", other.site_id),
            &other.access,
            json!({}),
        )
        .await
        .expect(200)["data"]["new_api_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // A preflight carries no key: any site's origin passes it.
    assert_allowed_preflight(
        &preflight(&app, "/api/v2/pull/posts", "https://blog.example").await,
        "https://blog.example",
    );
    assert_allowed_preflight(
        &preflight(&app, "/api/v2/pull/posts/hello", "https://blog.example").await,
        "https://blog.example",
    );
    assert_refused_preflight(&preflight(&app, "/api/v2/pull/posts", "https://other.example").await);
    // The site's origins are for its pull API, not the management API.
    assert_refused_preflight(&preflight(&app, "/api/v2/posts", "https://blog.example").await);

    // The actual response: CORS headers only for the key's own site's origins.
    let r = get_from(
        &app,
        "/api/v2/pull/posts",
        "https://blog.example",
        &[("x-api-key", &key)],
    )
    .await;
    r.expect(200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://blog.example")
    );
    // From the cache, the same.
    let r = get_from(
        &app,
        "/api/v2/pull/posts",
        "https://blog.example",
        &[("x-api-key", &key)],
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://blog.example")
    );
    let r = get_from(
        &app,
        "/api/v2/pull/posts",
        "https://blog.example",
        &[("x-api-key", &other_key)],
    )
    .await;
    r.expect(200);
    assert!(r.header("access-control-allow-origin").is_none());
    let r = get_from(
        &app,
        "/api/v2/posts",
        "https://blog.example",
        &[("authorization", &format!("Bearer {}", owner.access))],
    )
    .await;
    assert!(r.header("access-control-allow-origin").is_none());

    // Taken off the list: refused from the next request on.
    app.patch("/api/v2/site", &owner.access, json!({"cors_origins": []}))
        .await
        .expect(200);
    assert_refused_preflight(&preflight(&app, "/api/v2/pull/posts", "https://blog.example").await);
    let r = get_from(
        &app,
        "/api/v2/pull/posts",
        "https://blog.example",
        &[("x-api-key", &key)],
    )
    .await;
    assert!(r.header("access-control-allow-origin").is_none());
}

async fn public_media_is_readable_from_anywhere(backend: Backend) {
    let Some(app) = app(backend, "").await else {
        return;
    };
    let owner = app.owner().await;
    let up = app
        .call(multipart(&owner.access, &[("file", Some("a.png"), PNG)]))
        .await
        .expect(201);
    let url = up["data"]["public_url"].as_str().unwrap().to_owned();
    let r = get_from(&app, &url, "https://anyone.example", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_allowed_preflight(&preflight(&app, &url, "https://anyone.example").await, "*");
}

macro_rules! on_both {
    ($($name:ident),*) => {$(
        mod $name {
            use jekcms_store::Backend;
            #[actix_web::test]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    )*};
}

on_both!(
    deployment_wide_origins,
    any_origin,
    a_sites_origins_open_its_pull_api_only,
    public_media_is_readable_from_anywhere
);
