//! Import → export round trips, and exports that resume.

use crate::support::{Scratch, TestServer, all_posts};
use jekcms_cli::{ExportOptions, ImportOptions, export, import};
use jekcms_client::Post;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `n` posts in JSON Lines with every field the API takes, in several shapes.
fn sample_jsonl(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let mut post = json!({
            "title": format!("Post {i}: “quotes”, émoji 🎉 & <tags>"),
            "slug": format!("post-{i}"),
            "body": format!("Line one of {i}\nLine two with \"quotes\" and \\ backslash\t✓"),
            "tags": if i % 3 == 0 { json!(["rust", format!("t{}", i % 7)]) } else { json!([]) },
        });
        match i % 4 {
            0 => {
                post["status"] = json!("published");
                post["published_at"] =
                    json!(format!("2024-03-{:02}T10:{:02}:05Z", 1 + i % 28, i % 60));
                post["excerpt"] = json!(format!("Excerpt {i}"));
            }
            1 => post["status"] = json!("draft"),
            2 => {
                post["status"] = json!("archived");
                post["published_at"] = json!("2023-12-31T23:59:59Z");
            }
            _ => {}
        }
        out.push_str(&post.to_string());
        out.push('\n');
    }
    out
}

/// The fields a post keeps through export and import (not the server's own).
fn content(v: &Value) -> Value {
    let keep = [
        "title",
        "slug",
        "excerpt",
        "body",
        "status",
        "tags",
        "published_at",
    ];
    Value::Object(
        keep.iter()
            .map(|k| ((*k).to_owned(), v.get(*k).cloned().unwrap_or(Value::Null)))
            .collect(),
    )
}

