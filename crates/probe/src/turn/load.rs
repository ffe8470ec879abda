//! `natscope turn --load`: a bounded load test of a TURN server over UDP.
//!
//! Allocations from distinct source ports are made in ramp steps and
//! paired; each pair permits and binds a channel to the other's relayed
//! address (relay to relay, so it works behind any NAT), then each side
//! streams probes at the configured rate to its partner, which returns
//! them at once. A probe carries its sender, sequence number and send time,
//! so its round trip is measured where it was sent. Per step (by the
//! probe's send time): probes sent and returned, round trips (a log
//! histogram: memory stays flat however long the run) and jitter. The run
//! stops by itself at its duration, when the server stops relaying, or
//! when asked; every allocation is then deleted, bounded.
//!
//! Each allocation's stream is its own task: turn-client-proto frames the
//! ChannelData and keeps the allocation, permission and channel refreshed.

use super::conn::{Conn, connected_udp};
use super::creds::{ResolvedCredentials, TurnAuth, unix_now};
use super::failure::name_io_error;
use super::hold::allocation_failure;
use super::session::{Session, permission_outcome};
use model::load::{
    AllocationStats, ErrorCount, LoadConfig, LoadEnd, LoadSection, LoadStep, Percentiles,
    TrafficStats, find_knee,
};
use model::turn::{TurnFailure, TurnTransport, error_code_text};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use turn_client_proto::api::{TurnClientApi, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::prelude::DelayedTransmitBuild;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::types::message::{CHANNEL_BIND, CREATE_PERMISSION};
use turn_client_proto::types::{AddressFamily, TransportType};

/// What a load run asks for.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Allocations at full load (rounded up to even).
    pub allocations: u32,
    /// Packets per second per allocation.
    pub rate_pps: u32,
    /// Payload bytes per packet (at least [`HEADER`]).
    pub size: u32,
    /// Whole run.
    pub duration: Duration,
    /// Time to full load.
    pub ramp: Duration,
    /// Ramp steps.
    pub steps: u32,
    /// Deadline of each request (Allocate, CreatePermission, ChannelBind,
    /// the final deletes).
    pub request_timeout: Duration,
    /// Nothing relayed for this long while streaming ends the run.
    pub silence: Duration,
    /// Most setups in flight at once.
    pub concurrency: usize,
}

impl Default for LoadPlan {
    fn default() -> Self {
        Self {
            allocations: 100,
            rate_pps: 50,
            size: 160,
            duration: Duration::from_secs(30),
            ramp: Duration::from_secs(10),
            steps: 5,
            request_timeout: Duration::from_secs(5),
            silence: Duration::from_secs(3),
            concurrency: 64,
        }
    }
}

/// Why a load run was refused before it sent anything.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The server is neither on loopback nor in a documentation range (the
    /// lab), and the user did not say they run it.
    #[error(
        "{0} is not on loopback or in the lab: pass --i-own-this-server to load a server you run"
    )]
    NotYourServer(SocketAddr),
    /// The server address could not be found.
    #[error("{0}")]
    Resolve(String),
}

/// Whether `ip` is one a load test may target without the owner's flag:
/// loopback, or a documentation range the lab uses.
pub fn is_lab_or_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_loopback()
                || (o[0], o[1], o[2]) == (192, 0, 2)
                || (o[0], o[1], o[2]) == (198, 51, 100)
                || (o[0], o[1], o[2]) == (203, 0, 113)
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => a.is_loopback() || a.segments()[..2] == [0x2001, 0x0db8],
    }
}

/// Bytes at the start of every probe: magic (2), kind (1), pad (1),
/// sender (4), sequence (4), send time in µs since the run began (8).
pub const HEADER: usize = 20;
const MAGIC: [u8; 2] = *b"nl";
const PROBE: u8 = 0;
const ECHO: u8 = 1;

