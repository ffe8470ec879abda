//! Double-NAT evidence from the gateways' external addresses (pure).

use std::net::IpAddr;

use serde::Serialize;

use super::PortmapProtocol;

/// Is there a second NAT beyond the gateway?
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DoubleNatFinding {
    /// `Some(true)`: evidence of double NAT; `Some(false)`: the external
    /// address(es) are public and agree with STUN; `None`: not enough data
    /// (no protocol reported an external address).
    pub detected: Option<bool>,
    /// Plain sentences: what was compared and what it showed.
    pub evidence: Vec<String>,
}

/// Compares each protocol's external address with the STUN-mapped address
/// and classifies it: private (RFC 1918) or CGNAT (RFC 6598) external
/// addresses, or any disagreement with STUN, mean another NAT sits beyond
/// the gateway.
pub fn double_nat(
    externals: &[(PortmapProtocol, IpAddr)],
    stun: Option<IpAddr>,
) -> DoubleNatFinding {
    let mut f = DoubleNatFinding::default();
    if externals.is_empty() {
        return f;
    }
    let mut detected = false;
    for (proto, ip) in externals {
        let flags = natclass::addr::classify(*ip);
        let name = proto.name();
        if flags.cgnat {
            detected = true;
            f.evidence.push(format!(
                "{name} reports external address {ip}, a carrier-grade NAT (RFC 6598) address: the gateway is behind another NAT"
            ));
        } else if flags.private || flags.link_local || flags.ula {
            detected = true;
            f.evidence.push(format!(
                "{name} reports external address {ip}, a private address: the gateway is behind another NAT"
            ));
        }
        match stun {
            Some(s) if s != *ip => {
                detected = true;
                f.evidence.push(format!(
                    "{name} reports external address {ip} but STUN sees {s}: another NAT translates between the gateway and the internet"
                ));
            }
            Some(s) => f.evidence.push(format!(
                "{name} reports external address {ip}, the same as STUN sees ({s})"
            )),
            None => {}
        }
    }
    if !detected && stun.is_none() {
        f.evidence.push(
            "no STUN-mapped address to compare with; the external address looks public".into(),
        );
    }
    f.detected = Some(detected);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgnat_external_is_double_nat() {
        let ext = [(PortmapProtocol::NatPmp, "100.64.0.2".parse().unwrap())];
        let f = double_nat(&ext, Some("203.0.113.1".parse().unwrap()));
        assert_eq!(f.detected, Some(true));
        assert_eq!(f.evidence.len(), 2, "{:?}", f.evidence);
    }

    #[test]
    fn matching_public_is_single_nat() {
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let f = double_nat(&[(PortmapProtocol::Pcp, ip)], Some(ip));
        assert_eq!(f.detected, Some(false));
    }

    #[test]
    fn mismatch_is_double_nat_and_no_data_is_unknown() {
        let f = double_nat(
            &[(PortmapProtocol::Upnp, "198.51.100.7".parse().unwrap())],
            Some("203.0.113.1".parse().unwrap()),
        );
        assert_eq!(f.detected, Some(true));
        assert_eq!(double_nat(&[], None).detected, None);
    }
}
