//! The JekCMS HTTP API server: composes the domain crates behind actix-web.
//!
//! - [`config`]: `JEKCMS_*` variables. [`state`]: what handlers share.
//! - [`context`]: request ids, panic capture, the access log. [`errors`]: every domain
//!   error mapped to an envelope code, in one place. [`extract`]: caller, JSON and query.
//! - [`server`]: connections (TCP_NODELAY, timeouts, limits). [`compress`]: gzip in one
//!   write. [`body_deadline`]: request bodies that stall or trickle are cut.
//! - [`metrics`]: Prometheus metrics (`GET /metrics`), recorded by [`context`].
//! - [`routes`]: thin handlers and the one route list. [`paging`]: every list's request read
//!   once, and the id-ordered lists (users, keys). [`openapi`]: the generated spec.
//!   [`schemas`]: the documentation shapes both name. [`uploads`]: receiving media bytes;
//!   [`media_bytes`]: serving them (`/content` and public URLs).
//!
//! - [`webhook_delivery`]: the background task that delivers webhooks.
//! - [`mcp`]: `POST /mcp`, the MCP server for AI agents (`mcp_` tokens), its tools and
//!   resources over the same service functions as the REST API.
//!
//! - [`cli`]: the `jekcms` command; [`sites_cli`]: the operator's `jekcms sites`.
//!
//! This is the only crate that knows actix-web; domain rules live in `crates/`.

pub mod backup;
pub mod body_deadline;
pub mod cli;
pub mod compress;
pub mod conditional;
pub mod config;
pub mod context;
pub mod cors;
pub mod errors;
pub mod extract;
pub mod idempotent;
pub mod jobs;
pub mod mcp;
pub mod media_bytes;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod pull_auth;
pub mod pull_cache;
pub mod respond;
pub mod routes;
pub mod schemas;
pub mod secret_key;
pub mod seed;
pub mod server;
pub mod sites_cli;
pub mod state;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod uploads;
pub mod webhook_delivery;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use errors::AppError;
use state::{AppState, StartError};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// The application with all routes and middleware, over `state`.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let v1_enabled = state.config.v1_enabled;
    let metrics_here = state.config.metrics && state.config.metrics_bind.is_none();
    let request_context = context::RequestContext {
        pull_lease: state.config.pull_lease,
    };
    let body_deadline = body_deadline::BodyDeadline {
        idle: state.config.body_timeout,
        min_rate: state.config.body_min_rate,
    };
    App::new()
        .app_data(web::Data::new(state))
        .app_data(
            web::PathConfig::default().error_handler(|_, _| AppError::not_found("resource").into()),
        )
        .configure(|cfg| routes::configure(cfg, v1_enabled))
        .configure(mcp::configure)
        .configure(|cfg| {
            if metrics_here {
                metrics::configure(cfg);
            }
        })
        .service(
            SwaggerUi::new("/docs/{_:.*}").url("/api/v2/openapi.json", openapi::ApiDoc::openapi()),
        )
        .default_service(web::to(routes::fallback))
        .wrap(body_deadline)
        .wrap(actix_web::middleware::from_fn(compress::gzip_responses))
        .wrap(actix_web::middleware::from_fn(conditional::conditional_get))
        .wrap(actix_web::middleware::from_fn(cors::cors))
        .wrap(request_context)
}

/// Runs the server until it is stopped. Prints `listening on http://ADDR` once bound.
pub async fn serve(config: config::Config) -> Result<(), StartError> {
    let bind = config.bind;
    let config_workers = config.workers;
    let state = AppState::build(config).await?;
    // Start-up's connections are not needed any more: the background jobs below open what
    // they use, and every HTTP worker has a pool of its own (`server::start`).
    state.store.close_idle_connections();
    let metrics_server = match state.config.metrics_bind {
        None => None,
        Some(addr) => Some(server::start_metrics(state.clone(), addr).map_err(|e| {
            StartError(format!("JEKCMS_METRICS_BIND: cannot listen on {addr}: {e}"))
        })?),
    };
    let (server, addrs) = server::start(
        state.clone(),
        server::Listen::Bind(bind),
        server::Workers::for_this_machine(config_workers),
    )
    .map_err(|e| StartError(format!("JEKCMS_BIND: cannot listen on {bind}: {e}")))?;
    // The background jobs start once both addresses are bound: a start that fails (an
    // address in use) says so in one line, with no job cut short behind it.
    jobs::spawn(
        state.store.clone(),
        state.config.activity_retention,
        state.media.clone(),
    );
    // Forget quotas that are full again, so idle sessions and IPs cost no memory.
    let limiter = state.limiter.clone();
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            limiter.retain_recent();
        }
    });
    // Webhook deliveries, from this process's runtime (not an HTTP worker's): whatever was
    // due when a previous run stopped goes out now.
    crate::webhook_delivery::start(state.clone());
    for addr in &addrs {
        println!("listening on http://{addr}");
    }
    tracing::info!(?addrs, "listening");
    let metrics_handle = metrics_server.map(|(metrics_server, metrics_addrs)| {
        // Logged, not printed: stdout's one line is the API address, for scripts.
        tracing::info!(addrs = ?metrics_addrs, "metrics listening");
        let handle = metrics_server.handle();
        tokio::spawn(metrics_server);
        handle
    });
    let served = server.await;
    // The metrics address closes with the API (its own signals are not handled).
    if let Some(handle) = metrics_handle {
        handle.stop(true).await;
    }
    served.map_err(|e| StartError(format!("server error: {e}")))
}
