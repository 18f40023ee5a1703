//! The resources of `/mcp`: `jekcms://posts/{id}`, a post as Markdown with front matter.

use jekcms_content::post::Post;
use serde_json::Value;

/// The URI template of a post.
pub(crate) const POST_TEMPLATE: &str = "jekcms://posts/{id}";

/// The MIME type of a post resource.
pub(crate) const MARKDOWN: &str = "text/markdown";

/// The URI of post `id`.
pub(crate) fn post_uri(id: i64) -> String {
    format!("jekcms://posts/{id}")
}

/// The post id in a resource URI, if it is one.
pub(crate) fn post_id(uri: &str) -> Option<i64> {
    uri.strip_prefix("jekcms://posts/")?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}

/// The front matter's fields, in this order, as the REST API names them.
const FRONT_MATTER: &[&str] = &[
    "id",
    "title",
    "slug",
    "status",
    "tags",
    "excerpt",
    "author_id",
    "published_at",
    "created_at",
    "updated_at",
];

/// `post` as Markdown: YAML front matter, then the body. Every value is written as JSON,
/// which YAML 1.2 reads as the same value (quoted strings, `null`, flow sequences), so no
/// title can break out of its line.
pub(crate) fn post_markdown(post: &Post) -> String {
    let fields = serde_json::to_value(post).unwrap_or(Value::Null);
    let mut out = String::from("---\n");
    for name in FRONT_MATTER {
        let value = fields.get(*name).unwrap_or(&Value::Null);
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".into()));
        out.push('\n');
    }
    out.push_str("---\n\n");
    if let Some(body) = post.body.as_ref().map(|b| b.text()) {
        out.push_str(&body);
        if !body.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_and_strangers_are_refused() {
        assert_eq!(post_id(&post_uri(42)), Some(42));
        for bad in [
            "jekcms://posts/",
            "jekcms://posts/0",
            "jekcms://posts/-1",
            "jekcms://media/1",
            "jekcms://posts/1/x",
        ] {
            assert_eq!(post_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn front_matter_quotes_every_value() {
        let mut post: Post = serde_json::from_value(Post::example()).unwrap();
        post.title = "a: b\n---\nc".into();
        post.body = Some("# Hi".into());
        let md = post_markdown(&post);
        assert!(md.starts_with("---\nid: "), "{md}");
        assert!(md.contains("title: \"a: b\\n---\\nc\"\n"), "{md}");
        assert!(md.contains("tags: ["), "{md}");
        assert!(md.ends_with("---\n\n# Hi\n"), "{md}");
        assert_eq!(md.matches("\n---\n").count(), 1, "{md}");
    }
}
