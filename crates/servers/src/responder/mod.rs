//! An RFC 5780 STUN responder: the server `natscope serve` runs, the
//! embedded loopback lab (`natscope diagnose --lab`) starts, and the netns
//! lab puts on its "internet" side.
//!
//! ## Modes
//!
//! - **Two-address mode** (`alternate` set): four UDP sockets, primary and
//!   alternate IP × primary and alternate port, and (with `tcp`) four TCP
//!   listeners. Responses carry XOR-MAPPED-ADDRESS, MAPPED-ADDRESS,
//!   RESPONSE-ORIGIN, OTHER-ADDRESS, SOFTWARE (if configured) and
//!   FINGERPRINT. CHANGE-REQUEST is honoured by sending the response from
//!   the socket of the other IP and/or port (all four UDP sockets are shared
//!   by the receive loops); RESPONSE-PORT sends it to the request's source
//!   IP at that port; PADDING pads the response (capped).
//! - **Single-address mode** (`alternate` is `None`): one UDP socket (and
//!   one TCP listener), plain RFC 8489 with no OTHER-ADDRESS. Following RFC
//!   5780 §6.1, a CHANGE-REQUEST that asks for a change is answered with 420
//!   (Unknown Attribute) listing CHANGE-REQUEST, so a client learns at once
//!   that this server cannot do the filtering tests. A CHANGE-REQUEST with
//!   no flag set asks for nothing and gets a normal answer. RESPONSE-PORT
//!   and PADDING need no second address and are honoured.
//!
//! Over TCP a response can only go back on the connection: CHANGE-REQUEST
//! with a flag set and RESPONSE-PORT get 420 there.
//!
//! ## What is never answered
//!
//! Input that is not one whole well-formed STUN message (length field =
//! datagram length, magic cookie, valid FINGERPRINT if present), RFC 3489
//! requests without the magic cookie, indications, responses and methods
//! other than Binding: dropped and counted in [`Metrics`].
//!
//! ## Abuse resistance
//!
//! - Per-source token bucket ([`RateLimit`]; IPv4 address or IPv6 /64) in
//!   a bounded map that evicts its oldest entry when full.
//! - A response that goes to another port than the request's source port
//!   (RESPONSE-PORT) is never larger than the request: PADDING is shrunk,
//!   then MAPPED-ADDRESS and SOFTWARE are left out, and if even that does
//!   not fit the request is dropped (`amplification` counter).
//! - PADDING is capped at `max_padding`; errors are answered only to the
//!   request's source.
//! - TCP: at most [`MAX_TCP_CONNECTIONS`] connections, idle ones closed
//!   after [`TCP_IDLE_TIMEOUT`], a message not whole within
//!   [`TCP_IO_TIMEOUT`] of its first bytes closes its connection.

pub(crate) mod answer;
mod bind;
mod config;
mod metrics;
#[cfg(target_os = "linux")]
mod mmsg;
mod ratelimit;
pub(crate) mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use stun_proto::types::attribute::Software;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

pub use config::{DEFAULT_ALT_PORT, DEFAULT_PORT, ResponderConfig};
pub use metrics::{Metrics, MetricsSnapshot, process_metrics};
pub use ratelimit::RateLimit;
pub use tcp::{MAX_TCP_CONNECTIONS, TCP_IDLE_TIMEOUT, TCP_IO_TIMEOUT};

use answer::Answerer;
use ratelimit::RateLimiter;

/// Why a [`Responder`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    /// `Responder::start` was called outside a tokio runtime.
    #[error("the responder must be started inside a tokio runtime")]
    NoRuntime,
    /// Two-address mode needs two specific (not 0.0.0.0 / `::`) addresses.
    #[error("two-address mode needs specific addresses, not {0} (which address would answer?)")]
    UnspecifiedAddress(IpAddr),
    /// Primary and alternate addresses must differ.
    #[error("primary and alternate addresses are the same ({0})")]
    SameAddress(IpAddr),
    /// Primary and alternate addresses (or an advertised one) must be of the
    /// same family.
    #[error("address family mismatch: {0} and {1}")]
    FamilyMismatch(IpAddr, IpAddr),
    /// The primary and alternate ports must differ.
    #[error("primary and alternate ports are the same ({0})")]
    SamePort(u16),
    /// An advertised address was given for an address that does not exist
    /// (advertise-alternate in single-address mode).
    #[error("--advertise-alternate needs an alternate address")]
    AdvertiseWithoutAlternate,
    /// The SOFTWARE value is longer than 763 bytes.
    #[error("SOFTWARE value is {0} bytes, at most 763 are allowed")]
    SoftwareTooLong(usize),
    /// A socket could not be created or bound.
    #[error("cannot bind {transport} {addr}: {source}")]
    Bind {
        /// The address that was being bound.
        addr: SocketAddr,
        /// "udp" or "tcp".
        transport: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Port 0 was asked for, but no pair of ports free on every address was
    /// found.
    #[error("no pair of ports free on every address after {attempts} attempts")]
    NoFreePorts {
        /// Attempts made.
        attempts: u32,
    },
}

