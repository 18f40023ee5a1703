//! Webhook operations with their checks: owners only (`ManageSite`), URLs through the
//! [`TargetPolicy`], everything confined to the caller's site.

use crate::WebhookError;
use crate::model::{Delivery, NewWebhook, Webhook, WebhookPatch};
use crate::repo::{StoredWebhook, WebhookRepository};
use crate::target::TargetPolicy;
use jekcms_auth::policy::{Action, Actor};

fn may_manage(actor: &Actor) -> Result<(), WebhookError> {
    actor.require(Action::ManageSite, false)?;
    Ok(())
}

async fn checked_url(policy: &TargetPolicy, url: &str) -> Result<String, WebhookError> {
    policy
        .check(url)
        .await
        .map(|u| u.to_string())
        .map_err(|refused| WebhookError::field("url", refused.0))
}

/// Creates an endpoint after checking its URL (its host resolved, every address allowed).
pub async fn create_webhook<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    policy: &TargetPolicy,
    new: NewWebhook,
) -> Result<Webhook, WebhookError> {
    may_manage(actor)?;
    let url = checked_url(policy, &new.url).await?;
    let stored = StoredWebhook {
        url,
        events: new.events.stored(),
        enabled: new.enabled,
    };
    repo.create_webhook(actor.site_id, stored, jekcms_auth::now())
        .await
}

/// A page of the site's endpoints.
pub async fn list_webhooks<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    after_id: Option<i64>,
    fetch: u32,
) -> Result<Vec<Webhook>, WebhookError> {
    may_manage(actor)?;
    repo.list_webhooks(actor.site_id, after_id, fetch).await
}

/// One endpoint.
pub async fn get_webhook<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    id: i64,
) -> Result<Webhook, WebhookError> {
    may_manage(actor)?;
    repo.get_webhook(actor.site_id, id).await
}

/// Changes an endpoint; a new URL is checked as at creation.
pub async fn update_webhook<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    policy: &TargetPolicy,
    id: i64,
    patch: WebhookPatch,
) -> Result<Webhook, WebhookError> {
    may_manage(actor)?;
    let current = repo.get_webhook(actor.site_id, id).await?;
    let url = match patch.url {
        Some(url) => checked_url(policy, &url).await?,
        None => current.url,
    };
    let events = match patch.events {
        Some(selection) => selection.stored(),
        // `["*"]` joins to `*`: the stored form either way.
        None => current.events.join(","),
    };
    let stored = StoredWebhook {
        url,
        events,
        enabled: patch.enabled.unwrap_or(current.enabled),
    };
    repo.update_webhook(actor.site_id, id, stored, jekcms_auth::now())
        .await
}

/// Deletes an endpoint with its delivery log.
pub async fn delete_webhook<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    id: i64,
) -> Result<(), WebhookError> {
    may_manage(actor)?;
    repo.delete_webhook(actor.site_id, id).await
}

/// Queues a `ping` to an endpoint (enabled or not: it is a test of the URL).
pub async fn ping<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    id: i64,
) -> Result<Delivery, WebhookError> {
    may_manage(actor)?;
    repo.queue_ping(actor.site_id, id, jekcms_auth::now()).await
}

/// A page of an endpoint's delivery log, newest first.
pub async fn list_deliveries<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    webhook_id: i64,
    before_id: Option<i64>,
    fetch: u32,
) -> Result<Vec<Delivery>, WebhookError> {
    may_manage(actor)?;
    // A missing endpoint is 404, not an empty log.
    repo.get_webhook(actor.site_id, webhook_id).await?;
    repo.list_deliveries(actor.site_id, webhook_id, before_id, fetch)
        .await
}

/// Sends a delivery again: the same message, with a fresh timestamp and signature.
pub async fn redeliver<R: WebhookRepository>(
    repo: &R,
    actor: &Actor,
    webhook_id: i64,
    delivery_id: i64,
) -> Result<Delivery, WebhookError> {
    may_manage(actor)?;
    repo.redeliver(actor.site_id, webhook_id, delivery_id, jekcms_auth::now())
        .await
}
