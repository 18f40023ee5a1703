//! The progress bar: indicatif on stderr, drawn only when stderr is a terminal and the
//! user did not ask for quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The look of a bar with a known length, or of a counter when it is unknown.
pub(crate) fn style(known_length: bool, unit: &str) -> ProgressStyle {
    let template = if known_length {
        format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}})"
        )
    } else {
        format!("{{elapsed_precise}} {{pos}} {unit} ({{per_sec}})")
    };
    ProgressStyle::with_template(&template)
        .expect("the template is valid")
        .progress_chars("=> ")
}

/// A bar of `len` steps (a counter when the length is unknown). `show = false` hides it;
/// indicatif also hides it by itself when stderr is not a terminal.
pub(crate) fn bar(len: Option<u64>, show: bool, unit: &str) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    ProgressBar::with_draw_target(len, target).with_style(style(len.is_some(), unit))
}
