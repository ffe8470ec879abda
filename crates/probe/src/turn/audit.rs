//! `natscope turn --audit`: with the user's own credentials, what a TURN
//! server lets one client reach that a public server should refuse. One
//! allocation per transport (given, and implied: TLS on 443, TCP); on the
//! first that works, CreatePermission and ChannelBind to every forbidden
//! peer category (`model::audit::audit_targets`, per family, plus the
//! server's own addresses), a STUN Binding request sent to each peer the
//! server let through (an answer coming back through the relay proves the
//! data got there), RFC 6062 Connect on a TCP allocation; then the quota
//! (allocate until 486, bounded, every allocation deleted) and, with a
//! REST secret, which credential lifetimes the server accepts.
//!
//! It sends only what a normal client sends: requests any TURN client
//! makes, and one Binding request per peer let through. Observations only;
//! the findings are `natscope-rules`'.

use super::client::resolve;
use super::config::TurnProbeConfig;
use super::conn::connect_fresh;
use super::creds::{ResolvedCredentials, TurnAuth, unix_now};
use super::failure::PumpError;
use super::hold::{HeldAllocation, allocate};
use super::session::{Session, permission_outcome};
use super::target::turn_transports;
use model::audit::{
    AttemptOutcome, AuditServer, AuditTransport, PeerAttempt, PeerCategory, PeerVia, QuotaProbe,
    RestLifetime, audit_targets, parse_software,
};
use model::servers::{Host, ServerUri};
use model::turn::{TurnFailure, TurnTransport};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::time::Instant;
use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent};
use turn_client_proto::types::message::{CHANNEL_BIND, CONNECT, CREATE_PERMISSION};
use turn_client_proto::types::stun::message::{
    BINDING, Message, MessageWrite, MessageWriteExt, MessageWriteVec, Method, TransactionId,
};
use turn_client_proto::types::{AddressFamily, TransportType, TurnCredentials};

/// What the audit needs besides the TURN probe's configuration.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Most allocations the quota test makes (the main one included).
    pub quota_bound: u32,
    /// The long-lived REST credential's validity.
    pub rest_long_lived: Duration,
    /// How long to wait for the Binding answers that prove delivery.
    pub proof_wait: Duration,
    /// The categories Send and Connect may carry data to (`None`: all).
    /// CreatePermission and ChannelBind go to the server only and are
    /// always tried; Send and Connect reach the peer itself.
    pub send_to: Option<Vec<PeerCategory>>,
    /// How long one RFC 6062 Connect may take (one peer per category is
    /// tried: a peer the server does not refuse but cannot reach costs
    /// this much).
    pub connect_wait: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            quota_bound: 20,
            rest_long_lived: Duration::from_secs(30 * 24 * 3600),
            proof_wait: Duration::from_millis(1500),
            connect_wait: Duration::from_secs(1),
            send_to: None,
        }
    }
}

/// The server URIs of one audit: those naming the same host, in order.
pub fn group_by_host(uris: &[(String, ServerUri)]) -> Vec<(String, Vec<ServerUri>)> {
    let mut out: Vec<(String, Vec<ServerUri>)> = Vec::new();
    for (label, uri) in uris {
        if !uri.scheme.is_turn() {
            continue;
        }
        match out.iter_mut().find(|(_, g)| g[0].host == uri.host) {
            Some((_, g)) => g.push(uri.clone()),
            None => out.push((label.clone(), vec![uri.clone()])),
        }
    }
    out
}

