//! The rendezvous end to end: the real binary `natscope serve --rendezvous`
//! on 127.0.0.1 (plain HTTP and TLS), two `probe::rendezvous` clients
//! meeting through it, its metrics, a restart mid-session, a peer that never
//! comes. Only loopback is ever contacted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use probe::rendezvous::{
    Rendezvous, RendezvousError, RendezvousOptions, RendezvousSide, RendezvousUrl, SessionCode,
};
use tokio::time::Instant;

use crate::support::TempDir;

/// A running `natscope serve --rendezvous`; killed on drop.
struct Serve {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    rendezvous: String,
    metrics: String,
}

impl Serve {
    /// Starts serve with the rendezvous on `listen` (127.0.0.1:0 for any
    /// port) and `extra` arguments; waits for its startup lines.
    fn start(listen: &str, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_natscope"))
            .args(["serve", "--primary", "127.0.0.1", "--port", "0", "--no-tcp"])
            .args(["--metrics", "127.0.0.1:0", "--rendezvous"])
            .args(["--rendezvous-listen", listen])
            .args(extra)
            .env("NO_COLOR", "1")
            // Every debug line, to check that no secret is logged.
            .env("NATSCOPE_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("natscope serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut serve = Serve {
            child,
            lines,
            stderr: Some(stderr),
            rendezvous: String::new(),
            metrics: String::new(),
        };
        let mut seen = Vec::new();
        while serve.rendezvous.is_empty() || serve.metrics.is_empty() {
            let line = serve
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("serve printed no rendezvous line; so far: {seen:#?}"));
            seen.push(line.clone());
            if let Some(u) = line.strip_prefix("rendezvous ") {
                serve.rendezvous = u.to_owned();
            }
            if let Some(u) = line.strip_prefix("metrics http://") {
                serve.metrics = u.trim_end_matches("/metrics").to_owned();
            }
        }
        serve
    }

    fn url(&self) -> RendezvousUrl {
        self.rendezvous.parse().expect("serve prints a usable URL")
    }

    fn addr(&self) -> SocketAddr {
        let u = self.url();
        SocketAddr::new(u.host().parse().expect("an IP"), u.port())
    }

    /// `GET /metrics`.
    fn metrics(&self) -> String {
        let mut s = std::net::TcpStream::connect(&self.metrics).expect("metrics endpoint");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a timeout");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body
    }

    /// Stops it with SIGTERM; its stderr.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let start = std::time::Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "serve ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counter or gauge `name` (with its labels) in a metrics page.
fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
}