/// Where a [`Responder`] listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderAddrs {
    /// Primary IP, primary port (UDP; TCP too when enabled): where clients
    /// send their first request.
    pub primary: SocketAddr,
    /// Primary IP, alternate port (two-address mode).
    pub primary_alt_port: Option<SocketAddr>,
    /// Alternate IP, primary port (two-address mode).
    pub alternate_primary_port: Option<SocketAddr>,
    /// Alternate IP, alternate port (two-address mode): the bound address
    /// OTHER-ADDRESS names when no advertised address is configured.
    pub alternate: Option<SocketAddr>,
    /// What OTHER-ADDRESS says (the advertised alternate address when set).
    pub other_address: Option<SocketAddr>,
    /// Bound TCP listeners, in the same order as [`ResponderAddrs::udp`].
    pub tcp: Vec<SocketAddr>,
}

impl ResponderAddrs {
    /// Every bound UDP address: primary, primary IP with alternate port,
    /// alternate IP with primary port, alternate (one entry in
    /// single-address mode).
    pub fn udp(&self) -> Vec<SocketAddr> {
        std::iter::once(self.primary)
            .chain(self.primary_alt_port)
            .chain(self.alternate_primary_port)
            .chain(self.alternate)
            .collect()
    }

    /// The bound UDP address a response to a request sent to
    /// [`primary`](Self::primary) comes from, for the given CHANGE-REQUEST
    /// flags; `None` when that socket does not exist.
    pub fn udp_for_change(&self, change_ip: bool, change_port: bool) -> Option<SocketAddr> {
        match (change_ip, change_port) {
            (false, false) => Some(self.primary),
            (false, true) => self.primary_alt_port,
            (true, false) => self.alternate_primary_port,
            (true, true) => self.alternate,
        }
    }
}

/// A running responder. Dropping it stops its tasks (and closes its
/// sockets once they have stopped); [`Responder::shutdown`] also waits for
/// them.
#[derive(Debug)]
pub struct Responder {
    addrs: ResponderAddrs,
    metrics: Arc<Metrics>,
    tasks: Vec<JoinHandle<()>>,
}

fn validate(cfg: &ResponderConfig) -> Result<(), ResponderError> {
    let same_family = |a: IpAddr, b: IpAddr| a.is_ipv4() == b.is_ipv4();
    if let Some(sw) = &cfg.software
        && sw.len() > 763
    {
        return Err(ResponderError::SoftwareTooLong(sw.len()));
    }
    if let Some(adv) = cfg.advertise_primary
        && !same_family(adv, cfg.primary)
    {
        return Err(ResponderError::FamilyMismatch(cfg.primary, adv));
    }
    let Some(alt) = cfg.alternate else {
        if cfg.advertise_alternate.is_some() {
            return Err(ResponderError::AdvertiseWithoutAlternate);
        }
        return Ok(());
    };
    for ip in [cfg.primary, alt] {
        if ip.is_unspecified() {
            return Err(ResponderError::UnspecifiedAddress(ip));
        }
    }
    if alt == cfg.primary {
        return Err(ResponderError::SameAddress(alt));
    }
    if !same_family(alt, cfg.primary) {
        return Err(ResponderError::FamilyMismatch(cfg.primary, alt));
    }
    if let Some(adv) = cfg.advertise_alternate
        && !same_family(adv, alt)
    {
        return Err(ResponderError::FamilyMismatch(alt, adv));
    }
    if cfg.port != 0 && cfg.port == cfg.alt_port {
        return Err(ResponderError::SamePort(cfg.port));
    }
    Ok(())
}

fn local(s: &UdpSocket, ip: IpAddr) -> Result<SocketAddr, ResponderError> {
    s.local_addr().map_err(|source| ResponderError::Bind {
        addr: SocketAddr::new(ip, 0),
        transport: "udp",
        source,
    })
}

