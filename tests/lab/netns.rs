//! The NAT lab: real kernel NATs in network namespaces, checked against
//! ground truth that does not use natscope's STUN code (a plain UDP
//! reflector and the kernel's conntrack table).
//!
//! Needs root. Without it every test FAILS with the reason (never skips).
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use lab::{Lab, LabSpec, NatBehaviour, Ns};

const REFL_PORT: u16 = 4000;
const REFL_PORT2: u16 = 4001;
const CLIENT_PORT: u16 = 5000;
/// How long we wait for a datagram we expect (bounded; never hit on success).
const EXPECT: Duration = Duration::from_millis(1500);
/// How long we wait to conclude that a datagram was filtered.
const ABSENT: Duration = Duration::from_millis(400);

use crate::support::lab_up as up;

/// Brings a lab up with reflectors on the server (both addresses, two ports)
/// and on the peer host.
fn up_with_reflectors(spec: LabSpec) -> Lab {
    let lab = up(spec);
    let a = lab.addrs().clone();
    lab.start_reflector(
        Ns::Server,
        &[
            SocketAddrV4::new(a.server_primary, REFL_PORT).into(),
            SocketAddrV4::new(a.server_primary, REFL_PORT2).into(),
            SocketAddrV4::new(a.server_alternate, REFL_PORT).into(),
            SocketAddrV4::new(a.server_alternate, REFL_PORT2).into(),
        ],
    )
    .expect("server reflector");
    lab.start_reflector(Ns::Peer, &[SocketAddrV4::new(a.peer, REFL_PORT).into()])
        .expect("peer reflector");
    lab
}

/// A UDP socket bound inside a namespace (sockets keep their namespace when
/// used from another thread).
fn socket_in(lab: &Lab, ns: Ns, bind: SocketAddrV4) -> UdpSocket {
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
fn seen_by(sock: &UdpSocket, reflector: SocketAddrV4) -> SocketAddrV4 {
    sock.send_to(b"who", reflector).expect("send");
    let (text, src) =
        recv(sock, EXPECT).unwrap_or_else(|| panic!("no answer from reflector {reflector}"));
    assert_eq!(
        src,
        SocketAddr::V4(reflector),
        "answer from the wrong source"
    );
    text.parse()
        .unwrap_or_else(|_| panic!("reflector said {text:?}"))
}

/// The reflector on the server's primary address and first port.
fn primary(lab: &Lab) -> SocketAddrV4 {
    SocketAddrV4::new(lab.addrs().server_primary, REFL_PORT)
}

fn client_sock(lab: &Lab) -> UdpSocket {
    socket_in(
        lab,
        Ns::Client,
        SocketAddrV4::new(lab.addrs().client, CLIENT_PORT),
    )
}

/// The three mappings of one client socket: towards server primary:4000,
/// primary:4001 and alternate:4000.
fn mappings(lab: &Lab, sock: &UdpSocket) -> [SocketAddrV4; 3] {
    let a = lab.addrs();
    [
        seen_by(sock, primary(lab)),
        seen_by(sock, SocketAddrV4::new(a.server_primary, REFL_PORT2)),
        seen_by(sock, SocketAddrV4::new(a.server_alternate, REFL_PORT)),
    ]
}

/// The router's conntrack view of our client socket's flows.
fn router_mappings(lab: &Lab) -> Vec<(SocketAddrV4, SocketAddrV4)> {
    let client = SocketAddrV4::new(lab.addrs().client, CLIENT_PORT);
    lab.conntrack(Ns::Router)
        .expect("conntrack")
        .into_iter()
        .filter(|e| e.orig_src == client)
        .map(|e| (e.orig_dst, e.mapped()))
        .collect()
}

fn conntrack_mapping_to(lab: &Lab, dst: SocketAddrV4) -> SocketAddrV4 {
    router_mappings(lab)
        .into_iter()
        .find(|(d, _)| *d == dst)
        .map(|(_, m)| m)
        .unwrap_or_else(|| panic!("no conntrack entry towards {dst}"))
}

/// Which unsolicited sources reach a client that talked to primary:4000.
#[derive(Debug, PartialEq, Eq)]
struct Filtering {
    same_ip_other_port: bool,
    other_ip: bool,
    third_host: bool,
}

/// Endpoint-independent filtering (or none): everyone gets in.
const EIF: Filtering = Filtering {
    same_ip_other_port: true,
    other_ip: true,
    third_host: true,
};

/// Address-dependent filtering: only the contacted address gets in.
const ADF: Filtering = Filtering {
    same_ip_other_port: true,
    other_ip: false,
    third_host: false,
};

/// Address-and-port-dependent filtering: nothing unsolicited gets in.
const APDF: Filtering = Filtering {
    same_ip_other_port: false,
    other_ip: false,
    third_host: false,
};

/// After the client talked to primary:4000 only: which unsolicited sources
/// reach it?
fn filtering(lab: &Lab) -> Filtering {
    let a = lab.addrs().clone();
    // A port of its own, so no earlier flow of the test opened the filter.
    let sock = socket_in(
        lab,
        Ns::Client,
        SocketAddrV4::new(a.client, CLIENT_PORT + 1),
    );
    let contacted = primary(lab);
    let mapped = seen_by(&sock, contacted);
    let arrives = |from: SocketAddrV4| {
        sock.send_to(format!("from:{from}").as_bytes(), contacted)
            .expect("send");
        match recv(&sock, ABSENT) {
            Some((_, src)) => {
                assert_eq!(src, SocketAddr::V4(from), "unexpected source");
                true
            }
            None => false,
        }
    };
    let same_ip_other_port = arrives(SocketAddrV4::new(a.server_primary, REFL_PORT2));
    let other_ip = arrives(SocketAddrV4::new(a.server_alternate, REFL_PORT));
    // The third host was never contacted; it sends to the mapping directly.
    lab.run_in(Ns::Peer, move || {
        let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        s.send_to(b"unsolicited", mapped).expect("send");
    })
    .expect("peer thread");
    let third_host = match recv(&sock, ABSENT) {
        Some((text, src)) => {
            assert_eq!(text, "unsolicited");
            assert_eq!(src.ip(), std::net::IpAddr::V4(a.peer));
            true
        }
        None => false,
    };
    Filtering {
        same_ip_other_port,
        other_ip,
        third_host,
    }
}

fn assert_eim(lab: &Lab) {
    let sock = client_sock(lab);
    let m = mappings(lab, &sock);
    assert_eq!(m[0], m[1], "EIM: same mapping to another port");
    assert_eq!(m[0], m[2], "EIM: same mapping to another address");
    let a = lab.addrs();
    assert_eq!(*m[0].ip(), a.expected_public);
    let ct: Vec<_> = router_mappings(lab).into_iter().map(|(_, m)| m).collect();
    assert_eq!(ct.len(), 3, "three flows in conntrack: {ct:?}");
    assert!(ct.iter().all(|c| c.port() == ct[0].port()), "{ct:?}");
}

// ---------------------------------------------------------------- mapping

#[test]
fn eim_apdf_masquerade_keeps_one_mapping_and_filters_by_address_and_port() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::EimApdf));
    assert_eim(&lab);
    // masquerade keeps the source port when it is free.
    let m = conntrack_mapping_to(&lab, primary(&lab));
    assert_eq!(m, SocketAddrV4::new(lab.addrs().router_public, CLIENT_PORT));
    assert_eq!(filtering(&lab), APDF);
}

