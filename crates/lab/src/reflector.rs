//! A tiny UDP reflector, independent of natscope's STUN code: the ground
//! truth the lab tests compare the NAT against.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{LabError, netns};

/// The reflector protocol. Every datagram is answered with the text
/// `IP:PORT` of the source address the reflector saw (IPv6 as
/// `[IP]:PORT`: `SocketAddr`'s `Display`, parsed back by its `FromStr`).
/// If the payload is `from:IP:PORT` (this prefix followed by one of the
/// reflector's own bound addresses in the same namespace, either family),
/// the answer is sent from that socket instead of the one that received the
/// request; an unknown address gets the answer `error:no-socket` from the
/// receiving socket.
pub const REFLECTOR_FROM_PREFIX: &str = "from:";

/// Running reflector sockets (one thread per socket).
pub(crate) struct Reflector {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Reflector {
    /// Binds `binds` inside namespace `ns_name` and starts answering.
    pub(crate) fn start(ns_name: &str, binds: &[SocketAddr]) -> Result<Reflector, LabError> {
        let binds = binds.to_vec();
        let sockets =
            netns::run_in_netns(ns_name, move || -> Result<Vec<UdpSocket>, LabError> {
                binds
                    .iter()
                    .map(|b| {
                        let s = UdpSocket::bind(b)
                            .map_err(|e| LabError::io(format!("reflector bind {b}"), e))?;
                        s.set_read_timeout(Some(Duration::from_millis(50)))
                            .map_err(|e| LabError::io("reflector timeout", e))?;
                        Ok(s)
                    })
                    .collect()
            })??;
        let addrs: Vec<SocketAddr> = sockets
            .iter()
            .map(|s| {
                s.local_addr()
                    .map_err(|e| LabError::io("reflector local address", e))
            })
            .collect::<Result<_, _>>()?;
        let sockets = Arc::new(sockets);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..sockets.len() {
            let sockets = Arc::clone(&sockets);
            let stop = Arc::clone(&stop);
            let addrs = addrs.clone();
            let t = std::thread::Builder::new()
                .name("lab-reflector".into())
                .spawn(move || serve(i, &sockets, &addrs, &stop))
                .map_err(|e| LabError::io("spawning reflector thread", e))?;
            threads.push(t);
        }
        Ok(Reflector {
            addrs,
            stop,
            threads,
        })
    }

    /// The bound addresses.
    pub(crate) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops and joins the threads (each notices within 50 ms).
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn serve(i: usize, sockets: &[UdpSocket], addrs: &[SocketAddr], stop: &AtomicBool) {
    let sock = &sockets[i];
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue, // timeout (or transient error): check stop
        };
        let seen = src.to_string();
        let payload = String::from_utf8_lossy(&buf[..n]);
        let reply_from = payload.trim().strip_prefix(REFLECTOR_FROM_PREFIX).map(|a| {
            a.parse::<SocketAddr>()
                .ok()
                .and_then(|a| addrs.iter().position(|x| *x == a))
        });
        match reply_from {
            None => {
                let _ = sock.send_to(seen.as_bytes(), src);
            }
            Some(Some(j)) => {
                let _ = sockets[j].send_to(seen.as_bytes(), src);
            }
            Some(None) => {
                let _ = sock.send_to(b"error:no-socket", src);
            }
        }
    }
}
