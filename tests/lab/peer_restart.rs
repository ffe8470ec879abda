//! #17: the rendezvous down or restarted in the middle of a `natscope peer`
//! session. Two real `natscope peer` processes (EIM/EIF on both sites: the
//! cheapest pair, every step connects) meet through `natscope serve
//! --rendezvous`, owned by the test and killed once the session is under
//! way; in the second test it is started again on the same address (and
//! knows no session).
//!
//! Both sides must end within a bound, exit 1, and write a report whose
//! `peer.failure` names the rendezvous (`rendezvous-unreachable` when it is
//! gone, `unknown-session` when it came back without the session) with a
//! remedy, keeping what was measured before the cut (both ICE policies,
//! the hole punch, this side's NAT verdict).
//!
//! Determinism: the peers reach the rendezvous through a small TCP relay in
//! the server namespace ([`Gate`]) that reads each request before passing
//! it on. The cut is at a protocol event, not after a time: when *both*
//! sides have sent their NAT verdict (`{"type":"nat"}`: each has then
//! ended both ICE runs, the hole punch and the TCP test with the other,
//! and still has to receive the other's verdict), the gate holds those two
//! requests, the rendezvous is killed (and started again), then the held
//! requests are dropped (down: the connection breaks, its retry is
//! refused) or passed on to the new rendezvous (restarted: `unknown
//! session`).
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lab::{Lab, LabSpec, NatBehaviour, Ns};

use crate::support::peer::{
    OwnedServe, RENDEZVOUS_PORT, in_ns, line, outcome, peer_argv, start_servers_owned,
};
use crate::support::{assert_schema_valid, lab_up as up};

/// `peer_argv`'s `--step-timeout`.
const STEP: Duration = Duration::from_secs(8);
/// Where the gate listens (the rendezvous is on [`RENDEZVOUS_PORT`]).
const GATE_PORT: u16 = 8479;
/// The signalling message the cut waits for: `{"type":"nat",…}` (this
/// side's NAT verdict, sent once every measurement is over), as it looks
/// JSON-escaped in a `send` body.
const CUT_AT: &[u8] = br#"\"type\":\"nat\""#;

/// What the gate does with the requests it holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Release {
    /// Not yet decided: hold them.
    Hold,
    /// Close their connections (and refuse new ones).
    Drop,
    /// Pass them on.
    Forward,
}

#[derive(Debug)]
struct GateState {
    /// Requests carrying [`CUT_AT`] seen (and held while `Hold`).
    seen: usize,
    /// When the first one came (the first side waits from then on, within
    /// its 5 s request timeout).
    first: Option<Instant>,
    /// How long the first one was held before the second came.
    held: Option<Duration>,
    release: Release,
    /// The first [`CUT_AT`] request no longer held after the cut: once
    /// the gate passed them all on.
    stopped: bool,
}

/// A TCP relay in front of the rendezvous, in the server namespace: one
/// thread per connection (each rendezvous call is one connection).
struct Gate {
    state: Arc<(Mutex<GateState>, Condvar)>,
}

impl Gate {
    fn start(lab: &Lab, listen: SocketAddr, upstream: SocketAddr) -> Gate {
        let state = Arc::new((
            Mutex::new(GateState {
                seen: 0,
                first: None,
                held: None,
                release: Release::Hold,
                stopped: false,
            }),
            Condvar::new(),
        ));
        let st = state.clone();
        // Threads started from a thread in the namespace are in it too.
        lab.run_in(Ns::Server, move || {
            let l = TcpListener::bind(listen).expect("the gate listens");
            l.set_nonblocking(true).expect("nonblocking");
            std::thread::spawn(move || accept_loop(l, upstream, st));
        })
        .expect("the server namespace");
        Gate { state }
    }

    /// Waits until `n` requests carrying [`CUT_AT`] are held.
    fn wait_seen(&self, n: usize, limit: Duration) -> bool {
        let (m, cv) = &*self.state;
        let g = m.lock().unwrap_or_else(|p| p.into_inner());
        let (g, _) = cv
            .wait_timeout_while(g, limit, |s| s.seen < n)
            .unwrap_or_else(|p| p.into_inner());
        g.seen >= n
    }

    /// How long the first side's request was held before the second came.
    fn held(&self) -> Duration {
        let g = self.state.0.lock().unwrap_or_else(|p| p.into_inner());
        g.held.unwrap_or_default()
    }

    fn release(&self, r: Release) {
        let (m, cv) = &*self.state;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        g.release = r;
        g.stopped = r == Release::Drop;
        cv.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.release(Release::Drop);
    }
}

