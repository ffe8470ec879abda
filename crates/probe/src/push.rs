//! Pushing metrics to a Prometheus Pushgateway (`natscope watch --once
//! --push URL`): one HTTP/1.1 `PUT` of the metrics text (hyper), bounded in
//! time. Plain `http://` only: a Pushgateway usually sits on the monitoring
//! network; put a TLS proxy in front of it otherwise.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The URL is not `http://HOST[:PORT]/PATH`.
    #[error("invalid push URL {url:?}: {why}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The gateway could not be reached.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The HTTP exchange failed (closed connection, malformed answer).
    #[error("HTTP exchange with {addr} failed: {source}")]
    Http {
        /// `host:port`.
        addr: String,
        /// hyper's error.
        source: hyper::Error,
    },
    /// The gateway did not answer within the bound.
    #[error("no answer from {addr} within {ms} ms")]
    Timeout {
        /// `host:port`.
        addr: String,
        /// The bound.
        ms: u128,
    },
    /// The gateway refused the push (4xx/5xx).
    #[error("the gateway answered {status}: {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of its answer (control characters removed).
        body: String,
    },
}

/// Where to push: checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    uri: Uri,
    addr: String,
}

impl PushTarget {
    /// Parses `http://HOST[:PORT]/PATH` (port 80 by default).
    pub fn parse(url: &str) -> Result<Self, PushError> {
        let bad = |why| PushError::Url {
            url: url.to_owned(),
            why,
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported; push over http:// (or through a TLS proxy)",
                ));
            }
            _ => return Err(bad("expected http://HOST[:PORT]/PATH")),
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Self { uri, addr })
    }
}

/// `PUT`s `body` to `target` within `limit`; the HTTP status on success.
pub async fn put(
    target: &PushTarget,
    content_type: &str,
    body: String,
    limit: Duration,
) -> Result<u16, PushError> {
    let addr = target.addr.clone();
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|source| PushError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let http = |source| PushError::Http {
            addr: addr.clone(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        let driver = tokio::spawn(conn);
        let host = target
            .uri
            .authority()
            .map(|a| a.as_str())
            .unwrap_or_default();
        let path = target
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let req = Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| PushError::Url {
                url: target.uri.to_string(),
                why: "not a valid request target",
            })?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        driver.abort();
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            let body: String = String::from_utf8_lossy(&text)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            Err(PushError::Refused { status, body })
        }
    };
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(PushError::Timeout {
                addr: target.addr.clone(),
                ms: limit.as_millis(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host() {
        let t = PushTarget::parse("http://127.0.0.1:9091/metrics/job/natscope").expect("valid");
        assert_eq!(t.addr, "127.0.0.1:9091");
        assert_eq!(
            PushTarget::parse("http://gw/metrics/job/x")
                .expect("valid")
                .addr,
            "gw:80"
        );
        assert!(PushTarget::parse("https://gw/x").is_err());
        assert!(PushTarget::parse("gw:9091").is_err());
        assert!(PushTarget::parse("ftp://gw/x").is_err());
    }
}
