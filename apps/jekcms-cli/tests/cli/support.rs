//! The shared test server of `jekcms_server::testing`, with the client made for it.

/// A real JekCMS server on a throwaway SQLite database with an owner's API key.
pub(crate) struct TestServer(jekcms_server::testing::TestServer);

impl std::ops::Deref for TestServer {
    type Target = jekcms_server::testing::TestServer;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestServer {
    /// A server whose quotas are out of the way unless `tweak` sets them.
    pub(crate) async fn start(tweak: impl FnOnce(&mut jekcms_server::config::Config)) -> Self {
        Self(jekcms_server::testing::TestServer::start(tweak).await)
    }

    pub(crate) fn builder(&self) -> jekcms_client::ClientBuilder {
        jekcms_client::Client::builder(&self.base_url, &self.api_key, &self.api_secret)
    }

    pub(crate) async fn client(&self) -> jekcms_client::Client {
        self.builder().connect().await.unwrap()
    }

    pub(crate) async fn stop(self) {
        self.0.stop().await;
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
