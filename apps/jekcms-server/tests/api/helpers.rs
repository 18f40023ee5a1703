//! The test harness: the real app (all routes and middleware) over a throwaway database of
//! either backend, and helpers to create users and call endpoints.

use actix_service::boxed::{self, BoxService};
use actix_web::body::{BoxBody, to_bytes};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use actix_web::web::Bytes;
use jekcms_auth::{CredentialFamily, Role, SecretHash};
use jekcms_server::config::Config;
use jekcms_server::state::AppState;
use jekcms_store::testing::TestDatabase;
use jekcms_store::{Backend, Store};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Declares each test twice, once per backend: `mod name { fn sqlite(); fn postgres(); }`.
/// The PostgreSQL variant returns early (passing) only when `JEKCMS_TEST_POSTGRES_URL` is
/// unset; CI always sets it.
macro_rules! both_stores {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: $crate::helpers::TestApp) $body

                #[actix_web::test]
                async fn sqlite() {
                    run($crate::helpers::TestApp::new(jekcms_store::Backend::Sqlite, |_| {}).await.unwrap()).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    match $crate::helpers::TestApp::new(jekcms_store::Backend::Postgres, |_| {}).await {
                        Some(app) => run(app).await,
                        None => eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set"),
                    }
                }
            }
        )*
    };
}
pub(crate) use both_stores;

/// A running app over its own database and media directory.
pub struct TestApp {
    pub state: AppState,
    service: BoxService<actix_http::Request, ServiceResponse<BoxBody>, actix_web::Error>,
    pub media_dir: PathBuf,
    pub db: std::sync::Arc<TestDatabase>,
    config: Config,
}

/// A random key, as `JEKCMS_SECRET_KEY` gives one.
pub fn test_secret_key() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut key).unwrap();
    key
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first error's field.
    pub fn field(&self) -> String {
        self.json()["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts the status and that the body is a well-formed envelope.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        assert_eq!(v["success"], status < 300, "{v}");
        assert!(v["meta"].is_object() && v["errors"].is_array(), "{v}");
        assert_eq!(
            v["meta"]["request_id"].as_str(),
            self.header("x-request-id"),
            "meta.request_id equals X-Request-Id"
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        v
    }

    /// Asserts an error status and code; returns the body.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        let v = self.expect(status);
        assert_eq!(v["data"], Value::Null);
        assert_eq!(v["errors"][0]["code"], code, "{v}");
        v
    }
}

/// A caller's tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: i64,
    pub site_id: i64,
}

