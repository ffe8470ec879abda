//! `natscope`: tells you, in one run, why peer-to-peer connections from your
//! network will or will not work.
//!
//! This binary is thin: it parses arguments, wires the crates together
//! (`probe` fills the `model`, `rules` derive its summary, `report` renders
//! it), writes output and sets the exit code:
//!
//! - `0`: every requested check passed;
//! - `1`: a check failed (e.g. no STUN server answered), or a section that
//!   was asked for failed or did not finish;
//! - `2`: usage, configuration or environment error (bad URI, unreadable
//!   file, missing TURN credentials, unwritable `-o`), found before any
//!   probe is sent;
//! - `130`: interrupted (Ctrl-C), after removing any port mapping made.

mod browser_cmd;
mod cli_time;
mod diagnose;
mod examples;
mod ice_cmd;
mod interfaces_cmd;
#[cfg(target_os = "linux")]
mod lab;
mod load_cmd;
mod nat_cmd;
mod output;
mod peer_cmd;
mod portmap_cmd;
mod progress;
mod report_cmd;
mod serve;
mod servers_arg;
mod signals;
mod stun_cmd;
mod turn_cmd;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use rules::Verdict;

/// The run was interrupted (Ctrl-C): exit 130, after the cleanup that applies.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

#[derive(Debug, Parser)]
#[command(
    name = "natscope",
    version = env!("NATSCOPE_VERSION"),
    about = "Why peer-to-peer connections from this network will or will not work",
    long_about = "natscope probes STUN servers, classifies your NAT (RFC 4787/5780) and reports \
                  what it means for WebRTC/VoIP/P2P.\n\n\
                  Exit codes: 0 every check asked for passed, 1 a check failed or a section did not \
                  finish, 2 usage/configuration error (found before any probe is sent), 130 \
                  interrupted (Ctrl-C)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List network interfaces: addresses, MTU, gateway, VPN/CGNAT hints.
    #[command(after_help = examples::INTERFACES)]
    Interfaces(interfaces_cmd::InterfacesArgs),
    /// Query STUN servers concurrently and compare the public mappings they see.
    #[command(after_help = examples::STUN)]
    Stun(stun_cmd::StunArgs),
    /// Test TURN servers over UDP, TCP and TLS: every stage timed, failures named.
    #[command(after_help = examples::TURN)]
    Turn(turn_cmd::TurnCmd),
    /// Real kernel NATs in network namespaces (root): up, down, exec (docs/lab.md).
    #[cfg(target_os = "linux")]
    #[command(after_help = examples::LAB)]
    Lab(lab::LabArgs),
    /// Serve RFC 5780 STUN (two addresses, UDP and TCP) for NAT tests (docs/serve.md).
    #[command(after_help = examples::SERVE)]
    Serve(serve::ServeArgs),
    /// Two ICE agents on this machine: which candidate types (host, srflx, relay) connect.
    #[command(after_help = examples::ICE)]
    Ice(ice_cmd::IceCmd),
    /// With natscope on another machine: ICE, a data channel and a hole punch, met through a rendezvous (docs/peer.md).
    #[command(after_help = examples::PEER)]
    Peer(peer_cmd::PeerCmd),
    /// Work with saved reports: `natscope report render REPORT.json -o report.html`.
    #[command(after_help = examples::REPORT)]
    Report(report_cmd::ReportArgs),
    /// Classify the NAT (RFC 5780): mapping, filtering, hairpinning, port allocation.
    #[command(after_help = examples::NAT)]
    Nat(nat_cmd::NatCmd),
    /// Test port mapping (UPnP IGD, NAT-PMP, PCP) on the gateway: map, check, remove (docs/portmap.md).
    #[command(after_help = examples::PORTMAP)]
    Portmap(portmap_cmd::PortmapCmd),
    /// A real browser as the other peer: what it gathers, and whether it connects to natscope (docs/browser.md).
    #[command(after_help = examples::BROWSER)]
    Browser(browser_cmd::BrowserCmd),
    /// Run the whole diagnosis (with --lab: against embedded loopback servers).
    #[command(after_help = examples::DIAGNOSE)]
    Diagnose(diagnose::DiagnoseArgs),
    /// Run the diagnosis continuously: metrics for Prometheus, changes as JSON lines (docs/watch.md).
    #[command(args_override_self = true, after_help = examples::WATCH)]
    Watch(watch::WatchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print natscope's man page (roff), generated from these definitions.
    #[command(after_help = examples::MAN)]
    Man,
}