/// The transports to allocate on: each given URI's, then TLS on 443 and
/// TCP on the first given port when no URI names them (a browser behind a
/// strict firewall reaches only those).
fn plan(uris: &[ServerUri]) -> Vec<(ServerUri, TurnTransport, bool)> {
    let mut out = Vec::new();
    for u in uris {
        for t in turn_transports(u) {
            if !out
                .iter()
                .any(|(o, ot, _): &(ServerUri, TurnTransport, bool)| {
                    *ot == t && o.port_or_default() == u.port_or_default()
                })
            {
                out.push((u.clone(), t, true));
            }
        }
    }
    let Some(first) = uris.first() else {
        return out;
    };
    let host = match &first.host {
        Host::Ip(std::net::IpAddr::V6(a)) => format!("[{a}]"),
        Host::Ip(a) => a.to_string(),
        Host::Name(n) => n.clone(),
    };
    let implied = |s: String| {
        ServerUri::parse(&s).ok().map(|mut u| {
            u.username = first.username.clone();
            u.credential = first.credential.clone();
            u
        })
    };
    if !out
        .iter()
        .any(|(u, t, _)| *t == TurnTransport::Tls && u.port_or_default() == 443)
        && let Some(u) = implied(format!("turns:{host}:443?transport=tcp"))
    {
        out.push((u, TurnTransport::Tls, false));
    }
    if !out
        .iter()
        .any(|(_, t, _)| matches!(t, TurnTransport::Tcp | TurnTransport::Tls))
        && let Some(u) = implied(format!(
            "turn:{host}:{}?transport=tcp",
            first.port_or_default()
        ))
    {
        out.push((u, TurnTransport::Tcp, false));
    }
    out
}

/// A live allocation the audit runs its peer tests on.
struct Live {
    session: Session,
    transport: TurnTransport,
    uri: ServerUri,
    server: SocketAddr,
    relayed: SocketAddr,
}

