//! A real JekCMS server on a throwaway SQLite database, listening on `127.0.0.1:0`, with
//! an owner's API key made as `jekcms keys create` makes it.

use actix_web::HttpServer;
use actix_web::dev::ServerHandle;
use jekcms_server::cli::{CreateKey, Family, create_key};
use jekcms_server::config::Config;
use jekcms_server::state::AppState;
use jekcms_store::testing::TestDatabase;
use std::net::TcpListener;

pub(crate) struct TestServer {
    pub(crate) base_url: String,
    pub(crate) api_key: String,
    pub(crate) api_secret: String,
    config: Config,
    handle: ServerHandle,
    _db: TestDatabase,
}

impl TestServer {
    /// A server whose quotas are out of the way unless `tweak` sets them.
    pub(crate) async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDatabase::sqlite();
        let mut config = Config::from_lookup(|_| None).unwrap();
        config.database_url = db.url().to_owned();
        config.media_dir = std::env::temp_dir().join(format!(
            "jekcms_cli_media_{}",
            db.url().len() + std::process::id() as usize
        ));
        let plenty = jekcms_ratelimit::Quota::parse("1000000/s").ok();
        config.rate_limit_standard = plenty;
        config.rate_limit_admin = plenty;
        config.rate_limit_auth = plenty;
        tweak(&mut config);

        let state = AppState::build(config.clone()).await.unwrap();
        let printed = create_key(
            &config,
            &CreateKey {
                user: "owner@example.com".into(),
                role: "owner".into(),
                site: "default".into(),
                family: Family::Api,
                name: "cli tests".into(),
                json: true,
            },
        )
        .await
        .unwrap();
        let key: serde_json::Value = serde_json::from_str(&printed).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || jekcms_server::build_app(state.clone()))
            .workers(2)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://{addr}"),
            api_key: key["api_key"].as_str().unwrap().to_owned(),
            api_secret: key["api_secret"].as_str().unwrap().to_owned(),
            config,
            handle,
            _db: db,
        }
    }

    pub(crate) fn builder(&self) -> jekcms_client::ClientBuilder {
        jekcms_client::Client::builder(&self.base_url, &self.api_key, &self.api_secret)
    }

    pub(crate) async fn client(&self) -> jekcms_client::Client {
        self.builder().connect().await.unwrap()
    }

    /// A key of another user of the site, with `role`: `(api_key, api_secret)`.
    pub(crate) async fn key_for(&self, role: &str) -> (String, String) {
        let printed = create_key(
            &self.config,
            &CreateKey {
                user: format!("{role}@example.com"),
                role: role.into(),
                site: "default".into(),
                family: Family::Api,
                name: format!("{role} key"),
                json: true,
            },
        )
        .await
        .unwrap();
        let key: serde_json::Value = serde_json::from_str(&printed).unwrap();
        (
            key["api_key"].as_str().unwrap().to_owned(),
            key["api_secret"].as_str().unwrap().to_owned(),
        )
    }

    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// A scratch directory removed on drop.
pub(crate) struct Scratch(pub(crate) std::path::PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "jekcms_cli_{name}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every post of the site, oldest first.
pub(crate) async fn all_posts(client: &jekcms_client::Client) -> Vec<jekcms_client::Post> {
    use futures_util::TryStreamExt;
    client
        .posts()
        .list(jekcms_client::PostFilter::default().sort(jekcms_client::PostSort::CreatedAsc))
        .stream()
        .try_collect()
        .await
        .unwrap()
}
