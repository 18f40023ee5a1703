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
        fetch: i64,
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
        fetch: i64,
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
