//! Classification of one RFC 5780 server's tests (RFC 5780 §4.3–4.5) and of
//! the server itself (down, UDP blocked, not capable, inconsistent).

use crate::class::{Class, Finding};
use crate::observe::{ClassifyOptions, Hairpin, LocalNetwork, Reply, ServerObservation};
use crate::verdict::{Confidence, Evidence, ServerStatus, ServerVerdict};
use std::net::SocketAddr;

/// What one server contributed.
pub(crate) struct ServerResult {
    pub(crate) verdict: ServerVerdict,
    pub(crate) mapping: Option<Finding>,
    pub(crate) filtering: Option<Finding>,
    /// Some UDP request to this server was answered.
    pub(crate) udp_answered: bool,
    /// Every UDP request that was sent went unanswered after solid retries.
    pub(crate) udp_solid_silence: bool,
    /// `Some(true)` when a mapped address equals our local address.
    pub(crate) no_nat: Option<bool>,
}

impl ServerResult {
    /// A server that answered but cannot be used for RFC 5780 tests:
    /// `verdict` (with its status set) and what its answers showed.
    fn untestable(verdict: ServerVerdict, udp_answered: bool, no_nat: Option<bool>) -> Self {
        ServerResult {
            verdict,
            mapping: None,
            filtering: None,
            udp_answered,
            udp_solid_silence: false,
            no_nat,
        }
    }
}

/// How a "no answer" counts: `Some(true)` solid, `Some(false)` weak (too few
/// transmissions), `None` when the reply is not a no-answer.
pub(crate) fn silence(r: &Reply, opts: &ClassifyOptions) -> Option<bool> {
    match r {
        Reply::NoAnswer { transmissions } => Some(*transmissions >= opts.solid_transmissions),
        _ => None,
    }
}

/// Words for a reply, for evidence text.
pub(crate) fn describe(r: &Reply) -> String {
    match r {
        Reply::NotRun => "not run".to_owned(),
        Reply::Answered { mapped, source } => format!("answered from {source}, mapped {mapped}"),
        Reply::NoAnswer { transmissions } => {
            format!("no answer after {transmissions} transmission(s)")
        }
        Reply::PortClosed { from } => match from {
            Some(ip) => format!("port closed (ICMP port unreachable from {ip})"),
            None => "port closed (ICMP port unreachable)".to_owned(),
        },
        Reply::Error { message } => format!("error: {message}"),
    }
}

/// Whether `mapped` is one of our own addresses with the same port (no NAT).
pub(crate) fn is_local(
    mapped: SocketAddr,
    local: Option<SocketAddr>,
    net: &LocalNetwork,
) -> Option<bool> {
    let local = local?;
    let ip_is_ours = mapped.ip() == local.ip() || net.addresses.contains(&mapped.ip());
    Some(ip_is_ours && mapped.port() == local.port())
}

/// Describe the server state when no UDP request was answered.
fn unreachable(
    o: &ServerObservation,
    replies: &[&Reply],
    opts: &ClassifyOptions,
    ev: &mut Vec<Evidence>,
) -> (ServerStatus, bool) {
    let tried = replies.iter().any(|r| !matches!(r, Reply::NotRun));
    let solid = replies.iter().any(|r| silence(r, opts) == Some(true));
    if !tried {
        return (ServerStatus::NotTested, false);
    }
    if let Some(closed) = replies
        .iter()
        .find(|r| matches!(r, Reply::PortClosed { .. }))
    {
        ev.push(Evidence::about(
            o.server,
            "port-closed",
            format!(
                "{}: {}: the host is up but nothing listens on the port",
                o.server,
                describe(closed)
            ),
        ));
        return (ServerStatus::PortClosed, false);
    }
    let errors: Vec<String> = replies
        .iter()
        .filter(|r| matches!(r, Reply::Error { .. }))
        .map(|r| describe(r))
        .collect();
    let err = if errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", errors.join("; "))
    };
    let status = match o.tcp_answered {
        Some(true) => {
            ev.push(Evidence::about(
                o.server,
                "udp-blocked",
                format!(
                    "no UDP answer from {} but TCP Binding answered: UDP to it is blocked{err}",
                    o.server
                ),
            ));
            ServerStatus::UdpBlocked
        }
        Some(false) => {
            ev.push(Evidence::about(
                o.server,
                "server-down",
                format!(
                    "no answer from {} over UDP or TCP: server down or unreachable{err}",
                    o.server
                ),
            ));
            ServerStatus::Down
        }
        None => {
            ev.push(Evidence::about(
                o.server,
                "no-udp-answer",
                format!(
                    "no UDP answer from {} (TCP not tried: down or UDP blocked){err}",
                    o.server
                ),
            ));
            ServerStatus::NoUdpAnswer
        }
    };
    (status, solid)
}

