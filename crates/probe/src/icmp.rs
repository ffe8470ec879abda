//! ICMP errors on UDP sockets, the one place natscope reads them: a closed
//! port answers ICMP port unreachable, a router on the path answers ICMP
//! time exceeded to a TTL-limited probe. Linux queues both on the socket
//! that sent the datagram when `IP_RECVERR` / `IPV6_RECVERR` is on —
//! readable without privileges, on unconnected sockets, with the original
//! destination (which server) and the ICMP sender (which router).
//!
//! Elsewhere [`enable`] is a no-op and [`drain`] returns nothing: probes
//! then see silence, as before.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;

/// What an ICMP error said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// Destination port unreachable: nothing listens there.
    PortUnreachable,
    /// Host unreachable (also "address unreachable" in ICMPv6).
    HostUnreachable,
    /// Network unreachable (no route).
    NetUnreachable,
    /// Communication administratively prohibited: a firewall rejected it.
    Prohibited,
    /// Time to live (hop limit) exceeded in transit: a router on the path.
    TimeExceeded,
    /// Fragmentation needed / packet too big, with the next-hop MTU.
    TooBig {
        /// The MTU the router announced (0 if none).
        mtu: u32,
    },
    /// Another ICMP error.
    Other,
}

impl IcmpKind {
    /// In words, e.g. `ICMP port unreachable`.
    pub fn describe(self) -> String {
        match self {
            IcmpKind::PortUnreachable => "ICMP port unreachable".into(),
            IcmpKind::HostUnreachable => "ICMP host unreachable".into(),
            IcmpKind::NetUnreachable => "ICMP network unreachable".into(),
            IcmpKind::Prohibited => {
                "ICMP administratively prohibited (a firewall rejects it)".into()
            }
            IcmpKind::TimeExceeded => "ICMP time exceeded".into(),
            IcmpKind::TooBig { mtu } => format!("ICMP packet too big (MTU {mtu})"),
            IcmpKind::Other => "an ICMP error".into(),
        }
    }
}

/// One ICMP error the kernel queued for a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    /// Where the datagram that caused it was going.
    pub to: SocketAddr,
    /// Who sent the ICMP error (the server's host, or a router), when the
    /// kernel says.
    pub from: Option<IpAddr>,
    /// What it said.
    pub kind: IcmpKind,
}

/// Turns on ICMP error reporting for a UDP socket of `local`'s family
/// (both IPv4 and IPv6 errors on an IPv6 socket, for mapped addresses).
pub fn enable(socket: &impl AsFd, local: SocketAddr) -> std::io::Result<()> {
    imp::enable(socket, local)
}

