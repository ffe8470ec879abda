//! Two reports of one `natscope peer` session, one from each side, shown
//! together (`natscope report render A.json B.json`): [`pair`] checks that
//! they belong together and orders them creator first.

use crate::{Report, sanitize};
use model::peer::{PeerRole, PeerSection};

/// Which of the two reports given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The first report given.
    First,
    /// The second report given.
    Second,
}

impl Which {
    /// `first` or `second`.
    pub fn as_str(self) -> &'static str {
        match self {
            Which::First => "first",
            Which::Second => "second",
        }
    }
}

/// Why two reports cannot be shown as one session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// A report has no tested `peer` section (another command wrote it, or
    /// its peer run failed before it began).
    #[error("the {} report has no peer section ({status})", which.as_str())]
    NoPeer {
        /// Which report.
        which: Which,
        /// What its `peer` section says instead, sanitised.
        status: String,
    },
    /// A report's peer section names no session (it never met the other
    /// side).
    #[error("the {} report names no session (it never met the other side)", which.as_str())]
    NoSession {
        /// Which report.
        which: Which,
    },
    /// The two name different sessions.
    #[error("they are from different sessions ({first} and {second})")]
    DifferentSessions {
        /// The first report's session label, sanitised.
        first: String,
        /// The second report's, sanitised.
        second: String,
    },
    /// Both are from the same side.
    #[error("both are from the {} side of the session (one creator and one joiner are needed)", role.as_str())]
    SameRole {
        /// The side both are from.
        role: PeerRole,
    },
}

/// Two sides of one session, creator first.
#[derive(Debug, Clone, Copy)]
pub struct PeerPair<'a> {
    /// The session label both name.
    pub session: &'a str,
    /// The creator's report.
    pub creator: &'a Report,
    /// Its peer section.
    pub creator_peer: &'a PeerSection,
    /// The joiner's report.
    pub joiner: &'a Report,
    /// Its peer section.
    pub joiner_peer: &'a PeerSection,
}

/// The longest session label quoted in an error.
const LABEL_MAX: usize = 64;

/// Checks that `first` and `second` are the two sides of one session
/// (tested peer sections, the same session label, different roles) and
/// orders them creator first.
pub fn pair<'a>(first: &'a Report, second: &'a Report) -> Result<PeerPair<'a>, PairError> {
    let peer = |r: &'a Report, which: Which| -> Result<(&'a PeerSection, &'a str), PairError> {
        let p = r.peer.tested().ok_or_else(|| PairError::NoPeer {
            which,
            status: match r.peer.reason() {
                Some(reason) => format!(
                    "{}: {}",
                    r.peer.status_str(),
                    sanitize::terminal_short(reason, 120)
                ),
                None => r.peer.status_str().to_owned(),
            },
        })?;
        let session = p
            .session
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or(PairError::NoSession { which })?;
        Ok((p, session))
    };
    let (a, a_session) = peer(first, Which::First)?;
    let (b, b_session) = peer(second, Which::Second)?;
    if a_session != b_session {
        return Err(PairError::DifferentSessions {
            first: sanitize::terminal_short(a_session, LABEL_MAX),
            second: sanitize::terminal_short(b_session, LABEL_MAX),
        });
    }
    if a.role == b.role {
        return Err(PairError::SameRole { role: a.role });
    }
    let ((creator, creator_peer), (joiner, joiner_peer)) = match a.role {
        PeerRole::Creator => ((first, a), (second, b)),
        PeerRole::Joiner => ((second, b), (first, a)),
    };
    Ok(PeerPair {
        session: a_session,
        creator,
        creator_peer,
        joiner,
        joiner_peer,
    })
}

impl PeerPair<'_> {
    /// Both sides, creator first: the role, the report, its peer section.
    pub fn sides(&self) -> [(PeerRole, &Report, &PeerSection); 2] {
        [
            (PeerRole::Creator, self.creator, self.creator_peer),
            (PeerRole::Joiner, self.joiner, self.joiner_peer),
        ]
    }
}
