//! Naming what went wrong: socket errors, ERROR-CODEs the server answered
//! (per request method), and how a wait for an answer ended. Every TURN
//! stage names its failure here, so one answer is named the same way
//! wherever it arrives.

use model::turn::TurnFailure;
use std::io;
use turn_client_proto::types::message::{CHANNEL_BIND, CONNECT, CREATE_PERMISSION};
use turn_client_proto::types::stun::message::Method;

/// How waiting for an answer ended, when it did not end with one.
#[derive(Debug)]
pub(super) enum PumpError {
    Timeout,
    Io(io::Error),
    Closed,
}

/// Maps a socket error to a named failure.
pub(crate) fn name_io_error(err: &io::Error) -> TurnFailure {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => TurnFailure::ConnectionRefused,
        io::ErrorKind::TimedOut => TurnFailure::Timeout { after_ms: 0 },
        _ => TurnFailure::Io {
            detail: err.to_string(),
        },
    }
}

pub(super) fn map_pump(e: PumpError, timeout_ms: u64) -> TurnFailure {
    match e {
        PumpError::Timeout => TurnFailure::Timeout {
            after_ms: timeout_ms,
        },
        PumpError::Io(e) => name_io_error(&e),
        PumpError::Closed => TurnFailure::Failed,
    }
}

/// The failure after a `method` request did not succeed: named from the
/// server's error answer (`answer`: code and reason) when there is one,
/// else from how the wait for it ended (`res`).
pub(super) fn name_failure(
    method: Method,
    answer: Option<(u16, String)>,
    res: Result<(), PumpError>,
    timeout_ms: u64,
) -> TurnFailure {
    match (answer, res) {
        (Some((code, reason)), _) => name_code(method, code, reason),
        (None, Err(e)) => map_pump(e, timeout_ms),
        (None, Ok(())) => TurnFailure::Failed,
    }
}

/// Names the ERROR-CODE `code` the server answered to a `method` request.
/// 403 means a forbidden peer address only for the requests that name a
/// peer (CreatePermission, ChannelBind, RFC 6062 Connect); to an Allocate
/// it is the server refusing this client, a plain server error.
pub(super) fn name_code(method: Method, code: u16, reason: String) -> TurnFailure {
    match code {
        438 => TurnFailure::StaleNonce,
        486 => TurnFailure::AllocationQuota,
        508 => TurnFailure::InsufficientCapacity,
        403 if [CREATE_PERMISSION, CHANNEL_BIND, CONNECT].contains(&method) => {
            TurnFailure::ForbiddenPeer
        }
        _ => TurnFailure::ServerError {
            code,
            reason: reason.trim_end_matches('\0').to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turn_client_proto::types::message::{ALLOCATE, REFRESH};

    #[test]
    fn forbidden_is_a_peer_failure_only_for_requests_naming_a_peer() {
        for m in [CREATE_PERMISSION, CHANNEL_BIND, CONNECT] {
            assert_eq!(
                name_code(m, 403, "Forbidden".into()),
                TurnFailure::ForbiddenPeer
            );
        }
        for m in [ALLOCATE, REFRESH] {
            assert_eq!(
                name_code(m, 403, "Forbidden\0\0".into()),
                TurnFailure::ServerError {
                    code: 403,
                    reason: "Forbidden".into()
                }
            );
        }
        assert_eq!(
            name_code(ALLOCATE, 486, String::new()),
            TurnFailure::AllocationQuota
        );
        assert_eq!(
            name_code(ALLOCATE, 508, String::new()),
            TurnFailure::InsufficientCapacity
        );
    }
}
