//! natscope's WebRTC peer for the browser: one str0m `Rtc` (ICE, DTLS,
//! SCTP) on one real UDP socket, answering the page's offer with one host
//! candidate, echoing every data-channel message back.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::ice::datachannel::crypto_provider;

/// Most messages echoed per connection (a page in a loop cannot keep the
/// peer busy for ever).
const MAX_ECHOES: u32 = 1000;
/// Most trickled candidates taken from the page per connection.
const MAX_TRICKLED: usize = 100;
/// Longest a peer lives, whatever the page does.
const MAX_LIFE: Duration = Duration::from_secs(120);

/// What the peer saw of the browser.
#[derive(Debug, Clone, Default)]
pub(super) struct PeerSaw {
    /// ICE reached connected at natscope's end.
    pub(super) ice_connected: bool,
    /// DTLS completed.
    pub(super) dtls_connected: bool,
    /// Where the browser's data (DTLS, on the selected pair) last came
    /// from; before any, where its first packet came from. Connectivity
    /// checks on other pairs (a browser keeps checking them) do not count.
    pub(super) from: Option<SocketAddr>,
    /// Distinct source addresses seen (at most a few are kept).
    pub(super) sources: Vec<SocketAddr>,
    /// Messages echoed.
    pub(super) echoed: u32,
    /// Why the peer stopped early, if it did.
    pub(super) error: Option<String>,
}

impl PeerSaw {
    /// One line for the report.
    pub(super) fn describe(&self) -> String {
        let mut s = if self.ice_connected {
            "ICE connected".to_owned()
        } else {
            "ICE not connected".to_owned()
        };
        if self.dtls_connected {
            s.push_str(", DTLS up");
        }
        if let Some(from) = self.from {
            s.push_str(&format!("; the browser's packets came from {from}"));
        } else {
            s.push_str("; no packet from the browser arrived");
        }
        if self.echoed > 0 {
            s.push_str(&format!("; {} message(s) echoed", self.echoed));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("; stopped: {e}"));
        }
        s
    }
}

/// A running peer.
pub(super) struct PeerHandle {
    stop: Option<oneshot::Sender<()>>,
    trickle: mpsc::Sender<String>,
    task: tokio::task::JoinHandle<()>,
    saw: Arc<Mutex<PeerSaw>>,
}

impl PeerHandle {
    /// Hands a candidate the browser trickled (`candidate:…`) to the peer.
    /// Beyond [`MAX_TRICKLED`] (or a full queue) it is dropped: the peer
    /// still learns the browser's address from its checks (peer-reflexive).
    pub(super) fn trickle(&self, line: &str) {
        let _ = self.trickle.try_send(line.to_owned());
    }

    /// Stops the peer and returns what it saw.
    pub(super) async fn stop(mut self) -> PeerSaw {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // The task ends at its next wake; bounded in case it does not.
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
        self.task.abort();
        self.saw.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Binds a UDP socket on `ip`, accepts the page's `offer` and starts the
/// peer. Returns the answer SDP.
pub(super) fn start(ip: IpAddr, offer: &str) -> Result<(PeerHandle, String), String> {
    let std_socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))
        .map_err(|e| format!("cannot bind a UDP socket on {ip}: {e}"))?;
    std_socket
        .set_nonblocking(true)
        .map_err(|e| format!("cannot set up the UDP socket: {e}"))?;
    let local = std_socket
        .local_addr()
        .map_err(|e| format!("cannot read the UDP socket's address: {e}"))?;
    let socket = UdpSocket::from_std(std_socket)
        .map_err(|e| format!("cannot register the UDP socket: {e}"))?;
    let now = Instant::now();
    let mut rtc = Rtc::builder()
        .set_crypto_provider(Arc::new(crypto_provider()))
        .build(now);
    let cand = Candidate::host(local, "udp").map_err(|e| format!("host candidate {local}: {e}"))?;
    rtc.add_local_candidate(cand);
    let offer = SdpOffer::from_sdp_string(offer)
        .map_err(|e| format!("the browser's offer is not SDP natscope can read: {e}"))?;
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| format!("the browser's offer was refused: {e}"))?;
    let saw = Arc::new(Mutex::new(PeerSaw::default()));
    let (stop, stopped) = oneshot::channel();
    let (trickle, trickled) = mpsc::channel(MAX_TRICKLED);
    let task = tokio::spawn(drive(rtc, socket, local, saw.clone(), stopped, trickled));
    Ok((
        PeerHandle {
            stop: Some(stop),
            trickle,
            task,
            saw,
        },
        answer.to_sdp_string(),
    ))
}