#[test]
fn apdm_gives_a_new_mapping_per_destination() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::Apdm));
    let sock = client_sock(&lab);
    let m = mappings(&lab, &sock);
    assert_ne!(m[0], m[1], "APDM: other port, other mapping");
    assert_ne!(m[0], m[2], "APDM: other address, other mapping");
    assert_ne!(m[1], m[2]);
    // The same destination keeps its mapping.
    let again = seen_by(&sock, primary(&lab));
    assert_eq!(again, m[0]);
    let a = lab.addrs();
    assert_eq!(
        conntrack_mapping_to(&lab, SocketAddrV4::new(a.server_alternate, REFL_PORT)),
        m[2]
    );
    drop(sock);
    assert_eq!(filtering(&lab), APDF);
}

#[test]
fn adm_keeps_the_mapping_per_destination_address() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::Adm));
    let sock = client_sock(&lab);
    let m = mappings(&lab, &sock);
    assert_eq!(m[0], m[1], "ADM: same address, same mapping");
    assert_ne!(m[0], m[2], "ADM: other address, other mapping");
    let peer = seen_by(&sock, SocketAddrV4::new(lab.addrs().peer, REFL_PORT));
    assert_ne!(peer, m[0]);
    assert_ne!(peer, m[2]);
    drop(sock);
    assert_eq!(filtering(&lab), APDF);
}

// -------------------------------------------------------------- filtering

#[test]
fn eim_eif_lets_everyone_in() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::EimEif));
    assert_eim(&lab);
    assert_eq!(filtering(&lab), EIF);
}

