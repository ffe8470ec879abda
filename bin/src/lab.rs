//! `natscope lab up|down|exec`: the network-namespace NAT lab for people
//! (Linux, root). See docs/lab.md.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use lab::{Ipv6Behaviour, Lab, LabSpec, LabState, NatBehaviour, Ns, STATE_DIR};

/// Arguments of `natscope lab`.
#[derive(Debug, clap::Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LabCommand {
    /// Build a lab (namespaces + kernel NAT) and leave it up.
    Up(UpArgs),
    /// Remove a lab built by `lab up`.
    Down(DownArgs),
    /// Run a command inside one of the lab's namespaces.
    Exec(ExecArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// NAT behaviour of the router.
    #[arg(long, default_value = "eim-apdf", value_parser = parse_nat)]
    nat: NatBehaviour,
    /// Enable hairpinning on the router.
    #[arg(long)]
    hairpin: bool,
    /// Random loss on the router, percent, both directions.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    loss: u8,
    /// Conntrack UDP timeout on the router, seconds.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=3600))]
    udp_timeout: Option<u64>,
    /// Put a carrier NAT (CGNAT, 100.64.0.0/10) in front of the router.
    #[arg(long)]
    carrier: bool,
    /// Add IPv6 (dual stack) with this behaviour on the router: routed,
    /// firewall-apdf, firewall-adf, firewall-eif, nat66 or npt.
    #[arg(long, value_name = "BEHAVIOUR", value_parser = parse_ipv6)]
    ipv6: Option<Ipv6Behaviour>,
    /// Namespace name prefix (namespaces are PREFIX-client, PREFIX-router, ...).
    #[arg(long, value_name = "PREFIX", default_value = "natlab")]
    name: String,
}

#[derive(Debug, clap::Args)]
struct DownArgs {
    /// The lab's prefix.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "natlab",
        conflicts_with = "all"
    )]
    name: String,
    /// Remove every lab recorded in /run/natscope-lab.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, clap::Args)]
struct ExecArgs {
    /// client, router, carrier, inet, server or peer.
    #[arg(value_parser = parse_role)]
    role: Ns,
    /// The lab's prefix.
    #[arg(long, value_name = "PREFIX", default_value = "natlab")]
    name: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

fn parse_nat(s: &str) -> Result<NatBehaviour, String> {
    NatBehaviour::parse(s).ok_or_else(|| {
        let names: Vec<&str> = NatBehaviour::ALL.iter().map(|b| b.as_str()).collect();
        format!("unknown NAT behaviour {s:?}; one of: {}", names.join(", "))
    })
}

fn parse_ipv6(s: &str) -> Result<Ipv6Behaviour, String> {
    Ipv6Behaviour::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Ipv6Behaviour::ALL.iter().map(|b| b.as_str()).collect();
        format!("unknown IPv6 behaviour {s:?}; one of: {}", names.join(", "))
    })
}

fn parse_role(s: &str) -> Result<Ns, String> {
    Ns::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Ns::ALL.iter().map(|n| n.as_str()).collect();
        format!("unknown role {s:?}; one of: {}", names.join(", "))
    })
}

fn state_path(prefix: &str) -> PathBuf {
    PathBuf::from(STATE_DIR).join(format!("{prefix}.json"))
}

/// Runs `natscope lab ...`. `exec` exits the process with the command's exit
/// code when it is not 0.
pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Up(a) => tokio::task::spawn_blocking(move || up(a))
            .await
            .context("lab task")?,
        LabCommand::Down(a) => tokio::task::spawn_blocking(move || down(a))
            .await
            .context("lab task")?,
        LabCommand::Exec(a) => tokio::task::spawn_blocking(move || exec(a))
            .await
            .context("lab task")?,
    }
}

