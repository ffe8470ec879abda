//! Findings about a real browser: the relay candidates it did not get
//! (compared with natscope's own TURN test of the same server), its
//! candidate errors by URL and code, and how it connected to natscope's
//! peer.

use super::relay::turn_results;
use super::{Findings, failed_checks, finding, join_words};
use crate::browser::{
    ErrorGroup, code_meaning, connection_index, error_groups, gathering_index, host_of, host_port,
    label, pair_types, plural, relay_gathering, relay_protocols, relayed, relays, same_url,
    transport_word, turn_urls, why_not,
};
use model::browser::{BrowserOutcome, BrowserPolicy, BrowserSection};
use model::diagnosis::{Finding, FindingEvidence, FindingId, Severity};
use model::ice::CandidateType;
use model::{CheckId, Report, Section};

pub(super) fn browser(report: &Report, f: &mut Findings) {
    let Section::Tested(b) = &report.browser else {
        return;
    };
    let groups = error_groups(b);
    let no_candidates = no_candidates(report, b, f);
    let by_ip = turns_by_ip(report, b, f);
    let mut explained_urls = relay_missing(report, b, &groups, &by_ip, f);
    explained_urls.extend(by_ip);
    for g in groups
        .iter()
        .filter(|g| !explained_urls.iter().any(|u| same_url(u, &g.url)))
    {
        f.add(candidate_error(b, g));
    }
    relay_failed(report, b, f);
    if !no_candidates {
        connect_failed(report, b, f);
    }
    relay_only(b, f);
}

/// Whether some candidate of a gathering names `url`, or its per-server
/// count says it gave some (`None`: the browser did not say).
fn gave_candidates(b: &BrowserSection, policy: BrowserPolicy, url: &str) -> Option<bool> {
    let g = b.gathering(policy)?;
    if g.candidates
        .iter()
        .any(|c| c.url.as_deref().is_some_and(|u| same_url(u, url)))
    {
        return Some(true);
    }
    let counted = g
        .servers
        .iter()
        .find(|s| same_url(&s.url, url))
        .map(|s| s.candidates > 0);
    // Firefox names no URL on its candidates: a count of 0 only means
    // "none" when every non-host candidate was attributed.
    let unattributed = g
        .candidates
        .iter()
        .any(|c| c.url.is_none() && c.kind != CandidateType::Host);
    match counted {
        Some(false) if unattributed => None,
        other => other,
    }
}

/// Nothing gathered under policy `all`, not even a host candidate.
fn no_candidates(report: &Report, b: &BrowserSection, f: &mut Findings) -> bool {
    let Some(i) = gathering_index(b, BrowserPolicy::All) else {
        return false;
    };
    let g = &b.gathering[i];
    if !g.candidates.is_empty() {
        return false;
    }
    let who = label(b);
    f.add(
        finding(
            FindingId::BrowserNoCandidates,
            Severity::Critical,
            format!("{who} gathered no ICE candidate at all, not even a host one"),
            "WebRTC is disabled or restricted in this browser: check its WebRTC IP handling \
             policy (Chrome: WebRtcIPHandling, an extension that blocks WebRTC; Firefox: \
             media.peerconnection.enabled), and that the page was allowed to run",
        )
        .with_evidence(
            format!(".browser.gathering[{i}].candidates"),
            format!(
                "no candidate under policy all in {}",
                crate::browser::ms(g.total_ms)
            ),
        )
        .explaining(failed_checks(
            report,
            &[CheckId::BrowserGather, CheckId::BrowserConnect],
        )),
    );
    true
}

