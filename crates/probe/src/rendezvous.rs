//! The client of `natscope serve --rendezvous` (docs/rendezvous.md): two
//! `natscope peer` runs meet by a session code and exchange signalling
//! messages through it.
//!
//! One HTTP/1.1 `POST` per call (hyper over a tokio `TcpStream`; `https://`
//! through the one TLS client handshake, `turn::tls::connect`, trusting the
//! system roots plus an optional extra CA). Every call is bounded in time
//! ([`RendezvousOptions::request_timeout`], plus the long poll's wait) and
//! every answer in size ([`MAX_RESPONSE_BODY`]) before it is parsed by
//! `wire::rendezvous`. Messages come back in the order sent, each exactly
//! once: the client passes the last sequence number it holds, drops
//! replays and refuses gaps.
//!
//! The code and the tokens travel in bodies only; they are never in a URL,
//! a log line, an error's text or a `Debug` output.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use wire::rendezvous::{
    self as api, Bounded, ErrorBody, ErrorKind, LONG_POLL, MAX_MESSAGE, MAX_MESSAGES,
    MAX_RESPONSE_BODY, Op,
};

pub use wire::rendezvous::CodeError;

/// Where the rendezvous is: `http://HOST[:PORT][/PREFIX]` or `https://…`.
#[derive(Clone, PartialEq, Eq)]
pub struct RendezvousUrl {
    https: bool,
    /// The host as written (an IPv6 literal without brackets).
    host: String,
    port: u16,
    /// The path prefix, without a trailing slash (may be empty).
    base: String,
}

impl RendezvousUrl {
    /// The host (for messages and the TLS name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for RendezvousUrl {
    type Err = RendezvousError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why| RendezvousError::Url { why };
        if s.len() > 2048 {
            return Err(bad("the URL is over 2048 characters"));
        }
        let uri: Uri = s
            .trim()
            .parse()
            .map_err(|_| bad("not a URL; expected http://HOST[:PORT][/PREFIX]"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("expected http://HOST[:PORT][/PREFIX] or https://…")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "the URL has a user or password; the rendezvous takes none",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("the URL has a query; the rendezvous takes none"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let base = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            https,
            host,
            port,
            base,
        })
    }
}

impl std::fmt::Display for RendezvousUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.base)
    }
}

impl std::fmt::Debug for RendezvousUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RendezvousUrl({self})")
    }
}

/// How the client talks to the rendezvous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RendezvousOptions {
    /// The bound of one request (connect, TLS, answer), beyond a long
    /// poll's wait.
    pub request_timeout: Duration,
    /// A PEM file of CA certificates trusted besides the system's (a
    /// rendezvous with a private CA's certificate).
    pub extra_ca: Option<PathBuf>,
}

impl Default for RendezvousOptions {
    /// 5 s, no extra CA.
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            extra_ca: None,
        }
    }
}

/// A session's code: the secret both sides share (80 random bits).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCode(String);

impl SessionCode {
    /// The canonical form sent to the server.
    fn canonical(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionCode {
    type Err = CodeError;

    /// Reads a code as typed: case, dashes and spaces do not matter.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        api::normalize_code(s).map(SessionCode)
    }
}

impl std::fmt::Display for SessionCode {
    /// Grouped by four for humans: `k7qd-2mfa-x9rt-w3hc`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&api::group_code(&self.0))
    }
}

impl std::fmt::Debug for SessionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCode(<redacted>)")
    }
}

/// Which side of a session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RendezvousSide {
    /// Opened the session and shows the code.
    Creator,
    /// Joined it with the code.
    Joiner,
}

