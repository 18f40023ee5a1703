//! Fault injection through the app (issue #22): slug allocation under contention, a full
//! media disk, partial uploads left by a killed process, a database that stops answering.

use crate::helpers::{TestApp, both_stores};
use crate::media::{PNG, multipart};
use jekcms_store::Backend;
use serde_json::{Value, json};
use std::collections::HashSet;

/// Every slug in the site, through the list endpoint.
async fn all_slugs(app: &TestApp, token: &str) -> Vec<String> {
    let mut slugs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v2/posts?limit=100".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let v = app.get(&path, token).await.expect(200);
        for p in v["data"].as_array().unwrap() {
            slugs.push(p["slug"].as_str().unwrap().to_owned());
        }
        match v["meta"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return slugs,
        }
    }
}

fn distinct(slugs: &[String]) -> usize {
    slugs.iter().collect::<HashSet<_>>().len()
}

both_stores! {
    async fn concurrent_bulk_imports_of_one_title_all_succeed(app) {
        let t = app.owner().await;
        let batch = json!({"posts": vec![json!({"title": "Colliding Title"}); 20]});
        let calls = (0..8).map(|_| app.post("/api/v2/bulk/posts", &t.access, batch.clone()));
        let results = futures_util::future::join_all(calls).await;
        for r in &results {
            let v = r.expect(200);
            assert_eq!((v["data"]["created"].as_i64(), v["data"]["failed"].as_i64()), (Some(20), Some(0)), "{v}");
        }
        let slugs = all_slugs(&app, &t.access).await;
        assert_eq!((slugs.len(), distinct(&slugs)), (160, 160));
        assert!(slugs.iter().all(|s| s.starts_with("colliding-title")), "{slugs:?}");
    }

    async fn concurrent_creates_of_one_title_all_succeed(app) {
        let t = app.owner().await;
        let calls = (0..40).map(|_| app.post("/api/v2/posts", &t.access, json!({"title": "Same Headline"})));
        let results = futures_util::future::join_all(calls).await;
        let slugs: Vec<String> = results
            .iter()
            .map(|r| r.expect(201)["data"]["slug"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(distinct(&slugs), 40);
    }

    async fn a_taken_slug_in_concurrent_bulks_is_only_that_items_409(app) {
        let t = app.owner().await;
        let batch = json!({"posts": [
            {"title": "Wanted slug", "slug": "wanted"},
            {"title": "Generated neighbour"},
            {"title": "Generated neighbour"},
        ]});
        let calls = (0..6).map(|_| app.post("/api/v2/bulk/posts", &t.access, batch.clone()));
        let results = futures_util::future::join_all(calls).await;
        let mut winners = 0;
        for r in &results {
            let v = r.expect(200);
            let items = v["data"]["results"].as_array().unwrap();
            if items[0]["id"].is_i64() {
                winners += 1;
            } else {
                assert_eq!(items[0]["errors"][0]["code"], "CONFLICT", "{v}");
                assert_eq!(items[0]["errors"][0]["field"], "posts[0].slug", "{v}");
            }
            assert!(items[1]["id"].is_i64() && items[2]["id"].is_i64(), "{v}");
        }
        assert_eq!(winners, 1);
        let slugs = all_slugs(&app, &t.access).await;
        assert_eq!((slugs.len(), distinct(&slugs)), (13, 13));
    }
}

/// A tmpfs of `size` mounted at `dir`, unmounted on drop; `None` where mounting is refused
/// (no privilege), which only the test that needs it may skip.
struct TinyFs(std::path::PathBuf);

impl TinyFs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_owned()))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A full media disk answers 507 `INSUFFICIENT_STORAGE` and leaves no partial file; a file
/// that fits is still stored.
#[actix_web::test]
async fn an_upload_to_a_full_disk_is_507_and_leaves_nothing() {
    let dir = std::env::temp_dir().join(format!("jekcms_tinyfs_{}", std::process::id()));
    let Some(fs) = TinyFs::mount(&dir, "256k") else {
        return eprintln!(
            "skipped: cannot mount a tmpfs here (needs root); \
             uploads::tests covers the ENOSPC mapping"
        );
    };
    let media = fs.0.join("media");
    let app = TestApp::new(Backend::Sqlite, |c| c.media_dir = media.clone())
        .await
        .unwrap();
    let t = app.owner().await;
    let mut big = PNG.to_vec();
    big.resize(400 * 1024, 0);
    let r = app
        .call(multipart(&t.access, &[("file", Some("big.png"), &big)]))
        .await;
    let v = r.expect_error(507, "INSUFFICIENT_STORAGE");
    assert!(
        !v.to_string().contains(&*dir.to_string_lossy()),
        "no path leaks: {v}"
    );
    let leftovers: Vec<_> = walk(&media);
    assert!(
        leftovers.is_empty(),
        "nothing partial is left: {leftovers:?}"
    );
    let r = app
        .call(multipart(&t.access, &[("file", Some("small.png"), PNG)]))
        .await;
    r.expect(201);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Partial files that a killed upload left behind are removed at start-up once stale;
/// a recent one (perhaps another instance's upload in progress) and stored media are kept.
#[actix_web::test]
async fn stale_partial_uploads_are_swept_at_start() {
    let app = TestApp::new(Backend::Sqlite, |_| {}).await.unwrap();
    let site = app.media_dir.join("1");
    std::fs::create_dir_all(&site).unwrap();
    let stale = site.join(".0123456789abcdef.part");
    let fresh = site.join(".fedcba9876543210.part");
    let stored = site.join("0123456789abcdef.png");
    for p in [&stale, &fresh, &stored] {
        std::fs::write(p, b"bytes").unwrap();
    }
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    for p in [&stale, &stored] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
    }
    let _restarted = app.another_instance().await;
    assert!(!stale.exists(), "the stale partial file is removed");
    assert!(fresh.exists(), "a recent partial file is kept");
    assert!(stored.exists(), "stored media are kept");
}

