//! The activity log (API.md §10): who wrote what, when, from which request.
//!
//! Every write takes a [`Writer`] — the `Actor` whose role is checked, plus how they came
//! (credential family, key, request id) — and the store records the write's [`EventType`]s
//! in the write's own transaction: a committed write always has its events, a rolled-back
//! one never does. Webhook deliveries are made from the same rows. Reads record nothing.

use crate::page::{Bound, Keys, Listing, Params};
use chrono::{DateTime, Utc};
pub use jekcms_auth::policy::{ActorFamily, Writer};
use jekcms_envelope::FieldError;
use serde::Serialize;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// A post was created.
    #[serde(rename = "post.created")]
    PostCreated,
    /// A post was changed.
    #[serde(rename = "post.updated")]
    PostUpdated,
    /// A post became visible: published with its time reached, by a write or by the
    /// scheduler when a scheduled post's time came.
    #[serde(rename = "post.published")]
    PostPublished,
    /// A visible post stopped being visible (unpublished, or rescheduled for later).
    #[serde(rename = "post.unpublished")]
    PostUnpublished,
    /// A post was deleted.
    #[serde(rename = "post.deleted")]
    PostDeleted,
    /// A medium was uploaded.
    #[serde(rename = "media.created")]
    MediaCreated,
    /// A medium's metadata was changed.
    #[serde(rename = "media.updated")]
    MediaUpdated,
    /// A medium was deleted.
    #[serde(rename = "media.deleted")]
    MediaDeleted,
    /// The site's pull key and webhook secret were rotated.
    #[serde(rename = "site.keys_rotated")]
    SiteKeysRotated,
}

impl EventType {
    /// Every event type.
    pub const ALL: [Self; 9] = [
        Self::PostCreated,
        Self::PostUpdated,
        Self::PostPublished,
        Self::PostUnpublished,
        Self::PostDeleted,
        Self::MediaCreated,
        Self::MediaUpdated,
        Self::MediaDeleted,
        Self::SiteKeysRotated,
    ];

    /// Stored and shown name, e.g. `post.created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PostCreated => "post.created",
            Self::PostUpdated => "post.updated",
            Self::PostPublished => "post.published",
            Self::PostUnpublished => "post.unpublished",
            Self::PostDeleted => "post.deleted",
            Self::MediaCreated => "media.created",
            Self::MediaUpdated => "media.updated",
            Self::MediaDeleted => "media.deleted",
            Self::SiteKeysRotated => "site.keys_rotated",
        }
    }

    /// The type a name stands for.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The kind of thing events of this type are about.
    pub const fn subject_kind(self) -> SubjectKind {
        match self {
            Self::PostCreated
            | Self::PostUpdated
            | Self::PostPublished
            | Self::PostUnpublished
            | Self::PostDeleted => SubjectKind::Post,
            Self::MediaCreated | Self::MediaUpdated | Self::MediaDeleted => SubjectKind::Media,
            Self::SiteKeysRotated => SubjectKind::Site,
        }
    }
}

/// The kind of thing an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A post.
    Post,
    /// A medium.
    Media,
    /// The site itself.
    Site,
}

impl SubjectKind {
    /// Stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::Media => "media",
            Self::Site => "site",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Post, Self::Media, Self::Site]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Who made a write, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventActor {
    /// The acting user; null for the server itself (`system`).
    pub user_id: Option<i64>,
    /// How they came: `api`, `password`, `mcp`, `cli`, or `system` (the server itself).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "api"))]
    pub family: ActorFamily,
    /// The public id of the key their session came from, if any.
    pub key_id: Option<String>,
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subject {
    /// Post, medium or site.
    pub kind: SubjectKind,
    /// Its id.
    pub id: i64,
}

/// One entry of the activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// The event's id: increasing in the order events were recorded.
    pub id: i64,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Who did it.
    pub actor: EventActor,
    /// What it happened to.
    pub subject: Subject,
    /// When (the write's time).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub occurred_at: DateTime<Utc>,
    /// The `X-Request-Id` of the request that made the write; null for `system` events.
    pub request_id: Option<String>,
}

/// An event a write is about to record (the store adds the writer and the time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEvent {
    /// What happened.
    pub event_type: EventType,
    /// The id of the post, medium or site it happened to (its kind follows from the type).
    pub subject_id: i64,
}

impl NewEvent {
    /// An event of `event_type` about `subject_id`.
    pub const fn new(event_type: EventType, subject_id: i64) -> Self {
        Self {
            event_type,
            subject_id,
        }
    }
}

