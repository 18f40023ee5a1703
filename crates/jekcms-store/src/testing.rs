//! Throwaway databases for tests (feature `test-support`): a fresh SQLite file, or a fresh
//! PostgreSQL database created on the server named by `JEKCMS_TEST_POSTGRES_URL` and dropped
//! when the guard is dropped. Tests never depend on what another test left behind.

use crate::{Backend, StoreError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::path::PathBuf;

/// The variable naming the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "JEKCMS_TEST_POSTGRES_URL";

/// A database that exists for as long as this guard does.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    SqliteDir(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

impl TestDatabase {
    /// A new empty SQLite database file in a private temporary directory.
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("jekcms_test_{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.join("test.db").display());
        Self {
            url,
            cleanup: Cleanup::SqliteDir(dir),
        }
    }

    /// A new empty PostgreSQL database, or `None` when `JEKCMS_TEST_POSTGRES_URL` is unset.
    ///
    /// # Panics
    /// When the variable is set but the server cannot be reached: a PostgreSQL leg that was
    /// asked for must fail, not skip.
    pub async fn postgres() -> Option<Self> {
        let admin_url = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|v| !v.is_empty())?;
        let name = format!("jekcms_test_{}", unique_suffix());
        let mut conn = AsyncPgConnection::establish(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}")
            });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let url = replace_database(&admin_url, &name);
        Some(Self {
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// A database of the given backend (`None`: PostgreSQL not configured).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// Makes the database unreachable while the app still points at it (PostgreSQL: drops
    /// it, closing every connection). Returns `false` for SQLite, which cannot be taken
    /// away from under open connections.
    pub async fn make_unreachable(&self) -> bool {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return false;
        };
        let mut conn = AsyncPgConnection::establish(admin_url)
            .await
            .expect("connect to the admin database");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .expect("drop the test database");
        true
    }

    /// Its URL, as `JEKCMS_DATABASE_URL` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `postgres://u@h:p/old?x` → `postgres://u@h:p/new?x`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside whatever runtime the test uses; do the async work on a
                // thread with its own runtime and wait for it.
                let _ = std::thread::spawn(move || -> Result<(), StoreError> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| StoreError::Config(e.to_string()))?;
                    rt.block_on(async {
                        let mut conn = AsyncPgConnection::establish(&admin_url)
                            .await
                            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await?;
                        Ok(())
                    })
                })
                .join();
            }
        }
    }
}

impl crate::Store {
    /// Runs one raw SQL statement (tests install failure triggers with it). Test support
    /// only: nothing in the server calls it.
    pub async fn execute_for_tests(&self, sql: &str) -> Result<(), StoreError> {
        use diesel_async::RunQueryDsl;
        crate::with_write_conn!(self, conn => {
            diesel::sql_query(sql).execute(conn).await?;
        });
        Ok(())
    }

    /// Runs one raw `SELECT COUNT(*) AS n …` and returns `n`. Test support only.
    pub async fn count_for_tests(&self, sql: &str) -> Result<i64, StoreError> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count = crate::with_write_conn!(self, conn => {
            diesel::sql_query(sql).get_result::<Count>(conn).await?
        });
        Ok(count.n)
    }
}

/// A TCP proxy in front of a PostgreSQL server that can stop forwarding without closing
/// anything: the network black hole (or frozen server) that timeouts must survive. Its
/// connections stay open while frozen; bytes resume flowing when thawed. It runs on a
/// runtime of its own, so that it keeps forwarding while its caller's thread blocks (as
/// `Store::connect` does while migrating).
#[derive(Debug)]
pub struct FreezingProxy {
    url: String,
    frozen: tokio::sync::watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FreezingProxy {
    /// Starts forwarding a local port to the server of the PostgreSQL `url`.
    ///
    /// # Panics
    /// When no runtime can be built or no local port bound.
    pub fn start(url: &str) -> Self {
        let upstream = crate::pg_connect::describe_target(url);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the proxy");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let local = listener.local_addr().expect("a bound address");
        let (frozen, watch) = tokio::sync::watch::channel(false);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((client, _)) = listener.accept().await {
                let watch = watch.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // A frozen proxy accepts (the kernel would) but forwards nothing.
                    let _ = watch.clone().wait_for(|f| !*f).await;
                    let Ok(server) = tokio::net::TcpStream::connect(upstream.as_str()).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        forward(client_read, server_write, watch.clone()),
                        forward(server_read, client_write, watch),
                    );
                });
            }
        });
        Self {
            url: replace_authority(url, &local.to_string()),
            frozen,
            runtime: Some(runtime),
        }
    }

    /// The same database, through the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops forwarding; connections stay open.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Resumes forwarding.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        // Without waiting: the proxy may be dropped inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Copies bytes from `from` to `to`, holding each read while the proxy is frozen.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() {
            break;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// `postgres://u@h:p/db?x` → `postgres://u@AUTHORITY/db?x`.
fn replace_authority(url: &str, authority: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..host_end].rfind('@').map_or(0, |i| i + 1);
    format!(
        "{}{}{authority}{}",
        &url[..scheme_end],
        &rest[..host_start],
        &rest[host_end..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_are_replaced() {
        assert_eq!(
            replace_authority("postgres://postgres@127.0.0.1:5432/db?x=1", "127.0.0.1:9"),
            "postgres://postgres@127.0.0.1:9/db?x=1"
        );
        assert_eq!(
            replace_authority("postgres://h/db", "127.0.0.1:9"),
            "postgres://127.0.0.1:9/db"
        );
    }

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h:1?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
    }
}