/// Audits one server (the URIs naming one host, as [`group_by_host`]
/// gives them). Every failure is data in the result; nothing here fails.
pub async fn audit_server(
    label: &str,
    uris: &[ServerUri],
    cfg: &TurnProbeConfig,
    acfg: &AuditConfig,
) -> AuditServer {
    let mut out = AuditServer {
        label: label.to_string(),
        uri: uris.first().map(|u| u.to_string()).unwrap_or_default(),
        address: None,
        software: None,
        product: None,
        transports: Vec::new(),
        peers: Vec::new(),
        quota: None,
        rest: None,
    };
    let auth = cfg
        .auth
        .clone()
        .or_else(|| uris.first().and_then(TurnAuth::from_uri));
    let Some(auth) = auth else {
        return out;
    };
    let creds = auth.resolve(unix_now());

    // One allocation per transport; the first UDP one (else the first) is
    // kept for the peer tests, and the first TCP/TLS connection's address
    // for RFC 6062.
    let mut main: Option<Live> = None;
    let mut stream: Option<(ServerUri, TurnTransport, SocketAddr)> = None;
    for (uri, transport, given) in plan(uris) {
        let mut row = AuditTransport {
            uri: uri.to_string(),
            transport,
            port: uri.port_or_default(),
            given,
            relayed: None,
            relayed_ipv6: None,
            failure: None,
        };
        match allocate_on(&uri, transport, cfg, &creds, AddressFamily::IPV4).await {
            Ok((session, server, relayed)) => {
                row.relayed = Some(relayed);
                out.address.get_or_insert(server);
                if out.software.is_none() {
                    out.software = session.tap.software.clone();
                }
                if matches!(transport, TurnTransport::Tcp | TurnTransport::Tls) && stream.is_none()
                {
                    stream = Some((uri.clone(), transport, server));
                }
                let better = match &main {
                    None => true,
                    Some(m) => m.transport != TurnTransport::Udp && transport == TurnTransport::Udp,
                };
                if better {
                    if let Some(old) = main.take() {
                        release(old.session, &creds, cfg.stage_timeout).await;
                    }
                    main = Some(Live {
                        session,
                        transport,
                        uri: uri.clone(),
                        server,
                        relayed,
                    });
                } else {
                    release(session, &creds, cfg.stage_timeout).await;
                }
            }
            Err(f) => row.failure = Some(f),
        }
        out.transports.push(row);
    }
    out.product = out.software.as_deref().and_then(parse_software);
    let Some(mut live) = main else {
        return out;
    };

    // IPv6 relay on the main transport, for the IPv6 peers.
    let v6 = match allocate_on(&live.uri, live.transport, cfg, &creds, AddressFamily::IPV6).await {
        Ok((s, _, relayed)) if relayed.is_ipv6() => {
            if let Some(row) = out
                .transports
                .iter_mut()
                .find(|r| r.uri == live.uri.to_string() && r.transport == live.transport)
            {
                row.relayed_ipv6 = Some(relayed);
            }
            Some((s, relayed))
        }
        Ok((s, _, _)) => {
            release(s, &creds, cfg.stage_timeout).await;
            None
        }
        Err(_) => None,
    };

    // The peers: the documentation targets, then the server's own
    // addresses (reached at, relayed), each of the family of an
    // allocation that can name it.
    // (An own address that is also a documentation target, e.g. a server
    // on loopback, is tried once, in its category.)
    let mut targets = audit_targets();
    for own in [live.server.ip(), live.relayed.ip()] {
        if !targets.iter().any(|(_, ip)| *ip == own) {
            targets.push((PeerCategory::ServerOwn, own));
        }
    }
    let port_for = |ip: IpAddr| -> u16 {
        if ip == IpAddr::from([169, 254, 169, 254]) {
            80
        } else {
            live.server.port()
        }
    };
    let mut v6 = v6;
    let mut granted: Vec<(usize, SocketAddr)> = Vec::new();
    for (cat, ip) in &targets {
        let peer = SocketAddr::new(*ip, port_for(*ip));
        let session = match (ip.is_ipv4(), &mut v6) {
            (true, _) => Some(&mut live.session),
            (false, Some((s, _))) => Some(s),
            (false, None) => None,
        };
        let Some(session) = session else {
            for via in [PeerVia::CreatePermission, PeerVia::ChannelBind] {
                out.peers.push(not_tested(
                    *cat,
                    peer,
                    live.transport,
                    via,
                    "the server gave no IPv6 relay, so IPv6 peers cannot be named",
                ));
            }
            continue;
        };
        let (outcome, ms) = permission(session, *ip, cfg.stage_timeout).await;
        if outcome == AttemptOutcome::Accepted {
            granted.push((out.peers.len(), peer));
        }
        out.peers.push(PeerAttempt {
            category: *cat,
            peer,
            transport: live.transport,
            via: PeerVia::CreatePermission,
            outcome,
            delivered: None,
            ms,
        });
        let (outcome, ms) = channel(session, peer, cfg.stage_timeout).await;
        out.peers.push(PeerAttempt {
            category: *cat,
            peer,
            transport: live.transport,
            via: PeerVia::ChannelBind,
            outcome,
            delivered: None,
            ms,
        });
    }

    // Send: one Binding request and one token to each peer let through;
    // an answer (or either echoed) coming back proves the relay reached
    // it. Peers on the server host itself (loopback, 0.0.0.0, its own
    // addresses) first, one at a time, each answer awaited: an ICMP error
    // from a later peer must not race an answer on the relay socket (in
    // the lab coturn then lost the echo of a loopback listener 3 runs in
    // 6). The rest together.
    let on_host = |c: PeerCategory| {
        matches!(
            c,
            PeerCategory::Loopback | PeerCategory::Unspecified | PeerCategory::ServerOwn
        )
    };
    let mut sends = Vec::new();
    let mut left_out: Vec<PeerAttempt> = Vec::new();
    let mut answered: Vec<TransactionId> = Vec::new();
    for first in [true, false] {
        let mut batch = Vec::new();
        for (idx, peer) in &granted {
            let cat = out.peers[*idx].category;
            if on_host(cat) != first {
                continue;
            }
            if !may_send(acfg, cat) {
                left_out.push(not_tested(
                    cat,
                    *peer,
                    live.transport,
                    PeerVia::Send,
                    LEFT_OUT,
                ));
                continue;
            }
            let session = if peer.is_ipv4() {
                &mut live.session
            } else {
                match &mut v6 {
                    Some((s, _)) => s,
                    None => continue,
                }
            };
            // A Binding request (a STUN server there answers it) and a
            // plain token (an echo there returns it; coturn drops STUN
            // messages arriving from peers, so its loopback STUN port
            // cannot answer).
            let (request, tx) = binding_request();
            let token = token_for(&tx);
            let sent = session.send_to_peer(*peer, &request).await.is_ok()
                & session.send_to_peer(*peer, &token).await.is_ok();
            let one = (*idx, *peer, tx, token, sent);
            if first {
                let wait = acfg.proof_wait / 3;
                answered.extend(await_answers(session, std::slice::from_ref(&one), wait).await);
            }
            batch.push(one);
        }
        if !first {
            answered.extend(await_answers(&mut live.session, &batch, acfg.proof_wait).await);
            if let Some((s, _)) = &mut v6 {
                answered.extend(await_answers(s, &batch, Duration::from_millis(100)).await);
            }
        }
        sends.extend(batch);
    }
    sends.sort_by_key(|x| x.0);
    for (idx, peer, tx, _, sent) in &sends {
        let proved = answered.contains(tx);
        let cat = out.peers[*idx].category;
        out.peers.push(PeerAttempt {
            category: cat,
            peer: *peer,
            transport: live.transport,
            via: PeerVia::Send,
            outcome: if *sent {
                AttemptOutcome::Accepted
            } else {
                AttemptOutcome::NotTested {
                    why: "the Send indication could not be sent".into(),
                }
            },
            delivered: sent.then_some(proved),
            ms: None,
        });
    }

    // A server whose allocation answers carry no SOFTWARE may name itself
    // in later ones (natscope's embedded server, in its 403s).
    if out.software.is_none() {
        out.software = live
            .session
            .tap
            .software
            .clone()
            .or_else(|| v6.as_ref().and_then(|(s, _)| s.tap.software.clone()));
        out.product = out.software.as_deref().and_then(parse_software);
    }

    // RFC 6062 Connect, on a TCP allocation over the first stream
    // transport that allocated.
    match &stream {
        Some((uri, transport, server)) => {
            // One peer per category: an unreachable peer the server does
            // not refuse costs the whole Connect wait.
            let mut v4: Vec<(PeerCategory, SocketAddr)> = Vec::new();
            for (c, ip) in targets.iter().filter(|(_, ip)| ip.is_ipv4()) {
                if v4.iter().any(|(x, _)| x == c) {
                    continue;
                }
                let peer = SocketAddr::new(*ip, port_for(*ip));
                if may_send(acfg, *c) {
                    v4.push((*c, peer));
                } else {
                    left_out.push(not_tested(*c, peer, *transport, PeerVia::Connect, LEFT_OUT));
                }
            }
            out.peers
                .extend(connects(uri, *transport, *server, cfg, acfg, &creds, &v4).await);
        }
        None => {
            let mut seen: Vec<PeerCategory> = Vec::new();
            for (cat, ip) in targets.iter().filter(|(_, ip)| ip.is_ipv4()) {
                if seen.contains(cat) {
                    continue;
                }
                seen.push(*cat);
                out.peers.push(not_tested(
                    *cat,
                    SocketAddr::new(*ip, port_for(*ip)),
                    live.transport,
                    PeerVia::Connect,
                    "RFC 6062 needs TURN over TCP or TLS, and no TCP/TLS allocation worked",
                ));
            }
        }
    }

    out.peers.extend(left_out);

    // The quota, over UDP (the main allocation counts as one).
    out.quota = if live.transport == TurnTransport::Udp {
        Some(quota(&live, &auth, cfg, acfg).await)
    } else {
        None
    };
    // REST credential lifetimes.
    if let TurnAuth::Rest { secret, user, .. } = &auth {
        let try_ttl = |ttl_secs: i64| {
            let a = TurnAuth::Rest {
                secret: secret.clone(),
                user: user.clone(),
                ttl_secs,
            };
            let server = live.server;
            let timeout = cfg.stage_timeout;
            async move {
                match HeldAllocation::udp(server, &a, timeout).await {
                    Ok(h) => {
                        h.release(timeout).await;
                        Some(true)
                    }
                    Err(TurnFailure::WrongCredentials) => Some(false),
                    Err(_) => None,
                }
            }
        };
        let long = i64::try_from(acfg.rest_long_lived.as_secs()).unwrap_or(i64::MAX / 2);
        out.rest = Some(RestLifetime {
            expired_accepted: if live.transport == TurnTransport::Udp {
                try_ttl(-60).await
            } else {
                None
            },
            long_lived_secs: acfg.rest_long_lived.as_secs(),
            long_lived_accepted: if live.transport == TurnTransport::Udp {
                try_ttl(long).await
            } else {
                None
            },
        });
    }

    if let Some((s, _)) = v6 {
        release(s, &creds, cfg.stage_timeout).await;
    }
    release(live.session, &creds, cfg.stage_timeout).await;
    out
}

