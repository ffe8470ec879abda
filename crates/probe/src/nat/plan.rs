//! The pure part of the NAT probe: which test goes to which destination from
//! which socket, how long each kind of test may wait, how transaction
//! outcomes become `natclass` replies, and how repeated filtering rounds are
//! merged. No sockets, no clock: everything here is unit-tested offline.

use std::net::SocketAddr;
use std::time::Duration;

use natclass::{FilteringTests, Reply};

use crate::stun::transaction::{RetransmitConfig, StunResponse, TransactionError};
use wire::attrs::ChangeRequest;

/// Transmissions of every test whose answer may legitimately be missing
/// (filtering II/III, hairpin) and of the tests expected to be answered
/// after test I. Seven spaced sends: with 10 % loss each way a round trip
/// fails with p = 0.19, all seven with p ≈ 9·10⁻⁶.
pub const FAST_SENDS: u32 = 7;

/// The final wait after the last fast send, in units of the send spacing.
pub const FAST_FINAL_WAIT_SPACINGS: u32 = 4;

/// Fresh sockets the filtering tests are repeated on (merged by
/// [`merge_filtering`]): silence then needs `2 × FAST_SENDS` losses.
pub const FILTERING_ROUNDS: usize = 2;

/// The schedule of test I (and of every first contact with a server, where
/// nothing is known about the path yet): 100 ms initial RTO, doubling up to
/// 1 s, 7 transmissions, a final wait of 800 ms (4.3 s in all unless the
/// overall deadline is sooner). Faster than RFC 8489's 500 ms RTO on good
/// paths; retransmitting early only costs a duplicate request.
pub fn discovery_config() -> RetransmitConfig {
    RetransmitConfig {
        initial_rto: Duration::from_millis(100),
        max_rto: Duration::from_secs(1),
        rc: 7,
        rm: 8,
    }
}

/// The schedule of the tests after test I, adapted to the measured round
/// trip: constant spacing of `RetransmitConfig::for_rtt(rtt).initial_rto`
/// (3 × rtt, 50 ms to 500 ms), [`FAST_SENDS`] sends, and a final wait of
/// [`FAST_FINAL_WAIT_SPACINGS`] spacings. Without an RTT sample the spacing
/// is the 500 ms maximum. On a LAN a "no answer" costs 0.5 s.
pub fn fast_config(rtt: Option<Duration>) -> RetransmitConfig {
    let spacing = match rtt {
        Some(rtt) => RetransmitConfig::for_rtt(rtt).initial_rto,
        None => Duration::from_millis(500),
    };
    RetransmitConfig {
        initial_rto: spacing,
        max_rto: spacing,
        rc: FAST_SENDS,
        rm: FAST_FINAL_WAIT_SPACINGS,
    }
}

/// An RTT sample that is safe to adapt timers to (Karn's rule): the
/// response's RTT when the request was sent once, otherwise the whole time
/// since the first transmission (`elapsed`), an upper bound.
pub fn rtt_sample(resp: &StunResponse, elapsed: Duration) -> Duration {
    if resp.transmissions <= 1 {
        resp.rtt
    } else {
        elapsed
    }
}

/// The best (smallest) of the safe RTT samples, if any.
pub fn best_rtt(samples: impl IntoIterator<Item = Option<Duration>>) -> Option<Duration> {
    samples.into_iter().flatten().min()
}

/// One RFC 5780 test: where the request goes and what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestPlan {
    /// Destination of the Binding request.
    pub to: SocketAddr,
    /// CHANGE-REQUEST flags, if any.
    pub change: Option<ChangeRequest>,
    /// Where a correct answer comes from.
    pub expected_source: SocketAddr,
}

/// The six RFC 5780 tests against one server (§4.3 mapping, §4.4
/// filtering). Mapping tests run from one socket; filtering tests from a
/// fresh one, all sent to the primary address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerPlan {
    /// Mapping test I: primary address.
    pub mapping1: TestPlan,
    /// Mapping test II: alternate IP, primary port.
    pub mapping2: TestPlan,
    /// Mapping test III: alternate IP and port.
    pub mapping3: TestPlan,
    /// Filtering test I (control): primary address, no change.
    pub filtering1: TestPlan,
    /// Filtering test II: change IP and port.
    pub filtering2: TestPlan,
    /// Filtering test III: change port only.
    pub filtering3: TestPlan,
}

