//! Number formatting shared by the renderers.

/// A duration in milliseconds for people: 0.1 ms resolution from 1 ms up
/// (`23.4 ms`, `1234.5 ms`), three significant digits below (`0.294 ms`).
/// Non-finite or negative values (a hand-edited report) print as `—`.
pub(crate) fn ms(x: f64) -> String {
    if !x.is_finite() || x < 0.0 {
        "—".to_owned()
    } else if x >= 1.0 || x == 0.0 {
        format!("{x:.1} ms")
    } else {
        // 3 significant digits below 1 ms: 0.294, 0.0294 → 0.0294.
        let decimals = (2 - x.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.decimals$} ms")
    }
}

/// A bit rate for people: `2.5 Mbit/s`, `640 kbit/s`, `900 bit/s`
/// (non-finite or negative: `—`).
pub(crate) fn bitrate(bps: f64) -> String {
    if !bps.is_finite() || bps < 0.0 {
        "—".to_owned()
    } else if bps >= 1e9 {
        format!("{:.1} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.0} kbit/s", bps / 1e3)
    } else {
        format!("{bps:.0} bit/s")
    }
}

/// What the renderers say about a real browser (the `browser` section).
/// Every string these return may hold text from the browser: the caller
/// sanitises or escapes it.
pub(crate) mod browser {
    use model::browser::{BrowserGathering, BrowserOutcome, BrowserSection, BrowserSelectedPair};
    use model::ice::{CandidateType, RelayProtocol};

    /// The candidate types in the order they are counted.
    pub(crate) const TYPES: [CandidateType; 4] = [
        CandidateType::Host,
        CandidateType::Srflx,
        CandidateType::Prflx,
        CandidateType::Relay,
    ];

    /// `Chromium 126.0`, or `unknown browser`.
    pub(crate) fn name(b: &BrowserSection) -> String {
        let name = b.browser.name.trim();
        let name = if name.is_empty() {
            "unknown browser"
        } else {
            name
        };
        match b.browser.version.trim() {
            "" => name.to_owned(),
            v => format!("{name} {v}"),
        }
    }

    /// How the page was opened, in words.
    pub(crate) fn launched(how: &str) -> String {
        match how {
            "chromium" | "firefox" => format!("started headless by natscope ({how})"),
            "url" => "opened by the user from the printed URL".to_owned(),
            "" => "opened".to_owned(),
            other => format!("opened: {other}"),
        }
    }

    /// The relay protocols of the gathering's relayed candidates, in
    /// preference order.
    pub(crate) fn relay_protocols(g: &BrowserGathering) -> Vec<RelayProtocol> {
        RelayProtocol::ALL
            .into_iter()
            .filter(|p| {
                g.candidates
                    .iter()
                    .any(|c| c.kind == CandidateType::Relay && c.relay_protocol == Some(*p))
            })
            .collect()
    }

    /// How many candidates of type `t`.
    pub(crate) fn count(g: &BrowserGathering, t: CandidateType) -> usize {
        g.candidates.iter().filter(|c| c.kind == t).count()
    }

    /// Host candidates named by mDNS.
    pub(crate) fn mdns(g: &BrowserGathering) -> usize {
        g.candidates
            .iter()
            .filter(|c| c.kind == CandidateType::Host && c.mdns)
            .count()
    }

    /// `2 host, 1 srflx, 2 relay (UDP, TLS)`, or `none`.
    pub(crate) fn candidates(g: &BrowserGathering) -> String {
        let mut parts: Vec<String> = Vec::new();
        for t in TYPES {
            let n = count(g, t);
            if n == 0 {
                continue;
            }
            let protos: Vec<&str> = relay_protocols(g)
                .into_iter()
                .map(RelayProtocol::upper)
                .collect();
            if t == CandidateType::Relay && !protos.is_empty() {
                parts.push(format!("{n} relay ({})", protos.join(", ")));
            } else {
                parts.push(format!("{n} {}", t.as_str()));
            }
        }
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// `relay/UDP → host`.
    pub(crate) fn pair(p: &BrowserSelectedPair) -> String {
        let local = match p.relay_protocol {
            Some(r) => format!("{}/{}", p.local.as_str(), r.upper()),
            None => p.local.as_str().to_owned(),
        };
        format!("{local} → {}", p.remote.as_str())
    }

    /// `connected`, `failed`, `timed out`.
    pub(crate) fn outcome(o: BrowserOutcome) -> &'static str {
        match o {
            BrowserOutcome::Connected => "connected",
            BrowserOutcome::Failed => "failed",
            BrowserOutcome::TimedOut => "timed out",
        }
    }
}

