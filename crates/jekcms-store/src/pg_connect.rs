//! PostgreSQL connections whose every wait is bounded, so that a server that stops answering
//! (a frozen process, a network black hole: the TCP connection stays open, nothing comes
//! back) turns into an error within seconds instead of a hang for the whole outage.
//!
//! - Connecting — TCP connect, start-up and authentication — has one deadline.
//! - Each connection gets the server-side `statement_timeout`, which a live but slow
//!   server enforces with a proper error.
//! - A frozen server cannot enforce anything, so the socket itself is watched: while a reply
//!   is owed (more `Sync`/`Query` messages sent than `ReadyForQuery` received) and no byte
//!   arrives for the statement timeout plus a margin, reading fails. The connection dies,
//!   every query on it fails as "unavailable", and the pool discards it. Nothing is
//!   cancelled mid-flight: the query's future ends with an error.

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How much longer than the server's `statement_timeout` the socket watch waits, so that a
/// live server's own cancellation (a clear error, connection kept) always comes first.
const WATCH_MARGIN: Duration = Duration::from_secs(1);

/// Limits for one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgLimits {
    /// Connecting, from TCP to the first `ReadyForQuery`.
    pub(crate) connect: Duration,
    /// Server-side `statement_timeout` (`None`: the server's setting).
    pub(crate) statement: Option<Duration>,
    /// Longest silence while a reply is owed (`None`: unwatched).
    pub(crate) silence: Option<Duration>,
}

impl PgLimits {
    /// Pool connections: the statement timeout on the server, and the socket watched for a
    /// little longer.
    pub(crate) fn pooled(connect: Duration, statement: Duration) -> Self {
        Self {
            connect,
            statement: Some(statement),
            silence: Some(statement + WATCH_MARGIN),
        }
    }
}

/// The host and port a URL names, for messages (never the user or password).
pub(crate) fn describe_target(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => {
            let ports = config.get_ports();
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .enumerate()
                .map(|(i, host)| {
                    let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                    match host {
                        tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                        #[cfg(unix)]
                        tokio_postgres::config::Host::Unix(p) => {
                            format!("{}/.s.PGSQL.{port}", p.display())
                        }
                    }
                })
                .collect();
            if hosts.is_empty() {
                "localhost:5432".to_owned()
            } else {
                hosts.join(",")
            }
        }
        Err(_) => "an unparsable PostgreSQL URL".to_owned(),
    }
}