fn init_logging(verbose: u8) {
    // stun-types warns about every malformed message it parses; those come
    // from the network and are already counted, so keep them out of the log
    // unless the user asks for trace.
    // The protocol crates log every error answer and malformed message
    // they see (network input, already counted and reported by natscope):
    // silent by default, their warnings from -v, everything at -vvv.
    const DEPS: [&str; 9] = [
        "stun_types",
        "stun_proto",
        "turn_types",
        "turn_client_proto",
        "turn_server_proto",
        "rice_proto",
        "rice_stun_types",
        "hickory_proto",
        "hickory_resolver",
    ];
    let (ours, theirs) = match verbose {
        0 => ("warn", "off"),
        1 => ("info", "warn"),
        2 => ("debug", "info"),
        _ => ("trace", "trace"),
    };
    let default = std::iter::once(ours.to_owned())
        .chain(DEPS.iter().map(|d| format!("{d}={theirs}")))
        .collect::<Vec<_>>()
        .join(",");
    let filter = tracing_subscriber::EnvFilter::try_from_env("NATSCOPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&default));
    // rice-proto logs its TURN client state, password included, at info and
    // below: never let that through, whatever -v or NATSCOPE_LOG asks for
    // (tests/secrets.rs greps every verbosity for the password).
    let cap = if verbose == 0 {
        "rice_proto=off"
    } else {
        "rice_proto=warn"
    };
    let filter = match cap.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => {
            return print_generated(|out| {
                clap_complete::generate(*shell, &mut Cli::command(), "natscope", out);
                Ok(())
            });
        }
        Command::Man => {
            return print_generated(|out| clap_mangen::Man::new(Cli::command()).render(out));
        }
        _ => {}
    }
    init_logging(cli.verbose);
    // Two workers, or one when the process may use one core only (e.g.
    // `taskset -c 1 natscope serve`): two threads sharing a core only
    // switch between each other.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 2));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("natscope: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Interfaces(args) => interfaces_cmd::run(args).await,
            Command::Stun(args) => stun_cmd::run(args).await,
            Command::Turn(args) => turn_cmd::run(args).await,
            Command::Diagnose(args) => diagnose::run(args).await,
            Command::Watch(args) => watch::run(args).await,
            Command::Nat(args) => nat_cmd::run(args).await,
            Command::Report(args) => report_cmd::run(args).await,
            Command::Ice(args) => ice_cmd::run(args).await,
            Command::Peer(args) => peer_cmd::run(args).await,
            Command::Browser(args) => browser_cmd::run(args).await,
            Command::Portmap(args) => portmap_cmd::run(args).await,
            Command::Serve(args) => serve::run(args).await.map(|()| Verdict::Pass),
            #[cfg(target_os = "linux")]
            Command::Lab(args) => lab::run(args).await.map(|()| Verdict::Pass),
            Command::Completions { .. } | Command::Man => Ok(Verdict::Pass),
        }
    });
    match result {
        Ok(Verdict::Pass) => ExitCode::SUCCESS,
        Ok(Verdict::Fail) => ExitCode::from(1),
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            eprintln!("natscope: {e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("natscope: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

/// Parses a full `natscope watch …` command line (the configuration file
/// re-read on SIGHUP); the error as clap words it.
fn parse_watch(argv: &[String]) -> Result<watch::WatchArgs, String> {
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Watch(w),
            ..
        }) => Ok(w),
        Ok(_) => Err("not a watch command line".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes a generated text (completion script, man page) to stdout; a
/// closed pipe is not an error.
fn print_generated(
    write: impl FnOnce(&mut std::io::StdoutLock<'_>) -> std::io::Result<()>,
) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("natscope: writing to stdout: {e}");
            ExitCode::from(2)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// An error and its causes on one line, each said once: a cause whose text
/// its wrapper already quotes (`cannot bind udp …: Address already in use`
/// over the OS error itself) is not repeated.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod error_text_tests {
    use super::error_text;

    #[test]
    fn a_cause_quoted_by_its_wrapper_is_said_once() {
        let os = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let os_text = os.to_string();
        let e = anyhow::Error::new(os)
            .context(format!("cannot bind udp 127.0.0.1:3478: {os_text}"))
            .context("cannot start the STUN responder");
        let text = error_text(&e);
        assert_eq!(
            text,
            format!("cannot start the STUN responder: cannot bind udp 127.0.0.1:3478: {os_text}")
        );
        assert_eq!(text.matches(&os_text).count(), 1);
    }
}
