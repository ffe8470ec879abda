//! `natscope watch`'s metrics: what every run adds up to, rendered as
//! OpenMetrics (or the Prometheus text format for older scrapers), by
//! Prometheus' conventions — base units (seconds), `_total` counters,
//! one series per check outcome (a state set), the NAT as an info metric
//! (one series per address family, label `family`),
//! histograms for STUN round trips, TURN stages and ICE connection times.
//!
//! A pure accumulator: reports and times in, text out. Memory is bounded
//! by the number of distinct series (servers × transports × stages), which
//! the configuration fixes; nothing grows with the number of runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use model::{CheckStatus, Report};

/// Which text format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0 (`application/openmetrics-text`), ending in `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain`).
    Prometheus,
}

impl Exposition {
    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format a scraper's `Accept` header asks for.
    pub fn negotiate(accept: &str) -> Self {
        if accept.contains("application/openmetrics-text") {
            Exposition::OpenMetrics
        } else {
            Exposition::Prometheus
        }
    }
}

/// A label set's error: a name Prometheus would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The name is not `[a-zA-Z_][a-zA-Z0-9_]*` or is reserved (`__…`).
    #[error("invalid label name {0:?}: use letters, digits and _, not starting with a digit or __")]
    Name(String),
    /// The name is one natscope sets itself on some series.
    #[error("label {0:?} is natscope's own; choose another name")]
    Reserved(String),
    /// Not `name=value`.
    #[error("expected name=value, got {0:?}")]
    Syntax(String),
}

/// Labels names natscope's series use themselves.
const OWN_LABELS: &[&str] = &[
    "check",
    "status",
    "server",
    "transport",
    "stage",
    "run",
    "mapping",
    "filtering",
    "behind_nat",
    "version",
    "outcome",
    "le",
    "family",
];

/// Parses `site=office,network=wifi` into validated label pairs.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>, LabelError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| LabelError::Syntax(part.to_owned()))?;
        let name = name.trim();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with("__");
        if !valid {
            return Err(LabelError::Name(name.to_owned()));
        }
        if OWN_LABELS.contains(&name) {
            return Err(LabelError::Reserved(name.to_owned()));
        }
        out.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(out)
}

/// A cumulative histogram with fixed buckets (upper bounds, seconds).
#[derive(Debug, Clone, PartialEq)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    /// The run that last added to it (which series to drop first).
    last_run: u64,
}

/// Most series per histogram family: a watch whose servers change (`--lab`
/// starts its servers on new ports every run) drops its least recently
/// updated series beyond this, so memory stays flat for months.
pub const MAX_SERIES: usize = 256;

/// The histogram for `key`, created if needed; beyond [`MAX_SERIES`] the
/// series updated longest ago is dropped first.
fn series<K: Ord + Clone>(map: &mut BTreeMap<K, Histogram>, key: K, run: u64) -> &mut Histogram {
    if !map.contains_key(&key) && map.len() >= MAX_SERIES {
        let oldest = map
            .iter()
            .min_by_key(|(_, h)| h.last_run)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            map.remove(&k);
        }
    }
    let h = map.entry(key).or_insert_with(|| Histogram::new(LATENCY));
    h.last_run = run;
    h
}

