//! One delivery attempt over HTTP: `POST` with the Standard Webhooks headers, a 10-second
//! deadline for the whole exchange, no redirects followed, no proxy, and every address the
//! host resolves to checked by the [`TargetPolicy`] before the connection is made to it
//! (the resolver hands the client only checked addresses, so the check and the connection
//! cannot disagree).

use crate::message::{MAX_KEPT_RESPONSE, kept_response};
use crate::target::TargetPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::sync::Arc;
use std::time::Duration;

/// How long a receiver has to answer, body included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The `User-Agent` of deliveries.
pub const USER_AGENT: &str = concat!("JekCMS-Webhooks/", env!("CARGO_PKG_VERSION"));

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered; 2xx is success. `response` is at most 1 KB of its body.
    Answered {
        /// The HTTP status.
        status: u16,
        /// The start of the body, as text.
        response: String,
    },
    /// No answer: refused address, DNS, connection, TLS or timeout (the reason, for the
    /// log shown to the site's owner; never a secret).
    NoAnswer(String),
}

impl Outcome {
    /// Whether the attempt delivered the message.
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Answered { status, .. } if (200..300).contains(status))
    }
}

/// The resolver of the delivery client: names resolved, then refused if any address is not
/// allowed.
#[derive(Debug)]
struct CheckedResolver(TargetPolicy);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Sends messages. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: TargetPolicy,
}

/// A message ready to go.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: &'a str,
    /// The JSON body.
    pub body: &'a str,
}

impl Sender {
    /// A sender under `policy`, with [`TIMEOUT`] per attempt.
    pub fn new(policy: TargetPolicy) -> Result<Self, reqwest::Error> {
        Self::with_timeout(policy, TIMEOUT)
    }

    /// A sender with another deadline (tests).
    pub fn with_timeout(policy: TargetPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would make the connection, to addresses we never checked.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver(policy)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, policy })
    }

    /// POSTs `message` to `url` and reads at most 1 KB of the answer.
    pub async fn send(&self, url: &str, message: &Message<'_>) -> Outcome {
        // The URL again: the switches may have changed since it was saved, and an IP
        // literal never reaches the resolver.
        if let Err(refused) = self.policy.parse(url) {
            return Outcome::NoAnswer(refused.0);
        }
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", message.id)
            .header("webhook-timestamp", message.timestamp.to_string())
            .header("webhook-signature", message.signature)
            .body(message.body.to_owned())
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::NoAnswer(describe(&e)),
        };
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        // Only the start of the body is read; the rest is dropped with the connection.
        while kept.len() < MAX_KEPT_RESPONSE {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return Outcome::NoAnswer(describe(&e)),
            }
        }
        Outcome::Answered {
            status,
            response: kept_response(&kept),
        }
    }
}

/// A failure in words, with its causes, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MESSAGE: Message<'static> = Message {
        id: "msg_1",
        timestamp: 1,
        signature: "v1,x",
        body: "{}",
    };

    /// A one-shot HTTP server on loopback answering `answer`; returns its URL.
    async fn answering(answer: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://localhost:{}/hook",
            listener.local_addr().unwrap().port()
        );
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 8192];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(answer.as_bytes()).await;
        });
        url
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_connection_time() {
        let url = answering("HTTP/1.1 204 No Content\r\n\r\n").await;
        let strict = Sender::new(TargetPolicy {
            allow_insecure: true,
            allow_private: false,
        })
        .unwrap();
        match strict.send(&url, &MESSAGE).await {
            Outcome::NoAnswer(why) => assert!(why.contains("loopback"), "{why}"),
            other => panic!("{other:?}"),
        }
        let open = Sender::new(TargetPolicy {
            allow_insecure: true,
            allow_private: true,
        })
        .unwrap();
        assert!(open.send(&url, &MESSAGE).await.succeeded());
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_answers_are_cut_to_a_kilobyte() {
        let open = Sender::new(TargetPolicy {
            allow_insecure: true,
            allow_private: true,
        })
        .unwrap();
        let url = answering(
            "HTTP/1.1 302 Found\r\nLocation: http://example.com/\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let outcome = open.send(&url, &MESSAGE).await;
        assert_eq!(
            outcome,
            Outcome::Answered {
                status: 302,
                response: String::new()
            }
        );
        assert!(!outcome.succeeded());
        let big: &'static str = Box::leak(
            format!(
                "HTTP/1.1 500 Oops\r\nContent-Length: 5000\r\n\r\n{}",
                "x".repeat(5000)
            )
            .into_boxed_str(),
        );
        match open.send(&answering(big).await, &MESSAGE).await {
            Outcome::Answered {
                status: 500,
                response,
            } => assert!(response.len() <= MAX_KEPT_RESPONSE && response.len() >= 1000),
            other => panic!("{other:?}"),
        }
    }
}
