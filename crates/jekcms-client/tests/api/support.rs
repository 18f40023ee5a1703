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
