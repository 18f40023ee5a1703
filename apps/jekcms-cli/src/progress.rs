//! The progress bar: indicatif on stderr, drawn only when stderr is a terminal and the
//! user did not ask for quiet. Rates are whole numbers; while the client waits out a rate
//! limit, the bar says so rather than seeming stuck.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Shared between the client (which reports each wait for a `429`'s `Retry-After`) and the
/// bar (which shows it): when the current wait ends.
#[derive(Debug, Clone, Default)]
pub struct RateLimitWait(Arc<AtomicU64>);

impl RateLimitWait {
    /// The client is about to wait `wait`.
    pub fn started(&self, wait: Duration) {
        let until = now_ms().saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        self.0.store(until, Ordering::Relaxed);
    }

    /// How much of the current wait is left, if the client is waiting.
    pub fn remaining(&self) -> Option<Duration> {
        let until = self.0.load(Ordering::Relaxed);
        let now = now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The look of a bar with a known length, or of a counter when it is unknown.
pub(crate) fn style(known_length: bool, unit: &str, wait: &RateLimitWait) -> ProgressStyle {
    let template = if known_length {
        format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{rate}}, ETA {{eta}}){{wait}}"
        )
    } else {
        format!("{{elapsed_precise}} {{pos}} {unit} ({{rate}}){{wait}}")
    };
    let wait = wait.clone();
    ProgressStyle::with_template(&template)
        .expect("the template is valid")
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .with_key(
            "wait",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                if let Some(left) = wait.remaining() {
                    let _ = write!(
                        w,
                        " — rate limited, waiting {} s",
                        left.as_secs() + u64::from(left.subsec_millis() > 0)
                    );
                }
            },
        )
        .progress_chars("=> ")
}

/// A bar of `len` steps (a counter when the length is unknown). `show = false` hides it;
/// indicatif also hides it by itself when stderr is not a terminal.
pub(crate) fn bar(len: Option<u64>, show: bool, unit: &str, wait: &RateLimitWait) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar =
        ProgressBar::with_draw_target(len, target).with_style(style(len.is_some(), unit, wait));
    if show {
        // Redrawn while nothing moves, so that a wait is seen counting down.
        bar.enable_steady_tick(Duration::from_millis(500));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_shown_while_it_lasts() {
        let wait = RateLimitWait::default();
        assert_eq!(wait.remaining(), None);
        wait.started(Duration::from_secs(30));
        let left = wait.remaining().unwrap();
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
        wait.started(Duration::ZERO);
        assert_eq!(wait.remaining(), None);
    }
}
