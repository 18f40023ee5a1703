#![allow(missing_docs)]
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
#[derive(QueryableByName)]
struct R { #[diesel(sql_type = BigInt)] id: i64 }
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut c = SqliteConnection::establish(&path).unwrap();
    {
        use jekcms_store::schema::posts::dsl as p;
        for limit in [21i64, 21] {
            let t = std::time::Instant::now();
            for _ in 0..5000 {
                let rows: Vec<i64> = p::posts.filter(p::site_id.eq(1i64)).order((p::created_at.desc(), p::id.desc())).limit(limit).select(p::id).load(&mut c).unwrap();
                assert_eq!(rows.len(), 21);
            }
            println!("dsl cached, bound limit: {:.1} µs/query", t.elapsed().as_micros() as f64 / 5000.0);
        }
        let t = std::time::Instant::now();
        for _ in 0..5000 {
            let rows: Vec<i64> = p::posts.filter(p::site_id.eq(1i64)).order((p::created_at.desc(), p::id.desc())).select(p::id).load_iter::<i64, diesel::connection::DefaultLoadingMode>(&mut c).unwrap().take(21).map(|r| r.unwrap()).collect();
            assert_eq!(rows.len(), 21);
        }
        println!("dsl cached, no limit, iterator take 21: {:.1} µs/query", t.elapsed().as_micros() as f64 / 5000.0);
    }
    for (name, sql) in [
        ("bound limit", "SELECT id FROM posts WHERE site_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"),
        ("literal limit", "SELECT id FROM posts WHERE site_id = ? ORDER BY created_at DESC, id DESC LIMIT 21"),
    ] {
        let t = std::time::Instant::now();
        for _ in 0..5000 {
            let q = diesel::sql_query(sql).bind::<BigInt, _>(1i64);
            let rows: Vec<R> = if sql.ends_with('?') { q.bind::<BigInt, _>(21i64).load(&mut c).unwrap() } else { q.load(&mut c).unwrap() };
            assert_eq!(rows.len(), 21);
            let _ = rows[0].id;
        }
        println!("{name}: {:.1} µs/query", t.elapsed().as_micros() as f64 / 5000.0);
    }
}