/// Why a rendezvous call failed. Its text names the rendezvous' host, never
/// the code or a token.
#[derive(Debug, thiserror::Error)]
pub enum RendezvousError {
    /// The rendezvous URL cannot be used.
    #[error("invalid rendezvous URL: {why}")]
    Url {
        /// What is wrong with it.
        why: &'static str,
    },
    /// The rendezvous could not be reached, or the connection broke.
    #[error("cannot reach the rendezvous at {host}: {detail}")]
    Unreachable {
        /// The rendezvous' host.
        host: String,
        /// What the network said.
        detail: String,
    },
    /// The TLS connection to an `https://` rendezvous failed (certificate,
    /// handshake, or the CA file).
    #[error("TLS with the rendezvous at {host} failed: {detail}")]
    Tls {
        /// The rendezvous' host.
        host: String,
        /// What failed, in plain words.
        detail: String,
    },
    /// A request got no answer in time, or a deadline passed first.
    #[error("timed out waiting for {what} from the rendezvous at {host}")]
    Timeout {
        /// The rendezvous' host.
        host: String,
        /// What was waited for.
        what: &'static str,
    },
    /// The code or the session is unknown to the rendezvous: a wrong or
    /// expired code, or the rendezvous restarted and forgot it.
    #[error(
        "the rendezvous at {host} does not know this session: the code is wrong or expired, or the rendezvous restarted"
    )]
    UnknownSession {
        /// The rendezvous' host.
        host: String,
    },
    /// The session already has both sides.
    #[error("the session at the rendezvous {host} already has two sides")]
    SessionFull {
        /// The rendezvous' host.
        host: String,
    },
    /// The other side ended the session.
    #[error("the other side ended the session at the rendezvous {host}")]
    Closed {
        /// The rendezvous' host.
        host: String,
    },
    /// Nobody joined before the deadline.
    #[error("nobody joined the session at the rendezvous {host} in time")]
    PeerNeverCame {
        /// The rendezvous' host.
        host: String,
    },
    /// The rendezvous refused: too many sessions or failed joins from this
    /// address.
    #[error("the rendezvous at {host} refused: too many attempts from this address")]
    RateLimited {
        /// The rendezvous' host.
        host: String,
    },
    /// A message over [`MAX_MESSAGE`] bytes.
    #[error("a message of {len} bytes is over the rendezvous' {max}-byte bound ({host})")]
    TooLarge {
        /// The rendezvous' host.
        host: String,
        /// The message's length (0 when the server said so without it).
        len: usize,
        /// The bound.
        max: usize,
    },
    /// This side sent [`MAX_MESSAGES`] messages, or the other side left too
    /// many unread.
    #[error("too many messages for one session at the rendezvous {host}")]
    TooManyMessages {
        /// The rendezvous' host.
        host: String,
    },
    /// The rendezvous holds as many sessions or messages as it may.
    #[error("the rendezvous at {host} is full; it takes no more sessions for now")]
    ServerFull {
        /// The rendezvous' host.
        host: String,
    },
    /// The answer could not be read (too large, not the API's JSON, out of
    /// order): not a natscope rendezvous, or a broken one.
    #[error("the answer of the rendezvous at {host} could not be read: {why}")]
    Malformed {
        /// The rendezvous' host.
        host: String,
        /// What was wrong with it.
        why: &'static str,
    },
    /// Any other refusal.
    #[error("the rendezvous at {host} refused the request (HTTP {status}): {reason}")]
    Refused {
        /// The rendezvous' host.
        host: String,
        /// The HTTP status.
        status: u16,
        /// Its reason, control characters removed, shortened.
        reason: String,
    },
}

impl RendezvousError {
    /// One remedy, in plain words.
    pub fn remedy(&self) -> &'static str {
        match self {
            RendezvousError::Url { .. } => {
                "give the rendezvous as http://HOST[:PORT] or https://HOST[:PORT], as `natscope serve --rendezvous` prints it"
            }
            RendezvousError::Unreachable { .. } => {
                "check that `natscope serve --rendezvous` runs there and that its port is open in the firewall"
            }
            RendezvousError::Tls { .. } => {
                "use the host name the rendezvous' certificate carries, or pass the CA that signed it"
            }
            RendezvousError::Timeout { .. } => {
                "check the network path to the rendezvous, or allow more time"
            }
            RendezvousError::UnknownSession { .. } => {
                "check the code, or start a new session: codes expire, and a restarted rendezvous forgets them"
            }
            RendezvousError::SessionFull { .. } => {
                "start a new session: each code admits one other side"
            }
            RendezvousError::Closed { .. } => "start a new session on both sides",
            RendezvousError::PeerNeverCame { .. } => {
                "send the code to the other side and have it join before the deadline"
            }
            RendezvousError::RateLimited { .. } => "wait a minute before trying again",
            RendezvousError::TooLarge { .. } => "send fewer candidates or a shorter description",
            RendezvousError::TooManyMessages { .. } => {
                "start a new session; a session carries at most 64 messages per side"
            }
            RendezvousError::ServerFull { .. } => {
                "try again later, or run your own `natscope serve --rendezvous`"
            }
            RendezvousError::Malformed { .. } => {
                "check that the URL points at a natscope rendezvous of a compatible version"
            }
            RendezvousError::Refused { .. } => {
                "check that the URL points at a natscope rendezvous of a compatible version"
            }
        }
    }
}

