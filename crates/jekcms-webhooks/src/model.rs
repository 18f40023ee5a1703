//! Endpoints and deliveries as the API shows them, and the request bodies that make and
//! change endpoints.

use crate::events::EventSelection;
use chrono::{DateTime, Utc};
use jekcms_envelope::FieldError;
use jekcms_envelope::fields::Fields;
use serde::Serialize;
use serde_json::Value;

/// A webhook endpoint of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; the next attempt is at `next_attempt_at`.
    Pending,
    /// A receiver answered 2xx.
    Succeeded,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Reads the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// One message to one endpoint, with its attempts so far (the delivery log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Unique id; the message's `webhook-id` is `msg_<id>`.
    pub id: i64,
    /// The event delivered; `null` for a `ping`.
    pub event_id: Option<i64>,
    /// The event type (`post.created`, …, or `ping`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// The HTTP status of the last attempt's answer, if any.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the next attempt is due (for a pending delivery).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// A new endpoint, as read from `POST /webhooks` (URL form checked, not yet resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// The URL.
    pub url: String,
    /// The selection (default `["*"]`).
    pub events: EventSelection,
    /// Default `true`.
    pub enabled: bool,
}

/// A change to an endpoint, as read from `PATCH /webhooks/{id}`: each member absent is
/// left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new selection.
    pub events: Option<EventSelection>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

const FIELDS: &[&str] = &["url", "events", "enabled"];

fn read_events(fields: &mut Fields) -> Option<EventSelection> {
    let value = fields.take("events")?;
    match EventSelection::from_json(&value) {
        Ok(selection) => Some(selection),
        Err(message) => {
            fields.fail("events", message);
            None
        }
    }
}

fn read_enabled(fields: &mut Fields) -> Option<bool> {
    match fields.take("enabled")? {
        Value::Bool(b) => Some(b),
        _ => {
            fields.fail("enabled", "enabled must be true or false");
            None
        }
    }
}

impl NewWebhook {
    /// Reads a create body: `url` required, `events` (default `["*"]`), `enabled`
    /// (default `true`); unknown members are errors.
    pub fn parse(body: Value) -> Result<Self, Vec<FieldError>> {
        let mut fields = Fields::new(body, FIELDS)?;
        let url = fields.string("url", true);
        let events = read_events(&mut fields);
        let enabled = read_enabled(&mut fields);
        let parsed = Self {
            url: url.unwrap_or_default(),
            events: events.unwrap_or(EventSelection::All),
            enabled: enabled.unwrap_or(true),
        };
        fields.finish(parsed)
    }
}

impl WebhookPatch {
    /// Reads a patch body: any of `url`, `events`, `enabled`; `null` is not a value.
    pub fn parse(body: Value) -> Result<Self, Vec<FieldError>> {
        let mut fields = Fields::new(body, FIELDS)?;
        let url = fields.string("url", false);
        let events = read_events(&mut fields);
        let enabled = read_enabled(&mut fields);
        fields.finish(Self {
            url,
            events,
            enabled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_read_with_defaults_and_every_fault_named() {
        let new = NewWebhook::parse(json!({"url": "https://example.com/h"})).unwrap();
        assert_eq!((new.events, new.enabled), (EventSelection::All, true));
        let errors =
            NewWebhook::parse(json!({"events": ["nope"], "enabled": 1, "x": 2})).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["x", "url", "events", "enabled"]);
        let patch = WebhookPatch::parse(json!({"enabled": false})).unwrap();
        assert_eq!(
            patch,
            WebhookPatch {
                enabled: Some(false),
                ..WebhookPatch::default()
            }
        );
        assert!(WebhookPatch::parse(json!({"url": null})).is_err());
    }
}
