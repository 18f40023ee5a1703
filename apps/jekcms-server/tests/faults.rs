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
