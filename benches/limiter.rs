//! Cost of one quota check: paid on every authenticated request.

use criterion::{Criterion, black_box, criterion_group};
use jekcms_ratelimit::{Limiter, Quota};

fn bench(c: &mut Criterion) {
    let big = Quota::parse("1000000000/s").unwrap();
    let limiter = Limiter::new(big, big, big);
    let mut user = 0i64;
    c.bench_function("ratelimit/check_user_10k_keys", |b| {
        b.iter(|| {
            user = (user + 1) % 10_000;
            black_box(limiter.check_user(black_box(user), false))
        })
    });
    let d = limiter.check_user(1, false);
    c.bench_function("ratelimit/headers", |b| {
        b.iter(|| black_box(d.headers(1_800_000_000)))
    });
}

criterion_group!(benches, bench);
