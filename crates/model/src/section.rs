//! [`Section`]: a report section that was tested, not tested, or failed.
//!
//! JSON shape (docs/json.md, "Sections"): always an object whose first key is
//! `"status"`. When tested, the content's own fields sit beside it
//! (`{"status": "tested", "mapping": "endpoint-independent", ...}`), so the
//! documented paths such as `.nat.mapping` hold. When not tested or failed,
//! `"reason"` says why (`{"status": "not-tested", "reason": "skipped by --no-nat"}`).

use serde::{Deserialize, Serialize};

/// One section of the report: its content when it was tested, otherwise why
/// not.
///
/// Serialized with serde's internally tagged representation (tag `status`),
/// which writes the tag first and the content's fields after it. The content
/// type must therefore serialize as a JSON object and must not have a field
/// named `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Section<T> {
    /// The section was tested; its content follows.
    Tested(T),
    /// The section was not tested (skipped by the user, not applicable,
    /// not implemented yet...). Not tested is not the same as "no".
    NotTested {
        /// Why it was not tested, in plain words.
        reason: String,
    },
    /// The test was attempted but could not produce a result (for example
    /// no socket could be bound). Problems found by a test that ran (such as
    /// "UDP blocked") are content of a tested section, not failures.
    Failed {
        /// What went wrong, in plain words.
        reason: String,
    },
}

impl<T> Section<T> {
    /// A not-tested section with this reason.
    pub fn not_tested(reason: impl Into<String>) -> Section<T> {
        Section::NotTested {
            reason: reason.into(),
        }
    }

    /// A failed section with this reason.
    pub fn failed(reason: impl Into<String>) -> Section<T> {
        Section::Failed {
            reason: reason.into(),
        }
    }

    /// The content, when tested.
    pub fn tested(&self) -> Option<&T> {
        match self {
            Section::Tested(content) => Some(content),
            Section::NotTested { .. } | Section::Failed { .. } => None,
        }
    }

    /// The reason, when not tested or failed.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Section::Tested(_) => None,
            Section::NotTested { reason } | Section::Failed { reason } => Some(reason),
        }
    }

    /// The reason, when the section could not produce a result.
    pub fn failed_reason(&self) -> Option<&str> {
        match self {
            Section::Failed { reason } => Some(reason),
            Section::Tested(_) | Section::NotTested { .. } => None,
        }
    }

    /// The JSON value of `status`: `tested`, `not-tested` or `failed`.
    pub fn status_str(&self) -> &'static str {
        match self {
            Section::Tested(_) => "tested",
            Section::NotTested { .. } => "not-tested",
            Section::Failed { .. } => "failed",
        }
    }
}
