//! The `browser-gather`, `browser-connect` and `browser-relay` checks and
//! the browser summary lines: what a real browser gathered per ICE
//! transport policy, and whether it connected to natscope's peer.
//!
//! Every string of the section came from the browser; the lines quote it
//! as it is (the renderers sanitise).

use model::browser::{
    BrowserCandidate, BrowserConnection, BrowserGathering, BrowserOutcome, BrowserPolicy,
    BrowserSection, BrowserSelectedPair,
};
use model::ice::{CandidateType, RelayProtocol};
use model::servers::{Host, Scheme, ServerUri};
use model::{Check, CheckId, CheckStatus, Summary};

/// Error texts quoted per group of candidate errors (a browser repeats
/// the same error once per local address).
const MAX_TEXTS: usize = 3;

/// The browser for people: `Chromium 126.0`, or `the browser` when the page
/// could not tell.
pub(crate) fn label(b: &BrowserSection) -> String {
    let name = b.browser.name.trim();
    if name.is_empty() || name.eq_ignore_ascii_case("unknown") {
        return "the browser".to_owned();
    }
    match b.browser.version.trim() {
        "" => name.to_owned(),
        v => format!("{name} {v}"),
    }
}

/// The TURN URLs the browser was given that a browser can use (`turn:` over
/// UDP or TCP, `turns:` over TLS): the URLs of the gathering (as the page
/// configured them), else the run's servers.
pub(crate) fn turn_urls(b: &BrowserSection, servers: &[String]) -> Vec<String> {
    let from_page: Vec<&String> = b
        .gathering
        .iter()
        .flat_map(|g| g.servers.iter().map(|s| &s.url))
        .collect();
    let source: Vec<&String> = if from_page.is_empty() {
        servers.iter().collect()
    } else {
        from_page
    };
    let mut out: Vec<String> = Vec::new();
    for url in source {
        if relay_protocol_of(url).is_some() && !out.iter().any(|o| same_url(o, url)) {
            out.push(url.clone());
        }
    }
    out
}

/// How a browser reaches the TURN server of `url` (`None`: not a TURN URL a
/// browser uses).
pub(crate) fn relay_protocol_of(url: &str) -> Option<RelayProtocol> {
    ServerUri::parse(url).ok()?.ice_relay_protocol()
}

/// `UDP`, `TCP` or `TLS`: how a browser reaches the server of `url`.
pub(crate) fn transport_word(url: &str) -> &'static str {
    match ServerUri::parse(url) {
        Ok(u) => match (u.scheme, u.ice_transport()) {
            (Scheme::Turns | Scheme::Stuns, _) => "TLS",
            (Scheme::Stun | Scheme::Turn, Ok(model::servers::Transport::Tcp)) => "TCP",
            (Scheme::Stun | Scheme::Turn, Ok(model::servers::Transport::Udp) | Err(_)) => "UDP",
        },
        Err(_) => "UDP",
    }
}

/// `host:port` of a server URL, for remedies (the URL itself when it does
/// not parse).
pub(crate) fn host_port(url: &str) -> String {
    match ServerUri::parse(url) {
        Ok(u) => format!("{}:{}", u.host, u.port_or_default()),
        Err(_) => url.to_owned(),
    }
}

/// The host of a server URL.
pub(crate) fn host_of(url: &str) -> Option<Host> {
    ServerUri::parse(url).ok().map(|u| u.host)
}

/// Whether two spellings name the same server URL (`turn:x` and
/// `turn:x:3478?transport=udp` do).
pub(crate) fn same_url(a: &str, b: &str) -> bool {
    model::servers::same_server_url(a, b)
}

/// The relayed candidates of a gathering.
pub(crate) fn relays(g: &BrowserGathering) -> impl Iterator<Item = &BrowserCandidate> {
    g.candidates
        .iter()
        .filter(|c| c.kind == CandidateType::Relay)
}

