//! The TURN probe driver: runs turn-client-proto's sans-IO client from a
//! tokio loop over UDP, TCP, TLS or DTLS, stage by stage, and reads the server's
//! answers on the way past (the "tap") to name each failure.

use super::creds::{ResolvedCredentials, TurnAuth, unix_now};
use super::dtls::{self, DtlsConn};
use super::quality::{QualityConfig, run_burst};
use super::stages::{TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use super::target::{host_name, turn_transports, wire_transport};
use super::tls::{TlsOptions, client_config};
use crate::resolve::{ResolveError, Resolver};
use crate::servers::{Host, ServerUri};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use turn_client_proto::api::{
    Socket5Tuple, TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet,
};
use turn_client_proto::client::TurnClient;
use turn_client_proto::prelude::DelayedTransmitBuild;
use turn_client_proto::stun::Instant as SansInstant;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::tcp::TurnClientTcp;
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::types::attribute::{Lifetime, XorRelayedAddress};
use turn_client_proto::types::message::{
    ALLOCATE, CHANNEL_BIND, CONNECT, CREATE_PERMISSION, REFRESH,
};
use turn_client_proto::types::stun::attribute::{
    AlternateServer, ErrorCode, MessageIntegritySha256, Nonce, PasswordAlgorithm,
    PasswordAlgorithmValue, PasswordAlgorithms, Realm, Software, Userhash, Username,
    XorMappedAddress,
};
use turn_client_proto::types::stun::message::{
    IntegrityAlgorithm, LongTermCredentials, Message, MessageClass, MessageWrite, MessageWriteExt,
    MessageWriteVec, Method, StunWriteError, TransactionId,
};
use turn_client_proto::types::{AddressFamily, TransportType};
use turn_client_proto::udp::TurnClientUdp;

mod hold;
mod ipv6;
mod tcp_alloc;

pub use hold::HeldAllocation;

/// Everything a TURN probe needs besides the server URIs.
#[derive(Clone, Debug)]
pub struct TurnProbeConfig {
    /// Credentials; `None` runs only the unauthenticated stage.
    pub auth: Option<TurnAuth>,
    /// The realm the credentials belong to; a different server realm is
    /// reported as a realm mismatch.
    pub expected_realm: Option<String>,
    /// Certificate verification for `turns:`.
    pub tls: TlsOptions,
    /// External UDP echo peer; default: a local echo socket.
    pub peer: Option<SocketAddr>,
    /// Deadline of each stage.
    pub stage_timeout: Duration,
    /// Relay quality burst; `None` skips it.
    pub quality: Option<QualityConfig>,
    /// Resolver for server names; `None` uses the system's
    /// ([`Resolver::system`]), set up when a name needs resolving.
    pub resolver: Option<Resolver>,
}

impl Default for TurnProbeConfig {
    fn default() -> Self {
        Self {
            auth: None,
            expected_realm: None,
            tls: TlsOptions::default(),
            peer: None,
            stage_timeout: Duration::from_secs(5),
            quality: Some(QualityConfig::default()),
            resolver: None,
        }
    }
}

/// Probes every URI over every transport it implies
/// ([`turn_transports`]; `stun:` URIs imply none), concurrently. One
/// transport's failure never stops the others; results keep input order.
/// Credentials: `cfg.auth`, else those a URI carries (`iceServers`
/// `username`/`credential`) as long-term credentials.
pub async fn probe_all(uris: &[ServerUri], cfg: &TurnProbeConfig) -> Vec<TurnTransportResult> {
    let mut set = tokio::task::JoinSet::new();
    let mut n = 0usize;
    for uri in uris {
        for t in turn_transports(uri) {
            let (uri, cfg) = (uri.clone(), cfg.clone());
            let idx = n;
            n += 1;
            set.spawn(async move { (idx, probe_transport(&uri, t, &cfg).await) });
        }
    }
    let mut out: Vec<(usize, TurnTransportResult)> = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        if let Ok(pair) = r {
            out.push(pair);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Maps a socket error to a named failure.
pub fn name_io_error(err: &io::Error) -> TurnFailure {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => TurnFailure::ConnectionRefused,
        io::ErrorKind::TimedOut => TurnFailure::Timeout { after_ms: 0 },
        _ => TurnFailure::Io {
            detail: err.to_string(),
        },
    }
}

fn ms_since(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Probes one URI over one transport, following one 300 redirect. The
/// host is resolved first (the `dns` stage; SRV `_turn._udp`,
/// `_turns._tcp`... when the URI has no port).
pub async fn probe_transport(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
) -> TurnTransportResult {
    let mut result = TurnTransportResult::new(&uri.to_string(), transport);
    let Some(server) = resolve_stage(uri, transport, cfg, &mut result).await else {
        return result;
    };
    if let Flow::Redirect { to: alt, .. } = run_once(uri, transport, server, cfg, &mut result).await
    {
        // 300 Try Alternate: start over on the alternate, once. The first
        // server's stages are replaced; `redirected_from` keeps its address
        // and a note on the stage that was redirected says so.
        let mut second = TurnTransportResult::new(&uri.to_string(), transport);
        second.stages = result
            .stages
            .iter()
            .filter(|st| st.stage == TurnStage::Dns)
            .cloned()
            .collect();
        second.redirected_from = Some(server);
        let redirected = format!("redirected here by {server} (300 Try Alternate)");
        match run_once(uri, transport, alt, cfg, &mut second).await {
            Flow::Done => add_note(&mut second, TurnStage::UnauthenticatedAllocate, &redirected),
            Flow::Redirect { to: again, stage } => {
                // The alternate redirected too: bounded, named, not followed.
                second.fail(
                    stage,
                    None,
                    TurnFailure::AlternateServerLoop { alternate: again },
                );
                add_note(
                    &mut second,
                    stage,
                    &format!("{redirected}; redirected again, to {again}: not followed"),
                );
                all_later(&mut second, stage, "earlier stage failed");
            }
        }
        result = second;
    }
    // Additive: never changes `ok`, `failed_stage` or `failure`.
    ipv6::allocate_ipv6_stage(uri, transport, cfg, &mut result).await;
    tcp_alloc::tcp_allocation_stage(uri, transport, cfg, &mut result).await;
    result.ok = result.failure.is_none()
        && matches!(
            result.stage(TurnStage::ChannelRoundTrip).map(|s| &s.status),
            Some(super::stages::StageStatus::Passed)
        );
    result
}

/// The `dns` stage: the address to contact, or `None` after recording the
/// failure.
async fn resolve_stage(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
) -> Option<SocketAddr> {
    if let Host::Ip(ip) = &uri.host {
        r.not_tested(TurnStage::Dns, "IP literal: no DNS needed");
        return Some(SocketAddr::new(*ip, uri.port_or_default()));
    }
    let t0 = std::time::Instant::now();
    let resolver = match &cfg.resolver {
        Some(res) => res.clone(),
        None => match Resolver::system() {
            Ok(res) => res,
            Err(e) => {
                r.fail(
                    TurnStage::Dns,
                    None,
                    TurnFailure::Dns {
                        detail: e.to_string(),
                    },
                );
                return None;
            }
        },
    };
    let found = resolver
        .resolve_for(uri, &[wire_transport(transport)], cfg.stage_timeout)
        .await;
    match found {
        Ok(targets) => match targets.first() {
            Some(t) => {
                let via = if t.via_srv { " via SRV" } else { "" };
                r.pass(
                    TurnStage::Dns,
                    ms_since(t0),
                    Some(format!("{} -> {}{via}", host_name(uri), t.addr)),
                );
                Some(t.addr)
            }
            None => {
                r.fail(
                    TurnStage::Dns,
                    Some(ms_since(t0)),
                    TurnFailure::Dns {
                        detail: format!("{}: no address", host_name(uri)),
                    },
                );
                None
            }
        },
        Err(ResolveError::Timeout { .. }) => {
            r.fail(
                TurnStage::Dns,
                Some(ms_since(t0)),
                TurnFailure::Timeout {
                    after_ms: cfg.stage_timeout.as_millis() as u64,
                },
            );
            None
        }
        Err(e) => {
            r.fail(
                TurnStage::Dns,
                Some(ms_since(t0)),
                TurnFailure::Dns {
                    detail: e.to_string(),
                },
            );
            None
        }
    }
}

/// Appends `note` to the note of `stage`, if that stage was recorded.
fn add_note(r: &mut TurnTransportResult, stage: TurnStage, note: &str) {
    if let Some(st) = r.stages.iter_mut().find(|s| s.stage == stage) {
        st.note = Some(match st.note.take() {
            Some(n) => format!("{n}; {note}"),
            None => note.to_string(),
        });
    }
}

/// Records every main TURN stage after `from` that has no result yet as not
/// tested, with `note`.
fn all_later(r: &mut TurnTransportResult, from: TurnStage, note: &str) {
    later_than(r, from, note, true);
}

/// [`all_later`] except `deallocate`, for when the allocation exists and is
/// still deleted (and recorded) afterwards.
fn all_later_but_deallocate(r: &mut TurnTransportResult, from: TurnStage, note: &str) {
    later_than(r, from, note, false);
}

fn later_than(r: &mut TurnTransportResult, from: TurnStage, note: &str, deallocate: bool) {
    for st in [
        TurnStage::UnauthenticatedAllocate,
        TurnStage::Allocate,
        TurnStage::CreatePermission,
        TurnStage::DataRoundTrip,
        TurnStage::ChannelBind,
        TurnStage::ChannelRoundTrip,
        TurnStage::Refresh,
        TurnStage::Quality,
        TurnStage::Deallocate,
    ] {
        if st as u8 > from as u8
            && r.stage(st).is_none()
            && (deallocate || st != TurnStage::Deallocate)
        {
            r.not_tested(st, note);
        }
    }
}

fn first_stage(t: TurnTransport) -> TurnStage {
    match t {
        TurnTransport::Udp => TurnStage::UnauthenticatedAllocate,
        TurnTransport::Dtls => TurnStage::DtlsHandshake,
        _ => TurnStage::TcpConnect,
    }
}

enum Flow {
    Done,
    /// 300 Try Alternate with ALTERNATE-SERVER `to`, answered to the
    /// Allocate of `stage`.
    Redirect {
        to: SocketAddr,
        stage: TurnStage,
    },
}

/// The per-transport sequence after the connection exists.
async fn run_once(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
) -> Flow {
    r.server = Some(server);
    let host = host_name(uri);
    // --- connect ---
    let conn = match transport {
        TurnTransport::Dtls => {
            let t0 = std::time::Instant::now();
            let sock = match connected_udp(server).await {
                Ok(s) => s,
                Err(e) => {
                    r.fail(TurnStage::DtlsHandshake, None, name_io_error(&e));
                    return Flow::Done;
                }
            };
            match bounded(cfg.stage_timeout, dtls::connect(sock, &host, &cfg.tls)).await {
                Ok(est) => {
                    r.pass(TurnStage::DtlsHandshake, ms_since(t0), Some(est.note));
                    Conn::Dtls(Box::new(est.conn))
                }
                Err(f) => return stage_failed(r, TurnStage::DtlsHandshake, t0, f),
            }
        }
        TurnTransport::Udp => match connected_udp(server).await {
            Ok(sock) => Conn::Udp(sock),
            Err(e) => {
                r.fail(TurnStage::UnauthenticatedAllocate, None, name_io_error(&e));
                return Flow::Done;
            }
        },
        TurnTransport::Tcp | TurnTransport::Tls => {
            let t0 = std::time::Instant::now();
            let connect = async {
                TcpStream::connect(server)
                    .await
                    .map_err(|e| name_io_error(&e))
            };
            let tcp = match bounded(cfg.stage_timeout, connect).await {
                Ok(s) => s,
                Err(f) => return stage_failed(r, TurnStage::TcpConnect, t0, f),
            };
            r.pass(TurnStage::TcpConnect, ms_since(t0), None);
            let _ = tcp.set_nodelay(true);
            let (local, remote) = match (tcp.local_addr(), tcp.peer_addr()) {
                (Ok(l), Ok(p)) => (l, p),
                (Err(e), _) | (_, Err(e)) => {
                    r.fail(TurnStage::TcpConnect, None, name_io_error(&e));
                    return Flow::Done;
                }
            };
            if transport == TurnTransport::Tcp {
                Conn::Stream {
                    io: Box::new(tcp),
                    buf: Vec::new(),
                    local,
                    remote,
                }
            } else {
                let t1 = std::time::Instant::now();
                let config = match client_config(&cfg.tls) {
                    Ok(c) => c,
                    Err(e) => {
                        r.fail(
                            TurnStage::TlsHandshake,
                            None,
                            TurnFailure::TlsOther {
                                detail: e.to_string(),
                            },
                        );
                        return Flow::Done;
                    }
                };
                let handshake = super::tls::connect(config, &host, tcp);
                match bounded(cfg.stage_timeout, handshake).await {
                    Ok(tls) => {
                        let version = tls.get_ref().1.protocol_version().map(|v| format!("{v:?}"));
                        r.pass(TurnStage::TlsHandshake, ms_since(t1), version);
                        Conn::Stream {
                            io: Box::new(tls),
                            buf: Vec::new(),
                            local,
                            remote,
                        }
                    }
                    Err(f) => return stage_failed(r, TurnStage::TlsHandshake, t1, f),
                }
            }
        }
    };
    // Explicit credentials win; else those the URI carries (iceServers).
    let auth = cfg.auth.clone().or_else(|| TurnAuth::from_uri(uri));
    let creds = auth.as_ref().map(|a| a.resolve(unix_now()));
    let mut s = match Session::new(conn, creds.as_ref(), AddressFamily::IPV4) {
        Ok(s) => s,
        Err(e) => {
            r.fail(first_stage(transport), None, name_io_error(&e));
            return Flow::Done;
        }
    };
    let flow = s.run_stages(cfg, creds.as_ref(), r).await;
    r.stale_nonce_retried = s.tap.stale_nonces > 0;
    if r.software.is_none() {
        r.software = s.tap.software.clone();
    }
    flow
}

// ---------------------------------------------------------------- transport

/// A UDP socket connected to `server` (ICMP errors then surface on it).
async fn connected_udp(server: SocketAddr) -> io::Result<UdpSocket> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    Ok(sock)
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Conn {
    Udp(UdpSocket),
    /// TURN over DTLS: one TURN message per DTLS record.
    Dtls(Box<DtlsConn>),
    Stream {
        io: Box<dyn Io>,
        buf: Vec<u8>,
        local: SocketAddr,
        remote: SocketAddr,
    },
}

/// Upper bound of one frame on a stream (STUN header + max length).
pub(super) const MAX_FRAME: usize = 20 + 65535;

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// Drops up to 3 zero bytes of ChannelData padding in front of the next
/// frame. Returns false when more data is needed to decide.
pub(super) fn strip_padding(buf: &mut Vec<u8>) -> bool {
    let mut skip = 0;
    while skip < 3 && buf.get(skip) == Some(&0) {
        if buf.len() < skip + 8 {
            return false;
        }
        if buf[skip + 4..skip + 8] == MAGIC_COOKIE {
            break;
        }
        skip += 1;
    }
    buf.drain(..skip);
    true
}

/// Length of the first complete STUN or ChannelData frame in `buf`, if any.
pub(super) fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 4 {
        return None;
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    // ChannelData should be padded to 4 bytes over streams (RFC 8656
    // §12.5); coturn pads, turn-proto servers do not. The frame ends after
    // its data; padding is skipped by `strip_padding` before the next frame.
    let total = if buf[0] & 0xC0 == 0x40 {
        4 + len
    } else {
        20 + len
    };
    (buf.len() >= total).then_some(total)
}

impl Conn {
    fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        match self {
            Conn::Udp(s) => Ok((s.local_addr()?, s.peer_addr()?)),
            Conn::Dtls(d) => d.addrs(),
            Conn::Stream { local, remote, .. } => Ok((*local, *remote)),
        }
    }

    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Udp(s) => s.send(data).await.map(|_| ()),
            Conn::Dtls(d) => d.send(data).await,
            Conn::Stream { io, .. } => {
                // Every payload natscope sends is a multiple of 4 bytes, so
                // ChannelData needs no padding: turn-proto does not pad (nor
                // accept padding) over streams, coturn requires it.
                io.write_all(data).await?;
                io.flush().await
            }
        }
    }

    /// One frame (datagram, or one STUN/ChannelData message of a stream).
    /// Cancel-safe: partial stream data stays in `buf`.
    async fn recv(&mut self) -> io::Result<Vec<u8>> {
        match self {
            Conn::Udp(s) => {
                let mut b = vec![0u8; 65536];
                let n = s.recv(&mut b).await?;
                b.truncate(n);
                Ok(b)
            }
            Conn::Dtls(d) => d.recv().await,
            Conn::Stream { io, buf, .. } => loop {
                if strip_padding(buf)
                    && let Some(n) = frame_len(buf)
                {
                    return Ok(buf.drain(..n).collect());
                }
                if buf.len() > MAX_FRAME + 4 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "oversized frame",
                    ));
                }
                let mut tmp = [0u8; 16384];
                let n = io.read(&mut tmp).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                buf.extend_from_slice(&tmp[..n]);
            },
        }
    }
}

