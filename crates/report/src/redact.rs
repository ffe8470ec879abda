//! `--redact`: replaces every public (globally routable) IP address in a
//! report with a stable placeholder, so a report can be posted in a public
//! issue. Placeholders come from the documentation ranges (IPv4
//! 203.0.113.N, IPv6 2001:db8:ffff::N), numbered in order of first
//! appearance, so the same address gets the same placeholder everywhere in
//! the report and the document still parses and validates. Ports, private,
//! CGNAT, loopback, link-local and documentation addresses are kept: they
//! say something about the network without identifying it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_json::Value;

use crate::Report;

/// Returns `report` with every public IP address replaced by a placeholder.
pub fn redact(report: &Report) -> Report {
    let Ok(mut value) = serde_json::to_value(report) else {
        return report.clone();
    };
    let mut map = Placeholders::default();
    walk(&mut value, &mut map);
    let mut out: Report = serde_json::from_value(value).unwrap_or_else(|_| report.clone());
    out.options.redacted = true;
    out
}

#[derive(Default)]
struct Placeholders {
    seen: HashMap<IpAddr, IpAddr>,
    v4: u32,
    v6: u32,
}

impl Placeholders {
    fn get(&mut self, ip: IpAddr) -> IpAddr {
        if let Some(p) = self.seen.get(&ip) {
            return *p;
        }
        let p = match ip {
            IpAddr::V4(_) => {
                self.v4 += 1;
                IpAddr::V4(Ipv4Addr::new(203, 0, 113, (self.v4.min(254)) as u8))
            }
            IpAddr::V6(_) => {
                self.v6 += 1;
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0xffff,
                    0,
                    0,
                    0,
                    0,
                    self.v6.min(0xffff) as u16,
                ))
            }
        };
        self.seen.insert(ip, p);
        p
    }
}

fn walk(v: &mut Value, map: &mut Placeholders) {
    match v {
        Value::String(s) => *s = redact_text(s, map),
        Value::Array(items) => items.iter_mut().for_each(|i| walk(i, map)),
        Value::Object(obj) => obj.values_mut().for_each(|i| walk(i, map)),
        _ => {}
    }
}

fn is_public(ip: IpAddr) -> bool {
    natclass::addr::classify(ip).global
}

/// Replaces public addresses inside free text (addresses, `ip:port`,
/// `[v6]:port`, and addresses quoted inside evidence sentences).
fn redact_text(s: &str, map: &mut Placeholders) -> String {
    let is_token = |c: char| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '[' | ']');
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find(is_token) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| !is_token(c)).unwrap_or(tail.len());
        let token = &tail[..end];
        // A sentence may end an address with '.' or ':', and a URI scheme
        // leaves its ':' in front (`stun:IP:port`; `::1` keeps its colons).
        let lead = usize::from(token.starts_with(':') && !token.starts_with("::"));
        let trimmed = token[lead..].trim_end_matches(['.', ':']);
        let suffix = &token[lead + trimmed.len()..];
        out.push_str(&token[..lead]);
        out.push_str(&replace_token(trimmed, map));
        out.push_str(suffix);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn replace_token(token: &str, map: &mut Placeholders) -> String {
    if let Ok(sa) = token.parse::<SocketAddr>()
        && is_public(sa.ip())
    {
        return SocketAddr::new(map.get(sa.ip()), sa.port()).to_string();
    }
    if let Ok(ip) = token.parse::<IpAddr>()
        && is_public(ip)
    {
        return map.get(ip).to_string();
    }
    token.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Built from octets so no public address literal appears in the source;
    // nothing is ever sent to it: these are strings.
    fn public_v4() -> Ipv4Addr {
        Ipv4Addr::new(9, 9, 9, 9)
    }

    #[test]
    fn public_addresses_get_stable_placeholders() {
        let mut m = Placeholders::default();
        let p = public_v4();
        let text =
            format!("mapped {p}:40000 equals {p}. other [::1]:3 and 192.168.1.2, 100.64.0.1");
        let out = redact_text(&text, &mut m);
        assert_eq!(
            out,
            "mapped 203.0.113.1:40000 equals 203.0.113.1. other [::1]:3 and 192.168.1.2, 100.64.0.1"
        );
        let v6 = Ipv6Addr::new(0x2a00, 0x1450, 0, 0, 0, 0, 0, 1);
        let out = redact_text(&format!("[{v6}]:3478 and {v6}"), &mut m);
        assert_eq!(out, "[2001:db8:ffff::1]:3478 and 2001:db8:ffff::1");
        // Hex-looking words and times survive.
        assert_eq!(
            redact_text("cafe at 12:30, deadbeef", &mut m),
            "cafe at 12:30, deadbeef"
        );
    }

    #[test]
    fn a_whole_report_is_redacted_and_still_parses() {
        let mut r = Report::new("diagnose", "2026-11-23T00:00:00Z");
        r.options.servers = vec![format!("stun:{}:3478", public_v4())];
        r.summary
            .works
            .push(format!("public address {}:5000", public_v4()));
        let red = redact(&r);
        let json = red.to_json_pretty();
        assert!(!json.contains(&public_v4().to_string()), "{json}");
        assert!(json.contains("203.0.113.1:3478") && json.contains("203.0.113.1:5000"));
        assert!(red.options.redacted);
        assert!(crate::from_json(&json).is_ok());
    }

    #[test]
    fn the_browser_section_is_redacted() {
        use model::browser::*;
        use model::ice::CandidateType;
        let p = public_v4();
        let mut r = Report::new("browser", "2026-11-23T00:00:00Z");
        let candidate = |address: String| BrowserCandidate {
            kind: CandidateType::Srflx,
            protocol: "udp".into(),
            address,
            mdns: false,
            port: 54321,
            url: Some("stun:stun.example.net:3478".into()),
            relay_protocol: None,
            tcp_type: None,
            at_ms: 1.0,
        };
        r.browser = model::Section::Tested(BrowserSection {
            gathering: vec![BrowserGathering {
                policy: BrowserPolicy::All,
                complete: true,
                total_ms: 10.0,
                candidates: vec![
                    candidate(p.to_string()),
                    candidate("0c6d3f2a-5b1e-4e7a-9d3c-1f2e3d4c5b6a.local".into()),
                ],
                errors: Vec::new(),
                servers: Vec::new(),
            }],
            connections: vec![BrowserConnection {
                policy: BrowserPolicy::All,
                outcome: BrowserOutcome::Connected,
                failure: None,
                ice_connected_ms: None,
                channel_open_ms: None,
                round_trip_ms: None,
                echoed: 0,
                sent: 0,
                selected: Some(BrowserSelectedPair {
                    local: CandidateType::Srflx,
                    local_protocol: "udp".into(),
                    relay_protocol: None,
                    remote: CandidateType::Host,
                    local_address: format!("{p}:54321"),
                    remote_address: "192.168.1.2:40000".into(),
                }),
                stats: None,
                peer_saw: Some(format!("packets from {p}:54321")),
            }],
            ..BrowserSection::default()
        });
        let json = redact(&r).to_json_pretty();
        assert!(!json.contains(&p.to_string()), "{json}");
        assert!(json.contains("\"203.0.113.1\"") && json.contains("203.0.113.1:54321"));
        assert!(json.contains("0c6d3f2a-5b1e-4e7a-9d3c-1f2e3d4c5b6a.local"));
        assert!(json.contains("192.168.1.2:40000"));
        assert!(crate::from_json(&json).is_ok());
    }
}
