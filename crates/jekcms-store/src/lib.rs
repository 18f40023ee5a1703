//! JekCMS persistence: the diesel schema, migrations and repositories, for SQLite (bundled,
//! the zero-setup default) and PostgreSQL (production; many server instances share one).
//!
//! [`Store`] implements the repository traits of `jekcms-content` and the session store of
//! `jekcms-auth`, plus account operations. One body of diesel code serves both backends:
//! `with_conn!` expands it once per backend, so each copy is type-checked against its own
//! SQL dialect (a closure cannot do this: it would infer a single backend).
//!
//! This is the only crate that depends on diesel. It must not depend on a web framework,
//! nor on a metrics crate: [`Store::pool_status`] gives the server the pools' load to report.

use deadpool::managed::QueueMode;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use std::sync::Arc;
// `Fast` recycling: the default (`Verified`) runs a test query on every checkout, a whole
// extra round trip per query; a broken connection is detected on use instead.
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};

pub mod accounts;
mod activity;
pub mod backup;
mod delivery;
mod idempotency;
mod load;
mod media;
mod migrate;
mod pg_connect;
mod posts;
pub mod schema;
mod session_check;
mod sessions;
mod sql;
mod stored_time;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod webhooks;

pub use accounts::{SiteRecord, SiteSettings, UserRecord};
pub use activity::ANNOUNCE_BATCH;
pub use posts::ImportPost;

/// A SQLite connection whose queries run on the calling thread. Used for reads only: in WAL
/// mode a read never waits for a lock, and a query on a warm database takes microseconds,
/// less than handing it to another thread and back.
pub(crate) type SqliteRead = SyncConnectionWrapper<SqliteConnection, Inline>;
/// A SQLite connection whose queries run on tokio's blocking pool: writes may wait for the
/// write lock (`busy_timeout`), which must not stall an async worker.
pub(crate) type SqliteWrite = SyncConnectionWrapper<SqliteConnection>;

/// Runs "blocking" work inline; see [`SqliteRead`].
pub(crate) struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>,
    >
    where
        R: Send + 'static,
    {
        Box::pin(std::future::ready(Ok(task())))
    }

    fn get_runtime() -> Self {
        Inline
    }
}

/// A store future as `dyn Future`. The vtable is built here, so the future's code is compiled
/// once, in this crate; the body of an `async fn` is compiled in every crate that awaits it.
pub(crate) fn boxed<'a, T>(
    f: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    Box::pin(f)
}

