//! report — natscope's report model, its JSON contract and its renderers.
//!
//! - [`Report`] is the typed, serde-serialized document whose JSON form is
//!   the stable `natscope/1` contract described in `docs/json.md` (JSON
//!   Schema: `docs/natscope-1.schema.json`). Every section is a
//!   [`Section`]: tested (content flattened beside `"status"`), not tested or
//!   failed, always with a reason.
//! - [`table::render`] draws the terminal view.
//! - [`sanitize`] holds the helpers every renderer passes untrusted strings
//!   through.
//!
//! This crate does no networking and makes no decisions: it only models and
//! renders what the probes and natclass produced.
#![deny(missing_docs)]

pub mod document;
mod format;
pub mod html;
pub mod ice;
pub mod interfaces;
pub mod portmap;
pub mod redact;
pub mod sanitize;
pub mod section;
pub mod stun;
pub mod summary;
pub mod table;
pub mod turn;

pub use document::{Options, Report, SCHEMA, Tool};
pub use interfaces::{
    AddressScope, DefaultGateway, Interface, InterfaceAddress, InterfaceKind, Interfaces,
};
pub use section::Section;
pub use stun::{Agreement, Counters, FamilyAgreement, Outcome, StunSection, StunServer, Transport};
pub use summary::{Check, CheckStatus, Summary};
pub use table::TableOptions;

/// Errors reading a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Not valid JSON, nested too deeply, or a field has the wrong shape.
    /// The message is sanitised for terminals (it may quote the input).
    #[error("invalid natscope report: {message}")]
    Invalid {
        /// serde_json's message with line and column, sanitised.
        message: String,
    },
    /// The document has no top-level `schema` field.
    #[error("not a natscope report: no \"schema\" field")]
    MissingSchema,
    /// The document's `schema` is not `natscope/1`.
    #[error("unsupported report schema {found:?} (this natscope reads \"natscope/1\")")]
    UnsupportedSchema {
        /// The `schema` value found, sanitised and shortened.
        found: String,
    },
}

impl ReportError {
    fn invalid(err: serde_json::Error) -> ReportError {
        ReportError::Invalid {
            message: sanitize::terminal_short(&err.to_string(), 300),
        }
    }
}
