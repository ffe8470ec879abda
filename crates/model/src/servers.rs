//! Where STUN/TURN servers come from: RFC 7064/7065 URIs, plain `host:port`,
//! WebRTC `iceServers` JSON, and the documented public default list.
//! (Over 800 lines: a third of it is the tests of every accepted and
//! refused input form, which belong beside the one parser.)
//!
//! Everything here is pure parsing (the only I/O is reading an `iceServers`
//! file). Turning names into addresses is [`crate::resolve`].
//!
//! Accepted server strings (see `docs/servers.md`):
//!
//! - `stun:host[:port]`, `stuns:host[:port]` (RFC 7064)
//! - `turn:host[:port][?transport=udp|tcp]`, `turns:...` (RFC 7065)
//! - `host:port`, `host`, `[2001:db8::1]:3478`, `2001:db8::1`, `192.0.2.1`
//!   (all treated as `stun:`)
//!
//! IPv6 literals in URIs go in brackets; schemes are case-insensitive.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

/// Public STUN servers natscope uses when the user names none.
///
/// Well-known, long-lived, free servers run by large operators. They speak
/// plain STUN Binding (RFC 5389/8489); none of them is known to answer the
/// RFC 5780 CHANGE-REQUEST tests, so NAT filtering classification needs a
/// server with two addresses (e.g. `natscope serve` or coturn). Tests never
/// contact them.
pub const DEFAULT_STUN_SERVERS: &[&str] = &[
    "stun:stun.l.google.com:19302",
    "stun:stun1.l.google.com:19302",
    "stun:stun2.l.google.com:19302",
    "stun:stun.cloudflare.com:3478",
    "stun:stun.nextcloud.com:443",
    "stun:global.stun.twilio.com:3478",
];

/// The scheme of a server URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `stun:` (RFC 7064), plain STUN over UDP or TCP.
    Stun,
    /// `stuns:` (RFC 7064), STUN over TLS.
    Stuns,
    /// `turn:` (RFC 7065), TURN over UDP or TCP.
    Turn,
    /// `turns:` (RFC 7065), TURN over TLS (or DTLS with `?transport=udp`).
    Turns,
}

impl Scheme {
    /// The scheme as written in a URI, without the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Stun => "stun",
            Scheme::Stuns => "stuns",
            Scheme::Turn => "turn",
            Scheme::Turns => "turns",
        }
    }

    /// `stuns:` or `turns:`.
    pub fn is_secure(self) -> bool {
        matches!(self, Scheme::Stuns | Scheme::Turns)
    }

    /// `turn:` or `turns:`.
    pub fn is_turn(self) -> bool {
        matches!(self, Scheme::Turn | Scheme::Turns)
    }

    fn from_str_ci(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "stun" => Some(Scheme::Stun),
            "stuns" => Some(Scheme::Stuns),
            "turn" => Some(Scheme::Turn),
            "turns" => Some(Scheme::Turns),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default port of a scheme: 3478 for `stun:`/`turn:`, 5349 for
/// `stuns:`/`turns:` (RFC 8489 §18.3, RFC 8656 §18).
pub fn default_port(scheme: Scheme) -> u16 {
    if scheme.is_secure() { 5349 } else { 3478 }
}

/// A transport protocol a server is reached over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP (DTLS for `turns:?transport=udp`).
    Udp,
    /// TCP (TLS for `stuns:`/`turns:`).
    Tcp,
}

impl Transport {
    /// `udp` or `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host part of a server URI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP literal (no DNS needed).
    Ip(IpAddr),
    /// A DNS name, lower-cased, without a trailing dot.
    Name(String),
}

