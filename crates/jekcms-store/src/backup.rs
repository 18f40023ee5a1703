//! Online copies of an SQLite store, for `jekcms backup` and `jekcms restore`: a consistent
//! snapshot taken while servers keep serving, what it references, and the checks a restore
//! makes before it trusts a copy. Plain blocking functions on their own connections (run
//! them off the async workers): they never go through a [`crate::Store`], so they neither
//! migrate nor configure the database they read.
//!
//! PostgreSQL deployments use `pg_dump` or their provider's snapshots instead.

use crate::StoreError;
use crate::schema::{media, posts};
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel::sqlite::SqliteConnection;
use std::path::Path;

/// What a database file holds, as a restore checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The newest migration applied to it (e.g. `20261203000007`); `None` when it has none.
    pub schema_version: Option<String>,
    /// Posts in it, deleted ones included.
    pub posts: i64,
    /// Media rows in it.
    pub media: i64,
}

/// Writes a consistent copy of the SQLite database at `source` to `dest`, a file that must
/// not exist yet. `VACUUM INTO` reads the whole database in one read transaction — in WAL
/// mode writers go on meanwhile — so the copy is the database as of one instant, compacted.
pub fn snapshot(source: &Path, dest: &Path) -> Result<(), StoreError> {
    if !source.is_file() {
        return Err(StoreError::Config(format!(
            "no SQLite database at {}",
            source.display()
        )));
    }
    if dest.exists() {
        return Err(StoreError::Config(format!(
            "{} exists already",
            dest.display()
        )));
    }
    let dest = dest
        .to_str()
        .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", dest.display())))?;
    let mut conn = open(source)?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(dest)
        .execute(&mut conn)?;
    Ok(())
}

/// The storage keys of every medium of the database file at `path` (a snapshot): the
/// files a backup must hold beside it.
pub fn media_keys(path: &Path) -> Result<Vec<String>, StoreError> {
    let mut conn = open_existing(path)?;
    Ok(media::table
        .select(media::storage_key)
        .order(media::id)
        .load(&mut conn)?)
}

/// Checks the database file at `path` (`PRAGMA integrity_check`) and says what it holds.
pub fn inspect(path: &Path) -> Result<SnapshotInfo, StoreError> {
    let mut conn = open_existing(path)?;
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn)?;
    if checks.len() != 1 || checks[0].integrity_check != "ok" {
        let problems: Vec<String> = checks.into_iter().map(|c| c.integrity_check).collect();
        return Err(StoreError::Corrupt(format!(
            "{} fails SQLite's integrity check: {}",
            path.display(),
            problems.join("; ")
        )));
    }
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Nullable<Text>)]
        version: Option<String>,
    }
    let version =
        diesel::sql_query("SELECT MAX(version) AS version FROM __diesel_schema_migrations")
            .get_result::<Version>(&mut conn)
            .map_err(|_| {
                StoreError::Corrupt(format!("{} is not a JekCMS database", path.display()))
            })?;
    let posts = posts::table.count().get_result(&mut conn)?;
    let media = media::table.count().get_result(&mut conn)?;
    Ok(SnapshotInfo {
        schema_version: version.version,
        posts,
        media,
    })
}

/// The newest SQLite migration this build knows: a database whose
/// [`SnapshotInfo::schema_version`] is newer was made by a newer JekCMS.
pub fn known_schema_version() -> Option<String> {
    let migrations =
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&crate::migrate::SQLITE_MIGRATIONS)
            .ok()?;
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .max()
}

fn open_existing(path: &Path) -> Result<SqliteConnection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Config(format!(
            "no SQLite database at {}",
            path.display()
        )));
    }
    open(path)
}

fn open(path: &Path) -> Result<SqliteConnection, StoreError> {
    let url = path
        .to_str()
        .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", path.display())))?;
    let mut conn = SqliteConnection::establish(url)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    // A server writing at this moment holds the write lock briefly; wait for it.
    diesel::sql_query("PRAGMA busy_timeout = 5000").execute(&mut conn)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;

    #[tokio::test]
    async fn a_snapshot_is_a_checked_copy_of_a_live_database() {
        let db = TestDatabase::sqlite();
        let store = crate::Store::connect(db.url(), Default::default())
            .await
            .unwrap();
        let site = store.ensure_site("s", "S").await.unwrap();
        drop(store);
        let source = std::path::PathBuf::from(db.url().strip_prefix("sqlite://").unwrap());
        let dest = source.with_extension("snapshot");
        snapshot(&source, &dest).unwrap();
        let info = inspect(&dest).unwrap();
        assert_eq!(info.schema_version, known_schema_version());
        assert_eq!((info.posts, info.media), (0, 0));
        assert!(media_keys(&dest).unwrap().is_empty());
        assert!(site.id > 0);

        // Never over an existing file, never from a missing one.
        assert!(snapshot(&source, &dest).is_err());
        assert!(snapshot(&source.with_extension("missing"), &dest.with_extension("x")).is_err());
        // A file that is not a JekCMS database is refused by inspect.
        let junk = source.with_extension("junk");
        std::fs::write(&junk, b"not sqlite at all, just bytes").unwrap();
        assert!(inspect(&junk).is_err());
        for f in [dest, junk] {
            let _ = std::fs::remove_file(f);
        }
    }
}
