//! Cursor pagination: order, filters, sealing, and stability under concurrent writes.

use crate::helpers::{TestApp, both_stores};
use jekcms_auth::Role;
use serde_json::{Value, json};
use std::collections::HashSet;

/// Walks a list to its end; returns the ids in order and the number of pages.
async fn walk(app: &TestApp, token: &str, query: &str, limit: u32) -> (Vec<i64>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let mut path = format!("/api/v2/posts?{query}{sep}limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let v = app.get(&path, token).await.expect(200);
        pages += 1;
        assert_eq!(v["meta"]["limit"], limit);
        for p in v["data"].as_array().unwrap() {
            ids.push(p["id"].as_i64().unwrap());
        }
        assert_eq!(v["meta"]["has_more"], v["meta"]["next_cursor"].is_string());
        match v["meta"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 1000, "runaway walk");
    }
    (ids, pages)
}

/// Seeds posts with varied titles, times, statuses and tags; returns them as created.
async fn seed(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    let mut posts = Vec::new();
    for i in 0..n {
        let status = ["draft", "published", "archived"][i % 3];
        let mut body = json!({
            "title": format!("{} post {i:03}", ["alpha", "Beta", "gamma", "Delta"][i % 4]),
            "status": status,
            "tags": if i % 2 == 0 { json!(["even"]) } else { json!(["odd", "x"]) },
        });
        if i % 5 == 0 {
            // Same publication time on several posts: ties must break by id.
            body["published_at"] = json!("2026-01-01T00:00:00Z");
        }
        posts.push(app.create_post(token, body).await);
    }
    posts
}

fn sorted_ids(
    posts: &[Value],
    key: impl Fn(&Value) -> (Option<String>, i64),
    desc: bool,
) -> Vec<i64> {
    let mut with_key: Vec<(Option<String>, i64)> = posts.iter().map(&key).collect();
    with_key.sort_by(|a, b| {
        // Rows without a key come last in both directions.
        match (&a.0, &b.0) {
            (None, None) => {
                if desc {
                    b.1.cmp(&a.1)
                } else {
                    a.1.cmp(&b.1)
                }
            }
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => {
                let o = x.cmp(y).then(a.1.cmp(&b.1));
                if desc { o.reverse() } else { o }
            }
        }
    });
    with_key.into_iter().map(|(_, id)| id).collect()
}

