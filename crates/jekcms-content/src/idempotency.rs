//! `Idempotency-Key` (API.md §3): a client names an operation so that a retry of it
//! replays the first outcome instead of doing the work again.
//!
//! The protocol, over an [`IdempotencyStore`]:
//!
//! 1. **Claim** ([`begin`]): insert a row keyed by (site, user, key) holding the request's
//!    [`Fingerprint`] and a **lease**, a deadline a few seconds ahead. The unique index
//!    decides: of two racing requests exactly one inserts.
//! 2. The winner does the work. A creating call **records** its response in the
//!    transaction that creates its rows (a [`Record`] handed to the repository): a committed
//!    write always has its response stored, and a crash before the commit leaves only the
//!    claim, whose work is simply redone by a retry.
//! 3. [`finish`]: an outcome that is final for the request body but wrote nothing (a `422`,
//!    a bulk call whose items were all invalid) is stored on its own; an outcome that depends
//!    on the moment rather than the body (`401`, `403`, `409`, `429`, any 5xx) is never
//!    stored: the claim is released and a retry runs again.
//! 4. A request that finds a completed row with the same fingerprint gets that response
//!    again; a different fingerprint is a `422` on `Idempotency-Key`; a claim whose lease is
//!    live is polled every [`POLL_EVERY`] for up to [`WAIT_FOR_RUNNING`], then answered
//!    `409`; a claim whose lease ran out (its request died) is **taken over** and the work
//!    done by the retry. Every claim counts an attempt, and only the attempt that holds the
//!    claim may record a response, so a request that outlived its lease rolls back instead of
//!    committing after its successor.
//!
//! Rows are scoped to the caller's site and user: two users (or two sites) may use the same
//! key without seeing each other's responses. Rows expire after [`RETENTION`]; an expired row
//! is ignored and deleted lazily by the next claim.

use crate::{ContentError, FieldError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The header's name (and the `field` of its errors).
pub const HEADER: &str = "Idempotency-Key";
/// Longest key, in characters.
pub const MAX_KEY_CHARS: usize = 255;
/// How long a key is remembered.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// How long a claim stays another request's before a retry may take it over, unless
/// configured otherwise. Longer than any create takes; short enough that a client whose
/// request died with the server can retry within a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
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

impl StoredResponse {
    /// Whether this outcome is the request body's own, and so replayed to a retry: a 2xx, or
    /// a 4xx about the body. `401`, `403`, `409` and `429` depend on the moment (a credential,
    /// a role, a taken slug, a quota) and 5xx on the server: a retry must run again.
    pub fn is_final(&self) -> bool {
        matches!(self.status, 200..=299 | 400..=499)
            && !matches!(self.status, 401 | 403 | 409 | 429)
    }
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request holds the claim (a new row, or one whose lease ran out): this attempt
    /// at the row, counted from 1, does the work.
    Won(i64),
    /// A request with the same fingerprint finished with this response.
    Done(StoredResponse),
    /// A request with the same fingerprint holds a live lease.
    Running,
    /// The key was used with another fingerprint.
    Mismatch,
}

/// A claim a request holds: the row, and which attempt at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Whose key.
    pub scope: Scope,
    /// The key.
    pub key: String,
    /// The attempt that won the claim; a store completes the row only for this attempt.
    pub attempt: i64,
}

/// Storage of idempotency records. Each method is one atomic step.
pub trait IdempotencyStore: Send + Sync {
    /// Claims (`scope`, `key`) for `fingerprint` until `lease_until`, and reports what it
    /// found: inserts the row unless one younger than `expired_before` exists (older rows
    /// are deleted first), or takes over a running row whose lease ended before `now`.
    fn claim(
        &self,
        scope: Scope,
        key: &str,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, ContentError>> + Send;

    /// Stores the response of a claim that wrote nothing, if `ticket` still holds it.
    fn complete(
        &self,
        ticket: &Ticket,
        response: &StoredResponse,
    ) -> impl Future<Output = Result<(), ContentError>> + Send;

    /// Deletes the claim if `ticket` still holds it and it has no response: a retry runs
    /// again.
    fn release(&self, ticket: &Ticket) -> impl Future<Output = Result<(), ContentError>> + Send;
}

/// A claim won by this request ([`begin`]).
#[derive(Debug)]
pub struct Claimed {
    ticket: Ticket,
    recorded: AtomicBool,
}

impl Claimed {
    /// The claim.
    pub fn ticket(&self) -> &Ticket {
        &self.ticket
    }

    /// A [`Record`] for the work's transaction: `render` turns what it created into the
    /// response to store.
    pub fn record<'a, T: ?Sized>(&'a self, render: &'a Render<'a, T>) -> Record<'a, T> {
        Record {
            claimed: self,
            render,
        }
    }
}

/// Renders the response of a creating call from what its transaction created; `None` when
/// there is nothing to store yet.
pub type Render<'a, T> = dyn Fn(&T) -> Option<StoredResponse> + Send + Sync + 'a;

