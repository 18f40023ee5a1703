//! The credential check of an authenticated read, pipelined with the read's first query on
//! PostgreSQL: one round trip instead of two.
//!
//! The access token names the session and the site, so the page query need not wait for the
//! check; a pull key or an `mcp_` token seen before names its site as well.
//! [`Store::read_checked`] (a session), [`Store::read_pull_checked`] (a pull key) and
//! [`Store::read_key_checked`] (an `mcp_` token) run a read with a pending check in
//! a task-local slot; a read that supports it ([`pipelined`]: the post lists and a post by
//! id) sends the check and its own first query together on one connection, the check
//! first. PostgreSQL runs them in that order, so the check's content version is never newer
//! than the rows (list `ETag`s and the pull cache rely on it). Any other read leaves the
//! check pending and it runs on its own afterwards. Either way the caller gets the check's
//! outcome beside the read's and must discard the read unless the check accepts the
//! credential: a revoked session or a rotated-out key is refused on the very next request.

use crate::delivery::{PullSiteQuery, PullSiteRow, pull_site_of, pull_site_row_pg};
use crate::sessions::{
    KeyBySecretRow, PrincipalRow, key_by_secret_of, key_by_secret_row_pg, principal_of,
    principal_rows_pg,
};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use jekcms_auth::session::{KeyHolder, SessionStore, StoreFailure, StoredKey};
use jekcms_auth::{Principal, SecretHash};
use jekcms_content::ContentError;
use jekcms_content::pull::{PullRepository, PullSite};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A check that a read may carry.
enum Check {
    /// The session of an access token.
    Session(i64),
    /// A pull key (`pull_keys.key_hash`) at a time.
    PullKey(PullSiteQuery),
    /// A key by its secret's hash (`api_keys.secret_hash`): an `mcp_` token.
    Key(Vec<u8>),
}

/// A carried check's rows.
enum Outcome {
    Session(QueryResult<Vec<PrincipalRow>>),
    PullKey(QueryResult<Option<PullSiteRow>>),
    Key(QueryResult<Option<KeyBySecretRow>>),
}

/// A check waiting for a read to carry it, then its outcome.
enum Slot {
    Pending(Check),
    Done(Outcome),
    Taken,
}

tokio::task_local! {
    static CHECK: Arc<Mutex<Slot>>;
}

/// The pending check of this task, if a read is running under [`carried`] and no query has
/// carried the check yet; taking it marks it taken.
fn take_pending() -> Option<(Arc<Mutex<Slot>>, Check)> {
    let slot = CHECK.try_with(Arc::clone).ok()?;
    let check = {
        let mut state = slot.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, Slot::Taken) {
            Slot::Pending(check) => check,
            other => {
                *state = other;
                return None;
            }
        }
    };
    Some((slot, check))
}

/// Runs `first`, a read's first query on `conn`, with this task's pending check (if any)
/// sent before it on the same connection. Each check's statement is prepared when the
/// connection opens (`prepare_session_check`, `prepare_pull_site_check`), so its execution
/// is queued whole on its first poll, ahead of `first`.
pub(crate) async fn pipelined<'c, T>(
    conn: &'c AsyncPgConnection,
    first: impl Future<Output = QueryResult<T>> + Send + 'c,
) -> QueryResult<T> {
    let Some((slot, check)) = take_pending() else {
        return first.await;
    };
    // `join` polls the check first: its request is on the wire before the read's.
    let (outcome, out) = match check {
        Check::Session(session_id) => {
            let (rows, out) =
                futures_util::future::join(principal_rows_pg(conn, session_id), first).await;
            (Outcome::Session(rows), out)
        }
        Check::PullKey(query) => {
            let (row, out) = futures_util::future::join(pull_site_row_pg(conn, query), first).await;
            (Outcome::PullKey(row), out)
        }
        Check::Key(hash) => {
            let (row, out) =
                futures_util::future::join(key_by_secret_row_pg(conn, &hash), first).await;
            (Outcome::Key(row), out)
        }
    };
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Slot::Done(outcome);
    out
}

