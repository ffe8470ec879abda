//! Findings about relaying: each TURN failure named the way an operator
//! thinks of it, and the ICE runs it (or something else) broke.

use super::{Findings, failed_checks, finding};
use crate::ice_check_runs;
use model::diagnosis::{Finding, FindingEvidence, FindingId, Severity};
use model::ice::{CandidateType, IceRunFailure};
use model::servers::ServerUri;
use model::turn::{TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use model::{CheckId, CheckStatus, Report, Section};

pub(super) fn turn_results(report: &Report) -> &[TurnTransportResult] {
    match &report.turn {
        Section::Tested(t) => &t.results,
        _ => &[],
    }
}

/// The host and port of a TURN URI, for remedies.
fn host_port(uri: &str) -> String {
    match ServerUri::parse(uri) {
        Ok(u) => format!("{}:{}", u.host, u.port_or_default()),
        Err(_) => uri.to_owned(),
    }
}

pub(super) fn turn(report: &Report, f: &mut Findings) {
    for (i, r) in turn_results(report).iter().enumerate() {
        let path = format!(".turn.results[{i}]");
        let check = CheckId::turn(r.transport);
        let explains = failed_checks(report, std::slice::from_ref(&check));
        if let (Some(stage), Some(failure)) = (r.failed_stage, &r.failure) {
            if udp_lost_but_streams_work(report, r, failure) {
                f.add(
                    super::network::udp_blocked(report)
                        .with_evidence(
                            format!("{path}.failure"),
                            format!(
                                "{} over UDP: {}; over TCP/TLS the same server relays",
                                r.uri,
                                failure.describe()
                            ),
                        )
                        .explaining(explains),
                );
                continue;
            }
            let x = turn_failure(r, stage, failure)
                .with_evidence(
                    format!("{path}.failure"),
                    format!(
                        "{} over {}: {} at {}",
                        r.uri,
                        r.transport.label(),
                        failure.describe(),
                        stage.label()
                    ),
                )
                .explaining(explains);
            f.add(x);
        } else if !r.ok
            && r.stage(TurnStage::Allocate)
                .is_some_and(|s| s.status == model::turn::StageStatus::Passed)
        {
            let why = crate::turn::data_not_tested_reason(r);
            f.add(
                finding(
                    FindingId::TurnDataNotTested,
                    Severity::Warning,
                    format!(
                        "{} allocates over {}, but relaying data could not be tested",
                        r.uri,
                        r.transport.label()
                    ),
                    format!(
                        "natscope sends the test data to a second allocation on the same server; \
                         {why}. Allow two allocations per user (coturn `user-quota`), or give \
                         --peer a UDP echo the relay can reach"
                    ),
                )
                .with_evidence(format!("{path}.stages"), why.clone()),
            );
        } else if r
            .stage(TurnStage::Allocate)
            .is_some_and(|s| s.note.as_deref() == Some("no credentials given"))
        {
            f.add(
                finding(
                    FindingId::TurnNoCredentials,
                    Severity::Warning,
                    format!(
                        "No TURN credentials were given for {}: only its 401 challenge was tested",
                        r.uri
                    ),
                    "Pass --username and --password (or --turn-secret for REST credentials), or \
                     an iceServers file with username and credential",
                )
                .with_evidence(
                    format!("{path}.stages"),
                    format!("{}: allocate not tested", r.uri),
                )
                .explaining(explains),
            );
        }
    }
    // After the findings about the relay itself.
    for (i, r) in turn_results(report).iter().enumerate() {
        additive_failures(r, &format!(".turn.results[{i}]"), f);
    }
}

/// The additive stages (an IPv6 relay, an RFC 6062 TCP relay) that failed
/// while the relay itself may work: warnings, since they limit some peers
/// but break no check.
fn additive_failures(r: &TurnTransportResult, path: &str, f: &mut Findings) {
    for (j, s) in r.stages.iter().enumerate() {
        if !matches!(s.stage, TurnStage::AllocateIpv6 | TurnStage::TcpAllocation) {
            continue;
        }
        let (model::turn::StageStatus::Failed, Some(failure)) = (&s.status, &s.error) else {
            continue;
        };
        let mut x = turn_failure(r, s.stage, failure).with_evidence(
            format!("{path}.stages[{j}].error"),
            format!(
                "{} over {}: {} at {}",
                r.uri,
                r.transport.label(),
                failure.describe(),
                s.stage.label()
            ),
        );
        x.severity = Severity::Warning;
        f.add(x);
    }
}

/// TURN over UDP went unanswered while TCP or TLS to the same host relayed:
/// the network drops UDP, not the server.
fn udp_lost_but_streams_work(
    report: &Report,
    r: &TurnTransportResult,
    failure: &TurnFailure,
) -> bool {
    let host = |uri: &str| ServerUri::parse(uri).ok().map(|u| u.host.to_string());
    r.transport == TurnTransport::Udp
        && matches!(failure, TurnFailure::Timeout { .. })
        && turn_results(report).iter().any(|o| {
            o.ok && matches!(o.transport, TurnTransport::Tcp | TurnTransport::Tls)
                && host(&o.uri) == host(&r.uri)
                // The same family: a silent AAAA beside a working IPv4 TCP
                // relay is a broken IPv6 path, not blocked UDP.
                && o.server.map(|s| s.is_ipv4()) == r.server.map(|s| s.is_ipv4())
        })
}

/// The finding for one TURN failure, named the way an operator thinks.
fn turn_failure(r: &TurnTransportResult, stage: TurnStage, failure: &TurnFailure) -> Finding {
    let server = host_port(&r.uri);
    let uri = &r.uri;
    let t = r.transport.label();
    use FindingId as Id;
    use Severity::Critical;
    let (id, title, remedy): (FindingId, String, String) = match failure {
        TurnFailure::WrongCredentials => (
            Id::TurnWrongCredentials,
            format!("The TURN server {server} rejected the username or password"),
            format!(
                "Check the username and password for {server}{}: they are the long-term \
                 credentials of the server's user database (coturn `user=` or its database)",
                r.realm
                    .as_ref()
                    .map(|rl| format!(" (realm {rl:?})"))
                    .unwrap_or_default()
            ),
        ),
        TurnFailure::RestCredentialExpired {
            expiry_unix,
            now_unix,
        } => (
            Id::TurnRestExpired,
            format!("The TURN REST credential for {server} had expired"),
            format!(
                "Issue a fresh credential (--rest-ttl), and check this machine's clock: the \
                 credential expired {} s before natscope's clock",
                now_unix.saturating_sub(*expiry_unix)
            ),
        ),
        TurnFailure::RestCredentialRejected => (
            Id::TurnRestRejected,
            format!("The TURN server {server} rejected a REST credential that had not expired"),
            format!(
                "Check the shared secret (--turn-secret must equal coturn's static-auth-secret \
                 for {server}) and this machine's clock against the server's"
            ),
        ),
        TurnFailure::RealmMismatch {
            expected,
            server: announced,
        } => (
            Id::TurnRealmMismatch,
            format!("The TURN server {server} announces realm {announced:?}, not {expected:?}"),
            format!(
                "Use the credentials of realm {announced:?}, or set the server's realm to \
                 {expected:?} (coturn `realm=`)"
            ),
        ),
        TurnFailure::TlsUnknownCa => (
            Id::TurnTlsUnknownCa,
            format!("The certificate of {uri} is not signed by a trusted CA"),
            format!(
                "Serve a certificate from a public CA on {server} (browsers refuse others), or \
                 pass the private CA with --ca to test it"
            ),
        ),
        TurnFailure::TlsNameMismatch { server_name } => (
            Id::TurnTlsNameMismatch,
            format!("The certificate of {uri} is not valid for the name {server_name}"),
            format!(
                "Issue a certificate whose subject alternative names include {server_name}, or \
                 name the server as its certificate does"
            ),
        ),
        TurnFailure::TlsExpired => (
            Id::TurnTlsExpired,
            format!("The certificate of {uri} has expired or is not valid yet"),
            format!("Renew the certificate of {server}, and check both clocks"),
        ),
        TurnFailure::TlsCaAsServerCert => (
            Id::TurnTlsCaAsServerCert,
            format!("The certificate of {uri} is a CA certificate used as a server certificate"),
            "Issue a leaf certificate (basicConstraints CA:FALSE) for the server, signed by \
             your CA; `openssl req -x509` makes CA certificates by default. To test with this \
             certificate as it is, give it to natscope with --ca (accepted as pinned; \
             browsers will still refuse it)"
                .to_owned(),
        ),
        TurnFailure::TlsOther { detail } => (
            Id::TurnTlsOther,
            format!(
                "The {} handshake with {uri} failed: {detail}",
                handshake_word(r.transport)
            ),
            format!(
                "Check the TLS/DTLS configuration of {server} (certificate, key, cipher suites)"
            ),
        ),
        TurnFailure::ConnectionRefused => (
            Id::TurnPortClosed,
            format!("Nothing listens on {server} over {t}: the port is closed"),
            format!(
                "Check that the TURN server listens on {server} over {t} (coturn \
                 `listening-port`/`tls-listening-port`) and that a firewall does not reject it"
            ),
        ),
        TurnFailure::Timeout { after_ms } => (
            Id::TurnTimeout,
            format!(
                "The TURN server {server} did not answer over {t} ({} after {after_ms} ms)",
                stage.label()
            ),
            format!(
                "Check that {server} is reachable over {t} from this network (a firewall may \
                 drop it) and that the server is up"
            ),
        ),
        TurnFailure::Dns { detail } => (
            Id::TurnDns,
            format!("The name of {uri} does not resolve: {detail}"),
            "Check the host name and this machine's DNS".to_owned(),
        ),
        TurnFailure::Io { detail } => (
            Id::TurnLocalError,
            format!("A socket error stopped the TURN test of {uri}: {detail}"),
            "Check this machine's network configuration (routes, firewall), then run again"
                .to_owned(),
        ),
        TurnFailure::ForbiddenPeer => (
            Id::TurnForbiddenPeer,
            format!("The TURN server {server} refuses to relay to the peer"),
            format!(
                "The server's peer policy denies this peer address (coturn `denied-peer-ip`, \
                 `no-loopback-peers`): allow the peers your users need, or test with --peer \
                 set to an address {server} may relay to"
            ),
        ),
        TurnFailure::AllocationQuota => (
            Id::TurnAllocationQuota,
            format!("The TURN user's allocation quota on {server} is full (486)"),
            "Raise the quota (coturn `user-quota`) or release allocations still held by this user"
                .to_owned(),
        ),
        TurnFailure::InsufficientCapacity => (
            Id::TurnInsufficientCapacity,
            format!("The TURN server {server} has no relay capacity left (508)"),
            "Widen the relay port range (coturn `min-port`/`max-port`) or `total-quota`, or add \
             servers"
                .to_owned(),
        ),
        TurnFailure::StaleNonce => (
            Id::TurnStaleNonce,
            format!("The TURN server {server} answered 438 Stale Nonce even to a fresh nonce"),
            "Check the server's nonce lifetime (coturn `stale-nonce`) and its clock".to_owned(),
        ),
        TurnFailure::AlternateServerLoop { alternate } => (
            Id::TurnRedirectLoop,
            format!(
                "The TURN server {server} redirects in a loop (300 Try Alternate to {alternate})"
            ),
            "Fix the alternate-server configuration so that the alternate serves the request \
             itself"
                .to_owned(),
        ),
        TurnFailure::NoRelayedData { after_ms } => (
            Id::TurnNoRelayedData,
            format!(
                "The allocation on {server} worked, but data through the relay did not come back within {after_ms} ms"
            ),
            format!(
                "Check that {server} can send from its relay addresses (coturn `relay-ip`, \
                 `external-ip` behind a NAT) and that its relay port range is open"
            ),
        ),
        TurnFailure::AddressFamilyIgnored { relayed } => (
            Id::TurnNoIpv6Relay,
            format!(
                "The TURN server {server} ignores REQUESTED-ADDRESS-FAMILY: asked for an IPv6 relay, it gave {relayed}"
            ),
            "Clients asking for an IPv6 relay get an IPv4 one: give the server an IPv6 relay \
             address and a TURN implementation that honours RFC 8656 §7.1 (coturn does; \
             pion/turn v2 does not)"
                .to_owned(),
        ),
        TurnFailure::AddressFamilyNotSupported => (
            Id::TurnNoIpv6Relay,
            format!("The TURN server {server} has no relay address of the family asked for (440)"),
            "Give the server a relay address of that family (coturn `relay-ip`)".to_owned(),
        ),
        TurnFailure::NotSupported { detail } => (
            Id::TurnNotSupported,
            format!("{uri} over {t} cannot be tested by this natscope: {detail}"),
            "Test the server over another transport".to_owned(),
        ),
        TurnFailure::UnexpectedResponse { detail } => (
            Id::TurnServerError,
            format!("The TURN server {server} answered unexpectedly: {detail}"),
            format!("Check that {server} is a TURN server (not only STUN) and its configuration"),
        ),
        TurnFailure::ServerError { code, reason } => (
            Id::TurnServerError,
            format!(
                "The TURN server {server} answered error {} at {}",
                model::turn::error_code_text(*code, reason),
                stage.label()
            ),
            match code {
                442 if stage == TurnStage::TcpAllocation => format!(
                    "{server} does not relay over TCP (RFC 6062): clients that can reach \
                     their peers only over TCP get no relay from it; coturn relays TCP \
                     unless `no-tcp-relay` is set, pion/turn does not implement it"
                ),
                400 if stage == TurnStage::Allocate => format!(
                    "Probably wrong credentials: 400 to an authenticated Allocate is how some \
                     servers (pion/turn) reject them; check the username and password for {server}"
                ),
                403 => format!("{server} refuses this client: check its allowed-client policy"),
                _ => format!("See the server's log for error {code}"),
            },
        ),
        TurnFailure::Failed => (
            Id::TurnServerError,
            format!(
                "The TURN test of {uri} failed at {} without a readable reason",
                stage.label()
            ),
            format!("See the server's log for {server}"),
        ),
    };
    finding(id, Critical, title, remedy)
}

fn handshake_word(t: TurnTransport) -> &'static str {
    match t {
        TurnTransport::Dtls => "DTLS",
        _ => "TLS",
    }
}

