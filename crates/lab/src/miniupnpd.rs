//! miniupnpd (UPnP IGD + NAT-PMP + PCP) on the lab's router, with a config
//! and nftables chains of our own (Debian's nft init script is broken).
//!
//! miniupnpd 2.3 refuses reserved-range WAN addresses (all the lab uses)
//! unless it learns its external address by STUN, so the caller names a
//! STUN server (RFC 5780, two addresses: miniupnpd sends CHANGE-REQUESTs to
//! decide whether the upstream NAT is "restrictive"). For a double-NAT lab,
//! put that STUN server on the carrier's inside address: miniupnpd then
//! learns (and reports) its CGNAT WAN address, as a real CPE would.

use std::net::SocketAddrV4;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{Lab, LabError, Ns, netns};

/// Options for [`Lab::start_miniupnpd`].
#[derive(Debug, Clone)]
pub struct MiniupnpdOptions {
    /// The STUN server miniupnpd asks for its external address.
    pub stun: SocketAddrV4,
    /// NAT-PMP and PCP (`enable_natpmp`).
    pub natpmp: bool,
    /// UPnP IGD (`enable_upnp`).
    pub upnp: bool,
    /// How long to wait until NAT-PMP answers on the router's LAN address.
    pub ready_timeout: Duration,
}

impl MiniupnpdOptions {
    /// Everything on, asking `stun`.
    pub fn new(stun: SocketAddrV4) -> Self {
        MiniupnpdOptions {
            stun,
            natpmp: true,
            upnp: true,
            ready_timeout: Duration::from_secs(15),
        }
    }
}

/// A running miniupnpd.
#[derive(Debug, Clone)]
pub struct MiniupnpdInfo {
    /// Its pid (killed when the lab is dropped).
    pub pid: u32,
    /// The config file written.
    pub config: std::path::PathBuf,
    /// Its log (stdout/stderr of `miniupnpd -d`).
    pub log: std::path::PathBuf,
}

/// The nftables table miniupnpd's chains live in (`inet filter`).
pub const MINIUPNPD_TABLE: &str = "filter";

/// The chains miniupnpd 2.3 (nftables backend) fills: forward `miniupnpd`,
/// NAT `prerouting_miniupnpd` and `postrouting_miniupnpd`, jumped to from
/// base chains with accept policies (the lab's own table does the NAT).
pub(crate) fn nft_chains() -> String {
    format!(
        "table inet {MINIUPNPD_TABLE} {{\n\
         \tchain forward {{ type filter hook forward priority 0; policy accept; jump miniupnpd; }}\n\
         \tchain miniupnpd {{ }}\n\
         \tchain prerouting {{ type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }}\n\
         \tchain postrouting {{ type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }}\n\
         \tchain prerouting_miniupnpd {{ }}\n\
         \tchain postrouting_miniupnpd {{ }}\n\
         }}\n"
    )
}

/// The miniupnpd.conf the lab writes.
pub(crate) fn config_text(lab: &Lab, opts: &MiniupnpdOptions, uuid: &str) -> String {
    let a = lab.addrs();
    let yn = |b: bool| if b { "yes" } else { "no" };
    format!(
        "# written by natscope\n\
         ext_ifname=wan\n\
         listening_ip=lan\n\
         http_port=0\n\
         enable_upnp={}\n\
         enable_natpmp={}\n\
         secure_mode=yes\n\
         system_uptime=no\n\
         ext_perform_stun=yes\n\
         ext_stun_host={}\n\
         ext_stun_port={}\n\
         uuid={uuid}\n\
         allow 1024-65535 {}/{} 1024-65535\n\
         deny 0-65535 0.0.0.0/0 0-65535\n",
        yn(opts.upnp),
        yn(opts.natpmp),
        opts.stun.ip(),
        opts.stun.port(),
        a.router_lan,
        a.lan_prefix,
    )
}

pub(crate) fn start(lab: &Lab, opts: MiniupnpdOptions) -> Result<MiniupnpdInfo, LabError> {
    netns::require_tool("miniupnpd", "miniupnpd")?;
    lab.ensure_workdir()?;
    let dir = lab.workdir();
    let nft = dir.join("miniupnpd.nft");
    std::fs::write(&nft, nft_chains()).map_err(|e| LabError::io("writing miniupnpd.nft", e))?;
    let nft_s = nft.to_string_lossy().into_owned();
    let out = lab.exec(Ns::Router, &["nft", "-f", &nft_s])?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: format!("nft -f {nft_s}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let conf = dir.join("miniupnpd.conf");
    let log = dir.join("miniupnpd.log");
    let pidfile = dir.join("miniupnpd.pid");
    let uuid = format!("7716a40b-e140-47be-b424-{:012x}", std::process::id());
    std::fs::write(&conf, config_text(lab, &opts, &uuid))
        .map_err(|e| LabError::io("writing miniupnpd.conf", e))?;
    let logf =
        std::fs::File::create(&log).map_err(|e| LabError::io("creating miniupnpd.log", e))?;
    let logf2 = logf
        .try_clone()
        .map_err(|e| LabError::io("duplicating log file", e))?;
    let child = netns::ip_netns_exec(&lab.router_ns(), &["miniupnpd", "-d", "-f"])?
        .arg(&conf)
        .arg("-P")
        .arg(&pidfile)
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(logf2)
        .spawn()
        .map_err(|e| LabError::io("spawning miniupnpd", e))?;
    let pid = child.id();
    lab.adopt_child(child);

    // Ready when NAT-PMP (or, without it, the log says HTTP) answers.
    let gw = lab.addrs().router_lan;
    let wait = opts.ready_timeout;
    let natpmp = opts.natpmp;
    let log2 = log.clone();
    let ready = lab.run_in(Ns::Client, move || {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if natpmp {
                let Ok(s) = std::net::UdpSocket::bind("0.0.0.0:0") else {
                    return false;
                };
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = s.send_to(&[0, 0], (gw, 5351));
                let mut b = [0u8; 16];
                if let Ok((n, _)) = s.recv_from(&mut b)
                    && n >= 12
                    && b[1] == 0x80
                {
                    return true;
                }
            } else if std::fs::read_to_string(&log2)
                .map(|t| t.contains("HTTP listening"))
                .unwrap_or(false)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    })?;
    if !ready {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail
            .lines()
            .filter(|l| !l.contains("table_cb") && !l.contains("parse_stun_response"))
            .collect();
        let tail = tail[tail.len().saturating_sub(15)..].join("\n");
        lab.kill(pid);
        return Err(LabError::NotReady {
            service: "miniupnpd".into(),
            waited: wait,
            detail: format!("no NAT-PMP answer from {gw}:5351; log tail:\n{tail}"),
        });
    }
    Ok(MiniupnpdInfo {
        pid,
        config: conf,
        log,
    })
}
