//! The webhook delivery worker: one background task per instance ([`start`]) that turns
//! the events of recent writes into deliveries (a write leaves one `webhook_fanout` row when
//! its site has an enabled webhook: [`jekcms_store::Store::fan_out_webhook_events`]), claims
//! due deliveries from the database and attempts each as its own task, at most
//! `JEKCMS_WEBHOOK_CONCURRENCY` at once.
//!
//! Claims are short transactions; no database connection is held while a receiver is
//! waited for, and the worker never runs on a request's path, so a slow or hanging receiver
//! delays no API request. Several instances share the work through the claim
//! ([`jekcms_store::Store::claim_webhook_deliveries`]); an instance killed mid-attempt
//! leaves its claims to expire after `JEKCMS_WEBHOOK_LEASE`, and whatever was due when it
//! died is taken up when any instance (itself restarted) next polls.
//!
//! A delivery's body is made at its first attempt — the post or medium read as the API
//! returns it, or `{"id"}` once deleted — and kept with that attempt's outcome, so retries
//! and redeliveries send the same bytes under the same `webhook-id` (only an instance that
//! dies during a first attempt leaves the body to be made again, from the resource as it is
//! then; the `webhook-id` is the same either way); each attempt has a fresh timestamp and
//! signatures by every webhook secret of the site still valid. Neither secrets nor bodies
//! are logged.

use crate::state::AppState;
use chrono::{DateTime, Utc};
use jekcms_content::{ContentError, MediaRepository, PostRepository};
use jekcms_webhooks::message;
use jekcms_webhooks::model::DeliveryStatus;
use jekcms_webhooks::repo::{AttemptRecord, DueDelivery};
use jekcms_webhooks::sender::{Message, Outcome};
use jekcms_webhooks::signing::{SigningKeys, message_id};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How often an idle worker looks for due deliveries (events of writes on any instance).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How long a worker with few free slots waits for more before claiming.
const GATHER: Duration = Duration::from_millis(20);

/// Starts this instance's worker on the current runtime; `None` when
/// `JEKCMS_WEBHOOK_CONCURRENCY` is 0 (this instance delivers nothing).
pub fn start(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let slots = state.config.webhook_concurrency;
    (slots > 0).then(|| tokio::spawn(run(state, slots)))
}

async fn run(state: AppState, slots: usize) {
    // With few slots free, wait a moment for half of them to be: one claim transaction per
    // batch rather than one per finished attempt.
    let batch = u32::try_from(slots.div_ceil(2)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(slots));
    loop {
        // Every turn, even with every slot busy on slow receivers: the delivery log shows a
        // write's deliveries soon after it, whenever they can be attempted.
        fan_out(&state, jekcms_auth::now()).await;
        let mut free = slots.available_permits();
        if free < batch as usize {
            if let Ok(Ok(permits)) = tokio::time::timeout(GATHER, slots.acquire_many(batch)).await {
                drop(permits);
            }
            free = slots.available_permits();
            if free == 0 {
                drop(slots.acquire().await);
                continue;
            }
        }
        let now = jekcms_auth::now();
        let claimed = match claim(&state, now, free).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim webhook deliveries");
                Vec::new()
            }
        };
        let full = claimed.len() == free;
        let mut keys = SiteKeys::default();
        for due in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let site_keys = keys.of(&state, due.site_id, now).await;
            let state = state.clone();
            tokio::spawn(async move {
                attempt(&state, due, site_keys, now).await;
                drop(permit);
            });
        }
        if !full {
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = state.webhook_wakeup.notified() => {}
            }
        }
    }
}

/// Turns the events of writes since the last turn into pending deliveries (a failure is
/// logged and retried at the next turn; deliveries already due still go out).
async fn fan_out(state: &AppState, now: DateTime<Utc>) {
    if let Err(e) = state.store.fan_out_webhook_events(now).await {
        tracing::warn!(error = %e, "cannot fan webhook events out into deliveries");
    }
}

