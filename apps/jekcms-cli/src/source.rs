//! What an import reads: JSON Lines (the export format) or a WordPress WXR file, turned
//! into [`SourceItem`]s, each a post ready to send (with a slug), or the reason it is not
//! sent. Whatever is changed on the way in (a protected post kept as a draft, tags over the
//! limit) is noted on the item, so that the import can report it: nothing is changed
//! silently.

use crate::slug;
use crate::wxr::{self, WxrAttachment, WxrPost};
use jekcms_client::{NewPost, PostStatus};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// The format of a file that starts with `head`: `<` (after a byte-order mark and
    /// blanks) is XML, so WXR; `{` is JSON Lines; anything else is not known.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        match head.iter().find(|b| !b.is_ascii_whitespace())? {
            b'<' => Some(Self::Wxr),
            b'{' => Some(Self::Jsonl),
            _ => None,
        }
    }

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
    /// What was changed on the way in, in plain words (empty when nothing was).
    pub notes: Vec<String>,
    /// The WordPress author (`dc:creator` login), for WXR.
    pub author: Option<String>,
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

/// The fields of a JSON Lines post (`author_id`: the user of the site to create it as, as
/// an export writes it); those the server owns (an export writes them too) are accepted
/// and dropped; any other field is refused, so that a typo does not lose data.
const POST_FIELDS: [&str; 8] = [
    "title",
    "slug",
    "excerpt",
    "body",
    "status",
    "tags",
    "published_at",
    "author_id",
];
const SERVER_FIELDS: [&str; 5] = ["id", "site_id", "created_at", "updated_at", "version"];

/// Reads JSON Lines; blank lines are skipped, a line that is not a post is an
/// [`Action::Invalid`] item saying why in plain words.
pub fn read_jsonl<R: BufRead>(input: R) -> std::io::Result<Vec<SourceItem>> {
    let mut items = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let (title, action) = match parse_line(&line) {
            Ok(post) => (post.title.clone(), Action::Send(post)),
            Err((title, why)) => (title, Action::Invalid(why)),
        };
        items.push(SourceItem {
            item: items.len() + 1,
            line: Some(n + 1),
            source_id: None,
            title,
            action,
            notes: Vec::new(),
            author: None,
        });
    }
    Ok(items)
}

/// One line as a post, or its title (if it has one) and what is wrong with it.
fn parse_line(line: &str) -> Result<NewPost, (String, String)> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        let why = match e.classify() {
            serde_json::error::Category::Eof => {
                "the line ends in the middle of a JSON value".to_owned()
            }
            _ => format!("not valid JSON at column {}", e.column()),
        };
        (String::new(), why)
    })?;
    let Value::Object(map) = value else {
        return Err((
            String::new(),
            "a line must be one JSON object (a post)".to_owned(),
        ));
    };
    let title_of = |map: &Map<String, Value>| {
        map.get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let fail = |why: String| (title_of(&map), why);
    if let Some(unknown) = map
        .keys()
        .find(|k| !POST_FIELDS.contains(&k.as_str()) && !SERVER_FIELDS.contains(&k.as_str()))
    {
        return Err(fail(format!(
            "unknown field {unknown:?}: a post has {}",
            POST_FIELDS.join(", ")
        )));
    }
    let title: Option<String> = field(&map, "title").map_err(fail)?;
    let Some(title) = title else {
        return Err(fail("the post has no title".to_owned()));
    };
    Ok(NewPost {
        title,
        slug: field(&map, "slug").map_err(fail)?,
        excerpt: field(&map, "excerpt").map_err(fail)?,
        body: field(&map, "body").map_err(fail)?,
        status: field(&map, "status").map_err(fail)?,
        tags: field::<Vec<String>>(&map, "tags")
            .map_err(fail)?
            .unwrap_or_default(),
        published_at: field(&map, "published_at").map_err(fail)?,
        author_id: field(&map, "author_id").map_err(fail)?,
    })
}

