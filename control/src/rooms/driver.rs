//! A room's task: runs its state machine ([`Room`]) against the relay link, the pages' outboxes and the
//! clock. It hands each command to the room, sends the room's requests to the relay one at a time
//! (commands wait meanwhile), delivers what the room gives out, and wakes the room when its timer is due.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::room::{Now, Output, RelayAnswer, Reply, Room, RoomEvent};
use super::{Registry, RoomInfo, RoomNews};
use crate::relay_client::RelayClient;
use crate::signalling::messages::ServerMessage;
use crate::signalling::outbox::Outbox;

/// What the registry and the participants' handles send to a room's task.
pub(super) enum Command {
    Event(RoomEvent),
    Join {
        connection: u64,
        // Boxed: a join is rare and large, the room's other commands small and many.
        request: Box<super::JoinRequest>,
        out: Outbox,
        reply: oneshot::Sender<Result<String, ServerMessage>>,
    },
    Inspect {
        reply: oneshot::Sender<RoomInfo>,
    },
    ClosePeer {
        peer_id: String,
        removal: super::Removal,
        reply: oneshot::Sender<bool>,
    },
    CloseRoom {
        removal: super::Removal,
        reply: oneshot::Sender<usize>,
    },
}

/// Someone waiting for a Server API reply.
enum Waiter {
    Info(oneshot::Sender<RoomInfo>),
    PeerClosed(oneshot::Sender<bool>),
    RoomClosed(oneshot::Sender<usize>),
}

pub(super) struct Driver {
    room: Room,
    relay: RelayClient,
    registry: Registry,
    /// Each page's outgoing queue, from its join to its leave (or its refused join).
    outboxes: HashMap<u64, Outbox>,
    joins: HashMap<u64, oneshot::Sender<Result<String, ServerMessage>>>,
    waiters: HashMap<u64, Waiter>,
    next_ticket: u64,
}

impl Driver {
    pub fn new(room: Room, relay: RelayClient, registry: Registry) -> Self {
        Driver {
            room,
            relay,
            registry,
            outboxes: HashMap::new(),
            joins: HashMap::new(),
            waiters: HashMap::new(),
            next_ticket: 1,
        }
    }

    pub async fn run(self, commands: mpsc::UnboundedReceiver<Command>) {
        let span = tracing::info_span!("room", room = %self.room.id());
        self.process(commands).instrument(span).await
    }

    async fn process(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        // An adopted room starts with news for the observers.
        self.drive().await;
        loop {
            let timeout = self.room.poll_timeout().map(tokio::time::Instant::from_std);
            let event = tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.accept(command),
                    None => return,
                },
                _ = sleep_until(timeout) => RoomEvent::Timeout,
            };
            let left = match &event {
                RoomEvent::Leave { connection } => Some(*connection),
                _ => None,
            };
            self.room.handle_event(Now::real(), event);
            self.drive().await;
            if let Some(connection) = left {
                self.outboxes.remove(&connection);
            }
            let id = self.room.id().to_string();
            if self.room.is_detached() {
                self.registry.forget(&id);
                return;
            }
            if self.room.is_finished() && self.registry.retire(&id, &commands) {
                tracing::info!("room closed");
                self.registry.publish(RoomNews::RoomClosed { room_id: id, at: Now::real().wall });
                return;
            }
        }
    }

    /// Keeps what a command carries besides its event (an outbox, a reply channel).
    fn accept(&mut self, command: Command) -> RoomEvent {
        match command {
            Command::Event(event) => event,
            Command::Join { connection, request, out, reply } => {
                self.outboxes.insert(connection, out);
                self.joins.insert(connection, reply);
                RoomEvent::Join { connection, request }
            }
            Command::Inspect { reply } => RoomEvent::Inspect { ticket: self.ticket(Waiter::Info(reply)) },
            Command::ClosePeer { peer_id, removal, reply } => {
                RoomEvent::ClosePeer { ticket: self.ticket(Waiter::PeerClosed(reply)), peer_id, removal }
            }
            Command::CloseRoom { removal, reply } => {
                RoomEvent::CloseRoom { ticket: self.ticket(Waiter::RoomClosed(reply)), removal }
            }
        }
    }

    fn ticket(&mut self, waiter: Waiter) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiters.insert(ticket, waiter);
        ticket
    }

    /// Sends the room's requests and delivers what it gives out until it has nothing more to ask.
    async fn drive(&mut self) {
        loop {
            self.deliver();
            let Some(request) = self.room.poll_request() else { return };
            let answer = match self.relay.request(request).await {
                Ok(response) => RelayAnswer::Ok(response),
                Err(_) if !self.relay.is_up() => RelayAnswer::LinkDown,
                Err(e) => RelayAnswer::Refused(e),
            };
            self.room.handle_relay_answer(Now::real(), answer);
        }
    }

    fn deliver(&mut self) {
        while let Some(output) = self.room.poll_output() {
            match output {
                Output::Send { connection, message } => {
                    if let Some(out) = self.outboxes.get(&connection) {
                        let _ = out.send(message);
                    }
                }
                Output::Joined { connection, result } => {
                    if result.is_err() {
                        // No handle is given for a refused join, so no leave will come for it.
                        self.outboxes.remove(&connection);
                    }
                    if let Some(reply) = self.joins.remove(&connection) {
                        let _ = reply.send(result);
                    }
                }
                Output::Reply { ticket, reply } => match (self.waiters.remove(&ticket), reply) {
                    (Some(Waiter::Info(tx)), Reply::Info(info)) => _ = tx.send(info),
                    (Some(Waiter::PeerClosed(tx)), Reply::PeerClosed(found)) => _ = tx.send(found),
                    (Some(Waiter::RoomClosed(tx)), Reply::RoomClosed(count)) => _ = tx.send(count),
                    (waiter, reply) => {
                        tracing::error!(ticket, ?reply, waiting = waiter.is_some(), "a reply nobody waits for")
                    }
                },
                Output::News(news) => self.registry.publish(news),
            }
        }
    }
}

/// Waits until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