/// A log histogram of round trips: 1 µs to ~100 s in 8 buckets per
/// doubling (9 % wide), so percentiles are within a few percent and
/// memory is fixed.
#[derive(Debug, Clone)]
struct Hist {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

const HIST_BUCKETS: usize = 8 * 27;

impl Hist {
    fn new() -> Self {
        Self {
            buckets: vec![0; HIST_BUCKETS],
            count: 0,
            max_us: 0,
        }
    }
    fn bucket(us: u64) -> usize {
        let x = (us.max(1) as f64).log2() * 8.0;
        (x as usize).min(HIST_BUCKETS - 1)
    }
    fn add(&mut self, us: u64) {
        self.buckets[Self::bucket(us)] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }
    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
        self.max_us = self.max_us.max(o.max_us);
    }
    /// The `p`-th percentile in ms (the bucket's geometric middle).
    fn pct_ms(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let want = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                let us = 2f64.powf((i as f64 + 0.5) / 8.0);
                return Some((us / 1000.0).min(self.max_us as f64 / 1000.0));
            }
        }
        Some(self.max_us as f64 / 1000.0)
    }
    fn percentiles(&self) -> Percentiles {
        Percentiles {
            count: self.count,
            p50_ms: self.pct_ms(50.0),
            p95_ms: self.pct_ms(95.0),
            p99_ms: self.pct_ms(99.0),
            max_ms: (self.count > 0).then(|| self.max_us as f64 / 1000.0),
        }
    }
}

/// One step's counts, kept by each stream and added up.
#[derive(Debug, Clone)]
struct StepCounts {
    probes: u64,
    returned: u64,
    rtt: Hist,
    jitter_sum_us: f64,
    jitter_n: u64,
}

impl StepCounts {
    fn new() -> Self {
        Self {
            probes: 0,
            returned: 0,
            rtt: Hist::new(),
            jitter_sum_us: 0.0,
            jitter_n: 0,
        }
    }
    fn merge(&mut self, o: &StepCounts) {
        self.probes += o.probes;
        self.returned += o.returned;
        self.rtt.merge(&o.rtt);
        self.jitter_sum_us += o.jitter_sum_us;
        self.jitter_n += o.jitter_n;
    }
}

/// What every stream adds to, shared.
struct Shared {
    origin: Instant,
    step_starts: Vec<Duration>,
    steps: Mutex<Vec<StepCounts>>,
    sent: AtomicU64,
    received: AtomicU64,
    sent_bytes: AtomicU64,
    received_bytes: AtomicU64,
    malformed: AtomicU64,
    errors: Mutex<Vec<ErrorCount>>,
    allocate_us: Mutex<Hist>,
    lost_allocations: AtomicU64,
}

impl Shared {
    fn step_of(&self, since_origin: Duration) -> usize {
        self.step_starts
            .iter()
            .rposition(|s| *s <= since_origin)
            .unwrap_or(0)
    }

    fn error(&self, code: u16, request: &str) {
        let mut e = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match e
            .iter_mut()
            .find(|x| x.code == code && x.request == request)
        {
            Some(x) => x.count += 1,
            None => e.push(ErrorCount {
                code,
                request: request.to_string(),
                count: 1,
                meaning: if code == 0 {
                    "no answer".to_string()
                } else {
                    error_code_text(code, "")
                },
            }),
        }
    }
}

/// An allocation ready to stream: its session, partner and id.
struct Ready {
    session: Session,
    creds: ResolvedCredentials,
    id: u32,
    partner: SocketAddr,
}

/// The error code of a failure, for the errors table (0: no answer).
fn failure_code(f: &TurnFailure) -> u16 {
    match f {
        TurnFailure::AllocationQuota => 486,
        TurnFailure::InsufficientCapacity => 508,
        TurnFailure::WrongCredentials => 401,
        TurnFailure::StaleNonce => 438,
        TurnFailure::ForbiddenPeer => 403,
        TurnFailure::AddressFamilyNotSupported => 440,
        TurnFailure::ServerError { code, .. } => *code,
        _ => 0,
    }
}

/// One allocation: the session and its relayed address, or the failure
/// and (for 300) the alternate server named.
async fn allocate_one(
    server: SocketAddr,
    creds: &ResolvedCredentials,
    timeout: Duration,
) -> Result<(Session, SocketAddr), (TurnFailure, Option<SocketAddr>)> {
    let sock = connected_udp(server)
        .await
        .map_err(|e| (name_io_error(&e), None))?;
    let mut s = Session::new(Conn::Udp(sock), Some(creds), AddressFamily::IPV4)
        .map_err(|e| (name_io_error(&e), None))?;
    let (res, created) = s.await_allocation(Instant::now() + timeout).await;
    let relayed = s
        .client
        .relayed_addresses()
        .map(|(_, a)| a)
        .next()
        .or(s.tap.relayed);
    match (created, relayed) {
        (true, Some(r)) => {
            s.events.clear();
            Ok((s, r))
        }
        _ if s.tap.alternate.is_some() => Err((
            TurnFailure::ServerError {
                code: 300,
                reason: "Try Alternate".into(),
            },
            s.tap.alternate,
        )),
        _ => Err((allocation_failure(&s, res, timeout), None)),
    }
}

