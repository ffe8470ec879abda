//! `natscope serve`: run the RFC 5780 STUN responder as a server, with an
//! optional Prometheus `/metrics` endpoint and, with `--rendezvous`, the
//! rendezvous `natscope peer` meets through. See docs/serve.md and
//! docs/rendezvous.md.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use servers::http::{Asked, Handler, Reply};
use servers::responder::{Metrics, RateLimit, Responder, ResponderConfig};
use tokio::net::TcpListener;

/// The Prometheus text exposition format's content type.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Arguments of `natscope serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Primary IP address to listen on. With --alternate it must be a
    /// specific address (not 0.0.0.0).
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub primary: IpAddr,
    /// Alternate IP address (a second address of this host): enables the
    /// RFC 5780 NAT behaviour tests (OTHER-ADDRESS, CHANGE-REQUEST).
    #[arg(long, value_name = "ADDR")]
    pub alternate: Option<IpAddr>,
    /// Primary port (0: pick free ports).
    #[arg(long, value_name = "P", default_value_t = servers::responder::DEFAULT_PORT)]
    pub port: u16,
    /// Alternate port (used with --alternate).
    #[arg(long, value_name = "P2", default_value_t = servers::responder::DEFAULT_ALT_PORT)]
    pub alt_port: u16,
    /// Public address of --primary behind a 1:1 NAT (cloud VM), reported in
    /// RESPONSE-ORIGIN.
    #[arg(long, value_name = "ADDR")]
    pub advertise_primary: Option<IpAddr>,
    /// Public address of --alternate behind a 1:1 NAT, reported in
    /// OTHER-ADDRESS and RESPONSE-ORIGIN.
    #[arg(long, value_name = "ADDR")]
    pub advertise_alternate: Option<IpAddr>,
    /// SOFTWARE attribute to put in responses (none by default).
    #[arg(long, value_name = "TEXT")]
    pub software: Option<String>,
    /// Serve UDP only (no STUN over TCP).
    #[arg(long)]
    pub no_tcp: bool,
    /// Binding requests per second allowed from one source IP (IPv6: /64),
    /// with bursts of twice that; 0 disables the limit.
    #[arg(long, value_name = "N", default_value_t = RateLimit::default().per_second)]
    pub rate_limit: u32,
    /// Serve Prometheus metrics over HTTP at ADDR (GET /metrics), e.g.
    /// 127.0.0.1:9478.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Start natscope's own servers on loopback instead — what `diagnose
    /// --lab` uses (RFC 5780 STUN; TURN over UDP, TCP and TLS with a fresh
    /// CA and password) — and print their iceServers JSON (with the
    /// password) for `natscope browser`, `ice` and `turn`.
    #[arg(long, conflicts_with_all = ["primary", "alternate", "port", "alt_port", "metrics", "rendezvous"])]
    pub embedded: bool,
    /// With --embedded: write the CA certificate the TLS listener chains to
    /// (pass it as --ca).
    #[arg(long, value_name = "FILE", requires = "embedded")]
    pub ca_out: Option<PathBuf>,
    /// Also run the rendezvous `natscope peer` clients meet through (HTTP,
    /// or HTTPS with --rendezvous-cert): signalling messages only, bounded
    /// and expiring (docs/rendezvous.md).
    #[arg(long)]
    pub rendezvous: bool,
    /// Where the rendezvous listens (TCP).
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_RENDEZVOUS_PORT)), requires = "rendezvous")]
    pub rendezvous_listen: SocketAddr,
    /// Serve the rendezvous over TLS with this PEM certificate chain (with
    /// --rendezvous-key).
    #[arg(long, value_name = "FILE", requires_all = ["rendezvous", "rendezvous_key"])]
    pub rendezvous_cert: Option<PathBuf>,
    /// The PEM private key of --rendezvous-cert.
    #[arg(long, value_name = "FILE", requires_all = ["rendezvous", "rendezvous_cert"])]
    pub rendezvous_key: Option<PathBuf>,
}

/// The rendezvous' default TCP port.
pub const DEFAULT_RENDEZVOUS_PORT: u16 = 8478;

/// Binds and starts the rendezvous `args` ask for (none without
/// `--rendezvous`).
async fn start_rendezvous(
    args: &ServeArgs,
) -> anyhow::Result<Option<servers::rendezvous::RendezvousServer>> {
    if !args.rendezvous {
        return Ok(None);
    }
    let tls = match (&args.rendezvous_cert, &args.rendezvous_key) {
        (Some(cert), Some(key)) => {
            let chain = std::fs::read(cert)
                .with_context(|| format!("cannot read --rendezvous-cert {}", cert.display()))?;
            let key_pem = std::fs::read(key)
                .with_context(|| format!("cannot read --rendezvous-key {}", key.display()))?;
            Some(
                servers::http::tls_config(&chain, &key_pem)
                    .context("cannot use --rendezvous-cert and --rendezvous-key")?,
            )
        }
        _ => None,
    };
    let addr = args.rendezvous_listen;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind the rendezvous {addr}"))?;
    let server = servers::rendezvous::RendezvousServer::start(
        listener,
        tls,
        servers::rendezvous::Limits::default(),
    )
    .with_context(|| format!("cannot start the rendezvous on {addr}"))?;
    Ok(Some(server))
}

