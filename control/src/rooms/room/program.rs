//! The room's program: what it still has to do, as steps run in order.
//!
//! An event becomes steps; a step may add steps, which run before the rest (as a call runs before the
//! rest of its caller). A step that needs the relay ([`Step::Ask`]) hands out its request and the
//! program stops until the answer, which the request's [`Then`] continues with. So a room never has two
//! requests out, its requests reach the relay in the order its logic made them, and each step sees the
//! state the previous one left. Work that loops over something and waits for the relay at each turn
//! (a joiner's streams, a browser's sections) carries its position in a step of its own.
//!
//! Each event ends with [`Step::SaveRecords`] and [`Step::CloseIfEmpty`]: the peer records the relay
//! keeps for a restart are brought up to date, and a room nobody is left in is closed on the relay.

use std::collections::VecDeque;

use meet_media::sdp;
use meet_relay::protocol::{Request, RoomLimits};

use super::join::Joining;
use super::media::{AfterSending, Producing};
use super::restart::PeerRecord;
use super::{RelayAnswer, Room, RoomEvent};
use crate::signalling::messages::MediaSource;

pub(super) enum Step {
    /// Handle an event.
    Event(RoomEvent),
    /// Send a request to the relay and wait for its answer.
    Ask(Request, Then),
    /// Make every other participant receive exactly what this one forwards ([`Room::sync_from`]).
    SyncFrom(String),
    /// Make this participant receive exactly what the others forward ([`Room::sync_to`]).
    SyncTo(String),
    /// Bring the relay's producers of this participant in line with what it has on, then `after`.
    ApplySending {
        peer: String,
        after: AfterSending,
    },
    /// The requests of an `ApplySending` are answered.
    SendingApplied {
        peer: String,
        after: AfterSending,
    },
    /// Give a joiner the next stream the others send, or seat it when there is none left.
    JoinConsume(Box<Joining>),
    /// Let someone in from the waiting room.
    Admit(String),
    /// A moderator turns off a participant's source.
    TurnOff {
        peer: String,
        source: MediaSource,
    },
    SendWaitingList,
    OfferWhereNeeded,
    /// Give this out once the steps before it are done (a reply after the requests it waited for).
    Output(super::Output),
    SaveRecords,
    CloseIfEmpty,
}

/// What the answer to a request continues with.
pub(super) enum Then {
    /// Nothing: a failure is logged with this.
    Log(&'static str),
    PeerClosed {
        peer: String,
    },
    JoinRoomCreated(Box<Joining>),
    JoinPeerCreated(Box<Joining>),
    /// A joiner's stricter limits: the room's once the relay has them.
    Tightened(RoomLimits),
    /// A consumer for the participant `to` (or a joiner not seated yet).
    Consumed {
        to: ConsumeFor,
        from: String,
        source: MediaSource,
    },
    Paused {
        peer: String,
        source: MediaSource,
        want: bool,
    },
    Connected(Box<Producing>),
    Produced {
        producing: Box<Producing>,
        section: usize,
        source: MediaSource,
        codec: Option<sdp::VideoCodec>,
    },
    IceRestarted {
        peer: String,
    },
    Resynced,
    Saved {
        peer: String,
        record: PeerRecord,
    },
    /// The room created on the relay again after the relay restarted.
    Rebuilt,
    PeerRebuilt {
        peer: String,
    },
}

/// Who a consumer is for.
pub(super) enum ConsumeFor {
    Seated(String),
    Joining(Box<Joining>),
}

#[derive(Default)]
pub(super) struct Program {
    steps: VecDeque<Step>,
    /// Steps added by the step running now: they go before `steps` once it is done.
    added: Vec<Step>,
    /// A request is out; its answer continues with this.
    waiting: Option<Then>,
    /// The request for the driver to send.
    request: Option<Request>,
}

impl Program {
    pub fn enqueue_event(&mut self, event: RoomEvent) {
        self.steps.extend([Step::Event(event), Step::SaveRecords, Step::CloseIfEmpty]);
    }

    /// Asks the relay, after the steps the running step added so far.
    pub fn ask(&mut self, request: Request, then: Then) {
        self.added.push(Step::Ask(request, then));
    }

    /// Runs `step` after the steps the running step added so far.
    pub fn then(&mut self, step: Step) {
        self.added.push(step);
    }

