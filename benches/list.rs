//! The "bound": one list page straight through the store, no HTTP, so the HTTP figures can be
//! read against the raw query cost. Uses the seeded database in `JEKCMS_BENCH_DATABASE_URL`
//! (as `just bench` leaves it: site 1 with 100,000 posts); without it, seeds a temporary
//! SQLite database with 20,000 posts first.

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group};
use jekcms_content::PostRepository;
use jekcms_content::list::PostListQuery;
use jekcms_content::page::Window;
use jekcms_content::post::PostStatus;
use jekcms_store::{ImportPost, Store};

async fn open() -> (Store, i64) {
    if let Ok(url) = std::env::var("JEKCMS_BENCH_DATABASE_URL") {
        let store = Store::connect(&url, Default::default())
            .await
            .expect("connect");
        let site = store.ensure_site("default", "default").await.expect("site");
        return (store, site.id);
    }
    let dir = std::env::temp_dir().join(format!("jekcms_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = Store::connect(&url, Default::default())
        .await
        .expect("connect");
    let site = store.ensure_site("default", "default").await.expect("site");
    let user = store
        .ensure_user(
            site.id,
            "bench@example.com",
            "Bench",
            jekcms_auth::Role::Editor,
        )
        .await
        .expect("user");
    if store.count_posts(site.id).await.expect("count") == 0 {
        let start = Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("date");
        for chunk in 0..20 {
            let batch: Vec<ImportPost> = (0..1_000)
                .map(|i| {
                    let n = chunk * 1_000 + i;
                    let t = start + Duration::seconds(n * 37 % 20_000 * 60);
                    ImportPost {
                        title: format!("Bench post number {n}"),
                        slug: format!("bench-post-{n}"),
                        excerpt: None,
                        body: Some("lorem ipsum dolor sit amet ".repeat(50)),
                        status: PostStatus::Published,
                        tags: vec!["bench".into()],
                        published_at: Some(t),
                        created_at: t,
                        updated_at: t,
                    }
                })
                .collect();
            store
                .import_posts(site.id, user.id, &batch)
                .await
                .expect("import");
        }
    }
    (store, site.id)
}

/// The store, its site and the deep page's query, set up on first use: a run whose name
/// filter skips both benchmarks (as `just bench`'s run of the micro-benchmarks in this same
/// executable does) then costs nothing here.
struct Setup {
    rt: tokio::runtime::Runtime,
    store: Store,
    site: i64,
    query: PostListQuery,
    deep: Window,
}

fn setup() -> Setup {
    // One thread, like each of the server's workers: on a multi-threaded runtime every
    // PostgreSQL round trip woke the benchmark's thread from the I/O driver's thread, which
    // added 80–120 µs a page (measured here) that the server never pays.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, site) = rt.block_on(open());
    let total = rt.block_on(store.count_posts(site)).expect("count");
    // Walk to the last full page, as the HTTP scenario does.
    let query = PostListQuery::default();
    let deep = rt.block_on(async {
        let mut window = Window::first(100);
        let mut seen = 0u64;
        while seen + 120 <= total {
            let rows = store.list_posts(site, &query, &window).await.expect("page");
            let (items, next) = window.cut(rows.items, |p| query.sort.bound_after(p));
            seen += items.len() as u64;
            window.after = next;
        }
        window.limit = 20;
        window
    });
    Setup {
        rt,
        store,
        site,
        query,
        deep,
    }
}

fn bench(c: &mut Criterion) {
    let shared = std::sync::OnceLock::new();
    let first = Window::first(20);
    c.bench_function("store/list_first_page", |b| {
        let s: &Setup = shared.get_or_init(setup);
        b.to_async(&s.rt).iter(|| async {
            s.store
                .list_posts(s.site, &s.query, &first)
                .await
                .expect("page")
        })
    });
    c.bench_function("store/list_deep_page", |b| {
        let s: &Setup = shared.get_or_init(setup);
        b.to_async(&s.rt).iter(|| async {
            s.store
                .list_posts(s.site, &s.query, &s.deep)
                .await
                .expect("page")
        })
    });
}

criterion_group!(benches, bench);