/// Round trips and stage times: 1 ms to 10 s.
const LATENCY: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
            last_run: 0,
        }
    }

    fn observe(&mut self, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        for (b, c) in self.bounds.iter().zip(&mut self.counts) {
            if secs <= *b {
                *c += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// Everything `natscope watch` has measured so far.
#[derive(Debug, Clone)]
pub struct WatchMetrics {
    version: String,
    labels: Vec<(String, String)>,
    runs: BTreeMap<&'static str, u64>,
    overruns: u64,
    last_success: Option<f64>,
    last_run: Option<f64>,
    public_changes: u64,
    public: BTreeMap<&'static str, String>,
    stun_rtt: BTreeMap<(String, String), Histogram>,
    turn_stage: BTreeMap<(String, String, String), Histogram>,
    ice_connect: BTreeMap<String, Histogram>,
    checks: Vec<(String, CheckStatus)>,
    /// The last run's NAT verdicts: IPv4 (`nat`), IPv6 (`nat_ipv6`).
    nat: Option<NatLabels>,
    nat_ipv6: Option<NatLabels>,
    /// The last run's TURN certificates: (server, transport) → notAfter.
    cert_not_after: Vec<((String, String), i64)>,
}

impl WatchMetrics {
    /// No runs yet. `labels` are added to every series (from
    /// [`parse_labels`]).
    pub fn new(version: &str, labels: Vec<(String, String)>) -> Self {
        Self {
            version: version.to_owned(),
            labels,
            runs: BTreeMap::new(),
            overruns: 0,
            last_success: None,
            last_run: None,
            public_changes: 0,
            public: BTreeMap::new(),
            stun_rtt: BTreeMap::new(),
            turn_stage: BTreeMap::new(),
            ice_connect: BTreeMap::new(),
            checks: Vec::new(),
            nat: None,
            nat_ipv6: None,
            cert_not_after: Vec::new(),
        }
    }

    /// Replaces the labels added to every series (a re-read
    /// configuration); what was measured is kept.
    pub fn set_labels(&mut self, labels: Vec<(String, String)>) {
        self.labels = labels;
    }

    /// Runs recorded so far (any outcome).
    pub fn runs(&self) -> u64 {
        self.runs.values().sum()
    }

    /// One finished run: its concluded report, when it ended (Unix
    /// seconds), and whether it overran its interval.
    pub fn observe(&mut self, r: &Report, finished_unix: f64, overran: bool) {
        let failed = r.summary.any_failed();
        let run = self.runs() + 1;
        *self
            .runs
            .entry(if failed { "failed" } else { "passed" })
            .or_default() += 1;
        if overran {
            self.overruns += 1;
        }
        self.last_run = Some(finished_unix);
        if !failed {
            self.last_success = Some(finished_unix);
        }
        self.checks = r
            .summary
            .checks
            .iter()
            .map(|c| (c.id.as_str().to_owned(), c.status))
            .collect();
        if let Some(stun) = r.stun.tested() {
            for s in &stun.servers {
                if let Some(ms) = s.rtt_ms {
                    let transport = serde_json::to_value(s.transport)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    series(&mut self.stun_rtt, (s.label.clone(), transport), run)
                        .observe(ms / 1000.0);
                }
            }
            for (family, a) in [
                ("ipv4", &stun.agreement.ipv4),
                ("ipv6", &stun.agreement.ipv6),
            ] {
                if let Some(ip) = a.public_ips.first() {
                    let ip = ip.to_string();
                    match self.public.insert(family, ip.clone()) {
                        Some(old) if old != ip => self.public_changes += 1,
                        _ => {}
                    }
                }
            }
        }
        if let Some(turn) = r.turn.tested() {
            self.cert_not_after = turn
                .results
                .iter()
                .filter_map(|t| {
                    let at = t.certificate_not_after?;
                    Some(((t.uri.clone(), t.transport.label().to_owned()), at))
                })
                .collect();
            for t in &turn.results {
                for s in &t.stages {
                    if let Some(ms) = s.duration_ms {
                        let key = (
                            t.uri.clone(),
                            t.transport.label().to_owned(),
                            s.stage.label().to_owned(),
                        );
                        series(&mut self.turn_stage, key, run).observe(ms / 1000.0);
                    }
                }
            }
        }
        if let Some(ice) = r.ice.tested() {
            for ice_run in &ice.runs {
                if let Some(ms) = ice_run.time_to_connected_ms {
                    series(&mut self.ice_connect, ice_run.label(), run).observe(ms / 1000.0);
                }
            }
        }
        self.nat = r.nat.tested().map(NatLabels::of);
        self.nat_ipv6 = r.nat_ipv6.tested().map(NatLabels::of);
    }

    /// A run that could not be made at all (the configuration, the
    /// environment): counted, nothing else changes.
    pub fn observe_error(&mut self, finished_unix: f64) {
        *self.runs.entry("error").or_default() += 1;
        self.last_run = Some(finished_unix);
    }

    /// The text a scrape gets.
    pub fn render(&self, format: Exposition) -> String {
        let mut w = Writer {
            out: String::new(),
            labels: &self.labels,
            format,
        };
        w.family(
            "natscope_build_info",
            "gauge",
            "natscope's version; always 1.",
        );
        w.sample("natscope_build_info", &[("version", &self.version)], 1.0);
        w.family(
            "natscope_check_status",
            "gauge",
            "The last run's outcome per check: 1 for its status, 0 for the others.",
        );
        for (id, status) in &self.checks {
            for st in [CheckStatus::Pass, CheckStatus::Fail, CheckStatus::NotTested] {
                let word = serde_json::to_value(st)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let v = if *status == st { 1.0 } else { 0.0 };
                w.sample(
                    "natscope_check_status",
                    &[("check", id), ("status", &word)],
                    v,
                );
            }
        }
        w.family(
            "natscope_nat_info",
            "gauge",
            "The NAT's behaviour (RFC 4787) per address family in the last run that tested it; always 1.",
        );
        for (family, nat) in [("ipv4", &self.nat), ("ipv6", &self.nat_ipv6)] {
            if let Some(n) = nat {
                w.sample(
                    "natscope_nat_info",
                    &[
                        ("mapping", &n.mapping),
                        ("filtering", &n.filtering),
                        ("behind_nat", n.behind_nat),
                        ("family", family),
                    ],
                    1.0,
                );
            }
        }
        w.counter("natscope_runs", "Diagnosis runs by outcome.");
        for outcome in ["passed", "failed", "error"] {
            let n = self.runs.get(outcome).copied().unwrap_or(0);
            w.sample("natscope_runs_total", &[("outcome", outcome)], n as f64);
        }
        w.counter(
            "natscope_run_overruns",
            "Runs that took longer than the interval (the next one started late, never overlapping).",
        );
        w.sample("natscope_run_overruns_total", &[], self.overruns as f64);
        w.counter(
            "natscope_public_address_changes",
            "Times the public address STUN saw changed (per family, between runs).",
        );
        w.sample(
            "natscope_public_address_changes_total",
            &[],
            self.public_changes as f64,
        );
        w.family(
            "natscope_last_run_timestamp_seconds",
            "gauge",
            "When the last run ended (Unix time).",
        );
        if let Some(t) = self.last_run {
            w.sample("natscope_last_run_timestamp_seconds", &[], t);
        }
        w.family(
            "natscope_last_success_timestamp_seconds",
            "gauge",
            "When the last run with no failed check ended (Unix time).",
        );
        if let Some(t) = self.last_success {
            w.sample("natscope_last_success_timestamp_seconds", &[], t);
        }
        w.family(
            "natscope_turn_certificate_expiry_timestamp_seconds",
            "gauge",
            "When the TURN server's TLS/DTLS certificate expires (its notAfter, Unix time), last run.",
        );
        for ((server, transport), at) in &self.cert_not_after {
            w.sample(
                "natscope_turn_certificate_expiry_timestamp_seconds",
                &[("server", server), ("transport", transport)],
                *at as f64,
            );
        }
        w.histograms(
            "natscope_stun_rtt_seconds",
            "STUN Binding round trip per server and transport.",
            self.stun_rtt
                .iter()
                .map(|((s, t), h)| (vec![("server", s.as_str()), ("transport", t.as_str())], h)),
        );
        w.histograms(
            "natscope_turn_stage_duration_seconds",
            "TURN stage durations (the server's answer time) per server, transport and stage.",
            self.turn_stage.iter().map(|((s, t, st), h)| {
                (
                    vec![
                        ("server", s.as_str()),
                        ("transport", t.as_str()),
                        ("stage", st.as_str()),
                    ],
                    h,
                )
            }),
        );
        w.histograms(
            "natscope_ice_time_to_connected_seconds",
            "Time from the start of ICE to connected, per run (candidate-type pair).",
            self.ice_connect
                .iter()
                .map(|(run, h)| (vec![("run", run.as_str())], h)),
        );
        if format == Exposition::OpenMetrics {
            w.out.push_str("# EOF\n");
        }
        w.out
    }
}

/// A NAT verdict's `natscope_nat_info` labels.
#[derive(Debug, Clone)]
struct NatLabels {
    /// The mapping's JSON spelling (`endpoint-independent`, ...).
    mapping: String,
    /// The filtering's JSON spelling.
    filtering: String,
    /// `yes`, `no` or `unknown`.
    behind_nat: &'static str,
}

impl NatLabels {
    fn of(v: &natclass::NatVerdict) -> NatLabels {
        let word = |b: natclass::Behaviour| {
            serde_json::to_value(b)
                .ok()
                .and_then(|x| x.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned())
        };
        let behind_nat = match v.behind_nat {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        NatLabels {
            mapping: word(v.mapping),
            filtering: word(v.filtering),
            behind_nat,
        }
    }
}

struct Writer<'a> {
    out: String,
    labels: &'a [(String, String)],
    format: Exposition,
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

impl Writer<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// A counter family: OpenMetrics names the family without `_total`.
    fn counter(&mut self, base: &str, help: &str) {
        let name = match self.format {
            Exposition::OpenMetrics => base.to_owned(),
            Exposition::Prometheus => format!("{base}_total"),
        };
        self.family(&name, "counter", help);
    }

    fn sample(&mut self, name: &str, own: &[(&str, &str)], value: f64) {
        let mut labels: Vec<String> = own
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        labels.extend(
            self.labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v))),
        );
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {}", number(value));
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {}", labels.join(","), number(value));
        }
    }

    fn histograms<'h>(
        &mut self,
        name: &str,
        help: &str,
        series: impl Iterator<Item = (Vec<(&'h str, &'h str)>, &'h Histogram)>,
    ) {
        self.family(name, "histogram", help);
        for (labels, h) in series {
            // Each bucket already counts every observation at or below it.
            for (b, c) in h.bounds.iter().zip(&h.counts) {
                let le = number(*b);
                let mut l = labels.clone();
                l.push(("le", &le));
                self.sample(&format!("{name}_bucket"), &l, *c as f64);
            }
            let mut l = labels.clone();
            l.push(("le", "+Inf"));
            self.sample(&format!("{name}_bucket"), &l, h.count as f64);
            self.sample(&format!("{name}_sum"), &labels, h.sum);
            self.sample(&format!("{name}_count"), &labels, h.count as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_capped_dropping_the_stalest() {
        let mut map = BTreeMap::new();
        for run in 0..(MAX_SERIES as u64 + 10) {
            series(&mut map, run, run).observe(0.01);
        }
        assert_eq!(map.len(), MAX_SERIES);
        assert!(!map.contains_key(&0) && map.contains_key(&(MAX_SERIES as u64 + 9)));
    }

    #[test]
    fn labels_are_validated() {
        assert_eq!(
            parse_labels("site=office, network=wifi").expect("valid"),
            [
                ("site".to_owned(), "office".to_owned()),
                ("network".to_owned(), "wifi".to_owned())
            ]
        );
        assert!(matches!(parse_labels("1x=a"), Err(LabelError::Name(_))));
        assert!(matches!(parse_labels("__x=a"), Err(LabelError::Name(_))));
        assert!(matches!(
            parse_labels("check=a"),
            Err(LabelError::Reserved(_))
        ));
        assert!(matches!(parse_labels("site"), Err(LabelError::Syntax(_))));
    }

    #[test]
    fn histograms_are_cumulative_and_counters_named_by_format() {
        let mut h = Histogram::new(LATENCY);
        h.observe(0.003);
        h.observe(0.2);
        h.observe(f64::NAN);
        assert_eq!(h.count, 2);
        assert_eq!(h.counts[0], 0); // ≤ 1 ms
        assert_eq!(h.counts[2], 1); // ≤ 5 ms
        assert_eq!(*h.counts.last().expect("buckets"), 2);
        let mut m = WatchMetrics::new("1.0 \"x\"", vec![("site".into(), "a\"b".into())]);
        let r = Report::new("watch", "t");
        m.observe(&r, 10.0, true);
        let om = m.render(Exposition::OpenMetrics);
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("# TYPE natscope_runs counter\n"), "{om}");
        assert!(
            om.contains("natscope_runs_total{outcome=\"passed\",site=\"a\\\"b\"} 1\n"),
            "{om}"
        );
        assert!(
            om.contains("natscope_run_overruns_total{site=\"a\\\"b\"} 1\n"),
            "{om}"
        );
        assert!(om.contains("natscope_build_info{version=\"1.0 \\\"x\\\"\",site=\"a\\\"b\"} 1"));
        let text = m.render(Exposition::Prometheus);
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("# TYPE natscope_runs_total counter\n"),
            "{text}"
        );
    }
}