impl Responder {
    /// Validates `cfg`, binds every socket and starts serving. Must be
    /// called inside a tokio runtime (the serving tasks are spawned on it).
    pub fn start(cfg: ResponderConfig) -> Result<Self, ResponderError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| ResponderError::NoRuntime)?;
        let _enter = rt.enter();
        validate(&cfg)?;
        let bound = bind::bind_all(&cfg)?;
        let to_bind_err = |ip: IpAddr, transport| {
            move |source| ResponderError::Bind {
                addr: SocketAddr::new(ip, 0),
                transport,
                source,
            }
        };
        let udp: Vec<UdpSocket> = bound
            .udp
            .into_iter()
            .map(|s| UdpSocket::from_std(s).map_err(to_bind_err(cfg.primary, "udp")))
            .collect::<Result<_, _>>()?;
        let tcp: Vec<TcpListener> = bound
            .tcp
            .into_iter()
            .map(|s| TcpListener::from_std(s).map_err(to_bind_err(cfg.primary, "tcp")))
            .collect::<Result<_, _>>()?;

        let two_addr = cfg.alternate.is_some();
        let mut bound_udp = Vec::with_capacity(udp.len());
        for s in &udp {
            bound_udp.push(local(s, cfg.primary)?);
        }
        let mut bound_tcp = Vec::with_capacity(tcp.len());
        for l in &tcp {
            bound_tcp.push(l.local_addr().map_err(to_bind_err(cfg.primary, "tcp"))?);
        }
        let answerer = Arc::new(answerer_for(&cfg, &bound_udp)?);
        let metrics = answerer.metrics.clone();
        let other = if two_addr {
            // Index 3 is alternate IP × alternate port.
            answerer.origins.get(3).copied().flatten()
        } else {
            None
        };

        let addrs = ResponderAddrs {
            primary: bound_udp[0],
            primary_alt_port: bound_udp.get(1).copied(),
            alternate_primary_port: bound_udp.get(2).copied(),
            alternate: bound_udp.get(3).copied(),
            other_address: other,
            tcp: bound_tcp,
        };

        let n_udp = udp.len();
        let sockets: Arc<[UdpSocket]> = udp.into();
        let mut tasks = Vec::with_capacity(n_udp + tcp.len());
        for idx in 0..n_udp {
            tasks.push(tokio::spawn(udp::serve(
                idx,
                sockets.clone(),
                answerer.clone(),
            )));
        }
        let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
        for (idx, listener) in tcp.into_iter().enumerate() {
            tasks.push(tokio::spawn(tcp::serve(
                idx,
                listener,
                answerer.clone(),
                slots.clone(),
            )));
        }
        tracing::info!(
            udp = %list(&addrs.udp()),
            tcp = %list(&addrs.tcp),
            other_address = %addrs.other_address.map_or_else(|| "none".to_string(), |a| a.to_string()),
            rate_limit_per_second = cfg.rate_limit.per_second,
            "STUN responder started"
        );
        Ok(Self {
            addrs,
            metrics,
            tasks,
        })
    }

    /// The bound addresses.
    pub fn addrs(&self) -> ResponderAddrs {
        self.addrs.clone()
    }

    /// The live counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Stops every task and waits until they have stopped (so the sockets
    /// are closed when this returns).
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            // Aborted tasks end with a cancellation error: expected.
            let _ = t.await;
        }
        // The counters are the caller's to report (natscope serve prints
        // them once); a log line here would repeat them.
        tracing::debug!("STUN responder stopped");
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The answerer of a responder configured as `cfg` whose UDP sockets are
/// bound to `bound_udp` (primary, primary IP × alternate port, alternate IP
/// × primary port, alternate; one entry in single-address mode). Pure: what
/// `Responder::start` serves with, and what the fuzz targets drive
/// (`crate::fuzzing`).
pub(crate) fn answerer_for(
    cfg: &ResponderConfig,
    bound_udp: &[SocketAddr],
) -> Result<Answerer, ResponderError> {
    let two_addr = cfg.alternate.is_some();
    let advertised = [cfg.advertise_primary, cfg.advertise_alternate];
    let origins: Vec<Option<SocketAddr>> = bound_udp
        .iter()
        .enumerate()
        .map(|(i, a)| match advertised.get(i / 2).copied().flatten() {
            Some(ip) => Some(SocketAddr::new(ip, a.port())),
            None if a.ip().is_unspecified() => None,
            None => Some(*a),
        })
        .collect();
    let software = match &cfg.software {
        Some(s) => Some(Software::new(s).map_err(|_| ResponderError::SoftwareTooLong(s.len()))?),
        None => None,
    };
    let origins_len = origins.len();
    let others_src = origins.clone();
    Ok(Answerer {
        two_addr,
        origins,
        advertised,
        // OTHER-ADDRESS: (alternate IP, alternate port) for requests to
        // any socket but that one, which names the primary. RFC 5780
        // clients read it from test I (at the primary) and see the
        // alternate, as §4.3 expects; coturn's turnutils_natdiscovery,
        // which takes test III's target from test II's answer (sent to
        // alternate IP, primary port), also gets the alternate; and a
        // client that queries the alternate directly is told a
        // different IP and port, so the server stays consistent.
        others: (0..origins_len)
            .map(|i| {
                if !two_addr {
                    None
                } else if i == 3 {
                    others_src.first().copied().flatten()
                } else {
                    others_src.get(3).copied().flatten()
                }
            })
            .collect(),
        software,
        max_padding: cfg.max_padding,
        limiter: cfg
            .rate_limit
            .is_enabled()
            .then(|| Mutex::new(RateLimiter::new(cfg.rate_limit))),
        metrics: Arc::new(Metrics::default()),
    })
}

/// Addresses as `a,b,c` for a key=value log field ("none" when empty).
fn list(addrs: &[SocketAddr]) -> String {
    if addrs.is_empty() {
        return "none".into();
    }
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
