//! `natscope diagnose`: the whole picture in one run — interfaces, STUN, NAT
//! classification, TURN, ICE and port mapping, concurrently, under one
//! overall deadline. Ctrl-C stops the run and removes any port mapping made
//! so far.
//!
//! With `--lab`, natscope first starts its own servers on loopback (the RFC
//! 5780 responder on 127.0.0.1 and 127.0.0.2 — the same one `natscope serve`
//! runs — and the embedded TURN server over UDP, TCP and TLS) and diagnoses
//! against them: no root, no network. Port mapping then asks 127.0.0.1
//! (NAT-PMP/PCP; nothing answers there) and skips UPnP's multicast search.
//!
//! What runs is decided by [`plan`], a pure function of the servers and the
//! flags, so it is tested without a network.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use model::ice::IceFilter;
use model::servers::{Scheme, ServerUri};
use model::{CheckId, Secret, Section};
use probe::ice::IceOptions;
use probe::turn::TurnProbeConfig;
use servers::responder::{Responder, ResponderConfig};
use servers::turn::{TurnServer, TurnServerConfig};

use crate::Verdict;
use crate::cli_time::parse_duration;
use crate::output::OutputArgs;
use crate::portmap_cmd::{self, PortmapArgs};
use crate::servers_arg::{CredentialArgs, NamedServer, ProbeArgs, ServerArgs};
use crate::{ice_cmd, interfaces_cmd, nat_cmd, stun_cmd};

/// Arguments of `natscope diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Start embedded test servers on loopback (STUN on 127.0.0.1 /
    /// 127.0.0.2, TURN over UDP/TCP/TLS) and diagnose against them instead
    /// of the named or default servers.
    #[arg(long, conflicts_with_all = ["servers", "ice_servers"])]
    lab: bool,
    #[command(flatten)]
    servers: ServerArgs,
    #[command(flatten)]
    creds: CredentialArgs,
    /// Skip the NAT classification.
    #[arg(long)]
    no_nat: bool,
    /// Skip the TURN tests.
    #[arg(long)]
    no_turn: bool,
    /// Skip the ICE runs.
    #[arg(long)]
    no_ice: bool,
    /// The one overall limit of the whole diagnosis (e.g. 30s, 2m); a section
    /// still running then is reported as failed with that reason.
    #[arg(
        long = "timeout",
        alias = "deadline",
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "30s"
    )]
    deadline: Duration,
    /// How long to wait for each STUN server's answer (e.g. 3s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "3s")]
    stun_timeout: Duration,
    /// Local address to send from (chooses the interface); give it once per
    /// family (--bind 192.0.2.10 --bind 2001:db8::10) to choose both.
    #[arg(long, value_name = "ADDR")]
    bind: Vec<std::net::IpAddr>,
    #[command(flatten)]
    family: crate::servers_arg::FamilyArgs,
    /// CI gate: exit 1 unless every CHECK passed (comma-separated; one
    /// line on stderr per unmet requirement).
    #[arg(long, value_delimiter = ',', value_enum, value_name = "CHECK,...")]
    require: Vec<CheckId>,
    /// Replace public IP addresses with stable placeholders in every output.
    #[arg(long)]
    redact: bool,
    /// Progress as JSON lines on stderr (for tools), instead of the live
    /// display (terminal) or plain lines.
    #[arg(long)]
    json_lines: bool,
    #[command(flatten)]
    nat: nat_cmd::NatArgs,
    /// Do not test port mapping at all: nothing is sent to the gateway.
    #[arg(long)]
    no_portmap: bool,
    #[command(flatten)]
    portmap: PortmapArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// What a diagnosis runs: a pure function of the servers and the flags.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Servers for the STUN Binding section (every server: turn: servers
    /// answer Binding requests too).
    pub stun: Vec<NamedServer>,
    /// Servers for the NAT classification, or why it is skipped.
    pub nat: Result<Vec<NamedServer>, String>,
    /// TURN servers, or why TURN is skipped.
    pub turn: Result<Vec<NamedServer>, String>,
    /// Servers for ICE (stun: and UDP turn:), or why ICE is skipped.
    pub ice: Result<Vec<NamedServer>, String>,
}