/// The plan for a server at `primary` whose OTHER-ADDRESS is `other`.
pub fn server_plan(primary: SocketAddr, other: SocketAddr) -> ServerPlan {
    let alt_ip_primary_port = SocketAddr::new(other.ip(), primary.port());
    let primary_ip_alt_port = SocketAddr::new(primary.ip(), other.port());
    let plain = |to| TestPlan {
        to,
        change: None,
        expected_source: to,
    };
    ServerPlan {
        mapping1: plain(primary),
        mapping2: plain(alt_ip_primary_port),
        mapping3: plain(other),
        filtering1: plain(primary),
        filtering2: TestPlan {
            to: primary,
            change: Some(ChangeRequest::new(true, true)),
            expected_source: other,
        },
        filtering3: TestPlan {
            to: primary,
            change: Some(ChangeRequest::new(false, true)),
            expected_source: primary_ip_alt_port,
        },
    }
}

/// Whether OTHER-ADDRESS is usable for RFC 5780 tests: same family, and
/// different from the primary in both IP and port.
pub fn usable_other(primary: SocketAddr, other: SocketAddr) -> bool {
    other.is_ipv4() == primary.is_ipv4()
        && other.ip() != primary.ip()
        && other.port() != primary.port()
}

/// Destinations of the port-allocation samples, one fresh socket each, in
/// sending order: they cycle through the server's four address/port pairs
/// (when OTHER-ADDRESS is known) so dependent mappings show their
/// allocation pattern; with no usable OTHER-ADDRESS, all go to `primary`.
pub fn port_sample_destinations(
    primary: SocketAddr,
    other: Option<SocketAddr>,
    n: usize,
) -> Vec<SocketAddr> {
    let cycle: Vec<SocketAddr> = match other {
        Some(o) if usable_other(primary, o) => vec![
            primary,
            SocketAddr::new(o.ip(), primary.port()),
            o,
            SocketAddr::new(primary.ip(), o.port()),
        ],
        _ => vec![primary],
    };
    cycle.iter().copied().cycle().take(n).collect()
}

/// Turns a transaction outcome into a `natclass` reply. `source` is the
/// real source of the response datagram (never an attribute).
pub fn reply_from(result: &Result<StunResponse, TransactionError>) -> Reply {
    match result {
        Ok(resp) if resp.is_success() => match resp.mapped() {
            Some(mapped) => Reply::Answered {
                mapped,
                source: resp.from,
            },
            None => Reply::Error {
                message: format!(
                    "success response from {} without a mapped address",
                    resp.from
                ),
            },
        },
        Ok(resp) => Reply::Error {
            message: match &resp.parsed.error {
                Some((code, reason)) => {
                    format!("error response {code} {reason} from {}", resp.from)
                }
                None => format!("error response without ERROR-CODE from {}", resp.from),
            },
        },
        Err(TransactionError::Timeout { transmissions })
        | Err(TransactionError::Deadline { transmissions })
            if *transmissions > 0 =>
        {
            Reply::NoAnswer {
                transmissions: *transmissions,
            }
        }
        Err(TransactionError::Deadline { .. }) => Reply::NotRun,
        Err(TransactionError::Unreachable {
            kind: crate::icmp::IcmpKind::PortUnreachable,
            from,
            ..
        }) => Reply::PortClosed { from: *from },
        Err(e) => Reply::Error {
            message: e.to_string(),
        },
    }
}

