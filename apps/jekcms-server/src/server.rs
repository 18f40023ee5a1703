//! The HTTP server around the app, and how it treats connections. `serve` and the test
//! server both start it here, so that tests run with what production runs.

use crate::state::AppState;
use actix_web::HttpServer;
use actix_web::dev::Server;
use actix_web::http::KeepAlive;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// How long a client has to send a request's line and headers once connected (actix's
/// default, stated here): past it, `408` and the connection is closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a closing connection may take to shut down cleanly before it is dropped.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the server listens.
#[derive(Debug)]
pub enum Listen {
    /// Bind this address (actix's listener: `SO_REUSEADDR`, a backlog of 1024).
    Bind(SocketAddr),
    /// A listener bound already.
    Listener(TcpListener),
}

/// How many worker threads, and whether the server handles `SIGTERM`/`SIGINT` itself.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    /// Worker threads, each with its own copy of the app.
    pub count: usize,
    /// The process's signals stop the server (not wanted by a server inside a test).
    pub signals: bool,
}

impl Workers {
    /// `count` workers (`JEKCMS_WORKERS`), or one per available core; signals handled: what
    /// `serve` runs.
    pub fn for_this_machine(count: Option<usize>) -> Self {
        Self {
            count: count
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
            signals: true,
        }
    }
}

/// Builds the server over `state` and starts listening; it serves once the returned
/// [`Server`] is awaited or spawned. Also returns the bound addresses.
///
/// Every accepted connection gets `TCP_NODELAY`: without it a response written in two parts
/// waited for the client's delayed ACK of the first (~40 ms) before the second was sent.
/// A request head must arrive within [`HEAD_TIMEOUT`]; bodies have their own deadline
/// (`body_deadline.rs`); idle keep-alive connections close after `JEKCMS_KEEP_ALIVE`; at most
/// `JEKCMS_MAX_CONNECTIONS` are open at once, shared evenly by the workers — past it, new
/// connections wait in the listen queue.
///
/// On `SIGTERM` actix closes the listener at once (new connections are refused), closes idle
/// keep-alive connections, and lets requests in flight finish for `JEKCMS_SHUTDOWN_TIMEOUT`
/// before dropping them; `SIGINT` and `SIGQUIT` stop at once.
pub fn start(
    state: AppState,
    listen: Listen,
    workers: Workers,
) -> std::io::Result<(Server, Vec<SocketAddr>)> {
    let config = &state.config;
    let per_worker = config.max_connections.div_ceil(workers.count).max(1);
    let keep_alive = match config.keep_alive {
        Duration::ZERO => KeepAlive::Disabled,
        idle => KeepAlive::Timeout(idle),
    };
    // Each worker's database connections are its own: shared ones cost every query two
    // cross-thread wake-ups (`Store::for_this_thread`).
    let db_per_worker = config
        .store_options()
        .max_connections
        .div_ceil(workers.count)
        .max(2);
    let server = HttpServer::new({
        let state = state.clone();
        move || crate::build_app(state.for_worker(db_per_worker))
    })
    .workers(workers.count)
    .tcp_nodelay(true)
    .client_request_timeout(HEAD_TIMEOUT)
    .client_disconnect_timeout(DISCONNECT_TIMEOUT)
    .keep_alive(keep_alive)
    .max_connections(per_worker)
    .shutdown_timeout(config.shutdown_timeout.as_secs());
    let server = if workers.signals {
        server
    } else {
        server.disable_signals()
    };
    let server = match listen {
        Listen::Bind(addr) => server.bind(addr)?,
        Listen::Listener(listener) => server.listen(listener)?,
    };
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

/// Starts the server of `JEKCMS_METRICS_BIND`: one worker serving `GET /metrics` only, its
/// signals left to the API server's (which stops it). Also returns the bound addresses.
pub fn start_metrics(
    state: AppState,
    addr: SocketAddr,
) -> std::io::Result<(Server, Vec<SocketAddr>)> {
    let server = HttpServer::new(move || crate::metrics::metrics_app(state.clone()))
        .workers(1)
        .client_request_timeout(HEAD_TIMEOUT)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        .shutdown_timeout(1)
        .disable_signals()
        .bind(addr)?;
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}