/// The events of a post's write besides its own (created/updated/deleted): whether it
/// became visible or stopped being visible. `announced` is the visibility last announced
/// (stored with the post); `visible` is its visibility after the write.
pub fn visibility_event(announced: bool, visible: bool) -> Option<EventType> {
    match (announced, visible) {
        (false, true) => Some(EventType::PostPublished),
        (true, false) => Some(EventType::PostUnpublished),
        _ => None,
    }
}

/// The activity list's filters (API.md §10): newest first, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    /// Only these types (any of them); empty for all.
    pub types: Vec<EventType>,
    /// Only events by this user.
    pub actor_id: Option<i64>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
}

impl Listing for ActivityQuery {
    type Item = Event;

    const PARAMS: &'static [&'static str] = &["type", "actor_id", "since"];
    const REPEATABLE: &'static [&'static str] = &["type"];

    fn from_params(p: &Params<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut q = Self::default();
        for raw in p.get_all("type") {
            // `type=a,b` and `type=a&type=b` mean the same.
            for name in raw.split(',') {
                match EventType::parse(name.trim()) {
                    Some(t) if !q.types.contains(&t) => q.types.push(t),
                    Some(_) => {}
                    None => errors.push(FieldError::new(
                        "type",
                        format!(
                            "type must be one of {}",
                            EventType::ALL.map(EventType::as_str).join(", ")
                        ),
                    )),
                }
            }
        }
        if let Some(raw) = p.get("actor_id") {
            match raw.parse::<i64>() {
                Ok(id) if id > 0 => q.actor_id = Some(id),
                _ => errors.push(FieldError::new(
                    "actor_id",
                    "actor_id must be a user id (a positive integer)",
                )),
            }
        }
        if let Some(raw) = p.get("since") {
            match crate::timestamp::parse(raw) {
                Some(t) => q.since = Some(t),
                None => errors.push(FieldError::new(
                    "since",
                    "since must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z",
                )),
            }
        }
        if errors.is_empty() {
            q.types.sort_by_key(|t| t.as_str());
            Ok(q)
        } else {
            errors.dedup();
            Err(errors)
        }
    }

    fn binding(&self) -> Vec<u8> {
        let mut out = b"activity/v1".to_vec();
        for t in &self.types {
            out.extend_from_slice(t.as_str().as_bytes());
            out.push(0);
        }
        out.push(0xff);
        out.extend_from_slice(&self.actor_id.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(
            &self
                .since
                .map_or(i64::MIN, |t| t.timestamp_micros())
                .to_be_bytes(),
        );
        out
    }

    fn keys(&self) -> Keys {
        Keys::IdOnly
    }

    fn bound_after(&self, event: &Event) -> Bound {
        Bound::id(event.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::ListRequest;
    use jekcms_cursor::CursorCodec;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        for f in ActorFamily::ALL {
            assert_eq!(ActorFamily::parse(f.as_str()), Some(f));
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.as_str())
            );
        }
        assert_eq!(EventType::parse("post.Created"), None);
    }

    #[test]
    fn visibility_changes_are_events() {
        assert_eq!(
            visibility_event(false, true),
            Some(EventType::PostPublished)
        );
        assert_eq!(
            visibility_event(true, false),
            Some(EventType::PostUnpublished)
        );
        assert_eq!(visibility_event(true, true), None);
        assert_eq!(visibility_event(false, false), None);
    }

    #[test]
    fn filters_parse_and_bind_the_cursor() {
        let codec = CursorCodec::new(&[7; 32]);
        let parse = |pairs: &[(&str, &str)]| {
            ListRequest::<ActivityQuery>::parse(pairs.iter().copied(), &codec, 1)
        };
        let r = parse(&[
            ("type", "post.deleted,post.created"),
            ("type", "post.created"),
            ("actor_id", "3"),
            ("since", "2026-12-01T00:00:00Z"),
        ])
        .ok()
        .unwrap();
        assert_eq!(
            r.query.types,
            [EventType::PostCreated, EventType::PostDeleted]
        );
        assert_eq!(r.query.actor_id, Some(3));
        let errors = parse(&[
            ("type", "post.nope"),
            ("actor_id", "x"),
            ("since", "yesterday"),
        ])
        .err()
        .unwrap();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["type", "actor_id", "since"]);
        let binding = |types: Vec<EventType>| {
            ActivityQuery {
                types,
                ..Default::default()
            }
            .binding()
        };
        assert_ne!(binding(vec![]), binding(vec![EventType::PostCreated]));
    }
}
