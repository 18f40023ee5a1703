//! Webhook endpoints, their test ping, delivery log and redelivery (API.md §10): thin
//! handlers over `jekcms_webhooks::service`. Deliveries themselves are made by
//! [`crate::webhook_delivery`].

use crate::errors::AppError;
use crate::extract::{Caller, JsonBody};
use crate::paging::{ById, IdRow, list_request};
use crate::respond;
use crate::schemas::{ErrorBody, envelopes, lists};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use jekcms_content::page::Rows;
use jekcms_webhooks::model::{NewWebhook, WebhookPatch};
use jekcms_webhooks::{Delivery, Webhook, service};
use utoipa::ToSchema;

impl IdRow for Webhook {
    const COLLECTION: &'static [u8] = b"webhooks";
    fn id(&self) -> i64 {
        self.id
    }
}

impl IdRow for Delivery {
    const COLLECTION: &'static [u8] = b"webhook-deliveries";
    fn id(&self) -> i64 {
        self.id
    }
}

/// A webhook endpoint (documentation of `jekcms_webhooks::Webhook`).
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Webhook, examples(json!({
    "id": 3,
    "url": "https://example.com/hooks/jekcms",
    "events": ["post.published", "post.deleted"],
    "enabled": true,
    "created_at": "2026-12-04T10:00:00Z",
    "updated_at": "2026-12-04T10:00:00Z"
})))]
#[allow(dead_code)]
pub struct WebhookDoc {
    /// Unique id.
    id: i64,
    /// Where deliveries are `POST`ed.
    url: String,
    /// The event types it receives, or `["*"]` for all.
    events: Vec<String>,
    /// Whether events are delivered to it.
    enabled: bool,
    /// When it was created.
    #[schema(format = DateTime)]
    created_at: String,
    /// Its last change.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A delivery's state.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = DeliveryStatus)]
#[allow(dead_code)]
pub enum DeliveryStatusDoc {
    /// Not delivered yet; the next attempt is at `next_attempt_at`.
    Pending,
    /// A receiver answered 2xx.
    Succeeded,
    /// Every attempt failed (about a day of retries).
    Failed,
}

/// One message to one endpoint (documentation of `jekcms_webhooks::Delivery`).
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = WebhookDelivery, examples(json!({
    "id": 41,
    "event_id": 1207,
    "type": "post.published",
    "status": "pending",
    "attempts": 1,
    "last_status_code": 503,
    "last_error": "the receiver answered 503",
    "next_attempt_at": "2026-12-04T10:00:05Z",
    "created_at": "2026-12-04T10:00:00Z"
})))]
#[allow(dead_code)]
pub struct DeliveryDoc {
    /// Unique id; the message's `webhook-id` header is `msg_<id>`.
    id: i64,
    /// The event delivered; `null` for a `ping`.
    #[schema(nullable)]
    event_id: Option<i64>,
    /// The event type, or `ping`.
    #[serde(rename = "type")]
    event_type: String,
    /// `pending`, `succeeded` or `failed`.
    status: DeliveryStatusDoc,
    /// Attempts made.
    attempts: i32,
    /// The HTTP status of the last attempt's answer.
    #[schema(nullable)]
    last_status_code: Option<i32>,
    /// Why the last attempt failed.
    #[schema(nullable)]
    last_error: Option<String>,
    /// When the next attempt is due (pending deliveries).
    #[schema(format = DateTime)]
    next_attempt_at: String,
    /// When it was queued.
    #[schema(format = DateTime)]
    created_at: String,
}

/// `POST /webhooks` and `PATCH /webhooks/{id}` body.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"url": "https://example.com/hooks/jekcms", "events": ["post.published", "post.deleted"]})))]
#[allow(dead_code)]
pub struct WebhookBody {
    /// `https://` URL whose host resolves to public addresses only (required to create).
    #[schema(max_length = 2000, pattern = "^https?://")]
    url: Option<String>,
    /// Event types (`post.created`, `post.updated`, `post.published`, `post.unpublished`,
    /// `post.deleted`, `media.created`, `media.updated`, `media.deleted`,
    /// `site.keys_rotated`), or `["*"]` for all (the default).
    #[schema(nullable = false, min_items = 1)]
    events: Option<Vec<String>>,
    /// Whether events are delivered (default `true`).
    #[schema(nullable = false)]
    enabled: Option<bool>,
}

envelopes! {
    /// A success envelope around one webhook endpoint.
    WebhookEnvelope(WebhookDoc);
    /// A success envelope around one delivery.
    DeliveryEnvelope(DeliveryDoc);
    /// A success envelope around the outcome of deleting a webhook.
    WebhookDeletedEnvelope(super::posts::Deleted);
}

lists! {
    /// A success envelope around a page of webhook endpoints.
    WebhookList(WebhookDoc);
    /// A success envelope around a page of a webhook's delivery log.
    DeliveryList(DeliveryDoc);
}

/// Lists your site's webhook endpoints.
///
/// Owners only, in id order.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default 20"),
        ("cursor" = Option<String>, Query, description = "`meta.next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of endpoints", body = WebhookList),
        (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
        (status = 422, description = "A bad limit or cursor", body = ErrorBody),
    ))]
