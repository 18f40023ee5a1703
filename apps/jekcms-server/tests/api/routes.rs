//! The one route list (`routes::route_list!`): every operation of the published OpenAPI
//! document is served, at its documented path and method. Registration and document come
//! from the same list, so what this catches is an annotation whose path or method differs
//! from the actix attribute (v1's name their full paths by hand).

use crate::helpers::{Resp, both_stores};
use actix_web::http::Method;
use serde_json::{Value, json};

/// Whether `r` is the fallback's answer: a 405, or a 404 for a path no route matched (a
/// handler's own 404 names the missing resource instead).
fn is_fallback(r: &Resp) -> bool {
    r.status == 405
        || (r.status == 404 && String::from_utf8_lossy(&r.body).contains("no route for"))
}

both_stores! {
    async fn every_documented_operation_is_served(app) {
        let t = app.owner().await;
        let doc: Value = serde_json::from_str(&jekcms_server::openapi::document_json()).unwrap();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            // Any id: a missing row is the handler's 404, not the fallback's.
            let uri = path
                .replace("{id}", "987654321")
                .replace("{delivery_id}", "987654321")
                .replace("{slug}", "no-such-post")
                .replace("{token}", "0000000000000000000000")
                .replace("{filename}", "none.png");
            assert!(!uri.contains('{'), "an unknown path parameter in {path}");
            for (method, op) in item.as_object().unwrap() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let body = op.get("requestBody").map(|_| json!({}));
                let r = app.send(method.clone(), &uri, Some(&t.access), body).await;
                assert!(
                    !is_fallback(&r),
                    "{method} {path} is documented but not served: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                checked += 1;
            }
        }
        assert!(checked >= 34, "every operation was tried ({checked})");
        // The check can fail: undocumented paths and methods reach the fallback.
        for (method, uri) in [
            (Method::GET, "/api/v2/nothing"),
            (Method::PUT, "/api/v2/posts"),
            (Method::GET, "/api/v1/nothing"),
            (Method::DELETE, "/api/v1/posts"),
        ] {
            let r = app.send(method.clone(), uri, Some(&t.access), None).await;
            assert!(is_fallback(&r), "{method} {uri}: {}", r.status);
        }
    }
}
