//! The tools of `/mcp` (API.md §11): each one a REST operation over the same
//! `jekcms_content` (or `jekcms_accounts`) service function, with the REST API's parsing of
//! its arguments and the REST API's schemas. A failure is a tool result with `isError` and
//! the envelope's code in its text (`FORBIDDEN: …`), never a JSON-RPC error.

use super::schema::{component, extend, object, page_of, parameters};
use crate::errors::AppError;
use crate::extract::{McpCaller, typed};
use crate::routes::site::SiteView;
use crate::state::AppState;
use jekcms_content::FieldError;
use jekcms_content::activity::Writer;
use jekcms_content::list::PostListQuery;
use jekcms_content::media::MediaListQuery;
use jekcms_content::page::{ListRequest, Listing, Page, Rows, Window};
use jekcms_content::post::{self as post_rules, Post};
use jekcms_content::service::{self, Actor};
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::{Arc, LazyLock};

/// Every tool, as `tools/list` lists them.
pub(crate) static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(definitions);

/// The list parameters of `GET /api/v2/posts`, which `list_posts` takes as they are.
const POST_LIST_PARAMS: &[&str] = &[
    "limit",
    "cursor",
    "sort",
    "status",
    "tag",
    "slug",
    "author_id",
    "updated_since",
    "q",
    "include",
];

/// The list parameters of `GET /api/v2/media`.
const MEDIA_LIST_PARAMS: &[&str] = &["limit", "cursor", "mime_type", "include"];

fn tool(
    name: &'static str,
    title: &str,
    description: &'static str,
    input: Value,
    output: Value,
    read_only: bool,
) -> Tool {
    let as_object = |v: Value| match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(Map::new()),
    };
    let mut annotations = ToolAnnotations::new().read_only(read_only);
    if !read_only {
        annotations = annotations.destructive(name == "delete_post");
    }
    Tool::new(name, description, as_object(input))
        .with_title(title)
        .with_raw_output_schema(as_object(output))
        .with_annotations(annotations)
}

fn definitions() -> Vec<Tool> {
    let post_id = parameters("/api/v2/posts/{id}", "get", &["id"]);
    let media_id = parameters("/api/v2/media/{id}", "get", &["id"]);
    let mut by_id_or_slug = post_id.clone();
    by_id_or_slug.extend(parameters("/api/v2/posts", "get", &["slug"]));
    let mut search = Map::new();
    let mut query = parameters("/api/v2/posts", "get", &["q"]);
    if let Some(q) = query.remove("q") {
        search.insert("query".into(), q);
    }
    search.extend(parameters(
        "/api/v2/posts",
        "get",
        &["limit", "cursor", "sort", "status", "tag", "include"],
    ));
    let mut publish = post_id.clone();
    if let Some(at) = component("PostPatch")["properties"].get("published_at") {
        publish.insert("published_at".into(), at.clone());
    }
    let post = component("Post");
    vec![
        tool(
            "list_posts",
            "List posts",
            "Lists the site's posts, newest first, with the filters and cursor pagination of GET /api/v2/posts: pass next_cursor back as cursor for the next page.",
            object(parameters("/api/v2/posts", "get", POST_LIST_PARAMS), &[]),
            page_of("Post", "The posts of this page."),
            true,
        ),
        tool(
            "get_post",
            "Get a post",
            "Gets one post by id or by slug (give one of them).",
            object(by_id_or_slug, &[]),
            post.clone(),
            true,
        ),
        tool(
            "search_posts",
            "Search posts",
            "Finds posts whose title contains query (case-insensitive, literal), with cursor pagination.",
            object(search, &["query"]),
            page_of("Post", "The posts of this page."),
            true,
        ),
        tool(
            "create_post",
            "Create a post",
            "Creates a post authored by the token's user (author role and above), as POST /api/v2/posts.",
            extend(component("NewPost"), Map::new(), &[]),
            post.clone(),
            false,
        ),
        tool(
            "update_post",
            "Change a post",
            "Changes the fields given of post id (a JSON merge patch, as PATCH /api/v2/posts/{id}); authors change only their own posts.",
            extend(component("PostPatch"), post_id.clone(), &["id"]),
            post.clone(),
            false,
        ),
        tool(
            "publish_post",
            "Publish a post",
            "Sets post id's status to published; published_at defaults to now.",
            object(publish, &["id"]),
            post.clone(),
            false,
        ),
        tool(
            "unpublish_post",
            "Unpublish a post",
            "Sets post id's status back to draft.",
            object(post_id.clone(), &["id"]),
            post.clone(),
            false,
        ),
        tool(
            "delete_post",
            "Delete a post",
            "Deletes post id for good; authors delete only their own posts.",
            object(post_id, &["id"]),
            component("Deleted"),
            false,
        ),
        tool(
            "list_media",
            "List media",
            "Lists the site's uploaded files, newest first, with cursor pagination (filter mime_type by type or prefix, e.g. image/).",
            object(parameters("/api/v2/media", "get", MEDIA_LIST_PARAMS), &[]),
            page_of("Media", "The media of this page."),
            true,
        ),
        tool(
            "get_media",
            "Get a medium",
            "Gets one uploaded file's record (its public_url serves the bytes).",
            object(media_id, &["id"]),
            component("Media"),
            true,
        ),
        tool(
            "get_site",
            "Get the site",
            "Gets the token's site: name, plan, license, quotas.",
            object(Map::new(), &[]),
            component("SiteView"),
            true,
        ),
    ]
}

