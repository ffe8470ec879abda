//! `natscope turn --audit` against coturn in the lab's server namespace,
//! run from the client namespace behind a real kernel NAT (EIM/APDF).
//!
//! - Permissive coturn (allow-loopback-peers, no denied-peer-ip, as
//!   Debian's default relays to private ranges): every open range is
//!   reported high, and a Binding request relayed to a UDP listener on
//!   127.0.0.1 inside the server namespace is proved twice: natscope saw
//!   the answer come back through the relay, and the listener counted it.
//!   0.0.0.0 is refused (coturn 4.6.1 has the CVE-2020-26262 fix).
//! - Hardened coturn (denied-peer-ip for every range, no-multicast-peers,
//!   user-quota, no-software-attribute, TLS on 443, REST credentials):
//!   every peer refused, nothing reached the listener, the quota stopped at
//!   486, an expired REST credential refused; exit 0 with no finding above
//!   low.
//!
//! Needs root. Without it the test FAILS with the reason (never skips).

use crate::support::{LabEcho, lab_up};
use lab::{CoturnOptions, LabSpec, NatBehaviour, Ns};
use serde_json::Value;
use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;

const PASSWORD: &str = "natscope-secret";
const SECRET: &str = "audit-rest-secret";
/// The categories the tests let Send and Connect reach: the server host
/// (loopback, 0.0.0.0) and its own lab addresses.
pub(crate) const SEND_TO: &str = "loopback,unspecified,server-own";

/// Runs the audit in the client namespace; (exit code, report, all output).
fn audit(lab: &lab::Lab, args: &[String]) -> (i32, Value, String) {
    let mut argv: Vec<&str> = vec![env!("CARGO_BIN_EXE_natscope"), "turn", "--audit"];
    argv.extend(args.iter().map(String::as_str));
    // Data (Send, Connect) only to peers on the server host: a test sends
    // nothing to addresses outside loopback and the lab's own ranges.
    argv.extend([
        "--send-to",
        SEND_TO,
        "--stage-timeout",
        "2s",
        "--format",
        "json",
    ]);
    let out = lab
        .exec(Ns::Client, &argv)
        .expect("natscope runs in the client namespace");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let rep: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    crate::support::assert_schema_valid(&rep);
    (
        out.status.code().unwrap_or(-1),
        rep,
        format!("{stdout}\n{stderr}"),
    )
}

fn peers<'a>(rep: &'a Value, via: &str) -> Vec<&'a Value> {
    rep["audit"]["servers"][0]["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .filter(|p| p["via"] == via)
        .collect()
}

fn outcome<'a>(rep: &'a Value, via: &str, peer_ip: &str) -> &'a str {
    peers(rep, via)
        .into_iter()
        .find(|p| {
            p["peer"]
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("{peer_ip}:")))
        })
        .and_then(|p| p["outcome"]["result"].as_str())
        .unwrap_or_else(|| panic!("no {via} attempt for {peer_ip}"))
}

fn finding<'a>(rep: &'a Value, id: &str) -> Option<&'a Value> {
    rep["diagnosis"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
}

#[test]
fn permissive_coturn_open_ranges_are_reported_and_loopback_delivery_is_proved() {
    let lab = lab_up(LabSpec::new(NatBehaviour::EimApdf));
    let turn = lab
        .start_coturn(CoturnOptions {
            extra_config: if std::env::var_os("NATSCOPE_TEST_DUMP").is_some() {
                vec!["allow-loopback-peers".into(), "verbose".into()]
            } else {
                vec!["allow-loopback-peers".into()]
            },
            ..CoturnOptions::default()
        })
        .unwrap_or_else(|e| panic!("coturn did not start in the lab: {e}"));
    // A listener on the server host's loopback, where no public client
    // should ever reach.
    let listener = LabEcho::start(
        &lab,
        Ns::Server,
        SocketAddrV4::new([127, 0, 0, 1].into(), turn.primary.port()),
    );
    let (code, rep, all) = audit(
        &lab,
        &[
            format!("turn:{}", turn.primary),
            format!("turns:{}", turn.tls),
            "--username".into(),
            "natscope".into(),
            "--password".into(),
            PASSWORD.into(),
            "--ca".into(),
            turn.cert_pem.display().to_string(),
        ],
    );
    assert!(!all.contains(PASSWORD), "the password leaked");
    assert_eq!(code, 1, "a high-level finding exits 1: {all}");

    // The relay reached 127.0.0.1 inside the server namespace: natscope saw
    // the answer, and the listener saw the request.
    let send = peers(&rep, "send")
        .into_iter()
        .find(|p| {
            p["peer"]
                .as_str()
                .is_some_and(|s| s.starts_with("127.0.0.1:"))
        })
        .unwrap_or_else(|| panic!("no Send to 127.0.0.1: {:#}", rep["audit"]));
    if std::env::var_os("NATSCOPE_TEST_DUMP").is_some() {
        for p in rep["audit"]["servers"][0]["peers"].as_array().unwrap() {
            eprintln!("{} {} {} {}", p["via"], p["peer"], p["outcome"], p["ms"]);
        }
        eprintln!(
            "{}",
            std::fs::read_to_string(lab.workdir().join("turnserver.log")).unwrap_or_default()
        );
    }
    assert_eq!(send["delivered"], true, "{send:#}");
    assert!(
        listener.seen.load(Ordering::Relaxed) >= 1,
        "the listener on the server's loopback got nothing"
    );

    // Nothing was sent to the ranges outside the lab.
    for ip in ["10.0.0.1", "169.254.169.254", "224.0.0.1"] {
        assert_eq!(outcome(&rep, "send", ip), "not-tested", "{ip}");
        assert_eq!(outcome(&rep, "connect", ip), "not-tested", "{ip}");
    }

    // Each open range is reported, at its level, with its coturn fix.
    for ip in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
    ] {
        assert_eq!(outcome(&rep, "create-permission", ip), "accepted", "{ip}");
        assert_eq!(outcome(&rep, "channel-bind", ip), "accepted", "{ip}");
    }
    // CVE-2020-26262 is fixed in coturn 4.6.1: 0.0.0.0 refused.
    assert_eq!(outcome(&rep, "create-permission", "0.0.0.0"), "refused");
    for (id, level, fix) in [
        ("audit-relays-loopback", "high", "allow-loopback-peers"),
        (
            "audit-relays-private",
            "high",
            "denied-peer-ip=10.0.0.0-10.255.255.255",
        ),
        (
            "audit-relays-link-local",
            "high",
            "denied-peer-ip=169.254.0.0-169.254.255.255",
        ),
        ("audit-relays-multicast", "low", "no-multicast-peers"),
        ("audit-no-quota", "medium", "user-quota"),
        ("audit-no-tls-443", "medium", "tls-listening-port=443"),
        ("audit-software-version", "low", "no-software-attribute"),
    ] {
        let f = finding(&rep, id)
            .unwrap_or_else(|| panic!("no {id} finding: {:#}", rep["diagnosis"]["findings"]));
        assert_eq!(f["security"], level, "{f:#}");
        assert!(
            f["remedy"].as_str().unwrap_or_default().contains(fix),
            "{id}'s remedy should name {fix}: {f:#}"
        );
    }
    let loopback = finding(&rep, "audit-relays-loopback").expect("checked above");
    assert!(
        loopback["title"]
            .as_str()
            .unwrap_or_default()
            .contains("came back"),
        "the proof is in the title: {loopback:#}"
    );
    // The transport rows: UDP, TLS given; TLS on 443 implied and refused.
    let transports = rep["audit"]["servers"][0]["transports"]
        .as_array()
        .expect("transports");
    assert!(
        transports
            .iter()
            .any(|t| t["transport"] == "tls" && t["given"] == false && t["port"] == 443),
        "{transports:#?}"
    );
    let quota = &rep["audit"]["servers"][0]["quota"];
    assert_eq!(quota["stopped_by"], Value::Null, "{quota:#}");
    assert_eq!(quota["released"], quota["granted"].as_u64().unwrap() - 1);
    let check = rep["summary"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "turn-audit")
        .expect("turn-audit check");
    assert_eq!(check["status"], "failed");
}