/// A field of a line (`null` and absent alike are `None`), or why its value does not fit.
fn field<T: DeserializeOwned>(map: &Map<String, Value>, name: &str) -> Result<Option<T>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(|_| {
            let expected = match name {
                "title" | "slug" | "excerpt" | "body" => "a string",
                "status" => "one of \"draft\", \"published\", \"archived\"",
                "tags" => "a list of strings",
                "published_at" => "a date and time such as \"2026-01-31T09:30:00Z\"",
                "author_id" => "the id of a user of the site (an integer)",
                _ => "another value",
            };
            format!("{name} must be {expected}, not {}", shown(value))
        }),
    }
}

/// A value for a message: short, and its type said when that is the trouble.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 40 {
        text
    } else {
        let cut: String = text.chars().take(37).collect();
        format!("{cut}...")
    }
}

/// How WXR items become posts.
#[derive(Debug, Clone, Copy, Default)]
pub struct WxrOptions {
    /// Import pages too, as posts tagged [`PAGE_TAG`] (by default they are counted as
    /// ignored).
    pub pages: bool,
    /// Publish password-protected posts as they are. By default they become drafts: the
    /// API has no post passwords, so publishing one would show it to every reader.
    pub publish_protected: bool,
}

/// The tag an imported WordPress page carries.
pub const PAGE_TAG: &str = "page";

/// What a WXR file gave.
#[derive(Debug, Clone, Default)]
pub struct WxrItems {
    /// Its posts (and pages, when asked for), in file order.
    pub items: Vec<SourceItem>,
    /// Items not imported, by WordPress type (`attachment`, `page`, `nav_menu_item`, …).
    pub ignored: BTreeMap<String, usize>,
    /// The WordPress authors (`dc:creator` logins) of the items read.
    pub authors: BTreeSet<String>,
    /// The attachments that name their file (those that do not are counted in `ignored`).
    pub attachments: Vec<WxrAttachment>,
    /// The e-mail address of each author login the channel's `<wp:author>`s give one.
    pub author_emails: BTreeMap<String, String>,
}

/// Reads a WXR file: its posts (and pages with [`WxrOptions::pages`]), mapped as the module
/// documentation of [`crate::wxr`] and [`from_wxr`] say; other items are counted by type.
pub fn read_wxr<R: BufRead>(input: R, opts: WxrOptions) -> Result<WxrItems, wxr::WxrError> {
    let file = wxr::read(input)?;
    let mut out = WxrItems {
        ignored: file.other_items,
        attachments: file.attachments,
        author_emails: file
            .authors
            .into_iter()
            .filter_map(|a| Some((a.login, a.email?)))
            .collect(),
        ..WxrItems::default()
    };
    for p in file.posts {
        if p.post_type == "page" && !opts.pages {
            *out.ignored.entry("page".to_owned()).or_default() += 1;
            continue;
        }
        out.authors.extend(p.creator.clone());
        let item = out.items.len() + 1;
        out.items.push(from_wxr(item, p, opts));
    }
    Ok(out)
}

