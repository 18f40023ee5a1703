//! A real server for other crates' tests (feature `test-support`): the whole app over HTTP on
//! `127.0.0.1:0`, a throwaway SQLite database, and an owner's API key made as
//! `jekcms keys create` makes it. The client's and the CLI's tests drive it.

use crate::cli::{CreateKey, Family, create_key};
use crate::config::Config;
use crate::server::{Listen, Workers};
use crate::state::AppState;
use actix_web::dev::ServerHandle;
use jekcms_store::testing::TestDatabase;
use std::net::TcpListener;

/// A running server and the owner's key.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The owner's `api_…` key id.
    pub api_key: String,
    /// The owner's `sk_…` secret.
    pub api_secret: String,
    /// The configuration it runs with.
    pub config: Config,
    handle: ServerHandle,
    _db: TestDatabase,
}

impl TestServer {
    /// Starts a server whose quotas are out of the way unless `tweak` sets them. Call from
    /// within a tokio runtime (the server runs as a task of it).
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let db = TestDatabase::sqlite();
        let mut config = Config::from_lookup(|_| None).expect("defaults are valid");
        config.database_url = db.url().to_owned();
        config.media_dir = std::env::temp_dir().join(format!(
            "jekcms_test_server_media_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let plenty = jekcms_ratelimit::Quota::parse("1000000/s").ok();
        config.rate_limit_standard = plenty;
        config.rate_limit_admin = plenty;
        config.rate_limit_auth = plenty;
        tweak(&mut config);

        let state = AppState::build(config.clone())
            .await
            .expect("the test server's state builds");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        let workers = Workers {
            count: 2,
            signals: false,
        };
        // As `serve` does: this instance delivers webhooks.
        crate::webhook_delivery::start(state.clone());
        let (server, _) = crate::server::start(state, Listen::Listener(listener), workers)
            .expect("the listener is usable");
        let handle = server.handle();
        tokio::spawn(server);
        let mut server = Self {
            base_url: format!("http://{addr}"),
            api_key: String::new(),
            api_secret: String::new(),
            config,
            handle,
            _db: db,
        };
        (server.api_key, server.api_secret) = server.key_for("owner").await;
        server
    }

    /// A key of the user `ROLE@example.com` of the site (created with `role` if missing):
    /// `(api_key, api_secret)`.
    pub async fn key_for(&self, role: &str) -> (String, String) {
        let printed = create_key(
            &self.config,
            &CreateKey {
                user: format!("{role}@example.com"),
                role: Some(role.into()),
                site: "default".into(),
                family: Family::Api,
                name: format!("{role} key"),
                json: true,
            },
        )
        .await
        .expect("keys create works on the test database");
        let key: serde_json::Value =
            serde_json::from_str(&printed).expect("keys create prints JSON");
        (
            key["api_key"].as_str().unwrap_or_default().to_owned(),
            key["api_secret"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
        let _ = std::fs::remove_dir_all(&self.config.media_dir);
    }
}
