//! The io_uring backend: one multishot `RecvMsgMulti` into a ring of provided buffers, and the whole
//! fan-out of a batch of packets submitted as `SendMsg` entries in the same `io_uring_enter` call that
//! waits for the next completion.
//!
//! Each received datagram carries its packet info (local address, [`super::pktinfo`]) in the control
//! part of its provided buffer, and each send names its source the same way. ICE-TCP's epoll set is
//! watched with one `PollAdd`, re-armed after each completion.
//!
//! Memory the kernel writes into or reads from (buffer ring, receive buffers, send slots) is allocated
//! once when the driver is built and never moves, so no completion can outlive its memory.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Instant;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::core::Driver;
use super::pktinfo::{self, ControlBuf, CONTROL_LEN};
use super::sys::Waker;
use super::tcp::TcpPlane;
use crate::engine::{Engine, Transmit, Transport};

const RING_ENTRIES: u32 = 1024;
/// Provided receive buffers (a power of two), and the size of each.
const RECV_BUFFERS: u16 = 2048;
const RECV_BUFFER_SIZE: usize = 2048;
const BUFFER_GROUP: u16 = 0;
/// Sends in flight at once.
const SEND_SLOTS: usize = 1024;

const TAG_RECV: u64 = 1 << 62;
const TAG_WAKE: u64 = 2 << 62;
/// The ICE-TCP epoll fd's poll shares the waker's tag, told apart by its low bit.
const TAG_TCP: u64 = TAG_WAKE | 1;
const TAG_SEND: u64 = 3 << 62;
const TAG_MASK: u64 = 3 << 62;

/// One in-flight send: the datagram and the kernel-facing headers that point at it.
struct SendSlot {
    transmit: Option<Transmit>,
    name: libc::sockaddr_storage,
    control: ControlBuf,
    iov: libc::iovec,
    msg: libc::msghdr,
}

pub(crate) struct UringDriver {
    ring: IoUring,
    socket: UdpSocket,
    /// The socket is AF_INET6 (IPv4 peers are v4-mapped on it).
    v6: bool,
    port: u16,
    tcp: Option<TcpPlane>,
    tcp_armed: bool,
    tcp_ready: bool,
    waker: Arc<Waker>,
    /// The provided-buffer ring shared with the kernel (`RECV_BUFFERS` entries, page aligned).
    buf_ring: *mut types::BufRingEntry,
    buf_ring_layout: Layout,
    /// Our producer index into the buffer ring.
    buf_tail: u16,
    recv_buffers: Vec<u8>,
    /// The template the multishot receive reads its name and control lengths from.
    recv_msg: Box<libc::msghdr>,
    recv_armed: bool,
    wake_value: Box<u64>,
    wake_armed: bool,
    slots: Vec<SendSlot>,
    free_slots: Vec<usize>,
    in_flight: usize,
}

// SAFETY: the raw pointers refer to memory owned by the driver; it moves to its core thread once and
// is used only there.
unsafe impl Send for UringDriver {}