/// One WordPress post (or page) as a post to send:
/// - `publish` is published at its date; `future` (scheduled) is published with its future
///   date, so it appears when WordPress would have shown it; `draft`, `pending` and
///   `private` are drafts; anything else (`trash`, `auto-draft`, `inherit`) is not imported;
/// - a password-protected post is a draft unless `publish_protected` (noted);
/// - tags and categories both become tags (a page gets [`PAGE_TAG`] first), at most 20
///   (what is dropped is noted);
/// - an empty title becomes the slug, as WordPress shows such a post (noted).
pub fn from_wxr(item: usize, p: WxrPost, opts: WxrOptions) -> SourceItem {
    let mut notes = Vec::new();
    let mut title = p.title.trim().to_owned();
    if title.is_empty() {
        let from_slug = p
            .slug
            .as_deref()
            .map(|s| {
                percent_encoding::percent_decode_str(s.trim())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .filter(|s| !s.trim().is_empty());
        title = from_slug.unwrap_or_else(|| "(no title)".to_owned());
        notes.push(format!("it has no title in WordPress: titled {title:?}"));
    }
    let date = p.date_gmt.or(p.date_local);
    let (mut status, mut published_at) = match p.status.as_str() {
        "publish" => (PostStatus::Published, date),
        "future" if date.is_some() => (PostStatus::Published, date),
        "future" => {
            notes.push("scheduled in WordPress without a date: imported as a draft".to_owned());
            (PostStatus::Draft, None)
        }
        "draft" | "pending" => (PostStatus::Draft, None),
        "private" => {
            notes.push("private in WordPress: imported as a draft".to_owned());
            (PostStatus::Draft, None)
        }
        other => {
            return SourceItem {
                item,
                line: None,
                source_id: p.post_id,
                title,
                action: Action::Exclude(format!("WordPress status {other:?} is not imported")),
                notes,
                author: p.creator,
            };
        }
    };
    if p.password.is_some() && status == PostStatus::Published && !opts.publish_protected {
        status = PostStatus::Draft;
        published_at = None;
        notes.push(
            "password-protected in WordPress: imported as a draft, not published \
             (--publish-protected publishes such posts for every reader)"
                .to_owned(),
        );
    }
    let page_tag = (p.post_type == "page").then(|| PAGE_TAG.to_owned());
    let all_tags = page_tag.into_iter().chain(p.tags).chain(p.categories);
    let (tags, tag_notes) = clean_tags(all_tags);
    notes.extend(tag_notes);
    let post = NewPost {
        title: title.clone(),
        slug: p.slug,
        excerpt: Some(p.excerpt).filter(|e| !e.trim().is_empty()),
        body: Some(p.body).filter(|b| !b.is_empty()),
        status: Some(status),
        tags,
        published_at,
        author_id: None,
    };
    SourceItem {
        item,
        line: None,
        source_id: p.post_id,
        title,
        action: Action::Send(post),
        notes,
        author: p.creator,
    }
}

/// Trimmed, without empties or repeats, cut to 50 characters, at most 20; with a note for
/// each kind of loss.
fn clean_tags(tags: impl IntoIterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let mut out: Vec<String> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut shortened: Vec<String> = Vec::new();
    for tag in tags {
        let trimmed = tag.trim();
        let mut cut: String = trimmed.chars().take(MAX_TAG_CHARS).collect();
        if cut.len() < trimmed.len() {
            shortened.push(trimmed.to_owned());
            cut = cut.trim_end().to_owned();
        }
        if cut.is_empty() || out.contains(&cut) || dropped.contains(&cut) {
            continue;
        }
        if out.len() == MAX_TAGS {
            dropped.push(cut);
        } else {
            out.push(cut);
        }
    }
    let mut notes = Vec::new();
    if !dropped.is_empty() {
        notes.push(format!(
            "{} tags dropped (a post keeps at most {MAX_TAGS}): {}",
            dropped.len(),
            dropped.join(", ")
        ));
    }
    if !shortened.is_empty() {
        notes.push(format!(
            "tags cut to {MAX_TAG_CHARS} characters: {}",
            shortened.join(", ")
        ));
    }
    (out, notes)
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
    fn jsonl_keeps_authors_drops_server_fields_and_refuses_unknown_ones() {
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
        assert_eq!(a.author_id, Some(2));
        assert_eq!(items[1].line, Some(3));
        assert_eq!(items[1].title, "B");
        assert!(
            matches!(&items[1].action, Action::Invalid(m) if m.starts_with("unknown field \"colour\": a post has title, slug"))
        );
        assert!(
            matches!(&items[2].action, Action::Invalid(m) if m == "not valid JSON at column 2")
        );
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
    fn bad_lines_are_explained_in_plain_words() {
        for (line, why) in [
            (r#"{"slug":"x"}"#, "the post has no title"),
            (
                r#"{"title":"T","status":"publish"}"#,
                r#"status must be one of "draft", "published", "archived", not "publish""#,
            ),
            (
                r#"{"title":"T","tags":"a,b"}"#,
                r#"tags must be a list of strings, not "a,b""#,
            ),
            (r#"{"title":7}"#, "title must be a string, not 7"),
            (
                r#"{"title":"T","published_at":"yesterday"}"#,
                r#"published_at must be a date and time such as "2026-01-31T09:30:00Z", not "yesterday""#,
            ),
            (r#"["title"]"#, "a line must be one JSON object (a post)"),
            (
                r#"{"title":"T""#,
                "the line ends in the middle of a JSON value",
            ),
        ] {
            let items = read_jsonl(line.as_bytes()).unwrap();
            assert!(
                matches!(&items[0].action, Action::Invalid(m) if m == why),
                "{line}: {:?}",
                items[0].action
            );
        }
    }

    #[test]
    fn the_format_is_told_by_the_content() {
        assert_eq!(
            Format::sniff(b"\xEF\xBB\xBF  <?xml version"),
            Some(Format::Wxr)
        );
        assert_eq!(Format::sniff(b"\n{\"title\":1}"), Some(Format::Jsonl));
        assert_eq!(Format::sniff(b"title,body"), None);
        assert_eq!(Format::sniff(b""), None);
    }

    #[test]
    fn tags_are_cleaned_and_losses_noted() {
        let long = "é".repeat(60);
        let mut tags = vec![
            " a ".to_owned(),
            "a".to_owned(),
            String::new(),
            long.clone(),
        ];
        tags.extend((0..30).map(|i| format!("t{i}")));
        let (out, notes) = clean_tags(tags);
        assert_eq!(out.len(), 20);
        assert_eq!(out[0], "a");
        assert_eq!(out[1].chars().count(), 50);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("12 tags dropped (a post keeps at most 20): t18, t19,"),
            "{notes:?}"
        );
        assert_eq!(notes[1], format!("tags cut to 50 characters: {long}"));
        let (_, none) = clean_tags(["x".to_owned(), "y".to_owned()]);
        assert!(none.is_empty());
    }

    fn wp(status: &str) -> WxrPost {
        WxrPost {
            post_type: "post".into(),
            title: "T".into(),
            status: status.into(),
            date_gmt: Some("2031-05-06T07:08:09Z".parse().unwrap()),
            ..WxrPost::default()
        }
    }

    #[test]
    fn wordpress_states_map_without_surprises() {
        let opts = WxrOptions::default();
        let it = from_wxr(1, wp("future"), opts);
        let p = match &it.action {
            Action::Send(p) => p,
            a => panic!("{a:?}"),
        };
        assert_eq!(p.status, Some(PostStatus::Published));
        assert_eq!(
            p.published_at.unwrap().to_rfc3339(),
            "2031-05-06T07:08:09+00:00"
        );
        assert!(it.notes.is_empty());

        let protected = WxrPost {
            password: Some("pw".into()),
            ..wp("publish")
        };
        let it = from_wxr(1, protected.clone(), opts);
        let p = match &it.action {
            Action::Send(p) => p,
            a => panic!("{a:?}"),
        };
        assert_eq!(p.status, Some(PostStatus::Draft));
        assert_eq!(p.published_at, None);
        assert!(
            it.notes[0].starts_with("password-protected"),
            "{:?}",
            it.notes
        );
        let it = from_wxr(
            1,
            protected,
            WxrOptions {
                publish_protected: true,
                ..opts
            },
        );
        assert!(matches!(&it.action, Action::Send(p) if p.status == Some(PostStatus::Published)));

        let untitled = WxrPost {
            title: " ".into(),
            slug: Some("caf%c3%a9-au-lait".into()),
            ..wp("draft")
        };
        let it = from_wxr(1, untitled, opts);
        assert_eq!(it.title, "café-au-lait");
        assert!(matches!(&it.action, Action::Send(p) if p.title == "café-au-lait"));
        assert_eq!(
            it.notes,
            ["it has no title in WordPress: titled \"café-au-lait\""]
        );

        let page = WxrPost {
            post_type: "page".into(),
            tags: vec!["t".into()],
            categories: vec!["News".into(), "t".into()],
            ..wp("publish")
        };
        let it = from_wxr(1, page, opts);
        assert!(matches!(&it.action, Action::Send(p) if p.tags == ["page", "t", "News"]));

        assert!(matches!(
            from_wxr(1, wp("trash"), opts).action,
            Action::Exclude(_)
        ));
        assert_eq!(
            from_wxr(1, wp("private"), opts).notes,
            ["private in WordPress: imported as a draft"]
        );
    }
}
