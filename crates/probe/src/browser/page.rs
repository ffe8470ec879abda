//! What the page posts, read with bounds: every body is untrusted JSON
//! from a browser (or from anything that learnt the token).

use model::browser::{
    BrowserCandidate, BrowserCandidateError, BrowserConnection, BrowserGathering, BrowserInfo,
    BrowserOutcome, BrowserPolicy, BrowserSelectedPair, BrowserServerGathering, BrowserStats,
};
use model::ice::{CandidateType, RelayProtocol};
use model::servers::ServerUri;
use serde::Deserialize;
#[cfg(test)]
use serde_json::{Value, json};

/// Longest string kept from the page (longer ones are cut, marked `…`).
const MAX_TEXT: usize = 300;
/// Most candidates kept per gathering.
const MAX_CANDIDATES: usize = 200;
/// Most candidate errors kept per gathering.
const MAX_ERRORS: usize = 100;
/// Largest SDP accepted from the page.
const MAX_SDP: usize = 64 * 1024;

/// Cuts `s` to [`MAX_TEXT`] characters.
pub(super) fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_TEXT).collect();
        out.push('…');
        out
    }
}

/// A finite, non-negative number of milliseconds (anything else: 0).
fn ms(x: f64) -> f64 {
    if x.is_finite() && x >= 0.0 {
        x.min(1e9)
    } else {
        0.0
    }
}

fn opt_ms(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v.min(1e9))
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "not the JSON natscope's page sends ({})",
            clip(&e.to_string())
        )
    })
}

fn policy(s: &str) -> Result<BrowserPolicy, String> {
    BrowserPolicy::parse(s).ok_or_else(|| format!("unknown policy ‘{}’", clip(s)))
}

fn candidate_type(s: &str) -> Option<CandidateType> {
    match s {
        "host" => Some(CandidateType::Host),
        "srflx" => Some(CandidateType::Srflx),
        "prflx" => Some(CandidateType::Prflx),
        "relay" => Some(CandidateType::Relay),
        _ => None,
    }
}

fn relay_protocol(s: Option<&str>) -> Option<RelayProtocol> {
    match s?.to_ascii_lowercase().as_str() {
        "udp" => Some(RelayProtocol::Udp),
        "tcp" => Some(RelayProtocol::Tcp),
        "tls" => Some(RelayProtocol::Tls),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Hello {
    #[serde(default)]
    user_agent: String,
}

/// The browser's name and version from its user agent.
pub fn browser_info(user_agent: &str) -> BrowserInfo {
    let ua = clip(user_agent);
    let after = |key: &str| {
        ua.split(key).nth(1).map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect::<String>()
        })
    };
    let (name, version) = if let Some(v) = after("Firefox/") {
        ("Firefox", v)
    } else if let Some(v) = after("Edg/") {
        ("Edge", v)
    } else if let Some(v) = after("HeadlessChrome/") {
        ("Chromium (headless)", v)
    } else if let Some(v) = after("Chromium/") {
        ("Chromium", v)
    } else if let Some(v) = after("Chrome/") {
        ("Chrome", v)
    } else if ua.contains("Safari/") {
        ("Safari", after("Version/").unwrap_or_default())
    } else {
        ("unknown", String::new())
    };
    BrowserInfo {
        name: name.to_owned(),
        version,
        user_agent: ua,
    }
}

pub(super) fn hello(body: &[u8]) -> Result<BrowserInfo, String> {
    let h: Hello = parse(body)?;
    Ok(browser_info(&h.user_agent))
}

#[derive(Deserialize)]
struct PageCandidate {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    mdns: bool,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    relay_protocol: Option<String>,
    #[serde(default)]
    tcp_type: Option<String>,
    #[serde(default)]
    at_ms: f64,
}

#[derive(Deserialize)]
struct PageError {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    url: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    at_ms: f64,
}

#[derive(Deserialize)]
struct PageGathering {
    policy: String,
    #[serde(default)]
    complete: bool,
    #[serde(default)]
    total_ms: f64,
    #[serde(default)]
    candidates: Vec<PageCandidate>,
    #[serde(default)]
    errors: Vec<PageError>,
}

/// A URL the browser reported names the configured server.
fn same_server(reported: &str, configured: &ServerUri) -> bool {
    model::servers::same_server_url(reported, &configured.to_string())
}

