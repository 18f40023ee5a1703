//! Every criterion benchmark of the workspace, in one executable; `just bench` selects them
//! by name (`token/`, `cursor/`, `envelope/`, `ratelimit/`, `store/`, …).
#![allow(missing_docs)]

mod cursor;
mod envelope;
mod limiter;
mod list;
mod tokens;

criterion::criterion_main!(
    cursor::benches,
    envelope::benches,
    limiter::benches,
    list::benches,
    tokens::benches
);
