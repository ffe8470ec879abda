//! The one small HTTP/1.1 server natscope runs (hyper): `/metrics` for
//! `natscope serve` and `natscope watch`. Read-only GET endpoints; bounded
//! connections, header size and time per connection.
//!
//! The handler is a plain function of the request line (method, path and
//! the `Accept` header) to a [`Reply`]: no body is read, nothing is stored.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
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

/// What a request asked: the parts a read-only endpoint looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `Accept` header, or empty.
    pub accept: String,
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
}

impl Reply {
    /// `200` with a body.
    pub fn ok(content_type: &str, body: String) -> Self {
        Self {
            status: 200,
            content_type: content_type.to_owned(),
            body,
        }
    }

    /// The usual answers of a read-only endpoint at `path`: 404 for
    /// another GET path, 405 for another method.
    pub fn not_here(asked: &Asked, path: &str) -> Self {
        let (status, body) = if asked.method == "GET" {
            (404, format!("not found; try {path}\n"))
        } else {
            (405, "method not allowed\n".to_owned())
        };
        Self {
            status,
            content_type: "text/plain; charset=utf-8".to_owned(),
            body,
        }
    }
}

/// The handler: a function of what was asked.
pub type Handler = Arc<dyn Fn(&Asked) -> Reply + Send + Sync>;

/// Serves `listener` until the task is dropped. A client that is slow,
/// malformed or one too many is dropped; it never stops the server.
pub async fn serve(listener: TcpListener, handler: Handler) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let asked = Asked {
                    method: req.method().as_str().to_owned(),
                    path: req.uri().path().to_owned(),
                    accept: req
                        .headers()
                        .get(hyper::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                };
                let reply = handler(&asked);
                async move { Ok::<_, Infallible>(response(reply)) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(IO_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            if tokio::time::timeout(IO_TIMEOUT, conn).await.is_err() {
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
