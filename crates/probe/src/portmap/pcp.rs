//! PCP (RFC 6887): ANNOUNCE (written here, crab_nat has no ANNOUNCE), then
//! MAP with a lifetime and its deletion (lifetime 0) through crab_nat.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crab_nat::pcp::{BaseMapRequest, Failure};
use crab_nat::{InternetProtocol, PortMappingType};
use tokio::net::UdpSocket;

use super::cleanup::{ActiveMapping, MappingLedger, mapping_options};
use super::{
    Availability, MappingOutcome, PortmapConfig, PortmapProtocol, ProtocolOutcome, bind_local,
    release, traffic,
};

const P: PortmapProtocol = PortmapProtocol::Pcp;

/// What an ANNOUNCE (or anything sent to port 5351) got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnounceReply {
    /// A PCP (version 2) ANNOUNCE response.
    Pcp {
        /// The result code (0 = SUCCESS).
        result: u8,
        /// The server's epoch time, seconds.
        epoch: u32,
    },
    /// A NAT-PMP (version 0) answer: the server does not speak PCP.
    NatPmpOnly,
    /// Something else answered on 5351.
    Other(String),
}

/// The 24-byte ANNOUNCE request (RFC 6887 §7.1, §14.1): version 2, opcode 0,
/// lifetime 0, our address (IPv4-mapped for IPv4).
pub fn announce_request(client: IpAddr) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0] = 2;
    let v6 = match client {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    b[8..24].copy_from_slice(&v6.octets());
    b
}

/// Parses an answer to ANNOUNCE; never panics on short or odd input.
pub fn parse_announce_reply(b: &[u8]) -> AnnounceReply {
    match b {
        [0, ..] => AnnounceReply::NatPmpOnly,
        [2, op, _, result, _, _, _, _, e0, e1, e2, e3, ..] if *op == 0x80 => AnnounceReply::Pcp {
            result: *result,
            epoch: u32::from_be_bytes([*e0, *e1, *e2, *e3]),
        },
        _ => AnnounceReply::Other(format!(
            "{} bytes starting {:02x?}",
            b.len(),
            &b[..b.len().min(4)]
        )),
    }
}

/// Sends ANNOUNCE to `gateway:5351` with RFC 6887 retransmission (250 ms
/// doubling) until an answer or `bound`.
pub async fn announce(
    gateway: IpAddr,
    client: IpAddr,
    bound: Duration,
) -> Result<AnnounceReply, std::io::Error> {
    let bind: SocketAddr = SocketAddr::new(client, 0);
    let sock = UdpSocket::bind(bind).await?;
    sock.connect((gateway, crab_nat::GATEWAY_PORT)).await?;
    let req = announce_request(client);
    let deadline = tokio::time::Instant::now() + bound;
    let mut wait = Duration::from_millis(250);
    let mut buf = [0u8; 1100];
    loop {
        sock.send(&req).await?;
        let slot = (tokio::time::Instant::now() + wait).min(deadline);
        match tokio::time::timeout_at(slot, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => return Ok(parse_announce_reply(&buf[..n])),
            Ok(Err(e)) => return Err(e),
            Err(_) if tokio::time::Instant::now() >= deadline => {
                return Err(std::io::Error::new(ErrorKind::TimedOut, "no answer"));
            }
            Err(_) => wait = (wait * 2).min(Duration::from_secs(1)),
        }
    }
}

