//! The list tools' arguments read as the REST lists read their query strings: the same
//! `ListRequest`, filters and sealed cursors.

use crate::errors::AppError;
use crate::extract::McpCaller;
use crate::state::AppState;
use jekcms_content::FieldError;
use jekcms_content::list::PostListQuery;
use jekcms_content::media::MediaListQuery;
use jekcms_content::page::{ListRequest, Listing, Page, Rows, Window};
use jekcms_content::post::Post;
use jekcms_content::service::{self, Actor};
use serde_json::Value;

/// A tool's arguments as the query pairs of the REST list: strings as they are, numbers
/// and booleans written out, arrays as a repeated parameter (`tag`), `null` left out;
/// `rename` maps an argument's name to the parameter's.
pub(super) fn pairs(
    args: Value,
    rename: &[(&str, &str)],
) -> Result<Vec<(String, String)>, AppError> {
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

pub(super) fn parse<'s, Q: Listing>(
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

/// One page of list `Q` as a tool's result: the items and the page's pagination, as JSON.
pub(super) async fn list<Q>(
    state: &AppState,
    caller: &McpCaller,
    pairs: Vec<(String, String)>,
) -> Result<Vec<u8>, AppError>
where
    Q: ListRows,
    Q::Item: serde::Serialize,
{
    let page = page::<Q>(state, caller, pairs).await?;
    let output = ListOutput {
        items: &page.items,
        next_cursor: page.next_cursor.as_deref(),
        has_more: page.next_cursor.is_some(),
        limit: page.limit,
        total: page.total,
    };
    // Sized as the REST page's buffer is: grown from empty, a page of long posts was
    // copied again at every doubling.
    let mut json = Vec::with_capacity((page.items.len() + 1) * crate::respond::ITEM_BYTES);
    serde_json::to_writer(&mut json, &output).map_err(|e| AppError::internal(&e))?;
    Ok(json)
}

/// A list tool's result (its output schema is `catalog.rs`'s), written straight from the
/// typed rows as the REST page is.
#[derive(serde::Serialize)]
struct ListOutput<'a, T> {
    items: &'a [T],
    next_cursor: Option<&'a str>,
    has_more: bool,
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
}

/// The service function that reads a list's rows.
pub(super) trait ListRows: Listing + Sized {
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