// ---------------------------------------------------------------- tap

/// What the server told us, read from responses on their way to the client.
#[derive(Default, Debug)]
struct Tap {
    first_401: Option<std::time::Instant>,
    last_error: Vec<(Method, u16, String)>,
    realm: Option<String>,
    alternate: Option<SocketAddr>,
    stale_nonces: u32,
    software: Option<String>,
    lifetime: Option<u32>,
    mapped: Option<SocketAddr>,
    relayed: Option<SocketAddr>,
    refresh_ok: u32,
    /// LIFETIME of the last successful Refresh.
    refresh_lifetime: Option<u32>,
    /// The last NONCE the server sent (for natscope's own Refresh).
    nonce: Option<String>,
    /// How the client signed its last authenticated request, so natscope's
    /// own Refresh authenticates the same way.
    signing: Option<Signing>,
    responses: u32,
    /// Transactions whose error answer is recorded: a retransmitted
    /// request's duplicate answer is not a second error. Bounded.
    error_tx: VecDeque<TransactionId>,
}

impl Tap {
    fn inspect(&mut self, frame: &[u8]) {
        let Ok(msg) = Message::from_bytes(frame) else {
            return;
        };
        if !msg.is_response() {
            return;
        }
        self.responses += 1;
        let tx = msg.transaction_id();
        if let Ok(sw) = msg.attribute::<Software>() {
            self.software = Some(sw.software().to_string());
        }
        if let Ok(realm) = msg.attribute::<Realm>() {
            self.realm = Some(realm.realm().to_string());
        }
        if let Ok(nonce) = msg.attribute::<Nonce>() {
            self.nonce = Some(nonce.nonce().to_string());
        }
        let method = msg.method();
        if msg.has_class(MessageClass::Error) {
            if self.error_tx.contains(&tx) {
                return;
            }
            if self.error_tx.len() >= 64 {
                self.error_tx.pop_front();
            }
            self.error_tx.push_back(tx);
            let (code, reason) = match msg.attribute::<ErrorCode>() {
                Ok(e) => (e.code(), e.reason().to_string()),
                Err(_) => (0, String::new()),
            };
            if method == ALLOCATE && code == 401 && self.first_401.is_none() {
                self.first_401 = Some(std::time::Instant::now());
            }
            if code == 438 {
                self.stale_nonces += 1;
            }
            if code == 300
                && let Ok(alt) = msg.attribute::<AlternateServer>()
            {
                self.alternate = Some(alt.server());
            }
            if self.last_error.len() < 64 {
                self.last_error.push((method, code, reason));
            }
        } else if method == ALLOCATE {
            if let Ok(l) = msg.attribute::<Lifetime>() {
                self.lifetime = Some(l.seconds());
            }
            if let Ok(m) = msg.attribute::<XorMappedAddress>() {
                self.mapped = Some(m.addr(tx));
            }
            if let Ok(m) = msg.attribute::<XorRelayedAddress>() {
                self.relayed = Some(m.addr(tx));
            }
        } else if method == REFRESH {
            self.refresh_ok += 1;
            self.refresh_lifetime = msg.attribute::<Lifetime>().ok().map(|l| l.seconds());
        }
    }