/// `turns:` URLs that name an IP address. Firefox makes no relay candidate
/// from them, and says nothing (no `icecandidateerror`), even when the
/// certificate covers the IP and its CA is trusted; with a hostname it
/// does. Checked in the netns lab (tests/browser/peer.rs) with Firefox ESR
/// 153; Chromium 156 relays over such a URL. A warning when Firefox ran
/// (and got nothing from the URL), else a note for Firefox users. Returns
/// the URLs this explains.
fn turns_by_ip(report: &Report, b: &BrowserSection, f: &mut Findings) -> Vec<String> {
    let firefox = b.browser.name.eq_ignore_ascii_case("firefox");
    let mut out = Vec::new();
    for url in turn_urls(b, &report.options.servers) {
        let Ok(uri) = model::servers::ServerUri::parse(&url) else {
            continue;
        };
        if uri.scheme != model::servers::Scheme::Turns
            || !matches!(uri.host, model::servers::Host::Ip(_))
        {
            continue;
        }
        let Some((_, g)) = relay_gathering(b) else {
            continue; // nothing gathered: nothing to say about this URL
        };
        let got = gave_candidates(b, g.policy, &url);
        let remedy = "name the TURN server by a hostname its certificate covers \
                      (turns:turn.example.org:5349) in the iceServers your app gives browsers; \
                      keep the IP form only for clients you know accept it";
        let x = match (firefox, got) {
            // Firefox got nothing from it: the rule explains it.
            (true, Some(false) | None) => finding(
                FindingId::BrowserTurnsIpLiteral,
                Severity::Warning,
                format!(
                    "Firefox made no relay candidate from {url}: Firefox does not use a turns: \
                     URL that names an IP address"
                ),
                remedy,
            )
            .explaining(failed_checks(
                report,
                &[CheckId::BrowserGather, CheckId::BrowserRelay],
            )),
            // Another browser relayed through it: a note for Firefox users.
            (false, Some(true)) => finding(
                FindingId::BrowserTurnsIpLiteral,
                Severity::Info,
                format!(
                    "{url} names an IP address: {} used it, but Firefox makes no relay candidate \
                     from such a turns: URL",
                    label(b)
                ),
                remedy,
            ),
            // Firefox used it after all, or another browser failed with it
            // (relay_missing and the candidate errors say why).
            _ => continue,
        };
        f.add(x.with_evidence(
            ".options.servers",
            format!("{url}: the host is an IP address"),
        ));
        if firefox {
            out.push(url);
        }
    }
    out
}

