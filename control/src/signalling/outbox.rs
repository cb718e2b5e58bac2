//! One participant's outgoing messages: a bounded queue to its socket's writer.
//!
//! Room tasks never wait on a participant, so they cannot block on a full queue; and a page that reads
//! nothing must not make the server buffer without end (one socket sending chat and reading nothing
//! held 41 MB). So a full queue ends the session: the writer is told to drop the socket, and its leave
//! follows as for any closed socket.

use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::messages::ServerMessage;

/// Messages queued for one participant before it counts as not reading. A page that reads keeps this
/// near empty; the largest bursts (a big room's `joined`, a round of offers) are far below it.
pub const OUTBOX_CAPACITY: usize = 1024;

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<ServerMessage>,
    overflow: Arc<Notify>,
}

/// The message could not be queued: the socket is gone, or its reader is too slow and is being dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotDelivered;

/// The writer's side: messages, and a notice when the queue overflowed.
pub struct OutboxReceiver {
    pub messages: mpsc::Receiver<ServerMessage>,
    pub overflow: Arc<Notify>,
}

impl Outbox {
    pub fn new() -> (Outbox, OutboxReceiver) {
        Self::with_capacity(OUTBOX_CAPACITY)
    }

    pub fn with_capacity(capacity: usize) -> (Outbox, OutboxReceiver) {
        let (tx, messages) = mpsc::channel(capacity);
        let overflow = Arc::new(Notify::new());
        (Outbox { tx, overflow: overflow.clone() }, OutboxReceiver { messages, overflow })
    }

    /// Queues `message` without waiting; on a full queue the writer is told to drop the socket.
    pub fn send(&self, message: ServerMessage) -> Result<(), NotDelivered> {
        match self.tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow.notify_one();
                Err(NotDelivered)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(NotDelivered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_signals_overflow() {
        let (out, mut rx) = Outbox::with_capacity(2);
        out.send(ServerMessage::Waiting).unwrap();
        out.send(ServerMessage::Waiting).unwrap();
        assert_eq!(out.send(ServerMessage::Waiting), Err(NotDelivered));
        tokio::time::timeout(std::time::Duration::from_secs(1), rx.overflow.notified()).await.unwrap();
        assert!(rx.messages.recv().await.is_some());
        drop(rx);
        assert_eq!(out.send(ServerMessage::Waiting), Err(NotDelivered));
    }
}
