//! Connection setup and embedded migrations (one folder per backend in `migrations/`).

use crate::pg_connect::{self, PgLimits};
use crate::{Db, Store, StoreError, StoreOptions};
use diesel_async::{AsyncConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The key of the PostgreSQL advisory lock held while migrating (`"JEKCMSMG"` in ASCII),
/// in the single-`bigint` key space; the per-site slug lock uses the two-`int` space.
const MIGRATION_LOCK: i64 = 0x4A45_4B43_4D53_4D47;

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
        // Switching a new file to WAL needs an exclusive lock and SQLite answers "database
        // is locked" at once, without waiting out busy_timeout, while another process
        // (instances or `jekcms migrate` starting together) holds one: wait as busy_timeout
        // would.
        let mut attempts = 0;
        loop {
            match diesel::sql_query(pragma).execute(conn).await {
                Ok(_) => break,
                Err(e) if attempts < WAL_SWITCH_ATTEMPTS && is_locked(&e) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(diesel::ConnectionError::CouldntSetupConfiguration(e)),
            }
        }
    }
    Ok(())
}

/// How many times [`configure_sqlite`] retries a statement SQLite refused as locked: with
/// 50 ms between tries, about as long as `busy_timeout` (5 s).
const WAL_SWITCH_ATTEMPTS: u32 = 100;

fn is_locked(e: &diesel::result::Error) -> bool {
    let text = e.to_string();
    text.contains("database is locked") || text.contains("database table is locked")
}

/// The first pause between start-up attempts; it doubles up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(250);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);

