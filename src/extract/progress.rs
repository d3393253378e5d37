//! Progress of long extractions: a bar with rows, rate and ETA on a terminal, plain
//! log lines every few seconds otherwise (CI logs, cron mail).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports rows landed for one stream.
pub(crate) struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    rows: u64,
}

impl Progress {
    /// Start reporting; `total` enables an ETA.
    pub fn new(label: String, total: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "{prefix} [{bar:30}] {pos}/{len} rows {per_sec} eta {eta}"
            } else {
                "{prefix} {spinner} {pos} rows {per_sec}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            label,
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
            rows: 0,
        }
    }

    /// `n` more primary rows landed.
    pub fn add(&mut self, n: u64) {
        self.rows += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                let rate = self.rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
                eprintln!("{}: {} rows ({rate:.0}/s)", self.label, self.rows);
            }
            None => {}
        }
    }

    /// Stop the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
