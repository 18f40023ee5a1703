//! The pull API (visible posts only, by list and by slug), pull keys and their rotation,
//! and the pull cache's exactness: ETags, 304s, scheduled posts, writes seen by every
//! instance.

use crate::helpers::{Resp, TestApp, Tokens, both_stores};
use actix_web::test::TestRequest;
use chrono::{Duration, SecondsFormat, Utc};
use jekcms_auth::Role;
use serde_json::{Value, json};

/// Rotates the caller's site's pull key; returns the new key.
async fn rotate(app: &TestApp, owner: &Tokens, body: Value) -> Value {
    app.post(
        &format!("/api/v2/sites/{}/rotate-keys", owner.site_id),
        &owner.access,
        body,
    )
    .await
    .expect(200)["data"]
        .clone()
}

async fn pull_key(app: &TestApp, owner: &Tokens) -> String {
    rotate(app, owner, json!({})).await["new_api_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET path` with the pull key (and extra headers).
async fn pull(app: &TestApp, key: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = TestRequest::get()
        .uri(path)
        .insert_header(("x-api-key", key));
    for h in headers {
        req = req.insert_header(*h);
    }
    app.call(req).await
}

fn slugs(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_owned())
        .collect()
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

both_stores! {
    async fn only_visible_posts_are_pulled(app) {
        let owner = app.owner().await;
        let key = pull_key(&app, &owner).await;
        let past = rfc3339(Utc::now() - Duration::hours(1));
        let later = rfc3339(Utc::now() + Duration::hours(1));
        app.create_post(&owner.access, json!({"title": "Live", "slug": "live", "status": "published", "body": "B", "tags": ["a"]})).await;
        app.create_post(&owner.access, json!({"title": "Old", "slug": "old", "status": "published", "published_at": past})).await;
        app.create_post(&owner.access, json!({"title": "Draft", "slug": "draft"})).await;
        app.create_post(&owner.access, json!({"title": "Gone", "slug": "archived", "status": "archived"})).await;
        app.create_post(&owner.access, json!({"title": "Soon", "slug": "soon", "status": "published", "published_at": later})).await;
        let deleted = app.create_post(&owner.access, json!({"title": "Deleted", "slug": "deleted", "status": "published"})).await;
        app.delete(&format!("/api/v2/posts/{}", deleted["id"]), &owner.access).await.expect(200);
        let other = app.login("other", "o@example.com", Role::Owner).await;
        let other_key = pull_key(&app, &other).await;
        app.create_post(&other.access, json!({"title": "Theirs", "slug": "theirs", "status": "published"})).await;

        let v = pull(&app, &key, "/api/v2/pull/posts?include=total", &[]).await.expect(200);
        assert_eq!(slugs(&v), ["live", "old"], "newest published first");
        assert_eq!(v["meta"]["total"], 2);
        let item = v["data"][0].as_object().unwrap();
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["excerpt", "id", "published_at", "slug", "tags", "title", "updated_at"]);
        assert_eq!(slugs(&pull(&app, &other_key, "/api/v2/pull/posts", &[]).await.expect(200)), ["theirs"]);

        let v = pull(&app, &key, "/api/v2/pull/posts?fields=slug,body", &[]).await.expect(200);
        assert_eq!(v["data"][0], json!({"slug": "live", "body": "B"}), "bodies when asked for");
        let post = pull(&app, &key, "/api/v2/pull/posts/live", &[]).await.expect(200);
        assert_eq!(post["data"]["body"], "B");
        assert!(post["data"].get("status").is_none() && post["data"].get("author_id").is_none());
        for hidden in ["draft", "archived", "soon", "deleted", "theirs", "no-such", "Not_A_Slug"] {
            pull(&app, &key, &format!("/api/v2/pull/posts/{hidden}"), &[]).await.expect_error(404, "NOT_FOUND");
        }
        pull(&app, &key, "/api/v2/pull/posts/live?fields=body", &[]).await.expect_error(422, "VALIDATION_FAILED");
    }

    async fn fields_sorts_filters_and_cursors(app) {
        let owner = app.owner().await;
        let key = pull_key(&app, &owner).await;
        for i in 0..5 {
            app.create_post(&owner.access, json!({
                "title": format!("Post {i}"), "slug": format!("p{i}"), "status": "published",
                "published_at": rfc3339(Utc::now() - Duration::minutes(10 - i)),
                "tags": if i % 2 == 0 { json!(["even"]) } else { json!(["odd"]) },
            })).await;
        }
        let v = pull(&app, &key, "/api/v2/pull/posts?fields=slug,body&tag=even&sort=published_at", &[]).await.expect(200);
        assert_eq!(slugs(&v), ["p0", "p2", "p4"]);
        assert_eq!(v["data"][0], json!({"slug": "p0", "body": null}));
        let bad = pull(&app, &key, "/api/v2/pull/posts?fields=slug,author_id", &[]).await;
        assert_eq!(bad.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "fields");
        let bad = pull(&app, &key, "/api/v2/pull/posts?sort=-created_at", &[]).await;
        assert_eq!(bad.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "sort");
        let bad = pull(&app, &key, "/api/v2/pull/posts?status=draft", &[]).await;
        assert_eq!(bad.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "status");

        // A walk by pages sees every visible post once; a management cursor does not open here.
        let mut seen = Vec::new();
        let mut path = "/api/v2/pull/posts?limit=2&sort=title".to_owned();
        loop {
            let v = pull(&app, &key, &path, &[]).await.expect(200);
            seen.extend(slugs(&v));
            match v["meta"]["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v2/pull/posts?limit=2&sort=title&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4"]);
        let m = app.get("/api/v2/posts?limit=1&sort=title", &owner.access).await.expect(200);
        let cursor = m["meta"]["next_cursor"].as_str().unwrap();
        let bad = pull(&app, &key, &format!("/api/v2/pull/posts?sort=title&cursor={cursor}"), &[]).await;
        assert_eq!(bad.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "cursor");
    }

    async fn a_scheduled_post_appears_by_itself(app) {
        let owner = app.owner().await;
        let key = pull_key(&app, &owner).await;
        app.create_post(&owner.access, json!({"title": "Now", "slug": "now", "status": "published"})).await;
        let at = Utc::now() + Duration::milliseconds(1500);
        app.create_post(&owner.access, json!({"title": "Soon", "slug": "soon", "status": "published", "published_at": rfc3339(at)})).await;
        // Served twice before its time: the second from the cache.
        for _ in 0..2 {
            assert_eq!(slugs(&pull(&app, &key, "/api/v2/pull/posts", &[]).await.expect(200)), ["now"]);
            pull(&app, &key, "/api/v2/pull/posts/soon", &[]).await.expect_error(404, "NOT_FOUND");
        }
        let wait = (at - Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(50);
        tokio::time::sleep(wait).await;
        assert_eq!(slugs(&pull(&app, &key, "/api/v2/pull/posts", &[]).await.expect(200)), ["soon", "now"]);
        pull(&app, &key, "/api/v2/pull/posts/soon", &[]).await.expect(200);
    }

    async fn etags_revalidate_and_writes_are_seen_by_every_instance(app) {
        let owner = app.owner().await;
        let key = pull_key(&app, &owner).await;
        // A body long enough to be worth compressing.
        let post = app.create_post(&owner.access, json!({"title": "One", "slug": "one", "status": "published", "body": "All work and no play. ".repeat(100)})).await;
        let b = app.another_instance().await;

        let first = pull(&b, &key, "/api/v2/pull/posts", &[]).await;
        first.expect(200);
        let etag = first.header("etag").unwrap().to_owned();
        assert!(etag.starts_with("W/\""), "{etag}");
        assert_eq!(first.header("cache-control"), Some("public, max-age=60, stale-while-revalidate=60"));
        assert!(first.header("vary").unwrap().contains("X-API-Key"));
        let again = pull(&b, &key, "/api/v2/pull/posts", &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        // The cached page carries this request's id, not the first one's.
        let third = pull(&b, &key, "/api/v2/pull/posts", &[]).await;
        assert_eq!(third.json()["meta"]["request_id"], third.header("x-request-id").unwrap());
        assert_ne!(third.json()["meta"]["request_id"], first.json()["meta"]["request_id"]);

        // Browsers and Node's fetch ask for gzip: the page is compressed once, and each
        // answer still carries its own request id.
        for _ in 0..2 {
            let gz = pull(&b, &key, "/api/v2/pull/posts?fields=id,slug,title,excerpt,tags,body", &[("accept-encoding", "gzip, deflate")]).await;
            assert_eq!(gz.status, 200);
            assert_eq!(gz.header("content-encoding"), Some("gzip"));
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain).unwrap();
            let v: Value = serde_json::from_slice(&plain).unwrap();
            assert_eq!(v["meta"]["request_id"], gz.header("x-request-id").unwrap());
            assert_eq!(v["data"][0]["slug"], "one");
        }
        // A write answered by instance A is seen by B's next pull request.
        app.patch(&format!("/api/v2/posts/{}", post["id"]), &owner.access, json!({"title": "Changed"}))
            .await
            .expect(200);
        let after = pull(&b, &key, "/api/v2/pull/posts", &[("if-none-match", &etag)]).await;
        assert_eq!(after.json()["data"][0]["title"], "Changed");
        assert_ne!(after.header("etag"), Some(etag.as_str()));
        let by_slug = pull(&b, &key, "/api/v2/pull/posts/one", &[]).await.expect(200);
        assert_eq!(by_slug["data"]["title"], "Changed");
        app.delete(&format!("/api/v2/posts/{}", post["id"]), &owner.access).await.expect(200);
        pull(&b, &key, "/api/v2/pull/posts/one", &[]).await.expect_error(404, "NOT_FOUND");
        assert_eq!(slugs(&pull(&b, &key, "/api/v2/pull/posts", &[]).await.expect(200)), Vec::<String>::new());
        // Bulk imports count as writes too.
        app.post("/api/v2/bulk/posts", &owner.access, json!({"posts": [{"title": "Bulk", "slug": "bulk", "status": "published"}]}))
            .await
            .expect(200);
        assert_eq!(slugs(&pull(&b, &key, "/api/v2/pull/posts", &[]).await.expect(200)), ["bulk"]);
    }

    async fn rotation_keeps_or_ends_the_previous_key(app) {
        let owner = app.owner().await;
        let site = app.get("/api/v2/site", &owner.access).await.expect(200);
        assert!(site["data"]["pull_key"].is_null(), "no key before the first rotation");
        let first = rotate(&app, &owner, json!({})).await;
        assert_eq!(first["site_id"], owner.site_id);
        // The site shows the active key's id and age, never the key.
        let site = app.get("/api/v2/site", &owner.access).await.expect(200);
        let shown = &site["data"]["pull_key"];
        assert!(shown["key_id"].is_i64(), "{shown}");
        assert!(!site.to_string().contains("pk_"));
        assert!(first["previous_valid_until"].is_null());
        let k1 = first["new_api_key"].as_str().unwrap().to_owned();
        assert!(k1.starts_with("pk_"));
        assert!(first["new_webhook_secret"].as_str().unwrap().starts_with("whsec_"));
        pull(&app, &k1, "/api/v2/pull/posts", &[]).await.expect(200);

        // With an overlap both keys work; the site shows the new one.
        let second = rotate(&app, &owner, json!({"overlap_seconds": 3600})).await;
        let site = app.get("/api/v2/site", &owner.access).await.expect(200);
        assert_ne!(&site["data"]["pull_key"]["key_id"], &shown["key_id"]);
        let k2 = second["new_api_key"].as_str().unwrap().to_owned();
        assert!(second["previous_valid_until"].is_string());
        pull(&app, &k1, "/api/v2/pull/posts", &[]).await.expect(200);
        pull(&app, &k2, "/api/v2/pull/posts", &[]).await.expect(200);

        // Without one, every earlier key is dead on the next request.
        let third = rotate(&app, &owner, json!({"overlap_seconds": 0})).await;
        let k3 = third["new_api_key"].as_str().unwrap().to_owned();
        for old in [&k1, &k2] {
            pull(&app, old, "/api/v2/pull/posts", &[]).await.expect_error(401, "AUTH_INVALID");
        }
        pull(&app, &k3, "/api/v2/pull/posts", &[]).await.expect(200);
        // A body may be left out altogether.
        let res = app
            .call(TestRequest::post()
                .uri(&format!("/api/v2/sites/{}/rotate-keys", owner.site_id))
                .insert_header(("authorization", format!("Bearer {}", owner.access))))
            .await;
        let k4 = res.expect(200)["data"]["new_api_key"].as_str().unwrap().to_owned();
        assert_eq!(res.header("cache-control"), Some("no-store"));
        pull(&app, &k3, "/api/v2/pull/posts", &[]).await.expect_error(401, "AUTH_INVALID");
        pull(&app, &k4, "/api/v2/pull/posts", &[]).await.expect(200);

        for bad in [json!({"overlap_seconds": -1}), json!({"overlap_seconds": 86401}), json!({"overlap": 1})] {
            app.post(&format!("/api/v2/sites/{}/rotate-keys", owner.site_id), &owner.access, bad)
                .await
                .expect_error(422, "VALIDATION_FAILED");
        }
        let other = app.login("other", "o@example.com", Role::Owner).await;
        for path in [format!("/api/v2/sites/{}/rotate-keys", other.site_id), "/api/v2/sites/abc/rotate-keys".to_owned()] {
            app.post(&path, &owner.access, json!({})).await.expect_error(404, "NOT_FOUND");
        }
        let admin = app.login("default", "admin@example.com", Role::Admin).await;
        app.post(&format!("/api/v2/sites/{}/rotate-keys", owner.site_id), &admin.access, json!({}))
            .await
            .expect_error(403, "FORBIDDEN");
        pull(&app, &k4, "/api/v2/pull/posts", &[]).await.expect(200);
    }

    async fn only_pull_keys_open_the_pull_api(app) {
        let owner = app.owner().await;
        let key = pull_key(&app, &owner).await;
        let no_key = app.call(TestRequest::get().uri("/api/v2/pull/posts")).await;
        let v = no_key.expect_error(401, "AUTH_INVALID");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("pk_"));
        let bearer = app.get("/api/v2/pull/posts", &owner.access).await;
        assert!(bearer.expect_error(401, "AUTH_INVALID")["errors"][0]["message"].as_str().unwrap().contains("pk_"));
        let (api_key, _, _, _) = app.api_key("default", "k@example.com", Role::Editor).await;
        let wrong = pull(&app, &api_key, "/api/v2/pull/posts", &[]).await;
        assert!(wrong.expect_error(401, "AUTH_INVALID")["errors"][0]["message"].as_str().unwrap().contains("pk_"));
        // The last character changed (to one it is not: a key may end in `x`).
        let last = if key.ends_with('x') { 'y' } else { 'x' };
        let forged = format!("{}{last}", &key[..key.len() - 1]);
        pull(&app, &forged, "/api/v2/pull/posts", &[]).await.expect_error(401, "AUTH_INVALID");
        let unknown = jekcms_auth::CredentialFamily::Pull.generate();
        pull(&app, &unknown, "/api/v2/pull/posts", &[]).await.expect_error(401, "AUTH_INVALID");
        // And a pull key opens nothing else.
        let res = app.get("/api/v2/posts", &key).await;
        res.expect_error(401, "AUTH_INVALID");
        let res = app.call(TestRequest::get().uri("/api/v1/posts").insert_header(("x-api-key", key.as_str())).insert_header(("x-api-secret", "sk_x"))).await;
        assert_eq!(res.status, 401);
    }

    async fn a_site_without_api_access_gets_402(app) {
        let owner = app.owner().await;
        let key = pull_key(&app, &owner).await;
        app.state.store.set_site_api_access(owner.site_id, false).await.unwrap();
        pull(&app, &key, "/api/v2/pull/posts", &[]).await.expect_error(402, "LICENSE_REQUIRED");
        app.state.store.set_site_api_access(owner.site_id, true).await.unwrap();
        pull(&app, &key, "/api/v2/pull/posts", &[]).await.expect(200);
    }

    // A key accepted before has its page read together with its check (on PostgreSQL, in
    // one round trip) when the page is not cached: that read is refused exactly as any
    // other once the key is rotated out or the license is off, a bad key wins over a bad
    // query, and the page it makes is the one the next request gets from the cache.
    async fn a_known_keys_page_read_with_its_check_is_refused_like_any_other(app) {
        let owner = app.owner().await;
        let key = pull_key(&app, &owner).await;
        app.create_post(&owner.access, json!({"title": "One", "slug": "one", "status": "published"})).await;
        pull(&app, &key, "/api/v2/pull/posts", &[]).await.expect(200);
        // Known now; a page not cached yet is read with the check.
        let first = pull(&app, &key, "/api/v2/pull/posts?limit=3", &[]).await;
        let etag = first.header("etag").unwrap().to_owned();
        assert_eq!(slugs(&first.expect(200)), ["one"]);
        let again = pull(&app, &key, "/api/v2/pull/posts?limit=3", &[("if-none-match", etag.as_str())]).await;
        assert_eq!(again.status, 304, "the page read with the check is the one kept");
        // A write moves the site's version: the known version has no page, the next read
        // goes with the check again and sees the write.
        app.create_post(&owner.access, json!({"title": "Two", "slug": "two", "status": "published"})).await;
        assert_eq!(slugs(&pull(&app, &key, "/api/v2/pull/posts?limit=3", &[]).await.expect(200)), ["two", "one"]);

        app.state.store.set_site_api_access(owner.site_id, false).await.unwrap();
        pull(&app, &key, "/api/v2/pull/posts?limit=4", &[]).await.expect_error(402, "LICENSE_REQUIRED");
        app.state.store.set_site_api_access(owner.site_id, true).await.unwrap();

        let new_key = pull_key(&app, &owner).await;
        for path in ["/api/v2/pull/posts?limit=5", "/api/v2/pull/posts?limit=0", "/api/v2/pull/posts?sort=nope"] {
            pull(&app, &key, path, &[]).await.expect_error(401, "AUTH_INVALID");
        }
        assert_eq!(slugs(&pull(&app, &new_key, "/api/v2/pull/posts?limit=5", &[]).await.expect(200)), ["two", "one"]);
        let bad = pull(&app, &new_key, "/api/v2/pull/posts?limit=0", &[]).await;
        assert_eq!(bad.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "limit");
    }
}

/// The pull quota of a site's plan: per site (every key of it, every instance), its own
/// bucket beside the management quota, described in the rate-limit headers.
async fn the_pull_quota_is_the_sites(backend: jekcms_store::Backend) {
    use jekcms_auth::Plan;
    use jekcms_ratelimit::SiteQuotas;
    let Some(app) = TestApp::new(backend, |c| {
        c.plans.starter = SiteQuotas::parse("1000/hour,5/hour").unwrap();
    })
    .await
    else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let owner = app.owner().await;
    let first = pull_key(&app, &owner).await;
    app.state
        .store
        .set_site_plan(owner.site_id, Plan::Starter)
        .await
        .unwrap();
    let r = pull(&app, &first, "/api/v2/pull/posts", &[]).await;
    r.expect(200);
    assert_eq!(r.header("ratelimit-policy"), Some("\"pull\";q=5;w=3600"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("4"));
    // A second key (inside an overlap) draws from the same bucket, and so does a cached page.
    let second = rotate(&app, &owner, json!({"overlap_seconds": 60})).await["new_api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    for key in [&first, &second, &first, &second] {
        pull(&app, key, "/api/v2/pull/posts", &[]).await.expect(200);
    }
    let refused = pull(&app, &second, "/api/v2/pull/posts", &[]).await;
    let v = refused.expect_error(429, "RATE_LIMITED");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("pull"));
    assert!(refused.header("retry-after").is_some());
    // The management API has its own quota, untouched.
    app.get("/api/v2/posts", &owner.access).await.expect(200);
}

mod the_pull_quota_is_the_sites {
    #[actix_web::test]
    async fn sqlite() {
        super::the_pull_quota_is_the_sites(jekcms_store::Backend::Sqlite).await;
    }
    #[actix_web::test]
    async fn postgres() {
        super::the_pull_quota_is_the_sites(jekcms_store::Backend::Postgres).await;
    }
}

/// With a pull lease, an instance trusts a key's site as it read it for the lease, so a
/// cached page or a 304 reads nothing; every write is answered only once the lease has run
/// out, so a write answered by instance A is still seen by B's next request.
async fn under_a_pull_lease_writes_wait_for_it_and_no_page_is_stale(
    backend: jekcms_store::Backend,
) {
    use std::time::{Duration as StdDuration, Instant};
    const LEASE: StdDuration = StdDuration::from_millis(1000);
    let Some(app) = TestApp::new(backend, |c| c.pull_lease = LEASE).await else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    // The time a request takes to be answered.
    async fn timed<F: std::future::Future<Output = Resp>>(f: F) -> (Resp, StdDuration) {
        let at = Instant::now();
        let res = f.await;
        (res, at.elapsed())
    }
    let owner = app.owner().await;
    let (rotated, took) = timed(app.post(
        &format!("/api/v2/sites/{}/rotate-keys", owner.site_id),
        &owner.access,
        json!({}),
    ))
    .await;
    assert!(took >= LEASE, "a rotation waits for the lease: {took:?}");
    let key = rotated.expect(200)["data"]["new_api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (created, took) = timed(app.post(
        "/api/v2/posts",
        &owner.access,
        json!({"title": "One", "slug": "one", "status": "published"}),
    ))
    .await;
    assert!(took >= LEASE, "a create waits for the lease: {took:?}");
    let id = created.expect(201)["data"]["id"].as_i64().unwrap();

    // Reads do not wait.
    let mut fastest = StdDuration::MAX;
    for _ in 0..3 {
        let (res, took) = timed(app.get("/api/v2/posts", &owner.access)).await;
        res.expect(200);
        fastest = fastest.min(took);
    }
    assert!(fastest < LEASE, "{fastest:?}");

    let b = app.another_instance().await;
    let first = pull(&b, &key, "/api/v2/pull/posts", &[]).await;
    assert_eq!(slugs(&first.expect(200)), ["one"]);
    let etag = first.header("etag").unwrap().to_owned();
    // The lease is used: a change made behind every API's back (no write waits for it) is
    // not seen while B's lease lasts, and is once it has run out.
    app.state
        .store
        .set_site_api_access(owner.site_id, false)
        .await
        .unwrap();
    let cached = pull(&b, &key, "/api/v2/pull/posts", &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, 304, "served under the lease");
    tokio::time::sleep(LEASE).await;
    pull(&b, &key, "/api/v2/pull/posts", &[])
        .await
        .expect_error(402, "LICENSE_REQUIRED");
    app.state
        .store
        .set_site_api_access(owner.site_id, true)
        .await
        .unwrap();
    tokio::time::sleep(LEASE).await;
    assert_eq!(
        pull(&b, &key, "/api/v2/pull/posts", &[("if-none-match", &etag)])
            .await
            .status,
        304
    );

    // Every write through an API waits for the lease, and B's very next request sees it.
    let (res, took) = timed(app.patch(
        &format!("/api/v2/posts/{id}"),
        &owner.access,
        json!({"title": "Changed"}),
    ))
    .await;
    res.expect(200);
    assert!(took >= LEASE, "an update waits: {took:?}");
    let after = pull(&b, &key, "/api/v2/pull/posts", &[("if-none-match", &etag)]).await;
    assert_eq!(after.json()["data"][0]["title"], "Changed");

    let (res, took) = timed(app.post(
        "/api/v2/bulk/posts",
        &owner.access,
        json!({"posts": [{"title": "Bulk", "slug": "bulk", "status": "published"}]}),
    ))
    .await;
    res.expect(200);
    assert!(took >= LEASE, "a bulk call waits: {took:?}");
    assert_eq!(
        slugs(&pull(&b, &key, "/api/v2/pull/posts", &[]).await.expect(200)),
        ["bulk", "one"]
    );

    let (res, took) = timed(app.delete(&format!("/api/v2/posts/{id}"), &owner.access)).await;
    res.expect(200);
    assert!(took >= LEASE, "a delete waits: {took:?}");
    assert_eq!(
        slugs(&pull(&b, &key, "/api/v2/pull/posts", &[]).await.expect(200)),
        ["bulk"]
    );

    let (res, took) = timed(app.call(crate::media::multipart(
        &owner.access,
        &[("file", Some("a.png"), crate::media::PNG)],
    )))
    .await;
    res.expect(201);
    assert!(took >= LEASE, "an upload waits: {took:?}");

    let (res, took) =
        timed(app.patch("/api/v2/site", &owner.access, json!({"name": "Renamed"}))).await;
    res.expect(200);
    assert!(took >= LEASE, "a site change waits: {took:?}");

    // A rotation without overlap: the old key is dead on B's next request.
    pull(&b, &key, "/api/v2/pull/posts", &[]).await.expect(200);
    let new_key = pull_key(&app, &owner).await;
    pull(&b, &key, "/api/v2/pull/posts", &[])
        .await
        .expect_error(401, "AUTH_INVALID");
    pull(&b, &new_key, "/api/v2/pull/posts", &[])
        .await
        .expect(200);

    // So does the operator's `jekcms sites set`: B's next request sees the license off.
    let off = jekcms_server::sites_cli::SetSite {
        slug: "default".into(),
        plan: None,
        api_access: Some(jekcms_server::sites_cli::OnOff::Off),
        name: None,
        json: true,
    };
    let at = Instant::now();
    jekcms_server::sites_cli::run(
        app.config(),
        &jekcms_server::sites_cli::SitesCommand::Set(off),
    )
    .await
    .unwrap();
    assert!(at.elapsed() >= LEASE, "{:?}", at.elapsed());
    pull(&b, &new_key, "/api/v2/pull/posts", &[])
        .await
        .expect_error(402, "LICENSE_REQUIRED");
}

mod under_a_pull_lease_writes_wait_for_it_and_no_page_is_stale {
    #[actix_web::test]
    async fn sqlite() {
        super::under_a_pull_lease_writes_wait_for_it_and_no_page_is_stale(
            jekcms_store::Backend::Sqlite,
        )
        .await;
    }
    #[actix_web::test]
    async fn postgres() {
        super::under_a_pull_lease_writes_wait_for_it_and_no_page_is_stale(
            jekcms_store::Backend::Postgres,
        )
        .await;
    }
}
