//! `natscope watch`'s metrics: the NAT verdicts per address family.

use crate::common;
use model::*;
use report::metrics::{Exposition, WatchMetrics};

fn scrape(r: &Report) -> String {
    let mut m = WatchMetrics::new("0.1.0", vec![("site".into(), "lab".into())]);
    m.observe(r, 10.0, false);
    m.render(Exposition::OpenMetrics)
}

#[test]
fn nat_info_has_one_series_per_tested_family() {
    let text = scrape(&common::with_nat_ipv6(""));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("natscope_nat_info{"))
        .collect();
    assert_eq!(
        lines,
        [
            "natscope_nat_info{mapping=\"endpoint-independent\",filtering=\"address-and-port-dependent\",behind_nat=\"yes\",family=\"ipv4\",site=\"lab\"} 1",
            "natscope_nat_info{mapping=\"endpoint-independent\",filtering=\"address-and-port-dependent\",behind_nat=\"no\",family=\"ipv6\",site=\"lab\"} 1",
        ],
        "{text}"
    );
    // One family, one HELP and TYPE.
    assert_eq!(text.matches("# TYPE natscope_nat_info gauge\n").count(), 1);
}

#[test]
fn without_an_ipv6_verdict_only_the_ipv4_series() {
    let text = scrape(&common::full());
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("natscope_nat_info{"))
        .collect();
    assert_eq!(
        lines,
        [
            "natscope_nat_info{mapping=\"endpoint-independent\",filtering=\"address-and-port-dependent\",behind_nat=\"yes\",family=\"ipv4\",site=\"lab\"} 1"
        ],
        "{text}"
    );
    // An IPv6-only run: only the IPv6 series.
    let mut r = common::with_nat_ipv6("");
    r.nat = Section::not_tested("no IPv4 STUN server");
    let text = scrape(&r);
    assert!(text.contains("behind_nat=\"no\",family=\"ipv6\""), "{text}");
    assert!(!text.contains("family=\"ipv4\""), "{text}");
}
