//! `Idempotency-Key` on the creating endpoints (`POST /api/v2/posts`,
//! `POST /api/v2/bulk/posts`): the HTTP side of `jekcms_content::idempotency`.
//!
//! A handler validates the request first (a malformed request is refused without touching
//! the key), then hands its work to [`respond`]. The work's outcome, success or 4xx, is
//! stored as status plus the envelope's `data` and `errors`, and rendered the same way fresh
//! or replayed; a replay carries `Idempotent-Replayed: true` and the new request id.

use crate::context;
use crate::errors::AppError;
use crate::extract::Caller;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use jekcms_content::idempotency::{self, Fingerprint, IdempotencyKey, Outcome, StoredResponse};
use jekcms_envelope::{Envelope, Meta};
use serde_json::{Value, json};
use std::future::Future;

/// Set on a response that replays an earlier one.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What a creating handler's work produced.
#[derive(Debug)]
pub struct Done {
    /// 2xx status.
    pub status: StatusCode,
    /// `data`.
    pub data: Value,
    /// `Location` of the created resource, if one.
    pub location: Option<String>,
    /// `ETag` of the created resource (fresh responses only: a replay may be stale).
    pub etag: Option<String>,
}

/// The presented key, if any; a bad one is `422` on `Idempotency-Key`.
fn presented_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>, AppError> {
    let Some(value) = req.headers().get(idempotency::HEADER) else {
        return Ok(None);
    };
    let raw = value.to_str().map_err(|_| {
        AppError::validation(
            idempotency::HEADER,
            "Idempotency-Key must be printable ASCII",
        )
    })?;
    IdempotencyKey::parse(raw)
        .map(Some)
        .map_err(|e| AppError::fields(vec![e]))
}

/// Checks the `Idempotency-Key` header before any work (so a bad key is refused first).
pub fn check_key(req: &HttpRequest) -> Result<(), AppError> {
    presented_key(req).map(|_| ())
}

/// Runs `work` once per key (or simply runs it when no key was sent) and renders the
/// outcome. `body` is the request body as received, for the fingerprint; `location`
/// derives `Location` from a replayed `data`.
pub async fn respond<F, Fut>(
    req: &HttpRequest,
    caller: &Caller,
    state: &AppState,
    body: &Value,
    location: fn(&Value) -> Option<String>,
    work: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Done, AppError>>,
{
    let Some(key) = presented_key(req)? else {
        return work().await.map(render_done);
    };
    let operation = format!("{} {}?{}", req.method(), req.path(), req.query_string());
    let fingerprint = Fingerprint::of(&operation, body);
    let scope = idempotency::Scope {
        site_id: caller.0.site_id,
        user_id: caller.0.user_id,
    };
    let mut fresh: Option<Done> = None;
    let outcome = idempotency::run(&state.store, scope, &key, fingerprint, || async {
        match work().await {
            Ok(done) => {
                let stored = StoredResponse {
                    status: done.status.as_u16(),
                    body: json!({"data": done.data, "errors": []}),
                };
                fresh = Some(done);
                stored
            }
            Err(e) => StoredResponse {
                status: e.0.http_status(),
                body: json!({"data": null, "errors": e.0.errors()}),
            },
        }
    })
    .await?;
    Ok(match (outcome, fresh) {
        (Outcome::Fresh(_), Some(done)) => render_done(done),
        (Outcome::Fresh(stored), None) => render_stored(&stored, location, false),
        (Outcome::Replayed(stored), _) => render_stored(&stored, location, true),
    })
}

fn render_done(done: Done) -> HttpResponse {
    let mut res = HttpResponse::build(done.status);
    if let Some(l) = done.location {
        res.insert_header((header::LOCATION, l));
    }
    if let Some(tag) = done.etag
        && let Ok(v) = HeaderValue::from_str(&tag)
    {
        res.insert_header((header::ETAG, v));
    }
    res.json(Envelope::ok(done.data, Meta::new(context::request_id())))
}

fn render_stored(
    stored: &StoredResponse,
    location: fn(&Value) -> Option<String>,
    replayed: bool,
) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let data = stored.body.get("data").cloned().unwrap_or(Value::Null);
    let errors = stored.body.get("errors").cloned().unwrap_or(json!([]));
    let mut res = HttpResponse::build(status);
    if replayed {
        res.insert_header((REPLAYED, HeaderValue::from_static("true")));
    }
    if status == StatusCode::CREATED
        && let Some(l) = location(&data)
    {
        res.insert_header((header::LOCATION, l));
    }
    res.json(json!({
        "success": status.is_success(),
        "data": data,
        "meta": Meta::new(context::request_id()),
        "errors": errors,
    }))
}
