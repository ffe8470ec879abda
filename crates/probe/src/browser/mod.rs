//! The browser as the other peer (`natscope browser`).
//!
//! A page in the user's browser (served by `servers::browser`) gathers
//! candidates with the user's iceServers per ICE transport policy, then
//! connects to natscope's own WebRTC peer — a str0m `Rtc` (ICE, DTLS,
//! SCTP) on a real UDP socket — and reports each step. This module is the
//! other end of that conversation:
//!
//! - [`Session::handle`] answers one step the page posted (`config`,
//!   `hello`, `gathered`, `offer`, `candidate` (trickled), `connected`,
//!   `done`, `error`). It never
//!   trusts the page: every body is parsed with bounds (counts, string
//!   lengths, finite numbers), and a malformed step is named in the report,
//!   not fatal.
//! - An `offer` starts one str0m peer (see `peer`) with one host candidate
//!   at [`SessionConfig::peer_ip`]; it echoes every data-channel message
//!   so the page can time round trips, and records where the browser's
//!   packets came from.
//! - [`Session::finish`] stops the peers and returns the report's
//!   `browser` section.
//! - [`launch`]: finds Chromium or Firefox and starts it headless on the
//!   page, with a fresh profile and background networking off.

pub mod launch;
mod page;
mod peer;

use std::net::IpAddr;
use std::time::Duration;

use model::browser::{BrowserConnection, BrowserOutcome, BrowserPolicy, BrowserSection};
use model::servers::ServerUri;
use serde_json::json;

pub use page::browser_info;

/// What a session offers the page.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The STUN/TURN servers the page gets, with their credentials.
    pub servers: Vec<ServerUri>,
    /// The policies to run, in order.
    pub policies: Vec<BrowserPolicy>,
    /// The address natscope's WebRTC peer binds and offers as its host
    /// candidate (the page server's address: reachable by the browser).
    pub peer_ip: IpAddr,
    /// How long the page waits for gathering to complete, per policy.
    pub gather_limit: Duration,
    /// How long the page waits for ICE + the data channel, per policy.
    pub connect_limit: Duration,
    /// Data-channel round trips per connection.
    pub pings: u32,
    /// How long the page waits for each echo.
    pub ping_limit: Duration,
    /// How the page was opened (`chromium`, `firefox` or `url`).
    pub launched: String,
}

impl SessionConfig {
    /// Both policies when a TURN server is configured, else `all` only.
    pub fn policies_for(servers: &[ServerUri]) -> Vec<BrowserPolicy> {
        if servers.iter().any(|s| s.scheme.is_turn()) {
            BrowserPolicy::BOTH.to_vec()
        } else {
            vec![BrowserPolicy::All]
        }
    }
}

/// What [`Session::handle`] says about the session after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEffect {
    /// More steps are expected.
    Continue,
    /// The page said it is done (or gave up): call [`Session::finish`].
    Finished,
}

/// One browser session: the page's steps in, the `browser` section out.
pub struct Session {
    cfg: SessionConfig,
    section: BrowserSection,
    peers: Vec<(BrowserPolicy, peer::PeerHandle)>,
    /// Steps the page sent that could not be used, in plain words.
    problems: Vec<String>,
    configured: bool,
    finished: bool,
    steps: usize,
    problems_dropped: usize,
}

/// Steps a page may send before the session stops listening (a page in a
/// loop cannot keep the run or the report growing). A run takes about
/// 10 plus the trickled candidates.
const MAX_STEPS: usize = 256;
/// Problems with the page's steps kept in the report.
const MAX_PROBLEMS: usize = 20;

impl Session {
    /// A session that has seen no step yet.
    pub fn new(cfg: SessionConfig) -> Self {
        let section = BrowserSection {
            launched: cfg.launched.clone(),
            ..BrowserSection::default()
        };
        Session {
            cfg,
            section,
            peers: Vec::new(),
            problems: Vec::new(),
            configured: false,
            finished: false,
            steps: 0,
            problems_dropped: 0,
        }
    }

    /// Whether the page has asked for its configuration (it loaded and ran).
    pub fn page_ran(&self) -> bool {
        self.configured
    }