/// Why a Send or Connect was not made: `--send-to` left its category out.
const LEFT_OUT: &str = "not sent: --send-to leaves this category out";

/// Whether Send and Connect may carry data to peers of `cat`.
fn may_send(acfg: &AuditConfig, cat: PeerCategory) -> bool {
    acfg.send_to.as_ref().is_none_or(|c| c.contains(&cat))
}

/// Resolves `uri` and allocates over `transport`: the session, the server
/// address and the relayed address.
async fn allocate_on(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
    creds: &ResolvedCredentials,
    family: AddressFamily,
) -> Result<(Session, SocketAddr, SocketAddr), TurnFailure> {
    let (server, _) = resolve(uri, transport, cfg).await?;
    let conn = connect_fresh(uri, transport, server, cfg).await?;
    let (session, relayed) = allocate(conn, Some(creds), family, cfg.stage_timeout).await?;
    Ok((session, server, relayed))
}

/// Deletes the allocation, bounded; the server frees it at its lifetime
/// otherwise.
async fn release(mut s: Session, creds: &ResolvedCredentials, wait: Duration) {
    let _ = s.delete_within(creds, wait).await;
}

fn not_tested(
    category: PeerCategory,
    peer: SocketAddr,
    transport: TurnTransport,
    via: PeerVia,
    why: &str,
) -> PeerAttempt {
    PeerAttempt {
        category,
        peer,
        transport,
        via,
        outcome: AttemptOutcome::NotTested { why: why.into() },
        delivered: None,
        ms: None,
    }
}

