//! IPv6 in the netns lab (issue #20): for every `Ipv6Behaviour`, ground
//! truth from the lab's independent UDP reflector only (no natscope STUN
//! code): the source address and port a server sees, and which unsolicited
//! sources reach the client after it sent to one reflector. Dual stack: the
//! IPv4 NAT behaves as before next to it. Plus natscope's responder and
//! coturn listening on the server's IPv6 addresses (checked with a raw
//! Binding request written here), IPv6 loss and the second site.
//!
//! Every address is in 2001:db8::/32 (IPv6) or the lab's documentation
//! ranges, inside namespaces this test made; nothing touches the root
//! namespace. Needs root. Without it every test FAILS with the reason
//! (never skips).
#![cfg(target_os = "linux")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lab::{CoturnOptions, Ipv6Behaviour, Lab, LabAddrs, LabError, LabSpec, NatBehaviour, Ns};

use crate::support::lab_up as up;

const REFL_PORT: u16 = 4000;
const REFL_PORT2: u16 = 4001;
const CLIENT_PORT: u16 = 5000;
/// How long we wait for a datagram we expect (bounded; never hit on success).
const EXPECT: Duration = Duration::from_millis(1500);
/// How long we wait to conclude that a datagram was filtered.
const ABSENT: Duration = Duration::from_millis(400);

/// One address family's view of the lab.
#[derive(Debug, Clone, Copy)]
struct Family {
    client: IpAddr,
    primary: IpAddr,
    alternate: IpAddr,
    peer: IpAddr,
}

fn need6(a: Option<Ipv6Addr>, what: &str) -> IpAddr {
    IpAddr::V6(a.unwrap_or_else(|| panic!("an IPv6 lab has {what}")))
}

fn v6(a: &LabAddrs) -> Family {
    Family {
        client: need6(a.client6, "client6"),
        primary: need6(a.server6_primary, "server6_primary"),
        alternate: need6(a.server6_alternate, "server6_alternate"),
        peer: need6(a.peer6, "peer6"),
    }
}

fn v4(a: &LabAddrs) -> Family {
    Family {
        client: a.client.into(),
        primary: a.server_primary.into(),
        alternate: a.server_alternate.into(),
        peer: a.peer.into(),
    }
}

/// A lab with reflectors on the server (both addresses, ports 4000 and
/// 4001) and on the peer (port 4000), IPv4 and IPv6.
fn up_with_reflectors(spec: LabSpec) -> Lab {
    let lab = up(spec);
    let a = lab.addrs().clone();
    let mut server = Vec::new();
    let mut peer = Vec::new();
    for f in [v4(&a), v6(&a)] {
        for ip in [f.primary, f.alternate] {
            server.extend([
                SocketAddr::new(ip, REFL_PORT),
                SocketAddr::new(ip, REFL_PORT2),
            ]);
        }
        peer.push(SocketAddr::new(f.peer, REFL_PORT));
    }
    let bound = lab
        .start_reflector(Ns::Server, &server)
        .expect("server reflector");
    assert_eq!(bound, server);
    lab.start_reflector(Ns::Peer, &peer)
        .expect("peer reflector");
    lab
}

/// A UDP socket bound inside a namespace (it keeps its namespace).
fn socket_in(lab: &Lab, ns: Ns, bind: SocketAddr) -> UdpSocket {
    lab.run_in(ns, move || UdpSocket::bind(bind))
        .expect("namespace thread")
        .unwrap_or_else(|e| panic!("bind {bind}: {e}"))
}

/// Waits up to `wait` for one datagram: (payload text, source).
fn recv(sock: &UdpSocket, wait: Duration) -> Option<(String, SocketAddr)> {
    sock.set_read_timeout(Some(wait)).expect("set timeout");
    let mut buf = [0u8; 1500];
    let (n, src) = sock.recv_from(&mut buf).ok()?;
    Some((String::from_utf8_lossy(&buf[..n]).into_owned(), src))
}

/// Asks a reflector what source it saw us as.
fn seen_by(sock: &UdpSocket, reflector: SocketAddr) -> SocketAddr {
    sock.send_to(b"who", reflector).expect("send");
    let (text, src) =
        recv(sock, EXPECT).unwrap_or_else(|| panic!("no answer from reflector {reflector}"));
    assert_eq!(src, reflector, "answer from the wrong source");
    text.parse()
        .unwrap_or_else(|_| panic!("reflector said {text:?}"))
}

