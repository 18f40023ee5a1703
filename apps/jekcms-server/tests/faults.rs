#![allow(missing_docs)]
//! Fault injection on the real `jekcms` binary: what happens to several processes sharing a
//! database, and to one whose database stops answering.

use jekcms_store::Backend;
use jekcms_store::testing::TestDatabase;
use std::process::{Command, Stdio};

/// Runs `jekcms migrate` on `url` in `n` processes started together; returns each one's
/// exit status and stderr.
fn migrate_together(url: &str, n: usize) -> Vec<(bool, String)> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_jekcms"))
                .arg("migrate")
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("JEKCMS_DATABASE_URL", url)
                .env("JEKCMS_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start jekcms migrate")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait for jekcms migrate");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect()
}

/// Instances started at once on an empty database all migrate it: the second waits for
/// the first instead of failing on the tables the first is creating.
async fn concurrent_migrations_all_succeed(backend: Backend) {
    // Several fresh databases: one race can be won by luck, not six in a row.
    for round in 0..6 {
        let Some(db) = TestDatabase::new(backend).await else {
            return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
        };
        let url = db.url().to_owned();
        let outcomes = tokio::task::spawn_blocking(move || migrate_together(&url, 4))
            .await
            .unwrap();
        for (ok, stderr) in outcomes {
            assert!(ok, "round {round}: a concurrent migrate failed: {stderr}");
        }
    }
}

#[tokio::test]
async fn concurrent_migrations_all_succeed_sqlite() {
    concurrent_migrations_all_succeed(Backend::Sqlite).await;
}

#[tokio::test]
async fn concurrent_migrations_all_succeed_postgres() {
    concurrent_migrations_all_succeed(Backend::Postgres).await;
}

/// A new instance whose PostgreSQL does not answer (frozen, or a black hole) retries with
/// a logged reason naming the server, never the password, and gives up after
/// `JEKCMS_DB_STARTUP_TIMEOUT` with one line, instead of hanging silently.
#[tokio::test]
async fn start_up_against_a_silent_database_gives_up_in_bounded_time() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let proxy = jekcms_store::testing::FreezingProxy::start(db.url());
    proxy.freeze();
    // Trust authentication ignores the password; it must appear nowhere in the output.
    let url = proxy
        .url()
        .replacen("://postgres@", "://postgres:pw-never-logged@", 1);
    assert!(url.contains("pw-never-logged"), "{url}");
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jekcms"))
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("JEKCMS_DATABASE_URL", &url)
        .env("JEKCMS_DB_CONNECT_TIMEOUT", "1")
        .env("JEKCMS_DB_STARTUP_TIMEOUT", "3")
        .env("JEKCMS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jekcms migrate");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("jekcms migrate still waiting after 20 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        took < std::time::Duration::from_secs(8),
        "gave up after {took:?}: {stderr}"
    );
    let server = url.rsplit_once('@').unwrap().1.split('/').next().unwrap();
    assert!(
        stderr.contains("retrying") && stderr.contains(server),
        "{stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("jekcms: ") && last.contains("unreachable after 3 s"),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-never-logged"), "{stderr}");
}
