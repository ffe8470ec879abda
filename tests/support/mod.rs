//! Shared helpers for natscope's integration tests.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The natscope binary built for this test run.
pub fn natscope() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_natscope"));
    c.env("NO_COLOR", "1").env_remove("NATSCOPE_LOG");
    c
}

/// Runs `cmd` to completion, killing it after `limit` (then panics: a hang
/// is a bug). Never asserts on speed; the limit only prevents a stuck test.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the natscope binary can be started");
    let start = Instant::now();
    loop {
        match child.try_wait().expect("waiting on a child works") {
            Some(_) => return child.wait_with_output().expect("collecting output works"),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collecting output works");
                panic!(
                    "natscope did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Parses stdout as JSON, with the output in the panic message otherwise.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e})\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Validates a report against docs/natscope-1.schema.json.
pub fn assert_schema_valid(doc: &serde_json::Value) {
    let schema_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/natscope-1.schema.json"
    ))
    .expect("docs/natscope-1.schema.json exists");
    let schema: serde_json::Value = serde_json::from_str(&schema_text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}