/// TURN URLs that gave the browser no relay candidate: one finding per
/// URL, naming natscope's own TURN result through the same server. Returns
/// the URLs explained (their candidate errors are evidence here).
fn relay_missing(
    report: &Report,
    b: &BrowserSection,
    groups: &[ErrorGroup],
    skip: &[String],
    f: &mut Findings,
) -> Vec<String> {
    let turn = turn_urls(b, &report.options.servers);
    let Some((gi, g)) = relay_gathering(b) else {
        return Vec::new();
    };
    if turn.is_empty() || (g.candidates.is_empty() && g.policy == BrowserPolicy::All) {
        // Nothing at all under policy all: `browser-no-candidates`.
        return Vec::new();
    }
    // No relay candidate at all: each TURN URL is a cause of the failed
    // checks. Some: a URL that gave none only limits the browser.
    let none_at_all = relays(g).next().is_none();
    let mut out = Vec::new();
    for url in &turn {
        if skip.iter().any(|s| same_url(s, url)) {
            continue;
        }
        if !none_at_all && gave_candidates(b, g.policy, url) != Some(false) {
            continue;
        }
        let explains = if none_at_all {
            failed_checks(report, &[CheckId::BrowserGather, CheckId::BrowserRelay])
        } else {
            Vec::new()
        };
        let errors: Vec<&ErrorGroup> = groups.iter().filter(|e| same_url(&e.url, url)).collect();
        let why = match errors.as_slice() {
            [] => String::new(),
            list => {
                let parts: Vec<String> = list
                    .iter()
                    .map(|e| format!("{} {}", e.code, e.text()))
                    .collect();
                format!(": {}", parts.join("; "))
            }
        };
        let code = errors.first().map(|e| e.code);
        let hp = host_port(url);
        let t = transport_word(url);
        // natscope's own TURN results through the same host.
        let host = host_of(url);
        let same_host: Vec<(usize, &model::turn::TurnTransportResult)> = turn_results(report)
            .iter()
            .enumerate()
            .filter(|(_, r)| host.is_some() && host_of(&r.uri) == host)
            .collect();
        let relayed_over: Vec<String> = same_host
            .iter()
            .filter(|(_, r)| r.ok)
            .map(|(_, r)| format!("TURN/{}", r.transport.label()))
            .fold(Vec::new(), |mut v, t| {
                if !v.contains(&t) {
                    v.push(t);
                }
                v
            });
        let evidence = |x: Finding| -> Finding {
            let mut x = x.with_evidence(
                format!(".browser.gathering[{gi}].candidates"),
                format!("no relay candidate from {url} under policy {}", g.policy),
            );
            for e in &errors {
                for p in &e.paths {
                    x = x.with_evidence(p.clone(), format!("{} {}: {}", e.code, e.url, e.text()));
                }
            }
            x
        };
        if relayed_over.is_empty() {
            // natscope's own test of that server failed: its TURN finding
            // explains the browser too.
            let failing = same_host.iter().find(|(_, r)| !r.ok).map(|(_, r)| &r.uri);
            if let Some(x) = failing.and_then(|u| f.for_server(u)) {
                for c in explains {
                    if !x.explains.contains(&c) {
                        x.explains.push(c);
                    }
                }
                let e = FindingEvidence {
                    path: format!(".browser.gathering[{gi}].candidates"),
                    detail: format!("the browser got no relay candidate from {url}{why}"),
                };
                if !x.evidence.contains(&e) {
                    x.evidence.push(e);
                }
                out.push(url.clone());
                continue;
            }
        }
        let severity = if explains.is_empty() {
            Severity::Warning
        } else {
            Severity::Critical
        };
        let (title, remedy) = if relayed_over.is_empty() {
            (
                format!("The browser got no relay candidate from {url}{why}"),
                match code {
                    Some(701) => format!(
                        "Check that {hp} is up and reachable over {t} from the browser's network \
                         (`natscope turn` tests it from this machine)"
                    ),
                    Some(401 | 441) => format!(
                        "Check the username and credential the page was given for {hp}; REST \
                         credentials expire, so issue them just before the page uses them"
                    ),
                    Some(c) => format!(
                        "{hp} refused the browser's allocation ({} {}): see the server's log",
                        c,
                        code_meaning(c)
                    ),
                    None => no_error_remedy(url),
                },
            )
        } else {
            let over = join_words(&relayed_over);
            (
                format!(
                    "natscope relayed over {over}; the browser got no relay candidate from \
                     {url}{why}"
                ),
                match code {
                    Some(701) => format!(
                        "natscope reached {hp} from this machine, the browser did not: check \
                         the browser's path to {hp} over {t} (a proxy, a VPN, a browser policy \
                         that sends traffic through a proxy), and that the page's URL has the \
                         port and transport natscope relayed over"
                    ),
                    Some(401 | 441) => format!(
                        "{hp} accepted natscope's credentials but refused the browser's: give \
                         the page the same username and credential (REST credentials expire: \
                         issue them just before the page uses them)"
                    ),
                    Some(c) => format!(
                        "{hp} relays for natscope but refused the browser ({c} {}): compare \
                         the browser's request with natscope's (credentials, transport) and see \
                         the server's log",
                        code_meaning(c)
                    ),
                    None => no_error_remedy(url),
                },
            )
        };
        let mut x = evidence(finding(
            FindingId::BrowserNoRelayCandidate,
            severity,
            title,
            remedy,
        ))
        .explaining(explains);
        for (k, r) in same_host.iter().filter(|(_, r)| r.ok) {
            x = x.with_evidence(
                format!(".turn.results[{k}]"),
                format!("{} over {}: relayed data", r.uri, r.transport.label()),
            );
        }
        f.add(x);
        out.push(url.clone());
    }
    out
}

