//! `jekcms backup` and `jekcms restore` (#19 item 4): a snapshot taken while posts are being
//! written restores to a site that serves the same posts, media bytes and sessions; what
//! would lose data or cannot be trusted is refused.

use crate::helpers::TestApp;
use crate::media::{PNG, multipart};
use jekcms_server::backup::{backup, restore};
use jekcms_store::Backend;
use jekcms_store::testing::TestDatabase;
use serde_json::json;
use std::sync::Arc;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "jekcms_backup_{name}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[actix_web::test]
async fn a_backup_taken_while_writing_restores_to_a_working_site() {
    let app = TestApp::new(Backend::Sqlite, |_| {}).await.unwrap();
    let owner = app.owner().await;
    for i in 0..20 {
        app.create_post(
            &owner.access,
            json!({"title": format!("Before {i}"), "status": "published"}),
        )
        .await;
    }
    let medium = app
        .call(multipart(&owner.access, &[("file", Some("dot.png"), PNG)]))
        .await
        .expect(201);
    let medium_id = medium["data"]["id"].as_i64().unwrap();

    // The backup runs while posts keep being written: it must see a whole database as of
    // one instant, whatever it catches.
    let out = scratch("out");
    let (manifest, written) = tokio::join!(backup(app.config(), &out), async {
        for i in 0..30 {
            app.create_post(&owner.access, json!({"title": format!("During {i}")}))
                .await;
            tokio::task::yield_now().await;
        }
    });
    let () = written;
    let manifest = manifest.unwrap();
    assert!((20..=50).contains(&manifest.posts), "{manifest:?}");
    assert_eq!(
        (manifest.media_files, manifest.media_bytes),
        (1, PNG.len() as u64)
    );
    assert!(manifest.missing_media.is_empty());
    assert!(
        manifest.key_file,
        "the SQLite deployment's key file is in the backup"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("jekcms.db.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key file is private: {mode:o}");
    }

    // A backup never goes over another.
    let again = backup(app.config(), &out).await.unwrap_err();
    assert!(again.0.contains("is not empty"), "{again}");

    // Restore into a new place, then start a server on it.
    let target_db = TestDatabase::sqlite();
    let mut config = app.config().clone();
    config.database_url = target_db.url().to_owned();
    config.media_dir = scratch("media");
    let restored = restore(&config, &out, false).await.unwrap();
    assert_eq!(restored, manifest);
    let refused = restore(&config, &out, false).await.unwrap_err();
    assert!(refused.0.contains("--force"), "{refused}");
    restore(&config, &out, true).await.unwrap();

    let media_dir = config.media_dir.clone();
    let copy = TestApp::start(Arc::new(target_db), config, media_dir).await;
    // Same key file, same sessions: the token issued before the backup still works.
    let total = copy
        .get("/api/v2/posts?include=total&limit=1", &owner.access)
        .await
        .expect(200)["meta"]["total"]
        .as_i64()
        .unwrap();
    assert_eq!(total, manifest.posts);
    let content = copy
        .get(&format!("/api/v2/media/{medium_id}/content"), &owner.access)
        .await;
    assert_eq!(content.status, 200);
    assert_eq!(&content.body[..], PNG);
}

#[actix_web::test]
async fn what_cannot_be_backed_up_or_trusted_is_refused() {
    let app = TestApp::new(Backend::Sqlite, |_| {}).await.unwrap();
    let mut config = app.config().clone();

    config.database_url = "postgres://postgres@127.0.0.1:5432/x".into();
    let err = backup(&config, &scratch("pg")).await.unwrap_err();
    assert!(err.0.contains("pg_dump"), "{err}");

    let target_db = TestDatabase::sqlite();
    config.database_url = target_db.url().to_owned();
    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = restore(&config, &empty, false).await.unwrap_err();
    assert!(err.0.contains("no manifest.json"), "{err}");

    // A manifest beside a damaged database: refused before anything is touched.
    let out = scratch("damaged");
    backup(app.config(), &out).await.unwrap();
    std::fs::write(
        out.join("jekcms.db"),
        b"SQLite format 3\0 but then nothing useful",
    )
    .unwrap();
    let err = restore(&config, &out, false).await.unwrap_err();
    assert!(!std::path::Path::new(target_db.url().strip_prefix("sqlite://").unwrap()).exists());
    assert!(err.0.contains(out.to_str().unwrap()), "{err}");
    for dir in [empty, out] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
