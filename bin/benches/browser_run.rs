//! A whole `natscope browser --lab --headless B` run (target: ≤ 5 s on the
//! embedded servers, issue #16), side by side with the same browser only
//! starting and loading a blank page, so the ratio shows what natscope's
//! run adds to the browser's own start. Runs inside a netns lab's server
//! namespace (root), like the tests: nothing leaves namespaces it made.
//!
//! `cargo bench -p natscope --bench browser_run` (RUNS=5 by default).
//! Prints, per browser: median and max wall time of the natscope run and of
//! the blank start, their ratio, and from the reports the median gathering
//! time, time to ICE connected and data-channel round trip.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, LabSpec, NatBehaviour};

const TARGET: Duration = Duration::from_secs(5);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn in_ns(lab: &Lab, argv: &[&str]) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.server_ns()])
        .args(argv)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("ip netns exec runs");
    (start.elapsed(), out.stdout)
}

fn blank_start(lab: &Lab, browser: &str) -> Duration {
    let profile =
        std::env::temp_dir().join(format!("natscope-bench-{browser}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&profile);
    let user_data = format!("--user-data-dir={}", profile.display());
    let shot = profile.join("blank.png").display().to_string();
    let p = profile.display().to_string();
    let argv: Vec<&str> = match browser {
        "chromium" => vec![
            "/usr/bin/chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &user_data,
            "--dump-dom",
            "about:blank",
        ],
        _ => vec![
            "/usr/bin/firefox-esr",
            "--headless",
            "--no-remote",
            "--profile",
            &p,
            "--screenshot",
            &shot,
            "about:blank",
        ],
    };
    let (d, _) = in_ns(lab, &argv);
    let _ = std::fs::remove_dir_all(&profile);
    d
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let lab = Lab::up(LabSpec::new(NatBehaviour::None)).expect("the netns lab (root)");
    let bin = env!("CARGO_BIN_EXE_natscope");
    println!(
        "natscope browser --lab --headless B, {runs} runs each, in a netns (target ≤ {TARGET:?})"
    );
    println!(
        "{:<9} {:>10} {:>9} {:>11} {:>7} {:>11} {:>12} {:>8}",
        "browser", "median s", "max s", "blank s", "ratio", "gather ms", "ICE conn ms", "rtt ms"
    );
    let mut over = false;
    for browser in ["chromium", "firefox"] {
        let mut wall = Vec::new();
        let mut blank = Vec::new();
        let (mut gather, mut ice, mut rtt) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            blank.push(blank_start(&lab, browser).as_secs_f64());
            let (d, out) = in_ns(
                &lab,
                &[
                    bin,
                    "browser",
                    "--lab",
                    "--headless",
                    browser,
                    "--no-turn",
                    "--format",
                    "json",
                ],
            );
            wall.push(d.as_secs_f64());
            let doc: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
            let b = &doc["browser"];
            if let Some(g) = b["gathering"].as_array() {
                gather.extend(g.iter().filter_map(|g| g["total_ms"].as_f64()));
            }
            if let Some(c) = b["connections"].as_array() {
                ice.extend(c.iter().filter_map(|c| c["ice_connected_ms"].as_f64()));
                rtt.extend(c.iter().filter_map(|c| c["round_trip_ms"].as_f64()));
            }
        }
        let max = wall.iter().copied().fold(0.0, f64::max);
        let m = median(&mut wall);
        let bl = median(&mut blank);
        over |= max > TARGET.as_secs_f64();
        println!(
            "{:<9} {:>10.2} {:>9.2} {:>11.2} {:>7.2} {:>11.1} {:>12.1} {:>8.2}",
            browser,
            m,
            max,
            bl,
            m / bl,
            median(&mut gather),
            median(&mut ice),
            median(&mut rtt)
        );
    }
    drop(lab);
    if over {
        println!("a run took longer than the {TARGET:?} target");
        std::process::exit(1);
    }
}
