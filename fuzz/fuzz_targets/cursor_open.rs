//! The cursor codec: `open` on any string and binding never panics, and a cursor sealed from
//! any sort key opens to itself under the same binding and to nothing under another.
#![no_main]

use jekcms_cursor::{Cursor, CursorCodec, SortKey};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    /// A token as a client may send it back.
    Open { token: &'a str, binding: &'a [u8] },
    /// A cursor the server made, to exercise the payload encoding behind the seal.
    RoundTrip {
        key: Key,
        id: i64,
        binding: &'a [u8],
    },
}

#[derive(Debug, Arbitrary)]
enum Key {
    Null,
    Int(i64),
    Text(String),
}

fn codec() -> &'static CursorCodec {
    static CODEC: OnceLock<CursorCodec> = OnceLock::new();
    CODEC.get_or_init(|| CursorCodec::new(&[7; 32]))
}

fuzz_target!(|input: Input<'_>| {
    match input {
        Input::Open { token, binding } => {
            let _ = codec().open(token, binding);
        }
        Input::RoundTrip { key, id, binding } => {
            let key = match key {
                Key::Null => SortKey::Null,
                Key::Int(v) => SortKey::Int(v),
                Key::Text(s) => SortKey::Text(s),
            };
            let cursor = Cursor { key, id };
            let token = codec().seal(&cursor, binding);
            if token.len() <= jekcms_cursor::MAX_CURSOR_LEN {
                assert_eq!(codec().open(&token, binding).as_ref(), Ok(&cursor));
            }
            let mut other = binding.to_vec();
            other.push(0);
            assert!(codec().open(&token, &other).is_err());
        }
    }
});