/// PostgreSQL stops answering (a proxy that stops forwarding, as a frozen server or a
/// network black hole does): `/readyz` says 503 within its deadline, requests answer 503
/// `UNAVAILABLE` within the database timeouts, and all recovers when it answers again.
#[actix_web::test]
async fn a_silent_database_answers_503_in_bounded_time() {
    use actix_web::test::{TestRequest, call_service, init_service, read_body};
    use std::time::{Duration, Instant};
    let one = Duration::from_secs(1);
    // A statement timeout longer than /readyz's deadline, so that its answer in time is
    // the deadline's doing.
    let timeouts = jekcms_server::config::DbTimeouts {
        connect: one,
        acquire: one,
        statement: Duration::from_secs(4),
        startup: Duration::from_secs(2),
    };
    let Some(direct) = TestApp::new(Backend::Postgres, |c| c.db_timeouts = timeouts).await else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let t = direct.owner().await;
    // A second instance on the same database, through the proxy.
    let proxy = jekcms_store::testing::FreezingProxy::start(direct.db.url());
    let mut config = direct.state.config.as_ref().clone();
    config.database_url = proxy.url().to_owned();
    let store = jekcms_store::Store::connect(&config.database_url, config.store_options())
        .await
        .unwrap();
    let state = jekcms_server::state::AppState::with_store(config, store)
        .await
        .unwrap();
    let app = init_service(jekcms_server::build_app(state)).await;
    // Each call fails the test after 10 s instead of hanging it.
    let bounded = |f| async move {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("no answer within 10 s: a wait is unbounded")
    };
    let readyz = || TestRequest::get().uri("/readyz").to_request();
    let posts = || {
        TestRequest::get()
            .uri("/api/v2/posts")
            .insert_header(("authorization", format!("Bearer {}", t.access)))
            .to_request()
    };
    assert_eq!(call_service(&app, readyz()).await.status(), 200);
    assert_eq!(call_service(&app, posts()).await.status(), 200);

    proxy.freeze();
    let started = Instant::now();
    let r = bounded(call_service(&app, readyz())).await;
    assert_eq!(r.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "/readyz took {:?}",
        started.elapsed()
    );
    for attempt in 0..3 {
        let started = Instant::now();
        let r = bounded(call_service(&app, posts())).await;
        let took = started.elapsed();
        assert_eq!(r.status(), 503, "attempt {attempt}");
        let body: Value = serde_json::from_slice(&read_body(r).await).unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAVAILABLE", "{body}");
        // At most the statement timeout and its margin (a pooled connection gone silent),
        // else the connect timeout (a new one).
        assert!(
            took < Duration::from_secs(7),
            "attempt {attempt} took {took:?}"
        );
    }

    proxy.thaw();
    let mut recovered = false;
    for _ in 0..20 {
        if call_service(&app, posts()).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "requests succeed again once the database answers"
    );
    assert_eq!(call_service(&app, readyz()).await.status(), 200);
}
