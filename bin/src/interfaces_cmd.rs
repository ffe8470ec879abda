//! `natscope interfaces`.

use clap::Args;

use crate::Verdict;
use crate::output::OutputArgs;
use crate::to_report;

/// Arguments of `natscope interfaces`.
#[derive(Debug, Args)]
pub struct InterfacesArgs {
    #[command(flatten)]
    output: OutputArgs,
}

/// The `interfaces` section from the OS's interface list.
pub fn section() -> report::Section<report::Interfaces> {
    match probe::interfaces::list() {
        Ok(list) => report::Section::Tested(to_report::interfaces(&list)),
        Err(e) => report::Section::failed(e.to_string()),
    }
}

/// Runs the command.
pub async fn run(args: InterfacesArgs) -> anyhow::Result<Verdict> {
    let mut rep = report::Report::new("interfaces", to_report::now_rfc3339());
    rep.interfaces = section();
    args.output.emit(&rep)?;
    Ok(Verdict::from_checks(&rep.summary.checks))
}