    /// Notes how the client authenticates (USERHASH or USERNAME, which
    /// integrity and password algorithms) from a request it sends.
    fn inspect_outgoing(&mut self, frame: &[u8]) {
        let Ok(msg) = Message::from_bytes(frame) else {
            return;
        };
        if !msg.has_class(MessageClass::Request) || msg.attribute::<Nonce>().is_err() {
            return;
        }
        self.signing = Some(Signing {
            userhash: msg.attribute::<Userhash>().ok().map(|u| *u.hash()),
            sha256: msg.attribute::<MessageIntegritySha256>().is_ok(),
            password_algorithms: msg
                .attribute::<PasswordAlgorithms>()
                .ok()
                .map(|a| a.algorithms().to_vec()),
            password_algorithm: msg
                .attribute::<PasswordAlgorithm>()
                .ok()
                .map(|a| a.algorithm()),
        });
    }

    /// The codes of the error answers to authenticated Allocates: those
    /// after the first (the 401 challenge to the Allocate without
    /// credentials), oldest first.
    fn allocate_errors_after_challenge(&self) -> impl Iterator<Item = u16> + '_ {
        self.last_error
            .iter()
            .filter(|(m, _, _)| *m == ALLOCATE)
            .skip(1)
            .map(|(_, c, _)| *c)
    }

    /// How many 438 Stale Nonce answers the authenticated Allocate got in a
    /// row, most recent last.
    fn allocate_stale_in_a_row(&self) -> usize {
        let codes: Vec<u16> = self.allocate_errors_after_challenge().collect();
        codes.iter().rev().take_while(|c| **c == 438).count()
    }

    /// True once the authenticated Allocate got an error answer that ends
    /// the stage: anything but a first 438 Stale Nonce, which is retried
    /// once with the new nonce (a second 438 in a row ends it).
    fn allocate_failed_for_good(&self) -> bool {
        match self.allocate_errors_after_challenge().last() {
            None => false,
            Some(438) => self.allocate_stale_in_a_row() >= 2,
            Some(_) => true,
        }
    }

    /// Where the tap stands now, to tell the answer to a Refresh about to
    /// go out from earlier ones.
    fn refresh_mark(&self) -> RefreshMark {
        RefreshMark {
            ok: self.refresh_ok,
            errors: self.last_error.len(),
        }
    }

    /// The answer to a Refresh sent at `mark`: success, the last error
    /// answer to a Refresh (code, reason) since, or `None` yet.
    fn refresh_answer(&self, mark: RefreshMark) -> Option<Result<(), (u16, String)>> {
        if self.refresh_ok > mark.ok {
            return Some(Ok(()));
        }
        self.last_error[mark.errors.min(self.last_error.len())..]
            .iter()
            .rev()
            .find(|(m, _, _)| *m == REFRESH)
            .map(|(_, c, reason)| Err((*c, reason.clone())))
    }

    fn last_error_for(&self, method: Method) -> Option<(u16, String)> {
        self.last_error
            .iter()
            .rev()
            .find(|(m, _, _)| *m == method)
            .map(|(_, c, r)| (*c, r.clone()))
    }

    /// The last error answer (code, reason) to a `method` request, not
    /// counting the 401 challenge to the first Allocate.
    fn last_error_after_challenge(&self, method: Method) -> Option<(u16, String)> {
        let mut errors = self
            .last_error
            .iter()
            .filter(|(m, _, _)| *m == method)
            .peekable();
        if method == ALLOCATE
            && let Some((_, 401, _)) = errors.peek()
        {
            errors.next();
        }
        errors.last().map(|(_, c, r)| (*c, r.clone()))
    }
}

