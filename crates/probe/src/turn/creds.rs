//! TURN credentials: long-term (RFC 8489 §9.2) and TURN REST API ephemeral
//! credentials derived from a shared secret (coturn `use-auth-secret`).
//!
//! Secrets live in [`Secret`] (natscope's one secret type, in
//! `natscope-model`), whose `Debug`/`Display` print `***` and which
//! is deliberately not `Serialize`, so they cannot reach logs, JSON or Debug
//! output by accident.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use std::time::{SystemTime, UNIX_EPOCH};

use model::Secret;

/// How natscope authenticates to a TURN server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnAuth {
    /// Long-term credentials (username and password).
    LongTerm {
        /// The TURN username.
        username: String,
        /// The TURN password.
        password: Secret,
    },
    /// TURN REST API ephemeral credentials computed from a shared secret.
    Rest {
        /// The shared secret (coturn `static-auth-secret`).
        secret: Secret,
        /// Optional user part appended to the timestamp (`<expiry>:<user>`).
        user: Option<String>,
        /// Validity of the generated credential in seconds from now. A
        /// negative value yields an already expired credential (for tests).
        ttl_secs: i64,
    },
}

/// Credentials ready for the wire, plus what natscope knows about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedCredentials {
    /// The username sent to the server.
    pub username: String,
    /// The password used for MESSAGE-INTEGRITY.
    pub password: Secret,
    /// For REST credentials: the expiry (unix seconds) encoded in the username.
    pub rest_expiry_unix: Option<i64>,
}

/// Seconds since the unix epoch (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The TURN REST API credential for `username` (already containing the
/// expiry): base64(HMAC-SHA1(secret, username)).
pub fn rest_password(secret: &Secret, username: &str) -> Secret {
    // HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC-SHA1 accepts keys of any length");
    mac.update(username.as_bytes());
    Secret::new(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// The REST username for an expiry time: `"<expiry>"` or `"<expiry>:<user>"`.
pub fn rest_username(expiry_unix: i64, user: Option<&str>) -> String {
    match user {
        Some(u) if !u.is_empty() => format!("{expiry_unix}:{u}"),
        _ => expiry_unix.to_string(),
    }
}

impl TurnAuth {
    /// Computes the credentials to send, at time `now_unix`.
    pub fn resolve(&self, now_unix: i64) -> ResolvedCredentials {
        match self {
            TurnAuth::LongTerm { username, password } => ResolvedCredentials {
                username: username.clone(),
                password: password.clone(),
                rest_expiry_unix: None,
            },
            TurnAuth::Rest {
                secret,
                user,
                ttl_secs,
            } => {
                let expiry = now_unix.saturating_add(*ttl_secs);
                let username = rest_username(expiry, user.as_deref());
                let password = rest_password(secret, &username);
                ResolvedCredentials {
                    username,
                    password,
                    rest_expiry_unix: Some(expiry),
                }
            }
        }
    }

    /// Long-term credentials carried by a server URI (an `iceServers` entry's
    /// `username`/`credential`), if it has both.
    pub fn from_uri(uri: &model::servers::ServerUri) -> Option<Self> {
        match (&uri.username, &uri.credential) {
            (Some(username), Some(password)) => Some(TurnAuth::LongTerm {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }

    /// True for REST API credentials.
    pub fn is_rest(&self) -> bool {
        matches!(self, TurnAuth::Rest { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_credential_matches_coturn_scheme() {
        // Known value: HMAC-SHA1("north", "1700000000:alice") base64.
        let user = rest_username(1_700_000_000, Some("alice"));
        assert_eq!(user, "1700000000:alice");
        let pw = rest_password(&Secret::new("north"), &user);
        // Independently computed with `openssl dgst -sha1 -hmac north -binary | base64`.
        assert_eq!(pw.expose(), "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
        assert_eq!(rest_username(5, None), "5");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let auth = TurnAuth::LongTerm {
            username: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        let rest = TurnAuth::Rest {
            secret: Secret::new("s3cr3t"),
            user: None,
            ttl_secs: 60,
        };
        let r = rest.resolve(100);
        assert_eq!(r.username, "160");
        assert!(!format!("{rest:?}{r:?}").contains("s3cr3t"));
        assert!(!format!("{r:?}").contains(r.password.expose()));
        assert!(!format!("{}", r.password).contains(r.password.expose()));
        let parsed: Secret = "hunter2".parse().expect("infallible");
        assert_eq!(parsed.expose(), "hunter2");
    }

    #[test]
    fn ice_server_credentials_become_long_term_auth() {
        let uri = model::servers::ServerUri::parse("turn:192.0.2.1")
            .expect("valid")
            .with_credentials("bob", Secret::new("pw-from-json"));
        let auth = TurnAuth::from_uri(&uri).expect("credentials carried");
        assert_eq!(
            auth,
            TurnAuth::LongTerm {
                username: "bob".into(),
                password: Secret::new("pw-from-json"),
            }
        );
        assert!(!format!("{auth:?}{uri:?}{uri}").contains("pw-from-json"));
        let bare = model::servers::ServerUri::parse("turn:192.0.2.1").expect("valid");
        assert_eq!(TurnAuth::from_uri(&bare), None);
    }
}