/// The remedy when the browser gave no reason for a missing relay
/// candidate.
fn no_error_remedy(url: &str) -> String {
    format!(
        "The browser reported no error for {url}: check that the page was given it with a \
         username and credential, and that its transport is one browsers use (turn: over UDP \
         or TCP, turns: over TLS; browsers do not use TURN over DTLS)"
    )
}

/// One group of candidate errors (same URL and code). Info when the URL
/// gave candidates all the same (a browser reports an error per local
/// address that cannot reach the server), else a warning.
fn candidate_error(b: &BrowserSection, e: &ErrorGroup) -> Finding {
    let url = &e.url;
    let hp = host_port(url);
    let t = transport_word(url);
    let text = e.text();
    let times = e.times();
    let code = e.code;
    let (title, remedy) = match code {
        701 => (
            format!("The browser could not reach {url} (error 701{times}): {text}"),
            format!(
                "Check that {hp} is reachable over {t} from the browser's network (a firewall, \
                 a proxy or a VPN in its path, or a name the browser cannot resolve); a 701 for \
                 one local address (an IPv6 or VPN interface) is harmless when the server gave \
                 candidates on another"
            ),
        ),
        401 | 441 => (
            format!("{url} refused the browser's credentials (error {code}{times}): {text}"),
            format!(
                "Give the page the username and credential of {hp} (the ones natscope was \
                 given); REST credentials expire, so issue them just before the page uses them"
            ),
        ),
        403 => (
            format!("{url} refused the browser (error 403 Forbidden{times}): {text}"),
            format!("{hp} refuses this client: check its allowed-client policy"),
        ),
        486 => (
            format!(
                "{url} refused the browser's allocation (error 486 quota reached{times}): {text}"
            ),
            "Raise the TURN user's quota (coturn `user-quota`) or release allocations still held \
             by this user"
                .to_owned(),
        ),
        508 => (
            format!("{url} has no relay capacity left for the browser (error 508{times}): {text}"),
            "Widen the relay port range (coturn `min-port`/`max-port`) or `total-quota`, or add \
             servers"
                .to_owned(),
        ),
        _ => (
            format!(
                "{url} answered the browser with error {code} ({}{times}): {text}",
                code_meaning(code)
            ),
            format!("See the log of {hp} for error {code}"),
        ),
    };
    let still_gave = e
        .policies
        .iter()
        .any(|p| gave_candidates(b, *p, url) == Some(true));
    let severity = if still_gave {
        Severity::Info
    } else {
        Severity::Warning
    };
    let mut x = finding(FindingId::BrowserCandidateError, severity, title, remedy);
    for p in &e.paths {
        x = x.with_evidence(p.clone(), format!("{code} {url}: {text}"));
    }
    x
}

/// Relay candidates, but no connection through them under policy relay.
fn relay_failed(report: &Report, b: &BrowserSection, f: &mut Findings) {
    let Some(ci) = connection_index(b, BrowserPolicy::Relay) else {
        return;
    };
    let c = &b.connections[ci];
    if c.outcome == BrowserOutcome::Connected {
        return;
    }
    let Some((gi, g)) = relay_gathering(b) else {
        return;
    };
    let n = relays(g).count();
    if n == 0 {
        // No relay candidate: `browser-no-relay-candidate` says why.
        return;
    }
    let protos: Vec<String> = relay_protocols(g)
        .into_iter()
        .map(|p| format!("TURN/{}", p.upper()))
        .collect();
    let over = if protos.is_empty() {
        String::new()
    } else {
        format!(" over {}", join_words(&protos))
    };
    let why = why_not(c);
    f.add(
        finding(
            FindingId::BrowserRelayFailed,
            Severity::Critical,
            format!(
                "The browser gathered {}{over} but did not connect to natscope's peer through \
                 them: {why}",
                plural(n, "relay candidate")
            ),
            "The TURN server allocates for the browser, but the relayed path to natscope's peer \
             does not work: check that the server may relay to natscope's address (coturn \
             `denied-peer-ip`, `no-loopback-peers`, `allowed-peer-ip` for a private address) \
             and that its relay ports are open towards natscope's peer",
        )
        .with_evidence(
            format!(".browser.connections[{ci}].outcome"),
            format!("{}: {why}", c.outcome.as_str()),
        )
        .with_evidence(
            format!(".browser.gathering[{gi}].candidates"),
            format!("{} under policy {}", plural(n, "relay candidate"), g.policy),
        )
        .explaining(failed_checks(report, &[CheckId::BrowserRelay])),
    );
}

