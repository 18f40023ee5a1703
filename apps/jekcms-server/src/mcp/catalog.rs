//! The tools `tools/list` lists: names, descriptions, annotations, and the input and
//! output schemas taken from the REST API's OpenAPI document ([`super::schema`]).

use super::schema::{component, extend, object, page_of, parameters};
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value};
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
