//! Reading a natscope document: the schema id is checked first, then the
//! whole document is parsed into the model. Writing is
//! [`Report::to_json_pretty`].

use crate::sanitize;
use model::{READABLE_SCHEMAS, Report, SCHEMA};
use serde::Deserialize;

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
    /// The document's `schema` is not one this natscope reads.
    #[error(
        "unsupported report schema {found:?} (this natscope reads \"natscope/3\", \"natscope/2\" and \"natscope/1\")"
    )]
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

/// Reads a `natscope/3` (or `natscope/2`, `natscope/1`) document. Never panics; errors
/// for invalid JSON, nesting deeper than serde_json's limit (128), a missing
/// or unknown `schema`, or fields of the wrong shape. Unknown fields are
/// ignored (additive changes keep the schema id). An older document
/// comes back as the model holds it today, so its `schema` reads
/// `natscope/3`: it is rewritten in today's spelling when saved again.
pub fn from_json(text: &str) -> Result<Report, ReportError> {
    #[derive(Deserialize)]
    struct SchemaOnly {
        schema: Option<serde_json::Value>,
    }
    let head: SchemaOnly = serde_json::from_str(text).map_err(ReportError::invalid)?;
    match head.schema {
        None => return Err(ReportError::MissingSchema),
        Some(serde_json::Value::String(s)) if READABLE_SCHEMAS.contains(&s.as_str()) => {}
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
    let mut report: Report = serde_json::from_str(text).map_err(ReportError::invalid)?;
    report.schema = SCHEMA.to_owned();
    Ok(report)
}