/// No connection under policy all (with candidates to try).
fn connect_failed(report: &Report, b: &BrowserSection, f: &mut Findings) {
    let Some(ci) = connection_index(b, BrowserPolicy::All) else {
        return;
    };
    let c = &b.connections[ci];
    if c.outcome == BrowserOutcome::Connected {
        return;
    }
    let why = why_not(c);
    let relay_ok = b
        .connection(BrowserPolicy::Relay)
        .is_some_and(|r| r.outcome == BrowserOutcome::Connected);
    let all = b.gathering(BrowserPolicy::All);
    let host_only = all.is_some_and(|g| {
        !g.candidates.is_empty() && g.candidates.iter().all(|c| c.kind == CandidateType::Host)
    });
    let title = if relay_ok {
        format!(
            "The browser connected to natscope's peer only under policy relay, not under policy \
             all: {why}"
        )
    } else {
        format!("The browser did not connect to natscope's peer under policy all: {why}")
    };
    let remedy = if host_only {
        "The browser had host candidates only (an mDNS name hides its address): natscope's \
         peer on another network cannot reach them; give the page a STUN and a TURN server"
            .to_owned()
    } else if relay_ok {
        "The relayed path works but ICE gave up with every candidate type allowed: something \
         delays or drops the direct checks (compare with the NAT findings), and run again"
            .to_owned()
    } else {
        "Something on the path drops the connectivity checks between the browser's candidates \
         and natscope's peer: allow UDP to natscope's address, or give the page a TURN server \
         (turns: on port 443 passes most firewalls)"
            .to_owned()
    };
    let mut x = finding(
        FindingId::BrowserConnectFailed,
        Severity::Critical,
        title,
        remedy,
    )
    .with_evidence(
        format!(".browser.connections[{ci}].outcome"),
        format!("{}: {why}", c.outcome.as_str()),
    );
    if let (Some(g), Some(gi)) = (all, gathering_index(b, BrowserPolicy::All)) {
        x = x.with_evidence(
            format!(".browser.gathering[{gi}].candidates"),
            if g.candidates.is_empty() {
                "no candidate".to_owned()
            } else {
                crate::browser::by_type(g)
            },
        );
    }
    f.add(x.explaining(failed_checks(report, &[CheckId::BrowserConnect])));
}

/// Connected with every candidate type allowed, but through a relay.
fn relay_only(b: &BrowserSection, f: &mut Findings) {
    let Some(ci) = connection_index(b, BrowserPolicy::All) else {
        return;
    };
    let c = &b.connections[ci];
    let Some(p) = c.selected.as_ref().filter(|p| relayed(p)) else {
        return;
    };
    if c.outcome != BrowserOutcome::Connected {
        return;
    }
    let pair = pair_types(p);
    f.add(
        finding(
            FindingId::BrowserRelayOnly,
            Severity::Warning,
            format!(
                "The browser connected to natscope's peer only through a TURN relay ({pair}), \
                 with every candidate type allowed"
            ),
            "No direct path worked from this browser: its peers will need the TURN server. The \
             NAT findings say why; a firewall that lets only the TURN server's address out has \
             the same effect",
        )
        .with_evidence(format!(".browser.connections[{ci}].selected"), pair),
    );
}

#[cfg(test)]
mod tests {
    use crate::browser::tests::{connection, report, working};
    use crate::conclude;
    use model::browser::{BrowserCandidateError, BrowserOutcome, BrowserPolicy};
    use model::diagnosis::{Finding, FindingId, Severity};
    use model::ice::CandidateType;
    use model::turn::{TurnSection, TurnTransport, TurnTransportResult};
    use model::{CheckId, CheckStatus, Report, Section};

