//! Never leave a mapping behind: the ledger of mappings made during a run.
//!
//! Every mapping is registered in a [`MappingLedger`] the moment the gateway
//! confirms it (before anything else is done with it) and removed from the
//! ledger only once the gateway confirmed its deletion. So, whatever path a
//! run takes:
//!
//! - normal end: each protocol test deletes its own mapping
//!   ([`MappingGuard::release`]); [`super::probe`] then calls
//!   [`MappingLedger::cleanup`] for anything whose deletion failed (retry);
//! - error inside a protocol test: the guard is dropped without release, the
//!   entry stays in the ledger, and the final `cleanup` deletes it;
//! - Ctrl-C: the caller holds the ledger in an `Arc`, drops (cancels) the
//!   probe future when the signal arrives, then awaits
//!   `ledger.cleanup(bound)` before exiting (see `bin/src/portmap_cmd.rs`);
//! - the ledger itself dropped with entries left (a caller forgot, or a
//!   panic unwound): its `Drop` deletes them on a helper thread with its own
//!   runtime, bounded by [`DROP_CLEANUP_BOUND`].
//!
//! As a last line of defence every mapping is requested with a short lease
//! (`PortmapConfig::lifetime`), so even a gateway that stopped answering
//! forgets it on its own.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crab_nat::{InternetProtocol, TimeoutConfig};
use igd_next::aio::Gateway;
use igd_next::aio::tokio::Tokio;

/// Bound of the cleanup the ledger's `Drop` runs for leftover mappings.
pub const DROP_CLEANUP_BOUND: Duration = Duration::from_secs(3);

/// One mapping the gateway confirmed and that is not yet deleted.
#[derive(Debug, Clone)]
pub(crate) enum ActiveMapping {
    /// A UPnP IGD `AddPortMapping` (UDP).
    Upnp {
        /// The gateway's control endpoint.
        gateway: Box<Gateway<Tokio>>,
        /// The external port mapped.
        external_port: u16,
    },
    /// A NAT-PMP UDP mapping of our internal port.
    NatPmp {
        /// The NAT-PMP server.
        gateway: Ipv4Addr,
        /// Our internal port.
        internal_port: NonZeroU16,
    },
    /// A PCP MAP (UDP) of our internal port.
    Pcp {
        /// The PCP server.
        gateway: IpAddr,
        /// Our address as sent in the request.
        client: IpAddr,
        /// The mapping nonce (needed to delete it).
        nonce: crab_nat::pcp::Nonce,
        /// Our internal port.
        internal_port: NonZeroU16,
    },
}

impl ActiveMapping {
    /// A short human description ("UPnP UDP 203.0.113.1:40000" style).
    pub(crate) fn describe(&self) -> String {
        match self {
            ActiveMapping::Upnp {
                gateway,
                external_port,
            } => format!("UPnP UDP external port {external_port} on {}", gateway.addr),
            ActiveMapping::NatPmp {
                gateway,
                internal_port,
            } => format!("NAT-PMP UDP internal port {internal_port} on {gateway}"),
            ActiveMapping::Pcp {
                gateway,
                internal_port,
                ..
            } => format!("PCP UDP internal port {internal_port} on {gateway}"),
        }
    }

    /// Asks the gateway to delete the mapping, bounded by `bound`.
    pub(crate) async fn delete(&self, bound: Duration) -> Result<(), String> {
        let tc = Some(quick_timeouts(bound));
        let fut = async {
            match self {
                ActiveMapping::Upnp {
                    gateway,
                    external_port,
                } => gateway
                    .remove_port(igd_next::PortMappingProtocol::UDP, *external_port)
                    .await
                    .map_err(|e| format!("DeletePortMapping failed: {e}")),
                ActiveMapping::NatPmp {
                    gateway,
                    internal_port,
                } => crab_nat::natpmp::try_drop_mapping(
                    (*gateway).into(),
                    InternetProtocol::Udp,
                    Some(*internal_port),
                    tc,
                )
                .await
                .map_err(|e| format!("NAT-PMP unmap failed: {e}")),
                ActiveMapping::Pcp {
                    gateway,
                    client,
                    nonce,
                    internal_port,
                } => crab_nat::pcp::try_drop_mapping(
                    (*gateway).into(),
                    *client,
                    *nonce,
                    crab_nat::pcp::DropMappingRange::Single {
                        protocol: InternetProtocol::Udp,
                        internal_port: *internal_port,
                    },
                    tc,
                )
                .await
                .map_err(|e| format!("PCP delete failed: {e}")),
            }
        };
        match tokio::time::timeout(bound, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer to the deletion within {bound:?}")),
        }
    }
}

/// The options of a NAT-PMP or PCP MAP for `port`: the same external port
/// asked for, `cfg.lifetime` (at least 1 s), retries within
/// `cfg.step_timeout`.
pub(crate) fn mapping_options(
    cfg: &super::PortmapConfig,
    port: std::num::NonZeroU16,
) -> crab_nat::PortMappingOptions {
    crab_nat::PortMappingOptions {
        external_port: Some(port),
        lifetime_seconds: Some(
            u32::try_from(cfg.lifetime.as_secs())
                .unwrap_or(u32::MAX)
                .max(1),
        ),
        timeout_config: Some(quick_timeouts(cfg.step_timeout)),
    }
}