/// Runs tool `name` with `arguments` for `caller`; `None` when there is no such tool (a
/// protocol error, not a tool failure).
pub(crate) async fn call(
    state: &AppState,
    caller: &McpCaller,
    name: &str,
    arguments: Value,
) -> Option<CallToolResult> {
    if !TOOLS.iter().any(|t| t.name == name) {
        return None;
    }
    Some(match run(state, caller, name, arguments).await {
        Ok(value) => {
            let text = serde_json::to_string(&value).unwrap_or_default();
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(value);
            result
        }
        Err(e) => CallToolResult::error(vec![ContentBlock::text(failure_text(&e))]),
    })
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
) -> Result<Value, AppError> {
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
            to_value(&post)?
        }
        "create_post" => {
            service::may_write(&actor)?;
            let new = post_rules::parse_new(args, "").map_err(AppError::fields)?;
            to_value(&service::create_post(store, &writer(caller), new, None).await?)?
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
            json!({"id": id, "deleted": true})
        }
        "list_media" => list::<MediaListQuery>(state, caller, pairs(args, &[])?).await?,
        "get_media" => {
            let ById { id } = typed(args, &["id"])?;
            to_value(&service::get_media(store, &actor, id).await?)?
        }
        "get_site" => {
            let _: Map<String, Value> = typed(args, &[])?;
            let site = jekcms_accounts::service::get_site(store, &actor).await?;
            let quotas = state.site_quotas(site.plan);
            to_value(&SiteView::new(site, quotas))?
        }
        _ => return Err(AppError::not_found("tool")),
    };
    Ok(value)
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, AppError> {
    serde_json::to_value(v).map_err(|e| AppError::internal(&e))
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
) -> Result<Value, AppError> {
    let patch = post_rules::parse_patch(body).map_err(AppError::fields)?;
    let post = service::update_post(&state.store, &writer(caller), id, patch, None).await?;
    to_value(&post)
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

/// A tool's arguments as the query pairs of the REST list: strings as they are, numbers
/// and booleans written out, arrays as a repeated parameter (`tag`), `null` left out;
/// `rename` maps an argument's name to the parameter's.
fn pairs(args: Value, rename: &[(&str, &str)]) -> Result<Vec<(String, String)>, AppError> {
    let Value::Object(map) = args else {
        return Err(AppError::validation(
            "arguments",
            "arguments must be an object",
        ));
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in map {
        let param = rename
            .iter()
            .find(|(from, _)| *from == name)
            .map_or(name.as_str(), |(_, to)| *to)
            .to_owned();
        let scalars = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        for v in scalars {
            let text = match v {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    errors.push(FieldError::new(
                        name.clone(),
                        "must be a string, a number or an array of them",
                    ));
                    continue;
                }
            };
            if text.contains('\0') {
                errors.push(FieldError::new(name.clone(), "must not contain NUL"));
                continue;
            }
            out.push((param.clone(), text));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::fields(errors))
    }
}

fn parse<'s, Q: Listing>(
    state: &'s AppState,
    caller: &McpCaller,
    pairs: &[(String, String)],
) -> Result<ListRequest<'s, Q>, AppError> {
    ListRequest::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &state.cursors,
        caller.0.site_id,
    )
    .map_err(AppError::fields)
}

/// One page of list `Q`, read as the REST list reads its query string.
async fn page<Q: ListRows>(
    state: &AppState,
    caller: &McpCaller,
    pairs: Vec<(String, String)>,
) -> Result<Page<Q::Item>, AppError> {
    let list = parse::<Q>(state, caller, &pairs)?;
    let rows = Q::rows(state, &caller.actor(), &list.query, &list.window).await?;
    Ok(list.page(rows))
}

/// A page of posts for `resources/list`, with the arguments of `list_posts`.
pub(crate) async fn list_posts_page(
    state: &AppState,
    caller: &McpCaller,
    args: Value,
) -> Result<Page<Post>, AppError> {
    page::<PostListQuery>(state, caller, pairs(args, &[])?).await
}

/// One page of list `Q` as a tool's result: the items and the page's pagination.
async fn list<Q>(
    state: &AppState,
    caller: &McpCaller,
    pairs: Vec<(String, String)>,
) -> Result<Value, AppError>
where
    Q: ListRows,
    Q::Item: serde::Serialize,
{
    let page = page::<Q>(state, caller, pairs).await?;
    let mut out = json!({
        "items": page.items,
        "next_cursor": page.next_cursor,
        "has_more": page.next_cursor.is_some(),
        "limit": page.limit,
    });
    if let Some(total) = page.total {
        out["total"] = json!(total);
    }
    Ok(out)
}

/// The service function that reads a list's rows.
trait ListRows: Listing + Sized {
    async fn rows(
        state: &AppState,
        actor: &Actor,
        query: &Self,
        window: &Window,
    ) -> Result<Rows<Self::Item>, AppError>;
}

impl ListRows for PostListQuery {
    async fn rows(
        state: &AppState,
        actor: &Actor,
        query: &Self,
        window: &Window,
    ) -> Result<Rows<Post>, AppError> {
        Ok(service::list_posts(&state.store, actor, query, window).await?)
    }
}

impl ListRows for MediaListQuery {
    async fn rows(
        state: &AppState,
        actor: &Actor,
        query: &Self,
        window: &Window,
    ) -> Result<Rows<jekcms_content::media::Media>, AppError> {
        Ok(service::list_media(&state.store, actor, query, window).await?)
    }
}