/// How a request naming a peer ended: from the error answers that arrived
/// after `mark` (`tap.last_error` entries), else how the wait ended.
fn outcome_of(
    s: &Session,
    mark: usize,
    method: Method,
    ok: bool,
    res: Result<(), PumpError>,
    timeout: Duration,
) -> AttemptOutcome {
    if ok {
        return AttemptOutcome::Accepted;
    }
    let answer = s
        .tap
        .last_error
        .get(mark..)
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|(m, _, _)| *m == method)
        .map(|(_, c, r)| (*c, r.trim_end_matches('\0').to_string()));
    match (answer, res) {
        (Some((403, _)), _) => AttemptOutcome::Refused,
        (Some((447, _)), _) => AttemptOutcome::Attempted,
        (Some((code, reason)), _) => AttemptOutcome::Error { code, reason },
        (None, Err(PumpError::Timeout)) | (None, Ok(())) => AttemptOutcome::Timeout {
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        },
        (None, Err(PumpError::Io(e))) => AttemptOutcome::NotTested {
            why: format!("the connection to the server failed: {e}"),
        },
        (None, Err(PumpError::Closed)) => AttemptOutcome::NotTested {
            why: "the TURN client could not send the request".into(),
        },
    }
}

async fn permission(
    s: &mut Session,
    ip: IpAddr,
    timeout: Duration,
) -> (AttemptOutcome, Option<f64>) {
    let mark = s.tap.last_error.len();
    let t0 = Instant::now();
    let now = s.now();
    let issued = s
        .client
        .create_permission(TransportType::Udp, ip, now)
        .is_ok();
    let (ok, res) = s.settle(issued, t0 + timeout, permission_outcome).await;
    let ms = issued.then(|| t0.elapsed().as_secs_f64() * 1000.0);
    (outcome_of(s, mark, CREATE_PERMISSION, ok, res, timeout), ms)
}

