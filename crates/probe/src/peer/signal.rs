//! The signalling channel between the two sides of a `natscope peer`
//! session: typed [`Signal`] messages over a text transport (the
//! rendezvous), read in order with a bounded buffer, so that a message for
//! a later step waits for its turn and a message the other side will never
//! send is waited for only until its deadline.

use model::peer::{IceDescription, PeerPolicy, SdpKind, Signal, parse_signal, signal_text};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::time::Instant;

/// Most messages kept for later steps; beyond it the other side is not
/// following the protocol.
const BUFFER: usize = 64;

/// A text transport to the other side (the rendezvous, or a channel in
/// tests), split into halves that work at the same time: a [`Channel`]
/// receives in the background while its users send. Errors are plain
/// words.
pub trait SignalTransport: Send {
    /// The sending and receiving halves.
    fn split(self: Box<Self>) -> (Box<dyn SignalSender>, Box<dyn SignalReceiver>);
}

/// The sending half of a [`SignalTransport`].
#[async_trait::async_trait]
pub trait SignalSender: Send + Sync {
    /// Sends one message.
    async fn send(&mut self, text: &str) -> Result<(), SignalFailure>;
    /// Ends the session (best effort, bounded).
    async fn close(&mut self) {}
}

/// The receiving half of a [`SignalTransport`].
#[async_trait::async_trait]
pub trait SignalReceiver: Send + Sync {
    /// The other side's next message, by `deadline`.
    async fn recv(&mut self, deadline: Instant) -> Result<String, SignalFailure>;
}

/// The rendezvous as a [`SignalTransport`].
pub struct RendezvousTransport(pub crate::rendezvous::Rendezvous);

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

impl SignalTransport for RendezvousTransport {
    fn split(self: Box<Self>) -> (Box<dyn SignalSender>, Box<dyn SignalReceiver>) {
        let (tx, rx) = self.0.split();
        (
            Box::new(RendezvousOut(Some(tx))),
            Box::new(RendezvousIn(rx)),
        )
    }
}

struct RendezvousOut(Option<crate::rendezvous::RendezvousSender>);
struct RendezvousIn(crate::rendezvous::RendezvousReceiver);

#[async_trait::async_trait]
impl SignalSender for RendezvousOut {
    async fn send(&mut self, text: &str) -> Result<(), SignalFailure> {
        let Some(r) = self.0.as_mut() else {
            return Err(SignalFailure::PeerLeft("the session is closed".into()));
        };
        r.send(text).await.map_err(|e| rendezvous_failure(&e))
    }

    async fn close(&mut self) {
        if let Some(r) = self.0.take() {
            r.close().await;
        }
    }
}

