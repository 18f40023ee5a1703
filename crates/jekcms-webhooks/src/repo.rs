//! What a store must provide for webhooks. Every method takes the caller's `site_id` and
//! never touches another site's rows (another site's id is `NotFound`).

use crate::WebhookError;
use crate::model::{Delivery, Webhook};
use chrono::{DateTime, Utc};
use std::future::Future;

/// An endpoint's stored values (URL checked, selection in its stored form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWebhook {
    /// The URL.
    pub url: String,
    /// `*` or the comma-joined types.
    pub events: String,
    /// Whether it receives events.
    pub enabled: bool,
}

/// Storage of endpoints and deliveries.
pub trait WebhookRepository: Send + Sync {
    /// Creates an endpoint.
    fn create_webhook(
        &self,
        site_id: i64,
        webhook: StoredWebhook,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Webhook, WebhookError>> + Send;

    /// The site's endpoints in id order after `after_id`: at most `fetch`.
    fn list_webhooks(
        &self,
        site_id: i64,
        after_id: Option<i64>,
        fetch: u32,
    ) -> impl Future<Output = Result<Vec<Webhook>, WebhookError>> + Send;

    /// One endpoint.
    fn get_webhook(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<Webhook, WebhookError>> + Send;

    /// Replaces an endpoint's values.
    fn update_webhook(
        &self,
        site_id: i64,
        id: i64,
        webhook: StoredWebhook,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Webhook, WebhookError>> + Send;

    /// Deletes an endpoint and its deliveries.
    fn delete_webhook(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<(), WebhookError>> + Send;

    /// Queues a `ping` delivery to an endpoint, due now.
    fn queue_ping(
        &self,
        site_id: i64,
        webhook_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Delivery, WebhookError>> + Send;

    /// An endpoint's deliveries, newest first, with ids below `before_id`: at most `fetch`.
    fn list_deliveries(
        &self,
        site_id: i64,
        webhook_id: i64,
        before_id: Option<i64>,
        fetch: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, WebhookError>> + Send;

    /// Makes a delivery of the endpoint pending again, due now, with a fresh retry
    /// schedule; its message (id and body) stays the same.
    fn redeliver(
        &self,
        site_id: i64,
        webhook_id: i64,
        delivery_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Delivery, WebhookError>> + Send;
}

/// A delivery claimed by a worker, with what its attempt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery (its `webhook-id` is `msg_<id>`).
    pub id: i64,
    /// Its site.
    pub site_id: i64,
    /// Its endpoint.
    pub webhook_id: i64,
    /// The event type, or `ping`.
    pub event_type: String,
    /// The body fixed at the first attempt; `None` before it.
    pub payload: Option<String>,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The endpoint's URL now.
    pub url: String,
    /// The event's subject (`post`, `media` or `site`, and its id); `None` for a ping.
    pub subject: Option<(String, i64)>,
    /// When the event happened (a ping: when it was queued).
    pub occurred_at: DateTime<Utc>,
}

/// What an attempt came to, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The body sent (kept from the first attempt on).
    pub payload: String,
    /// Attempts made, this one included.
    pub attempts: i32,
    /// `succeeded`, `failed` (no attempt left) or `pending` (another is due at
    /// `next_attempt_at`).
    pub status: crate::model::DeliveryStatus,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// At most 1 KB of the receiver's answer.
    pub response: Option<String>,
    /// When the next attempt is due (unchanged meaning once finished).
    pub next_attempt_at: DateTime<Utc>,
}
