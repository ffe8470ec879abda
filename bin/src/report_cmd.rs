//! `natscope report render`: re-renders a saved JSON report (e.g. kept by CI)
//! as a table or a single-file HTML page.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::Verdict;
use crate::output::OutputArgs;

/// Arguments of `natscope report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    action: ReportAction,
}

#[derive(Debug, Subcommand)]
enum ReportAction {
    /// Render REPORT.json (`-` for stdin) as html, table or json (`-o report.html`).
    Render {
        /// A natscope JSON report (natscope/3, or an older natscope/2 or natscope/1).
        report: PathBuf,
        /// Exit like the run that made the report: 1 when one of its checks
        /// failed (default: 0 once it is rendered).
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
            report,
            exit_by_verdict,
            output,
        } => {
            output.check()?;
            use std::io::Read;
            let mut text = String::new();
            let source = report.display().to_string();
            if source == "-" {
                std::io::stdin()
                    .take(MAX_REPORT_BYTES)
                    .read_to_string(&mut text)
                    .context("reading the report from stdin")?;
            } else {
                std::fs::File::open(&report)
                    .and_then(|f| f.take(MAX_REPORT_BYTES).read_to_string(&mut text))
                    .with_context(|| format!("cannot read {source}"))?;
            }
            let mut rep = report::from_json(&text).with_context(|| source.clone())?;
            if rep.diagnosis.verdict.is_empty() {
                // Written before natscope diagnosed: diagnose it now.
                rep.diagnosis = rules::diagnose(&rep);
            }
            output.emit(&rep)?;
            Ok(if exit_by_verdict {
                rules::verdict(&rep.summary)
            } else {
                Verdict::Pass
            })
        }
    }
}
