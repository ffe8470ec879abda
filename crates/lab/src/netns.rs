//! Entering namespaces: privilege checks, `setns` threads, running tools.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use super::LabError;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// Fails with a clear reason unless we hold CAP_NET_ADMIN and CAP_SYS_ADMIN
/// (needed by `ip netns add` and `setns`).
pub(crate) fn check_privileges() -> Result<(), LabError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| LabError::io("reading /proc/self/status", e))?;
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| LabError::NotPermitted {
            reason: "cannot read effective capabilities from /proc/self/status".into(),
        })?;
    let mut missing = Vec::new();
    if cap_eff & (1 << CAP_NET_ADMIN) == 0 {
        missing.push("CAP_NET_ADMIN");
    }
    if cap_eff & (1 << CAP_SYS_ADMIN) == 0 {
        missing.push("CAP_SYS_ADMIN");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        Err(LabError::NotPermitted {
            reason: format!(
                "running as uid {euid} without {}; run the lab as root (sudo)",
                missing.join(" and ")
            ),
        })
    }
}

/// Fails with [`LabError::MissingTool`] unless `tool` is in PATH.
pub(crate) fn require_tool(tool: &str, package: &str) -> Result<(), LabError> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(LabError::MissingTool {
            tool: tool.into(),
            package: package.into(),
        })
    }
}

/// Runs a tool to completion (stdin from `input`), failing on non-zero exit.
pub(crate) fn run_tool(argv: &[&str], input: Option<&str>) -> Result<(), LabError> {
    let (prog, args) = argv.split_first().ok_or_else(|| LabError::Command {
        command: String::new(),
        status: "not run".into(),
        stderr: "empty command".into(),
    })?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::io(format!("spawning {prog}"), e))?;
    if let Some(text) = input
        && let Some(mut stdin) = child.stdin.take()
    {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| LabError::io(format!("writing to {prog}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| LabError::io(format!("waiting for {prog}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if let Some(text) = input {
            stderr += &format!("\n--- input ---\n{text}");
        }
        Err(LabError::Command {
            command: argv.join(" "),
            status: out.status.to_string(),
            stderr,
        })
    }
}

/// Writes sysctls (paths under /proc/sys) of the calling thread's network
/// namespace.
pub(crate) fn write_sysctls(values: &[(&str, String)]) -> Result<(), LabError> {
    for (key, value) in values {
        let path = format!("/proc/sys/{key}");
        std::fs::write(&path, value).map_err(|e| LabError::io(format!("writing {path}"), e))?;
    }
    Ok(())
}

/// `ip netns exec NAME argv...`.
pub(crate) fn ip_netns_exec(name: &str, argv: &[&str]) -> Result<Command, LabError> {
    if argv.is_empty() {
        return Err(LabError::InvalidSpec("empty command".into()));
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", name]).args(argv);
    Ok(cmd)
}

/// Runs `f` on a fresh thread that joined `/run/netns/NAME`'s network
/// namespace; panics in `f` propagate.
pub(crate) fn run_in_netns<F, T>(name: &str, f: F) -> Result<T, LabError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let path = format!("/run/netns/{name}");
    let file =
        std::fs::File::open(&path).map_err(|e| LabError::io(format!("opening {path}"), e))?;
    let handle = std::thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || -> Result<T, LabError> {
            // SAFETY: `file` is an open namespace file; setns only changes
            // this thread's network namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(LabError::io(
                    format!("setns({path})"),
                    std::io::Error::last_os_error(),
                ));
            }
            drop(file);
            Ok(f())
        })
        .map_err(|e| LabError::io("spawning namespace thread", e))?;
    match handle.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
