//! The control side of the control channel: sends [`Request`]s to a relay and matches each reply to its
//! caller by id; notifications and the link's ups and downs go to one subscriber (the room registry).
//!
//! The link reconnects by itself: when the relay goes away (a crash, an upgrade), every request waiting
//! fails with "relay unavailable", [`RelayEvent::Down`] is sent, and a new connection is tried with
//! backoff until one completes the version handshake, which sends [`RelayEvent::Up`]. What the relay
//! still holds after an `Up` is for the subscriber to find out ([`Request::ListRooms`]).
//!
//! Calling contract: a caller that gives up on a request (its future dropped) leaves no entry behind;
//! requests made while the link is down fail at once.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meet_relay::protocol::codec::{read_message, write_message};
use meet_relay::protocol::{ErrorBody, ErrorCode, Message, Notification, Request, Response, PROTOCOL_VERSION};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Response, ErrorBody>>>>>;

/// Opens a new stream to the relay (a Unix socket, or a socket pair to an embedded relay).
pub type Connector = Box<dyn Fn() -> Pin<Box<dyn Future<Output = std::io::Result<UnixStream>> + Send>> + Send + Sync>;

/// First and longest wait between connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What the link reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayEvent {
    /// A connection completed the handshake.
    Up,
    /// The connection was lost; requests fail until the next `Up`.
    Down,
    Notification(Notification),
}

#[derive(Clone)]
pub struct RelayClient {
    inner: Arc<Inner>,
}

struct Inner {
    next_id: AtomicU64,
    pending: Pending,
    /// The writer of the current connection; `None` while down.
    outgoing: Mutex<Option<mpsc::Sender<Message>>>,
    /// The current connection completed its handshake.
    up: AtomicBool,
}

/// Removes a pending entry when the caller stops waiting.
struct PendingGuard<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending.lock().expect("pending lock").remove(&self.id);
    }
}

fn unavailable() -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, "relay unavailable")
}

impl RelayClient {
    /// Starts the link: connects with `connector`, greets the relay, and keeps doing so whenever the
    /// connection ends. Events arrive on the returned receiver.
    pub fn start(connector: Connector) -> (Self, mpsc::UnboundedReceiver<RelayEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let client = RelayClient {
            inner: Arc::new(Inner {
                next_id: AtomicU64::new(1),
                pending: Arc::default(),
                outgoing: Mutex::new(None),
                up: AtomicBool::new(false),
            }),
        };
        tokio::spawn(client.clone().supervise(connector, events));
        (client, rx)
    }

