//! For tests that start a relay on a chosen port.

/// A port number free for both UDP and TCP on every address: the relay binds its media socket and, on
/// the same number, its ICE-TCP listener. Ephemeral UDP and TCP ports come from one range, so a port
/// the kernel just gave out for UDP may be some connection's TCP port at that moment.
pub fn free_media_port() -> u16 {
    for _ in 0..100 {
        let udp = std::net::UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
        let port = udp.local_addr().expect("its address").port();
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP in 100 tries");
}

pub mod postgres;
