//! `meet-bench bare-forwarder`: the ceiling. Plain UDP in, a copy to every subscriber of the sender's
//! group out; no crypto, no parsing beyond a registration datagram. Batched with recvmmsg/sendmmsg so the
//! ceiling is the kernel's cost per datagram, not ours.
//!
//! Registration (from a peer, repeated until acknowledged): `BFRG`, publish group (u32, `u32::MAX` for
//! none), count (u32), then that many subscribed groups (u32). Answer: `BFOK`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

use crate::load::{BARE_ACK, BARE_REGISTER};

const BATCH: usize = 64;
const OUT_BATCH: usize = 512;
const MTU: usize = 1500;

fn to_sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

fn from_sockaddr(s: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)), u16::from_be(s.sin_port))
}

pub fn run(port: u16) -> anyhow::Result<()> {
    let socket = UdpSocket::bind(("127.0.0.1", port))?;
    crate::net::set_buffer_sizes(socket.as_raw_fd(), 8 << 20);
    eprintln!("bare forwarder on {}", socket.local_addr()?);
    let fd = socket.as_raw_fd();
    let mut publishers: HashMap<SocketAddrV4, u32> = HashMap::new();
    let mut groups: HashMap<u32, Vec<libc::sockaddr_in>> = HashMap::new();

    let mut rx_bufs = vec![[0u8; MTU]; BATCH];
    let mut rx_addrs: Vec<libc::sockaddr_in> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut rx_iovs: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    let mut rx_msgs: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        rx_iovs.push(libc::iovec { iov_base: rx_bufs[i].as_mut_ptr() as *mut libc::c_void, iov_len: MTU });
    }
    for i in 0..BATCH {
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_name = &mut rx_addrs[i] as *mut _ as *mut libc::c_void;
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_iov = &mut rx_iovs[i];
        h.msg_iovlen = 1;
        rx_msgs.push(libc::mmsghdr { msg_hdr: h, msg_len: 0 });
    }
    let mut tx_addrs: Vec<libc::sockaddr_in> = vec![unsafe { std::mem::zeroed() }; OUT_BATCH];
    let mut tx_iovs: Vec<libc::iovec> = vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; OUT_BATCH];
    let mut tx_msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; OUT_BATCH];

    loop {
        for (i, m) in rx_msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_hdr.msg_name = &mut rx_addrs[i] as *mut _ as *mut libc::c_void;
        }
        // Block for the first datagram, then take what is queued.
        let n = unsafe {
            libc::recvmmsg(fd, rx_msgs.as_mut_ptr(), BATCH as u32, libc::MSG_WAITFORONE, std::ptr::null_mut())
        };
        if n <= 0 {
            continue;
        }
        let mut out = 0usize;
        for i in 0..n as usize {
            let len = rx_msgs[i].msg_len as usize;
            let source = from_sockaddr(&rx_addrs[i]);
            let data = &rx_bufs[i][..len];
            if len >= 12 && data[..4] == BARE_REGISTER {
                let group = u32::from_be_bytes(data[4..8].try_into().unwrap());
                let count = u32::from_be_bytes(data[8..12].try_into().unwrap()) as usize;
                if group != u32::MAX {
                    publishers.insert(source, group);
                }
                for k in 0..count {
                    let at = 12 + 4 * k;
                    if at + 4 > len {
                        break;
                    }
                    let g = u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
                    let subs = groups.entry(g).or_default();
                    let sa = to_sockaddr(source);
                    if !subs.iter().any(|s| s.sin_port == sa.sin_port && s.sin_addr.s_addr == sa.sin_addr.s_addr) {
                        subs.push(sa);
                    }
                }
                let _ = socket.send_to(&BARE_ACK, SocketAddr::V4(source));
                continue;
            }
            let Some(group) = publishers.get(&source) else { continue };
            let Some(subs) = groups.get(group) else { continue };
            for sub in subs {
                if out == OUT_BATCH {
                    flush(fd, &mut tx_msgs, out);
                    out = 0;
                }
                tx_addrs[out] = *sub;
                tx_iovs[out] = libc::iovec { iov_base: rx_bufs[i].as_mut_ptr() as *mut libc::c_void, iov_len: len };
                let h = &mut tx_msgs[out].msg_hdr;
                h.msg_name = &mut tx_addrs[out] as *mut _ as *mut libc::c_void;
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_iov = &mut tx_iovs[out];
                h.msg_iovlen = 1;
                out += 1;
            }
        }
        if out > 0 {
            flush(fd, &mut tx_msgs, out);
        }
    }
}

fn flush(fd: i32, msgs: &mut [libc::mmsghdr], count: usize) {
    let mut done = 0usize;
    while done < count {
        let n = unsafe { libc::sendmmsg(fd, msgs[done..].as_mut_ptr(), (count - done) as u32, 0) };
        if n <= 0 {
            // A full send buffer or a vanished receiver: drop the rest of this batch, as a relay would.
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            done += 1;
            continue;
        }
        done += n as usize;
    }
}
