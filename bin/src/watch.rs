//! `natscope watch`: the diagnosis again and again, for Prometheus
//! (docs/watch.md). Wiring only: the runs are `diagnose::report`, the
//! series `report::metrics`, the events `rules::watch`.
//!
//! - Runs never overlap: the next starts when the last has ended, after
//!   the interval (±10 % jitter, so that a fleet does not probe in step); a
//!   run longer than the interval is counted as an overrun and the next
//!   starts at once.
//! - stdout: one JSON line per change (public address, NAT behaviour, a
//!   check). stderr: where `/metrics` is served, warnings.
//! - SIGINT/SIGTERM stop it (a run in progress cleans up its port
//!   mappings); SIGHUP re-reads `--config` before the next run.
//! - `--once`: one run, then the metrics on stdout (a node_exporter
//!   textfile) or, with `--push`, to a Pushgateway.

use std::hash::BuildHasher as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use report::metrics::{Exposition, WatchMetrics};
use servers::http::{Asked, Handler, Reply};

use crate::cli_time::parse_duration;
use crate::diagnose::{self, DiagnoseArgs};

/// Arguments of `natscope watch`: every `diagnose` input, plus these.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub diagnose: DiagnoseArgs,
    /// Time from the start of one run to the start of the next (e.g. 60s,
    /// 5m; ±10 % jitter; at least 10ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub every: Duration,
    /// Serve the metrics at http://ADDR/metrics (OpenMetrics, or the
    /// Prometheus text format for scrapers that do not ask for it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// One run, then exit with diagnose's exit code: the metrics go to
    /// stdout (a node_exporter textfile) or, with --push, to a Pushgateway.
    #[arg(long)]
    pub once: bool,
    /// With --once: PUT the metrics to this Pushgateway URL
    /// (http://HOST:PORT/metrics/job/JOB[/LABEL/VALUE...]).
    #[arg(long, value_name = "URL", requires = "once")]
    pub push: Option<String>,
    /// Labels added to every series, e.g. site=office,network=wifi.
    #[arg(long, value_name = "NAME=VALUE,...", value_parser = parse_labels)]
    pub labels: Option<Labels>,
    /// A file of more arguments (one or more per line, shell quoting, #
    /// comments), read at start and re-read on SIGHUP; arguments on the
    /// command line win over the file's.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Stop after this many runs (default: run until stopped).
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
}

/// Validated `--labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels(pub Vec<(String, String)>);

fn parse_labels(s: &str) -> Result<Labels, String> {
    report::metrics::parse_labels(s)
        .map(Labels)
        .map_err(|e| e.to_string())
}

/// The shortest interval honoured.
const MIN_EVERY: Duration = Duration::from_millis(10);
/// How long a push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The delay before the next run: `every` ± 10 %, from a uniform `sample`.
pub fn jittered(every: Duration, sample: u64) -> Duration {
    // sample / u64::MAX in [0, 1] → factor in [0.9, 1.1].
    let unit = sample as f64 / u64::MAX as f64;
    every.mul_f64(0.9 + 0.2 * unit)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The command line again with `--config FILE`'s arguments in front of
/// the command line's own (so that the command line wins).
fn with_config_file(path: &std::path::Path) -> anyhow::Result<WatchArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    let mut file_args = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = shlex::split(line)
            .with_context(|| format!("{}:{}: unbalanced quotes", path.display(), n + 1))?;
        file_args.extend(words);
    }
    let argv: Vec<String> = std::env::args().collect();
    let at = argv
        .iter()
        .position(|a| a == "watch")
        .context("the command line has no `watch`")?;
    let mut full: Vec<String> = argv[..=at].to_vec();
    full.extend(file_args);
    full.extend(argv[at + 1..].iter().cloned());
    match crate::parse_watch(&full) {
        Ok(w) => Ok(w),
        Err(e) => anyhow::bail!("{}: {}", path.display(), e.trim_end()),
    }
}

/// Runs `natscope watch`.
pub async fn run(mut args: WatchArgs) -> anyhow::Result<crate::Verdict> {
    if let Some(path) = args.config.clone() {
        args = with_config_file(&path)?;
    }
    args.diagnose.output.check()?;
    let labels = args.labels.clone().map(|l| l.0).unwrap_or_default();
    let metrics = Arc::new(Mutex::new(WatchMetrics::new(
        env!("NATSCOPE_VERSION"),
        labels,
    )));
    if args.once {
        return once(&args, &metrics).await;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.listen))?;
    let local = listener.local_addr()?;
    let server = tokio::spawn(servers::http::serve(listener, handler(metrics.clone())));
    eprintln!("natscope: metrics at http://{local}/metrics");
    let result = watch_loop(&mut args, &metrics).await;
    server.abort();
    result.map(|()| crate::Verdict::Pass)
}