async fn channel(
    s: &mut Session,
    peer: SocketAddr,
    timeout: Duration,
) -> (AttemptOutcome, Option<f64>) {
    let mark = s.tap.last_error.len();
    let t0 = Instant::now();
    let now = s.now();
    let issued = s.client.bind_channel(TransportType::Udp, peer, now).is_ok();
    let (ok, res) = s
        .settle(issued, t0 + timeout, |e| match e {
            TurnEvent::ChannelCreated(..) => Some(true),
            TurnEvent::ChannelCreateFailed(..) => Some(false),
            _ => None,
        })
        .await;
    let ms = issued.then(|| t0.elapsed().as_secs_f64() * 1000.0);
    (outcome_of(s, mark, CHANNEL_BIND, ok, res, timeout), ms)
}

/// A STUN Binding request and its transaction id.
fn binding_request() -> (Vec<u8>, TransactionId) {
    let msg = Message::builder_request(BINDING, MessageWriteVec::new());
    let tx = msg.transaction_id();
    (msg.finish(), tx)
}

/// The plain probe sent beside the Binding request `tx`: bytes no STUN
/// or ChannelData parser takes (first byte 'n'), unique to the request.
fn token_for(tx: &TransactionId) -> Vec<u8> {
    let id: u128 = (*tx).into();
    format!("natscope-audit-{id:024x}").into_bytes()
}

/// The transactions of `sends` answered (a Binding response, the request
/// itself echoed, or its token echoed) through the relay within `wait`.
async fn await_answers(
    s: &mut Session,
    sends: &[(usize, SocketAddr, TransactionId, Vec<u8>, bool)],
    wait: Duration,
) -> Vec<TransactionId> {
    let mut answered: Vec<TransactionId> = Vec::new();
    let want = sends.iter().filter(|x| x.4).count();
    if want == 0 {
        return answered;
    }
    let deadline = Instant::now() + wait;
    let _ = s
        .pump(deadline, |s| {
            while let Some(d) = s.peer_data.pop_front() {
                let tx = match Message::from_bytes(&d) {
                    Ok(m) => sends.iter().find(|x| x.2 == m.transaction_id()),
                    Err(_) => sends.iter().find(|x| x.3 == d),
                };
                if let Some(x) = tx
                    && !answered.contains(&x.2)
                {
                    answered.push(x.2);
                }
            }
            answered.len() >= want
        })
        .await;
    answered
}

