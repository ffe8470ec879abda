//! The responder's counters: lock-free atomics bumped on the hot path, read
//! as a [`MetricsSnapshot`] and rendered as Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one [`Responder`](super::Responder). Every field only
/// grows; read them with [`Metrics::snapshot`].
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) udp_received: AtomicU64,
    pub(crate) tcp_received: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) classic_requests: AtomicU64,
    pub(crate) success_responses: AtomicU64,
    pub(crate) error_responses: AtomicU64,
    pub(crate) malformed_dropped: AtomicU64,
    pub(crate) ignored_dropped: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) amplification_refused: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) change_ip: AtomicU64,
    pub(crate) change_port: AtomicU64,
    pub(crate) response_port: AtomicU64,
    pub(crate) padding: AtomicU64,
    pub(crate) tcp_accepted: AtomicU64,
    pub(crate) tcp_refused: AtomicU64,
}

/// Bumps a counter by one (relaxed: counters carry no ordering).
#[inline]
pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// A consistent-enough copy of every counter (each read is atomic; the
    /// set is not one atomic snapshot).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            udp_received: r(&self.udp_received),
            tcp_received: r(&self.tcp_received),
            requests: r(&self.requests),
            classic_requests: r(&self.classic_requests),
            success_responses: r(&self.success_responses),
            error_responses: r(&self.error_responses),
            malformed_dropped: r(&self.malformed_dropped),
            ignored_dropped: r(&self.ignored_dropped),
            rate_limited: r(&self.rate_limited),
            amplification_refused: r(&self.amplification_refused),
            send_errors: r(&self.send_errors),
            change_ip: r(&self.change_ip),
            change_port: r(&self.change_port),
            response_port: r(&self.response_port),
            padding: r(&self.padding),
            tcp_accepted: r(&self.tcp_accepted),
            tcp_refused: r(&self.tcp_refused),
        }
    }
}

/// A copy of the responder's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// UDP datagrams received (any content).
    pub udp_received: u64,
    /// STUN messages (or garbage headers) read from TCP connections.
    pub tcp_received: u64,
    /// Well-formed Binding requests (UDP and TCP), before rate limiting.
    pub requests: u64,
    /// Of those, classic RFC 3489 requests (no magic cookie).
    pub classic_requests: u64,
    /// Binding success responses sent.
    pub success_responses: u64,
    /// Binding error responses sent (400, 420).
    pub error_responses: u64,
    /// Input that was not a well-formed STUN message, dropped unanswered.
    pub malformed_dropped: u64,
    /// Well-formed STUN that was not a Binding request (indications,
    /// responses, other methods), dropped unanswered.
    pub ignored_dropped: u64,
    /// Binding requests dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// RESPONSE-PORT requests dropped because even the smallest response
    /// would have been larger than the request.
    pub amplification_refused: u64,
    /// Responses the kernel refused to send.
    pub send_errors: u64,
    /// Requests honoured with CHANGE-REQUEST "change IP".
    pub change_ip: u64,
    /// Requests honoured with CHANGE-REQUEST "change port".
    pub change_port: u64,
    /// Requests honoured with RESPONSE-PORT.
    pub response_port: u64,
    /// Responses that carried PADDING.
    pub padding: u64,
    /// TCP connections accepted.
    pub tcp_accepted: u64,
    /// TCP connections closed at once because the connection limit was hit.
    pub tcp_refused: u64,
}

impl MetricsSnapshot {
    /// Renders the counters in the Prometheus text exposition format
    /// (version 0.0.4). Metric names are documented in docs/serve.md.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut family = |name: &str, help: &str, samples: &[(&str, u64)]| {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, v) in samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        };
        family(
            "natscope_serve_received_total",
            "Packets (UDP) or messages (TCP) received.",
            &[
                ("transport=\"udp\"", self.udp_received),
                ("transport=\"tcp\"", self.tcp_received),
            ],
        );
        family(
            "natscope_serve_requests_total",
            "Well-formed Binding requests received.",
            &[("", self.requests)],
        );
        family(
            "natscope_serve_classic_requests_total",
            "RFC 3489 Binding requests (no magic cookie) received; also counted in natscope_serve_requests_total.",
            &[("", self.classic_requests)],
        );
        family(
            "natscope_serve_responses_total",
            "Binding responses sent.",
            &[
                ("class=\"success\"", self.success_responses),
                ("class=\"error\"", self.error_responses),
            ],
        );
        family(
            "natscope_serve_dropped_total",
            "Input dropped without an answer, by reason.",
            &[
                ("reason=\"malformed\"", self.malformed_dropped),
                ("reason=\"not_binding_request\"", self.ignored_dropped),
                ("reason=\"rate_limited\"", self.rate_limited),
                ("reason=\"amplification\"", self.amplification_refused),
                ("reason=\"send_error\"", self.send_errors),
            ],
        );
        family(
            "natscope_serve_features_total",
            "Requests that used an RFC 5780 feature.",
            &[
                ("feature=\"change_ip\"", self.change_ip),
                ("feature=\"change_port\"", self.change_port),
                ("feature=\"response_port\"", self.response_port),
                ("feature=\"padding\"", self.padding),
            ],
        );
        family(
            "natscope_serve_tcp_connections_total",
            "TCP connections, by outcome.",
            &[
                ("result=\"accepted\"", self.tcp_accepted),
                ("result=\"refused\"", self.tcp_refused),
            ],
        );
        out
    }
}

/// The process-level series a `/metrics` endpoint adds to the counters:
/// `natscope_build_info{version}` (always 1) and
/// `natscope_serve_start_time_seconds` (Unix time the server started, as
/// Prometheus' `process_start_time_seconds`). `version` is quoted as a
/// label value (backslash, quote and newline escaped).
pub fn process_metrics(version: &str, start_unix_secs: f64) -> String {
    let mut label = String::with_capacity(version.len());
    for c in version.chars() {
        match c {
            '\\' => label.push_str("\\\\"),
            '"' => label.push_str("\\\""),
            '\n' => label.push_str("\\n"),
            c => label.push(c),
        }
    }
    format!(
        "# HELP natscope_build_info natscope's version; the value is always 1.\n\
         # TYPE natscope_build_info gauge\n\
         natscope_build_info{{version=\"{label}\"}} 1\n\
         # HELP natscope_serve_start_time_seconds When this server started, in seconds since the Unix epoch.\n\
         # TYPE natscope_serve_start_time_seconds gauge\n\
         natscope_serve_start_time_seconds {start_unix_secs:.3}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_every_family_and_value() {
        let m = Metrics::default();
        inc(&m.udp_received);
        inc(&m.udp_received);
        inc(&m.rate_limited);
        let text = m.snapshot().to_prometheus();
        assert!(text.contains("natscope_serve_received_total{transport=\"udp\"} 2\n"));
        assert!(text.contains("natscope_serve_dropped_total{reason=\"rate_limited\"} 1\n"));
        assert!(text.contains("natscope_serve_requests_total 0\n"));
        assert_eq!(text.matches("# TYPE ").count(), 7);
    }

    #[test]
    fn build_info_and_start_time_are_gauges_with_an_escaped_version() {
        let text = process_metrics("1.2\"x\\y\nz", 1_700_000_000.25);
        assert!(
            text.contains("# TYPE natscope_build_info gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("natscope_build_info{version=\"1.2\\\"x\\\\y\\nz\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("natscope_serve_start_time_seconds 1700000000.250\n"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 6, "{text}");
    }
}