impl fmt::Display for Host {
    /// IPv6 literals are printed in brackets, as in a URI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A secret (TURN password) that never prints: `Debug` and `Display` show
/// `***`. Use [`Secret::expose`] where the secret is really needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself. Never log or print the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `clap` and other string parsers build a [`Secret`] straight from the
/// argument.
impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A STUN or TURN server as the user named it.
///
/// `Display` prints the canonical URI (lower-case scheme and host name, IPv6
/// in brackets, explicit port only if given, `?transport=` if given) and
/// never the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUri {
    /// `stun:`, `stuns:`, `turn:` or `turns:`.
    pub scheme: Scheme,
    /// Host name or IP literal.
    pub host: Host,
    /// The explicit port, if any. Without one, SRV discovery applies and the
    /// fallback is [`default_port`].
    pub port: Option<u16>,
    /// The `?transport=` parameter of a TURN URI, if any.
    pub transport: Option<Transport>,
    /// TURN username (from `iceServers` JSON or the command line).
    pub username: Option<String>,
    /// TURN password / credential.
    pub credential: Option<Secret>,
}

/// Why a server string was not understood. Every variant names the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerUriError {
    /// The input was empty or only whitespace.
    #[error("empty server address")]
    Empty,
    /// The scheme is not `stun`, `stuns`, `turn` or `turns`.
    #[error("unknown scheme {scheme:?} in {input:?} (expected stun:, stuns:, turn: or turns:)")]
    UnknownScheme {
        /// The scheme as written.
        scheme: String,
        /// The whole input.
        input: String,
    },
    /// `stun://host` style: RFC 7064/7065 URIs have no `//` authority.
    #[error("{input:?}: stun:/turn: URIs take no \"//\" (write e.g. stun:host:3478)")]
    Slashes {
        /// The whole input.
        input: String,
    },
    /// The host part is empty.
    #[error("empty host in {input:?}")]
    EmptyHost {
        /// The whole input.
        input: String,
    },
    /// The host is neither an IP literal nor a valid DNS name.
    #[error("bad host {host:?} in {input:?}")]
    BadHost {
        /// The host as written.
        host: String,
        /// The whole input.
        input: String,
    },
    /// An IPv6 literal without brackets after a scheme.
    #[error("IPv6 address must be in brackets in {input:?} (e.g. stun:[2001:db8::1]:3478)")]
    UnbracketedIpv6 {
        /// The whole input.
        input: String,
    },
    /// The port is not a number in 1..=65535.
    #[error("bad port {port:?} in {input:?}")]
    BadPort {
        /// The port as written.
        port: String,
        /// The whole input.
        input: String,
    },
    /// A query parameter other than `transport=` (or any query on `stun:`).
    #[error(
        "unsupported query {query:?} in {input:?} (only turn:/turns: accept ?transport=udp|tcp)"
    )]
    BadQuery {
        /// The query as written (after `?`).
        query: String,
        /// The whole input.
        input: String,
    },
    /// `?transport=` with a value other than `udp` or `tcp`.
    #[error("unknown transport {transport:?} in {input:?} (expected udp or tcp)")]
    BadTransport {
        /// The value as written.
        transport: String,
        /// The whole input.
        input: String,
    },
}

