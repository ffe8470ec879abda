//! Batched UDP I/O on Linux: `recvmmsg(2)` reads up to [`BATCH`]
//! datagrams in one system call and `sendmmsg(2)` sends the answers in
//! one, where a plain loop pays one call per datagram each way (what
//! coturn does). Non-blocking only: the callers wait for readiness through
//! tokio and fall back to one-datagram sends when a batch is cut short.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;

/// Receive buffers, their source addresses and lengths, reused per call.
pub(crate) struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    names: Vec<libc::sockaddr_storage>,
    lens: [usize; BATCH],
}

impl RecvBatch {
    /// [`BATCH`] buffers of `size` bytes each.
    pub(crate) fn new(size: usize) -> RecvBatch {
        RecvBatch {
            bufs: (0..BATCH).map(|_| vec![0u8; size]).collect(),
            // SAFETY: sockaddr_storage is plain data; all-zero is valid.
            names: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            lens: [0; BATCH],
        }
    }

    /// Reads what is queued on `fd` (at most [`BATCH`] datagrams) without
    /// blocking; `WouldBlock` when nothing is.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let full = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let mut hdrs = headers(&mut iovs, self.names.iter_mut().map(|n| (n, full)));
        // SAFETY: every header points at a live buffer and address slot of
        // `self` (and `iovs`), which outlive the call; BATCH bounds `vlen`.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0).min(BATCH);
        for (len, h) in self.lens.iter_mut().zip(&hdrs).take(n) {
            *len = h.msg_len as usize;
        }
        Ok(n)
    }

    /// Datagram `i` of the last [`RecvBatch::recv`]: its bytes and source
    /// (`None` for an address family other than IPv4/IPv6).
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let data = self.bufs.get(i)?.get(..*self.lens.get(i)?)?;
        Some((data, from_storage(self.names.get(i)?)?))
    }
}

fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for it.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn to_storage(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: plain data; all-zero is valid.
    let mut s: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough.
            let sin = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above.
            let sin6 = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (s, len as libc::socklen_t)
}

/// One `mmsghdr` per iovec, with its address slot and length: the headers
/// point into `iovs` and `names`, which must outlive their use.
fn headers<'a>(
    iovs: &mut [libc::iovec],
    names: impl Iterator<Item = (&'a mut libc::sockaddr_storage, libc::socklen_t)>,
) -> Vec<libc::mmsghdr> {
    iovs.iter_mut()
        .zip(names)
        .map(|(iov, (name, len))| {
            // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = len;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect()
}

/// Answers waiting to go out in one `sendmmsg`.
pub(crate) struct SendBatch {
    bufs: Vec<Vec<u8>>,
    lens: [usize; BATCH],
    to: Vec<SocketAddr>,
}

impl SendBatch {
    /// Room for [`BATCH`] answers of up to `size` bytes.
    pub(crate) fn new(size: usize) -> SendBatch {
        SendBatch {
            bufs: (0..BATCH).map(|_| vec![0u8; size]).collect(),
            lens: [0; BATCH],
            to: Vec::with_capacity(BATCH),
        }
    }

    /// The buffer the next answer is written into (`None` when full).
    pub(crate) fn slot(&mut self) -> Option<&mut [u8]> {
        let i = self.to.len();
        self.bufs.get_mut(i).map(Vec::as_mut_slice)
    }

    /// Queues the answer written into [`SendBatch::slot`]: `len` bytes to `to`.
    pub(crate) fn push(&mut self, len: usize, to: SocketAddr) {
        let i = self.to.len();
        if let Some(l) = self.lens.get_mut(i) {
            *l = len;
            self.to.push(to);
        }
    }

    /// Queued answers.
    pub(crate) fn len(&self) -> usize {
        self.to.len()
    }

    /// Answer `i`: bytes and destination.
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let data = self.bufs.get(i)?.get(..*self.lens.get(i)?)?;
        Some((data, *self.to.get(i)?))
    }

    /// Empties the batch.
    pub(crate) fn clear(&mut self) {
        self.to.clear();
    }

    /// Sends queued answers from `skip` on without blocking; returns how
    /// many went out (`WouldBlock` when none could).
    pub(crate) fn send(&mut self, fd: RawFd, skip: usize) -> io::Result<usize> {
        let count = self.to.len().saturating_sub(skip);
        if count == 0 {
            return Ok(0);
        }
        let mut names: Vec<(libc::sockaddr_storage, libc::socklen_t)> =
            self.to[skip..].iter().map(|a| to_storage(*a)).collect();
        let mut iovs: Vec<libc::iovec> = self.bufs[skip..skip + count]
            .iter_mut()
            .zip(&self.lens[skip..skip + count])
            .map(|(b, len)| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: *len,
            })
            .collect();
        let mut hdrs = headers(&mut iovs, names.iter_mut().map(|(n, len)| (n, *len)));
        // SAFETY: the headers point at live buffers, iovecs and addresses
        // that outlive the call; `count` ≤ BATCH headers.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                hdrs.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_batch_goes_out_and_comes_back_with_its_sources() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let (a_addr, b_addr) = (a.local_addr().expect("a"), b.local_addr().expect("b"));
        let mut out = SendBatch::new(64);
        for i in 0..5u8 {
            let slot = out.slot().expect("room");
            slot[..3].copy_from_slice(&[i, i, i]);
            out.push(3, b_addr);
        }
        assert_eq!(out.send(a.as_raw_fd(), 0).expect("sendmmsg"), 5);
        assert_eq!(out.send(a.as_raw_fd(), 5).expect("nothing left"), 0);
        let mut got = RecvBatch::new(64);
        let mut seen = Vec::new();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while seen.len() < 5 && std::time::Instant::now() < until {
            match got.recv(b.as_raw_fd()) {
                Ok(n) => {
                    for i in 0..n {
                        let (data, from) = got.get(i).expect("received");
                        assert_eq!(from, a_addr);
                        seen.push(data.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => panic!("recvmmsg: {e}"),
            }
        }
        assert_eq!(seen, (0..5u8).map(|i| vec![i, i, i]).collect::<Vec<_>>());
        assert!(matches!(got.recv(b.as_raw_fd()), Err(e) if e.kind() == io::ErrorKind::WouldBlock));
    }
}
