//! Quotas per credential (API key or user) and per IP, and the headers that describe them
//! (API.md §6).

use crate::helpers::{Resp, TestApp};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_auth::Role;
use jekcms_ratelimit::Quota;
use jekcms_store::Backend;

/// Where quotas are kept in a test run.
#[derive(Clone, Copy, Debug)]
enum Counting {
    InProcess,
    Redis,
}

/// An app with small quotas, counting in process or in Redis (`None`: that leg is not
/// configured here).
async fn app(backend: Backend, counting: Counting) -> Option<TestApp> {
    app_with(backend, counting, |_| {}).await
}

async fn app_with(
    backend: Backend,
    counting: Counting,
    tweak: impl FnOnce(&mut jekcms_server::config::Config) + 'static,
) -> Option<TestApp> {
    let redis = match counting {
        Counting::InProcess => None,
        Counting::Redis => Some(redis_url().or_else(|| {
            eprintln!("skipped: JEKCMS_TEST_REDIS_URL is not set");
            None
        })?),
    };
    let prefix = unique_prefix();
    TestApp::new(backend, move |c| {
        c.rate_limit_standard = Some(Quota::parse("5/min").unwrap());
        c.rate_limit_admin = Some(Quota::parse("8/min").unwrap());
        c.rate_limit_auth = Some(Quota::parse("4/min").unwrap());
        c.redis_url = redis;
        c.redis_prefix = prefix;
        tweak(c);
    })
    .await
}