fn note(saw: &Mutex<PeerSaw>, f: impl FnOnce(&mut PeerSaw)) {
    if let Ok(mut s) = saw.lock() {
        f(&mut s);
    }
}

/// Drains `rtc`'s output until its next timeout.
async fn drain(rtc: &mut Rtc, socket: &UdpSocket, saw: &Mutex<PeerSaw>) -> Result<Instant, String> {
    loop {
        match rtc.poll_output().map_err(|e| e.to_string())? {
            Output::Timeout(t) => return Ok(t),
            Output::Transmit(t) => {
                // A send error (no route) is loss, as on the wire.
                let _ = socket.send_to(&t.contents, t.destination).await;
            }
            Output::Event(e) => match e {
                Event::IceConnectionStateChange(
                    IceConnectionState::Connected | IceConnectionState::Completed,
                ) => note(saw, |s| s.ice_connected = true),
                Event::Connected => note(saw, |s| s.dtls_connected = true),
                Event::ChannelData(d) => {
                    let echoed = saw.lock().map(|s| s.echoed).unwrap_or(MAX_ECHOES);
                    if echoed < MAX_ECHOES
                        && let Some(mut ch) = rtc.channel(d.id)
                        && ch.write(d.binary, &d.data).is_ok()
                    {
                        note(saw, |s| s.echoed += 1);
                    }
                }
                _ => {}
            },
        }
    }
}

async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    saw: Arc<Mutex<PeerSaw>>,
    mut stopped: oneshot::Receiver<()>,
    mut trickled: mpsc::Receiver<String>,
) {
    let mut taken = 0usize;
    let end = tokio::time::Instant::now() + MAX_LIFE;
    let mut buf = vec![0u8; 2048];
    let mut next = match drain(&mut rtc, &socket, &saw).await {
        Ok(t) => t,
        Err(e) => {
            note(&saw, |s| s.error = Some(e));
            return;
        }
    };
    loop {
        let wake = tokio::time::Instant::from_std(next.max(Instant::now()));
        tokio::select! {
            _ = &mut stopped => break,
            Some(line) = trickled.recv(), if taken < MAX_TRICKLED => {
                taken += 1;
                // mDNS names and anything str0m cannot read are skipped:
                // the browser's checks still reach the peer.
                let line = line.trim().trim_start_matches("a=");
                if let Ok(c) = Candidate::from_sdp_string(line) {
                    rtc.add_remote_candidate(c);
                }
            }
            _ = tokio::time::sleep_until(end) => {
                note(&saw, |s| s.error = Some("the peer's time limit passed".into()));
                break;
            }
            r = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let Some(data) = buf.get(..n) else { continue };
                // RFC 7983 demultiplexing: 20..=63 is DTLS, the selected
                // pair's traffic; STUN (0..=3) checks every pair.
                let dtls = data.first().is_some_and(|b| (20..=63).contains(b));
                note(&saw, |s| {
                    if dtls || s.from.is_none() {
                        s.from = Some(from);
                    }
                    if !s.sources.contains(&from) && s.sources.len() < 8 {
                        s.sources.push(from);
                    }
                });
                // What str0m cannot parse is a stray packet, not the end.
                let Ok(rx) = Receive::new(Protocol::Udp, from, local, data) else { continue };
                if rtc.handle_input(Input::Receive(Instant::now(), rx)).is_err() {
                    continue;
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if let Err(e) = rtc.handle_input(Input::Timeout(Instant::now())) {
                    note(&saw, |s| s.error = Some(e.to_string()));
                    break;
                }
            }
        }
        match drain(&mut rtc, &socket, &saw).await {
            Ok(t) => next = t,
            Err(e) => {
                note(&saw, |s| s.error = Some(e));
                break;
            }
        }
    }
    rtc.disconnect();
    let _ = drain(&mut rtc, &socket, &saw).await;
}