/// The two stores. SQLite has a pool of readers and a single writer connection, so our own
/// writers queue in-process instead of contending for the file lock.
#[derive(Clone)]
pub(crate) enum Db {
    Pg(Pool<AsyncPgConnection>),
    Sqlite {
        read: Pool<SqliteRead>,
        write: Pool<SqliteWrite>,
    },
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend the store
/// uses; on SQLite, from the `$sqlite_pool` (`read` or `write`). The body is compiled once
/// per backend.
macro_rules! on_pool {
    ($store:expr, $sqlite_pool:ident, $conn:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Pg(pool) => {
                let mut guard = pool.get().await.map_err($crate::StoreError::pool)?;
                let $conn = &mut *guard;
                $body
            }
            $crate::Db::Sqlite {
                $sqlite_pool: pool, ..
            } => {
                let mut guard = pool.get().await.map_err($crate::StoreError::pool)?;
                let $conn = &mut *guard;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// [`on_pool!`] for a body that only reads (SQLite: a reader connection, run inline).
macro_rules! with_conn {
    ($store:expr, $conn:ident => $body:expr) => {
        $crate::on_pool!($store, read, $conn => $body)
    };
}
pub(crate) use with_conn;

/// [`on_pool!`] for a body that writes one statement (SQLite: the writer connection); see
/// [`with_write_txn!`] for several.
macro_rules! with_write_conn {
    ($store:expr, $conn:ident => $body:expr) => {
        $crate::on_pool!($store, write, $conn => $body)
    };
}
pub(crate) use with_write_conn;

/// Runs `$body` in a write transaction returning `Result<$t, StoreError>`. On SQLite the
/// transaction starts with `BEGIN IMMEDIATE`: taking the write lock up front means
/// concurrent writers queue on `busy_timeout` instead of failing when a read lock cannot be
/// upgraded.
macro_rules! with_write_txn {
    ($store:expr, $t:ty, $conn:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Pg(pool) => {
                let mut guard = pool.get().await.map_err($crate::StoreError::pool)?;
                diesel_async::AsyncConnection::transaction::<$t, $crate::StoreError, _>(
                    &mut *guard,
                    async |$conn| $body,
                )
                .await
            }
            $crate::Db::Sqlite { write, .. } => {
                let mut guard = write.get().await.map_err($crate::StoreError::pool)?;
                guard
                    .immediate_transaction::<$t, $crate::StoreError, _>(async |$conn| $body)
                    .await
            }
        }
    };
}
pub(crate) use with_write_txn;

/// A pool of SQLite connections of type `$conn`, each set up by `migrate::open_sqlite`.
macro_rules! sqlite_pool {
    ($conn:ty, $target:expr, $max:expr, $options:expr) => {{
        let mut config = ManagerConfig::<$conn>::default();
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(|url| {
            Box::pin(async move {
                let mut conn = <$conn as diesel_async::AsyncConnection>::establish(url).await?;
                migrate::configure_sqlite(&mut conn).await?;
                Ok(conn)
            })
        });
        let manager = AsyncDieselConnectionManager::<$conn>::new_with_config($target, config);
        Pool::builder(manager)
            .max_size($max)
            // The most recently used connection first: its caches are the warm ones.
            .queue_mode(QueueMode::Lifo)
            .wait_timeout(Some($options.acquire_timeout))
            .create_timeout(Some($options.acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))
    }};
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// No such row.
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated: which rule, read from the constraint or the message.
    #[error("unique constraint violated: {0:?}")]
    Unique(UniqueKey),
    /// A value was refused (bad URL, unusable option).
    #[error("{0}")]
    Config(String),
    /// A value of our own could not be encoded for its column (tags as JSON): a bug.
    #[error("cannot encode {0}")]
    Encode(String),
    /// A read-modify-write kept losing to concurrent writes of the same row: contention,
    /// not a fault; the caller may retry later.
    #[error("contention: {0}")]
    Contention(String),
    /// A stored row cannot be read back (an unknown role or status, malformed tags): the
    /// database was changed by something other than JekCMS.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The change would leave a site without an owner.
    #[error("a site must keep at least one owner")]
    LastOwner,
    /// The `Idempotency-Key` claim of the work was taken over by a retry after its lease.
    #[error("the idempotency claim was taken over")]
    ClaimLost,
    /// Any other database error.
    #[error("database error: {0}")]
    Query(DieselError),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Unique(unique_key(info.constraint_name(), info.message()))
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info)
            | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            // PostgreSQL's `statement_timeout` (SQLSTATE 57014, which diesel does not
            // classify): the database is too slow to answer, not our bug.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message() == "canceling statement due to statement timeout" =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

/// Which unique rule a write broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueKey {
    /// `users (site_id, email)`: the email is taken in the site.
    UserEmail,
    /// `sites (slug)`.
    SiteSlug,
    /// `api_keys (public_id)`: a generated key id collided.
    KeyId,
    /// `posts (site_id, slug)`: the slug is taken in the site.
    PostSlug,
    /// Another one (a refresh token's hash, an idempotency key, a tag row): the constraint
    /// name or the database's message, for the log.
    Other(String),
}

/// The one mapping from a unique violation to the rule it broke. PostgreSQL names the
/// constraint (`users_site_email_key`); SQLite gives no name (diesel reports `None`) but its
/// message lists the columns: `UNIQUE constraint failed: users.site_id, users.email`.
pub(crate) fn unique_key(constraint: Option<&str>, message: &str) -> UniqueKey {
    let rule = constraint.or_else(|| message.strip_prefix("UNIQUE constraint failed: "));
    match rule {
        Some("users_site_email_key" | "users.site_id, users.email") => UniqueKey::UserEmail,
        Some("sites_slug_key" | "sites.slug") => UniqueKey::SiteSlug,
        Some("api_keys_public_id_key" | "api_keys.public_id") => UniqueKey::KeyId,
        Some("posts_site_id_slug_key" | "posts.site_id, posts.slug") => UniqueKey::PostSlug,
        _ => UniqueKey::Other(rule.unwrap_or(message).to_owned()),
    }
}

impl StoreError {
    pub(crate) fn pool(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<StoreError> for jekcms_content::ContentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(_) => Self::Unavailable,
            StoreError::ClaimLost => Self::InProgress(
                "a retry with this Idempotency-Key took over this request; its outcome is the retry's"
                    .into(),
            ),
            StoreError::Contention(what) => Self::Contended(what),
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for jekcms_accounts::AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(_) => Self::Unavailable,
            StoreError::LastOwner => Self::LastOwner,
            StoreError::Unique(UniqueKey::UserEmail) => Self::Conflict {
                field: "email".into(),
            },
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for jekcms_auth::session::StoreFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::Unavailable,
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// Pool settings and the bounds on every wait for the database.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Most connections held at once (forced to 1 for `sqlite::memory:`).
    pub max_connections: usize,
    /// How long to wait for a free pooled connection before answering "unavailable"
    /// (both backends).
    pub acquire_timeout: std::time::Duration,
    /// PostgreSQL: how long opening a connection (TCP, start-up, authentication) may take.
    pub connect_timeout: std::time::Duration,
    /// PostgreSQL: the server's `statement_timeout` for each pooled connection; a server
    /// that stays silent a second longer (frozen, unreachable) fails the query as
    /// "unavailable". SQLite calls are never cut short (see `ARCHITECTURE.md`).
    pub statement_timeout: std::time::Duration,
    /// PostgreSQL: how long [`Store::connect`] keeps retrying an unreachable server (and
    /// waits for another instance's migrations) before giving up.
    pub startup_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: std::time::Duration::from_secs(5),
            connect_timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(5),
            startup_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// One connection pool's load at a moment: see [`Store::pool_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Which pool: `main` (PostgreSQL), `read` or `write` (SQLite).
    pub pool: &'static str,
    /// Connections it may hold.
    pub max: usize,
    /// Connections lent out to requests.
    pub in_use: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// ` (its directory D does not exist)` when that is why a database file cannot be opened.
fn missing_directory(path: &str) -> String {
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            format!(" (its directory {} does not exist)", dir.display())
        }
        _ => String::new(),
    }
}

/// Handle on the database; cheap to clone (pools are shared).
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// PostgreSQL: how to open another pool ([`Store::for_this_thread`]) and every pool
    /// opened so far (for [`Store::pool_status`]).
    pg: Option<Arc<PgPools>>,
}

/// What [`Store::for_this_thread`] needs to open a pool like the first, and the pools open.
struct PgPools {
    target: String,
    options: StoreOptions,
    all: std::sync::Mutex<Vec<Pool<AsyncPgConnection>>>,
}

/// A pool of PostgreSQL connections to `target` holding at most `max`, each opened by
/// `pg_connect::connect` with the session, pull-key and key-by-secret checks prepared. Connections open when first
/// needed, on the runtime of the task that needs them.
fn pg_pool(
    target: &str,
    options: StoreOptions,
    max: usize,
) -> Result<Pool<AsyncPgConnection>, StoreError> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let limits = pg_connect::PgLimits::pooled(options.connect_timeout, options.statement_timeout);
    config.custom_setup = Box::new(move |url| {
        Box::pin(async move {
            let mut conn = pg_connect::connect(url, limits).await?;
            sessions::prepare_session_check(&mut conn)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            delivery::prepare_pull_site_check(&mut conn)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            sessions::prepare_key_check(&mut conn)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        })
    });
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(target, config);
    Pool::builder(manager)
        .max_size(max)
        // The most recently used connection first (deadpool's default is the least
        // recent): under light load a few warm backends serve everything, with their plan
        // and catalog caches hot; measured here, list requests at 32 connections ~10 %
        // faster.
        .queue_mode(QueueMode::Lifo)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Config(e.to_string()))
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