/// RFC 6062 Connect to each of `targets` on one TCP allocation: the
/// permission first (a refusal there is the Connect's answer), then the
/// Connect; a peer connected is declined at once (no ConnectionBind).
#[allow(clippy::too_many_arguments)]
async fn connects(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
    acfg: &AuditConfig,
    creds: &ResolvedCredentials,
    targets: &[(PeerCategory, SocketAddr)],
) -> Vec<PeerAttempt> {
    let all = |why: String| -> Vec<PeerAttempt> {
        targets
            .iter()
            .map(|(c, p)| not_tested(*c, *p, transport, PeerVia::Connect, &why))
            .collect()
    };
    let conn = match connect_fresh(uri, transport, server, cfg).await {
        Ok(c) => c,
        Err(f) => return all(format!("no second TCP connection: {}", f.describe())),
    };
    let mut config = TurnConfig::new(TurnCredentials::new(
        &creds.username,
        creds.password.expose(),
    ));
    config.set_allocation_transport(TransportType::Tcp);
    let mut s = match Session::with_config(conn, config) {
        Ok(s) => s,
        Err(e) => return all(format!("no session: {e}")),
    };
    let (_, _) = s.await_allocation(Instant::now() + cfg.stage_timeout).await;
    let tcp_allocated = s
        .events
        .iter()
        .any(|e| matches!(e, TurnEvent::AllocationCreated(TransportType::Tcp, _)));
    s.events.clear();
    if !tcp_allocated {
        let code = s
            .tap
            .last_error_after_challenge(turn_client_proto::types::message::ALLOCATE);
        let why = match code {
            Some((c, r)) => format!(
                "the server refused a TCP allocation ({})",
                model::turn::error_code_text(c, r.trim_end_matches('\0'))
            ),
            None => "the server granted no TCP allocation (RFC 6062 not supported)".into(),
        };
        return all(why);
    }
    let mut out = Vec::new();
    for (cat, peer) in targets {
        let mark = s.tap.last_error.len();
        let t0 = Instant::now();
        let now = s.now();
        let issued = s
            .client
            .create_permission(TransportType::Tcp, peer.ip(), now)
            .is_ok();
        let (ok, res) = s
            .settle(issued, t0 + cfg.stage_timeout, permission_outcome)
            .await;
        if !ok {
            let outcome = outcome_of(&s, mark, CREATE_PERMISSION, ok, res, cfg.stage_timeout);
            out.push(PeerAttempt {
                category: *cat,
                peer: *peer,
                transport,
                via: PeerVia::Connect,
                outcome,
                delivered: None,
                ms: Some(t0.elapsed().as_secs_f64() * 1000.0),
            });
            continue;
        }
        let mark = s.tap.last_error.len();
        let now = s.now();
        if s.client.tcp_connect(*peer, now).is_err() {
            out.push(not_tested(
                *cat,
                *peer,
                transport,
                PeerVia::Connect,
                "the TURN client could not send Connect",
            ));
            continue;
        }
        let p = *peer;
        let res = s
            .pump(Instant::now() + acfg.connect_wait, |s| {
                s.socket_request.is_some()
                    || s.events
                        .iter()
                        .any(|e| matches!(e, TurnEvent::TcpConnectFailed(a) if *a == p))
            })
            .await;
        s.events.clear();
        let connected = match s.socket_request.take() {
            Some((id, socket, peer_addr)) => {
                // Decline the data connection: reaching the peer is the
                // proof; nothing is sent to it.
                let now = s.now();
                let _ = s
                    .client
                    .allocated_tcp_socket(id, socket, peer_addr, None, now);
                true
            }
            None => false,
        };
        let outcome = outcome_of(&s, mark, CONNECT, connected, res, acfg.connect_wait);
        out.push(PeerAttempt {
            category: *cat,
            peer: *peer,
            transport,
            via: PeerVia::Connect,
            outcome,
            delivered: connected.then_some(true),
            ms: Some(t0.elapsed().as_secs_f64() * 1000.0),
        });
    }
    let _ = s.delete_within(creds, cfg.stage_timeout).await;
    out
}

/// Allocations over UDP (the main one is UDP) until the server refuses
/// one or the bound is reached; every one made is deleted afterwards.
async fn quota(
    live: &Live,
    auth: &TurnAuth,
    cfg: &TurnProbeConfig,
    acfg: &AuditConfig,
) -> QuotaProbe {
    let mut held = Vec::new();
    let mut stopped_by = None;
    let bound = acfg.quota_bound.max(1);
    while (held.len() as u32) + 1 < bound {
        match HeldAllocation::udp(live.server, auth, cfg.stage_timeout).await {
            Ok(h) => held.push(h),
            Err(f) => {
                stopped_by = Some(match f {
                    TurnFailure::AllocationQuota => 486,
                    TurnFailure::InsufficientCapacity => 508,
                    TurnFailure::ServerError { code, .. } => code,
                    TurnFailure::WrongCredentials => 401,
                    _ => 0,
                });
                break;
            }
        }
    }
    let granted = held.len() as u32 + 1;
    let mut released = 0;
    let mut set = tokio::task::JoinSet::new();
    let wait = cfg.stage_timeout;
    for h in held {
        set.spawn(async move { h.release(wait).await });
    }
    while let Some(r) = set.join_next().await {
        if matches!(r, Ok(true)) {
            released += 1;
        }
    }
    QuotaProbe {
        bound,
        granted,
        stopped_by,
        released,
    }
}
