//! The signalling channel between the two sides of a `natscope peer`
//! session: typed [`Signal`] messages over a text transport (the
//! rendezvous), read in order with a bounded buffer, so that a message for
//! a later step waits for its turn and a message the other side will never
//! send is waited for only until its deadline.

use model::peer::{IceDescription, PeerPolicy, SdpKind, Signal, parse_signal, signal_text};
use std::collections::VecDeque;
use tokio::time::Instant;

/// Most messages kept for later steps; beyond it the other side is not
/// following the protocol.
const BUFFER: usize = 64;

/// A text transport to the other side (the rendezvous, or a channel in
/// tests). Errors are plain words.
#[async_trait::async_trait]
pub trait SignalTransport: Send + Sync {
    /// Sends one message.
    async fn send(&mut self, text: &str) -> Result<(), SignalFailure>;
    /// The other side's next message, by `deadline`.
    async fn recv(&mut self, deadline: Instant) -> Result<String, SignalFailure>;
    /// Ends the session (best effort, bounded).
    async fn close(&mut self) {}
}

/// The rendezvous as a [`SignalTransport`].
pub struct RendezvousTransport(pub Option<crate::rendezvous::Rendezvous>);

/// A rendezvous error as a [`SignalFailure`], with a stable kind.
pub fn rendezvous_failure(e: &crate::rendezvous::RendezvousError) -> SignalFailure {
    use crate::rendezvous::RendezvousError as E;
    let kind = match e {
        E::Timeout { .. } => return SignalFailure::Timeout("message".into()),
        E::Closed { .. } => return SignalFailure::PeerLeft("it ended the session".into()),
        E::Url { .. } => "rendezvous-url",
        E::Unreachable { .. } | E::Tls { .. } => "rendezvous-unreachable",
        E::UnknownSession { .. } => "unknown-session",
        E::SessionFull { .. } => "session-full",
        E::PeerNeverCame { .. } => "peer-never-came",
        E::RateLimited { .. } | E::ServerFull { .. } => "rendezvous-refused",
        E::TooLarge { .. } | E::TooManyMessages { .. } => "rendezvous-bounds",
        E::Malformed { .. } | E::Refused { .. } => "rendezvous-error",
    };
    SignalFailure::Transport {
        kind: kind.into(),
        message: e.to_string(),
        remedy: e.remedy().into(),
    }
}

#[async_trait::async_trait]
impl SignalTransport for RendezvousTransport {
    async fn send(&mut self, text: &str) -> Result<(), SignalFailure> {
        let Some(r) = self.0.as_mut() else {
            return Err(SignalFailure::PeerLeft("the session is closed".into()));
        };
        r.send(text).await.map_err(|e| rendezvous_failure(&e))
    }

    async fn recv(&mut self, deadline: Instant) -> Result<String, SignalFailure> {
        let Some(r) = self.0.as_mut() else {
            return Err(SignalFailure::PeerLeft("the session is closed".into()));
        };
        r.recv(deadline).await.map_err(|e| rendezvous_failure(&e))
    }

    async fn close(&mut self) {
        if let Some(r) = self.0.take() {
            r.close().await;
        }
    }
}

/// Why a step's message did not come.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalFailure {
    /// The deadline passed first.
    #[error("the other side's {0} did not arrive in time")]
    Timeout(String),
    /// The other side said goodbye.
    #[error("the other side stopped: {0}")]
    PeerLeft(String),
    /// The other side sent something that is not a signalling message, or
    /// too many messages.
    #[error("the other side sent {0}")]
    BadMessage(String),
    /// The transport failed (the rendezvous); its kind and words.
    #[error("{message}")]
    Transport {
        /// A stable kind (`unknown-session`, `rendezvous-unreachable`, …).
        kind: String,
        /// What happened.
        message: String,
        /// What to do.
        remedy: String,
    },
}

/// Typed messages over a [`SignalTransport`].
pub struct Channel {
    transport: Box<dyn SignalTransport>,
    buffer: VecDeque<Signal>,
    /// The other side said goodbye (with its reason).
    bye: Option<String>,
}

impl Channel {
    /// A channel over `transport`.
    pub fn new(transport: Box<dyn SignalTransport>) -> Channel {
        Channel {
            transport,
            buffer: VecDeque::new(),
            bye: None,
        }
    }

    /// Ends the session on the transport (best effort, bounded).
    pub async fn close(&mut self) {
        self.transport.close().await;
    }

    /// Sends one message.
    pub async fn send(&mut self, s: &Signal) -> Result<(), SignalFailure> {
        self.transport.send(&signal_text(s)).await
    }