impl ServerUri {
    /// Parses a server string: an RFC 7064/7065 URI or a plain `host[:port]`
    /// (treated as `stun:`). Surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, ServerUriError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ServerUriError::Empty);
        }
        let owned = || s.to_string();

        // A bare IPv6 literal ("2001:db8::1") is a host, not "scheme:rest".
        if let Ok(v6) = s.parse::<Ipv6Addr>() {
            return Ok(Self::new(Scheme::Stun, Host::Ip(IpAddr::V6(v6)), None));
        }

        let (scheme, rest) = match s.split_once(':') {
            Some((prefix, rest)) if looks_like_scheme(prefix) => {
                match Scheme::from_str_ci(prefix) {
                    Some(scheme) => (scheme, rest),
                    // "localhost:3478": a host with a port, not a scheme.
                    None if is_port_like(rest) => (Scheme::Stun, s),
                    None => {
                        return Err(ServerUriError::UnknownScheme {
                            scheme: prefix.to_string(),
                            input: owned(),
                        });
                    }
                }
            }
            _ => (Scheme::Stun, s),
        };
        let explicit_scheme = !std::ptr::eq(rest, s);
        if rest.starts_with("//") {
            return Err(ServerUriError::Slashes { input: owned() });
        }

        let (hostport, query) = match rest.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (rest, None),
        };
        let transport = match query {
            None => None,
            Some(q) if !scheme.is_turn() => {
                return Err(ServerUriError::BadQuery {
                    query: q.to_string(),
                    input: owned(),
                });
            }
            Some(q) => Some(parse_transport_query(q, s)?),
        };

        let (host, port) = split_host_port(hostport, s, explicit_scheme)?;
        let mut uri = Self::new(scheme, host, port);
        uri.transport = transport;
        Ok(uri)
    }

    /// A URI without transport parameter or credentials.
    pub fn new(scheme: Scheme, host: Host, port: Option<u16>) -> Self {
        ServerUri {
            scheme,
            host,
            port,
            transport: None,
            username: None,
            credential: None,
        }
    }

    /// The same URI with TURN credentials attached.
    pub fn with_credentials(mut self, username: impl Into<String>, credential: Secret) -> Self {
        self.username = Some(username.into());
        self.credential = Some(credential);
        self
    }

    /// The explicit port, or the scheme's [`default_port`].
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or_else(|| default_port(self.scheme))
    }

    /// The transports this URI means, in the order to try them:
    /// an explicit `?transport=` wins; `stun:` → UDP (and TCP when
    /// `stun_tcp`); `turn:` → UDP and TCP; `stuns:`/`turns:` → TCP (TLS).
    pub fn transports(&self, stun_tcp: bool) -> Vec<Transport> {
        if let Some(t) = self.transport {
            return vec![t];
        }
        match self.scheme {
            Scheme::Stun if stun_tcp => vec![Transport::Udp, Transport::Tcp],
            Scheme::Stun => vec![Transport::Udp],
            Scheme::Turn => vec![Transport::Udp, Transport::Tcp],
            Scheme::Stuns | Scheme::Turns => vec![Transport::Tcp],
        }
    }
}

impl ServerUri {
    /// How an ICE agent reaches this server (as browsers do): `stun:` and
    /// `turn:` without `?transport` over UDP, `turn:?transport=tcp` over
    /// TCP, `turns:` over TLS (TCP). DTLS (`turns:?transport=udp`) and
    /// `stuns:` are not offered to ICE agents: `Err` says why.
    pub fn ice_transport(&self) -> Result<Transport, String> {
        match (self.scheme, self.transport) {
            (Scheme::Stun, _) | (Scheme::Turn, None | Some(Transport::Udp)) => Ok(Transport::Udp),
            (Scheme::Turn, Some(Transport::Tcp)) | (Scheme::Turns, None | Some(Transport::Tcp)) => {
                Ok(Transport::Tcp)
            }
            (Scheme::Turns, Some(Transport::Udp)) => Err(
                "TURN over DTLS is tested by the turn section, not offered to ICE agents".into(),
            ),
            (Scheme::Stuns, _) => Err("stuns: is not used for ICE candidates".into()),
        }
    }

    /// For a TURN server an ICE agent can use: how it reaches it (WebRTC's
    /// `relayProtocol`). `None` for STUN servers and DTLS.
    pub fn ice_relay_protocol(&self) -> Option<crate::ice::RelayProtocol> {
        use crate::ice::RelayProtocol as P;
        match (self.scheme, self.ice_transport().ok()?) {
            (Scheme::Turns, _) => Some(P::Tls),
            (Scheme::Turn, Transport::Tcp) => Some(P::Tcp),
            (Scheme::Turn, Transport::Udp) => Some(P::Udp),
            (Scheme::Stun | Scheme::Stuns, _) => None,
        }
    }
}

impl FromStr for ServerUri {
    type Err = ServerUriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ServerUri {
    /// The canonical URI, never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(t) = self.transport {
            write!(f, "?transport={t}")?;
        }
        Ok(())
    }
}

