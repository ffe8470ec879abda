//! The one small HTTP/1.1 server natscope runs (hyper): `/metrics` for
//! `natscope serve` and `natscope watch`, and the page and signalling
//! channel of `natscope browser`. Bounded connections, header size, body
//! size and time per connection.
//!
//! A [`Handler`] is a plain function of what was asked ([`Asked`]: method,
//! path, query, the `Accept` and `Cookie` headers) to a [`Reply`], for
//! read-only endpoints: no body is read. An [`AsyncHandler`] also gets the
//! body of a POST (at most [`MAX_BODY`] bytes; 413 beyond) and answers
//! later. [`serve_with`] also serves HTTPS (tokio-rustls, ring provider)
//! with a configuration from [`tls_config`], the one place a certificate
//! and key given by the operator become a TLS server (the rendezvous of
//! `natscope serve --rendezvous`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send its request and read the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head accepted (hyper answers 431 beyond it).
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body an [`AsyncHandler`] is given (413 beyond it).
pub const MAX_BODY: usize = 256 * 1024;

/// What a request asked: the parts a read-only endpoint looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `Accept` header, or empty.
    pub accept: String,
    /// The query string (after `?`), or empty.
    pub query: String,
    /// The `Cookie` header, or empty.
    pub cookie: String,
    /// The body (POST to an [`AsyncHandler`] only; otherwise empty).
    pub body: Vec<u8>,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: String,
    /// More response headers (name, value).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// `200` with a body.
    pub fn ok(content_type: &str, body: String) -> Self {
        Self::status(200, content_type, body)
    }

    /// Any status with a body.
    pub fn status(status: u16, content_type: &str, body: String) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            body,
            headers: Vec::new(),
        }
    }

    /// A plain-text answer with this status.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::status(status, "text/plain; charset=utf-8", body.into())
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The usual answers of a read-only endpoint at `path`: 404 for
    /// another GET path, 405 for another method.
    pub fn not_here(asked: &Asked, path: &str) -> Self {
        let (status, body) = if asked.method == "GET" {
            (404, format!("not found; try {path}\n"))
        } else {
            (405, "method not allowed\n".to_owned())
        };
        Self::text(status, body)
    }
}

/// The handler of read-only endpoints: a function of what was asked.
pub type Handler = Arc<dyn Fn(&Asked) -> Reply + Send + Sync>;

/// The answer of an [`AsyncHandler`], to come.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// A handler that reads POST bodies and answers later (still bounded by
/// [`IO_TIMEOUT`] per connection unless it answers sooner).
pub type AsyncHandler = Arc<dyn Fn(Asked) -> ReplyFuture + Send + Sync>;

/// Looks at a request's head before its body is read: `Some(reply)`
/// answers at once (a stranger's body is never read).
pub type Gate = Arc<dyn Fn(&Asked) -> Option<Reply> + Send + Sync>;

/// Serves `listener` with read-only endpoints until the task is dropped.
/// A client that is slow, malformed or one too many is dropped; it never
/// stops the server.
pub async fn serve(listener: TcpListener, handler: Handler) {
    let handler: AsyncHandler = Arc::new(move |asked: Asked| {
        let reply = handler(&asked);
        Box::pin(async move { reply })
    });
    serve_inner(listener, None, handler, false, IO_TIMEOUT).await
}

/// Serves `listener` with `handler`, which is given POST bodies, until the
/// task is dropped. `gate` sees each request's head first. `limit` bounds
/// each connection (request and answer).
pub async fn serve_async(
    listener: TcpListener,
    gate: Gate,
    handler: AsyncHandler,
    limit: Duration,
) {
    serve_inner(listener, Some(gate), handler, true, limit).await
}

/// How [`serve_with`] serves.
#[derive(Clone)]
pub struct ServeOptions {
    /// Time per connection: TLS handshake, request and answer.
    pub limit: Duration,
    /// Connections served at once; more are closed unanswered.
    pub max_connections: usize,
    /// HTTPS with this configuration; plain HTTP without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServeOptions {
    /// [`IO_TIMEOUT`], [`MAX_CONNECTIONS`], plain HTTP.
    fn default() -> Self {
        Self {
            limit: IO_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            tls: None,
        }
    }
}

/// Why a certificate and key could not become a TLS server configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The certificate file holds no PEM certificate.
    #[error("no PEM certificate found in the certificate file")]
    NoCertificate,
    /// The key file holds no PEM private key.
    #[error("no PEM private key found in the key file")]
    NoKey,
    /// rustls refused them (e.g. the key does not match the certificate).
    #[error("the certificate and key cannot be used: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS server configuration (ring provider, TLS 1.2 and 1.3, ALPN
