//! Running a read to completion on either backend, without the SQLite wrapper's row copy.
//!
//! diesel-async's `SyncConnectionWrapper` serves SQLite behind the async API by collecting
//! the binds into owned values, building the SQL, and copying every result row into an
//! owned row before handing the rows back to be deserialized: on a list page that is ~10 %
//! of a request's instructions. A query whose binds are owned (`'static`) can instead run
//! on the wrapped connection itself, through diesel's synchronous API, deserializing
//! straight from SQLite's row; readers run inline (see [`crate::SqliteRead`]), so this costs
//! no thread hop. PostgreSQL keeps diesel-async's own path.

use diesel::result::QueryResult;
use diesel::sqlite::SqliteConnection;
use diesel_async::AsyncPgConnection;
use std::future::Future;

use crate::SqliteRead;

/// Loads every row of a query into `Vec<U>`; implemented by both read connections.
pub(crate) trait LoadAll<Q, U> {
    /// Runs `query` and deserializes all of its rows.
    fn load_all(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> + Send;

    /// [`load_all`](LoadAll::load_all) for the first query of a read that may carry a
    /// pending session check: on PostgreSQL the check is pipelined with it
    /// (`crate::session_check`); on SQLite, where a read takes microseconds in-process,
    /// the check runs afterwards.
    fn load_first(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> + Send;
}

impl<Q, U> LoadAll<Q, U> for AsyncPgConnection
where
    Q: diesel_async::methods::LoadQuery<'static, AsyncPgConnection, U>
        + for<'c> diesel_async::methods::LoadQuery<'static, &'c AsyncPgConnection, U>
        + Send
        + 'static,
    U: Send,
{
    fn load_all(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> + Send {
        diesel_async::RunQueryDsl::load(query, self)
    }

    fn load_first(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> + Send {
        let conn: &AsyncPgConnection = self;
        async move {
            let mut shared = conn;
            let first = diesel_async::RunQueryDsl::load(query, &mut shared);
            crate::session_check::pipelined(conn, first).await
        }
    }
}

impl<Q, U> LoadAll<Q, U> for SqliteRead
where
    Q: diesel::query_dsl::LoadQuery<'static, SqliteConnection, U> + Send + 'static,
    U: Send + 'static,
{
    fn load_all(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> + Send {
        self.spawn_blocking(move |conn| diesel::RunQueryDsl::load(query, conn))
    }

    fn load_first(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> + Send {
        self.load_all(query)
    }
}
