//! Prometheus metrics: `GET /metrics` in the text format, on the API address when
//! `JEKCMS_METRICS=true` or only on `JEKCMS_METRICS_BIND`'s address when that is set. No
//! authentication (docs/operations.md, "Metrics").
//!
//! Recording goes through the `metrics` facade into one process-wide Prometheus recorder,
//! installed by [`install`] when metrics are on; until then nothing is recorded (one atomic
//! load per request). The `/metrics` handler renders the text from the recorder's handle;
//! the database pool gauges are read from the store at scrape time, so the store knows
//! nothing of metrics.

use crate::state::AppState;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpResponse, web};
use jekcms_webhooks::model::DeliveryStatus;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Requests answered, by route template, method and status (counter).
pub const REQUESTS: &str = "jekcms_http_requests_total";
/// Time to answer, by route template and method (histogram, seconds).
pub const DURATION: &str = "jekcms_http_request_duration_seconds";
/// Connections lent out, by pool (gauge).
pub const POOL_IN_USE: &str = "jekcms_db_pool_in_use";
/// Requests waiting for a connection, by pool (gauge).
pub const POOL_WAITING: &str = "jekcms_db_pool_waiting";
/// Connections a pool may hold, by pool (gauge).
pub const POOL_MAX: &str = "jekcms_db_pool_max";
/// Requests refused with `429`, by quota policy (`key`, `user`, `ip`) (counter).
pub const RATE_LIMITED: &str = "jekcms_rate_limit_rejections_total";
/// Responses replayed for a repeated `Idempotency-Key` (counter).
pub const IDEMPOTENCY_REPLAYS: &str = "jekcms_idempotency_replays_total";
/// Pull pages answered from the in-process cache (counter, set at scrape time).
pub const PULL_CACHE_HITS: &str = "jekcms_pull_cache_hits_total";
/// Pull pages the cache did not hold, or held no longer exact (counter, set at scrape time).
pub const PULL_CACHE_MISSES: &str = "jekcms_pull_cache_misses_total";
/// Bytes the pull cache holds (gauge).
pub const PULL_CACHE_BYTES: &str = "jekcms_pull_cache_bytes";
/// Webhook deliveries due and not yet claimed by a worker, over every site (gauge, read
/// from the database at scrape time).
pub const WEBHOOK_QUEUE: &str = "jekcms_webhook_queue_depth";
/// Webhook delivery attempts by `outcome` (`succeeded`; `retrying`: failed, another attempt
/// scheduled; `failed`: failed for the last time, the delivery is given up) and
/// `status_class` of the receiver's answer (`2xx` … `5xx`, `none` when there was no answer:
/// refused, timed out, no secret to sign with) (counter).
pub const WEBHOOK_ATTEMPTS: &str = "jekcms_webhook_attempts_total";
/// `1`, labelled with the server's version (gauge).
pub const BUILD_INFO: &str = "jekcms_build_info";

/// The route label of a request that matched no route (ids in raw paths would make one
/// series per path), or whose route is unknown because it failed before it was answered.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How often histogram samples are folded in when nobody scrapes (bounds their memory).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle) and sets
/// the build info. Fails if another recorder was installed first.
pub fn install() -> Result<&'static PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DURATION.into()), &LATENCY_BUCKETS)
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    // Two threads racing here: the loser's recorder is dropped, the winner's handle kept.
    let handle = match HANDLE.set(handle) {
        Ok(()) => {
            metrics::set_global_recorder(recorder)
                .map_err(|_| "another metrics recorder is installed".to_owned())?;
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let handle = HANDLE.get().expect("set above");
            std::thread::Builder::new()
                .name("jekcms-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        handle.run_upkeep();
                    }
                })
                .map_err(|e| format!("cannot start the metrics upkeep thread: {e}"))?;
            handle
        }
        Err(_) => HANDLE.get().expect("set by the other thread"),
    };
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Time to answer a request, by route template and method"
    );
    describe_gauge!(POOL_IN_USE, "Database connections lent out to requests");
    describe_gauge!(POOL_WAITING, "Requests waiting for a database connection");
    describe_gauge!(POOL_MAX, "Database connections the pool may hold");
    describe_counter!(RATE_LIMITED, "Requests refused with 429, by quota policy");
    describe_counter!(
        IDEMPOTENCY_REPLAYS,
        "Responses replayed for a repeated Idempotency-Key"
    );
    describe_counter!(
        PULL_CACHE_HITS,
        "Pull pages answered from the in-process cache"
    );
    describe_counter!(
        PULL_CACHE_MISSES,
        "Pull pages the cache did not hold or that were no longer exact"
    );
    describe_gauge!(PULL_CACHE_BYTES, "Bytes the pull page cache holds");
    describe_gauge!(
        WEBHOOK_QUEUE,
        "Webhook deliveries due and not yet claimed by a worker"
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts, by outcome (succeeded, retrying, failed: given up) and status class of the answer"
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label names the running build"
    );
}

