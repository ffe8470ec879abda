//! `natscope browser`: a real browser as the other peer. Serves the page
//! (`servers::browser`), opens it (headless Chromium/Firefox, the desktop's
//! browser, or the user with the printed URL), answers its steps
//! (`probe::browser::Session`) and writes the report, with natscope's own
//! TURN test of the same servers beside the browser's view.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use model::Section;
use model::servers::{Scheme, ServerUri};
use probe::browser::launch::{self, BrowserKind, LaunchOptions, Launched};
use probe::browser::{Session, SessionConfig, StepEffect};
use probe::turn::TurnProbeConfig;
use servers::browser::PageServer;

use crate::cli_time::parse_duration;
use crate::diagnose::EmbeddedLab;
use crate::servers_arg::{CredentialArgs, ServerArgs};

fn parse_kind(s: &str) -> Result<BrowserKind, String> {
    BrowserKind::parse(s).ok_or_else(|| format!("unknown browser {s:?}; one of: chromium, firefox"))
}

/// Arguments of `natscope browser`.
#[derive(Debug, clap::Args)]
pub struct BrowserArgs {
    #[command(flatten)]
    servers: ServerArgs,
    #[command(flatten)]
    creds: CredentialArgs,
    /// Use natscope's own servers, started on loopback for this run (RFC
    /// 5780 STUN; TURN over UDP, TCP and TLS).
    #[arg(long)]
    lab: bool,
    /// Start this browser headless (chromium or firefox) instead of
    /// opening the page in the desktop's browser.
    #[arg(long, value_name = "BROWSER", value_parser = parse_kind)]
    headless: Option<BrowserKind>,
    /// The browser program for --headless (default: looked for on PATH).
    #[arg(long, value_name = "FILE", requires = "headless")]
    browser_path: Option<PathBuf>,
    /// Where the page server listens; natscope's WebRTC peer uses the same
    /// IP. Default 127.0.0.1 (this machine only) on a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Only print the page's URL (do not open a browser).
    #[arg(long, conflicts_with = "headless")]
    no_open: bool,
    /// Overall limit: the page must report back within it (e.g. 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    timeout: Duration,
    /// How long the page waits for candidate gathering, per policy.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    gather_timeout: Duration,
    /// How long the page waits for ICE and the data channel, per policy.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    connect_timeout: Duration,
    /// Data-channel round trips per connection.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pings: u32,
    /// Skip natscope's own TURN test of the same servers.
    #[arg(long)]
    no_turn: bool,
}

/// `natscope browser`: the arguments plus output options.
#[derive(Debug, clap::Args)]
pub struct BrowserCmd {
    #[command(flatten)]
    args: BrowserArgs,
    #[command(flatten)]
    output: crate::output::OutputArgs,
}

