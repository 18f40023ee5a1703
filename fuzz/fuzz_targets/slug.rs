//! Slug making: the slug made from any title is valid and stays valid with a suffix, and
//! the slug the CLI sends with an imported post (its own choice among the source's slug, the
//! title and a hash, over the shared `jekcms-slug` rules) is one the server accepts.
#![no_main]

use jekcms_content::slug;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// The CLI's slug choice, from its source file: the CLI crate itself would bring its HTTP
/// client into this build.
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../../apps/jekcms-cli/src/slug.rs"]
mod cli_slug;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    title: &'a str,
    source_slug: Option<&'a str>,
    n: u32,
}

fuzz_target!(|input: Input<'_>| {
    let made = slug::from_title(input.title);
    assert!(slug::is_valid(&made), "{made:?} from {:?}", input.title);
    assert_eq!(
        slug::from_text(input.title).unwrap_or_else(|| "post".into()),
        made
    );
    let n = input.n.max(2);
    let suffixed = slug::with_suffix(&made, n);
    assert!(slug::is_valid(&suffixed), "{suffixed:?}");
    let sent = cli_slug::for_post(input.source_slug, input.title);
    assert!(slug::is_valid(&sent), "the CLI would send {sent:?}");
});
