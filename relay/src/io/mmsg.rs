//! The plain-socket backend: `poll` for readiness, `recvmmsg` and `sendmmsg` in batches, each datagram
//! with its packet info (local address, [`super::pktinfo`]); ICE-TCP's epoll set is one more `poll` entry.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use super::core::Driver;
use super::pktinfo::{self, ControlBuf, CONTROL_LEN};
use super::sys::Waker;
use super::tcp::TcpPlane;
use crate::engine::{Engine, Transmit, Transport};

const BATCH: usize = 64;
const DATAGRAM: usize = 2048;

pub(crate) struct MmsgDriver {
    socket: UdpSocket,
    /// The socket is AF_INET6 (IPv4 peers are v4-mapped on it).
    v6: bool,
    port: u16,
    tcp: Option<TcpPlane>,
    waker: Arc<Waker>,
    recv_buffers: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<ControlBuf>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    sending: Vec<Transmit>,
}

// SAFETY: the raw pointers in `iovecs`/`headers` only ever point into this struct's own buffers and are
// rebuilt before each use; the driver moves to its core thread once and stays there.
unsafe impl Send for MmsgDriver {}

impl MmsgDriver {
    pub fn new(socket: UdpSocket, v6: bool, tcp: Option<TcpPlane>, waker: Arc<Waker>) -> io::Result<Self> {
        Ok(MmsgDriver {
            port: socket.local_addr()?.port(),
            socket,
            v6,
            tcp,
            waker,
            controls: vec![ControlBuf::default(); BATCH],
            recv_buffers: vec![0u8; BATCH * DATAGRAM],
            // SAFETY: all-zero is a valid value for these plain C structs.
            names: vec![unsafe { std::mem::zeroed() }; BATCH],
            iovecs: vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH],
            headers: vec![unsafe { std::mem::zeroed() }; BATCH],
            sending: Vec::with_capacity(BATCH),
        })
    }

    fn flush(&mut self, engine: &mut Engine) -> io::Result<()> {
        loop {
            while self.sending.len() < BATCH {
                match engine.poll_transmit() {
                    Some(t) if t.transport == Transport::Tcp => {
                        if let Some(tcp) = &mut self.tcp {
                            tcp.send(&t, engine);
                        }
                        engine.recycle(t.contents);
                    }
                    Some(t) => self.sending.push(t),
                    None => break,
                }
            }
            if self.sending.is_empty() {
                return Ok(());
            }
            let n = self.sending.len();
            for i in 0..n {
                let t = &mut self.sending[i];
                let (len, control_len) =
                    pktinfo::write_send_header(t, self.v6, &mut self.names[i], &mut self.controls[i]);
                self.iovecs[i] = libc::iovec { iov_base: t.contents.as_mut_ptr() as *mut _, iov_len: t.contents.len() };
                let h = &mut self.headers[i].msg_hdr;
                h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
                h.msg_namelen = len;
                h.msg_iov = &mut self.iovecs[i];
                h.msg_iovlen = 1;
                h.msg_control =
                    if control_len > 0 { self.controls[i].0.as_mut_ptr() as *mut _ } else { std::ptr::null_mut() };
                h.msg_controllen = control_len as _;
                h.msg_flags = 0;
            }
            // SAFETY: headers[..n] point at live buffers owned by self for the duration of the call.
            let sent = unsafe { libc::sendmmsg(self.socket.as_raw_fd(), self.headers.as_mut_ptr(), n as u32, 0) };
            let sent = if sent < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.wait_writable()?;
                    continue;
                }
                // A datagram the kernel refuses (e.g. unreachable destination) must not wedge the
                // queue: drop the first one and carry on.
                tracing::debug!(error = %e, "sendmmsg failed; dropping one datagram");
                1
            } else {
                sent as usize
            };
            for t in self.sending.drain(..sent.min(n)) {
                engine.recycle(t.contents);
            }
        }
    }

    fn wait_writable(&self) -> io::Result<()> {
        let mut fds = [libc::pollfd { fd: self.socket.as_raw_fd(), events: libc::POLLOUT, revents: 0 }];
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(fds.as_mut_ptr(), 1, 100) };
        Ok(())
    }

    fn receive(&mut self, engine: &mut Engine) -> io::Result<()> {
        loop {
            for i in 0..BATCH {
                self.iovecs[i] = libc::iovec {
                    iov_base: self.recv_buffers[i * DATAGRAM..].as_mut_ptr() as *mut _,
                    iov_len: DATAGRAM,
                };
                let h = &mut self.headers[i].msg_hdr;
                h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &mut self.iovecs[i];
                h.msg_iovlen = 1;
                h.msg_control = self.controls[i].0.as_mut_ptr() as *mut _;
                h.msg_controllen = CONTROL_LEN as _;
                h.msg_flags = 0;
            }
            // SAFETY: headers point at buffers owned by self; MSG_DONTWAIT keeps it non-blocking.
            let n = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    self.headers.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                    // ICMP errors of a peer that left; they concern no one else.
                    tracing::debug!(error = %e, "recvmmsg error");
                }
                return Ok(());
            }
            let now = Instant::now();
            for i in 0..n as usize {
                let len = self.headers[i].msg_len as usize;
                let name_len = self.headers[i].msg_hdr.msg_namelen as usize;
                // SAFETY: the kernel wrote name_len bytes of address into names[i].
                let name = unsafe { std::slice::from_raw_parts(&self.names[i] as *const _ as *const u8, name_len) };
                let control_len = self.headers[i].msg_hdr.msg_controllen.min(CONTROL_LEN);
                let Some(path) = pktinfo::received_path(name, &self.controls[i].0[..control_len], self.port) else {
                    continue;
                };
                let truncated = self.headers[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                if truncated {
                    engine.counters.drop_truncated += 1;
                    continue;
                }
                engine.handle_receive(now, path, &mut self.recv_buffers[i * DATAGRAM..i * DATAGRAM + len]);
            }
            if (n as usize) < BATCH {
                return Ok(());
            }
        }
    }
}

impl Driver for MmsgDriver {
    fn run_once(&mut self, engine: &mut Engine, deadline: Instant) -> io::Result<()> {
        self.flush(engine)?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let timeout_ms =
            timeout.as_millis().min(i32::MAX as u128) as i32 + i32::from(!timeout.subsec_micros().is_multiple_of(1000));
        let mut fds = [
            libc::pollfd { fd: self.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.waker.raw_fd(), events: libc::POLLIN, revents: 0 },
            // A negative fd is ignored by poll: no ICE-TCP.
            libc::pollfd { fd: self.tcp.as_ref().map_or(-1, |t| t.fd()), events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: three valid pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 3, timeout_ms) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
        }
        if fds[1].revents != 0 {
            self.waker.reset();
        }
        if fds[0].revents != 0 {
            self.receive(engine)?;
        }
        if let Some(tcp) = &mut self.tcp {
            let now = Instant::now();
            if fds[2].revents != 0 {
                tcp.handle_ready(engine, now);
            }
            tcp.tick(engine, now);
        }
        Ok(())
    }
}