/// Runs `natscope browser`.
pub async fn run(cmd: BrowserCmd) -> anyhow::Result<crate::Verdict> {
    cmd.output.check()?;
    let a = &cmd.args;
    if a.listen.ip().is_unspecified() {
        anyhow::bail!(
            "--listen {}: give the address the browser will reach (natscope's WebRTC peer \
             offers it as its host candidate), e.g. 127.0.0.1:0 or this machine's LAN address",
            a.listen
        );
    }
    if !a.listen.ip().is_loopback() {
        eprintln!(
            "natscope: --listen {}: the page, and the TURN credentials it is given, travel \
             over plain HTTP to whoever opens the link; use it on a network you trust",
            a.listen
        );
    }
    // Before anything is started: a missing browser is a usage error.
    let program = match a.headless {
        Some(kind) => Some(launch::find(kind, a.browser_path.as_deref())?),
        None => None,
    };
    let lab = if a.lab {
        Some(EmbeddedLab::start().await?)
    } else {
        None
    };
    let named = match &lab {
        Some(lab) => lab.servers()?,
        None => {
            if a.servers.is_empty() {
                anyhow::bail!(
                    "name the STUN/TURN servers to test (URIs or --ice-servers FILE), or use --lab"
                );
            }
            a.servers.given()?
        }
    };
    let auth = a.creds.auth()?;
    let long_term = a.creds.long_term()?;
    let rest = matches!(auth, Some(probe::turn::TurnAuth::Rest { .. }));
    for s in named.iter().filter(|s| s.uri.scheme == Scheme::Stuns) {
        eprintln!(
            "natscope: {}: browsers do not use stuns: URLs; skipped",
            s.label
        );
    }
    // (label, URI with credentials) of every server a browser uses.
    let given: Vec<(&String, ServerUri)> = named
        .iter()
        .filter(|s| s.uri.scheme != Scheme::Stuns)
        .map(|s| {
            let mut u = s.uri.clone();
            if u.scheme.is_turn()
                && u.credential.is_none()
                && let Some((user, pass)) = &long_term
            {
                // A REST password belongs to its derived username; a
                // long-term one to the URI's user when it names one.
                let user = match (&u.username, rest) {
                    (Some(own), false) => own.clone(),
                    _ => user.clone(),
                };
                u = u.with_credentials(user, pass.clone());
            }
            (&s.label, u)
        })
        .collect();
    if lab.is_none() {
        crate::turn_cmd::require_credentials(
            given
                .iter()
                .filter(|(_, u)| u.credential.is_none())
                .map(|(l, u)| (*l, u)),
        )?;
    }
    let uris: Vec<ServerUri> = given.into_iter().map(|(_, u)| u).collect();

    let (server, mut steps) = PageServer::start(a.listen)
        .await
        .with_context(|| format!("--listen {}", a.listen))?;
    let loopback = server.addr.ip().is_loopback();
    let launched_as = a.headless.map_or("url", BrowserKind::as_str).to_owned();
    let mut session = Session::new(SessionConfig {
        policies: SessionConfig::policies_for(&uris),
        servers: uris.clone(),
        peer_ip: server.addr.ip(),
        gather_limit: a.gather_timeout,
        connect_limit: a.connect_timeout,
        pings: a.pings,
        ping_limit: Duration::from_secs(2),
        launched: launched_as,
    });

    // The URL carries the one-time token: to the browser (and the user's
    // terminal), never to a log or the report.
    let trust_ca_pem = match (&lab, &a.creds.ca) {
        (Some(lab), _) => Some(lab.turn_ca_pem().to_owned()),
        (None, Some(p)) => Some(
            std::fs::read_to_string(p).with_context(|| format!("reading --ca {}", p.display()))?,
        ),
        (None, None) => None,
    };
    let mut browser: Option<Launched> = None;
    match (a.headless, &program) {
        (Some(kind), Some(p)) => {
            browser = Some(Launched::start(
                kind,
                p,
                server.url(),
                &LaunchOptions {
                    loopback,
                    trust_ca_pem,
                },
            )?);
            eprintln!(
                "natscope: testing in headless {} ({})",
                kind.as_str(),
                p.display()
            );
        }
        _ => {
            eprintln!("natscope: open this link in the browser to test (it works once):");
            eprintln!("  {}", server.url());
            if !a.no_open && desktop() {
                let _ = std::process::Command::new("xdg-open")
                    .arg(server.url())
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
        }
    }

    let deadline = tokio::time::Instant::now() + a.timeout;
    let tls = a
        .creds
        .tls(lab.as_ref().map(|l| l.turn_ca_pem().as_bytes()))?;
    let turn_uris: Vec<ServerUri> = uris
        .iter()
        .filter(|u| u.scheme.is_turn())
        .cloned()
        .collect();
    let turn_cfg = TurnProbeConfig {
        auth,
        expected_realm: a.creds.realm.clone(),
        tls,
        resolver: probe::resolve::Resolver::system().ok(),
        ..TurnProbeConfig::default()
    };
    let turn = async {
        if a.no_turn {
            return Section::not_tested("skipped (--no-turn)");
        }
        if turn_uris.is_empty() {
            return Section::not_tested("no TURN server given");
        }
        match tokio::time::timeout_at(deadline, probe::turn::probe_all(&turn_uris, &turn_cfg)).await
        {
            Ok(results) => Section::Tested(model::turn::TurnSection { results }),
            Err(_) => Section::failed("did not finish within the overall limit (--timeout)"),
        }
    };
    let page = async {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let why: Option<String> = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    break Some(format!("the page did not finish within {} (--timeout)", crate::cli_time::show(a.timeout)));
                }
                _ = tick.tick() => {
                    if let Some(b) = browser.as_mut()
                        && let Some(why) = b.exited()
                    {
                        break Some(why);
                    }
                }
                ev = steps.recv() => {
                    let Some(ev) = ev else { break Some("the page server stopped".to_owned()) };
                    let (answer, effect) = session.handle(&ev.step, &ev.body);
                    let _ = ev.reply.send(answer);
                    if effect == StepEffect::Finished {
                        break None;
                    }
                }
            }
        };
        let ran = session.page_ran();
        (session.finish(why.clone()).await, ran, why)
    };
    // Ctrl-C / SIGTERM: watched from before the first step (`biased`);
    // the browser, the peers and the servers are stopped either way.
    let joined = tokio::select! {
        biased;
        _ = crate::signals::stop_requested() => None,
        j = async { tokio::join!(turn, page) } => Some(j),
    };
    drop(browser);
    let refused = server.refused();
    drop(server);
    if let Some(lab) = lab {
        lab.stop().await;
    }
    let Some((turn_section, (section, ran, why))) = joined else {
        return Err(crate::Interrupted(
            "interrupted; the browser and natscope's peers were stopped".into(),
        )
        .into());
    };
    if refused > 0 {
        eprintln!(
            "natscope: refused {refused} request(s) to the page server without the session token"
        );
    }

    let mut rep = model::Report::new("browser", crate::cli_time::now_rfc3339());
    rep.options.servers = named.iter().map(|s| s.label.clone()).collect();
    rep.turn = turn_section;
    rep.browser = if ran {
        Section::Tested(section)
    } else {
        Section::failed(format!(
            "the page never reported back: {}",
            why.unwrap_or_else(|| "no reason".into())
        ))
    };
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}

/// A desktop session the page can be opened in.
fn desktop() -> bool {
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}