/// What the renderers say about a session with natscope on another
/// machine (the `peer` section). Strings these return may hold text from
/// the other side or the rendezvous (reasons, NAT summaries): the caller
/// sanitises or escapes them.
pub(crate) mod peer {
    use model::peer::{
        PeerObserved, PeerOutcome, PeerPolicyResult, PeerSection, PunchDirection, TcpOpen,
    };
    use natclass::{HolePunchOutcome, NatVerdict};

    /// `success (hole punched)`, `reversed (one side reachable)`, ….
    pub(crate) fn outcome(o: PeerOutcome) -> &'static str {
        match o {
            PeerOutcome::Success => "success",
            PeerOutcome::Reversed => "reversed (one side was reachable)",
            PeerOutcome::Failed => "failed",
            PeerOutcome::NotTested => "not tested",
        }
    }

    /// What was predicted, in words.
    pub(crate) fn predicted(o: HolePunchOutcome) -> &'static str {
        match o {
            HolePunchOutcome::Direct => "direct (one side reachable without a hole punch)",
            HolePunchOutcome::DirectLikely => "direct by hole punching",
            HolePunchOutcome::RelayNeeded => "a relay (TURN) is needed",
            HolePunchOutcome::Unknown => "unknown (not enough evidence)",
        }
    }

    /// What happened, in words.
    pub(crate) fn observed(o: PeerObserved) -> &'static str {
        match o {
            PeerObserved::Direct => "direct without a hole punch",
            PeerObserved::HolePunched => "direct by hole punching",
            PeerObserved::Relayed => "only through the relay",
            PeerObserved::NoConnection => "no connection",
            PeerObserved::Unknown => "unknown (not enough was tested)",
        }
    }

    /// Which side's packets got through, from this side's view.
    pub(crate) fn direction(d: PunchDirection) -> &'static str {
        match d {
            PunchDirection::Both => "both ways",
            PunchDirection::LocalToRemote => "only this side's packets",
            PunchDirection::RemoteToLocal => "only the other side's packets",
            PunchDirection::Neither => "neither way",
        }
    }

    /// How a TCP connection came about, in words.
    pub(crate) fn tcp_open(o: TcpOpen) -> &'static str {
        match o {
            TcpOpen::Simultaneous => "simultaneous open (both sides' connection requests crossed)",
            TcpOpen::Outgoing => "this side reached the other side's listening port",
            TcpOpen::Incoming => "the other side reached this side's listening port",
        }
    }

    /// `yes`, `no`, or `unknown` for whether the prediction held.
    pub(crate) fn held(v: Option<bool>) -> &'static str {
        match v {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        }
    }

    /// A NAT verdict in one sentence (its own summary when it has one).
    pub(crate) fn nat(v: &NatVerdict) -> String {
        let summary = v.summary.trim();
        if summary.is_empty() {
            format!("{}: {}", v.rfc3489.name(), v.p2p.sentence())
        } else {
            summary.to_owned()
        }
    }

    /// The data channel of a policy's run: `open after 12.8 ms`,
    /// `failed: why`, or `-` when not tested.
    pub(crate) fn data_channel(p: &PeerPolicyResult) -> String {
        match p.ice.as_ref().and_then(|i| i.data_channel.as_ref()) {
            None => "-".to_owned(),
            Some(dc) if dc.works => match dc.time_to_open_ms {
                Some(t) => format!("open after {}", super::ms(t)),
                None => "open".to_owned(),
            },
            Some(dc) => match &dc.failure {
                Some(f) => format!("failed: {f}"),
                None => "failed".to_owned(),
            },
        }
    }

    /// A throughput figure in kbit/s, for people.
    pub(crate) fn throughput(kbps: Option<f64>) -> String {
        kbps.map_or_else(|| "-".to_owned(), |k| super::bitrate(k * 1e3))
    }

    /// `connected in 85.2 ms, RTT 31.5 ms, 2.5 Mbit/s`, or `-`.
    pub(crate) fn measured(p: &PeerPolicyResult) -> String {
        let ice = p.ice.as_ref();
        let parts: Vec<String> = [
            ice.and_then(|i| i.time_to_connected_ms)
                .map(|t| format!("connected in {}", super::ms(t))),
            ice.and_then(|i| i.rtt_ms)
                .map(|t| format!("RTT {}", super::ms(t))),
            p.throughput_kbps.map(|k| throughput(Some(k))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            "-".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// Why a policy did not connect: its reason, then its ICE failure.
    pub(crate) fn notes(p: &PeerPolicyResult) -> String {
        let mut notes: Vec<String> = p.reason.iter().cloned().collect();
        if let Some(f) = p.ice.as_ref().and_then(|i| i.failure.as_ref()) {
            notes.push(f.describe());
        }
        notes.join("; ")
    }

    /// The one-line gist: this side, each policy's outcome, the prediction.
    pub(crate) fn gist(p: &PeerSection) -> String {
        let mut parts = vec![p.role.as_str().to_owned()];
        for r in &p.policies {
            let path = match &r.path {
                Some(path) => format!(" ({path})"),
                None => String::new(),
            };
            parts.push(format!(
                "{}: {}{path}",
                r.policy.as_str(),
                r.outcome.as_str()
            ));
        }
        match p.prediction_held {
            Some(true) => parts.push("prediction held".to_owned()),
            Some(false) => parts.push("prediction did not hold".to_owned()),
            None => {}
        }
        if let Some(f) = &p.failure {
            parts.push(format!("failed: {}", f.kind));
        }
        parts.join(" · ")
    }
}

/// A number for people with `decimals` digits after the point; non-finite
/// values (a hand-edited report) print as `—`.
pub(crate) fn number(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "—".to_owned()
    }
}

/// An optional duration in milliseconds ([`ms`]), `—` when absent.
pub(crate) fn opt_ms(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_owned(), ms)
}

