//! That the client logs no token, key secret or pull key, even at `TRACE` with the HTTP
//! transport traced too. A test binary of its own: tracing caches per call site whether
//! anyone listens, and tests running on other threads of a shared binary (with no
//! subscriber) could register the transport's call sites as "never" while this test runs.

#[path = "../api/fake.rs"]
#[allow(dead_code)]
mod fake;

use fake::{Fake, fail, me, ok, pair};
use jekcms_client::Client;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Captures everything logged on this thread, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_or_secret_is_logged_even_at_trace() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests of this binary, running on other threads without a subscriber, may have
    // registered hyper's and reqwest's callsites first and cached "never interested" for
    // them; recompute that now that this thread has a subscriber.
    tracing::callsite::rebuild_interest_cache();

    let fake = Fake::start(|req, nth| match (req.line.as_str(), nth) {
        ("POST /api/v2/auth/token", _) => pair("v4.local.ACCESS-ONE", "rf_REFRESH-ONE"),
        ("POST /api/v2/auth/refresh", _) => pair("v4.local.ACCESS-TWO", "rf_REFRESH-TWO"),
        ("GET /api/v2/me", 0) => fail(401, "AUTH_EXPIRED"),
        ("GET /api/v2/me", 1) => fail(503, "UNAVAILABLE"),
        ("GET /api/v2/me", _) => ok(200, me()),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let client = Client::builder(&fake.base_url, "api_x", "sk_SECRET-KEY")
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .connect()
        .await
        .unwrap();
    client.me().await.unwrap();
    let site = jekcms_client::PullClient::new(&fake.base_url, "pk_PULL-KEY").unwrap();
    let _ = site.posts(jekcms_client::PullQuery::default()).await;
    let shown = format!("{client:?} {site:?}");

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("renewing"), "the renewal was logged: {log}");
    assert!(
        log.lines()
            .any(|l| l.contains("hyper") || l.contains("reqwest")),
        "the transport was traced too: {log}"
    );
    for secret in [
        "ACCESS-ONE",
        "ACCESS-TWO",
        "REFRESH-ONE",
        "REFRESH-TWO",
        "SECRET-KEY",
        "PULL-KEY",
    ] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
        assert!(!shown.contains(secret), "{secret} in Debug: {shown}");
    }
}
