//! [`Report`]: the whole natscope document (`"schema": "natscope/3"`).

use crate::ice::IceSection;
use crate::interfaces::Interfaces;
use crate::portmap::PortmapSection;
use crate::section::Section;
use crate::stun::StunSection;
use crate::summary::Summary;
use crate::turn::TurnSection;
use serde::{Deserialize, Serialize};

/// The value of the top-level `schema` field of every document natscope
/// writes. `natscope/3` added the `diagnosis` and spelled check results
/// `passed` / `failed`; `natscope/2` spelled the `turn` section's values in
/// kebab-case like every other section (docs/json.md, "Changes").
pub const SCHEMA: &str = "natscope/3";

/// Schemas natscope reads: its own, `natscope/2` (whose `pass` / `fail`
/// check results the model still accepts) and `natscope/1` (whose
/// snake_case `turn` values it accepts too).
pub const READABLE_SCHEMAS: [&str; 3] = [SCHEMA, "natscope/2", "natscope/1"];

/// One natscope report: the stable, versioned JSON contract (docs/json.md).
/// Reading and writing it is `natscope-report`'s job.
///
/// Field order is the JSON key order; `schema` comes first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`] when written by this natscope.
    pub schema: String,
    /// The program that wrote the report.
    pub tool: Tool,
    /// When the report was made, RFC 3339 (supplied by the caller; this crate
    /// has no clock).
    pub generated_at: String,
    /// The natscope command that made it, e.g. `diagnose`, `stun`, `nat`.
    pub command: String,
    /// The options the run used. Never contains a secret.
    pub options: Options,
    /// The verdict and the root causes, derived from the sections (absent
    /// in reports written before it existed: empty then).
    #[serde(default)]
    pub diagnosis: crate::diagnosis::Diagnosis,
    /// Local interfaces.
    pub interfaces: Section<Interfaces>,
    /// STUN Binding tests.
    pub stun: Section<StunSection>,
    /// The IPv4 NAT behaviour verdict (RFC 4787 / RFC 5780), natclass's
    /// `NatVerdict`. (Before per-family verdicts it mixed the families of
    /// the servers given.)
    pub nat: Section<natclass::NatVerdict>,
    /// The IPv6 verdict, from IPv6 servers only: translation (none, NAT66,
    /// NPTv6), the firewall's filtering in RFC 4787 terms, UDP. Reports
    /// written before it existed read as "not tested: not run".
    #[serde(default = "not_run")]
    pub nat_ipv6: Section<natclass::NatVerdict>,
    /// TURN tests: one result per server URI and transport.
    pub turn: Section<TurnSection>,
    /// ICE tests: one ICE session per candidate-type filter.
    pub ice: Section<IceSection>,
    /// Port mapping (UPnP IGD, NAT-PMP, PCP) and double-NAT evidence.
    /// Reports written before this section existed read as "not tested:
    /// not run".
    #[serde(default = "not_run")]
    pub portmap: Section<PortmapSection>,
    /// A real browser's view: what it gathered with the same servers and
    /// whether it connected to natscope's WebRTC peer (`natscope browser`).
    /// Reports written before this section existed read as "not tested:
    /// not run".
    #[serde(default = "not_run")]
    pub browser: Section<crate::browser::BrowserSection>,
    /// A TURN server's security audit (`natscope turn --audit`). Reports
    /// written before this section existed read as "not tested: not run".
    #[serde(default = "not_run")]
    pub audit: Section<crate::audit::AuditSection>,
    /// A TURN server's load test (`natscope turn --load`). Reports written
    /// before this section existed read as "not tested: not run".
    #[serde(default = "not_run")]
    pub load: Section<crate::load::LoadSection>,
    /// ICE, a data channel and a hole punch with natscope on another
    /// machine (`natscope peer`). Reports written before this section
    /// existed read as "not tested: not run".
    #[serde(default = "not_run")]
    pub peer: Section<crate::peer::PeerSection>,
    /// Plain-language summary and the checks.
    pub summary: Summary,
}

/// The program that wrote a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `natscope`.
    pub name: String,
    /// Its version, e.g. `0.1.0`.
    pub version: String,
}

impl Tool {
    /// natscope at this crate's version (the workspace version).
    pub fn natscope() -> Tool {
        Tool {
            name: "natscope".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The options of the run that matter for reading its results. Only fields
/// listed here are ever written: there is no free-form map, so passwords and
/// shared secrets cannot end up in a report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Options {
    /// Overall per-test timeout in milliseconds; `None` for the default.
    pub timeout_ms: Option<u64>,
    /// Servers as given by the user (URIs or host:port, never credentials).
    pub servers: Vec<String>,
    /// Local bind address(es) requested, as given (one per family, comma
    /// separated); `None` for any.
    pub bind: Option<String>,
    /// IPv4 tests enabled (false with `-6`).
    pub ipv4: bool,
    /// IPv6 tests enabled (false with `-4`).
    pub ipv6: bool,
    /// Public addresses were replaced by placeholders (`--redact`).
    #[serde(default)]
    pub redacted: bool,
}

/// The reason of a section the command does not run at all (as opposed to
/// one skipped by a flag, whose reason names the flag).
pub const NOT_RUN: &str = "not run";

/// A section that was not run (the default for sections added after
/// natscope/1 was first published).
fn not_run<T>() -> Section<T> {
    Section::not_tested(NOT_RUN)
}

impl Report {
    /// A report with every section "not tested: not run" and an empty
    /// summary; the caller fills in what it ran.
    pub fn new(command: impl Into<String>, generated_at: impl Into<String>) -> Report {
        Report {
            schema: SCHEMA.to_owned(),
            tool: Tool::natscope(),
            generated_at: generated_at.into(),
            command: command.into(),
            options: Options {
                ipv4: true,
                ipv6: true,
                ..Options::default()
            },
            diagnosis: crate::diagnosis::Diagnosis::default(),
            interfaces: not_run(),
            stun: not_run(),
            nat: not_run(),
            nat_ipv6: not_run(),
            turn: not_run(),
            ice: not_run(),
            portmap: not_run(),
            browser: not_run(),
            audit: not_run(),
            load: not_run(),
            peer: not_run(),
            summary: Summary::default(),
        }
    }

    /// The report as pretty-printed JSON (2-space indent).
    pub fn to_json_pretty(&self) -> String {
        // Serialization only fails for non-string map keys or section content
        // that is not a JSON object; every type in the model is a struct or a
        // string-keyed map, so this cannot fail.
        serde_json::to_string_pretty(self).expect("report model serializes to JSON objects")
    }
}

/// `secs` seconds after the Unix epoch as RFC 3339 UTC
/// (`2026-11-23T20:37:40Z`): how `generated_at` is written.
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_466_260), "2026-11-23T20:37:40Z");
    }
}
