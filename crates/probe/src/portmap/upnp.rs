//! UPnP IGD through igd-next: SSDP discovery, device description,
//! GetExternalIPAddress, AddPortMapping, DeletePortMapping.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use igd_next::{AddPortError, PortMappingProtocol, SearchError, SearchOptions};

use super::cleanup::{ActiveMapping, MappingLedger};
use super::{
    Availability, MappingOutcome, PortmapConfig, PortmapProtocol, ProtocolOutcome, bind_local,
    release, traffic,
};

const P: PortmapProtocol = PortmapProtocol::Upnp;

pub(super) async fn test(
    cfg: &PortmapConfig,
    local_ip: Option<IpAddr>,
    ledger: &Arc<MappingLedger>,
) -> ProtocolOutcome {
    let started = Instant::now();
    let mut opts = SearchOptions::default();
    opts.bind_addr = SocketAddr::new(local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), 0);
    opts.timeout = Some(cfg.discovery_timeout);
    opts.single_search_timeout = Some(cfg.discovery_timeout);
    // igd-next bounds the search itself; the outer bound is belt and braces.
    let found = tokio::time::timeout(
        cfg.discovery_timeout + cfg.step_timeout,
        igd_next::aio::tokio::search_gateway(opts),
    )
    .await;
    let gw = match found {
        Ok(Ok(gw)) => gw,
        Ok(Err(SearchError::NoResponseWithinTimeout)) | Err(_) => {
            let mut o = ProtocolOutcome::not_available(
                P,
                format!(
                    "no UPnP IGD answered the SSDP M-SEARCH (239.255.255.250:1900) within {:?}",
                    cfg.discovery_timeout
                ),
            );
            o.elapsed = started.elapsed();
            return o;
        }
        Ok(Err(e)) => {
            let mut o = ProtocolOutcome::not_available(
                P,
                format!("an SSDP answer came but no usable IGD device description: {e}"),
            );
            o.elapsed = started.elapsed();
            return o;
        }
    };
    let mut out = ProtocolOutcome::new(P, Availability::Available);
    out.server = Some(gw.addr);
    out.details
        .push(("device_description".into(), gw.root_url.clone()));
    out.details
        .push(("service_type".into(), gw.service_type.clone()));
    out.details
        .push(("control_url".into(), gw.control_url.clone()));

    match tokio::time::timeout(cfg.step_timeout, gw.get_external_ip()).await {
        Ok(Ok(ip)) if !ip.is_unspecified() => out.external_ip = Some(ip),
        Ok(Ok(ip)) => out.errors.push(format!(
            "GetExternalIPAddress returned {ip} (the gateway has no usable external address)"
        )),
        Ok(Err(e)) => out.errors.push(format!("GetExternalIPAddress failed: {e}")),
        Err(_) => out.errors.push(format!(
            "GetExternalIPAddress: no answer within {:?}",
            cfg.step_timeout
        )),
    }

    let local_ip = match local_ip {
        Some(ip) => ip,
        None => {
            // No default gateway known: use our address toward the IGD.
            match super::cleanup::local_ip_toward(gw.addr.ip()) {
                Ok(ip) => ip,
                Err(e) => {
                    out.errors
                        .push(format!("no local address toward {}: {e}", gw.addr));
                    out.elapsed = started.elapsed();
                    return out;
                }
            }
        }
    };
    let sock = match bind_local(local_ip).await {
        Ok(s) => s,
        Err(e) => {
            out.errors.push(format!("binding a local UDP socket: {e}"));
            out.elapsed = started.elapsed();
            return out;
        }
    };
    let internal = match sock.local_addr() {
        Ok(a) => a,
        Err(e) => {
            out.errors.push(format!("local socket address: {e}"));
            out.elapsed = started.elapsed();
            return out;
        }
    };
    let lease = u32::try_from(cfg.lifetime.as_secs())
        .unwrap_or(u32::MAX)
        .max(1);
    // Ask for the same external port first, then a few others.
    let candidates = [
        internal.port(),
        40000 + internal.port() % 20000,
        50000 + internal.port() % 10000,
    ];
    let mut granted = None;
    for ext in candidates {
        let r = tokio::time::timeout(
            cfg.step_timeout,
            gw.add_port(
                PortMappingProtocol::UDP,
                ext,
                internal,
                lease,
                "natscope test",
            ),
        )
        .await;
        match r {
            Ok(Ok(())) => {
                granted = Some(ext);
                break;
            }
            Ok(Err(AddPortError::PortInUse)) => continue,
            Ok(Err(e)) => {
                out.errors.push(format!("AddPortMapping refused: {e}"));
                break;
            }
            Err(_) => {
                // The gateway may have made the mapping and the answer was
                // lost: delete it just in case (bounded), then give up.
                out.errors.push(format!(
                    "AddPortMapping: no answer within {:?}",
                    cfg.step_timeout
                ));
                let _ = tokio::time::timeout(
                    cfg.step_timeout,
                    gw.remove_port(PortMappingProtocol::UDP, ext),
                )
                .await;
                break;
            }
        }
    }
    let Some(ext_port) = granted else {
        out.elapsed = started.elapsed();
        return out;
    };
    let guard = ledger.register(ActiveMapping::Upnp {
        gateway: Box::new(gw.clone()),
        external_port: ext_port,
    });
    let external = out.external_ip.map(|ip| SocketAddr::new(ip, ext_port));
    let traffic = traffic(cfg, &sock, external).await;
    let removal = release(guard, cfg.step_timeout).await;
    out.mapping = Some(MappingOutcome {
        internal,
        external_port: ext_port,
        external,
        lifetime_secs: lease,
        traffic,
        removal,
    });
    out.elapsed = started.elapsed();
    out
}
