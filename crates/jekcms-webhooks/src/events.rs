//! An endpoint's selection of event types (the types are `jekcms_content::activity::EventType`).
//!
//! A selection is stored as `*` or the types joined by commas with no spaces
//! (`post.created,post.deleted`): the form the write path's fan-out matches (`*`, or
//! `,type,` found within `,events,`; `jekcms-store`'s `activity.rs`).

use jekcms_content::activity::EventType;
use serde_json::Value;

/// The type of the message `POST /webhooks/{id}/test` sends; never produced by a write,
/// so never selected.
pub const PING: &str = "ping";

/// Which events an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    /// Every event (`["*"]`), including types added later.
    All,
    /// These types, each once, in the order given.
    Only(Vec<String>),
}

impl EventSelection {
    /// Reads the JSON array of a request body (`["*"]` or event types); the message says
    /// what is wrong.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let Value::Array(items) = value else {
            return Err(r#"events must be an array of event types, or ["*"]"#.into());
        };
        if items.is_empty() {
            return Err(r#"events must name at least one event type, or be ["*"]"#.into());
        }
        let mut types: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str() {
                Some("*") if items.len() == 1 => return Ok(Self::All),
                Some("*") => return Err(r#""*" must be the only entry of events"#.into()),
                Some(t) if EventType::parse(t).is_some() => {
                    if !types.iter().any(|known| known == t) {
                        types.push(t.to_owned());
                    }
                }
                Some(t) => {
                    return Err(format!(
                        "unknown event type {t:?}; known types are {}",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ));
                }
                None => return Err("events must contain strings only".into()),
            }
        }
        Ok(Self::Only(types))
    }

    /// The stored form: `*` or the types joined by commas.
    pub fn stored(&self) -> String {
        match self {
            Self::All => "*".into(),
            Self::Only(types) => types.join(","),
        }
    }

    /// Reads the stored form back.
    pub fn from_stored(stored: &str) -> Self {
        if stored == "*" {
            Self::All
        } else {
            Self::Only(
                stored
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        }
    }

    /// The list the API shows: `["*"]` or the types.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".into()],
            Self::Only(types) => types.clone(),
        }
    }

    /// Whether an event of `event_type` is selected.
    pub fn includes(&self, event_type: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => types.iter().any(|t| t == event_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selections_are_read_and_stored_in_the_fan_out_form() {
        let only =
            EventSelection::from_json(&json!(["post.created", "post.deleted", "post.created"]))
                .unwrap();
        assert_eq!(only.stored(), "post.created,post.deleted");
        assert_eq!(EventSelection::from_stored(&only.stored()), only);
        assert!(only.includes("post.deleted") && !only.includes("post.updated"));
        let all = EventSelection::from_json(&json!(["*"])).unwrap();
        assert_eq!(all.stored(), "*");
        assert_eq!(all.to_list(), vec!["*"]);
        assert!(all.includes("media.created"));
    }

    #[test]
    fn bad_selections_are_refused_with_a_reason() {
        for bad in [
            json!([]),
            json!("*"),
            json!(["*", "post.created"]),
            json!(["post.exploded"]),
            json!(["ping"]),
            json!([1]),
            json!(["post.created,post.deleted"]),
        ] {
            assert!(EventSelection::from_json(&bad).is_err(), "{bad}");
        }
        let message = EventSelection::from_json(&json!(["post.exploded"])).unwrap_err();
        assert!(message.contains("post.exploded"), "{message}");
    }
}
