//! WordPress eXtended RSS (WXR) export files, read with quick-xml as a stream of events.
//!
//! `<item>`s whose `wp:post_type` is `post` or `page` are read; other items are counted by
//! type. What is kept: `title`, `content:encoded` (body), `excerpt:encoded`, `wp:post_name`
//! (slug, percent-decoded later), `wp:status`, `wp:post_password`, `wp:post_date_gmt`
//! (falling back to `wp:post_date`), `wp:post_id` (for reports), `dc:creator` (the author's
//! login), and the names of `<category domain="post_tag">` (tags) and
//! `<category domain="category">` (categories). Text comes from CDATA sections, character
//! data, and entity and character references alike, so `&amp;`, `&#8217;` and
//! `<![CDATA[…]]>` all decode to the text they stand for.
//!
//! A document is WXR when its root is `<rss>` declaring WordPress's export namespace
//! (`xmlns:wp="http://wordpress.org/export/…"`) and it ends where its root does; anything
//! else — an HTML page, an RSS feed, a file cut short — is a [`WxrError`], not an empty
//! export.

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use std::io::BufRead;

/// One `<item>` of post type `post` or `page`, with its text decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WxrPost {
    /// `wp:post_type`: `post` or `page`.
    pub post_type: String,
    /// `wp:post_id`.
    pub post_id: Option<String>,
    /// `title`.
    pub title: String,
    /// `wp:post_name`, as written (may be percent-encoded).
    pub slug: Option<String>,
    /// `content:encoded`.
    pub body: String,
    /// `excerpt:encoded`.
    pub excerpt: String,
    /// `wp:status` (`publish`, `draft`, `pending`, `private`, `future`, `trash`, …).
    pub status: String,
    /// `wp:post_password`, when not empty: the post is password-protected.
    pub password: Option<String>,
    /// `dc:creator`: the author's login.
    pub creator: Option<String>,
    /// `wp:post_date_gmt`, unless WordPress's zero date.
    pub date_gmt: Option<DateTime<Utc>>,
    /// `wp:post_date` (site-local time, read as UTC), unless zero.
    pub date_local: Option<DateTime<Utc>>,
    /// The names of `<category domain="post_tag">`, in file order.
    pub tags: Vec<String>,
    /// The names of `<category domain="category">`, in file order.
    pub categories: Vec<String>,
    /// `wp:attachment_url`: where an attachment's file is.
    pub attachment_url: Option<String>,
    /// The `_wp_attachment_image_alt` post meta: an attachment's alt text.
    pub image_alt: Option<String>,
}

/// One `<wp:author>` of the channel: a WordPress user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WxrAuthor {
    /// `wp:author_login`, what `dc:creator` names.
    pub login: String,
    /// `wp:author_email`.
    pub email: Option<String>,
    /// `wp:author_display_name`.
    pub display_name: Option<String>,
}

/// One `<item>` of type `attachment` that names its file (`wp:attachment_url`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WxrAttachment {
    /// `wp:post_id`.
    pub post_id: Option<String>,
    /// `title`.
    pub title: String,
    /// `wp:attachment_url`, as written.
    pub url: String,
    /// The alt text (`_wp_attachment_image_alt`), when set.
    pub alt_text: Option<String>,
}

/// What a WXR file holds.
#[derive(Debug, Clone, Default)]
pub struct WxrFile {
    /// The items of type `post` and `page`, in file order.
    pub posts: Vec<WxrPost>,
    /// The attachments that name their file, in file order.
    pub attachments: Vec<WxrAttachment>,
    /// The channel's `<wp:author>`s (those with a login), in file order.
    pub authors: Vec<WxrAuthor>,
    /// How many items of each other type (menu items, attachments without a URL, …) there
    /// are, not read.
    pub other_items: std::collections::BTreeMap<String, usize>,
}

/// A WXR file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("not a readable WXR file (at byte {position}): {message}")]
pub struct WxrError {
    /// Byte offset where reading stopped.
    pub position: u64,
    /// What went wrong.
    pub message: String,
}

/// The element whose text is being collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Body,
    Excerpt,
    Slug,
    Status,
    Password,
    Creator,
    Type,
    Id,
    DateGmt,
    Date,
    Tag,
    Category,
    AttachmentUrl,
    PostMeta,
    Other,
}