/// Classify one server's observations.
pub(crate) fn classify_server(
    o: &ServerObservation,
    net: &LocalNetwork,
    opts: &ClassifyOptions,
    ev: &mut Vec<Evidence>,
) -> ServerResult {
    let m = &o.mapping;
    let f = &o.filtering;
    let replies = [&m.test1, &m.test2, &m.test3, &f.test1, &f.test2, &f.test3];
    let udp_answered = replies.iter().any(|r| r.answered());
    let mut verdict = ServerVerdict {
        server: o.server,
        status: ServerStatus::NotTested,
        mapping: crate::Behaviour::Unknown,
        filtering: crate::Behaviour::Unknown,
        hairpinning: None,
        public: m.test1.mapped().or(f.test1.mapped()),
        confidence: Confidence::None,
    };
    if !udp_answered {
        let (status, solid) = unreachable(o, &replies, opts, ev);
        verdict.status = status;
        return ServerResult {
            verdict,
            mapping: None,
            filtering: None,
            udp_answered: false,
            udp_solid_silence: solid,
            no_nat: None,
        };
    }
    if o.tcp_answered == Some(false) {
        ev.push(Evidence::about(
            o.server,
            "tcp-binding",
            format!("{} answered over UDP but not over TCP", o.server),
        ));
    }

    // No NAT? Compare the first mapped address with the socket it came from.
    let mut no_nat = None;
    for (r, local) in [(&m.test1, o.local), (&f.test1, f.local)] {
        if let Some(mapped) = r.mapped()
            && let Some(local_match) = is_local(mapped, local, net)
        {
            no_nat = Some(no_nat.unwrap_or(false) || local_match);
        }
    }
    if no_nat == Some(true) {
        ev.push(Evidence::about(
            o.server,
            "no-nat",
            format!(
                "mapped address {} equals a local address and port: no NAT",
                verdict.public.map_or_else(String::new, |p| p.to_string())
            ),
        ));
    }

    verdict.hairpinning = hairpin(o, ev);

    let Some(other) = o.other_address else {
        ev.push(Evidence::about(
            o.server,
            "not-rfc5780",
            format!(
                "{} answers Binding but sends no OTHER-ADDRESS: not RFC 5780 capable, mapping/filtering cannot be tested with it",
                o.server
            ),
        ));
        verdict.status = ServerStatus::NotRfc5780;
        return ServerResult::untestable(verdict, udp_answered, no_nat);
    };
    if other.ip() == o.server.ip()
        || other.port() == o.server.port()
        || other.is_ipv4() != o.server.is_ipv4()
    {
        ev.push(Evidence::about(
            o.server,
            "inconsistent-server",
            format!(
                "OTHER-ADDRESS {other} does not differ from primary {} in both IP and port: RFC 5780 tests are meaningless",
                o.server
            ),
        ));
        verdict.status = ServerStatus::Inconsistent;
        return ServerResult::untestable(verdict, udp_answered, no_nat);
    }

    let mut consistent = true;
    let mapping = mapping(o, other, opts, ev, &mut consistent);
    let filtering = filtering(o, other, opts, ev, &mut consistent);
    verdict.status = match (consistent, o.rfc3489) {
        (false, _) => ServerStatus::Inconsistent,
        (true, false) => ServerStatus::Rfc5780,
        (true, true) => {
            ev.push(Evidence::about(
                o.server,
                "rfc3489-server",
                format!(
                    "{} answers with CHANGED-ADDRESS {other} (RFC 3489), not OTHER-ADDRESS: a classic RFC 3489 server; its CHANGE-REQUEST tests are read as RFC 5780's",
                    o.server
                ),
            ));
            ServerStatus::Rfc3489
        }
    };
    if let Some((c, conf)) = mapping {
        verdict.mapping = c.behaviour();
        verdict.confidence = conf;
    }
    if let Some((c, conf)) = filtering {
        verdict.filtering = c.behaviour();
        verdict.confidence = if mapping.is_some() {
            verdict.confidence.min(conf)
        } else {
            conf
        };
    }
    ServerResult {
        verdict,
        mapping,
        filtering,
        udp_answered,
        udp_solid_silence: false,
        no_nat,
    }
}

