//! A media core: one OS thread that owns its media sockets (UDP, and ICE-TCP's listener and
//! connections), its IO backend, the clock and an [`Engine`].
//! Nothing on the packet path takes a lock: control requests and other cores' pipe messages arrive on
//! a channel and wake the core through an eventfd; replies go back on oneshot channels.

use std::io;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::mmsg::MmsgDriver;
use super::notify::Notifier;
use super::socket::{IoBackend, MediaSockets};
use super::sys::Waker;
use super::tcp::TcpPlane;
use super::uring::UringDriver;
use crate::engine::pipe::{InternalRequest, InternalResponse, PipeMessage};
use crate::engine::Engine;
use crate::protocol::{ErrorBody, ErrorCode, Request, Response};
use crate::record::RecordSink;

type Reply<T> = oneshot::Sender<Result<T, ErrorBody>>;

/// What reaches a core from outside its thread.
enum Inbound {
    Request(Request, Reply<Response>),
    Internal(InternalRequest, Reply<InternalResponse>),
    Pipe(PipeMessage),
}

/// An IO backend as the core loop sees it.
pub(crate) trait Driver {
    /// Sends what the engine has queued, then waits until datagrams arrive, the waker fires or
    /// `deadline` passes, handing every datagram received to the engine.
    fn run_once(&mut self, engine: &mut Engine, deadline: Instant) -> io::Result<()>;
}

/// A core's mailbox: its channel and the eventfd that wakes it.
#[derive(Clone)]
struct Mailbox {
    tx: std_mpsc::Sender<Inbound>,
    waker: Arc<Waker>,
}

impl Mailbox {
    fn send(&self, message: Inbound) -> bool {
        let sent = self.tx.send(message).is_ok();
        self.waker.wake();
        sent
    }
}

/// A cloneable way into a running core.
#[derive(Clone)]
pub struct CoreHandle {
    pub index: usize,
    pub port: u16,
    pub backend: IoBackend,
    mailbox: Mailbox,
}

fn gone() -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, "relay core stopped")
}

impl CoreHandle {
    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        let (tx, rx) = oneshot::channel();
        if !self.mailbox.send(Inbound::Request(request, tx)) {
            return Err(gone());
        }
        rx.await.map_err(|_| gone())?
    }

    pub async fn internal(&self, request: InternalRequest) -> Result<InternalResponse, ErrorBody> {
        let (tx, rx) = oneshot::channel();
        if !self.mailbox.send(Inbound::Internal(request, tx)) {
            return Err(gone());
        }
        rx.await.map_err(|_| gone())?
    }
}

/// Starts one core per (sockets, engine), each on its own thread with the chosen backend (probing
/// io_uring for `Auto`), with at most `max_tcp` ICE-TCP connections each. Cores run until every
/// [`CoreHandle`] is dropped.
pub fn spawn_all(
    cores: Vec<(MediaSockets, Engine)>,
    backend: IoBackend,
    max_tcp: usize,
    notifications: Notifier,
    recorder: RecordSink,
) -> io::Result<Vec<CoreHandle>> {
    let mut mailboxes = Vec::with_capacity(cores.len());
    let mut inboxes = Vec::with_capacity(cores.len());
    for _ in 0..cores.len() {
        let (tx, rx) = std_mpsc::channel();
        mailboxes.push(Mailbox { tx, waker: Arc::new(Waker::new()?) });
        inboxes.push(rx);
    }
    let mut handles = Vec::with_capacity(cores.len());
    for (index, ((sockets, engine), inbox)) in cores.into_iter().zip(inboxes).enumerate() {
        let port = sockets.port()?;
        let (ready_tx, ready_rx) = std_mpsc::channel::<io::Result<IoBackend>>();
        let others = mailboxes.clone();
        let waker = mailboxes[index].waker.clone();
        let notifications = notifications.clone();
        let recorder = recorder.clone();
        std::thread::Builder::new().name(format!("meet-core-{index}")).spawn(move || {
            // The ring is built on the thread that uses it: it is set up single-issuer.
            let (driver, backend) = match build_driver(sockets, waker, backend, index, max_tcp) {
                Ok(d) => d,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(backend));
            if let Err(e) = run(driver, engine, inbox, others, notifications, recorder) {
                tracing::error!(core = index, error = %e, "media core stopped");
            }
        })?;
        let backend = ready_rx.recv().map_err(|_| io::Error::other("media core thread died"))??;
        handles.push(CoreHandle { index, port, backend, mailbox: mailboxes[index].clone() });
    }
    Ok(handles)
}

