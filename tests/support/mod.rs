//! Shared helpers for natscope's integration tests.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod gobuild;
#[cfg(target_os = "linux")]
pub mod peer;

/// The natscope binary built for this test run.
pub fn natscope() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_natscope"));
    c.env("NO_COLOR", "1").env_remove("NATSCOPE_LOG");
    c
}

/// Runs natscope with `args` to completion (bounded by `limit`, as
/// [`run_bounded`]).
pub fn run_natscope<I, S>(args: I, limit: Duration) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = natscope();
    cmd.args(args);
    run_bounded(cmd, limit)
}

/// Runs `cmd` to completion, killing it after `limit` (then panics: a hang
/// is a bug). Both pipes are drained while it runs, so verbose output cannot
/// block the child. Never asserts on speed; the limit only prevents a stuck
/// test.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the natscope binary can be started");
    wait_bounded(child, limit)
}

/// Waits for a child started with piped stdout and stderr, as
/// [`run_bounded`] does: drains both, kills it (and panics) after `limit`.
pub fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Output {
    use std::io::Read;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("waiting on a child works") {
            Some(status) => break status,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                // The tails: at -vvv a log is far bigger than a screen.
                let tail = |v: Vec<u8>| {
                    String::from_utf8_lossy(&v[v.len().saturating_sub(4000)..]).into_owned()
                };
                panic!(
                    "natscope did not finish within {limit:?}\nstdout tail: {}\nstderr tail: {}",
                    tail(out.join().unwrap_or_default()),
                    tail(err.join().unwrap_or_default())
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Parses stdout as JSON, with the output in the panic message otherwise.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e})\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Validates a report against docs/natscope-3.schema.json.
pub fn assert_schema_valid(doc: &serde_json::Value) {
    let schema_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/natscope-3.schema.json"
    ))
    .expect("docs/natscope-3.schema.json exists");
    let schema: serde_json::Value = serde_json::from_str(&schema_text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}

/// A run's stdout as text.
pub fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run's stderr as text.
pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that a run exited with one of `codes` (a signal or a panic's 101
/// is never one); the failure names `context` and shows both streams.
#[track_caller]
pub fn assert_exit(out: &Output, codes: &[i32], context: &str) {
    let code = out.status.code();
    assert!(
        code.is_some_and(|c| codes.contains(&c)),
        "{context}: exit {code:?} (want one of {codes:?})\nstderr: {}\nstdout: {}",
        stderr_text(out),
        stdout_text(out)
    );
}

/// Stdout parsed as a natscope report, checked against the schema.
#[track_caller]
pub fn report_of(out: &Output) -> serde_json::Value {
    let doc = json_of(out);
    assert_schema_valid(&doc);
    doc
}

/// A fresh directory under the system temp dir, named for the test and
/// this process; removed (with its files) when dropped, panics included.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `natscope-{name}-{pid}` (`name` differs per test: tests of
    /// one binary run in parallel in one process).
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("natscope-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temp dir is writable");
        Self(dir)
    }

    /// `file` inside the directory (not created).
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// Writes `contents` to `file` inside the directory; returns its path.
    pub fn write(&self, file: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(file);
        std::fs::write(&path, contents).expect("the temp dir is writable");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on, over UDP and TCP on 127.0.0.1: the discard
/// port (9). natscope's tests bind only ephemeral ports (port 0), which are
/// never below 1024, so unlike "bind a free port, then drop it" no other
/// test can take it in between. Checked: a TCP connect is refused.
pub fn dead_port() -> u16 {
    const DISCARD: u16 = 9;
    match std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], DISCARD)),
        Duration::from_secs(1),
    ) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => DISCARD,
        other => panic!("127.0.0.1:{DISCARD} should be closed for the tests: {other:?}"),
    }
}

/// Builds a netns lab or fails the test loudly (never skips).
#[cfg(target_os = "linux")]
pub fn lab_up(spec: lab::LabSpec) -> lab::Lab {
    lab::Lab::up(spec).unwrap_or_else(|e| panic!("the NAT lab could not start: {e}"))
}

/// The pion/turn v2 test server (`tests/peers/pion-turn`), built once per
/// test binary from Debian's golang-go and golang-github-pion-turn.v2-dev
/// (GOPATH mode, offline), into this target's temp dir.
pub fn pion_turn_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pion-turn");
        gobuild::build_peer("pion-turn", &tmp, Duration::from_secs(300))
            .unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

/// A running pion/turn server on 127.0.0.1 (UDP, and TCP on the same
/// port), killed on drop.
pub struct PionTurn {
    child: std::process::Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl PionTurn {
    /// Starts it with long-term credentials `user`/`pass` in `realm`.
    pub fn start(realm: &str, user: &str, pass: &str) -> PionTurn {
        use std::io::BufRead;
        let mut child = Command::new(pion_turn_binary())
            .args([
                "-listen",
                "127.0.0.1:0",
                "-tcp",
                "-realm",
                realm,
                "-user",
                user,
                "-pass",
                pass,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("pion-turn starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        // The first line, read on a thread so that a server that never
        // prints cannot hang the test.
        let (tx, rx) = std::sync::mpsc::channel();
        // The thread then keeps reading: pion logs to stdout, and Go exits
        // on SIGPIPE when its stdout is closed.
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            for line in lines.map_while(Result::ok) {
                eprintln!("pion-turn: {line}");
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("pion-turn did not say where it listens: {line:?}")
            });
        PionTurn { child, addr }
    }
}

impl PionTurn {
    /// Whether the server is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for PionTurn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP echo bound inside `ns` (the socket keeps its namespace), served
/// by a thread of this process until `stop` is set. Counts datagrams.
pub struct LabEcho {
    /// Datagrams received so far.
    pub seen: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LabEcho {
    /// Starts the echo on `bind` in `ns`.
    pub fn start(lab: &lab::Lab, ns: lab::Ns, bind: std::net::SocketAddrV4) -> LabEcho {
        let sock = lab
            .run_in(ns, move || std::net::UdpSocket::bind(bind))
            .expect("the namespace exists")
            .expect("the echo port is free in a fresh namespace");
        sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .expect("a non-zero read timeout is valid");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicU32::new(0));
        let (s2, n2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    n2.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        LabEcho {
            stop,
            seen,
            thread: Some(thread),
        }
    }
}

impl Drop for LabEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
