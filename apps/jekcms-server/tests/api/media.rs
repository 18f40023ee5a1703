//! Media upload, listing, bytes and deletion.

use crate::helpers::{TestApp, both_stores};
use actix_web::test::TestRequest;
use jekcms_auth::Role;
use jekcms_store::Backend;
use serde_json::json;

/// A valid 3×2 PNG header (enough for sniffing and dimensions).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0, 0,
    3, 0, 0, 0, 2, 8, 6, 0, 0, 0, 0x72, 0xB6, 0x0D, 0x24,
];

pub fn multipart(token: &str, parts: &[(&str, Option<&str>, &[u8])]) -> TestRequest {
    let boundary = "XjekcmsBoundary42";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    TestRequest::post()
        .uri("/api/v2/media")
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        ))
        .set_payload(body)
}

fn files_in(dir: &std::path::Path) -> usize {
    walk(dir)
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

both_stores! {
    async fn upload_serve_patch_delete(app) {
        let t = app.owner().await;
        let r = app.call(multipart(&t.access, &[("file", Some("../../evil.txt"), PNG), ("alt_text", None, b"A tiny image")])).await;
        let v = r.expect(201);
        let m = &v["data"];
        let id = m["id"].as_i64().unwrap();
        assert_eq!(m["mime_type"], "image/png");
        assert_eq!(m["filename"], "evil.png");
        assert_eq!(m["size_bytes"], PNG.len());
        assert_eq!((m["width"].as_i64(), m["height"].as_i64()), (Some(3), Some(2)));
        assert_eq!(m["alt_text"], "A tiny image");
        assert_eq!(m["url"], format!("/api/v2/media/{id}/content"));
        assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(files_in(&app.media_dir), 1);

        let bytes = app.get(&format!("/api/v2/media/{id}/content"), &t.access).await;
        assert_eq!(bytes.status, 200);
        assert_eq!(bytes.header("content-type"), Some("image/png"));
        assert!(bytes.header("content-disposition").unwrap().contains("evil.png"));
        assert_eq!(bytes.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(&bytes.body[..], PNG);

        let patched = app.patch(&format!("/api/v2/media/{id}"), &t.access, json!({"alt_text": "Better"})).await.expect(200);
        assert_eq!(patched["data"]["alt_text"], "Better");
        app.patch(&format!("/api/v2/media/{id}"), &t.access, json!({"alt_text": "x", "width": 5})).await
            .expect_error(422, "VALIDATION_FAILED");

        let list = app.get("/api/v2/media?mime_type=image/&include=total", &t.access).await.expect(200);
        assert_eq!(list["meta"]["total"], 1);
        let none = app.get("/api/v2/media?mime_type=video/", &t.access).await.expect(200);
        assert_eq!(none["data"], json!([]));

        app.delete(&format!("/api/v2/media/{id}"), &t.access).await.expect(200);
        assert_eq!(files_in(&app.media_dir), 0);
        app.get(&format!("/api/v2/media/{id}"), &t.access).await.expect_error(404, "NOT_FOUND");
        app.get(&format!("/api/v2/media/{id}/content"), &t.access).await.expect_error(404, "NOT_FOUND");
    }

    async fn refused_uploads_leave_nothing_behind(app) {
        let t = app.owner().await;
        let r = app.call(multipart(&t.access, &[("file", Some("page.png"), b"<html><script>alert(1)</script></html>")])).await;
        r.expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
        let r = app.call(multipart(&t.access, &[("alt_text", None, b"no file")])).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "file");
        let r = app.call(multipart(&t.access, &[("file", Some("a.png"), PNG), ("colour", None, b"red")])).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "colour");
        app.post("/api/v2/media", &t.access, json!({"file": "x"})).await.expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
        let viewer = app.login("default", "v@example.com", Role::Viewer).await;
        app.call(multipart(&viewer.access, &[("file", Some("a.png"), PNG)])).await.expect_error(403, "FORBIDDEN");
        assert_eq!(files_in(&app.media_dir), 0);
        let list = app.get("/api/v2/media?include=total", &t.access).await.expect(200);
        assert_eq!(list["meta"]["total"], 0);
    }

    async fn media_pages_and_isolation(app) {
        let t = app.owner().await;
        for _ in 0..5 {
            app.call(multipart(&t.access, &[("file", Some("a.png"), PNG)])).await.expect(201);
        }
        let mut seen = Vec::new();
        let mut path = "/api/v2/media?limit=2".to_owned();
        loop {
            let v = app.get(&path, &t.access).await.expect(200);
            seen.extend(v["data"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()));
            match v["meta"]["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v2/media?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        assert!(seen.windows(2).all(|w| w[0] > w[1]));
        let other = app.login("other", "o@example.com", Role::Owner).await;
        app.get(&format!("/api/v2/media/{}", seen[0]), &other.access).await.expect_error(404, "NOT_FOUND");
        app.get(&format!("/api/v2/media/{}/content", seen[0]), &other.access).await.expect_error(404, "NOT_FOUND");
        app.delete(&format!("/api/v2/media/{}", seen[0]), &other.access).await.expect_error(404, "NOT_FOUND");
        let list = app.get("/api/v2/media", &other.access).await.expect(200);
        assert_eq!(list["data"], json!([]));
    }
}

#[actix_web::test]
async fn uploads_over_the_limit_are_413() {
    let app = TestApp::new(Backend::Sqlite, |c| c.max_upload_bytes = 1024)
        .await
        .unwrap();
    let t = app.owner().await;
    let mut big = PNG.to_vec();
    big.resize(4096, 0);
    app.call(multipart(&t.access, &[("file", Some("big.png"), &big)]))
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(files_in(&app.media_dir), 0);
}
