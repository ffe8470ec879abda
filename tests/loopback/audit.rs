//! `natscope turn --audit` on loopback against the two other TURN servers
//! natscope tests with: its own embedded server and pion/turn v2.
//!
//! - The embedded server (a loopback and lab server) relays to loopback by
//!   design, and the audit proves it (the server answers the relayed
//!   Binding itself); it refuses 0.0.0.0, multicast, broadcast, RFC 1918
//!   and link-local peers with 403 — which it did not before the audit
//!   found it relaying (and delivering) to 0.0.0.0.
//! - pion/turn v2 refuses nothing: every range reported high with
//!   pion/turn's own remedy (a PermissionHandler), no quota.

use model::Secret;
use serde_json::Value;
use servers::turn::{TurnServer, TurnServerConfig};
use std::time::Duration;

fn audit(args: &[String]) -> (i32, Value, String) {
    let mut argv: Vec<String> = vec!["turn".into(), "--audit".into()];
    argv.extend(args.iter().cloned());
    // Data (Send, Connect) only to the server host: nothing leaves
    // loopback.
    argv.extend(
        [
            "--send-to",
            "loopback,unspecified,server-own",
            "--stage-timeout",
            "2s",
            "--format",
            "json",
        ]
        .map(String::from),
    );
    let out = crate::support::run_natscope(&argv, Duration::from_secs(60));
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rep = crate::support::json_of(&out);
    crate::support::assert_schema_valid(&rep);
    (out.status.code().unwrap_or(-1), rep, all)
}

fn outcome<'a>(rep: &'a Value, via: &str, ip: &str) -> &'a str {
    rep["audit"]["servers"][0]["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| {
            p["via"] == via
                && p["peer"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&format!("{ip}:")))
        })
        .and_then(|p| p["outcome"]["result"].as_str())
        .unwrap_or_else(|| panic!("no {via} to {ip}: {:#}", rep["audit"]))
}

fn finding<'a>(rep: &'a Value, id: &str) -> &'a Value {
    rep["diagnosis"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {:#}", rep["diagnosis"]["findings"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_server_relays_only_to_loopback_and_refuses_the_rest() {
    let server = TurnServer::start(TurnServerConfig::new(
        "natscope.test",
        "alice",
        Secret::new("audit-pw"),
    ))
    .await
    .expect("embedded server starts");
    let args = vec![
        format!("turn:{}?transport=udp", server.udp_addr),
        format!("turn:{}?transport=tcp", server.tcp_addr),
        "--username".into(),
        "alice".into(),
        "--password".into(),
        "audit-pw".into(),
    ];
    let (code, rep, all) = tokio::task::spawn_blocking(move || audit(&args))
        .await
        .expect("audit thread");
    assert!(!all.contains("audit-pw"), "the password leaked");
    assert_eq!(code, 1, "loopback relaying is high: {all}");
    // Before the peer policy, every one of these was granted (and 0.0.0.0
    // delivered to the host itself).
    for ip in [
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
    ] {
        assert_eq!(outcome(&rep, "create-permission", ip), "refused", "{ip}");
        assert_eq!(outcome(&rep, "channel-bind", ip), "refused", "{ip}");
    }
    assert_eq!(outcome(&rep, "create-permission", "127.0.0.1"), "accepted");
    let send = rep["audit"]["servers"][0]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["via"] == "send" && p["peer"].as_str().unwrap().starts_with("127.0.0.1:"))
        .expect("a Send to loopback");
    assert_eq!(
        send["delivered"], true,
        "the server answered the relayed Binding: {send:#}"
    );
    let f = finding(&rep, "audit-relays-loopback");
    assert_eq!(f["security"], "high");
    assert!(
        f["remedy"].as_str().unwrap().contains("embedded"),
        "the remedy names the embedded server: {f:#}"
    );
    // 100.64.0.0/10 stays open: the lab shows a carrier-grade NAT there.
    let private = finding(&rep, "audit-relays-private");
    let title = private["title"].as_str().unwrap();
    assert!(
        title.contains("100.64.0.0/10") && !title.contains("RFC 1918"),
        "{private:#}"
    );
    for id in ["audit-relays-link-local", "audit-relays-multicast"] {
        assert!(
            rep["diagnosis"]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["id"] != id),
            "{id} after the peer policy: {:#}",
            rep["diagnosis"]["findings"]
        );
    }
    server.shutdown();
}

#[test]
fn pion_turn_refuses_no_peer_and_gets_its_own_remedy() {
    let pion = crate::support::PionTurn::start("natscope.test", "alice", "pion-audit-pw");
    let (code, rep, all) = audit(&[
        format!("turn:127.0.0.1:{}", pion.addr.port()),
        "--username".into(),
        "alice".into(),
        "--password".into(),
        "pion-audit-pw".into(),
    ]);
    assert!(!all.contains("pion-audit-pw"), "the password leaked");
    assert_eq!(code, 1, "{all}");
    for ip in ["10.0.0.1", "169.254.169.254", "127.0.0.1"] {
        assert_eq!(outcome(&rep, "create-permission", ip), "accepted", "{ip}");
    }
    for id in [
        "audit-relays-private",
        "audit-relays-link-local",
        "audit-relays-loopback",
    ] {
        let f = finding(&rep, id);
        assert_eq!(f["security"], "high", "{f:#}");
        assert!(
            f["remedy"].as_str().unwrap().contains("PermissionHandler"),
            "pion/turn's own remedy: {f:#}"
        );
    }
    let q = &rep["audit"]["servers"][0]["quota"];
    assert_eq!(
        q["stopped_by"],
        Value::Null,
        "pion/turn has no quota: {q:#}"
    );
    assert_eq!(finding(&rep, "audit-no-quota")["security"], "medium");
}