/// Whether metrics are being recorded in this process.
pub fn recording() -> bool {
    HANDLE.get().is_some()
}

/// Records one answered request under its route template (`None`: no route matched, or the
/// request was lost to a failure before it was answered), never its path.
pub fn record_request(route: Option<&str>, method: &Method, status: StatusCode, started: Instant) {
    if !recording() {
        return;
    }
    let route = route.unwrap_or(UNMATCHED).to_owned();
    let method = method_label(method);
    metrics::histogram!(DURATION, "route" => route.clone(), "method" => method)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status.as_str().to_owned())
        .increment(1);
}

/// A fixed label per method, so that an odd method name cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts a request refused by the quota of `policy` (`key`, `user`, `ip`, or a site's
/// `site` and `pull`).
pub fn rate_limited(policy: &'static str) {
    metrics::counter!(RATE_LIMITED, "policy" => policy).increment(1);
}

/// Counts a response replayed for a repeated `Idempotency-Key`.
pub fn idempotency_replayed() {
    metrics::counter!(IDEMPOTENCY_REPLAYS).increment(1);
}

/// Counts one webhook delivery attempt whose outcome was recorded: `status` is the
/// delivery's status after it, `status_code` the receiver's answer, if any.
pub fn webhook_attempt(status: DeliveryStatus, status_code: Option<i32>) {
    let outcome = match status {
        DeliveryStatus::Succeeded => "succeeded",
        DeliveryStatus::Pending => "retrying",
        DeliveryStatus::Failed => "failed",
    };
    let status_class = match status_code {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
        None => "none",
    };
    metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome, "status_class" => status_class)
        .increment(1);
}

/// `GET /metrics`: the Prometheus text format. `404` when metrics are not recording.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let Some(handle) = HANDLE.get() else {
        return HttpResponse::NotFound().finish();
    };
    for pool in state.store.pool_status() {
        let gauge = |name: &'static str| metrics::gauge!(name, "pool" => pool.pool);
        gauge(POOL_IN_USE).set(pool.in_use as f64);
        gauge(POOL_WAITING).set(pool.waiting as f64);
        gauge(POOL_MAX).set(pool.max as f64);
    }
    // The cache counts for itself (two relaxed atomic adds per request); the exporter is
    // told at scrape time.
    let (hits, misses) = state.pull_cache.counts();
    metrics::counter!(PULL_CACHE_HITS).absolute(hits);
    metrics::counter!(PULL_CACHE_MISSES).absolute(misses);
    metrics::gauge!(PULL_CACHE_BYTES).set(state.pull_cache.weight() as f64);
    // A database that cannot say leaves the last value, and the scrape goes on: the pool
    // gauges and the request counts say more about such a moment.
    match state.store.webhook_queue_depth(jekcms_auth::now()).await {
        Ok(due) => metrics::gauge!(WEBHOOK_QUEUE).set(due as f64),
        Err(e) => tracing::warn!(error = %e, "cannot count the webhook deliveries due"),
    }
    HttpResponse::Ok()
        .insert_header((
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        ))
        .body(handle.render())
}

/// Adds `GET /metrics` to the API's routes (when it is served there).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(scrape));
}

/// The app served on `JEKCMS_METRICS_BIND`: `GET /metrics` and nothing else (`404`, as an
/// envelope like the API's).
pub fn metrics_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .configure(configure)
        .default_service(web::to(|| async {
            crate::errors::envelope_error(&jekcms_envelope::ApiError::new(
                jekcms_envelope::ErrorCode::NotFound,
                "no route for this path on the metrics address",
            ))
        }))
}
