//! Binding the responder's sockets: up to four UDP sockets and four TCP
//! listeners that share two port numbers across both IPs, picking free
//! ports (bounded retries on EADDRINUSE) when asked for port 0.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use super::{ResponderConfig, ResponderError};

/// How many times free ports are picked before giving up.
pub(crate) const MAX_PORT_ATTEMPTS: u32 = 32;

/// Receive buffer asked for on each UDP socket (the kernel may cap it).
const UDP_RECV_BUFFER: usize = 1 << 20;

/// Backlog of each TCP listener.
const TCP_BACKLOG: i32 = 1024;

/// Bound, non-blocking std sockets, indexed `ip * 2 + port` (index 0 only
/// in single-address mode).
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) udp: Vec<std::net::UdpSocket>,
    pub(crate) tcp: Vec<std::net::TcpListener>,
}

fn bind_err(addr: SocketAddr, transport: &'static str) -> impl FnOnce(io::Error) -> ResponderError {
    move |source| ResponderError::Bind {
        addr,
        transport,
        source,
    }
}

fn udp(ip: IpAddr, port: u16) -> Result<std::net::UdpSocket, ResponderError> {
    let addr = SocketAddr::new(ip, port);
    let err = bind_err(addr, "udp");
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_err(addr, "udp"))?;
    // Best effort: a bigger buffer absorbs bursts; the default still works.
    let _ = s.set_recv_buffer_size(UDP_RECV_BUFFER);
    s.set_nonblocking(true).map_err(bind_err(addr, "udp"))?;
    s.bind(&addr.into()).map_err(err)?;
    Ok(s.into())
}

fn tcp(ip: IpAddr, port: u16) -> Result<std::net::TcpListener, ResponderError> {
    let addr = SocketAddr::new(ip, port);
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(bind_err(addr, "tcp"))?;
    s.set_reuse_address(true).map_err(bind_err(addr, "tcp"))?;
    s.set_nonblocking(true).map_err(bind_err(addr, "tcp"))?;
    s.bind(&addr.into()).map_err(bind_err(addr, "tcp"))?;
    s.listen(TCP_BACKLOG).map_err(bind_err(addr, "tcp"))?;
    Ok(s.into())
}

fn port_of(s: &std::net::UdpSocket, ip: IpAddr) -> Result<u16, ResponderError> {
    s.local_addr()
        .map(|a| a.port())
        .map_err(bind_err(SocketAddr::new(ip, 0), "udp"))
}

/// One attempt at binding everything.
fn try_bind(cfg: &ResponderConfig) -> Result<Bound, ResponderError> {
    let primary = cfg.primary;
    let pp = udp(primary, cfg.port)?;
    let p = port_of(&pp, primary)?;
    let Some(alternate) = cfg.alternate else {
        let tcp = if cfg.tcp {
            vec![tcp(primary, p)?]
        } else {
            Vec::new()
        };
        return Ok(Bound { udp: vec![pp], tcp });
    };
    let pa = udp(primary, cfg.alt_port)?;
    let a = port_of(&pa, primary)?;
    let ap = udp(alternate, p)?;
    let aa = udp(alternate, a)?;
    let tcp = if cfg.tcp {
        vec![
            tcp(primary, p)?,
            tcp(primary, a)?,
            tcp(alternate, p)?,
            tcp(alternate, a)?,
        ]
    } else {
        Vec::new()
    };
    Ok(Bound {
        udp: vec![pp, pa, ap, aa],
        tcp,
    })
}

/// Binds every socket of `cfg` (already validated).
pub(crate) fn bind_all(cfg: &ResponderConfig) -> Result<Bound, ResponderError> {
    let picks_ports = cfg.port == 0 || (cfg.alternate.is_some() && cfg.alt_port == 0);
    let fixed = |port: u16| port != 0 && (port == cfg.port || port == cfg.alt_port);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_bind(cfg) {
            Ok(b) => return Ok(b),
            // A picked port was free on one address but not on another:
            // pick again. A configured port in use is the user's error.
            Err(ResponderError::Bind { addr, source, .. })
                if picks_ports
                    && source.kind() == io::ErrorKind::AddrInUse
                    && !fixed(addr.port()) =>
            {
                if attempt >= MAX_PORT_ATTEMPTS {
                    return Err(ResponderError::NoFreePorts { attempts: attempt });
                }
                tracing::debug!(attempt, %addr, "picked port is taken on another address; retrying");
            }
            Err(e) => return Err(e),
        }
    }
}