    fn concluded(mut r: Report) -> Report {
        conclude(&mut r);
        r
    }

    fn findings(r: &Report, id: FindingId) -> Vec<&Finding> {
        r.diagnosis.findings.iter().filter(|f| f.id == id).collect()
    }

    fn the(r: &Report, id: FindingId) -> &Finding {
        match findings(r, id.clone()).as_slice() {
            [one] => one,
            other => panic!("{id}: {other:#?}\n{:#?}", r.diagnosis.findings),
        }
    }

    fn turn_ok(uri: &str, transport: TurnTransport) -> TurnTransportResult {
        let mut t = TurnTransportResult::new(uri, transport);
        t.ok = true;
        t
    }

    fn error(code: u16, url: &str, text: &str) -> BrowserCandidateError {
        BrowserCandidateError {
            code,
            url: url.into(),
            text: text.into(),
            at_ms: 12.0,
        }
    }

    /// No relay candidate under policy relay from turn:turn.example.net:3479
    /// (701), while natscope's own TURN test relayed over UDP on 3478.
    fn no_relay() -> Report {
        let mut b = working();
        let url = "turn:turn.example.net:3479?transport=tcp";
        b.gathering[1].candidates.clear();
        b.gathering[1].servers[0].url = url.into();
        b.gathering[1].servers[0].candidates = 0;
        b.gathering[1].errors = vec![error(701, url, "TURN allocate request timed out.")];
        b.gathering[0].servers[1].url = url.into();
        b.gathering[0]
            .candidates
            .retain(|c| c.kind != CandidateType::Relay);
        b.gathering[0].servers[1].candidates = 0;
        b.connections[1] = connection(
            BrowserPolicy::Relay,
            BrowserOutcome::Failed,
            CandidateType::Relay,
        );
        b.connections[1].failure = Some("no relay candidate".into());
        let mut r = report(b);
        r.turn = Section::Tested(TurnSection {
            results: vec![turn_ok("turn:turn.example.net:3478", TurnTransport::Udp)],
        });
        r
    }

    /// [`no_relay`] with the missing URL a `turns:` one naming an IP.
    fn no_relay_by_ip(browser: &str, code: u16) -> Report {
        let mut r = no_relay();
        let url = "turns:203.0.113.9:5349";
        if let Section::Tested(b) = &mut r.browser {
            b.browser.name = browser.into();
            b.gathering[1].servers[0].url = url.into();
            b.gathering[0].servers[1].url = url.into();
            b.gathering[1].errors = if code == 0 {
                Vec::new()
            } else {
                vec![error(code, url, "Unauthorized")]
            };
        }
        r
    }

    #[test]
    fn firefox_and_a_turns_url_with_an_ip_is_the_browser_rule() {
        let r = concluded(no_relay_by_ip("Firefox", 0));
        let x = the(&r, FindingId::BrowserTurnsIpLiteral);
        assert_eq!(x.severity, Severity::Warning);
        assert!(
            x.title
                .starts_with("Firefox made no relay candidate from turns:203.0.113.9:5349"),
            "{x:?}"
        );
        assert!(x.explains.contains(&CheckId::BrowserGather), "{x:?}");
        // The rule explains it; not also a server problem.
        assert!(findings(&r, FindingId::BrowserNoRelayCandidate).is_empty());
    }

    #[test]
    fn another_browser_failing_with_a_turns_ip_keeps_its_real_error() {
        let r = concluded(no_relay_by_ip("Chromium", 401));
        // Not a Firefox-only note that hides the 401.
        assert!(findings(&r, FindingId::BrowserTurnsIpLiteral).is_empty());
        let x = the(&r, FindingId::BrowserNoRelayCandidate);
        assert!(x.title.contains("401 Unauthorized"), "{x:?}");
    }

