//! Building the Go peers under `tests/peers` (pion/turn server, STUN load
//! generator) offline from Debian's packages: GOPATH mode over
//! /usr/share/gocode, no module proxy, no cgo. Shared by the tests
//! (`support`) and the benches (`#[path]`), so there is one recipe.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Builds the Go program in `tests/peers/<peer>` into `tmp/<peer>-<pid>`
/// (caches under `tmp`), killing `go build` after `limit`. The error names
/// the peer, the Debian packages it needs and go's own message.
pub fn build_peer(peer: &str, tmp: &Path, limit: Duration) -> Result<PathBuf, String> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/peers")
        .join(peer);
    let out = tmp.join(format!("{peer}-{}", std::process::id()));
    let log = tmp.join(format!("{peer}-build-{}.log", std::process::id()));
    std::fs::create_dir_all(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env(
            "GOPATH",
            format!("{}:/usr/share/gocode", tmp.join("gopath").display()),
        )
        .env("GOCACHE", tmp.join("gocache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("go build for tests/peers/{peer} (package golang-go): {e}"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "go build for tests/peers/{peer} did not finish within {limit:?}"
                ));
            }
        }
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if status.success() {
        Ok(out)
    } else {
        Err(format!(
            "building tests/peers/{peer} (packages golang-go and the Go libraries its README names): {}",
            text.trim()
        ))
    }
}
