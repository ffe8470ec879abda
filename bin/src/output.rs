//! Output options shared by every command: format, destination file, colour.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables (default on a terminal).
    Table,
    /// The versioned JSON document (docs/json.md); default when stdout is not a terminal.
    Json,
    /// A single self-contained HTML file (docs/html.md).
    Html,
}

/// `--format` and `-o`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format [default: by the -o file's extension, else table on a
    /// terminal and json otherwise].
    #[arg(long, value_enum, global = true)]
    pub format: Option<Format>,
    /// Write the output to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
}

impl OutputArgs {
    /// The format to use: explicit, else by the file extension of `-o`,
    /// else table on a terminal and JSON otherwise.
    pub fn format(&self) -> Format {
        if let Some(f) = self.format {
            return f;
        }
        if let Some(path) = &self.output {
            return match path.extension().and_then(|e| e.to_str()) {
                Some("json") => Format::Json,
                Some("html" | "htm") => Format::Html,
                _ => Format::Table,
            };
        }
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        }
    }

    /// Says once on stderr, when a person is watching it, that stdout is not
    /// a terminal and JSON is written for that reason (`natscope diagnose |
    /// less` would otherwise switch format silently).
    fn say_implicit_json(&self) {
        if self.format.is_none()
            && self.output.is_none()
            && !std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal()
        {
            eprintln!(
                "natscope: stdout is not a terminal, so the output is JSON (docs/json.md); \
                 --format table keeps the table"
            );
        }
    }

    /// The width tables are fitted to: the terminal's (stdout's, else
    /// stderr's, as for `natscope diagnose --format table | less`), else
    /// `COLUMNS`; none when writing a file.
    fn width(&self) -> Option<u16> {
        if self.output.is_some() {
            return None;
        }
        terminal_size::terminal_size_of(std::io::stdout())
            .or_else(|| terminal_size::terminal_size_of(std::io::stderr()))
            .map(|(w, _)| w.0)
            .or_else(|| {
                std::env::var("COLUMNS")
                    .ok()
                    .and_then(|c| c.trim().parse::<u16>().ok())
                    .filter(|w| *w > 0)
            })
    }

    /// Whether tables may use colour: stdout is a terminal, no `-o`, and
    /// `NO_COLOR` is unset or empty (https://no-color.org).
    pub fn color(&self) -> bool {
        self.output.is_none()
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }

    /// Fails now, before any probe is sent, when `-o FILE` cannot be written
    /// (a missing directory, no permission, a directory): the run's result
    /// would be lost at its end otherwise. Leaves no file behind.
    pub fn check(&self) -> anyhow::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let existed = path.exists();
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if !existed {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }

    /// Renders the report in the chosen format and writes it out.
    pub fn emit(&self, report: &model::Report) -> anyhow::Result<()> {
        let format = self.format();
        if format == Format::Json {
            self.say_implicit_json();
        }
        let text = match format {
            Format::Json => {
                let mut s = report.to_json_pretty();
                s.push('\n');
                s
            }
            Format::Html => report::html::render(report),
            Format::Table => report::table::render(
                report,
                report::table::TableOptions {
                    color: self.color(),
                    width: self.width(),
                },
            ),
        };
        match &self.output {
            Some(path) => std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => {
                let mut out = std::io::stdout().lock();
                // A closed pipe (`natscope ... | head`) is not an error worth a message.
                if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
                    && e.kind() != std::io::ErrorKind::BrokenPipe
                {
                    return Err(e).context("writing to stdout");
                }
            }
        }
        Ok(())
    }
}
