//! The page server of `natscope browser`: one page that runs natscope's
//! WebRTC checks in the user's own browser, and the signalling channel the
//! page reports back on.
//!
//! - The page is at `/s/TOKEN` (128 random bits, hex). The link loads
//!   once: its answer sets the session cookie (another 128 random bits,
//!   `HttpOnly`, `SameSite=Strict`, `Path=/api`), and a second load gets
//!   403. The URL may be seen by other local users (a browser's command
//!   line); the cookie is not. Every API call needs the cookie — checked
//!   before its body is read — or gets 403; refusals are counted
//!   ([`PageServer::refused`]). Secrets are compared in constant time.
//! - The page then calls `POST /api/config` once for the iceServers (with
//!   their credentials: only over this channel, never in a URL) and posts
//!   each step's result to `/api/<step>`. Every step becomes a
//!   [`PageEvent`] on a channel; whoever runs the session (`probe::browser`)
//!   answers it. Bodies are bounded ([`crate::http::MAX_BODY`]).
//! - The page is static (no template filled with anything the network
//!   sent), served with a strict Content-Security-Policy, `no-store` and
//!   `no-referrer`.
//!
//! This module serves and forwards; it does not interpret the results.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::http::{Asked, AsyncHandler, Gate, Reply, ReplyFuture};

/// The session cookie's name.
pub const COOKIE: &str = "natscope_session";

/// The page's HTML; its empty `<script></script>` gets [`SCRIPT`].
const PAGE: &str = include_str!("browser/page.html");
/// The page's script (static).
const SCRIPT: &str = include_str!("browser/page.js");
/// Events waiting to be read; the page posts one step at a time.
const QUEUE: usize = 16;
/// Longest time one API call waits for its answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(30);

/// Errors starting the page server.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The system's random source failed (no token can be made).
    #[error("the system's random number source failed")]
    Random,
}

/// One step the page reported.
#[derive(Debug)]
pub struct PageEvent {
    /// The step: `config`, `hello`, `gathered`, `offer`, `candidate`,
    /// `connected`, `done` or `error`.
    pub step: String,
    /// The body the page sent (JSON, untrusted, at most `MAX_BODY` bytes).
    pub body: Vec<u8>,
    /// Where to send the answer (JSON text). Dropping it answers 500.
    pub reply: oneshot::Sender<String>,
}

/// The steps the page may post.
pub const STEPS: [&str; 8] = [
    "config",
    "hello",
    "gathered",
    "offer",
    "candidate",
    "connected",
    "done",
    "error",
];

/// A running page server.
pub struct PageServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    url: String,
    refused: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl PageServer {
    /// Binds `listen` (port 0: a free one) and serves until dropped. Steps
    /// arrive on the returned receiver.
    pub async fn start(
        listen: SocketAddr,
    ) -> Result<(PageServer, mpsc::Receiver<PageEvent>), PageError> {
        let token = random_token()?;
        let session = random_token()?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| PageError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| PageError::Bind {
            addr: listen,
            source,
        })?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let refused = Arc::new(AtomicU64::new(0));
        let state = Arc::new(State {
            token: token.clone(),
            session,
            loaded: AtomicBool::new(false),
            configured: AtomicBool::new(false),
            refused: refused.clone(),
            tx,
        });
        let gate_state = state.clone();
        let gate: Gate = Arc::new(move |asked: &Asked| gate_state.gate(asked));
        let handler: AsyncHandler = Arc::new(move |asked: Asked| state.clone().answer(asked));
        // A step may wait for a str0m answer or for the browser's gathering:
        // the connection limit covers the longest answer.
        let task = tokio::spawn(crate::http::serve_async(
            listener,
            gate,
            handler,
            ANSWER_LIMIT + Duration::from_secs(5),
        ));
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let url = format!("http://{host}:{}/s/{token}", addr.port());
        Ok((
            PageServer {
                addr,
                url,
                refused,
                task,
            },
            rx,
        ))
    }

    /// The page's one-time URL. It carries the session token: give it only
    /// to the browser that runs the checks (never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests refused for a missing or wrong token, or a second load.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    token: String,
    session: String,
    loaded: AtomicBool,
    configured: AtomicBool,
    refused: Arc<AtomicU64>,
    tx: mpsc::Sender<PageEvent>,
}

impl State {
    fn refuse(&self, why: &str) -> Reply {
        self.refused.fetch_add(1, Ordering::Relaxed);
        Reply::text(403, format!("{why}\n"))
    }