/// The relay protocols of a gathering's relayed candidates, in preference
/// order, each once.
pub(crate) fn relay_protocols(g: &BrowserGathering) -> Vec<RelayProtocol> {
    RelayProtocol::ALL
        .into_iter()
        .filter(|p| relays(g).any(|c| c.relay_protocol == Some(*p)))
        .collect()
}

/// The gathering whose relay candidates decide the relay part of
/// `browser-gather`: policy `relay`, else policy `all` (with its index).
pub(crate) fn relay_gathering(b: &BrowserSection) -> Option<(usize, &BrowserGathering)> {
    let at = |p: BrowserPolicy| b.gathering.iter().enumerate().find(|(_, g)| g.policy == p);
    at(BrowserPolicy::Relay).or_else(|| at(BrowserPolicy::All))
}

/// The index of the gathering under `policy`.
pub(crate) fn gathering_index(b: &BrowserSection, policy: BrowserPolicy) -> Option<usize> {
    b.gathering.iter().position(|g| g.policy == policy)
}

/// The index of the connection under `policy`.
pub(crate) fn connection_index(b: &BrowserSection, policy: BrowserPolicy) -> Option<usize> {
    b.connections.iter().position(|c| c.policy == policy)
}

/// `1 candidate` / `3 candidates`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The candidates by type: `2 host (1 mDNS), 1 srflx, 2 relay over UDP and
/// TLS`.
pub(crate) fn by_type(g: &BrowserGathering) -> String {
    let mut parts = Vec::new();
    for t in [
        CandidateType::Host,
        CandidateType::Srflx,
        CandidateType::Prflx,
        CandidateType::Relay,
    ] {
        let n = g.candidates.iter().filter(|c| c.kind == t).count();
        if n == 0 {
            continue;
        }
        let extra = match t {
            CandidateType::Host => {
                let mdns = g
                    .candidates
                    .iter()
                    .filter(|c| c.kind == t && c.mdns)
                    .count();
                if mdns > 0 {
                    format!(" ({mdns} mDNS)")
                } else {
                    String::new()
                }
            }
            CandidateType::Relay => {
                let protos: Vec<String> = relay_protocols(g)
                    .into_iter()
                    .map(|p| p.upper().to_owned())
                    .collect();
                if protos.is_empty() {
                    String::new()
                } else {
                    format!(" over {}", crate::diagnosis::join_words(&protos))
                }
            }
            CandidateType::Srflx | CandidateType::Prflx => String::new(),
        };
        parts.push(format!("{n} {}{extra}", t.as_str()));
    }
    parts.join(", ")
}

/// A selected pair's types: `relay/UDP → host`.
pub(crate) fn pair_types(p: &BrowserSelectedPair) -> String {
    let local = match p.relay_protocol {
        Some(r) => format!("{}/{}", p.local.as_str(), r.upper()),
        None => p.local.as_str().to_owned(),
    };
    format!("{local} → {}", p.remote.as_str())
}

/// Whether a pair goes through a TURN relay at either end.
pub(crate) fn relayed(p: &BrowserSelectedPair) -> bool {
    p.local == CandidateType::Relay || p.remote == CandidateType::Relay
}

/// Why a connection did not connect, in words.
pub(crate) fn why_not(c: &BrowserConnection) -> String {
    let failure = c
        .failure
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    match (c.outcome, failure) {
        (_, Some(f)) => f.to_owned(),
        (BrowserOutcome::TimedOut, None) => "not connected within the run's limit".to_owned(),
        (BrowserOutcome::Failed | BrowserOutcome::Connected, None) => "it failed".to_owned(),
    }
}

/// Milliseconds for a sentence: `12.3 ms`.
pub(crate) fn ms(x: f64) -> String {
    if x.is_finite() && x >= 0.0 {
        format!("{x:.1} ms")
    } else {
        "an unknown time".to_owned()
    }
}

