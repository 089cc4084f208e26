//! Taking datagrams off the recording's UDP socket, each stamped with when it arrived.
//!
//! The stamp matters (a stream without a sender report yet is placed by arrival), but
//! waking a thread for each of the hundreds of datagrams a second a meeting sends cost
//! more in the kernel than the work they carry (`perf`: the receiving thread was 4.8 %
//! of a recording's CPU, nearly all of it waking). So the kernel stamps each datagram
//! as it comes in (`SO_TIMESTAMPNS`), and the receiving thread takes them in batches.
//! Where the kernel will not stamp, the datagram is stamped when it is read, and the
//! caller reads each one as it comes. (Linux turns stamping on a moment after the
//! first socket asks; the few datagrams before are stamped as read, at most a batch's
//! 5 ms late.)
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

/// Longer than a datagram waits in the socket (the receiving thread takes them every
/// few ms, and the kernel's buffer holds about a second of a meeting at most).
const MAX_WAITING: Duration = Duration::from_secs(2);

/// A datagram, where it came from, and when it arrived.
pub struct Datagram {
    pub arrived: Instant,
    pub from: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Asks the kernel to stamp each datagram's arrival. Whether it will.
pub fn stamp_arrivals(socket: &UdpSocket) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket, and an int option of the size given.
    let ret = unsafe {
        libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, (&on as *const libc::c_int).cast(), size_of::<libc::c_int>() as libc::socklen_t)
    };
    ret == 0
}

/// One datagram into `buf`: waiting for it (up to the socket's read timeout, then
/// `Ok(None)`) if `wait`, else only one already there.
pub fn receive(socket: &UdpSocket, buf: &mut [u8], wait: bool) -> io::Result<Option<Datagram>> {
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut from: libc::sockaddr_storage = unsafe { zeroed() };
    // Room for one SCM_TIMESTAMPNS (a timespec) and then some.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
    let (n, msg) = loop {
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>() as _;
        // SAFETY: `msg` points at live buffers of the sizes it gives, for this call.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, flags) };
        if n >= 0 {
            break (n, msg);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            // A connected socket reports a keyframe request that found no listener (the
            // server's transport closing) on its next read, ahead of the datagrams still
            // queued; reporting it clears it, so read again.
            io::ErrorKind::ConnectionRefused => continue,
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => return Ok(None),
            _ => return Err(e),
        }
    };
    let (now, wall) = (Instant::now(), SystemTime::now());
    // The stamp is on the wall clock: how long ago it was, taken back from now. A stamp
    // from the future, or older than any datagram waits here, means the wall clock was
    // stepped meanwhile: then the read time is the better guess.
    let ago = kernel_stamp(&msg).and_then(|stamp| wall.duration_since(stamp).ok()).filter(|ago| *ago <= MAX_WAITING);
    let arrived = ago.and_then(|ago| now.checked_sub(ago)).unwrap_or(now);
    let Some(from) = socket_addr(&from) else { return Ok(None) };
    let len = (n as usize).min(buf.len());
    Ok(Some(Datagram { arrived, from, bytes: buf[..len].to_vec() }))
}

/// The arrival time the kernel put on a received message, if it did.
fn kernel_stamp(msg: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: walking the control messages recvmsg filled in, with libc's own macros;
    // a SCM_TIMESTAMPNS carries a timespec (read unaligned: the buffer makes no promise).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return SystemTime::UNIX_EPOCH.checked_add(Duration::new(u64::try_from(ts.tv_sec).ok()?, u32::try_from(ts.tv_nsec).ok()?));
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)), u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(a.sin6_addr.s6_addr), u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_carry_the_time_they_arrived_not_the_time_they_were_read() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(stamp_arrivals(&socket), "this kernel does not stamp datagrams");
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 64];
        // Linux turns its stamping on a moment after the first socket asks (a deferred
        // switch); what arrives before is stamped as it is read. Probes until one comes
        // back stamped (up to 5 s).
        let trying_until = Instant::now() + Duration::from_secs(5);
        loop {
            sender.send_to(b"probe", socket.local_addr().unwrap()).unwrap();
            let sent = Instant::now();
            std::thread::sleep(Duration::from_millis(30));
            let probe = receive(&socket, &mut buf, true).unwrap().expect("the probe");
            if probe.arrived.saturating_duration_since(sent) < Duration::from_millis(20) {
                break;
            }
            assert!(Instant::now() < trying_until, "the kernel never stamped a datagram");
        }
        let sent = Instant::now();
        sender.send_to(b"first", socket.local_addr().unwrap()).unwrap();
        sender.send_to(b"second", socket.local_addr().unwrap()).unwrap();
        // Read 200 ms later, as a batch.
        std::thread::sleep(Duration::from_millis(200));
        let first = receive(&socket, &mut buf, false).unwrap().expect("the first datagram");
        let second = receive(&socket, &mut buf, false).unwrap().expect("the second datagram");
        assert!(receive(&socket, &mut buf, false).unwrap().is_none(), "only two were sent");
        assert_eq!((first.bytes.as_slice(), second.bytes.as_slice()), (&b"first"[..], &b"second"[..]));
        assert_eq!(first.from, sender.local_addr().unwrap());
        for d in [&first, &second] {
            let after = d.arrived.saturating_duration_since(sent);
            assert!(after < Duration::from_millis(50), "stamped {after:?} after it was sent");
        }
        assert!(second.arrived >= first.arrived);
    }

    #[test]
    fn waiting_gives_up_at_the_sockets_read_timeout() {
        let socket = UdpSocket::bind("[::1]:0").or_else(|_| UdpSocket::bind("127.0.0.1:0")).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        let mut buf = [0u8; 16];
        assert!(receive(&socket, &mut buf, true).unwrap().is_none());
        // Unstamped, a datagram is stamped as it is read.
        let sender = UdpSocket::bind(SocketAddr::new(socket.local_addr().unwrap().ip(), 0)).unwrap();
        sender.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        let before = Instant::now();
        let d = receive(&socket, &mut buf, true).unwrap().expect("a datagram");
        assert!(d.arrived >= before && d.from == sender.local_addr().unwrap());
    }
}
