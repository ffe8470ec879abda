//! # natscope-report: the JSON contract and the renderers
//!
//! natscope's [`Report`] (the one result model, `natscope-model`) leaves
//! the program through this crate:
//!
//! - [`json`]: the `natscope/3` contract on the wire — [`from_json`] reads a
//!   document (schema checked, `natscope/2` and `natscope/1` still read, errors sanitised),
//!   `Report::to_json_pretty` writes one. docs/json.md and the JSON Schema
//!   `docs/natscope-3.schema.json` describe it.
//! - [`table::render`] draws the terminal view, [`html::render`] the
//!   single-file HTML page.
//! - [`redact`]: public addresses replaced by stable placeholders.
//! - [`merge`]: the two sides' reports of one `natscope peer` session,
//!   paired for one page ([`html::render_pair`], [`table::render_pair`]).
//! - [`metrics`]: `natscope watch`'s series, accumulated over runs and
//!   written as OpenMetrics or the Prometheus text format.
//! - [`sanitize`]: every string from the network passes through it before
//!   it reaches a terminal or HTML.
//!
//! ## What it deliberately does not do
//!
//! - No networking and no decisions: the summary, checks and diagnosis it
//!   draws were derived by `natscope-rules`; it only renders them.
//!
//! ## Standards checklist
//!
//! - [x] JSON (RFC 8259) with a versioned schema id; JSON Schema 2020-12
//!   document for the contract.
//! - [x] HTML: one file that loads nothing and runs no script (the JSON is
//!   embedded as `application/json` data), a strict Content-Security-Policy.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod format;
pub mod html;
pub mod json;
pub mod merge;
pub mod metrics;
pub mod redact;
pub mod sanitize;
pub mod table;

pub use json::{ReportError, from_json};
pub use model::Report;
pub use table::TableOptions;
