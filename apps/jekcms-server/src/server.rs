//! The HTTP server around the app, and how it treats connections. `serve` and the test
//! server both start it here, so that tests run with what production runs.

use crate::state::AppState;
use actix_web::HttpServer;
use actix_web::dev::Server;
use std::net::{SocketAddr, TcpListener};

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
    /// One worker per available core, signals handled: what `serve` runs.
    pub fn for_this_machine() -> Self {
        Self {
            count: std::thread::available_parallelism().map_or(2, usize::from),
            signals: true,
        }
    }
}

/// Builds the server over `state` and starts listening; it serves once the returned
/// [`Server`] is awaited or spawned. Also returns the bound addresses.
///
/// Every accepted connection gets `TCP_NODELAY`: without it a response written in two parts
/// waited for the client's delayed ACK of the first (~40 ms) before the second was sent.
pub fn start(
    state: AppState,
    listen: Listen,
    workers: Workers,
) -> std::io::Result<(Server, Vec<SocketAddr>)> {
    let server = HttpServer::new(move || crate::build_app(state.clone()))
        .workers(workers.count)
        .tcp_nodelay(true);
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