fn field_of(name: &[u8], start: &BytesStart<'_>) -> Field {
    match name {
        b"title" => Field::Title,
        b"content:encoded" => Field::Body,
        b"excerpt:encoded" => Field::Excerpt,
        b"wp:post_name" => Field::Slug,
        b"wp:status" => Field::Status,
        b"wp:post_password" => Field::Password,
        b"dc:creator" => Field::Creator,
        b"wp:post_type" => Field::Type,
        b"wp:post_id" => Field::Id,
        b"wp:post_date_gmt" => Field::DateGmt,
        b"wp:post_date" => Field::Date,
        b"wp:attachment_url" => Field::AttachmentUrl,
        b"wp:postmeta" => Field::PostMeta,
        b"category" => match start.try_get_attribute("domain").ok().flatten() {
            Some(domain) if domain.value.as_ref() == b"post_tag" => Field::Tag,
            Some(domain) if domain.value.as_ref() == b"category" => Field::Category,
            _ => Field::Other,
        },
        _ => Field::Other,
    }
}

/// WordPress writes `0000-00-00 00:00:00` for "no date".
fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

fn resolve_ref(r: &BytesRef<'_>, out: &mut String) -> Result<(), String> {
    if r.is_char_ref() {
        match r.resolve_char_ref() {
            Ok(Some(c)) => out.push(c),
            _ => {
                return Err(format!(
                    "bad character reference &{};",
                    String::from_utf8_lossy(r)
                ));
            }
        }
        return Ok(());
    }
    let name = r.decode().map_err(|e| e.to_string())?;
    match quick_xml::escape::resolve_xml_entity(&name) {
        Some(text) => out.push_str(text),
        // An entity XML does not define: keep it as written rather than lose text.
        None => {
            out.push('&');
            out.push_str(&name);
            out.push(';');
        }
    }
    Ok(())
}

