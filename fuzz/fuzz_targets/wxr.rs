//! The WordPress export reader: any bytes are read into posts or refused with an error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The CLI's WXR reader, from its source file: the CLI crate itself would bring its HTTP
/// client into this build.
#[allow(dead_code, unreachable_pub)]
#[path = "../../apps/jekcms-cli/src/wxr.rs"]
mod wxr;

fuzz_target!(|data: &[u8]| {
    let _ = wxr::read(data);
});
