//! Starting a headless browser on the page: Chromium (or Chrome) or
//! Firefox, with a fresh profile that is deleted afterwards, background
//! networking off (no update checks, telemetry, safe browsing or sync: the
//! browser talks to the page and the STUN/TURN servers only), and the
//! process group killed when the run ends.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Which browser to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserKind {
    /// Chromium or Google Chrome.
    Chromium,
    /// Firefox (ESR or release).
    Firefox,
}

impl BrowserKind {
    /// `chromium` or `firefox`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrowserKind::Chromium => "chromium",
            BrowserKind::Firefox => "firefox",
        }
    }

    /// Parses `chromium` (or `chrome`) and `firefox`.
    pub fn parse(s: &str) -> Option<BrowserKind> {
        match s.to_ascii_lowercase().as_str() {
            "chromium" | "chrome" => Some(BrowserKind::Chromium),
            "firefox" => Some(BrowserKind::Firefox),
            _ => None,
        }
    }

    /// The program names looked for on `PATH`, in order.
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            BrowserKind::Chromium => &[
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ],
            BrowserKind::Firefox => &["firefox-esr", "firefox"],
        }
    }
}

/// Errors starting a browser.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// None of the programs was found.
    #[error(
        "no {kind} browser found (looked for {looked_for} on PATH); install one (Debian: apt-get install {package}) or give its path with --browser-path"
    )]
    NotFound {
        /// chromium / firefox.
        kind: &'static str,
        /// The program names looked for.
        looked_for: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// The profile directory could not be made.
    #[error("cannot make a browser profile directory in {dir}: {source}")]
    Profile {
        /// Where.
        dir: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The run's CA could not be put into the browser's profile.
    #[error("cannot make the browser trust the TURN server's CA: {why}")]
    Trust {
        /// What failed.
        why: String,
    },
    /// The program did not start.
    #[error("cannot start {program}: {source}")]
    Start {
        /// The program.
        program: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
}

/// Finds the browser: `explicit` if given (it must exist), else the first
/// of [`BrowserKind::programs`] on `PATH`.
pub fn find(kind: BrowserKind, explicit: Option<&Path>) -> Result<PathBuf, LaunchError> {
    let not_found = |looked_for: String| LaunchError::NotFound {
        kind: kind.as_str(),
        looked_for,
        package: match kind {
            BrowserKind::Chromium => "chromium",
            BrowserKind::Firefox => "firefox-esr",
        },
    };
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(not_found(p.display().to_string()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for prog in kind.programs() {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(prog);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(not_found(kind.programs().join(", ")))
}

/// How to start it.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Let WebRTC gather loopback candidates (the page and natscope's peer
    /// are on 127.0.0.1).
    pub loopback: bool,
    /// A CA certificate (PEM) the browser trusts for `turns:` in this run
    /// only, as a user's browser trusts a public CA: natscope's own lab CA
    /// (`--lab`) or `--ca`. Chromium gets its key pinned
    /// (`--ignore-certificate-errors-spki-list`), Firefox gets it in the
    /// run's profile (NSS `certutil`).
    pub trust_ca_pem: Option<String>,
}

/// The base64 SHA-256 of each certificate's SubjectPublicKeyInfo in `pem`
/// (Chromium's SPKI pin format).
pub fn spki_pins(pem: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut rest = pem.as_bytes();
    while let Ok((next, block)) = x509_parser::pem::parse_x509_pem(rest) {
        if let Ok(cert) = block.parse_x509() {
            let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
            out.push(base64::engine::general_purpose::STANDARD.encode(digest.as_ref()));
        }
        if next.len() >= rest.len() {
            break;
        }
        rest = next;
    }
    out
}

/// Puts `ca_pem` into a fresh NSS database in `profile` (Firefox's
/// certificate store), trusted for TLS servers.
fn firefox_trust(profile: &Path, ca_pem: &str) -> Result<(), String> {
    let db = format!("sql:{}", profile.display());
    let ca = profile.join("natscope-ca.pem");
    std::fs::write(&ca, ca_pem).map_err(|e| format!("cannot write the CA file: {e}"))?;
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("certutil")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("certutil (Debian: libnss3-tools) cannot run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "certutil failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    run(&["-N", "-d", &db, "--empty-password"])?;
    let ca_path = ca.display().to_string();
    run(&[
        "-A",
        "-d",
        &db,
        "-n",
        "natscope run CA",
        "-t",
        "C,,",
        "-i",
        &ca_path,
    ])
}

/// A new directory under `base` only this user can enter, with a random
/// name; an existing file or link of that name is an error, never reused.
fn private_dir(base: &Path) -> std::io::Result<PathBuf> {
    use ring::rand::SecureRandom;
    use std::os::unix::fs::DirBuilderExt;
    let mut bytes = [0u8; 12];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("the system's random number source failed"))?;
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dir = base.join(format!("natscope-browser-{name}"));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// A running browser; killed (with its whole process group) and its
/// profile deleted when dropped.
pub struct Launched {
    child: Child,
    /// The child was waited for: its pid (and group id) may be reused.
    reaped: bool,
    profile: PathBuf,
    /// chromium / firefox.
    pub kind: BrowserKind,
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn firefox_prefs(opts: &LaunchOptions) -> String {
    let mut prefs = vec![
        ("app.update.enabled", "false"),
        ("app.update.auto", "false"),
        ("app.normandy.enabled", "false"),
        ("browser.shell.checkDefaultBrowser", "false"),
        ("browser.startup.homepage_override.mstone", "\"ignore\""),
        ("browser.aboutwelcome.enabled", "false"),
        ("browser.newtabpage.enabled", "false"),
        ("browser.safebrowsing.malware.enabled", "false"),
        ("browser.safebrowsing.phishing.enabled", "false"),
        ("browser.safebrowsing.downloads.enabled", "false"),
        ("browser.safebrowsing.provider.mozilla.updateURL", "\"\""),
        ("browser.search.update", "false"),
        ("browser.ping-centre.telemetry", "false"),
        ("captivedetect.canonicalURL", "\"\""),
        ("datareporting.healthreport.uploadEnabled", "false"),
        ("datareporting.policy.dataSubmissionEnabled", "false"),
        ("extensions.update.enabled", "false"),
        ("extensions.getAddons.cache.enabled", "false"),
        ("extensions.blocklist.enabled", "false"),
        ("media.gmp-manager.url", "\"\""),
        ("media.gmp-gmpopenh264.enabled", "false"),
        ("network.captive-portal-service.enabled", "false"),
        ("network.connectivity-service.enabled", "false"),
        ("network.dns.disablePrefetch", "true"),
        ("network.prefetch-next", "false"),
        ("network.trr.mode", "5"),
        ("services.settings.server", "\"\""),
        ("toolkit.telemetry.enabled", "false"),
        ("toolkit.telemetry.unified", "false"),
        ("toolkit.telemetry.server", "\"\""),
        ("media.navigator.permission.disabled", "true"),
    ];
    if opts.loopback {
        prefs.push(("media.peerconnection.ice.loopback", "true"));
    }
    prefs
        .iter()
        .map(|(k, v)| format!("user_pref(\"{k}\", {v});\n"))
        .collect()
}

impl Launched {
    /// Starts `program` (a `kind` browser) headless on `url`.
    pub fn start(
        kind: BrowserKind,
        program: &Path,
        url: &str,
        opts: &LaunchOptions,
    ) -> Result<Launched, LaunchError> {
        let base = std::env::temp_dir();
        let profile = private_dir(&base).map_err(|source| LaunchError::Profile {
            dir: base.clone(),
            source,
        })?;
        let mut cmd = Command::new(program);
        match kind {
            BrowserKind::Chromium => {
                cmd.arg("--headless=new")
                    .arg(format!("--user-data-dir={}", profile.display()))
                    .args([
                        "--disable-gpu",
                        "--no-first-run",
                        "--no-default-browser-check",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--disable-default-apps",
                        "--disable-extensions",
                        "--disable-breakpad",
                        "--disable-quic",
                        "--metrics-recording-only",
                        "--password-store=basic",
                    ]);
                if is_root() {
                    cmd.arg("--no-sandbox");
                }
                if opts.loopback {
                    cmd.arg("--allow-loopback-in-peer-connection");
                }
                if let Some(pem) = &opts.trust_ca_pem {
                    let pins = spki_pins(pem);
                    if !pins.is_empty() {
                        cmd.arg(format!(
                            "--ignore-certificate-errors-spki-list={}",
                            pins.join(",")
                        ));
                    }
                }
                cmd.arg(url);
            }
            BrowserKind::Firefox => {
                std::fs::write(profile.join("user.js"), firefox_prefs(opts)).map_err(|source| {
                    LaunchError::Profile {
                        dir: profile.clone(),
                        source,
                    }
                })?;
                if let Some(pem) = &opts.trust_ca_pem {
                    firefox_trust(&profile, pem).map_err(|why| LaunchError::Trust { why })?;
                }
                cmd.args(["--headless", "--no-remote", "--new-instance", "--profile"])
                    .arg(&profile)
                    .arg(url)
                    // Firefox refuses a root HOME it does not own in some
                    // setups; the profile is explicit, HOME only holds caches.
                    .env("HOME", &profile)
                    .env("MOZ_CRASHREPORTER_DISABLE", "1");
            }
        }
        let log = std::fs::File::create(profile.join("natscope-browser.log")).ok();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(match log {
                Some(f) => Stdio::from(f),
                None => Stdio::null(),
            })
            .process_group(0);
        let child = cmd.spawn().map_err(|source| LaunchError::Start {
            program: program.to_path_buf(),
            source,
        })?;
        Ok(Launched {
            child,
            reaped: false,
            profile,
            kind,
        })
    }

    /// `Some(reason)` once the browser has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some({
                self.reaped = true;
                format!(
                    "the browser exited ({status}){}",
                    self.last_log_line()
                        .map(|l| format!("; its last message: {l}"))
                        .unwrap_or_default()
                )
            }),
            Ok(None) => None,
            Err(e) => Some(format!("the browser cannot be watched: {e}")),
        }
    }

    fn last_log_line(&self) -> Option<String> {
        let mut text = String::new();
        std::fs::File::open(self.profile.join("natscope-browser.log"))
            .ok()?
            .take(64 * 1024)
            .read_to_string(&mut text)
            .ok()?;
        let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
        Some(line.chars().filter(|c| !c.is_control()).take(200).collect())
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        // A reaped browser's group may still hold its children (the group id
        // stays in use while any member lives), so kill it only when the
        // leader was not waited for, or the group still has members.
        if let Ok(pid) = i32::try_from(self.child.id())
            && (!self.reaped || group_alive(pid))
        {
            // SAFETY: kill(2) on the process group this module created for
            // the browser (process_group(0): its pid is the group id).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        if !self.reaped {
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Whether process group `pgid` still has a member (signal 0 checks only).
fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 sends nothing; it only checks the group.
    unsafe { libc::kill(-pgid, 0) == 0 }
}