/// Merges filtering rounds run on separate fresh sockets into the one
/// [`FilteringTests`] natclass reads. Only rounds whose control (test I) was
/// answered count. Per test: an answer from any counting round wins (it is
/// positive evidence, whatever the others saw); otherwise silences add up
/// their transmissions; otherwise the first counting round's value stays.
/// With no counting round, the first round is returned unchanged.
pub fn merge_filtering(rounds: &[FilteringTests]) -> FilteringTests {
    let valid: Vec<&FilteringTests> = rounds.iter().filter(|r| r.test1.answered()).collect();
    let Some(first) = valid.first() else {
        return rounds.first().cloned().unwrap_or_default();
    };
    let merge = |pick: fn(&FilteringTests) -> &Reply| -> Reply {
        if let Some(r) = valid.iter().map(|r| pick(r)).find(|r| r.answered()) {
            return r.clone();
        }
        let silent: u32 = valid
            .iter()
            .filter_map(|r| match pick(r) {
                Reply::NoAnswer { transmissions } => Some(*transmissions),
                _ => None,
            })
            .sum();
        if silent > 0 {
            Reply::NoAnswer {
                transmissions: silent,
            }
        } else {
            pick(first).clone()
        }
    };
    FilteringTests {
        local: first.local,
        test1: first.test1.clone(),
        test2: merge(|r| &r.test2),
        test3: merge(|r| &r.test3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::transaction::{ParsedResponse, ResponseClass};
    use stun_proto::types::message::TransactionId;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test literal")
    }

    fn response(class: ResponseClass, mapped: Option<&str>, tx: u32) -> StunResponse {
        StunResponse {
            from: sa("203.0.113.2:3479"),
            local: sa("192.0.2.10:40000"),
            rtt: Duration::from_millis(2),
            transmissions: tx,
            bytes: Vec::new(),
            parsed: ParsedResponse {
                transaction_id: TransactionId::generate(),
                class,
                xor_mapped: mapped.map(sa),
                mapped_address: None,
                other_address: None,
                rfc3489: false,
                response_origin: None,
                software: None,
                error: (class == ResponseClass::Error).then(|| (420, "Unknown".to_owned())),
            },
        }
    }

    #[test]
    fn plan_targets_the_four_addresses() {
        let p = server_plan(sa("203.0.113.1:3478"), sa("203.0.113.2:3479"));
        assert_eq!(p.mapping1.to, sa("203.0.113.1:3478"));
        assert_eq!(p.mapping2.to, sa("203.0.113.2:3478"));
        assert_eq!(p.mapping3.to, sa("203.0.113.2:3479"));
        assert_eq!(p.mapping2.change, None);
        for f in [p.filtering1, p.filtering2, p.filtering3] {
            assert_eq!(f.to, sa("203.0.113.1:3478"), "filtering goes to primary");
        }
        assert_eq!(p.filtering2.change, Some(ChangeRequest::new(true, true)));
        assert_eq!(p.filtering2.expected_source, sa("203.0.113.2:3479"));
        assert_eq!(p.filtering3.change, Some(ChangeRequest::new(false, true)));
        assert_eq!(p.filtering3.expected_source, sa("203.0.113.1:3479"));
    }

    #[test]
    fn other_address_must_differ_in_ip_and_port() {
        let p = sa("203.0.113.1:3478");
        assert!(usable_other(p, sa("203.0.113.2:3479")));
        assert!(!usable_other(p, sa("203.0.113.1:3479")));
        assert!(!usable_other(p, sa("203.0.113.2:3478")));
        assert!(!usable_other(p, sa("[2001:db8::1]:3479")));
    }

    #[test]
    fn port_samples_cycle_destinations() {
        let d = port_sample_destinations(sa("203.0.113.1:3478"), Some(sa("203.0.113.2:3479")), 5);
        assert_eq!(
            d,
            vec![
                sa("203.0.113.1:3478"),
                sa("203.0.113.2:3478"),
                sa("203.0.113.2:3479"),
                sa("203.0.113.1:3479"),
                sa("203.0.113.1:3478"),
            ]
        );
        let plain = port_sample_destinations(sa("203.0.113.1:3478"), None, 3);
        assert_eq!(plain, vec![sa("203.0.113.1:3478"); 3]);
        assert!(port_sample_destinations(sa("203.0.113.1:3478"), None, 0).is_empty());
    }

    #[test]
    fn fast_schedule_is_bounded_and_solid() {
        let lan = fast_config(Some(Duration::from_micros(200)));
        assert_eq!(lan.rc, FAST_SENDS);
        assert!(lan.rc >= natclass::ClassifyOptions::default().solid_transmissions);
        assert_eq!(lan.initial_rto, RetransmitConfig::MIN_ADAPTED_RTO);
        assert!(lan.retransmit_waits().all(|w| w == lan.initial_rto));
        assert_eq!(lan.total_wait(), Duration::from_millis(50 * 6 + 50 * 4));
        let unknown = fast_config(None);
        assert_eq!(unknown.initial_rto, Duration::from_millis(500));
        let d = discovery_config();
        assert_eq!(d.total_wait(), Duration::from_millis(4300));
    }

    #[test]
    fn rtt_sample_follows_karn() {
        let one = response(ResponseClass::Success, Some("198.51.100.7:5000"), 1);
        assert_eq!(
            rtt_sample(&one, Duration::from_millis(90)),
            Duration::from_millis(2)
        );
        let two = response(ResponseClass::Success, Some("198.51.100.7:5000"), 2);
        assert_eq!(
            rtt_sample(&two, Duration::from_millis(90)),
            Duration::from_millis(90)
        );
        assert_eq!(best_rtt([None, None]), None);
        assert_eq!(
            best_rtt([
                Some(Duration::from_millis(5)),
                None,
                Some(Duration::from_millis(3))
            ]),
            Some(Duration::from_millis(3))
        );
    }

    #[test]
    fn replies_from_outcomes() {
        let ok = Ok(response(
            ResponseClass::Success,
            Some("198.51.100.7:5000"),
            1,
        ));
        assert_eq!(
            reply_from(&ok),
            Reply::Answered {
                mapped: sa("198.51.100.7:5000"),
                source: sa("203.0.113.2:3479"),
            }
        );
        let no_mapped = Ok(response(ResponseClass::Success, None, 1));
        assert!(matches!(reply_from(&no_mapped), Reply::Error { .. }));
        let err = Ok(response(ResponseClass::Error, None, 1));
        match reply_from(&err) {
            Reply::Error { message } => assert!(message.contains("420"), "{message}"),
            other => panic!("expected an error reply, got {other:?}"),
        }
        assert_eq!(
            reply_from(&Err(TransactionError::Timeout { transmissions: 7 })),
            Reply::NoAnswer { transmissions: 7 }
        );
        assert_eq!(
            reply_from(&Err(TransactionError::Deadline { transmissions: 3 })),
            Reply::NoAnswer { transmissions: 3 }
        );
        assert_eq!(
            reply_from(&Err(TransactionError::Deadline { transmissions: 0 })),
            Reply::NotRun
        );
        assert!(matches!(
            reply_from(&Err(TransactionError::Closed)),
            Reply::Error { .. }
        ));
    }

    fn round(t1: Reply, t2: Reply, t3: Reply, local: &str) -> FilteringTests {
        FilteringTests {
            local: Some(sa(local)),
            test1: t1,
            test2: t2,
            test3: t3,
        }
    }

    #[test]
    fn merging_filtering_rounds() {
        let ans = |m: &str, s: &str| Reply::Answered {
            mapped: sa(m),
            source: sa(s),
        };
        let silent = |n| Reply::NoAnswer { transmissions: n };
        let c1 = ans("198.51.100.7:5000", "203.0.113.1:3478");
        let c2 = ans("198.51.100.7:5001", "203.0.113.1:3478");
        // Both silent: silences add up.
        let m = merge_filtering(&[
            round(c1.clone(), silent(7), silent(7), "192.0.2.10:1"),
            round(c2.clone(), silent(7), silent(6), "192.0.2.10:2"),
        ]);
        assert_eq!(m.local, Some(sa("192.0.2.10:1")));
        assert_eq!(m.test1, c1);
        assert_eq!(m.test2, silent(14));
        assert_eq!(m.test3, silent(13));
        // An answer in either round wins.
        let a3 = ans("198.51.100.7:5001", "203.0.113.1:3479");
        let m = merge_filtering(&[
            round(c1.clone(), silent(7), silent(7), "192.0.2.10:1"),
            round(c2.clone(), silent(7), a3.clone(), "192.0.2.10:2"),
        ]);
        assert_eq!(m.test2, silent(14));
        assert_eq!(m.test3, a3);
        // A round whose control was lost does not count.
        let m = merge_filtering(&[
            round(silent(7), silent(7), silent(7), "192.0.2.10:1"),
            round(c2.clone(), silent(7), silent(7), "192.0.2.10:2"),
        ]);
        assert_eq!(m.local, Some(sa("192.0.2.10:2")));
        assert_eq!(m.test1, c2);
        assert_eq!(m.test2, silent(7));
        // No control answered: the first round as is.
        let r = round(silent(7), Reply::NotRun, Reply::NotRun, "192.0.2.10:1");
        assert_eq!(merge_filtering(&[r.clone(), r.clone()]), r);
        assert_eq!(merge_filtering(&[]), FilteringTests::default());
    }
}
