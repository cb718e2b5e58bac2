//! A page whose network changed (Wi-Fi to mobile, a new address) keeps its session:
//!
//! - ICE restarts. The page's ICE goes `disconnected` and it sends `iceRestart`: the relay gives the
//!   peer new ICE credentials (its DTLS session, keys and streams stay) and the next offer carries them.
//!   The page's answer brings its own new ufrag, which the relay learns as at the start
//!   ([`Room::answer`]).
//! - A new socket. The signalling socket may have died with the old network while this server did not
//!   notice. The page reconnects with `join` + `resume` and the ICE credentials of the offer it
//!   answered last; they prove it owns the session (only the page and the relay know the password), so
//!   the participant goes on over the new socket: no `peerLeft`, no new tile.

use std::time::Duration;

use meet_relay::protocol::{Request, Response};

use super::program::Then;
use super::{RelayAnswer, Room};
use crate::auth::constant_time_eq;
use crate::rooms::JoinRequest;
use crate::signalling::messages::{Resume, ServerMessage};

/// A page asks again every few seconds while ICE stays down; more often than this is not a page of
/// ours, and each restart costs the relay a little.
const MIN_ICE_RESTART_INTERVAL: Duration = Duration::from_secs(1);

impl Room {
    pub(super) fn ice_restart(&mut self, connection: u64) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &self.participants[i];
        // The relay is away: `relayBack` or `mediaRestart` (a new transport) settles the media. No
        // offer yet: there is nothing to restart.
        if self.link != super::Link::Present || p.offered == 0 {
            return tracing::debug!(peer = %p.id, "ICE restart asked for while there is nothing to restart");
        }
        if p.ice_restarted.is_some_and(|at| self.now.mono.saturating_duration_since(at) < MIN_ICE_RESTART_INTERVAL) {
            return tracing::debug!(peer = %p.id, "ICE restart asked for again too soon; ignored");
        }
        let request = Request::RestartIce { room: self.id.clone(), peer: p.id.clone() };
        self.program.ask(request, Then::IceRestarted { peer: p.id.clone() });
    }

    pub(super) fn ice_restarted(&mut self, peer: &str, answer: RelayAnswer) {
        let transport = match answer {
            RelayAnswer::Ok(Response::PeerCreated(t)) => t,
            other => return tracing::warn!(peer = %peer, answer = ?other, "ICE restart failed"),
        };
        let Some(i) = self.find(peer) else { return };
        let p = &mut self.participants[i];
        tracing::info!(peer = %p.id, "ICE restarted: the page's network changed");
        p.transport = transport;
        p.ice_restarted = Some(self.now.mono);
        // An offer still out has the old credentials: the new one follows its answer.
        p.dirty = true;
        self.offer_where_needed();
    }

    /// The participant `peer_id` if `resume` proves its page owns the session (the ICE credentials of
    /// the relay peer).
    pub(super) fn owner_of(&self, peer_id: &str, resume: &Resume) -> Option<usize> {
        self.participants.iter().position(|p| {
            p.id == peer_id
                && constant_time_eq(p.transport.ice_ufrag.as_bytes(), resume.ufrag.as_bytes())
                    & constant_time_eq(p.transport.ice_pwd.as_bytes(), resume.pwd.as_bytes())
        })
    }

    /// Participant `i`'s page came back on a new socket: the session goes on over it. Returns its id.
    pub(super) fn reattach(&mut self, i: usize, connection: u64, request: JoinRequest) -> String {
        let resume = request.resume.as_deref().expect("reattach follows a resume");
        let p = &mut self.participants[i];
        tracing::info!(peer = %p.id, "the page is back on a new socket; its session goes on");
        // The old socket, should it still be open, is done (the page stopped reading it).
        let message = ServerMessage::closed("replaced", "This session went on over a new connection");
        self.out.send(p.connection, message);
        p.connection = connection;
        // An offer that went to the old socket, or an answer lost with it: a fresh offer settles both.
        if p.offer_pending() || resume.version != p.offered {
            p.answered = p.offered;
            p.dirty = true;
        }
        let p = &self.participants[i];
        let joined = ServerMessage::Joined {
            room_id: self.id.clone(),
            peer_id: p.id.clone(),
            peers: self.peer_infos().into_iter().filter(|info| info.peer_id != p.id).collect(),
            you: p.self_info(),
            room: self.room_state(),
            resumed: true,
        };
        let (id, moderator) = (p.id.clone(), p.grant.is_moderator());
        self.out.send(connection, joined);
        self.tell_speaker(connection);
        if moderator {
            self.send_waiting_list();
        }
        if self.interpretation.on() {
            self.interpretation_joined(i);
        }
        self.offer_where_needed();
        id
    }
}
