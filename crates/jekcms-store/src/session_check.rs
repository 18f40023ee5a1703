//! The session check of an authenticated read, pipelined with the read's first query on
//! PostgreSQL: one round trip instead of two.
//!
//! The access token names the session and the site, so the page query need not wait for the
//! check. [`Store::read_checked`] runs a read with a pending check in a task-local slot; a
//! read that supports it ([`pipelined`]: the post list and a post by id) sends the check and
//! its own first query together on one connection, the check first. PostgreSQL runs them in
//! that order, so the check's content version is never newer than the rows (list `ETag`s rely
//! on it). Any other read leaves the check pending and it runs on its own afterwards. Either
//! way the caller gets the check's outcome beside the read's and must discard the read unless
//! the check accepts the session: a revoked session is refused on the very next request.

use crate::sessions::{PrincipalRow, principal_of, principal_rows_pg};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use jekcms_auth::Principal;
use jekcms_auth::session::{SessionStore, StoreFailure};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A check waiting for a read to carry it, then its outcome.
enum Slot {
    Pending { session_id: i64 },
    Done(QueryResult<Vec<PrincipalRow>>),
    Taken,
}

tokio::task_local! {
    static CHECK: Arc<Mutex<Slot>>;
}

/// The pending check of this task, if a read is running under [`Store::read_checked`] and
/// no query has carried the check yet; taking it marks it taken.
fn take_pending() -> Option<(Arc<Mutex<Slot>>, i64)> {
    let slot = CHECK.try_with(Arc::clone).ok()?;
    let session_id = {
        let mut state = slot.lock().unwrap_or_else(|e| e.into_inner());
        match *state {
            Slot::Pending { session_id } => {
                *state = Slot::Taken;
                session_id
            }
            _ => return None,
        }
    };
    Some((slot, session_id))
}

/// Runs `first`, a read's first query on `conn`, with this task's pending session check (if
/// any) sent before it on the same connection. The check's statement is prepared when the
/// connection opens (`prepare_session_check`), so its execution is queued whole on its first
/// poll, ahead of `first`.
pub(crate) async fn pipelined<'c, T>(
    conn: &'c AsyncPgConnection,
    first: impl Future<Output = QueryResult<T>> + Send + 'c,
) -> QueryResult<T> {
    let Some((slot, session_id)) = take_pending() else {
        return first.await;
    };
    // `join` polls the check first: its request is on the wire before the read's.
    let (check, out) = futures_util::future::join(principal_rows_pg(conn, session_id), first).await;
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Slot::Done(check);
    out
}

impl Store {
    /// Runs `read` and checks session `session_id` at `now`, on PostgreSQL in one round trip
    /// when the read supports it (see the module documentation). Returns the session's
    /// principal (`None`: gone, revoked, expired, or its key revoked or expired) and the
    /// read's output, which the caller must discard unless it accepts the principal.
    pub async fn read_checked<T>(
        &self,
        session_id: i64,
        now: DateTime<Utc>,
        read: impl Future<Output = T>,
    ) -> Result<(Option<Principal>, T), StoreFailure> {
        let slot = Arc::new(Mutex::new(Slot::Pending { session_id }));
        let out = CHECK.scope(Arc::clone(&slot), read).await;
        let state = std::mem::replace(
            &mut *slot.lock().unwrap_or_else(|e| e.into_inner()),
            Slot::Taken,
        );
        let principal = match state {
            Slot::Done(rows) => principal_of(rows.map_err(StoreError::from)?, now)?,
            // Not carried (another read, SQLite, or the read failed before its query).
            Slot::Pending { .. } | Slot::Taken => self.principal(session_id, now).await?,
        };
        Ok((principal, out))
    }
}