/// One HTTP call's answer, interpreted: the pure part of every call (also
/// the fuzz target's).
fn interpret<T: DeserializeOwned + Bounded>(
    host: &str,
    status: u16,
    body: &[u8],
) -> Result<T, RendezvousError> {
    let host = host.to_owned();
    let malformed = |why| RendezvousError::Malformed {
        host: host.clone(),
        why,
    };
    if body.len() > MAX_RESPONSE_BODY {
        return Err(malformed("the answer is over its size bound"));
    }
    if status == 200 {
        return api::parse::<T>(body, MAX_RESPONSE_BODY).map_err(|e| {
            malformed(match e {
                api::ParseError::TooLarge { .. } => "the answer is over its size bound",
                api::ParseError::Json(why) | api::ParseError::Invalid(why) => why,
            })
        });
    }
    let Ok(err) = api::parse::<ErrorBody>(body, MAX_RESPONSE_BODY) else {
        let text = String::from_utf8_lossy(&body[..body.len().min(4 * api::MAX_REASON)]);
        let reason = api::sanitize_reason(&text);
        return Err(if (200..300).contains(&status) || status < 100 {
            malformed("an unexpected HTTP status")
        } else {
            RendezvousError::Refused {
                host,
                status,
                reason: if reason.is_empty() {
                    "no reason given".to_owned()
                } else {
                    reason
                },
            }
        });
    };
    Err(match err.error {
        ErrorKind::UnknownSession => RendezvousError::UnknownSession { host },
        ErrorKind::SessionFull => RendezvousError::SessionFull { host },
        ErrorKind::Closed => RendezvousError::Closed { host },
        ErrorKind::RateLimited => RendezvousError::RateLimited { host },
        ErrorKind::TooLarge => RendezvousError::TooLarge {
            host,
            len: 0,
            max: MAX_MESSAGE,
        },
        ErrorKind::TooManyMessages => RendezvousError::TooManyMessages { host },
        ErrorKind::ServerFull => RendezvousError::ServerFull { host },
        ErrorKind::Malformed | ErrorKind::NotFound | ErrorKind::Other => RendezvousError::Refused {
            host,
            status,
            reason: api::sanitize_reason(&err.reason),
        },
    })
}

/// Takes a `recv` answer's messages into `inbox`: replays (a seq already
/// held) are dropped, a gap or a seq beyond [`MAX_MESSAGES`] is refused.
fn deliver(
    host: &str,
    seen: &mut u32,
    inbox: &mut VecDeque<String>,
    answer: api::RecvResponse,
) -> Result<(), RendezvousError> {
    for m in answer.messages {
        if m.seq <= *seen {
            continue;
        }
        if m.seq != *seen + 1 || m.seq > MAX_MESSAGES {
            return Err(RendezvousError::Malformed {
                host: host.to_owned(),
                why: "messages out of order",
            });
        }
        *seen = m.seq;
        inbox.push_back(m.text);
    }
    Ok(())
}

/// The HTTP side: one connection per call.
#[derive(Clone)]
struct Client {
    url: RendezvousUrl,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
}

impl Client {
    fn new(url: &RendezvousUrl, opts: &RendezvousOptions) -> Result<Self, RendezvousError> {
        let tls = if url.https {
            Some(client_config(url, opts)?)
        } else {
            None
        };
        Ok(Self {
            url: url.clone(),
            tls,
            timeout: opts.request_timeout,
        })
    }

    fn host(&self) -> String {
        self.url.host.clone()
    }

