//! coturn's own client tools against `natscope serve`'s responder on real
//! kernel NATs (the netns lab): for every lab behaviour, natscope's RFC 5780
//! responder runs in the server namespace on 203.0.113.100 and
//! 203.0.113.101 (ports 3478/3479), and `turnutils_natdiscovery -m -f` and
//! `turnutils_stunclient` run in the client namespace. Their printed
//! verdicts are parsed and compared with the lab's ground truth.
//!
//! natdiscovery sends its mapping test III to the OTHER-ADDRESS of test II's
//! response (not test I's, as RFC 5780 §4.3 has it); natscope's responder
//! names the alternate address to every socket but the alternate itself, so
//! test III reaches (alternate IP, alternate port) and ADM is classified
//! right (asserted below: test III's answer came from there).
//!
//! One honest deviation, asserted as such (see docs/serve.md):
//! - turnutils_stunclient's second step is an unpadded RESPONSE-PORT
//!   request; natscope refuses it (the answer to another port would be
//!   larger than the request: amplification) and stunclient waits forever
//!   for it, so it runs under `timeout`. Its first step already printed the
//!   public address.
//!
//! Needs root and the `coturn` package. Without them every test FAILS with
//! the reason (never skips). Each test builds its own lab, so the tests run
//! in parallel.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, Ipv4Addr};

use lab::{Lab, LabSpec, NatBehaviour, Ns};
use servers::responder::{Responder, ResponderConfig};

/// How long turnutils_stunclient may wait for its refused second step.
const STUNCLIENT_SECS: &str = "2";
/// Hard bound on natdiscovery (it needs at most ≈ 4 × 3 s here).
const NATDISCOVERY_SECS: &str = "30";

/// An RFC 4787 behaviour as natdiscovery names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dep {
    /// "Endpoint Independent".
    Ei,
    /// "Address Dependent".
    Ad,
    /// "Address and Port Dependent".
    Apd,
}

/// What natdiscovery printed, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Discovery {
    /// "NAT with … Mapping!", when printed.
    mapping: Option<Dep>,
    /// "NAT with … Filtering!", when printed.
    filtering: Option<Dep>,
    /// "No NAT!" was printed (needs `-L`).
    no_nat: bool,
    /// "STUN receive timeout.." lines.
    timeouts: usize,
    /// "Response origin" addresses, in order of appearance (deduplicated
    /// per response block: natdiscovery prints test I's twice).
    origins: Vec<String>,
}

fn dep(text: &str) -> Option<Dep> {
    // Longest name first: "Address and Port Dependent" contains
    // "Address Dependent" only as a prefix word, but be explicit.
    if text.contains("Address and Port Dependent") {
        Some(Dep::Apd)
    } else if text.contains("Address Dependent") {
        Some(Dep::Ad)
    } else if text.contains("Endpoint Independent") {
        Some(Dep::Ei)
    } else {
        None
    }
}

fn parse_natdiscovery(out: &str) -> Discovery {
    let mut d = Discovery::default();
    let mut last_block_origin: Option<String> = None;
    for line in out.lines().map(str::trim) {
        if line.starts_with("RFC 5780 response") {
            last_block_origin = None;
        } else if let Some((_, addr)) = line.split_once("Response origin: : ") {
            let addr = addr.trim().to_string();
            if last_block_origin.as_deref() != Some(&addr) {
                d.origins.push(addr.clone());
            }
            last_block_origin = Some(addr);
        } else if line.starts_with("No NAT!") {
            d.no_nat = true;
        } else if line.starts_with("STUN receive timeout") {
            d.timeouts += 1;
        } else if line.starts_with("NAT with") && line.ends_with("Mapping!") {
            d.mapping = dep(line);
        } else if line.starts_with("NAT with") && line.ends_with("Filtering!") {
            d.filtering = dep(line);
        }
    }
    d
}

/// What natdiscovery must print for the lab's behaviour.
fn expected(nat: NatBehaviour) -> Discovery {
    let d = |mapping, filtering| Discovery {
        mapping: Some(mapping),
        filtering: Some(filtering),
        ..Discovery::default()
    };
    match nat {
        NatBehaviour::EimApdf | NatBehaviour::DoubleNat => d(Dep::Ei, Dep::Apd),
        NatBehaviour::Apdm => d(Dep::Apd, Dep::Apd),
        NatBehaviour::Adm => d(Dep::Ad, Dep::Apd),
        NatBehaviour::EimEif => d(Dep::Ei, Dep::Ei),
        NatBehaviour::EimAdf => d(Dep::Ei, Dep::Ad),
        NatBehaviour::None => Discovery {
            no_nat: true,
            ..d(Dep::Ei, Dep::Ei)
        },
        NatBehaviour::UdpBlocked => Discovery::default(),
    }
}

