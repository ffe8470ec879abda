//! [`Report`]: the whole natscope/1 document, and its JSON reader/writer.

use crate::ice::IceSection;
use crate::interfaces::Interfaces;
use crate::portmap::PortmapSection;
use crate::section::Section;
use crate::stun::StunSection;
use crate::summary::Summary;
use crate::turn::TurnSection;
use crate::{ReportError, sanitize};
use serde::{Deserialize, Serialize};

/// The value of the top-level `schema` field of every natscope/1 document.
pub const SCHEMA: &str = "natscope/1";

/// One natscope report: the stable, versioned JSON contract (docs/json.md).
///
/// Field order is the JSON key order; `schema` comes first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`] (`"natscope/1"`).
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
    /// Local interfaces.
    pub interfaces: Section<Interfaces>,
    /// STUN Binding tests.
    pub stun: Section<StunSection>,
    /// NAT behaviour verdict (RFC 4787 / RFC 5780), natclass's `NatVerdict`.
    pub nat: Section<natclass::NatVerdict>,
    /// TURN tests: one result per server URI and transport.
    pub turn: Section<TurnSection>,
    /// ICE tests: one ICE session per candidate-type filter.
    pub ice: Section<IceSection>,
    /// Port mapping (UPnP IGD, NAT-PMP, PCP) and double-NAT evidence.
    /// Reports written before this section existed read as "not tested:
    /// not run".
    #[serde(default = "not_run")]
    pub portmap: Section<PortmapSection>,
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
    /// Local bind address requested, as given; `None` for any.
    pub bind: Option<String>,
    /// IPv4 tests enabled.
    pub ipv4: bool,
    /// IPv6 tests enabled.
    pub ipv6: bool,
    /// Public addresses were replaced by placeholders (`--redact`).
    #[serde(default)]
    pub redacted: bool,
}

/// A section that was not run (the default for sections added after
/// natscope/1 was first published).
fn not_run<T>() -> Section<T> {
    Section::not_tested("not run")
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
            interfaces: Section::not_tested("not run"),
            stun: Section::not_tested("not run"),
            nat: Section::not_tested("not run"),
            turn: Section::not_tested("not run"),
            ice: Section::not_tested("not run"),
            portmap: Section::not_tested("not run"),
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

    /// Read a natscope/1 document. Never panics; errors for invalid JSON,
    /// nesting deeper than serde_json's limit (128), a missing or different
    /// `schema`, or fields of the wrong shape. Unknown fields are ignored
    /// (additive changes keep natscope/1).
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: Option<serde_json::Value>,
        }
        let head: SchemaOnly = serde_json::from_str(text).map_err(ReportError::invalid)?;
        match head.schema {
            None => return Err(ReportError::MissingSchema),
            Some(serde_json::Value::String(s)) if s == SCHEMA => {}
            Some(other) => {
                let found = match other {
                    serde_json::Value::String(s) => s,
                    v => v.to_string(),
                };
                return Err(ReportError::UnsupportedSchema {
                    found: sanitize::terminal_short(&found, 64),
                });
            }
        }
        serde_json::from_str(text).map_err(ReportError::invalid)
    }
}
