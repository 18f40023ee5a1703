//! The tools of `/mcp` (API.md §11): each one a REST operation over the same
//! `jekcms_content` (or `jekcms_accounts`) service function, with the REST API's parsing of
//! its arguments and the REST API's schemas. A failure is a tool result with `isError` and
//! the envelope's code in its text (`FORBIDDEN: …`), never a JSON-RPC error.

use super::catalog::TOOLS;
use super::lists::{list, pairs, parse};
use crate::errors::AppError;
use crate::extract::{McpCaller, typed};
use crate::routes::site::SiteView;
use crate::state::AppState;
use jekcms_content::activity::Writer;
use jekcms_content::list::PostListQuery;
use jekcms_content::media::MediaListQuery;
use jekcms_content::post::{self as post_rules, Post};
use jekcms_content::service;
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// What a tool call gives.
pub(crate) enum Outcome {
    /// The tool's result as JSON text, serialised once: `mod.rs` writes it as the
    /// `structuredContent` and, as a JSON string, as the text block beside it.
    Output(Vec<u8>),
    /// The tool failed: an `isError` result with the envelope's code in its text.
    Failure(CallToolResult),
}

/// Runs tool `name` with `arguments` for `caller`; `None` when there is no such tool (a
/// protocol error, not a tool failure).
pub(crate) async fn call(
    state: &AppState,
    caller: &McpCaller,
    name: &str,
    arguments: Value,
) -> Option<Outcome> {
    if !TOOLS.iter().any(|t| t.name == name) {
        return None;
    }
    Some(match run(state, caller, name, arguments).await {
        Ok(json) => Outcome::Output(json),
        Err(e) => Outcome::Failure(CallToolResult::error(vec![ContentBlock::text(
            failure_text(&e),
        )])),
    })
}

/// Whether tool `name` only reads posts, with the queries that can carry the token's check
/// (`McpBearer::read`): the post lists and a post by id or slug. Their reads need no more
/// than a viewer's role.
pub(crate) fn only_reads(name: &str) -> bool {
    matches!(name, "list_posts" | "search_posts" | "get_post")
}

