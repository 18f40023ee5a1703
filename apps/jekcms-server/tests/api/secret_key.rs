//! The key that seals access tokens and cursors is never in the database: SQLite keeps a
//! generated one in a file beside it, PostgreSQL requires `JEKCMS_SECRET_KEY`, and a key an
//! earlier version left in `settings` is moved out without invalidating its tokens.

use crate::helpers::{both_stores, test_secret_key};
use jekcms_auth::{AccessTokens, CredentialFamily, Role, SecretHash};
use jekcms_server::config::Config;
use jekcms_server::state::AppState;
use jekcms_store::testing::TestDatabase;
use jekcms_store::{Backend, Store};

fn config(db: &TestDatabase, secret_key: Option<[u8; 32]>) -> Config {
    let mut config = Config::from_lookup(|_| None).unwrap();
    config.database_url = db.url().to_owned();
    config.media_dir =
        std::env::temp_dir().join(format!("jekcms_secret_key_media_{}", std::process::id()));
    config.secret_key = secret_key;
    config
}

/// The key file of a SQLite test database.
fn key_file(db: &TestDatabase) -> std::path::PathBuf {
    format!("{}.key", db.url().strip_prefix("sqlite://").unwrap()).into()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A session of an owner: (session id, user id, site id).
async fn a_session(state: &AppState) -> (i64, i64, i64) {
    let store = &state.store;
    let site = store.ensure_site("default", "default").await.unwrap();
    let user = store
        .ensure_user(site.id, "owner@example.com", "owner", Role::Owner)
        .await
        .unwrap();
    let (key, secret) = (
        CredentialFamily::ApiKey.generate(),
        CredentialFamily::ApiSecret.generate(),
    );
    jekcms_accounts::AccountStore::create_key(
        store,
        site.id,
        jekcms_accounts::model::NewApiKey {
            user_id: user.id,
            family: jekcms_accounts::KeyFamily::Api,
            name: "test".into(),
            public_id: key.clone(),
            secret_hash: SecretHash::of(&secret),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let pair = state.tokens.exchange_api_key(&key, &secret).await.unwrap();
    (pair.session_id, user.id, site.id)
}

both_stores! {
    async fn the_database_holds_no_token_key(app) {
        assert_eq!(app.state.store.setting("secret_key").await.unwrap(), None);
        // Yet every instance seals with the same key: a token of one works on the other.
        let owner = app.owner().await;
        let other = app.another_instance().await;
        other.get("/api/v2/me", &owner.access).await.expect(200);
        if app.state.store.backend() == Backend::Sqlite {
            let text = std::fs::read_to_string(key_file(&app.db)).unwrap();
            assert_eq!(text.trim().len(), 64, "64 hex characters");
            #[cfg(unix)]
            assert_eq!(mode(&key_file(&app.db)), 0o600);
        }
    }
}

/// Without `JEKCMS_SECRET_KEY`: SQLite generates a key into its file; PostgreSQL refuses to
/// start and says how to make one.
async fn start_without_a_configured_key(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let store = Store::connect(db.url(), Default::default()).await.unwrap();
    let started = AppState::with_store(config(&db, None), store.clone()).await;
    match backend {
        Backend::Postgres => {
            let e = started.err().expect("PostgreSQL needs JEKCMS_SECRET_KEY").0;
            assert!(e.starts_with("JEKCMS_SECRET_KEY: required"), "{e}");
            assert!(e.contains("openssl rand -hex 32"), "{e}");
        }
        Backend::Sqlite => {
            let state = started.unwrap();
            assert!(key_file(&db).exists());
            // A restart reads the same key: a token issued before it still works.
            let (session, user, site) = a_session(&state).await;
            let token = state.tokens.access_tokens().issue(session, user, site);
            let store = Store::connect(db.url(), Default::default()).await.unwrap();
            let restarted = AppState::with_store(config(&db, None), store)
                .await
                .unwrap();
            restarted.tokens.authenticate(&token).await.unwrap();
        }
    }
    assert_eq!(store.setting("secret_key").await.unwrap(), None);
}

#[actix_web::test]
async fn start_without_a_configured_key_sqlite() {
    start_without_a_configured_key(Backend::Sqlite).await;
}

#[actix_web::test]
async fn start_without_a_configured_key_postgres() {
    start_without_a_configured_key(Backend::Postgres).await;
}

/// A database from an earlier version, with the generated key in `settings`: the first
/// start moves it out (SQLite: into the key file; PostgreSQL: the operator passes it as
/// `JEKCMS_SECRET_KEY`, as the start-up message says) and deletes the row; tokens sealed
/// with it stay valid.
async fn a_key_left_in_the_database_is_moved_out(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let store = Store::connect(db.url(), Default::default()).await.unwrap();
    let legacy = test_secret_key();
    store
        .execute_for_tests(&format!(
            "INSERT INTO settings (name, value) VALUES ('secret_key', '{}')",
            hex::encode(legacy)
        ))
        .await
        .unwrap();
    let configured = (backend == Backend::Postgres).then_some(legacy);
    let state = AppState::with_store(config(&db, configured), store.clone())
        .await
        .unwrap();
    assert_eq!(store.setting("secret_key").await.unwrap(), None);
    let (session, user, site) = a_session(&state).await;
    let old_token =
        AccessTokens::new(&legacy, std::time::Duration::from_secs(900)).issue(session, user, site);
    state.tokens.authenticate(&old_token).await.unwrap();
    if backend == Backend::Sqlite {
        let text = std::fs::read_to_string(key_file(&db)).unwrap();
        assert_eq!(text.trim(), hex::encode(legacy));
        #[cfg(unix)]
        assert_eq!(mode(&key_file(&db)), 0o600);
        // And the next start reads it from the file.
        let store = Store::connect(db.url(), Default::default()).await.unwrap();
        let restarted = AppState::with_store(config(&db, None), store)
            .await
            .unwrap();
        restarted.tokens.authenticate(&old_token).await.unwrap();
    }
}

#[actix_web::test]
async fn a_key_left_in_the_database_is_moved_out_sqlite() {
    a_key_left_in_the_database_is_moved_out(Backend::Sqlite).await;
}

#[actix_web::test]
async fn a_key_left_in_the_database_is_moved_out_postgres() {
    a_key_left_in_the_database_is_moved_out(Backend::Postgres).await;
}

/// A key file that others may read, or that holds an all-zero key, stops start-up.
#[actix_web::test]
async fn unsafe_key_files_are_refused() {
    let db = TestDatabase::sqlite();
    let path = key_file(&db);
    let store = Store::connect(db.url(), Default::default()).await.unwrap();
    std::fs::write(&path, "0".repeat(64)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let e = AppState::with_store(config(&db, None), store.clone())
        .await
        .err()
        .unwrap()
        .0;
    assert!(
        e.starts_with("JEKCMS_SECRET_KEY_FILE") && e.contains("all-zero"),
        "{e}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, hex::encode(test_secret_key())).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = AppState::with_store(config(&db, None), store)
            .await
            .err()
            .unwrap()
            .0;
        assert!(e.contains("chmod 600"), "{e}");
    }
}

/// `sqlite::memory:` has no file to put a key beside: it keeps one in memory.
#[actix_web::test]
async fn an_in_memory_database_keeps_its_key_in_memory() {
    let mut config = Config::from_lookup(|_| None).unwrap();
    config.database_url = "sqlite::memory:".into();
    assert_eq!(jekcms_server::secret_key::key_file(&config), None);
    config.media_dir =
        std::env::temp_dir().join(format!("jekcms_secret_key_media_{}", std::process::id()));
    let store = Store::connect(&config.database_url, Default::default())
        .await
        .unwrap();
    let state = AppState::with_store(config, store.clone()).await.unwrap();
    let (session, user, site) = a_session(&state).await;
    let token = state.tokens.access_tokens().issue(session, user, site);
    state.tokens.authenticate(&token).await.unwrap();
    assert_eq!(store.setting("secret_key").await.unwrap(), None);
}
