//! Around a bulk load (`jekcms seed`): the SQLite writer's page cache, and PostgreSQL's
//! statistics afterwards.

use crate::{Store, StoreError};
use std::future::Future;

/// SQLite's default page cache (`PRAGMA cache_size = -2000`), in KiB.
const DEFAULT_CACHE_KIB: u32 = 2_000;
/// The SQLite writer's page cache during a bulk load, in KiB (see `Store::before_bulk_load`).
const BULK_LOAD_CACHE_KIB: u32 = 256 * 1024;

impl Store {
    /// Before a bulk load (`jekcms seed`): on SQLite, a page cache for the writer large
    /// enough to hold the indexes being filled (256 MiB at most, taken only as pages are
    /// touched). With SQLite's default 2 MiB, every batch of random inserts into the slug
    /// and title indexes spilled and re-read the same pages: 100,000 posts took 30 s, most
    /// of it in `pwrite`/`pread` system calls. [`Store::after_bulk_load`] restores it.
    pub fn before_bulk_load(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        crate::boxed::<Result<(), StoreError>>(async move {
            self.set_sqlite_writer_cache(BULK_LOAD_CACHE_KIB).await
        })
    }

    /// After a bulk load (`jekcms seed`): on PostgreSQL, `VACUUM (ANALYZE)` of the content
    /// tables, so the planner has statistics and the visibility map lets counts use
    /// index-only scans — what autovacuum would arrange a minute later, done before anyone
    /// measures. On SQLite, the writer's page cache goes back to the default (see
    /// [`Store::before_bulk_load`]).
    pub fn after_bulk_load(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        crate::boxed::<Result<(), StoreError>>(async move {
            if let crate::Db::Pg(pool) = &self.db {
                let mut conn = pool.get().await.map_err(StoreError::pool)?;
                diesel_async::RunQueryDsl::execute(
                    diesel::sql_query("VACUUM (ANALYZE) posts, post_tags"),
                    &mut *conn,
                )
                .await?;
            }
            self.set_sqlite_writer_cache(DEFAULT_CACHE_KIB).await
        })
    }

    /// `PRAGMA cache_size` of the SQLite writer (the pool's only connection); no-op on
    /// PostgreSQL.
    async fn set_sqlite_writer_cache(&self, kib: u32) -> Result<(), StoreError> {
        if let crate::Db::Sqlite { write, .. } = &self.db {
            let mut conn = write.get().await.map_err(StoreError::pool)?;
            // A negative size is in KiB; `kib` is one of our constants, not user text.
            diesel_async::RunQueryDsl::execute(
                diesel::sql_query(format!("PRAGMA cache_size = -{kib}")),
                &mut *conn,
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestDatabase;
    use crate::{Db, Store};
    use diesel::sql_types::{BigInt, Bool};
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct CacheSize {
        #[diesel(sql_type = BigInt)]
        cache_size: i64,
    }

    #[derive(diesel::QueryableByName)]
    struct Maintained {
        #[diesel(sql_type = Bool)]
        vacuumed_and_analyzed: bool,
    }

    /// `PRAGMA cache_size` of the SQLite writer (negative: KiB).
    async fn writer_cache_size(store: &Store) -> i64 {
        let Db::Sqlite { write, .. } = &store.db else {
            panic!("a SQLite store");
        };
        let mut conn = write.get().await.expect("writer");
        diesel::sql_query("PRAGMA cache_size")
            .get_result::<CacheSize>(&mut *conn)
            .await
            .expect("pragma")
            .cache_size
    }

    #[tokio::test]
    async fn a_bulk_load_widens_the_sqlite_writer_cache_and_then_restores_it() {
        let db = TestDatabase::sqlite();
        let store = Store::connect(db.url(), Default::default())
            .await
            .expect("connect");
        assert_eq!(writer_cache_size(&store).await, -2_000);
        store.before_bulk_load().await.expect("before");
        assert_eq!(writer_cache_size(&store).await, -262_144);
        store.after_bulk_load().await.expect("after");
        assert_eq!(writer_cache_size(&store).await, -2_000);
    }

    #[tokio::test]
    async fn a_bulk_load_on_postgres_ends_with_vacuum_and_analyze() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        let store = Store::connect(db.url(), Default::default())
            .await
            .expect("connect");
        let Db::Pg(pool) = &store.db else {
            panic!("a PostgreSQL store");
        };
        let maintained = async || {
            let mut conn = pool.get().await.expect("connection");
            diesel::sql_query(
                "SELECT coalesce(bool_and(last_vacuum IS NOT NULL AND last_analyze IS NOT NULL), \
                 false) AS vacuumed_and_analyzed FROM pg_stat_user_tables \
                 WHERE relname IN ('posts', 'post_tags')",
            )
            .get_result::<Maintained>(&mut *conn)
            .await
            .expect("statistics")
            .vacuumed_and_analyzed
        };
        assert!(
            !maintained().await,
            "a new database has never been vacuumed"
        );
        store.before_bulk_load().await.expect("before");
        store.after_bulk_load().await.expect("after");
        // The statistics are published asynchronously; give them a moment.
        let mut seen = false;
        for _ in 0..50 {
            if maintained().await {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(seen, "posts and post_tags were vacuumed and analyzed");
    }
}
