//! A WebRTC data channel (DTLS + SCTP) over the pair ICE selected.
//!
//! Two str0m `Rtc` peers (sans-IO) negotiate one data channel by a real SDP
//! offer/answer (passed in-process as SDP text). Each peer has one host
//! candidate at a fixed LABEL address from 192.0.2.0/24 that never reaches
//! the wire: every datagram str0m emits is framed (see [`FRAME`]) and sent
//! as application data over its rice-proto agent's selected pair (host,
//! srflx or relay/TURN); the other agent's received application data is
//! unframed and fed to the other peer with the first peer's label as source.
//! So str0m's own ICE checks, the DTLS handshake, SCTP and the DCEP open all
//! cross the real path.
//!
//! The frame keeps str0m's STUN checks from being taken by rice-proto as
//! its own (rice-proto answers STUN on the selected pair itself).

mod crypto;

/// str0m's crypto provider (also for the browser peer, `crate::browser`).
pub(crate) use crypto::provider as crypto_provider;

use super::agent::Pair;
use super::result::{DataChannelFailure, DataChannelPhase, DataChannelResult};
use super::run::RemoteSignal;
use super::side::PerSide;
use model::ice::{IceFilter, Side};
use model::peer::SdpKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

/// Prefix of every bridged str0m datagram: 0xF0 is outside every RFC 7983
/// demultiplexing range (STUN, DTLS, TURN channels, RTP), so rice-proto
/// hands it to the application untouched.
const FRAME: &[u8; 4] = b"\xF0nsd";
/// Most data-channel messages kept per peer until read.
const BATCH: usize = 64;

/// The label addresses of the two str0m peers (documentation range; never
/// sent to).
fn label(side: Side) -> SocketAddr {
    let host = match side {
        Side::A => 1,
        Side::B => 2,
    };
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, host)), 5000)
}

/// One str0m peer and what it reported.
struct Peer {
    rtc: Rtc,
    next: Instant,
    ice_connected: Option<Instant>,
    dtls_connected: Option<Instant>,
    open: Option<(ChannelId, String, Instant)>,
    received: Vec<Vec<u8>>,
    sent: u32,
}

impl Peer {
    fn new(now: Instant) -> Self {
        let rtc = Rtc::builder()
            .set_crypto_provider(Arc::new(crypto::provider()))
            .build(now);
        Self {
            rtc,
            next: now,
            ice_connected: None,
            dtls_connected: None,
            open: None,
            received: Vec::new(),
            sent: 0,
        }
    }
}

/// The two peers and the agents that carry their datagrams.
struct Bridge<'a> {
    pair: &'a mut Pair,
    peers: PerSide<Peer>,
    t0: Instant,
    /// Only this side's peer runs here (the other is another natscope's).
    only: Option<Side>,
}

