//! Joining: the waiting room, a participant's relay peer and first streams, and seating it among the
//! others. Resumes after a restart of `meet-control` start here too (see [`super::restart`]).

use std::time::SystemTime;

use crate::signalling::outbox::Outbox;
use meet_relay::protocol::{Request, Response, RoomLimits};

use super::limits::NamedLimits;
use super::{
    initial_sections, new_peer_id, relay_error, unexpected, Participant, Room, Waiting, WEBINAR_MAX_BROADCASTERS,
    WEBINAR_MAX_WATCHERS,
};
use crate::auth::{Grant, TakeoverRefused};
use crate::rooms::{JoinRequest, RoomNews};
use crate::signalling::messages::{MediaSource, Mode, ServerMessage};

impl Room {
    /// A join: into the waiting room when it is on (moderators skip it), else into the room.
    pub(super) async fn request_join(
        &mut self,
        connection: u64,
        request: JoinRequest,
        out: Outbox,
    ) -> Result<String, ServerMessage> {
        let peer_id = request.peer_id.clone().unwrap_or_else(new_peer_id);
        // The page lost its socket (its network changed) while this server went on: same session.
        if let Some(i) = request.resume.as_deref().and_then(|r| self.owner_of(&peer_id, r)) {
            return Ok(self.reattach(i, connection, request, out));
        }
        let orphan = self.orphans.iter().position(|o| o.dump.peer == peer_id);
        let (request, out) = match (orphan, request.resume.as_deref()) {
            (Some(o), Some(r)) if self.orphans[o].owned_by(r) => match self.resume(connection, o, request, out).await {
                Ok(joined) => return joined,
                Err(given_back) => given_back,
            },
            (Some(_), Some(_)) => {
                tracing::info!(peer = %peer_id, "resume refused: ICE credentials do not match the relay's; a fresh session");
                (request, out)
            }
            (None, Some(_)) => {
                tracing::info!(peer = %peer_id, "resume refused: the relay does not hold this peer; a fresh session");
                (request, out)
            }
            _ => (request, out),
        };
        // The seat may be in use: only the same identity takes it over (peer IDs are public), and only
        // once past the JWT, the access check (both done before the room sees the join) and the
        // waiting room. Anyone else is refused and the holder keeps its session.
        if let Err(refused) = self.may_take_seat(&peer_id, &request.grant, true) {
            tracing::warn!(peer = %peer_id, reason = %refused, "join refused: the peerId is in use");
            return Err(ServerMessage::error(refused.code(), refused.to_string()));
        }
        if request.grant.is_moderator() && request.grant.waiting_room && !self.waiting_room {
            self.waiting_room = true;
            tracing::info!("waiting room turned on by the moderator's token");
        }
        if self.waiting_room && !request.grant.is_moderator() {
            tracing::info!(peer = %peer_id, "waits for a moderator");
            // An earlier wait under this peerId is the same identity's (checked above): the newer one waits.
            self.end_wait(&peer_id);
            let _ = out.send(ServerMessage::Waiting);
            self.waiting.push(Waiting { connection, peer_id: peer_id.clone(), request, out });
            self.send_waiting_list();
            return Ok(peer_id);
        }
        self.take_seat(&peer_id).await;
        self.join(connection, peer_id, request, out).await
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
    pub(super) async fn take_seat(&mut self, peer_id: &str) {
        self.close_orphan(peer_id).await;
        if let Some(i) = self.participants.iter().position(|p| p.id == peer_id) {
            tracing::info!(peer = %peer_id, "taken over by a newer connection of the same identity");
            self.participants[i].send(ServerMessage::closed("replaced", "Someone joined into the room with your ID"));
            self.remove(i, true).await;
        }
        if self.end_wait(peer_id) {
            self.send_waiting_list();
        }
    }

    /// Ends the wait of `peer_id` in the waiting room, if any, as replaced.
    fn end_wait(&mut self, peer_id: &str) -> bool {
        let Some(w) = self.waiting.iter().position(|w| w.peer_id == peer_id) else { return false };
        let old = self.waiting.remove(w);
        let _ = old.out.send(ServerMessage::closed("replaced", "Someone joined into the room with your ID"));
        true
    }

    pub(super) async fn join(
        &mut self,
        connection: u64,
        peer_id: String,
        mut request: JoinRequest,
        out: Outbox,
    ) -> Result<String, ServerMessage> {
        let speaker = request.speaker();
        // The first participant creates the room; only it and moderators set the joint-viewing video.
        let creates_room = self.participants.is_empty() && self.orphans.is_empty() && self.video_url.is_none();
        if !self.on_relay {
            let webinar = request.mode == Mode::Webinar;
            let defaults = if webinar {
                RoomLimits { max_broadcasters: WEBINAR_MAX_BROADCASTERS, max_watchers: WEBINAR_MAX_WATCHERS }
            } else {
                RoomLimits::default()
            };
            self.named_limits = NamedLimits::new(defaults);
            self.limits = self.named_limits.with(request.grant.max_broadcasters, request.grant.max_watchers).limits();
            let create = Request::CreateRoom { room: self.id.clone(), limits: self.limits };
            self.relay.request(create).await.map_err(relay_error)?;
            self.on_relay = true;
            tracing::info!(
                max_broadcasters = self.limits.max_broadcasters,
                max_watchers = self.limits.max_watchers,
                "room created"
            );
        }
        // This joiner's limits count from when it is in: one refused changes nothing.
        let (b, w) = (request.grant.max_broadcasters, request.grant.max_watchers);
        let named = self.named_limits.with(b, w);
        let limits = named.limits();
        if !speaker && limits.max_watchers > 0 && self.viewers() >= limits.max_watchers as usize {
            return Err(ServerMessage::error("limit-exceeded", "The limit of maximum watchers is exceeded"));
        }
        let transport = match self
            .relay
            .request(Request::CreatePeer { room: self.id.clone(), peer: peer_id.clone(), watcher: !speaker })
            .await
        {
            Ok(Response::PeerCreated(t)) => t,
            Ok(other) => return Err(unexpected(other)),
            Err(e) => return Err(relay_error(e)),
        };
        self.tighten_limits(named, b, w).await;
        tracing::info!(peer = %peer_id, name = %request.display_name, speaker, moderator = request.grant.is_moderator(), "joined");
        let sections = initial_sections(speaker);
        if let Some(url) = request.grant.video_url.as_ref().filter(|_| creates_room || request.grant.is_moderator()) {
            if self.video_url.as_ref() != Some(url) {
                self.video_url = Some(url.clone());
                let room = self.room_state();
                self.broadcast_except(connection, ServerMessage::RoomUpdated { room });
            }
        }
        // In: the TURN credentials now, before the first offer (the pc gathers with them).
        if let Some(servers) = request.ice_servers.take() {
            let _ = out.send(servers);
        }
        let mut participant = Participant::new(peer_id.clone(), connection, request, out, transport, sections);
        // What the others already send.
        let existing: Vec<(String, MediaSource)> = self
            .participants
            .iter()
            .flat_map(|p| {
                MediaSource::ALL
                    .into_iter()
                    .filter(|s| p.produces(*s) && p.forwards(*s))
                    .map(move |s| (p.id.clone(), s))
            })
            .collect();
        for (from, source) in existing {
            self.consume(&mut participant, &from, source).await;
        }
        self.registry.publish(RoomNews::PeerJoined {
            room_id: self.id.clone(),
            peer_id: peer_id.clone(),
            display_name: participant.display_name.clone(),
            at: SystemTime::now(),
        });
        self.seat(participant, false);
        self.offer_where_needed();
        Ok(peer_id)
    }

    /// A joiner named limits (`b`, `w`): the room's become `named`'s, which can only be stricter
    /// (see [`super::limits`]); looser ones are logged as ignored.
    async fn tighten_limits(&mut self, named: NamedLimits, b: Option<u32>, w: Option<u32>) {
        let limits = named.limits();
        if limits != self.limits {
            let request = Request::CreateRoom { room: self.id.clone(), limits };
            if let Err(e) = self.relay.request(request).await {
                // The relay keeps the old ones; so does this room, to agree with it.
                return tracing::warn!(error = %e, "cannot tighten the room's limits");
            }
            tracing::info!(
                max_broadcasters = limits.max_broadcasters,
                max_watchers = limits.max_watchers,
                "a joiner's stricter limits now stand for the room"
            );
            self.limits = limits;
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

    /// Seats a participant: it learns who is here (`joined`), the others learn of it.
    pub(super) fn seat(&mut self, participant: Participant, resumed: bool) {
        participant.send(ServerMessage::Joined {
            room_id: self.id.clone(),
            peer_id: participant.id.clone(),
            peers: self.peer_infos(),
            you: participant.self_info(),
            room: self.room_state(),
            resumed,
        });
        self.tell_speaker(&participant);
        self.broadcast_except(participant.connection, ServerMessage::PeerJoined { peer: participant.info() });
        let (moderator, speaker) = (participant.grant.is_moderator(), participant.speaker);
        self.participants.push(participant);
        if moderator {
            self.send_waiting_list();
        }
        if !speaker {
            self.broadcast_room_state();
        }
    }
}
