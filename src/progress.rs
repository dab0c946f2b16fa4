//! Progress bars shared by the long stages (downloads, tokenizing, scoring): drawn on a terminal,
//! hidden otherwise so that batch logs stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A counting progress bar (e.g. pairs) on a terminal; hidden otherwise (batch logs stay clean).
pub fn count_bar(total: u64, what: &str, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// An evaluation's bar over `total` units on a terminal (hidden otherwise). Its ETA starts from
/// `prior` (units per second, e.g. the previous checkpoint's rate) and then follows this bar's own
/// mean rate (see [`eta_estimate`]); before either is known it says `estimating`, never `0s`.
pub fn eval_bar(total: u64, what: &str, unit: &str, prior: Option<f64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(&format!(
        "{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{estimate}}"
    ))
    .expect("valid template")
    .with_key(
        "estimate",
        move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let total = state.len().unwrap_or(0);
            let eta = eta_estimate(state.pos(), total, state.elapsed().as_secs_f64(), prior);
            let _ = match eta {
                Some(secs) => write!(w, "{}", eta_text(secs)),
                None => write!(w, "estimating"),
            };
        },
    )
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// Seconds left of `total` units with `done` done after `elapsed` seconds: from `prior` (units per
/// second) until a tenth is done, from the mean rate so far after that (or with no prior); `None`
/// while nothing says how fast the work goes.
pub fn eta_estimate(done: u64, total: u64, elapsed: f64, prior: Option<f64>) -> Option<f64> {
    let left = total.saturating_sub(done) as f64;
    if left == 0.0 {
        return Some(0.0);
    }
    let measured = (done > 0 && elapsed > 0.0).then(|| done as f64 / elapsed);
    let prior = prior.filter(|r| r.is_finite() && *r > 0.0);
    let rate = match (measured, prior) {
        (Some(_), Some(p)) if done * 10 < total => p,
        (Some(m), _) => m,
        (None, p) => p?,
    };
    Some(left / rate)
}

/// A progress bar over `total` bytes (hidden when stderr is not a terminal).
pub fn byte_bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// `2h05m`, `4m07s`, `12s`: a remaining time for log lines.
pub fn eta_text(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".into();
    }
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Progress as log lines where no bar is drawn (batch jobs): a line at every tenth of the work
/// and at least every minute, with the count, percent, rate and ETA.
pub struct LineProgress {
    what: String,
    unit: &'static str,
    total: u64,
    start: std::time::Instant,
    last: std::time::Instant,
    next_tenth: u64,
    on: bool,
}

impl LineProgress {
    /// Lines about `total` `unit`s of `what`; silent on a terminal (its bar says the same).
    pub fn new(what: &str, unit: &'static str, total: u64) -> LineProgress {
        let now = std::time::Instant::now();
        LineProgress {
            what: what.to_owned(),
            unit,
            total,
            start: now,
            last: now,
            next_tenth: 1,
            on: !std::io::stderr().is_terminal() && total > 0,
        }
    }

    /// `done` of the total so far: logs a line when a tenth is passed or a minute has gone by.
    pub fn update(&mut self, done: u64) {
        if !self.on {
            return;
        }
        let tenth = done * 10 / self.total;
        let minute = self.last.elapsed().as_secs() >= 60;
        if (tenth < self.next_tenth && !minute) || done == 0 {
            return;
        }
        self.next_tenth = tenth + 1;
        self.last = std::time::Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / secs;
        let eta = eta_estimate(done, self.total, secs, None).unwrap_or(f64::INFINITY);
        tracing::info!(
            "{}: {done}/{} {} ({:.0}%), {rate:.0} {}/s, ETA {}",
            self.what,
            self.total,
            self.unit,
            100.0 * done as f64 / self.total as f64,
            self.unit,
            eta_text(eta)
        );
    }
}

/// The trainer's bar (steps, tokens, loss, tokens/s, ETA) when stderr is a terminal; otherwise
/// nothing, and the trainer's log lines carry the same figures.
pub struct StepProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl StepProgress {
    /// A bar over `total` steps starting at `step`, if `show` and stderr is a terminal.
    pub fn new(total: u64, step: u64, show: bool) -> StepProgress {
        use std::io::IsTerminal;
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
            )
            .expect("valid template");
            indicatif::ProgressBar::new(total)
                .with_style(style)
                .with_position(step)
        });
        StepProgress { bar }
    }

    /// True when a bar is shown (plain log lines are then left out).
    pub fn is_bar(&self) -> bool {
        self.bar.is_some()
    }

    /// Moves the bar to `step`, with `message` when given.
    pub fn update(&self, step: u64, message: Option<String>) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            if let Some(m) = message {
                bar.set_message(m);
            }
        }
    }

    /// Runs `f` (which logs) with the bar out of the way.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether output to a terminal is coloured: never where `NO_COLOR` is set to anything but the
/// empty string (no-color.org), nor off a terminal.
pub fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_times_read_as_a_person_writes_them() {
        assert_eq!(eta_text(12.4), "12s");
        assert_eq!(eta_text(247.0), "4m07s");
        assert_eq!(eta_text(7500.0), "2h05m");
        assert_eq!(eta_text(f64::INFINITY), "?");
    }

    #[test]
    fn the_eta_starts_from_the_prior_rate_then_follows_the_measured_one() {
        // Nothing known yet: no estimate (not "0s").
        assert_eq!(eta_estimate(0, 1000, 0.0, None), None);
        assert_eq!(eta_estimate(0, 1000, 3.0, None), None);
        // The previous checkpoint's 100 units/s say 10 s before anything is measured …
        assert_eq!(eta_estimate(0, 1000, 0.0, Some(100.0)), Some(10.0));
        // … and while less than a tenth is done (a slow first batch does not swing it) …
        assert_eq!(eta_estimate(50, 1000, 5.0, Some(100.0)), Some(9.5));
        // … then this bar's own mean rate: 500 in 10 s is 50/s, 500 left.
        assert_eq!(eta_estimate(500, 1000, 10.0, Some(100.0)), Some(10.0));
        assert_eq!(eta_estimate(500, 1000, 10.0, None), Some(10.0));
        // A useless prior is ignored; done is done.
        assert_eq!(eta_estimate(0, 1000, 0.0, Some(0.0)), None);
        assert_eq!(eta_estimate(1000, 1000, 10.0, None), Some(0.0));
    }

    #[test]
    fn no_color_turns_colour_off() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".as_ref())));
        assert!(!colour(true, Some("1".as_ref())));
        assert!(!colour(false, None));
    }
}