    /// Answers one step (JSON text for the page) and says whether the
    /// session goes on. Must run inside a tokio runtime (an offer starts a
    /// peer task).
    pub fn handle(&mut self, step: &str, body: &[u8]) -> (String, StepEffect) {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.finished = true;
            self.problem(format!(
                "the page sent more than {MAX_STEPS} steps; natscope stopped listening"
            ));
            return (
                json!({"error": "too many steps"}).to_string(),
                StepEffect::Finished,
            );
        }
        match step {
            "config" => {
                self.configured = true;
                (self.config_json(), StepEffect::Continue)
            }
            "hello" => {
                match page::hello(body) {
                    Ok(info) => self.section.browser = info,
                    Err(e) => self.problem(format!("the page's greeting: {e}")),
                }
                (ok(), StepEffect::Continue)
            }
            "gathered" => {
                match page::gathering(body, &self.cfg.servers) {
                    Ok(g) if self.section.gathering(g.policy).is_none() => {
                        self.section.gathering.push(g)
                    }
                    Ok(g) => self.problem(format!(
                        "the page reported gathering under {} twice",
                        g.policy
                    )),
                    Err(e) => self
                        .problems
                        .push(format!("the page's gathering report: {e}")),
                }
                (ok(), StepEffect::Continue)
            }
            "offer" => match self.offer(body) {
                Ok(sdp) => (json!({ "sdp": sdp }).to_string(), StepEffect::Continue),
                Err(e) => {
                    self.problem(format!("natscope's WebRTC peer: {e}"));
                    (json!({ "error": e }).to_string(), StepEffect::Continue)
                }
            },
            "candidate" => {
                match page::trickled(body) {
                    Ok((policy, line)) => {
                        if let Some((_, peer)) = self.peers.iter().find(|(p, _)| *p == policy) {
                            peer.trickle(&line);
                        }
                    }
                    Err(e) => self
                        .problems
                        .push(format!("a candidate the page sent: {e}")),
                }
                (ok(), StepEffect::Continue)
            }
            "connected" => {
                match page::connection(body) {
                    Ok(c) if self.section.connection(c.policy).is_none() => {
                        self.section.connections.push(c)
                    }
                    Ok(c) => self.problem(format!(
                        "the page reported the {} connection twice",
                        c.policy
                    )),
                    Err(e) => self
                        .problems
                        .push(format!("the page's connection report: {e}")),
                }
                (ok(), StepEffect::Continue)
            }
            "done" => {
                self.finished = true;
                (ok(), StepEffect::Finished)
            }
            "error" => {
                let text = page::error_text(body);
                self.problem(format!("the page stopped: {text}"));
                self.finished = true;
                (ok(), StepEffect::Finished)
            }
            other => {
                self.problem(format!(
                    "the page sent an unknown step ‘{}’",
                    page::clip(other)
                ));
                (ok(), StepEffect::Continue)
            }
        }
    }

    /// Notes a problem with what the page sent; at most [`MAX_PROBLEMS`]
    /// are kept, then one line says how many more there were.
    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        } else {
            self.problems_dropped += 1;
        }
    }

    fn config_json(&self) -> String {
        let ms = |d: Duration| d.as_millis().min(u128::from(u32::MAX)) as u64;
        json!({
            "iceServers": model::servers::ice_servers_json(&self.cfg.servers),
            "policies": self.cfg.policies.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "gatherMs": ms(self.cfg.gather_limit),
            "connectMs": ms(self.cfg.connect_limit),
            "pings": self.cfg.pings,
            "pingMs": ms(self.cfg.ping_limit),
        })
        .to_string()
    }

    fn offer(&mut self, body: &[u8]) -> Result<String, String> {
        let (policy, sdp) = page::offer(body)?;
        if self.peers.iter().any(|(p, _)| *p == policy) {
            return Err(format!("a second offer under {policy}"));
        }
        let (handle, answer) = peer::start(self.cfg.peer_ip, &sdp)?;
        self.peers.push((policy, handle));
        Ok(answer)
    }

    /// Stops natscope's peers and returns the section. `why_unfinished`
    /// names what ended the session when the page did not say `done` (the
    /// deadline, the browser exited…).
    pub async fn finish(mut self, why_unfinished: Option<String>) -> BrowserSection {
        let mut peers = std::mem::take(&mut self.peers);
        for (policy, handle) in peers.drain(..) {
            let saw = handle.stop().await;
            match self
                .section
                .connections
                .iter_mut()
                .find(|c| c.policy == policy)
            {
                Some(c) => c.peer_saw = Some(saw.describe()),
                None => self.section.connections.push(unreported(
                    policy,
                    format!(
                        "the page never reported this connection ({})",
                        why_unfinished.as_deref().unwrap_or("it stopped")
                    ),
                    Some(saw.describe()),
                )),
            }
        }
        for policy in &self.cfg.policies {
            if self.section.gathering(*policy).is_none() {
                self.section.not_tested.push(format!(
                    "gathering under policy {policy}: the page did not report it"
                ));
            }
            if self.section.connection(*policy).is_none() {
                let why = match &why_unfinished {
                    Some(w) => format!("not attempted: {w}"),
                    None => "not attempted: the page stopped before it".to_owned(),
                };
                self.section
                    .connections
                    .push(unreported(*policy, why, None));
            }
        }
        if !self.cfg.policies.contains(&BrowserPolicy::Relay) {
            self.section
                .not_tested
                .push("policy relay: no TURN server configured".into());
        }
        let order = |p: BrowserPolicy| BrowserPolicy::BOTH.iter().position(|q| *q == p);
        self.section.connections.sort_by_key(|c| order(c.policy));
        self.section.gathering.sort_by_key(|g| order(g.policy));
        if let Some(w) = why_unfinished.filter(|_| !self.finished) {
            self.section
                .not_tested
                .push(format!("the page did not finish: {w}"));
        }
        self.section.not_tested.extend(self.problems);
        if self.problems_dropped > 0 {
            self.section.not_tested.push(format!(
                "and {} more problems with what the page sent",
                self.problems_dropped
            ));
        }
        self.section
    }
}

/// A connection the page did not report: timed out, with the reason and
/// what natscope's peer saw (echoes counted there are not the page's: the
/// page's own figures are unknown).
fn unreported(
    policy: BrowserPolicy,
    failure: String,
    peer_saw: Option<String>,
) -> BrowserConnection {
    BrowserConnection {
        policy,
        outcome: BrowserOutcome::TimedOut,
        failure: Some(failure),
        ice_connected_ms: None,
        channel_open_ms: None,
        round_trip_ms: None,
        echoed: 0,
        sent: 0,
        selected: None,
        stats: None,
        peer_saw,
    }
}

fn ok() -> String {
    "{\"ok\":true}".to_owned()
}
