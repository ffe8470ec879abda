//! coturn in the server namespace, with a config file of our own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Lab, LabError, Ns, netns};
use servers::pki::Pki;

/// Options for [`Lab::start_coturn`].
#[derive(Debug, Clone)]
pub struct CoturnOptions {
    /// Long-term credential user name.
    pub user: String,
    /// Long-term credential password (written only to the config file).
    pub password: String,
    /// Realm.
    pub realm: String,
    /// Extra `key=value` config lines appended verbatim.
    pub extra_config: Vec<String>,
    /// TURN REST shared secret: when set, coturn runs with `use-auth-secret`
    /// and `static-auth-secret` instead of the long-term user.
    pub rest_secret: Option<String>,
    /// How long to wait for coturn to answer a Binding request.
    pub ready_timeout: Duration,
    /// The certificate chain and key coturn presents on TLS and DTLS
    /// (`chain_pem` and `key_pem` of the [`Pki`]); `None`: a fresh
    /// self-signed ECDSA certificate made with openssl. Lets a test serve a
    /// leaf signed by a private CA, an expired one, or one for another name.
    pub tls_pki: Option<Pki>,
    /// The TLS (and DTLS) port in the lab (default 5349; 443 for the
    /// audit's hardened server).
    pub tls_port: u16,
    /// Also listen on the server's IPv6 addresses (`server6_primary`, then
    /// `server6_alternate`, after the two IPv4 ones) and relay on IPv6
    /// (`relay-ip` for both families). Needs a lab with IPv6
    /// ([`crate::LabSpec::ipv6`]); ignored by [`LoopbackCoturn`].
    pub ipv6: bool,
}

impl Default for CoturnOptions {
    fn default() -> Self {
        CoturnOptions {
            user: "natscope".into(),
            password: "natscope-secret".into(),
            realm: "lab.example".into(),
            extra_config: Vec::new(),
            rest_secret: None,
            ready_timeout: Duration::from_secs(5),
            tls_pki: None,
            tls_port: 5349,
            ipv6: false,
        }
    }
}

/// Where the lab's coturn listens.
#[derive(Debug, Clone)]
pub struct CoturnInfo {
    /// The process id (killed when the lab is dropped).
    pub pid: u32,
    /// STUN/TURN over UDP and TCP on the server's FIRST listening address
    /// (query RFC 5780 here: coturn answers it correctly only on this one).
    pub primary: SocketAddrV4,
    /// The same on the alternate address.
    pub alternate: SocketAddrV4,
    /// The RFC 5780 alternate port (3479) coturn adds automatically.
    pub alt_port: u16,
    /// TURN over TLS (`turns:`) on the primary address.
    pub tls: SocketAddrV4,
    /// With [`CoturnOptions::ipv6`]: STUN/TURN over UDP and TCP on
    /// `server6_primary`, port 3478. Query RFC 5780 over IPv6 here: coturn
    /// picks OTHER-ADDRESS in the request's family, and is right only on its
    /// first address of each family (on `alternate6` it names
    /// `alternate6` itself and CHANGE-REQUEST change-IP does not change
    /// the address; observed with coturn 4.6.1, as for IPv4).
    pub primary6: Option<SocketAddrV6>,
    /// With [`CoturnOptions::ipv6`]: the same on `server6_alternate`.
    pub alternate6: Option<SocketAddrV6>,
    /// The self-signed certificate (PEM) coturn presents.
    pub cert_pem: std::path::PathBuf,
    /// User name of the long-term credential.
    pub user: String,
    /// Realm.
    pub realm: String,
}