/// crab_nat retransmission settings that fit in `bound` (RFC 6886 starts at
/// 250 ms and doubles; we cap the retries so the total stays near `bound`).
pub(crate) fn quick_timeouts(bound: Duration) -> TimeoutConfig {
    let initial = Duration::from_millis(250);
    // 250 + 500 + 1000 + 1000 ... ms: count how many fit.
    let mut total = initial;
    let mut next = initial;
    let mut retries = 0;
    let cap = Duration::from_secs(1);
    while retries < 8 {
        next = (next * 2).min(cap);
        if total + next > bound {
            break;
        }
        total += next;
        retries += 1;
    }
    TimeoutConfig {
        initial_timeout: initial,
        max_retries: retries,
        max_retry_timeout: Some(cap),
    }
}

/// What a cleanup pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Mappings deleted in this pass (descriptions).
    pub removed: Vec<String>,
    /// Mappings that could not be deleted: (description, reason). They
    /// expire with their lease.
    pub failed: Vec<(String, String)>,
}

/// The mappings made during a run and not yet deleted. Share it in an `Arc`
/// between the probe and whoever handles Ctrl-C.
#[derive(Debug, Default)]
pub struct MappingLedger {
    inner: Mutex<LedgerInner>,
}

#[derive(Debug, Default)]
struct LedgerInner {
    next_id: u64,
    active: BTreeMap<u64, ActiveMapping>,
}

impl MappingLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerInner> {
        // A poisoned lock only means a panic elsewhere; the map is still
        // consistent (every operation is a single insert/remove).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many mappings are registered and not yet deleted.
    pub fn outstanding(&self) -> usize {
        self.lock().active.len()
    }

    /// Descriptions of the mappings not yet deleted.
    pub fn describe_outstanding(&self) -> Vec<String> {
        self.lock().active.values().map(|m| m.describe()).collect()
    }

    pub(crate) fn register(self: &Arc<Self>, m: ActiveMapping) -> MappingGuard {
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.active.insert(id, m);
        MappingGuard {
            ledger: Arc::clone(self),
            id,
        }
    }

    /// Deletes every registered mapping (concurrently), each bounded by
    /// `bound`; successful deletions leave the ledger. Safe to call any
    /// number of times.
    pub async fn cleanup(&self, bound: Duration) -> CleanupReport {
        let todo: Vec<(u64, ActiveMapping)> = self
            .lock()
            .active
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut report = CleanupReport::default();
        let results = delete_all(todo.iter().map(|(_, m)| m.clone()).collect(), bound).await;
        for ((id, m), r) in todo.into_iter().zip(results) {
            match r {
                Ok(()) => {
                    self.lock().active.remove(&id);
                    report.removed.push(m.describe());
                }
                Err(e) => report.failed.push((m.describe(), e)),
            }
        }
        report
    }
}

impl Drop for MappingLedger {
    fn drop(&mut self) {
        let active = std::mem::take(
            &mut self
                .inner
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .active,
        );
        if active.is_empty() {
            return;
        }
        tracing::warn!(
            count = active.len(),
            "port mapping ledger dropped with mappings left; deleting them"
        );
        // A new thread inherits this thread's network namespace, so it
        // reaches the same gateway. Its own runtime: we may be inside (or
        // outside) one, and Drop cannot await.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(delete_all(
                active.into_values().collect(),
                DROP_CLEANUP_BOUND,
            ));
        });
        let _ = handle.join();
    }
}

/// Deletes the mappings concurrently, each bounded by `bound`; results in
/// input order.
async fn delete_all(all: Vec<ActiveMapping>, bound: Duration) -> Vec<Result<(), String>> {
    let mut set = tokio::task::JoinSet::new();
    for (i, m) in all.into_iter().enumerate() {
        set.spawn(async move { (i, m.delete(bound).await) });
    }
    let mut out: Vec<Result<(), String>> = Vec::new();
    let mut got: Vec<(usize, Result<(), String>)> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(pair) = r {
            got.push(pair);
        }
    }
    got.sort_by_key(|(i, _)| *i);
    let n = got.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
    out.resize_with(n, || Err("deletion task failed".into()));
    for (i, r) in got {
        out[i] = r;
    }
    out
}

/// A registered mapping. [`MappingGuard::release`] deletes it; dropping the
/// guard without release leaves it in the ledger for
/// [`MappingLedger::cleanup`].
#[derive(Debug)]
pub(crate) struct MappingGuard {
    ledger: Arc<MappingLedger>,
    id: u64,
}

impl MappingGuard {
    /// Deletes the mapping (bounded); on success it leaves the ledger.
    pub(crate) async fn release(self, bound: Duration) -> Result<(), String> {
        let m = self.ledger.lock().active.get(&self.id).cloned();
        let Some(m) = m else {
            return Ok(());
        };
        m.delete(bound).await?;
        self.ledger.lock().active.remove(&self.id);
        Ok(())
    }
}

/// The local address this host uses toward `gateway` (a connected UDP
/// socket; connecting sends nothing).
pub(crate) fn local_ip_toward(gateway: IpAddr) -> std::io::Result<IpAddr> {
    let bind: SocketAddr = match gateway {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = std::net::UdpSocket::bind(bind)?;
    s.connect((gateway, crab_nat::GATEWAY_PORT))?;
    Ok(s.local_addr()?.ip())
}
