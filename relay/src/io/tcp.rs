//! ICE over TCP (RFC 6544, passive candidates): the listener on each core's media port, its
//! connections, and RFC 4571 framing (a 2-byte length before each datagram). The engine behind it is the
//! same as for UDP: each complete frame is handed to it as a datagram on a [`Transport::Tcp`] path, and
//! its transmits on such paths are framed onto the connection they name.
//!
//! Everything here is non-blocking std sockets in one epoll set, so a backend waits on a single extra
//! fd (mmsg: one more `poll` entry; io_uring: one `PollAdd` on the epoll fd) and the UDP path is not
//! touched. TCP is the fallback path of browsers whose UDP is blocked, not the hot path.
//!
//! Defences, each dropped connection counted: at most `max_connections` per core (more are accepted
//! and closed at once); a zero-length or oversized frame closes the connection (there is no resyncing a
//! stream); a connection on which no ICE check has passed (the engine has sent nothing on it) within
//! [`UNVERIFIED_TIMEOUT`] is closed, and so is one that leaves a frame half-sent for [`STALL_TIMEOUT`]
//! or is silent for [`IDLE_TIMEOUT`] (longer than ICE consent). A peer's output that its connection
//! does not drain beyond [`OUT_LIMIT`] is dropped whole datagrams at a time, never half a frame.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use slab::Slab;

use super::pktinfo::canonical;
use crate::engine::{Engine, Path, Transmit};

/// Largest frame accepted: a datagram as large as the UDP receive buffers take.
pub const MAX_FRAME: usize = 2048;
/// A connection must pass an ICE check within this.
pub const UNVERIFIED_TIMEOUT: Duration = Duration::from_secs(5);
/// A frame begun must be complete within this.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// No byte received for this long (browsers send consent checks every few seconds).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(40);
/// Bytes queued per connection (beyond the kernel's send buffer) before datagrams to it are dropped:
/// about 0.4 s of 2.5 Mbit/s video. Media queued longer is worth less than the memory it holds.
pub const OUT_LIMIT: usize = 128 * 1024;
/// An emptied output buffer keeps at most this much capacity (a burst does not pin its peak).
const OUT_KEPT: usize = 16 * 1024;
/// How often timeouts are checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);
const LISTENER: u64 = u64::MAX;
const EVENTS: usize = 64;

struct Conn {
    stream: TcpStream,
    path: Path,
    /// Received bytes not yet a complete frame (the 2-byte length included).
    input: Box<[u8; 2 + MAX_FRAME]>,
    input_len: usize,
    output: Vec<u8>,
    output_sent: usize,
    accepted: Instant,
    last_input: Instant,
    /// When the first byte of the frame still incomplete arrived.
    partial_since: Option<Instant>,
    /// The engine sent on it: an ICE check from it passed.
    verified: bool,
    writable_wanted: bool,
}

pub(crate) struct TcpPlane {
    epoll: OwnedFd,
    listener: TcpListener,
    conns: Slab<Conn>,
    by_path: HashMap<(SocketAddr, SocketAddr), usize>,
    max_connections: usize,
    events: Vec<libc::epoll_event>,
    next_sweep: Instant,
}

/// Why a connection is closed (each has its counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    Eof,
    BadFrame,
    Oversized,
    Slow,
    Idle,
}