pub(crate) fn start(lab: &Lab, opts: CoturnOptions) -> Result<CoturnInfo, LabError> {
    netns::require_tool("turnserver", "coturn")?;
    lab.ensure_workdir()?;
    let dir = lab.workdir();
    let cert = dir.join("turn-cert.pem");
    let key = dir.join("turn-key.pem");
    let conf = dir.join("turnserver.conf");
    let log = dir.join("turnserver.log");
    let a = lab.addrs();
    let v6 = if opts.ipv6 {
        match (a.server6_primary, a.server6_alternate) {
            (Some(p), Some(alt)) => Some((p, alt)),
            _ => {
                return Err(LabError::NoIpv6 {
                    what: "coturn on IPv6 (CoturnOptions::ipv6)".into(),
                });
            }
        }
    } else {
        None
    };
    let mut listening: Vec<IpAddr> = vec![a.server_primary.into(), a.server_alternate.into()];
    let mut relay: Vec<IpAddr> = vec![a.server_primary.into()];
    let mut san = format!(
        "DNS:turn.lab.example,IP:{},IP:{}",
        a.server_primary, a.server_alternate
    );
    if let Some((p, alt)) = v6 {
        listening.extend([IpAddr::V6(p), IpAddr::V6(alt)]);
        relay.push(IpAddr::V6(p));
        san += &format!(",IP:{p},IP:{alt}");
    }
    write_cert(&opts, &cert, &key, "turn.lab.example", &san)?;
    let text = render_config(&ConfigFile {
        listening: &listening,
        relay: &relay,
        port: 3478,
        tls_port: opts.tls_port,
        opts: &opts,
        cert: &cert,
        key: &key,
        log: &log,
        pid: &dir.join("turnserver.pid"),
        loopback_peers: false,
    });
    std::fs::write(&conf, text).map_err(|e| LabError::io("writing turnserver.conf", e))?;
    let child = netns::ip_netns_exec(&lab.server_ns(), &["turnserver", "-c"])?
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| LabError::io("spawning turnserver", e))?;
    let pid = child.id();
    lab.adopt_child(child);

    let primary = SocketAddrV4::new(a.server_primary, 3478);
    let tls = SocketAddrV4::new(a.server_primary, opts.tls_port);
    let primary6 = v6.map(|(p, _)| SocketAddrV6::new(p, 3478, 0, 0));
    let wait = opts.ready_timeout;
    let ready = lab.run_in(Ns::Server, move || {
        wait_ready(primary.into(), tls.into(), wait)?;
        match primary6 {
            // Bounded by the same wait (it is up once IPv4 answers).
            Some(p6) => wait_ready(p6.into(), tls.into(), wait),
            None => Ok(()),
        }
    })?;
    if let Err(detail) = ready {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: String = tail
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        lab.kill(pid);
        return Err(LabError::NotReady {
            service: "coturn".into(),
            waited: wait,
            detail: format!("{detail}; log tail:\n{tail}"),
        });
    }
    Ok(CoturnInfo {
        pid,
        primary,
        alternate: SocketAddrV4::new(a.server_alternate, 3478),
        alt_port: 3479,
        tls,
        primary6,
        alternate6: v6.map(|(_, alt)| SocketAddrV6::new(alt, 3478, 0, 0)),
        cert_pem: cert,
        user: opts.user,
        realm: opts.realm,
    })
}

/// Sends a bare STUN Binding request until one is answered, then checks
/// that the TLS port accepts connections; all bounded by `wait`.
fn wait_ready(stun: SocketAddr, tls: SocketAddr, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    let any: SocketAddr = match stun {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(any).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    // Binding request: type 0x0001, length 0, magic cookie, fixed txid.
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(b"natscope-lab");
    let mut buf = [0u8; 1500];
    let mut udp_ok = false;
    while Instant::now() < deadline {
        let _ = sock.send_to(&req, stun);
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && n >= 20
            && buf[0] == 0x01
            && buf[1] == 0x01
            && buf[8..20] == req[8..20]
        {
            udp_ok = true;
            break;
        }
    }
    if !udp_ok {
        return Err(format!("no Binding response from {stun}"));
    }
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&tls, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("TLS port {tls} not accepting connections"))
}

/// Everything a coturn config file of ours says.
struct ConfigFile<'a> {
    listening: &'a [IpAddr],
    relay: &'a [IpAddr],
    port: u16,
    tls_port: u16,
    opts: &'a CoturnOptions,
    cert: &'a Path,
    key: &'a Path,
    log: &'a Path,
    pid: &'a Path,
    loopback_peers: bool,
}