// ---------------------------------------------------------------- ICE

pub(super) fn ice(report: &Report, f: &mut Findings) {
    let Section::Tested(section) = &report.ice else {
        return;
    };
    let failed: Vec<CheckId> = report
        .summary
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail && c.id.as_str().starts_with("ice-"))
        .map(|c| c.id.clone())
        .collect();
    for check in failed {
        for i in ice_check_runs(section, &report.options.servers, &check) {
            let r = &section.runs[i];
            let path = format!(".ice.runs[{i}].failure");
            let Some(failure) = &r.failure else {
                if let Some(dc) = r.data_channel.as_ref().filter(|d| !d.works) {
                    f.add(
                        finding(
                            FindingId::IceDataChannelFailed,
                            Severity::Critical,
                            format!(
                                "ICE {} connected, but the WebRTC data channel did not open",
                                r.label()
                            ),
                            "Check that nothing on the path drops DTLS (UDP packets of 1200 bytes \
                             and more)",
                        )
                        .with_evidence(
                            format!(".ice.runs[{i}].data_channel.failure"),
                            dc.failure.clone().unwrap_or_default(),
                        )
                        .explaining([check.clone()]),
                    );
                }
                continue;
            };
            // A TURN server that failed its own tests explains the relay runs
            // that used it.
            let server = match failure {
                IceRunFailure::TurnError { server, .. } => Some(server.clone()),
                IceRunFailure::NoCandidates {
                    candidate_type: CandidateType::Relay,
                    reason,
                    ..
                } => turn_results(report)
                    .iter()
                    .find(|t| !t.ok && reason.contains(&t.uri))
                    .map(|t| t.uri.clone()),
                _ => None,
            };
            if let Some(x) = server.as_deref().and_then(|s| f.for_server(s)) {
                if !x.explains.contains(&check) {
                    x.explains.push(check.clone());
                }
                x.evidence.push(FindingEvidence {
                    path: path.clone(),
                    detail: format!("ICE {}: {}", r.label(), failure.describe()),
                });
                continue;
            }
            if r.hairpin
                .as_ref()
                .is_some_and(|h| matches!(h, model::ice::IceHairpin::Required { .. }))
                && matches!(
                    failure,
                    IceRunFailure::ChecksFailed | IceRunFailure::Timeout { .. }
                )
            {
                f.add(
                    finding(
                        FindingId::NoHairpinning,
                        Severity::Warning,
                        "This NAT does not hairpin: two devices behind it cannot reach each other through their public addresses",
                        "Devices on the same network connect through host candidates; to let \
                         srflx pairs work, enable NAT loopback/hairpinning on the router",
                    )
                    .with_evidence(path, failure.describe())
                    .explaining([check.clone()]),
                );
                continue;
            }
            // A STUN server whose port is closed is one cause, named as in
            // the STUN section.
            if let IceRunFailure::NoCandidates {
                candidate_type: CandidateType::Srflx,
                ..
            } = failure
            {
                let closed: Vec<&str> = r
                    .agents
                    .iter()
                    .flat_map(|a| &a.server_problems)
                    .filter(|p| p.error.contains(model::stun::PORT_CLOSED))
                    .map(|p| p.server.as_str())
                    .collect();
                if let Some(server) = closed.first() {
                    let at = host_port(server);
                    f.add(
                        finding(
                            FindingId::StunPortClosed,
                            Severity::Critical,
                            format!("Nothing listens on {at} (UDP): the port is closed"),
                            format!(
                                "Check the port of {server} (STUN's default is 3478) and that the STUN server is running"
                            ),
                        )
                        .with_evidence(path, failure.describe())
                        .explaining([check.clone()]),
                    );
                    continue;
                }
            }
            let (id, title, remedy) = match failure {
                IceRunFailure::NoCandidates {
                    agent,
                    candidate_type,
                    reason,
                } => (
                    FindingId::IceNoCandidates,
                    format!(
                        "ICE {}: agent {agent} gathered no {} candidate ({reason})",
                        r.label(),
                        candidate_type.as_str()
                    ),
                    match candidate_type {
                        CandidateType::Srflx => {
                            "Check the STUN servers (see the STUN findings) and that UDP gets out"
                                .to_owned()
                        }
                        CandidateType::Relay => {
                            "Check the TURN servers (see the TURN findings)".to_owned()
                        }
                        _ => "Check this machine's interfaces and --bind".to_owned(),
                    },
                ),
                IceRunFailure::TurnError { server, error, .. } => (
                    FindingId::TurnServerError,
                    format!(
                        "ICE {}: the TURN server {server} refused: {error}",
                        r.label()
                    ),
                    format!("Check the credentials and policy of {server}"),
                ),
                IceRunFailure::ChecksFailed | IceRunFailure::Timeout { .. } => (
                    FindingId::IceChecksFailed,
                    format!(
                        "ICE {}: the connectivity checks failed ({})",
                        r.label(),
                        failure.describe()
                    ),
                    "Something on the path drops the checks between the candidates: compare \
                     with the NAT findings, and allow UDP between the peers' addresses"
                        .to_owned(),
                ),
                IceRunFailure::PayloadFailed => (
                    FindingId::IcePayloadFailed,
                    format!(
                        "ICE {} connected, but data did not pass both ways",
                        r.label()
                    ),
                    "Something drops traffic after the checks passed: look for a firewall with \
                     short UDP timeouts"
                        .to_owned(),
                ),
                IceRunFailure::Local { message } => (
                    FindingId::IceLocalError,
                    format!("ICE {} could not run: {message}", r.label()),
                    "Fix the local problem named, then run again".to_owned(),
                ),
            };
            f.add(
                finding(id, Severity::Critical, title, remedy)
                    .with_evidence(path, failure.describe())
                    .explaining([check.clone()]),
            );
        }
    }
}
