//! `client.posts()`: one method per posts endpoint, and lists as pages or as a stream.

use crate::client::Client;
use crate::error::Error;
use crate::list::{MAX_LIMIT, fetch_page, walk};
use crate::transport::Call;
use crate::types::{Me, NewPost, Page, Post, PostFilter, PostPatch, User};
use futures_core::Stream;
use reqwest::Method;
use serde_json::value::RawValue;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// The list endpoint.
const PATH: &str = "/api/v2/posts";

impl Client {
    /// The posts of the client's site.
    pub fn posts(&self) -> Posts {
        Posts {
            client: self.clone(),
        }
    }

    /// `GET /api/v2/users`: every user of the site, in id order, 100 a page (admins and
    /// owners; `FORBIDDEN` for other roles). The stream ends after the first error.
    pub fn users(&self) -> impl Stream<Item = Result<User, Error>> + Send + 'static {
        walk(
            self.clone(),
            "/api/v2/users",
            |cursor| {
                let mut query = vec![("limit", MAX_LIMIT.to_string())];
                if let Some(c) = cursor {
                    query.push(("cursor", c.to_owned()));
                }
                query
            },
            None,
        )
    }

    /// `GET /api/v2/me`: the signed-in user, site, credential and quota.
    pub async fn me(&self) -> Result<Me, Error> {
        let raw = self
            .inner
            .send(&Call::new(Method::GET, "/api/v2/me"))
            .await?;
        Ok(raw.decode()?.data)
    }
}

/// The posts endpoints; made by [`Client::posts`].
#[derive(Debug, Clone)]
pub struct Posts {
    pub(crate) client: Client,
}

/// A random `Idempotency-Key`, so that a create can be retried without creating twice.
fn fresh_key() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    format!("jekcms-client-create-{}", hex::encode(bytes))
}

impl Posts {
    /// `GET /api/v2/posts/{id}`.
    pub async fn get(&self, id: i64) -> Result<Post, Error> {
        let call = Call::new(Method::GET, format!("/api/v2/posts/{id}"));
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `POST /api/v2/posts`. Sent with a fresh `Idempotency-Key`, so a retry after a lost
    /// response or a 5xx returns the first result instead of creating a second post.
    pub async fn create(&self, post: NewPost) -> Result<Post, Error> {
        let call = Call::new(Method::POST, "/api/v2/posts")
            .json(&post)
            .idempotency_key(fresh_key());
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `PATCH /api/v2/posts/{id}` with a merge patch; returns the post as changed.
    pub async fn update(&self, id: i64, patch: &PostPatch) -> Result<Post, Error> {
        let call = Call::new(Method::PATCH, format!("/api/v2/posts/{id}")).json(patch);
        Ok(self.client.inner.send(&call).await?.decode()?.data)
    }

    /// `DELETE /api/v2/posts/{id}`. Not retried after a lost response: a second delete
    /// would report `NOT_FOUND` for a post that the first one deleted.
    pub async fn delete(&self, id: i64) -> Result<(), Error> {
        let call = Call::new(Method::DELETE, format!("/api/v2/posts/{id}"));
        let _: serde_json::Value = self.client.inner.send(&call).await?.decode()?.data;
        Ok(())
    }

    /// `GET /api/v2/posts`: `.await` it for the first page, call [`ListPosts::after`] for a
    /// later one, or [`ListPosts::stream`] for every post.
    pub fn list(&self, filter: PostFilter) -> ListPosts {
        ListPosts {
            client: self.client.clone(),
            filter,
            cursor: None,
        }
    }
}

/// A post list request; made by [`Posts::list`].
#[derive(Debug, Clone)]
#[must_use = "a list does nothing until awaited or streamed"]
pub struct ListPosts {
    client: Client,
    filter: PostFilter,
    cursor: Option<String>,
}

impl ListPosts {
    /// The page after the one that returned `cursor` as its `next_cursor`.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Fetches the page.
    pub async fn page(self) -> Result<Page<Post>, Error> {
        let query = self.filter.to_query(self.cursor.as_deref());
        fetch_page(&self.client, PATH, query).await
    }

    /// Fetches the page with each post left as the JSON text the server sent, byte for
    /// byte: for programs that pass posts on without reading them (an exporter), which
    /// then neither pay for nor risk a decode and re-encode.
    pub async fn raw_page(self) -> Result<Page<Box<RawValue>>, Error> {
        let query = self.filter.to_query(self.cursor.as_deref());
        fetch_page(&self.client, PATH, query).await
    }

    /// Every post of the list from here on, following `next_cursor` page by page (100 a
    /// page unless the filter sets a limit). The stream ends after the first error.
    pub fn stream(self) -> impl Stream<Item = Result<Post, Error>> + Send + 'static {
        let mut filter = self.filter;
        filter.limit.get_or_insert(MAX_LIMIT);
        walk(
            self.client,
            PATH,
            move |cursor| filter.to_query(cursor),
            self.cursor,
        )
    }
}

impl IntoFuture for ListPosts {
    type Output = Result<Page<Post>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.page())
    }
}