/// Which unsolicited sources reach a client endpoint that talked to the
/// server's primary address, port 4000, only.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Filtering {
    /// The same address, port 4001 (reflector `from:`).
    same_ip_other_port: bool,
    /// The server's other address, port 4000 (reflector `from:`).
    other_ip: bool,
    /// The peer host, never contacted, sending to the seen endpoint.
    third_host: bool,
}

const ALL_IN: Filtering = Filtering {
    same_ip_other_port: true,
    other_ip: true,
    third_host: true,
};
const ADDRESS_DEPENDENT: Filtering = Filtering {
    same_ip_other_port: true,
    other_ip: false,
    third_host: false,
};
const EXACT_ENDPOINT_ONLY: Filtering = Filtering {
    same_ip_other_port: false,
    other_ip: false,
    third_host: false,
};

/// The filtering truth for family `f`, on a client port of its own (so no
/// earlier flow of the test opened anything): returns the endpoint the
/// reflector saw and what got in.
fn filtering(lab: &Lab, f: Family, port: u16) -> (SocketAddr, Filtering) {
    let sock = socket_in(lab, Ns::Client, SocketAddr::new(f.client, port));
    let contacted = SocketAddr::new(f.primary, REFL_PORT);
    let mapped = seen_by(&sock, contacted);
    let arrives = |from: SocketAddr| {
        sock.send_to(format!("from:{from}").as_bytes(), contacted)
            .expect("send");
        match recv(&sock, ABSENT) {
            Some((text, src)) => {
                assert_eq!(src, from, "unexpected source ({text})");
                true
            }
            None => false,
        }
    };
    let same_ip_other_port = arrives(SocketAddr::new(f.primary, REFL_PORT2));
    let other_ip = arrives(SocketAddr::new(f.alternate, REFL_PORT));
    // The third host was never contacted; it sends to the seen endpoint.
    let peer = f.peer;
    lab.run_in(Ns::Peer, move || {
        let s = UdpSocket::bind(SocketAddr::new(peer, 0)).expect("bind");
        s.send_to(b"unsolicited", mapped).expect("send");
    })
    .expect("peer thread");
    let third_host = match recv(&sock, ABSENT) {
        Some((text, src)) => {
            assert_eq!(text, "unsolicited");
            assert_eq!(src.ip(), peer);
            true
        }
        None => false,
    };
    (
        mapped,
        Filtering {
            same_ip_other_port,
            other_ip,
            third_host,
        },
    )
}

/// What the server sees of the client over family `f`: the main address
/// bound explicitly on port 5000 (towards three reflectors: the mapping is
/// the same), and a socket bound to the unspecified address (the default
/// source address must be the main one).
fn source_seen(lab: &Lab, f: Family) -> SocketAddr {
    let sock = socket_in(lab, Ns::Client, SocketAddr::new(f.client, CLIENT_PORT));
    let seen = seen_by(&sock, SocketAddr::new(f.primary, REFL_PORT));
    for other in [
        SocketAddr::new(f.primary, REFL_PORT2),
        SocketAddr::new(f.alternate, REFL_PORT),
    ] {
        assert_eq!(seen_by(&sock, other), seen, "towards {other}");
    }
    let any = match f.client {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let unbound = socket_in(lab, Ns::Client, SocketAddr::new(any, 0));
    let seen_any = seen_by(&unbound, SocketAddr::new(f.primary, REFL_PORT));
    assert_eq!(seen_any.ip(), seen.ip(), "default source address");
    seen
}

fn behaviour_truth(b: Ipv6Behaviour, want: Filtering) {
    let started = Instant::now();
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::EimApdf).ipv6(b));
    let a = lab.addrs().clone();
    let expected = a
        .expected_public6
        .expect("an IPv6 lab has expected_public6");
    let seen = source_seen(&lab, v6(&a));
    assert_eq!(seen.ip(), IpAddr::V6(expected), "{b:?}: source address");
    assert_eq!(seen.port(), CLIENT_PORT, "{b:?}: source port preserved");
    let (mapped, got) = filtering(&lab, v6(&a), CLIENT_PORT + 1);
    assert_eq!(mapped, SocketAddr::new(expected.into(), CLIENT_PORT + 1));
    assert_eq!(got, want, "{b:?}: filtering");
    eprintln!(
        "{b:?}: server sees {seen}; filtering {got:?}; {:?}",
        started.elapsed()
    );
}

