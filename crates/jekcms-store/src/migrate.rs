//! Connection setup and embedded migrations (one folder per backend in `migrations/`).

use crate::{Db, Store, StoreError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Applies the settings every SQLite connection needs: wait instead of failing on a busy
/// database, enforce foreign keys, WAL so readers never block the writer.
pub(crate) async fn configure_sqlite<C>(conn: &mut C) -> diesel::ConnectionResult<()>
where
    C: AsyncConnection<Backend = diesel::sqlite::Sqlite>,
{
    for pragma in [
        "PRAGMA busy_timeout = 5000",
        "PRAGMA foreign_keys = ON",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
    ] {
        diesel::sql_query(pragma)
            .execute(conn)
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    }
    Ok(())
}

impl Store {
    pub(crate) async fn migrate(&self, target: &str) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite { write, .. } => {
                let mut conn = write.get().await.map_err(StoreError::pool)?;
                conn.spawn_blocking(|c| {
                    c.run_pending_migrations(SQLITE_MIGRATIONS)
                        .map(|_| ())
                        .map_err(diesel::result::Error::QueryBuilderError)
                })
                .await
                .map_err(|e| StoreError::Migration(e.to_string()))
            }
            Db::Pg(_) => {
                // The async harness blocks in place, which needs a multi-threaded runtime;
                // give it one of its own so callers on any runtime can migrate.
                let url = target.to_owned();
                std::thread::spawn(move || -> Result<(), StoreError> {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .map_err(|e| StoreError::Migration(e.to_string()))?;
                    rt.block_on(async move {
                        let task = tokio::spawn(async move {
                            let conn = AsyncPgConnection::establish(&url)
                                .await
                                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                            let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
                            harness
                                .run_pending_migrations(POSTGRES_MIGRATIONS)
                                .map(|_| ())
                                .map_err(|e| StoreError::Migration(e.to_string()))
                        });
                        task.await
                            .map_err(|e| StoreError::Migration(e.to_string()))?
                    })
                })
                .join()
                .map_err(|_| StoreError::Migration("migration thread panicked".into()))?
            }
        }
    }
}
