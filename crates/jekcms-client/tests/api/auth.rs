//! Signing in, token renewal and the rate limit.

use crate::support::TestServer;
use jekcms_client::{Client, ErrorCode};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn connect_signs_in_and_me_names_the_key() {
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let me = client.me().await.unwrap();
    assert_eq!(me.user.email, "owner@example.com");
    assert_eq!(me.user.role, "owner");
    assert_eq!(me.site.slug, "default");
    assert_eq!(me.credential.family, "api");
    assert_eq!(
        me.credential.key_id.as_deref(),
        Some(server.api_key.as_str())
    );

    let shown = format!("{client:?}");
    assert!(!shown.contains(&server.api_secret), "{shown}");
    assert!(!shown.contains("v4.local."), "{shown}");
    assert!(!shown.contains("rf_"), "{shown}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_fails_at_connect() {
    let server = TestServer::start(|_| {}).await;
    let err = Client::connect(&server.base_url, &server.api_key, "sk_wrong")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AuthInvalid), "{err}");
    assert_eq!(err.status(), Some(401));
    assert!(err.request_id().is_some_and(|id| !id.is_empty()));
    assert!(!err.to_string().contains("sk_wrong"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_refreshed_before_expiry_once_for_concurrent_calls() {
    // A 64-second token with the default 60-second margin is due four seconds in.
    let server = TestServer::start(|c| c.access_token_ttl = Duration::from_secs(64)).await;
    let client = server.client().await;
    let session = client.me().await.unwrap().credential.session_id;
    assert_eq!(client.token_renewals(), 0);

    tokio::time::sleep(Duration::from_millis(4100)).await;
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.me().await })
        })
        .collect();
    for call in calls {
        let me = call.await.unwrap().unwrap();
        // A refresh keeps the session; a fresh key exchange would have started a new one.
        assert_eq!(me.credential.session_id, session);
    }
    assert_eq!(
        client.token_renewals(),
        1,
        "one refresh for 32 concurrent calls"
    );

    client.me().await.unwrap();
    assert_eq!(client.token_renewals(), 1, "the new token is not due yet");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_calls_wait_retry_after_and_succeed() {
    let quota = jekcms_ratelimit::Quota::parse("2/s").ok();
    let server = TestServer::start(|c| c.rate_limit_admin = quota).await;

    // Without retries, the 429 reaches the caller with its Retry-After.
    let impatient = server
        .builder()
        .max_rate_limit_retries(0)
        .connect()
        .await
        .unwrap();
    let mut limited = None;
    for _ in 0..10 {
        if let Err(e) = impatient.me().await {
            limited = Some(e);
            break;
        }
    }
    let err = limited.expect("a 2/s quota refuses one of 10 quick calls");
    assert_eq!(err.code(), Some(ErrorCode::RateLimited), "{err}");
    assert_eq!(err.status(), Some(429));
    assert!(err.api().unwrap().retry_after.is_some_and(|s| s >= 1));

    // With the default policy every call succeeds, after waiting.
    let patient = server.client().await;
    let started = Instant::now();
    for _ in 0..6 {
        patient.me().await.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "six calls under 2/s cannot all pass at once: {:?}",
        started.elapsed()
    );
    server.stop().await;
}