both_stores! {
    async fn every_sort_walks_in_order_with_every_row_once(app) {
        let t = app.owner().await;
        let posts = seed(&app, &t.access, 23).await;
        let id = |p: &Value| p["id"].as_i64().unwrap();
        let time = |field: &'static str| move |p: &Value| {
            (p[field].as_str().map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()).map(|m| format!("{m:020}")), p["id"].as_i64().unwrap())
        };
        let title = |p: &Value| (Some(p["title"].as_str().unwrap().to_lowercase()), id(p));
        let cases: Vec<(&str, Vec<i64>)> = vec![
            ("sort=-created_at", sorted_ids(&posts, time("created_at"), true)),
            ("sort=created_at", sorted_ids(&posts, time("created_at"), false)),
            ("sort=-updated_at", sorted_ids(&posts, time("updated_at"), true)),
            ("sort=updated_at", sorted_ids(&posts, time("updated_at"), false)),
            ("sort=-published_at", sorted_ids(&posts, time("published_at"), true)),
            ("sort=published_at", sorted_ids(&posts, time("published_at"), false)),
            ("sort=title", sorted_ids(&posts, title, false)),
            ("sort=-title", sorted_ids(&posts, title, true)),
            ("", sorted_ids(&posts, time("created_at"), true)),
        ];
        for (query, expected) in cases {
            for limit in [1, 4, 100] {
                let (ids, pages) = walk(&app, &t.access, query, limit).await;
                assert_eq!(ids, expected, "{query} limit={limit}");
                assert_eq!(pages, (23usize).div_ceil(limit as usize).max(1), "{query} limit={limit}");
            }
        }
    }

    async fn filters_select_and_total_counts(app) {
        let t = app.owner().await;
        let author = app.login("default", "writer@example.com", Role::Author).await;
        let posts = seed(&app, &t.access, 12).await;
        app.create_post(&author.access, json!({"title": "100% _literal_ Match", "tags": ["even"]})).await;
        let count = |pred: &dyn Fn(&Value) -> bool| posts.iter().filter(|p| pred(p)).count();
        let check = |query: String, expected: usize| {
            let app = &app;
            let token = t.access.clone();
            async move {
                let v = app.get(&format!("/api/v2/posts?{query}&include=total&limit=100"), &token).await.expect(200);
                assert_eq!(v["data"].as_array().unwrap().len(), expected, "{query}");
                assert_eq!(v["meta"]["total"], expected, "{query}");
                v
            }
        };
        check("status=published".to_owned(), count(&|p| p["status"] == "published")).await;
        check("tag=odd".to_owned(), count(&|p| p["tags"].as_array().unwrap().contains(&json!("odd")))).await;
        check("tag=even".to_owned(), count(&|p| p["tags"].as_array().unwrap().contains(&json!("even"))) + 1).await;
        check("tag=nope".to_owned(), 0).await;
        let v = check(format!("author_id={}", author.user_id), 1).await;
        assert_eq!(v["data"][0]["author_id"], author.user_id);
        check("q=BETA".to_owned(), count(&|p| p["title"].as_str().unwrap().to_lowercase().contains("beta"))).await;
        check("q=100%25%20_lit".to_owned(), 1).await;
        check("q=%25".to_owned(), 1).await;
        check("q=_".to_owned(), 1).await;
        check("status=draft&tag=even".to_owned(), count(&|p| p["status"] == "draft" && p["tags"].as_array().unwrap().contains(&json!("even"))) + 1).await;
        check("updated_since=2000-01-01T00:00:00Z".to_owned(), 13).await;
        check("updated_since=2999-01-01T00:00:00Z".to_owned(), 0).await;
        // A filtered walk in small pages sees exactly the filtered rows.
        let (ids, _) = walk(&app, &t.access, "tag=odd&sort=title", 2).await;
        assert_eq!(ids.len(), count(&|p| p["tags"].as_array().unwrap().contains(&json!("odd"))));
    }

    async fn bad_list_parameters_are_422_naming_them(app) {
        let t = app.owner().await;
        for (query, field) in [
            ("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
            ("sort=id", "sort"), ("status=gone", "status"), ("author_id=x", "author_id"),
            ("updated_since=yesterday", "updated_since"), ("include=all", "include"),
            ("colour=red", "colour"), ("cursor=not-a-cursor", "cursor"), ("cursor=", "cursor"),
        ] {
            let r = app.get(&format!("/api/v2/posts?{query}"), &t.access).await;
            r.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(r.field(), field, "{query}");
        }
    }

    // A post's tags are rows of their own (what `?tag=` reads): a change replaces them in
    // the write's transaction, and a change of the title alone leaves them.
    async fn a_changed_post_is_found_by_its_new_tags_only(app) {
        let t = app.owner().await;
        let id = app.create_post(&t.access, json!({"title": "Retagged", "tags": ["old", "kept"]})).await["id"].as_i64().unwrap();
        let found = |query: &'static str| {
            let app = &app;
            let token = t.access.clone();
            async move {
                let v = app.get(&format!("/api/v2/posts?{query}"), &token).await.expect(200);
                v["data"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect::<Vec<_>>()
            }
        };
        assert_eq!(found("tag=old").await, [id]);
        app.patch(&format!("/api/v2/posts/{id}"), &t.access, json!({"tags": ["kept", "new"]})).await.expect(200);
        assert_eq!(found("tag=old").await, Vec::<i64>::new());
        assert_eq!(found("tag=new").await, [id]);
        assert_eq!(found("tag=kept").await, [id]);
        app.patch(&format!("/api/v2/posts/{id}"), &t.access, json!({"title": "Retitled"})).await.expect(200);
        assert_eq!(found("tag=new").await, [id]);
        assert_eq!(found("tag=kept").await, [id]);
    }

    // #16 item 7: what a website's front end looks up — a post by slug, posts with any of
    // several tags — with cursors sealed to the tag set (in any order) and the slug.
    async fn lookups_by_slug_and_by_any_of_several_tags(app) {
        let t = app.owner().await;
        let mut ids = Vec::new();
        for (title, tags) in [("Alpha", vec!["rust"]), ("Beta", vec!["go"]), ("Gamma", vec!["rust", "go"]), ("Delta", vec!["zig"]), ("Epsilon", vec![])] {
            ids.push(app.create_post(&t.access, json!({"title": title, "tags": tags})).await["id"].as_i64().unwrap());
        }
        let v = app.get("/api/v2/posts?slug=gamma", &t.access).await.expect(200);
        let found: Vec<i64> = v["data"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
        assert_eq!(found, [ids[2]]);
        let none = app.get("/api/v2/posts?slug=no-such-post", &t.access).await.expect(200);
        assert_eq!(none["data"], json!([]));
        for bad in ["Gamma", "a--b", ""] {
            let r = app.get(&format!("/api/v2/posts?slug={bad}"), &t.access).await;
            r.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(r.field(), "slug");
        }

        let (any, _) = walk(&app, &t.access, "tag=rust&tag=go&sort=created_at", 1).await;
        assert_eq!(any, [ids[0], ids[1], ids[2]], "any of the tags, each post once");
        let (one, _) = walk(&app, &t.access, "tag=zig", 10).await;
        assert_eq!(one, [ids[3]]);
        let total = app.get("/api/v2/posts?tag=go&tag=rust&tag=rust&include=total", &t.access).await.expect(200);
        assert_eq!(total["meta"]["total"], 3);

        // The cursor belongs to the set of tags, whatever their order, and to the slug.
        let first = app.get("/api/v2/posts?tag=rust&tag=go&limit=1", &t.access).await.expect(200);
        let cursor = first["meta"]["next_cursor"].as_str().unwrap().to_owned();
        app.get(&format!("/api/v2/posts?tag=go&tag=rust&limit=1&cursor={cursor}"), &t.access).await.expect(200);
        for other in ["tag=rust", "tag=rust&tag=go&tag=zig", "tag=rust&tag=go&slug=alpha"] {
            let r = app.get(&format!("/api/v2/posts?{other}&cursor={cursor}"), &t.access).await;
            r.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(r.field(), "cursor");
        }
        let many: String = (0..21).map(|i| format!("tag=t{i}&")).collect();
        let r = app.get(&format!("/api/v2/posts?{many}limit=1"), &t.access).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "tag");
        // Other parameters are still refused when repeated.
        let r = app.get("/api/v2/posts?slug=alpha&slug=beta", &t.access).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "slug");
    }

    async fn cursors_are_sealed_to_query_and_site(app) {
        let t = app.owner().await;
        seed(&app, &t.access, 5).await;
        let first = app.get("/api/v2/posts?limit=2", &t.access).await.expect(200);
        let cursor = first["meta"]["next_cursor"].as_str().unwrap().to_owned();
        // Same query, other limit: accepted.
        app.get(&format!("/api/v2/posts?limit=3&cursor={cursor}"), &t.access).await.expect(200);
        // Other sort or filter: refused.
        for other in ["sort=created_at", "status=draft", "tag=even", "q=a"] {
            let r = app.get(&format!("/api/v2/posts?{other}&cursor={cursor}"), &t.access).await;
            r.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(r.field(), "cursor");
        }
        // Changed or cut: refused.
        let mut flipped = cursor.clone().into_bytes();
        flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [flipped, cursor[..cursor.len() - 3].to_owned()] {
            app.get(&format!("/api/v2/posts?cursor={bad}"), &t.access).await.expect_error(422, "VALIDATION_FAILED");
        }
        // Another site's caller cannot use it.
        let other = app.login("elsewhere", "e@example.com", Role::Owner).await;
        let r = app.get(&format!("/api/v2/posts?limit=2&cursor={cursor}"), &other.access).await;
        r.expect_error(422, "VALIDATION_FAILED");
    }

    async fn walks_are_stable_while_others_insert_and_delete(app) {
        let t = app.owner().await;
        let initial = seed(&app, &t.access, 30).await;
        let initial_ids: Vec<i64> = initial.iter().map(|p| p["id"].as_i64().unwrap()).collect();
        // Rows deleted during the walk: every third one.
        let doomed: HashSet<i64> = initial_ids.iter().copied().filter(|id| id % 3 == 0).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut step = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v2/posts?limit=4&cursor={c}"),
                None => "/api/v2/posts?limit=4".to_owned(),
            };
            // Concurrently with fetching the page: an insert and (for a while) a delete.
            let page = app.get(&path, &t.access);
            let insert = app.post("/api/v2/posts", &t.access, json!({"title": format!("inserted {step}")}));
            let victim = doomed.iter().copied().nth(step);
            let delete = async {
                if let Some(id) = victim {
                    app.delete(&format!("/api/v2/posts/{id}"), &t.access).await.expect(200);
                }
            };
            let (page, inserted, ()) = tokio::join!(page, insert, delete);
            inserted.expect(201);
            let v = page.expect(200);
            for p in v["data"].as_array().unwrap() {
                seen.push(p["id"].as_i64().unwrap());
            }
            step += 1;
            match v["meta"]["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        // No duplicates, strictly in order (newest first: ids grow with creation time).
        let unique: HashSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "out of order: {seen:?}");
        // Every row that existed for the whole walk was seen.
        for id in initial_ids.iter().filter(|id| !doomed.contains(id)) {
            assert!(unique.contains(id), "missed {id}");
        }
    }
}