/// `CODE: message` for each of the failure's entries (with its field), one per line.
pub(crate) fn failure_text(e: &AppError) -> String {
    e.0.errors()
        .iter()
        .map(|entry| match &entry.field {
            Some(field) => format!("{}: {} (field {field})", entry.code.as_str(), entry.message),
            None => format!("{}: {}", entry.code.as_str(), entry.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The writer of a tool's write: family `mcp`, the token's key, the request id; what the
/// activity log records for it.
fn writer(caller: &McpCaller) -> Writer {
    caller.writer()
}

/// The arguments of a tool that acts on one post or medium.
#[derive(Deserialize)]
struct ById {
    id: i64,
}

/// `get_post`'s arguments: exactly one of `id` (an integer) and `slug` (a string).
fn id_or_slug(args: Value) -> Result<Result<i64, String>, AppError> {
    let Value::Object(map) = args else {
        return Err(AppError::validation(
            "arguments",
            "arguments must be an object",
        ));
    };
    if let Some(other) = map.keys().find(|k| *k != "id" && *k != "slug") {
        return Err(unknown_field(Some(other), "id or slug"));
    }
    match (map.get("id"), map.get("slug")) {
        (Some(id), None) => id
            .as_i64()
            .map(Ok)
            .ok_or_else(|| AppError::validation("id", "id must be an integer")),
        (None, Some(slug)) => slug
            .as_str()
            .filter(|s| !s.contains('\0'))
            .map(|s| Err(s.to_owned()))
            .ok_or_else(|| AppError::validation("slug", "slug must be a string")),
        _ => Err(AppError::validation("id", "give either id or slug")),
    }
}

async fn run(
    state: &AppState,
    caller: &McpCaller,
    name: &str,
    args: Value,
) -> Result<Vec<u8>, AppError> {
    let store = &state.store;
    let actor = caller.actor();
    let args = match args {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    let value = match name {
        "list_posts" => list::<PostListQuery>(state, caller, pairs(args, &[])?).await?,
        "search_posts" => {
            let pairs = pairs(args, &[("query", "q")])?;
            if !pairs.iter().any(|(k, _)| k == "q") {
                return Err(AppError::validation("query", "query is required"));
            }
            list::<PostListQuery>(state, caller, pairs).await?
        }
        "get_post" => {
            let post = match id_or_slug(args)? {
                Ok(id) => service::get_post(store, &actor, id).await?,
                Err(slug) => post_by_slug(state, caller, slug).await?,
            };
            to_json(&post)?
        }
        "create_post" => {
            service::may_write(&actor)?;
            let new = post_rules::parse_new(args, "").map_err(AppError::fields)?;
            to_json(&service::create_post(store, &writer(caller), new, None).await?)?
        }
        "update_post" => {
            service::may_write(&actor)?;
            let (id, rest) = take_id(args)?;
            patch(state, caller, id, rest).await?
        }
        "publish_post" => {
            service::may_write(&actor)?;
            let (id, rest) = take_id(args)?;
            let mut body = json!({"status": "published"});
            match rest {
                Value::Object(m) if m.is_empty() => {}
                Value::Object(mut m) => match m.remove("published_at") {
                    Some(at) if m.is_empty() => body["published_at"] = at,
                    _ => return Err(unknown_field(m.keys().next(), "id, published_at")),
                },
                _ => {
                    return Err(AppError::validation(
                        "arguments",
                        "arguments must be an object",
                    ));
                }
            }
            patch(state, caller, id, body).await?
        }
        "unpublish_post" => {
            service::may_write(&actor)?;
            let ById { id } = typed(args, &["id"])?;
            patch(state, caller, id, json!({"status": "draft"})).await?
        }
        "delete_post" => {
            service::may_write(&actor)?;
            let ById { id } = typed(args, &["id"])?;
            service::delete_post(store, &writer(caller), id).await?;
            json!({"id": id, "deleted": true}).to_string().into_bytes()
        }
        "list_media" => list::<MediaListQuery>(state, caller, pairs(args, &[])?).await?,
        "get_media" => {
            let ById { id } = typed(args, &["id"])?;
            to_json(&service::get_media(store, &actor, id).await?)?
        }
        "get_site" => {
            let _: Map<String, Value> = typed(args, &[])?;
            let site = jekcms_accounts::service::get_site(store, &actor).await?;
            let quotas = state.site_quotas(site.plan);
            to_json(&SiteView::new(site, quotas))?
        }
        _ => return Err(AppError::not_found("tool")),
    };
    Ok(value)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, AppError> {
    serde_json::to_vec(v).map_err(|e| AppError::internal(&e))
}

fn unknown_field(name: Option<&String>, takes: &str) -> AppError {
    let name = name.map_or("arguments", String::as_str);
    AppError::validation(name, format!("unknown argument; this tool takes {takes}"))
}

/// Splits `id` off a tool's arguments.
fn take_id(args: Value) -> Result<(i64, Value), AppError> {
    let Value::Object(mut map) = args else {
        return Err(AppError::validation(
            "arguments",
            "arguments must be an object",
        ));
    };
    let id = match map.remove("id") {
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| AppError::validation("id", "id is required: the integer id of the post"))?;
    Ok((id, Value::Object(map)))
}

/// Applies the merge patch `body` to post `id`, as `PATCH /api/v2/posts/{id}` does.
async fn patch(
    state: &AppState,
    caller: &McpCaller,
    id: i64,
    body: Value,
) -> Result<Vec<u8>, AppError> {
    let patch = post_rules::parse_patch(body).map_err(AppError::fields)?;
    let post = service::update_post(&state.store, &writer(caller), id, patch, None).await?;
    to_json(&post)
}

/// The post with `slug`: the post list filtered by it, as `GET /api/v2/posts?slug=` reads it.
async fn post_by_slug(
    state: &AppState,
    caller: &McpCaller,
    slug: String,
) -> Result<Post, AppError> {
    let pairs = vec![
        ("slug".to_owned(), slug),
        ("limit".to_owned(), "1".to_owned()),
    ];
    let list = parse::<PostListQuery>(state, caller, &pairs)?;
    let rows =
        service::list_posts(&state.store, &caller.actor(), &list.query, &list.window).await?;
    list.page(rows)
        .items
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("post"))
}
