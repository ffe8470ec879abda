//! STUN over TCP (RFC 8489 §6.2.2): one connection, messages framed by the
//! 20-byte header's length field, a single transmission per transaction, and
//! a wait of at most Ti = 39.5 s (or the caller's deadline, if sooner).

use std::net::SocketAddr;
use std::time::Duration;

use stun_proto::agent::StunAgent;
use stun_proto::types::TransportType;
use stun_proto::types::message::{Message, MessageClass, MessageHeader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use wire::{Clock, Framer};

use super::transaction::{MAX_MESSAGE_SIZE, StunResponse, TransactionError, parse_response};

/// RFC 8489 Ti: the longest a client waits for a response over TCP.
pub const TCP_TRANSACTION_TIMEOUT: Duration = Duration::from_millis(39_500);

/// A STUN client on one TCP connection. Transactions on it run one at a
/// time (`request` takes `&mut self`).
#[derive(Debug)]
pub struct TcpStunClient {
    stream: TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    agent: StunAgent,
    framer: Framer,
    clock: Clock,
    /// Messages read that were not the awaited response (other transaction
    /// ids, requests/indications).
    unmatched: u64,
}

impl TcpStunClient {
    /// Connects to `to`, from `local` if given (port 0 for an ephemeral
    /// port), by `deadline`.
    pub async fn connect(
        to: SocketAddr,
        local: Option<SocketAddr>,
        deadline: Instant,
    ) -> Result<Self, TransactionError> {
        let socket = if to.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(local) = local {
            socket
                .bind(local)
                .map_err(|source| TransactionError::Bind {
                    addr: local,
                    source,
                })?;
        }
        Self::connect_socket(socket, to, deadline).await
    }

    /// Connects the caller's `socket` (already bound, with whatever
    /// options it needs, such as `SO_REUSEPORT` to share its port) to `to`
    /// by `deadline`.
    pub async fn connect_socket(
        socket: TcpSocket,
        to: SocketAddr,
        deadline: Instant,
    ) -> Result<Self, TransactionError> {
        let stream = match tokio::time::timeout_at(deadline, socket.connect(to)).await {
            Err(_) => return Err(TransactionError::ConnectTimeout(to)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(TransactionError::ConnectRefused(to));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(TransactionError::ConnectTimeout(to));
            }
            Ok(Err(e)) => return Err(TransactionError::Io(e)),
            Ok(Ok(s)) => s,
        };
        let local = stream.local_addr()?;
        let peer = stream.peer_addr()?;
        Ok(Self {
            stream,
            local,
            peer,
            agent: StunAgent::builder(TransportType::Tcp, local)
                .remote_addr(peer)
                .build(),
            framer: stun_framer(),
            clock: Clock::start(),
            unmatched: 0,
        })
    }

    /// The connection's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Messages read so far that were not an awaited response.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// Sends the encoded STUN `request` once and waits for the response with
    /// its transaction id, until `deadline` or Ti (39.5 s), whichever is
    /// sooner.
    pub async fn request(
        &mut self,
        request: Vec<u8>,
        deadline: Instant,
    ) -> Result<StunResponse, TransactionError> {
        let hdr = MessageHeader::from_bytes(&request)
            .map_err(|e| TransactionError::Encode(e.to_string()))?;
        if hdr.get_type().class() != MessageClass::Request {
            return Err(TransactionError::Encode("not a STUN request".to_owned()));
        }
        let tid = hdr.transaction_id();
        let start = Instant::now();
        let deadline = deadline.min(start + TCP_TRANSACTION_TIMEOUT);
        let data = self
            .agent
            .send_request(request.as_slice(), self.peer, self.clock.to_sans(start))
            .map_err(|e| TransactionError::Encode(e.to_string()))?
            .data
            .to_vec();
        let result = tokio::time::timeout_at(deadline, async {
            self.stream.write_all(&data).await?;
            let sent = Instant::now();
            loop {
                let frame = read_frame(&mut self.stream, &mut self.framer).await?;
                let Ok(msg) = Message::from_bytes(&frame) else {
                    // A corrupt frame on a stream: the framing cannot be trusted.
                    return Err(TransactionError::Parse("invalid STUN message".to_owned()));
                };
                if !msg.is_response() || msg.transaction_id() != tid {
                    self.unmatched += 1;
                    continue;
                }
                let now = Instant::now();
                self.agent
                    .handle_stun_message_with_time(&msg, self.peer, self.clock.to_sans(now));
                let parsed = parse_response(&frame)?;
                return Ok(StunResponse {
                    from: self.peer,
                    local: self.local,
                    rtt: now.saturating_duration_since(sent),
                    transmissions: 1,
                    bytes: frame,
                    parsed,
                });
            }
        })
        .await;
        match result {
            Ok(r) => r,
            Err(_) => {
                if let Some(mut req) = self.agent.mut_request_transaction(tid) {
                    req.cancel();
                }
                // Let the agent forget the cancelled transaction.
                let _ = self.agent.poll(self.clock.to_sans(Instant::now()));
                if deadline >= start + TCP_TRANSACTION_TIMEOUT {
                    Err(TransactionError::Timeout { transmissions: 1 })
                } else {
                    Err(TransactionError::Deadline { transmissions: 1 })
                }
            }
        }
    }
}

/// A framer for a STUN client's TCP stream: STUN messages only, at most
/// [`MAX_MESSAGE_SIZE`] each.
pub fn stun_framer() -> Framer {
    Framer::stun_only(MAX_MESSAGE_SIZE)
}

/// Reads the next STUN message from a stream, cut by `framer` (the one
/// framer, RFC 8489 §6.2.2; keep it for the next call: a read may hold the
/// start of the next message). A frame without the magic cookie, or any
/// framing error, is a parse error: the stream cannot be trusted after it.
pub async fn read_frame<R: AsyncReadExt + Unpin>(
    reader: &mut R,
    framer: &mut Framer,
) -> Result<Vec<u8>, TransactionError> {
    let parse = |e: wire::FrameError| TransactionError::Parse(e.to_string());
    loop {
        if let Some((_, frame)) = framer.next_frame().map_err(parse)? {
            if !wire::has_magic_cookie(&frame) {
                return Err(TransactionError::Parse("not a STUN header".to_owned()));
            }
            return Ok(frame);
        }
        let mut chunk = [0u8; 4096];
        let n = reader.read(&mut chunk).await.map_err(eof_is_closed)?;
        if n == 0 {
            return Err(TransactionError::Closed);
        }
        framer.push(&chunk[..n]).map_err(parse)?;
    }
}

fn eof_is_closed(e: std::io::Error) -> TransactionError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        TransactionError::Closed
    } else {
        TransactionError::Io(e)
    }
}