    /// One `POST` of `body` to `op`, bounded by the request timeout plus
    /// `wait`; the status and the body (at most [`MAX_RESPONSE_BODY`]).
    async fn exchange(
        &self,
        op: Op,
        body: String,
        wait: Duration,
    ) -> Result<(u16, Bytes), RendezvousError> {
        let host = self.host();
        let limit = self.timeout + wait;
        let unreachable = |detail: String| RendezvousError::Unreachable {
            host: host.clone(),
            detail,
        };
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect((self.url.host.as_str(), self.url.port))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            let request = Request::builder()
                .method(Method::POST)
                .uri(op.path(&self.url.base))
                .header(hyper::header::HOST, self.url.authority())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::ACCEPT, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|_| RendezvousError::Url {
                    why: "the URL's path cannot be a request target",
                })?;
            match &self.tls {
                None => self.http(TokioIo::new(tcp), request).await,
                Some(config) => {
                    let tls = crate::turn::tls::connect(config.clone(), &self.url.host, tcp)
                        .await
                        .map_err(|f| RendezvousError::Tls {
                            host: host.clone(),
                            detail: f.to_string(),
                        })?;
                    self.http(TokioIo::new(tls), request).await
                }
            }
        };
        tokio::time::timeout(limit, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(RendezvousError::Timeout {
                    host: host.clone(),
                    what: "an answer",
                })
            })
    }

    async fn http<I>(
        &self,
        io: TokioIo<I>,
        request: Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), RendezvousError>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let host = self.host();
        let broke = |e: hyper::Error| RendezvousError::Unreachable {
            host: host.clone(),
            detail: if e.is_incomplete_message() {
                "the connection closed before an answer".to_owned()
            } else {
                "the HTTP exchange failed".to_owned()
            },
        };
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(64 * 1024)
            .handshake(io)
            .await
            .map_err(broke)?;
        let driver = tokio::spawn(conn);
        let result = async {
            let resp = sender.send_request(request).await.map_err(broke)?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BODY)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        RendezvousError::Malformed {
                            host: host.clone(),
                            why: "the answer is over its size bound",
                        }
                    } else {
                        RendezvousError::Unreachable {
                            host: host.clone(),
                            detail: "the connection broke during the answer".to_owned(),
                        }
                    }
                })?
                .to_bytes();
            Ok((status, body))
        }
        .await;
        driver.abort();
        result
    }

    async fn call<T: DeserializeOwned + Bounded>(
        &self,
        op: Op,
        body: String,
        wait: Duration,
    ) -> Result<T, RendezvousError> {
        let (status, bytes) = self.exchange(op, body, wait).await?;
        interpret(&self.url.host, status, &bytes)
    }

    /// [`call`](Self::call), tried once more after a broken connection
    /// (only for calls the server answers the same when repeated).
    async fn call_again<T: DeserializeOwned + Bounded>(
        &self,
        op: Op,
        body: String,
        wait: Duration,
    ) -> Result<T, RendezvousError> {
        match self.call(op, body.clone(), wait).await {
            Err(RendezvousError::Unreachable { .. }) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.call(op, body, wait).await
            }
            other => other,
        }
    }
}