/// An optional percentage, `1.2 %`, `—` when absent or not finite.
pub(crate) fn percent(x: Option<f64>) -> String {
    match x {
        Some(p) if p.is_finite() => format!("{p:.1} %"),
        Some(_) | None => "—".to_owned(),
    }
}

/// Whole seconds for people: `90 s`, `2 h`, `7 days`.
pub(crate) fn seconds(secs: u64) -> String {
    const DAY: u64 = 86_400;
    if secs >= DAY && secs.is_multiple_of(DAY) {
        let d = secs / DAY;
        format!("{d} {}", if d == 1 { "day" } else { "days" })
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else {
        format!("{secs} s")
    }
}

/// Milliseconds as seconds with one decimal: `12.5 s`.
pub(crate) fn ms_as_secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// A duration given in (fractional) milliseconds as seconds, one decimal:
/// `3.0 s`.
pub(crate) fn secs(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

/// What translates the host's address, in words (`None`: the verdict does
/// not know).
pub(crate) fn translation(t: Option<natclass::Translation>) -> &'static str {
    match t {
        Some(natclass::Translation::None) => "none (the host's own address)",
        Some(natclass::Translation::Nat) => "NAT",
        Some(natclass::Translation::Nptv6) => "NPTv6 (RFC 6296 prefix translation)",
        None => "unknown",
    }
}

/// What the renderers say about a TURN audit (the `audit` section). Every
/// string these return may hold text from the server (reason phrases,
/// SOFTWARE): the caller sanitises or escapes it.
pub(crate) mod audit {
    use model::audit::{
        AttemptOutcome, PeerAttempt, PeerCategory, Product, QuotaProbe, RestLifetime,
    };

    /// `refused`, `accepted`, `attempted (447)`, `error 403 Forbidden`,
    /// `timeout after 3000 ms`, `not tested: why`.
    pub(crate) fn outcome(o: &AttemptOutcome) -> String {
        match o {
            AttemptOutcome::Refused => "refused".to_owned(),
            AttemptOutcome::Accepted => "accepted".to_owned(),
            AttemptOutcome::Attempted => "attempted (447)".to_owned(),
            AttemptOutcome::Error { code, reason } => {
                format!("error {}", model::turn::error_code_text(*code, reason))
            }
            AttemptOutcome::Timeout { after_ms } => format!("timeout after {after_ms} ms"),
            AttemptOutcome::NotTested { why } => format!("not tested: {why}"),
        }
    }

    /// Whether data reached the peer: `proved`, `sent, no answer`, `—`.
    pub(crate) fn delivered(d: Option<bool>) -> &'static str {
        match d {
            Some(true) => "proved",
            Some(false) => "sent, no answer",
            None => "—",
        }
    }

    /// `coturn 4.6.1`, or `coturn (no version disclosed)`.
    pub(crate) fn product(p: &Product) -> String {
        match p.version.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => format!("{} {v}", p.name),
            Some(_) | None => format!("{} (no version disclosed)", p.name),
        }
    }

    /// `granted 5 allocations before 486 Allocation Quota Reached; 4
    /// released`, or `no quota within bound 50 (50 granted); 49 released`.
    pub(crate) fn quota(q: &QuotaProbe) -> String {
        let head = match q.stopped_by {
            Some(code) => format!(
                "granted {} {} before {}",
                q.granted,
                allocations(q.granted),
                model::turn::error_code_text(code, "")
            ),
            None => format!("no quota within bound {} ({} granted)", q.bound, q.granted),
        };
        format!("{head}; {} released", q.released)
    }

    /// `expired credential refused; credential valid for 30 days accepted`.
    pub(crate) fn rest(r: &RestLifetime) -> String {
        let word = |v: Option<bool>| match v {
            Some(true) => "accepted",
            Some(false) => "refused",
            None => "no answer",
        };
        format!(
            "expired credential {}; credential valid for {} {}",
            word(r.expired_accepted),
            super::seconds(r.long_lived_secs),
            word(r.long_lived_accepted)
        )
    }

    fn allocations(n: u32) -> &'static str {
        if n == 1 { "allocation" } else { "allocations" }
    }

    /// The attempts grouped by category, in the order the audit tries the
    /// categories (attempts keep their order within a category).
    pub(crate) fn grouped(peers: &[PeerAttempt]) -> Vec<(PeerCategory, Vec<&PeerAttempt>)> {
        PeerCategory::ALL
            .into_iter()
            .filter_map(|c| {
                let of: Vec<&PeerAttempt> = peers.iter().filter(|p| p.category == c).collect();
                (!of.is_empty()).then_some((c, of))
            })
            .collect()
    }
}

