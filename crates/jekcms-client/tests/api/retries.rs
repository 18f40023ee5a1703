//! Renewal on `AUTH_EXPIRED` and retries, against a scripted server.

use crate::fake::{DELAY, Fake, fail, me, ok, pair, post};
use jekcms_client::{Client, Error, ErrorCode, NewPost, PostPatch};
use std::time::Duration;

fn bearer(req: &crate::fake::Req) -> &str {
    req.header("authorization").unwrap_or_default()
}

async fn connect(fake: &Fake) -> Client {
    Client::builder(&fake.base_url, "api_x", "sk_x")
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn auth_expired_renews_the_token_and_retries_once() {
    let fake = Fake::start(|req, nth| match req.line.as_str() {
        "POST /api/v2/auth/token" => pair("A1", "R1"),
        "POST /api/v2/auth/refresh" => pair("A2", "R2"),
        "GET /api/v2/me" if bearer(req) == "Bearer A2" && nth < 2 => ok(200, me()),
        "GET /api/v2/me" => fail(401, "AUTH_EXPIRED"),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let client = connect(&fake).await;
    client.me().await.unwrap();
    assert_eq!(client.token_renewals(), 1);
    assert_eq!(
        fake.lines(),
        [
            "POST /api/v2/auth/token",
            "GET /api/v2/me",
            "POST /api/v2/auth/refresh",
            "GET /api/v2/me"
        ]
    );

    // Still expired after the renewal: one renewal per call, then the error.
    let err = client.me().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AuthExpired));
    assert_eq!(fake.requests("GET /api/v2/me").len(), 4);
    let refreshes = fake.requests("POST /api/v2/auth/refresh");
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0].json()["refresh_token"], "R1");
    assert_eq!(
        refreshes[1].json()["refresh_token"],
        "R2",
        "the rotated token"
    );
    assert_eq!(fake.requests("POST /api/v2/auth/token").len(), 1);
    assert_eq!(client.token_renewals(), 2);
}

#[tokio::test]
async fn a_caller_that_gives_up_during_a_refresh_does_not_lose_the_new_pair() {
    let fake = Fake::start(|req, _| match req.line.as_str() {
        "POST /api/v2/auth/token" => pair("A1", "R1"),
        "POST /api/v2/auth/refresh" => {
            let (status, mut headers, body) = pair("A2", "R2").unwrap();
            headers.push((DELAY, "300".into()));
            Some((status, headers, body))
        }
        "GET /api/v2/me" if bearer(req) == "Bearer A2" => ok(200, me()),
        "GET /api/v2/me" => fail(401, "AUTH_EXPIRED"),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let client = connect(&fake).await;
    let gave_up = tokio::time::timeout(Duration::from_millis(100), client.me()).await;
    assert!(
        gave_up.is_err(),
        "the call was cancelled mid-refresh: {gave_up:?} {:?}",
        fake.lines()
    );

    // The renewal went on without its caller: the next call uses A2 straight away, and
    // the used refresh token R1 is never presented again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.me().await.unwrap();
    assert_eq!(fake.requests("POST /api/v2/auth/refresh").len(), 1);
    assert_eq!(fake.requests("POST /api/v2/auth/token").len(), 1);
    let mes = fake.requests("GET /api/v2/me");
    assert_eq!(bearer(mes.last().unwrap()), "Bearer A2");
    assert_eq!(mes.len(), 2);
}

#[tokio::test]
async fn a_refused_refresh_falls_back_to_the_key() {
    let fake = Fake::start(|req, nth| match req.line.as_str() {
        "POST /api/v2/auth/token" if nth == 0 => pair("A1", "R1"),
        "POST /api/v2/auth/token" => pair("A2", "R2"),
        "POST /api/v2/auth/refresh" => fail(401, "AUTH_INVALID"),
        "GET /api/v2/me" if bearer(req) == "Bearer A2" => ok(200, me()),
        "GET /api/v2/me" => fail(401, "AUTH_EXPIRED"),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let client = connect(&fake).await;
    client.me().await.unwrap();
    assert_eq!(fake.requests("POST /api/v2/auth/token").len(), 2);
    assert_eq!(client.token_renewals(), 1);
}

#[tokio::test]
async fn gets_are_retried_after_5xx_and_dropped_connections() {
    let fake = Fake::start(|req, nth| match (req.line.as_str(), nth) {
        ("POST /api/v2/auth/token", _) => pair("A1", "R1"),
        ("GET /api/v2/posts/1", 0) => fail(503, "UNAVAILABLE"),
        ("GET /api/v2/posts/1", 1) => None,
        ("GET /api/v2/posts/1", _) => ok(200, post(1)),
        ("GET /api/v2/posts/2", _) => Some((502, vec![], "<html>bad gateway</html>".into())),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let client = connect(&fake).await;
    assert_eq!(client.posts().get(1).await.unwrap().id, 1);
    assert_eq!(fake.requests("GET /api/v2/posts/1").len(), 3);

    // Bounded: one attempt and three retries, then the last failure.
    let err = client.posts().get(2).await.unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedResponse { status: 502, .. }),
        "{err}"
    );
    assert_eq!(fake.requests("GET /api/v2/posts/2").len(), 4);
}

#[tokio::test]
async fn only_calls_safe_to_repeat_are_retried() {
    let fake = Fake::start(|req, nth| match (req.line.as_str(), nth) {
        ("POST /api/v2/auth/token", _) => pair("A1", "R1"),
        ("PATCH /api/v2/posts/1", _) => fail(503, "UNAVAILABLE"),
        ("POST /api/v2/posts", 0) => fail(500, "INTERNAL_ERROR"),
        ("POST /api/v2/posts", _) => ok(201, post(7)),
        _ => fail(404, "NOT_FOUND"),
    })
    .await;
    let client = connect(&fake).await;

    let err = client
        .posts()
        .update(1, &PostPatch::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unavailable));
    assert_eq!(fake.requests("PATCH /api/v2/posts/1").len(), 1);

    // A create carries an Idempotency-Key, so it is retried, with the same key.
    assert_eq!(
        client.posts().create(NewPost::new("T")).await.unwrap().id,
        7
    );
    let creates = fake.requests("POST /api/v2/posts");
    assert_eq!(creates.len(), 2);
    let key = creates[0].header("idempotency-key").unwrap();
    assert_eq!(creates[1].header("idempotency-key"), Some(key));
}

#[tokio::test]
async fn a_long_retry_after_is_returned_not_waited() {
    let fake = Fake::start(|req, _| match req.line.as_str() {
        "POST /api/v2/auth/token" => pair("A1", "R1"),
        _ => {
            let (status, mut headers, body) = fail(429, "RATE_LIMITED").unwrap();
            headers.push(("retry-after", "3600".into()));
            Some((status, headers, body))
        }
    })
    .await;
    let client = connect(&fake).await;
    let err = client.me().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RateLimited));
    assert_eq!(err.api().unwrap().retry_after, Some(3600));
    assert_eq!(fake.requests("GET /api/v2/me").len(), 1);
}