#[test]
fn eim_adf_lets_in_only_contacted_addresses() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::EimAdf));
    assert_eim(&lab);
    assert_eq!(filtering(&lab), ADF);
}

// ------------------------------------------------------- other behaviours

#[test]
fn routed_without_nat_shows_the_client_address_and_filters_nothing() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::None));
    let a = lab.addrs().clone();
    assert_eq!(a.expected_public, a.client);
    let sock = client_sock(&lab);
    let m = mappings(&lab, &sock);
    for x in m {
        assert_eq!(x, SocketAddrV4::new(a.client, CLIENT_PORT));
    }
    drop(sock);
    assert_eq!(filtering(&lab), EIF);
}

#[test]
fn udp_blocked_drops_udp_but_not_tcp() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::UdpBlocked));
    let a = lab.addrs().clone();
    let sock = client_sock(&lab);
    for _ in 0..3 {
        sock.send_to(b"who", (a.server_primary, REFL_PORT))
            .expect("send");
    }
    assert!(recv(&sock, ABSENT).is_none(), "UDP got through");
    // TCP still crosses the NAT.
    let listener = lab
        .run_in(Ns::Server, move || {
            TcpListener::bind(SocketAddrV4::new(a.server_primary, 4100))
        })
        .expect("thread")
        .expect("listen");
    let target = SocketAddr::V4(SocketAddrV4::new(a.server_primary, 4100));
    let connected = lab
        .run_in(Ns::Client, move || {
            TcpStream::connect_timeout(&target, EXPECT).map(|_| ())
        })
        .expect("thread");
    assert!(connected.is_ok(), "TCP blocked too: {connected:?}");
    let (_, peer) = listener.accept().expect("accept");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(a.router_public));
}

#[test]
fn double_nat_shows_the_carrier_address() {
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::DoubleNat));
    let a = lab.addrs().clone();
    assert_eq!(a.router_wan, Ipv4Addr::new(100, 64, 0, 2));
    assert!(lab.carrier_ns().is_some());
    let sock = client_sock(&lab);
    let m = seen_by(&sock, primary(&lab));
    assert_eq!(*m.ip(), a.router_public);
    // The CPE translated to its 100.64/10 WAN address...
    let cpe = conntrack_mapping_to(&lab, primary(&lab));
    assert_eq!(*cpe.ip(), a.router_wan);
    // ...and the carrier translated that to the public address.
    let carrier: Vec<_> = lab
        .conntrack(Ns::Carrier)
        .expect("conntrack")
        .into_iter()
        .filter(|e| e.orig_src == cpe)
        .collect();
    assert_eq!(carrier.len(), 1, "{carrier:?}");
    assert_eq!(carrier[0].mapped(), m);
}

#[test]
fn hairpinning_on_and_off() {
    for on in [true, false] {
        let lab = up_with_reflectors(LabSpec::new(NatBehaviour::EimApdf).hairpin(on));
        let a = lab.addrs().clone();
        let sock = client_sock(&lab);
        let mapped = seen_by(&sock, primary(&lab));
        let second = socket_in(&lab, Ns::Client, SocketAddrV4::new(a.client_second, 6000));
        second.send_to(b"hairpin", mapped).expect("send");
        let got = recv(&sock, if on { EXPECT } else { ABSENT });
        if on {
            let (text, src) = got.expect("hairpinned datagram");
            assert_eq!(text, "hairpin");
            // It arrives from the public side, not from the LAN address.
            assert_eq!(src.ip(), std::net::IpAddr::V4(a.router_public));
            // And the answer goes back the same way.
            sock.send_to(b"back", src).expect("send");
            let (text, _) = recv(&second, EXPECT).expect("hairpin reply");
            assert_eq!(text, "back");
        } else {
            assert!(got.is_none(), "hairpinning happened while off: {got:?}");
        }
    }
}

