//! The media socket and the choice of IO backend: io_uring where the kernel allows it, plain
//! `recvmmsg`/`sendmmsg` otherwise (containers often forbid io_uring by seccomp).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::str::FromStr;

use socket2::{Domain, Protocol, Socket, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoBackend {
    /// io_uring when the probe passes, else mmsg.
    #[default]
    Auto,
    Uring,
    Mmsg,
}

impl FromStr for IoBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(IoBackend::Auto),
            "uring" | "io_uring" => Ok(IoBackend::Uring),
            "mmsg" => Ok(IoBackend::Mmsg),
            other => Err(format!("unknown IO backend {other:?} (auto, uring or mmsg)")),
        }
    }
}

impl std::fmt::Display for IoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoBackend::Auto => "auto",
            IoBackend::Uring => "uring",
            IoBackend::Mmsg => "mmsg",
        })
    }
}

/// Binds a non-blocking UDP socket with large kernel buffers (bursts of a keyframe fan-out).
pub fn bind_media_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(8 << 20);
    let _ = socket.set_send_buffer_size(8 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
