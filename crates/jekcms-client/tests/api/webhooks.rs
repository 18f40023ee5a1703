//! The webhook endpoints against the real server (which runs its delivery worker), with a
//! receiver on loopback that the test allows.

use crate::support::TestServer;
use jekcms_client::{DeliveryStatus, ErrorCode, WebhookRequest};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A receiver answering every request `204`; returns its URL and a counter of requests.
async fn receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 65536];
                let _ = socket.read(&mut buf).await;
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_ping_log_redeliver_update_delete() {
    let server = TestServer::start(|config| {
        config.webhook_allow_insecure = true;
        config.webhook_allow_private = true;
    })
    .await;
    server.rotate_pull_key().await; // the site's first webhook secret
    let hooks = server.client().await.webhooks();
    let (url, received) = receiver().await;

    let err = hooks
        .create(&WebhookRequest::to(&url).events(["post.exploded"]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        (Some(ErrorCode::ValidationFailed), Some("events"))
    );

    let hook = hooks
        .create(&WebhookRequest::to(&url).events(["post.created"]))
        .await
        .unwrap();
    assert_eq!(
        (hook.events.clone(), hook.enabled),
        (vec!["post.created".to_owned()], true)
    );
    assert_eq!(hooks.get(hook.id).await.unwrap(), hook);
    assert_eq!(hooks.list(None).await.unwrap().items, vec![hook.clone()]);

    let ping = hooks.test(hook.id).await.unwrap();
    assert_eq!(
        (ping.event_type.as_str(), ping.status),
        ("ping", DeliveryStatus::Pending)
    );
    let delivered = async {
        loop {
            let log = hooks.deliveries(hook.id, None).await.unwrap();
            if log.items[0].status == DeliveryStatus::Succeeded {
                return log.items[0].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let done = tokio::time::timeout(Duration::from_secs(10), delivered)
        .await
        .unwrap();
    assert_eq!(
        (done.id, done.attempts, done.last_status_code),
        (ping.id, 1, Some(204))
    );

    let again = hooks.redeliver(hook.id, ping.id).await.unwrap();
    assert_eq!((again.id, again.status), (ping.id, DeliveryStatus::Pending));
    tokio::time::timeout(Duration::from_secs(10), async {
        while received.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();

    let off = hooks
        .update(hook.id, &WebhookRequest::default().enabled(false))
        .await
        .unwrap();
    assert!(!off.enabled);
    assert_eq!(off.url, hook.url);
    hooks.delete(hook.id).await.unwrap();
    let err = hooks.get(hook.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    server.stop().await;
}
