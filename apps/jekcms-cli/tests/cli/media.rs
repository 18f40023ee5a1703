//! Media in exports and imports (#20): a round trip between servers, WordPress attachments
//! fetched from a local HTTP server, and re-runs that create nothing twice.

use crate::support::{Scratch, TestServer, all_posts};
use futures_util::TryStreamExt;
use jekcms_cli::{ExportOptions, ImportOptions, export, import};
use jekcms_client::{Client, Media, MediaFilter, NewPost, PostStatus};
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A PNG header of `width` × 1 pixels followed by `tail`: enough for the server's sniffing,
/// and different bytes for every `(width, tail)`.
fn png(width: u32, tail: &[u8]) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(tail);
    b
}

fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\n%%EOF\n").into_bytes()
}

async fn all_media(client: &Client) -> Vec<Media> {
    let mut media: Vec<Media> = client
        .media()
        .list(MediaFilter::default())
        .stream()
        .try_collect()
        .await
        .unwrap();
    media.sort_by_key(|m| m.id);
    media
}

/// The fields of a post that an export and import carry over.
fn content(p: &jekcms_client::Post) -> (String, String, Option<String>, Option<String>) {
    (
        p.title.clone(),
        p.slug.clone(),
        p.excerpt.clone(),
        p.body.clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn server_export_fresh_server_import_export_loses_nothing() {
    let scratch = Scratch::new("media_round_trip");
    let a = TestServer::start(|_| {}).await;
    let ca = a.client().await;
    let cat = ca
        .media()
        .upload_bytes("cat.png", png(3, b"cat"), Some("A cat asleep"))
        .await
        .unwrap();
    let doc = ca
        .media()
        .upload_bytes("notes.pdf", pdf("notes"), None)
        .await
        .unwrap();
    let unused = ca
        .media()
        .upload_bytes("unused.png", png(5, b"unused"), None)
        .await
        .unwrap();
    let bodies = [
        format!(
            "<p><img src=\"{}\" alt=\"cat\"></p><p><a href=\"{}{}\">notes</a></p>",
            cat.public_url, a.base_url, doc.public_url
        ),
        format!("![cat]({})\n\nand again {}", cat.url, cat.public_url),
        "no media here".to_owned(),
    ];
    for (i, body) in bodies.iter().enumerate() {
        ca.posts()
            .create(
                NewPost::new(format!("Post {i}"))
                    .body(body.clone())
                    .status(PostStatus::Published)
                    .tags(["media"]),
            )
            .await
            .unwrap();
    }

    // Server A → export with media.
    let posts_a = scratch.path("a.jsonl");
    let media_a = scratch.path("media-a");
    let summary = export::run(
        &ca,
        &ExportOptions {
            output: Some(posts_a.clone()),
            with_media: Some(media_a.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    let m = summary.media.unwrap();
    assert_eq!((summary.exported, m.media, m.downloaded), (3, 3, 3));
    // A second export into the same directory downloads nothing again.
    let again = export::run(
        &ca,
        &ExportOptions {
            output: Some(posts_a.clone()),
            with_media: Some(media_a.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again.media.unwrap().downloaded, 0);

    // → a fresh server B, importing posts and media.
    let b = TestServer::start(|_| {}).await;
    let cb = b.client().await;
    let opts = ImportOptions {
        media: Some(media_a.clone()),
        ..ImportOptions::new(&posts_a)
    };
    let outcome = import::run(&cb, &opts).await.unwrap();
    let s = &outcome.summary;
    assert_eq!((s.created, s.failed), (3, 0), "{s:?}");
    assert_eq!(
        (
            s.media.read,
            s.media.uploaded,
            s.media.already_there,
            s.media.failed,
            s.media.bodies_rewritten
        ),
        (3, 3, 0, 0, 2),
        "{s:?}"
    );

    // The media are the same files with the same names and alt texts.
    let (old_media, new_media) = (all_media(&ca).await, all_media(&cb).await);
    assert_eq!(new_media.len(), 3);
    let by_sha: HashMap<&str, &Media> = new_media.iter().map(|m| (m.sha256.as_str(), m)).collect();
    let mut url_map: Vec<(String, String)> = Vec::new();
    for old in &old_media {
        let new = by_sha[old.sha256.as_str()];
        assert_eq!(
            (&new.filename, &new.mime_type, new.size_bytes, &new.alt_text),
            (&old.filename, &old.mime_type, old.size_bytes, &old.alt_text)
        );
        let bytes = cb.media().content(new.id).await.unwrap().bytes;
        assert_eq!(bytes, ca.media().content(old.id).await.unwrap().bytes);
        assert_ne!(new.public_url, old.public_url);
        url_map.push((
            format!("{}{}", a.base_url, old.public_url),
            format!("{}{}", b.base_url, new.public_url),
        ));
        url_map.push((old.url.clone(), new.public_url.clone()));
        url_map.push((old.public_url.clone(), new.public_url.clone()));
    }
    let _ = unused;

    // The posts are the same, their media URLs now B's.
    let (old_posts, new_posts) = (all_posts(&ca).await, all_posts(&cb).await);
    assert_eq!(old_posts.len(), new_posts.len());
    for (old, new) in old_posts.iter().zip(&new_posts) {
        let mut expected = content(old);
        for (from, to) in &url_map {
            expected.3 = expected.3.map(|b| b.replace(from, to));
        }
        assert_eq!(content(new), expected);
        assert_eq!(
            (&new.status, &new.tags, new.published_at),
            (&old.status, &old.tags, old.published_at)
        );
    }
    let body0 = new_posts[0].body.as_deref().unwrap();
    assert!(
        body0.contains(&format!(
            "{}{}",
            b.base_url,
            by_sha[doc.sha256.as_str()].public_url
        )),
        "{body0}"
    );
    assert!(
        !body0.contains(&cat.public_url) && !body0.contains(&a.base_url),
        "{body0}"
    );

    // B → export: the same media bytes, posts unchanged by a second hop.
    let posts_b = scratch.path("b.jsonl");
    let media_b = scratch.path("media-b");
    export::run(
        &cb,
        &ExportOptions {
            output: Some(posts_b.clone()),
            with_media: Some(media_b.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    let files = |dir: &std::path::Path| {
        let mut all: Vec<Vec<u8>> = std::fs::read_dir(dir.join("files"))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        all.sort();
        all
    };
    assert_eq!(files(&media_a), files(&media_b));

    // Importing the same export again creates neither media nor posts.
    let rerun = import::run(&cb, &opts).await.unwrap();
    let s = &rerun.summary;
    assert_eq!(
        (
            s.created,
            s.skipped_existing,
            s.media.uploaded,
            s.media.already_there
        ),
        (0, 3, 0, 3),
        "{s:?}"
    );
    assert_eq!(all_media(&cb).await.len(), 3);
    assert_eq!(all_posts(&cb).await.len(), 3);

    // A file of the export that was changed is refused, its URLs left as they were.
    let tampered = media_a.join(jekcms_cli::media::file_path(&old_media[0]));
    std::fs::write(&tampered, b"not the same bytes").unwrap();
    let c = TestServer::start(|_| {}).await;
    let cc = c.client().await;
    let report = scratch.path("report.jsonl");
    let outcome = import::run(
        &cc,
        &ImportOptions {
            report: Some(report.clone()),
            ..opts.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (outcome.summary.media.uploaded, outcome.summary.media.failed),
        (2, 1)
    );
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.contains("\"outcome\":\"media_failed\"") && text.contains("SHA-256"),
        "{text}"
    );

    a.stop().await;
    b.stop().await;
    c.stop().await;
}

/// A web server on 127.0.0.1 serving `files` by path (404 for anything else); returns its
/// origin, `http://127.0.0.1:PORT`.
async fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let files = files.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = match files.get(&path) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"not here".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    origin
}

#[tokio::test(flavor = "multi_thread")]
async fn wordpress_attachments_are_fetched_uploaded_once_and_linked() {
    let cat = png(4, b"wordpress cat");
    let origin = serve(HashMap::from([
        (
            "/wp-content/uploads/2021/06/cat.png".to_owned(),
            cat.clone(),
        ),
        // The same bytes under a second attachment: one medium.
        (
            "/wp-content/uploads/2021/06/cat-copy.png".to_owned(),
            cat.clone(),
        ),
        (
            "/wp-content/uploads/2021/06/guide.pdf".to_owned(),
            pdf("guide"),
        ),
    ]))
    .await;
    let up = format!("{origin}/wp-content/uploads/2021/06");
    let attachment = |id: u32, file: &str, alt: &str| {
        format!(
            r#"  <item>
    <title>{file}</title>
    <wp:post_id>{id}</wp:post_id>
    <wp:status>inherit</wp:status>
    <wp:post_type>attachment</wp:post_type>
    <wp:attachment_url><![CDATA[{up}/{file}]]></wp:attachment_url>
    <wp:postmeta><wp:meta_key><![CDATA[_wp_attached_file]]></wp:meta_key><wp:meta_value><![CDATA[2021/06/{file}]]></wp:meta_value></wp:postmeta>
    <wp:postmeta><wp:meta_key><![CDATA[_wp_attachment_image_alt]]></wp:meta_key><wp:meta_value><![CDATA[{alt}]]></wp:meta_value></wp:postmeta>
  </item>
"#
        )
    };
    let mut doc = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <wp:author><wp:author_id>1</wp:author_id><wp:author_login><![CDATA[admin]]></wp:author_login><wp:author_email><![CDATA[admin@example.com]]></wp:author_email></wp:author>
"#,
    );
    doc += &format!(
        r#"  <item>
    <title>With pictures</title>
    <dc:creator>admin</dc:creator>
    <content:encoded><![CDATA[<img src="{up}/cat.png" alt="Cat"> <a href="{up}/guide.pdf">Guide</a> <img src="{up}/gone.png"> <img src="{up}/cat-copy.png">]]></content:encoded>
    <wp:post_id>1</wp:post_id>
    <wp:post_name>with-pictures</wp:post_name>
    <wp:status>publish</wp:status>
    <wp:post_date_gmt>2021-06-01 10:00:00</wp:post_date_gmt>
    <wp:post_type>post</wp:post_type>
  </item>
"#
    );
    doc += &attachment(10, "cat.png", "A cat & a mat");
    doc += &attachment(11, "guide.pdf", "");
    doc += &attachment(12, "gone.png", "");
    doc += &attachment(13, "cat-copy.png", "");
    // An attachment without a URL cannot be fetched: counted as not imported.
    doc += "  <item><title>old</title><wp:post_type>attachment</wp:post_type></item>\n";
    doc += "</channel>\n</rss>\n";

    let scratch = Scratch::new("wxr_media");
    let input = scratch.path("site.xml");
    std::fs::write(&input, &doc).unwrap();
    let report = scratch.path("report.jsonl");
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let opts = ImportOptions {
        report: Some(report.clone()),
        ..ImportOptions::new(&input)
    };
    let outcome = import::run(&client, &opts).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.created, 1, "{s:?}");
    assert_eq!(
        (
            s.media.read,
            s.media.uploaded,
            s.media.already_there,
            s.media.failed,
            s.media.bodies_rewritten
        ),
        (4, 2, 1, 1, 1),
        "{s:?}"
    );
    assert_eq!(s.ignored.get("attachment"), Some(&1));
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.contains("attachment 12") && text.contains("404"),
        "{text}"
    );
    assert!(s.to_string().contains("1 failed"), "{s}");
    assert!(
        s.to_string()
            .contains("WordPress authors admin <admin@example.com> are attributed"),
        "{s}"
    );

    let media = all_media(&client).await;
    assert_eq!(media.len(), 2);
    let png_medium = media.iter().find(|m| m.filename == "cat.png").unwrap();
    assert_eq!(png_medium.alt_text.as_deref(), Some("A cat & a mat"));
    let pdf_medium = media.iter().find(|m| m.filename == "guide.pdf").unwrap();
    assert_eq!(pdf_medium.alt_text, None);
    assert_eq!(
        client.media().content(png_medium.id).await.unwrap().bytes,
        cat
    );
    let body = all_posts(&client).await[0].body.clone().unwrap();
    let base = &server.base_url;
    assert_eq!(
        body,
        format!(
            r#"<img src="{base}{cat}" alt="Cat"> <a href="{base}{pdf}">Guide</a> <img src="{up}/gone.png"> <img src="{base}{cat}">"#,
            cat = png_medium.public_url,
            pdf = pdf_medium.public_url
        )
    );
    // Anyone can load the rewritten links.
    let fetched = reqwest_get(&format!("{base}{}", png_medium.public_url)).await;
    assert_eq!(fetched, cat);

    // Again: nothing uploaded, nothing created.
    let again = import::run(&client, &opts).await.unwrap();
    let s = &again.summary;
    assert_eq!(
        (
            s.created,
            s.skipped_existing,
            s.media.uploaded,
            s.media.already_there
        ),
        (0, 1, 0, 3),
        "{s:?}"
    );
    assert_eq!(all_media(&client).await.len(), 2);

    // --no-attachments: nothing fetched, the attachments counted as not imported.
    let fresh = TestServer::start(|_| {}).await;
    let fc = fresh.client().await;
    let outcome = import::run(
        &fc,
        &ImportOptions {
            fetch_attachments: false,
            ..ImportOptions::new(&input)
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.summary.media.read, 0);
    assert_eq!(outcome.summary.ignored.get("attachment"), Some(&5));
    assert!(all_media(&fc).await.is_empty());
    server.stop().await;
    fresh.stop().await;
}

async fn reqwest_get(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.unwrap().to_vec()
}

/// #20: links to the copies WordPress made of an attachment (resized, `-scaled`, in
/// `srcset`) become links to the imported medium, the original; a file that only starts
/// like one is left alone.
#[tokio::test(flavor = "multi_thread")]
async fn wordpress_resized_copies_link_to_the_original() {
    let photo = png(6, b"photo");
    let banner = png(7, b"banner");
    let origin = serve(HashMap::from([
        ("/wp-content/uploads/2024/01/photo.png".to_owned(), photo),
        // A large upload: WordPress's attachment is the `-scaled` copy.
        (
            "/wp-content/uploads/2024/01/banner-scaled.png".to_owned(),
            banner,
        ),
    ]))
    .await;
    let up = format!("{origin}/wp-content/uploads/2024/01");
    let body = format!(
        r#"<img src="{up}/photo-1024x683.png" srcset="{up}/photo-300x200.png 300w, {up}/photo-1024x683.png 1024w, {up}/photo-scaled.png 2560w" sizes="(max-width: 1024px) 100vw">
<a href="{up}/photo.png"><img src="{up}/photo-150x150.png"></a>
<img src="{up}/banner-scaled-300x100.png"> <a href="{up}/banner.png">full</a>
<img src="{up}/photography.png"> <img src="{up}/photo-300x200.png.webp">"#
    );
    let attachment = |id: u32, file: &str| {
        format!(
            "<item><title>{file}</title><wp:post_id>{id}</wp:post_id><wp:status>inherit</wp:status>\
             <wp:post_type>attachment</wp:post_type>\
             <wp:attachment_url><![CDATA[{up}/{file}]]></wp:attachment_url></item>\n"
        )
    };
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
<item><title>Gallery</title><dc:creator>admin</dc:creator>
<content:encoded><![CDATA[{body}]]></content:encoded>
<wp:post_id>1</wp:post_id><wp:post_name>gallery</wp:post_name><wp:status>publish</wp:status>
<wp:post_date_gmt>2024-01-05 10:00:00</wp:post_date_gmt><wp:post_type>post</wp:post_type></item>
{}{}</channel>
</rss>
"#,
        attachment(10, "photo.png"),
        attachment(11, "banner-scaled.png")
    );
    let scratch = Scratch::new("wxr_resized");
    let input = scratch.path("site.xml");
    std::fs::write(&input, &doc).unwrap();
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let outcome = import::run(&client, &ImportOptions::new(&input))
        .await
        .unwrap();
    let s = &outcome.summary;
    assert_eq!(
        (s.created, s.media.uploaded, s.media.bodies_rewritten),
        (1, 2, 1),
        "{s:?}"
    );

    let media = all_media(&client).await;
    let url_of = |name: &str| {
        let m = media.iter().find(|m| m.filename == name).unwrap();
        format!("{}{}", server.base_url, m.public_url)
    };
    let (p, b) = (url_of("photo.png"), url_of("banner-scaled.png"));
    let want = format!(
        r#"<img src="{p}" srcset="{p} 300w, {p} 1024w, {p} 2560w" sizes="(max-width: 1024px) 100vw">
<a href="{p}"><img src="{p}"></a>
<img src="{b}"> <a href="{b}">full</a>
<img src="{up}/photography.png"> <img src="{up}/photo-300x200.png.webp">"#
    );
    assert_eq!(
        all_posts(&client).await[0].body.as_deref(),
        Some(want.as_str())
    );
    server.stop().await;
}

/// #20: the media bar counts every medium once it is settled (uploaded, found in the site,
/// or failed), as the posts bar counts posts.
#[tokio::test(flavor = "multi_thread")]
async fn the_media_bar_counts_each_medium() {
    let origin = serve(HashMap::from([
        ("/a.png".to_owned(), png(1, b"a")),
        ("/b.png".to_owned(), png(2, b"b")),
        ("/a-again.png".to_owned(), png(1, b"a")),
    ]))
    .await;
    let source = |name: &str| jekcms_cli::media::MediaSource {
        label: name.to_owned(),
        filename: name.to_owned(),
        alt_text: None,
        origin: jekcms_cli::media::Origin::Url(format!("{origin}/{name}")),
        old_urls: Vec::new(),
    };
    let sources = ["a.png", "b.png", "a-again.png", "missing.png"].map(source);
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    let bar = indicatif::ProgressBar::hidden();
    bar.set_length(sources.len() as u64);
    let brought = jekcms_cli::media::import(&client, sources.to_vec(), &bar)
        .await
        .unwrap();
    let s = &brought.summary;
    assert_eq!((s.uploaded, s.already_there, s.failed), (2, 1, 1), "{s:?}");
    assert_eq!(bar.position(), 4);
    server.stop().await;
}
