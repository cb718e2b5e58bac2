//! A media core: one OS thread that owns its UDP socket, its IO backend, the clock and an [`Engine`].
//! Nothing on the packet path takes a lock: control requests arrive on a channel and wake the core
//! through an eventfd; replies go back on oneshot channels.

use std::io;
use std::net::UdpSocket;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{broadcast, oneshot};

use super::mmsg::MmsgDriver;
use super::socket::IoBackend;
use super::sys::Waker;
use super::uring::UringDriver;
use crate::engine::Engine;
use crate::protocol::{ErrorBody, ErrorCode, Notification, Request, Response};

type Reply = oneshot::Sender<Result<Response, ErrorBody>>;

/// An IO backend as the core loop sees it.
pub(crate) trait Driver {
    /// Sends what the engine has queued, then waits until datagrams arrive, the waker fires or
    /// `deadline` passes, handing every datagram received to the engine.
    fn run_once(&mut self, engine: &mut Engine, deadline: Instant) -> io::Result<()>;
}

/// A cloneable way into a running core.
#[derive(Clone)]
pub struct CoreHandle {
    pub index: usize,
    pub port: u16,
    pub backend: IoBackend,
    requests: std_mpsc::Sender<(Request, Reply)>,
    waker: Arc<Waker>,
}

impl CoreHandle {
    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        let (tx, rx) = oneshot::channel();
        let gone = || ErrorBody::new(ErrorCode::Internal, "relay core stopped");
        self.requests.send((request, tx)).map_err(|_| gone())?;
        self.waker.wake();
        rx.await.map_err(|_| gone())?
    }
}

/// Starts core `index` on its own thread with the chosen backend (probing io_uring for `Auto`).
/// It runs until every [`CoreHandle`] is dropped.
pub fn spawn(
    index: usize,
    socket: UdpSocket,
    engine: Engine,
    backend: IoBackend,
    notifications: broadcast::Sender<Notification>,
) -> io::Result<CoreHandle> {
    let port = socket.local_addr()?.port();
    let waker = Arc::new(Waker::new()?);
    let (tx, rx) = std_mpsc::channel();
    let (ready_tx, ready_rx) = std_mpsc::channel::<io::Result<IoBackend>>();
    let thread_waker = waker.clone();
    std::thread::Builder::new()
        .name(format!("meet-core-{index}"))
        .spawn(move || {
            // The ring is built on the thread that uses it: it is set up single-issuer.
            let (driver, backend) = match build_driver(socket, thread_waker, backend, index) {
                Ok(d) => d,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(backend));
            if let Err(e) = run(driver, engine, rx, notifications) {
                tracing::error!(core = index, error = %e, "media core stopped");
            }
        })?;
    let backend = ready_rx
        .recv()
        .map_err(|_| io::Error::other("media core thread died"))??;
    Ok(CoreHandle {
        index,
        port,
        backend,
        requests: tx,
        waker,
    })
}

fn build_driver(
    socket: UdpSocket,
    waker: Arc<Waker>,
    backend: IoBackend,
    index: usize,
) -> io::Result<(Box<dyn Driver + Send>, IoBackend)> {
    Ok(match backend {
        IoBackend::Mmsg => (Box::new(MmsgDriver::new(socket, waker)), IoBackend::Mmsg),
        IoBackend::Uring => (Box::new(UringDriver::new(socket, waker)?), IoBackend::Uring),
        IoBackend::Auto => match UringDriver::new(socket.try_clone()?, waker.clone()) {
            Ok(d) => (Box::new(d), IoBackend::Uring),
            Err(e) => {
                tracing::warn!(core = index, error = %e, "io_uring unavailable; using recvmmsg/sendmmsg");
                (Box::new(MmsgDriver::new(socket, waker)), IoBackend::Mmsg)
            }
        },
    })
}

fn run(
    mut driver: Box<dyn Driver + Send>,
    mut engine: Engine,
    requests: std_mpsc::Receiver<(Request, Reply)>,
    notifications: broadcast::Sender<Notification>,
) -> io::Result<()> {
    loop {
        let deadline = engine.poll_timeout();
        driver.run_once(&mut engine, deadline)?;
        loop {
            match requests.try_recv() {
                Ok((request, reply)) => {
                    let _ = reply.send(engine.handle_request(Instant::now(), request));
                }
                Err(std_mpsc::TryRecvError::Empty) => break,
                Err(std_mpsc::TryRecvError::Disconnected) => return Ok(()),
            }
        }
        let now = Instant::now();
        if engine.poll_timeout() <= now {
            engine.handle_timeout(now);
        }
        while let Some(n) = engine.poll_event() {
            let _ = notifications.send(n);
        }
    }
}
