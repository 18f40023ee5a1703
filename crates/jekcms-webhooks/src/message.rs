//! The message a delivery sends, `{"type", "timestamp", "data"}`, and what is kept of the
//! receiver's answer.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The most bytes of a receiver's response body kept in the delivery log.
pub const MAX_KEPT_RESPONSE: usize = 1024;

/// The body of a message: `type`, `timestamp` (when the event happened, RFC 3339) and
/// `data` (the resource as the API returns it, or `{"id"}` when it is gone).
pub fn body(event_type: &str, occurred_at: DateTime<Utc>, data: &Value) -> String {
    json!({
        "type": event_type,
        "timestamp": occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    })
    .to_string()
}

/// Whether events of `event_type` announce that their subject is gone (so `data` is only
/// `{"id"}`).
pub fn is_deletion(event_type: &str) -> bool {
    event_type.ends_with(".deleted")
}

/// `bytes` as text of at most [`MAX_KEPT_RESPONSE`] bytes, cut at a character boundary
/// (invalid UTF-8 replaced).
pub fn kept_response(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_KEPT_RESPONSE)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    while text.len() > MAX_KEPT_RESPONSE {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_type_time_and_data() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00.5Z")
            .unwrap()
            .to_utc();
        let v: Value = serde_json::from_str(&body("post.deleted", at, &json!({"id": 3}))).unwrap();
        assert_eq!(
            v,
            json!({"type": "post.deleted", "timestamp": "2026-12-04T10:00:00.500000Z", "data": {"id": 3}})
        );
        assert!(is_deletion("media.deleted") && !is_deletion("post.updated"));
    }

    #[test]
    fn kept_responses_are_at_most_a_kilobyte_of_text() {
        assert_eq!(kept_response(b"ok"), "ok");
        let long = "é".repeat(2000);
        let kept = kept_response(long.as_bytes());
        assert!(
            kept.len() <= MAX_KEPT_RESPONSE && kept.chars().all(|c| c == 'é'),
            "{}",
            kept.len()
        );
        assert!(kept_response(&[0xff; 5000]).len() <= MAX_KEPT_RESPONSE);
    }
}
