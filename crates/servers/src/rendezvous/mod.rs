//! The rendezvous of `natscope serve --rendezvous` (docs/rendezvous.md):
//! two `natscope peer` clients meet by a shared session code and exchange
//! signalling messages (ICE candidates, SDP) through it.
//!
//! - [`core`]: the sans-IO state ([`Core`]): sessions, codes and tokens by
//!   digest, bounds, expiry, per-source rate limits, counters. Time and
//!   randomness are its inputs.
//! - This module: the glue onto the one HTTP server ([`crate::http`],
//!   plain or TLS): every request is answered by the core under a lock;
//!   long polls (`wait`, `recv`) are held until something changes or
//!   [`LONG_POLL`](wire::rendezvous::LONG_POLL) passes; a sweep removes
//!   expired sessions every second.
//!
//! Codes and tokens never appear in logs or metrics: only a session's
//! random label is logged (at `debug`).

pub mod core;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ring::rand::SecureRandom;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use self::core::{Answer, Core, Limits, Metrics, Outcome, Randomness};
use crate::http::{Asked, AsyncHandler, Reply, ServeOptions};
use wire::rendezvous::{CODE_BYTES, ErrorKind, LABEL_BYTES, TOKEN_BYTES};

/// HTTP connections the rendezvous serves at once (each side holds one
/// during a long poll).
pub const MAX_CONNECTIONS: usize = 256;

/// How often expired sessions are removed when no request comes.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What the rendezvous shares between its connections.
struct Shared {
    core: Mutex<Core>,
    changed: Notify,
    random: ring::rand::SystemRandom,
}

impl Shared {
    fn core(&self) -> std::sync::MutexGuard<'_, Core> {
        // A panic while holding the lock leaves the core consistent
        // enough to keep serving (every mutation is bounded and checked).
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn randomness(&self) -> Option<Randomness> {
        let mut r = Randomness {
            code: [0; CODE_BYTES],
            token: [0; TOKEN_BYTES],
            label: [0; LABEL_BYTES],
        };
        self.random.fill(&mut r.code).ok()?;
        self.random.fill(&mut r.token).ok()?;
        self.random.fill(&mut r.label).ok()?;
        Some(r)
    }

    async fn answer(&self, asked: Asked) -> Reply {
        let source = asked
            .peer
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
        let Some(random) = self.randomness() else {
            return reply(Answer {
                status: 503,
                body: r#"{"error":"server-full","reason":"the rendezvous has no random source"}"#
                    .to_owned(),
                refusal: Some(ErrorKind::ServerFull),
                changed: false,
            });
        };
        let mut deadline = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = tokio::time::Instant::now();
            let outcome = self.core().handle(
                &asked.method,
                &asked.path,
                &asked.body,
                source,
                now.into_std(),
                &random,
            );
            match outcome {
                Outcome::Answer(a) => {
                    if a.changed {
                        self.changed.notify_waiters();
                    }
                    return reply(a);
                }
                Outcome::Pending { wait, empty } => {
                    let until = *deadline.get_or_insert(now + wait);
                    if tokio::time::timeout_at(until, notified).await.is_err() {
                        return reply(empty);
                    }
                }
            }
        }
    }
}

fn reply(a: Answer) -> Reply {
    Reply::status(a.status, "application/json", a.body).with_header("cache-control", "no-store")
}

/// A running rendezvous.
pub struct RendezvousServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RendezvousServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RendezvousServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl RendezvousServer {
    /// Serves the rendezvous on `listener` (HTTPS with `tls`) with `limits`
    /// until [`shutdown`](Self::shutdown) or drop of the runtime.
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            core: Mutex::new(Core::new(limits)),
            changed: Notify::new(),
            random: ring::rand::SystemRandom::new(),
        });
        let with_tls = tls.is_some();
        let s = shared.clone();
        let handler: AsyncHandler = Arc::new(move |asked: Asked| {
            let s = s.clone();
            Box::pin(async move { s.answer(asked).await })
        });
        let http = tokio::spawn(crate::http::serve_with(
            listener,
            None,
            handler,
            ServeOptions {
                limit: crate::http::IO_TIMEOUT,
                max_connections: MAX_CONNECTIONS,
                tls,
            },
        ));
        let s = shared.clone();
        let sweep = tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                let now = tokio::time::Instant::now().into_std();
                if s.core().sweep(now) {
                    s.changed.notify_waiters();
                }
            }
        });
        Ok(Self {
            addr,
            tls: with_tls,
            shared,
            tasks: vec![http, sweep],
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL (`http://ADDR` or `https://ADDR`), what `natscope peer
    /// --rendezvous` is given (with the host name the certificate
    /// carries, for https).
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Its counters now.
    pub fn metrics(&self) -> Metrics {
        self.shared.core().metrics()
    }

    /// A handle that reads the counters (for a metrics endpoint).
    pub fn metrics_source(&self) -> MetricsSource {
        MetricsSource(self.shared.clone())
    }

    /// Stops serving; every session is forgotten.
    pub fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for RendezvousServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Reads a running rendezvous' counters.
#[derive(Clone)]
pub struct MetricsSource(Arc<Shared>);

impl std::fmt::Debug for MetricsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsSource")
    }
}

impl MetricsSource {
    /// The counters now.
    pub fn snapshot(&self) -> Metrics {
        self.0.core().metrics()
    }
}
