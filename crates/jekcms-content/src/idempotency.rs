//! `Idempotency-Key` (API.md §3): a client names an operation so that a retry of it
//! replays the first outcome instead of doing the work again.
//!
//! The protocol, over an [`IdempotencyStore`]:
//!
//! 1. **Claim**: insert a row keyed by (site, user, key) holding the request's
//!    [`Fingerprint`]. The unique index decides: of two racing requests exactly one inserts.
//! 2. The winner does the work and **completes** the row with the response (status and
//!    body), or **releases** it when the work failed with a server fault (5xx), so a retry
//!    runs again.
//! 3. A request that finds a completed row with the same fingerprint gets that response
//!    again; a different fingerprint is a `422` on `Idempotency-Key`; a row still running is
//!    polled every [`POLL_EVERY`] for up to [`WAIT_FOR_RUNNING`], then answered `409`.
//!
//! Rows are scoped to the caller's site and user: two users (or two sites) may use the same
//! key without seeing each other's responses. Rows expire after [`RETENTION`]; an expired row
//! is ignored and deleted lazily by the next claim.

use crate::{ContentError, FieldError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// The header's name (and the `field` of its errors).
pub const HEADER: &str = "Idempotency-Key";
/// Longest key, in characters.
pub const MAX_KEY_CHARS: usize = 255;
/// How long a key is remembered.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// How long a request waits for a concurrent one with the same key before answering `409`.
pub const WAIT_FOR_RUNNING: Duration = Duration::from_secs(5);
/// How often a waiting request looks again.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// A valid key: 1–255 printable ASCII characters (it travels in an HTTP header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a presented key.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if n == 0 || n > MAX_KEY_CHARS || !raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(FieldError::new(
                HEADER,
                format!("{HEADER} must be 1–{MAX_KEY_CHARS} printable ASCII characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of what a request asks for: the operation (method, path and query) and its JSON
/// body. Two requests are "the same" for idempotency when their fingerprints are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprints `operation` (e.g. `POST /api/v2/bulk/posts?atomic=true`) and `body`.
    /// The body is hashed as serialised by `serde_json`, so insignificant whitespace does
    /// not matter.
    pub fn of(operation: &str, body: &Value) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(operation.as_bytes());
        ctx.update(b"\n");
        ctx.update(body.to_string().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// Stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Whose keys these are: keys are unique per site and user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The caller's site.
    pub site_id: i64,
    /// The caller's user (an API key acts as its user).
    pub user_id: i64,
}

/// A response to remember and replay: the HTTP status and the body's `data` and `errors`
/// (the request id in `meta` is always the current request's).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// `{"data": …, "errors": […]}`.
    pub body: Value,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request inserted the row: it does the work.
    Won,
    /// A request with the same fingerprint finished with this response.
    Done(StoredResponse),
    /// A request with the same fingerprint is still running.
    Running,
    /// The key was used with another fingerprint.
    Mismatch,
}

/// Storage of idempotency records. Each method is one atomic step.
pub trait IdempotencyStore: Send + Sync {
    /// Inserts the row for (`scope`, `key`) unless one younger than `expired_before` exists
    /// (older rows are deleted first), and reports what is there.
    fn claim(
        &self,
        scope: Scope,
        key: &str,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, ContentError>> + Send;

    /// Stores the response of the claimed row.
    fn complete(
        &self,
        scope: Scope,
        key: &str,
        response: &StoredResponse,
    ) -> impl Future<Output = Result<(), ContentError>> + Send;

    /// Deletes the claimed row (the work failed with a server fault; a retry may run again).
    fn release(
        &self,
        scope: Scope,
        key: &str,
    ) -> impl Future<Output = Result<(), ContentError>> + Send;
}

/// How [`run`] answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The work ran now.
    Fresh(StoredResponse),
    /// The response of an earlier request with the same key and body.
    Replayed(StoredResponse),
}

/// Runs `work` at most once per (`scope`, `key`): see the module documentation. `work`
/// renders its result, success or failure, as the response to store; a 5xx is not stored.
pub async fn run<S, F, Fut>(
    store: &S,
    scope: Scope,
    key: &IdempotencyKey,
    fingerprint: Fingerprint,
    work: F,
) -> Result<Outcome, ContentError>
where
    S: IdempotencyStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = StoredResponse>,
{
    let waited_from = tokio::time::Instant::now();
    loop {
        let now = crate::now();
        match store
            .claim(scope, key.as_str(), &fingerprint, now, now - RETENTION)
            .await?
        {
            Claim::Won => break,
            Claim::Done(response) => return Ok(Outcome::Replayed(response)),
            Claim::Mismatch => {
                return Err(ContentError::field(
                    HEADER,
                    format!(
                        "this {HEADER} was already used with a different request body; use a new key for a new request"
                    ),
                ));
            }
            Claim::Running if waited_from.elapsed() < WAIT_FOR_RUNNING => {
                tokio::time::sleep(POLL_EVERY).await;
            }
            Claim::Running => {
                return Err(ContentError::InProgress(format!(
                    "a request with this {HEADER} is in progress; retry later"
                )));
            }
        }
    }
    let response = work().await;
    if response.status >= 500 {
        store.release(scope, key.as_str()).await?;
    } else {
        store.complete(scope, key.as_str(), &response).await?;
    }
    Ok(Outcome::Fresh(response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[test]
    fn keys() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in [
            String::new(),
            "k".repeat(256),
            "tab\there".into(),
            "é".into(),
        ] {
            let e = IdempotencyKey::parse(&bad).unwrap_err();
            assert_eq!(e.field, "Idempotency-Key");
        }
    }

    #[test]
    fn fingerprints_cover_operation_and_body() {
        let a = Fingerprint::of("POST /api/v2/posts", &json!({"title": "a"}));
        assert_eq!(
            a,
            Fingerprint::of("POST /api/v2/posts", &json!({"title": "a"}))
        );
        assert_ne!(
            a,
            Fingerprint::of("POST /api/v2/posts", &json!({"title": "b"}))
        );
        assert_ne!(
            a,
            Fingerprint::of("POST /api/v2/bulk/posts", &json!({"title": "a"}))
        );
    }

    /// An in-memory store, enough to pin the protocol.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, (Fingerprint, Option<StoredResponse>)>>);

    impl IdempotencyStore for Memory {
        async fn claim(
            &self,
            _: Scope,
            key: &str,
            fp: &Fingerprint,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Claim, ContentError> {
            let mut rows = self.0.lock().unwrap();
            Ok(match rows.get(key) {
                None => {
                    rows.insert(key.to_owned(), (*fp, None));
                    Claim::Won
                }
                Some((f, _)) if f != fp => Claim::Mismatch,
                Some((_, None)) => Claim::Running,
                Some((_, Some(r))) => Claim::Done(r.clone()),
            })
        }
        async fn complete(
            &self,
            _: Scope,
            key: &str,
            r: &StoredResponse,
        ) -> Result<(), ContentError> {
            self.0.lock().unwrap().get_mut(key).unwrap().1 = Some(r.clone());
            Ok(())
        }
        async fn release(&self, _: Scope, key: &str) -> Result<(), ContentError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
    }

    fn never() -> StoredResponse {
        unreachable!("the key is taken: the work must not run")
    }

    const SCOPE: Scope = Scope {
        site_id: 1,
        user_id: 1,
    };

    #[tokio::test]
    async fn replays_once_done_and_refuses_another_body() {
        let store = Memory::default();
        let key = IdempotencyKey::parse("k1").unwrap();
        let fp = Fingerprint::of("op", &json!(1));
        let ran = std::cell::Cell::new(0);
        let work = || async {
            ran.set(ran.get() + 1);
            StoredResponse {
                status: 201,
                body: json!({"data": {"id": 7}}),
            }
        };
        let first = run(&store, SCOPE, &key, fp, work).await.unwrap();
        assert!(matches!(first, Outcome::Fresh(ref r) if r.status == 201));
        let again = run(&store, SCOPE, &key, fp, work).await.unwrap();
        assert_eq!(
            again,
            Outcome::Replayed(StoredResponse {
                status: 201,
                body: json!({"data": {"id": 7}})
            })
        );
        assert_eq!(ran.get(), 1);
        let other = Fingerprint::of("op", &json!(2));
        match run(&store, SCOPE, &key, other, work).await {
            Err(ContentError::Validation(e)) => assert_eq!(e[0].field, "Idempotency-Key"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn server_faults_are_not_remembered() {
        let store = Memory::default();
        let key = IdempotencyKey::parse("k2").unwrap();
        let fp = Fingerprint::of("op", &json!(1));
        let failed = run(&store, SCOPE, &key, fp, || async {
            StoredResponse {
                status: 500,
                body: json!({}),
            }
        })
        .await
        .unwrap();
        assert!(matches!(failed, Outcome::Fresh(_)));
        let retried = run(&store, SCOPE, &key, fp, || async {
            StoredResponse {
                status: 201,
                body: json!({}),
            }
        })
        .await
        .unwrap();
        assert!(matches!(retried, Outcome::Fresh(ref r) if r.status == 201));
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_key_is_waited_for_then_409() {
        let store = Memory::default();
        let fp = Fingerprint::of("op", &json!(1));
        store
            .claim(SCOPE, "k3", &fp, crate::now(), crate::now())
            .await
            .unwrap();
        let key = IdempotencyKey::parse("k3").unwrap();
        let r = run(&store, SCOPE, &key, fp, || async { never() }).await;
        assert!(matches!(r, Err(ContentError::InProgress(_))), "{r:?}");
    }
}
