//! Access-token issue/verify and secret hashing: paid on every authenticated request; and
//! the Argon2id password check that dominates a login.

use criterion::{Criterion, black_box, criterion_group};
use jekcms_auth::{AccessTokens, CredentialFamily, SecretHash};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let tokens = AccessTokens::new(&[5u8; 32], Duration::from_secs(900));
    let token = tokens.issue(123, 456, 7);
    c.bench_function("token/issue", |b| b.iter(|| tokens.issue(123, 456, 7)));
    c.bench_function("token/verify", |b| {
        b.iter(|| tokens.verify(black_box(&token)).unwrap())
    });
    let secret = CredentialFamily::ApiSecret.generate();
    let hash = SecretHash::of(&secret);
    c.bench_function("secret/hash_and_compare", |b| {
        b.iter(|| hash.matches(black_box(&secret)))
    });
    c.bench_function("secret/generate", |b| {
        b.iter(|| CredentialFamily::Refresh.generate())
    });
    let phc = jekcms_auth::password::hash("a password for the benchmark");
    let mut slow = c.benchmark_group("password");
    slow.sample_size(10);
    slow.bench_function("verify_argon2id", |b| {
        b.iter(|| jekcms_auth::password::verify(black_box("a password for the benchmark"), &phc))
    });
    slow.bench_function("verify_nothing_argon2id", |b| {
        b.iter(|| jekcms_auth::password::verify_nothing(black_box("an unknown user's guess")))
    });
    slow.finish();
}

criterion_group!(benches, bench);