/// Check a response's source; record evidence when unexpected.
fn source_ok(
    o: &ServerObservation,
    test: &str,
    r: &Reply,
    expected: SocketAddr,
    ev: &mut Vec<Evidence>,
) -> bool {
    match r {
        Reply::Answered { source, .. } if *source != expected => {
            let why = if *source == o.server && expected != o.server {
                "the server ignored CHANGE-REQUEST or answered from its primary address"
            } else {
                "unexpected source"
            };
            ev.push(Evidence::about(
                o.server,
                "inconsistent-server",
                format!("{test}: response came from {source}, expected {expected} ({why}); not used as filtering evidence"),
            ));
            false
        }
        _ => true,
    }
}

/// RFC 5780 §4.3.
fn mapping(
    o: &ServerObservation,
    other: SocketAddr,
    opts: &ClassifyOptions,
    ev: &mut Vec<Evidence>,
    consistent: &mut bool,
) -> Option<Finding> {
    let m = &o.mapping;
    let t2_dest = SocketAddr::new(other.ip(), o.server.port());
    for (name, r) in [
        ("mapping-test-1", &m.test1),
        ("mapping-test-2", &m.test2),
        ("mapping-test-3", &m.test3),
    ] {
        if !matches!(r, Reply::NotRun) {
            ev.push(Evidence::about(o.server, name, describe(r)));
        }
    }
    let mut cap = Confidence::High;
    for (name, r, exp) in [
        ("mapping-test-1", &m.test1, o.server),
        ("mapping-test-2", &m.test2, t2_dest),
        ("mapping-test-3", &m.test3, other),
    ] {
        if !source_ok(o, name, r, exp, ev) {
            *consistent = false;
            cap = Confidence::Medium;
        }
    }
    let m1 = m.test1.mapped()?;
    let Some(m2) = m.test2.mapped() else {
        let why = match silence(&m.test2, opts) {
            Some(_) => {
                "test II unanswered although test I was: isolated loss or a broken alternate address"
            }
            None => "test II not completed",
        };
        ev.push(Evidence::about(
            o.server,
            "mapping-test-2",
            format!("mapping unknown: {why}"),
        ));
        return None;
    };
    if m1 == m2 {
        return Some((Class::Ei, cap));
    }
    match m.test3.mapped() {
        Some(m3) if m3 == m2 => Some((Class::Ad, cap)),
        Some(_) => Some((Class::Apd, cap)),
        None => {
            ev.push(Evidence::about(
                o.server,
                "mapping-test-3",
                "mapping is not endpoint-independent (test I and II differ) but test III did not complete: address- vs address-and-port-dependent unknown",
            ));
            Some((Class::NotEi, Confidence::Low))
        }
    }
}

/// State of a CHANGE-REQUEST test.
enum Ft {
    Valid,
    Wrong,
    Silent(bool),
    Other,
}