impl TcpPlane {
    pub fn new(listener: TcpListener, max_connections: usize) -> io::Result<Self> {
        // SAFETY: plain syscall; the fd is checked and then owned.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        listener.set_nonblocking(true)?;
        let plane = TcpPlane {
            epoll,
            listener,
            conns: Slab::new(),
            by_path: HashMap::new(),
            max_connections,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS],
            next_sweep: Instant::now() + SWEEP_INTERVAL,
        };
        plane.control(libc::EPOLL_CTL_ADD, plane.listener.as_raw_fd(), libc::EPOLLIN as u32, LISTENER)?;
        Ok(plane)
    }

    /// The fd a backend waits on: readable when any TCP socket has something to do.
    pub fn fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    #[cfg(test)]
    fn connections(&self) -> usize {
        self.conns.len()
    }

    fn control(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: valid fds and event struct.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Handles whatever is ready: new connections, received frames (to the engine), drained output.
    /// Never blocks.
    pub fn handle_ready(&mut self, engine: &mut Engine, now: Instant) {
        loop {
            // SAFETY: the events buffer holds EVENTS entries; timeout 0 never blocks.
            let n =
                unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), self.events.as_mut_ptr(), EVENTS as libc::c_int, 0) };
            if n <= 0 {
                break;
            }
            for i in 0..n as usize {
                let libc::epoll_event { events, u64: token } = self.events[i];
                if token == LISTENER {
                    self.accept(engine, now);
                    continue;
                }
                let key = token as usize;
                if !self.conns.contains(key) {
                    continue;
                }
                let mut result = Ok(());
                if events & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                    result = self.read(key, engine, now);
                }
                if result.is_ok() && events & libc::EPOLLOUT as u32 != 0 {
                    result = self.flush(key);
                }
                if let Err(reason) = result {
                    self.close(key, reason, engine);
                }
            }
            if (n as usize) < EVENTS {
                break;
            }
        }
    }

    /// Closes connections past their timeouts; cheap unless a sweep is due.
    pub fn tick(&mut self, engine: &mut Engine, now: Instant) {
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_INTERVAL;
            self.sweep(engine, now);
        }
    }

    fn accept(&mut self, engine: &mut Engine, now: Instant) {
        loop {
            let (stream, remote) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // EMFILE and the like: leave the rest in the backlog until the next wake-up.
                    tracing::debug!(error = %e, "ICE-TCP accept failed");
                    return;
                }
            };
            if self.conns.len() >= self.max_connections {
                engine.counters.tcp_refused += 1;
                continue;
            }
            let Ok(local) = stream.local_addr() else { continue };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream.set_nodelay(true);
            let path = Path::tcp(canonical(local), canonical(remote));
            let key = self.conns.vacant_key();
            if self.control(libc::EPOLL_CTL_ADD, stream.as_raw_fd(), libc::EPOLLIN as u32, key as u64).is_err() {
                continue;
            }
            self.conns.insert(Conn {
                stream,
                path,
                input: Box::new([0; 2 + MAX_FRAME]),
                input_len: 0,
                output: Vec::new(),
                output_sent: 0,
                accepted: now,
                last_input: now,
                partial_since: None,
                verified: false,
                writable_wanted: false,
            });
            self.by_path.insert((path.local, path.remote), key);
            engine.counters.tcp_accepted += 1;
            tracing::debug!(%path, "ICE-TCP connection");
        }
    }

    /// Reads what the socket has and hands each complete frame to the engine.
    fn read(&mut self, key: usize, engine: &mut Engine, now: Instant) -> Result<(), Close> {
        loop {
            let conn = &mut self.conns[key];
            let n = match conn.stream.read(&mut conn.input[conn.input_len..]) {
                Ok(0) => return Err(Close::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Close::Eof),
            };
            conn.input_len += n;
            conn.last_input = now;
            let mut start = 0;
            while conn.input_len - start >= 2 {
                let len = u16::from_be_bytes([conn.input[start], conn.input[start + 1]]) as usize;
                if len == 0 {
                    return Err(Close::BadFrame);
                }
                if len > MAX_FRAME {
                    return Err(Close::Oversized);
                }
                if conn.input_len - start < 2 + len {
                    break;
                }
                engine.counters.tcp_frames_in += 1;
                engine.handle_receive(now, conn.path, &mut conn.input[start + 2..start + 2 + len]);
                start += 2 + len;
            }
            conn.input.copy_within(start..conn.input_len, 0);
            conn.input_len -= start;
            conn.partial_since = match (conn.input_len, start) {
                (0, _) => None,
                // A frame completed in this read: the rest is a new one, begun now.
                (_, s) if s > 0 => Some(now),
                (_, _) => conn.partial_since.or(Some(now)),
            };
        }
    }

    /// Frames `t` onto its connection. A transmit whose connection is gone, or whose connection has too
    /// much queued, is dropped and counted.
    pub fn send(&mut self, t: &Transmit, engine: &mut Engine) {
        let Some(&key) = self.by_path.get(&(t.source, t.destination)) else {
            engine.counters.tcp_send_dropped += 1;
            return;
        };
        let conn = &mut self.conns[key];
        if t.contents.len() > u16::MAX as usize || conn.output.len() - conn.output_sent + t.contents.len() > OUT_LIMIT {
            engine.counters.tcp_send_dropped += 1;
            return;
        }
        conn.verified = true;
        conn.output.extend_from_slice(&(t.contents.len() as u16).to_be_bytes());
        conn.output.extend_from_slice(&t.contents);
        if let Err(reason) = self.flush(key) {
            self.close(key, reason, engine);
        }
    }

    /// Writes queued output; asks for writability while some is left.
    fn flush(&mut self, key: usize) -> Result<(), Close> {
        let conn = &mut self.conns[key];
        while conn.output_sent < conn.output.len() {
            match conn.stream.write(&conn.output[conn.output_sent..]) {
                Ok(0) => return Err(Close::Eof),
                Ok(n) => conn.output_sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Close::Eof),
            }
        }
        if conn.output_sent == conn.output.len() {
            conn.output.clear();
            conn.output.shrink_to(OUT_KEPT);
            conn.output_sent = 0;
        } else if conn.output_sent > OUT_LIMIT / 2 {
            conn.output.drain(..conn.output_sent);
            conn.output_sent = 0;
        }
        let want = !conn.output.is_empty();
        if want != conn.writable_wanted {
            conn.writable_wanted = want;
            let events = (libc::EPOLLIN | if want { libc::EPOLLOUT } else { 0 }) as u32;
            let fd = conn.stream.as_raw_fd();
            let _ = self.control(libc::EPOLL_CTL_MOD, fd, events, key as u64);
        }
        Ok(())
    }

    fn sweep(&mut self, engine: &mut Engine, now: Instant) {
        let mut expired = Vec::new();
        for (key, conn) in &self.conns {
            let slow = (!conn.verified && now.saturating_duration_since(conn.accepted) >= UNVERIFIED_TIMEOUT)
                || conn.partial_since.is_some_and(|t| now.saturating_duration_since(t) >= STALL_TIMEOUT);
            if slow {
                expired.push((key, Close::Slow));
            } else if now.saturating_duration_since(conn.last_input) >= IDLE_TIMEOUT {
                expired.push((key, Close::Idle));
            }
        }
        for (key, reason) in expired {
            self.close(key, reason, engine);
        }
    }

    fn close(&mut self, key: usize, reason: Close, engine: &mut Engine) {
        let conn = self.conns.remove(key);
        self.by_path.remove(&(conn.path.local, conn.path.remote));
        let c = &mut engine.counters;
        match reason {
            Close::Eof => c.tcp_closed += 1,
            Close::BadFrame => c.tcp_drop_bad_frame += 1,
            Close::Oversized => c.tcp_drop_oversized += 1,
            Close::Slow => c.tcp_drop_slow += 1,
            Close::Idle => c.tcp_drop_idle += 1,
        }
        tracing::debug!(path = %conn.path, ?reason, "ICE-TCP connection closed");
        // Dropping the stream closes it, which also takes it out of the epoll set.
    }

    #[cfg(test)]
    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::engine::{Certificate, EngineConfig, Transport};
    use rand::SeedableRng;

    fn plane(max: usize) -> (TcpPlane, Engine, Instant) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let now = Instant::now();
        let certificate = Certificate::generate(&mut rand::rng()).unwrap();
        let engine =
            Engine::new(EngineConfig::new(vec![]), certificate, Box::new(rand::rngs::StdRng::seed_from_u64(1)), now);
        (TcpPlane::new(listener, max).unwrap(), engine, now)
    }

    fn pump(p: &mut TcpPlane, e: &mut Engine, now: Instant) {
        for _ in 0..20 {
            p.handle_ready(e, now);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn frames_split_anywhere_reach_the_engine_whole() {
        let (mut p, mut e, now) = plane(4);
        let mut c = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        // Three frames of unknown kind (first byte 0xff), written a byte at a time across reads.
        let mut bytes = Vec::new();
        for len in [1usize, 300, MAX_FRAME] {
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
            bytes.extend(std::iter::repeat_n(0xff, len));
        }
        for chunk in bytes.chunks(700) {
            c.write_all(chunk).unwrap();
            pump(&mut p, &mut e, now);
        }
        assert_eq!(e.counters.tcp_frames_in, 3);
        assert_eq!(e.counters.drop_unknown_kind, 3);
        assert_eq!(p.connections(), 1);
    }

    #[test]
    fn bad_and_oversized_frames_close_the_connection() {
        let (mut p, mut e, now) = plane(4);
        let mut zero = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        let mut big = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        zero.write_all(&[0, 0, 1, 2]).unwrap();
        big.write_all(&((MAX_FRAME + 1) as u16).to_be_bytes()).unwrap();
        pump(&mut p, &mut e, now);
        assert_eq!((e.counters.tcp_drop_bad_frame, e.counters.tcp_drop_oversized), (1, 1));
        assert_eq!(p.connections(), 0);
        // The peer sees the connection closed.
        zero.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(zero.read(&mut [0; 4]).unwrap_or(0), 0);
    }

    #[test]
    fn connections_over_the_cap_are_refused() {
        let (mut p, mut e, now) = plane(2);
        let _c: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(("127.0.0.1", p.port())).unwrap()).collect();
        pump(&mut p, &mut e, now);
        assert_eq!(p.connections(), 2);
        assert_eq!((e.counters.tcp_accepted, e.counters.tcp_refused), (2, 2));
    }

    #[test]
    fn slow_and_silent_connections_are_dropped() {
        let (mut p, mut e, now) = plane(8);
        // Never passes a check: dropped after UNVERIFIED_TIMEOUT.
        let _unverified = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        // Verified (the engine answered on it), then drips half a frame.
        let mut drip = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        pump(&mut p, &mut e, now);
        let drip_path = p
            .conns
            .iter()
            .map(|(_, c)| c.path)
            .find(|path| path.remote == canonical(drip.local_addr().unwrap()))
            .unwrap();
        assert_eq!(drip_path.transport, Transport::Tcp);
        let t = Transmit {
            transport: Transport::Tcp,
            source: drip_path.local,
            destination: drip_path.remote,
            contents: vec![1, 2, 3],
        };
        p.send(&t, &mut e);
        let mut got = [0u8; 5];
        drip.read_exact(&mut got).unwrap();
        assert_eq!(got, [0, 3, 1, 2, 3], "framed with its length");
        drip.write_all(&[0, 100, 1]).unwrap();
        pump(&mut p, &mut e, now);
        p.tick(&mut e, now + UNVERIFIED_TIMEOUT + SWEEP_INTERVAL);
        assert_eq!((p.connections(), e.counters.tcp_drop_slow), (1, 1), "the unverified one went");
        p.tick(&mut e, now + STALL_TIMEOUT + SWEEP_INTERVAL * 2);
        assert_eq!((p.connections(), e.counters.tcp_drop_slow), (0, 2), "then the stalled one");
        // Sending to a connection that is gone is counted, not an error.
        p.send(&t, &mut e);
        assert_eq!(e.counters.tcp_send_dropped, 1);
    }
}