#[test]
fn routed_is_seen_as_itself_and_lets_everyone_in() {
    behaviour_truth(Ipv6Behaviour::Routed, ALL_IN);
}

#[test]
fn firewall_apdf_lets_in_only_the_contacted_endpoint() {
    behaviour_truth(Ipv6Behaviour::FirewallApdf, EXACT_ENDPOINT_ONLY);
}

#[test]
fn firewall_adf_lets_in_the_contacted_address_from_any_port() {
    behaviour_truth(Ipv6Behaviour::FirewallAdf, ADDRESS_DEPENDENT);
}

#[test]
fn firewall_eif_lets_everyone_in_once_the_client_sent() {
    behaviour_truth(Ipv6Behaviour::FirewallEif, ALL_IN);
    // And nobody before: an endpoint that never sent stays closed.
    let lab =
        up_with_reflectors(LabSpec::new(NatBehaviour::EimApdf).ipv6(Ipv6Behaviour::FirewallEif));
    let f = v6(lab.addrs());
    let sock = socket_in(&lab, Ns::Client, SocketAddr::new(f.client, CLIENT_PORT + 2));
    let to = SocketAddr::new(f.client, CLIENT_PORT + 2);
    lab.run_in(Ns::Peer, move || {
        let s = UdpSocket::bind(SocketAddr::new(f.peer, 0)).expect("bind");
        s.send_to(b"unsolicited", to).expect("send");
    })
    .expect("peer thread");
    assert_eq!(
        recv(&sock, ABSENT),
        None,
        "EIF let in an endpoint that never sent"
    );
}

#[test]
fn nat66_translates_to_the_router_and_lets_in_only_the_contacted_endpoint() {
    behaviour_truth(Ipv6Behaviour::Nat66, EXACT_ENDPOINT_ONLY);
}

#[test]
fn npt_translates_the_prefix_statelessly_and_lets_everyone_in() {
    behaviour_truth(Ipv6Behaviour::Npt, ALL_IN);
}

#[test]
fn dual_stack_ipv4_still_nats_as_before() {
    let lab =
        up_with_reflectors(LabSpec::new(NatBehaviour::EimApdf).ipv6(Ipv6Behaviour::FirewallApdf));
    let a = lab.addrs().clone();
    // IPv4: masquerade to the router's public address, port kept, APDF.
    let seen4 = source_seen(&lab, v4(&a));
    assert_eq!(seen4, SocketAddr::new(a.router_public.into(), CLIENT_PORT));
    let (_, f4) = filtering(&lab, v4(&a), CLIENT_PORT + 1);
    assert_eq!(f4, EXACT_ENDPOINT_ONLY, "IPv4 filtering");
    // IPv6 next to it: the client's own address, firewalled.
    let seen6 = source_seen(&lab, v6(&a));
    assert_eq!(seen6.ip(), need6(a.client6, "client6"));
    let (_, f6) = filtering(&lab, v6(&a), CLIENT_PORT + 1);
    assert_eq!(f6, EXACT_ENDPOINT_ONLY, "IPv6 filtering");
    // The IPv4 table is exactly the IPv4-only lab's.
    let listed = lab
        .exec(Ns::Router, &["nft", "list", "table", "ip", "natlab"])
        .expect("nft runs in the router");
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("masquerade"), "{text}");
    assert_eq!(
        lab::ruleset(lab.spec(), &a),
        lab::ruleset(
            &LabSpec::new(NatBehaviour::EimApdf),
            &LabAddrs::for_spec(&LabSpec::new(NatBehaviour::EimApdf))
        )
    );
}

