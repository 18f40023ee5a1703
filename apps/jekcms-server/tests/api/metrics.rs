//! `GET /metrics` (issue #19): off unless `JEKCMS_METRICS`; on, requests are counted by
//! route template (never the raw path), 429s by quota policy, replays, pool load.
//!
//! The recorder is one per process: once a test here turns metrics on, every app of this
//! test binary records into it. So the assertions compare counts before and after (other
//! tests only add) and look for series, not exact totals.

use crate::helpers::TestApp;
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_ratelimit::Quota;
use jekcms_store::Backend;
use serde_json::json;
use std::collections::BTreeMap;

async fn app(
    backend: Backend,
    tweak: impl FnOnce(&mut jekcms_server::config::Config),
) -> Option<TestApp> {
    TestApp::new(backend, |c| {
        c.metrics = true;
        tweak(c);
    })
    .await
}

/// One sample of the scraped text: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// `GET /metrics`, parsed (comment lines skipped).
async fn scrape(app: &TestApp) -> Vec<Sample> {
    let r = app.call(TestRequest::get().uri("/metrics")).await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.headers
    );
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                None => (series, ""),
                Some((name, rest)) => (name, rest.strip_suffix('}').unwrap()),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once("=\"").unwrap();
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

/// The samples of `name` whose labels include `labels`.
fn matching<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The sum of the samples of `name` whose labels include `labels` (0 when none).
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    matching(samples, name, labels)
        .iter()
        .map(|s| s.value)
        .sum()
}

async fn off_by_default(backend: Backend) {
    let Some(app) = TestApp::new(backend, |_| {}).await else {
        return;
    };
    assert!(!app.config().metrics);
    app.call(TestRequest::get().uri("/metrics"))
        .await
        .expect_error(404, "NOT_FOUND");
}

#[actix_web::test]
async fn off_by_default_sqlite() {
    off_by_default(Backend::Sqlite).await;
}

#[actix_web::test]
async fn off_by_default_postgres() {
    off_by_default(Backend::Postgres).await;
}

async fn one_series_per_route_template(backend: Backend) {
    let Some(app) = app(backend, |_| {}).await else {
        return;
    };
    let t = app.owner().await;
    let route = [("route", "/api/v2/posts/{id}"), ("method", "GET")];
    let not_found = [route[0], route[1], ("status", "404")];
    let pk = app
        .post(
            &format!("/api/v2/sites/{}/rotate-keys", t.site_id),
            &t.access,
            serde_json::json!({}),
        )
        .await
        .expect(200)["data"]["new_api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let req = actix_web::test::TestRequest::get()
            .uri("/api/v2/pull/posts")
            .insert_header(("x-api-key", pk.as_str()));
        app.call(req).await.expect(200);
    }
    let before = scrape(&app).await;
    // The pull cache: the first page made once (a miss), then served twice from memory.
    assert!(total(&before, "jekcms_pull_cache_hits_total", &[]) >= 2.0);
    assert!(total(&before, "jekcms_pull_cache_misses_total", &[]) >= 1.0);
    assert!(total(&before, "jekcms_pull_cache_bytes", &[]) > 0.0);
    app.get("/api/v2/posts/123", &t.access)
        .await
        .expect_error(404, "NOT_FOUND");
    app.get("/api/v2/posts/456", &t.access)
        .await
        .expect_error(404, "NOT_FOUND");
    app.get("/no/such/path/789", &t.access)
        .await
        .expect_error(404, "NOT_FOUND");
    let after = scrape(&app).await;

    // Both ids land in one series, labelled with the template; no raw path is a label.
    let series = matching(&after, "jekcms_http_requests_total", &not_found);
    assert_eq!(series.len(), 1, "{series:?}");
    let requests = "jekcms_http_requests_total";
    assert!(total(&after, requests, &not_found) - total(&before, requests, &not_found) >= 2.0);
    for s in &after {
        let route = s.labels.get("route").map(String::as_str).unwrap_or("");
        assert!(
            !["123", "456", "789"].iter().any(|id| route.contains(id)),
            "a raw path became a label: {s:?}"
        );
    }
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(total(&after, requests, &unmatched) > total(&before, requests, &unmatched));

    // The latency histogram per template: buckets, count and sum.
    let count = "jekcms_http_request_duration_seconds_count";
    assert!(total(&after, count, &route) - total(&before, count, &route) >= 2.0);
    let buckets = matching(
        &after,
        "jekcms_http_request_duration_seconds_bucket",
        &route,
    );
    assert!(
        buckets.iter().any(|b| b.labels["le"] == "+Inf"),
        "{buckets:?}"
    );
    assert_eq!(
        matching(&after, "jekcms_http_request_duration_seconds_sum", &route).len(),
        1
    );

    // Build info, and the pools of this backend read at scrape time.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        total(&after, "jekcms_build_info", &[("version", version)]),
        1.0
    );
    let pools: &[&str] = match backend {
        Backend::Sqlite => &["read", "write"],
        Backend::Postgres => &["main"],
    };
    for pool in pools {
        assert!(
            total(&after, "jekcms_db_pool_max", &[("pool", pool)]) >= 1.0,
            "{pool}"
        );
        assert_eq!(
            matching(&after, "jekcms_db_pool_in_use", &[("pool", pool)]).len(),
            1
        );
        assert_eq!(
            matching(&after, "jekcms_db_pool_waiting", &[("pool", pool)]).len(),
            1
        );
    }
}