impl Bridge<'_> {
    /// The peers this process runs.
    fn sides(&self) -> Vec<Side> {
        match self.only {
            Some(side) => vec![side],
            None => Side::BOTH.to_vec(),
        }
    }

    /// Drains peer `side`'s output until its next timeout: transmits go over
    /// the selected pair, events are recorded.
    fn drain(&mut self, side: Side) -> Result<(), DataChannelFailure> {
        loop {
            let out = self.peers[side]
                .rtc
                .poll_output()
                .map_err(|e| DataChannelFailure::Peer {
                    peer: side.as_str().into(),
                    message: e.to_string(),
                })?;
            let p = &mut self.peers[side];
            match out {
                Output::Timeout(t) => {
                    p.next = t;
                    return Ok(());
                }
                Output::Transmit(t) => {
                    let mut framed = Vec::with_capacity(FRAME.len() + t.contents.len());
                    framed.extend_from_slice(FRAME);
                    framed.extend_from_slice(&t.contents);
                    p.sent += 1;
                    self.pair
                        .send_app(side, &framed)
                        .map_err(|message| DataChannelFailure::Bridge { message })?;
                }
                Output::Event(e) => match e {
                    Event::IceConnectionStateChange(IceConnectionState::Connected)
                    | Event::IceConnectionStateChange(IceConnectionState::Completed) => {
                        p.ice_connected.get_or_insert_with(Instant::now);
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        return Err(DataChannelFailure::Peer {
                            peer: side.as_str().into(),
                            message: "str0m ICE disconnected".into(),
                        });
                    }
                    Event::Connected => {
                        p.dtls_connected.get_or_insert_with(Instant::now);
                    }
                    Event::ChannelOpen(id, label) => {
                        p.open.get_or_insert((id, label, Instant::now()));
                    }
                    Event::ChannelData(d) if p.received.len() < BATCH => p.received.push(d.data),
                    _ => {}
                },
            }
        }
    }

    /// Feeds what each agent received (framed str0m datagrams) and due
    /// timeouts to the peers.
    fn feed(&mut self) -> Result<(), DataChannelFailure> {
        for side in self.sides() {
            let inbound: Vec<Vec<u8>> = self.pair.sides[side]
                .app_rx
                .drain(..)
                .filter_map(|d| d.strip_prefix(FRAME.as_slice()).map(<[u8]>::to_vec))
                .collect();
            for d in inbound {
                let now = Instant::now();
                // Anything str0m cannot parse is dropped, like a stray packet.
                let Ok(r) = Receive::new(Protocol::Udp, label(side.other()), label(side), &d)
                else {
                    continue;
                };
                // A datagram str0m rejects is loss, not the end of the run.
                if self.peers[side]
                    .rtc
                    .handle_input(Input::Receive(now, r))
                    .is_ok()
                {
                    self.drain(side)?;
                }
            }
            let now = Instant::now();
            if now >= self.peers[side].next {
                self.peers[side]
                    .rtc
                    .handle_input(Input::Timeout(now))
                    .map_err(|e| DataChannelFailure::Peer {
                        peer: side.as_str().into(),
                        message: e.to_string(),
                    })?;
                self.drain(side)?;
            }
        }
        Ok(())
    }

    /// Runs the loop until `done` or `deadline`. Returns whether `done` held.
    async fn until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&PerSide<Peer>) -> bool,
    ) -> Result<bool, DataChannelFailure> {
        loop {
            self.feed()?;
            if done(&self.peers) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let wake = self
                .sides()
                .into_iter()
                .map(|side| self.peers[side].next)
                .fold(deadline, Instant::min);
            let wake = tokio::time::Instant::from_std(wake.max(now));
            self.pair
                .drive_until(wake, |s| s.iter().any(|s| !s.app_rx.is_empty()))
                .await;
        }
    }
}

fn since(t0: Instant, a: Option<Instant>, b: Option<Instant>) -> Option<Duration> {
    Some(a?.max(b?).saturating_duration_since(t0))
}