#[test]
fn loss_applies_to_ipv6_forwarding() {
    const N: usize = 200;
    let lab = up_with_reflectors(
        LabSpec::new(NatBehaviour::EimApdf)
            .ipv6(Ipv6Behaviour::Routed)
            .loss_percent(20),
    );
    let f = v6(lab.addrs());
    let sock = socket_in(&lab, Ns::Client, SocketAddr::new(f.client, CLIENT_PORT));
    let target = SocketAddr::new(f.primary, REFL_PORT);
    for _ in 0..N {
        sock.send_to(b"x", target).expect("send");
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while got < N && Instant::now() < deadline {
        if recv(&sock, ABSENT).is_none() {
            break;
        }
        got += 1;
    }
    // Round trip through 20% loss each way: 64% expected (128 of 200).
    assert!((90..=165).contains(&got), "{got} of {N} answered");
}

#[test]
fn second_site_gets_ipv6_with_the_same_behaviour() {
    let lab = up_with_reflectors(
        LabSpec::new(NatBehaviour::EimApdf)
            .second_site(NatBehaviour::EimApdf)
            .ipv6(Ipv6Behaviour::Npt),
    );
    let a = lab.addrs().clone();
    let c2 = need6(a.client2_6, "client2_6");
    let public2 = need6(a.expected_public2_6, "expected_public2_6");
    assert_eq!(c2, "2001:db8:3::20".parse::<IpAddr>().expect("literal"));
    assert_eq!(
        public2,
        "2001:db8:4:fffe::20".parse::<IpAddr>().expect("literal")
    );
    let refl = SocketAddr::new(v6(&a).primary, REFL_PORT);
    let s2 = socket_in(&lab, Ns::Client2, SocketAddr::new(c2, 6000));
    assert_eq!(seen_by(&s2, refl), SocketAddr::new(public2, 6000));
    // Site to site through both translators (no filtering with NPTv6).
    let s1 = socket_in(
        &lab,
        Ns::Client,
        SocketAddr::new(v6(&a).client, CLIENT_PORT),
    );
    s1.send_to(b"hello site 2", SocketAddr::new(public2, 6000))
        .expect("send");
    let (text, from) = recv(&s2, EXPECT).expect("site 1 reaches site 2");
    assert_eq!(text, "hello site 2");
    let public1 = need6(a.expected_public6, "expected_public6");
    assert_eq!(from, SocketAddr::new(public1, CLIENT_PORT));
}

#[test]
fn ipv6_with_a_carrier_nat_is_refused() {
    let err = Lab::up(LabSpec::new(NatBehaviour::DoubleNat).ipv6(Ipv6Behaviour::Routed))
        .expect_err("IPv6 behind a carrier NAT is not built");
    assert!(
        matches!(&err, LabError::InvalidSpec(m) if m.contains("carrier")),
        "{err}"
    );
}

// ------------------------------------------------ servers on IPv6

const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const RESPONSE_ORIGIN: u16 = 0x802b;
const OTHER_ADDRESS: u16 = 0x802c;
const CHANGE_IP: u32 = 0x4;

/// A Binding request (RFC 8489), with CHANGE-REQUEST (RFC 5780) when
/// `change` is not 0.
fn binding_request(txid: [u8; 12], change: u32) -> Vec<u8> {
    let attr_len: u16 = if change == 0 { 0 } else { 8 };
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&attr_len.to_be_bytes());
    m.extend_from_slice(&COOKIE);
    m.extend_from_slice(&txid);
    if change != 0 {
        m.extend_from_slice(&[0x00, 0x03, 0x00, 0x04]);
        m.extend_from_slice(&change.to_be_bytes());
    }
    m
}

