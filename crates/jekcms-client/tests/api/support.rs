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

impl TestServer {
    /// Rotates the site's pull key as its owner (`POST /api/v2/sites/{id}/rotate-keys`,
    /// which the typed client does not wrap) and returns the new `pk_…` key.
    pub(crate) async fn rotate_pull_key(&self) -> String {
        let http = reqwest::Client::new();
        let base = &self.base_url;
        let token: serde_json::Value = http
            .post(format!("{base}/api/v2/auth/token"))
            .json(&serde_json::json!({"api_key": self.api_key, "api_secret": self.api_secret}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = token["data"]["access_token"].as_str().unwrap().to_owned();
        let me: serde_json::Value = http
            .get(format!("{base}/api/v2/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let site = &me["data"]["site"]["id"];
        let rotated: serde_json::Value = http
            .post(format!("{base}/api/v2/sites/{site}/rotate-keys"))
            .bearer_auth(&access)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rotated["data"]["new_api_key"].as_str().unwrap().to_owned()
    }

    /// A pull client of this server with `key`.
    pub(crate) fn pull(&self, key: &str) -> jekcms_client::PullClient {
        jekcms_client::PullClient::new(&self.base_url, key).unwrap()
    }
}