/// Candidate errors of one URL and code, over every policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ErrorGroup {
    /// The URL, as the first error named it.
    pub(crate) url: String,
    /// The `errorCode`.
    pub(crate) code: u16,
    /// How many errors.
    pub(crate) count: usize,
    /// Their distinct texts (at most [`MAX_TEXTS`]).
    pub(crate) texts: Vec<String>,
    /// The policies they came under.
    pub(crate) policies: Vec<BrowserPolicy>,
    /// Report paths of the errors (`.browser.gathering[0].errors[2]`).
    pub(crate) paths: Vec<String>,
}

impl ErrorGroup {
    /// The texts, joined (`no error text` when there is none).
    pub(crate) fn text(&self) -> String {
        let texts: Vec<&str> = self
            .texts
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect();
        if texts.is_empty() {
            "no error text".to_owned()
        } else {
            texts.join("; ")
        }
    }

    /// `, 3 times` when it came more than once.
    pub(crate) fn times(&self) -> String {
        if self.count > 1 {
            format!(", {} times", self.count)
        } else {
            String::new()
        }
    }
}

/// The candidate errors grouped by URL and code, in order of first
/// appearance.
pub(crate) fn error_groups(b: &BrowserSection) -> Vec<ErrorGroup> {
    let mut out: Vec<ErrorGroup> = Vec::new();
    for (i, g) in b.gathering.iter().enumerate() {
        for (j, e) in g.errors.iter().enumerate() {
            let path = format!(".browser.gathering[{i}].errors[{j}]");
            match out
                .iter_mut()
                .find(|x| x.code == e.code && same_url(&x.url, &e.url))
            {
                Some(x) => {
                    x.count += 1;
                    if x.texts.len() < MAX_TEXTS && !x.texts.contains(&e.text) {
                        x.texts.push(e.text.clone());
                    }
                    if !x.policies.contains(&g.policy) {
                        x.policies.push(g.policy);
                    }
                    x.paths.push(path);
                }
                None => out.push(ErrorGroup {
                    url: e.url.clone(),
                    code: e.code,
                    count: 1,
                    texts: vec![e.text.clone()],
                    policies: vec![g.policy],
                    paths: vec![path],
                }),
            }
        }
    }
    out
}

/// What a candidate error code means (WebRTC's 701, else the STUN/TURN
/// error code).
pub(crate) fn code_meaning(code: u16) -> &'static str {
    match code {
        701 => "server not reached",
        401 => "credentials refused",
        441 => "wrong credentials",
        other => model::turn::error_code_name(other).unwrap_or("error"),
    }
}

/// Summary lines and the three browser checks.
pub(crate) fn summarize(b: &BrowserSection, servers: &[String], summary: &mut Summary) {
    let who = label(b);
    let turn = turn_urls(b, servers);
    for g in &b.gathering {
        let late = if g.complete {
            String::new()
        } else {
            " (gathering did not complete)".to_owned()
        };
        if g.candidates.is_empty() {
            summary.problems.push(format!(
                "{who}, policy {}: gathered no candidate{late}",
                g.policy
            ));
        } else {
            summary.works.push(format!(
                "{who}, policy {}: gathered {} ({}) in {}{late}",
                g.policy,
                plural(g.candidates.len(), "candidate"),
                by_type(g),
                ms(g.total_ms)
            ));
        }
    }
    for e in error_groups(b) {
        let policies: Vec<String> = e.policies.iter().map(|p| p.to_string()).collect();
        summary.problems.push(format!(
            "{who}, policy {}: candidate error {} ({}{}) from {}: {}",
            crate::diagnosis::join_words(&policies),
            e.code,
            code_meaning(e.code),
            e.times(),
            e.url,
            e.text()
        ));
    }
    for c in &b.connections {
        match c.outcome {
            BrowserOutcome::Connected => {
                let via = c
                    .selected
                    .as_ref()
                    .map(|p| format!(" via {}", pair_types(p)))
                    .unwrap_or_default();
                let rt = c
                    .round_trip_ms
                    .map(|t| format!("; data channel round trip {}", ms(t)))
                    .unwrap_or_default();
                summary.works.push(format!(
                    "{who} connected to natscope's peer under policy {}{via}{rt}",
                    c.policy
                ));
            }
            BrowserOutcome::Failed | BrowserOutcome::TimedOut => {
                summary.problems.push(format!(
                    "{who} did not connect to natscope's peer under policy {}: {}",
                    c.policy,
                    why_not(c)
                ));
            }
        }
    }
    summary.checks.push(gather_check(b, &turn));
    summary.checks.push(connect_check(b));
    summary.checks.push(relay_check(b, &turn));
}