/// `stun`, `turns`, `http`, `localhost`...: letters, then letters, digits,
/// `+`, `-` or `.` (RFC 3986 scheme syntax).
fn looks_like_scheme(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        // "example.org:3478" has a dot; real URI schemes we might meet don't.
        && !prefix.contains('.')
}

fn is_port_like(rest: &str) -> bool {
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

fn parse_transport_query(query: &str, input: &str) -> Result<Transport, ServerUriError> {
    let Some((key, value)) = query.split_once('=') else {
        return Err(ServerUriError::BadQuery {
            query: query.to_string(),
            input: input.to_string(),
        });
    };
    if !key.eq_ignore_ascii_case("transport") || value.contains('&') {
        return Err(ServerUriError::BadQuery {
            query: query.to_string(),
            input: input.to_string(),
        });
    }
    match value.to_ascii_lowercase().as_str() {
        "udp" => Ok(Transport::Udp),
        "tcp" => Ok(Transport::Tcp),
        _ => Err(ServerUriError::BadTransport {
            transport: value.to_string(),
            input: input.to_string(),
        }),
    }
}

fn split_host_port(
    hostport: &str,
    input: &str,
    explicit_scheme: bool,
) -> Result<(Host, Option<u16>), ServerUriError> {
    let err_host = |h: &str| ServerUriError::BadHost {
        host: h.to_string(),
        input: input.to_string(),
    };
    if hostport.is_empty() {
        return Err(ServerUriError::EmptyHost {
            input: input.to_string(),
        });
    }
    if let Some(after) = hostport.strip_prefix('[') {
        let Some((inside, tail)) = after.split_once(']') else {
            return Err(err_host(hostport));
        };
        let v6: Ipv6Addr = inside.parse().map_err(|_| err_host(inside))?;
        let port = match tail {
            "" => None,
            t => match t.strip_prefix(':') {
                Some(p) => Some(parse_port(p, input)?),
                None => return Err(err_host(hostport)),
            },
        };
        return Ok((Host::Ip(IpAddr::V6(v6)), port));
    }
    if hostport.matches(':').count() > 1 {
        if explicit_scheme || hostport.parse::<Ipv6Addr>().is_ok() {
            return Err(ServerUriError::UnbracketedIpv6 {
                input: input.to_string(),
            });
        }
        return Err(err_host(hostport));
    }
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => (h, Some(parse_port(p, input)?)),
        None => (hostport, None),
    };
    if host.is_empty() {
        return Err(ServerUriError::EmptyHost {
            input: input.to_string(),
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), port));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    // `192.0.2.1.` is the address, not a DNS name (found by fuzzing: the
    // canonical form must parse back to the same server).
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), port));
    }
    if !is_dns_name(name) {
        return Err(err_host(host));
    }
    Ok((Host::Name(name.to_ascii_lowercase()), port))
}

fn parse_port(p: &str, input: &str) -> Result<u16, ServerUriError> {
    let bad = || ServerUriError::BadPort {
        port: p.to_string(),
        input: input.to_string(),
    };
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(port) => Ok(port),
    }
}