    /// The first message `pick` accepts (earlier ones stay buffered for
    /// later steps), by `deadline`. `what` names the awaited step in
    /// errors. With `within`, the other side's end of that policy's run
    /// (its `policy-done`, left buffered) ends the wait: the step will not
    /// come.
    pub async fn recv<T>(
        &mut self,
        what: &str,
        deadline: Instant,
        within: Option<PeerPolicy>,
        mut pick: impl FnMut(&Signal) -> Option<T> + Send,
    ) -> Result<T, SignalFailure> {
        let ended =
            |s: &Signal| matches!(s, Signal::PolicyDone { policy, .. } if Some(*policy) == within);
        let gone = |what: &str| {
            SignalFailure::PeerLeft(format!("it ended this run before sending its {what}"))
        };
        if let Some(i) = self.buffer.iter().position(|s| pick(s).is_some()) {
            // The position was just found.
            let s = self.buffer.remove(i).expect("index from position");
            return pick(&s).ok_or_else(|| SignalFailure::Timeout(what.into()));
        }
        if self.buffer.iter().any(ended) {
            return Err(gone(what));
        }
        if let Some(why) = &self.bye {
            return Err(SignalFailure::PeerLeft(why.clone()));
        }
        loop {
            let text = match self.transport.recv(deadline).await {
                Ok(t) => t,
                Err(SignalFailure::Timeout(_)) => return Err(SignalFailure::Timeout(what.into())),
                Err(e) => return Err(e),
            };
            let s = parse_signal(&text).map_err(|e| SignalFailure::BadMessage(e.to_string()))?;
            if let Some(t) = pick(&s) {
                return Ok(t);
            }
            if let Signal::Bye { reason } = &s {
                let why = reason
                    .clone()
                    .unwrap_or_else(|| "it finished before this step".into());
                self.bye = Some(why.clone());
                return Err(SignalFailure::PeerLeft(why));
            }
            if self.buffer.len() >= BUFFER {
                return Err(SignalFailure::BadMessage(format!(
                    "more than {BUFFER} messages out of order"
                )));
            }
            let end = ended(&s);
            self.buffer.push_back(s);
            if end {
                return Err(gone(what));
            }
        }
    }

    /// Drops buffered messages of `policy` (its run is over here).
    pub fn forget_policy(&mut self, policy: PeerPolicy) {
        self.buffer.retain(|s| match s {
            Signal::Ice { policy: p, .. }
            | Signal::ChecksReady { policy: p }
            | Signal::Sdp { policy: p, .. }
            | Signal::PolicyDone { policy: p, .. } => *p != policy,
            _ => true,
        });
    }
}

/// [`crate::ice::RemoteSignal`] for one policy's ICE run over a
/// [`Channel`].
pub(crate) struct PolicySignal<'c> {
    pub(crate) channel: &'c mut Channel,
    pub(crate) policy: PeerPolicy,
}

fn words(e: SignalFailure) -> String {
    e.to_string()
}

#[async_trait::async_trait]
impl crate::ice::RemoteSignal for PolicySignal<'_> {
    async fn send_description(&mut self, d: IceDescription) -> Result<(), String> {
        let m = Signal::Ice {
            policy: self.policy,
            description: d,
        };
        self.channel.send(&m).await.map_err(words)
    }

    async fn recv_description(&mut self, deadline: Instant) -> Result<IceDescription, String> {
        let policy = self.policy;
        self.channel
            .recv("candidates", deadline, Some(policy), |s| match s {
                Signal::Ice {
                    policy: p,
                    description,
                } if *p == policy => Some(description.clone()),
                _ => None,
            })
            .await
            .map_err(words)
    }

    async fn send_ready(&mut self) -> Result<(), String> {
        let m = Signal::ChecksReady {
            policy: self.policy,
        };
        self.channel.send(&m).await.map_err(words)
    }

    async fn recv_ready(&mut self, deadline: Instant) -> Result<(), String> {
        let policy = self.policy;
        self.channel
            .recv("start of checks", deadline, Some(policy), |s| match s {
                Signal::ChecksReady { policy: p } if *p == policy => Some(()),
                _ => None,
            })
            .await
            .map_err(words)
    }

    async fn send_sdp(&mut self, kind: SdpKind, sdp: String) -> Result<(), String> {
        let m = Signal::Sdp {
            policy: self.policy,
            kind,
            sdp,
        };
        self.channel.send(&m).await.map_err(words)
    }

    async fn recv_sdp(&mut self, kind: SdpKind, deadline: Instant) -> Result<String, String> {
        let policy = self.policy;
        self.channel
            .recv("session description", deadline, Some(policy), |s| match s {
                Signal::Sdp {
                    policy: p,
                    kind: k,
                    sdp,
                } if *p == policy && *k == kind => Some(sdp.clone()),
                _ => None,
            })
            .await
            .map_err(words)
    }
}

/// An in-memory transport pair (tests, and both sides in one process).
pub fn memory_pair() -> (Box<dyn SignalTransport>, Box<dyn SignalTransport>) {
    let (tx_a, rx_b) = tokio::sync::mpsc::channel(256);
    let (tx_b, rx_a) = tokio::sync::mpsc::channel(256);
    (
        Box::new(Memory { tx: tx_a, rx: rx_a }),
        Box::new(Memory { tx: tx_b, rx: rx_b }),
    )
}

struct Memory {
    tx: tokio::sync::mpsc::Sender<String>,
    rx: tokio::sync::mpsc::Receiver<String>,
}

#[async_trait::async_trait]
impl SignalTransport for Memory {
    async fn send(&mut self, text: &str) -> Result<(), SignalFailure> {
        self.tx
            .send(text.to_string())
            .await
            .map_err(|_| SignalFailure::PeerLeft("the channel closed".into()))
    }

    async fn recv(&mut self, deadline: Instant) -> Result<String, SignalFailure> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(SignalFailure::PeerLeft("the channel closed".into())),
            Err(_) => Err(SignalFailure::Timeout("message".into())),
        }
    }
}
