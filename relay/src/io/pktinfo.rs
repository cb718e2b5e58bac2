//! Which local address a datagram arrived at, and sending a reply from it (`IP_PKTINFO` /
//! `IPV6_PKTINFO`), so a relay on a host with several addresses answers each browser from the address
//! that browser used: ICE drops answers from any other.
//!
//! Why one wildcard socket with packet info rather than one socket per address: a socket per address
//! cannot bind an announced address that is not local (1:1 NAT in clouds), has to follow addresses that
//! come and go, and multiplies the receives each backend keeps armed. With packet info the kernel names
//! the local address of every datagram, on any number of addresses, through the one receive the
//! backends already have.
//!
//! A dual-stack socket (`[::]`, `IPV6_V6ONLY` off) reports IPv4 datagrams as v4-mapped addresses in
//! `IPV6_PKTINFO`, and Linux accepts a v4-mapped `IPV6_PKTINFO` source when sending to a v4-mapped
//! destination; addresses are made canonical (plain IPv4) before the engine sees them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use super::sys::{read_sockaddr, write_sockaddr};
use crate::engine::{Path, Transmit};

/// Room for one packet-info control message of either family, aligned for `cmsghdr`.
pub const CONTROL_LEN: usize = 64;
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct ControlBuf(pub [u8; CONTROL_LEN]);

impl Default for ControlBuf {
    fn default() -> Self {
        ControlBuf([0; CONTROL_LEN])
    }
}

/// Asks the kernel to report each datagram's local address (`v6`: the socket is AF_INET6).
pub fn enable(socket: &impl AsRawFd, v6: bool) -> io::Result<()> {
    let (level, name) =
        if v6 { (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO) } else { (libc::IPPROTO_IP, libc::IP_PKTINFO) };
    let one: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value of the right size.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The local address named by the packet-info message in `control` (the control data the kernel wrote).
pub fn local_ip(control: &[u8]) -> Option<IpAddr> {
    // SAFETY: a msghdr that only describes `control`; the CMSG macros read within msg_controllen.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_control = control.as_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.len() as _;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let header = libc::CMSG_LEN(0) as usize;
            // Trust neither length alone: the header's claim and what the buffer holds.
            let held = control.len().saturating_sub(data as usize - control.as_ptr() as usize);
            let payload = (c.cmsg_len as usize).saturating_sub(header).min(held);
            if c.cmsg_level == libc::IPPROTO_IP
                && c.cmsg_type == libc::IP_PKTINFO
                && payload >= std::mem::size_of::<libc::in_pktinfo>()
            {
                let info = std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                return Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))));
            }
            if c.cmsg_level == libc::IPPROTO_IPV6
                && c.cmsg_type == libc::IPV6_PKTINFO
                && payload >= std::mem::size_of::<libc::in6_pktinfo>()
            {
                let info = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                return Some(Ipv6Addr::from(info.ipi6_addr.s6_addr).to_canonical());
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    None
}

/// Writes a packet-info message that makes a datagram leave from `local` into `buf`; returns the
/// control length to pass, 0 (no control data) when `local` is unspecified or of a family the socket
/// cannot send from.
pub fn write_source(buf: &mut ControlBuf, local: IpAddr, socket_v6: bool) -> usize {
    if local.is_unspecified() {
        return 0;
    }
    // SAFETY: the buffer is aligned for cmsghdr and CONTROL_LEN exceeds CMSG_SPACE of either struct.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_control = buf.0.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = CONTROL_LEN as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        match (local, socket_v6) {
            (IpAddr::V4(ip), false) => {
                (*cmsg).cmsg_level = libc::IPPROTO_IP;
                (*cmsg).cmsg_type = libc::IP_PKTINFO;
                (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as _;
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr { s_addr: u32::from(ip).to_be() },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in_pktinfo, info);
                libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize
            }
            (ip, true) => {
                let v6 = match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
                (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
                (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in6_pktinfo>() as u32) as _;
                let info = libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: v6.octets() }, ipi6_ifindex: 0 };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in6_pktinfo, info);
                libc::CMSG_SPACE(std::mem::size_of::<libc::in6_pktinfo>() as u32) as usize
            }
            (IpAddr::V6(_), false) => 0,
        }
    }
}

/// The path of a datagram received on a UDP socket bound to `port`, from the name and control data
/// the kernel wrote (shared by both backends).
pub fn received_path(name: &[u8], control: &[u8], port: u16) -> Option<Path> {
    let remote = canonical(read_sockaddr(name)?);
    let local = local_ip(control).unwrap_or(match remote {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    Some(Path::udp(SocketAddr::new(local, port), remote))
}

/// Fills the name and control data that send `t` over UDP from its source address; returns their
/// lengths (shared by both backends).
pub fn write_send_header(
    t: &Transmit,
    socket_v6: bool,
    name: &mut libc::sockaddr_storage,
    control: &mut ControlBuf,
) -> (libc::socklen_t, usize) {
    let name_len = write_sockaddr(for_socket(t.destination, socket_v6), name);
    (name_len, write_source(control, t.source.ip(), socket_v6))
}

/// `addr` as the engine sees it: a v4-mapped IPv6 address (from a dual-stack socket) as plain IPv4.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => SocketAddr::new(addr.ip().to_canonical(), a.port()),
        // A link-local IPv6 peer keeps its scope: replies need it.
        other => other,
    }
}

/// `addr` as a socket of the given family takes it: IPv4 as v4-mapped on an AF_INET6 socket.
pub fn for_socket(addr: SocketAddr, socket_v6: bool) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if socket_v6 => SocketAddr::new(IpAddr::V6(a.ip().to_ipv6_mapped()), a.port()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_messages_read_back() {
        for (ip, v6) in [("10.1.2.3", false), ("10.1.2.3", true), ("2001:db8::7", true)] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut buf = ControlBuf::default();
            let len = write_source(&mut buf, ip, v6);
            assert!(len > 0 && len <= CONTROL_LEN);
            // The kernel's receive form differs only in which field it fills; read_back covers the
            // v6 form (same struct) and the v4 form via ipi_addr below.
            if v6 {
                assert_eq!(local_ip(&buf.0[..len]), Some(ip));
            }
        }
        assert_eq!(write_source(&mut ControlBuf::default(), "::1".parse().unwrap(), false), 0);
        assert_eq!(write_source(&mut ControlBuf::default(), "0.0.0.0".parse().unwrap(), false), 0);
        assert_eq!(local_ip(&[]), None);
        assert_eq!(local_ip(&[0xff; 7]), None);
        // A header claiming more than the buffer holds is not read past the buffer.
        let mut bogus = ControlBuf::default();
        bogus.0[..8].copy_from_slice(&1000usize.to_ne_bytes());
        assert_eq!(local_ip(&bogus.0[..16]), None);
        bogus.0[8..12].copy_from_slice(&libc::IPPROTO_IPV6.to_ne_bytes());
        bogus.0[12..16].copy_from_slice(&libc::IPV6_PKTINFO.to_ne_bytes());
        assert_eq!(local_ip(&bogus.0[..20]), None);
    }

    #[test]
    fn addresses_convert_between_families() {
        let v4: SocketAddr = "10.0.0.1:5".parse().unwrap();
        let mapped = for_socket(v4, true);
        assert_eq!(mapped.to_string(), "[::ffff:10.0.0.1]:5");
        assert_eq!(canonical(mapped), v4);
        assert_eq!(for_socket(v4, false), v4);
        let scoped: SocketAddr = "[fe80::1%3]:9".parse().unwrap();
        assert_eq!(canonical(scoped), scoped);
    }
}
