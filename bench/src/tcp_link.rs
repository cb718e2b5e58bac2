//! A simulated peer's ICE-TCP connection (`--tcp`): RFC 4571 framing (a 2-byte length before each
//! datagram) over a non-blocking mio stream, so the same peer logic runs over TCP and the TCP path's
//! cost per forwarded packet can be set beside UDP's.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;

/// Queued output beyond this is dropped (a peer that cannot keep up loses media, as over UDP).
const OUT_LIMIT: usize = 1 << 20;

pub struct TcpLink {
    pub stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl TcpLink {
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(TcpLink { stream, input: Vec::with_capacity(8192), output: Vec::new() })
    }

    /// Frames `datagram` and writes what the socket takes; false if it was dropped.
    pub fn send(&mut self, datagram: &[u8]) -> bool {
        if self.output.len() + datagram.len() + 2 > OUT_LIMIT {
            return false;
        }
        self.output.extend_from_slice(&(datagram.len() as u16).to_be_bytes());
        self.output.extend_from_slice(datagram);
        self.flush().is_ok()
    }

    /// Writes queued output until the socket would block (before the connection is up, nothing goes).
    pub fn flush(&mut self) -> io::Result<()> {
        let mut sent = 0;
        while sent < self.output.len() {
            match self.stream.write(&self.output[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::NotConnected => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.output.drain(..sent);
        Ok(())
    }

    /// Reads everything the socket has (mio is edge-triggered) and returns the complete frames, each
    /// copied to `frames` with its end offsets in `ends`.
    pub fn receive(&mut self, frames: &mut Vec<u8>, ends: &mut Vec<usize>) -> io::Result<()> {
        let mut chunk = [0u8; 16384];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut at = 0;
        while self.input.len() - at >= 2 {
            let len = u16::from_be_bytes([self.input[at], self.input[at + 1]]) as usize;
            if self.input.len() - at < 2 + len {
                break;
            }
            frames.extend_from_slice(&self.input[at + 2..at + 2 + len]);
            ends.push(frames.len());
            at += 2 + len;
        }
        self.input.drain(..at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_over_a_real_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut link = TcpLink::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(&[0, 2, 7, 8, 0, 1]).unwrap();
        server.write_all(&[9]).unwrap();
        let (mut frames, mut ends) = (Vec::new(), Vec::new());
        for _ in 0..50 {
            link.receive(&mut frames, &mut ends).unwrap();
            if ends.len() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!((frames, ends), (vec![7, 8, 9], vec![2, 3]));
        assert!(link.send(&[1, 2, 3]));
        let mut got = [0u8; 5];
        server.read_exact(&mut got).unwrap();
        assert_eq!(got, [0, 3, 1, 2, 3]);
    }
}