/// The TLS client configuration: the system's roots plus `extra_ca`'s,
/// ring provider, ALPN `http/1.1`.
fn client_config(
    url: &RendezvousUrl,
    opts: &RendezvousOptions,
) -> Result<Arc<rustls::ClientConfig>, RendezvousError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let tls = |detail: String| RendezvousError::Tls {
        host: url.host.clone(),
        detail,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &opts.extra_ca {
        let pem = std::fs::read(path)
            .map_err(|e| tls(format!("cannot read the CA file {}: {e}", path.display())))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
        if added == 0 {
            return Err(tls(format!(
                "no usable certificate in the CA file {}",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        return Err(tls("no trusted root certificates on this system".to_owned()));
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// One side of a session at a rendezvous.
pub struct Rendezvous {
    side: RendezvousSide,
    label: String,
    joined: bool,
    tx: RendezvousSender,
    rx: RendezvousReceiver,
}

/// The sending half of a [`Rendezvous`] ([`Rendezvous::split`]): usable
/// while the receiving half waits.
pub struct RendezvousSender {
    client: Client,
    token: String,
    /// Messages this side sent (the next one's number is `sent + 1`).
    sent: u32,
}

/// The receiving half of a [`Rendezvous`] ([`Rendezvous::split`]).
pub struct RendezvousReceiver {
    client: Client,
    token: String,
    /// The other side's last message number taken.
    seen: u32,
    /// Taken but not yet returned by `recv`.
    inbox: VecDeque<String>,
}

impl std::fmt::Debug for Rendezvous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendezvous")
            .field("url", &self.tx.client.url)
            .field("side", &self.side)
            .field("label", &self.label)
            .field("sent", &self.tx.sent)
            .field("seen", &self.rx.seen)
            .finish_non_exhaustive()
    }
}

/// The token body of a call.
fn token_body(token: &str) -> String {
    api::to_body(&api::CloseRequest {
        token: token.to_owned(),
    })
}

/// A long poll's wait until `deadline`, at most [`LONG_POLL`].
fn poll_wait(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .min(LONG_POLL)
}

impl Rendezvous {
    fn new(
        client: Client,
        side: RendezvousSide,
        label: String,
        token: String,
        joined: bool,
    ) -> Rendezvous {
        Rendezvous {
            side,
            label,
            joined,
            tx: RendezvousSender {
                client: client.clone(),
                token: token.clone(),
                sent: 0,
            },
            rx: RendezvousReceiver {
                client,
                token,
                seen: 0,
                inbox: VecDeque::new(),
            },
        }
    }

    /// The two halves, to send while a receive waits (the session's
    /// token is in both; [`RendezvousSender::close`] ends it).
    pub fn split(self) -> (RendezvousSender, RendezvousReceiver) {
        (self.tx, self.rx)
    }

    /// Opens a session: this side is the [`RendezvousSide::Creator`]; the
    /// code is for the other side.
    pub async fn open(
        url: &RendezvousUrl,
        opts: &RendezvousOptions,
    ) -> Result<(Rendezvous, SessionCode), RendezvousError> {
        let client = Client::new(url, opts)?;
        let r: api::OpenResponse = client
            .call(Op::Open, api::to_body(&api::OpenRequest {}), Duration::ZERO)
            .await?;
        let code = api::normalize_code(&r.code).map_err(|_| RendezvousError::Malformed {
            host: url.host.clone(),
            why: "the code is not a session code",
        })?;
        Ok((
            Rendezvous::new(client, RendezvousSide::Creator, r.label, r.token, false),
            SessionCode(code),
        ))
    }

    /// Joins the session of `code`: this side is the
    /// [`RendezvousSide::Joiner`].
    pub async fn join(
        url: &RendezvousUrl,
        code: &SessionCode,
        opts: &RendezvousOptions,
    ) -> Result<Rendezvous, RendezvousError> {
        let client = Client::new(url, opts)?;
        let body = api::to_body(&api::JoinRequest {
            code: code.canonical().to_owned(),
        });
        let r: api::JoinResponse = client.call(Op::Join, body, Duration::ZERO).await?;
        Ok(Rendezvous::new(
            client,
            RendezvousSide::Joiner,
            r.label,
            r.token,
            true,
        ))
    }

    /// Which side this is.
    pub fn side(&self) -> RendezvousSide {
        self.side
    }

    /// A non-secret session label both sides get from the server (random,
    /// not derived from the code), written in both reports so they can be
    /// merged.
    pub fn session_label(&self) -> &str {
        &self.label
    }

    /// Creator only (a Joiner returns `Ok` at once): waits until the other
    /// side joined, or `deadline` → [`RendezvousError::PeerNeverCame`].
    pub async fn wait_joined(&mut self, deadline: Instant) -> Result<(), RendezvousError> {
        while !self.joined {
            if Instant::now() >= deadline {
                return Err(RendezvousError::PeerNeverCame {
                    host: self.tx.client.host(),
                });
            }
            let wait = poll_wait(deadline);
            let asked = Instant::now();
            let body = api::to_body(&api::WaitRequest {
                token: self.tx.token.clone(),
                wait_ms: wait.as_millis() as u64,
            });
            let r: api::WaitResponse = self.tx.client.call_again(Op::Wait, body, wait).await?;
            self.joined = r.joined;
            if !r.joined {
                pace(asked, wait, deadline).await;
            }
        }
        Ok(())
    }

    /// Sends one message (UTF-8 text, at most [`MAX_MESSAGE`] bytes) to the
    /// other side.
    pub async fn send(&mut self, msg: &str) -> Result<(), RendezvousError> {
        self.tx.send(msg).await
    }

    /// The other side's next message, in the order sent, each exactly
    /// once; [`RendezvousError::Timeout`] when `deadline` passes first.
    pub async fn recv(&mut self, deadline: Instant) -> Result<String, RendezvousError> {
        self.rx.recv(deadline).await
    }

    /// Ends the session on the server (both sides' messages are deleted);
    /// best effort, bounded by the request timeout (at most 2 s).
    pub async fn close(self) {
        self.tx.close().await;
    }
}

impl RendezvousSender {
    /// Sends one message (UTF-8 text, at most [`MAX_MESSAGE`] bytes) to the
    /// other side.
    pub async fn send(&mut self, msg: &str) -> Result<(), RendezvousError> {
        if msg.len() > MAX_MESSAGE {
            return Err(RendezvousError::TooLarge {
                host: self.client.host(),
                len: msg.len(),
                max: MAX_MESSAGE,
            });
        }
        if self.sent >= MAX_MESSAGES {
            return Err(RendezvousError::TooManyMessages {
                host: self.client.host(),
            });
        }
        let n = self.sent + 1;
        let body = api::to_body(&api::SendRequest {
            token: self.token.clone(),
            n,
            text: msg.to_owned(),
        });
        // A repeated `n` is not delivered twice: safe to try again.
        let r: api::SendResponse = self
            .client
            .call_again(Op::Send, body, Duration::ZERO)
            .await?;
        if r.seq != n {
            return Err(RendezvousError::Malformed {
                host: self.client.host(),
                why: "the message's sequence number is not the one sent",
            });
        }
        self.sent = n;
        Ok(())
    }

    /// Ends the session on the server (both sides' messages are deleted);
    /// best effort, bounded by the request timeout (at most 2 s).
    pub async fn close(self) {
        let client = Client {
            timeout: self.client.timeout.min(Duration::from_secs(2)),
            ..self.client.clone()
        };
        let r: Result<api::Empty, _> = client
            .call(Op::Close, token_body(&self.token), Duration::ZERO)
            .await;
        if let Err(e) = r {
            tracing::debug!(error = %e, "rendezvous close failed");
        }
    }
}

impl RendezvousReceiver {
    /// The other side's next message, in the order sent, each exactly
    /// once; [`RendezvousError::Timeout`] when `deadline` passes first.
    pub async fn recv(&mut self, deadline: Instant) -> Result<String, RendezvousError> {
        loop {
            if let Some(m) = self.inbox.pop_front() {
                return Ok(m);
            }
            if Instant::now() >= deadline {
                return Err(RendezvousError::Timeout {
                    host: self.client.host(),
                    what: "the other side's next message",
                });
            }
            let wait = poll_wait(deadline);
            let asked = Instant::now();
            let body = api::to_body(&api::RecvRequest {
                token: self.token.clone(),
                after: self.seen,
                wait_ms: wait.as_millis() as u64,
            });
            let r: api::RecvResponse = self.client.call_again(Op::Recv, body, wait).await?;
            let empty = r.messages.is_empty();
            deliver(&self.client.url.host, &mut self.seen, &mut self.inbox, r)?;
            if empty {
                pace(asked, wait, deadline).await;
            }
        }
    }
}

/// After an empty long poll that came back much sooner than asked (a
/// server that does not hold requests), a pause, so the loop never spins.
async fn pace(asked: Instant, wait: Duration, deadline: Instant) {
    if asked.elapsed() < wait / 2 {
        let until = (Instant::now() + Duration::from_millis(250)).min(deadline);
        tokio::time::sleep_until(until).await;
    }
}

/// The client's pure answer handling, for the fuzz target
/// (`fuzz/fuzz_targets/rendezvous.rs`). Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Reads one answer to `op` as the client does; `Ok` with the number of
    /// messages for `recv`, 0 otherwise; the error's text.
    pub fn answer(op: Op, status: u16, body: &[u8]) -> Result<usize, String> {
        let s = |e: RendezvousError| e.to_string();
        match op {
            Op::Open => interpret::<api::OpenResponse>("h", status, body)
                .map(|_| 0)
                .map_err(s),
            Op::Join => interpret::<api::JoinResponse>("h", status, body)
                .map(|_| 0)
                .map_err(s),
            Op::Wait => interpret::<api::WaitResponse>("h", status, body)
                .map(|_| 0)
                .map_err(s),
            Op::Send => interpret::<api::SendResponse>("h", status, body)
                .map(|_| 0)
                .map_err(s),
            Op::Recv => interpret::<api::RecvResponse>("h", status, body)
                .map(|r| r.messages.len())
                .map_err(s),
            Op::Close => interpret::<api::Empty>("h", status, body)
                .map(|_| 0)
                .map_err(s),
        }
    }

    /// A sequence of `recv` answers as the client takes them: the messages
    /// `recv` would return, in order, and the first error.
    pub fn receive(answers: &[(u16, &[u8])]) -> (Vec<(u32, String)>, Option<String>) {
        let mut seen = 0;
        let mut inbox = VecDeque::new();
        let mut out = Vec::new();
        for (status, body) in answers {
            let r = interpret::<api::RecvResponse>("h", *status, body)
                .and_then(|r| deliver("h", &mut seen, &mut inbox, r));
            let first = seen - inbox.len() as u32;
            out.extend(
                inbox
                    .drain(..)
                    .enumerate()
                    .map(|(i, m)| (first + 1 + i as u32, m)),
            );
            if let Err(e) = r {
                return (out, Some(e.to_string()));
            }
        }
        (out, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u: RendezvousUrl = "http://127.0.0.1:8478".parse().expect("valid");
        assert_eq!(
            (u.host(), u.port(), u.is_https()),
            ("127.0.0.1", 8478, false)
        );
        assert_eq!(u.to_string(), "http://127.0.0.1:8478");
        let u: RendezvousUrl = "https://rv.example.org/natscope/".parse().expect("valid");
        assert_eq!(u.port(), 443);
        assert_eq!(u.to_string(), "https://rv.example.org:443/natscope");
        assert_eq!(Op::Open.path(&u.base), "/natscope/v1/open");
        let u: RendezvousUrl = "http://[::1]:9".parse().expect("valid");
        assert_eq!(
            (u.host(), u.to_string().as_str()),
            ("::1", "http://[::1]:9")
        );
        for bad in [
            "ftp://x",
            "x:80",
            "http://u:p@x/",
            "http://x/?code=1",
            "",
            "http://",
        ] {
            let e = bad.parse::<RendezvousUrl>().expect_err(bad);
            assert!(matches!(e, RendezvousError::Url { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn codes_are_tolerant_and_never_debugged() {
        let c: SessionCode = " K7QD 2MFA-x9rt-w3hc ".parse().expect("valid");
        assert_eq!(c.to_string(), "k7qd-2mfa-x9rt-w3hc");
        assert_eq!(c.canonical(), "k7qd2mfax9rtw3hc");
        assert_eq!(format!("{c:?}"), "SessionCode(<redacted>)");
        assert!("k7qd".parse::<SessionCode>().is_err());
    }

    #[test]
    fn answers_are_named() {
        let e = interpret::<api::WaitResponse>("rv", 404, br#"{"error":"unknown-session"}"#)
            .expect_err("refused");
        assert!(matches!(e, RendezvousError::UnknownSession { .. }));
        assert!(e.to_string().contains("rv"), "{e}");
        let e = interpret::<api::WaitResponse>("rv", 200, b"<html>").expect_err("bad");
        assert!(matches!(e, RendezvousError::Malformed { .. }));
        let e = interpret::<api::WaitResponse>("rv", 502, b"Bad \x1b[1mGateway").expect_err("bad");
        match &e {
            RendezvousError::Refused { status, reason, .. } => {
                assert_eq!((*status, reason.as_str()), (502, "Bad [1mGateway"));
            }
            other => panic!("{other}"),
        }
        let big = vec![b' '; MAX_RESPONSE_BODY + 1];
        assert!(matches!(
            interpret::<api::WaitResponse>("rv", 200, &big),
            Err(RendezvousError::Malformed { .. })
        ));
        let ok = interpret::<api::WaitResponse>("rv", 200, br#"{"joined":true}"#).expect("ok");
        assert!(ok.joined);
        // Every variant has a remedy and says nothing in Debug syntax.
        for e in [
            RendezvousError::PeerNeverCame { host: "rv".into() },
            RendezvousError::Closed { host: "rv".into() },
        ] {
            assert!(!e.remedy().is_empty());
            assert!(!e.to_string().contains('{'), "{e}");
        }
    }

    #[test]
    fn replays_are_dropped_and_gaps_refused() {
        let m = |seq: u32, t: &str| api::Message {
            seq,
            text: t.into(),
        };
        let mut seen = 0;
        let mut inbox = VecDeque::new();
        let r = api::RecvResponse {
            messages: vec![m(1, "a"), m(2, "b")],
        };
        deliver("h", &mut seen, &mut inbox, r.clone()).expect("in order");
        deliver("h", &mut seen, &mut inbox, r).expect("a replay is dropped");
        assert_eq!(inbox, ["a", "b"]);
        let gap = api::RecvResponse {
            messages: vec![m(4, "d")],
        };
        assert!(matches!(
            deliver("h", &mut seen, &mut inbox, gap),
            Err(RendezvousError::Malformed { .. })
        ));
        assert_eq!(seen, 2);
        let (got, err) = fuzzing::receive(&[
            (200, br#"{"messages":[{"seq":1,"text":"x"}]}"#),
            (
                200,
                br#"{"messages":[{"seq":1,"text":"x"},{"seq":2,"text":"y"}]}"#,
            ),
            (404, br#"{"error":"unknown-session"}"#),
        ]);
        assert_eq!(got, [(1, "x".to_owned()), (2, "y".to_owned())]);
        assert!(err.is_some_and(|e| e.contains("does not know")));
    }

    /// A server on loopback that answers every connection with `answer`
    /// (None: reads the request and never answers).
    async fn hostile(answer: Option<Vec<u8>>) -> (RendezvousUrl, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"))
            .parse()
            .expect("valid");
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    match answer {
                        Some(a) => {
                            let _ = s.write_all(&a).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        (url, task)
    }

    fn http(status: &str, body: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn hostile_servers_get_bounded_named_errors() {
        let opts = RendezvousOptions {
            request_timeout: Duration::from_millis(800),
            ..RendezvousOptions::default()
        };
        let open = |url: RendezvousUrl| {
            let opts = opts.clone();
            async move { Rendezvous::open(&url, &opts).await.map(|_| ()) }
        };
        // Oversized: a body far over the bound (announced and sent).
        let big = vec![b'a'; MAX_RESPONSE_BODY + 10];
        let (url, t) = hostile(Some(http("200 OK", &big))).await;
        let e = open(url).await.expect_err("oversized");
        assert!(matches!(e, RendezvousError::Malformed { .. }), "{e:?}");
        t.abort();
        // Malformed JSON, and valid JSON out of bounds.
        for body in [
            &b"<html>hi</html>"[..],
            br#"{"code":"x","token":"y","label":"z","ttl_s":1}"#,
        ] {
            let (url, t) = hostile(Some(http("200 OK", body))).await;
            let e = open(url).await.expect_err("malformed");
            assert!(matches!(e, RendezvousError::Malformed { .. }), "{e:?}");
            t.abort();
        }
        // A wrong status with an unreadable body.
        let (url, t) = hostile(Some(http("302 Found", b"elsewhere"))).await;
        let e = open(url).await.expect_err("refused");
        assert!(
            matches!(e, RendezvousError::Refused { status: 302, .. }),
            "{e:?}"
        );
        t.abort();
        // Not HTTP at all.
        let (url, t) = hostile(Some(b"\x00\x01garbage\r\n\r\n".to_vec())).await;
        let e = open(url).await.expect_err("garbage");
        assert!(matches!(e, RendezvousError::Unreachable { .. }), "{e:?}");
        t.abort();
        // A header that never ends.
        let mut endless = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        endless.extend(std::iter::repeat_n(b'a', 200_000));
        let (url, t) = hostile(Some(endless)).await;
        let e = open(url).await.expect_err("endless header");
        assert!(
            matches!(
                e,
                RendezvousError::Unreachable { .. } | RendezvousError::Timeout { .. }
            ),
            "{e:?}"
        );
        t.abort();
        // Silence: bounded by the request timeout.
        let (url, t) = hostile(None).await;
        let started = Instant::now();
        let e = open(url).await.expect_err("silent");
        assert!(matches!(e, RendezvousError::Timeout { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        t.abort();
        // Nobody listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url: RendezvousUrl = format!("http://{}", l.local_addr().expect("addr"))
            .parse()
            .expect("valid");
        drop(l);
        let e = open(url).await.expect_err("nobody");
        assert!(matches!(e, RendezvousError::Unreachable { .. }), "{e:?}");
        assert!(e.to_string().contains("127.0.0.1"), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_does_not_hold_long_polls_is_paced_and_bounded() {
        // Answers every recv at once with nothing.
        let (url, t) = hostile(Some(http("200 OK", br#"{"messages":[]}"#))).await;
        let mut r = Rendezvous::new(
            Client::new(&url, &RendezvousOptions::default()).expect("client"),
            RendezvousSide::Joiner,
            "l".into(),
            api::hex(&[1; api::TOKEN_BYTES]),
            true,
        );
        let started = Instant::now();
        let e = r
            .recv(Instant::now() + Duration::from_millis(1200))
            .await
            .expect_err("nothing comes");
        assert!(matches!(e, RendezvousError::Timeout { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        t.abort();
        // One that answers out of order.
        let (url, t) = hostile(Some(http(
            "200 OK",
            br#"{"messages":[{"seq":2,"text":"b"}]}"#,
        )))
        .await;
        r.rx.client = Client::new(&url, &RendezvousOptions::default()).expect("client");
        let e = r
            .recv(Instant::now() + Duration::from_secs(2))
            .await
            .expect_err("gap");
        assert!(matches!(e, RendezvousError::Malformed { .. }), "{e:?}");
        t.abort();
    }
}