pub(super) async fn test(
    cfg: &PortmapConfig,
    gw: IpAddr,
    local_ip: IpAddr,
    ledger: &Arc<MappingLedger>,
) -> ProtocolOutcome {
    let started = Instant::now();
    let done = |mut o: ProtocolOutcome| {
        o.elapsed = started.elapsed();
        o
    };
    let server = SocketAddr::new(gw, crab_nat::GATEWAY_PORT);
    let epoch = match announce(gw, local_ip, cfg.discovery_timeout).await {
        Ok(AnnounceReply::Pcp { result: 0, epoch }) => epoch,
        Ok(AnnounceReply::Pcp { result, .. }) => {
            // A PCP server that refuses ANNOUNCE still speaks PCP: try MAP.
            tracing::debug!(result, "PCP ANNOUNCE answered with an error");
            0
        }
        Ok(AnnounceReply::NatPmpOnly) => {
            return done(ProtocolOutcome::not_available(
                P,
                format!("{server} speaks only NAT-PMP (answered PCP ANNOUNCE with version 0)"),
            ));
        }
        Ok(AnnounceReply::Other(what)) => {
            return done(ProtocolOutcome::not_available(
                P,
                format!("{server} answered ANNOUNCE with something that is not PCP ({what})"),
            ));
        }
        Err(e) if e.kind() == ErrorKind::TimedOut => {
            return done(ProtocolOutcome::not_available(
                P,
                format!(
                    "no answer to PCP ANNOUNCE from {server} within {:?}",
                    cfg.discovery_timeout
                ),
            ));
        }
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            return done(ProtocolOutcome::not_available(
                P,
                format!("{server} is closed (ICMP port unreachable)"),
            ));
        }
        Err(e) => {
            return done(ProtocolOutcome::not_available(
                P,
                format!("cannot reach {server}: {e}"),
            ));
        }
    };
    let mut out = ProtocolOutcome::new(P, Availability::Available);
    out.server = Some(server);
    out.details.push(("epoch_secs".into(), epoch.to_string()));

    let sock = match bind_local(local_ip).await {
        Ok(s) => s,
        Err(e) => {
            out.errors.push(format!("binding a local UDP socket: {e}"));
            return done(out);
        }
    };
    let Some(internal) = sock.local_addr().ok() else {
        out.errors.push("local socket has no address".into());
        return done(out);
    };
    let Some(port) = NonZeroU16::new(internal.port()) else {
        out.errors.push("local socket got port 0".into());
        return done(out);
    };
    let opts = mapping_options(cfg, port);
    let mapped = tokio::time::timeout(
        cfg.step_timeout + cfg.step_timeout,
        crab_nat::pcp::port_mapping(
            BaseMapRequest::new(gw.into(), local_ip, InternetProtocol::Udp, port),
            None,
            None,
            opts,
        ),
    )
    .await
    .unwrap_or(Err(Failure::Timeout));
    let m = match mapped {
        Ok(m) => m,
        Err(e) => {
            // A lost answer cannot be deleted without its nonce; it expires
            // with the (short) lease.
            out.errors
                .push(format!("MAP request refused or unanswered: {e}"));
            return done(out);
        }
    };
    let PortMappingType::Pcp {
        nonce, external_ip, ..
    } = m.mapping_type()
    else {
        // crab_nat::pcp::port_mapping always returns a PCP mapping.
        out.errors
            .push("crab_nat returned a non-PCP mapping".into());
        return done(out);
    };
    let guard = ledger.register(ActiveMapping::Pcp {
        gateway: gw,
        client: local_ip,
        nonce,
        internal_port: port,
    });
    let external_ip = match external_ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if !external_ip.is_unspecified() {
        out.external_ip = Some(external_ip);
    }
    let ext_port = m.external_port().get();
    let external = out.external_ip.map(|ip| SocketAddr::new(ip, ext_port));
    let traffic = traffic(cfg, &sock, external).await;
    let removal = release(guard, cfg.step_timeout).await;
    out.mapping = Some(MappingOutcome {
        internal,
        external_port: ext_port,
        external,
        lifetime_secs: m.lifetime(),
        traffic,
        removal,
    });
    done(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_bytes_and_replies() {
        let r = announce_request("192.0.2.10".parse().unwrap());
        assert_eq!(&r[..4], &[2, 0, 0, 0]);
        assert_eq!(&r[18..24], &[0xff, 0xff, 192, 0, 2, 10]);
        let mut ok = [0u8; 24];
        ok[0] = 2;
        ok[1] = 0x80;
        ok[8..12].copy_from_slice(&77u32.to_be_bytes());
        assert_eq!(
            parse_announce_reply(&ok),
            AnnounceReply::Pcp {
                result: 0,
                epoch: 77
            }
        );
        assert_eq!(
            parse_announce_reply(&[0, 0x80, 0, 1]),
            AnnounceReply::NatPmpOnly
        );
        assert!(matches!(
            parse_announce_reply(&[2]),
            AnnounceReply::Other(_)
        ));
        assert!(matches!(parse_announce_reply(&[]), AnnounceReply::Other(_)));
    }
}
