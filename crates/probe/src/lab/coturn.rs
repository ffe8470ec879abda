//! coturn in the server namespace, with a config file of our own.

use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Lab, LabError, Ns, netns};

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
    /// How long to wait for coturn to answer a Binding request.
    pub ready_timeout: Duration,
}

impl Default for CoturnOptions {
    fn default() -> Self {
        CoturnOptions {
            user: "natscope".into(),
            password: "natscope-secret".into(),
            realm: "lab.example".into(),
            extra_config: Vec::new(),
            ready_timeout: Duration::from_secs(5),
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
    /// The self-signed certificate (PEM) coturn presents.
    pub cert_pem: std::path::PathBuf,
    /// User name of the long-term credential.
    pub user: String,
    /// Realm.
    pub realm: String,
}

pub(crate) fn start(lab: &Lab, opts: CoturnOptions) -> Result<CoturnInfo, LabError> {
    netns::require_tool("turnserver", "coturn")?;
    netns::require_tool("openssl", "openssl")?;
    lab.ensure_workdir()?;
    let dir = lab.workdir();
    let cert = dir.join("turn-cert.pem");
    let key = dir.join("turn-key.pem");
    let conf = dir.join("turnserver.conf");
    let log = dir.join("turnserver.log");
    let a = lab.addrs();
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
            "/CN=turn.lab.example",
            "-addext",
            "subjectAltName=DNS:turn.lab.example,IP:203.0.113.100,IP:203.0.113.101",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
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
    let mut text = format!(
        "# written by natscope lab\n\
         listening-ip={p}\nlistening-ip={alt}\nrelay-ip={p}\n\
         listening-port=3478\ntls-listening-port=5349\n\
         min-port=49152\nmax-port=65535\n\
         fingerprint\nlt-cred-mech\nuser={u}:{pw}\nrealm={r}\n\
         cert={c}\npkey={k}\n\
         no-cli\nno-stdout-log\nsimple-log\nlog-file={l}\npidfile={pid}\n",
        p = a.server_primary,
        alt = a.server_alternate,
        u = opts.user,
        pw = opts.password,
        r = opts.realm,
        c = cert.display(),
        k = key.display(),
        l = log.display(),
        pid = dir.join("turnserver.pid").display(),
    );
    for line in &opts.extra_config {
        text += line;
        text += "\n";
    }
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
    let tls = SocketAddrV4::new(a.server_primary, 5349);
    let wait = opts.ready_timeout;
    let ready = lab.run_in(Ns::Server, move || wait_ready(primary, tls, wait))?;
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
        cert_pem: cert,
        user: opts.user,
        realm: opts.realm,
    })
}

/// Sends a bare STUN Binding request until one is answered, then checks
/// that the TLS port accepts connections; all bounded by `wait`.
fn wait_ready(stun: SocketAddrV4, tls: SocketAddrV4, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
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
        if TcpStream::connect_timeout(&SocketAddr::V4(tls), Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("TLS port {tls} not accepting connections"))
}
