//! Access-token issue/verify and secret hashing: paid on every authenticated request.
#![allow(missing_docs)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
