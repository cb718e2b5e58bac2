//! A media core: one OS thread that owns a UDP socket, the clock and an [`Engine`], and runs them on a
//! single-threaded runtime. Control reaches it only through a [`CoreHandle`].

use std::net::UdpSocket as StdUdpSocket;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::engine::Engine;
use crate::protocol::{ErrorBody, ErrorCode, Notification, Request, Response};

type Reply = oneshot::Sender<Result<Response, ErrorBody>>;

/// A cloneable way into a running core.
#[derive(Clone)]
pub struct CoreHandle {
    requests: mpsc::Sender<(Request, Reply)>,
    notifications: broadcast::Sender<Notification>,
}

impl CoreHandle {
    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        let (tx, rx) = oneshot::channel();
        let gone = || ErrorBody::new(ErrorCode::Internal, "relay core stopped");
        self.requests.send((request, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notifications.subscribe()
    }
}

/// Starts a core on its own thread. It runs until every [`CoreHandle`] is dropped.
pub fn spawn(socket: StdUdpSocket, engine: Engine) -> std::io::Result<CoreHandle> {
    socket.set_nonblocking(true)?;
    let (req_tx, req_rx) = mpsc::channel(256);
    let (note_tx, _) = broadcast::channel(1024);
    let notifications = note_tx.clone();
    std::thread::Builder::new().name("meet-core-0".into()).spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("core runtime");
        rt.block_on(async move {
            let socket = UdpSocket::from_std(socket).expect("register UDP socket");
            if let Err(e) = run(socket, engine, req_rx, note_tx).await {
                tracing::error!(error = %e, "media core stopped");
            }
        });
    })?;
    Ok(CoreHandle { requests: req_tx, notifications })
}

async fn run(
    socket: UdpSocket,
    mut engine: Engine,
    mut requests: mpsc::Receiver<(Request, Reply)>,
    notifications: broadcast::Sender<Notification>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = tokio::time::Instant::from_std(engine.poll_timeout());
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                match received {
                    Ok((len, source)) => engine.handle_datagram(Instant::now(), source, &mut buf[..len]),
                    // ICMP errors from a peer that went away surface here; they concern no one else.
                    Err(e) => tracing::debug!(error = %e, "UDP receive error"),
                }
            }
            request = requests.recv() => {
                let Some((request, reply)) = request else { return Ok(()) };
                let _ = reply.send(engine.handle_request(Instant::now(), request));
            }
            _ = tokio::time::sleep_until(deadline) => engine.handle_timeout(Instant::now()),
        }
        while let Some(t) = engine.poll_transmit() {
            if let Err(e) = socket.send_to(&t.contents, t.destination).await {
                tracing::debug!(error = %e, destination = %t.destination, "UDP send error");
            }
        }
        while let Some(n) = engine.poll_event() {
            let _ = notifications.send(n);
        }
    }
}
