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
}

impl<Q, U> LoadAll<Q, U> for AsyncPgConnection
where
    Q: diesel_async::methods::LoadQuery<'static, AsyncPgConnection, U> + Send + 'static,
    U: Send,
{
    fn load_all(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> + Send {
        diesel_async::RunQueryDsl::load(query, self)
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
}