/// Starts natscope's responder on both server addresses, 3478/3479, with
/// rate limiting on (the default: natdiscovery sends a handful of
/// requests). Its sockets are bound inside the server namespace.
fn start_responder(lab: &Lab, rt: &tokio::runtime::Runtime) -> Responder {
    let a = lab.addrs().clone();
    let handle = rt.handle().clone();
    lab.run_in(Ns::Server, move || {
        let _guard = handle.enter();
        Responder::start(ResponderConfig {
            primary: IpAddr::V4(a.server_primary),
            alternate: Some(IpAddr::V4(a.server_alternate)),
            port: 3478,
            alt_port: 3479,
            tcp: false,
            ..ResponderConfig::default()
        })
    })
    .expect("server namespace")
    .expect("responder starts in the server namespace")
}

fn exec_text(lab: &Lab, argv: &[&str]) -> (Option<i32>, String) {
    let out = lab
        .exec(Ns::Client, argv)
        .unwrap_or_else(|e| panic!("{argv:?} cannot run in the client namespace: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// The "UDP reflexive addr" turnutils_stunclient printed, if any.
fn stunclient_reflexive(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.split_once("UDP reflexive addr: "))
        .map(|(_, a)| a.trim().to_string())
}

fn suite(nat: NatBehaviour) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let lab = match Lab::up(LabSpec::new(nat)) {
        Ok(lab) => lab,
        Err(e) => panic!("the NAT lab could not start: {e}"),
    };
    let responder = start_responder(&lab, &rt);
    let a = lab.addrs().clone();
    let client = a.client.to_string();
    let server = a.server_primary.to_string();
    let blocked = nat == NatBehaviour::UdpBlocked;

    // stunclient in parallel with natdiscovery (separate sockets): its
    // bounded wait overlaps natdiscovery's.
    let (sc_code, sc_text, nd_code, nd_text) = std::thread::scope(|s| {
        let sc = s.spawn(|| {
            exec_text(
                &lab,
                &[
                    "timeout",
                    STUNCLIENT_SECS,
                    "turnutils_stunclient",
                    "-p",
                    "3478",
                    "-L",
                    &client,
                    &server,
                ],
            )
        });
        let (nd_code, nd_text) = exec_text(
            &lab,
            &[
                "timeout",
                NATDISCOVERY_SECS,
                "turnutils_natdiscovery",
                "-m",
                "-f",
                "-p",
                "3478",
                "-L",
                &client,
                &server,
            ],
        );
        let (sc_code, sc_text) = sc.join().expect("stunclient thread");
        (sc_code, sc_text, nd_code, nd_text)
    });

    // natdiscovery: exits 0 whatever it found (also when UDP is blocked).
    assert_eq!(nd_code, Some(0), "natdiscovery {nat:?}:\n{nd_text}");
    let got = parse_natdiscovery(&nd_text);
    let want = expected(nat);
    assert_eq!(got.mapping, want.mapping, "mapping {nat:?}:\n{nd_text}");
    assert_eq!(
        got.filtering, want.filtering,
        "filtering {nat:?}:\n{nd_text}"
    );
    assert_eq!(got.no_nat, want.no_nat, "no-NAT {nat:?}:\n{nd_text}");
    let primary = format!("{}:3478", a.server_primary);
    match nat {
        NatBehaviour::UdpBlocked => {
            // Nothing answered: one timeout per section, no verdict at all.
            assert_eq!(got.timeouts, 2, "{nd_text}");
            assert!(got.origins.is_empty(), "{nd_text}");
        }
        NatBehaviour::Adm => {
            // Test III went to the alternate IP and port (the OTHER-ADDRESS
            // test II's answer named), so natdiscovery sees ADM.
            let test3 = format!("{}:3479", a.server_alternate);
            assert_eq!(got.origins.get(2), Some(&test3), "{nd_text}");
        }
        _ => {}
    }
    if !blocked {
        assert_eq!(got.origins.first(), Some(&primary), "{nd_text}");
    }

    // stunclient: its first answer names the public address (the router's
    // WAN address; the client itself without NAT).
    let reflexive = stunclient_reflexive(&sc_text);
    if blocked {
        assert_eq!(reflexive, None, "stunclient {nat:?}:\n{sc_text}");
        assert_eq!(responder.metrics().snapshot().requests, 0);
    } else {
        let reflexive = reflexive
            .as_deref()
            .unwrap_or_else(|| panic!("stunclient printed no address {nat:?}:\n{sc_text}"));
        let ip = reflexive
            .rsplit_once(':')
            .and_then(|(ip, _)| ip.parse::<Ipv4Addr>().ok());
        assert_eq!(
            ip,
            Some(a.expected_public),
            "stunclient {nat:?}:\n{sc_text}"
        );
        if nat != NatBehaviour::None {
            assert_eq!(a.expected_public, Ipv4Addr::new(203, 0, 113, 1));
        }
        // Its second step (unpadded RESPONSE-PORT) was refused, not lost.
        let m = responder.metrics().snapshot();
        assert!(m.amplification_refused >= 1, "{m:?}\n{sc_text}");
        assert_eq!(m.rate_limited, 0, "{m:?}");
    }
    // timeout(1) exits 124 when it had to stop the command.
    assert!(
        matches!(sc_code, Some(0) | Some(124)),
        "{sc_code:?}\n{sc_text}"
    );
    eprintln!("{nat:?}: natdiscovery {got:?}; stunclient {reflexive:?}");
}

#[test]
fn natdiscovery_eim_apdf() {
    suite(NatBehaviour::EimApdf);
}

#[test]
fn natdiscovery_apdm() {
    suite(NatBehaviour::Apdm);
}

#[test]
fn natdiscovery_adm() {
    suite(NatBehaviour::Adm);
}

#[test]
fn natdiscovery_eim_eif() {
    suite(NatBehaviour::EimEif);
}

#[test]
fn natdiscovery_eim_adf() {
    suite(NatBehaviour::EimAdf);
}

#[test]
fn natdiscovery_no_nat() {
    suite(NatBehaviour::None);
}

#[test]
fn natdiscovery_udp_blocked() {
    suite(NatBehaviour::UdpBlocked);
}

#[test]
fn parses_natdiscovery_output() {
    let text = "\
RFC 5780 response 1
0: : IPv4. Response origin: : 203.0.113.100:3478
0: : IPv4. Response origin: : 203.0.113.100:3478
No NAT! (Endpoint Independent Mapping)
RFC 5780 response 2
0: : IPv4. Response origin: : 203.0.113.101:3478
NAT with Endpoint Independent Mapping!
STUN receive timeout..
NAT with Address and Port Dependent Filtering!
";
    let d = parse_natdiscovery(text);
    assert_eq!(d.mapping, Some(Dep::Ei));
    assert_eq!(d.filtering, Some(Dep::Apd));
    assert!(d.no_nat);
    assert_eq!(d.timeouts, 1);
    assert_eq!(d.origins, ["203.0.113.100:3478", "203.0.113.101:3478"]);
    assert_eq!(dep("NAT with Address Dependent Filtering!"), Some(Dep::Ad));
}

/// A Binding request (RFC 8489) with transaction id `tid`.
fn binding(tid: [u8; 12]) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    m.extend_from_slice(&tid);
    m
}

