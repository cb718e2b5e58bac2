//! The media socket and the choice of IO backend: io_uring where the kernel allows it, plain
//! `recvmmsg`/`sendmmsg` otherwise (containers often forbid io_uring by seccomp). Each core binds one
//! UDP socket (dual-stack on the unspecified address) and an ICE-TCP listener on the same port.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

pub use meet_common::config::IoBackend;

/// A core's media sockets: UDP, and the ICE-TCP listener on the same port number.
pub struct MediaSockets {
    pub udp: UdpSocket,
    /// The UDP socket is AF_INET6 (dual-stack when bound to the unspecified address).
    pub v6: bool,
    pub tcp: Option<TcpListener>,
}

impl MediaSockets {
    pub fn port(&self) -> io::Result<u16> {
        Ok(self.udp.local_addr()?.port())
    }
}

/// Tries to bind an ephemeral port also free for TCP this many times before giving up.
const EPHEMERAL_TRIES: usize = 16;

/// Binds a core's sockets at `addr`. An unspecified IP (`0.0.0.0` or `::`) means every address of both
/// families: one dual-stack `[::]` socket (IPv4 arrives v4-mapped), or `0.0.0.0` on a host without
/// IPv6. With `tcp`, a listener on the same port too (port 0: the first ephemeral port free for both).
pub fn bind_media(addr: SocketAddr, tcp: bool) -> io::Result<MediaSockets> {
    let addr =
        if addr.ip().is_unspecified() { SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), addr.port()) } else { addr };
    match bind_media_at(addr, tcp) {
        Err(e) if addr.ip() == Ipv6Addr::UNSPECIFIED && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
            tracing::warn!("no IPv6 on this host: media sockets are IPv4 only");
            bind_media_at(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port()), tcp)
        }
        other => other,
    }
}

fn bind_media_at(addr: SocketAddr, tcp: bool) -> io::Result<MediaSockets> {
    let mut tries = if addr.port() == 0 { EPHEMERAL_TRIES } else { 1 };
    loop {
        let udp = bind_media_socket(addr)?;
        let port = udp.local_addr()?.port();
        let v6 = addr.is_ipv6();
        if !tcp {
            return Ok(MediaSockets { udp, v6, tcp: None });
        }
        match bind_tcp_listener(SocketAddr::new(addr.ip(), port)) {
            Ok(listener) => return Ok(MediaSockets { udp, v6, tcp: Some(listener) }),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries > 1 => tries -= 1,
            Err(e) => return Err(io::Error::new(e.kind(), format!("ICE-TCP port {port}: {e}"))),
        }
    }
}

/// Binds a non-blocking UDP socket with large kernel buffers (bursts of a keyframe fan-out) that reports
/// each datagram's local address ([`super::pktinfo`]).
pub fn bind_media_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(8 << 20);
    let _ = socket.set_send_buffer_size(8 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    super::pktinfo::enable(&socket, addr.is_ipv6())?;
    Ok(socket.into())
}

/// The ICE-TCP listener (RFC 6544 passive candidates), non-blocking.
fn bind_tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
