//! Joining: the waiting room, a participant's relay peer and first streams, and seating it among the
//! others. Resumes after a restart of `meet-control` start here too (see [`super::restart`]).
//!
//! A join runs over several relay answers (the room, the peer, one consumer per stream the others
//! send); [`Joining`] carries it from one to the next. Until it is seated, the joiner is nobody else's
//! business: others learn of it when it is in.

use meet_relay::protocol::{Request, Response, RoomLimits};

use super::interpretation::delivers;
use super::limits::NamedLimits;
use super::program::{ConsumeFor, Step, Then};
use super::{
    initial_sections, peer_id_from, relay_error, Link, Participant, RelayAnswer, Room, Waiting,
    WEBINAR_MAX_BROADCASTERS, WEBINAR_MAX_WATCHERS,
};
use crate::auth::{Grant, TakeoverRefused};
use crate::rooms::{JoinRequest, RoomNews};
use crate::signalling::messages::{MediaSource, Mode, ServerMessage};

/// Where a join came from, which says where its outcome goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// The page's `join`: the outcome is its [`super::Output::Joined`].
    Page,
    /// Let in from the waiting room (the page was told it joined when it started waiting): a refusal
    /// closes its session.
    Admitted,
}

/// A join under way.
pub(super) struct Joining {
    connection: u64,
    peer_id: String,
    origin: Origin,
    /// The request, until the participant is made from it.
    request: Option<JoinRequest>,
    /// The room's limits with this joiner's, which stand once it is in.
    named: NamedLimits,
    creates_room: bool,
    participant: Option<Participant>,
    /// What the others send, still to be given to the joiner.
    streams: Vec<(String, MediaSource)>,
}

impl Joining {
    pub(super) fn participant_mut(&mut self) -> &mut Participant {
        self.participant.as_mut().expect("made before its streams")
    }
}

impl Room {
    /// A join: into the waiting room when it is on (moderators skip it), else into the room.
    pub(super) fn request_join(&mut self, connection: u64, request: JoinRequest) {
        let peer_id = request.peer_id.clone().unwrap_or_else(|| peer_id_from(rand::Rng::random(&mut self.rng)));
        // The page lost its socket (its network changed) while this server went on: same session.
        if let Some(i) = request.resume.as_deref().and_then(|r| self.owner_of(&peer_id, r)) {
            let peer_id = self.reattach(i, connection, request);
            return self.out.push(super::Output::Joined { connection, result: Ok(peer_id) });
        }
        let orphan = self.orphans.iter().position(|o| o.dump.peer == peer_id);
        let request = match (orphan, request.resume.as_deref()) {
            (Some(o), Some(r)) if self.orphans[o].owned_by(r) => match self.resume(connection, o, request) {
                Ok(()) => return,
                Err(given_back) => *given_back,
            },
            (Some(_), Some(_)) => {
                tracing::info!(peer = %peer_id, "resume refused: ICE credentials do not match the relay's; a fresh session");
                request
            }
            (None, Some(_)) => {
                tracing::info!(peer = %peer_id, "resume refused: the relay does not hold this peer; a fresh session");
                request
            }
            _ => request,
        };
        // The seat may be in use: only the same identity takes it over (peer IDs are public), and only
        // once past the JWT, the access check (both done before the room sees the join) and the
        // waiting room. Anyone else is refused and the holder keeps its session.
        if let Err(refused) = self.may_take_seat(&peer_id, &request.grant, true) {
            tracing::warn!(peer = %peer_id, reason = %refused, "join refused: the peerId is in use");
            let result = Err(ServerMessage::error(refused.code(), refused.to_string()));
            return self.out.push(super::Output::Joined { connection, result });
        }
        if request.grant.is_moderator() && request.grant.waiting_room && !self.waiting_room {
            self.waiting_room = true;
            tracing::info!("waiting room turned on by the moderator's token");
        }
        if self.waiting_room && !request.grant.is_moderator() {
            tracing::info!(peer = %peer_id, "waits for a moderator");
            // An earlier wait under this peerId is the same identity's (checked above): the newer one waits.
            self.end_wait(&peer_id);
            self.out.send(connection, ServerMessage::Waiting);
            self.waiting.push(Waiting { connection, peer_id: peer_id.clone(), request });
            self.send_waiting_list();
            return self.out.push(super::Output::Joined { connection, result: Ok(peer_id) });
        }
        self.take_seat(&peer_id);
        self.join(connection, peer_id, request, Origin::Page);
    }

    /// Whether `grant` may take over whoever uses `peer_id` now (in the room, waiting to resume, and
    /// with `waiting`, in the waiting room).
    pub(super) fn may_take_seat(&self, peer_id: &str, grant: &Grant, waiting: bool) -> Result<(), TakeoverRefused> {
        let seated = self.participants.iter().filter(|p| p.id == peer_id).map(|p| p.grant.seat_holder());
        let orphans = self.orphans.iter().filter(|o| o.dump.peer == peer_id).map(|o| o.holder());
        let waits =
            self.waiting.iter().filter(|w| waiting && w.peer_id == peer_id).map(|w| w.request.grant.seat_holder());
        seated.chain(orphans).chain(waits).try_for_each(|holder| grant.may_take_over(holder))
    }