/// Where the [`Tap`] stood when a Refresh went out ([`Tap::refresh_mark`]).
#[derive(Clone, Copy, Debug)]
struct RefreshMark {
    /// Successful Refresh answers seen before.
    ok: u32,
    /// Error answers recorded before.
    errors: usize,
}

/// How turn-client-proto signs its requests after the 401 challenge.
#[derive(Clone, Debug, Default)]
struct Signing {
    userhash: Option<[u8; 32]>,
    sha256: bool,
    password_algorithms: Option<Vec<PasswordAlgorithmValue>>,
    password_algorithm: Option<PasswordAlgorithmValue>,
}

// ---------------------------------------------------------------- session

enum PumpError {
    Timeout,
    Io(io::Error),
    Closed,
}

/// turn-client-proto's client and the connection(s) it runs over.
struct Session {
    conn: Conn,
    /// The RFC 6062 data connection to the same server, once there is one
    /// (the `tcp_allocation` stage); unframed, read as it comes.
    data: Option<DataConn>,
    client: TurnClient,
    base: std::time::Instant,
    tap: Tap,
    events: VecDeque<TurnEvent>,
    peer_data: VecDeque<Vec<u8>>,
    /// The client's last ask for an RFC 6062 data connection (after a
    /// successful Connect): connection id, 5-tuple, peer.
    socket_request: Option<(u32, Socket5Tuple, SocketAddr)>,
    closed: bool,
    transport: TransportType,
    local: SocketAddr,
    remote: SocketAddr,
}

/// An RFC 6062 data connection: the stream and its local address (what
/// turn-client-proto's transmits for it come from).
struct DataConn {
    io: Box<dyn Io>,
    local: SocketAddr,
}

/// The peer echo: a local UDP socket that returns every datagram. Aborted
/// on drop.
struct Echo {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_echo(ip: IpAddr) -> io::Result<Echo> {
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let addr = sock.local_addr()?;
    let task = tokio::spawn(async move {
        let mut b = vec![0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut b).await {
            let _ = sock.send_to(&b[..n], from).await;
        }
    });
    Ok(Echo { addr, task })
}

/// What an additive stage (IPv6 relay, RFC 6062) needs before it runs: the
/// IPv4 allocation passed, a server address and credentials. `None` after
/// recording the stage as not tested with the reason.
fn additive_inputs(
    uri: &ServerUri,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
    stage: TurnStage,
    not_allocated: &str,
) -> Option<(SocketAddr, ResolvedCredentials)> {
    let allocated = matches!(
        r.stage(TurnStage::Allocate).map(|s| &s.status),
        Some(crate::turn::stages::StageStatus::Passed)
    );
    if !allocated {
        r.not_tested(stage, not_allocated);
        return None;
    }
    let auth = cfg.auth.clone().or_else(|| TurnAuth::from_uri(uri));
    let (Some(server), Some(auth)) = (r.server, auth) else {
        r.not_tested(stage, "no server address or credentials");
        return None;
    };
    Some((server, auth.resolve(unix_now())))
}

fn map_pump(e: PumpError, timeout_ms: u64) -> TurnFailure {
    match e {
        PumpError::Timeout => TurnFailure::Timeout {
            after_ms: timeout_ms,
        },
        PumpError::Io(e) => name_io_error(&e),
        PumpError::Closed => TurnFailure::Failed,
    }
}

/// The failure after a `method` request did not succeed: named from the
/// server's error answer (`answer`: code and reason) when there is one,
/// else from how the wait for it ended (`res`).
fn name_failure(
    method: Method,
    answer: Option<(u16, String)>,
    res: Result<(), PumpError>,
    timeout_ms: u64,
) -> TurnFailure {
    match (answer, res) {
        (Some((code, reason)), _) => name_code(method, code, reason),
        (None, Err(e)) => map_pump(e, timeout_ms),
        (None, Ok(())) => TurnFailure::Failed,
    }
}

/// What an event says about an Allocate: `Some(true)` created,
/// `Some(false)` failed, `None` neither.
fn allocation_outcome(e: &TurnEvent) -> Option<bool> {
    match e {
        TurnEvent::AllocationCreated(..) => Some(true),
        TurnEvent::AllocationCreateFailed(..) => Some(false),
        _ => None,
    }
}

/// What an event says about a CreatePermission: `Some(true)` created,
/// `Some(false)` failed, `None` neither.
fn permission_outcome(e: &TurnEvent) -> Option<bool> {
    match e {
        TurnEvent::PermissionCreated(..) => Some(true),
        TurnEvent::PermissionCreateFailed(..) => Some(false),
        _ => None,
    }
}

/// Names the ERROR-CODE `code` the server answered to a `method` request.
/// 403 means a forbidden peer address only for the requests that name a
/// peer (CreatePermission, ChannelBind, RFC 6062 Connect); to an Allocate
/// it is the server refusing this client, a plain server error.
fn name_code(method: Method, code: u16, reason: String) -> TurnFailure {
    match code {
        438 => TurnFailure::StaleNonce,
        486 => TurnFailure::AllocationQuota,
        508 => TurnFailure::InsufficientCapacity,
        403 if [CREATE_PERMISSION, CHANNEL_BIND, CONNECT].contains(&method) => {
            TurnFailure::ForbiddenPeer
        }
        _ => TurnFailure::ServerError {
            code,
            reason: reason.trim_end_matches('\0').to_string(),
        },
    }
}

impl Session {
    fn new(
        conn: Conn,
        creds: Option<&ResolvedCredentials>,
        family: AddressFamily,
    ) -> io::Result<Self> {
        let credentials = match creds {
            Some(c) => TurnCredentials::new(&c.username, c.password.expose()),
            None => TurnCredentials::new("", ""),
        };
        let mut config = TurnConfig::new(credentials);
        config.set_allocation_transport(TransportType::Udp);
        config.set_address_family(family);
        Self::with_config(conn, config)
    }

    /// A session allocating with `config` over `conn` (the TURN client of
    /// the connection's kind: UDP for UDP and DTLS, TCP for streams).
    fn with_config(conn: Conn, mut config: TurnConfig) -> io::Result<Self> {
        let (local, remote) = conn.addrs()?;
        let (client, transport) = match conn {
            // Over DTLS the TURN client is the UDP one: datagram semantics,
            // retransmissions included (RFC 8656 §3.1).
            Conn::Udp(_) | Conn::Dtls(_) => {
                config.set_request_retransmits(
                    Duration::from_millis(250),
                    Duration::from_secs(2),
                    6,
                    Duration::from_secs(2),
                );
                (
                    TurnClient::Udp(TurnClientUdp::allocate(local, remote, config)),
                    TransportType::Udp,
                )
            }
            Conn::Stream { .. } => (
                TurnClient::Tcp(TurnClientTcp::allocate(local, remote, config)),
                TransportType::Tcp,
            ),
        };
        Ok(Self {
            conn,
            data: None,
            client,
            base: std::time::Instant::now(),
            tap: Tap::default(),
            events: VecDeque::new(),
            peer_data: VecDeque::new(),
            socket_request: None,
            closed: false,
            transport,
            local,
            remote,
        })
    }