/// `http/1.1`) from a PEM certificate chain and a PEM private key.
pub fn tls_config(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsConfigError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsConfigError::NoKey)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves `listener` as [`serve_async`] does (POST bodies, `gate` first
/// when given), with `opts`' time, connection bound and TLS.
pub async fn serve_with(
    listener: TcpListener,
    gate: Option<Gate>,
    handler: AsyncHandler,
    opts: ServeOptions,
) {
    serve_inner_with(listener, gate, handler, true, opts).await
}

async fn serve_inner(
    listener: TcpListener,
    gate: Option<Gate>,
    handler: AsyncHandler,
    bodies: bool,
    limit: Duration,
) {
    let opts = ServeOptions {
        limit,
        ..ServeOptions::default()
    };
    serve_inner_with(listener, gate, handler, bodies, opts).await
}

/// A connection's byte stream: TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

async fn serve_inner_with(
    listener: TcpListener,
    gate: Option<Gate>,
    handler: AsyncHandler,
    bodies: bool,
    opts: ServeOptions,
) {
    let limit = opts.limit;
    let acceptor = opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // EMFILE and friends: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let handler = handler.clone();
        let gate = gate.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let started = tokio::time::Instant::now();
            let stream: Box<dyn Io> = match acceptor {
                None => Box::new(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => Box::new(tls),
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let limit = limit.saturating_sub(started.elapsed());
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut asked = Asked {
                    method: req.method().as_str().to_owned(),
                    path: req.uri().path().to_owned(),
                    accept: header(hyper::header::ACCEPT.as_str()),
                    query: req.uri().query().unwrap_or_default().to_owned(),
                    cookie: header(hyper::header::COOKIE.as_str()),
                    body: Vec::new(),
                    peer: Some(peer),
                };
                let handler = handler.clone();
                let refused = gate.as_ref().and_then(|g| g(&asked));
                async move {
                    if let Some(reply) = refused {
                        return Ok::<_, Infallible>(response(reply));
                    }
                    if bodies && asked.method == "POST" {
                        match Limited::new(req.into_body(), MAX_BODY).collect().await {
                            Ok(b) => asked.body = b.to_bytes().to_vec(),
                            Err(_) => {
                                return Ok::<_, Infallible>(response(Reply::text(
                                    413,
                                    "request body too large or cut short\n",
                                )));
                            }
                        }
                    }
                    Ok::<_, Infallible>(response(handler(asked).await))
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(IO_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            if tokio::time::timeout(limit, conn).await.is_err() {
                tracing::debug!(%peer, "http client timed out");
            }
        });
    }
}

fn response(reply: Reply) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(&reply.content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    for (name, value) in reply.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, head: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn answers_get_and_refuses_the_rest() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handler: Handler = Arc::new(|a: &Asked| {
            if a.method == "GET" && a.path == "/metrics" {
                Reply::ok("text/plain", format!("accept={}\n", a.accept))
            } else {
                Reply::not_here(a, "/metrics")
            }
        });
        let task = tokio::spawn(serve(listener, handler));
        let ok = get(
            addr,
            "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nAccept: a/b\r\n\r\n",
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.ends_with("accept=a/b\n"), "{ok}");
        let nf = get(addr, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
        let post = get(
            addr,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        let big = format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(20_000)
        );
        let refused = get(addr, &big).await;
        assert!(!refused.starts_with("HTTP/1.1 200"), "{refused}");
        let garbage = get(addr, "\u{1}\u{2}\r\n\r\n").await;
        assert!(!garbage.starts_with("HTTP/1.1 200"), "{garbage}");
        task.abort();
    }

    /// Clients that connect and never send hold at most MAX_CONNECTIONS
    /// slots (one more is closed at once, unanswered) and each is dropped
    /// after IO_TIMEOUT; then the endpoint answers again.
    #[tokio::test]
    async fn idle_clients_hold_at_most_the_slots_and_time_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handler: Handler = Arc::new(|_: &Asked| Reply::ok("text/plain", "up\n".into()));
        let task = tokio::spawn(serve(listener, handler));
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
        }
        let start = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // One too many: closed without an answer.
        let mut extra = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let _ = extra
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut out)).await;
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        // Every idle one is closed within the timeout (+1 s).
        for s in &mut idle {
            let mut b = [0u8; 1];
            let left = (IO_TIMEOUT + Duration::from_secs(1)).saturating_sub(start.elapsed());
            let r = tokio::time::timeout(left, s.read(&mut b))
                .await
                .expect("an idle client is closed within IO_TIMEOUT");
            assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ok = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        task.abort();
    }
}
