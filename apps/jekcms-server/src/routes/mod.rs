//! HTTP routes. Each module holds thin handlers: extract, call a domain function, wrap the
//! envelope. [`configure`] registers them; [`fallback`] answers everything else with a 404
//! or, for a known path with another method, a 405 naming the allowed methods.

// actix's route macros turn each handler into a unit struct and leave the original `pub fn`
// inside it, which the lint then sees as unreachable.
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
pub mod users;
#[allow(unreachable_pub)]
pub mod v1;

use crate::errors::AppError;
use actix_web::dev::ResourceDef;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use jekcms_envelope::ErrorCode;
use std::sync::OnceLock;

/// Registers every handler; the legacy `/api/v1` scope only when `v1_enabled`.
pub fn configure(cfg: &mut web::ServiceConfig, v1_enabled: bool) {
    if v1_enabled {
        cfg.service(v1::scope());
    }
    cfg.service(meta::healthz)
        .service(meta::readyz)
        .service(meta::api_index)
        .service(auth::token)
        .service(auth::refresh)
        .service(auth::revoke)
        .service(auth::login)
        .service(auth::register)
        .service(auth::me)
        .service(posts::list_posts)
        .service(posts::create_post)
        .service(posts::get_post)
        .service(posts::update_post)
        .service(posts::delete_post)
        .service(bulk::bulk_create_posts)
        .service(media::upload_media)
        .service(media::list_media)
        .service(media::get_media)
        .service(media::update_media)
        .service(media::delete_media)
        .service(media::media_content)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::update_user)
        .service(users::delete_user)
        .service(keys::create_key)
        .service(keys::list_keys)
        .service(keys::revoke_key)
        .route("/docs", web::get().to(docs_without_slash));
}

/// `GET /docs`: the docs page lives at `/docs/` (its assets are relative to it).
async fn docs_without_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// Known paths and their methods, taken from the OpenAPI document (plus the two routes the
/// docs UI serves), so the 405 answer can never disagree with the spec.
fn known_routes() -> &'static [(ResourceDef, Vec<String>)] {
    static ROUTES: OnceLock<Vec<(ResourceDef, Vec<String>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        use utoipa::OpenApi;
        let doc = crate::openapi::ApiDoc::openapi();
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