#[get("/api/v2/webhooks")]
pub async fn list_webhooks(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let list = list_request::<ById<Webhook>>(&req, &caller, &state.cursors)?;
    let (after, fetch) = (list.window.after_id(), list.window.fetch());
    let rows = service::list_webhooks(&state.store, &caller.actor(), after, fetch).await?;
    Ok(respond::no_store(respond::page_tagged(
        list.page(Rows::new(rows)),
    )))
}

/// Creates a webhook endpoint.
///
/// Owners only. The URL must be `https://` and its host must resolve to public addresses
/// only (checked again at every delivery).
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), request_body = WebhookBody, responses(
    (status = 201, description = "Created", body = WebhookEnvelope, headers(("Location" = String, description = "`/api/v2/webhooks/{id}`"))),
    (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
    (status = 422, description = "A refused URL, an unknown event type or an unknown field", body = ErrorBody),
))]
#[post("/api/v2/webhooks")]
pub async fn create_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let new = NewWebhook::parse(body.0).map_err(AppError::fields)?;
    let policy = state.config.webhook_policy();
    let webhook = service::create_webhook(&state.store, &caller.actor(), &policy, new).await?;
    Ok(respond::no_store(respond::created(
        format!("/api/v2/webhooks/{}", webhook.id),
        webhook,
    )))
}

/// Gets one webhook endpoint.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path, description = "Webhook id")), responses(
    (status = 200, description = "The endpoint", body = WebhookEnvelope),
    (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
    (status = 404, description = "No such webhook in your site", body = ErrorBody),
))]
#[get("/api/v2/webhooks/{id}")]
pub async fn get_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let webhook = service::get_webhook(&state.store, &caller.actor(), id.into_inner()).await?;
    Ok(respond::no_store(respond::ok(webhook)))
}

/// Changes a webhook endpoint.
///
/// Any of `url` (checked as at creation), `events` and `enabled`. Deliveries of a disabled
/// endpoint wait until it is enabled again.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), request_body = WebhookBody,
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The changed endpoint", body = WebhookEnvelope),
        (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
        (status = 404, description = "No such webhook in your site", body = ErrorBody),
        (status = 422, description = "A refused URL, an unknown event type or an unknown field", body = ErrorBody),
    ))]
#[patch("/api/v2/webhooks/{id}")]
pub async fn update_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let patch = WebhookPatch::parse(body.0).map_err(AppError::fields)?;
    let policy = state.config.webhook_policy();
    let webhook = service::update_webhook(
        &state.store,
        &caller.actor(),
        &policy,
        id.into_inner(),
        patch,
    )
    .await?;
    Ok(respond::no_store(respond::ok(webhook)))
}

/// Deletes a webhook endpoint and its delivery log.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path, description = "Webhook id")), responses(
    (status = 200, description = "Deleted", body = WebhookDeletedEnvelope),
    (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
    (status = 404, description = "No such webhook in your site", body = ErrorBody),
))]
#[delete("/api/v2/webhooks/{id}")]
pub async fn delete_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    service::delete_webhook(&state.store, &caller.actor(), id).await?;
    Ok(respond::ok(super::posts::Deleted { id, deleted: true }))
}

/// Sends a `ping` to a webhook endpoint.
///
/// Queues a `ping` delivery (sent even to a disabled endpoint) and answers at once with it;
/// its outcome appears in the delivery log.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path, description = "Webhook id")), responses(
    (status = 202, description = "The ping, queued", body = DeliveryEnvelope),
    (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
    (status = 404, description = "No such webhook in your site", body = ErrorBody),
))]
#[post("/api/v2/webhooks/{id}/test")]
pub async fn test_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let delivery = service::ping(&state.store, &caller.actor(), id.into_inner()).await?;
    state.webhook_wakeup.notify_one();
    Ok(respond::with_status(StatusCode::ACCEPTED, delivery))
}

/// Lists a webhook endpoint's deliveries.
///
/// Newest first, with each one's status and last attempt.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Webhook id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default 20"),
        ("cursor" = Option<String>, Query, description = "`meta.next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
        (status = 404, description = "No such webhook in your site", body = ErrorBody),
        (status = 422, description = "A bad limit or cursor", body = ErrorBody),
    ))]
#[get("/api/v2/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let list = list_request::<ById<Delivery>>(&req, &caller, &state.cursors)?;
    let (before, fetch) = (list.window.after_id(), list.window.fetch());
    let rows = service::list_deliveries(
        &state.store,
        &caller.actor(),
        id.into_inner(),
        before,
        fetch,
    )
    .await?;
    Ok(respond::no_store(respond::page_tagged(
        list.page(Rows::new(rows)),
    )))
}

/// Sends a delivery again.
///
/// The same message (same `webhook-id` and body) with a fresh timestamp and signature, and
/// a fresh retry schedule.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Webhook id"),
        ("delivery_id" = i64, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "The delivery, pending again", body = DeliveryEnvelope),
        (status = 403, description = "Only owners manage webhooks", body = ErrorBody),
        (status = 404, description = "No such delivery of this webhook in your site", body = ErrorBody),
    ))]
#[post("/api/v2/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (id, delivery_id) = path.into_inner();
    let delivery = service::redeliver(&state.store, &caller.actor(), id, delivery_id).await?;
    state.webhook_wakeup.notify_one();
    Ok(respond::with_status(StatusCode::ACCEPTED, delivery))
}
