//! Where a datagram travels: the transport and both ends (the ICE 5-tuple). The engine routes DTLS and
//! SRTP by it and sends each peer's packets on the path ICE selected, so replies leave from the local
//! address the peer reached (a host with several addresses) and on the transport it used (UDP, or a
//! TCP connection of RFC 6544 whose framing the IO layer handles).

use std::fmt;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    /// ICE-TCP (RFC 6544): the IO layer frames each datagram with RFC 4571's 2-byte length.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// One path between the relay and a browser. Addresses are canonical: an IPv4 peer reached through a
/// dual-stack socket is an IPv4 address here, never a v4-mapped IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Path {
    pub transport: Transport,
    /// The relay's address the peer's packets arrived at; the unspecified address when the IO layer
    /// could not tell (the kernel then picks the source of replies).
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl Path {
    pub fn udp(local: SocketAddr, remote: SocketAddr) -> Self {
        Path { transport: Transport::Udp, local, remote }
    }

    pub fn tcp(local: SocketAddr, remote: SocketAddr) -> Self {
        Path { transport: Transport::Tcp, local, remote }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.transport, self.remote, self.local)
    }
}
