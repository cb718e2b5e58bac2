//! The engine's scenario client (`relay-engine/tests/common`: real ICE, DTLS and SRTP) over a real UDP
//! socket, for tests of the relay's IO layer and binary. A test crate using it declares `mod common`
//! (that file, by path) beside `mod udp_client`.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::common::Client;

pub struct UdpClient {
    pub client: Client,
    pub socket: UdpSocket,
    pub relay: SocketAddr,
}

impl UdpClient {
    /// Sends what the client queued and reads what arrived within `wait`.
    pub fn pump(&mut self, wait: Duration) {
        self.client.drain_dtls(Instant::now());
        while let Some(d) = self.client.outbox.pop_front() {
            self.socket.send_to(&d, self.relay).unwrap();
        }
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            self.client.receive(&mut buf[..n]);
            self.socket.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        }
    }
}