/// `browser-gather`: a candidate under policy `all`; with TURN servers, a
/// relay candidate under policy `relay` (under `all` when `relay` did not
/// run).
fn gather_check(b: &BrowserSection, turn: &[String]) -> Check {
    let id = CheckId::BrowserGather;
    let Some(all) = b.gathering(BrowserPolicy::All) else {
        return Check::new(
            id,
            CheckStatus::NotTested,
            "the browser did not gather under policy all",
        );
    };
    if all.candidates.is_empty() {
        return Check::new(
            id,
            CheckStatus::Fail,
            "the browser gathered no candidate under policy all",
        );
    }
    let gathered = format!(
        "{} under policy all",
        plural(all.candidates.len(), "candidate")
    );
    if turn.is_empty() {
        return Check::new(
            id,
            CheckStatus::Pass,
            format!("{gathered} (no TURN server configured for the browser)"),
        );
    }
    let Some((_, g)) = relay_gathering(b) else {
        // Unreachable: `all` exists.
        return Check::new(id, CheckStatus::Pass, gathered);
    };
    let n = relays(g).count();
    if n > 0 {
        Check::new(
            id,
            CheckStatus::Pass,
            format!(
                "{gathered}, {} under policy {}",
                plural(n, "relay candidate"),
                g.policy
            ),
        )
    } else {
        Check::new(
            id,
            CheckStatus::Fail,
            format!(
                "no relay candidate under policy {} from {}",
                g.policy,
                crate::diagnosis::join_words(turn)
            ),
        )
    }
}

/// One connection's check: passed when connected.
fn connection_check(id: CheckId, c: &BrowserConnection) -> Check {
    let policy = c.policy;
    match c.outcome {
        BrowserOutcome::Connected => Check::new(
            id,
            CheckStatus::Pass,
            match &c.selected {
                Some(p) => format!("connected under policy {policy} via {}", pair_types(p)),
                None => format!("connected under policy {policy}"),
            },
        ),
        BrowserOutcome::Failed | BrowserOutcome::TimedOut => Check::new(
            id,
            CheckStatus::Fail,
            format!("did not connect under policy {policy}: {}", why_not(c)),
        ),
    }
}

/// `browser-connect`: connected under policy `all`.
fn connect_check(b: &BrowserSection) -> Check {
    match b.connection(BrowserPolicy::All) {
        Some(c) => connection_check(CheckId::BrowserConnect, c),
        None => Check::new(
            CheckId::BrowserConnect,
            CheckStatus::NotTested,
            "the browser did not try to connect under policy all",
        ),
    }
}