/// Opens one connection within `limits.connect`.
pub(crate) async fn connect(
    url: &str,
    limits: PgLimits,
) -> Result<AsyncPgConnection, ConnectionError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| ConnectionError::InvalidConnectionUrl(e.to_string()))?;
    if let Some(statement) = limits.statement {
        // Sent in the start-up packet: no extra round trip per connection.
        let setting = format!("-c statement_timeout={}", statement.as_millis());
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {setting}"),
            _ => setting,
        };
        config.options(options);
    }
    let timed_out = || {
        ConnectionError::BadConnection(format!(
            "no answer within {} s (connect timeout)",
            limits.connect.as_secs_f32()
        ))
    };
    tokio::time::timeout(limits.connect, async {
        let socket = open_socket(&config).await.map_err(|e| {
            ConnectionError::BadConnection(format!("cannot connect to the server: {e}"))
        })?;
        let (client, connection) = config
            .connect_raw(Watched::new(socket, limits.silence), tokio_postgres::NoTls)
            .await
            .map_err(|e| ConnectionError::BadConnection(server_said(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        AsyncPgConnection::try_from(client).await
    })
    .await
    .map_err(|_| timed_out())?
}

/// What PostgreSQL refused and why, in its own words (`database "x" does not exist`,
/// `password authentication failed for user "y"`): tokio-postgres's own text for a server
/// error is only "db error".
fn server_said(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("the server refused: {}", db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// A byte stream to the server: TCP or a Unix socket.
trait Socket: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Socket for T {}

/// Tries each host of the URL in order, as libpq does.
async fn open_socket(config: &tokio_postgres::Config) -> io::Result<Box<dyn Socket>> {
    let ports = config.get_ports();
    let mut last_error = io::Error::new(io::ErrorKind::InvalidInput, "the URL names no host");
    for (i, host) in config.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let attempt: io::Result<Box<dyn Socket>> = match host {
            tokio_postgres::config::Host::Tcp(h) => {
                match tokio::net::TcpStream::connect((h.as_str(), port)).await {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        Ok(Box::new(s))
                    }
                    Err(e) => Err(e),
                }
            }
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(dir) => {
                tokio::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{port}")))
                    .await
                    .map(|s| Box::new(s) as Box<dyn Socket>)
            }
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Splits a stream of protocol messages (a type byte, then a big-endian length that counts
/// itself) and counts those of one type.
#[derive(Debug)]
struct Framer {
    /// The next message has no type byte (the client's start-up packet).
    untyped_next: bool,
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl Framer {
    fn new(untyped_first: bool) -> Self {
        Self {
            untyped_next: untyped_first,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
        }
    }

    /// Feeds bytes; returns how many complete messages of `wanted` types (or untyped) they
    /// started.
    fn feed(&mut self, mut bytes: &[u8], wanted: &[u8]) -> usize {
        let mut count = 0;
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let header_size = if self.untyped_next { 4 } else { 5 };
            let n = (header_size - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len < header_size {
                continue;
            }
            let (kind, len) = if self.untyped_next {
                (None, &self.header[..4])
            } else {
                (Some(self.header[0]), &self.header[1..5])
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if kind.is_none_or(|k| wanted.contains(&k)) {
                count += 1;
            }
            self.untyped_next = false;
            self.header_len = 0;
            self.body_left = len.saturating_sub(4);
        }
        count
    }
}

/// A socket that fails its reads when the server owes a reply and stays silent too long.
struct Watched {
    inner: Box<dyn Socket>,
    silence: Option<Duration>,
    /// Replies owed: `Sync`, `Query` and the start-up packet each end in one `ReadyForQuery`.
    owed: usize,
    sent: Framer,
    received: Framer,
    timer: Pin<Box<Sleep>>,
}

impl Watched {
    fn new(inner: Box<dyn Socket>, silence: Option<Duration>) -> Self {
        Self {
            inner,
            silence,
            owed: 0,
            sent: Framer::new(true),
            received: Framer::new(false),
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Restarts the silence timer and registers this task to be woken when it runs out.
    fn rearm(&mut self, cx: &mut Context<'_>) {
        if let Some(silence) = self.silence {
            self.timer.as_mut().reset(Instant::now() + silence);
            let _ = self.timer.as_mut().poll(cx);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let ready = this.received.feed(&buf.filled()[before..], b"Z");
                this.owed = this.owed.saturating_sub(ready);
                if this.owed > 0 {
                    this.rearm(cx);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.owed > 0 && this.silence.is_some() => {
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the database stopped answering",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written {
            let requests = this.sent.feed(&data[..n], b"SQ");
            if requests > 0 {
                let was_idle = this.owed == 0;
                this.owed += requests;
                // The reader may be parked on the socket with no timer: arm one now.
                if was_idle {
                    this.rearm(cx);
                }
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FreezingProxy, TestDatabase};
    use crate::{Store, StoreError, StoreOptions};
    use std::time::Instant as StdInstant;

    /// Awaits `f`, failing the test (instead of hanging it) if it takes over 10 s.
    async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("no answer within 10 s: a wait is unbounded")
    }

    fn short() -> StoreOptions {
        StoreOptions {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(1),
            startup_timeout: Duration::from_secs(2),
        }
    }

    /// A server that stops answering (the proxy stops forwarding, as a frozen process or
    /// a network black hole does) costs each call its timeout, not the whole outage; a new
    /// store gives up after its start-up timeout; all is well again once it answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_server_fails_calls_within_their_timeouts() {
        let Some(db) = TestDatabase::postgres().await else {
            return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
        };
        let proxy = FreezingProxy::start(db.url());
        let store = Store::connect(proxy.url(), short()).await.unwrap();
        store.ping().await.unwrap();

        // A live but slow server: its own statement timeout answers.
        let started = StdInstant::now();
        let slow = bounded(store.execute_for_tests("SELECT pg_sleep(5)")).await;
        assert!(matches!(slow, Err(StoreError::Unavailable(_))), "{slow:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );

        proxy.freeze();
        // A pooled connection whose server went silent, then a new connection that cannot
        // be opened: each bounded by its own timeout.
        for attempt in 0..3 {
            let started = StdInstant::now();
            let result = bounded(store.ping()).await;
            let took = started.elapsed();
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{attempt}: {result:?}"
            );
            assert!(
                took < Duration::from_secs(4),
                "attempt {attempt} took {took:?}"
            );
        }
        let started = StdInstant::now();
        let fresh = bounded(Store::connect(proxy.url(), short())).await;
        let took = started.elapsed();
        match fresh {
            Err(StoreError::Unavailable(reason)) => {
                assert!(reason.contains("127.0.0.1"), "names the server: {reason}");
                assert!(reason.contains("after 2 s"), "{reason}");
            }
            other => panic!("connecting to a silent server: {other:?}"),
        }
        assert!(
            took < Duration::from_secs(5),
            "start-up gave up after {took:?}"
        );

        proxy.thaw();
        let mut recovered = false;
        for _ in 0..20 {
            if store.ping().await.is_ok() {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(recovered, "the store answers again once the server does");
    }

    #[test]
    fn framer_counts_messages_split_anywhere() {
        // Start-up packet (untyped, 8 bytes), then Parse 'P' (len 6), Sync 'S' (len 4),
        // Query 'Q' (len 5).
        let mut stream = vec![0, 0, 0, 8, 0, 3, 0, 0];
        stream.extend([b'P', 0, 0, 0, 6, b'S', b'Q']);
        stream.extend([b'S', 0, 0, 0, 4]);
        stream.extend([b'Q', 0, 0, 0, 5, 0]);
        for split in 0..stream.len() {
            let mut f = Framer::new(true);
            let n = f.feed(&stream[..split], b"SQ") + f.feed(&stream[split..], b"SQ");
            // The start-up packet, the Sync and the Query; not the 'S'/'Q' inside Parse.
            assert_eq!(n, 3, "split at {split}");
        }
    }
}
