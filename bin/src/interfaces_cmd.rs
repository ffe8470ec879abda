//! `natscope interfaces`.

use clap::Args;

use crate::Verdict;
use crate::output::OutputArgs;

/// Arguments of `natscope interfaces`.
#[derive(Debug, Args)]
pub struct InterfacesArgs {
    #[command(flatten)]
    output: OutputArgs,
}

/// The `interfaces` section from the OS's interface list.
pub fn section() -> model::Section<model::Interfaces> {
    match probe::interfaces::list() {
        Ok(list) => model::Section::Tested(probe::interfaces::section(&list)),
        Err(e) => model::Section::failed(e.to_string()),
    }
}

/// Runs the command.
pub async fn run(args: InterfacesArgs) -> anyhow::Result<Verdict> {
    args.output.check()?;
    let mut rep = model::Report::new("interfaces", crate::cli_time::now_rfc3339());
    rep.interfaces = section();
    args.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}
