//! What an import reads: JSON Lines (the export format) or a WordPress WXR file, turned
//! into [`SourceItem`]s, each a post ready to send (with a slug), or the reason it is not
//! sent.

use crate::slug;
use crate::wxr::{self, WxrPost};
use chrono::{DateTime, Utc};
use jekcms_client::{NewPost, PostStatus};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::HashMap;
use std::io::BufRead;

/// The most tags a post may have, and the longest tag (characters).
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One post per line, as `jekcms-cli export` writes them.
    Jsonl,
    /// A WordPress export (WXR, "WordPress eXtended RSS").
    Wxr,
}

impl Format {
    /// `.xml` and `.wxr` files are WXR; everything else JSON Lines.
    pub fn from_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("xml") || ext.eq_ignore_ascii_case("wxr") => {
                Self::Wxr
            }
            _ => Self::Jsonl,
        }
    }
}

/// One post of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceItem {
    /// 1-based position among the posts of the input.
    pub item: usize,
    /// 1-based line number, for JSON Lines.
    pub line: Option<usize>,
    /// The source's own id (`wp:post_id` for WXR), for reports.
    pub source_id: Option<String>,
    /// The title, for reports.
    pub title: String,
    /// What to do with it.
    pub action: Action,
}

/// What an import does with a [`SourceItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send it; `slug` is always set.
    Send(NewPost),
    /// Not imported by design (a WordPress post in the trash, an auto-draft, …).
    Exclude(String),
    /// Cannot be imported (a line that is not a post).
    Invalid(String),
}

/// A line of JSON Lines. The fields the server owns are accepted and dropped; any other
/// unknown field is an error, so that a typo does not silently lose data.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    title: String,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    excerpt: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    status: Option<PostStatus>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    published_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "site_id")]
    _site_id: Option<IgnoredAny>,
    #[serde(default, rename = "author_id")]
    _author_id: Option<IgnoredAny>,
    #[serde(default, rename = "created_at")]
    _created_at: Option<IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    _updated_at: Option<IgnoredAny>,
    #[serde(default, rename = "version")]
    _version: Option<IgnoredAny>,
}

/// Reads JSON Lines; blank lines are skipped, a line that is not a post is an
/// [`Action::Invalid`] item.
pub fn read_jsonl<R: BufRead>(input: R) -> std::io::Result<Vec<SourceItem>> {
    let mut items = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let item = items.len() + 1;
        let parsed = match serde_json::from_str::<Line>(&line) {
            Ok(l) => SourceItem {
                item,
                line: Some(n + 1),
                source_id: None,
                title: l.title.clone(),
                action: Action::Send(NewPost {
                    title: l.title,
                    slug: l.slug,
                    excerpt: l.excerpt,
                    body: l.body,
                    status: l.status,
                    tags: l.tags.unwrap_or_default(),
                    published_at: l.published_at,
                }),
            },
            Err(e) => SourceItem {
                item,
                line: Some(n + 1),
                source_id: None,
                title: title_of_bad_line(&line),
                action: Action::Invalid(format!("not a post: {e}")),
            },
        };
        items.push(parsed);
    }
    Ok(items)
}

/// The `title` of a line that is JSON but not a valid post, for the report.
fn title_of_bad_line(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("title")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Reads a WXR file: its posts (not pages or attachments), mapped as the module
/// documentation of [`crate::wxr`] says; the count of other items is returned beside.
pub fn read_wxr<R: BufRead>(input: R) -> Result<(Vec<SourceItem>, usize), wxr::WxrError> {
    let file = wxr::read(input)?;
    let items = file
        .posts
        .into_iter()
        .enumerate()
        .map(|(i, p)| from_wxr(i + 1, p))
        .collect();
    Ok((items, file.other_items))
}

fn from_wxr(item: usize, p: WxrPost) -> SourceItem {
    let title = p.title.trim().to_owned();
    let status = match p.status.as_str() {
        "publish" => Some(PostStatus::Published),
        "draft" | "pending" | "private" | "future" => Some(PostStatus::Draft),
        other => {
            return SourceItem {
                item,
                line: None,
                source_id: p.post_id,
                title,
                action: Action::Exclude(format!("WordPress status {other:?} is not imported")),
            };
        }
    };
    let published_at = if status == Some(PostStatus::Published) {
        p.date_gmt.or(p.date_local)
    } else {
        None
    };
    let post = NewPost {
        title: title.clone(),
        slug: p.slug,
        excerpt: Some(p.excerpt).filter(|e| !e.trim().is_empty()),
        body: Some(p.body).filter(|b| !b.is_empty()),
        status,
        tags: clean_tags(p.tags),
        published_at,
    };
    SourceItem {
        item,
        line: None,
        source_id: p.post_id,
        title,
        action: Action::Send(post),
    }
}

/// Trimmed, cut to 50 characters, without empties or repeats, at most 20.
fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag: String = tag.trim().chars().take(MAX_TAG_CHARS).collect();
        let tag = tag.trim_end().to_owned();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
        if out.len() == MAX_TAGS {
            break;
        }
    }
    out
}