impl TestApp {
    /// An app over a fresh database; `None` for PostgreSQL when it is not configured.
    pub async fn new(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let db = TestDatabase::new(backend).await?;
        let media_dir = {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            std::env::temp_dir().join(format!(
                "jekcms_media_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ))
        };
        let mut config = Config::from_lookup(|_| None).unwrap();
        config.database_url = db.url().to_owned();
        config.media_dir = media_dir.clone();
        // Quotas out of the way, except in the tests that are about them.
        let plenty = jekcms_ratelimit::Quota::parse("1000000/s").ok();
        config.rate_limit_standard = plenty;
        config.rate_limit_admin = plenty;
        config.rate_limit_auth = plenty;
        config.open_registration = true;
        if backend == Backend::Postgres {
            // PostgreSQL deployments must bring their own key (see docs/security.md).
            config.secret_key = Some(test_secret_key());
        }
        tweak(&mut config);
        Some(Self::start(std::sync::Arc::new(db), config, media_dir).await)
    }

    /// A second server instance over the same database and media directory, with the same
    /// configuration: as a deployment runs several instances behind a load balancer.
    pub async fn another_instance(&self) -> Self {
        Self::start(self.db.clone(), self.config.clone(), self.media_dir.clone()).await
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An app over an existing database (`config.database_url` must be `db`'s).
    pub async fn start(
        db: std::sync::Arc<TestDatabase>,
        config: Config,
        media_dir: PathBuf,
    ) -> Self {
        let store = Store::connect(&config.database_url, config.store_options())
            .await
            .unwrap();
        let state = AppState::with_store(config.clone(), store).await.unwrap();
        let app = jekcms_server::build_app(state.clone()).route(
            "/api/v2/__test/panic",
            actix_web::web::get().to(|| async {
                if true {
                    panic!("deliberate test panic at /secret/path.rs");
                }
                "unreachable"
            }),
        );
        let service = actix_web::test::init_service(app).await;
        Self {
            state,
            service: boxed::service(service),
            media_dir,
            db,
            config,
        }
    }

    /// Sends a request through the whole app.
    pub async fn call(&self, req: TestRequest) -> Resp {
        let res = match self.service.call(req.to_request()).await {
            Ok(res) => res.into_parts().1,
            Err(e) => e.error_response(),
        };
        let status = res.status();
        let headers = res.headers().clone();
        let body = to_bytes(res.into_body()).await.unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A JSON request with an optional bearer token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = TestRequest::default().method(method).uri(path);
        if let Some(t) = token {
            req = req.insert_header(("authorization", format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req = req
                .insert_header(("content-type", "application/json"))
                .set_payload(b.to_string());
        }
        self.call(req).await
    }

    /// `POST /auth/refresh` with a refresh token (or anything presented as one).
    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        let body = serde_json::json!({ "refresh_token": refresh_token });
        self.send(Method::POST, "/api/v2/auth/refresh", None, Some(body))
            .await
    }

    /// `POST /auth/revoke` (logout).
    pub async fn revoke(&self, refresh_token: &str) -> Resp {
        let body = serde_json::json!({ "refresh_token": refresh_token });
        self.send(Method::POST, "/api/v2/auth/revoke", None, Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Creates (if needed) a site and a user with `role`, and an API key for the user.
    pub async fn api_key(&self, site: &str, email: &str, role: Role) -> (String, String, i64, i64) {
        let store = &self.state.store;
        let site = store.ensure_site(site, site).await.unwrap();
        let user = store
            .ensure_user(site.id, email, email, role)
            .await
            .unwrap();
        let key = CredentialFamily::ApiKey.generate();
        let secret = CredentialFamily::ApiSecret.generate();
        jekcms_accounts::AccountStore::create_key(
            store,
            user.site_id,
            jekcms_accounts::model::NewApiKey {
                user_id: user.id,
                family: jekcms_accounts::KeyFamily::Api,
                name: "test".to_owned(),
                public_id: key.to_owned(),
                secret_hash: SecretHash::of(&secret),
                expires_at: None,
            },
        )
        .await
        .unwrap();
        (key, secret, user.id, site.id)
    }

    /// A user of `role` on `site`, signed in through `/auth/token`.
    pub async fn login(&self, site: &str, email: &str, role: Role) -> Tokens {
        let (key, secret, user_id, site_id) = self.api_key(site, email, role).await;
        let v = self
            .send(
                Method::POST,
                "/api/v2/auth/token",
                None,
                Some(json!({"api_key": key, "api_secret": secret})),
            )
            .await
            .expect(200);
        Tokens {
            access: v["data"]["access_token"].as_str().unwrap().to_owned(),
            refresh: v["data"]["refresh_token"].as_str().unwrap().to_owned(),
            user_id,
            site_id,
        }
    }

    /// The owner of site `default`.
    pub async fn owner(&self) -> Tokens {
        self.login("default", "owner@example.com", Role::Owner)
            .await
    }

    /// Creates a user through `POST /api/v2/users` as `by`; returns the new user's id.
    pub async fn add_user(&self, by: &str, email: &str, role: &str, password: Option<&str>) -> i64 {
        let mut body = json!({"name": email, "email": email, "role": role});
        if let Some(p) = password {
            body["password"] = json!(p);
        }
        self.post("/api/v2/users", by, body).await.expect(201)["data"]["id"]
            .as_i64()
            .unwrap()
    }

    /// Signs in with a password through `POST /api/v2/auth/login`.
    pub async fn password_login(&self, email: &str, password: &str) -> Tokens {
        let v = self
            .send(
                Method::POST,
                "/api/v2/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await
            .expect(200);
        Tokens {
            access: v["data"]["access_token"].as_str().unwrap().to_owned(),
            refresh: v["data"]["refresh_token"].as_str().unwrap().to_owned(),
            user_id: v["data"]["user"]["id"].as_i64().unwrap(),
            site_id: v["data"]["user"]["site_id"].as_i64().unwrap(),
        }
    }

    /// Creates a post and returns its JSON.
    pub async fn create_post(&self, token: &str, body: Value) -> Value {
        self.post("/api/v2/posts", token, body).await.expect(201)["data"].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.media_dir);
    }
}
