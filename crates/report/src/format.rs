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
