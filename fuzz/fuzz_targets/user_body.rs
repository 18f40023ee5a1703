//! User and account bodies: registration, login, user create and patch, and key create
//! parse any JSON into a value or field errors, never a panic.
#![no_main]

use jekcms_accounts::model::{KeyRequest, Login, Registration, UserPatch, UserRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = Registration::parse(&value);
    let _ = Login::parse(&value);
    let _ = UserRequest::parse(&value);
    let _ = UserPatch::parse(&value);
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time");
    let _ = KeyRequest::parse(&value, now);
});