/// Renders the one coturn configuration natscope uses, in the lab and on
/// loopback. Two listening IPs and no `external-ip` turn RFC 5780 on.
fn render_config(c: &ConfigFile<'_>) -> String {
    let mut text = String::from("# written by natscope\n");
    for ip in c.listening {
        text += &format!("listening-ip={ip}\n");
    }
    for ip in c.relay {
        text += &format!("relay-ip={ip}\n");
    }
    text += &format!(
        "listening-port={port}\ntls-listening-port={tls}\n\
         min-port=49152\nmax-port=65535\nfingerprint\nrealm={realm}\n\
         cert={cert}\npkey={key}\nno-cli\nno-stdout-log\nsimple-log\n\
         log-file={log}\npidfile={pid}\n",
        port = c.port,
        tls = c.tls_port,
        realm = c.opts.realm,
        cert = c.cert.display(),
        key = c.key.display(),
        log = c.log.display(),
        pid = c.pid.display(),
    );
    match &c.opts.rest_secret {
        Some(secret) => text += &format!("use-auth-secret\nstatic-auth-secret={secret}\n"),
        None => {
            text += &format!("lt-cred-mech\nuser={}:{}\n", c.opts.user, c.opts.password);
        }
    }
    if c.loopback_peers {
        text += "allow-loopback-peers\n";
    }
    for line in &c.opts.extra_config {
        text += line;
        text += "\n";
    }
    text
}

/// Writes the certificate and key coturn serves: `opts.tls_pki`'s, or a
/// self-signed one made by openssl for `cn` / `san`.
fn write_cert(
    opts: &CoturnOptions,
    cert: &Path,
    key: &Path,
    cn: &str,
    san: &str,
) -> Result<(), LabError> {
    match &opts.tls_pki {
        Some(pki) => {
            std::fs::write(cert, &pki.chain_pem)
                .map_err(|e| LabError::io("writing coturn's certificate", e))?;
            std::fs::write(key, &pki.key_pem).map_err(|e| LabError::io("writing coturn's key", e))
        }
        None => {
            netns::require_tool("openssl", "openssl")?;
            make_cert(cert, key, cn, san)
        }
    }
}