fn handler(metrics: Arc<Mutex<WatchMetrics>>) -> Handler {
    Arc::new(move |asked: &Asked| {
        if asked.method == "GET" && asked.path == "/metrics" {
            let format = Exposition::negotiate(&asked.accept);
            // A poisoned lock only means a panic elsewhere; the data is
            // still the last consistent set of counters.
            let m = metrics.lock().unwrap_or_else(|p| p.into_inner());
            Reply::ok(format.content_type(), m.render(format))
        } else {
            Reply::not_here(asked, "/metrics")
        }
    })
}

async fn once(
    args: &WatchArgs,
    metrics: &Arc<Mutex<WatchMetrics>>,
) -> anyhow::Result<crate::Verdict> {
    let target = match &args.push {
        Some(url) => Some(probe::push::PushTarget::parse(url)?),
        None => None,
    };
    let rep = diagnose::report(&args.diagnose, &crate::progress::Progress::quiet()).await?;
    if args.diagnose.output.output.is_some() {
        args.diagnose.output.emit(&rep)?;
    }
    let text = {
        let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
        m.observe(&rep, unix_now(), false);
        m.render(Exposition::Prometheus)
    };
    match target {
        Some(t) => {
            if let Err(e) = probe::push::put(
                &t,
                Exposition::Prometheus.content_type(),
                text,
                PUSH_TIMEOUT,
            )
            .await
            {
                eprintln!("natscope: cannot push the metrics: {e}");
                return Ok(crate::Verdict::Fail);
            }
        }
        None => print_stdout(&text),
    }
    Ok(rules::verdict(&rep.summary))
}

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe is not worth failing a long-running probe for.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

async fn watch_loop(
    args: &mut WatchArgs,
    metrics: &Arc<Mutex<WatchMetrics>>,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot watch SIGHUP")?;
    let mut stop = crate::signals::Stop::new()?;
    let random = std::collections::hash_map::RandomState::new();
    let mut prev: Option<model::Report> = None;
    let mut count: u64 = 0;
    let mut reload = false;
    loop {
        if reload {
            reload = false;
            if let Some(path) = args.config.clone() {
                match with_config_file(&path) {
                    Ok(new) => {
                        *args = new;
                        let labels = args.labels.clone().map(|l| l.0).unwrap_or_default();
                        metrics
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .set_labels(labels);
                        eprintln!("natscope: configuration re-read from {}", path.display());
                    }
                    Err(e) => eprintln!(
                        "natscope: keeping the configuration: {}",
                        crate::error_text(&e)
                    ),
                }
            }
        }
        let every = args.every.max(MIN_EVERY);
        let started = Instant::now();
        let quiet = crate::progress::Progress::quiet();
        // A stop during the run is the run's own to handle (it removes its
        // port mappings and returns Interrupted); one that came just before
        // its listener waits in `stop` for the pause below.
        let outcome = diagnose::report(&args.diagnose, &quiet).await;
        let took = started.elapsed();
        let overran = took > every;
        match outcome {
            Ok(rep) => {
                {
                    let mut lines = String::new();
                    let now = unix_now() as i64;
                    for ev in rules::watch::changes(prev.as_ref(), &rep, now) {
                        if let Ok(j) = serde_json::to_string(&ev) {
                            lines.push_str(&j);
                            lines.push('\n');
                        }
                    }
                    if overran && prev.is_some() {
                        let j = serde_json::json!({
                            "event": "run-overran", "subject": "run",
                            "from": null, "to": format!("{} ms", took.as_millis()),
                            "at": rep.generated_at, "finding": null,
                        });
                        lines.push_str(&format!("{j}\n"));
                    }
                    print_stdout(&lines);
                }
                if args.diagnose.output.output.is_some()
                    && let Err(e) = args.diagnose.output.emit(&rep)
                {
                    eprintln!("natscope: {}", crate::error_text(&e));
                }
                metrics.lock().unwrap_or_else(|p| p.into_inner()).observe(
                    &rep,
                    unix_now(),
                    overran,
                );
                prev = Some(rep);
            }
            Err(e) if e.downcast_ref::<crate::Interrupted>().is_some() => return Ok(()),
            Err(e) if count == 0 => return Err(e),
            Err(e) => {
                eprintln!("natscope: run failed: {}", crate::error_text(&e));
                metrics
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe_error(unix_now());
            }
        }
        count += 1;
        if args.runs.is_some_and(|n| count >= n) {
            return Ok(());
        }
        let wait = jittered(every, random.hash_one(count)).saturating_sub(took);
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = hup.recv() => reload = true,
            () = stop.requested() => return Ok(()),
        }
        #[cfg(not(unix))]
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            () = stop.requested() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let every = Duration::from_secs(60);
        assert_eq!(jittered(every, 0), Duration::from_secs(54));
        assert_eq!(jittered(every, u64::MAX), Duration::from_secs(66));
        let mid = jittered(every, u64::MAX / 2);
        assert!(mid > Duration::from_secs(59) && mid < Duration::from_secs(61));
    }
}