fn soon(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_meet_exchange_in_order_and_the_server_counts() {
    let serve = Serve::start("127.0.0.1:0", &[]);
    let url = serve.url();
    assert!(!url.is_https());
    let opts = RendezvousOptions::default();

    let (mut creator, code) = Rendezvous::open(&url, &opts).await.expect("open");
    assert_eq!(creator.side(), RendezvousSide::Creator);
    // A peer that is not there yet.
    let early = creator
        .wait_joined(Instant::now() + Duration::from_millis(300))
        .await;
    assert!(
        matches!(early, Err(RendezvousError::PeerNeverCame { .. })),
        "{early:?}"
    );
    // The code as a human would type it.
    let typed: SessionCode = code
        .to_string()
        .to_uppercase()
        .replace('-', " ")
        .parse()
        .expect("the grouped form reads back");
    let joining = {
        let url = url.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Rendezvous::join(&url, &typed, &opts).await
        })
    };
    creator.wait_joined(soon(10)).await.expect("joined");
    let mut joiner = joining.await.expect("task").expect("join");
    assert_eq!(joiner.side(), RendezvousSide::Joiner);
    assert_eq!(creator.session_label(), joiner.session_label());
    joiner.wait_joined(soon(1)).await.expect("a joiner is in");

    // A third party with the code cannot take a side.
    let third = Rendezvous::join(&url, &code, &opts).await;
    assert!(
        matches!(third, Err(RendezvousError::SessionFull { .. })),
        "{third:?}"
    );
    // A wrong code.
    let wrong: SessionCode = "zzzz-zzzz-zzzz-zzzz".parse().expect("well-formed");
    let e = Rendezvous::join(&url, &wrong, &opts)
        .await
        .expect_err("unknown");
    assert!(matches!(e, RendezvousError::UnknownSession { .. }), "{e:?}");
    assert!(!e.to_string().contains("zzzz"), "{e}");

    // Both ways, in order, each once; a full-size message; a long poll
    // that a message ends early.
    let sdp = "v=0\r\n".repeat(wire::rendezvous::MAX_MESSAGE / 5);
    for m in ["candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", &sdp] {
        creator.send(m).await.expect("send");
    }
    assert_eq!(
        joiner.recv(soon(5)).await.expect("first"),
        "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"
    );
    assert_eq!(joiner.recv(soon(5)).await.expect("second"), sdp);
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let got = creator.recv(soon(10)).await;
        (creator, got, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    joiner.send("answer").await.expect("send back");
    let (mut creator, got, took) = waiting.await.expect("task");
    assert_eq!(got.expect("the answer"), "answer");
    assert!(
        took < Duration::from_secs(3),
        "the long poll was not woken: {took:?}"
    );
    // Nothing more: a bounded wait.
    let started = Instant::now();
    let none = joiner
        .recv(Instant::now() + Duration::from_millis(800))
        .await;
    assert!(
        matches!(none, Err(RendezvousError::Timeout { .. })),
        "{none:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Too large is refused before it is sent.
    let big = "x".repeat(wire::rendezvous::MAX_MESSAGE + 1);
    assert!(matches!(
        creator.send(&big).await,
        Err(RendezvousError::TooLarge { .. })
    ));

    let page = serve.metrics();
    assert_eq!(
        metric(&page, "natscope_rendezvous_sessions_opened_total"),
        1.0
    );
    assert_eq!(
        metric(&page, "natscope_rendezvous_sessions_joined_total"),
        1.0
    );
    assert_eq!(metric(&page, "natscope_rendezvous_sessions"), 1.0);
    assert_eq!(metric(&page, "natscope_rendezvous_messages_total"), 3.0);
    assert_eq!(
        metric(
            &page,
            "natscope_rendezvous_refusals_total{reason=\"session-full\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &page,
            "natscope_rendezvous_refusals_total{reason=\"unknown-session\"}"
        ),
        1.0
    );

    // Closing ends it for both.
    joiner.close().await;
    let after = creator.recv(soon(5)).await;
    assert!(
        matches!(after, Err(RendezvousError::Closed { .. })),
        "{after:?}"
    );
    let page = serve.metrics();
    assert_eq!(
        metric(&page, "natscope_rendezvous_sessions_closed_total"),
        1.0
    );
    assert_eq!(metric(&page, "natscope_rendezvous_sessions"), 0.0);
    creator.close().await;

    // The code never shows in what serve said, metrics included.
    let stderr = serve.stop();
    let canonical = code.to_string().replace('-', "");
    for text in [&stderr, &page] {
        assert!(!text.contains(&canonical), "the code leaked:\n{text}");
        assert!(
            !text.contains(&code.to_string()),
            "the code leaked:\n{text}"
        );
    }
    assert!(stderr.contains("rendezvous stopped"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_rendezvous_forgets_the_session_and_says_so() {
    let serve = Serve::start("127.0.0.1:0", &[]);
    let url = serve.url();
    let addr = serve.addr();
    let opts = RendezvousOptions {
        request_timeout: Duration::from_secs(2),
        ..RendezvousOptions::default()
    };
    let (mut creator, code) = Rendezvous::open(&url, &opts).await.expect("open");
    let mut joiner = Rendezvous::join(&url, &code, &opts).await.expect("join");
    creator.send("before").await.expect("send");
    assert_eq!(joiner.recv(soon(5)).await.expect("recv"), "before");
    drop(serve);

    // Down: named as unreachable, quickly.
    let started = Instant::now();
    let down = creator.send("while down").await;
    assert!(
        matches!(down, Err(RendezvousError::Unreachable { .. })),
        "{down:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Back on the same address, with no memory of the session.
    let again = Serve::start(&addr.to_string(), &[]);
    let e = joiner.recv(soon(5)).await.expect_err("forgotten");
    assert!(matches!(e, RendezvousError::UnknownSession { .. }), "{e:?}");
    assert!(e.to_string().contains("restarted"), "{e}");
    assert!(!e.remedy().is_empty());
    let e = Rendezvous::join(&url, &code, &opts)
        .await
        .expect_err("forgotten");
    assert!(matches!(e, RendezvousError::UnknownSession { .. }), "{e:?}");
    drop(again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_certificate_and_the_extra_ca() {
    let pki = servers::pki::Pki::generate(&["localhost", "127.0.0.1"]).expect("a PKI");
    let dir = TempDir::new("rendezvous-tls");
    let cert = dir.write("chain.pem", &pki.chain_pem);
    let key = dir.write("key.pem", &pki.key_pem);
    let ca = dir.write("ca.pem", &pki.ca_pem);
    let serve = Serve::start(
        "127.0.0.1:0",
        &[
            "--rendezvous-cert",
            cert.to_str().expect("utf-8 path"),
            "--rendezvous-key",
            key.to_str().expect("utf-8 path"),
        ],
    );
    let url = serve.url();
    assert!(url.is_https(), "{url}");
    // Without the CA: a named TLS failure.
    let e = Rendezvous::open(&url, &RendezvousOptions::default())
        .await
        .expect_err("an unknown CA");
    assert!(matches!(e, RendezvousError::Tls { .. }), "{e:?}");
    let opts = RendezvousOptions {
        extra_ca: Some(ca),
        ..RendezvousOptions::default()
    };
    let named: RendezvousUrl = format!("https://localhost:{}", url.port())
        .parse()
        .expect("valid");
    let (mut creator, code) = Rendezvous::open(&named, &opts)
        .await
        .expect("open over TLS");
    let mut joiner = Rendezvous::join(&url, &code, &opts)
        .await
        .expect("join over TLS");
    creator.wait_joined(soon(5)).await.expect("joined");
    joiner.send("over tls").await.expect("send");
    assert_eq!(creator.recv(soon(5)).await.expect("recv"), "over tls");
    creator.close().await;
    joiner.close().await;
    // Plain HTTP to the TLS port is not answered as the API.
    let plain: RendezvousUrl = format!("http://127.0.0.1:{}", url.port())
        .parse()
        .expect("valid");
    let e = Rendezvous::open(&plain, &RendezvousOptions::default())
        .await
        .expect_err("not TLS");
    assert!(
        matches!(
            e,
            RendezvousError::Unreachable { .. } | RendezvousError::Malformed { .. }
        ),
        "{e:?}"
    );
}