    fn now(&self) -> SansInstant {
        SansInstant::from_nanos(self.base.elapsed().as_nanos() as i64)
    }

    fn to_tokio(&self, t: SansInstant) -> tokio::time::Instant {
        let nanos = t.as_nanos().max(0) as u64;
        tokio::time::Instant::from_std(self.base + Duration::from_nanos(nanos))
    }

    /// Hands what arrived on the connection whose local address is `to` to
    /// the client (through the tap) and keeps the peer data it yields.
    fn handle_frame(&mut self, frame: &[u8], to: SocketAddr) {
        self.tap.inspect(frame);
        let now = self.now();
        let t = Transmit::new(frame, self.transport, self.remote, to);
        if let TurnRecvRet::PeerData(d) = self.client.recv(t, now)
            && self.peer_data.len() < 1024
        {
            self.peer_data.push_back(d.data().to_vec());
        }
        while let Some(d) = self.client.poll_recv(now) {
            if self.peer_data.len() < 1024 {
                self.peer_data.push_back(d.data().to_vec());
            }
        }
    }

    async fn flush(&mut self) -> Result<(), PumpError> {
        let now = self.now();
        while let Some(t) = self.client.poll_transmit(now) {
            self.tap.inspect_outgoing(&t.data);
            self.send_from(t.from, &t.data)
                .await
                .map_err(PumpError::Io)?;
        }
        Ok(())
    }

    /// Sends `data` on the data connection when `from` is its local
    /// address, else on the connection to the server.
    async fn send_from(&mut self, from: SocketAddr, data: &[u8]) -> io::Result<()> {
        match &mut self.data {
            Some(d) if d.local == from => {
                d.io.write_all(data).await?;
                d.io.flush().await
            }
            _ => self.conn.send(data).await,
        }
    }

