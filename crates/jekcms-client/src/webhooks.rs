//! `client.webhooks()`: the site's webhook endpoints, their test ping, delivery log and
//! redelivery (API.md §10). Owners only; other roles get `403 FORBIDDEN`.

use crate::client::Client;
use crate::error::Error;
use crate::list::fetch_page;
use crate::transport::Call;
use crate::types::Page;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

/// The list and create endpoint.
const PATH: &str = "/api/v2/webhooks";

impl Client {
    /// The webhook endpoints of the client's site.
    pub fn webhooks(&self) -> Webhooks {
        Webhooks {
            client: self.clone(),
        }
    }
}

/// A webhook endpoint as the server returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Webhook {
    /// Unique id.
    pub id: i64,
    /// Where deliveries are `POST`ed.
    pub url: String,
    /// The event types it receives, or `["*"]`.
    pub events: Vec<String>,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its last change.
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint, or a change to one: members left `None` are not sent (the server's
/// defaults on creation: every event, enabled).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookRequest {
    /// `https://` URL whose host resolves to public addresses only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Event types (`post.created`, …), or `["*"]` for all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Whether events are delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl WebhookRequest {
    /// An endpoint at `url` receiving every event.
    pub fn to(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// Only these event types.
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Self {
        self.events = Some(events.into_iter().map(Into::into).collect());
        self
    }

    /// Enabled or not.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every attempt failed.
    Failed,
}

/// One message to one endpoint, from the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// Unique id; the message's `webhook-id` header is `msg_<id>`.
    pub id: i64,
    /// The event delivered; `None` for a `ping`.
    pub event_id: Option<i64>,
    /// The event type, or `ping`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The HTTP status of the last attempt's answer.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// The webhook endpoints; made by [`Client::webhooks`].
///
/// ```no_run
/// use jekcms_client::{Client, WebhookRequest};
///
/// # async fn run(client: Client) -> Result<(), jekcms_client::Error> {
/// let hooks = client.webhooks();
/// let hook = hooks
///     .create(&WebhookRequest::to("https://example.com/hooks/jekcms").events(["post.published"]))
///     .await?;
/// let ping = hooks.test(hook.id).await?;
/// println!("ping queued as delivery {}", ping.id);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Webhooks {
    client: Client,
}

impl Webhooks {
    /// `GET /api/v2/webhooks`: one page in id order, after `cursor` (a page's
    /// `next_cursor`) when given.
    pub async fn list(&self, cursor: Option<&str>) -> Result<Page<Webhook>, Error> {
        let query = cursor
            .map(|c| ("cursor", c.to_owned()))
            .into_iter()
            .collect();
        fetch_page(&self.client, PATH, query).await
    }

    /// `POST /api/v2/webhooks`. Not retried after a lost response (it would create a
    /// second endpoint).
    pub async fn create(&self, request: &WebhookRequest) -> Result<Webhook, Error> {
        let call = Call::new(Method::POST, PATH).json(request);
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `GET /api/v2/webhooks/{id}`.
    pub async fn get(&self, id: i64) -> Result<Webhook, Error> {
        let call = Call::new(Method::GET, format!("{PATH}/{id}"));
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `PATCH /api/v2/webhooks/{id}` with the members given. Retried like a `GET`: setting
    /// the same values twice has the effect of setting them once.
    pub async fn update(&self, id: i64, change: &WebhookRequest) -> Result<Webhook, Error> {
        let call = Call::new(Method::PATCH, format!("{PATH}/{id}"))
            .json(change)
            .repeatable(true);
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `DELETE /api/v2/webhooks/{id}`, with its delivery log.
    pub async fn delete(&self, id: i64) -> Result<(), Error> {
        let call = Call::new(Method::DELETE, format!("{PATH}/{id}"));
        let _: serde_json::Value = self.client.inner.send(&call).await?.decode()?.data;
        Ok(())
    }

    /// `POST /api/v2/webhooks/{id}/test`: queues a `ping`; its outcome shows in the log.
    pub async fn test(&self, id: i64) -> Result<WebhookDelivery, Error> {
        let call = Call::new(Method::POST, format!("{PATH}/{id}/test"));
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `GET /api/v2/webhooks/{id}/deliveries`: one page of the log, newest first.
    pub async fn deliveries(
        &self,
        id: i64,
        cursor: Option<&str>,
    ) -> Result<Page<WebhookDelivery>, Error> {
        let query = cursor
            .map(|c| ("cursor", c.to_owned()))
            .into_iter()
            .collect();
        fetch_page(&self.client, &format!("{PATH}/{id}/deliveries"), query).await
    }

    /// `POST /api/v2/webhooks/{id}/deliveries/{delivery_id}/redeliver`: the same message
    /// again, freshly signed. Retried after a lost response (a second request only makes
    /// the delivery pending again).
    pub async fn redeliver(&self, id: i64, delivery_id: i64) -> Result<WebhookDelivery, Error> {
        let call = Call::new(
            Method::POST,
            format!("{PATH}/{id}/deliveries/{delivery_id}/redeliver"),
        )
        .repeatable(true);
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }
}