impl Store {
    /// Migrates, retrying while PostgreSQL is unreachable, for up to the start-up timeout.
    pub(crate) async fn migrate_when_reachable(
        &self,
        target: &str,
        options: StoreOptions,
    ) -> Result<(), StoreError> {
        let deadline = Instant::now() + options.startup_timeout;
        let server = pg_connect::describe_target(target);
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            match self.migrate(target, options, deadline).await {
                Err(StoreError::Unavailable(reason)) if matches!(self.db, Db::Pg(_)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(StoreError::Unavailable(format!(
                            "PostgreSQL at {server} still unreachable after {} s: {reason}",
                            options.startup_timeout.as_secs()
                        )));
                    }
                    tracing::warn!(server = %server, reason = %reason, "PostgreSQL is unreachable; retrying");
                    // The last attempt is made at the deadline.
                    tokio::time::sleep(pause.min(left)).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                other => return other,
            }
        }
    }

    /// Runs pending migrations once. On PostgreSQL, connecting is bounded by the connect
    /// timeout and every wait on the server (the migration lock, the migrations themselves)
    /// by `deadline`.
    async fn migrate(
        &self,
        target: &str,
        options: StoreOptions,
        deadline: Instant,
    ) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite { write, .. } => {
                let mut conn = write.get().await.map_err(StoreError::pool)?;
                // Processes starting together on one file would otherwise all see the same
                // migrations pending and all but one fail to apply them: hold an exclusive
                // lock on a file beside the database from the first read of the migrations
                // table to the last migration. Not the write lock of one transaction around
                // them all: a migration that rebuilds a table turns foreign keys off, which
                // SQLite ignores inside a transaction. Not a lock on the database file
                // itself: closing any other descriptor of it would drop SQLite's own locks.
                let lock_path = (target != ":memory:").then(|| format!("{target}-migrate.lock"));
                conn.spawn_blocking(move |c| {
                    let _lock = lock_path
                        .map(|p| {
                            let file = std::fs::OpenOptions::new()
                                .create(true)
                                .truncate(false)
                                .write(true)
                                .open(&p)
                                .map_err(|e| format!("cannot open {p}: {e}"))?;
                            file.lock().map_err(|e| format!("cannot lock {p}: {e}"))?;
                            Ok::<_, String>(file)
                        })
                        .transpose()
                        .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
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
                let limits = PgLimits {
                    connect: options.connect_timeout,
                    // No statement timeout: a migration may legitimately run long, and waiting
                    // for the lock is waiting for another instance's migration.
                    statement: None,
                    silence: Some(
                        deadline
                            .saturating_duration_since(Instant::now())
                            .max(Duration::from_secs(1)),
                    ),
                };
                std::thread::spawn(move || -> Result<(), StoreError> {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .map_err(|e| StoreError::Migration(e.to_string()))?;
                    rt.block_on(async move {
                        let task = tokio::spawn(async move {
                            let mut conn = pg_connect::connect(&url, limits)
                                .await
                                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                            // Instances starting together would otherwise race to create
                            // the same tables (a unique violation in the catalog): the
                            // first takes the lock and migrates, the others wait for it and
                            // then find nothing pending. A session lock: closing this
                            // connection (at the end, or if the process dies) releases it.
                            diesel::sql_query("SELECT pg_advisory_lock($1)")
                                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                                .execute(&mut conn)
                                .await
                                .map_err(StoreError::from)?;
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

#[cfg(test)]
mod tests {
    use super::SQLITE_MIGRATIONS;
    use diesel::migration::MigrationSource;
    use diesel::sqlite::Sqlite;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    use diesel_migrations::MigrationHarness;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    }

    /// The SQLite rebuild of `users` (emails unique per site) keeps every row, id and
    /// foreign key: keys and sessions survive it, and still go with their user.
    #[test]
    fn emails_per_site_rebuilds_users_without_losing_anything() {
        let db = crate::testing::TestDatabase::sqlite();
        let path = db.url().strip_prefix("sqlite://").unwrap().to_owned();
        let mut conn = SqliteConnection::establish(&path).unwrap();
        diesel::sql_query("PRAGMA foreign_keys = ON")
            .execute(&mut conn)
            .unwrap();
        conn.applied_migrations().unwrap(); // creates diesel's bookkeeping table
        let migrations = MigrationSource::<Sqlite>::migrations(&SQLITE_MIGRATIONS).unwrap();
        for m in &migrations {
            if m.name().to_string().contains("emails_per_site") {
                break;
            }
            conn.run_migration(m.as_ref()).unwrap();
        }
        for sql in [
            "INSERT INTO sites (id, slug, name, created_at) VALUES (1, 'a', 'A', '2026-01-01 00:00:00'), (2, 'b', 'B', '2026-01-01 00:00:00')",
            "INSERT INTO users (id, site_id, email, name, role, created_at, updated_at) VALUES (1, 1, 'x@example.com', 'X', 'owner', '2026-01-01 00:00:00', '2026-01-01 00:00:00'), (2, 1, 'gone@example.com', 'G', 'viewer', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            // The highest id was deleted: its number must never come back.
            "DELETE FROM users WHERE id = 2",
            "INSERT INTO api_keys (site_id, user_id, public_id, family, secret_hash, name, created_at) VALUES (1, 1, 'api_x', 'api', x'00', 'k', '2026-01-01 00:00:00')",
            "INSERT INTO sessions (site_id, user_id, api_key_id, family, created_at, expires_at) VALUES (1, 1, 1, 'api', '2026-01-01 00:00:00', '2027-01-01 00:00:00')",
        ] {
            diesel::sql_query(sql).execute(&mut conn).unwrap();
        }
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();

        assert_eq!(
            count(
                &mut conn,
                "SELECT count(*) AS n FROM users WHERE id = 1 AND email = 'x@example.com'"
            ),
            1
        );
        assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM api_keys"), 1);
        assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM sessions"), 1);
        assert_eq!(
            count(
                &mut conn,
                "SELECT foreign_keys AS n FROM pragma_foreign_keys"
            ),
            1,
            "foreign keys are back on"
        );
        // Per site now: the same email in another site is fine, twice in one site is not.
        let insert = |site: i64| {
            format!(
                "INSERT INTO users (site_id, email, name, role, created_at, updated_at) VALUES ({site}, 'x@example.com', 'X', 'viewer', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        };
        diesel::sql_query(insert(2)).execute(&mut conn).unwrap();
        assert!(diesel::sql_query(insert(1)).execute(&mut conn).is_err());
        assert_eq!(
            count(&mut conn, "SELECT max(id) AS n FROM users"),
            3,
            "ids are not reused"
        );
        // Keys and sessions still belong to their user.
        diesel::sql_query("DELETE FROM users WHERE id = 1")
            .execute(&mut conn)
            .unwrap();
        assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM api_keys"), 0);
        assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM sessions"), 0);
    }
}