    /// Ends the session that holds `peer_id` (a takeover already allowed by [`Room::may_take_seat`]):
    /// in the room, waiting to resume, or in the waiting room.
    pub(super) fn take_seat(&mut self, peer_id: &str) {
        self.close_orphan(peer_id);
        if let Some(i) = self.find(peer_id) {
            tracing::info!(peer = %peer_id, "taken over by a newer connection of the same identity");
            let message = ServerMessage::closed("replaced", "Someone joined into the room with your ID");
            self.out.send(self.participants[i].connection, message);
            self.remove(i, true);
        }
        if self.end_wait(peer_id) {
            self.send_waiting_list();
        }
    }

    /// Ends the wait of `peer_id` in the waiting room, if any, as replaced.
    fn end_wait(&mut self, peer_id: &str) -> bool {
        let Some(w) = self.waiting.iter().position(|w| w.peer_id == peer_id) else { return false };
        let old = self.waiting.remove(w);
        self.out.send(old.connection, ServerMessage::closed("replaced", "Someone joined into the room with your ID"));
        true
    }

    /// Brings a joiner in: the room on the relay (first joiner), its peer, the streams the others send,
    /// then its seat.
    pub(super) fn join(&mut self, connection: u64, peer_id: String, request: JoinRequest, origin: Origin) {
        // The first participant creates the room; only it and moderators set the joint-viewing video.
        let creates_room = self.participants.is_empty() && self.orphans.is_empty() && self.video_url.is_none();
        let named = if self.link.holds_room() { self.named_limits } else { NamedLimits::new(mode_defaults(&request)) };
        let named = named.with(request.grant.max_broadcasters, request.grant.max_watchers);
        let joining = Box::new(Joining {
            connection,
            peer_id,
            origin,
            request: Some(request),
            named,
            creates_room,
            participant: None,
            streams: Vec::new(),
        });
        if self.link.holds_room() {
            return self.create_peer(joining);
        }
        // The room's limits are set when it is created: this joiner's, or its mode's defaults.
        let limits = named.limits();
        let create = Request::CreateRoom { room: self.id.clone(), limits };
        self.program.ask(create, Then::JoinRoomCreated(joining));
    }

    pub(super) fn join_room_created(&mut self, joining: Box<Joining>, answer: RelayAnswer) {
        if !answer.is_ok() {
            return self.join_refused(joining, relay_error(answer));
        }
        self.link = Link::Present;
        self.limits = joining.named.limits();
        self.named_limits = joining.named;
        tracing::info!(
            max_broadcasters = self.limits.max_broadcasters,
            max_watchers = self.limits.max_watchers,
            "room created"
        );
        self.create_peer(joining);
    }

    fn create_peer(&mut self, joining: Box<Joining>) {
        let request = joining.request.as_ref().expect("a join not yet seated");
        let (speaker, interpreter) = (request.speaker(), request.grant.interprets().is_some());
        // The one check of `maxWatchers`: the relay does not count viewers, as a room's can be on several
        // relays. This joiner's limits count from when it is in: one refused changes nothing. Viewers
        // the relay kept through a restart of control hold their place until they are back or expire.
        let limits = joining.named.limits();
        let viewers = self.viewers() + self.orphans.iter().filter(|o| o.dump.watcher).count();
        if !speaker && limits.max_watchers > 0 && viewers >= limits.max_watchers as usize {
            let refusal = ServerMessage::error("limit-exceeded", "The limit of maximum watchers is exceeded");
            return self.join_refused(joining, refusal);
        }
        let request = Request::CreatePeer {
            room: self.id.clone(),
            peer: joining.peer_id.clone(),
            watcher: !speaker,
            interpreter,
            relay_link: None,
        };
        self.program.ask(request, Then::JoinPeerCreated(joining));
    }

    pub(super) fn join_peer_created(&mut self, mut joining: Box<Joining>, answer: RelayAnswer) {
        let transport = match answer {
            RelayAnswer::Ok(Response::PeerCreated(t)) => t,
            other => return self.join_refused(joining, relay_error(other)),
        };
        let mut request = joining.request.take().expect("a join not yet seated");
        self.tighten_limits(joining.named, request.grant.max_broadcasters, request.grant.max_watchers);
        let speaker = request.speaker();
        tracing::info!(peer = %joining.peer_id, name = %request.display_name, speaker, moderator = request.grant.is_moderator(), "joined");
        if let Some(url) =
            request.grant.video_url.as_ref().filter(|_| joining.creates_room || request.grant.is_moderator())
        {
            if self.video_url.as_ref() != Some(url) {
                self.video_url = Some(url.clone());
                let room = self.room_state();
                self.broadcast_except(joining.connection, ServerMessage::RoomUpdated { room });
            }
        }
        // In: the TURN credentials now, before the first offer (the pc gathers with them).
        if let Some(servers) = request.ice_servers.take() {
            self.out.send(joining.connection, servers);
        }
        let session_id = self.session_id();
        let sections = initial_sections(speaker);
        joining.participant = Some(Participant::new(
            joining.peer_id.clone(),
            joining.connection,
            request,
            transport,
            sections,
            session_id,
        ));
        // What the others already send, given last first (see `join_consume`).
        let joiner = joining.participant.as_ref().expect("just made");
        let on = self.interpretation.on();
        joining.streams = self
            .participants
            .iter()
            .flat_map(|p| {
                MediaSource::ALL
                    .into_iter()
                    .filter(move |s| p.produces(*s) && delivers(p, joiner, *s, on))
                    .map(move |s| (p.id.clone(), s))
            })
            .collect();
        joining.streams.reverse();
        self.program.then(Step::JoinConsume(joining));
    }