/// Opens a data channel between two str0m peers over `pair`'s selected
/// pair and sends one message each way. `open_timeout` bounds ICE + DTLS +
/// SCTP + channel open; `message_timeout` bounds the message exchange.
/// With `remote`, only that side's peer runs here and the SDP goes
/// through the signalling to the other natscope, which runs the other.
pub(crate) async fn run<'d>(
    pair: &mut Pair,
    filter: IceFilter,
    open_timeout: Duration,
    message_timeout: Duration,
    remote: Option<(Side, &mut (dyn RemoteSignal + 'd))>,
) -> DataChannelResult {
    let mut res = DataChannelResult {
        failure: None,
        ice_connected_after: None,
        dtls_connected_after: None,
        time_to_open: None,
        label: None,
        a_to_b: false,
        b_to_a: false,
        message_rtt: None,
        datagrams: (0, 0),
    };
    // Stale application data (pings) is not str0m's.
    for s in pair.sides.iter_mut() {
        s.app_rx.clear();
    }
    let now = Instant::now();
    let peers = PerSide::new(|_| Peer::new(now));
    let mut br = Bridge {
        pair,
        peers,
        t0: now,
        only: remote.as_ref().map(|r| r.0),
    };
    let outcome = match remote {
        Some((side, signal)) => {
            exchange_remote(
                &mut br,
                side,
                signal,
                filter,
                open_timeout,
                message_timeout,
                &mut res,
            )
            .await
        }
        None => exchange(&mut br, filter, open_timeout, message_timeout, &mut res).await,
    };
    let PerSide { a, b } = &br.peers;
    if let Some(side) = br.only {
        let p = &br.peers[side];
        res.ice_connected_after = since(br.t0, p.ice_connected, p.ice_connected);
        res.dtls_connected_after = since(br.t0, p.dtls_connected, p.dtls_connected);
        let open = p.open.as_ref().map(|o| o.2);
        res.time_to_open = since(br.t0, open, open);
        res.label = p.open.as_ref().map(|o| o.1.clone());
        res.datagrams = match side {
            Side::A => (p.sent, 0),
            Side::B => (0, p.sent),
        };
    } else {
        res.ice_connected_after = since(br.t0, a.ice_connected, b.ice_connected);
        res.dtls_connected_after = since(br.t0, a.dtls_connected, b.dtls_connected);
        res.time_to_open = since(
            br.t0,
            a.open.as_ref().map(|o| o.2),
            b.open.as_ref().map(|o| o.2),
        );
        res.label = b.open.as_ref().map(|o| o.1.clone());
        res.datagrams = (a.sent, b.sent);
    }
    if let Err(f) = outcome {
        res.failure = Some(f);
    }
    for p in br.peers.iter_mut() {
        p.rtc.disconnect();
    }
    res
}

/// SDP offer/answer, open, one message each way.
async fn exchange(
    br: &mut Bridge<'_>,
    filter: IceFilter,
    open_timeout: Duration,
    message_timeout: Duration,
    res: &mut DataChannelResult,
) -> Result<(), DataChannelFailure> {
    let setup = |e: &dyn std::fmt::Display| DataChannelFailure::Setup {
        message: e.to_string(),
    };
    for side in Side::BOTH {
        let c = Candidate::host(label(side), "udp").map_err(|e| setup(&e))?;
        br.peers[side].rtc.add_local_candidate(c);
        br.drain(side)?;
    }
    let chan_label = format!("natscope-{filter}");
    let mut change = br.peers.a.rtc.sdp_api();
    let cid = change.add_channel(chan_label.clone());
    let (offer, pending) = change.apply().ok_or_else(|| setup(&"empty SDP change"))?;
    br.drain(Side::A)?;
    // Through SDP text, as a signalling server would carry it.
    let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string()).map_err(|e| setup(&e))?;
    let answer = br
        .peers
        .b
        .rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| setup(&e))?;
    br.drain(Side::B)?;
    let answer = SdpAnswer::from_sdp_string(&answer.to_sdp_string()).map_err(|e| setup(&e))?;
    br.peers
        .a
        .rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| setup(&e))?;
    br.drain(Side::A)?;
    br.t0 = Instant::now();

    let open_deadline = br.t0 + open_timeout;
    let opened = br
        .until(open_deadline, |p| p.iter().all(|p| p.open.is_some()))
        .await?;
    if !opened {
        let PerSide { a, b } = &br.peers;
        let phase = if a.ice_connected.is_none() || b.ice_connected.is_none() {
            DataChannelPhase::Ice
        } else if a.dtls_connected.is_none() || b.dtls_connected.is_none() {
            DataChannelPhase::Dtls
        } else {
            DataChannelPhase::Open
        };
        return Err(DataChannelFailure::Timeout { phase });
    }

    // One message each way.
    let ping = format!("natscope data channel ping {filter}").into_bytes();
    let pong = format!("natscope data channel pong {filter}").into_bytes();
    let start = Instant::now();
    let deadline = start + message_timeout;
    let write = |br: &mut Bridge<'_>, side: Side, id: ChannelId, msg: &[u8]| {
        let ok = br.peers[side]
            .rtc
            .channel(id)
            .map(|mut ch| ch.write(true, msg))
            .transpose()
            .map_err(|e| DataChannelFailure::Peer {
                peer: side.as_str().into(),
                message: e.to_string(),
            })?;
        br.drain(side)?;
        ok.ok_or_else(|| DataChannelFailure::Peer {
            peer: side.as_str().into(),
            message: "channel not available".into(),
        })
    };
    write(br, Side::A, cid, &ping)?;
    res.a_to_b = br.until(deadline, |p| p.b.received.contains(&ping)).await?;
    if !res.a_to_b {
        return Err(DataChannelFailure::Timeout {
            phase: DataChannelPhase::Message,
        });
    }
    let bid = br
        .peers
        .b
        .open
        .as_ref()
        .map(|o| o.0)
        .ok_or_else(|| setup(&"peer b has no channel"))?;
    write(br, Side::B, bid, &pong)?;
    res.b_to_a = br.until(deadline, |p| p.a.received.contains(&pong)).await?;
    if !res.b_to_a {
        return Err(DataChannelFailure::Timeout {
            phase: DataChannelPhase::Message,
        });
    }
    res.message_rtt = Some(start.elapsed());
    Ok(())
}

