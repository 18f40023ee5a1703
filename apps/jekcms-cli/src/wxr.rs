//! WordPress eXtended RSS (WXR) export files, read with quick-xml as a stream of events.
//!
//! Only `<item>`s whose `wp:post_type` is `post` are read. What is kept: `title`,
//! `content:encoded` (body), `excerpt:encoded`, `wp:post_name` (slug, percent-decoded
//! later), `wp:status`, `wp:post_date_gmt` (as `published_at` for published posts, falling
//! back to `wp:post_date`), `wp:post_id` (for reports) and `<category domain="post_tag">`
//! (tags). Text comes from CDATA sections, character data, and entity and character
//! references alike, so `&amp;`, `&#8217;` and `<![CDATA[…]]>` all decode to the text they
//! stand for.

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use std::io::BufRead;

/// One `<item>` of post type `post`, with its text decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WxrPost {
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
    /// `wp:post_date_gmt`, unless WordPress's zero date.
    pub date_gmt: Option<DateTime<Utc>>,
    /// `wp:post_date` (site-local time, read as UTC), unless zero.
    pub date_local: Option<DateTime<Utc>>,
    /// The names of `<category domain="post_tag">`, in file order.
    pub tags: Vec<String>,
}

/// What a WXR file holds.
#[derive(Debug, Clone, Default)]
pub struct WxrFile {
    /// The items of type `post`, in file order.
    pub posts: Vec<WxrPost>,
    /// Items of other types (pages, attachments, menu items, …), not read.
    pub other_items: usize,
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
    Type,
    Id,
    DateGmt,
    Date,
    Tag,
    Other,
}

fn field_of(name: &[u8], start: &BytesStart<'_>) -> Field {
    match name {
        b"title" => Field::Title,
        b"content:encoded" => Field::Body,
        b"excerpt:encoded" => Field::Excerpt,
        b"wp:post_name" => Field::Slug,
        b"wp:status" => Field::Status,
        b"wp:post_type" => Field::Type,
        b"wp:post_id" => Field::Id,
        b"wp:post_date_gmt" => Field::DateGmt,
        b"wp:post_date" => Field::Date,
        b"category" => {
            let tag = start
                .try_get_attribute("domain")
                .ok()
                .flatten()
                .is_some_and(|a| a.value.as_ref() == b"post_tag");
            if tag { Field::Tag } else { Field::Other }
        }
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

    loop {
        let position = reader.buffer_position();
        let fail = |message: String| WxrError { position, message };
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| fail(e.to_string()))?;
        let in_field = field.is_some() && depth == item_depth + 1;
        match event {
            Event::Start(start) => {
                depth += 1;
                let name = start.name();
                if item.is_none() && name.as_ref() == b"item" {
                    item = Some((WxrPost::default(), String::new()));
                    item_depth = depth;
                } else if item.is_some() && depth == item_depth + 1 {
                    field = Some(field_of(name.as_ref(), &start));
                    text.clear();
                }
            }
            Event::Text(t) if in_field => {
                text.push_str(&t.xml_content().map_err(|e| fail(e.to_string()))?);
            }
            Event::CData(t) if in_field => {
                text.push_str(&t.xml_content().map_err(|e| fail(e.to_string()))?);
            }
            Event::GeneralRef(r) if in_field => {
                resolve_ref(&r, &mut text).map_err(fail)?;
            }
            Event::End(_) => {
                if let Some((post, kind)) = item.as_mut() {
                    if depth == item_depth + 1 {
                        if let Some(f) = field.take() {
                            store(f, std::mem::take(&mut text), post, kind);
                        }
                    } else if depth == item_depth {
                        let (post, kind) = item.take().expect("inside an item");
                        if kind.trim() == "post" {
                            file.posts.push(post);
                        } else {
                            file.other_items += 1;
                        }
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if item.is_some() {
        return Err(WxrError {
            position: reader.buffer_position(),
            message: "the file ends inside an <item>".into(),
        });
    }
    Ok(file)
}

fn store(f: Field, text: String, post: &mut WxrPost, kind: &mut String) {
    match f {
        Field::Title => post.title = text,
        Field::Body => post.body = text,
        Field::Excerpt => post.excerpt = text,
        Field::Slug => post.slug = Some(text).filter(|s| !s.trim().is_empty()),
        Field::Status => post.status = text.trim().to_owned(),
        Field::Type => *kind = text,
        Field::Id => post.post_id = Some(text.trim().to_owned()),
        Field::DateGmt => post.date_gmt = parse_date(&text),
        Field::Date => post.date_local = parse_date(&text),
        // WordPress stores term names HTML-escaped (`CMS &amp; more`) and exports them as
        // such inside CDATA; a tag is plain text, so its references are resolved.
        Field::Tag => post.tags.push(match quick_xml::escape::unescape(&text) {
            Ok(plain) => plain.into_owned(),
            Err(_) => text,
        }),
        Field::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>My blog &amp; more</title>
  <item>
    <title>Tom &amp; Jerry&#8217;s <![CDATA[<b>show</b>]]></title>
    <content:encoded><![CDATA[<p>Hello & "world"</p>]]></content:encoded>
    <excerpt:encoded><![CDATA[]]></excerpt:encoded>
    <wp:post_id>7</wp:post_id>
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
  </item>
</channel>
</rss>"#;

    #[test]
    fn posts_are_read_with_text_decoded() {
        let file = read(DOC.as_bytes()).unwrap();
        assert_eq!(file.other_items, 1);
        assert_eq!(file.posts.len(), 1);
        let p = &file.posts[0];
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
    }

    #[test]
    fn broken_files_are_refused() {
        assert!(read("<rss><channel><item><title>x</title>".as_bytes()).is_err());
        assert!(read("<rss><item><title>x</wrong></item></rss>".as_bytes()).is_err());
    }

    #[test]
    fn zero_dates_are_none() {
        assert_eq!(parse_date("0000-00-00 00:00:00"), None);
    }
}