#[actix_web::test]
async fn one_series_per_route_template_sqlite() {
    one_series_per_route_template(Backend::Sqlite).await;
}

#[actix_web::test]
async fn one_series_per_route_template_postgres() {
    one_series_per_route_template(Backend::Postgres).await;
}

async fn rejections_and_replays_are_counted(backend: Backend) {
    let Some(app) = app(backend, |c| {
        c.rate_limit_standard = Some(Quota::parse("2/min").unwrap());
    })
    .await
    else {
        return;
    };
    let rejected = "jekcms_rate_limit_rejections_total";
    let replays = "jekcms_idempotency_replays_total";
    let owner = app.owner().await;

    // A replayed Idempotency-Key (the owner's quota is the admin one, out of the way).
    let before = scrape(&app).await;
    let body = json!({"title": "Counted once"});
    for _ in 0..2 {
        let r = app
            .call(
                TestRequest::default()
                    .method(Method::POST)
                    .uri("/api/v2/posts")
                    .insert_header(("authorization", format!("Bearer {}", owner.access)))
                    .insert_header(("idempotency-key", "metrics-1"))
                    .insert_header(("content-type", "application/json"))
                    .set_payload(body.to_string()),
            )
            .await;
        r.expect(201);
    }
    let after = scrape(&app).await;
    assert!(total(&after, replays, &[]) - total(&before, replays, &[]) >= 1.0);

    // An editor's key has the standard quota: the third request is refused and counted.
    let t = app
        .login("default", "editor@example.com", jekcms_auth::Role::Editor)
        .await;
    let before = scrape(&app).await;
    app.get("/api/v2/posts", &t.access).await.expect(200);
    app.get("/api/v2/posts", &t.access).await.expect(200);
    app.get("/api/v2/posts", &t.access)
        .await
        .expect_error(429, "RATE_LIMITED");
    let after = scrape(&app).await;
    let by_key = [("policy", "key")];
    assert!(total(&after, rejected, &by_key) - total(&before, rejected, &by_key) >= 1.0);
    let refused = [("route", "/api/v2/posts"), ("status", "429")];
    let requests = "jekcms_http_requests_total";
    assert!(total(&after, requests, &refused) > total(&before, requests, &refused));
}

#[actix_web::test]
async fn rejections_and_replays_are_counted_sqlite() {
    rejections_and_replays_are_counted(Backend::Sqlite).await;
}

#[actix_web::test]
async fn rejections_and_replays_are_counted_postgres() {
    rejections_and_replays_are_counted(Backend::Postgres).await;
}

/// The webhook queue depth, retried a few times: another test's scrape may set the
/// process-wide gauge from its own database between this scrape's read and its render.
async fn queue_depth(app: &TestApp, want: f64) -> f64 {
    let mut seen = f64::NAN;
    for _ in 0..5 {
        seen = total(&scrape(app).await, "jekcms_webhook_queue_depth", &[]);
        if seen == want {
            break;
        }
    }
    seen
}