fn num(r: &Resp, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .parse()
        .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn quota_sequence(backend: Backend, counting: Counting) {
    let Some(app) = app(backend, counting).await else {
        return;
    };
    let t = app
        .login("default", "editor@example.com", Role::Editor)
        .await;
    let mut last_reset = 0;
    for i in 0..5u64 {
        // Errors count and carry the headers too.
        let path = if i == 2 {
            "/api/v2/posts/999999"
        } else {
            "/api/v2/posts"
        };
        let r = app.get(path, &t.access).await;
        assert_eq!(num(&r, "x-ratelimit-limit"), 5);
        assert_eq!(num(&r, "x-ratelimit-remaining"), 4 - i);
        let reset = num(&r, "x-ratelimit-reset");
        assert!(
            reset >= now() && reset >= last_reset,
            "reset never in the past or going back"
        );
        last_reset = reset;
        assert_eq!(r.header("ratelimit-policy"), Some("\"key\";q=5;w=60"));
        assert!(
            r.header("ratelimit")
                .unwrap()
                .starts_with(&format!("\"key\";r={}", 4 - i))
        );
        assert!(r.header("retry-after").is_none());
    }
    // Request quota + 1 is refused, with the envelope and consistent headers.
    let r = app.get("/api/v2/posts", &t.access).await;
    r.expect_error(429, "RATE_LIMITED");
    assert_eq!(num(&r, "x-ratelimit-remaining"), 0);
    let retry = num(&r, "retry-after");
    let reset = num(&r, "x-ratelimit-reset");
    assert!(
        retry >= 1 && retry <= reset - now() + 1,
        "retry {retry}, reset {reset}"
    );
    // A refresh does not reset the count: the quota belongs to the key.
    let v = app.refresh(&t.refresh).await.expect(200);
    let fresh = v["data"]["access_token"].as_str().unwrap();
    app.get("/api/v2/posts", fresh)
        .await
        .expect_error(429, "RATE_LIMITED");
    // Another session of another user is not affected.
    let other = app
        .login("default", "viewer@example.com", Role::Viewer)
        .await;
    let r = app.get("/api/v2/me", &other.access).await;
    let me = r.expect(200);
    assert_eq!(me["data"]["rate_limit"]["limit"], 5);
    assert_eq!(me["data"]["rate_limit"]["remaining"], 4);
    assert!(me["data"]["rate_limit"]["reset"].as_u64().unwrap() >= now());
}

/// One bucket per API key, whatever the number of sessions opened from it and for its v1
/// calls alike; one per user for password sessions.
async fn one_bucket_per_key_and_per_user(backend: Backend, counting: Counting) {
    let Some(app) = app_with(backend, counting, |c| {
        c.rate_limit_auth = Some(Quota::parse("100/min").unwrap());
    })
    .await
    else {
        return;
    };
    let (key, secret, _, _) = app.api_key("default", "ed@example.com", Role::Editor).await;
    let exchange = || async {
        let body = serde_json::json!({"api_key": key, "api_secret": secret});
        let v = app
            .send(Method::POST, "/api/v2/auth/token", None, Some(body))
            .await
            .expect(200);
        v["data"]["access_token"].as_str().unwrap().to_owned()
    };
    let first = exchange().await;
    for _ in 0..3 {
        app.get("/api/v2/posts", &first).await.expect(200);
    }
    // A new session of the same key goes on counting.
    let second = exchange().await;
    let r = app.get("/api/v2/posts", &second).await;
    r.expect(200);
    assert_eq!(num(&r, "x-ratelimit-remaining"), 1);
    assert_eq!(r.header("ratelimit-policy"), Some("\"key\";q=5;w=60"));
    // So do v1 calls with the key pair itself.
    let v1 = || {
        TestRequest::get()
            .uri("/api/v1/posts")
            .insert_header(("x-api-key", key.clone()))
            .insert_header(("x-api-secret", secret.clone()))
    };
    let r = app.call(v1()).await;
    assert_eq!(r.status, 200);
    assert_eq!(num(&r, "x-ratelimit-remaining"), 0);
    assert_eq!(app.call(v1()).await.status, 429);
    app.get("/api/v2/posts", &exchange().await)
        .await
        .expect_error(429, "RATE_LIMITED");

    // Password sessions count against their user, however many logins.
    let owner = app.owner().await;
    app.add_user(
        &owner.access,
        "pw@example.com",
        "author",
        Some("correct horse battery staple"),
    )
    .await;
    for _ in 0..5 {
        let t = app
            .password_login("pw@example.com", "correct horse battery staple")
            .await;
        let r = app.get("/api/v2/posts", &t.access).await;
        r.expect(200);
        assert_eq!(r.header("ratelimit-policy"), Some("\"user\";q=5;w=60"));
    }
    let t = app
        .password_login("pw@example.com", "correct horse battery staple")
        .await;
    app.get("/api/v2/posts", &t.access)
        .await
        .expect_error(429, "RATE_LIMITED");
}

/// A refused v1 key pair counts against the client's per-IP auth quota, which /auth/token
/// shares; IPv6 clients count per /64.
async fn failed_v1_key_checks_count_per_ip(backend: Backend, counting: Counting) {
    let Some(app) = app(backend, counting).await else {
        return;
    };
    let (key, secret, _, _) = app.api_key("default", "ed@example.com", Role::Editor).await;
    let wrong = jekcms_auth::CredentialFamily::ApiSecret.generate();
    let v1 = |peer: &str, secret: &str| {
        TestRequest::get()
            .uri("/api/v1/posts")
            .peer_addr(peer.parse().unwrap())
            .insert_header(("x-api-key", key.clone()))
            .insert_header(("x-api-secret", secret.to_owned()))
    };
    for i in 0..3u64 {
        let r = app.call(v1("192.0.2.7:1", &wrong)).await;
        assert_eq!(r.status, 401);
        assert_eq!(num(&r, "x-ratelimit-remaining"), 3 - i);
        assert_eq!(r.header("ratelimit-policy"), Some("\"ip\";q=4;w=60"));
    }
    // The fourth guess is /auth/token's: one quota for both.
    let token = TestRequest::post()
        .uri("/api/v2/auth/token")
        .peer_addr("192.0.2.7:2".parse().unwrap())
        .insert_header(("content-type", "application/json"))
        .set_payload(format!(r#"{{"api_key":"{key}","api_secret":"{wrong}"}}"#));
    app.call(token).await.expect_error(401, "AUTH_INVALID");
    let r = app.call(v1("192.0.2.7:1", &wrong)).await;
    assert_eq!(r.status, 429);
    assert!(num(&r, "retry-after") >= 1);
    // The right pair still works from there (it is counted against the key), and another
    // client's guesses are its own.
    assert_eq!(app.call(v1("192.0.2.7:1", &secret)).await.status, 200);
    assert_eq!(app.call(v1("192.0.2.8:1", &wrong)).await.status, 401);

    // IPv6: one /64 is one client, however many of its addresses it uses.
    for i in 0..4u16 {
        let peer = format!("[2001:db8:7:7::{:x}]:1", i + 1);
        assert_eq!(app.call(v1(&peer, &wrong)).await.status, 401);
    }
    assert_eq!(
        app.call(v1("[2001:db8:7:7:ffff::1]:1", &wrong))
            .await
            .status,
        429
    );
    assert_eq!(
        app.call(v1("[2001:db8:7:8::1]:1", &wrong)).await.status,
        401
    );
}

async fn admin_tier(backend: Backend, counting: Counting) {
    let Some(app) = app(backend, counting).await else {
        return;
    };
    for role in [Role::Admin, Role::Owner] {
        let t = app
            .login("default", &format!("{role}@example.com"), role)
            .await;
        for _ in 0..8 {
            let r = app.get("/api/v2/posts", &t.access).await;
            r.expect(200);
            assert_eq!(num(&r, "x-ratelimit-limit"), 8);
        }
        app.get("/api/v2/posts", &t.access)
            .await
            .expect_error(429, "RATE_LIMITED");
    }
}

async fn auth_endpoints_per_ip(backend: Backend, counting: Counting) {
    let Some(app) = app(backend, counting).await else {
        return;
    };
    let ip = |addr: &str| {
        TestRequest::post()
            .uri("/api/v2/auth/token")
            .peer_addr(addr.parse().unwrap())
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"api_key":"api_x","api_secret":"sk_x"}"#)
    };
    for i in 0..4u64 {
        let r = app.call(ip("192.0.2.1:4000")).await;
        r.expect_error(401, "AUTH_INVALID");
        assert_eq!(num(&r, "x-ratelimit-remaining"), 3 - i);
        assert_eq!(r.header("ratelimit-policy"), Some("\"ip\";q=4;w=60"));
    }
    let r = app.call(ip("192.0.2.1:4001")).await;
    r.expect_error(429, "RATE_LIMITED");
    assert!(num(&r, "retry-after") >= 1);
    // Another client is unaffected; refresh and revoke share the same IP quota.
    app.call(ip("192.0.2.2:4000"))
        .await
        .expect_error(401, "AUTH_INVALID");
    let refresh = TestRequest::post()
        .uri("/api/v2/auth/revoke")
        .peer_addr("192.0.2.1:5000".parse().unwrap())
        .insert_header(("content-type", "application/json"))
        .set_payload(r#"{"refresh_token":"rf_x"}"#);
    app.call(refresh).await.expect_error(429, "RATE_LIMITED");
}

async fn forwarded_for_only_from_trusted_proxies(backend: Backend, counting: Counting) {
    let Some(app) = app_with(backend, counting, |c| {
        c.rate_limit_auth = Some(Quota::parse("1/min").unwrap());
        c.trusted_proxies = vec!["10.0.0.9".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let req = |peer: &str, xff: &str| {
        TestRequest::post()
            .uri("/api/v2/auth/revoke")
            .peer_addr(peer.parse().unwrap())
            .insert_header(("x-forwarded-for", xff.to_owned()))
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"refresh_token":"rf_x"}"#)
    };
    // Through the trusted proxy, each forwarded client has its own quota.
    app.call(req("10.0.0.9:1", "198.51.100.1"))
        .await
        .expect(200);
    app.call(req("10.0.0.9:1", "198.51.100.2"))
        .await
        .expect(200);
    app.call(req("10.0.0.9:1", "198.51.100.1"))
        .await
        .expect_error(429, "RATE_LIMITED");
    // An untrusted peer cannot pick its identity with the header.
    app.call(req("203.0.113.5:1", "198.51.100.3"))
        .await
        .expect(200);
    app.call(req("203.0.113.5:1", "198.51.100.4"))
        .await
        .expect_error(429, "RATE_LIMITED");
}

async fn quotas_can_be_turned_off(backend: Backend, counting: Counting) {
    let Some(app) = app_with(backend, counting, |c| {
        c.rate_limit_admin = None;
        c.rate_limit_auth = None;
    })
    .await
    else {
        return;
    };
    let owner = app.owner().await;
    for _ in 0..10 {
        let r = app.get("/api/v2/posts", &owner.access).await;
        r.expect(200);
        assert!(r.header("x-ratelimit-limit").is_none() && r.header("ratelimit").is_none());
    }
    let me = app.get("/api/v2/me", &owner.access).await.expect(200);
    assert!(me["data"]["rate_limit"].is_null());
    // The standard tier is still on.
    let viewer = app
        .login("default", "viewer@example.com", Role::Viewer)
        .await;
    assert_eq!(
        num(
            &app.get("/api/v2/posts", &viewer.access).await,
            "x-ratelimit-limit"
        ),
        5
    );
}

/// Each scenario on both stores, counting in process and in Redis.
macro_rules! on_both {
    ($($name:ident),*) => {$(
        mod $name {
            use super::Counting::{InProcess, Redis};
            use jekcms_store::Backend::{Postgres, Sqlite};
            #[actix_web::test]
            async fn sqlite() { super::$name(Sqlite, InProcess).await }
            #[actix_web::test]
            async fn postgres() { super::$name(Postgres, InProcess).await }
            #[actix_web::test]
            async fn sqlite_redis() { super::$name(Sqlite, Redis).await }
            #[actix_web::test]
            async fn postgres_redis() { super::$name(Postgres, Redis).await }
        }
    )*};
}

on_both!(
    quota_sequence,
    one_bucket_per_key_and_per_user,
    failed_v1_key_checks_count_per_ip,
    admin_tier,
    auth_endpoints_per_ip,
    forwarded_for_only_from_trusted_proxies,
    quotas_can_be_turned_off
);

/// The Redis server for shared-quota tests, when `JEKCMS_TEST_REDIS_URL` is set (CI sets it).
fn redis_url() -> Option<String> {
    std::env::var("JEKCMS_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

fn unique_prefix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "jekcms-test:{}:{}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        now()
    )
}

async fn shared_app(backend: Backend, url: String) -> Option<TestApp> {
    app_with(backend, Counting::InProcess, move |c| {
        c.redis_url = Some(url)
    })
    .await
}

async fn instances_share_one_quota_through_redis(backend: Backend) {
    let Some(a) = app(backend, Counting::Redis).await else {
        return;
    };
    let b = a.another_instance().await;
    let t = a.login("default", "editor@example.com", Role::Editor).await;
    for i in 0..5u64 {
        let instance = if i % 2 == 0 { &a } else { &b };
        let r = instance.get("/api/v2/posts", &t.access).await;
        r.expect(200);
        assert_eq!(num(&r, "x-ratelimit-remaining"), 4 - i, "request {i}");
    }
    b.get("/api/v2/posts", &t.access)
        .await
        .expect_error(429, "RATE_LIMITED");
    let r = a.get("/api/v2/posts", &t.access).await;
    r.expect_error(429, "RATE_LIMITED");
    assert!(num(&r, "retry-after") >= 1);
}

mod instances_share_one_quota_through_redis {
    #[actix_web::test]
    async fn sqlite_redis() {
        super::instances_share_one_quota_through_redis(jekcms_store::Backend::Sqlite).await
    }
    #[actix_web::test]
    async fn postgres_redis() {
        super::instances_share_one_quota_through_redis(jekcms_store::Backend::Postgres).await
    }
}

/// A Redis of the test's own, so it can be stopped and started again.
struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// A port nothing listens on now: the kernel's pick. (A port derived from the process
    /// id fell in the ephemeral range, where another connection could hold it.)
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port()
    }

    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect(
                "redis-server is installed (JEKCMS_TEST_REDIS_URL is set, so Redis tests must run)",
            );
        let mut child = child;
        // Generous: the whole suite shares two cores with this start.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server exited at start on port {port}: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start on port {port} within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self {
            port,
            child: Some(child),
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Redis going away does not take the API down (quotas fall back to each instance), and
/// sharing resumes by itself when Redis returns.
async fn redis_outage_fails_open_and_recovers(backend: Backend) {
    if redis_url().is_none() {
        eprintln!("skipped: JEKCMS_TEST_REDIS_URL is not set");
        return;
    }
    let mut redis = OwnRedis::start(OwnRedis::free_port());
    let port = redis.port;
    let Some(a) = shared_app(backend, format!("redis://127.0.0.1:{}", redis.port)).await else {
        return;
    };
    let b = a.another_instance().await;
    let t = a.login("default", "editor@example.com", Role::Editor).await;
    assert_eq!(
        num(
            &a.get("/api/v2/posts", &t.access).await,
            "x-ratelimit-remaining"
        ),
        4
    );
    assert_eq!(
        num(
            &b.get("/api/v2/posts", &t.access).await,
            "x-ratelimit-remaining"
        ),
        3
    );
    redis.stop();
    // Still serving: each instance counts on its own meanwhile.
    for _ in 0..3 {
        let r = a.get("/api/v2/posts", &t.access).await;
        r.expect(200);
        assert!(r.header("x-ratelimit-limit").is_some());
    }
    let _redis = OwnRedis::start(port);
    // Each instance notices on its next request (counted locally at most once) and
    // reconnects by itself after the back-off.
    for instance in [&a, &b] {
        instance.get("/api/v2/posts", &t.access).await.expect(200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    // Shared again: A and B count down one quota together.
    let first = num(
        &a.get("/api/v2/posts", &t.access).await,
        "x-ratelimit-remaining",
    );
    let second = num(
        &b.get("/api/v2/posts", &t.access).await,
        "x-ratelimit-remaining",
    );
    let third = num(
        &a.get("/api/v2/posts", &t.access).await,
        "x-ratelimit-remaining",
    );
    assert_eq!((second, third), (first - 1, first - 2), "first = {first}");
}

mod redis_outage_fails_open_and_recovers {
    #[actix_web::test]
    async fn sqlite() {
        super::redis_outage_fails_open_and_recovers(jekcms_store::Backend::Sqlite).await
    }
    #[actix_web::test]
    async fn postgres() {
        super::redis_outage_fails_open_and_recovers(jekcms_store::Backend::Postgres).await
    }
}