/// Runs `read` with `check` pending; the check's rows if a query carried it.
async fn carried<T>(check: Check, read: impl Future<Output = T>) -> (Option<Outcome>, T) {
    let slot = Arc::new(Mutex::new(Slot::Pending(check)));
    let out = CHECK.scope(Arc::clone(&slot), read).await;
    let state = std::mem::replace(
        &mut *slot.lock().unwrap_or_else(|e| e.into_inner()),
        Slot::Taken,
    );
    match state {
        Slot::Done(outcome) => (Some(outcome), out),
        // Not carried (another read, SQLite, or the read failed before its query).
        Slot::Pending(_) | Slot::Taken => (None, out),
    }
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
        let (outcome, out) = carried(Check::Session(session_id), read).await;
        let principal = match outcome {
            Some(Outcome::Session(rows)) => principal_of(rows.map_err(StoreError::from)?, now)?,
            _ => self.principal(session_id, now).await?,
        };
        Ok((principal, out))
    }

    /// Runs `read` and finds the site of the pull key whose hash is `key_hash` at `now`
    /// (what [`PullRepository::pull_site`] reads), on PostgreSQL in one round trip when the
    /// read supports it: the pull list does. Returns the site (`None`: no such key, or
    /// rotated out) and the read's output, which the caller must discard unless it accepts
    /// the site. The key check runs first, so the site's content version is never newer
    /// than the rows.
    pub async fn read_pull_checked<T>(
        &self,
        key_hash: &[u8],
        now: DateTime<Utc>,
        read: impl Future<Output = T>,
    ) -> Result<(Option<PullSite>, T), ContentError> {
        let (outcome, out) = carried(Check::PullKey(PullSiteQuery::new(key_hash, now)), read).await;
        let site = match outcome {
            Some(Outcome::PullKey(row)) => pull_site_of(row.map_err(StoreError::from)?)?,
            _ => self.pull_site(key_hash, now).await?,
        };
        Ok((site, out))
    }

    /// Runs `read` and finds the key whose secret hashes to `hash` with its holder (what
    /// [`SessionStore::find_key_by_secret`] reads: an `mcp_` token's check), on PostgreSQL
    /// in one round trip when the read supports it (the post lists and a post by id do).
    /// Returns the key (`None`: no such key) and the read's output, which the caller must
    /// discard unless it accepts the key.
    pub async fn read_key_checked<T>(
        &self,
        hash: &SecretHash,
        read: impl Future<Output = T>,
    ) -> Result<(Option<(StoredKey, KeyHolder)>, T), StoreFailure> {
        let (outcome, out) = carried(Check::Key(hash.as_bytes().to_vec()), read).await;
        let key = match outcome {
            Some(Outcome::Key(row)) => key_by_secret_of(row.map_err(StoreError::from)?)?,
            _ => self.find_key_by_secret(hash).await?,
        };
        Ok((key, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use crate::testing::TestDatabase;
    use jekcms_content::PostRepository;
    use jekcms_content::list::PostListQuery;
    use jekcms_content::page::Window;

    /// On PostgreSQL the key's check goes with the list's first query: a key deleted after
    /// that query (inside the read) was still seen. On SQLite the check runs after the read
    /// and sees the delete. A key no one has is `None` either way.
    async fn the_pull_key_check_rides_with_the_lists_first_query(backend: Backend) {
        let Some(db) = TestDatabase::new(backend).await else {
            return;
        };
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        let hash = [1u8; 32];
        let hex = "01".repeat(32);
        let bytes = match backend {
            Backend::Sqlite => format!("x'{hex}'"),
            Backend::Postgres => format!("decode('{hex}', 'hex')"),
        };
        for sql in [
            "INSERT INTO sites (id, slug, name, created_at) VALUES (5, 'k', 'K', '2026-01-01 00:00:00')".to_owned(),
            format!("INSERT INTO pull_keys (site_id, key_hash, webhook_secret, created_at) VALUES (5, {bytes}, {bytes}, '2026-01-01 00:00:00')"),
        ] {
            store.execute_for_tests(&sql).await.unwrap();
        }
        let now = jekcms_content::now();
        let (query, window) = (PostListQuery::default(), Window::first(5));
        let list = || store.list_posts(5, &query, &window);
        let (site, rows) = store
            .read_pull_checked(&hash, now, async {
                let rows = list().await;
                store
                    .execute_for_tests("DELETE FROM pull_keys")
                    .await
                    .unwrap();
                rows
            })
            .await
            .unwrap();
        rows.unwrap();
        match backend {
            Backend::Postgres => assert_eq!(site.map(|s| s.site_id), Some(5)),
            Backend::Sqlite => assert!(site.is_none()),
        }
        let (site, rows) = store.read_pull_checked(&hash, now, list()).await.unwrap();
        rows.unwrap();
        assert!(site.is_none(), "a deleted key is refused, carried or not");
    }

    /// An `mcp_` token's check rides the same way: on PostgreSQL a key revoked after the
    /// list's first query (inside the read) was still seen as it was when the query ran; on
    /// SQLite the check follows the read and sees it revoked. The next check sees it revoked
    /// either way, and a read that is no post query still gets its check.
    async fn the_key_check_rides_with_the_lists_first_query(backend: Backend) {
        let Some(db) = TestDatabase::new(backend).await else {
            return;
        };
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        let hash = SecretHash([2u8; 32]);
        let hex = "02".repeat(32);
        let bytes = match backend {
            Backend::Sqlite => format!("x'{hex}'"),
            Backend::Postgres => format!("decode('{hex}', 'hex')"),
        };
        for sql in [
            "INSERT INTO sites (id, slug, name, plan, created_at) VALUES (6, 'm', 'M', 'unlimited', '2026-01-01 00:00:00')".to_owned(),
            "INSERT INTO users (id, site_id, email, name, role, created_at, updated_at) VALUES (60, 6, 'a@example.com', 'A', 'editor', '2026-01-01 00:00:00', '2026-01-01 00:00:00')".to_owned(),
            format!("INSERT INTO api_keys (id, site_id, user_id, public_id, family, secret_hash, name, created_at) VALUES (600, 6, 60, 'mcpid_x', 'mcp', {bytes}, 'agent', '2026-01-01 00:00:00')"),
        ] {
            store.execute_for_tests(&sql).await.unwrap();
        }
        let (query, window) = (PostListQuery::default(), Window::first(5));
        let list = || store.list_posts(6, &query, &window);
        let (key, rows) = store
            .read_key_checked(&hash, async {
                let rows = list().await;
                store
                    .execute_for_tests("UPDATE api_keys SET revoked_at = '2026-01-02 00:00:00'")
                    .await
                    .unwrap();
                rows
            })
            .await
            .unwrap();
        rows.unwrap();
        let (key, holder) = key.expect("the key is found");
        assert_eq!((key.id, key.site_id, key.user_id), (600, 6, 60));
        assert_eq!(holder.role, jekcms_auth::Role::Editor);
        match backend {
            Backend::Postgres => assert!(key.revoked_at.is_none(), "read with the list's query"),
            Backend::Sqlite => assert!(key.revoked_at.is_some(), "read after the list"),
        }
        let (key, rows) = store.read_key_checked(&hash, list()).await.unwrap();
        rows.unwrap();
        assert!(key.unwrap().0.revoked_at.is_some());
        let (key, ()) = store.read_key_checked(&hash, async {}).await.unwrap();
        assert!(key.unwrap().0.revoked_at.is_some(), "checked on its own");
        let (key, ()) = store
            .read_key_checked(&SecretHash([3u8; 32]), async {})
            .await
            .unwrap();
        assert!(key.is_none(), "no such key");
    }

    #[tokio::test]
    async fn the_key_check_rides_with_the_lists_first_query_sqlite() {
        the_key_check_rides_with_the_lists_first_query(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn the_key_check_rides_with_the_lists_first_query_postgres() {
        the_key_check_rides_with_the_lists_first_query(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn the_pull_key_check_rides_with_the_lists_first_query_sqlite() {
        the_pull_key_check_rides_with_the_lists_first_query(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn the_pull_key_check_rides_with_the_lists_first_query_postgres() {
        the_pull_key_check_rides_with_the_lists_first_query(Backend::Postgres).await;
    }
}