/// RFC 5780 §4.4.
fn filtering(
    o: &ServerObservation,
    other: SocketAddr,
    opts: &ClassifyOptions,
    ev: &mut Vec<Evidence>,
    consistent: &mut bool,
) -> Option<Finding> {
    let f = &o.filtering;
    for (name, r) in [
        ("filtering-test-1", &f.test1),
        ("filtering-test-2", &f.test2),
        ("filtering-test-3", &f.test3),
    ] {
        if !matches!(r, Reply::NotRun) {
            ev.push(Evidence::about(o.server, name, describe(r)));
        }
    }
    if !source_ok(o, "filtering-test-1", &f.test1, o.server, ev) {
        *consistent = false;
    }
    if !f.test1.answered() {
        if !matches!(f.test1, Reply::NotRun) {
            ev.push(Evidence::about(
                o.server,
                "filtering-test-1",
                "filtering unknown: the control Binding on the fresh socket was not answered, so silence in tests II/III proves nothing",
            ));
        }
        return None;
    }
    let mut state = |name: &str, r: &Reply, exp: SocketAddr| -> Ft {
        if r.answered() {
            if source_ok(o, name, r, exp, ev) {
                Ft::Valid
            } else {
                *consistent = false;
                Ft::Wrong
            }
        } else if let Some(solid) = silence(r, opts) {
            Ft::Silent(solid)
        } else {
            Ft::Other
        }
    };
    let t2 = state("filtering-test-2", &f.test2, other);
    let t3 = state(
        "filtering-test-3",
        &f.test3,
        SocketAddr::new(o.server.ip(), other.port()),
    );
    let silent_conf = |solid: bool| {
        if solid {
            Confidence::Medium
        } else {
            Confidence::Low
        }
    };
    let note = |ev: &mut Vec<Evidence>, text: &str| {
        ev.push(Evidence::about(
            o.server,
            "filtering-test-3",
            text.to_owned(),
        ));
    };
    match (t2, t3) {
        (Ft::Valid, Ft::Silent(_)) => {
            note(
                ev,
                "test III unanswered although test II was: loss; endpoint-independent filtering kept at lower confidence",
            );
            Some((Class::Ei, Confidence::Medium))
        }
        (Ft::Valid, _) => Some((Class::Ei, Confidence::High)),
        (Ft::Silent(s2), Ft::Valid) => Some((Class::Ad, silent_conf(s2))),
        (Ft::Silent(s2), Ft::Silent(s3)) => Some((Class::Apd, silent_conf(s2 && s3))),
        (Ft::Silent(s2), Ft::Other) => {
            note(
                ev,
                "test II unanswered, test III did not complete: address- vs address-and-port-dependent unknown",
            );
            Some((Class::NotEi, silent_conf(s2)))
        }
        (Ft::Silent(_), Ft::Wrong) => Some((Class::NotEi, Confidence::Low)),
        (Ft::Wrong, Ft::Silent(_)) => {
            note(
                ev,
                "test II answered from the wrong source; test III silent: address-and-port-dependent at low confidence",
            );
            Some((Class::Apd, Confidence::Low))
        }
        (Ft::Wrong | Ft::Other, _) => {
            ev.push(Evidence::about(
                o.server,
                "filtering-test-2",
                "filtering unknown: test II gave no usable result",
            ));
            None
        }
    }
}

/// RFC 5780 §4.5.
fn hairpin(o: &ServerObservation, ev: &mut Vec<Evidence>) -> Option<bool> {
    match &o.hairpin {
        Hairpin::NotTested => None,
        Hairpin::Received => {
            ev.push(Evidence::about(
                o.server,
                "hairpin-test",
                "packet to our own mapped address arrived: hairpinning works",
            ));
            Some(true)
        }
        Hairpin::NotReceived { transmissions } => {
            ev.push(Evidence::about(
                o.server,
                "hairpin-test",
                format!("packet to our own mapped address did not arrive after {transmissions} send(s): no hairpinning"),
            ));
            Some(false)
        }
        Hairpin::Error { message } => {
            ev.push(Evidence::about(
                o.server,
                "hairpin-test",
                format!("not completed: {message}"),
            ));
            None
        }
    }
}