impl UringDriver {
    /// Builds the ring and registers the receive buffers; fails (so the caller can fall back to mmsg)
    /// when the kernel or a seccomp filter refuses any of it.
    pub fn new(socket: UdpSocket, v6: bool, tcp: Option<TcpPlane>, waker: Arc<Waker>) -> io::Result<Self> {
        let ring = IoUring::builder().setup_single_issuer().setup_coop_taskrun().build(RING_ENTRIES)?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [
            (opcode::RecvMsgMulti::CODE, "recvmsg"),
            (opcode::SendMsg::CODE, "sendmsg"),
            (opcode::Read::CODE, "read"),
            (opcode::PollAdd::CODE, "poll"),
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(io::ErrorKind::Unsupported, format!("io_uring lacks {name}")));
            }
        }
        let buf_ring_layout =
            Layout::from_size_align(RECV_BUFFERS as usize * std::mem::size_of::<types::BufRingEntry>(), 4096)
                .map_err(io::Error::other)?;
        // SAFETY: non-zero size; freed in Drop with the same layout.
        let buf_ring = unsafe { alloc_zeroed(buf_ring_layout) } as *mut types::BufRingEntry;
        if buf_ring.is_null() {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "buffer ring"));
        }
        let mut driver = UringDriver {
            ring,
            port: socket.local_addr()?.port(),
            socket,
            v6,
            tcp,
            tcp_armed: false,
            tcp_ready: false,
            waker,
            buf_ring,
            buf_ring_layout,
            buf_tail: 0,
            recv_buffers: vec![0u8; RECV_BUFFERS as usize * RECV_BUFFER_SIZE],
            // SAFETY: all-zero is a valid msghdr.
            recv_msg: Box::new(unsafe { std::mem::zeroed() }),
            recv_armed: false,
            wake_value: Box::new(0),
            wake_armed: false,
            slots: (0..SEND_SLOTS)
                .map(|_| SendSlot {
                    transmit: None,
                    // SAFETY: all-zero is valid for these C structs.
                    name: unsafe { std::mem::zeroed() },
                    control: ControlBuf::default(),
                    iov: libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 },
                    msg: unsafe { std::mem::zeroed() },
                })
                .collect(),
            free_slots: (0..SEND_SLOTS).rev().collect(),
            in_flight: 0,
        };
        driver.recv_msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // Only the length matters to a multishot receive: the kernel puts the control data in each buffer.
        driver.recv_msg.msg_controllen = CONTROL_LEN as _;
        // SAFETY: the ring memory lives until Drop, which unregisters nothing explicitly but drops the
        // io_uring first (field order is irrelevant: Drop below frees the ring memory after `ring` is
        // closed by dropping it explicitly).
        unsafe {
            driver.ring.submitter().register_buf_ring_with_flags(buf_ring as u64, RECV_BUFFERS, BUFFER_GROUP, 0)?;
        }
        for bid in 0..RECV_BUFFERS {
            driver.provide(bid);
        }
        driver.publish_buffers();
        Ok(driver)
    }

    /// Puts receive buffer `bid` back in the ring (visible to the kernel after [`Self::publish_buffers`]).
    fn provide(&mut self, bid: u16) {
        let mask = RECV_BUFFERS - 1;
        // SAFETY: index within the ring allocation.
        let entry = unsafe { &mut *self.buf_ring.add((self.buf_tail & mask) as usize) };
        let offset = bid as usize * RECV_BUFFER_SIZE;
        entry.set_addr(self.recv_buffers[offset..].as_mut_ptr() as u64);
        entry.set_len(RECV_BUFFER_SIZE as u32);
        entry.set_bid(bid);
        self.buf_tail = self.buf_tail.wrapping_add(1);
    }

    fn publish_buffers(&self) {
        // SAFETY: the tail field of the first entry, shared with the kernel; written with release
        // ordering so the entries are visible before the new tail.
        unsafe {
            let tail = types::BufRingEntry::tail(self.buf_ring) as *const AtomicU16;
            (*tail).store(self.buf_tail, Ordering::Release);
        }
    }

    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: every entry pushed references memory owned by self that outlives its completion.
        while unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.ring.submit()?;
        }
        Ok(())
    }

    fn arm(&mut self) -> io::Result<()> {
        if !self.recv_armed {
            let e = opcode::RecvMsgMulti::new(types::Fd(self.socket.as_raw_fd()), &*self.recv_msg, BUFFER_GROUP)
                .build()
                .user_data(TAG_RECV);
            self.push(e)?;
            self.recv_armed = true;
        }
        if !self.wake_armed {
            let e = opcode::Read::new(types::Fd(self.waker.raw_fd()), &mut *self.wake_value as *mut u64 as *mut u8, 8)
                .build()
                .user_data(TAG_WAKE);
            self.push(e)?;
            self.wake_armed = true;
        }
        if let (Some(tcp), false) = (&self.tcp, self.tcp_armed) {
            let e = opcode::PollAdd::new(types::Fd(tcp.fd()), libc::POLLIN as u32).build().user_data(TAG_TCP);
            self.push(e)?;
            self.tcp_armed = true;
        }
        Ok(())
    }

    fn queue_sends(&mut self, engine: &mut Engine) -> io::Result<()> {
        while let Some(slot_index) = self.free_slots.last().copied() {
            let Some(transmit) = engine.poll_transmit() else {
                break;
            };
            if transmit.transport == Transport::Tcp {
                if let Some(tcp) = &mut self.tcp {
                    tcp.send(&transmit, engine);
                }
                engine.recycle(transmit.contents);
                continue;
            }
            self.free_slots.pop();
            let slot = &mut self.slots[slot_index];
            let (name_len, control_len) =
                pktinfo::write_send_header(&transmit, self.v6, &mut slot.name, &mut slot.control);
            slot.transmit = Some(transmit);
            let contents = &mut slot.transmit.as_mut().expect("just set").contents;
            slot.iov = libc::iovec { iov_base: contents.as_mut_ptr() as *mut _, iov_len: contents.len() };
            slot.msg.msg_name = &mut slot.name as *mut _ as *mut libc::c_void;
            slot.msg.msg_namelen = name_len;
            slot.msg.msg_iov = &mut slot.iov;
            slot.msg.msg_iovlen = 1;
            slot.msg.msg_control =
                if control_len > 0 { slot.control.0.as_mut_ptr() as *mut libc::c_void } else { std::ptr::null_mut() };
            slot.msg.msg_controllen = control_len as _;
            let e = opcode::SendMsg::new(types::Fd(self.socket.as_raw_fd()), &slot.msg)
                .build()
                .user_data(TAG_SEND | slot_index as u64);
            self.push(e)?;
            self.in_flight += 1;
        }
        Ok(())
    }

    fn reap(&mut self, engine: &mut Engine) {
        let now = Instant::now();
        let mut returned = false;
        // Completions are copied out first: handling a datagram needs `&mut self` for buffers.
        loop {
            let Some(cqe) = self.ring.completion().next() else {
                break;
            };
            let (user_data, result, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            match user_data & TAG_MASK {
                TAG_RECV => {
                    if !cqueue::more(flags) {
                        self.recv_armed = false;
                    }
                    let Some(bid) = cqueue::buffer_select(flags) else {
                        // -ENOBUFS: every buffer was in use; the receive is re-armed below.
                        continue;
                    };
                    if result > 0 {
                        self.deliver(engine, now, bid, result as usize);
                    }
                    self.provide(bid);
                    returned = true;
                }
                TAG_WAKE if user_data == TAG_TCP => {
                    self.tcp_armed = false;
                    self.tcp_ready = true;
                }
                TAG_WAKE => {
                    self.wake_armed = false;
                }
                TAG_SEND => {
                    let index = (user_data & !TAG_MASK) as usize;
                    if result < 0 {
                        tracing::debug!(errno = -result, "UDP send failed");
                    }
                    if let Some(t) = self.slots[index].transmit.take() {
                        engine.recycle(t.contents);
                    }
                    self.free_slots.push(index);
                    self.in_flight -= 1;
                }
                _ => {}
            }
        }
        if returned {
            self.publish_buffers();
        }
        if let Some(tcp) = &mut self.tcp {
            if std::mem::take(&mut self.tcp_ready) {
                tcp.handle_ready(engine, now);
            }
            tcp.tick(engine, now);
        }
    }

    fn deliver(&mut self, engine: &mut Engine, now: Instant, bid: u16, len: usize) {
        let offset = bid as usize * RECV_BUFFER_SIZE;
        let buffer = &mut self.recv_buffers[offset..offset + len.min(RECV_BUFFER_SIZE)];
        let (path, range, truncated) = {
            let Ok(out) = types::RecvMsgOut::parse(buffer, &self.recv_msg) else {
                return;
            };
            let payload = out.payload_data();
            let start = payload.as_ptr() as usize - buffer.as_ptr() as usize;
            let path = pktinfo::received_path(out.name_data(), out.control_data(), self.port);
            (path, start..start + payload.len(), out.is_payload_truncated())
        };
        let Some(path) = path else { return };
        if truncated {
            engine.counters.drop_truncated += 1;
            return;
        }
        engine.handle_receive(now, path, &mut buffer[range]);
    }
}

impl Driver for UringDriver {
    fn run_once(&mut self, engine: &mut Engine, deadline: Instant) -> io::Result<()> {
        self.arm()?;
        self.queue_sends(engine)?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let ts = types::Timespec::new().sec(timeout.as_secs()).nsec(timeout.subsec_nanos());
        let args = types::SubmitArgs::new().timespec(&ts);
        // One system call submits every queued send and waits for the next completion.
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIME) || e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(e),
        }
        self.reap(engine);
        if self.free_slots.is_empty() {
            // Every send slot is taken: let the kernel finish some before queueing more.
            self.ring.submit_and_wait(1)?;
            self.reap(engine);
        }
        Ok(())
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        // Close the ring first so the kernel lets go of the buffer ring before we free it.
        let ring = std::mem::replace(&mut self.ring, IoUring::new(2).expect("a tiny ring to swap in"));
        drop(ring);
        // SAFETY: allocated in new() with this layout.
        unsafe { dealloc(self.buf_ring as *mut u8, self.buf_ring_layout) };
    }
}
