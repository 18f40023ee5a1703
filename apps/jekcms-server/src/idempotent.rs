//! `Idempotency-Key` on the creating endpoints (`POST /api/v2/posts`,
//! `POST /api/v2/bulk/posts`): the HTTP side of `jekcms_content::idempotency`.
//!
//! A handler validates the request first (a malformed request is refused without touching
//! the key), then hands its work to [`respond`]. A success is stored as status plus the
//! envelope's `data` by the work's own transaction (the `Record` the work passes to the
//! store), so a committed create always replays and an uncommitted one is redone; a 4xx
//! about the body is stored after the work; `401`/`403`/`409`/`429` and 5xx are not stored.
//! Fresh and replayed responses render the same way; a replay carries
//! `Idempotent-Replayed: true` and the new request id.

use crate::context;
use crate::errors::AppError;
use crate::extract::Caller;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use jekcms_content::idempotency::{
    self, Begun, Fingerprint, IdempotencyKey, Record, StoredResponse,
};
use jekcms_envelope::{Envelope, Meta};
use serde_json::{Value, json};

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

impl Done {
    /// The part of the response a replay repeats.
    fn stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.status.as_u16(),
            body: json!({"data": self.data, "errors": []}),
        }
    }
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

/// Runs `work` once per key (or simply runs it when no key was sent) and renders what it
/// created with `render`. `work` passes the `Record` it is given to the store call that
/// creates, which stores the rendered response in its transaction. `body` is the request
/// body as received, for the fingerprint; `location` derives `Location` from a replayed
/// `data`.
pub async fn respond<T>(
    req: &HttpRequest,
    caller: &Caller,
    state: &AppState,
    body: &Value,
    location: fn(&Value) -> Option<String>,
    render: fn(&T) -> Result<Done, AppError>,
    work: impl AsyncFnOnce(Option<Record<'_, T>>) -> Result<T, AppError>,
) -> Result<HttpResponse, AppError> {
    let Some(key) = presented_key(req)? else {
        let created = work(None).await?;
        return render(&created).map(render_done);
    };
    let operation = format!("{} {}?{}", req.method(), req.path(), req.query_string());
    let fingerprint = Fingerprint::of(&operation, body);
    let scope = idempotency::Scope {
        site_id: caller.0.site_id,
        user_id: caller.0.user_id,
    };
    let lease = state.config.idempotency_lease;
    let claimed = match idempotency::begin(&state.store, scope, &key, fingerprint, lease).await? {
        Begun::Replayed(stored) => {
            crate::metrics::idempotency_replayed();
            return Ok(render_replay(&stored, location));
        }
        Begun::Claimed(claimed) => claimed,
    };
    let to_store = |created: &T| render(created).ok().map(|done| done.stored());
    let result = work(Some(claimed.record(&to_store)))
        .await
        .and_then(|created| render(&created));
    let outcome = match &result {
        Ok(done) => done.stored(),
        Err(e) => StoredResponse {
            status: e.0.http_status(),
            body: json!({"data": null, "errors": e.0.errors()}),
        },
    };
    if let Err(e) = idempotency::finish(&state.store, &claimed, &outcome).await {
        // The answer stands: the claim left behind is taken over when its lease ends.
        tracing::warn!(error = %e, "could not settle an Idempotency-Key claim");
    }
    result.map(render_done)
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

fn render_replay(stored: &StoredResponse, location: fn(&Value) -> Option<String>) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let data = stored.body.get("data").cloned().unwrap_or(Value::Null);
    let errors = stored.body.get("errors").cloned().unwrap_or(json!([]));
    let mut res = HttpResponse::build(status);
    res.insert_header((REPLAYED, HeaderValue::from_static("true")));
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
