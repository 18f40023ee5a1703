//! HTTP routes. Each module holds thin handlers: extract, call a domain function, wrap the
//! envelope. [`configure`] registers them; [`fallback`] answers everything else with a 404
//! or, for a known path with another method, a 405 naming the allowed methods.
//!
//! # One route list
//!
//! Each handler is named once, in a `route_list!`: [`RouteDoc`] here (v2 and the probes) and
//! [`v1::V1RouteDoc`] (the `/api/v1` scope). The macro makes from that one list both the
//! function that registers the handlers with actix and an `OpenApi` whose paths are those
//! handlers' `#[utoipa::path]` annotations; [`crate::openapi`] merges the two documents into
//! the published one, and [`allowed_methods`] (the 405 answers) reads the same two. A handler
//! therefore cannot be served without being documented, nor documented without being served.
//! What the list cannot see is an annotation whose method or path differs from the actix
//! attribute (v1's annotations name their full path by hand): the test
//! `every_documented_operation_is_served` in `tests/api/routes.rs` calls every documented
//! operation on the running app and fails on the fallback's 404 or 405.
//!
//! `utoipa-actix-web` would give the same guarantee by wrapping the `App`, but the document
//! would then exist only once an `App` is built, and v1's scope would prefix its full paths
//! again; a declarative list keeps `jekcms openapi` and the 405 table free of any app.

/// Declares a route list: `$register` registers each handler on a `ServiceConfig`, and the
/// struct derives an `OpenApi` whose paths are exactly those handlers. See the module doc.
macro_rules! route_list {
    (
        $(#[$doc:meta])* $vis:vis struct $name:ident;
        $(#[$rdoc:meta])* $rvis:vis fn $register:ident;
        [$($($seg:ident)::+),* $(,)?]
    ) => {
        $(#[$doc])*
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($($seg)::+),*))]
        $vis struct $name;

        $(#[$rdoc])*
        $rvis fn $register(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.service($($seg)::+);)*
        }
    };
}

// actix's route macros turn each handler into a unit struct and leave the original `pub fn`
// inside it, which the lint then sees as unreachable.
#[allow(unreachable_pub)]
pub mod activity;
#[allow(unreachable_pub)]
pub mod auth;
#[allow(unreachable_pub)]
pub mod bulk;
#[allow(unreachable_pub)]
pub mod keys;
#[allow(unreachable_pub)]
pub mod media;
#[allow(unreachable_pub)]
pub mod meta;
#[allow(unreachable_pub)]
pub mod posts;
#[allow(unreachable_pub)]
pub mod pull;
#[allow(unreachable_pub)]
pub mod site;
#[allow(unreachable_pub)]
pub mod users;
#[allow(unreachable_pub)]
pub mod v1;
#[allow(unreachable_pub)]
pub mod webhooks;

use crate::errors::AppError;
use actix_web::dev::ResourceDef;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use jekcms_envelope::ErrorCode;
use std::sync::OnceLock;

route_list! {
    /// The paths of every handler outside `/api/v1` (the document before `crate::openapi`'s
    /// modifiers).
    pub struct RouteDoc;
    /// Registers every handler outside `/api/v1`.
    fn register;
    // actix tries routes in this order, matching the dynamic ones with a regex each: the
    // delivery routes, the hottest by far, come first.
    [
        pull::pull_posts,
        pull::pull_post,
        media::public_media,
        meta::healthz,
        meta::readyz,
        meta::api_index,
        auth::token,
        auth::refresh,
        auth::revoke,
        auth::login,
        auth::register,
        auth::me,
        posts::list_posts,
        posts::create_post,
        posts::get_post,
        posts::update_post,
        posts::delete_post,
        bulk::bulk_create_posts,
        media::upload_media,
        media::list_media,
        media::get_media,
        media::update_media,
        media::delete_media,
        media::media_content,
        users::list_users,
        users::create_user,
        users::get_user,
        users::update_user,
        users::delete_user,
        keys::create_key,
        keys::list_keys,
        keys::revoke_key,
        site::get_site,
        site::update_site,
        pull::rotate_keys,
        activity::list_activity,
        webhooks::list_webhooks,
        webhooks::create_webhook,
        webhooks::get_webhook,
        webhooks::update_webhook,
        webhooks::delete_webhook,
        webhooks::test_webhook,
        webhooks::list_deliveries,
        webhooks::redeliver,
    ]
}

/// Registers every handler; the legacy `/api/v1` scope only when `v1_enabled`.
pub fn configure(cfg: &mut web::ServiceConfig, v1_enabled: bool) {
    if v1_enabled {
        cfg.service(v1::scope());
    }
    register(cfg);
    cfg.route("/docs", web::get().to(docs_without_slash));
}

/// `GET /docs`: the docs page lives at `/docs/` (its assets are relative to it).
async fn docs_without_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// Known paths and their methods, taken from the route lists' documents (plus the routes
/// the docs UI serves), so the 405 answer can never disagree with the spec.
fn known_routes() -> &'static [(ResourceDef, Vec<String>)] {
    static ROUTES: OnceLock<Vec<(ResourceDef, Vec<String>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        use utoipa::OpenApi;
        let mut doc = RouteDoc::openapi();
        doc.merge(v1::V1RouteDoc::openapi());
        let mut routes: Vec<(ResourceDef, Vec<String>)> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let value = serde_json::to_value(item).unwrap_or_default();
                let methods = [
                    "get", "put", "post", "delete", "options", "head", "patch", "trace",
                ]
                .into_iter()
                .filter(|m| value.get(*m).is_some())
                .map(str::to_uppercase)
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        routes.push((ResourceDef::new("/api/v2/openapi.json"), vec!["GET".into()]));
        routes.push((ResourceDef::new("/docs"), vec!["GET".into()]));
        routes.push((ResourceDef::new(crate::mcp::PATH), vec!["POST".into()]));
        routes.push((ResourceDef::new("/docs/{_:.*}"), vec!["GET".into()]));
        routes
    })
}

/// The methods allowed on a known path, as an `Allow` value; `None` for an unknown path.
pub fn allowed_methods(path: &str) -> Option<String> {
    let mut allow: Vec<&str> = known_routes()
        .iter()
        .filter(|(def, _)| def.is_match(path))
        .flat_map(|(_, methods)| methods.iter().map(String::as_str))
        .collect();
    if allow.is_empty() {
        return None;
    }
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    allow.sort_unstable();
    allow.dedup();
    Some(allow.join(", "))
}

/// Answers unmatched requests: `405` with `Allow` for a known path, else `404`. With v1
/// turned off, everything under `/api/v1` is `404`.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let path = req.path();
    let v1_off = path == "/api/v1" || path.starts_with("/api/v1/");
    let Some(allow) = allowed_methods(path).filter(|_| !v1_off) else {
        return Err(AppError::new(
            ErrorCode::NotFound,
            format!("no route for {path}"),
        ));
    };
    let mut res = actix_web::ResponseError::error_response(&AppError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} is not allowed here; allowed: {allow}",
            crate::context::client_method(&req)
        ),
    ));
    if let Ok(v) = header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    Ok(res)
}