impl ServeArgs {
    fn config(&self) -> ResponderConfig {
        ResponderConfig {
            primary: self.primary,
            alternate: self.alternate,
            port: self.port,
            alt_port: self.alt_port,
            advertise_primary: self.advertise_primary,
            advertise_alternate: self.advertise_alternate,
            software: self.software.clone(),
            tcp: !self.no_tcp,
            rate_limit: if self.rate_limit == 0 {
                RateLimit::disabled()
            } else {
                RateLimit::per_second(self.rate_limit)
            },
            ..ResponderConfig::default()
        }
    }
}

/// With `--embedded`: the embedded servers until SIGINT or SIGTERM. The
/// iceServers JSON (it holds the run's password) goes to stdout only.
async fn run_embedded(args: &ServeArgs) -> anyhow::Result<()> {
    let lab = crate::diagnose::EmbeddedLab::start().await?;
    let uris: Vec<_> = lab.servers()?.into_iter().map(|s| s.uri).collect();
    if let Some(path) = &args.ca_out {
        std::fs::write(path, lab.turn_ca_pem())
            .with_context(|| format!("cannot write --ca-out {}", path.display()))?;
        eprintln!(
            "natscope serve: CA certificate written to {}",
            path.display()
        );
    }
    let json = serde_json::json!({ "iceServers": model::servers::ice_servers_json(&uris) });
    println!("{json}");
    eprintln!(
        "natscope serve: natscope's servers run on loopback until Ctrl-C; save the line above \
         as ice.json and try: natscope browser --ice-servers ice.json{} --headless chromium",
        args.ca_out
            .as_ref()
            .map(|p| format!(" --ca {}", p.display()))
            .unwrap_or_default()
    );
    crate::signals::stop_requested().await?;
    lab.stop().await;
    eprintln!("natscope serve: stopped");
    Ok(())
}

/// Runs the responder until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.embedded {
        return run_embedded(&args).await;
    }
    let responder = Responder::start(args.config()).context("cannot start the STUN responder")?;
    // Every socket is bound before anything is said to be listening.
    let metrics_listener = match args.metrics {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot bind the metrics endpoint {addr}"))?,
        ),
        None => None,
    };
    let rendezvous = start_rendezvous(&args).await?;
    let addrs = responder.addrs();
    for a in addrs.udp() {
        println!("udp {a}");
    }
    for a in &addrs.tcp {
        println!("tcp {a}");
    }
    match addrs.other_address {
        Some(o) => println!("OTHER-ADDRESS {o} (RFC 5780 tests available)"),
        None => println!("single-address mode (no RFC 5780 NAT tests)"),
    }
    if let Some(r) = &rendezvous {
        println!("rendezvous {}", r.url());
    }
    let metrics_task = match metrics_listener {
        Some(listener) => {
            println!("metrics http://{}/metrics", listener.local_addr()?);
            let process = ProcessInfo {
                version: env!("CARGO_PKG_VERSION"),
                started: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            };
            Some(tokio::spawn(servers::http::serve(
                listener,
                metrics_handler(
                    responder.metrics(),
                    rendezvous.as_ref().map(|r| r.metrics_source()),
                    process,
                ),
            )))
        }
        None => None,
    };

    crate::signals::stop_requested().await?;
    tracing::info!("signal received, shutting down");
    if let Some(t) = metrics_task {
        t.abort();
    }
    let m = responder.metrics().snapshot();
    responder.shutdown().await;
    if let Some(r) = rendezvous {
        let rm = r.metrics();
        r.shutdown();
        eprintln!(
            "natscope serve: rendezvous stopped; sessions opened={} joined={} closed={} \
             expired={} messages={} refused={}",
            rm.opened,
            rm.joined,
            rm.closed,
            rm.expired,
            rm.messages,
            rm.refusals.iter().sum::<u64>()
        );
    }
    // The counters, once.
    eprintln!(
        "natscope serve: stopped; requests={} success={} errors={} malformed={} \
         not_binding={} rate_limited={} amplification_refused={} send_errors={}",
        m.requests,
        m.success_responses,
        m.error_responses,
        m.malformed_dropped,
        m.ignored_dropped,
        m.rate_limited,
        m.amplification_refused,
        m.send_errors
    );
    Ok(())
}

/// What `/metrics` says about the process besides the counters.
#[derive(Clone, Copy)]
struct ProcessInfo {
    /// natscope's version (build_info).
    version: &'static str,
    /// Start time, seconds since the Unix epoch.
    started: f64,
}

/// `GET /metrics`: the responder's counters, the rendezvous' (with
/// `--rendezvous`) and the process gauges.
fn metrics_handler(
    metrics: Arc<Metrics>,
    rendezvous: Option<servers::rendezvous::MetricsSource>,
    process: ProcessInfo,
) -> Handler {
    Arc::new(move |asked: &Asked| {
        if asked.method == "GET" && asked.path == "/metrics" {
            Reply::ok(
                PROMETHEUS_TEXT,
                format!(
                    "{}{}{}",
                    metrics.snapshot().to_prometheus(),
                    rendezvous
                        .as_ref()
                        .map(|r| r.snapshot().to_prometheus())
                        .unwrap_or_default(),
                    servers::responder::process_metrics(process.version, process.started)
                ),
            )
        } else {
            Reply::not_here(asked, "/metrics")
        }
    })
}