    /// The joiner's next stream, or its seat once it has them all.
    pub(super) fn join_consume(&mut self, mut joining: Box<Joining>) {
        while let Some((from, source)) = joining.streams.pop() {
            // A sender that left meanwhile (the others' streams are read when the peer is made).
            if self.find(&from).is_some() {
                let participant = joining.participant.as_ref().expect("made before its streams");
                let request = self.consume_request(&participant.id, &from, source);
                return self.program.ask(request, Then::Consumed { to: ConsumeFor::Joining(joining), from, source });
            }
        }
        let participant = joining.participant.take().expect("made before its streams");
        self.publish(RoomNews::PeerJoined {
            room_id: self.id.clone(),
            peer_id: joining.peer_id.clone(),
            display_name: participant.display_name.clone(),
            at: self.now.wall,
        });
        self.seat(participant, false);
        self.offer_where_needed();
        if joining.origin == Origin::Page {
            self.out.push(super::Output::Joined { connection: joining.connection, result: Ok(joining.peer_id) });
        }
    }

    /// A join that cannot go on: the page is told, and the room keeps nothing of it.
    fn join_refused(&mut self, joining: Box<Joining>, refusal: ServerMessage) {
        match joining.origin {
            Origin::Page => {
                self.out.push(super::Output::Joined { connection: joining.connection, result: Err(refusal) })
            }
            Origin::Admitted => {
                let (code, message) = match refusal {
                    ServerMessage::Error { code, message } => (code, message),
                    _ => ("server-error".into(), "Cannot join".into()),
                };
                self.out.send(joining.connection, ServerMessage::Closed { code, message });
            }
        }
    }

    /// A joiner named limits (`b`, `w`): the room's become `named`'s, which can only be stricter
    /// (see [`super::limits`]); looser ones are logged as ignored.
    fn tighten_limits(&mut self, named: NamedLimits, b: Option<u32>, w: Option<u32>) {
        let limits = named.limits();
        if limits != self.limits {
            let request = Request::CreateRoom { room: self.id.clone(), limits };
            self.program.ask(request, Then::Tightened(limits));
        }
        self.named_limits = named;
        let looser = |named: Option<u32>, room: u32| named.is_some_and(|n| room > 0 && (n == 0 || n > room));
        if looser(b, limits.max_broadcasters) || looser(w, limits.max_watchers) {
            tracing::info!(
                max_broadcasters = ?b,
                max_watchers = ?w,
                room_max_broadcasters = limits.max_broadcasters,
                room_max_watchers = limits.max_watchers,
                "a joiner's looser limits are ignored: the room's stricter ones stand"
            );
        }
    }

    pub(super) fn tightened(&mut self, limits: RoomLimits, answer: RelayAnswer) {
        if !answer.is_ok() {
            // The relay keeps the old ones; so does this room, to agree with it.
            return tracing::warn!(?answer, "cannot tighten the room's limits");
        }
        tracing::info!(
            max_broadcasters = limits.max_broadcasters,
            max_watchers = limits.max_watchers,
            "a joiner's stricter limits now stand for the room"
        );
        self.limits = limits;
    }

    /// Seats a participant: it learns who is here (`joined`), the others learn of it.
    pub(super) fn seat(&mut self, participant: Participant, resumed: bool) {
        let joined = ServerMessage::Joined {
            room_id: self.id.clone(),
            peer_id: participant.id.clone(),
            peers: self.peer_infos(),
            you: participant.self_info(),
            room: self.room_state(),
            resumed,
        };
        self.out.send(participant.connection, joined);
        self.tell_speaker(participant.connection);
        self.broadcast_except(participant.connection, ServerMessage::PeerJoined { peer: participant.info() });
        let (moderator, speaker) = (participant.grant.is_moderator(), participant.speaker);
        self.participants.push(participant);
        if moderator {
            self.send_waiting_list();
        }
        if !speaker {
            self.broadcast_room_state();
        }
        self.interpretation_joined(self.participants.len() - 1);
    }
}

/// A room's limits where nobody named any: a webinar's, or none for a call.
fn mode_defaults(request: &JoinRequest) -> RoomLimits {
    if request.mode == Mode::Webinar {
        RoomLimits { max_broadcasters: WEBINAR_MAX_BROADCASTERS, max_watchers: WEBINAR_MAX_WATCHERS }
    } else {
        RoomLimits::default()
    }
}