/// Which flags skip which section.
#[derive(Debug, Clone, Copy, Default)]
pub struct Skips {
    /// `--no-nat`.
    pub nat: bool,
    /// `--no-turn`.
    pub turn: bool,
    /// `--no-ice`.
    pub ice: bool,
}

/// Decides what runs against which servers.
pub fn plan(servers: &[NamedServer], skips: Skips) -> Plan {
    let by = |f: &dyn Fn(&ServerUri) -> bool| -> Vec<NamedServer> {
        servers.iter().filter(|s| f(&s.uri)).cloned().collect()
    };
    let plain_udp = |u: &ServerUri| {
        matches!(u.scheme, Scheme::Stun | Scheme::Turn)
            && u.transport
                .is_none_or(|t| t == model::servers::Transport::Udp)
    };
    let stun = by(&|u| matches!(u.scheme, Scheme::Stun | Scheme::Turn));
    let nat = if skips.nat {
        Err("skipped (--no-nat)".to_owned())
    } else {
        let s = by(&plain_udp);
        if s.is_empty() {
            Err("no STUN server over UDP to classify against".to_owned())
        } else {
            Ok(s)
        }
    };
    let turn = if skips.turn {
        Err("skipped (--no-turn)".to_owned())
    } else {
        let s = by(&|u| u.scheme.is_turn());
        if s.is_empty() {
            Err("no turn:/turns: server given".to_owned())
        } else {
            Ok(s)
        }
    };
    let ice = if skips.ice {
        Err("skipped (--no-ice)".to_owned())
    } else {
        // stun: for srflx; turn: over UDP or TCP and turns: (TLS) for relays.
        Ok(by(&|u| u.ice_transport().is_ok()))
    };
    Plan {
        stun,
        nat,
        turn,
        ice,
    }
}

/// The servers `--lab` starts; stopped at the end of the run.
pub(crate) struct EmbeddedLab {
    stun: Responder,
    turn: TurnServer,
    password: Secret,
}

const LAB_USER: &str = "natscope";
const LAB_REALM: &str = "natscope.lab";

impl EmbeddedLab {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let stun = Responder::start(ResponderConfig::loopback_lab())
            .map_err(|e| anyhow::anyhow!("cannot start the embedded STUN responder: {e}"))?;
        // A fresh random password per run: nothing to leak, nothing to
        // guess (`serve --embedded` keeps these servers up for a while).
        let password = Secret::new(format!(
            "lab-{}",
            servers::browser::random_secret()
                .ok_or_else(|| anyhow::anyhow!("the system's random number source failed"))?
        ));
        let turn = TurnServer::start(TurnServerConfig::new(LAB_REALM, LAB_USER, password.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the embedded TURN server: {e}"))?;
        Ok(Self {
            stun,
            turn,
            password,
        })
    }

    /// The lab's servers, as a user would name them.
    pub(crate) fn servers(&self) -> anyhow::Result<Vec<NamedServer>> {
        let addrs = self.stun.addrs();
        let mut labels: Vec<String> = [Some(addrs.primary), addrs.alternate]
            .into_iter()
            .flatten()
            .map(|a| format!("stun:{a}"))
            .collect();
        labels.push(format!("turn:{}?transport=udp", self.turn.udp_addr));
        labels.push(format!("turn:{}?transport=tcp", self.turn.tcp_addr));
        labels.push(format!("turns:localhost:{}", self.turn.tls_addr.port()));
        labels
            .into_iter()
            .map(|label| {
                let uri =
                    ServerUri::parse(&label)?.with_credentials(LAB_USER, self.password.clone());
                Ok(NamedServer { label, uri })
            })
            .collect()
    }

    /// The CA certificate (PEM) the TLS listener's certificate chains to.
    pub(crate) fn turn_ca_pem(&self) -> &str {
        self.turn.ca_pem()
    }

    pub(crate) async fn stop(self) {
        self.stun.shutdown().await;
        self.turn.shutdown();
    }
}

/// The reason of a section the overall deadline cut short.
const PAST_DEADLINE: &str = "did not finish within the overall deadline (--timeout)";

/// Runs a section under the overall deadline; a section that fails or is
/// still running then is "failed" with the reason.
async fn bounded<T>(
    deadline: tokio::time::Instant,
    fut: impl std::future::Future<Output = anyhow::Result<Section<T>>>,
) -> Section<T> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(Ok(section)) => section,
        Ok(Err(e)) => Section::failed(format!("{e:#}")),
        Err(_) => Section::failed(PAST_DEADLINE),
    }
}

