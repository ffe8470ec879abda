//! The additive `allocate_ipv6` stage: after the IPv4 allocation passed, a
//! second, short allocation on a fresh connection of the same transport asks
//! for an IPv6 relayed address (REQUESTED-ADDRESS-FAMILY, RFC 6156 / RFC 8656
//! §7.1), and is deleted again. Its outcome is recorded without touching
//! `ok`, `failed_stage` or `failure`.

use super::config::TurnProbeConfig;
use super::conn::connect_fresh;
use super::failure::{name_failure, name_io_error};
use super::session::{Session, allocation_outcome};
use super::stages::{additive_inputs, ms_since};
use crate::turn::creds::ResolvedCredentials;
use model::servers::ServerUri;
use model::turn::{TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use std::net::SocketAddr;
use std::time::Duration;
use turn_client_proto::api::TurnClientApi;
use turn_client_proto::types::AddressFamily;
use turn_client_proto::types::message::ALLOCATE;

/// ERROR-CODE 440 Address Family not Supported (RFC 8656 §19).
const ADDRESS_FAMILY_NOT_SUPPORTED: u16 = 440;

/// Runs and records the `allocate_ipv6` stage on `r` (not tested unless the
/// IPv4 `allocate` stage passed).
pub(super) async fn allocate_ipv6_stage(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
) {
    let Some((server, creds)) = additive_inputs(
        uri,
        cfg,
        r,
        TurnStage::AllocateIpv6,
        "the IPv4 allocation did not succeed",
    ) else {
        return;
    };
    let t0 = tokio::time::Instant::now();
    let (outcome, wire_ms) = allocate(uri, transport, server, cfg, &creds).await;
    // The server's answer time on the wire (the 401 challenge and the
    // Allocate), else the time waited.
    let ms = wire_ms.unwrap_or_else(|| ms_since(t0));
    match outcome {
        Ok((relayed, deleted)) => {
            r.relayed_address_ipv6 = Some(relayed);
            let del = if deleted {
                "deleted again"
            } else {
                "deletion not confirmed"
            };
            r.pass(
                TurnStage::AllocateIpv6,
                ms,
                Some(format!("IPv6 relayed address {relayed}; {del}")),
            );
        }
        Err(f) => r.fail_additive(TurnStage::AllocateIpv6, Some(ms), f),
    }
}

/// Connects, allocates with REQUESTED-ADDRESS-FAMILY IPv6 and deletes the
/// allocation. Returns the IPv6 relayed address and whether the deletion
/// was confirmed, and the server's answer time for the Allocates on the
/// wire.
async fn allocate(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
    creds: &ResolvedCredentials,
) -> (Result<(SocketAddr, bool), TurnFailure>, Option<f64>) {
    let conn = match connect_fresh(uri, transport, server, cfg).await {
        Ok(c) => c,
        Err(f) => return (Err(f), None),
    };
    let mut s = match Session::new(conn, Some(creds), AddressFamily::IPV6) {
        Ok(s) => s,
        Err(e) => return (Err(name_io_error(&e)), None),
    };
    let mark = s.tap.wire_mark();
    let out = allocate_on(&mut s, cfg, creds).await;
    (out, s.tap.wire_ms(mark, ALLOCATE))
}

async fn allocate_on(
    s: &mut Session,
    cfg: &TurnProbeConfig,
    creds: &ResolvedCredentials,
) -> Result<(SocketAddr, bool), TurnFailure> {
    let timeout_ms = u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX);
    let deadline = tokio::time::Instant::now() + cfg.stage_timeout;
    let (created, res) = s.settle(true, deadline, allocation_outcome).await;
    if !created {
        // The first 401 is the challenge, not a failure.
        let answer = s.tap.last_error_after_challenge(ALLOCATE);
        // A success the client refused: the relay is of the other family
        // (the server ignored REQUESTED-ADDRESS-FAMILY).
        if answer.is_none()
            && let Some(relayed) = s.tap.relayed.filter(SocketAddr::is_ipv4)
        {
            return Err(TurnFailure::AddressFamilyIgnored { relayed });
        }
        return Err(match answer {
            Some((ADDRESS_FAMILY_NOT_SUPPORTED, _)) => TurnFailure::AddressFamilyNotSupported,
            Some((401, _)) => TurnFailure::WrongCredentials,
            answer => name_failure(ALLOCATE, answer, res, timeout_ms),
        });
    }
    let relayed = s
        .client
        .relayed_addresses()
        .map(|(_, a)| a)
        .chain(s.tap.relayed)
        .find(SocketAddr::is_ipv6);
    let deleted = s
        .delete_within(creds, cfg.stage_timeout.min(Duration::from_secs(1)))
        .await;
    match relayed {
        Some(a) => Ok((a, deleted)),
        None => Err(TurnFailure::UnexpectedResponse {
            detail: format!(
                "asked for an IPv6 relayed address, got {}",
                s.tap.relayed.map_or("none".to_string(), |a| a.to_string())
            ),
        }),
    }
}