/// The remote form of [`exchange`]: this side's peer only; "a" offers and
/// "b" answers through `signal`; then "a" sends a ping, "b" a pong, and
/// "a" a last message so that "b" learns its pong arrived.
async fn exchange_remote<'d>(
    br: &mut Bridge<'_>,
    side: Side,
    signal: &mut (dyn RemoteSignal + 'd),
    filter: IceFilter,
    open_timeout: Duration,
    message_timeout: Duration,
    res: &mut DataChannelResult,
) -> Result<(), DataChannelFailure> {
    let setup = |e: &dyn std::fmt::Display| DataChannelFailure::Setup {
        message: e.to_string(),
    };
    let c = Candidate::host(label(side), "udp").map_err(|e| setup(&e))?;
    br.peers[side].rtc.add_local_candidate(c);
    br.drain(side)?;
    let sdp_deadline = tokio::time::Instant::now() + open_timeout;
    let mut our_channel = None;
    match side {
        Side::A => {
            let mut change = br.peers.a.rtc.sdp_api();
            our_channel = Some(change.add_channel(format!("natscope-peer-{filter}")));
            let (offer, pending) = change.apply().ok_or_else(|| setup(&"empty SDP change"))?;
            br.drain(Side::A)?;
            signal
                .send_sdp(SdpKind::Offer, offer.to_sdp_string())
                .await
                .map_err(|m| setup(&m))?;
            let answer = signal
                .recv_sdp(SdpKind::Answer, sdp_deadline)
                .await
                .map_err(|m| setup(&m))?;
            let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| setup(&e))?;
            br.peers
                .a
                .rtc
                .sdp_api()
                .accept_answer(pending, answer)
                .map_err(|e| setup(&e))?;
            br.drain(Side::A)?;
        }
        Side::B => {
            let offer = signal
                .recv_sdp(SdpKind::Offer, sdp_deadline)
                .await
                .map_err(|m| setup(&m))?;
            let offer = SdpOffer::from_sdp_string(&offer).map_err(|e| setup(&e))?;
            let answer = br
                .peers
                .b
                .rtc
                .sdp_api()
                .accept_offer(offer)
                .map_err(|e| setup(&e))?;
            br.drain(Side::B)?;
            signal
                .send_sdp(SdpKind::Answer, answer.to_sdp_string())
                .await
                .map_err(|m| setup(&m))?;
        }
    }
    br.t0 = Instant::now();
    let opened = br
        .until(br.t0 + open_timeout, |p| p[side].open.is_some())
        .await?;
    if !opened {
        let p = &br.peers[side];
        let phase = if p.ice_connected.is_none() {
            DataChannelPhase::Ice
        } else if p.dtls_connected.is_none() {
            DataChannelPhase::Dtls
        } else {
            DataChannelPhase::Open
        };
        return Err(DataChannelFailure::Timeout { phase });
    }
    let id = our_channel
        .or_else(|| br.peers[side].open.as_ref().map(|o| o.0))
        .ok_or_else(|| setup(&"no channel"))?;
    let ping = format!("natscope data channel ping {filter}").into_bytes();
    let pong = format!("natscope data channel pong {filter}").into_bytes();
    let last = format!("natscope data channel done {filter}").into_bytes();
    let write = |br: &mut Bridge<'_>, msg: &[u8]| {
        let ok = br.peers[side]
            .rtc
            .channel(id)
            .map(|mut ch| ch.write(true, msg))
            .transpose()
            .map_err(|e| DataChannelFailure::Peer {
                peer: side.as_str().into(),
                message: e.to_string(),
            })?;
        br.drain(side)?;
        ok.ok_or_else(|| DataChannelFailure::Peer {
            peer: side.as_str().into(),
            message: "channel not available".into(),
        })
    };
    let start = Instant::now();
    let deadline = start + message_timeout;
    let message_timeout_failure = DataChannelFailure::Timeout {
        phase: DataChannelPhase::Message,
    };
    match side {
        Side::A => {
            write(br, &ping)?;
            res.b_to_a = br.until(deadline, |p| p.a.received.contains(&pong)).await?;
            // The pong answers the ping: both ways.
            res.a_to_b = res.b_to_a;
            if !res.b_to_a {
                return Err(message_timeout_failure);
            }
            res.message_rtt = Some(start.elapsed());
            write(br, &last)?;
            // Time for the last message to leave (SCTP), bounded.
            br.until(Instant::now() + Duration::from_millis(50), |_| false)
                .await?;
        }
        Side::B => {
            res.a_to_b = br.until(deadline, |p| p.b.received.contains(&ping)).await?;
            if !res.a_to_b {
                return Err(message_timeout_failure);
            }
            let t = Instant::now();
            write(br, &pong)?;
            res.b_to_a = br.until(deadline, |p| p.b.received.contains(&last)).await?;
            if !res.b_to_a {
                return Err(message_timeout_failure);
            }
            res.message_rtt = Some(t.elapsed());
        }
    }
    Ok(())
}
