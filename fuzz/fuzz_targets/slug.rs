//! Slug making: the server's slug from any title is valid, stays valid with a suffix, and
//! the CLI (which sends a slug with every imported post) makes the same one.
#![no_main]

use jekcms_content::slug;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// The CLI's slug rules, from its source file: the CLI crate itself would bring its HTTP
/// client into this build.
#[allow(dead_code, unreachable_pub)]
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
    let n = input.n.max(2);
    let suffixed = slug::with_suffix(&made, n);
    assert!(slug::is_valid(&suffixed), "{suffixed:?}");
    let cli = cli_slug::from_text(input.title).unwrap_or_else(|| "post".into());
    assert_eq!(
        cli, made,
        "the CLI and the server disagree on {:?}",
        input.title
    );
    let sent = cli_slug::for_post(input.source_slug, input.title);
    assert!(slug::is_valid(&sent), "the CLI would send {sent:?}");
    assert_eq!(cli_slug::is_valid(&sent), slug::is_valid(&sent));
    assert_eq!(cli_slug::is_valid(input.title), slug::is_valid(input.title));
});