/// Which backend a database URL names, and the connection string to give it.
pub fn parse_url(url: &str) -> Result<(Backend, String), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_owned()))
    } else if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        Ok((Backend::Sqlite, ":memory:".to_owned()))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::Config(
                "JEKCMS_DATABASE_URL: sqlite:// needs a file path".into(),
            ));
        }
        Ok((Backend::Sqlite, path.to_owned()))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok((Backend::Sqlite, path.to_owned()))
    } else {
        Err(StoreError::Config(
            "JEKCMS_DATABASE_URL must start with sqlite:// or postgres://".into(),
        ))
    }
}

impl Store {
    /// Connects to `url` (`sqlite://PATH`, `sqlite::memory:` or `postgres://…`) and runs
    /// pending migrations. An unreachable PostgreSQL server is retried, each failure logged
    /// with its reason and the server's host (never the credentials), for up to
    /// `options.startup_timeout`; then this fails with the last reason.
    pub fn connect(
        url: &str,
        options: StoreOptions,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + use<> {
        // Boxed like the repository methods: unboxed, connecting and migrating (diesel's
        // migration harness, tokio-postgres's handshake) was compiled into every caller.
        let url = url.to_owned();
        boxed(async move { Self::connect_inner(&url, options).await })
    }

    async fn connect_inner(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let (backend, target) = parse_url(url)?;
        let store = match backend {
            Backend::Postgres => {
                let pool = pg_pool(&target, options, options.max_connections)?;
                Self {
                    db: Db::Pg(pool.clone()),
                    pg: Some(Arc::new(PgPools {
                        target: target.clone(),
                        options,
                        all: std::sync::Mutex::new(vec![pool]),
                    })),
                }
            }
            Backend::Sqlite => {
                // An in-memory database exists per connection; a named shared-cache one is
                // visible to all connections of this process, as readers and writer need.
                let target = if target == ":memory:" {
                    format!(
                        "file:jekcms-memory-{}?mode=memory&cache=shared",
                        memory_db_id()
                    )
                } else {
                    target.clone()
                };
                let read = sqlite_pool!(SqliteRead, &target, options.max_connections, options)?;
                let write = sqlite_pool!(SqliteWrite, &target, 1, options)?;
                Self {
                    db: Db::Sqlite { read, write },
                    pg: None,
                }
            }
        };
        match (
            backend,
            store.migrate_when_reachable(&target, options).await,
        ) {
            (_, Ok(())) => Ok(store),
            // SQLite's own words ("unable to open database file") do not say which file.
            (Backend::Sqlite, Err(StoreError::Unavailable(reason))) if target != ":memory:" => {
                Err(StoreError::Unavailable(format!(
                    "cannot open the SQLite database {target}{}: {reason}",
                    missing_directory(&target)
                )))
            }
            (_, Err(e)) => Err(e),
        }
    }

    /// Closes the pooled PostgreSQL connections that nobody is using (SQLite: nothing to do).
    /// The server calls it once start-up (migrations, settings, the key) is done, so that
    /// the start-up connections do not stay open for nothing.
    pub fn close_idle_connections(&self) {
        if let Db::Pg(pool) = &self.db {
            pool.retain(|_, _| false);
        }
    }

    /// A handle on the same database with PostgreSQL connections of its own (at most
    /// `max_connections`), for the tasks of one single-threaded runtime — an HTTP worker.
    /// SQLite: a clone of this handle.
    ///
    /// Why: a PostgreSQL connection is driven by a task on the runtime that opened it. A
    /// query from another thread wakes that runtime to send it, and the answer wakes the
    /// asking thread back: two cross-thread wake-ups per query, measured at ~40 % of the
    /// server's CPU on a cached pull request. A pool per worker keeps every query on the
    /// thread that asks. [`Store::pool_status`] counts every pool.
    pub fn for_this_thread(&self, max_connections: usize) -> Result<Store, StoreError> {
        let Some(pg) = &self.pg else {
            return Ok(self.clone());
        };
        let pool = pg_pool(&pg.target, pg.options, max_connections.max(1))?;
        pg.all
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pool.clone());
        Ok(Store {
            db: Db::Pg(pool),
            pg: self.pg.clone(),
        })
    }

