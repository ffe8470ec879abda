//! Time on the command line: durations (`3`, `2.5`, `3s`, `500ms`, `1m`)
//! and the clock reading a report is stamped with.

use std::time::Duration;

/// Parses a duration; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 3, 2.5s, 500ms, 1m)"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown unit {other:?} in {s:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("duration {s:?} out of range (0 < d ≤ 24h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// [`parse_duration`], also accepting zero (`0s`: e.g. no ramp).
pub fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    match s.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic()) {
        "0" | "0.0" => Ok(Duration::ZERO),
        _ => parse_duration(s),
    }
}

/// A duration written the way [`parse_duration`] reads it: `500ms`, `3s`,
/// `1m` (whole minutes), `90s`.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

/// Parses a duration that may be negative (`-60`, `-1h` — e.g. an
/// already expired REST credential, to test the server's check); the
/// result is in whole seconds. Units as [`parse_duration`], plus `h`.
pub fn parse_signed_secs(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (sign, body) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t),
    };
    let body = body.trim();
    let d = match body.strip_suffix('h') {
        Some(hours) => {
            let h: f64 = hours
                .parse()
                .map_err(|_| format!("invalid duration {s:?} (examples: 3600, 10m, 1h, -60)"))?;
            if !(h.is_finite() && h > 0.0 && h <= 24.0 * 365.0) {
                return Err(format!("duration {s:?} out of range (0 < d ≤ 1 year)"));
            }
            Duration::from_secs_f64(h * 3600.0)
        }
        None => parse_duration(body)?,
    };
    Ok(sign * i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The current time as RFC 3339 UTC, for a report's `generated_at`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    model::document::rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("-1").is_err());
        assert_eq!(parse_signed_secs("3600"), Ok(3600));
        assert_eq!(parse_signed_secs("-60"), Ok(-60));
        assert_eq!(parse_signed_secs("1h"), Ok(3600));
        assert_eq!(parse_signed_secs("-10m"), Ok(-600));
        assert!(parse_signed_secs("x").is_err());
        assert!(parse_signed_secs("-").is_err());
    }
}