    #[test]
    fn no_relay_candidate_while_natscope_relayed_names_both() {
        let r = concluded(no_relay());
        assert_eq!(
            r.summary.check(&CheckId::BrowserGather).map(|c| c.status),
            Some(CheckStatus::Fail)
        );
        let x = the(&r, FindingId::BrowserNoRelayCandidate);
        assert_eq!(
            x.title,
            "natscope relayed over TURN/UDP; the browser got no relay candidate from \
             turn:turn.example.net:3479?transport=tcp: 701 TURN allocate request timed out."
        );
        assert_eq!(x.severity, Severity::Critical);
        assert_eq!(x.explains, [CheckId::BrowserGather, CheckId::BrowserRelay]);
        assert!(x.remedy.contains("turn.example.net:3479 over TCP"), "{x:?}");
        assert!(
            x.evidence.iter().any(|e| e.path == ".turn.results[0]"),
            "{x:?}"
        );
        assert!(
            x.evidence
                .iter()
                .any(|e| e.path == ".browser.gathering[1].errors[0]"),
            "{x:?}"
        );
        // The error is this finding's evidence, not a finding of its own;
        // no relay candidate is not "relay candidates but no connection".
        assert!(findings(&r, FindingId::BrowserCandidateError).is_empty());
        assert!(findings(&r, FindingId::BrowserRelayFailed).is_empty());
        assert!(
            r.diagnosis
                .verdict
                .contains("Most important: natscope relayed over TURN/UDP"),
            "{}",
            r.diagnosis.verdict
        );
    }

    #[test]
    fn no_relay_candidate_credentials_and_untested_server() {
        let mut r = no_relay();
        r.turn = Section::not_tested("not run");
        if let Section::Tested(b) = &mut r.browser {
            b.gathering[1].errors[0].code = 401;
            b.gathering[1].errors[0].text = "Unauthorized".into();
        }
        let r = concluded(r);
        let x = the(&r, FindingId::BrowserNoRelayCandidate);
        assert_eq!(
            x.title,
            "The browser got no relay candidate from turn:turn.example.net:3479?transport=tcp: \
             401 Unauthorized"
        );
        assert!(x.remedy.contains("username and credential"), "{x:?}");
    }

    #[test]
    fn a_failing_turn_server_explains_the_browser_too() {
        let mut r = no_relay();
        let mut t = TurnTransportResult::new(
            "turn:turn.example.net:3479?transport=tcp",
            TurnTransport::Tcp,
        );
        t.fail(
            model::turn::TurnStage::Allocate,
            Some(3.0),
            model::turn::TurnFailure::WrongCredentials,
        );
        r.turn = Section::Tested(TurnSection { results: vec![t] });
        let r = concluded(r);
        assert!(findings(&r, FindingId::BrowserNoRelayCandidate).is_empty());
        let x = the(&r, FindingId::TurnWrongCredentials);
        assert!(x.explains.contains(&CheckId::BrowserGather), "{x:?}");
        assert!(x.explains.contains(&CheckId::BrowserRelay), "{x:?}");
        assert!(
            x.evidence
                .iter()
                .any(|e| e.detail.starts_with("the browser got no relay candidate")),
            "{x:?}"
        );
    }

    #[test]
    fn candidate_errors_are_one_finding_per_url_and_code() {
        let mut b = working();
        b.gathering[0].errors = vec![
            error(
                701,
                "stun:stun.example.net:3478",
                "STUN host lookup received error.",
            ),
            error(
                701,
                "stun:stun.example.net:3478",
                "STUN host lookup received error.",
            ),
            error(401, "turn:turn.example.net:3478", "Unauthorized"),
        ];
        let r = concluded(report(b));
        let xs = findings(&r, FindingId::BrowserCandidateError);
        assert_eq!(xs.len(), 2, "{xs:#?}");
        assert_eq!(
            xs[0].title,
            "The browser could not reach stun:stun.example.net:3478 (error 701, 2 times): STUN \
             host lookup received error."
        );
        // The server gave a candidate all the same: worth knowing only.
        assert_eq!(xs[0].severity, Severity::Info);
        assert_eq!(xs[0].evidence.len(), 2);
        assert_eq!(
            xs[1].title,
            "turn:turn.example.net:3478 refused the browser's credentials (error 401): \
             Unauthorized"
        );
        assert!(
            xs[1].remedy.contains("turn.example.net:3478"),
            "{:?}",
            xs[1]
        );
        assert!(!r.summary.any_failed());
    }