#[async_trait::async_trait]
impl SignalReceiver for RendezvousIn {
    async fn recv(&mut self, deadline: Instant) -> Result<String, SignalFailure> {
        self.0
            .recv(deadline)
            .await
            .map_err(|e| rendezvous_failure(&e))
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

/// Typed messages over a [`SignalTransport`]. A background task reads
/// the other side's messages as they come (so several steps may wait at
/// once, each for its own message); `&self` methods, so concurrent runs
/// share one channel.
pub struct Channel {
    tx: tokio::sync::Mutex<Box<dyn SignalSender>>,
    inbox: Arc<Shared>,
    reader: tokio::task::JoinHandle<()>,
}

/// What the reader task found, shared with the waiting steps.
struct Shared {
    state: std::sync::Mutex<Inbox>,
    arrived: tokio::sync::Notify,
}

#[derive(Default)]
struct Inbox {
    buffer: VecDeque<Signal>,
    /// The other side said goodbye (with its reason).
    bye: Option<String>,
    /// Reading stopped: why (the transport failed, a bad message, too
    /// many unread).
    failed: Option<SignalFailure>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        // A panic while holding the lock cannot leave the buffer half
        // written (push/remove only): the data is still good.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How long one background read waits before it asks again (a quiet
/// other side is not a failure: each step has its own deadline).
const READ_SPAN: std::time::Duration = std::time::Duration::from_secs(30);

async fn read_all(mut rx: Box<dyn SignalReceiver>, shared: Arc<Shared>) {
    loop {
        let failed = match rx.recv(Instant::now() + READ_SPAN).await {
            Ok(text) => match parse_signal(&text) {
                Ok(s) => {
                    let mut inbox = shared.lock();
                    if let Signal::Bye { reason } = &s {
                        let why = reason
                            .clone()
                            .unwrap_or_else(|| "it finished before this step".into());
                        inbox.bye = Some(why);
                    }
                    if inbox.buffer.len() >= BUFFER {
                        Some(SignalFailure::BadMessage(format!(
                            "more than {BUFFER} messages out of order"
                        )))
                    } else {
                        inbox.buffer.push_back(s);
                        None
                    }
                }
                Err(e) => Some(SignalFailure::BadMessage(e.to_string())),
            },
            Err(SignalFailure::Timeout(_)) => None,
            Err(e) => Some(e),
        };
        let stop = failed.is_some();
        if let Some(e) = failed {
            shared.lock().failed = Some(e);
        }
        shared.arrived.notify_waiters();
        if stop {
            return;
        }
    }
}

impl Channel {
    /// A channel over `transport`; starts reading (call inside a tokio
    /// runtime).
    pub fn new(transport: Box<dyn SignalTransport>) -> Channel {
        let (tx, rx) = transport.split();
        let inbox = Arc::new(Shared {
            state: std::sync::Mutex::new(Inbox::default()),
            arrived: tokio::sync::Notify::new(),
        });
        let reader = tokio::spawn(read_all(rx, inbox.clone()));
        Channel {
            tx: tokio::sync::Mutex::new(tx),
            inbox,
            reader,
        }
    }

    /// Ends the session on the transport (best effort, bounded).
    pub async fn close(&self) {
        self.reader.abort();
        self.tx.lock().await.close().await;
    }

    /// Sends one message.
    pub async fn send(&self, s: &Signal) -> Result<(), SignalFailure> {
        self.tx.lock().await.send(&signal_text(s)).await
    }

    /// The first message `pick` accepts (others stay buffered for other
    /// steps), by `deadline`. `what` names the awaited step in errors.
    /// With `within`, the other side's end of that policy's run (its
    /// `policy-done`, left buffered) ends the wait: the step will not
    /// come.
    pub async fn recv<T>(
        &self,
        what: &str,
        deadline: Instant,
        within: Option<PeerPolicy>,
        mut pick: impl FnMut(&Signal) -> Option<T> + Send,
    ) -> Result<T, SignalFailure> {
        let ended =
            |s: &Signal| matches!(s, Signal::PolicyDone { policy, .. } if Some(*policy) == within);
        loop {
            // Registered before looking, so a message that arrives between
            // the look and the wait still wakes this step.
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut inbox = self.inbox.lock();
                if let Some((i, t)) = inbox
                    .buffer
                    .iter()
                    .enumerate()
                    .find_map(|(i, s)| pick(s).map(|t| (i, t)))
                {
                    inbox.buffer.remove(i);
                    return Ok(t);
                }
                if inbox.buffer.iter().any(ended) {
                    return Err(SignalFailure::PeerLeft(format!(
                        "it ended this run before sending its {what}"
                    )));
                }
                if let Some(why) = &inbox.bye {
                    return Err(SignalFailure::PeerLeft(why.clone()));
                }
                if let Some(e) = &inbox.failed {
                    return Err(e.clone());
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(SignalFailure::Timeout(what.into()));
            }
        }
    }

    /// Drops buffered messages of `policy` (its run is over here).
    pub fn forget_policy(&self, policy: PeerPolicy) {
        self.inbox.lock().buffer.retain(|s| match s {
            Signal::Ice { policy: p, .. }
            | Signal::ChecksReady { policy: p }
            | Signal::Sdp { policy: p, .. }
            | Signal::PolicyDone { policy: p, .. } => *p != policy,
            _ => true,
        });
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// [`crate::ice::RemoteSignal`] for one policy's ICE run over a
/// [`Channel`].
pub(crate) struct PolicySignal<'c> {
    pub(crate) channel: &'c Channel,
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

impl SignalTransport for Memory {
    fn split(self: Box<Self>) -> (Box<dyn SignalSender>, Box<dyn SignalReceiver>) {
        (Box::new(MemoryOut(self.tx)), Box::new(MemoryIn(self.rx)))
    }
}

struct MemoryOut(tokio::sync::mpsc::Sender<String>);
struct MemoryIn(tokio::sync::mpsc::Receiver<String>);

#[async_trait::async_trait]
impl SignalSender for MemoryOut {
    async fn send(&mut self, text: &str) -> Result<(), SignalFailure> {
        self.0
            .send(text.to_string())
            .await
            .map_err(|_| SignalFailure::PeerLeft("the channel closed".into()))
    }
}

#[async_trait::async_trait]
impl SignalReceiver for MemoryIn {
    async fn recv(&mut self, deadline: Instant) -> Result<String, SignalFailure> {
        match tokio::time::timeout_at(deadline, self.0.recv()).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(SignalFailure::PeerLeft("the channel closed".into())),
            Err(_) => Err(SignalFailure::Timeout("message".into())),
        }
    }
}