/// The address attributes of a Binding success response for `txid`
/// (XOR-MAPPED-ADDRESS decoded), by attribute type.
fn response_addrs(resp: &[u8], txid: [u8; 12]) -> Vec<(u16, SocketAddr)> {
    assert!(
        resp.len() >= 20 && resp[..2] == [0x01, 0x01],
        "not a Binding success: {resp:?}"
    );
    assert_eq!(resp[8..20], txid, "another transaction");
    let mut out = Vec::new();
    let mut i = 20;
    while i + 4 <= resp.len() {
        let t = u16::from_be_bytes([resp[i], resp[i + 1]]);
        let len = usize::from(u16::from_be_bytes([resp[i + 2], resp[i + 3]]));
        let Some(v) = resp.get(i + 4..i + 4 + len) else {
            break;
        };
        if matches!(t, XOR_MAPPED_ADDRESS | RESPONSE_ORIGIN | OTHER_ADDRESS) && len >= 8 {
            let xor = t == XOR_MAPPED_ADDRESS;
            let mut key = COOKIE.to_vec();
            key.extend_from_slice(&txid);
            let mut port = u16::from_be_bytes([v[2], v[3]]);
            let mut raw = v[4..].to_vec();
            if xor {
                port ^= 0x2112;
                raw.iter_mut().zip(&key).for_each(|(b, k)| *b ^= k);
            }
            let ip = match (v[1], raw.len()) {
                (1, 4) => IpAddr::from([raw[0], raw[1], raw[2], raw[3]]),
                (2, 16) => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&raw);
                    IpAddr::from(b)
                }
                other => panic!("attribute {t:#x}: bad family/length {other:?}"),
            };
            out.push((t, SocketAddr::new(ip, port)));
        }
        i += 4 + len.div_ceil(4) * 4;
    }
    out
}

/// Sends a Binding request from `sock` and returns (answer source, address
/// attributes), or `None` when nothing came within twice [`ABSENT`] (an
/// answer takes well under a millisecond here).
fn binding(
    sock: &UdpSocket,
    server: SocketAddr,
    change: u32,
    n: u8,
) -> Option<(SocketAddr, Vec<(u16, SocketAddr)>)> {
    let txid = [
        b'n', b'a', b't', b's', b'c', b'o', b'p', b'e', b'-', b'v', b'6', n,
    ];
    sock.send_to(&binding_request(txid, change), server)
        .expect("send");
    sock.set_read_timeout(Some(ABSENT * 2))
        .expect("set timeout");
    let mut buf = [0u8; 1500];
    let (len, src) = sock.recv_from(&mut buf).ok()?;
    Some((src, response_addrs(&buf[..len], txid)))
}

fn attr(addrs: &[(u16, SocketAddr)], t: u16) -> Option<SocketAddr> {
    addrs.iter().find(|(k, _)| *k == t).map(|(_, a)| *a)
}

fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn natscope_responder_answers_on_both_families() {
    let rt = server_runtime();
    let lab = up(LabSpec::new(NatBehaviour::EimApdf).ipv6(Ipv6Behaviour::FirewallApdf));
    let a = lab.addrs().clone();
    let _r4 = lab.start_responder(rt.handle()).expect("IPv4 responder");
    let _r6 = lab.start_responder6(rt.handle()).expect("IPv6 responder");
    for (f, public) in [
        (v6(&a), need6(a.expected_public6, "expected_public6")),
        (v4(&a), a.router_public.into()),
    ] {
        let sock = socket_in(&lab, Ns::Client, SocketAddr::new(f.client, CLIENT_PORT));
        let server = SocketAddr::new(f.primary, 3478);
        let (src, attrs) = binding(&sock, server, 0, 1)
            .unwrap_or_else(|| panic!("no answer from the responder on {server}"));
        assert_eq!(src, server);
        assert_eq!(
            attr(&attrs, XOR_MAPPED_ADDRESS),
            Some(SocketAddr::new(public, CLIENT_PORT)),
            "{attrs:?}"
        );
        assert_eq!(
            attr(&attrs, OTHER_ADDRESS),
            Some(SocketAddr::new(f.alternate, 3479)),
            "{attrs:?}"
        );
    }
    let v4_only = up(LabSpec::new(NatBehaviour::EimApdf));
    assert!(matches!(
        v4_only.start_responder6(rt.handle()),
        Err(LabError::NoIpv6 { .. })
    ));
}

