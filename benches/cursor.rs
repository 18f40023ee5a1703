//! Cursor seal/open cost: paid once per list page.

use criterion::{Criterion, black_box, criterion_group};
use jekcms_cursor::{Cursor, CursorCodec, SortKey};

fn bench(c: &mut Criterion) {
    let codec = CursorCodec::new(&[9u8; 32]);
    let cursor = Cursor {
        key: SortKey::Int(1_790_000_000_123_456),
        id: 99_980,
    };
    let binding = b"sort=-created_at;status=published;tag=rust";
    let sealed = codec.seal(&cursor, binding);
    c.bench_function("cursor/seal", |b| {
        b.iter(|| codec.seal(black_box(&cursor), binding))
    });
    c.bench_function("cursor/open", |b| {
        b.iter(|| codec.open(black_box(&sealed), binding).unwrap())
    });
}

criterion_group!(benches, bench);