    /// How busy the connection pools are right now (PostgreSQL: `main`, every pool of
    /// [`Store::for_this_thread`] summed; SQLite: `read` and
    /// `write`), for the server's metrics. Reading it takes no connection.
    pub fn pool_status(&self) -> Vec<PoolStatus> {
        fn of<M: deadpool::managed::Manager>(
            name: &'static str,
            pool: &deadpool::managed::Pool<M>,
        ) -> PoolStatus {
            let status = pool.status();
            PoolStatus {
                pool: name,
                max: status.max_size,
                in_use: status.size.saturating_sub(status.available),
                waiting: status.waiting,
            }
        }
        match &self.db {
            // Every pool opened through `for_this_thread`, as one.
            Db::Pg(pool) => {
                let Some(pg) = &self.pg else {
                    return vec![of("main", pool)];
                };
                let all = pg
                    .all
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut sum = PoolStatus {
                    pool: "main",
                    max: 0,
                    in_use: 0,
                    waiting: 0,
                };
                for one in all.iter().map(|p| of("main", p)) {
                    sum.max += one.max;
                    sum.in_use += one.in_use;
                    sum.waiting += one.waiting;
                }
                vec![sum]
            }
            Db::Sqlite { read, write } => vec![of("read", read), of("write", write)],
        }
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Pg(_) => Backend::Postgres,
            Db::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Whether the database answers (for `/readyz`).
    pub fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send + '_ {
        use diesel_async::RunQueryDsl;
        boxed(async move {
            with_conn!(self, conn => {
                diesel::sql_query("SELECT 1").execute(conn).await?;
                Ok(())
            })
        })
    }
}