/// A self-signed certificate for coturn's TLS/DTLS listeners, via openssl.
fn make_cert(cert: &Path, key: &Path, cn: &str, san: &str) -> Result<(), LabError> {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName={san}"),
            // A leaf, not a CA: webpki refuses a CA certificate as the
            // server's own (CaUsedAsEndEntity), even when it is the anchor.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::io("running openssl req", e))?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: "openssl req -x509 ...".into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// coturn on loopback for integration tests: listening on 127.0.0.1 (and
/// 127.0.0.2 when `two_addresses`, which turns RFC 5780 on), free ports,
/// loopback peers allowed; killed and cleaned up on drop, also when a test
/// panics.
#[derive(Debug)]
pub struct LoopbackCoturn {
    child: std::process::Child,
    dir: PathBuf,
    /// STUN/TURN over UDP and TCP on the first address.
    pub primary: SocketAddrV4,
    /// The second listening address (same port), when started with two.
    pub alternate: Option<SocketAddrV4>,
    /// TLS (and DTLS) on the first address.
    pub tls: SocketAddrV4,
    /// The certificate (PEM) the TLS listener presents: the chain of
    /// `tls_pki` when given, else a self-signed one naming `localhost`,
    /// 127.0.0.1 and 127.0.0.2.
    pub cert_pem: PathBuf,
}

impl LoopbackCoturn {
    /// coturn's process id (to stop it with SIGSTOP, as a server that
    /// stops answering).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts coturn on free ports and waits (bounded by
    /// `opts.ready_timeout`) until it answers a Binding request and accepts
    /// TLS connections.
    pub fn start(opts: &CoturnOptions, two_addresses: bool) -> Result<LoopbackCoturn, LabError> {
        let ports = Self::pick_ports(two_addresses, &[])?;
        Self::start_with_ports(opts, two_addresses, ports)
    }

    /// Free ports `(port, tls_port)` for [`Self::start_with_ports`]: for
    /// configurations that must name a coturn's address before it runs
    /// (e.g. two coturns whose `alternate-server=` point at each other).
    /// Each port P has P+1 free too (coturn binds both), on 127.0.0.1 and,
    /// with `two_addresses`, 127.0.0.2; none is in `avoid` (ports already
    /// picked for another coturn). Nothing holds them until coturn binds.
    pub fn pick_ports(two_addresses: bool, avoid: &[u16]) -> Result<(u16, u16), LabError> {
        let listening = listening_ips(two_addresses);
        let mut taken: Vec<u16> = avoid.to_vec();
        let mut pick = || -> Result<u16, LabError> {
            for _ in 0..50 {
                let p = free_port_pair(listening)?;
                if taken.iter().all(|t| p.abs_diff(*t) > 1) {
                    taken.push(p);
                    return Ok(p);
                }
            }
            Err(LabError::io(
                "finding a free port pair",
                std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "no free port pair apart from those already picked",
                ),
            ))
        };
        let port = pick()?;
        Ok((port, pick()?))
    }

    /// [`Self::start`] on `ports` (`(port, tls_port)`, from
    /// [`Self::pick_ports`]).
    pub fn start_with_ports(
        opts: &CoturnOptions,
        two_addresses: bool,
        (port, tls_port): (u16, u16),
    ) -> Result<LoopbackCoturn, LabError> {
        netns::require_tool("turnserver", "coturn")?;
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("natscope-coturn-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LabError::io("creating coturn's directory", e))?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        write_cert(
            opts,
            &cert,
            &key,
            "localhost",
            "DNS:localhost,IP:127.0.0.1,IP:127.0.0.2",
        )?;
        let listening = listening_ips(two_addresses);
        let first = listening[0];
        let conf = dir.join("turnserver.conf");
        let log = dir.join("turnserver.log");
        let mut file_opts = opts.clone();
        if !two_addresses {
            file_opts.extra_config.push("no-rfc5780".into());
        }
        let listening_ip: Vec<IpAddr> = listening.iter().map(|ip| IpAddr::V4(*ip)).collect();
        let text = render_config(&ConfigFile {
            listening: &listening_ip,
            relay: &[IpAddr::V4(first)],
            port,
            tls_port,
            opts: &file_opts,
            cert: &cert,
            key: &key,
            log: &log,
            pid: &dir.join("turnserver.pid"),
            loopback_peers: true,
        });
        std::fs::write(&conf, text).map_err(|e| LabError::io("writing turnserver.conf", e))?;
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::io("spawning turnserver", e))?;
        let me = LoopbackCoturn {
            child,
            dir,
            primary: SocketAddrV4::new(first, port),
            alternate: listening.get(1).map(|ip| SocketAddrV4::new(*ip, port)),
            tls: SocketAddrV4::new(first, tls_port),
            cert_pem: cert,
        };
        if let Err(detail) = wait_ready(me.primary.into(), me.tls.into(), opts.ready_timeout) {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(LabError::NotReady {
                service: "coturn".into(),
                waited: opts.ready_timeout,
                detail: format!("{detail}; log:\n{tail}"),
            });
        }
        Ok(me)
    }
}

impl Drop for LoopbackCoturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The loopback coturn's listening addresses: 127.0.0.1, and 127.0.0.2 when
/// `two` (which turns RFC 5780 on).
fn listening_ips(two: bool) -> &'static [Ipv4Addr] {
    const BOTH: [Ipv4Addr; 2] = [Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 0, 0, 2)];
    if two { &BOTH } else { &BOTH[..1] }
}

/// A port P such that P and P+1 are free for UDP and TCP on every address.
/// The lowest port [`free_port_pair`] picks.
const PICK_FROM: u16 = 10000;

/// The low end of the kernel's ephemeral port range (32768 when unknown).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A random number (std's per-process random hash keys, mixed with `i`).
fn random_u64(i: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(i);
    h.finish()
}

fn free_port_pair(ips: &[Ipv4Addr]) -> Result<u16, LabError> {
    // Below the kernel's ephemeral range: a port picked there (as port 0
    // gives) can be taken by any other test's outgoing socket before
    // coturn binds it (seen: coturn's DTLS listener failing with errno 98).
    let low = ephemeral_low().saturating_sub(2).max(PICK_FROM + 100);
    for i in 0..200u64 {
        let p = PICK_FROM + (random_u64(i) % u64::from(low - PICK_FROM)) as u16;
        let free = ips.iter().all(|ip| {
            [p, p + 1].iter().all(|port| {
                UdpSocket::bind((*ip, *port)).is_ok()
                    && std::net::TcpListener::bind((*ip, *port)).is_ok()
            })
        });
        if free {
            return Ok(p);
        }
    }
    Err(LabError::io(
        "finding a free port pair",
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free port pair on loopback",
        ),
    ))
}
