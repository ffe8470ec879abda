//! The `summary` section: plain-language findings and the pass/fail checks
//! the exit code derives from.

use serde::{Deserialize, Serialize};

/// What works, what does not, what to do, and the individual checks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Things that work, one sentence each.
    pub works: Vec<String>,
    /// Things that do not work, one sentence each.
    pub problems: Vec<String>,
    /// What to do about the problems, one sentence each.
    pub advice: Vec<String>,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Summary {
    /// True when at least one check failed (the CLI exits 1 then).
    pub fn any_failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }
}

/// One pass/fail check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier: `udp`, `stun`, `ipv6`, `nat`, `turn`, `ice`...
    /// An open set: new ids may appear within natscope/1.
    pub id: String,
    /// Result.
    pub status: CheckStatus,
    /// Why, in plain words.
    pub reason: String,
}

/// Result of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// Not tested (skipped or not applicable); never makes the run fail.
    NotTested,
}