/// Gives every post to send a valid slug that no other item of the input has: the
/// source's slug when valid, else one made from the repaired source slug (WordPress
/// percent-encodes non-ASCII ones) or the title, with `-2`, `-3`, … where taken. Source
/// slugs are reserved first; an item whose own valid slug repeats an earlier item's
/// becomes [`Action::Invalid`]. Deterministic: a re-run of the same input sends the same
/// slugs, so that posts created by an earlier run are recognised by slug.
pub fn assign_slugs(items: &mut [SourceItem]) {
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut generate = Vec::new();
    for (i, it) in items.iter_mut().enumerate() {
        let Action::Send(post) = &mut it.action else {
            continue;
        };
        let own = post
            .slug
            .as_deref()
            .map(str::trim)
            .filter(|s| slug::is_valid(s));
        let Some(own) = own.map(str::to_owned) else {
            generate.push(i);
            continue;
        };
        if let Some(first) = taken.get(&own) {
            it.action = Action::Invalid(format!(
                "slug {own:?} is also the slug of item {first} of this input"
            ));
            continue;
        }
        taken.insert(own.clone(), it.item);
        post.slug = Some(own);
    }
    for i in generate {
        let it = &mut items[i];
        let Action::Send(post) = &mut it.action else {
            continue;
        };
        let base = slug::for_post(post.slug.as_deref(), &post.title);
        let mut candidate = base.clone();
        let mut n = 1;
        while taken.contains_key(&candidate) {
            n += 1;
            candidate = slug::with_suffix(&base, n);
        }
        taken.insert(candidate.clone(), it.item);
        post.slug = Some(candidate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(items: &[SourceItem], i: usize) -> &NewPost {
        match &items[i].action {
            Action::Send(p) => p,
            other => panic!("item {i}: {other:?}"),
        }
    }

    #[test]
    fn jsonl_drops_server_fields_and_refuses_unknown_ones() {
        let input = concat!(
            r#"{"id":4,"site_id":1,"author_id":2,"title":"A","slug":"a","excerpt":null,"body":"b","status":"published","tags":["x"],"published_at":"2026-01-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#,
            "\n\n",
            r#"{"title":"B","colour":"red"}"#,
            "\n",
            "not json\n",
        );
        let items = read_jsonl(input.as_bytes()).unwrap();
        assert_eq!(items.len(), 3);
        let a = sent(&items, 0);
        assert_eq!(a.title, "A");
        assert_eq!(a.tags, ["x"]);
        assert_eq!(a.status, Some(PostStatus::Published));
        assert_eq!(items[1].line, Some(3));
        assert_eq!(items[1].title, "B");
        assert!(matches!(&items[1].action, Action::Invalid(m) if m.contains("colour")));
        assert!(matches!(&items[2].action, Action::Invalid(_)));
    }

    #[test]
    fn slugs_are_assigned_once_each() {
        let input = concat!(
            r#"{"title":"Same"}"#,
            "\n",
            r#"{"title":"Same"}"#,
            "\n",
            r#"{"title":"X","slug":"same-2"}"#,
            "\n",
            r#"{"title":"Y","slug":"kept"}"#,
            "\n",
            r#"{"title":"Z","slug":"kept"}"#,
            "\n",
        );
        let mut items = read_jsonl(input.as_bytes()).unwrap();
        assign_slugs(&mut items);
        assert_eq!(sent(&items, 0).slug.as_deref(), Some("same"));
        // Source slugs first: "same-2" is item 3's, so the repeat of "Same" gets "same-3".
        assert_eq!(sent(&items, 1).slug.as_deref(), Some("same-3"));
        assert_eq!(sent(&items, 2).slug.as_deref(), Some("same-2"));
        assert_eq!(sent(&items, 3).slug.as_deref(), Some("kept"));
        assert!(matches!(&items[4].action, Action::Invalid(m) if m.contains("item 4")));
    }

    #[test]
    fn tags_are_cleaned() {
        let long = "é".repeat(60);
        let mut tags = vec![" a ".to_owned(), "a".to_owned(), String::new(), long];
        tags.extend((0..30).map(|i| format!("t{i}")));
        let out = clean_tags(tags);
        assert_eq!(out.len(), 20);
        assert_eq!(out[0], "a");
        assert_eq!(out[1].chars().count(), 50);
    }
}