async fn claim(
    state: &AppState,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DueDelivery>, jekcms_store::StoreError> {
    let lease = chrono::Duration::from_std(state.config.webhook_lease)
        .unwrap_or(chrono::Duration::seconds(30));
    state
        .store
        .claim_webhook_deliveries(now, now + lease, u32::try_from(limit).unwrap_or(u32::MAX))
        .await
}

/// Fans out the events written since the last round, then claims up to `limit` deliveries
/// due at `now` and attempts them all at once, returning
/// when every outcome is recorded: how many were attempted. What the worker does in one
/// round, for tests and tools that drive time themselves.
pub async fn deliver_due(
    state: &AppState,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, jekcms_store::StoreError> {
    state.store.fan_out_webhook_events(now).await?;
    let claimed = claim(state, now, limit).await?;
    let count = claimed.len();
    let mut keys = SiteKeys::default();
    let mut attempts = Vec::with_capacity(count);
    for due in claimed {
        let site_keys = keys.of(state, due.site_id, now).await;
        let state = state.clone();
        attempts.push(tokio::spawn(async move {
            attempt(&state, due, site_keys, now).await;
        }));
    }
    for handle in attempts {
        let _ = handle.await;
    }
    Ok(count)
}

/// The signing keys of each site of one claimed batch, read once per site per batch: a
/// rotation takes effect from the next batch.
#[derive(Default)]
struct SiteKeys(std::collections::HashMap<i64, Option<Arc<SigningKeys>>>);

impl SiteKeys {
    /// `None` when they cannot be read now (the attempt is left to the claim's expiry).
    async fn of(
        &mut self,
        state: &AppState,
        site_id: i64,
        now: DateTime<Utc>,
    ) -> Option<Arc<SigningKeys>> {
        if let Some(keys) = self.0.get(&site_id) {
            return keys.clone();
        }
        let keys = match signing_keys(state, site_id, now).await {
            Ok(keys) => Some(Arc::new(keys)),
            Err(e) => {
                tracing::warn!(site = site_id, error = %e, "cannot read the site's webhook secrets");
                None
            }
        };
        self.0.insert(site_id, keys.clone());
        keys
    }
}

/// One attempt at `due` signed with `keys`, its outcome recorded; `now` is the claim's time
/// (the retry is scheduled from it).
async fn attempt(
    state: &AppState,
    due: DueDelivery,
    keys: Option<Arc<SigningKeys>>,
    now: DateTime<Utc>,
) {
    let payload = match &due.payload {
        Some(body) => body.clone(),
        None => match data(state, &due).await {
            Ok(data) => message::body(&due.event_type, due.occurred_at, &data),
            Err(e) => {
                // The claim's lease runs out and the attempt is made again then.
                tracing::warn!(delivery = due.id, error = %e, "cannot read a webhook event's subject");
                return;
            }
        },
    };
    let outcome = match keys {
        // The claim's lease runs out and the attempt is made again then.
        None => return,
        Some(keys) if keys.is_empty() => Outcome::NoAnswer(
            "the site has no webhook secret yet: rotate its keys (POST /api/v2/sites/{id}/rotate-keys)"
                .into(),
        ),
        Some(keys) => {
            let id = message_id(due.id);
            let timestamp = Utc::now().timestamp();
            let signature = keys.sign(&id, timestamp, payload.as_bytes());
            let message = Message {
                id: &id,
                timestamp,
                signature: &signature,
                body: &payload,
            };
            state.webhook_sender.send(&due.url, &message).await
        }
    };
    let attempts = due.attempts.saturating_add(1);
    let (status, next_attempt_at) = if outcome.succeeded() {
        (DeliveryStatus::Succeeded, now)
    } else {
        match jekcms_webhooks::retry::next_delay_jittered(attempts)
            .and_then(|d| chrono::Duration::from_std(d).ok())
        {
            Some(delay) => (DeliveryStatus::Pending, now + delay),
            None => (DeliveryStatus::Failed, now),
        }
    };
    let (status_code, error, response) = match outcome {
        Outcome::Answered {
            status: code,
            response,
        } => {
            let error =
                (!(200..300).contains(&code)).then(|| format!("the receiver answered {code}"));
            (Some(i32::from(code)), error, Some(response))
        }
        Outcome::NoAnswer(why) => (None, Some(why), None),
    };
    // A success at debug (there may be thousands a second), a failure at info; never the
    // body or a secret.
    if status == DeliveryStatus::Succeeded {
        tracing::debug!(delivery = due.id, webhook = due.webhook_id, event = %due.event_type, attempt = attempts, "webhook delivered");
    } else {
        tracing::info!(
            delivery = due.id,
            webhook = due.webhook_id,
            event = %due.event_type,
            attempt = attempts,
            status = status.as_str(),
            status_code,
            error = error.as_deref().unwrap_or_default(),
            "webhook delivery failed"
        );
    }
    let record = AttemptRecord {
        payload,
        attempts,
        status,
        status_code,
        error,
        response,
        next_attempt_at,
    };
    match state
        .store
        .record_webhook_attempt(due.id, record, Utc::now())
        .await
    {
        Ok(()) => crate::metrics::webhook_attempt(status, status_code),
        Err(e) => {
            tracing::warn!(delivery = due.id, error = %e, "cannot record a webhook attempt");
        }
    }
}

/// The `data` of a message: the subject as the API returns it, `{"id"}` when it is gone.
async fn data(state: &AppState, due: &DueDelivery) -> Result<Value, ContentError> {
    let Some((kind, id)) = &due.subject else {
        return Ok(json!({"webhook_id": due.webhook_id}));
    };
    let gone = json!({"id": id});
    if message::is_deletion(&due.event_type) {
        return Ok(gone);
    }
    let found = match kind.as_str() {
        "post" => state
            .store
            .get_post(due.site_id, *id)
            .await
            .map(|p| json!(p)),
        "media" => state
            .store
            .get_media(due.site_id, *id)
            .await
            .map(|m| json!(m)),
        _ => return Ok(gone),
    };
    match found {
        Err(ContentError::NotFound) => Ok(gone),
        other => other,
    }
}

/// The site's valid webhook secrets as signing keys (a secret that cannot be opened or
/// read is skipped and logged, never printed).
async fn signing_keys(
    state: &AppState,
    site_id: i64,
    now: DateTime<Utc>,
) -> Result<SigningKeys, jekcms_store::StoreError> {
    let sealed = state.store.webhook_secrets(site_id, now).await?;
    let purpose = jekcms_content::pull::webhook_secret_purpose(site_id);
    let secrets: Vec<String> = sealed
        .iter()
        .filter_map(|s| {
            let opened = state
                .secrets
                .open(s, purpose.as_bytes())
                .and_then(|plain| String::from_utf8(plain).ok());
            if opened.is_none() {
                tracing::error!(
                    site = site_id,
                    "a webhook secret cannot be opened with this deployment's key"
                );
            }
            opened
        })
        .collect();
    Ok(SigningKeys::from_secrets(&secrets).unwrap_or_else(|e| {
        tracing::error!(site = site_id, error = %e, "a stored webhook secret is malformed");
        SigningKeys::default()
    }))
}