fn build_driver(
    sockets: MediaSockets,
    waker: Arc<Waker>,
    backend: IoBackend,
    index: usize,
    max_tcp: usize,
) -> io::Result<(Box<dyn Driver + Send>, IoBackend)> {
    let MediaSockets { udp, v6, tcp } = sockets;
    let plane = |listener: &Option<std::net::TcpListener>| -> io::Result<Option<TcpPlane>> {
        listener.as_ref().map(|l| TcpPlane::new(l.try_clone()?, max_tcp)).transpose()
    };
    Ok(match backend {
        IoBackend::Mmsg => (Box::new(MmsgDriver::new(udp, v6, plane(&tcp)?, waker)?), IoBackend::Mmsg),
        IoBackend::Uring => (Box::new(UringDriver::new(udp, v6, plane(&tcp)?, waker)?), IoBackend::Uring),
        IoBackend::Auto => match UringDriver::new(udp.try_clone()?, v6, plane(&tcp)?, waker.clone()) {
            Ok(d) => (Box::new(d), IoBackend::Uring),
            Err(e) => {
                tracing::warn!(core = index, error = %e, "io_uring unavailable; using recvmmsg/sendmmsg");
                (Box::new(MmsgDriver::new(udp, v6, plane(&tcp)?, waker)?), IoBackend::Mmsg)
            }
        },
    })
}

fn run(
    mut driver: Box<dyn Driver + Send>,
    mut engine: Engine,
    inbox: std_mpsc::Receiver<Inbound>,
    cores: Vec<Mailbox>,
    notifications: Notifier,
    recorder: RecordSink,
) -> io::Result<()> {
    loop {
        let deadline = engine.poll_timeout();
        driver.run_once(&mut engine, deadline)?;
        let now = Instant::now();
        loop {
            match inbox.try_recv() {
                Ok(Inbound::Request(request, reply)) => {
                    let response = engine.handle_request(now, request);
                    // What the request tells other cores (a seat given back to the room's home core) is on
                    // its way before the caller hears back, so anything the caller asks next comes after it.
                    send_pipes(&mut engine, &cores);
                    let _ = reply.send(response);
                }
                Ok(Inbound::Internal(request, reply)) => {
                    let _ = reply.send(engine.handle_internal(request));
                }
                Ok(Inbound::Pipe(message)) => engine.handle_pipe(now, message),
                Err(std_mpsc::TryRecvError::Empty) => break,
                Err(std_mpsc::TryRecvError::Disconnected) => return Ok(()),
            }
        }
        if deadline <= now {
            engine.handle_timeout(now);
        }
        send_pipes(&mut engine, &cores);
        // Queued for each subscriber without waiting for any (see `notify`).
        while let Some(n) = engine.poll_event() {
            notifications.publish(n);
        }
        // Never waits: a recorder that falls behind loses packets (counted), forwarding goes on.
        while let Some(r) = engine.poll_record() {
            if !recorder.offer(r) {
                engine.counters.record_drop_queue_full += 1;
            }
        }
    }
}

/// Hands the engine's messages for other cores to their mailboxes.
fn send_pipes(engine: &mut Engine, cores: &[Mailbox]) {
    while let Some(out) = engine.poll_pipe() {
        if let Some(core) = cores.get(out.core) {
            core.send(Inbound::Pipe(out.message));
        }
    }
}
