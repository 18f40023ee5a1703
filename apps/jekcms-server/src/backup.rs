//! `jekcms backup --output DIR` and `jekcms restore DIR`: the embedded store's backups.
//!
//! A backup is a directory: `jekcms.db` (a consistent online snapshot, see
//! [`jekcms_store::backup::snapshot`]), `media/` (the file of every medium that snapshot
//! references, copied after it, so that no row lacks its file unless the medium was deleted
//! in between — such files are listed as missing), `jekcms.db.key` (the token key file, when
//! the deployment keeps one; it is secret, so the directory is private to its owner) and
//! `manifest.json`, written last: a directory without it is an unfinished backup, and
//! restore refuses it. PostgreSQL deployments back up with `pg_dump` or their provider's
//! snapshots (docs/operations.md).
//!
//! With media in a bucket (`JEKCMS_MEDIA_STORE`), the backup holds the database only: the
//! objects stay in the bucket (back it up with its versioning or replication), and the
//! manifest names it (`media_store`). Restore puts such a backup back only into a deployment
//! on a bucket, and a backup with local media only into one on a directory: either way
//! round, the records would name files the target does not have.

use crate::config::Config;
use crate::state::StartError;
use jekcms_store::Backend;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The manifest's `format`.
const FORMAT: &str = "jekcms-backup/1";
const DATABASE_FILE: &str = "jekcms.db";
const KEY_FILE: &str = "jekcms.db.key";
const MEDIA_DIR: &str = "media";
const MANIFEST: &str = "manifest.json";

/// `manifest.json`: what a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always `jekcms-backup/1`.
    pub format: String,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
    /// The JekCMS version that took it.
    pub jekcms_version: String,
    /// The newest migration of the snapshot.
    pub schema_version: Option<String>,
    /// Posts in the snapshot (deleted ones included).
    pub posts: i64,
    /// Media files copied.
    pub media_files: usize,
    /// Their bytes.
    pub media_bytes: u64,
    /// Storage keys of media whose file was gone when copied (deleted meanwhile).
    pub missing_media: Vec<String>,
    /// Whether the token key file is in the backup (false when the key comes from
    /// `JEKCMS_SECRET_KEY`, which the operator keeps elsewhere).
    pub key_file: bool,
    /// `s3://bucket/prefix` when the media stayed in that bucket (none are in the backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_store: Option<String>,
}