    /// Drives the client until `done` holds, the deadline passes, or a
    /// connection (to the server, or the RFC 6062 data connection) fails.
    async fn pump<F: FnMut(&mut Session) -> bool>(
        &mut self,
        deadline: tokio::time::Instant,
        mut done: F,
    ) -> Result<(), PumpError> {
        loop {
            self.flush().await?;
            let now = self.now();
            let wait = match self.client.poll(now) {
                TurnPollRet::WaitUntil(t) => Some(t),
                TurnPollRet::AllocateTcpSocket {
                    id,
                    socket,
                    peer_addr,
                } => {
                    self.socket_request = Some((id, socket, peer_addr));
                    None
                }
                TurnPollRet::Closed => {
                    self.closed = true;
                    None
                }
                TurnPollRet::TcpClose { .. } => None,
            };
            self.flush().await?;
            while let Some(ev) = self.client.poll_event() {
                if self.events.len() < 256 {
                    self.events.push_back(ev);
                }
            }
            if done(self) {
                return Ok(());
            }
            if self.closed {
                return Err(PumpError::Closed);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PumpError::Timeout);
            }
            let wake = wait
                .map(|t| self.to_tokio(t))
                .unwrap_or(deadline)
                .min(deadline);
            let mut chunk = [0u8; 16384];
            let data_read = async {
                match &mut self.data {
                    Some(d) => (d.io.read(&mut chunk).await, d.local),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.conn.recv() => {
                    let frame = r.map_err(PumpError::Io)?;
                    self.handle_frame(&frame, self.local);
                }
                (r, local) = data_read => match r.map_err(PumpError::Io)? {
                    0 => {
                        return Err(PumpError::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "server closed the data connection",
                        )));
                    }
                    n => self.handle_frame(&chunk[..n], local),
                },
                _ = tokio::time::sleep_until(wake) => continue,
            }
            // An awaited answer ends the pump before anything the client
            // queued in reply to it (e.g. a retry after a second 438) goes
            // out.
            if done(self) {
                return Ok(());
            }
        }
    }

    async fn send_to_peer(&mut self, peer: SocketAddr, payload: &[u8]) -> Result<(), PumpError> {
        let now = self.now();
        match self.client.send_to(TransportType::Udp, peer, payload, now) {
            Ok(Some(t)) => {
                let data = t.data.build();
                self.conn.send(&data).await.map_err(PumpError::Io)
            }
            Ok(None) => self.flush().await,
            Err(_) => Err(PumpError::Closed),
        }
    }

    /// Sends `payload` to the peer and waits for it to come back.
    async fn round_trip(
        &mut self,
        peer: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<(), PumpError> {
        self.peer_data.clear();
        let deadline = tokio::time::Instant::now() + timeout;
        // Resend every 500 ms: UDP to the peer may be lost.
        loop {
            self.send_to_peer(peer, payload).await?;
            let step = (tokio::time::Instant::now() + Duration::from_millis(500)).min(deadline);
            let p = payload.to_vec();
            match self
                .pump(step, |s| s.peer_data.iter().any(|d| *d == p))
                .await
            {
                Ok(()) => return Ok(()),
                Err(PumpError::Timeout) if tokio::time::Instant::now() < deadline => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Times one relay round-trip stage (`DataRoundTrip` through Send/Data
    /// indications, or `ChannelRoundTrip` through ChannelData) and records
    /// it: a timeout means no relayed data came back.
    async fn round_trip_stage(
        &mut self,
        r: &mut TurnTransportResult,
        stage: TurnStage,
        peer: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) {
        let started = std::time::Instant::now();
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        match self.round_trip(peer, payload, timeout).await {
            Ok(()) => r.pass(stage, ms_since(started), None),
            Err(PumpError::Timeout) => r.fail(
                stage,
                Some(ms_since(started)),
                TurnFailure::NoRelayedData {
                    after_ms: timeout_ms,
                },
            ),
            Err(e) => r.fail(stage, Some(ms_since(started)), map_pump(e, timeout_ms)),
        }
    }

    async fn run_stages(
        &mut self,
        cfg: &TurnProbeConfig,
        creds: Option<&ResolvedCredentials>,
        r: &mut TurnTransportResult,
    ) -> Flow {
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let stage_deadline = || tokio::time::Instant::now() + cfg.stage_timeout;

        // --- unauthenticated Allocate -> 401 ---
        let t0 = std::time::Instant::now();
        let res = self
            .pump(stage_deadline(), |s| {
                s.tap.first_401.is_some()
                    || s.tap.last_error_for(ALLOCATE).is_some()
                    || s.events.iter().any(|e| allocation_outcome(e).is_some())
            })
            .await;
        if let Err(e) = res {
            r.fail(
                TurnStage::UnauthenticatedAllocate,
                Some(ms_since(t0)),
                map_pump(e, timeout_ms),
            );
            all_later(
                r,
                TurnStage::UnauthenticatedAllocate,
                "earlier stage failed",
            );
            return Flow::Done;
        }
        r.realm = self.tap.realm.clone();
        let Some(t401) = self.tap.first_401 else {
            if let Some((300, _)) = self.tap.last_error_for(ALLOCATE)
                && let Some(alt) = self.tap.alternate
            {
                return Flow::Redirect {
                    to: alt,
                    stage: TurnStage::UnauthenticatedAllocate,
                };
            }
            let f = match self.tap.last_error_for(ALLOCATE) {
                Some((code, reason)) => name_code(ALLOCATE, code, reason),
                None => TurnFailure::UnexpectedResponse {
                    detail: "Allocate without credentials succeeded (no 401 challenge)".into(),
                },
            };
            r.fail(TurnStage::UnauthenticatedAllocate, Some(ms_since(t0)), f);
            all_later(
                r,
                TurnStage::UnauthenticatedAllocate,
                "earlier stage failed",
            );
            return Flow::Done;
        };
        r.pass(
            TurnStage::UnauthenticatedAllocate,
            t401.duration_since(t0).as_secs_f64() * 1000.0,
            self.tap
                .realm
                .as_ref()
                .map(|rl| format!("401 with realm {rl:?}")),
        );
        if let (Some(exp), Some(srv)) = (&cfg.expected_realm, &self.tap.realm)
            && exp != srv
        {
            r.fail(
                TurnStage::Allocate,
                None,
                TurnFailure::RealmMismatch {
                    expected: exp.clone(),
                    server: srv.clone(),
                },
            );
            all_later(r, TurnStage::Allocate, "earlier stage failed");
            return Flow::Done;
        }
        let Some(creds) = creds else {
            r.not_tested(TurnStage::Allocate, "no credentials given");
            all_later(r, TurnStage::Allocate, "no credentials given");
            return Flow::Done;
        };

        // --- authenticated Allocate ---
        let t1 = std::time::Instant::now();
        let (res, created) = self.await_allocation(stage_deadline()).await;
        if !created {
            let errs_after_401: Vec<_> = self
                .tap
                .last_error
                .iter()
                .filter(|(m, _, _)| *m == ALLOCATE)
                .skip(1)
                .cloned()
                .collect();
            if let Some((_, 300, _)) = errs_after_401.last()
                && let Some(alt) = self.tap.alternate
            {
                return Flow::Redirect {
                    to: alt,
                    stage: TurnStage::Allocate,
                };
            }
            let f = match (res, errs_after_401.last()) {
                // One 438 and no answer to the retry: not a stale nonce.
                (Err(e), Some((_, 438, _))) if self.tap.allocate_stale_in_a_row() < 2 => {
                    map_pump(e, timeout_ms)
                }
                (_, Some((_, 401, _))) => match creds.rest_expiry_unix {
                    Some(exp) if exp <= unix_now() => TurnFailure::RestCredentialExpired {
                        expiry_unix: exp,
                        now_unix: unix_now(),
                    },
                    Some(_) => TurnFailure::RestCredentialRejected,
                    None => TurnFailure::WrongCredentials,
                },
                (res, last) => name_failure(
                    ALLOCATE,
                    last.map(|(_, code, reason)| (*code, reason.clone())),
                    res,
                    timeout_ms,
                ),
            };
            r.fail(TurnStage::Allocate, Some(ms_since(t1)), f);
            all_later(r, TurnStage::Allocate, "earlier stage failed");
            return Flow::Done;
        }
        self.events.clear();
        r.relayed_address = self
            .client
            .relayed_addresses()
            .next()
            .map(|(_, a)| a)
            .or(self.tap.relayed);
        r.mapped_address = self.tap.mapped;
        r.lifetime_secs = self.tap.lifetime;
        let note = if self.tap.stale_nonces > 0 {
            Some("stale nonce (438), retried once".to_string())
        } else {
            None
        };
        r.pass(TurnStage::Allocate, ms_since(t1), note);

        // --- the peer ---
        let _echo;
        let peer = match cfg.peer {
            Some(p) => p,
            None => {
                let ip = self.local.ip();
                match start_echo(ip).await {
                    Ok(e) => {
                        let a = e.addr;
                        _echo = e;
                        a
                    }
                    Err(e) => {
                        r.fail(TurnStage::CreatePermission, None, name_io_error(&e));
                        all_later_but_deallocate(r, TurnStage::CreatePermission, "no peer");
                        self.deallocate(cfg, creds, r).await;
                        return Flow::Done;
                    }
                }
            }
        };
        r.peer = Some(peer);

        // --- CreatePermission ---
        let t2 = std::time::Instant::now();
        let now = self.now();
        let issued = self
            .client
            .create_permission(TransportType::Udp, peer.ip(), now)
            .is_ok();
        let (created, res) = self
            .settle(issued, stage_deadline(), permission_outcome)
            .await;
        if !created {
            let answer = self.tap.last_error_for(CREATE_PERMISSION);
            let f = name_failure(CREATE_PERMISSION, answer, res, timeout_ms);
            r.fail(TurnStage::CreatePermission, Some(ms_since(t2)), f);
            all_later_but_deallocate(r, TurnStage::CreatePermission, "earlier stage failed");
            self.deallocate(cfg, creds, r).await;
            return Flow::Done;
        }
        r.pass(TurnStage::CreatePermission, ms_since(t2), None);

        // --- Send/Data indication round trip ---
        self.round_trip_stage(
            r,
            TurnStage::DataRoundTrip,
            peer,
            b"natscope-turn-data-indication...",
            cfg.stage_timeout,
        )
        .await;

        // --- ChannelBind ---
        let t4 = std::time::Instant::now();
        let now = self.now();
        let issued = self
            .client
            .bind_channel(TransportType::Udp, peer, now)
            .is_ok();
        let (bound, res) = self
            .settle(issued, stage_deadline(), |e| match e {
                TurnEvent::ChannelCreated(..) => Some(true),
                TurnEvent::ChannelCreateFailed(..) => Some(false),
                _ => None,
            })
            .await;
        if bound {
            r.pass(TurnStage::ChannelBind, ms_since(t4), None);
            self.round_trip_stage(
                r,
                TurnStage::ChannelRoundTrip,
                peer,
                b"natscope-turn-channel-data..",
                cfg.stage_timeout,
            )
            .await;
        } else {
            let answer = self.tap.last_error_for(CHANNEL_BIND);
            let f = name_failure(CHANNEL_BIND, answer, res, timeout_ms);
            r.fail(TurnStage::ChannelBind, Some(ms_since(t4)), f);
            r.not_tested(TurnStage::ChannelRoundTrip, "channel bind failed");
        }

        // --- Refresh ---
        self.refresh(cfg, creds, r).await;

        // --- quality ---
        let channel_ok = matches!(
            r.stage(TurnStage::ChannelRoundTrip).map(|s| &s.status),
            Some(super::stages::StageStatus::Passed)
        );
        match (&cfg.quality, channel_ok) {
            (Some(q), true) => {
                let t6 = std::time::Instant::now();
                let qr = run_burst(self, peer, q).await;
                r.pass(TurnStage::Quality, ms_since(t6), None);
                r.quality = Some(qr);
            }
            (Some(_), false) => r.not_tested(TurnStage::Quality, "channel round trip failed"),
            (None, _) => r.not_tested(TurnStage::Quality, "disabled"),
        }

        self.deallocate(cfg, creds, r).await;
        Flow::Done
    }

    /// The `refresh` stage: an authenticated Refresh asking for the lifetime
    /// the server granted, built from the same credentials, realm and latest
    /// nonce the client authenticated with (turn-client-proto only refreshes
    /// by itself near expiry and exposes no refresh call). A 438 is retried
    /// once with the fresh nonce; over UDP the request is retransmitted
    /// every 500 ms until the stage deadline. The 438 answer also reaches
    /// turn-client-proto (every frame does, through `handle_frame`): its
    /// long-term auth takes the new NONCE from any 438 with NONCE and REALM,
    /// even one to a request it did not send, so its own later requests
    /// (the deleting Refresh) carry it (tests/turn.rs checks this).
    async fn refresh(
        &mut self,
        cfg: &TurnProbeConfig,
        creds: &ResolvedCredentials,
        r: &mut TurnTransportResult,
    ) {
        let t = std::time::Instant::now();
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let deadline = tokio::time::Instant::now() + cfg.stage_timeout;
        let lifetime = r.lifetime_secs.unwrap_or(DEFAULT_LIFETIME_SECS);
        let mut stale_retried = false;
        let outcome = loop {
            let (mark, res) = match self.send_refresh(creds, lifetime, deadline).await {
                Ok(sent) => sent,
                Err(f) => break Err(f),
            };
            match (self.tap.refresh_answer(mark), res) {
                (Some(Ok(())), _) => break Ok(()),
                (Some(Err((438, _))), _) if !stale_retried => stale_retried = true,
                (Some(Err((401, _))), _) => break Err(TurnFailure::WrongCredentials),
                (answer, res) => {
                    let answer = answer.and_then(Result::err);
                    break Err(name_failure(REFRESH, answer, res, timeout_ms));
                }
            }
        };
        match outcome {
            Ok(()) => {
                let granted = self.tap.refresh_lifetime;
                let mut note = format!(
                    "LIFETIME {lifetime} s requested, {} granted",
                    granted.map_or("no LIFETIME".to_string(), |g| format!("{g} s"))
                );
                if stale_retried {
                    note.push_str("; stale nonce (438), retried once");
                }
                r.pass(TurnStage::Refresh, ms_since(t), Some(note));
            }
            Err(f) => r.fail(TurnStage::Refresh, Some(ms_since(t)), f),
        }
    }

    /// The `deallocate` stage: [`Self::delete_allocation`], whose one retry
    /// of a 438 Stale Nonce is noted; a second 438 in a row is named
    /// `stale_nonce`.
    async fn deallocate(
        &mut self,
        cfg: &TurnProbeConfig,
        creds: &ResolvedCredentials,
        r: &mut TurnTransportResult,
    ) {
        let t = std::time::Instant::now();
        let timeout_ms = cfg.stage_timeout.as_millis() as u64;
        let deadline = tokio::time::Instant::now() + cfg.stage_timeout;
        let d = match self.delete_allocation(creds, deadline).await {
            Some(Ok(d)) => d,
            Some(Err(f)) => {
                r.fail(TurnStage::Deallocate, Some(ms_since(t)), f);
                return;
            }
            None => {
                r.not_tested(TurnStage::Deallocate, "no allocation");
                return;
            }
        };
        let retried = d
            .stale_retried
            .then(|| "stale nonce (438), retried once".to_string());
        if self.closed_after_delete(&d) {
            let closed = "server closed the connection after deleting the allocation";
            let note = match retried {
                Some(n) => format!("{n}; {closed}"),
                None => closed.to_string(),
            };
            r.pass(TurnStage::Deallocate, ms_since(t), Some(note));
            return;
        }
        let f = match (d.answer, d.wait) {
            (Some(Ok(())), _) => {
                r.pass(TurnStage::Deallocate, ms_since(t), retried);
                return;
            }
            (answer, wait) => name_failure(REFRESH, answer.and_then(Result::err), wait, timeout_ms),
        };
        r.fail(TurnStage::Deallocate, Some(ms_since(t)), f);
    }

    /// Waits for the outcome of a request the client was asked to send:
    /// pumps until `deadline` or an event `outcome` names (`Some(true)`
    /// success, `Some(false)` failure), then clears the events. `issued`
    /// false (the client refused to send it) skips the wait, as
    /// `Err(Closed)`. Returns whether a success came and how the wait
    /// ended.
    async fn settle(
        &mut self,
        issued: bool,
        deadline: tokio::time::Instant,
        outcome: fn(&TurnEvent) -> Option<bool>,
    ) -> (bool, Result<(), PumpError>) {
        let res = if issued {
            self.pump(deadline, |s| s.events.iter().any(|e| outcome(e).is_some()))
                .await
        } else {
            Err(PumpError::Closed)
        };
        let ok = self.events.iter().any(|e| outcome(e) == Some(true));
        self.events.clear();
        (ok, res)
    }

    /// Drives the authenticated Allocate until `deadline`: until the
    /// allocation is created, the client gives up on it, or the server gave
    /// an answer that settles it ([`Tap::allocate_failed_for_good`];
    /// turn-client-proto allows up to 8 stale nonce retries, and ignores
    /// unsigned error answers to authenticated requests until its own
    /// timeouts). Returns how the wait ended and whether the allocation was
    /// created.
    async fn await_allocation(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> (Result<(), PumpError>, bool) {
        let res = self
            .pump(deadline, |s| {
                s.tap.allocate_failed_for_good()
                    || s.events.iter().any(|e| allocation_outcome(e).is_some())
            })
            .await;
        let created = self
            .events
            .iter()
            .any(|e| matches!(e, TurnEvent::AllocationCreated(..)));
        (res, created)
    }

    /// Deletes the allocation: turn-client-proto's Refresh with LIFETIME 0,
    /// waiting until `deadline` for its answer. The client forgets the
    /// allocation as soon as it sends that request, so it cannot retry a
    /// 438 Stale Nonce: natscope sends the one retry itself
    /// ([`Self::send_refresh`], LIFETIME 0, the nonce of the 438); a second
    /// 438 in a row is the answer. `None` when the client has no allocation
    /// to delete; `Some(Err(..))` when the retry could not be built.
    async fn delete_allocation(
        &mut self,
        creds: &ResolvedCredentials,
        deadline: tokio::time::Instant,
    ) -> Option<Result<Deletion, TurnFailure>> {
        let mark = self.tap.refresh_mark();
        let now = self.now();
        self.client.delete(now).ok()?;
        let wait = self.await_refresh(mark, deadline).await;
        let mut d = Deletion {
            answer: self.tap.refresh_answer(mark),
            wait,
            stale_retried: false,
        };
        if matches!(d.answer, Some(Err((438, _)))) {
            let (mark, wait) = match self.send_refresh(creds, 0, deadline).await {
                Ok(sent) => sent,
                Err(f) => return Some(Err(f)),
            };
            d = Deletion {
                answer: self.tap.refresh_answer(mark),
                wait,
                stale_retried: true,
            };
        }
        Some(Ok(d))
    }

    /// True when `d` had no answer because the server closed the stream
    /// connection: servers may close the control connection once the
    /// allocation is gone (coturn does over TCP).
    fn closed_after_delete(&self, d: &Deletion) -> bool {
        matches!(self.conn, Conn::Stream { .. })
            && d.answer.is_none()
            && matches!(
                &d.wait,
                Err(PumpError::Io(e)) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                )
            )
    }

    /// Sends natscope's own authenticated Refresh asking for `lifetime`
    /// seconds ([`build_refresh`] with the latest realm, nonce and signing
    /// style) and waits until `deadline` for its answer
    /// ([`Self::await_refresh`]); over UDP and DTLS it is resent every
    /// 500 ms meanwhile. Returns where the tap stood when it went out (the
    /// answer is [`Tap::refresh_answer`] of that) and how the wait ended.
    async fn send_refresh(
        &mut self,
        creds: &ResolvedCredentials,
        lifetime: u32,
        deadline: tokio::time::Instant,
    ) -> Result<(RefreshMark, Result<(), PumpError>), TurnFailure> {
        let (Some(realm), Some(nonce)) = (self.tap.realm.clone(), self.tap.nonce.clone()) else {
            return Err(TurnFailure::UnexpectedResponse {
                detail: "no realm/nonce from the server to authenticate a Refresh".into(),
            });
        };
        let signing = self.tap.signing.clone().unwrap_or_default();
        let (request, _tx) =
            build_refresh(creds, &realm, &nonce, &signing, lifetime).map_err(|e| {
                TurnFailure::UnexpectedResponse {
                    detail: format!("cannot build Refresh: {e}"),
                }
            })?;
        let mark = self.tap.refresh_mark();
        let res = loop {
            if let Err(e) = self.conn.send(&request).await {
                break Err(PumpError::Io(e));
            }
            let step = match self.conn {
                Conn::Stream { .. } => deadline,
                _ => (tokio::time::Instant::now() + Duration::from_millis(500)).min(deadline),
            };
            match self.await_refresh(mark, step).await {
                Err(PumpError::Timeout) if tokio::time::Instant::now() < deadline => continue,
                other => break other,
            }
        };
        Ok((mark, res))
    }

    /// Waits until `deadline` for the answer to a Refresh sent at `mark`
    /// (success or an error answer). Drives turn-client-proto while it runs;
    /// once it has closed (it forgets the allocation as soon as it sends the
    /// deleting Refresh) reads frames off the wire into the tap.
    async fn await_refresh(
        &mut self,
        mark: RefreshMark,
        deadline: tokio::time::Instant,
    ) -> Result<(), PumpError> {
        let res = self
            .pump(deadline, |s| s.tap.refresh_answer(mark).is_some())
            .await;
        if !matches!(res, Err(PumpError::Closed)) {
            return res;
        }
        while self.tap.refresh_answer(mark).is_none() {
            match tokio::time::timeout_at(deadline, self.conn.recv()).await {
                Ok(Ok(frame)) => self.tap.inspect(&frame),
                Ok(Err(e)) => return Err(PumpError::Io(e)),
                Err(_) => return Err(PumpError::Timeout),
            }
        }
        Ok(())
    }
}

/// How deleting an allocation went ([`Session::delete_allocation`]).
struct Deletion {
    /// The answer to the last deleting Refresh sent ([`Tap::refresh_answer`]).
    answer: Option<Result<(), (u16, String)>>,
    /// How the wait for that answer ended.
    wait: Result<(), PumpError>,
    /// The first deleting Refresh was answered 438 and retried once.
    stale_retried: bool,
}

/// `fut` within `limit`; running out is `TurnFailure::Timeout`.
async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, TurnFailure>>,
) -> Result<T, TurnFailure> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(TurnFailure::Timeout {
            after_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        }))
}

/// Records `stage` as failed with `f`, timed from `since`, and ends the
/// transport's run.
fn stage_failed(
    r: &mut TurnTransportResult,
    stage: TurnStage,
    since: std::time::Instant,
    f: TurnFailure,
) -> Flow {
    r.fail(stage, Some(ms_since(since)), f);
    Flow::Done
}

/// RFC 8656 §3.2: the default allocation lifetime, asked for when the server
/// did not say what it granted.
const DEFAULT_LIFETIME_SECS: u32 = 600;

/// An authenticated Refresh (long-term credentials signed the way the client
/// signs: USERNAME or USERHASH, MESSAGE-INTEGRITY or -SHA256, plus
/// FINGERPRINT) asking for `lifetime` seconds; also its transaction id.
fn build_refresh(
    creds: &ResolvedCredentials,
    realm: &str,
    nonce: &str,
    signing: &Signing,
    lifetime: u32,
) -> Result<(Vec<u8>, TransactionId), StunWriteError> {
    let mut b = Message::builder_request(REFRESH, MessageWriteVec::new());
    let tx = b.transaction_id();
    b.add_attribute(&Lifetime::new(lifetime))?;
    b.add_attribute(&Nonce::new(nonce)?)?;
    b.add_attribute(&Realm::new(realm)?)?;
    match &signing.userhash {
        Some(hash) => b.add_attribute(&Userhash::new(*hash))?,
        None => b.add_attribute(&Username::new(&creds.username)?)?,
    }
    if let Some(algos) = &signing.password_algorithms {
        b.add_attribute(&PasswordAlgorithms::new(algos))?;
    }
    if let Some(algo) = signing.password_algorithm {
        b.add_attribute(&PasswordAlgorithm::new(algo))?;
    }
    let algorithm = if signing.sha256 {
        IntegrityAlgorithm::Sha256
    } else {
        IntegrityAlgorithm::Sha1
    };
    let key = LongTermCredentials::new(creds.username.clone(), creds.password.expose().to_string())
        .to_key(realm.to_string());
    b.add_message_integrity(&key.into(), algorithm)?;
    b.add_fingerprint()?;
    Ok((b.finish(), tx))
}

/// Access for the quality burst.
pub(crate) trait BurstIo {
    /// Sends one payload to the peer through the relay.
    fn send(
        &mut self,
        peer: SocketAddr,
        payload: &[u8],
    ) -> impl std::future::Future<Output = bool> + Send;
    /// Waits until `deadline` for peer data; returns what arrived.
    fn recv_until(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> impl std::future::Future<Output = Vec<Vec<u8>>> + Send;
}

impl BurstIo for Session {
    async fn send(&mut self, peer: SocketAddr, payload: &[u8]) -> bool {
        self.send_to_peer(peer, payload).await.is_ok()
    }

    async fn recv_until(&mut self, deadline: tokio::time::Instant) -> Vec<Vec<u8>> {
        let _ = self.pump(deadline, |s| !s.peer_data.is_empty()).await;
        self.peer_data.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stun_and_channel_data() {
        let mut stun = vec![0u8, 1, 0, 4];
        stun.extend_from_slice(&[0; 16]);
        stun.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(frame_len(&stun), Some(24));
        assert_eq!(frame_len(&stun[..23]), None);
        let chan = [0x40u8, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0];
        assert_eq!(frame_len(&chan), Some(9));
        assert_eq!(frame_len(&chan[..8]), None);
        // Padding followed by a STUN message is skipped; a STUN message is not.
        let mut s2 = stun.clone();
        s2[4..8].copy_from_slice(&MAGIC_COOKIE);
        let mut padded = vec![0u8, 0];
        padded.extend_from_slice(&s2);
        assert!(strip_padding(&mut padded));
        assert_eq!(padded, s2);
        let mut keep = s2.clone();
        assert!(strip_padding(&mut keep));
        assert_eq!(keep, s2);
    }

    #[test]
    fn forbidden_is_a_peer_failure_only_for_requests_naming_a_peer() {
        for m in [CREATE_PERMISSION, CHANNEL_BIND, CONNECT] {
            assert_eq!(
                name_code(m, 403, "Forbidden".into()),
                TurnFailure::ForbiddenPeer
            );
        }
        for m in [ALLOCATE, REFRESH] {
            assert_eq!(
                name_code(m, 403, "Forbidden\0\0".into()),
                TurnFailure::ServerError {
                    code: 403,
                    reason: "Forbidden".into()
                }
            );
        }
        assert_eq!(
            name_code(ALLOCATE, 486, String::new()),
            TurnFailure::AllocationQuota
        );
        assert_eq!(
            name_code(ALLOCATE, 508, String::new()),
            TurnFailure::InsufficientCapacity
        );
    }

    /// An Allocate error answer with ERROR-CODE `code` in transaction `tx`.
    fn allocate_error(code: u16, tx: TransactionId) -> Vec<u8> {
        use turn_client_proto::types::stun::message::MessageType;
        let mtype = MessageType::from_class_method(MessageClass::Error, ALLOCATE);
        let mut b = Message::builder(mtype, tx, MessageWriteVec::new());
        b.add_attribute(&ErrorCode::new(code, "x").expect("valid code"))
            .expect("fits");
        b.finish()
    }

    #[test]
    fn allocate_stage_ends_on_a_second_stale_nonce_or_any_other_error() {
        let tx = |n: u128| TransactionId::from(n);
        let mut tap = Tap::default();
        tap.inspect(&allocate_error(401, tx(1)));
        assert!(!tap.allocate_failed_for_good());
        tap.inspect(&allocate_error(438, tx(2)));
        assert!(!tap.allocate_failed_for_good(), "one 438 is retried");
        // The same answer again (a retransmitted request): not a second 438.
        tap.inspect(&allocate_error(438, tx(2)));
        assert!(!tap.allocate_failed_for_good());
        assert_eq!(tap.stale_nonces, 1);
        tap.inspect(&allocate_error(438, tx(3)));
        assert!(tap.allocate_failed_for_good(), "two in a row end it");
        assert_eq!(tap.allocate_stale_in_a_row(), 2);

        let mut quota = Tap::default();
        quota.inspect(&allocate_error(401, tx(1)));
        quota.inspect(&allocate_error(401, tx(1)));
        assert!(!quota.allocate_failed_for_good(), "duplicate challenge");
        quota.inspect(&allocate_error(486, tx(2)));
        assert!(quota.allocate_failed_for_good());
    }
}