    pub fn take_request(&mut self) -> Option<Request> {
        self.request.take()
    }

    pub fn is_idle(&self) -> bool {
        self.steps.is_empty() && self.added.is_empty() && self.waiting.is_none()
    }

    /// The next step to run; `None` while a request is out or when nothing is left.
    fn next(&mut self) -> Option<Step> {
        for step in self.added.drain(..).rev() {
            self.steps.push_front(step);
        }
        if self.waiting.is_some() {
            return None;
        }
        self.steps.pop_front()
    }

    /// Drops everything still to do (the room is detached).
    fn clear(&mut self) {
        self.steps.clear();
        self.added.clear();
    }
}

impl Room {
    /// Runs steps until one waits for the relay or none is left.
    pub(super) fn run(&mut self) {
        while let Some(step) = self.program.next() {
            if self.detached {
                self.program.clear();
                return;
            }
            self.step(step);
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Event(event) => self.event(event),
            Step::Ask(request, then) => {
                self.program.waiting = Some(then);
                if self.link.is_lost() {
                    // Nothing reaches the relay until the link is back and the room has seen what the
                    // relay holds (`RoomEvent::RelayBack`); a request made now could act on a relay
                    // that restarted meanwhile.
                    self.answered(RelayAnswer::LinkDown);
                } else {
                    self.program.request = Some(request);
                }
            }
            Step::SyncFrom(peer) => self.sync_from(&peer),
            Step::SyncTo(peer) => self.sync_to(&peer),
            Step::ApplySending { peer, after } => self.apply_sending(&peer, after),
            Step::SendingApplied { peer, after } => self.sending_applied(&peer, after),
            Step::JoinConsume(joining) => self.join_consume(joining),
            Step::Admit(peer) => _ = self.admit(&peer),
            Step::TurnOff { peer, source } => _ = self.turn_off(&peer, source),
            Step::SendWaitingList => self.send_waiting_list(),
            Step::OfferWhereNeeded => self.offer_where_needed(),
            Step::Output(output) => self.out.push(output),
            Step::SaveRecords => self.save_records(),
            Step::CloseIfEmpty => self.close_if_empty(),
        }
    }

    /// The relay answered the request that was out.
    pub(super) fn answered(&mut self, answer: RelayAnswer) {
        let Some(then) = self.program.waiting.take() else {
            return tracing::error!(?answer, "a relay answer with no request out; ignored");
        };
        if matches!(answer, RelayAnswer::LinkDown) {
            // Nothing more can reach the relay; `RoomEvent::RelayLost` follows and tells the pages.
            self.link = self.link.lost();
        }
        match then {
            Then::Log(what) => {
                if !answer.is_ok() {
                    tracing::warn!(?answer, "{what}");
                }
            }
            Then::PeerClosed { peer } => match answer {
                RelayAnswer::Ok(_) => {}
                // The relay closed it first (DTLS close, consent expiry); its notice is on the way.
                RelayAnswer::Refused(e) if e.code == meet_relay::protocol::ErrorCode::NotFound => {
                    tracing::debug!(peer = %peer, "the relay had already closed the peer");
                }
                other => tracing::warn!(answer = ?other, peer = %peer, "closing the peer on the relay failed"),
            },
            Then::JoinRoomCreated(joining) => self.join_room_created(joining, answer),
            Then::JoinPeerCreated(joining) => self.join_peer_created(joining, answer),
            Then::Tightened(limits) => self.tightened(limits, answer),
            Then::Consumed { to, from, source } => self.consumed(to, &from, source, answer),
            Then::Paused { peer, source, want } => self.paused(&peer, source, want, answer),
            Then::Connected(producing) => self.connected(producing, answer),
            Then::Produced { producing, section, source, codec } => {
                self.produced(producing, section, source, codec, answer)
            }
            Then::IceRestarted { peer } => self.ice_restarted(&peer, answer),
            Then::Resynced => self.resynced(answer),
            Then::Saved { peer, record } => match answer {
                RelayAnswer::Ok(_) => {
                    if let Some(i) = self.find(&peer) {
                        self.participants[i].saved = Some(record);
                    }
                }
                other => tracing::warn!(answer = ?other, peer = %peer, "cannot store the peer's record"),
            },
            Then::Rebuilt => self.rebuilt(answer),
            Then::PeerRebuilt { peer } => self.peer_rebuilt(&peer, answer),
        }
    }
}
