//! The `browser` section: what a real browser (Chromium, Firefox…)
//! gathered with the user's iceServers, and whether it connected to
//! natscope's own WebRTC peer (str0m: ICE + DTLS + SCTP), per ICE transport
//! policy.
//!
//! Every string in this section came from the browser: renderers treat it
//! as untrusted (escaped in HTML, sanitised in the terminal).

use serde::{Deserialize, Serialize};

use crate::ice::{CandidateType, RelayProtocol};

/// Content of the `browser` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BrowserSection {
    /// Which browser ran the page.
    pub browser: BrowserInfo,
    /// How the page was opened: `chromium` / `firefox` (started headless by
    /// natscope), or `url` (the user opened the printed URL).
    pub launched: String,
    /// Candidate gathering, one entry per policy (`all`, then `relay`).
    pub gathering: Vec<BrowserGathering>,
    /// The connection to natscope's peer, one entry per policy.
    pub connections: Vec<BrowserConnection>,
    /// What the run did not cover, in plain words.
    pub not_tested: Vec<String>,
}

/// The browser, as the page saw itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BrowserInfo {
    /// `Chromium`, `Chrome`, `Firefox`, `Safari`, `Edge`, or `unknown`.
    pub name: String,
    /// The major.minor… version from the user agent, or empty.
    pub version: String,
    /// The full user agent string.
    pub user_agent: String,
}

/// An `RTCPeerConnection` ICE transport policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrowserPolicy {
    /// `iceTransportPolicy: "all"`: host, srflx and relay candidates.
    All,
    /// `iceTransportPolicy: "relay"`: relayed candidates only.
    Relay,
}

impl BrowserPolicy {
    /// Both policies, in report order.
    pub const BOTH: [BrowserPolicy; 2] = [BrowserPolicy::All, BrowserPolicy::Relay];

    /// `all` or `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrowserPolicy::All => "all",
            BrowserPolicy::Relay => "relay",
        }
    }

    /// Parses `all` / `relay`.
    pub fn parse(s: &str) -> Option<BrowserPolicy> {
        Self::BOTH.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for BrowserPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Candidate gathering under one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserGathering {
    /// The policy (`all` / `relay`).
    pub policy: BrowserPolicy,
    /// Gathering reached `complete` before the page's limit.
    pub complete: bool,
    /// Time from `setLocalDescription` to `complete` (or to the limit),
    /// milliseconds.
    pub total_ms: f64,
    /// Every candidate, in the order the browser gave them.
    pub candidates: Vec<BrowserCandidate>,
    /// Every `icecandidateerror`.
    pub errors: Vec<BrowserCandidateError>,
    /// Per STUN/TURN URL: how many candidates it gave and when the first
    /// came.
    pub servers: Vec<BrowserServerGathering>,
}

/// One candidate the browser gathered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserCandidate {
    /// host, srflx, prflx or relay.
    #[serde(rename = "type")]
    pub kind: CandidateType,
    /// `udp` or `tcp` (ICE-TCP host candidates).
    pub protocol: String,
    /// The address as the browser wrote it: an IP, or an mDNS name.
    pub address: String,
    /// The address is an mDNS `.local` name (the browser hides its host
    /// address).
    pub mdns: bool,
    /// The port.
    pub port: u16,
    /// The STUN/TURN URL it came from (srflx and relay), as the browser
    /// reported it.
    pub url: Option<String>,
    /// For a relayed candidate: how the browser reached the TURN server.
    pub relay_protocol: Option<RelayProtocol>,
    /// For ICE-TCP: `active`, `passive` or `so`.
    pub tcp_type: Option<String>,
    /// Milliseconds after gathering started.
    pub at_ms: f64,
}

/// One `icecandidateerror` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserCandidateError {
    /// `errorCode`: a STUN error code (e.g. 401), or 701 (server not
    /// reached).
    pub code: u16,
    /// `url`: the STUN/TURN URL the error is about.
    pub url: String,
    /// `errorText`.
    pub text: String,
    /// Milliseconds after gathering started.
    pub at_ms: f64,
}

/// What one STUN/TURN URL gave the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserServerGathering {
    /// The URL, as configured.
    pub url: String,
    /// Candidates that name this URL.
    pub candidates: u32,
    /// When its first candidate came, milliseconds after gathering
    /// started; `None` when it gave none.
    pub first_ms: Option<f64>,
    /// Errors the browser reported for it.
    pub errors: u32,
}

/// How a connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrowserOutcome {
    /// ICE connected and the data channel carried messages both ways.
    Connected,
    /// ICE or DTLS failed, or the data channel never opened.
    Failed,
    /// Not finished within the run's limit.
    TimedOut,
}

impl BrowserOutcome {
    /// `connected`, `failed` or `timed-out`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrowserOutcome::Connected => "connected",
            BrowserOutcome::Failed => "failed",
            BrowserOutcome::TimedOut => "timed-out",
        }
    }
}

/// The browser's connection to natscope's peer under one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserConnection {
    /// The browser's ICE transport policy.
    pub policy: BrowserPolicy,
    /// How it ended.
    pub outcome: BrowserOutcome,
    /// Why it did not connect, in plain words.
    pub failure: Option<String>,
    /// From `setRemoteDescription` to ICE connected, milliseconds.
    pub ice_connected_ms: Option<f64>,
    /// From `setRemoteDescription` to the data channel open.
    pub channel_open_ms: Option<f64>,
    /// Median data-channel round trip (browser → natscope → browser),
    /// milliseconds.
    pub round_trip_ms: Option<f64>,
    /// Data-channel messages echoed by natscope's peer / sent.
    pub echoed: u32,
    /// Data-channel messages the page sent.
    pub sent: u32,
    /// The pair ICE selected, as the browser's `getStats` named it.
    pub selected: Option<BrowserSelectedPair>,
    /// Figures from `getStats`.
    pub stats: Option<BrowserStats>,
    /// What natscope's peer saw: ICE connected at its end, and from which
    /// address the browser's packets came (redactable).
    pub peer_saw: Option<String>,
}

/// The selected candidate pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserSelectedPair {
    /// The browser's candidate type.
    pub local: CandidateType,
    /// `udp` or `tcp`.
    pub local_protocol: String,
    /// For a relayed local candidate: how the browser reached the TURN
    /// server.
    pub relay_protocol: Option<RelayProtocol>,
    /// natscope's candidate type, as the browser saw it.
    pub remote: CandidateType,
    /// The browser's candidate address (redactable).
    pub local_address: String,
    /// natscope's address.
    pub remote_address: String,
}

/// `getStats` figures for the selected pair.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BrowserStats {
    /// `currentRoundTripTime`, milliseconds.
    pub current_rtt_ms: Option<f64>,
    /// `availableOutgoingBitrate`, bits per second.
    pub available_outgoing_bitrate: Option<f64>,
    /// `bytesSent` on the pair.
    pub bytes_sent: Option<u64>,
    /// `bytesReceived` on the pair.
    pub bytes_received: Option<u64>,
}

impl BrowserSection {
    /// The gathering under `policy`, if it ran.
    pub fn gathering(&self, policy: BrowserPolicy) -> Option<&BrowserGathering> {
        self.gathering.iter().find(|g| g.policy == policy)
    }

    /// The connection under `policy`, if it ran.
    pub fn connection(&self, policy: BrowserPolicy) -> Option<&BrowserConnection> {
        self.connections.iter().find(|c| c.policy == policy)
    }
}
