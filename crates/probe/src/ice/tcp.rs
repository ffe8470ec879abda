//! One TCP connection from an ICE agent to a TURN server (TURN over TCP,
//! and over TLS: natscope runs TLS itself with the one TLS handshake,
//! `crate::turn::tls::connect`, so certificate problems are named and
//! rice-proto sees plain TURN over TCP). A task per connection, reporting
//! to the driving loop through its channel.

use super::agent::{Inbound, TlsTarget};
use model::ice::Side;
use rice_proto::candidate::TransportType;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;

/// Largest TCP read.
const MAX_READ: usize = 65536;
/// Writes queued per TCP connection before it counts as stuck.
const TCP_WRITE_QUEUE: usize = 256;

/// One TCP connection to a TURN server: connects from `ip` and, with
/// `tls`, runs the TLS handshake (both bounded by `timeout`), reports the
/// result (a certificate problem named), then pumps plaintext both ways
/// until either side closes. Reports its end; never panics on network
/// input.
pub(crate) async fn connection(
    side: Side,
    ip: std::net::IpAddr,
    requested: SocketAddr,
    to: SocketAddr,
    tls: Option<TlsTarget>,
    tx: mpsc::Sender<Inbound>,
    timeout: std::time::Duration,
) {
    let connect = async {
        let sock = if to.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| format!("TCP socket: {e}"))?;
        sock.bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("TCP bind {ip}: {e}"))?;
        let stream = sock
            .connect(to)
            .await
            .map_err(|e| format!("TCP connect to {to}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .map_err(|e| format!("TCP to {to}: {e}"))?;
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(stream),
            Some(t) => {
                let host = t.server_name.to_str().into_owned();
                let tls = crate::turn::tls::connect(t.config, &host, stream)
                    .await
                    .map_err(|f| format!("{to}: {f}"))?;
                Box::new(tls)
            }
        };
        Ok::<_, String>((stream, local))
    };
    let up = match tokio::time::timeout(timeout, connect).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "connect to {to}: no answer within {} ms",
            timeout.as_millis()
        )),
    };
    let (stream, local) = match up {
        Ok(x) => x,
        Err(e) => {
            let failed = Inbound::TcpConnected {
                side,
                requested,
                to,
                result: Err(e),
            };
            let _ = tx.send(failed).await;
            return;
        }
    };
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(TCP_WRITE_QUEUE);
    let connected = Inbound::TcpConnected {
        side,
        requested,
        to,
        result: Ok((local, wtx)),
    };
    if tx.send(connected).await.is_err() {
        return;
    }
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; MAX_READ];
    let reason = loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break "closed by the server".to_string(),
                Ok(n) => {
                    let m = Inbound::Data {
                        side,
                        transport: TransportType::Tcp,
                        local,
                        from: to,
                        data: buf[..n].to_vec(),
                    };
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
                Err(e) => break e.to_string(),
            },
            w = wrx.recv() => match w {
                Some(d) => {
                    let written = async {
                        wr.write_all(&d).await?;
                        wr.flush().await
                    };
                    if let Err(e) = written.await {
                        break e.to_string();
                    }
                }
                // The agent dropped the connection (closing): end quietly.
                None => return,
            },
        }
    };
    let _ = tx
        .send(Inbound::TcpClosed {
            side,
            local,
            to,
            reason,
        })
        .await;
}

/// A TCP or TLS byte stream.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}