/// With `--require`: one line per unmet requirement on stderr; the verdict
/// depends on the required checks only.
fn require(summary: &model::Summary, required: &[CheckId]) -> Verdict {
    let unmet = rules::require(summary, required);
    for u in &unmet {
        match u {
            rules::Unmet::NotPassed(c) => {
                let status = match c.status {
                    model::CheckStatus::Fail => "failed",
                    _ => "not tested",
                };
                eprintln!(
                    "natscope: required check {} {status}: {}",
                    c.id,
                    report::sanitize::terminal(&c.reason)
                );
            }
            rules::Unmet::NotRun(id) => {
                eprintln!("natscope: required check {id} was not run by this diagnosis");
            }
        }
    }
    if unmet.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

/// Runs the command.
pub async fn run(args: DiagnoseArgs) -> anyhow::Result<Verdict> {
    args.output.check()?;
    let progress = crate::progress::Progress::new(args.json_lines);
    let rep = report(&args, &progress).await?;
    args.output.emit(&rep)?;
    let verdict = if args.require.is_empty() {
        rules::verdict(&rep.summary)
    } else {
        require(&rep.summary, &args.require)
    };
    progress.finish(match verdict {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
    });
    Ok(verdict)
}

/// One diagnosis: the concluded (and, with `--redact`, redacted) report.
/// SIGINT or SIGTERM stops it (an [`crate::Interrupted`] error) after the
/// port-mapping cleanup that applies.
pub async fn report(
    args: &DiagnoseArgs,
    progress: &crate::progress::Progress,
) -> anyhow::Result<model::Report> {
    let lab = if args.lab {
        Some(EmbeddedLab::start().await?)
    } else {
        None
    };
    let servers = match &lab {
        Some(lab) => lab.servers()?,
        None => args.servers.collect()?,
    };
    let mut plan = plan(
        &servers,
        Skips {
            nat: args.no_nat,
            turn: args.no_turn,
            ice: args.no_ice,
        },
    );
    // -4/-6: TURN and ICE servers given as IP literals of the other family
    // are left out (names are filtered when resolved).
    for part in [&mut plan.turn, &mut plan.ice] {
        if let Ok(list) = part {
            let given = list.len();
            list.retain(|s| match &s.uri.host {
                model::servers::Host::Ip(ip) => args.family.allows(*ip),
                model::servers::Host::Name(_) => true,
            });
            if given > 0 && list.is_empty() {
                let why = args
                    .family
                    .skipped(!args.family.ipv6_only)
                    .unwrap_or("skipped");
                *part = Err(format!("{why}: every server for it is of the other family"));
            }
        }
    }
    let auth = args.creds.auth()?;
    if auth.is_none() {
        // A turn: server without credentials could only show its 401
        // challenge: a usage error, before anything is sent.
        if let Ok(turn) = &plan.turn {
            crate::turn_cmd::require_credentials(turn.iter().map(|s| (&s.label, &s.uri)))?;
        }
    }
    if args.lab {
        // The lab's STUN service is the RFC 5780 responder. The embedded
        // TURN server answers Binding too, but its UDP and TCP listeners sit
        // on different ports, which would add misleading "UDP but not TCP"
        // agreement notes: STUN and NAT use the responder only.
        plan.stun.retain(|s| s.uri.scheme == Scheme::Stun);
        if let Ok(nat) = &mut plan.nat {
            nat.retain(|s| s.uri.scheme == Scheme::Stun);
        }
    }
    let mut rep = model::Report::new(
        if args.lab {
            "diagnose --lab"
        } else {
            "diagnose"
        },
        crate::cli_time::now_rfc3339(),
    );
    let probe_args = ProbeArgs {
        timeout: args.stun_timeout,
        bind: args.bind.clone(),
        family: args.family,
    };
    probe_args.check()?;
    rep.options.ipv4 = !args.family.ipv6_only;
    rep.options.ipv6 = !args.family.ipv4_only;
    rep.options.timeout_ms =
        Some(u64::try_from(probe_args.timeout.as_millis()).unwrap_or(u64::MAX));
    rep.options.servers = servers.iter().map(|s| s.label.clone()).collect();
    rep.options.bind = probe_args.bind_label();
    let deadline = tokio::time::Instant::now() + args.deadline;

    let tls = args
        .creds
        .tls(lab.as_ref().map(|l| l.turn.ca_pem().as_bytes()))?;
    let long_term = auth.as_ref().map(|a| {
        let c = a.resolve(probe::turn::creds::unix_now());
        (c.username, c.password)
    });
    let turn_cfg = TurnProbeConfig {
        auth,
        expected_realm: args.creds.realm.clone(),
        tls: tls.clone(),
        resolver: probe::resolve::Resolver::system().ok(),
        ipv4: !args.family.ipv6_only,
        // The embedded lab's servers listen on 127.0.0.1 only: `localhost`
        // (their TLS name) also has ::1, which is not theirs.
        ipv6: !args.family.ipv4_only && !args.lab,
        ..TurnProbeConfig::default()
    };

    let stun = bounded(deadline, async {
        let section = stun_cmd::probe_section(&plan.stun, args.lab, &probe_args).await;
        Ok(Section::Tested(section))
    });
    let nat = async {
        let both = |s: Section<natclass::NatVerdict>| nat_cmd::NatSections {
            ipv4: s.clone(),
            ipv6: s,
        };
        match &plan.nat {
            Err(why) => both(Section::not_tested(why.clone())),
            Ok(s) => {
                let run = nat_cmd::nat_sections(s, &probe_args, &args.nat);
                match tokio::time::timeout_at(deadline, run).await {
                    Ok(sections) => sections,
                    Err(_) => {
                        // A family -4/-6 excluded stays "skipped", not failed.
                        let cut = |v6: bool| match args.family.skipped(v6) {
                            Some(why) => Section::not_tested(why),
                            None => Section::failed(PAST_DEADLINE),
                        };
                        nat_cmd::NatSections {
                            ipv4: cut(false),
                            ipv6: cut(true),
                        }
                    }
                }
            }
        }
    };
    let turn = async {
        match &plan.turn {
            Err(why) => Section::not_tested(why.clone()),
            Ok(s) => {
                bounded(deadline, async {
                    let uris: Vec<ServerUri> = s.iter().map(|s| s.uri.clone()).collect();
                    let results = probe::turn::probe_all(&uris, &turn_cfg).await;
                    Ok(Section::Tested(model::turn::TurnSection { results }))
                })
                .await
            }
        }
    };
    let ice = async {
        match &plan.ice {
            Err(why) => Section::not_tested(why.clone()),
            Ok(s) => {
                bounded(deadline, async {
                    let servers = ice_cmd::servers_from(
                        s,
                        long_term.as_ref().map(|(u, _)| u.as_str()),
                        long_term.as_ref().map(|(_, p)| p),
                        &tls,
                        probe_args.timeout,
                        args.family,
                    )
                    .await?;
                    let mut opts = IceOptions::loopback();
                    opts.host_ips = match probe_args.bind.first() {
                        Some(_) => probe_args.bind.clone(),
                        None if args.lab => opts.host_ips,
                        None => ice_cmd::default_host_ips(&servers).await?,
                    };
                    let results =
                        probe::ice::run_all(&IceFilter::ALL_FILTERS, &servers, &opts).await;
                    Ok(ice_cmd::tested_section(&results))
                })
                .await
            }
        }
    };
    // Port mapping: its own ledger, so that Ctrl-C (or the deadline) can
    // still delete whatever was mapped. With --no-portmap nothing is sent.
    let ledger = Arc::new(probe::portmap::MappingLedger::new());
    let portmap_args = PortmapArgs {
        skip: args.no_portmap,
        ..args.portmap.clone()
    };
    let portmap_cfg = if args.lab {
        portmap_args.lab_config()
    } else {
        portmap_args.config(None)
    };
    let portmap = bounded(deadline, async {
        let mut out = probe::portmap::probe(&portmap_cfg, &ledger).await;
        if args.lab {
            portmap_cmd::mark_lab(&mut out);
        }
        Ok(Section::Tested(out))
    });
    // A section's progress status: how the checks it makes add up.
    let status_of = |fill: &dyn Fn(&mut model::Report)| {
        let mut r = model::Report::new("", "");
        r.options.servers = rep.options.servers.clone();
        fill(&mut r);
        model::CheckStatus::of(&rules::summarize(&r).checks)
    };
    let sections = async {
        tokio::join!(
            progress.track(
                "interfaces",
                async { interfaces_cmd::section() },
                |s| match s {
                    Section::Tested(_) => model::CheckStatus::Pass,
                    Section::Failed { .. } => model::CheckStatus::Fail,
                    Section::NotTested { .. } => model::CheckStatus::NotTested,
                }
            ),
            progress.track("stun", stun, |s| status_of(&|r| r.stun = s.clone())),
            progress.track("nat", nat, |s| status_of(&|r| {
                r.nat = s.ipv4.clone();
                r.nat_ipv6 = s.ipv6.clone();
            })),
            progress.track("turn", turn, |s| status_of(&|r| r.turn = s.clone())),
            progress.track("ice", ice, |s| status_of(&|r| r.ice = s.clone())),
            progress.track("portmap", portmap, |p| match p {
                Section::Tested(o) => status_of(&|r| r.portmap = portmap_cmd::section(o)),
                other => status_of(&|r| {
                    r.portmap = match other {
                        Section::NotTested { reason } => Section::not_tested(reason.clone()),
                        Section::Failed { reason } => Section::failed(reason.clone()),
                        Section::Tested(_) => Section::not_tested("not run"),
                    }
                }),
            }),
        )
    };
    // Ctrl-C is watched before any section is polled (`biased`), so the
    // handler is in place before the first probe and progress line.
    let joined = tokio::select! {
        biased;
        _ = crate::signals::stop_requested() => None,
        j = sections => Some(j),
    };
    // Whatever the deadline or Ctrl-C cut short: delete it (bounded).
    let cleanup = if ledger.outstanding() > 0 {
        Some(ledger.cleanup(portmap_cfg.step_timeout).await)
    } else {
        None
    };
    if let Some(lab) = lab {
        lab.stop().await;
    }
    let Some((interfaces, stun, nat, turn, ice, portmap)) = joined else {
        // Only the cleanup that applied is reported.
        let message = match cleanup {
            Some(r) => format!(
                "interrupted; port mappings removed: {}, not removed (they expire with their lease): {}",
                r.removed.len(),
                r.failed.len()
            ),
            None => "interrupted".to_owned(),
        };
        return Err(crate::Interrupted(message).into());
    };
    rep.interfaces = interfaces;
    rep.stun = stun;
    rep.nat = nat.ipv4;
    rep.nat_ipv6 = nat.ipv6;
    rep.turn = turn;
    rep.ice = ice;
    // The public IP STUN (or the NAT probe) saw, to compare with the
    // gateways' external addresses.
    let public = rep
        .stun
        .tested()
        .and_then(portmap_cmd::public_ip)
        .or_else(|| rep.nat.tested().and_then(|v| v.public.map(|p| p.ip())));
    rep.portmap = match portmap {
        Section::Tested(mut o) => {
            portmap_cmd::compare_with_stun(&mut o, public);
            if let Some(r) = &cleanup {
                o.leftover.extend(r.failed.iter().cloned());
            }
            portmap_cmd::section(&o)
        }
        Section::NotTested { reason } => Section::not_tested(reason),
        Section::Failed { reason } => Section::failed(reason),
    };
    rules::conclude(&mut rep);
    if let Some(r) = cleanup.as_ref()
        && rep.portmap.tested().is_none()
    {
        // The section was cut short and a mapping stayed behind: only the
        // cleanup knows.
        rules::portmap::left_behind(&mut rep.summary, &r.failed);
        rep.diagnosis = rules::diagnose(&rep);
        rep.summary.advice = rules::advice(&rep.diagnosis);
    }
    if args.redact {
        rep = report::redact::redact(&rep);
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(list: &[&str]) -> Vec<NamedServer> {
        list.iter()
            .map(|s| NamedServer {
                label: (*s).to_owned(),
                uri: ServerUri::parse(s).expect("test URI"),
            })
            .collect()
    }

    fn labels(v: &[NamedServer]) -> Vec<&str> {
        v.iter().map(|s| s.label.as_str()).collect()
    }

    #[test]
    fn plan_splits_servers_by_what_each_test_needs() {
        let all = named(&[
            "stun:192.0.2.1:3478",
            "turn:192.0.2.2:3478?transport=udp",
            "turn:192.0.2.2:3478?transport=tcp",
            "turns:turn.example.org",
        ]);
        let p = plan(&all, Skips::default());
        // turns: (TLS) is not a plain STUN Binding target.
        assert_eq!(labels(&p.stun), labels(&all[..3]));
        assert_eq!(
            labels(p.nat.as_ref().unwrap()),
            ["stun:192.0.2.1:3478", "turn:192.0.2.2:3478?transport=udp"]
        );
        assert_eq!(labels(p.turn.as_ref().unwrap()).len(), 3);
        // ICE: srflx from stun:, relays over TURN-UDP, -TCP and -TLS.
        assert_eq!(labels(p.ice.as_ref().unwrap()), labels(&all));
    }

    #[test]
    fn plan_says_why_a_section_is_skipped() {
        let p = plan(
            &named(&["stun:192.0.2.1"]),
            Skips {
                nat: true,
                turn: false,
                ice: true,
            },
        );
        assert_eq!(p.nat.unwrap_err(), "skipped (--no-nat)");
        assert_eq!(p.turn.unwrap_err(), "no turn:/turns: server given");
        assert_eq!(p.ice.unwrap_err(), "skipped (--no-ice)");
        let p = plan(&named(&["turns:192.0.2.9"]), Skips::default());
        assert!(p.nat.unwrap_err().contains("no STUN server over UDP"));
        assert!(p.stun.is_empty());
    }

    #[test]
    fn require_reports_unmet_checks() {
        let summary = model::Summary {
            checks: vec![
                model::Check::new(CheckId::Udp, model::CheckStatus::Pass, "ok"),
                model::Check::new(CheckId::NatEim, model::CheckStatus::Fail, "apdm"),
            ],
            ..model::Summary::default()
        };
        assert_eq!(require(&summary, &[CheckId::Udp]), Verdict::Pass);
        assert_eq!(
            require(&summary, &[CheckId::Udp, CheckId::NatEim]),
            Verdict::Fail
        );
        assert_eq!(require(&summary, &[CheckId::IceRelay]), Verdict::Fail);
    }
}