#[test]
fn loss_drops_about_the_configured_share() {
    const N: usize = 200;
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::EimApdf).loss_percent(20));
    let sock = client_sock(&lab);
    let target = primary(&lab);
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
fn short_udp_timeout_expires_mappings() {
    let timeout = Duration::from_secs(2);
    // APDF: after the timeout the server can no longer reach the client.
    let lab = up(LabSpec::new(NatBehaviour::EimApdf).udp_timeout(timeout));
    let a = lab.addrs().clone();
    let server = socket_in(&lab, Ns::Server, SocketAddrV4::new(a.server_primary, 4500));
    let sock = client_sock(&lab);
    sock.send_to(b"hello", (a.server_primary, 4500))
        .expect("send");
    let (_, mapped) = recv(&server, EXPECT).expect("server got hello");
    let ct = conntrack_mapping_to(&lab, SocketAddrV4::new(a.server_primary, 4500));
    assert_eq!(SocketAddr::V4(ct), mapped);
    assert!(
        lab.conntrack(Ns::Router)
            .expect("conntrack")
            .iter()
            .all(|e| e.timeout_s <= 2)
    );
    server.send_to(b"early", mapped).expect("send");
    assert_eq!(recv(&sock, EXPECT).expect("before timeout").0, "early");
    std::thread::sleep(timeout + Duration::from_millis(1200));
    assert!(router_mappings(&lab).is_empty(), "entry outlived timeout");
    server.send_to(b"late", mapped).expect("send");
    assert!(recv(&sock, ABSENT).is_none(), "mapping outlived timeout");

    // APDM: a new flow after the timeout gets a new mapping.
    let lab = up_with_reflectors(LabSpec::new(NatBehaviour::Apdm).udp_timeout(timeout));
    let sock = client_sock(&lab);
    let target = primary(&lab);
    let first = seen_by(&sock, target);
    assert_eq!(seen_by(&sock, target), first, "changed within the timeout");
    std::thread::sleep(timeout + Duration::from_millis(1200));
    assert_ne!(seen_by(&sock, target), first, "same mapping after timeout");
}

// ----------------------------------------------------------------- coturn

#[test]
fn coturn_answers_with_rfc5780_other_address() {
    let lab = up(LabSpec::new(NatBehaviour::EimApdf));
    let info = lab.start_coturn(Default::default()).expect("coturn starts");
    let sock = client_sock(&lab);
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(b"lab-test-tx1");
    sock.send_to(&req, info.primary).expect("send");
    sock.set_read_timeout(Some(EXPECT)).expect("timeout");
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).expect("Binding response");
    assert!(n >= 20);
    assert_eq!(&buf[..2], &[0x01, 0x01], "Binding success");
    assert_eq!(&buf[8..20], &req[8..20]);
    // Walk the attributes looking for OTHER-ADDRESS (0x802C).
    let mut attrs = Vec::new();
    let mut i = 20;
    while i + 4 <= n {
        let t = u16::from_be_bytes([buf[i], buf[i + 1]]);
        let l = usize::from(u16::from_be_bytes([buf[i + 2], buf[i + 3]]));
        attrs.push(t);
        i += 4 + l.div_ceil(4) * 4;
    }
    assert!(attrs.contains(&0x802c), "no OTHER-ADDRESS: {attrs:x?}");
    assert!(attrs.contains(&0x0020), "no XOR-MAPPED-ADDRESS: {attrs:x?}");
}

// --------------------------------------------------------------- teardown

fn leftover(prefix: &str) -> Vec<String> {
    match std::fs::read_dir("/run/netns") {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{prefix}-")))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn teardown_leaves_nothing_behind_even_after_a_panic() {
    let lab = up(LabSpec::new(NatBehaviour::DoubleNat).hairpin(true));
    let prefix = lab.prefix().to_string();
    assert_eq!(leftover(&prefix).len(), 6);
    drop(lab);
    assert_eq!(leftover(&prefix), Vec::<String>::new());

    let mut prefix = String::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = up_with_reflectors(LabSpec::new(NatBehaviour::EimApdf));
        prefix = lab.prefix().to_string();
        lab.spawn(Ns::Server, &["sleep", "30"]).expect("spawn");
        lab.run_in(Ns::Client, || panic!("test closure panics"))
            .expect("unreachable");
    }));
    assert!(result.is_err(), "the panic propagated out of run_in");
    assert!(!prefix.is_empty());
    assert_eq!(leftover(&prefix), Vec::<String>::new());
}

#[test]
fn exec_runs_inside_the_namespace_and_names_are_parsed() {
    let lab = up(LabSpec::new(NatBehaviour::EimApdf));
    let out = lab
        .exec(
            Ns::Server,
            &["ip", "-4", "-o", "addr", "show", "dev", "eth0"],
        )
        .expect("exec");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("203.0.113.100/24"), "{text}");
    assert!(text.contains("203.0.113.101/24"), "{text}");
    for b in NatBehaviour::ALL {
        assert_eq!(NatBehaviour::parse(b.as_str()), Some(b));
    }
    for n in Ns::ALL {
        assert_eq!(Ns::parse(n.as_str()), Some(n));
    }
    assert!(matches!(
        lab.run_in(Ns::Carrier, || ()),
        Err(lab::LabError::NoSuchNamespace(Ns::Carrier))
    ));
}
