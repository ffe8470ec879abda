//! Progress of a running diagnosis, on stderr (stdout carries the report):
//!
//! - a live display (indicatif spinners, one per section) when stderr is a
//!   terminal;
//! - plain lines (`natscope: nat: passed (0.5 s)`) when it is not;
//! - with `--json-lines`, one JSON object per line for tools:
//!   `{"event":"start","section":"nat","elapsed_ms":0}`,
//!   `{"event":"done","section":"nat","status":"passed","elapsed_ms":512}`,
//!   and finally `{"event":"finished","elapsed_ms":1024,"exit":0}`.
//!
//! A section's status is how its checks add up, in the one vocabulary of
//! every output: passed (✔), failed (✘), not tested (–).

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::CheckStatus;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live spinners on a terminal.
    Live,
    /// One plain line per finished section.
    Plain,
    /// JSON lines for tools.
    JsonLines,
    /// Nothing (`natscope watch`: stdout carries its events, stderr its log).
    Quiet,
}

/// The progress display of one run.
pub struct Progress {
    mode: Mode,
    start: Instant,
    multi: Option<MultiProgress>,
}

impl Progress {
    /// `--json-lines` wins; else live on a terminal, plain lines otherwise.
    pub fn new(json_lines: bool) -> Self {
        let mode = if json_lines {
            Mode::JsonLines
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Plain
        };
        Self {
            mode,
            start: Instant::now(),
            multi: (mode == Mode::Live)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Shows nothing.
    pub fn quiet() -> Self {
        Self {
            mode: Mode::Quiet,
            start: Instant::now(),
            multi: None,
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn line(&self, value: serde_json::Value) {
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a closed stderr must not fail the run.
        let _ = writeln!(err, "{value}");
    }

    /// Runs one section's future, showing it as running until it is done.
    /// `status` says how it ended (its checks added up).
    pub async fn track<T>(
        &self,
        section: &'static str,
        fut: impl Future<Output = T>,
        status: impl FnOnce(&T) -> CheckStatus,
    ) -> T {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:>10} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(section);
            bar.set_message("running…");
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        if self.mode == Mode::JsonLines {
            self.line(serde_json::json!({
                "event": "start", "section": section, "elapsed_ms": self.elapsed_ms()
            }));
        }
        let started = Instant::now();
        let out = fut.await;
        let st = status(&out);
        let took = started.elapsed().as_secs_f64();
        match self.mode {
            Mode::Live => {
                if let Some(bar) = bar {
                    let (mark, word) = (st.symbol(), st.word());
                    bar.finish_with_message(format!("{mark} {word} ({took:.1} s)"));
                }
            }
            Mode::Plain => {
                let mut err = std::io::stderr().lock();
                let word = st.word();
                let _ = writeln!(err, "natscope: {section}: {word} ({took:.1} s)");
            }
            Mode::JsonLines => self.line(serde_json::json!({
                "event": "done", "section": section, "status": st,
                "elapsed_ms": self.elapsed_ms()
            })),
            Mode::Quiet => {}
        }
        out
    }

    /// The run is over; `exit` is the exit code natscope is about to return.
    pub fn finish(&self, exit: u8) {
        if self.mode == Mode::JsonLines {
            self.line(serde_json::json!({
                "event": "finished", "elapsed_ms": self.elapsed_ms(), "exit": exit
            }));
        }
    }
}