/// The webhook attempts counted by `outcome` and `status_class`.
fn attempts(samples: &[Sample]) -> BTreeMap<(String, String), f64> {
    matching(samples, "jekcms_webhook_attempts_total", &[])
        .into_iter()
        .map(|s| {
            let label = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
            ((label("outcome"), label("status_class")), s.value)
        })
        .collect()
}

/// #19: the webhook queue depth (deliveries due, read from the database at scrape time)
/// and each attempt's outcome by the class of the receiver's answer.
async fn webhook_queue_and_outcomes_are_counted(backend: Backend) {
    use crate::webhooks::{Receiver, allow_local, create_hook, ping, rotate};
    use jekcms_server::webhook_delivery::deliver_due;
    let Some(app) = app(backend, allow_local).await else {
        return;
    };
    let owner = app.owner().await;
    rotate(&app, &owner, 0).await;
    // Answers 503, then 204, then 404 eight times.
    let mut script = vec![Some(503), Some(204)];
    script.extend([Some(404); 8]);
    let receiver = Receiver::start(script).await;
    let live = create_hook(&app, &owner, &receiver.url).await;
    // Nothing listens on this port: no answer.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = create_hook(&app, &owner, &format!("http://localhost:{port}/hook")).await;

    assert_eq!(queue_depth(&app, 0.0).await, 0.0);
    let before = attempts(&scrape(&app).await);
    ping(&app, &owner, live).await;
    ping(&app, &owner, dead).await;
    assert_eq!(queue_depth(&app, 2.0).await, 2.0);

    let t0 = jekcms_auth::now();
    // 503 and no answer: both to be retried; then 204, and no answer again.
    assert_eq!(deliver_due(&app.state, t0, 100).await.unwrap(), 2);
    assert_eq!(
        deliver_due(&app.state, t0 + chrono::Duration::hours(1), 100)
            .await
            .unwrap(),
        2
    );
    // A third delivery answered 404 until it is given up, beside the dead endpoint's.
    ping(&app, &owner, live).await;
    let mut at = t0 + chrono::Duration::hours(2);
    for _ in 0..8 {
        deliver_due(&app.state, at, 100).await.unwrap();
        at += chrono::Duration::hours(16);
    }
    assert_eq!(deliver_due(&app.state, at, 100).await.unwrap(), 0);
    assert_eq!(queue_depth(&app, 0.0).await, 0.0);

    let after = attempts(&scrape(&app).await);
    let added = |outcome: &str, class: &str| {
        let key = (outcome.to_owned(), class.to_owned());
        after.get(&key).copied().unwrap_or_default() - before.get(&key).copied().unwrap_or_default()
    };
    // Other tests of this binary deliver too (the recorder is the process's): at least
    // these, and none that this test's answers cannot give.
    assert!(added("retrying", "5xx") >= 1.0, "{after:?}");
    assert!(added("succeeded", "2xx") >= 1.0, "{after:?}");
    assert!(added("retrying", "4xx") >= 7.0, "{after:?}");
    assert!(added("failed", "4xx") >= 1.0, "{after:?}");
    // The dead endpoint: two attempts above, six more in the loop, the last one final.
    assert!(added("retrying", "none") >= 7.0, "{after:?}");
    assert!(added("failed", "none") >= 1.0, "{after:?}");
    assert!(after.keys().all(|(outcome, class)| {
        ["succeeded", "retrying", "failed"].contains(&outcome.as_str())
            && ["1xx", "2xx", "3xx", "4xx", "5xx", "other", "none"].contains(&class.as_str())
    }));
    receiver.stop().await;
}

#[actix_web::test]
async fn webhook_queue_and_outcomes_are_counted_sqlite() {
    webhook_queue_and_outcomes_are_counted(Backend::Sqlite).await;
}

#[actix_web::test]
async fn webhook_queue_and_outcomes_are_counted_postgres() {
    webhook_queue_and_outcomes_are_counted(Backend::Postgres).await;
}
