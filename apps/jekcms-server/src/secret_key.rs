//! The key that seals access tokens and cursors, kept out of the database: a copy of the
//! database (a backup, a replica) must not be enough to forge a token.
//!
//! - `JEKCMS_SECRET_KEY` set: that key, on either backend.
//! - PostgreSQL without it: start-up refuses (every instance must seal with the same key, and
//!   the only place they all share is the database).
//! - SQLite without it: a key generated once into a file beside the database (mode 0600,
//!   `JEKCMS_SECRET_KEY_FILE` to put it elsewhere); `sqlite::memory:` keeps one in memory.
//!
//! Earlier versions kept a generated key in the `settings` table. SQLite moves it into the
//! file on first start, so tokens already issued stay valid; on either backend the row is
//! deleted once the key comes from elsewhere.

use crate::config::{Config, MAKE_A_KEY, parse_secret_key};
use crate::state::StartError;
use jekcms_store::{Backend, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where earlier versions kept the generated key.
const LEGACY_SETTING: &str = "secret_key";

/// The key for this deployment; see the module documentation.
pub async fn load(config: &Config, store: &Store) -> Result<[u8; 32], StartError> {
    let legacy = store.setting(LEGACY_SETTING).await.map_err(|e| {
        StartError(format!(
            "JEKCMS_DATABASE_URL: cannot read the settings: {e}"
        ))
    })?;
    let key = match (config.secret_key, store.backend()) {
        (Some(key), _) => key,
        (None, Backend::Postgres) => {
            let keep = if legacy.is_some() {
                " This database holds the key an earlier version generated: to keep the tokens \
                 issued so far valid, set JEKCMS_SECRET_KEY to the value of \
                 `SELECT value FROM settings WHERE name = 'secret_key'` (it is then removed \
                 from the database)."
            } else {
                ""
            };
            return Err(StartError(format!(
                "JEKCMS_SECRET_KEY: required with PostgreSQL, where every instance must seal \
                 tokens with the same key and the database is no place for it; {MAKE_A_KEY} \
                 and give the same value to every instance.{keep}"
            )));
        }
        (None, Backend::Sqlite) => match key_file(config) {
            None => random_key(),
            Some(path) => file_key(&path, legacy.as_deref())?,
        },
    };
    if legacy.is_some() {
        store.delete_setting(LEGACY_SETTING).await.map_err(|e| {
            StartError(format!(
                "JEKCMS_DATABASE_URL: cannot remove the old key from the settings: {e}"
            ))
        })?;
    }
    Ok(key)
}

/// The key file of a SQLite deployment: `JEKCMS_SECRET_KEY_FILE`, or the database path plus
/// `.key`; `None` for an in-memory database without a configured file.
pub fn key_file(config: &Config) -> Option<PathBuf> {
    if let Some(path) = &config.secret_key_file {
        return Some(path.clone());
    }
    match jekcms_store::parse_url(&config.database_url) {
        Ok((Backend::Sqlite, path)) if path != ":memory:" => {
            Some(PathBuf::from(format!("{path}.key")))
        }
        _ => None,
    }
}

/// Reads the key file, or creates it with the legacy key (if the database had one) or a new
/// random key.
fn file_key(path: &Path, legacy: Option<&str>) -> Result<[u8; 32], StartError> {
    let fail = |m: String| StartError(format!("JEKCMS_SECRET_KEY_FILE ({}): {m}", path.display()));
    if let Some(key) = read_key_file(path).map_err(fail)? {
        return Ok(key);
    }
    let key = match legacy {
        Some(hex_key) => parse_secret_key(hex_key)
            .map_err(|m| fail(format!("the key stored in the database is unusable: {m}")))?,
        None => random_key(),
    };
    match create_key_file(path, &key) {
        Ok(()) => Ok(key),
        // Another process starting at the same moment wrote it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path)
            .map_err(fail)?
            .ok_or_else(|| fail("it vanished while being created".into())),
        Err(e) => Err(fail(format!("cannot create it: {e}"))),
    }
}

/// The key in `path`, `None` if there is no such file. A file others may read is refused,
/// as ssh refuses a private key others may read.
fn read_key_file(path: &Path) -> Result<Option<[u8; 32]>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot read it: {e}"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "other users may read it (mode {:o}); run chmod 600 on it",
                mode & 0o777
            ));
        }
    }
    parse_secret_key(&text).map(Some)
}

/// Writes a new key file readable by its owner only. The key is written to a private
/// temporary file and then linked into place, so a concurrent reader never sees it half
/// written and an existing file is never replaced (`AlreadyExists`).
fn create_key_file(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.tmp", std::process::id()));
    let temp = PathBuf::from(temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    linked
}

fn random_key() -> [u8; 32] {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut k = [0u8; 32];
    SystemRandom::new()
        .fill(&mut k)
        .expect("system randomness is available");
    k
}