/// The SQLite file behind the configured store, or why there is none.
fn sqlite_path(config: &Config, command: &str) -> Result<PathBuf, StartError> {
    match jekcms_store::parse_url(&config.database_url) {
        Ok((Backend::Sqlite, path)) if path != ":memory:" => Ok(PathBuf::from(path)),
        Ok((Backend::Sqlite, _)) => Err(StartError(format!(
            "JEKCMS_DATABASE_URL: an in-memory database has nothing to {command}"
        ))),
        Ok((Backend::Postgres, _)) => Err(StartError(format!(
            "JEKCMS_DATABASE_URL: jekcms {command} handles the embedded SQLite store; back up \
             PostgreSQL with pg_dump or your provider's snapshots (docs/operations.md)"
        ))),
        Err(e) => Err(StartError(format!("JEKCMS_DATABASE_URL: {e}"))),
    }
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

fn io(what: &Path, e: std::io::Error) -> StartError {
    StartError(format!("{}: {e}", what.display()))
}

/// Takes a backup of the configured SQLite store and its media into `output`, a new or
/// empty directory; the servers may keep serving meanwhile.
pub async fn backup(config: &Config, output: &Path) -> Result<Manifest, StartError> {
    let database = sqlite_path(config, "backup")?;
    if output.exists() && !is_empty_dir(output) {
        return Err(StartError(format!(
            "--output: {} is not empty; a backup goes into a new or empty directory",
            output.display()
        )));
    }
    create_private_dir(output)?;
    let config = config.clone();
    let output = output.to_owned();
    tokio::task::spawn_blocking(move || take_backup(&config, &database, &output))
        .await
        .map_err(|e| StartError(format!("the backup stopped: {e}")))?
}

fn take_backup(config: &Config, database: &Path, output: &Path) -> Result<Manifest, StartError> {
    let snapshot = output.join(DATABASE_FILE);
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    jekcms_store::backup::snapshot(database, &snapshot)
        .map_err(|e| StartError(format!("JEKCMS_DATABASE_URL: {e}")))?;
    let info = jekcms_store::backup::inspect(&snapshot)
        .map_err(|e| StartError(format!("the snapshot: {e}")))?;
    let keys = jekcms_store::backup::media_keys(&snapshot)
        .map_err(|e| StartError(format!("the snapshot: {e}")))?;

    let mut manifest = Manifest {
        format: FORMAT.to_owned(),
        created_at,
        jekcms_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: info.schema_version,
        posts: info.posts,
        media_files: 0,
        media_bytes: 0,
        missing_media: Vec::new(),
        key_file: false,
        media_store: config
            .media_store
            .as_ref()
            .map(|s3| s3.location.to_string()),
    };
    // Media in a bucket stay there.
    let keys = if manifest.media_store.is_some() {
        Vec::new()
    } else {
        keys
    };
    for key in keys {
        let from = crate::uploads::path_of(&config.media_dir, &key);
        let to = output.join(MEDIA_DIR).join(&key);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        match std::fs::copy(&from, &to) {
            Ok(bytes) => {
                manifest.media_files += 1;
                manifest.media_bytes += bytes;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => manifest.missing_media.push(key),
            Err(e) => return Err(io(&from, e)),
        }
    }
    if config.secret_key.is_none()
        && let Some(key_file) = crate::secret_key::key_file(config)
        && key_file.is_file()
    {
        copy_private(&key_file, &output.join(KEY_FILE))?;
        manifest.key_file = true;
    }
    write_manifest(output, &manifest)?;
    Ok(manifest)
}

/// Restores the backup in `input` into the configured SQLite store and media directory.
/// A target that holds a database or media already is refused unless `force`, which
/// replaces both. Stop every server using the target first.
pub async fn restore(config: &Config, input: &Path, force: bool) -> Result<Manifest, StartError> {
    let database = sqlite_path(config, "restore")?;
    let manifest = read_manifest(input)?;
    let snapshot = input.join(DATABASE_FILE);
    let info = jekcms_store::backup::inspect(&snapshot)
        .map_err(|e| StartError(format!("{}: {e}", input.display())))?;
    if let (Some(theirs), Some(ours)) = (
        &info.schema_version,
        jekcms_store::backup::known_schema_version(),
    ) && *theirs > ours
    {
        return Err(StartError(format!(
            "{}: made by a newer JekCMS (schema {theirs}; this one knows up to {ours})",
            input.display()
        )));
    }
    let bucket = config
        .media_store
        .as_ref()
        .map(|s3| s3.location.to_string());
    match (&manifest.media_store, &bucket) {
        (Some(theirs), None) => {
            return Err(StartError(format!(
                "{}: its media are in {theirs}; restore it with JEKCMS_MEDIA_STORE set to that \
                 bucket",
                input.display()
            )));
        }
        (None, Some(ours)) => {
            return Err(StartError(format!(
                "{}: its media are files in the backup, but JEKCMS_MEDIA_STORE is {ours}; \
                 restore it into a deployment on JEKCMS_MEDIA_DIR",
                input.display()
            )));
        }
        _ => {}
    }
    let occupied = std::fs::metadata(&database).is_ok_and(|m| m.len() > 0)
        || (bucket.is_none() && !is_empty_dir(&config.media_dir));
    if occupied && !force {
        return Err(StartError(format!(
            "{} or {} holds data already; --force replaces them (stop every server using \
             them first)",
            database.display(),
            config.media_dir.display()
        )));
    }
    let config = config.clone();
    let input = input.to_owned();
    let restored = manifest.clone();
    tokio::task::spawn_blocking(move || put_back(&config, &database, &input, &restored))
        .await
        .map_err(|e| StartError(format!("the restore stopped: {e}")))??;
    Ok(manifest)
}

fn put_back(
    config: &Config,
    database: &Path,
    input: &Path,
    manifest: &Manifest,
) -> Result<(), StartError> {
    // Media first, into a fresh directory: a restore cut short leaves the old database in
    // place rather than a new database without its files. Media in a bucket stay there.
    if manifest.media_store.is_none() {
        if config.media_dir.exists() {
            std::fs::remove_dir_all(&config.media_dir).map_err(|e| io(&config.media_dir, e))?;
        }
        std::fs::create_dir_all(&config.media_dir).map_err(|e| io(&config.media_dir, e))?;
        copy_tree(&input.join(MEDIA_DIR), &config.media_dir)?;
    }

    // The database by rename, so that it is the old file or the new one, never half.
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    let part = database.with_extension("restoring");
    std::fs::copy(input.join(DATABASE_FILE), &part).map_err(|e| io(&part, e))?;
    std::fs::File::open(&part)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&part, e))?;
    for stale in ["-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{stale}", database.display()));
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        }
    }
    std::fs::rename(&part, database).map_err(|e| io(database, e))?;

    if manifest.key_file
        && config.secret_key.is_none()
        && let Some(key_file) = crate::secret_key::key_file(config)
    {
        if key_file.exists() {
            std::fs::remove_file(&key_file).map_err(|e| io(&key_file, e))?;
        }
        copy_private(&input.join(KEY_FILE), &key_file)?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), StartError> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| io(from, e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| io(&source, e))?.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| io(&target, e))?;
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(|e| io(&source, e))?;
        }
    }
    Ok(())
}

fn write_manifest(output: &Path, manifest: &Manifest) -> Result<(), StartError> {
    let path = output.join(MANIFEST);
    let text = serde_json::to_string_pretty(manifest).expect("the manifest serializes");
    std::fs::write(&path, text + "\n").map_err(|e| io(&path, e))
}

fn read_manifest(input: &Path) -> Result<Manifest, StartError> {
    let path = input.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        StartError(format!(
            "{}: no manifest.json: not a backup, or one that did not finish",
            input.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| StartError(format!("{}: unreadable manifest: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(StartError(format!(
            "{}: format {:?}, expected {FORMAT}",
            path.display(),
            manifest.format
        )));
    }
    Ok(manifest)
}

fn create_private_dir(dir: &Path) -> Result<(), StartError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io(dir, e))?;
    }
    Ok(())
}

/// Copies a secret file, readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> Result<(), StartError> {
    let bytes = std::fs::read(from).map_err(|e| io(from, e))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(to).map_err(|e| io(to, e))?;
    std::io::Write::write_all(&mut file, &bytes).map_err(|e| io(to, e))
}
