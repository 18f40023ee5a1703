//! Webhooks (API.md §10) with a real HTTP receiver on 127.0.0.1: endpoints and their rules,
//! signatures checked by an independent implementation (the `standardwebhooks` crate),
//! retries, redelivery, two instances sharing the work, and a server killed mid-delivery.

use crate::helpers::{TestApp, Tokens, both_stores};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jekcms_auth::Role;
use jekcms_server::config::Config;
use jekcms_server::webhook_delivery::deliver_due;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    /// Verifies the message with `secret` using the `standardwebhooks` crate.
    fn verify(&self, secret: &str) -> Result<(), standardwebhooks::WebhookError> {
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", self.id.parse().unwrap());
        headers.insert("webhook-timestamp", self.timestamp.parse().unwrap());
        headers.insert("webhook-signature", self.signature.parse().unwrap());
        standardwebhooks::Webhook::new(secret)?.verify(&self.body, &headers)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the receiver answers, in turn: a status, or `None` to hang without answering.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Answers the first requests with `script` (in order), then 204.
    pub(crate) async fn start(script: Vec<Option<u16>>) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.into_iter()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (g, s) = (got.clone(), script.clone());
        let server = HttpServer::new(move || {
            let (got, script) = (g.clone(), s.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (got, script) = (got.clone(), script.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    got.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: body.to_vec(),
                    });
                    let next = script.lock().unwrap().next();
                    match next {
                        Some(None) => {
                            tokio::time::sleep(Duration::from_secs(120)).await;
                            HttpResponse::NoContent().finish()
                        }
                        Some(Some(status)) => HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).unwrap(),
                        )
                        .body(format!("answer {status}")),
                        None => HttpResponse::NoContent().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        // `localhost`, not an address: the name goes through the checking resolver.
        Self {
            url: format!("http://localhost:{port}/hook"),
            got,
            handle,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub(crate) async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// The switches that let a test receiver on loopback over plain HTTP be used.
pub(crate) fn allow_local(config: &mut Config) {
    config.webhook_allow_insecure = true;
    config.webhook_allow_private = true;
}

/// Declares each test once per backend with [`allow_local`].
macro_rules! with_local_receivers {
    ($(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: TestApp) $body

            #[actix_web::test]
            async fn sqlite() {
                run(TestApp::new(jekcms_store::Backend::Sqlite, allow_local).await.unwrap()).await;
            }

            #[actix_web::test]
            async fn postgres() {
                match TestApp::new(jekcms_store::Backend::Postgres, allow_local).await {
                    Some(app) => run(app).await,
                    None => eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set"),
                }
            }
        }
    )*};
}

/// Rotates the owner's site keys; returns the new `whsec_` secret.
pub(crate) async fn rotate(app: &TestApp, owner: &Tokens, overlap: i64) -> String {
    app.post(
        &format!("/api/v2/sites/{}/rotate-keys", owner.site_id),
        &owner.access,
        json!({"overlap_seconds": overlap}),
    )
    .await
    .expect(200)["data"]["new_webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn create_hook(app: &TestApp, owner: &Tokens, url: &str) -> i64 {
    app.post("/api/v2/webhooks", &owner.access, json!({"url": url}))
        .await
        .expect(201)["data"]["id"]
        .as_i64()
        .unwrap()
}

pub(crate) async fn ping(app: &TestApp, owner: &Tokens, hook: i64) -> i64 {
    let v = app
        .post(
            &format!("/api/v2/webhooks/{hook}/test"),
            &owner.access,
            json!({}),
        )
        .await
        .expect(202);
    assert_eq!(
        (&v["data"]["type"], &v["data"]["status"]),
        (&json!("ping"), &json!("pending"))
    );
    v["data"]["id"].as_i64().unwrap()
}

async fn deliveries(app: &TestApp, owner: &Tokens, hook: i64) -> Vec<Value> {
    app.get(
        &format!("/api/v2/webhooks/{hook}/deliveries"),
        &owner.access,
    )
    .await
    .expect(200)["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn now() -> chrono::DateTime<chrono::Utc> {
    jekcms_auth::now()
}

both_stores! {
    async fn urls_reaching_internal_addresses_are_refused(app) {
        let owner = app.owner().await;
        for url in [
            "http://example.com/hook",
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://100.64.0.1/hook",
            "https://localhost/hook",
            "ftp://example.com/",
        ] {
            let v = app
                .post("/api/v2/webhooks", &owner.access, json!({"url": url}))
                .await
                .expect_error(422, "VALIDATION_FAILED");
            assert_eq!(v["errors"][0]["field"], "url", "{url}: {v}");
        }
        let hooks = app.get("/api/v2/webhooks", &owner.access).await.expect(200);
        assert_eq!(hooks["data"], json!([]));
    }
}

with_local_receivers! {
    async fn endpoints_are_the_owners_and_confined_to_the_site(app) {
        let owner = app.owner().await;
        let v = app
            .post(
                "/api/v2/webhooks",
                &owner.access,
                json!({"url": "http://localhost:9/a", "events": ["post.created", "post.deleted"]}),
            )
            .await
            .expect(201);
        let id = v["data"]["id"].as_i64().unwrap();
        assert_eq!(v["data"]["events"], json!(["post.created", "post.deleted"]));
        assert_eq!(v["data"]["enabled"], true);
        // Stored in the form the write path's fan-out matches.
        let stored = app.state.store.webhook_secrets(owner.site_id, now()).await.unwrap();
        assert!(stored.is_empty(), "no key rotated yet");

        let patched = app
            .patch(&format!("/api/v2/webhooks/{id}"), &owner.access, json!({"events": ["*"], "enabled": false}))
            .await
            .expect(200);
        assert_eq!((&patched["data"]["events"], &patched["data"]["enabled"]), (&json!(["*"]), &json!(false)));
        assert_eq!(patched["data"]["url"], "http://localhost:9/a");
        let got = app.get(&format!("/api/v2/webhooks/{id}"), &owner.access).await.expect(200);
        assert_eq!(got["data"], patched["data"]);

        for (body, field) in [
            (json!({"url": "http://localhost:9/a", "events": ["post.exploded"]}), "events"),
            (json!({"url": "http://localhost:9/a", "events": []}), "events"),
            (json!({"url": "http://localhost:9/a", "events": ["*", "post.created"]}), "events"),
            (json!({"url": "http://localhost:9/a", "secret": "x"}), "secret"),
            (json!({"events": ["*"]}), "url"),
            (json!({"url": "http://localhost:9/a", "enabled": "yes"}), "enabled"),
        ] {
            let v = app.post("/api/v2/webhooks", &owner.access, body.clone()).await.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(v["errors"][0]["field"], field, "{body}: {v}");
        }

        // Admins may not manage webhooks; another site's owner does not see them.
        let admin = app.login("default", "admin@example.com", Role::Admin).await;
        app.get("/api/v2/webhooks", &admin.access).await.expect_error(403, "FORBIDDEN");
        app.post("/api/v2/webhooks", &admin.access, json!({"url": "http://localhost:9/b"}))
            .await
            .expect_error(403, "FORBIDDEN");
        let other = app.login("other", "o@example.com", Role::Owner).await;
        for path in [format!("/api/v2/webhooks/{id}"), format!("/api/v2/webhooks/{id}/deliveries")] {
            app.get(&path, &other.access).await.expect_error(404, "NOT_FOUND");
        }
        app.post(&format!("/api/v2/webhooks/{id}/test"), &other.access, json!({}))
            .await
            .expect_error(404, "NOT_FOUND");
        app.delete(&format!("/api/v2/webhooks/{id}"), &other.access).await.expect_error(404, "NOT_FOUND");
        assert_eq!(app.get("/api/v2/webhooks", &other.access).await.expect(200)["data"], json!([]));

        // A list pages by cursor.
        let second = create_hook(&app, &owner, "http://localhost:9/c").await;
        let page = app.get("/api/v2/webhooks?limit=1", &owner.access).await.expect(200);
        assert_eq!(page["data"][0]["id"], id);
        let cursor = page["meta"]["next_cursor"].as_str().unwrap();
        let next = app.get(&format!("/api/v2/webhooks?limit=1&cursor={cursor}"), &owner.access).await.expect(200);
        assert_eq!(next["data"][0]["id"], second);

        app.delete(&format!("/api/v2/webhooks/{id}"), &owner.access).await.expect(200);
        app.get(&format!("/api/v2/webhooks/{id}"), &owner.access).await.expect_error(404, "NOT_FOUND");
    }

    async fn a_ping_is_signed_as_standard_webhooks_verify(app) {
        let owner = app.owner().await;
        let secret = rotate(&app, &owner, 0).await;
        let receiver = Receiver::start(vec![]).await;
        let hook = create_hook(&app, &owner, &receiver.url).await;
        let delivery = ping(&app, &owner, hook).await;
        assert_eq!(deliver_due(&app.state, now(), 100).await.unwrap(), 1);

        let got = receiver.got();
        assert_eq!(got.len(), 1);
        let message = &got[0];
        assert_eq!(message.id, format!("msg_{delivery}"));
        message.verify(&secret).unwrap();
        assert_eq!(message.signature.split(' ').count(), 1);
        let body = message.json();
        assert_eq!((&body["type"], &body["data"]), (&json!("ping"), &json!({"webhook_id": hook})));
        assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
        // Another secret does not verify it.
        assert!(message.verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());

        let log = deliveries(&app, &owner, hook).await;
        assert_eq!(log.len(), 1);
        assert_eq!((&log[0]["status"], &log[0]["attempts"], &log[0]["last_status_code"]), (&json!("succeeded"), &json!(1), &json!(204)));
        assert_eq!(log[0]["event_id"], Value::Null);
        receiver.stop().await;
    }

    async fn during_a_rotation_overlap_both_secrets_sign(app) {
        let owner = app.owner().await;
        let old = rotate(&app, &owner, 0).await;
        let new = rotate(&app, &owner, 3600).await;
        let receiver = Receiver::start(vec![]).await;
        let hook = create_hook(&app, &owner, &receiver.url).await;
        ping(&app, &owner, hook).await;
        deliver_due(&app.state, now(), 100).await.unwrap();
        let got = receiver.got();
        assert_eq!(got[0].signature.split(' ').count(), 2, "{}", got[0].signature);
        got[0].verify(&old).unwrap();
        got[0].verify(&new).unwrap();

        // With the overlap over (a rotation without one), only the newest signs.
        let newest = rotate(&app, &owner, 0).await;
        ping(&app, &owner, hook).await;
        deliver_due(&app.state, now(), 100).await.unwrap();
        let last = receiver.got().pop().unwrap();
        assert_eq!(last.signature.split(' ').count(), 1);
        last.verify(&newest).unwrap();
        assert!(last.verify(&new).is_err() && last.verify(&old).is_err());
        receiver.stop().await;
    }

    async fn a_failed_attempt_is_retried_later_with_the_same_message(app) {
        let owner = app.owner().await;
        let secret = rotate(&app, &owner, 0).await;
        let receiver = Receiver::start(vec![Some(500)]).await;
        let hook = create_hook(&app, &owner, &receiver.url).await;
        ping(&app, &owner, hook).await;
        let start = now();
        assert_eq!(deliver_due(&app.state, start, 100).await.unwrap(), 1);
        let log = deliveries(&app, &owner, hook).await;
        assert_eq!((&log[0]["status"], &log[0]["attempts"], &log[0]["last_status_code"]), (&json!("pending"), &json!(1), &json!(500)));
        assert_eq!(log[0]["last_error"], "the receiver answered 500");
        // The first retry is 5 s ± 50 % later: not before 2.5 s, by 7.5 s.
        let next: chrono::DateTime<chrono::Utc> = log[0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
        let wait = (next - start).num_milliseconds();
        assert!((2500..=7500).contains(&wait), "{wait} ms");
        assert_eq!(deliver_due(&app.state, start + chrono::Duration::seconds(2), 100).await.unwrap(), 0);
        assert_eq!(deliver_due(&app.state, start + chrono::Duration::seconds(8), 100).await.unwrap(), 1);

        let got = receiver.got();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, got[1].id, "webhook-id is stable across retries");
        assert_eq!(got[0].body, got[1].body, "a retry sends the same bytes");
        got[1].verify(&secret).unwrap();
        let log = deliveries(&app, &owner, hook).await;
        assert_eq!((&log[0]["status"], &log[0]["attempts"], &log[0]["last_status_code"]), (&json!("succeeded"), &json!(2), &json!(204)));
        assert_eq!(log[0]["last_error"], Value::Null);

        // Redelivery: the same message again, freshly signed.
        let id = log[0]["id"].as_i64().unwrap();
        let v = app
            .post(&format!("/api/v2/webhooks/{hook}/deliveries/{id}/redeliver"), &owner.access, json!({}))
            .await
            .expect(202);
        assert_eq!((&v["data"]["status"], &v["data"]["attempts"]), (&json!("pending"), &json!(0)));
        assert_eq!(deliver_due(&app.state, now(), 100).await.unwrap(), 1);
        let got = receiver.got();
        assert_eq!(got.len(), 3);
        assert_eq!((&got[2].id, &got[2].body), (&got[0].id, &got[0].body));
        got[2].verify(&secret).unwrap();
        // Another webhook's path does not reach this delivery.
        let other_hook = create_hook(&app, &owner, &receiver.url).await;
        app.post(&format!("/api/v2/webhooks/{other_hook}/deliveries/{id}/redeliver"), &owner.access, json!({}))
            .await
            .expect_error(404, "NOT_FOUND");
        receiver.stop().await;
    }

    async fn a_receiver_that_never_answers_well_ends_failed(app) {
        let owner = app.owner().await;
        rotate(&app, &owner, 0).await;
        let receiver = Receiver::start(vec![Some(503); 8]).await;
        let hook = create_hook(&app, &owner, &receiver.url).await;
        ping(&app, &owner, hook).await;
        let mut at = now();
        for _ in 0..8 {
            assert_eq!(deliver_due(&app.state, at, 100).await.unwrap(), 1);
            at += chrono::Duration::hours(16);
        }
        assert_eq!(deliver_due(&app.state, at, 100).await.unwrap(), 0);
        let log = deliveries(&app, &owner, hook).await;
        assert_eq!((&log[0]["status"], &log[0]["attempts"]), (&json!("failed"), &json!(8)));
        assert_eq!(receiver.got().len(), 8);
        receiver.stop().await;
    }

    async fn writes_are_delivered_with_the_resource_as_the_api_returns_it(app) {
        let owner = app.owner().await;
        let secret = rotate(&app, &owner, 0).await;
        let receiver = Receiver::start(vec![]).await;
        let hook = app
            .post("/api/v2/webhooks", &owner.access, json!({"url": receiver.url, "events": ["post.created", "post.deleted"]}))
            .await
            .expect(201)["data"]["id"]
            .as_i64()
            .unwrap();
        let everything = create_hook(&app, &owner, &receiver.url).await;
        let off = app
            .post("/api/v2/webhooks", &owner.access, json!({"url": receiver.url, "enabled": false}))
            .await
            .expect(201)["data"]["id"]
            .as_i64()
            .unwrap();

        let post = app.create_post(&owner.access, json!({"title": "Hello", "body": "text", "tags": ["a"]})).await;
        let id = post["id"].as_i64().unwrap();
        // created to the first and to `*`; nothing to the disabled one.
        assert_eq!(deliver_due(&app.state, now(), 100).await.unwrap(), 2);
        let shown = app.get(&format!("/api/v2/posts/{id}"), &owner.access).await.expect(200)["data"].clone();
        for message in receiver.got() {
            let body = message.json();
            assert_eq!(body["type"], "post.created");
            assert_eq!(body["data"], shown, "the post as GET /posts/{{id}} shows it");
        }
        app.patch(&format!("/api/v2/posts/{id}"), &owner.access, json!({"title": "Hello again"})).await.expect(200);
        app.delete(&format!("/api/v2/posts/{id}"), &owner.access).await.expect(200);
        // deleted to the first; updated and deleted to `*` (the update's data: the post is
        // gone by the first attempt, so `{"id"}`).
        assert_eq!(deliver_due(&app.state, now(), 100).await.unwrap(), 3);
        assert!(deliveries(&app, &owner, off).await.is_empty());
        let got = receiver.got();
        assert_eq!(got.len(), 5);
        for message in &got {
            message.verify(&secret).unwrap();
        }
        let mut ids = Vec::new();
        for h in [hook, everything] {
            let log = deliveries(&app, &owner, h).await;
            ids.push(log.iter().map(|d| format!("msg_{}", d["id"])).collect::<Vec<_>>());
        }
        let of = |ids: &[String]| -> Vec<Value> {
            got.iter().filter(|m| ids.contains(&m.id)).map(Received::json).collect()
        };
        let mut first = of(&ids[0]);
        first.sort_by_key(|m| m["type"].as_str().unwrap().to_owned());
        assert_eq!(first.len(), 2);
        assert_eq!(first[0]["type"], "post.created");
        assert_eq!(first[1], json!({"type": "post.deleted", "timestamp": first[1]["timestamp"], "data": {"id": id}}));
        let mut all: Vec<String> = of(&ids[1]).iter().map(|m| m["type"].as_str().unwrap().to_owned()).collect();
        all.sort();
        assert_eq!(all, ["post.created", "post.deleted", "post.updated"]);
        let log = deliveries(&app, &owner, hook).await;
        assert!(log.iter().all(|d| d["event_id"].is_i64() && d["status"] == "succeeded"), "{log:?}");
        receiver.stop().await;
    }

    async fn a_rolled_back_write_delivers_nothing(app) {
        let owner = app.owner().await;
        rotate(&app, &owner, 0).await;
        let receiver = Receiver::start(vec![]).await;
        let hook = create_hook(&app, &owner, &receiver.url).await;
        app.create_post(&owner.access, json!({"title": "Kept", "slug": "kept"})).await;
        assert_eq!(deliver_due(&app.state, now(), 100).await.unwrap(), 1);
        app.post("/api/v2/bulk/posts?atomic=true", &owner.access, json!({"posts": [{"title": "New"}, {"title": "Dup", "slug": "kept"}]}))
            .await
            .expect_error(409, "CONFLICT");
        assert_eq!(deliver_due(&app.state, now(), 100).await.unwrap(), 0);
        assert_eq!(deliveries(&app, &owner, hook).await.len(), 1);
        // A committed bulk: one delivery per post.
        app.post("/api/v2/bulk/posts", &owner.access, json!({"posts": [{"title": "One"}, {"title": "Two"}]}))
            .await
            .expect(200);
        assert_eq!(deliver_due(&app.state, now(), 100).await.unwrap(), 2);
        assert_eq!(receiver.got().len(), 3);
        receiver.stop().await;
    }

    async fn a_hanging_receiver_delays_no_request(app) {
        let owner = app.owner().await;
        rotate(&app, &owner, 0).await;
        // Every request hangs (past the 10 s deadline).
        let receiver = Receiver::start(vec![None; 100]).await;
        create_hook(&app, &owner, &receiver.url).await;
        let worker = jekcms_server::webhook_delivery::start(app.state.clone()).unwrap();
        let received = |n: usize| {
            let receiver = receiver.clone();
            async move {
                let start = std::time::Instant::now();
                while receiver.got().len() < n {
                    assert!(start.elapsed() < Duration::from_secs(5), "{} of {n} sent", receiver.got().len());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        for n in 0..10 {
            app.create_post(&owner.access, json!({"title": format!("Post {n}")})).await;
        }
        // Ten deliveries in flight, each waiting on the receiver.
        received(10).await;
        let mut slowest = Duration::ZERO;
        for n in 0..20 {
            let start = std::time::Instant::now();
            app.create_post(&owner.access, json!({"title": format!("Later {n}")})).await;
            app.get("/api/v2/posts?limit=5", &owner.access).await.expect(200);
            slowest = slowest.max(start.elapsed());
        }
        received(30).await;
        // No database connection is held while a receiver is waited for: SQLite has one
        // writer connection, which a held claim would have taken from every write here.
        assert!(slowest < Duration::from_secs(2), "a request took {slowest:?}");
        worker.abort();
        receiver.stop().await;
    }

    async fn an_internal_address_is_refused_again_at_delivery(app) {
        let owner = app.owner().await;
        rotate(&app, &owner, 0).await;
        let receiver = Receiver::start(vec![]).await;
        // Saved while private addresses were allowed; delivered by an instance that refuses
        // them (as a name that now resolves to loopback would be).
        let hook = create_hook(&app, &owner, &receiver.url).await;
        let mut strict = app.config().clone();
        strict.webhook_allow_private = false;
        let strict = TestApp::start(app.db.clone(), strict, app.media_dir.clone()).await;
        ping(&app, &owner, hook).await;
        assert_eq!(deliver_due(&strict.state, now(), 100).await.unwrap(), 1);
        assert!(receiver.got().is_empty(), "nothing reached the receiver");
        let log = deliveries(&app, &owner, hook).await;
        assert_eq!((&log[0]["status"], &log[0]["attempts"], &log[0]["last_status_code"]), (&json!("pending"), &json!(1), &Value::Null));
        let error = log[0]["last_error"].as_str().unwrap();
        assert!(error.contains("loopback"), "{error}");
        receiver.stop().await;
    }

    async fn a_fan_out_that_fails_leaves_its_row_for_the_next_turn(app) {
        let owner = app.owner().await;
        let receiver = Receiver::start(vec![]).await;
        create_hook(&app, &owner, &receiver.url).await;
        let store = &app.state.store;
        // Every delivery insert fails, as a crash between the claim and the commit would.
        match store.backend() {
            jekcms_store::Backend::Sqlite => store.execute_for_tests(
                "CREATE TRIGGER no_delivery BEFORE INSERT ON webhook_deliveries \
                 BEGIN SELECT RAISE(ABORT, 'no delivery'); END",
            ).await.unwrap(),
            jekcms_store::Backend::Postgres => {
                store.execute_for_tests(
                    "CREATE FUNCTION no_delivery() RETURNS trigger AS $$ BEGIN \
                     RAISE EXCEPTION 'no delivery'; END $$ LANGUAGE plpgsql",
                ).await.unwrap();
                store.execute_for_tests(
                    "CREATE TRIGGER no_delivery BEFORE INSERT ON webhook_deliveries \
                     FOR EACH ROW EXECUTE FUNCTION no_delivery()",
                ).await.unwrap();
            }
        }
        app.create_post(&owner.access, json!({"title": "Fanned later", "status": "draft"})).await;
        let rows = |sql: &'static str| async move { store.count_for_tests(sql).await.unwrap() };
        assert_eq!(rows("SELECT COUNT(*) AS n FROM webhook_fanout").await, 1);
        assert!(store.fan_out_webhook_events(now()).await.is_err());
        assert_eq!(rows("SELECT COUNT(*) AS n FROM webhook_fanout").await, 1, "the row stays");
        assert_eq!(rows("SELECT COUNT(*) AS n FROM webhook_deliveries").await, 0);
        let drop = match store.backend() {
            jekcms_store::Backend::Sqlite => "DROP TRIGGER no_delivery",
            jekcms_store::Backend::Postgres => "DROP TRIGGER no_delivery ON webhook_deliveries",
        };
        store.execute_for_tests(drop).await.unwrap();
        assert_eq!(store.fan_out_webhook_events(now()).await.unwrap(), 1);
        assert_eq!(rows("SELECT COUNT(*) AS n FROM webhook_fanout").await, 0);
        assert_eq!(rows("SELECT COUNT(*) AS n FROM webhook_deliveries").await, 1);
        receiver.stop().await;
    }

    async fn two_instances_deliver_each_message_once(app) {
        let owner = app.owner().await;
        rotate(&app, &owner, 0).await;
        let receiver = Receiver::start(vec![]).await;
        let hook = create_hook(&app, &owner, &receiver.url).await;
        for _ in 0..30 {
            ping(&app, &owner, hook).await;
        }
        // And 20 writes, whose events both instances fan out at once (each write's fan-out
        // row is claimed by one of them).
        for i in 0..20 {
            app.create_post(&owner.access, json!({"title": format!("Fanned {i}"), "status": "draft"})).await;
        }
        let other = app.another_instance().await;
        let at = now();
        let (mut a, mut b) = (0, 0);
        // Small claims, so that both instances keep claiming while the other works.
        for _ in 0..30 {
            let (x, y) = tokio::join!(deliver_due(&app.state, at, 4), deliver_due(&other.state, at, 4));
            let (x, y) = (x.unwrap(), y.unwrap());
            a += x;
            b += y;
            if x == 0 && y == 0 {
                break;
            }
        }
        assert_eq!(a + b, 50, "{a} + {b}");
        let got = receiver.got();
        let created = got.iter().filter(|r| r.json()["type"] == "post.created").count();
        assert_eq!(created, 20, "one post.created per write");
        let mut ids: Vec<String> = got.into_iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 50);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 50, "each message sent once");
        receiver.stop().await;
    }
}

/// The real binary, killed with SIGKILL between a write and its delivery (while the receiver
/// holds the request), then started again: the delivery goes out once the dead run's claim
/// has expired.
async fn killed_mid_delivery_resumes_on_restart(backend: jekcms_store::Backend) {
    let Some(app) = TestApp::new(backend, allow_local).await else {
        eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
        return;
    };
    let owner = app.owner().await;
    let secret = rotate(&app, &owner, 0).await;
    // The first request hangs: the server is killed while it waits.
    let receiver = Receiver::start(vec![None]).await;
    let hook = create_hook(&app, &owner, &receiver.url).await;

    let serve = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jekcms"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("JEKCMS_DATABASE_URL", app.db.url())
            .env("JEKCMS_BIND", "127.0.0.1:0")
            .env("JEKCMS_MEDIA_DIR", &app.media_dir)
            .env("JEKCMS_WEBHOOK_ALLOW_INSECURE", "true")
            .env("JEKCMS_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("JEKCMS_WEBHOOK_LEASE", "11")
            .env("JEKCMS_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(key) = app.config().secret_key {
            cmd.env("JEKCMS_SECRET_KEY", hex::encode(key));
        }
        cmd.arg("serve").spawn().unwrap()
    };
    let wait_for = |n: usize, limit: Duration| {
        let receiver = receiver.clone();
        async move {
            let start = std::time::Instant::now();
            while receiver.got().len() < n {
                assert!(
                    start.elapsed() < limit,
                    "{} of {n} requests after {limit:?}",
                    receiver.got().len()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    let mut first = serve();
    let post = app
        .create_post(&owner.access, json!({"title": "Written before the kill"}))
        .await;
    wait_for(1, Duration::from_secs(20)).await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let log = deliveries(&app, &owner, hook).await;
    assert_eq!(
        (&log[0]["status"], &log[0]["attempts"]),
        (&json!("pending"), &json!(0)),
        "killed before any outcome"
    );
    assert_eq!(log[0]["type"], "post.created");
    let delivery = log[0]["id"].as_i64().unwrap();

    let mut second = serve();
    wait_for(2, Duration::from_secs(30)).await;
    let got = receiver.got();
    assert_eq!(got[1].id, format!("msg_{delivery}"));
    assert_eq!(got[0].id, got[1].id);
    got[1].verify(&secret).unwrap();
    assert_eq!(got[1].json()["data"], post);
    let start = std::time::Instant::now();
    loop {
        let log = deliveries(&app, &owner, hook).await;
        if log[0]["status"] == "succeeded" {
            assert_eq!(log[0]["attempts"], 1);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    receiver.stop().await;
}

mod killed_mid_delivery {
    #[actix_web::test]
    async fn sqlite() {
        super::killed_mid_delivery_resumes_on_restart(jekcms_store::Backend::Sqlite).await;
    }

    #[actix_web::test]
    async fn postgres() {
        super::killed_mid_delivery_resumes_on_restart(jekcms_store::Backend::Postgres).await;
    }
}
