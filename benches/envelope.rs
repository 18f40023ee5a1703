//! Envelope serialisation cost for a typical list page.

use criterion::{Criterion, black_box, criterion_group};
use jekcms_envelope::{Envelope, Meta, PageMeta};
use serde::Serialize;

#[derive(Serialize)]
struct Post {
    id: i64,
    title: String,
    slug: String,
    body: String,
    tags: Vec<String>,
    created_at: &'static str,
}

fn bench(c: &mut Criterion) {
    let posts: Vec<Post> = (0..20)
        .map(|i| Post {
            id: i,
            title: format!("A reasonably long post title number {i}"),
            slug: format!("a-reasonably-long-post-title-number-{i}"),
            body: "lorem ipsum dolor sit amet ".repeat(50),
            tags: vec!["rust".into(), "web".into()],
            created_at: "2026-11-23T10:00:00.123456Z",
        })
        .collect();
    let meta = Meta::new("0123456789abcdef").with_page(PageMeta {
        next_cursor: Some("x".repeat(60)),
        has_more: true,
        limit: 20,
        total: None,
    });
    let env = Envelope::ok(&posts, meta);
    c.bench_function("envelope/serialize_list_20", |b| {
        b.iter(|| serde_json::to_vec(black_box(&env)).unwrap())
    });
}

criterion_group!(benches, bench);