/// `browser-relay`: connected under policy `relay`, when the browser had a
/// TURN server.
fn relay_check(b: &BrowserSection, turn: &[String]) -> Check {
    let id = CheckId::BrowserRelay;
    if turn.is_empty() {
        return Check::new(
            id,
            CheckStatus::NotTested,
            "no TURN server configured for the browser",
        );
    }
    match b.connection(BrowserPolicy::Relay) {
        Some(c) => connection_check(id, c),
        None => Check::new(
            id,
            CheckStatus::NotTested,
            "the browser did not try to connect under policy relay",
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use model::browser::*;
    use model::{Report, Section};

    pub(crate) fn candidate(kind: CandidateType, at_ms: f64) -> BrowserCandidate {
        BrowserCandidate {
            kind,
            protocol: "udp".into(),
            address: match kind {
                CandidateType::Host => "4f1c2a9e-0000-4000-8000-000000000001.local".into(),
                CandidateType::Srflx | CandidateType::Prflx => "203.0.113.7".into(),
                CandidateType::Relay => "198.51.100.20".into(),
            },
            mdns: kind == CandidateType::Host,
            port: 50000,
            url: match kind {
                CandidateType::Srflx => Some("stun:stun.example.net:3478".into()),
                CandidateType::Relay => Some("turn:turn.example.net:3478".into()),
                CandidateType::Host | CandidateType::Prflx => None,
            },
            relay_protocol: (kind == CandidateType::Relay).then_some(RelayProtocol::Udp),
            tcp_type: None,
            at_ms,
        }
    }

    fn server(url: &str, candidates: u32, errors: u32) -> BrowserServerGathering {
        BrowserServerGathering {
            url: url.into(),
            candidates,
            first_ms: (candidates > 0).then_some(20.0),
            errors,
        }
    }

    pub(crate) fn gathering(policy: BrowserPolicy, kinds: &[CandidateType]) -> BrowserGathering {
        let relays = kinds.iter().filter(|k| **k == CandidateType::Relay).count() as u32;
        let srflx = kinds.iter().filter(|k| **k == CandidateType::Srflx).count() as u32;
        BrowserGathering {
            policy,
            complete: true,
            total_ms: 180.5,
            candidates: kinds
                .iter()
                .enumerate()
                .map(|(i, k)| candidate(*k, 10.0 * i as f64))
                .collect(),
            errors: Vec::new(),
            servers: match policy {
                BrowserPolicy::All => vec![
                    server("stun:stun.example.net:3478", srflx, 0),
                    server("turn:turn.example.net:3478", relays, 0),
                ],
                BrowserPolicy::Relay => vec![server("turn:turn.example.net:3478", relays, 0)],
            },
        }
    }

    pub(crate) fn connection(
        policy: BrowserPolicy,
        outcome: BrowserOutcome,
        local: CandidateType,
    ) -> BrowserConnection {
        let connected = outcome == BrowserOutcome::Connected;
        BrowserConnection {
            policy,
            outcome,
            failure: (!connected).then(|| "ICE failed".to_owned()),
            ice_connected_ms: connected.then_some(42.0),
            channel_open_ms: connected.then_some(60.0),
            round_trip_ms: connected.then_some(1.25),
            echoed: if connected { 10 } else { 0 },
            sent: 10,
            selected: connected.then(|| BrowserSelectedPair {
                local,
                local_protocol: "udp".into(),
                relay_protocol: (local == CandidateType::Relay).then_some(RelayProtocol::Udp),
                remote: CandidateType::Host,
                local_address: "198.51.100.20:50000".into(),
                remote_address: "192.0.2.10:40000".into(),
            }),
            stats: connected.then_some(BrowserStats {
                current_rtt_ms: Some(1.0),
                available_outgoing_bitrate: Some(2_500_000.0),
                bytes_sent: Some(1200),
                bytes_received: Some(1100),
            }),
            peer_saw: None,
        }
    }

    /// Everything works: host, srflx and relay under all, a relay
    /// candidate under relay, both connected.
    pub(crate) fn working() -> BrowserSection {
        use CandidateType::*;
        BrowserSection {
            browser: BrowserInfo {
                name: "Chromium".into(),
                version: "126.0".into(),
                user_agent: "Mozilla/5.0 HeadlessChrome/126.0".into(),
            },
            launched: "chromium".into(),
            gathering: vec![
                gathering(BrowserPolicy::All, &[Host, Srflx, Relay]),
                gathering(BrowserPolicy::Relay, &[Relay]),
            ],
            connections: vec![
                connection(BrowserPolicy::All, BrowserOutcome::Connected, Host),
                connection(BrowserPolicy::Relay, BrowserOutcome::Connected, Relay),
            ],
            not_tested: Vec::new(),
        }
    }

    /// A `natscope browser` report holding `b`.
    pub(crate) fn report(b: BrowserSection) -> Report {
        let mut r = Report::new("browser", "2025-01-15T10:30:00Z");
        r.options.servers = vec![
            "stun:stun.example.net:3478".into(),
            "turn:turn.example.net:3478".into(),
        ];
        r.browser = Section::Tested(b);
        r
    }

    fn status(s: &Summary, id: CheckId) -> CheckStatus {
        s.check(&id)
            .unwrap_or_else(|| panic!("{id} written: {s:?}"))
            .status
    }

    fn summary(b: &BrowserSection, servers: &[&str]) -> Summary {
        let servers: Vec<String> = servers.iter().map(|s| (*s).to_owned()).collect();
        let mut s = Summary::default();
        summarize(b, &servers, &mut s);
        s
    }

    const SERVERS: &[&str] = &["stun:stun.example.net:3478", "turn:turn.example.net:3478"];

    #[test]
    fn a_working_browser_passes_every_check() {
        let s = summary(&working(), SERVERS);
        for id in [
            CheckId::BrowserGather,
            CheckId::BrowserConnect,
            CheckId::BrowserRelay,
        ] {
            assert_eq!(status(&s, id.clone()), CheckStatus::Pass, "{id}: {s:?}");
        }
        let gather = s.check(&CheckId::BrowserGather).expect("written");
        assert_eq!(
            gather.reason,
            "3 candidates under policy all, 1 relay candidate under policy relay"
        );
        assert!(
            s.works.iter().any(|w| w
                == "Chromium 126.0, policy all: gathered 3 candidates (1 host (1 mDNS), 1 srflx, \
                    1 relay over UDP) in 180.5 ms"),
            "{:?}",
            s.works
        );
        assert!(
            s.works.iter().any(|w| w
                == "Chromium 126.0 connected to natscope's peer under policy relay via \
                    relay/UDP → host; data channel round trip 1.2 ms"),
            "{:?}",
            s.works
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
    }

    #[test]
    fn gather_fails_without_candidates_or_without_a_relay_one() {
        let mut b = working();
        b.gathering[0].candidates.clear();
        let s = summary(&b, SERVERS);
        assert_eq!(status(&s, CheckId::BrowserGather), CheckStatus::Fail);
        assert!(
            s.problems
                .iter()
                .any(|p| p == "Chromium 126.0, policy all: gathered no candidate"),
            "{:?}",
            s.problems
        );

        let mut b = working();
        b.gathering[1].candidates.clear();
        b.gathering[1].servers[0].candidates = 0;
        let s = summary(&b, SERVERS);
        let c = s.check(&CheckId::BrowserGather).expect("written");
        assert_eq!(c.status, CheckStatus::Fail);
        assert_eq!(
            c.reason,
            "no relay candidate under policy relay from turn:turn.example.net:3478"
        );

        // Without a relay policy run, the relay candidates of policy all
        // count.
        let mut b = working();
        b.gathering.truncate(1);
        b.connections.truncate(1);
        let s = summary(&b, SERVERS);
        assert_eq!(status(&s, CheckId::BrowserGather), CheckStatus::Pass);
        assert_eq!(status(&s, CheckId::BrowserRelay), CheckStatus::NotTested);

        // No TURN server: a host candidate is enough, relay is not tested.
        let mut b = working();
        use CandidateType::*;
        b.gathering = vec![gathering(BrowserPolicy::All, &[Host])];
        b.gathering[0].servers.clear();
        b.connections.truncate(1);
        let s = summary(&b, &["stun:stun.example.net:3478"]);
        let c = s.check(&CheckId::BrowserGather).expect("written");
        assert_eq!(c.status, CheckStatus::Pass);
        assert!(c.reason.contains("no TURN server configured"), "{c:?}");
        assert_eq!(status(&s, CheckId::BrowserRelay), CheckStatus::NotTested);

        // Not run under policy all: not tested.
        let mut b = working();
        b.gathering.clear();
        b.connections.clear();
        let s = summary(&b, SERVERS);
        for id in [
            CheckId::BrowserGather,
            CheckId::BrowserConnect,
            CheckId::BrowserRelay,
        ] {
            assert_eq!(status(&s, id), CheckStatus::NotTested);
        }
    }

    #[test]
    fn connect_and_relay_follow_the_connections() {
        let mut b = working();
        b.connections[0] = connection(
            BrowserPolicy::All,
            BrowserOutcome::TimedOut,
            CandidateType::Host,
        );
        b.connections[0].failure = None;
        b.connections[1] = connection(
            BrowserPolicy::Relay,
            BrowserOutcome::Failed,
            CandidateType::Relay,
        );
        let s = summary(&b, SERVERS);
        let c = s.check(&CheckId::BrowserConnect).expect("written");
        assert_eq!(c.status, CheckStatus::Fail);
        assert_eq!(
            c.reason,
            "did not connect under policy all: not connected within the run's limit"
        );
        let c = s.check(&CheckId::BrowserRelay).expect("written");
        assert_eq!(c.status, CheckStatus::Fail);
        assert_eq!(c.reason, "did not connect under policy relay: ICE failed");
        assert!(
            s.problems.iter().any(|p| p
                == "Chromium 126.0 did not connect to natscope's peer under policy relay: \
                    ICE failed"),
            "{:?}",
            s.problems
        );
    }

    #[test]
    fn candidate_errors_are_grouped_by_url_and_code() {
        let mut b = working();
        let err = |code: u16, url: &str, text: &str| BrowserCandidateError {
            code,
            url: url.into(),
            text: text.into(),
            at_ms: 5.0,
        };
        b.gathering[0].errors = vec![
            err(
                701,
                "turns:turn.example.net:443",
                "TURN host lookup received error.",
            ),
            err(
                701,
                "turns:turn.example.net:443",
                "TURN host lookup received error.",
            ),
            err(401, "turn:turn.example.net:3478", "Unauthorized"),
        ];
        b.gathering[1].errors = vec![err(
            701,
            "turns:turn.example.net:443?transport=tcp",
            "TURN allocate request timed out.",
        )];
        let groups = error_groups(&b);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0].count, 3);
        assert_eq!(
            groups[0].policies,
            [BrowserPolicy::All, BrowserPolicy::Relay]
        );
        assert_eq!(
            groups[0].text(),
            "TURN host lookup received error.; TURN allocate request timed out."
        );
        assert_eq!(groups[0].paths[2], ".browser.gathering[1].errors[0]");
        let s = summary(&b, SERVERS);
        assert!(
            s.problems.iter().any(|p| p
                == "Chromium 126.0, policy all and relay: candidate error 701 (server not \
                    reached, 3 times) from turns:turn.example.net:443: TURN host lookup \
                    received error.; TURN allocate request timed out."),
            "{:?}",
            s.problems
        );
        assert!(
            s.problems
                .iter()
                .any(|p| p.contains("candidate error 401 (credentials refused)")),
            "{:?}",
            s.problems
        );
    }

    #[test]
    fn turn_urls_come_from_the_page_and_skip_what_browsers_cannot_use() {
        let mut b = working();
        b.gathering[0]
            .servers
            .push(server("turns:turn.example.net:5349?transport=udp", 0, 0));
        b.gathering[0]
            .servers
            .push(server("turn:turn.example.net", 0, 0));
        assert_eq!(
            turn_urls(&b, &[]),
            ["turn:turn.example.net:3478"],
            "DTLS is not offered to browsers; turn:x is turn:x:3478"
        );
        b.gathering.iter_mut().for_each(|g| g.servers.clear());
        assert_eq!(
            turn_urls(&b, &["turns:turn.example.net".to_owned()]),
            ["turns:turn.example.net"]
        );
        assert_eq!(label(&BrowserSection::default()), "the browser");
    }
}
