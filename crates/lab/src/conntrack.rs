//! Parsing `conntrack -L -p udp` output (for independent checks).

use std::net::{Ipv4Addr, SocketAddrV4};

/// One UDP conntrack entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConntrackUdp {
    /// Remaining lifetime in seconds.
    pub timeout_s: u32,
    /// Original direction source (the LAN endpoint for outgoing flows).
    pub orig_src: SocketAddrV4,
    /// Original direction destination.
    pub orig_dst: SocketAddrV4,
    /// Reply direction source.
    pub reply_src: SocketAddrV4,
    /// Reply direction destination: the public mapping for SNATed flows.
    pub reply_dst: SocketAddrV4,
    /// No reply seen yet (`[UNREPLIED]`).
    pub unreplied: bool,
    /// `[ASSURED]`.
    pub assured: bool,
}

impl ConntrackUdp {
    /// The public (translated) source of an outgoing flow: where replies
    /// are addressed.
    pub fn mapped(&self) -> SocketAddrV4 {
        self.reply_dst
    }
}

/// Parses `conntrack -L -p udp` lines; lines that are not IPv4 UDP entries
/// are skipped.
pub fn parse_conntrack(text: &str) -> Vec<ConntrackUdp> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<ConntrackUdp> {
    let mut words = line.split_whitespace();
    if words.next()? != "udp" {
        return None;
    }
    let _proto_num = words.next()?;
    let timeout_s = words.next()?.parse().ok()?;
    let (mut ip, mut port) = (Vec::new(), Vec::new());
    let (mut unreplied, mut assured) = (false, false);
    for w in words {
        if let Some(v) = w.strip_prefix("src=").or_else(|| w.strip_prefix("dst=")) {
            ip.push(v.parse::<Ipv4Addr>().ok()?);
        } else if let Some(v) = w
            .strip_prefix("sport=")
            .or_else(|| w.strip_prefix("dport="))
        {
            port.push(v.parse::<u16>().ok()?);
        } else if w == "[UNREPLIED]" {
            unreplied = true;
        } else if w == "[ASSURED]" {
            assured = true;
        }
    }
    if ip.len() != 4 || port.len() != 4 {
        return None;
    }
    Some(ConntrackUdp {
        timeout_s,
        orig_src: SocketAddrV4::new(ip[0], port[0]),
        orig_dst: SocketAddrV4::new(ip[1], port[1]),
        reply_src: SocketAddrV4::new(ip[2], port[2]),
        reply_dst: SocketAddrV4::new(ip[3], port[3]),
        unreplied,
        assured,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_snat_entry() {
        let t = "udp      17 27 src=192.0.2.10 dst=203.0.113.100 sport=5000 dport=4000 src=203.0.113.100 dst=203.0.113.1 sport=4000 dport=5000 [ASSURED] mark=0 use=1\n\
                 udp      17 3 src=192.0.2.10 dst=203.0.113.101 sport=5000 dport=4000 [UNREPLIED] src=203.0.113.101 dst=203.0.113.1 sport=4000 dport=23456 mark=0 use=1\n\
                 tcp      6 10 garbage\n";
        let e = parse_conntrack(t);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].mapped(), "203.0.113.1:5000".parse().unwrap());
        assert!(e[0].assured && !e[0].unreplied);
        assert_eq!(e[1].timeout_s, 3);
        assert!(e[1].unreplied);
        assert_eq!(e[1].mapped().port(), 23456);
    }
}