/// Permission and channel towards `partner` on `s`; the failing request
/// and its code otherwise.
async fn bind_to(
    s: &mut Session,
    partner: SocketAddr,
    timeout: Duration,
) -> Result<(), (&'static str, u16)> {
    let code_of = |s: &Session, m| s.tap.last_error_for(m).map(|(c, _)| c).unwrap_or(0);
    let now = s.now();
    let issued = s
        .client
        .create_permission(TransportType::Udp, partner.ip(), now)
        .is_ok();
    let (ok, _) = s
        .settle(issued, Instant::now() + timeout, permission_outcome)
        .await;
    if !ok {
        return Err(("CreatePermission", code_of(s, CREATE_PERMISSION)));
    }
    let now = s.now();
    let issued = s
        .client
        .bind_channel(TransportType::Udp, partner, now)
        .is_ok();
    let (ok, _) = s
        .settle(issued, Instant::now() + timeout, |e| match e {
            TurnEvent::ChannelCreated(..) => Some(true),
            TurnEvent::ChannelCreateFailed(..) => Some(false),
            _ => None,
        })
        .await;
    if !ok {
        return Err(("ChannelBind", code_of(s, CHANNEL_BIND)));
    }
    Ok(())
}

/// How a pair's setup ended.
enum PairSetup {
    Ready(Box<Ready>, Box<Ready>),
    /// Allocations made (to delete) and why it failed.
    Failed(Vec<(Session, ResolvedCredentials)>, Option<SocketAddr>),
}

async fn setup_pair(
    server: SocketAddr,
    auth: &TurnAuth,
    ids: (u32, u32),
    shared: &Shared,
    timeout: Duration,
) -> PairSetup {
    let (ca, cb) = (auth.resolve(unix_now()), auth.resolve(unix_now()));
    let t0 = Instant::now();
    let (a, b) = tokio::join!(
        allocate_one(server, &ca, timeout),
        allocate_one(server, &cb, timeout)
    );
    let took = |_: ()| t0.elapsed().as_micros() as u64;
    let mut made = Vec::new();
    let mut redirect = None;
    let mut ok: Vec<(Session, SocketAddr, ResolvedCredentials)> = Vec::new();
    for (r, c) in [(a, ca), (b, cb)] {
        match r {
            Ok((s, relayed)) => {
                shared
                    .allocate_us
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .add(took(()));
                ok.push((s, relayed, c));
            }
            Err((f, alt)) => {
                shared.error(failure_code(&f), "Allocate");
                if failure_code(&f) == 300 {
                    redirect = alt;
                }
            }
        }
    }
    if ok.len() < 2 {
        made.extend(ok.into_iter().map(|(s, _, c)| (s, c)));
        return PairSetup::Failed(made, redirect);
    }
    // Invariant: exactly two allocations were made (checked just above).
    let (mut sb, rb, cb) = ok.pop().expect("two allocations");
    let (mut sa, ra, ca) = ok.pop().expect("two allocations");
    let (x, y) = tokio::join!(bind_to(&mut sa, rb, timeout), bind_to(&mut sb, ra, timeout));
    for r in [&x, &y] {
        if let Err((req, code)) = r {
            shared.error(*code, req);
        }
    }
    if x.is_err() || y.is_err() {
        return PairSetup::Failed(vec![(sa, ca), (sb, cb)], None);
    }
    PairSetup::Ready(
        Box::new(Ready {
            session: sa,
            creds: ca,
            id: ids.0,
            partner: rb,
        }),
        Box::new(Ready {
            session: sb,
            creds: cb,
            id: ids.1,
            partner: ra,
        }),
    )
}

