//! The connection to the TURN server: a connected UDP socket, DTLS over
//! one, or a TCP/TLS stream cut into whole STUN and ChannelData frames by
//! the one framer (`wire::Framer`).

use super::config::TurnProbeConfig;
use super::dtls::{self, DtlsConn};
use super::failure::name_io_error;
use super::target::host_name;
use super::tls;
use model::servers::ServerUri;
use model::turn::{TurnFailure, TurnTransport};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use wire::Framer;

/// A UDP socket connected to `server` (ICMP errors then surface on it).
pub(super) async fn connected_udp(server: SocketAddr) -> io::Result<UdpSocket> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    Ok(sock)
}

/// A TCP or TLS byte stream.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The connection to the server, of the transport being tested.
pub(super) enum Conn {
    /// TURN over UDP: one TURN message per datagram.
    Udp(UdpSocket),
    /// TURN over DTLS: one TURN message per DTLS record.
    Dtls(Box<DtlsConn>),
    /// TURN over TCP or TLS: a byte stream cut into frames.
    Stream {
        /// The stream (plain TCP, or TLS over it).
        io: Box<dyn Io>,
        /// Bytes read and not yet returned as a frame.
        framer: Framer,
        /// The TCP connection's local address.
        local: SocketAddr,
        /// The server's address.
        remote: SocketAddr,
    },
}

impl Conn {
    /// A stream connection from `local` to `remote`.
    pub(super) fn stream(io: Box<dyn Io>, local: SocketAddr, remote: SocketAddr) -> Conn {
        Conn::Stream {
            io,
            framer: Framer::default(),
            local,
            remote,
        }
    }

    /// (local, remote) addresses.
    pub(super) fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        match self {
            Conn::Udp(s) => Ok((s.local_addr()?, s.peer_addr()?)),
            Conn::Dtls(d) => d.addrs(),
            Conn::Stream { local, remote, .. } => Ok((*local, *remote)),
        }
    }

    /// Sends one frame.
    pub(super) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Udp(s) => s.send(data).await.map(|_| ()),
            Conn::Dtls(d) => d.send(data).await,
            Conn::Stream { io, .. } => {
                // Every payload natscope sends is a multiple of 4 bytes, so
                // ChannelData needs no padding: turn-proto does not pad (nor
                // accept padding) over streams, coturn requires it.
                io.write_all(data).await?;
                io.flush().await
            }
        }
    }

    /// One frame (datagram, or one STUN/ChannelData message of a stream).
    /// Cancel-safe: partial stream data stays in the framer.
    pub(super) async fn recv(&mut self) -> io::Result<Vec<u8>> {
        match self {
            Conn::Udp(s) => {
                let mut b = vec![0u8; 65536];
                let n = s.recv(&mut b).await?;
                b.truncate(n);
                Ok(b)
            }
            Conn::Dtls(d) => d.recv().await,
            Conn::Stream { io, framer, .. } => loop {
                let invalid = |e: wire::FrameError| io::Error::new(io::ErrorKind::InvalidData, e);
                if let Some((_, frame)) = framer.next_frame().map_err(invalid)? {
                    return Ok(frame);
                }
                let mut tmp = [0u8; 16384];
                let n = io.read(&mut tmp).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                framer.push(&tmp[..n]).map_err(invalid)?;
            },
        }
    }
}

/// A fresh connection of `transport` to `server`, bounded by the stage
/// timeout. The first connection's stages already recorded how connecting
/// went; this one only needs to work.
pub(super) async fn connect_fresh(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
) -> Result<Conn, TurnFailure> {
    let host = host_name(uri);
    let timeout_ms = u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX);
    let attempt = async {
        match transport {
            TurnTransport::Udp => connected_udp(server)
                .await
                .map(Conn::Udp)
                .map_err(|e| name_io_error(&e)),
            TurnTransport::Dtls => {
                let sock = connected_udp(server).await.map_err(|e| name_io_error(&e))?;
                let est = dtls::connect(sock, &host, &cfg.tls).await?;
                Ok(Conn::Dtls(Box::new(est.conn)))
            }
            TurnTransport::Tcp | TurnTransport::Tls => {
                let tcp = TcpStream::connect(server)
                    .await
                    .map_err(|e| name_io_error(&e))?;
                let _ = tcp.set_nodelay(true);
                let local = tcp.local_addr().map_err(|e| name_io_error(&e))?;
                let remote = tcp.peer_addr().map_err(|e| name_io_error(&e))?;
                if transport == TurnTransport::Tcp {
                    return Ok(Conn::stream(Box::new(tcp), local, remote));
                }
                let tls = tls::connect_with(&cfg.tls, &host, tcp).await?;
                Ok(Conn::stream(Box::new(tls), local, remote))
            }
        }
    };
    match tokio::time::timeout(cfg.stage_timeout, attempt).await {
        Ok(res) => res,
        Err(_) => Err(TurnFailure::Timeout {
            after_ms: timeout_ms,
        }),
    }
}
