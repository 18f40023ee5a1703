//! What the tests that run the real `jekcms` binary share.

use std::io::{BufRead, BufReader};
use std::process::Child;

/// Reads the first line a started `jekcms serve` prints (`listening on http://ADDR`) from
/// its piped stdout; returns `ADDR`.
pub(crate) fn listening_address(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}