    /// Before a body is read: an API call without the session cookie is
    /// refused.
    fn gate(&self, asked: &Asked) -> Option<Reply> {
        if !asked.path.starts_with("/api/") {
            return None;
        }
        let given = asked
            .cookie
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v)
            .unwrap_or_default();
        if same(given.as_bytes(), self.session.as_bytes()) {
            None
        } else {
            Some(self.refuse("missing or wrong session cookie"))
        }
    }

    fn answer(self: Arc<Self>, asked: Asked) -> ReplyFuture {
        Box::pin(async move {
            let path = asked.path.as_str();
            if asked.method == "GET" {
                if let Some(t) = path.strip_prefix("/s/") {
                    if !same(t.as_bytes(), self.token.as_bytes()) {
                        return self.refuse("this page needs the link natscope printed");
                    }
                    if self.loaded.swap(true, Ordering::SeqCst) {
                        return self
                            .refuse("this link was already used; run natscope browser again");
                    }
                    return page(&self.session);
                }
                return Reply::text(404, "not found\n");
            }
            if asked.method != "POST" {
                return Reply::text(405, "method not allowed\n");
            }
            let Some(step) = path.strip_prefix("/api/") else {
                return Reply::text(404, "not found\n");
            };
            // The gate checked the session cookie.
            if !STEPS.contains(&step) {
                return Reply::text(404, "no such step\n");
            }
            if step == "config" && self.configured.swap(true, Ordering::SeqCst) {
                return self.refuse("the configuration was already given");
            }
            let (reply, answer) = oneshot::channel();
            let event = PageEvent {
                step: step.to_owned(),
                body: asked.body,
                reply,
            };
            if self.tx.send(event).await.is_err() {
                return Reply::text(410, "the natscope run has ended\n");
            }
            match tokio::time::timeout(ANSWER_LIMIT, answer).await {
                Ok(Ok(json)) => {
                    Reply::ok("application/json", json).with_header("cache-control", "no-store")
                }
                Ok(Err(_)) => Reply::text(500, "natscope did not answer this step\n"),
                Err(_) => Reply::text(504, "natscope took too long to answer\n"),
            }
        })
    }
}

/// The page, and its Content-Security-Policy: the script's SHA-256 is
/// pinned, so no other script can run; the page talks to this server only.
fn page(session: &str) -> Reply {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, SCRIPT.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let html = PAGE.replacen(
        "<script></script>",
        &format!("<script>{SCRIPT}</script>"),
        1,
    );
    Reply::ok("text/html; charset=utf-8", html)
        .with_header("content-security-policy", csp)
        .with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-content-type-options", "nosniff")
        .with_header(
            "set-cookie",
            format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/api"),
        )
}

/// Equal in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> Result<String, PageError> {
    random_secret().ok_or(PageError::Random)
}

/// 128 bits from the system's random source, as 32 hex digits (a session
/// token, the embedded servers' run password); `None` when the source
/// fails.
pub fn random_secret() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn raw(addr: SocketAddr, req: String) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    fn post(path: &str, cookie: &str, body: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// The `name=value` of the page's Set-Cookie header.
    fn cookie_of(page: &str) -> String {
        page.lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("the page sets the session cookie")
            .to_owned()
    }

    #[tokio::test]
    async fn token_guards_the_page_and_the_cookie_every_step() {
        let (srv, mut rx) = PageServer::start("127.0.0.1:0".parse().unwrap())
            .await
            .expect("start");
        let token = srv.url().rsplit('/').next().unwrap().to_owned();
        assert_eq!(token.len(), 32);
        let addr = srv.addr;
        // Wrong token: 403, counted; the page is still loadable.
        let bad = raw(addr, "GET /s/00 HTTP/1.1\r\nHost: x\r\n\r\n".into()).await;
        assert!(bad.starts_with("HTTP/1.1 403"), "{bad}");
        // Before the page loaded there is no session: the URL token alone
        // (which other local users may see) opens no step.
        let early = raw(
            addr,
            post("/api/config", &format!("{COOKIE}={token}"), "{}"),
        )
        .await;
        assert!(early.starts_with("HTTP/1.1 403"), "{early}");
        let ok = raw(addr, format!("GET /s/{token} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("content-security-policy"), "{ok}");
        assert!(ok.contains("RTCPeerConnection"), "{ok}");
        assert!(ok.contains("HttpOnly; SameSite=Strict; Path=/api"), "{ok}");
        let cookie = cookie_of(&ok);
        assert!(!cookie.contains(&token), "the session is not the URL token");
        // A second load of the one-time link is refused.
        let again = raw(addr, format!("GET /s/{token} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert!(again.starts_with("HTTP/1.1 403"), "{again}");
        // A step without the cookie never reaches the session, and its
        // body is not read (a big one gets 403, not 413).
        let no = raw(addr, post("/api/config", "", "{}")).await;
        assert!(no.starts_with("HTTP/1.1 403"), "{no}");
        let big = "x".repeat(crate::http::MAX_BODY + 1);
        let stranger = raw(addr, post("/api/hello", "natscope_session=00", &big)).await;
        assert!(stranger.starts_with("HTTP/1.1 403"), "{stranger}");
        assert_eq!(srv.refused(), 5);
        // With the cookie it is forwarded and answered.
        let answerer = tokio::spawn(async move {
            for want in ["config", "hello"] {
                let ev = rx.recv().await.expect("event");
                assert_eq!(ev.step, want);
                ev.reply.send("{\"ok\":true}".into()).expect("reply");
            }
        });
        let cfg = raw(addr, post("/api/config", &cookie, "{}")).await;
        assert!(cfg.starts_with("HTTP/1.1 200"), "{cfg}");
        let yes = raw(
            addr,
            post("/api/hello", &format!("a=b; {cookie}"), "{\"a\":1}"),
        )
        .await;
        assert!(yes.starts_with("HTTP/1.1 200"), "{yes}");
        assert!(yes.ends_with("{\"ok\":true}"), "{yes}");
        answerer.await.expect("answerer");
        // The configuration (credentials) is given once.
        let cfg2 = raw(addr, post("/api/config", &cookie, "{}")).await;
        assert!(cfg2.starts_with("HTTP/1.1 403"), "{cfg2}");
        // Unknown steps and oversized bodies are refused.
        let unknown = raw(addr, post("/api/nope", &cookie, "{}")).await;
        assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
        let too_big = raw(addr, post("/api/hello", &cookie, &big)).await;
        assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
