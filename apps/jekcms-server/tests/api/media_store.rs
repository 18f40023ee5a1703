//! Media on either store (#19): a local directory and S3-compatible object storage (a real
//! moto server, see `s3.rs`). Uploads, ranged and conditional downloads and deletes on S3;
//! failed uploads that leave neither an object nor a row; the orphan sweeper; two instances
//! on one bucket; start-up errors for a bucket that cannot be used.

use crate::helpers::{TestApp, both_stores};
use crate::media::{PNG, multipart};
use crate::s3::{self, s3_both_stores};
use futures_util::TryStreamExt;
use std::time::Duration;

/// A PNG of `len` bytes: the header, then zeros (sniffing reads the header only).
fn png_of(len: usize) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.extend((PNG.len()..len).map(|i| (i % 251) as u8));
    bytes
}

/// The storage keys in the app's media store, sorted.
async fn stored_keys(app: &TestApp) -> Vec<String> {
    let mut keys: Vec<String> = app
        .state
        .media
        .list()
        .map_ok(|o| o.key)
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

s3_both_stores! {
    async fn s3_upload_download_range_conditional_delete(app) {
        let t = app.owner().await;
        // A small file (one PutObject) and one over a part (a multipart upload).
        let big = png_of(jekcms_media_store::PART_BYTES * 2 + 12_345);
        for (name, bytes) in [("small.png", PNG.to_vec()), ("big.png", big)] {
            let v = app.call(multipart(&t.access, &[("file", Some(name), &bytes)])).await.expect(201);
            let m = &v["data"];
            let id = m["id"].as_i64().unwrap();
            assert_eq!(m["size_bytes"], bytes.len());
            assert_eq!(m["sha256"], sha256_hex(&bytes));
            let key = format!("{}/", t.site_id);
            assert!(stored_keys(&app).await.iter().any(|k| k.starts_with(&key)));

            let url = format!("/api/v2/media/{id}/content");
            let whole = app.get(&url, &t.access).await;
            assert_eq!(whole.status, 200, "{name}");
            assert_eq!(whole.body.len(), bytes.len());
            assert!(whole.body[..] == bytes[..], "{name}: the bytes come back");
            assert_eq!(whole.header("content-type"), Some("image/png"));
            assert_eq!(whole.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(whole.header("accept-ranges"), Some("bytes"));
            let etag = whole.header("etag").unwrap().to_owned();
            let modified = whole.header("last-modified").unwrap().to_owned();

            // A range across the first part boundary when there is one, else the middle.
            let (first, last) = if bytes.len() > jekcms_media_store::PART_BYTES {
                (jekcms_media_store::PART_BYTES - 10, jekcms_media_store::PART_BYTES + 9)
            } else {
                (4, 9)
            };
            let ranged = app.call(
                actix_web::test::TestRequest::get().uri(&url)
                    .insert_header(("authorization", format!("Bearer {}", t.access)))
                    .insert_header(("range", format!("bytes={first}-{last}"))),
            ).await;
            assert_eq!(ranged.status, 206, "{name}");
            assert_eq!(&ranged.body[..], &bytes[first..=last]);
            assert_eq!(
                ranged.header("content-range"),
                Some(format!("bytes {first}-{last}/{}", bytes.len()).as_str())
            );
            let suffix = app.call(
                actix_web::test::TestRequest::get().uri(&url)
                    .insert_header(("authorization", format!("Bearer {}", t.access)))
                    .insert_header(("range", "bytes=-3")),
            ).await;
            assert_eq!(suffix.status, 206);
            assert_eq!(&suffix.body[..], &bytes[bytes.len() - 3..]);
            let outside = app.call(
                actix_web::test::TestRequest::get().uri(&url)
                    .insert_header(("authorization", format!("Bearer {}", t.access)))
                    .insert_header(("range", format!("bytes={}-", bytes.len()))),
            ).await;
            outside.expect_error(416, "RANGE_NOT_SATISFIABLE");
            assert_eq!(outside.header("content-range"), Some(format!("bytes */{}", bytes.len()).as_str()));

            for (header, value) in [("if-none-match", etag.as_str()), ("if-modified-since", modified.as_str())] {
                let cached = app.call(
                    actix_web::test::TestRequest::get().uri(&url)
                        .insert_header(("authorization", format!("Bearer {}", t.access)))
                        .insert_header((header, value)),
                ).await;
                assert_eq!(cached.status, 304, "{header}");
                assert!(cached.body.is_empty());
            }

            let public = m["public_url"].as_str().unwrap();
            let anyone = app.call(actix_web::test::TestRequest::get().uri(public)).await;
            assert_eq!(anyone.status, 200);
            assert!(anyone.body[..] == bytes[..]);

            app.delete(&format!("/api/v2/media/{id}"), &t.access).await.expect(200);
            assert!(stored_keys(&app).await.is_empty(), "{name}: the object is deleted with its row");
            app.get(&url, &t.access).await.expect_error(404, "NOT_FOUND");
            let gone = app.call(actix_web::test::TestRequest::get().uri(public)).await;
            assert_eq!(gone.status, 404);
        }
    }

    async fn s3_failed_uploads_leave_neither_object_nor_row(app) {
        let t = app.owner().await;
        // Over the limit after a part has gone up: the multipart upload is aborted.
        let limit = app.config().max_upload_bytes as usize;
        let too_big = png_of(limit + 1);
        app.call(multipart(&t.access, &[("file", Some("big.png"), &too_big)])).await
            .expect_error(413, "PAYLOAD_TOO_LARGE");
        // A type refused after the whole body was read.
        app.call(multipart(&t.access, &[("file", Some("page.png"), b"<html><script>1</script></html>")])).await
            .expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
        // A second file field after a stored first one: the first object is removed.
        app.call(multipart(&t.access, &[("file", Some("a.png"), PNG), ("file", Some("b.png"), PNG)])).await
            .expect_error(422, "VALIDATION_FAILED");
        assert!(stored_keys(&app).await.is_empty());
        let list = app.get("/api/v2/media?include=total", &t.access).await.expect(200);
        assert_eq!(list["meta"]["total"], 0);
        // The aborted multipart upload keeps no parts (aborted in the background).
        let settings = app.config().media_store.clone().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while s3::pending_multipart_uploads(&settings) > 0 {
            assert!(std::time::Instant::now() < deadline, "a multipart upload was left open");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn s3_the_sweeper_removes_old_orphans_only(app) {
        sweeper_keeps_records_and_young_objects(app).await;
    }

    async fn s3_a_medium_uploaded_on_one_instance_is_served_by_another(app) {
        let t = app.owner().await;
        // B shares the database and the bucket, not a directory.
        let mut config = app.config().clone();
        config.media_dir = std::env::temp_dir().join(format!("jekcms_media_b_{}", std::process::id()));
        let b = TestApp::start(app.db.clone(), config.clone(), config.media_dir.clone()).await;
        let bytes = png_of(jekcms_media_store::PART_BYTES + 1);
        let v = app.call(multipart(&t.access, &[("file", Some("a.png"), &bytes)])).await.expect(201);
        let id = v["data"]["id"].as_i64().unwrap();
        let served = b.get(&format!("/api/v2/media/{id}/content"), &t.access).await;
        assert_eq!(served.status, 200);
        assert!(served.body[..] == bytes[..]);
        let public = v["data"]["public_url"].as_str().unwrap();
        assert_eq!(b.call(actix_web::test::TestRequest::get().uri(public)).await.status, 200);
        b.delete(&format!("/api/v2/media/{id}"), &t.access).await.expect(200);
        assert_eq!(app.call(actix_web::test::TestRequest::get().uri(public)).await.status, 404);
        assert!(stored_keys(&app).await.is_empty());
        let _ = std::fs::remove_dir_all(&config.media_dir);
    }
}

both_stores! {
    async fn local_the_sweeper_removes_old_orphans_only(app) {
        sweeper_keeps_records_and_young_objects(app).await;
    }
}

/// An object with a record, an orphan older than the guard and an orphan younger than it:
/// the sweep removes the old orphan only, and a second sweep (another instance) nothing.
async fn sweeper_keeps_records_and_young_objects(app: TestApp) {
    let t = app.owner().await;
    let v = app
        .call(multipart(&t.access, &[("file", Some("kept.png"), PNG)]))
        .await
        .expect(201);
    let id = v["data"]["id"].as_i64().unwrap();
    let write = |key: &'static str| {
        let media = app.state.media.clone();
        async move {
            let mut w = media.create(key).await.unwrap();
            w.write(actix_web::web::Bytes::from_static(PNG))
                .await
                .unwrap();
            w.finish().await.unwrap();
        }
    };
    write("1/crashed-before-its-row.png").await;
    let guard = Duration::from_secs(2);
    // Object times have a resolution of a second on S3.
    tokio::time::sleep(guard + Duration::from_millis(1_100)).await;
    write("1/uploading-now.png").await;
    let before = stored_keys(&app).await;
    assert_eq!(before.len(), 3, "{before:?}");

    let removed =
        jekcms_server::jobs::sweep_orphan_media(&app.state.store, &*app.state.media, guard)
            .await
            .unwrap();
    assert_eq!(removed, 1);
    let after = stored_keys(&app).await;
    assert!(
        !after.contains(&"1/crashed-before-its-row.png".to_owned()),
        "{after:?}"
    );
    assert!(
        after.contains(&"1/uploading-now.png".to_owned()),
        "{after:?}"
    );
    assert_eq!(after.len(), 2, "{after:?}");
    let again = jekcms_server::jobs::sweep_orphan_media(&app.state.store, &*app.state.media, guard)
        .await
        .unwrap();
    assert_eq!(again, 0);
    // The medium with a record is whole.
    let served = app
        .get(&format!("/api/v2/media/{id}/content"), &t.access)
        .await;
    assert_eq!(&served.body[..], PNG);
}

/// A bucket that does not exist, and an endpoint nobody answers on: start-up stops with the
/// variable, the bucket and the endpoint, and no credential.
#[actix_web::test]
async fn an_unusable_bucket_is_a_clear_start_up_error() {
    let mut cases = vec![(
        s3::settings("127.0.0.1:1", "s3://media-bucket/jekcms"),
        "s3://media-bucket/jekcms at http://127.0.0.1:1",
    )];
    if let Some(addr) = s3::moto() {
        cases.push((
            s3::settings(addr, "s3://no-such-bucket"),
            "s3://no-such-bucket at http://127.0.0.1:",
        ));
    }
    for (settings, names) in cases {
        let mut config = jekcms_server::config::Config::from_lookup(|_| None).unwrap();
        config.media_store = Some(settings.clone());
        let e = jekcms_server::state::open_media_store(&config)
            .await
            .expect_err("an unusable bucket stops start-up")
            .to_string();
        assert!(e.starts_with("JEKCMS_MEDIA_STORE: cannot use "), "{e}");
        assert!(e.contains(names), "{e}");
        assert!(
            !e.contains(settings.secret_access_key.as_deref().unwrap()),
            "no secret in: {e}"
        );
    }
}