#[test]
fn hardened_coturn_refuses_every_peer_and_the_audit_passes() {
    let lab = lab_up(LabSpec::new(NatBehaviour::EimApdf));
    let mut extra: Vec<String> = [
        "0.0.0.0-0.255.255.255",
        "10.0.0.0-10.255.255.255",
        "100.64.0.0-100.127.255.255",
        "127.0.0.0-127.255.255.255",
        "169.254.0.0-169.254.255.255",
        "172.16.0.0-172.31.255.255",
        "192.168.0.0-192.168.255.255",
        "::1",
        "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    .iter()
    .map(|r| format!("denied-peer-ip={r}"))
    .collect();
    let server_ip = lab.addrs().server_primary;
    extra.push(format!("denied-peer-ip={server_ip}"));
    extra.push(format!("denied-peer-ip={}", lab.addrs().server_alternate));
    extra.extend(
        [
            "no-multicast-peers",
            "user-quota=4",
            "no-software-attribute",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let turn = lab
        .start_coturn(CoturnOptions {
            extra_config: extra,
            rest_secret: Some(SECRET.into()),
            tls_port: 443,
            ..CoturnOptions::default()
        })
        .unwrap_or_else(|e| panic!("coturn did not start in the lab: {e}"));
    let listener = LabEcho::start(
        &lab,
        Ns::Server,
        SocketAddrV4::new([127, 0, 0, 1].into(), turn.primary.port()),
    );
    let (code, rep, all) = audit(
        &lab,
        &[
            format!("turn:{}", turn.primary),
            format!("turns:{}", turn.tls),
            "--turn-secret".into(),
            SECRET.into(),
            "--ca".into(),
            turn.cert_pem.display().to_string(),
        ],
    );
    assert!(!all.contains(SECRET), "the REST secret leaked");
    assert_eq!(code, 0, "a hardened server passes: {all}");
    for via in ["create-permission", "channel-bind", "connect"] {
        for p in peers(&rep, via) {
            let r = p["outcome"]["result"].as_str().unwrap_or_default();
            assert!(
                r == "refused" || r == "not-tested",
                "{via} to {} was not refused: {p:#}",
                p["peer"]
            );
        }
    }
    assert!(peers(&rep, "send").is_empty(), "nothing to send to");
    assert_eq!(
        listener.seen.load(Ordering::Relaxed),
        0,
        "something reached the server's loopback"
    );
    for f in rep["diagnosis"]["findings"].as_array().unwrap() {
        assert!(
            f["security"] == "low" || f["security"].is_null(),
            "a hardened server has no finding above low: {f:#}"
        );
    }
    let server = &rep["audit"]["servers"][0];
    assert_eq!(server["quota"]["stopped_by"], 486, "{:#}", server["quota"]);
    assert_eq!(
        server["rest"]["expired_accepted"], false,
        "{:#}",
        server["rest"]
    );
    assert_eq!(server["software"], Value::Null, "no-software-attribute");
    assert!(
        server["transports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["transport"] == "tls" && t["port"] == 443 && !t["relayed"].is_null()),
        "TLS on 443 works: {:#}",
        server["transports"]
    );
}