pub(super) fn gathering(body: &[u8], servers: &[ServerUri]) -> Result<BrowserGathering, String> {
    let g: PageGathering = parse(body)?;
    let candidates: Vec<BrowserCandidate> = g
        .candidates
        .into_iter()
        .filter_map(|c| {
            let kind = candidate_type(&c.kind)?;
            let address = clip(&c.address);
            Some(BrowserCandidate {
                kind,
                protocol: clip(&c.protocol.to_ascii_lowercase()),
                mdns: c.mdns || address.ends_with(".local"),
                address,
                port: c.port,
                url: c.url.as_deref().map(clip),
                relay_protocol: relay_protocol(c.relay_protocol.as_deref()),
                tcp_type: c.tcp_type.as_deref().map(clip),
                at_ms: ms(c.at_ms),
            })
        })
        .take(MAX_CANDIDATES)
        .collect();
    let errors: Vec<BrowserCandidateError> = g
        .errors
        .into_iter()
        .take(MAX_ERRORS)
        .map(|e| BrowserCandidateError {
            code: e.code,
            url: clip(&e.url),
            text: clip(&e.text),
            at_ms: ms(e.at_ms),
        })
        .collect();
    // A relayed candidate without a URL (Firefox names none) belongs to the
    // one configured TURN URL of its relay protocol, when there is one.
    let by_protocol = |c: &BrowserCandidate| -> Option<&ServerUri> {
        let p = c.relay_protocol?;
        let mut m = servers.iter().filter(|s| s.ice_relay_protocol() == Some(p));
        match (m.next(), m.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    };
    let per_server = servers
        .iter()
        .map(|s| {
            let mine: Vec<&BrowserCandidate> = candidates
                .iter()
                .filter(|c| match c.url.as_deref() {
                    Some(u) => same_server(u, s),
                    None => c.kind == CandidateType::Relay && by_protocol(c) == Some(s),
                })
                .collect();
            BrowserServerGathering {
                url: s.to_string(),
                candidates: u32::try_from(mine.len()).unwrap_or(u32::MAX),
                first_ms: mine.iter().map(|c| c.at_ms).reduce(f64::min),
                errors: u32::try_from(errors.iter().filter(|e| same_server(&e.url, s)).count())
                    .unwrap_or(u32::MAX),
            }
        })
        .collect();
    Ok(BrowserGathering {
        policy: policy(&g.policy)?,
        complete: g.complete,
        total_ms: ms(g.total_ms),
        candidates,
        errors,
        servers: per_server,
    })
}

#[derive(Deserialize)]
struct PageOffer {
    policy: String,
    sdp: String,
}

pub(super) fn offer(body: &[u8]) -> Result<(BrowserPolicy, String), String> {
    let o: PageOffer = parse(body)?;
    if o.sdp.len() > MAX_SDP {
        return Err(format!(
            "the offer is {} bytes; at most {MAX_SDP} are read",
            o.sdp.len()
        ));
    }
    Ok((policy(&o.policy)?, o.sdp))
}

#[derive(Deserialize)]
struct PageTrickle {
    policy: String,
    candidate: String,
}

/// A trickled candidate: its policy and its `candidate:` line.
pub(super) fn trickled(body: &[u8]) -> Result<(BrowserPolicy, String), String> {
    let t: PageTrickle = parse(body)?;
    if t.candidate.len() > 1024 {
        return Err("a candidate line over 1024 bytes".into());
    }
    Ok((policy(&t.policy)?, t.candidate))
}

#[derive(Deserialize)]
struct PagePair {
    #[serde(default)]
    local: String,
    #[serde(default)]
    local_protocol: String,
    #[serde(default)]
    relay_protocol: Option<String>,
    #[serde(default)]
    remote: String,
    #[serde(default)]
    local_address: String,
    #[serde(default)]
    remote_address: String,
}

#[derive(Deserialize)]
struct PageStats {
    #[serde(default)]
    current_rtt_ms: Option<f64>,
    #[serde(default)]
    available_outgoing_bitrate: Option<f64>,
    #[serde(default)]
    bytes_sent: Option<f64>,
    #[serde(default)]
    bytes_received: Option<f64>,
}

#[derive(Deserialize)]
struct PageConnection {
    policy: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    failure: Option<String>,
    #[serde(default)]
    ice_connected_ms: Option<f64>,
    #[serde(default)]
    channel_open_ms: Option<f64>,
    #[serde(default)]
    round_trip_ms: Option<f64>,
    #[serde(default)]
    echoed: u32,
    #[serde(default)]
    sent: u32,
    #[serde(default)]
    selected: Option<PagePair>,
    #[serde(default)]
    stats: Option<PageStats>,
}

fn count(x: Option<f64>) -> Option<u64> {
    x.filter(|v| v.is_finite() && *v >= 0.0 && *v < 1.8e19)
        .map(|v| v as u64)
}

pub(super) fn connection(body: &[u8]) -> Result<BrowserConnection, String> {
    let c: PageConnection = parse(body)?;
    let outcome = match c.outcome.as_str() {
        "connected" => BrowserOutcome::Connected,
        "timed-out" => BrowserOutcome::TimedOut,
        _ => BrowserOutcome::Failed,
    };
    let selected = c.selected.and_then(|p| {
        Some(BrowserSelectedPair {
            local: candidate_type(&p.local)?,
            local_protocol: clip(&p.local_protocol.to_ascii_lowercase()),
            relay_protocol: relay_protocol(p.relay_protocol.as_deref()),
            remote: candidate_type(&p.remote)?,
            local_address: clip(&p.local_address),
            remote_address: clip(&p.remote_address),
        })
    });
    let stats = c.stats.map(|s| BrowserStats {
        current_rtt_ms: opt_ms(s.current_rtt_ms),
        available_outgoing_bitrate: s
            .available_outgoing_bitrate
            .filter(|v| v.is_finite() && *v >= 0.0),
        bytes_sent: count(s.bytes_sent),
        bytes_received: count(s.bytes_received),
    });
    Ok(BrowserConnection {
        policy: policy(&c.policy)?,
        outcome,
        failure: c.failure.as_deref().map(clip),
        ice_connected_ms: opt_ms(c.ice_connected_ms),
        channel_open_ms: opt_ms(c.channel_open_ms),
        round_trip_ms: opt_ms(c.round_trip_ms),
        echoed: c.echoed.min(c.sent),
        sent: c.sent,
        selected,
        stats,
        peer_saw: None,
    })
}

#[derive(Deserialize)]
struct PageStop {
    #[serde(default)]
    text: String,
}

pub(super) fn error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<PageStop>(body) {
        Ok(s) if !s.text.is_empty() => clip(&s.text),
        _ => "no reason given".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::servers::Secret;

    #[test]
    fn user_agents_name_the_browser() {
        let c = browser_info(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
        );
        assert_eq!(
            (c.name.as_str(), c.version.as_str()),
            ("Chromium (headless)", "156.0.0.0")
        );
        let f =
            browser_info("Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0");
        assert_eq!((f.name.as_str(), f.version.as_str()), ("Firefox", "153.0"));
        assert_eq!(browser_info("curl/8").name, "unknown");
        assert!(browser_info(&"x".repeat(5000)).user_agent.chars().count() <= MAX_TEXT + 1);
    }

    #[test]
    fn hostile_gathering_is_bounded() {
        let many: Vec<Value> = (0..1000)
            .map(|i| json!({"type": "host", "protocol": "udp", "address": "<script>", "port": i, "at_ms": f64::MAX}))
            .collect();
        let body = json!({"policy": "all", "candidates": many, "errors": [{"code": 701, "url": "x".repeat(10_000), "text": "t"}], "total_ms": -5.0}).to_string();
        let g = gathering(body.as_bytes(), &[]).expect("parses");
        assert_eq!(g.candidates.len(), MAX_CANDIDATES);
        assert!(g.errors[0].url.chars().count() <= MAX_TEXT + 1);
        assert_eq!(g.total_ms, 0.0);
        assert!(gathering(b"{\"policy\":\"sideways\"}", &[]).is_err());
        assert!(gathering(b"not json", &[]).is_err());
    }

    #[test]
    fn candidates_are_counted_per_configured_server() {
        let turn = ServerUri::parse("turn:127.0.0.1:3478?transport=udp")
            .unwrap()
            .with_credentials("u", Secret::new("p"));
        let stun = ServerUri::parse("stun:127.0.0.1:3478").unwrap();
        let body = json!({"policy": "all", "candidates": [
            {"type": "srflx", "protocol": "udp", "address": "203.0.113.1", "port": 1, "url": "stun:127.0.0.1:3478", "at_ms": 4.0},
            {"type": "relay", "protocol": "udp", "address": "203.0.113.9", "port": 2, "url": "turn:127.0.0.1:3478?transport=udp", "relay_protocol": "udp", "at_ms": 9.0}
        ]}).to_string();
        let g = gathering(body.as_bytes(), &[stun, turn.clone()]).unwrap();
        assert_eq!(g.servers[0].candidates, 1);
        assert_eq!(g.servers[0].first_ms, Some(4.0));
        assert_eq!(g.servers[1].candidates, 1);
        assert_eq!(g.candidates[1].relay_protocol, Some(RelayProtocol::Udp));
        // The iceServers JSON carries the credential (for the page only).
        let js = model::servers::ice_servers_json(&[turn]).to_string();
        assert!(js.contains("\"credential\":\"p\""), "{js}");
    }
}