    #[test]
    fn relay_candidates_without_a_relayed_connection() {
        let mut b = working();
        b.connections[1] = connection(
            BrowserPolicy::Relay,
            BrowserOutcome::TimedOut,
            CandidateType::Relay,
        );
        b.connections[1].failure = None;
        let r = concluded(report(b));
        let x = the(&r, FindingId::BrowserRelayFailed);
        assert_eq!(
            x.title,
            "The browser gathered 1 relay candidate over TURN/UDP but did not connect to \
             natscope's peer through them: not connected within the run's limit"
        );
        assert_eq!(x.explains, [CheckId::BrowserRelay]);
        assert!(x.remedy.contains("denied-peer-ip"), "{x:?}");
    }

    #[test]
    fn connection_failures_and_relay_only() {
        let mut b = working();
        b.connections[0] = connection(
            BrowserPolicy::All,
            BrowserOutcome::Failed,
            CandidateType::Host,
        );
        let r = concluded(report(b));
        let x = the(&r, FindingId::BrowserConnectFailed);
        assert_eq!(
            x.title,
            "The browser connected to natscope's peer only under policy relay, not under policy \
             all: ICE failed"
        );
        assert_eq!(x.explains, [CheckId::BrowserConnect]);

        let mut b = working();
        b.connections[0] = connection(
            BrowserPolicy::All,
            BrowserOutcome::Connected,
            CandidateType::Relay,
        );
        let r = concluded(report(b));
        let x = the(&r, FindingId::BrowserRelayOnly);
        assert_eq!(x.severity, Severity::Warning);
        assert!(x.title.contains("(relay/UDP → host)"), "{x:?}");
        assert!(!r.summary.any_failed());
        assert!(
            r.diagnosis.verdict.contains("only through the TURN relay"),
            "{}",
            r.diagnosis.verdict
        );

        // Nothing gathered: one cause for gather and connect.
        let mut b = working();
        b.gathering[0].candidates.clear();
        b.connections[0] = connection(
            BrowserPolicy::All,
            BrowserOutcome::Failed,
            CandidateType::Host,
        );
        let r = concluded(report(b));
        let x = the(&r, FindingId::BrowserNoCandidates);
        assert_eq!(
            x.explains,
            [CheckId::BrowserGather, CheckId::BrowserConnect]
        );
        assert!(findings(&r, FindingId::BrowserConnectFailed).is_empty());
    }

    #[test]
    fn a_working_browser_has_no_finding_and_a_verdict() {
        let r = concluded(report(working()));
        assert!(
            r.diagnosis.findings.is_empty(),
            "{:#?}",
            r.diagnosis.findings
        );
        assert_eq!(
            r.diagnosis.verdict,
            "Chromium 126.0 connects to natscope's peer directly (host → host) and through the \
             TURN relay (relay/UDP → host)."
        );
    }

    #[test]
    fn a_browser_that_could_not_run_fails_browser_connect() {
        let mut r = report(working());
        r.browser = Section::failed("could not start chromium: not found");
        let r = concluded(r);
        let c = r.summary.check(&CheckId::BrowserConnect).expect("written");
        assert_eq!(c.status, CheckStatus::Fail);
        let x = the(&r, FindingId::SectionFailed);
        assert_eq!(
            x.title,
            "The browser tests could not run: could not start chromium: not found"
        );
        assert!(
            r.summary
                .problems
                .contains(&"browser: could not start chromium: not found".to_owned())
        );
    }
}
