//! NAT-PMP (RFC 6886) through crab_nat: external address, map, unmap.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Instant;

use crab_nat::InternetProtocol;
use crab_nat::natpmp::Failure;

use super::cleanup::{ActiveMapping, MappingLedger, mapping_options, quick_timeouts};
use super::{
    Availability, MappingOutcome, PortmapConfig, PortmapProtocol, ProtocolOutcome, bind_local,
    release, traffic,
};

const P: PortmapProtocol = PortmapProtocol::NatPmp;

/// "Nobody speaks NAT-PMP here" failures, as opposed to a server that
/// answered with an error.
fn unavailable_reason(e: &Failure, gw: Ipv4Addr, cfg: &PortmapConfig) -> Option<String> {
    match e {
        Failure::Timeout => Some(format!(
            "no answer from {gw}:5351 within {:?}",
            cfg.discovery_timeout
        )),
        Failure::Socket(io) if io.kind() == ErrorKind::ConnectionRefused => {
            Some(format!("{gw}:5351 is closed (ICMP port unreachable)"))
        }
        Failure::Socket(io) => Some(format!("cannot reach {gw}:5351: {io}")),
        Failure::UnsupportedVersion(v) => Some(format!(
            "{gw}:5351 answered but does not support NAT-PMP (it speaks {v})"
        )),
        _ => None,
    }
}

pub(super) async fn test(
    cfg: &PortmapConfig,
    gw: Ipv4Addr,
    local_ip: IpAddr,
    ledger: &Arc<MappingLedger>,
) -> ProtocolOutcome {
    let started = Instant::now();
    let first = tokio::time::timeout(
        cfg.discovery_timeout + cfg.step_timeout,
        crab_nat::natpmp::external_address(gw.into(), Some(quick_timeouts(cfg.discovery_timeout))),
    )
    .await
    .unwrap_or(Err(Failure::Timeout));
    let mut out = ProtocolOutcome::new(P, Availability::Available);
    out.server = Some(SocketAddr::new(gw.into(), crab_nat::GATEWAY_PORT));
    match first {
        Ok(ip) if !ip.is_unspecified() => out.external_ip = Some(ip.into()),
        Ok(ip) => out
            .errors
            .push(format!("external address is {ip} (none yet)")),
        Err(e) => match unavailable_reason(&e, gw, cfg) {
            Some(reason) => {
                let mut o = ProtocolOutcome::not_available(P, reason);
                o.elapsed = started.elapsed();
                return o;
            }
            None => out.errors.push(format!("external address request: {e}")),
        },
    }

    let sock = match bind_local(local_ip).await {
        Ok(s) => s,
        Err(e) => {
            out.errors.push(format!("binding a local UDP socket: {e}"));
            out.elapsed = started.elapsed();
            return out;
        }
    };
    let Some(internal) = sock.local_addr().ok() else {
        out.errors.push("local socket has no address".into());
        out.elapsed = started.elapsed();
        return out;
    };
    let Some(port) = NonZeroU16::new(internal.port()) else {
        out.errors.push("local socket got port 0".into());
        out.elapsed = started.elapsed();
        return out;
    };
    let opts = mapping_options(cfg, port);
    let mapped = tokio::time::timeout(
        cfg.step_timeout + cfg.step_timeout,
        crab_nat::natpmp::port_mapping(gw.into(), InternetProtocol::Udp, port, opts),
    )
    .await
    .unwrap_or(Err(Failure::Timeout));
    let m = match mapped {
        Ok(m) => m,
        Err(e) => {
            out.errors
                .push(format!("mapping request refused or unanswered: {e}"));
            // A lost answer may hide a mapping: delete by internal port.
            let _ = ActiveMapping::NatPmp {
                gateway: gw,
                internal_port: port,
            }
            .delete(cfg.step_timeout)
            .await;
            out.elapsed = started.elapsed();
            return out;
        }
    };
    let guard = ledger.register(ActiveMapping::NatPmp {
        gateway: gw,
        internal_port: port,
    });
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
    out.elapsed = started.elapsed();
    out
}