/// Streams from one allocation until `stop`, then deletes it; whether the
/// server confirmed the delete.
async fn stream(
    mut r: Ready,
    plan: Arc<LoadPlan>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> bool {
    let sock = match &r.session.conn {
        Conn::Udp(s) => s,
        // Invariant: load allocations are made over UDP only.
        _ => unreachable!("load allocations are UDP"),
    };
    let server = r.session.remote;
    let local = r.session.local;
    let mut steps: Vec<StepCounts> = vec![StepCounts::new(); shared.step_starts.len()];
    // Up to 50 ticks a second; several probes per tick at higher rates.
    let ticks = plan.rate_pps.clamp(1, 50);
    let per_tick = plan.rate_pps.div_ceil(ticks);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / ticks as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush_at = Instant::now() + Duration::from_millis(500);
    let mut seq: u32 = 0;
    let mut payload = vec![0u8; (plan.size as usize).max(HEADER)];
    payload[..2].copy_from_slice(&MAGIC);
    payload[4..8].copy_from_slice(&r.id.to_be_bytes());
    let mut buf = vec![0u8; 65536];
    let mut last_rtt: Option<i64> = None;
    let mut jitter: f64 = 0.0;
    let mut poll_at = Instant::now();
    let mut stopping = false;
    let mut stop_at: Option<Instant> = None;
    loop {
        let drain_over = stop_at.is_some_and(|t| Instant::now() >= t);
        if drain_over {
            break;
        }
        let wake = stop_at.map_or(flush_at.min(poll_at), |t| t.min(flush_at).min(poll_at));
        tokio::select! {
            _ = ticker.tick(), if !stopping => {
                for _ in 0..per_tick {
                    let since = shared.origin.elapsed();
                    payload[2] = PROBE;
                    payload[8..12].copy_from_slice(&seq.to_be_bytes());
                    payload[12..20].copy_from_slice(&(since.as_micros() as u64).to_be_bytes());
                    seq = seq.wrapping_add(1);
                    let now = r.session.now();
                    if let Ok(Some(t)) = r.session.client.send_to(TransportType::Udp, r.partner, &payload, now) {
                        let data = t.data.build();
                        if sock.send(&data).await.is_ok() {
                            shared.sent.fetch_add(1, Ordering::Relaxed);
                            shared.sent_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                            steps[shared.step_of(since)].probes += 1;
                        }
                    }
                }
            }
            res = sock.recv(&mut buf) => {
                let Ok(n) = res else { continue };
                shared.received.fetch_add(1, Ordering::Relaxed);
                shared.received_bytes.fetch_add(n as u64, Ordering::Relaxed);
                let now = r.session.now();
                let t = Transmit::new(&buf[..n], TransportType::Udp, server, local);
                let data = match r.session.client.recv(t, now) {
                    TurnRecvRet::PeerData(d) => d.data().to_vec(),
                    TurnRecvRet::Handled => continue,
                    _ => {
                        shared.malformed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                if data.len() < HEADER || data[..2] != MAGIC {
                    shared.malformed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                match data[2] {
                    PROBE => {
                        // The partner's probe: return it at once.
                        let mut back = data;
                        back[2] = ECHO;
                        let now = r.session.now();
                        if let Ok(Some(t)) = r.session.client.send_to(TransportType::Udp, r.partner, &back, now) {
                            let out = t.data.build();
                            if sock.send(&out).await.is_ok() {
                                shared.sent.fetch_add(1, Ordering::Relaxed);
                                shared.sent_bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
                            }
                        }
                    }
                    ECHO if data[4..8] == r.id.to_be_bytes() => {
                        let mut t8 = [0u8; 8];
                        t8.copy_from_slice(&data[12..20]);
                        let sent_us = u64::from_be_bytes(t8);
                        let now_us = shared.origin.elapsed().as_micros() as u64;
                        let rtt = now_us.saturating_sub(sent_us);
                        let st = &mut steps[shared.step_of(Duration::from_micros(sent_us))];
                        st.returned += 1;
                        st.rtt.add(rtt);
                        // RFC 3550 §6.4.1 interarrival jitter, on round trips.
                        if let Some(prev) = last_rtt {
                            let d = (rtt as i64 - prev).unsigned_abs() as f64;
                            jitter += (d - jitter) / 16.0;
                            st.jitter_sum_us += jitter;
                            st.jitter_n += 1;
                        }
                        last_rtt = Some(rtt as i64);
                    }
                    _ => {
                        shared.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
            _ = until_stopped(&mut stop), if !stopping => {
                stopping = true;
                // Probes in flight still come back: a short drain.
                stop_at = Some(Instant::now() + Duration::from_millis(500));
            }
        }
        if Instant::now() >= poll_at {
            // Refreshes (allocation, permission, channel) are the client's.
            let now = r.session.now();
            match r.session.client.poll(now) {
                TurnPollRet::WaitUntil(t) => {
                    poll_at = r
                        .session
                        .clock
                        .to_tokio(t)
                        .min(Instant::now() + Duration::from_secs(1));
                }
                TurnPollRet::Closed => {
                    shared.lost_allocations.fetch_add(1, Ordering::Relaxed);
                    shared.error(0, "Refresh");
                    break;
                }
                _ => poll_at = Instant::now() + Duration::from_millis(100),
            }
            let now = r.session.now();
            while let Some(t) = r.session.client.poll_transmit(now) {
                let _ = sock.send(&t.data).await;
            }
        }
        if Instant::now() >= flush_at {
            flush(&shared, &mut steps);
            flush_at = Instant::now() + Duration::from_millis(500);
        }
    }
    flush(&shared, &mut steps);
    r.session
        .delete_within(&r.creds, plan.request_timeout)
        .await
}

fn flush(shared: &Shared, steps: &mut [StepCounts]) {
    let mut all = shared.steps.lock().unwrap_or_else(|p| p.into_inner());
    for (a, s) in all.iter_mut().zip(steps.iter_mut()) {
        a.merge(s);
        *s = StepCounts::new();
    }
}

/// Returns once `rx` holds true; never when its sender is gone without
/// saying so.
async fn until_stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Progress the caller may show (a line a second on a terminal).
pub type Progress = Box<dyn Fn(&str) + Send + Sync>;

/// Runs the load test against the TURN server at `server` (UDP) with
/// `auth`. `stop` turning true ends it early (Ctrl-C): it still deletes
/// every allocation and reports. Refused before anything is sent when the
/// server is not on loopback or in the lab and `owner` is false.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    label: &str,
    uri: &str,
    server: SocketAddr,
    auth: &TurnAuth,
    plan: LoadPlan,
    owner: bool,
    mut stop: watch::Receiver<bool>,
    progress: Option<Progress>,
) -> Result<LoadSection, LoadError> {
    if !owner && !is_lab_or_loopback(server.ip()) {
        return Err(LoadError::NotYourServer(server));
    }
    let allocations = plan.allocations.max(2).div_ceil(2) * 2;
    let steps_n = plan.steps.clamp(1, 100).min(allocations / 2);
    let ramp = plan.ramp.min(plan.duration);
    let step_starts: Vec<Duration> = (0..steps_n)
        .map(|i| ramp.mul_f64(i as f64 / steps_n as f64))
        .collect();
    // Pairs streaming at step i.
    let pairs_at = |i: u32| ((allocations / 2) as u64 * (i as u64 + 1) / steps_n as u64) as u32;
    let shared = Arc::new(Shared {
        origin: Instant::now(),
        step_starts: step_starts.clone(),
        steps: Mutex::new(vec![StepCounts::new(); step_starts.len()]),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        sent_bytes: AtomicU64::new(0),
        received_bytes: AtomicU64::new(0),
        malformed: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        allocate_us: Mutex::new(Hist::new()),
        lost_allocations: AtomicU64::new(0),
    });
    let plan = Arc::new(LoadPlan {
        allocations,
        steps: steps_n,
        ramp,
        ..plan
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut streams = tokio::task::JoinSet::new();
    let mut leftovers: Vec<(Session, ResolvedCredentials)> = Vec::new();
    let mut attempted = 0u32;
    let mut created = 0u32;
    let mut allocating = Duration::ZERO;
    let mut ended = LoadEnd::Completed;
    let mut step_allocs: Vec<u32> = Vec::new();
    let mut interrupted = false;
    let end_at = shared.origin + plan.duration;

    'steps: for i in 0..steps_n {
        let start = shared.origin + step_starts[i as usize];
        tokio::select! {
            _ = tokio::time::sleep_until(start) => {}
            _ = until_stopped(&mut stop) => { interrupted = true; break 'steps; }
        }
        let have = created / 2;
        let want = pairs_at(i);
        let t0 = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        let mut next = have;
        let mut step_failed = 0u32;
        let mut redirect: Option<Option<SocketAddr>> = None;
        while next < want || !set.is_empty() {
            while next < want && set.len() < plan.concurrency.max(1) {
                let (auth, shared, timeout) = (auth.clone(), shared.clone(), plan.request_timeout);
                let ids = (next * 2, next * 2 + 1);
                set.spawn(async move { setup_pair(server, &auth, ids, &shared, timeout).await });
                attempted += 2;
                next += 1;
            }
            let joined = tokio::select! {
                j = set.join_next() => j,
                _ = until_stopped(&mut stop) => { interrupted = true; None }
            };
            if interrupted {
                // Setups in flight are dropped; their allocations expire on
                // the server (no session to delete them from).
                set.abort_all();
                break 'steps;
            }
            match joined {
                Some(Ok(PairSetup::Ready(a, b))) => {
                    created += 2;
                    for r in [a, b] {
                        streams.spawn(stream(*r, plan.clone(), shared.clone(), stop_rx.clone()));
                    }
                }
                Some(Ok(PairSetup::Failed(made, alt))) => {
                    step_failed += 1;
                    if alt.is_some()
                        || shared
                            .errors
                            .lock()
                            .map(|e| e.iter().any(|x| x.code == 300))
                            .unwrap_or(false)
                    {
                        redirect = Some(alt);
                    }
                    leftovers.extend(made);
                }
                Some(Err(_)) | None => {}
            }
        }
        allocating += t0.elapsed();
        step_allocs.push(created);
        if let Some(to) = redirect {
            ended = LoadEnd::Redirected { to };
            break;
        }
        if created == 0 && step_failed > 0 {
            let e = shared.errors.lock().map(|e| e.clone()).unwrap_or_default();
            ended = LoadEnd::NoAllocation {
                detail: e
                    .first()
                    .map(|x| format!("{} to {}", x.meaning, x.request))
                    .unwrap_or_else(|| "no answer".into()),
            };
            break;
        }
        if let Some(p) = &progress {
            p(&format!(
                "step {}/{}: {} allocations streaming, {} failed so far",
                i + 1,
                steps_n,
                created,
                attempted - created
            ));
        }
    }

    // Hold until the end, watching for a server that stopped relaying.
    if ended == LoadEnd::Completed && !interrupted && created > 0 {
        let mut last = shared.received.load(Ordering::Relaxed);
        let mut last_change = Instant::now();
        let mut last_report = Instant::now();
        loop {
            let tick = (Instant::now() + Duration::from_millis(250)).min(end_at);
            tokio::select! {
                _ = tokio::time::sleep_until(tick) => {}
                _ = until_stopped(&mut stop) => { interrupted = true; break; }
            }
            if Instant::now() >= end_at {
                break;
            }
            let now_rx = shared.received.load(Ordering::Relaxed);
            if now_rx != last {
                last = now_rx;
                last_change = Instant::now();
            } else if last_change.elapsed() >= plan.silence {
                ended = LoadEnd::ServerSilent {
                    after_ms: last_change.elapsed().as_millis() as u64,
                };
                break;
            }
            if let Some(p) = &progress
                && last_report.elapsed() >= Duration::from_secs(1)
            {
                last_report = Instant::now();
                p(&format!(
                    "{:.0} s: {} allocations, {} packets sent, {} received",
                    shared.origin.elapsed().as_secs_f64(),
                    created,
                    shared.sent.load(Ordering::Relaxed),
                    now_rx
                ));
            }
        }
    }
    if interrupted {
        ended = LoadEnd::Interrupted;
    }
    let streamed = shared.origin.elapsed();

    // Stop, drain, delete.
    let _ = stop_tx.send(true);
    let mut released = 0u32;
    let release_attempted = created + leftovers.len() as u32;
    while let Some(r) = streams.join_next().await {
        if matches!(r, Ok(true)) {
            released += 1;
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for (mut s, c) in leftovers {
        let wait = plan.request_timeout;
        set.spawn(async move { s.delete_within(&c, wait).await });
    }
    while let Some(r) = set.join_next().await {
        if matches!(r, Ok(true)) {
            released += 1;
        }
    }

    // The numbers.
    let counts = shared.steps.lock().map(|s| s.clone()).unwrap_or_default();
    let secs = streamed.as_secs_f64().max(1e-3);
    let mut steps = Vec::new();
    let mut all = StepCounts::new();
    for (i, c) in counts.iter().enumerate() {
        all.merge(c);
        let from = step_starts[i];
        let to = step_starts
            .get(i + 1)
            .copied()
            .unwrap_or(streamed)
            .min(streamed);
        let span = to.saturating_sub(from).as_secs_f64();
        if i >= step_allocs.len() {
            break;
        }
        let allocs = step_allocs[i];
        steps.push(LoadStep {
            at_ms: from.as_millis() as u64,
            allocations: allocs,
            // Each allocation sends its probes and returns its partner's.
            offered_pps: if span > 0.0 {
                2.0 * c.probes as f64 / span
            } else {
                0.0
            },
            delivered_pps: if span > 0.0 {
                2.0 * c.returned as f64 / span
            } else {
                0.0
            },
            loss_percent: (c.probes > 0)
                .then(|| 100.0 * (c.probes.saturating_sub(c.returned)) as f64 / c.probes as f64),
            rtt_p50_ms: c.rtt.pct_ms(50.0),
            rtt_p95_ms: c.rtt.pct_ms(95.0),
            jitter_ms: (c.jitter_n > 0).then(|| c.jitter_sum_us / c.jitter_n as f64 / 1000.0),
        });
    }
    let knee = find_knee(&steps);
    let sent = shared.sent.load(Ordering::Relaxed);
    let received = shared.received.load(Ordering::Relaxed);
    let mut errors = shared.errors.lock().map(|e| e.clone()).unwrap_or_default();
    errors.sort_by_key(|e| std::cmp::Reverse(e.count));
    let alloc_hist = shared
        .allocate_us
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| Hist::new());
    Ok(LoadSection {
        label: label.to_string(),
        uri: uri.to_string(),
        transport: TurnTransport::Udp,
        address: Some(server),
        config: LoadConfig {
            allocations,
            rate_pps: plan.rate_pps,
            size: plan.size.max(HEADER as u32),
            steps: steps_n,
            ramp_ms: ramp.as_millis() as u64,
            duration_ms: plan.duration.as_millis() as u64,
        },
        allocations: AllocationStats {
            attempted,
            created,
            failed: attempted - created,
            per_second: (allocating > Duration::ZERO && created > 0)
                .then(|| created as f64 / allocating.as_secs_f64()),
            time: alloc_hist.percentiles(),
            released,
            release_attempted,
        },
        traffic: TrafficStats {
            sent,
            received,
            lost: all.probes.saturating_sub(all.returned),
            loss_percent: (all.probes > 0).then(|| {
                100.0 * all.probes.saturating_sub(all.returned) as f64 / all.probes as f64
            }),
            sent_pps: sent as f64 / secs,
            received_pps: received as f64 / secs,
            sent_mbit_s: shared.sent_bytes.load(Ordering::Relaxed) as f64 * 8.0 / secs / 1e6,
            received_mbit_s: shared.received_bytes.load(Ordering::Relaxed) as f64 * 8.0
                / secs
                / 1e6,
            rtt: all.rtt.percentiles(),
            jitter_ms: (all.jitter_n > 0).then(|| all.jitter_sum_us / all.jitter_n as f64 / 1000.0),
        },
        steps,
        knee,
        errors,
        ended,
        malformed: shared.malformed.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_within_a_bucket() {
        let mut h = Hist::new();
        for us in 1..=1000u64 {
            h.add(us * 10);
        }
        let p50 = h.pct_ms(50.0).unwrap();
        assert!((4.5..5.5).contains(&p50), "{p50}");
        let p99 = h.pct_ms(99.0).unwrap();
        assert!((9.0..=10.0).contains(&p99), "{p99}");
        assert_eq!(Hist::new().pct_ms(50.0), None);
    }

    #[test]
    fn loopback_and_lab_ranges_need_no_owner_flag() {
        for ip in [
            "127.0.0.1",
            "::1",
            "203.0.113.5",
            "192.0.2.1",
            "198.51.100.7",
            "2001:db8::1",
            "100.64.0.1",
        ] {
            assert!(is_lab_or_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "10.0.0.1", "2a00::1"] {
            assert!(!is_lab_or_loopback(ip.parse().unwrap()), "{ip}");
        }
    }
}
