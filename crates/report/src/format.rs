//! Number formatting shared by the renderers.

/// A duration in milliseconds for people: 0.1 ms resolution from 1 ms up
/// (`23.4 ms`, `1234.5 ms`), three significant digits below (`0.294 ms`).
/// Non-finite or negative values (a hand-edited report) print as `—`.
pub(crate) fn ms(x: f64) -> String {
    if !x.is_finite() || x < 0.0 {
        "—".to_owned()
    } else if x >= 1.0 || x == 0.0 {
        format!("{x:.1} ms")
    } else {
        // 3 significant digits below 1 ms: 0.294, 0.0294 → 0.0294.
        let decimals = (2 - x.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.decimals$} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::ms;

    #[test]
    fn durations_are_rounded() {
        assert_eq!(ms(0.29417499999999996), "0.294 ms");
        assert_eq!(ms(0.0294175), "0.0294 ms");
        assert_eq!(ms(23.44), "23.4 ms");
        assert_eq!(ms(1234.56), "1234.6 ms");
        assert_eq!(ms(0.0), "0.0 ms");
        assert_eq!(ms(1.0), "1.0 ms");
        assert_eq!(ms(f64::NAN), "—");
        assert_eq!(ms(-1.0), "—");
    }
}
