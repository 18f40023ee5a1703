//! Fault injection through the app (issue #22): slug allocation under contention.

use crate::helpers::{TestApp, both_stores};
use serde_json::json;
use std::collections::HashSet;

/// Every slug in the site, through the list endpoint.
async fn all_slugs(app: &TestApp, token: &str) -> Vec<String> {
    let mut slugs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v2/posts?limit=100".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let v = app.get(&path, token).await.expect(200);
        for p in v["data"].as_array().unwrap() {
            slugs.push(p["slug"].as_str().unwrap().to_owned());
        }
        match v["meta"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return slugs,
        }
    }
}

fn distinct(slugs: &[String]) -> usize {
    slugs.iter().collect::<HashSet<_>>().len()
}

both_stores! {
    async fn concurrent_bulk_imports_of_one_title_all_succeed(app) {
        let t = app.owner().await;
        let batch = json!({"posts": vec![json!({"title": "Colliding Title"}); 20]});
        let calls = (0..8).map(|_| app.post("/api/v2/bulk/posts", &t.access, batch.clone()));
        let results = futures_util::future::join_all(calls).await;
        for r in &results {
            let v = r.expect(200);
            assert_eq!((v["data"]["created"].as_i64(), v["data"]["failed"].as_i64()), (Some(20), Some(0)), "{v}");
        }
        let slugs = all_slugs(&app, &t.access).await;
        assert_eq!((slugs.len(), distinct(&slugs)), (160, 160));
        assert!(slugs.iter().all(|s| s.starts_with("colliding-title")), "{slugs:?}");
    }

    async fn concurrent_creates_of_one_title_all_succeed(app) {
        let t = app.owner().await;
        let calls = (0..40).map(|_| app.post("/api/v2/posts", &t.access, json!({"title": "Same Headline"})));
        let results = futures_util::future::join_all(calls).await;
        let slugs: Vec<String> = results
            .iter()
            .map(|r| r.expect(201)["data"]["slug"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(distinct(&slugs), 40);
    }

    async fn a_taken_slug_in_concurrent_bulks_is_only_that_items_409(app) {
        let t = app.owner().await;
        let batch = json!({"posts": [
            {"title": "Wanted slug", "slug": "wanted"},
            {"title": "Generated neighbour"},
            {"title": "Generated neighbour"},
        ]});
        let calls = (0..6).map(|_| app.post("/api/v2/bulk/posts", &t.access, batch.clone()));
        let results = futures_util::future::join_all(calls).await;
        let mut winners = 0;
        for r in &results {
            let v = r.expect(200);
            let items = v["data"]["results"].as_array().unwrap();
            if items[0]["id"].is_i64() {
                winners += 1;
            } else {
                assert_eq!(items[0]["errors"][0]["code"], "CONFLICT", "{v}");
                assert_eq!(items[0]["errors"][0]["field"], "posts[0].slug", "{v}");
            }
            assert!(items[1]["id"].is_i64() && items[2]["id"].is_i64(), "{v}");
        }
        assert_eq!(winners, 1);
        let slugs = all_slugs(&app, &t.access).await;
        assert_eq!((slugs.len(), distinct(&slugs)), (13, 13));
    }
}