fn accept_loop(l: TcpListener, upstream: SocketAddr, st: Arc<(Mutex<GateState>, Condvar)>) {
    loop {
        if st.0.lock().unwrap_or_else(|p| p.into_inner()).stopped {
            return; // the listener closes: connections are refused
        }
        match l.accept() {
            Ok((c, _)) => {
                let st = st.clone();
                std::thread::spawn(move || relay(c, upstream, st));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Reads one HTTP request (head and Content-Length body), bounded.
fn read_request(c: &mut TcpStream) -> Option<Vec<u8>> {
    let _ = c.set_nonblocking(false);
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(buf);
            }
        }
        if buf.len() > 256 * 1024 {
            return None;
        }
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn relay(mut c: TcpStream, upstream: SocketAddr, st: Arc<(Mutex<GateState>, Condvar)>) {
    let Some(req) = read_request(&mut c) else {
        return;
    };
    if req.windows(CUT_AT.len()).any(|w| w == CUT_AT) {
        let (m, cv) = &*st;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        g.seen += 1;
        match g.first {
            None => g.first = Some(Instant::now()),
            Some(t) => g.held = Some(t.elapsed()),
        }
        cv.notify_all();
        let (g, _) = cv
            .wait_timeout_while(g, Duration::from_secs(20), |s| s.release == Release::Hold)
            .unwrap_or_else(|p| p.into_inner());
        if g.release != Release::Forward {
            return; // dropped: the connection breaks
        }
    } else if st.0.lock().unwrap_or_else(|p| p.into_inner()).release == Release::Drop {
        return;
    }
    let Ok(mut up) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else {
        return; // the rendezvous is down: the connection breaks
    };
    if up.write_all(&req).is_err() {
        return;
    }
    let (Ok(mut c2), Ok(mut up2)) = (c.try_clone(), up.try_clone()) else {
        return;
    };
    let _ = c.set_read_timeout(None);
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut up2);
        let _ = up2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up, &mut c);
    let _ = c.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
    let _ = t.join();
}

fn drain(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut err = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    })
}

/// Waits for both, at most `limit` each from `since` (then kills them);
/// each one's exit status and how long after `since` it ended.
fn wait_both(
    mut children: [&mut Child; 2],
    since: Instant,
    limit: Duration,
) -> [(Option<ExitStatus>, Duration); 2] {
    let mut out = [(None, Duration::ZERO); 2];
    let mut done = [false; 2];
    while !(done[0] && done[1]) {
        for (i, c) in children.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            if let Ok(Some(st)) = c.try_wait() {
                out[i] = (Some(st), since.elapsed());
                done[i] = true;
            }
        }
        if since.elapsed() >= limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (i, c) in children.into_iter().enumerate() {
        if !done[i] {
            let _ = c.kill();
            let _ = c.wait();
            out[i].1 = since.elapsed();
        }
    }
    out
}

fn read_report(f: &Path, what: &str, logs: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(f)
        .unwrap_or_else(|e| panic!("no {what} report ({e}); logs:\n{logs}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the {what} report is not JSON: {e}"))
}

/// How the rendezvous goes away.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Killed, not started again.
    Down,
    /// Killed and started again on the same address (it knows no session).
    Restarted,
}

