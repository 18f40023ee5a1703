//! Background jobs every instance runs beside the server: the announcement of scheduled
//! posts whose time has come (`post.published`), the activity log's retention, and the
//! orphan media sweeper.
//!
//! All are safe to run on every instance at once: the store claims what each run takes
//! (a scheduled post is announced once, whichever instance gets it), and deleting old events
//! or an orphan object twice deletes nothing more. A failed run is logged and tried again on
//! the next tick.

use jekcms_media_store::MediaStore;
use jekcms_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// How often due scheduled posts are looked for: a `post.published` event follows a
/// post's time by at most this much (one indexed query finding nothing, most ticks).
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);
/// How often events past the retention period are deleted.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How often the media store is reconciled with the records.
pub const SWEEP_EVERY: Duration = Duration::from_secs(15 * 60);
/// How old an object must be before the sweeper may remove it for having no record. An
/// upload's object is complete a moment before its row is inserted (and a local upload's
/// `.part` file is rewritten with every chunk), so only a crash leaves one this old unnamed.
pub const ORPHAN_AGE: Duration = Duration::from_secs(60 * 60);
/// Storage keys looked up in the database at once.
const SWEEP_BATCH: usize = 500;

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The database could not say which objects are in use.
    #[error("the database: {0}")]
    Store(#[from] jekcms_store::StoreError),
    /// The media store could not be listed.
    #[error("the media store: {0}")]
    Media(#[from] jekcms_media_store::Error),
}

/// Removes the objects of `media` older than `older_than` that no medium's record names
/// (what a crash between writing an object and inserting its row, or between deleting a row
/// and its object, leaves behind). Returns how many were removed; an object that cannot be
/// removed is logged and left for the next sweep.
pub async fn sweep_orphan_media(
    store: &Store,
    media: &dyn MediaStore,
    older_than: Duration,
) -> Result<usize, SweepError> {
    use futures_util::StreamExt;
    let now = chrono::Utc::now();
    let older_than = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let mut listed = media.list().chunks(SWEEP_BATCH);
    let mut removed = 0;
    while let Some(batch) = listed.next().await {
        let old: Vec<String> = batch
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|o| now.signed_duration_since(o.last_modified) >= older_than)
            .map(|o| o.key)
            .collect();
        if old.is_empty() {
            continue;
        }
        let in_use = store.storage_keys_in_use(old.clone()).await?;
        for key in old.into_iter().filter(|k| !in_use.contains(k)) {
            match media.delete(&key).await {
                Ok(()) => {
                    tracing::info!(storage_key = %key, "removed an orphan media object");
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, storage_key = %key, "could not remove an orphan media object")
                }
            }
        }
    }
    Ok(removed)
}

/// Announces every post whose publication time has come, batch after batch; returns how
/// many.
pub async fn announce_due_publications(store: &Store) -> Result<usize, jekcms_store::StoreError> {
    let mut total = 0;
    loop {
        let n = store
            .announce_due_publications(jekcms_content::now())
            .await?;
        total += n;
        if n < jekcms_store::ANNOUNCE_BATCH {
            return Ok(total);
        }
    }
}

/// Starts the jobs on the current tokio runtime.
pub fn spawn(store: Store, retention: Duration, media: Arc<dyn MediaStore>) {
    let sweeper = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep_orphan_media(&sweeper, &*media, ORPHAN_AGE).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(objects = n, "orphan media removed"),
                Err(e) => tracing::warn!(error = %e, "sweeping orphan media failed"),
            }
        }
    });
    let scheduler = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ANNOUNCE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match announce_due_publications(&scheduler).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(posts = n, "scheduled posts announced"),
                Err(e) => tracing::warn!(error = %e, "announcing scheduled posts failed"),
            }
        }
    });
    // At most 36,500 days (config.rs), which chrono holds.
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Nothing is that old when the cut-off is before the calendar's start.
            let Some(before) = jekcms_content::now().checked_sub_signed(retention) else {
                continue;
            };
            match store.prune_activity(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "old activity deleted"),
                Err(e) => tracing::warn!(error = %e, "deleting old activity failed"),
            }
        }
    });
}