/// Every ICMP error queued on `socket`, oldest first; never blocks. Reading
/// clears the queue, and with it the socket error a `recv` would return.
pub fn drain(socket: &impl AsFd) -> Vec<IcmpError> {
    imp::drain(socket)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{IcmpError, IcmpKind};
    use std::mem::{MaybeUninit, size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::{AsFd, AsRawFd};

    /// Most errors read in one [`drain`] (the kernel keeps few anyway).
    const MAX_PER_DRAIN: usize = 64;

    fn set(fd: i32, level: i32, name: i32) -> std::io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: `fd` is a socket owned by the caller for the duration of
        // the call; the option value is a valid c_int of the given size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    pub(super) fn enable(socket: &impl AsFd, local: SocketAddr) -> std::io::Result<()> {
        let fd = socket.as_fd().as_raw_fd();
        if local.is_ipv6() {
            set(fd, libc::SOL_IPV6, libc::IPV6_RECVERR)?;
            // IPv4-mapped traffic on a dual-stack socket reports through the
            // IPv4 option; a v6-only socket refuses it, which is fine.
            let _ = set(fd, libc::SOL_IP, libc::IP_RECVERR);
            Ok(())
        } else {
            set(fd, libc::SOL_IP, libc::IP_RECVERR)
        }
    }

    fn sockaddr(storage: &libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
        match i32::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says it is a sockaddr_in, and the kernel
                // wrote at least its size.
                let a: &libc::sockaddr_in = unsafe { &*(storage as *const _ as *const _) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let a: &libc::sockaddr_in6 = unsafe { &*(storage as *const _ as *const _) };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                let port = u16::from_be(a.sin6_port);
                Some(match ip.to_ipv4_mapped() {
                    Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                    None => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, a.sin6_scope_id)),
                })
            }
            _ => None,
        }
    }

    fn kind(ee: &libc::sock_extended_err) -> IcmpKind {
        match (ee.ee_origin, ee.ee_type, ee.ee_code) {
            // ICMPv4: type 3 destination unreachable, 11 time exceeded.
            (libc::SO_EE_ORIGIN_ICMP, 3, 3) => IcmpKind::PortUnreachable,
            (libc::SO_EE_ORIGIN_ICMP, 3, 0) => IcmpKind::NetUnreachable,
            (libc::SO_EE_ORIGIN_ICMP, 3, 1) => IcmpKind::HostUnreachable,
            (libc::SO_EE_ORIGIN_ICMP, 3, 4) => IcmpKind::TooBig { mtu: ee.ee_info },
            (libc::SO_EE_ORIGIN_ICMP, 3, 9 | 10 | 13) => IcmpKind::Prohibited,
            (libc::SO_EE_ORIGIN_ICMP, 11, _) => IcmpKind::TimeExceeded,
            // ICMPv6: type 1 destination unreachable, 2 too big, 3 time
            // exceeded.
            (libc::SO_EE_ORIGIN_ICMP6, 1, 4) => IcmpKind::PortUnreachable,
            (libc::SO_EE_ORIGIN_ICMP6, 1, 0) => IcmpKind::NetUnreachable,
            (libc::SO_EE_ORIGIN_ICMP6, 1, 3) => IcmpKind::HostUnreachable,
            (libc::SO_EE_ORIGIN_ICMP6, 1, 1 | 5 | 6) => IcmpKind::Prohibited,
            (libc::SO_EE_ORIGIN_ICMP6, 2, _) => IcmpKind::TooBig { mtu: ee.ee_info },
            (libc::SO_EE_ORIGIN_ICMP6, 3, _) => IcmpKind::TimeExceeded,
            _ => IcmpKind::Other,
        }
    }

    /// One `recvmsg(MSG_ERRQUEUE)`: `None` when the queue is empty.
    fn read_one(fd: i32) -> Option<Option<IcmpError>> {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        // Room for one sock_extended_err plus the offender's address.
        let mut control = [MaybeUninit::<u64>::uninit(); 64];
        let mut payload = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: payload.as_mut_ptr().cast(),
            iov_len: payload.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: every pointer in `msg` points at a live local buffer of
        // the length given; MSG_DONTWAIT makes it non-blocking.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            return None;
        }
        let to = sockaddr(&name, msg.msg_namelen as usize);
        let mut found = None;
        // SAFETY: CMSG_* walk the control buffer the kernel filled, within
        // msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
                let is_err = (level == libc::SOL_IP && ty == libc::IP_RECVERR)
                    || (level == libc::SOL_IPV6 && ty == libc::IPV6_RECVERR);
                if is_err {
                    let data = libc::CMSG_DATA(c);
                    let ee: libc::sock_extended_err = std::ptr::read_unaligned(data.cast());
                    // SO_EE_OFFENDER: the ICMP sender's sockaddr follows.
                    let off_ptr = data.add(size_of::<libc::sock_extended_err>());
                    let room = ((*c).cmsg_len as usize)
                        .saturating_sub(data as usize - c as usize)
                        .saturating_sub(size_of::<libc::sock_extended_err>());
                    let mut off: libc::sockaddr_storage = zeroed();
                    let len = room.min(size_of::<libc::sockaddr_storage>());
                    std::ptr::copy_nonoverlapping(
                        off_ptr,
                        (&mut off as *mut libc::sockaddr_storage).cast::<u8>(),
                        len,
                    );
                    let from = sockaddr(&off, len).map(|a| a.ip());
                    let is_icmp = matches!(
                        ee.ee_origin,
                        libc::SO_EE_ORIGIN_ICMP | libc::SO_EE_ORIGIN_ICMP6
                    );
                    if is_icmp && let Some(to) = to {
                        found = Some(IcmpError {
                            to,
                            from,
                            kind: kind(&ee),
                        });
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Some(found)
    }

    pub(super) fn drain(socket: &impl AsFd) -> Vec<IcmpError> {
        let fd = socket.as_fd().as_raw_fd();
        let mut out = Vec::new();
        for _ in 0..MAX_PER_DRAIN {
            match read_one(fd) {
                Some(Some(e)) => out.push(e),
                Some(None) => {}
                None => break,
            }
        }
        out
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::IcmpError;
    use std::net::SocketAddr;
    use std::os::fd::AsFd;

    pub(super) fn enable(_: &impl AsFd, _: SocketAddr) -> std::io::Result<()> {
        Ok(())
    }

    pub(super) fn drain(_: &impl AsFd) -> Vec<IcmpError> {
        Vec::new()
    }
}

/// The error for a datagram sent to `to`, among `errors`.
pub fn for_destination(errors: &[IcmpError], to: SocketAddr) -> Option<IcmpError> {
    errors.iter().rev().find(|e| e.to == to).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`drain`], waiting (bounded) for the kernel to queue something.
    fn drain_within(s: &std::net::UdpSocket) -> Vec<IcmpError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let e = drain(s);
            if !e.is_empty() || std::time::Instant::now() > deadline {
                return e;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_closed_loopback_port_answers_port_unreachable() {
        // Loopback only: a port bound and released, so nothing listens.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = closed.local_addr().expect("bound");
        drop(closed);
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        enable(&s, s.local_addr().expect("bound")).expect("IP_RECVERR");
        s.send_to(b"x", to).expect("send");
        let errors = drain_within(&s);
        assert_eq!(
            errors,
            vec![IcmpError {
                to,
                from: Some("127.0.0.1".parse().expect("literal")),
                kind: IcmpKind::PortUnreachable
            }]
        );
        assert!(drain(&s).is_empty(), "draining empties the queue");
    }

    #[test]
    fn ipv6_loopback_too() {
        let Ok(closed) = std::net::UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 on this host
        };
        let to = closed.local_addr().expect("bound");
        drop(closed);
        let s = std::net::UdpSocket::bind("[::1]:0").expect("bind");
        enable(&s, s.local_addr().expect("bound")).expect("IPV6_RECVERR");
        s.send_to(b"x", to).expect("send");
        let errors = drain_within(&s);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].to, to);
        assert_eq!(errors[0].kind, IcmpKind::PortUnreachable);
    }
}