/// A UDP echo on `bind` in `ns` that records its sources, until dropped.
struct Echo6 {
    sources: Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    count: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo6 {
    fn start(lab: &Lab, ns: Ns, bind: SocketAddr) -> Echo6 {
        let sock = socket_in(lab, ns, bind);
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a non-zero read timeout is valid");
        let sources = Arc::new(std::sync::Mutex::new(Vec::new()));
        let count = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, c2, st2) = (sources.clone(), count.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    c2.fetch_add(1, Ordering::Relaxed);
                    s2.lock().unwrap_or_else(|p| p.into_inner()).push(from);
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        Echo6 {
            sources,
            count,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo6 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// coturn with `CoturnOptions::ipv6`: RFC 5780 answers on IPv6 come back in
/// IPv6 (OTHER-ADDRESS the other IPv6 address) when queried on its first
/// IPv6 address, and it relays over IPv6 (checked with coturn's own
/// `turnutils_uclient -x`, to an echo on the peer host).
#[test]
fn coturn_listens_and_relays_on_ipv6() {
    // Routed and unfiltered on IPv6, so that CHANGE-REQUEST answers arrive.
    let lab = up(LabSpec::new(NatBehaviour::None).ipv6(Ipv6Behaviour::Routed));
    let a = lab.addrs().clone();
    let info = lab
        .start_coturn(CoturnOptions {
            ipv6: true,
            ..CoturnOptions::default()
        })
        .unwrap_or_else(|e| panic!("coturn did not start in the lab: {e}"));
    let p6 = SocketAddr::V6(info.primary6.expect("coturn listens on IPv6"));
    let alt6 = SocketAddr::V6(
        info.alternate6
            .expect("coturn listens on both IPv6 addresses"),
    );
    let f = v6(&a);
    let sock = socket_in(&lab, Ns::Client, SocketAddr::new(f.client, CLIENT_PORT));
    let (src, attrs) = binding(&sock, p6, 0, 1).expect("coturn answers on IPv6");
    assert_eq!(src, p6);
    assert_eq!(
        attr(&attrs, XOR_MAPPED_ADDRESS),
        Some(SocketAddr::new(f.client, CLIENT_PORT))
    );
    assert_eq!(
        attr(&attrs, OTHER_ADDRESS),
        Some(SocketAddr::new(alt6.ip(), 3479)),
        "{attrs:?}"
    );
    let (src, _) = binding(&sock, p6, CHANGE_IP, 2).expect("change-IP answered");
    assert_eq!(src, SocketAddr::new(alt6.ip(), 3478), "change-IP source");
    // The quirk of the field notes, per family: on its second address
    // coturn names that same address as OTHER-ADDRESS (printed, not
    // asserted: a fixed coturn must not fail this test).
    let on_alt = binding(&sock, alt6, 0, 3).expect("coturn answers on its second IPv6 address");
    eprintln!("coturn queried on {alt6}: {:?}", on_alt.1);
    // IPv4 next to it is unchanged: OTHER-ADDRESS is IPv4.
    let s4 = socket_in(
        &lab,
        Ns::Client,
        SocketAddr::new(a.client.into(), CLIENT_PORT),
    );
    let (_, attrs4) = binding(&s4, info.primary.into(), 0, 4).expect("coturn answers on IPv4");
    assert_eq!(
        attr(&attrs4, OTHER_ADDRESS),
        Some(SocketAddr::new(a.server_alternate.into(), 3479)),
        "{attrs4:?}"
    );

    // Relay over IPv6 to the peer host.
    let peer = SocketAddr::new(f.peer, 7000);
    let echo = Echo6::start(&lab, Ns::Peer, peer);
    let peer_ip = f.peer.to_string();
    let server_ip = f.primary.to_string();
    let out = lab
        .exec(
            Ns::Client,
            &[
                "timeout",
                "20",
                "turnutils_uclient",
                "-x",
                "-c",
                "-n",
                "5",
                "-m",
                "1",
                "-u",
                "natscope",
                "-w",
                "natscope-secret",
                "-e",
                &peer_ip,
                "-r",
                "7000",
                &server_ip,
            ],
        )
        .expect("turnutils_uclient runs in the client namespace");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "turnutils_uclient failed:\n{log}");
    assert!(
        echo.count.load(Ordering::Relaxed) > 0,
        "nothing relayed:\n{log}"
    );
    let sources = echo
        .sources
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        sources.iter().all(|s| s.ip() == f.primary),
        "relayed from {sources:?}, not the IPv6 relay address {}",
        f.primary
    );
    assert!(log.contains("tot_recv_msgs=5"), "{log}");

    let v4_only = up(LabSpec::new(NatBehaviour::EimApdf));
    assert!(matches!(
        v4_only.start_coturn(CoturnOptions {
            ipv6: true,
            ..CoturnOptions::default()
        }),
        Err(LabError::NoIpv6 { .. })
    ));
}