/// What the renderers say about a TURN load test (the `load` section).
/// The strings may hold text from the server or the run (error meanings,
/// end details): the caller sanitises or escapes them.
pub(crate) mod load {
    use model::load::{Knee, KneeReason, LoadConfig, Percentiles};

    /// `40 allocations × 50 packets/s × 160 bytes, 4 steps over 20.0 s,
    /// 60.0 s in all`.
    pub(crate) fn config(c: &LoadConfig) -> String {
        format!(
            "{} allocations × {} packets/s × {} bytes, {} {} over {}, {} in all",
            c.allocations,
            c.rate_pps,
            c.size,
            c.steps,
            if c.steps == 1 { "step" } else { "steps" },
            super::ms_as_secs(c.ramp_ms),
            super::ms_as_secs(c.duration_ms)
        )
    }

    /// `p50 1.2 ms / p95 3.4 ms / p99 5.6 ms`.
    pub(crate) fn percentiles(p: &Percentiles) -> String {
        format!(
            "p50 {} / p95 {} / p99 {}",
            super::opt_ms(p.p50_ms),
            super::opt_ms(p.p95_ms),
            super::opt_ms(p.p99_ms)
        )
    }

    /// `at 30 allocations (1500 packets/s offered): loss over 1 %`.
    pub(crate) fn knee(k: &Knee) -> String {
        format!(
            "at {} allocations ({} packets/s offered): {}",
            k.allocations,
            super::number(k.offered_pps, 0),
            reason(k.reason)
        )
    }

    /// What crossed its bound, in words.
    pub(crate) fn reason(r: KneeReason) -> &'static str {
        match r {
            KneeReason::Loss => "loss over 1 %",
            KneeReason::Rtt => "the median round trip doubled against the first step",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{bitrate, ms};

    #[test]
    fn bit_rates_are_rounded() {
        assert_eq!(bitrate(2_512_000.0), "2.5 Mbit/s");
        assert_eq!(bitrate(640_400.0), "640 kbit/s");
        assert_eq!(bitrate(900.0), "900 bit/s");
        assert_eq!(bitrate(3.2e9), "3.2 Gbit/s");
        assert_eq!(bitrate(f64::INFINITY), "—");
        assert_eq!(bitrate(-1.0), "—");
    }

    #[test]
    fn durations_are_rounded() {
        assert_eq!(ms(0.29417499999999996), "0.294 ms");
        assert_eq!(ms(0.0294175), "0.0294 ms");
        assert_eq!(ms(23.44), "23.4 ms");
        assert_eq!(ms(1234.56), "1234.6 ms");
        assert_eq!(ms(0.0), "0.0 ms");
        assert_eq!(ms(1.0), "1.0 ms");
        assert_eq!(ms(f64::NAN), "—");
        assert_eq!(ms(-1.0), "—");
    }
}
