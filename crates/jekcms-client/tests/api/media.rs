//! The media endpoints against the real server, and the retry rules of uploads against a
//! scripted one.

use crate::fake::{Fake, fail, ok, pair};
use crate::support::TestServer;
use futures_util::TryStreamExt;
use jekcms_client::{Client, Error, ErrorCode, MediaFilter};
use serde_json::{Value, json};
use std::time::Duration;

/// A valid 3×2 PNG header (enough for sniffing and dimensions); the server's tests use it.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0, 0,
    3, 0, 0, 0, 2, 8, 6, 0, 0, 0, 0x72, 0xB6, 0x0D, 0x24,
];

const PDF: &[u8] = b"%PDF-1.7\n%client test\n";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// A fresh directory of this test's own under the system temp directory.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "jekcms_client_{name}_{}_{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_get_list_content_alt_text_delete() {
    let server = TestServer::start(|_| {}).await;
    let media = server.client().await.media();

    // From bytes.
    let from_bytes = media
        .upload_bytes("tiny.png", PNG, Some("A tiny image"))
        .await
        .unwrap();
    assert_eq!(from_bytes.filename, "tiny.png");
    assert_eq!(from_bytes.mime_type, "image/png");
    assert_eq!(from_bytes.size_bytes, PNG.len() as u64);
    assert_eq!(from_bytes.sha256, sha256_hex(PNG));
    assert_eq!((from_bytes.width, from_bytes.height), (Some(3), Some(2)));
    assert_eq!(from_bytes.alt_text.as_deref(), Some("A tiny image"));
    assert_eq!(
        from_bytes.url,
        format!("/api/v2/media/{}/content", from_bytes.id)
    );
    assert!(
        from_bytes.public_url.starts_with("/m/") && from_bytes.public_url.ends_with("/tiny.png"),
        "{}",
        from_bytes.public_url
    );

    // From a file: the name is the path's last component.
    let dir = temp_dir("upload");
    let path = dir.join("photo one.png");
    std::fs::write(&path, PNG).unwrap();
    let from_file = media.upload_file(&path, None).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(from_file.filename, "photo one.png");
    assert_eq!(from_file.mime_type, "image/png");
    assert_eq!(from_file.sha256, from_bytes.sha256);
    assert_eq!(from_file.alt_text, None);
    assert_ne!(from_file.id, from_bytes.id);

    // Something that is not an image, for the filter to leave out.
    let pdf = media.upload_bytes("doc.pdf", PDF, None).await.unwrap();
    assert_eq!(pdf.mime_type, "application/pdf");
    assert_eq!((pdf.width, pdf.height), (None, None));

    assert_eq!(media.get(from_bytes.id).await.unwrap(), from_bytes);
    assert_eq!(media.get(from_file.id).await.unwrap(), from_file);

    // One page, newest first, filtered by type prefix.
    let images = media
        .list(MediaFilter::default().mime_type("image/").include_total())
        .await
        .unwrap();
    assert_eq!(images.items, [from_file.clone(), from_bytes.clone()]);
    assert_eq!(images.total, Some(2));
    assert!(images.next_cursor.is_none() && !images.has_more);
    let pdfs = media
        .list(MediaFilter::default().mime_type("application/pdf"))
        .await
        .unwrap();
    assert_eq!(pdfs.items, std::slice::from_ref(&pdf));

    // A stream of one-row pages follows next_cursor: the same rows as the page.
    let streamed: Vec<_> = media
        .list(MediaFilter::default().mime_type("image/").limit(1))
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, images.items);
    let first = media
        .list(MediaFilter::default().mime_type("image/").limit(1))
        .await
        .unwrap();
    assert_eq!(first.items, std::slice::from_ref(&from_file));
    let second = media
        .list(MediaFilter::default().mime_type("image/").limit(1))
        .after(first.next_cursor.unwrap())
        .await
        .unwrap();
    assert_eq!(second.items, std::slice::from_ref(&from_bytes));
    let everything: Vec<_> = media
        .list(MediaFilter::default())
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        everything,
        [pdf.clone(), from_file.clone(), from_bytes.clone()]
    );

    // The bytes round-trip exactly, with the sniffed type.
    let content = media.content(from_bytes.id).await.unwrap();
    assert_eq!(content.bytes, PNG);
    assert_eq!(content.content_type.as_deref(), Some("image/png"));
    let content = media.content(pdf.id).await.unwrap();
    assert_eq!(content.bytes, PDF);
    assert_eq!(content.content_type.as_deref(), Some("application/pdf"));

    // Alt text: set, then cleared.
    let changed = media
        .update_alt_text(from_file.id, Some("Two “quoted” words"))
        .await
        .unwrap();
    assert_eq!(changed.alt_text.as_deref(), Some("Two “quoted” words"));
    assert_eq!(changed.sha256, from_file.sha256);
    let cleared = media.update_alt_text(from_file.id, None).await.unwrap();
    assert_eq!(cleared.alt_text, None);
    assert_eq!(media.get(from_file.id).await.unwrap().alt_text, None);

    // Deleted: gone from get, content and the list; a second delete is NOT_FOUND.
    media.delete(from_bytes.id).await.unwrap();
    let err = media.get(from_bytes.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    assert_eq!(err.status(), Some(404));
    let err = media.content(from_bytes.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    let err = media.delete(from_bytes.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    let left: Vec<i64> = media
        .list(MediaFilter::default().mime_type("image/"))
        .stream()
        .map_ok(|m| m.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(left, [from_file.id]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_uploads_carry_the_code_and_request_id() {
    let server = TestServer::start(|_| {}).await;
    let media = server.client().await.media();

    let err = media
        .upload_bytes("notes.txt", b"just some plain text\n".to_vec(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnsupportedMediaType), "{err}");
    assert_eq!(err.status(), Some(415));
    let request_id = err.request_id().expect("a request id");
    assert!(!request_id.is_empty());
    assert!(err.to_string().contains(request_id), "{err}");

    // Alt text over the limit names its field.
    let err = media
        .upload_bytes("tiny.png", PNG, Some(&"x".repeat(1_001)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ValidationFailed), "{err}");
    assert_eq!(err.field(), Some("alt_text"));

    // Nothing was stored by either.
    let page = media
        .list(MediaFilter::default().include_total())
        .await
        .unwrap();
    assert_eq!(page.total, Some(0));

    // A file that cannot be read is not sent.
    let missing = temp_dir("missing").join("nothing-here.png");
    let err = media.upload_file(&missing, None).await.unwrap_err();
    match &err {
        Error::File { path, source } => {
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("not a file error: {other}"),
    }
    assert_eq!(err.status(), None);
    let _ = std::fs::remove_dir_all(missing.parent().unwrap());
    server.stop().await;
}

fn bearer(req: &crate::fake::Req) -> &str {
    req.header("authorization").unwrap_or_default()
}

fn medium(id: i64) -> Value {
    json!({"id": id, "author_id": 1, "filename": "tiny.png", "mime_type": "image/png",
        "size_bytes": 33, "sha256": "00", "width": 3, "height": 2, "alt_text": null,
        "url": format!("/api/v2/media/{id}/content"),
        "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-23T10:00:00Z"})
}

async fn connect(fake: &Fake) -> Client {
    Client::builder(&fake.base_url, "api_x", "sk_x")
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upload_is_never_resent_after_it_may_have_arrived() {
    let fake = Fake::start(|req, nth| match (req.line.as_str(), nth) {
        ("POST /api/v2/auth/token", _) => pair("A1", "R1"),
        ("POST /api/v2/media", 0) => fail(503, "UNAVAILABLE"),
        ("POST /api/v2/media", 1) => None,
        ("POST /api/v2/media", 2) => Some((502, vec![], "<html>bad gateway</html>".into())),
        ("POST /api/v2/media", _) => ok(201, medium(1)),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let media = connect(&fake).await.media();

    let err = media.upload_bytes("tiny.png", PNG, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unavailable), "{err}");
    assert_eq!(fake.requests("POST /api/v2/media").len(), 1);

    let err = media.upload_bytes("tiny.png", PNG, None).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");
    assert_eq!(fake.requests("POST /api/v2/media").len(), 2);

    let err = media.upload_bytes("tiny.png", PNG, None).await.unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedResponse { status: 502, .. }),
        "{err}"
    );
    assert_eq!(fake.requests("POST /api/v2/media").len(), 3);
}

#[tokio::test]
async fn an_upload_is_resent_after_auth_expired_and_rate_limited() {
    let fake = Fake::start(|req, nth| match (req.line.as_str(), nth) {
        ("POST /api/v2/auth/token", _) => pair("A1", "R1"),
        ("POST /api/v2/auth/refresh", _) => pair("A2", "R2"),
        ("POST /api/v2/media", _) if bearer(req) != "Bearer A2" => fail(401, "AUTH_EXPIRED"),
        ("POST /api/v2/media", 1) => {
            let (status, mut headers, body) = fail(429, "RATE_LIMITED").unwrap();
            headers.push(("retry-after", "1".into()));
            Some((status, headers, body))
        }
        ("POST /api/v2/media", _) => ok(201, medium(9)),
        ("PATCH /api/v2/media/9", 0) => fail(503, "UNAVAILABLE"),
        ("PATCH /api/v2/media/9", _) => ok(200, medium(9)),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let client = connect(&fake).await;
    let stored = client
        .media()
        .upload_bytes("tiny.png", PNG, Some("alt words"))
        .await
        .unwrap();
    assert_eq!(stored.id, 9);
    assert_eq!(client.token_renewals(), 1);

    // The same complete form each time: the file part with its name, and the alt text.
    let uploads = fake.requests("POST /api/v2/media");
    assert_eq!(uploads.len(), 3);
    for upload in &uploads {
        let content_type = upload.header("content-type").unwrap();
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        assert!(
            upload.body.contains(r#"name="file"; filename="tiny.png""#),
            "{}",
            upload.body
        );
        assert!(upload.body.contains("IHDR"), "{}", upload.body);
        assert!(upload.body.contains(r#"name="alt_text""#));
        assert!(upload.body.contains("alt words"));
    }

    // An alt-text change is safe to repeat, and is retried after a 5xx.
    client
        .media()
        .update_alt_text(9, Some("new"))
        .await
        .unwrap();
    let patches = fake.requests("PATCH /api/v2/media/9");
    assert_eq!(patches.len(), 2);
    assert_eq!(patches[1].json(), json!({"alt_text": "new"}));
}