/// Letters, digits, `-` and `_` in dot-separated labels of 1..=63 bytes,
/// 253 bytes at most. (`_` is allowed: it occurs in real names.)
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Why an `iceServers` JSON document was rejected. Every variant names the
/// source (file path), and entry errors name the entry index.
#[derive(Debug, thiserror::Error)]
pub enum IceServersError {
    /// The file could not be read.
    #[error("cannot read {source_name}: {error}")]
    Io {
        /// The file path.
        source_name: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("{source_name}: not valid JSON: {error}")]
    Json {
        /// The file path.
        source_name: String,
        /// The parser's message (with line and column).
        error: serde_json::Error,
    },
    /// The top level is neither `{"iceServers": [...]}` nor an array.
    #[error("{source_name}: {reason}")]
    Shape {
        /// The file path.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// One entry of the array is malformed.
    #[error("{source_name}: iceServers[{index}]: {reason}")]
    Entry {
        /// The file path.
        source_name: String,
        /// Index in the `iceServers` array.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A URL of an entry is not a valid server URI.
    #[error("{source_name}: iceServers[{index}]: {error}")]
    Uri {
        /// The file path.
        source_name: String,
        /// Index in the `iceServers` array.
        index: usize,
        /// The URI error (names the URL).
        error: ServerUriError,
    },
}

/// The `iceServers` array a browser's `RTCPeerConnection` takes: one entry
/// per server, `username`/`credential` on `turn:`/`turns:` entries that
/// carry them. It HOLDS CREDENTIALS: give it only to the browser (over a
/// protected channel) or to the user who owns them, never to a log or a
/// report. [`parse_ice_servers`] reads it back.
pub fn ice_servers_json(servers: &[ServerUri]) -> Value {
    Value::Array(
        servers
            .iter()
            .map(|s| {
                let mut v = serde_json::json!({ "urls": s.to_string() });
                if s.scheme.is_turn()
                    && let (Some(u), Some(c)) = (&s.username, &s.credential)
                {
                    v["username"] = serde_json::json!(u);
                    v["credential"] = serde_json::json!(c.expose());
                }
                v
            })
            .collect(),
    )
}

/// Whether two spellings name the same STUN/TURN server URL, as a browser
/// and a configuration may write it: `turn:x` and `turn:x:3478?transport=udp`
/// do; `turns:x` and the `turns:x:5349?transport=tcp` Chromium reports do.
pub fn same_server_url(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let key = |s: &str| {
        ServerUri::parse(s).ok().map(|u| {
            (
                u.scheme.is_turn(),
                u.scheme.is_secure(),
                u.host.clone(),
                u.port_or_default(),
                u.ice_transport().ok(),
            )
        })
    };
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Reads a WebRTC `iceServers` file (see [`parse_ice_servers`]).
pub fn load_ice_servers(path: &Path) -> Result<Vec<ServerUri>, IceServersError> {
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| IceServersError::Io {
        source_name: source_name.clone(),
        error,
    })?;
    parse_ice_servers(&text, &source_name)
}

/// Parses the `iceServers` JSON web apps use: an `RTCConfiguration`
/// (`{"iceServers": [...]}`, other fields ignored) or a bare array. Each
/// entry has `urls` (a string or an array of strings; the legacy `url` is
/// accepted when `urls` is absent), optional `username` and `credential`
/// strings; unknown fields (`credentialType`...) are ignored.
///
/// `username`/`credential` are attached to the entry's `turn:`/`turns:`
/// URIs only (browsers ignore them for STUN). `source_name` names the input
/// in errors.
pub fn parse_ice_servers(text: &str, source_name: &str) -> Result<Vec<ServerUri>, IceServersError> {
    let value: Value = serde_json::from_str(text).map_err(|error| IceServersError::Json {
        source_name: source_name.to_string(),
        error,
    })?;
    let shape = |reason: &str| IceServersError::Shape {
        source_name: source_name.to_string(),
        reason: reason.to_string(),
    };
    let entries = match &value {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("iceServers") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(shape("\"iceServers\" must be an array")),
            None => return Err(shape("no \"iceServers\" array in the object")),
        },
        _ => {
            return Err(shape(
                "expected {\"iceServers\": [...]} or an array of ice server entries",
            ));
        }
    };

    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let entry_err = |reason: String| IceServersError::Entry {
            source_name: source_name.to_string(),
            index,
            reason,
        };
        let Value::Object(obj) = entry else {
            return Err(entry_err("entry must be an object".into()));
        };
        let urls_value = obj
            .get("urls")
            .or_else(|| obj.get("url"))
            .ok_or_else(|| entry_err("missing \"urls\"".into()))?;
        let urls: Vec<&str> = match urls_value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| entry_err("\"urls\" array must hold strings".into()))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(entry_err("\"urls\" must be a string or an array".into())),
        };
        if urls.is_empty() {
            return Err(entry_err("\"urls\" is empty".into()));
        }
        let username = optional_string(obj, "username").map_err(entry_err)?;
        let credential = optional_string(obj, "credential").map_err(entry_err)?;
        for url in urls {
            let mut uri = ServerUri::parse(url).map_err(|error| IceServersError::Uri {
                source_name: source_name.to_string(),
                index,
                error,
            })?;
            if uri.scheme.is_turn() {
                uri.username = username.clone();
                uri.credential = credential.clone().map(Secret);
            }
            out.push(uri);
        }
    }
    Ok(out)
}