fn memory_db_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    u64::from(std::process::id()) << 32 | NEXT.fetch_add(1, Ordering::Relaxed)
}

/// UTC time as stored.
pub(crate) fn naive(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    t.naive_utc()
}

/// Stored time as UTC.
pub(crate) fn utc(t: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    t.and_utc()
}

#[cfg(test)]
mod tests {
    use super::{Backend, Db, Store, UniqueKey, unique_key};
    use crate::testing::TestDatabase;

    /// A worker's handle opens connections of its own, on the runtime that asks (here a
    /// single-threaded one on a thread of its own, as an HTTP worker is), and
    /// `pool_status` counts them with the rest; SQLite's is the same handle.
    async fn a_handle_for_a_thread_has_connections_of_its_own(backend: Backend) {
        let Some(db) = TestDatabase::new(backend).await else {
            return;
        };
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        store.close_idle_connections();
        let max = |s: &Store| s.pool_status().iter().map(|p| p.max).sum::<usize>();
        let before = max(&store);
        let worker = store.clone();
        let local = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let local = worker.for_this_thread(2).unwrap();
                local.ping().await.unwrap();
                local
            })
        })
        .join()
        .unwrap();
        match (&store.db, &local.db) {
            (Db::Pg(main), Db::Pg(own)) => {
                assert_eq!(main.status().size, 0, "the main pool opened nothing");
                assert_eq!(own.status().size, 1);
                assert_eq!(own.status().max_size, 2);
                assert_eq!(max(&store), before + 2);
                assert_eq!(max(&local), before + 2);
            }
            (Db::Sqlite { .. }, Db::Sqlite { .. }) => assert_eq!(max(&local), before),
            _ => panic!("one backend"),
        }
        // The main handle still works, on connections of its own.
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn a_handle_for_a_thread_has_connections_of_its_own_sqlite() {
        a_handle_for_a_thread_has_connections_of_its_own(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn a_handle_for_a_thread_has_connections_of_its_own_postgres() {
        a_handle_for_a_thread_has_connections_of_its_own(Backend::Postgres).await;
    }

    /// The same rule reads the same from PostgreSQL's constraint name and SQLite's message.
    #[test]
    fn unique_violations_name_their_rule_on_both_stores() {
        let cases = [
            (
                "users_site_email_key",
                "users.site_id, users.email",
                UniqueKey::UserEmail,
            ),
            ("sites_slug_key", "sites.slug", UniqueKey::SiteSlug),
            (
                "api_keys_public_id_key",
                "api_keys.public_id",
                UniqueKey::KeyId,
            ),
            (
                "posts_site_id_slug_key",
                "posts.site_id, posts.slug",
                UniqueKey::PostSlug,
            ),
        ];
        for (constraint, columns, key) in cases {
            let pg_message =
                format!("duplicate key value violates unique constraint \"{constraint}\"");
            assert_eq!(unique_key(Some(constraint), &pg_message), key);
            let sqlite_message = format!("UNIQUE constraint failed: {columns}");
            assert_eq!(unique_key(None, &sqlite_message), key);
        }
        assert_eq!(
            unique_key(Some("refresh_tokens_token_hash_key"), "duplicate key"),
            UniqueKey::Other("refresh_tokens_token_hash_key".into())
        );
        assert_eq!(
            unique_key(None, "UNIQUE constraint failed: users.email"),
            UniqueKey::Other("users.email".into())
        );
        assert_eq!(unique_key(None, "odd"), UniqueKey::Other("odd".into()));
    }
}