    /// True while a connection is up (handshake done).
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        let outgoing = self.inner.outgoing.lock().expect("outgoing lock").clone().ok_or_else(unavailable)?;
        if !self.is_up() && !matches!(request, Request::Hello { .. }) {
            return Err(unavailable());
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().expect("pending lock").insert(id, tx);
        let _guard = PendingGuard { pending: &self.inner.pending, id };
        outgoing.send(Message::Request { id, request }).await.map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())?
    }

    async fn supervise(self, connector: Connector, events: mpsc::UnboundedSender<RelayEvent>) {
        let mut backoff = BACKOFF_MIN;
        let mut failures = 0u32;
        loop {
            match connector().await {
                Ok(stream) => {
                    if self.serve(stream, &events).await {
                        backoff = BACKOFF_MIN;
                        failures = 0;
                    }
                }
                Err(e) => {
                    failures += 1;
                    // Say it once, then every ~10 attempts, not at every retry.
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, attempts = failures, "cannot reach the relay; retrying");
                    }
                }
            }
            if events.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Runs one connection to its end; true if it got past the handshake.
    async fn serve(&self, stream: UnixStream, events: &mpsc::UnboundedSender<RelayEvent>) -> bool {
        let (mut reader, mut writer) = stream.into_split();
        let (outgoing, mut queue) = mpsc::channel::<Message>(256);
        let writer_task = tokio::spawn(async move {
            while let Some(m) = queue.recv().await {
                if let Err(e) = write_message(&mut writer, &m).await {
                    tracing::error!(error = %e, "relay control channel write failed");
                    break;
                }
            }
        });
        *self.inner.outgoing.lock().expect("outgoing lock") = Some(outgoing);
        let pending = self.inner.pending.clone();
        let notes = events.clone();
        let mut reader_task = tokio::spawn(async move {
            loop {
                match read_message(&mut reader).await {
                    Ok(Some(Message::Response { id, response })) => {
                        if let Some(tx) = pending.lock().expect("pending lock").remove(&id) {
                            let _ = tx.send(response);
                        }
                    }
                    Ok(Some(Message::Notification { notification })) => {
                        let _ = notes.send(RelayEvent::Notification(notification));
                    }
                    Ok(Some(Message::Request { .. })) => tracing::warn!("relay sent a request; ignored"),
                    Ok(None) => return tracing::error!("relay closed the control channel"),
                    Err(e) => return tracing::error!(error = %e, "relay control channel read failed"),
                }
            }
        });
        let greeted = tokio::select! {
            hello = self.request(Request::Hello { version: PROTOCOL_VERSION }) => match hello {
                Ok(Response::Hello { relay_version, .. }) => {
                    tracing::info!(relay_version = %relay_version, "relay connected");
                    true
                }
                Ok(other) => {
                    tracing::error!(?other, "relay answered hello oddly");
                    false
                }
                Err(e) => {
                    tracing::error!(error = %e, "relay refused the handshake");
                    false
                }
            },
            _ = &mut reader_task => false,
        };
        if greeted {
            self.inner.up.store(true, Ordering::Relaxed);
            let _ = events.send(RelayEvent::Up);
            let _ = (&mut reader_task).await;
        }
        reader_task.abort();
        self.inner.up.store(false, Ordering::Relaxed);
        *self.inner.outgoing.lock().expect("outgoing lock") = None;
        writer_task.abort();
        // Whoever still waits learns the relay is gone.
        self.inner.pending.lock().expect("pending lock").clear();
        if greeted {
            let _ = events.send(RelayEvent::Down);
        }
        greeted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;
    use tokio::task::JoinHandle;

    /// A relay serving control connections at `path` until the returned task is aborted (which drops
    /// every connection, as a relay crash does).
    fn relay_at(path: &std::path::Path, relay: meet_relay::EmbeddedRelay) -> JoinHandle<()> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                connections.spawn(relay.serve(stream));
            }
        })
    }

    async fn next(events: &mut mpsc::UnboundedReceiver<RelayEvent>) -> RelayEvent {
        tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("an event in time").expect("open")
    }

    #[tokio::test]
    async fn reconnects_after_the_relay_goes_away() {
        let dir = std::env::temp_dir().join(format!("meet-relay-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("relay.sock");
        let mut config = meet_relay::RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
        config.cores = 1;
        let relay = meet_relay::embedded(&config).unwrap();

        // Nothing listens yet: the link keeps trying.
        let connect_to = path.clone();
        let (client, mut events) = RelayClient::start(Box::new(move || {
            let p = connect_to.clone();
            Box::pin(async move { UnixStream::connect(p).await })
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!client.is_up());
        assert_eq!(client.request(Request::Stats).await.unwrap_err().message, "relay unavailable");

        let serving = relay_at(&path, relay.clone());
        assert_eq!(next(&mut events).await, RelayEvent::Up);
        assert!(matches!(client.request(Request::Stats).await, Ok(Response::Stats(_))));

        // The relay dies: waiting and new requests fail, the subscriber hears it.
        serving.abort();
        assert_eq!(next(&mut events).await, RelayEvent::Down);
        assert!(!client.is_up());
        assert!(client.request(Request::Stats).await.is_err());

        // It comes back at the same path: the link is up again without anyone asking.
        let serving = relay_at(&path, relay);
        assert_eq!(next(&mut events).await, RelayEvent::Up);
        assert!(matches!(client.request(Request::Stats).await, Ok(Response::Stats(_))));
        serving.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