fn up(a: UpArgs) -> anyhow::Result<()> {
    let mut spec = LabSpec::new(a.nat)
        .hairpin(a.hairpin)
        .loss_percent(a.loss)
        .carrier_nat(a.carrier)
        .prefix(a.name.clone());
    if let Some(s) = a.udp_timeout {
        spec = spec.udp_timeout(Duration::from_secs(s));
    }
    if let Some(b) = a.ipv6 {
        spec = spec.ipv6(b);
    }
    let lab = Lab::up(spec).context("bringing the NAT lab up")?;
    let state = lab.detach();
    std::fs::create_dir_all(STATE_DIR).with_context(|| format!("creating {STATE_DIR}"))?;
    let path = state_path(&state.prefix);
    let json = serde_json::to_string_pretty(&state).context("serialising lab state")?;
    if let Err(e) = std::fs::write(&path, json) {
        let _ = state.teardown();
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    print!("{}", describe(&state));
    Ok(())
}

fn describe(s: &LabState) -> String {
    let a = &s.addrs;
    let spec = &s.spec;
    let ns = |r: Ns| format!("{}-{}", s.prefix, r.as_str());
    let mut out = format!(
        "NAT lab {:?} is up: nat {}{}, hairpin {}, loss {}%, udp timeout {}\n\n",
        s.prefix,
        spec.nat.as_str(),
        spec.ipv6
            .map(|b| format!(", ipv6 {}", b.as_str()))
            .unwrap_or_default(),
        if spec.hairpin { "on" } else { "off" },
        spec.loss_percent,
        spec.udp_timeout
            .map(|t| format!("{} s", t.as_secs()))
            .unwrap_or_else(|| "kernel default".into()),
    );
    let mut row = |role: &str, name: String, what: String| {
        out += &format!("  {role:<8} {name:<24} {what}\n");
    };
    row(
        "client",
        ns(Ns::Client),
        format!(
            "{}, {} (gateway {})",
            a.client, a.client_second, a.router_lan
        ),
    );
    row(
        "router",
        ns(Ns::Router),
        format!("LAN {}, WAN {}", a.router_lan, a.router_wan),
    );
    if let Some(inside) = a.carrier_inside {
        row(
            "carrier",
            ns(Ns::Carrier),
            format!("inside {inside}, outside {}", a.router_public),
        );
    }
    row("inet", ns(Ns::Internet), "bridge br0".into());
    row(
        "server",
        ns(Ns::Server),
        format!("{}, {}", a.server_primary, a.server_alternate),
    );
    row("peer", ns(Ns::Peer), format!("{}", a.peer));
    if let (Some(c), Some(c2), Some(lan), Some(wan), Some(sp), Some(sa), Some(p)) = (
        a.client6,
        a.client6_second,
        a.router6_lan,
        a.router6_wan,
        a.server6_primary,
        a.server6_alternate,
        a.peer6,
    ) {
        out += "\n  IPv6:\n";
        out += &format!("  client   {c}, {c2} (gateway {lan})\n");
        out += &format!("  router   LAN {lan}, WAN {wan}\n");
        out += &format!("  server   {sp}, {sa}\n");
        out += &format!("  peer     {p}\n");
    }
    out += &format!(
        "\nServers see the client as {}{}.\n\
         Run something:  natscope lab exec client --name {p} -- ping -c1 {}\n\
         Remove it:      natscope lab down --name {p}\n",
        a.expected_public,
        a.expected_public6
            .map(|v6| format!(" (IPv6: {v6})"))
            .unwrap_or_default(),
        a.server_primary,
        p = s.prefix
    );
    out
}

fn down(a: DownArgs) -> anyhow::Result<()> {
    let prefixes: Vec<String> = if a.all {
        match std::fs::read_dir(STATE_DIR) {
            Ok(dir) => dir
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".json"))
                        .map(str::to_string)
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {STATE_DIR}")),
        }
    } else {
        vec![a.name]
    };
    if prefixes.is_empty() {
        println!("no NAT lab recorded in {STATE_DIR}");
    }
    for prefix in prefixes {
        let path = state_path(&prefix);
        let removed = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let state: LabState = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?;
                state
                    .teardown()
                    .with_context(|| format!("removing lab {prefix:?}"))?;
                state.namespaces.len()
            }
            // No state file: remove what exists under the prefix anyway.
            Err(_) => lab::teardown_prefix(&prefix)
                .with_context(|| format!("removing lab {prefix:?}"))?
                .len(),
        };
        let _ = std::fs::remove_file(&path);
        println!("NAT lab {prefix:?} removed ({removed} namespaces)");
    }
    Ok(())
}

fn exec(a: ExecArgs) -> anyhow::Result<()> {
    let name = format!("{}-{}", a.name, a.role.as_str());
    if !std::path::Path::new("/run/netns").join(&name).exists() {
        bail!(
            "namespace {name} does not exist (is the lab {:?} up? `natscope lab up --name {}`)",
            a.name,
            a.name
        );
    }
    let argv: Vec<&str> = a.cmd.iter().map(String::as_str).collect();
    let status = lab::exec_inherit(&name, &argv)
        .with_context(|| format!("running {:?} in {name}", a.cmd))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => bail!("{:?} was killed by a signal ({status})", a.cmd),
    }
}
