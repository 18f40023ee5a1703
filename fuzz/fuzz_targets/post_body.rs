//! Post bodies: any JSON a client sends to create or patch a post (or as one item of a bulk
//! request) is parsed or refused field by field, never panics; what is accepted is valid.
#![no_main]

use jekcms_content::post::{parse_new, parse_patch};
use jekcms_content::slug;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match parse_new(value.clone(), "posts[0].") {
        Ok(new) => {
            assert!(!new.title.trim().is_empty());
            if let Some(s) = &new.slug {
                assert!(slug::is_valid(s), "{s:?}");
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            assert!(
                errors.iter().all(|e| e.field.starts_with("posts[0]")),
                "{errors:?}"
            );
        }
    }
    match parse_patch(value) {
        Ok(patch) => {
            if let Some(s) = &patch.slug {
                assert!(slug::is_valid(s), "{s:?}");
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