both_stores! {
    async fn a_seeded_site_walks_completely_in_every_direction(app) {
        let n = jekcms_server::seed::seed(&app.state.store, "default", 1_234).await.unwrap();
        assert_eq!(n, 1_234);
        // Seeding twice is refused: figures are always taken on the same dataset.
        assert!(jekcms_server::seed::seed(&app.state.store, "default", 1).await.is_err());
        let t = app.owner().await;
        for sort in ["-created_at", "published_at", "-title"] {
            let (ids, pages) = walk(&app, &t.access, &format!("sort={sort}"), 100).await;
            assert_eq!(ids.len(), 1_234, "{sort}");
            assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1_234, "{sort}");
            assert_eq!(pages, 13);
        }
        let v = app.get("/api/v2/posts?tag=tag-07&include=total&limit=100", &t.access).await.expect(200);
        let total = v["meta"]["total"].as_u64().unwrap();
        assert!(total > 0 && total < 1_234);
        let (tagged, _) = walk(&app, &t.access, "tag=tag-07", 7).await;
        assert_eq!(tagged.len() as u64, total);
    }
}

/// The first page's `next_cursor` of `path` (which must have more than one page).
async fn a_cursor_of(app: &TestApp, token: &str, path: &str) -> String {
    let v = app.get(path, token).await.expect(200);
    v["meta"]["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned()
}

both_stores! {
    async fn every_list_reads_its_page_request_the_same_way(app) {
        let t = app.owner().await;
        seed(&app, &t.access, 3).await;
        for i in 0..3 {
            app.call(crate::media::multipart(&t.access, &[("file", Some("a.png"), crate::media::PNG)])).await.expect(201);
            app.post("/api/v2/api-keys", &t.access, json!({"name": "k"})).await.expect(201);
            app.add_user(&t.access, &format!("u{i}@example.com"), "viewer", None).await;
        }
        let lists = ["/api/v2/posts", "/api/v2/media", "/api/v2/users", "/api/v2/api-keys"];
        let mut cursors = Vec::new();
        for list in lists {
            // A repeated or unknown parameter, or a bad limit: 422 naming it, on every list.
            for (query, field) in [
                ("limit=2&limit=3", "limit"), ("limit=2&cursor=x&cursor=x", "cursor"),
                ("colour=red", "colour"), ("limit=0", "limit"), ("limit=101", "limit"),
                ("cursor=", "cursor"), ("cursor=not-a-cursor", "cursor"),
            ] {
                let r = app.get(&format!("{list}?{query}"), &t.access).await;
                r.expect_error(422, "VALIDATION_FAILED");
                assert_eq!(r.field(), field, "{list}?{query}");
            }
            // The same page size bounds and default everywhere.
            let v = app.get(&format!("{list}?limit=100"), &t.access).await.expect(200);
            assert_eq!(v["meta"]["limit"], 100, "{list}");
            assert_eq!(v["meta"]["next_cursor"], Value::Null, "{list}");
            assert_eq!(v["meta"]["has_more"], false, "{list}");
            let v = app.get(list, &t.access).await.expect(200);
            assert_eq!(v["meta"]["limit"], 20, "{list}");
            let cursor = a_cursor_of(&app, &t.access, &format!("{list}?limit=1")).await;
            let next = app.get(&format!("{list}?limit=1&cursor={cursor}"), &t.access).await.expect(200);
            assert_eq!(next["meta"]["limit"], 1, "{list}");
            cursors.push((list, cursor));
        }
        // A cursor of one list is refused by every other.
        for (made_by, cursor) in &cursors {
            for list in lists.iter().filter(|l| *l != made_by) {
                let r = app.get(&format!("{list}?cursor={cursor}"), &t.access).await;
                r.expect_error(422, "VALIDATION_FAILED");
                assert_eq!(r.field(), "cursor", "{made_by}'s cursor on {list}");
            }
        }
        // And by the same list of another site.
        let other = app.login("elsewhere", "e@example.com", Role::Owner).await;
        for (list, cursor) in &cursors {
            let r = app.get(&format!("{list}?cursor={cursor}"), &other.access).await;
            assert_eq!(r.expect_error(422, "VALIDATION_FAILED")["errors"][0]["field"], "cursor", "{list}");
        }
    }
}
