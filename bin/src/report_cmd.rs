//! `natscope report render`: re-renders a saved JSON report (e.g. kept by CI)
//! as a table or a single-file HTML page; given the two reports of one
//! `natscope peer` session (one from each machine), one page with both
//! sides next to each other.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::Verdict;
use crate::output::{Format, OutputArgs};

/// Arguments of `natscope report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    action: ReportAction,
}

#[derive(Debug, Subcommand)]
enum ReportAction {
    /// Render REPORT.json (`-` for stdin) as html, table or json (`-o report.html`).
    /// Given two reports of one `natscope peer` session (one from each
    /// machine), render both sides together (html or table).
    Render {
        /// A natscope JSON report (natscope/3, or an older natscope/2 or
        /// natscope/1); or the creator's and the joiner's reports of one
        /// `natscope peer` session, in either order.
        #[arg(value_name = "REPORT", required = true, num_args = 1..=2)]
        reports: Vec<PathBuf>,
        /// Exit like the run that made the report: 1 when one of its checks
        /// failed (with two reports: when one of either failed; default: 0
        /// once it is rendered).
        #[arg(long)]
        exit_by_verdict: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// The most we read of a report file (a real one is a few hundred KiB).
const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// Runs `natscope report ...`: 0 once rendered (with `--exit-by-verdict`,
/// the report's own verdict, so CI can gate on a saved report too).
pub async fn run(args: ReportArgs) -> anyhow::Result<Verdict> {
    match args.action {
        ReportAction::Render {
            reports,
            exit_by_verdict,
            output,
        } => {
            output.check()?;
            let verdict = match reports.as_slice() {
                [one] => {
                    let rep = read(one)?;
                    output.emit(&rep)?;
                    rules::verdict(&rep.summary)
                }
                [first, second] => render_pair(first, second, &output)?,
                // clap allows one or two.
                _ => anyhow::bail!("report render takes one report, or the two of a peer session"),
            };
            Ok(if exit_by_verdict {
                verdict
            } else {
                Verdict::Pass
            })
        }
    }
}

/// Reads and validates one report (`-`: stdin), diagnosed when it was
/// written before natscope diagnosed.
fn read(path: &Path) -> anyhow::Result<report::Report> {
    use std::io::Read;
    let mut text = String::new();
    let source = path.display().to_string();
    if source == "-" {
        std::io::stdin()
            .take(MAX_REPORT_BYTES)
            .read_to_string(&mut text)
            .context("reading the report from stdin")?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_REPORT_BYTES).read_to_string(&mut text))
            .with_context(|| format!("cannot read {source}"))?;
    }
    let mut rep = report::from_json(&text).with_context(|| source.clone())?;
    if rep.diagnosis.verdict.is_empty() {
        // Written before natscope diagnosed: diagnose it now.
        rep.diagnosis = rules::diagnose(&rep);
    }
    Ok(rep)
}

/// Both sides of one peer session on one page (html) or one after the
/// other (table); a usage error (exit 2) naming the files when they are
/// not the two sides of one session. Fail when either report's checks
/// failed.
fn render_pair(first: &Path, second: &Path, output: &OutputArgs) -> anyhow::Result<Verdict> {
    let names = format!("{} and {}", first.display(), second.display());
    if first == Path::new("-") && second == Path::new("-") {
        anyhow::bail!("cannot read both reports from stdin ({names})");
    }
    let a = read(first)?;
    let b = read(second)?;
    let pair = report::merge::pair(&a, &b)
        .with_context(|| format!("cannot show {names} as one peer session"))?;
    // JSON chosen only because stdout is not a terminal: a table instead.
    let format = match (output.format, output.format()) {
        (None, Format::Json) if output.output.is_none() => Format::Table,
        (_, f) => f,
    };
    let text = match format {
        Format::Html => report::html::render_pair(&pair),
        Format::Table => report::table::render_pair(
            &pair,
            report::table::TableOptions {
                color: output.color(),
                width: None,
            },
        ),
        Format::Json => anyhow::bail!(
            "two reports ({names}) render as one html page or table, not as json: \
             give -o FILE.html or --format html"
        ),
    };
    match &output.output {
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
    let failed = [&a, &b]
        .iter()
        .any(|r| rules::verdict(&r.summary) == Verdict::Fail);
    Ok(if failed { Verdict::Fail } else { Verdict::Pass })
}