/// Reads one STUN message from `s`; its transaction id and the IPv4
/// address of its XOR-MAPPED-ADDRESS.
fn read_answer(s: &mut std::net::TcpStream) -> ([u8; 12], Option<Ipv4Addr>) {
    use std::io::Read;
    let mut head = [0u8; 20];
    s.read_exact(&mut head).expect("an answer header");
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("an answer body");
    let tid: [u8; 12] = head[8..20].try_into().expect("12 bytes");
    let mut at = 0;
    let mut mapped = None;
    while at + 4 <= body.len() {
        let t = u16::from_be_bytes([body[at], body[at + 1]]);
        let l = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        if t == 0x0020 && l == 8 && at + 12 <= body.len() {
            let ip = u32::from_be_bytes(body[at + 8..at + 12].try_into().expect("4 bytes"));
            mapped = Some(Ipv4Addr::from(ip ^ 0x2112_a442));
        }
        at += 4 + l.div_ceil(4) * 4;
    }
    (tid, mapped)
}

/// `natscope serve`'s TCP limits through a real NAT (EIM/APDF, conntrack
/// tracking the connections): from behind it, a slow client trickling a
/// byte every 2 s of a message it never finishes is closed 10 s after its
/// first bytes, while a client pipelining requests split across writes
/// (its buffer never empty) keeps being answered, each answer naming the
/// NAT's public address.
#[test]
fn tcp_slow_client_closed_pipelining_client_served_behind_the_nat() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let lab = match Lab::up(LabSpec::new(NatBehaviour::EimApdf)) {
        Ok(lab) => lab,
        Err(e) => panic!("the NAT lab could not start: {e}"),
    };
    let a = lab.addrs().clone();
    let handle = rt.handle().clone();
    let responder = lab
        .run_in(Ns::Server, move || {
            let _guard = handle.enter();
            Responder::start(ResponderConfig {
                primary: IpAddr::V4(a.server_primary),
                port: 3478,
                ..ResponderConfig::default()
            })
        })
        .expect("server namespace")
        .expect("responder starts in the server namespace");
    let server = std::net::SocketAddr::from((lab.addrs().server_primary, 3478));
    let public = lab.addrs().expected_public;
    let (closed_after, answered) = lab
        .run_in(Ns::Client, move || {
            use std::io::{Read, Write};
            use std::time::{Duration, Instant};
            let wait = Some(Duration::from_secs(3));
            let mut slow = std::net::TcpStream::connect_timeout(&server, Duration::from_secs(3))
                .expect("slow client connects through the NAT");
            let mut good = std::net::TcpStream::connect_timeout(&server, Duration::from_secs(3))
                .expect("pipelining client connects through the NAT");
            good.set_read_timeout(wait).expect("timeout");
            slow.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            // A header announcing 400 bytes, sent 10 bytes then a byte at a time.
            let mut hdr = binding([1; 12]);
            hdr[2..4].copy_from_slice(&400u16.to_be_bytes());
            let started = Instant::now();
            slow.write_all(&hdr[..10]).expect("first bytes");
            let mut n = 0u8;
            let mut next_tid = || {
                n += 1;
                [n; 12]
            };
            let first = next_tid();
            good.write_all(&binding(first)[..10]).expect("write");
            let mut pending = (binding(first)[10..].to_vec(), first);
            let mut answered = 0;
            let mut at = 10;
            loop {
                std::thread::sleep(Duration::from_secs(2));
                assert!(
                    started.elapsed() < Duration::from_secs(14),
                    "slow client still open after 14 s"
                );
                let tid = next_tid();
                let q = binding(tid);
                let mut w = std::mem::take(&mut pending.0);
                w.extend_from_slice(&q[..10]);
                good.write_all(&w).expect("pipelining write");
                let (got, mapped) = read_answer(&mut good);
                assert_eq!(got, pending.1, "answer to the pending request");
                assert_eq!(mapped, Some(public), "mapped address is the NAT's");
                answered += 1;
                pending = (q[10..].to_vec(), tid);
                let mut b = [0u8; 1];
                let write_failed = slow.write_all(&[hdr.get(at).copied().unwrap_or(0)]).is_err();
                at += 1;
                let eof = matches!(slow.read(&mut b), Ok(0))
                    || matches!(slow.read(&mut b), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut);
                if write_failed || eof {
                    return (started.elapsed(), answered);
                }
            }
        })
        .expect("client namespace");
    assert!(
        closed_after >= std::time::Duration::from_secs(9),
        "closed after {closed_after:?}, before the 10 s deadline"
    );
    assert!(answered >= 4, "{answered} pipelined answers");
    // Both messages left unfinished are counted malformed: the slow
    // client's, and the pipelining client's last one (it hung up with it
    // started, when the closure returned).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut m = responder.metrics().snapshot();
    while m.malformed_dropped < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        m = responder.metrics().snapshot();
    }
    assert_eq!(m.tcp_accepted, 2, "{m:?}");
    assert_eq!(m.malformed_dropped, 2, "{m:?}");
    assert_eq!(m.success_responses, answered, "{m:?}");
    eprintln!("slow client closed after {closed_after:?}; {answered} pipelined answers");
}
