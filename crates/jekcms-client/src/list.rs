//! Cursor lists (API.md §4), shared by every list endpoint: one page, or every row along
//! `next_cursor`.

use crate::client::Client;
use crate::error::Error;
use crate::transport::{Call, Decoded};
use crate::types::Page;
use futures_core::Stream;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::future::Future;

/// The largest page the server gives.
pub(crate) const MAX_LIMIT: u32 = 100;

/// The query parameters of one page, given the cursor of the page before it.
pub(crate) type Query = Vec<(&'static str, String)>;

/// `GET path?query`, one page of a cursor list.
pub(crate) async fn fetch_page<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    query: Query,
) -> Result<Page<T>, Error> {
    let call = Call::new(Method::GET, path).query(query);
    Ok(into_page(
        client.inner.send(&call).await?.decode::<Vec<T>>()?,
    ))
}

/// The page a decoded list response stands for.
pub(crate) fn into_page<T>(decoded: Decoded<Vec<T>>) -> Page<T> {
    let page = decoded.meta.page.unwrap_or(jekcms_envelope::PageMeta {
        next_cursor: None,
        has_more: false,
        limit: 0,
        total: None,
    });
    Page {
        items: decoded.data,
        next_cursor: page.next_cursor,
        has_more: page.has_more,
        total: page.total,
        request_id: decoded.meta.request_id,
    }
}

/// Every row of the list at `path` from `cursor` on, page after page, with the
/// management client; ends after the first error. `query` makes a page's parameters from
/// the cursor to pass.
pub(crate) fn walk<T, Q>(
    client: Client,
    path: &'static str,
    query: Q,
    cursor: Option<String>,
) -> impl Stream<Item = Result<T, Error>> + Send + 'static
where
    T: DeserializeOwned + Send + 'static,
    Q: Fn(Option<&str>) -> Query + Send + 'static,
{
    walk_with(
        move |cursor| {
            let client = client.clone();
            let query = query(cursor);
            async move { fetch_page(&client, path, query).await }
        },
        cursor,
    )
}

/// Every row from `cursor` on, page after page, each page fetched by `fetch` given the
/// cursor to pass; ends after the first error.
pub(crate) fn walk_with<T, F, Fut>(
    fetch: F,
    cursor: Option<String>,
) -> impl Stream<Item = Result<T, Error>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(Option<&str>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>, Error>> + Send,
{
    let state = Walk {
        fetch,
        cursor,
        buffer: VecDeque::new(),
        done: false,
    };
    futures_util::stream::unfold(state, move |mut walk| async move {
        loop {
            if let Some(row) = walk.buffer.pop_front() {
                return Some((Ok(row), walk));
            }
            if walk.done {
                return None;
            }
            match (walk.fetch)(walk.cursor.as_deref()).await {
                Ok(page) => {
                    walk.done = page.next_cursor.is_none();
                    walk.cursor = page.next_cursor;
                    walk.buffer.extend(page.items);
                }
                Err(e) => {
                    walk.done = true;
                    return Some((Err(e), walk));
                }
            }
        }
    })
}

struct Walk<T, F> {
    fetch: F,
    cursor: Option<String>,
    buffer: VecDeque<T>,
    done: bool,
}