/// A response to store inside the transaction of a creating call: the repository renders it
/// from the created rows and writes it to the claimed row before it commits, failing the
/// transaction when the claim was taken over (`ContentError::InProgress`).
pub struct Record<'a, T: ?Sized> {
    claimed: &'a Claimed,
    render: &'a Render<'a, T>,
}

impl<T: ?Sized> Clone for Record<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Record<'_, T> {}

impl<T: ?Sized> std::fmt::Debug for Record<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("ticket", &self.claimed.ticket)
            .finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> Record<'a, T> {
    /// The claim to complete.
    pub fn ticket(&self) -> &'a Ticket {
        &self.claimed.ticket
    }

    /// The response for what the transaction created, or `None` to store nothing.
    pub fn response(&self, created: &T) -> Option<StoredResponse> {
        let response = (self.render)(created);
        if response.is_some() {
            self.claimed.recorded.store(true, Ordering::Relaxed);
        }
        response
    }

    /// The same claim, rendered from another value (a layer that turns what the repository
    /// returns into what its caller renders).
    pub fn map<'b, U: ?Sized>(&self, render: &'b Render<'b, U>) -> Record<'b, U>
    where
        'a: 'b,
    {
        Record {
            claimed: self.claimed,
            render,
        }
    }
}

/// What [`begin`] found.
#[derive(Debug)]
pub enum Begun {
    /// This request holds the claim: it does the work, then calls [`finish`].
    Claimed(Claimed),
    /// The response of an earlier request with the same key and body.
    Replayed(StoredResponse),
}