fn optional_string(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trailing_dot_after_an_ip_is_the_ip() {
        // Found by fuzzing (fixtures/fuzz/server_uri/regression-ipv4-trailing-dot.txt).
        let u = ServerUri::parse("stun:192.0.2.1.").expect("parses");
        assert!(matches!(u.host, Host::Ip(_)), "{u:?}");
        assert_eq!(ServerUri::parse(&u.to_string()).expect("round trip"), u);
    }

    use super::*;

    /// A predicate on an error, for table-driven error tests.
    type Check<E> = fn(&E) -> bool;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn p(s: &str) -> ServerUri {
        ServerUri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn name(n: &str) -> Host {
        Host::Name(n.into())
    }

    #[test]
    fn stun_uris() {
        let u = p("stun:stun.example.org");
        assert_eq!(
            (u.scheme, u.host.clone(), u.port),
            (Scheme::Stun, name("stun.example.org"), None)
        );
        assert_eq!(u.port_or_default(), 3478);
        let u = p("STUN:Stun.Example.ORG:19302");
        assert_eq!(
            (u.scheme, u.host, u.port),
            (Scheme::Stun, name("stun.example.org"), Some(19302))
        );
        let u = p("stuns:stun.example.org");
        assert_eq!((u.scheme, u.port_or_default()), (Scheme::Stuns, 5349));
        let u = p("stun:192.0.2.1:3479");
        assert_eq!(u.host, Host::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
        let u = p("stun:[2001:db8::1]:3478");
        assert_eq!(u.host, Host::Ip("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(3478));
        let u = p("stun:[2001:db8::1]");
        assert_eq!(u.port, None);
        let u = p("  stun:example.org.  ");
        assert_eq!(u.host, name("example.org"));
    }

    #[test]
    fn turn_uris() {
        let u = p("turn:turn.example.org");
        assert_eq!((u.scheme, u.transport), (Scheme::Turn, None));
        assert_eq!(u.transports(false), vec![Transport::Udp, Transport::Tcp]);
        let u = p("turn:turn.example.org:3478?transport=udp");
        assert_eq!((u.port, u.transport), (Some(3478), Some(Transport::Udp)));
        assert_eq!(u.transports(false), vec![Transport::Udp]);
        let u = p("TURN:[2001:db8::2]?Transport=TCP");
        assert_eq!((u.port, u.transport), (None, Some(Transport::Tcp)));
        let u = p("turns:turn.example.org");
        assert_eq!((u.scheme, u.port_or_default()), (Scheme::Turns, 5349));
        assert_eq!(u.transports(false), vec![Transport::Tcp]);
        let u = p("turns:turn.example.org:443?transport=tcp");
        assert_eq!(u.to_string(), "turns:turn.example.org:443?transport=tcp");
    }

    #[test]
    fn plain_forms_are_stun() {
        let u = p("stun.example.org:3478");
        assert_eq!(
            (u.scheme, u.host, u.port),
            (Scheme::Stun, name("stun.example.org"), Some(3478))
        );
        let u = p("stun.example.org");
        assert_eq!((u.scheme, u.port), (Scheme::Stun, None));
        let u = p("localhost:3478");
        assert_eq!((u.host, u.port), (name("localhost"), Some(3478)));
        let u = p("[2001:db8::1]:3478");
        assert_eq!(
            (u.host, u.port),
            (Host::Ip("2001:db8::1".parse().unwrap()), Some(3478))
        );
        let u = p("2001:db8::1");
        assert_eq!((u.scheme, u.port), (Scheme::Stun, None));
        let u = p("::1");
        assert_eq!(u.host, Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let u = p("198.51.100.4");
        assert_eq!(
            (u.host, u.port),
            (Host::Ip("198.51.100.4".parse().unwrap()), None)
        );
        let u = p("198.51.100.4:19302");
        assert_eq!(u.port, Some(19302));
        assert_eq!(u.transports(false), vec![Transport::Udp]);
        assert_eq!(u.transports(true), vec![Transport::Udp, Transport::Tcp]);
    }

    #[test]
    fn display_is_canonical_and_has_no_credentials() {
        assert_eq!(
            p("STUN:Example.ORG:3478").to_string(),
            "stun:example.org:3478"
        );
        assert_eq!(
            p("[2001:db8::1]:3478").to_string(),
            "stun:[2001:db8::1]:3478"
        );
        assert_eq!(p("192.0.2.1").to_string(), "stun:192.0.2.1");
        let u = p("turn:turn.example.org?transport=udp")
            .with_credentials("alice", Secret::new("hunter2"));
        assert_eq!(u.to_string(), "turn:turn.example.org?transport=udp");
        let dbg = format!("{u:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"), "{dbg}");
        // Round trip.
        for s in [
            "stun:example.org",
            "turns:[2001:db8::3]:5349",
            "turn:192.0.2.7:80?transport=tcp",
        ] {
            assert_eq!(p(&p(s).to_string()), p(s));
        }
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("s3cr3t");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "s3cr3t");
    }

    #[test]
    fn default_ports() {
        assert_eq!(default_port(Scheme::Stun), 3478);
        assert_eq!(default_port(Scheme::Turn), 3478);
        assert_eq!(default_port(Scheme::Stuns), 5349);
        assert_eq!(default_port(Scheme::Turns), 5349);
    }

    #[test]
    fn errors_name_the_input() {
        use ServerUriError as E;
        let cases: &[(&str, Check<E>)] = &[
            ("", |e| matches!(e, E::Empty)),
            (
                "http://example.org",
                |e| matches!(e, E::UnknownScheme { scheme, .. } if scheme == "http"),
            ),
            ("sip:alice", |e| matches!(e, E::UnknownScheme { .. })),
            ("stun://example.org", |e| matches!(e, E::Slashes { .. })),
            ("stun:", |e| matches!(e, E::EmptyHost { .. })),
            ("turn::3478", |e| matches!(e, E::EmptyHost { .. })),
            (":3478", |e| matches!(e, E::EmptyHost { .. })),
            ("stun:example.org:", |e| matches!(e, E::BadPort { .. })),
            ("stun:example.org:0", |e| matches!(e, E::BadPort { .. })),
            (
                "stun:example.org:65536",
                |e| matches!(e, E::BadPort { port, .. } if port == "65536"),
            ),
            ("stun:example.org:abc", |e| matches!(e, E::BadPort { .. })),
            ("example.org:-1", |e| matches!(e, E::BadPort { .. })),
            ("stun:2001:db8::1", |e| {
                matches!(e, E::UnbracketedIpv6 { .. })
            }),
            ("stun:[2001:db8::1", |e| matches!(e, E::BadHost { .. })),
            ("stun:[not-v6]:3478", |e| matches!(e, E::BadHost { .. })),
            ("stun:[2001:db8::1]x", |e| matches!(e, E::BadHost { .. })),
            ("stun:user@example.org", |e| matches!(e, E::BadHost { .. })),
            ("stun:exa mple.org", |e| matches!(e, E::BadHost { .. })),
            ("stun:-bad.example.org", |e| matches!(e, E::BadHost { .. })),
            ("stun:example.org?transport=udp", |e| {
                matches!(e, E::BadQuery { .. })
            }),
            ("turn:example.org?foo=bar", |e| {
                matches!(e, E::BadQuery { .. })
            }),
            ("turn:example.org?transport", |e| {
                matches!(e, E::BadQuery { .. })
            }),
            ("turn:example.org?transport=udp&x=1", |e| {
                matches!(e, E::BadQuery { .. })
            }),
            (
                "turn:example.org?transport=sctp",
                |e| matches!(e, E::BadTransport { transport, .. } if transport == "sctp"),
            ),
        ];
        for (input, check) in cases {
            let err = ServerUri::parse(input).expect_err(input);
            assert!(check(&err), "{input:?} gave {err:?}");
            if !input.is_empty() {
                assert!(
                    err.to_string().contains(&format!("{:?}", input.trim())),
                    "{input}: {err}"
                );
            }
        }
    }

    #[test]
    fn default_servers_parse() {
        for s in DEFAULT_STUN_SERVERS {
            let u = p(s);
            assert_eq!(u.scheme, Scheme::Stun);
            assert!(u.port.is_some(), "{s}");
        }
    }

    #[test]
    fn ice_servers_inline() {
        let v = parse_ice_servers(
            r#"[{"urls":"stun:stun.example.org"},{"urls":["turn:t.example.org?transport=udp","stun:t.example.org"],"username":"u","credential":"pw","credentialType":"password"}]"#,
            "inline",
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].username, None);
        assert_eq!(v[1].username.as_deref(), Some("u"));
        assert_eq!(v[1].credential.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(v[2].credential, None, "credentials are for TURN URIs only");
        let e = parse_ice_servers(
            r#"{"iceServers":[{"urls":"stun:a.example"},{"urls":"ftp:x"}]}"#,
            "cfg.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cfg.json") && e.contains("iceServers[1]") && e.contains("ftp:x"),
            "{e}"
        );
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/ice-servers")
            .join(name)
    }

    #[test]
    fn ice_server_fixtures_valid() {
        let v = load_ice_servers(&fixture("valid-rtcconfiguration.json")).unwrap();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "stun:stun.example.org:3478",
                "turn:turn.example.org:3478?transport=udp",
                "turn:turn.example.org:3478?transport=tcp",
                "turns:turn.example.org:5349",
            ]
        );
        assert!(
            v[1..]
                .iter()
                .all(|u| u.username.as_deref() == Some("1700000000:alice")
                    && u.credential.as_ref().map(Secret::expose) == Some("s3cr3t-turn-password"))
        );
        assert!(!format!("{v:?}").contains("s3cr3t"));

        let v = load_ice_servers(&fixture("valid-bare-array.json")).unwrap();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "stun:[2001:db8::1]:3478",
                "stun:192.0.2.1",
                "turn:[2001:db8::2]"
            ]
        );
        assert_eq!(v[2].username.as_deref(), Some("bob"));

        let v = load_ice_servers(&fixture("valid-legacy-url.json")).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].scheme, Scheme::Turns);

        assert!(
            load_ice_servers(&fixture("valid-empty.json"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn ice_server_fixtures_invalid() {
        use IceServersError as E;
        let cases: &[(&str, Check<E>)] = &[
            ("invalid-not-json.json", |e| matches!(e, E::Json { .. })),
            ("invalid-no-iceservers.json", |e| {
                matches!(e, E::Shape { .. })
            }),
            ("invalid-missing-urls.json", |e| {
                matches!(e, E::Entry { index: 1, .. })
            }),
            ("invalid-bad-uri.json", |e| {
                matches!(
                    e,
                    E::Uri {
                        index: 1,
                        error: ServerUriError::BadTransport { .. },
                        ..
                    }
                )
            }),
            ("invalid-urls-type.json", |e| {
                matches!(e, E::Entry { index: 0, .. })
            }),
            ("invalid-credential-type.json", |e| {
                matches!(e, E::Entry { index: 0, .. })
            }),
            ("invalid-entry-not-object.json", |e| {
                matches!(e, E::Entry { index: 0, .. })
            }),
            ("does-not-exist.json", |e| matches!(e, E::Io { .. })),
        ];
        for (file, check) in cases {
            let err = load_ice_servers(&fixture(file)).expect_err(file);
            assert!(check(&err), "{file}: {err:?}");
            assert!(err.to_string().contains(file), "{file}: {err}");
        }
    }
}
