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

/// A request for a public URL with no credential.
fn public(url: &str) -> TestRequest {
    TestRequest::get().uri(url)
}

both_stores! {
    async fn public_urls_serve_the_bytes_without_credentials(app) {
        let t = app.owner().await;
        let v = app.call(multipart(&t.access, &[("file", Some("café menu #1.png"), PNG), ("alt_text", None, b"menu")])).await.expect(201);
        let m = &v["data"];
        let (id, sha) = (m["id"].as_i64().unwrap(), m["sha256"].as_str().unwrap().to_owned());
        let url = m["public_url"].as_str().unwrap().to_owned();
        // /m/{22 base62 characters}/{the file name as one percent-encoded segment}
        let token = url.strip_prefix("/m/").unwrap().split('/').next().unwrap().to_owned();
        assert_eq!(token.len(), 22, "{url}");
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{url}");
        assert_eq!(url, format!("/m/{token}/caf%C3%A9%20menu%20%231.png"));
        // The same URL in every v2 answer that carries the medium.
        let got = app.get(&format!("/api/v2/media/{id}"), &t.access).await.expect(200);
        assert_eq!(got["data"]["public_url"], url.as_str());
        let list = app.get("/api/v2/media", &t.access).await.expect(200);
        assert_eq!(list["data"][0]["public_url"], url.as_str());

        let r = app.call(public(&url)).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], PNG);
        assert_eq!(r.header("content-type"), Some("image/png"));
        assert_eq!(r.header("content-disposition"), Some("inline; filename=\"caf_ menu #1.png\"; filename*=UTF-8''caf%C3%A9%20menu%20#1.png"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("content-security-policy"), Some("default-src 'none'; sandbox"));
        assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(r.header("etag"), Some(format!("\"{sha}\"").as_str()));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert!(r.header("last-modified").is_some());
        // The authenticated URL serves the same bytes under the same headers and tag (its
        // own caching: private).
        let content = app.get(&format!("/api/v2/media/{id}/content"), &t.access).await;
        assert_eq!(&content.body[..], PNG);
        for name in ["content-type", "content-disposition", "x-content-type-options", "content-security-policy", "etag", "last-modified", "accept-ranges"] {
            assert_eq!(content.header(name), r.header(name), "{name}");
        }
        assert_eq!(content.header("cache-control"), Some("private, no-cache"));
        // A credential sent along changes nothing: the answer is the same for everyone.
        let r = app.call(public(&url).insert_header(("authorization", format!("Bearer {}", t.access)))).await;
        assert_eq!((r.status.as_u16(), r.header("cache-control")), (200, Some("public, max-age=31536000, immutable")));

        // HEAD: the GET answer's status and headers.
        let head = app.call(TestRequest::default().method(actix_web::http::Method::HEAD).uri(&url)).await;
        assert_eq!(head.status, 200);
        for name in ["content-type", "etag", "cache-control", "accept-ranges"] {
            assert_eq!(head.header(name), r.header(name), "{name}");
        }

        // If-None-Match with the tag (or among others, or weak): 304, no body, the tag again.
        for inm in [format!("\"{sha}\""), format!("\"other\", W/\"{sha}\""), "*".to_owned()] {
            let r = app.call(public(&url).insert_header(("if-none-match", inm.clone()))).await;
            assert_eq!(r.status, 304, "{inm}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), Some(format!("\"{sha}\"").as_str()));
            assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
        }
        let r = app.call(public(&url).insert_header(("if-none-match", "\"other\""))).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (200, PNG));
        let r = app.call(public(&url).insert_header(("if-match", "\"other\""))).await;
        r.expect_error(412, "PRECONDITION_FAILED");

        // Range: 206 with the part; outside the file 416 with its length; malformed ignored.
        let r = app.call(public(&url).insert_header(("range", "bytes=1-3"))).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (206, &PNG[1..4]));
        assert_eq!(r.header("content-range"), Some(format!("bytes 1-3/{}", PNG.len()).as_str()));
        assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
        let r = app.call(public(&url).insert_header(("range", "bytes=-2"))).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (206, &PNG[PNG.len() - 2..]));
        for range in ["bytes=100-", "bytes=33-40"] {
            let r = app.call(public(&url).insert_header(("range", range))).await;
            r.expect_error(416, "RANGE_NOT_SATISFIABLE");
            assert_eq!(r.header("content-range"), Some(format!("bytes */{}", PNG.len()).as_str()), "{range}");
        }
        let r = app.call(public(&url).insert_header(("range", "bytes=9-1"))).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (200, PNG));
        // If-Range with another version: the whole file; with this one: the part.
        let r = app.call(public(&url).insert_header(("range", "bytes=0-1")).insert_header(("if-range", "\"old\""))).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (200, PNG));
        let r = app.call(public(&url).insert_header(("range", "bytes=0-1")).insert_header(("if-range", format!("\"{sha}\"")))).await;
        assert_eq!((r.status.as_u16(), &r.body[..]), (206, &PNG[..2]));

        // Only the medium's own name (percent-encoded or not, the same segment): one URL per
        // medium; any other name, a bad or unknown token: 404 in the envelope.
        let r = app.call(public(&format!("/m/{token}/caf%C3%A9%20menu%20%231.png"))).await;
        assert_eq!(r.status, 200);
        for wrong in [
            format!("/m/{token}/other.png"),
            format!("/m/{token}/caf%C3%A9%20menu%20%231.PNG"),
            format!("/m/{token}/caf%C3%A9%20menu%20%231.png%20"),
            format!("/m/{}/caf%C3%A9%20menu%20%231.png", token.to_lowercase().replace(|c: char| c.is_ascii_digit(), "a")),
            "/m/AAAAAAAAAAAAAAAAAAAAAA/caf%C3%A9%20menu%20%231.png".to_owned(),
            "/m/short/a.png".to_owned(),
            format!("/m/{token}%2Fx/a.png"),
            format!("/m/{token}/x%2F..%2Fa.png"),
        ] {
            let r = app.call(public(&wrong)).await;
            let v = r.expect_error(404, "NOT_FOUND");
            assert!(!v.to_string().contains(&token), "{v}");
        }
        // Other methods: 405 naming GET and HEAD.
        let r = app.send(actix_web::http::Method::POST, &url, None, None).await;
        r.expect_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }

    async fn public_urls_last_as_long_as_the_medium(app) {
        let t = app.owner().await;
        let v = app.call(multipart(&t.access, &[("file", Some("a.png"), PNG)])).await.expect(201);
        let id = v["data"]["id"].as_i64().unwrap();
        let url = v["data"]["public_url"].as_str().unwrap().to_owned();
        // An alt text change keeps the URL.
        let patched = app.patch(&format!("/api/v2/media/{id}"), &t.access, json!({"alt_text": "Now described"})).await.expect(200);
        assert_eq!(patched["data"]["public_url"], url.as_str());
        assert_eq!(app.call(public(&url)).await.status, 200);
        // A second instance (same database and files) serves it too; after the delete,
        // answered by the first, the very next request is 404 on both: no cache anywhere.
        let other = app.another_instance().await;
        assert_eq!(other.call(public(&url)).await.status, 200);
        app.delete(&format!("/api/v2/media/{id}"), &t.access).await.expect(200);
        app.call(public(&url)).await.expect_error(404, "NOT_FOUND");
        other.call(public(&url)).await.expect_error(404, "NOT_FOUND");
        let head = app.call(TestRequest::default().method(actix_web::http::Method::HEAD).uri(&url)).await;
        assert_eq!(head.status, 404);
    }

    async fn public_tokens_are_distinct_per_medium_and_site(app) {
        let t = app.owner().await;
        let other = app.login("other", "o@example.com", Role::Owner).await;
        let mut urls = Vec::new();
        for token in [&t.access, &t.access, &other.access] {
            // The same bytes and name each time.
            let v = app.call(multipart(token, &[("file", Some("same.png"), PNG)])).await.expect(201);
            urls.push(v["data"]["public_url"].as_str().unwrap().to_owned());
        }
        let mut distinct = urls.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{urls:?}");
        // Each serves, with no credential, whatever its site.
        for url in &urls {
            let r = app.call(public(url)).await;
            assert_eq!((r.status.as_u16(), &r.body[..]), (200, PNG), "{url}");
        }
        // Another site's owner cannot reach the medium through the management API, even
        // knowing its public URL.
        let theirs = app.get("/api/v2/media", &other.access).await.expect(200);
        assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
        assert_eq!(theirs["data"][0]["public_url"], urls[2].as_str());
    }
}