/// Posts keyed by slug.
fn by_slug(posts: impl IntoIterator<Item = Value>) -> BTreeMap<String, Value> {
    posts
        .into_iter()
        .map(|p| (p["slug"].as_str().unwrap().to_owned(), p))
        .collect()
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn import_then_export_is_lossless() {
    let scratch = Scratch::new("roundtrip");
    let input = scratch.path("in.jsonl");
    std::fs::write(&input, sample_jsonl(230)).unwrap();

    let first = TestServer::start(|_| {}).await;
    let client = first.client().await;
    let outcome = import::run(&client, &ImportOptions::new(&input))
        .await
        .unwrap();
    assert_eq!(outcome.summary.created, 230, "{:?}", outcome.failures);
    assert_eq!(outcome.summary.failed, 0);

    let out1 = scratch.path("out1.jsonl");
    let summary = export::run(
        &client,
        &ExportOptions {
            output: Some(out1.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((summary.exported, summary.next_cursor), (230, None));
    assert!(!export::checkpoint_path(&out1).exists());

    // Each line is the post exactly as the API has it, oldest first.
    let exported = lines(&out1);
    let posts = all_posts(&client).await;
    assert_eq!(exported.len(), posts.len());
    for (line, post) in exported.iter().zip(&posts) {
        let typed: Post = serde_json::from_value(line.clone()).unwrap();
        assert_eq!(&typed, post);
    }

    // The content of every post is the input's (by slug: with chunks in flight at once,
    // the posts of different chunks may be created in either order).
    let given: Vec<Value> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<Value> = given
        .iter()
        .map(|src| {
            let mut want = content(src);
            if want["status"].is_null() {
                want["status"] = json!("draft");
            }
            want
        })
        .collect();
    assert_eq!(by_slug(exported.iter().map(content)), by_slug(want));

    // Into a second, empty server, and out again: the same content, line for line.
    let second = TestServer::start(|_| {}).await;
    let client2 = second.client().await;
    let outcome = import::run(&client2, &ImportOptions::new(&out1))
        .await
        .unwrap();
    assert_eq!(outcome.summary.created, 230, "{:?}", outcome.failures);
    let out2 = scratch.path("out2.jsonl");
    export::run(
        &client2,
        &ExportOptions {
            output: Some(out2.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    let again = lines(&out2);
    assert_eq!(
        by_slug(exported.iter().map(content)),
        by_slug(again.iter().map(content))
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_export_resumes_without_loss_or_repeat() {
    let scratch = Scratch::new("resume");
    let input = scratch.path("in.jsonl");
    std::fs::write(&input, sample_jsonl(250)).unwrap();
    let server = TestServer::start(|_| {}).await;
    let client = server.client().await;
    import::run(&client, &ImportOptions::new(&input))
        .await
        .unwrap();

    let full = scratch.path("full.jsonl");
    export::run(
        &client,
        &ExportOptions {
            output: Some(full.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();

    // Stopped after one page: 100 lines and a sidecar with the next cursor.
    let part = scratch.path("part.jsonl");
    let opts = ExportOptions {
        output: Some(part.clone()),
        stop_after_pages: Some(1),
        ..ExportOptions::default()
    };
    let stopped = export::run(&client, &opts).await.unwrap();
    assert_eq!(stopped.exported, 100);
    let cursor = stopped
        .next_cursor
        .clone()
        .expect("a cursor to resume from");
    assert!(export::checkpoint_path(&part).exists());
    assert_eq!(lines(&part).len(), 100);

    // A kill in the middle of writing the next page leaves half a line behind.
    let mut bytes = std::fs::read(&part).unwrap();
    bytes.extend_from_slice(br#"{"id":999,"title":"half a li"#);
    std::fs::write(&part, bytes).unwrap();

    let resumed = export::run(
        &client,
        &ExportOptions {
            output: Some(part.clone()),
            resume: true,
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((resumed.exported, resumed.in_output), (150, 250));
    assert_eq!(std::fs::read(&part).unwrap(), std::fs::read(&full).unwrap());
    assert!(!export::checkpoint_path(&part).exists());

    // The printed cursor works too, e.g. appending to another file.
    let tail = scratch.path("tail.jsonl");
    let rest = export::run(
        &client,
        &ExportOptions {
            output: Some(tail.clone()),
            resume_from: Some(cursor),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rest.exported, 150);
    assert_eq!(lines(&tail), lines(&full)[100..].to_vec());

    // Filters go through: only the published posts (one in four).
    let published = scratch.path("published.jsonl");
    let mut opts = ExportOptions {
        output: Some(published.clone()),
        ..ExportOptions::default()
    };
    opts.filter = opts.filter.status(jekcms_client::PostStatus::Published);
    let summary = export::run(&client, &opts).await.unwrap();
    assert_eq!(summary.exported, 63);
    assert!(lines(&published).iter().all(|p| p["status"] == "published"));
    server.stop().await;
}

/// #20: `author_id` survives export → import when the authors are users of the site; an
/// author who is not is replaced by the importing user and reported, and a key that may
/// not read the users sends the ids as they are (the server refuses an unknown one).
#[tokio::test(flavor = "multi_thread")]
async fn authors_survive_a_round_trip() {
    use futures_util::TryStreamExt;
    let scratch = Scratch::new("authors");
    let server = TestServer::start(|_| {}).await;
    let (editor_key, editor_secret) = server.key_for("editor").await;
    server.key_for("author").await;
    let client = server.client().await;
    let users: Vec<jekcms_client::User> = client.users().try_collect().await.unwrap();
    let id_of = |email: &str| users.iter().find(|u| u.email == email).unwrap().id;
    let (owner, author) = (
        client.me().await.unwrap().user.id,
        id_of("author@example.com"),
    );

    let input = scratch.path("in.jsonl");
    let mut lines = String::new();
    for (slug, by) in [
        ("by-author", author),
        ("by-owner", owner),
        ("by-author-2", author),
    ] {
        lines += &format!(
            "{}\n",
            json!({"title": slug, "slug": slug, "author_id": by})
        );
    }
    std::fs::write(&input, lines).unwrap();
    let outcome = import::run(&client, &ImportOptions::new(&input))
        .await
        .unwrap();
    assert_eq!(outcome.summary.created, 3, "{:?}", outcome.failures);
    let authors = |posts: Vec<Post>| -> BTreeMap<String, i64> {
        posts.into_iter().map(|p| (p.slug, p.author_id)).collect()
    };
    let want = BTreeMap::from([
        ("by-author".to_owned(), author),
        ("by-author-2".to_owned(), author),
        ("by-owner".to_owned(), owner),
    ]);
    assert_eq!(authors(all_posts(&client).await), want);

    // Exported, deleted, imported again: the same authors.
    let exported = scratch.path("out.jsonl");
    export::run(
        &client,
        &ExportOptions {
            output: Some(exported.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    for post in all_posts(&client).await {
        client.posts().delete(post.id).await.unwrap();
    }
    let again = import::run(&client, &ImportOptions::new(&exported))
        .await
        .unwrap();
    assert_eq!((again.summary.created, again.summary.changed), (3, 0));
    assert_eq!(authors(all_posts(&client).await), want);

    // An author who is no user of this site: the importing user, reported.
    let stranger = scratch.path("stranger.jsonl");
    std::fs::write(
        &stranger,
        format!(
            "{}\n",
            json!({"title": "Lost", "slug": "lost", "author_id": 99_999})
        ),
    )
    .unwrap();
    let report = scratch.path("report.jsonl");
    let outcome = import::run(
        &client,
        &ImportOptions {
            report: Some(report.clone()),
            ..ImportOptions::new(&stranger)
        },
    )
    .await
    .unwrap();
    assert_eq!((outcome.summary.created, outcome.summary.changed), (1, 1));
    let posts = all_posts(&client).await;
    assert_eq!(
        posts.iter().find(|p| p.slug == "lost").unwrap().author_id,
        owner
    );
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.contains(r#""outcome":"changed""#) && text.contains("author_id 99999 is no user"),
        "{text}"
    );

    // An editor's key cannot read the users: the server refuses the unknown author.
    let editor = jekcms_client::Client::builder(&server.base_url, &editor_key, &editor_secret)
        .connect()
        .await
        .unwrap();
    std::fs::write(
        &stranger,
        format!(
            "{}\n",
            json!({"title": "Lost 2", "slug": "lost-2", "author_id": 99_999})
        ),
    )
    .unwrap();
    let outcome = import::run(&editor, &ImportOptions::new(&stranger))
        .await
        .unwrap();
    assert_eq!((outcome.summary.created, outcome.summary.failed), (0, 1));
    assert!(
        outcome.failures[0].errors[0]
            .message
            .contains("not a user of this site"),
        "{:?}",
        outcome.failures
    );
    server.stop().await;
}