/// Reads every post of a WXR document.
pub fn read<R: BufRead>(input: R) -> Result<WxrFile, WxrError> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut file = WxrFile::default();

    // Inside an <item>: the post being built and its type; the field (a direct child of
    // the item) being read; element depth, to tell direct children from nested ones.
    let mut item: Option<(WxrPost, String)> = None;
    let mut item_depth = 0usize;
    let mut depth = 0usize;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    let mut seen_root = false;
    // Inside a `<wp:postmeta>`: which of its children is being read (`true` for the key),
    // its text, and the key read so far.
    let mut meta_part: Option<bool> = None;
    let mut meta_text = String::new();
    let mut meta_key = String::new();
    // Inside a channel's `<wp:author>`: the author, its depth, the child being read
    // (0 login, 1 email, 2 display name) and its text.
    let mut author: Option<WxrAuthor> = None;
    let mut author_depth = 0usize;
    let mut author_part: Option<u8> = None;
    let mut author_text = String::new();

    loop {
        let position = reader.buffer_position();
        let fail = |message: String| WxrError { position, message };
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| fail(e.to_string()))?;
        let in_field = field.is_some() && depth == item_depth + 1;
        let in_meta = meta_part.is_some() && depth == item_depth + 2;
        let in_author = author_part.is_some() && depth == author_depth + 1;
        let collected = if in_meta {
            &mut meta_text
        } else if in_author {
            &mut author_text
        } else {
            &mut text
        };
        let in_field = in_field || in_meta || in_author;
        match event {
            Event::Start(start) => {
                depth += 1;
                let name = start.name();
                if depth == 1 {
                    check_root(&start).map_err(fail)?;
                    seen_root = true;
                } else if item.is_none() && author.is_none() && name.as_ref() == b"wp:author" {
                    author = Some(WxrAuthor::default());
                    author_depth = depth;
                } else if author.is_some() && depth == author_depth + 1 {
                    author_part = match name.as_ref() {
                        b"wp:author_login" => Some(0),
                        b"wp:author_email" => Some(1),
                        b"wp:author_display_name" => Some(2),
                        _ => None,
                    };
                    author_text.clear();
                } else if item.is_none() && name.as_ref() == b"item" {
                    item = Some((WxrPost::default(), String::new()));
                    item_depth = depth;
                } else if item.is_some() && depth == item_depth + 1 {
                    field = Some(field_of(name.as_ref(), &start));
                    text.clear();
                    meta_key.clear();
                } else if field == Some(Field::PostMeta) && depth == item_depth + 2 {
                    meta_part = match name.as_ref() {
                        b"wp:meta_key" => Some(true),
                        b"wp:meta_value" => Some(false),
                        _ => None,
                    };
                    meta_text.clear();
                }
            }
            Event::Text(t) if in_field => {
                collected.push_str(&t.xml_content().map_err(|e| fail(e.to_string()))?);
            }
            Event::CData(t) if in_field => {
                collected.push_str(&t.xml_content().map_err(|e| fail(e.to_string()))?);
            }
            Event::GeneralRef(r) if in_field => {
                resolve_ref(&r, collected).map_err(fail)?;
            }
            Event::End(_) => {
                if let Some(a) = author.as_mut() {
                    if depth == author_depth + 1 {
                        let value = std::mem::take(&mut author_text).trim().to_owned();
                        let value = Some(value).filter(|v| !v.is_empty());
                        match author_part.take() {
                            Some(0) => a.login = value.unwrap_or_default(),
                            Some(1) => a.email = value,
                            Some(2) => a.display_name = value,
                            _ => {}
                        }
                    } else if depth == author_depth {
                        let a = author.take().expect("inside an author");
                        if !a.login.is_empty() {
                            file.authors.push(a);
                        }
                    }
                }
                if let Some((post, kind)) = item.as_mut() {
                    if depth == item_depth + 2 {
                        match meta_part.take() {
                            Some(true) => meta_key = std::mem::take(&mut meta_text),
                            Some(false) if meta_key.trim() == "_wp_attachment_image_alt" => {
                                post.image_alt = Some(std::mem::take(&mut meta_text))
                                    .filter(|a| !a.trim().is_empty());
                            }
                            _ => {}
                        }
                    } else if depth == item_depth + 1 {
                        if let Some(f) = field.take() {
                            store(f, std::mem::take(&mut text), post, kind);
                        }
                    } else if depth == item_depth {
                        let (mut post, kind) = item.take().expect("inside an item");
                        let kind = kind.trim();
                        if kind == "post" || kind == "page" {
                            post.post_type = kind.to_owned();
                            file.posts.push(post);
                        } else if kind == "attachment"
                            && let Some(url) = post.attachment_url.take()
                        {
                            file.attachments.push(WxrAttachment {
                                post_id: post.post_id,
                                title: post.title,
                                url,
                                alt_text: post.image_alt,
                            });
                        } else {
                            let kind = if kind.is_empty() { "(no type)" } else { kind };
                            *file.other_items.entry(kind.to_owned()).or_default() += 1;
                        }
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Empty(start) if depth == 0 => check_root(&start).map_err(fail)?,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let end = |message: &str| WxrError {
        position: reader.buffer_position(),
        message: message.to_owned(),
    };
    if item.is_some() {
        return Err(end("the file ends inside an <item> (cut short?)"));
    }
    if !seen_root {
        return Err(end(
            "the file holds no XML element (is it a WordPress export?)",
        ));
    }
    if depth > 0 {
        return Err(end("the file ends before </rss> (cut short?)"));
    }
    Ok(file)
}

/// WordPress's export namespace, without its version (`1.0` … `1.2`).
const WP_EXPORT_NAMESPACE: &[u8] = b"http://wordpress.org/export/";

/// The root must be `<rss>` declaring the `wp:` namespace: an HTML page or a plain RSS
/// feed is refused rather than read as an export with no posts.
fn check_root(root: &BytesStart<'_>) -> Result<(), String> {
    let name = String::from_utf8_lossy(root.name().as_ref()).into_owned();
    if name != "rss" {
        return Err(format!(
            "the root element is <{name}>, not <rss>: this is not a WordPress export (WXR)"
        ));
    }
    let wordpress = root.attributes().flatten().any(|a| {
        a.key.as_ref() == b"xmlns:wp" && a.value.as_ref().starts_with(WP_EXPORT_NAMESPACE)
    });
    if !wordpress {
        return Err(
            "an RSS document without WordPress's export namespace (xmlns:wp): a feed, not an export"
                .into(),
        );
    }
    Ok(())
}

/// WordPress stores term names HTML-escaped (`CMS &amp; more`) and exports them as such
/// inside CDATA; a tag is plain text, so its references are resolved.
fn term_name(text: String) -> String {
    match quick_xml::escape::unescape(&text) {
        Ok(plain) => plain.into_owned(),
        Err(_) => text,
    }
}

fn store(f: Field, text: String, post: &mut WxrPost, kind: &mut String) {
    match f {
        Field::Title => post.title = text,
        Field::Body => post.body = text,
        Field::Excerpt => post.excerpt = text,
        Field::Slug => post.slug = Some(text).filter(|s| !s.trim().is_empty()),
        Field::Status => post.status = text.trim().to_owned(),
        Field::Password => post.password = Some(text).filter(|p| !p.is_empty()),
        Field::Creator => post.creator = Some(text.trim().to_owned()).filter(|c| !c.is_empty()),
        Field::Type => *kind = text,
        Field::Id => post.post_id = Some(text.trim().to_owned()),
        Field::DateGmt => post.date_gmt = parse_date(&text),
        Field::Date => post.date_local = parse_date(&text),
        Field::Tag => post.tags.push(term_name(text)),
        Field::Category => post.categories.push(term_name(text)),
        Field::AttachmentUrl => {
            post.attachment_url = Some(text.trim().to_owned()).filter(|u| !u.is_empty());
        }
        Field::PostMeta | Field::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>My blog &amp; more</title>
  <wp:author><wp:author_id>1</wp:author_id><wp:author_login><![CDATA[admin]]></wp:author_login><wp:author_email><![CDATA[admin@example.com]]></wp:author_email><wp:author_display_name><![CDATA[The Admin]]></wp:author_display_name></wp:author>
  <wp:author><wp:author_login>ed</wp:author_login></wp:author>
  <item>
    <title>Tom &amp; Jerry&#8217;s <![CDATA[<b>show</b>]]></title>
    <content:encoded><![CDATA[<p>Hello & "world"</p>]]></content:encoded>
    <excerpt:encoded><![CDATA[]]></excerpt:encoded>
    <wp:post_id>7</wp:post_id>
    <dc:creator><![CDATA[admin]]></dc:creator>
    <wp:post_password><![CDATA[]]></wp:post_password>
    <wp:post_date><![CDATA[2020-01-02 05:04:05]]></wp:post_date>
    <wp:post_date_gmt><![CDATA[2020-01-02 03:04:05]]></wp:post_date_gmt>
    <wp:post_name><![CDATA[caf%c3%a9]]></wp:post_name>
    <wp:status><![CDATA[publish]]></wp:status>
    <wp:post_type><![CDATA[post]]></wp:post_type>
    <category domain="category" nicename="news"><![CDATA[News]]></category>
    <category domain="post_tag" nicename="rust"><![CDATA[Rust]]></category>
    <wp:postmeta><wp:meta_key>x</wp:meta_key><wp:meta_value>y</wp:meta_value></wp:postmeta>
  </item>
  <item>
    <title>A page</title>
    <wp:post_type>page</wp:post_type>
    <wp:post_password>secret</wp:post_password>
  </item>
  <item><title>a.png</title><wp:post_type>attachment</wp:post_type></item>
  <item><title>b.png</title><wp:post_type>attachment</wp:post_type></item>
  <item><title>Menu</title><wp:post_type>nav_menu_item</wp:post_type></item>
</channel>
</rss>"#;

    #[test]
    fn posts_are_read_with_text_decoded() {
        let file = read(DOC.as_bytes()).unwrap();
        assert_eq!(
            file.other_items.into_iter().collect::<Vec<_>>(),
            [
                ("attachment".to_owned(), 2),
                ("nav_menu_item".to_owned(), 1)
            ]
        );
        assert_eq!(file.posts.len(), 2);
        assert_eq!(
            file.authors,
            [
                WxrAuthor {
                    login: "admin".into(),
                    email: Some("admin@example.com".into()),
                    display_name: Some("The Admin".into()),
                },
                WxrAuthor {
                    login: "ed".into(),
                    ..WxrAuthor::default()
                }
            ]
        );
        let p = &file.posts[0];
        assert_eq!(p.post_type, "post");
        assert_eq!(p.creator.as_deref(), Some("admin"));
        assert_eq!(p.password, None);
        assert_eq!(p.categories, ["News"]);
        assert_eq!(p.title, "Tom & Jerry\u{2019}s <b>show</b>");
        assert_eq!(p.body, "<p>Hello & \"world\"</p>");
        assert_eq!(p.excerpt, "");
        assert_eq!(p.slug.as_deref(), Some("caf%c3%a9"));
        assert_eq!(p.status, "publish");
        assert_eq!(p.post_id.as_deref(), Some("7"));
        assert_eq!(p.tags, ["Rust"]);
        assert_eq!(
            p.date_gmt.unwrap().to_rfc3339(),
            "2020-01-02T03:04:05+00:00"
        );
        let page = &file.posts[1];
        assert_eq!(page.post_type, "page");
        assert_eq!(page.password.as_deref(), Some("secret"));
    }

    #[test]
    fn what_is_not_a_wordpress_export_is_refused() {
        let wxr_head = r#"<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel>"#;
        for (input, says) in [
            (
                "<!doctype html><html><body>Hi</body></html>",
                "root element is <html>",
            ),
            (
                "<rss version=\"2.0\"><channel></channel></rss>",
                "without WordPress's export namespace",
            ),
            ("", "no XML element"),
            ("just text", "no XML element"),
            (wxr_head, "ends before </rss>"),
        ] {
            let err = read(input.as_bytes()).unwrap_err();
            assert!(err.message.contains(says), "{input:?}: {err}");
        }
        let empty = format!("{wxr_head}</channel></rss>");
        assert!(read(empty.as_bytes()).unwrap().posts.is_empty());
    }

    #[test]
    fn broken_files_are_refused() {
        let head = r#"<rss xmlns:wp="http://wordpress.org/export/1.2/">"#;
        assert!(read(format!("{head}<channel><item><title>x</title>").as_bytes()).is_err());
        assert!(read(format!("{head}<item><title>x</wrong></item></rss>").as_bytes()).is_err());
    }

    #[test]
    fn zero_dates_are_none() {
        assert_eq!(parse_date("0000-00-00 00:00:00"), None);
    }
}
