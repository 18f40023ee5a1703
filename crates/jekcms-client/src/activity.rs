//! `client.activity()`: the site's activity log, newest first (admins and owners).

use crate::client::Client;
use crate::error::Error;
use crate::list::{MAX_LIMIT, fetch_page, walk};
use crate::types::Page;
use chrono::{DateTime, Utc};
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// The list endpoint.
const PATH: &str = "/api/v2/activity";

impl Client {
    /// `GET /api/v2/activity`: every write to the site — posts, media, key rotations — with
    /// who made it and from which request, newest first. `.await` it for the first page,
    /// or [`ListActivity::stream`] for all of it. Only admins and owners may read it.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use jekcms_client::{ActivityFilter, Client};
    ///
    /// # async fn run(client: Client) -> Result<(), jekcms_client::Error> {
    /// let deleted: Vec<_> = client
    ///     .activity(ActivityFilter::default().event_type("post.deleted"))
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// for event in deleted {
    ///     println!("post {} deleted by {:?}", event.subject.id, event.actor.user_id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn activity(&self, filter: ActivityFilter) -> ListActivity {
        ListActivity {
            client: self.clone(),
            filter,
            cursor: None,
        }
    }
}

/// One entry of the activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing in the order events were recorded.
    pub id: i64,
    /// What happened: `post.created`, `post.updated`, `post.published`,
    /// `post.unpublished`, `post.deleted`, `media.created`, `media.updated`,
    /// `media.deleted` or `site.keys_rotated`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Who did it.
    pub actor: EventActor,
    /// What it happened to.
    pub subject: EventSubject,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// The `X-Request-Id` of the write; `None` for the server's own events.
    pub request_id: Option<String>,
}

/// Who made a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActor {
    /// The user; `None` for the server itself (a scheduled post reaching its time).
    pub user_id: Option<i64>,
    /// How they came: `api`, `password`, `mcp`, `cli` or `system`.
    pub family: String,
    /// The public id of their key, if their session came from one.
    pub key_id: Option<String>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSubject {
    /// `post`, `media` or `site`.
    pub kind: String,
    /// Its id.
    pub id: i64,
}

/// Filters and page size of the activity list. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActivityFilter {
    /// Only these event types (any of them).
    pub types: Vec<String>,
    /// Only events by this user.
    pub actor_id: Option<i64>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Page size, 1–100 (server default 20; a stream asks for 100).
    pub limit: Option<u32>,
}

impl ActivityFilter {
    /// Adds an event type to those asked for, e.g. `post.deleted`.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.types.push(event_type.into());
        self
    }

    /// Only events by this user.
    pub fn actor_id(mut self, user_id: i64) -> Self {
        self.actor_id = Some(user_id);
        self
    }

    /// Only events at or after `time`.
    pub fn since(mut self, time: DateTime<Utc>) -> Self {
        self.since = Some(time);
        self
    }

    /// The page size, 1–100.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    fn to_query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> =
            self.types.iter().map(|t| ("type", t.clone())).collect();
        if let Some(id) = self.actor_id {
            q.push(("actor_id", id.to_string()));
        }
        if let Some(t) = self.since {
            q.push((
                "since",
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        q
    }
}

/// An activity list request; made by [`Client::activity`].
#[derive(Debug, Clone)]
#[must_use = "a list does nothing until awaited or streamed"]
pub struct ListActivity {
    client: Client,
    filter: ActivityFilter,
    cursor: Option<String>,
}

impl ListActivity {
    /// The page after the one that returned `cursor` as its `next_cursor`.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Fetches the page.
    pub async fn page(self) -> Result<Page<Event>, Error> {
        let query = self.filter.to_query(self.cursor.as_deref());
        fetch_page(&self.client, PATH, query).await
    }

    /// Every event from here on, following `next_cursor` page by page. The stream ends
    /// after the first error.
    pub fn stream(self) -> impl Stream<Item = Result<Event, Error>> + Send + 'static {
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

impl IntoFuture for ListActivity {
    type Output = Result<Page<Event>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.page())
    }
}