/// Claims `key` for this request, waiting for a live claim of the same request for up to
/// [`WAIT_FOR_RUNNING`]; `lease` is how long the claim is this request's alone.
pub async fn begin<S: IdempotencyStore>(
    store: &S,
    scope: Scope,
    key: &IdempotencyKey,
    fingerprint: Fingerprint,
    lease: Duration,
) -> Result<Begun, ContentError> {
    let lease = chrono::Duration::from_std(lease)
        .unwrap_or(RETENTION)
        .min(RETENTION);
    let waited_from = tokio::time::Instant::now();
    loop {
        let now = crate::now();
        match store
            .claim(
                scope,
                key.as_str(),
                &fingerprint,
                now,
                now + lease,
                now - RETENTION,
            )
            .await?
        {
            Claim::Won(attempt) => {
                return Ok(Begun::Claimed(Claimed {
                    ticket: Ticket {
                        scope,
                        key: key.as_str().to_owned(),
                        attempt,
                    },
                    recorded: AtomicBool::new(false),
                }));
            }
            Claim::Done(response) => return Ok(Begun::Replayed(response)),
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
}

/// Settles the claim after the work answered `response`: nothing to do when the work's
/// transaction recorded it; otherwise a final outcome is stored and any other releases the
/// claim ([`StoredResponse::is_final`]).
pub async fn finish<S: IdempotencyStore>(
    store: &S,
    claimed: &Claimed,
    response: &StoredResponse,
) -> Result<(), ContentError> {
    let recorded = claimed.recorded.load(Ordering::Relaxed);
    if recorded && (200..300).contains(&response.status) {
        Ok(())
    } else if response.is_final() {
        store.complete(&claimed.ticket, response).await
    } else {
        // Also after a recorded response whose commit failed: a committed row keeps its
        // response (release deletes only a row without one).
        store.release(&claimed.ticket).await
    }
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

    #[test]
    fn only_outcomes_of_the_body_are_final() {
        let final_for = |status| {
            StoredResponse {
                status,
                body: json!({}),
            }
            .is_final()
        };
        for status in [200, 201, 400, 404, 413, 422] {
            assert!(final_for(status), "{status}");
        }
        for status in [401, 403, 409, 429, 500, 503, 100, 304] {
            assert!(!final_for(status), "{status}");
        }
    }

    struct Row {
        fp: Fingerprint,
        response: Option<StoredResponse>,
        lease_until: DateTime<Utc>,
        attempt: i64,
    }

    /// An in-memory store, enough to pin the protocol (the real ones are tested through the
    /// API on both backends).
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Row>>);

    impl IdempotencyStore for Memory {
        async fn claim(
            &self,
            _: Scope,
            key: &str,
            fp: &Fingerprint,
            now: DateTime<Utc>,
            lease_until: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Claim, ContentError> {
            let mut rows = self.0.lock().unwrap();
            let Some(row) = rows.get_mut(key) else {
                let row = Row {
                    fp: *fp,
                    response: None,
                    lease_until,
                    attempt: 1,
                };
                rows.insert(key.to_owned(), row);
                return Ok(Claim::Won(1));
            };
            Ok(match &row.response {
                _ if row.fp != *fp => Claim::Mismatch,
                Some(r) => Claim::Done(r.clone()),
                None if row.lease_until > now => Claim::Running,
                None => {
                    row.lease_until = lease_until;
                    row.attempt += 1;
                    Claim::Won(row.attempt)
                }
            })
        }
        async fn complete(&self, t: &Ticket, r: &StoredResponse) -> Result<(), ContentError> {
            let mut rows = self.0.lock().unwrap();
            let row = rows.get_mut(&t.key).unwrap();
            if row.attempt == t.attempt && row.response.is_none() {
                row.response = Some(r.clone());
            }
            Ok(())
        }
        async fn release(&self, t: &Ticket) -> Result<(), ContentError> {
            let mut rows = self.0.lock().unwrap();
            if rows
                .get(&t.key)
                .is_some_and(|r| r.attempt == t.attempt && r.response.is_none())
            {
                rows.remove(&t.key);
            }
            Ok(())
        }
    }

    const SCOPE: Scope = Scope {
        site_id: 1,
        user_id: 1,
    };

    fn response(status: u16) -> StoredResponse {
        StoredResponse {
            status,
            body: json!({"data": {"status": status}}),
        }
    }

    async fn claimed(store: &Memory, key: &str, fp: Fingerprint) -> Claimed {
        let key = IdempotencyKey::parse(key).unwrap();
        match begin(store, SCOPE, &key, fp, DEFAULT_LEASE).await.unwrap() {
            Begun::Claimed(c) => c,
            Begun::Replayed(r) => panic!("replayed {r:?}"),
        }
    }

    async fn replayed(store: &Memory, key: &str, fp: Fingerprint) -> StoredResponse {
        let key = IdempotencyKey::parse(key).unwrap();
        match begin(store, SCOPE, &key, fp, DEFAULT_LEASE).await.unwrap() {
            Begun::Replayed(r) => r,
            Begun::Claimed(c) => panic!("claimed {:?}", c.ticket()),
        }
    }

    #[tokio::test]
    async fn final_outcomes_replay_and_another_body_is_refused() {
        let store = Memory::default();
        let fp = Fingerprint::of("op", &json!(1));
        for (key, status) in [("k201", 201), ("k422", 422)] {
            let c = claimed(&store, key, fp).await;
            finish(&store, &c, &response(status)).await.unwrap();
            assert_eq!(replayed(&store, key, fp).await, response(status));
        }
        let key = IdempotencyKey::parse("k201").unwrap();
        let other = Fingerprint::of("op", &json!(2));
        match begin(&store, SCOPE, &key, other, DEFAULT_LEASE).await {
            Err(ContentError::Validation(e)) => assert_eq!(e[0].field, "Idempotency-Key"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn outcomes_of_the_moment_release_the_claim() {
        let store = Memory::default();
        let fp = Fingerprint::of("op", &json!(1));
        for status in [401, 403, 409, 429, 500, 503] {
            let c = claimed(&store, "k", fp).await;
            finish(&store, &c, &response(status)).await.unwrap();
        }
        // Each retry ran again; the last one's success is the one kept.
        let c = claimed(&store, "k", fp).await;
        finish(&store, &c, &response(201)).await.unwrap();
        assert_eq!(replayed(&store, "k", fp).await, response(201));
    }

    #[tokio::test]
    async fn a_response_recorded_by_the_work_is_not_stored_again() {
        let store = Memory::default();
        let fp = Fingerprint::of("op", &json!(1));
        let c = claimed(&store, "k", fp).await;
        let render = |n: &i64| Some(response(u16::try_from(*n).unwrap()));
        let record = c.record(&render);
        assert_eq!(record.ticket().attempt, 1);
        // What a repository does inside its transaction.
        let stored = record.response(&201).unwrap();
        store.complete(record.ticket(), &stored).await.unwrap();
        // `finish` then leaves the row alone: had it completed it again, the 200 would win.
        store.0.lock().unwrap().get_mut("k").unwrap().response = None;
        finish(&store, &c, &response(200)).await.unwrap();
        assert!(store.0.lock().unwrap()["k"].response.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_live_claim_is_waited_for_then_409_and_an_expired_one_taken_over() {
        let store = Memory::default();
        let fp = Fingerprint::of("op", &json!(1));
        let first = claimed(&store, "k", fp).await;
        let key = IdempotencyKey::parse("k").unwrap();
        let r = begin(&store, SCOPE, &key, fp, DEFAULT_LEASE).await;
        assert!(matches!(r, Err(ContentError::InProgress(_))), "{r:?}");
        // The first request died: its lease runs out and a retry takes the claim over.
        store.0.lock().unwrap().get_mut("k").unwrap().lease_until =
            crate::now() - chrono::Duration::seconds(1);
        let second = claimed(&store, "k", fp).await;
        assert_eq!(second.ticket().attempt, 2);
        // The first one, had it lived on, can neither complete nor release the claim.
        finish(&store, &first, &response(422)).await.unwrap();
        finish(&store, &first, &response(503)).await.unwrap();
        finish(&store, &second, &response(201)).await.unwrap();
        assert_eq!(replayed(&store, "k", fp).await, response(201));
    }
}
