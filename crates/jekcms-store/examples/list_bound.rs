//! The in-process bound of a list request, for counting instructions: `N` first pages
//! (limit 20) of the seeded site straight through [`Store::list_posts`], no HTTP, no
//! authentication, on one current-thread runtime as each of the server's workers runs.
//!
//! `scripts/request-cost.sh` runs it under callgrind with `0` and with `N` pages and divides
//! the difference by `N`. Counting the whole process, not the list function's frames, is
//! what makes this work on PostgreSQL: tokio-postgres decodes the rows in the connection's
//! own task, outside `list_posts`, and the server pays that task too.
//!
//!     JEKCMS_DATABASE_URL=postgres://…/jekcms_bench cargo run --release -p jekcms-store \
//!         --example list_bound -- 1000

use jekcms_content::PostRepository;
use jekcms_content::list::PostListQuery;
use jekcms_content::page::Window;
use jekcms_store::{Store, StoreOptions};

fn main() {
    let pages: u64 = std::env::args()
        .nth(1)
        .map_or(1000, |a| a.parse().expect("N: a count of pages"));
    let url = std::env::var("JEKCMS_DATABASE_URL").expect("JEKCMS_DATABASE_URL: a seeded database");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Store::connect(&url, StoreOptions::default())
            .await
            .expect("connect");
        // A worker's own pool, as the server gives each worker (PostgreSQL; SQLite shares).
        let store = store.for_this_thread(1).expect("pool");
        let site = store.ensure_site("default", "default").await.expect("site");
        let query = PostListQuery::default();
        let first = Window::first(20);
        // Warm up both runs alike (connection opened, statements prepared, caches filled),
        // so the difference between them is the pages alone.
        for _ in 0..20 {
            store
                .list_posts(site.id, &query, &first)
                .await
                .expect("page");
        }
        let mut rows = 0usize;
        for _ in 0..pages {
            let page = store
                .list_posts(site.id, &query, &first)
                .await
                .expect("page");
            rows += page.items.len();
        }
        assert!(
            pages == 0 || rows > 0,
            "the site has no posts: seed it first"
        );
        println!("{pages} pages, {rows} rows");
    });
}
