//! Webhook deliveries per second from one instance to a receiver that answers each request
//! in 1 ms (issue #17: target ≥ 1,000/s).
//!
//! Queues `N` pings (default 5,000) to one endpoint on a fresh database, starts the server's
//! delivery worker (`JEKCMS_WEBHOOK_CONCURRENCY`, default 64) and times until the receiver
//! has had all `N`, then checks that the log says every one succeeded.
//!
//!     cargo run --release -p jekcms-server --example webhook_throughput -- 5000
//!     JEKCMS_TEST_POSTGRES_URL=postgres://… cargo run --release -p jekcms-server \
//!         --example webhook_throughput -- 5000 postgres

use actix_web::{App, HttpResponse, HttpServer, web};
use jekcms_auth::{Actor, Role};
use jekcms_content::activity::{ActorFamily, Writer};
use jekcms_server::config::Config;
use jekcms_server::state::AppState;
use jekcms_store::Backend;
use jekcms_store::testing::TestDatabase;
use jekcms_webhooks::WebhookRepository;
use jekcms_webhooks::repo::StoredWebhook;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(5000, |a| a.parse().expect("N: a count"));
    let backend = match args.next().as_deref() {
        None | Some("sqlite") => Backend::Sqlite,
        Some("postgres") => Backend::Postgres,
        Some(other) => panic!("unknown store {other}: sqlite or postgres"),
    };
    let db = TestDatabase::new(backend)
        .await
        .expect("postgres needs JEKCMS_TEST_POSTGRES_URL");

    // The receiver: 1 ms per answer, on two threads of its own.
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    let receiver = HttpServer::new(move || {
        let count = count.clone();
        App::new().default_service(web::to(move || {
            let count = count.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                count.fetch_add(1, Ordering::Relaxed);
                HttpResponse::NoContent().finish()
            }
        }))
    })
    .workers(2)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("a free port");
    let url = format!("http://127.0.0.1:{}/hook", receiver.addrs()[0].port());
    tokio::spawn(receiver.run());

    let mut config = Config::from_lookup(|var| std::env::var(var).ok()).expect("valid JEKCMS_*");
    config.database_url = db.url().to_owned();
    config.media_dir =
        std::env::temp_dir().join(format!("jekcms_webhook_bench_{}", std::process::id()));
    config.secret_key.get_or_insert_with(|| {
        let mut key = [7u8; 32];
        key[0] = std::process::id() as u8;
        key
    });
    config.webhook_allow_insecure = true;
    config.webhook_allow_private = true;
    let state = AppState::build(config).await.expect("the state builds");
    let store = &state.store;
    let site = store.ensure_site("default", "default").await.unwrap();
    let owner = store
        .ensure_user(site.id, "owner@example.com", "Owner", Role::Owner)
        .await
        .unwrap();
    let writer = Writer {
        actor: Actor {
            user_id: owner.id,
            site_id: site.id,
            role: Role::Owner,
        },
        family: ActorFamily::Cli,
        key_id: None,
        request_id: None,
    };
    let secret = format!("whsec_{}", jekcms_auth::credential::random_base62(32));
    let sealed = state.secrets.seal(
        secret.as_bytes(),
        jekcms_content::pull::webhook_secret_purpose(site.id).as_bytes(),
    );
    jekcms_content::pull::rotate_pull_key(store, &writer, site.id, &[1; 32], &sealed, 0)
        .await
        .unwrap();
    let hook = store
        .create_webhook(
            site.id,
            StoredWebhook {
                url,
                events: "*".into(),
                enabled: true,
            },
            jekcms_auth::now(),
        )
        .await
        .unwrap();
    let queued = Instant::now();
    for _ in 0..n {
        store
            .queue_ping(site.id, hook.id, jekcms_auth::now())
            .await
            .unwrap();
    }
    println!("queued {n} pings in {:.2?}", queued.elapsed());

    let concurrency = state.config.webhook_concurrency;
    let start = Instant::now();
    jekcms_server::webhook_delivery::start(state.clone()).expect("concurrency > 0");
    while received.load(Ordering::Relaxed) < n {
        assert!(start.elapsed() < Duration::from_secs(600), "stalled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    // Every outcome recorded as a success (the last few may still be being written).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut succeeded = 0;
    let mut before = None;
    loop {
        let page = store
            .list_deliveries(site.id, hook.id, before, 1000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        succeeded += page
            .iter()
            .filter(|d| d.status == jekcms_webhooks::DeliveryStatus::Succeeded)
            .count();
    }
    println!(
        "{backend:?}: {n} deliveries in {elapsed:.2?} = {:.0}/s (concurrency {concurrency}); {succeeded} recorded as succeeded",
        n as f64 / elapsed.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&state.config.media_dir);
}
