//! Progress for long CLI work (`backup`, `prune`, `forget`, `backtest`, `once`): a bar or spinner on stderr when
//! stderr is a terminal, and nothing at all when it is piped or logged, so scripts and journals
//! see only the result lines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One progress display; drawn only on a terminal. Cleared when finished or dropped.
pub struct Progress {
    bar: ProgressBar,
}

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

impl Progress {
    /// A bar counting `total` units of `unit` (e.g. "pages"), labelled `what`.
    pub fn bar(what: &str, total: u64, unit: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), target());
        if let Ok(style) = ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}} left)"
        )) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        Progress { bar }
    }

    /// A spinner for work whose size is not known, labelled `what`; counts `unit`s as they go.
    pub fn spinner(what: &str, unit: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(None, target());
        if let Ok(style) =
            ProgressStyle::with_template(&format!("{{spinner}} {{msg}} {{pos}} {unit} {{elapsed}}"))
        {
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// Sets the total, once known.
    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Sets how many units are done.
    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Adds `n` done units.
    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Removes the display, leaving the terminal for the result lines.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
