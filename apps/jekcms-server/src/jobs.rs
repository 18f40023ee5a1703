//! Background jobs every instance runs beside the server: the announcement of scheduled
//! posts whose time has come (`post.published`), and the activity log's retention.
//!
//! Both are safe to run on every instance at once: the store claims what each run takes
//! (a scheduled post is announced once, whichever instance gets it), and deleting old events
//! twice deletes nothing more. A failed run is logged and tried again on the next tick.

use jekcms_store::Store;
use std::time::Duration;

/// How often due scheduled posts are looked for: a `post.published` event follows a
/// post's time by at most this much (one indexed query finding nothing, most ticks).
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);
/// How often events past the retention period are deleted.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

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
pub fn spawn(store: Store, retention: Duration) {
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
