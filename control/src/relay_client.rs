//! The control side of the control channel: sends [`Request`]s to a relay and matches each reply to its
//! caller by id; notifications go to one subscriber (the room registry).
//!
//! Calling contract: [`RelayClient::connect`] performs the version handshake before returning; a caller
//! that gives up on a request (its future dropped) leaves no entry behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meet_relay::protocol::codec::{read_message, write_message};
use meet_relay::protocol::{ErrorBody, ErrorCode, Message, Notification, Request, Response, PROTOCOL_VERSION};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Response, ErrorBody>>>>>;

#[derive(Clone)]
pub struct RelayClient {
    next_id: Arc<AtomicU64>,
    pending: Pending,
    outgoing: mpsc::Sender<Message>,
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

impl RelayClient {
    /// Takes a connected stream, greets the relay and starts the reader and writer tasks.
    pub async fn connect<S>(stream: S, notifications: mpsc::UnboundedSender<Notification>) -> Result<Self, ErrorBody>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let pending: Pending = Arc::default();
        let (outgoing, mut queue) = mpsc::channel::<Message>(256);
        tokio::spawn(async move {
            while let Some(m) = queue.recv().await {
                if let Err(e) = write_message(&mut writer, &m).await {
                    tracing::error!(error = %e, "relay control channel write failed");
                    break;
                }
            }
        });
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            loop {
                match read_message(&mut reader).await {
                    Ok(Some(Message::Response { id, response })) => {
                        if let Some(tx) = reader_pending.lock().expect("pending lock").remove(&id) {
                            let _ = tx.send(response);
                        }
                    }
                    Ok(Some(Message::Notification { notification })) => {
                        let _ = notifications.send(notification);
                    }
                    Ok(Some(Message::Request { .. })) => tracing::warn!("relay sent a request; ignored"),
                    Ok(None) => {
                        tracing::error!("relay closed the control channel");
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "relay control channel read failed");
                        break;
                    }
                }
            }
            // Whoever still waits learns the relay is gone.
            reader_pending.lock().expect("pending lock").clear();
        });
        let client = RelayClient { next_id: Arc::new(AtomicU64::new(1)), pending, outgoing };
        client.request(Request::Hello { version: PROTOCOL_VERSION }).await?;
        Ok(client)
    }

    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        let _guard = PendingGuard { pending: &self.pending, id };
        let gone = || ErrorBody::new(ErrorCode::Internal, "relay unavailable");
        self.outgoing.send(Message::Request { id, request }).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}