fn session_loses_its_rendezvous(cut: Cut) {
    let lab: Lab = up(LabSpec::new(NatBehaviour::EimEif).second_site(NatBehaviour::EimEif));
    let (mut s, serve) = start_servers_owned(&lab);
    let ip = lab.addrs().server_primary;
    let gate = Gate::start(
        &lab,
        SocketAddr::from((ip, GATE_PORT)),
        SocketAddr::from((ip, RENDEZVOUS_PORT)),
    );
    s.rendezvous = format!("http://{ip}:{GATE_PORT}");
    let dir = lab.workdir().to_path_buf();
    let (fa, fb): (PathBuf, PathBuf) = (dir.join("restart-a.json"), dir.join("restart-b.json"));

    let mut creator = in_ns(&lab, Ns::Client, &peer_argv(&s, &fa.to_string_lossy()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natscope peer (creator) starts");
    let mut err = std::io::BufReader::new(creator.stderr.take().expect("piped"));
    let mut code = None;
    let mut creator_head = String::new();
    let mut l = String::new();
    while std::io::BufRead::read_line(&mut err, &mut l).unwrap_or(0) > 0 {
        creator_head.push_str(&l);
        if let Some(rest) = l.trim().strip_prefix("natscope peer --rendezvous ") {
            code = rest.split_whitespace().nth(1).map(str::to_string);
            break;
        }
        l.clear();
    }
    let code = code.unwrap_or_else(|| {
        let _ = creator.kill();
        panic!("the creator printed no code: {creator_head}")
    });
    creator.stderr = None;
    let creator_log = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let mut argv = peer_argv(&s, &fb.to_string_lossy());
    argv.insert(4, code);
    let mut joiner = in_ns(&lab, Ns::Client2, &argv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natscope peer (joiner) starts");
    let joiner_log = drain(&mut joiner);
    let started = Instant::now();

    // Both sides' NAT verdict: every measurement is over on both sides.
    if !gate.wait_seen(2, Duration::from_secs(40)) {
        let _ = creator.kill();
        let _ = joiner.kill();
        panic!(
            "the session never reached the NAT verdicts on both sides:\ncreator:\n{creator_head}{}\njoiner:\n{}",
            creator_log.join().unwrap_or_default(),
            joiner_log.join().unwrap_or_default()
        );
    }
    let under_way = started.elapsed();
    let held = gate.held();
    // The restarted rendezvous, kept until the end (killed on drop).
    let mut _again = None;
    serve.kill();
    if cut == Cut::Restarted {
        _again = Some(OwnedServe::start(&lab, 2));
        gate.release(Release::Forward);
    } else {
        gate.release(Release::Drop);
    }
    let cut_at = Instant::now();

    // The bound. Each side is in its NAT verdict's send: down, the
    // connection breaks, its one retry (200 ms later) is refused, the
    // goodbye likewise, the close is refused at once; restarted, the new
    // rendezvous answers "unknown session" at once. No wait is left to a
    // timer, so both end well within one --step-timeout. (A rendezvous
    // that stalls instead of going away costs at most 5 s per try: 2 × 5 s
    // for the send, as much for the goodbye, 2 s for the close.)
    let [(sa, ta), (sb, tb)] = wait_both([&mut creator, &mut joiner], cut_at, STEP);
    let logs = format!(
        "creator:\n{creator_head}{}\njoiner:\n{}",
        creator_log.join().unwrap_or_default(),
        joiner_log.join().unwrap_or_default()
    );
    if std::env::var("NATSCOPE_PEER_KEEP").is_ok() {
        eprintln!("{logs}");
    }
    let label = match cut {
        Cut::Down => "rendezvous down",
        Cut::Restarted => "rendezvous restarted",
    };
    eprintln!(
        "{label}: under way after {:.2} s (the first verdict held {:.2} s); after the cut the creator ended in {:.2} s, the joiner in {:.2} s",
        under_way.as_secs_f64(),
        held.as_secs_f64(),
        ta.as_secs_f64(),
        tb.as_secs_f64()
    );
    for (who, st, t) in [("creator", sa, ta), ("joiner", sb, tb)] {
        let st = st.unwrap_or_else(|| {
            panic!(
                "{label}: the {who} did not end within {:.1} s of the cut:\n{logs}",
                t.as_secs_f64()
            )
        });
        assert_eq!(
            st.code(),
            Some(1),
            "{label}: the {who}'s exit: {st}\n{logs}"
        );
    }

    let (ra, rb) = (
        read_report(&fa, "creator", &logs),
        read_report(&fb, "joiner", &logs),
    );
    let want = match cut {
        Cut::Down => "rendezvous-unreachable",
        Cut::Restarted => "unknown-session",
    };
    for (who, r) in [("creator", &ra), ("joiner", &rb)] {
        assert_schema_valid(r);
        let f = &r["peer"]["failure"];
        eprintln!("  {who}: {}", line(r));
        assert_eq!(f["kind"], want, "{label}: the {who}: {}\n{logs}", line(r));
        let message = f["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("rendezvous"),
            "{label}: the {who}'s failure does not name the rendezvous: {message}"
        );
        // Words, not a Rust Debug string.
        for debug in ["{", "}", "Error", "Os ", "kind:"] {
            assert!(
                !message.contains(debug),
                "{label}: the {who}'s failure reads like Debug output: {message}"
            );
        }
        assert!(
            f["remedy"].as_str().is_some_and(|s| s.len() > 10),
            "{label}: the {who}'s failure has no remedy: {f}"
        );
        // What was measured before the cut is kept: both ICE runs, both
        // sides connected, with their path and throughput; the hole punch;
        // this side's NAT verdict (the other side's never came).
        for policy in ["direct", "relay-allowed"] {
            // `reversed` for direct: connected, and the hole punch found
            // the full-cone sides reachable unsolicited.
            assert!(
                ["success", "reversed"].contains(&outcome(r, policy)),
                "{label}: the {who}'s {policy}: {}",
                line(r)
            );
            let p = r["peer"]["policies"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["policy"] == policy))
                .expect("the policy");
            assert!(p["path"].is_string(), "{label}: {p}");
            assert!(p["ice"].is_object(), "{label}: {p}");
            assert!(p["throughput_kbps"].is_number(), "{label}: {p}");
        }
        assert!(r["peer"]["remote_version"].is_string(), "{label}");
        assert_eq!(
            r["peer"]["holepunch"]["status"],
            "tested",
            "{label}: the {who}: {}",
            line(r)
        );
        assert!(
            r["peer"]["local_nat"].is_object(),
            "{label}: the {who}'s own NAT verdict is lost: {}",
            line(r)
        );
        let check = r["summary"]["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["id"] == "peer-session"))
            .expect("the peer-session check");
        assert_eq!(check["status"], "failed", "{label}: {check}");
    }
    assert_eq!(ra["peer"]["session"], rb["peer"]["session"], "{label}");
    assert!(ra["peer"]["session"].is_string(), "{label}");
}

#[test]
fn peer_rendezvous_killed_mid_session() {
    session_loses_its_rendezvous(Cut::Down);
}

#[test]
fn peer_rendezvous_restarted_mid_session() {
    session_loses_its_rendezvous(Cut::Restarted);
}
