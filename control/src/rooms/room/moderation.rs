//! Chat, raised hands, the waiting room and moderator commands. Every moderator command is checked
//! here, on the server: a participant whose token did not make it a moderator is refused whatever its
//! client sends.

use super::join::Origin;
use super::media::AfterSending;
use super::program::Step;
use super::Room;
use crate::signalling::messages::{MediaSource, ModeratorAction, ServerMessage, WaitingPeer, MAX_CHAT_CHARS};

impl Room {
    pub(super) fn chat(&mut self, connection: u64, text: String) {
        let Some(i) = self.index_of(connection) else { return };
        let text: String = text.trim().chars().filter(|c| !c.is_control() || *c == '\n').take(MAX_CHAT_CHARS).collect();
        if text.is_empty() {
            return;
        }
        let p = &self.participants[i];
        let at = self.now.wall.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let message = ServerMessage::Chat { peer_id: p.id.clone(), display_name: p.display_name.clone(), text, at };
        for p in &self.participants {
            self.out.send(p.connection, message.clone());
        }
    }

    pub(super) fn hand(&mut self, connection: u64, raised: bool) {
        let Some(i) = self.index_of(connection) else { return };
        let p = &mut self.participants[i];
        if raised && !p.grant.hand_enabled {
            let message = ServerMessage::error("not-allowed", "Raising hands is not enabled in this room");
            return self.out.send(connection, message);
        }
        if p.hand == raised {
            return;
        }
        p.hand = raised;
        let info = p.info();
        self.broadcast_except(connection, ServerMessage::PeerUpdated { peer: info });
    }

    /// Who waits, for every moderator.
    pub(super) fn send_waiting_list(&mut self) {
        let peers: Vec<WaitingPeer> = self
            .waiting
            .iter()
            .map(|w| WaitingPeer { peer_id: w.peer_id.clone(), display_name: w.request.display_name.clone() })
            .collect();
        for p in self.participants.iter().filter(|p| p.grant.is_moderator()) {
            self.out.send(p.connection, ServerMessage::WaitingList { peers: peers.clone() });
        }
    }

    /// Lets `peer_id` in from the waiting room; false if it does not wait.
    pub(super) fn admit(&mut self, peer_id: &str) -> bool {
        let Some(w) = self.waiting.iter().position(|w| w.peer_id == peer_id) else { return false };
        let w = self.waiting.remove(w);
        tracing::info!(peer = %w.peer_id, "admitted from the waiting room");
        // Whoever took this peerId meanwhile is checked again now that the takeover happens.
        if let Err(refused) = self.may_take_seat(&w.peer_id, &w.request.grant, false) {
            self.out.send(w.connection, ServerMessage::closed(refused.code(), refused.to_string()));
            return true;
        }
        self.take_seat(&w.peer_id);
        self.join(w.connection, w.peer_id, w.request, Origin::Admitted);
        true
    }

    pub(super) fn moderate(&mut self, connection: u64, action: ModeratorAction) {
        let Some(m) = self.index_of(connection) else { return };
        if !self.participants[m].grant.is_moderator() {
            tracing::warn!(peer = %self.participants[m].id, ?action, "moderator command from a participant who is not a moderator refused");
            return self.out.send(connection, ServerMessage::error("forbidden", "Only a moderator can do this"));
        }
        let moderator = self.participants[m].id.clone();
        tracing::info!(moderator = %moderator, ?action, "moderator command");
        let found = match action {
            ModeratorAction::Allow { peer_id, kind, allowed } => self.set_allowed(&peer_id, kind, allowed),
            ModeratorAction::Ask { peer_id, kind } => match self.find(&peer_id) {
                Some(i) => {
                    let p = &mut self.participants[i];
                    if !p.allowed.get(kind) {
                        p.allowed.set(kind, true);
                        let you = p.self_info();
                        self.out.send(p.connection, ServerMessage::YouUpdated { you });
                    }
                    self.out.send(p.connection, ServerMessage::Moderation { action: "ask", kind: Some(kind) });
                    true
                }
                None => false,
            },
            ModeratorAction::TurnOff { peer_id, kind } => self.turn_off(&peer_id, kind),
            ModeratorAction::LowerHand { peer_id } => match self.find(&peer_id) {
                Some(i) => {
                    let p = &mut self.participants[i];
                    p.hand = false;
                    self.out.send(p.connection, ServerMessage::Moderation { action: "lowerHand", kind: None });
                    let (info, conn) = (p.info(), p.connection);
                    self.broadcast_except(conn, ServerMessage::PeerUpdated { peer: info });
                    true
                }
                None => false,
            },
            ModeratorAction::Remove { peer_id } => match self.find(&peer_id) {
                Some(i) => {
                    tracing::info!(peer = %peer_id, "removed by a moderator");
                    let message = ServerMessage::closed("removed", "The moderator removed you from the room");
                    self.out.send(self.participants[i].connection, message);
                    self.remove(i, true);
                    true
                }
                None => false,
            },
            ModeratorAction::MuteAll | ModeratorAction::CamerasOffAll => {
                let kind =
                    if matches!(action, ModeratorAction::MuteAll) { MediaSource::Audio } else { MediaSource::Video };
                let targets: Vec<String> = self
                    .participants
                    .iter()
                    .filter(|p| p.speaker && !p.grant.is_moderator())
                    .map(|p| p.id.clone())
                    .collect();
                for peer in targets {
                    self.program.then(Step::TurnOff { peer, source: kind });
                }
                true
            }
            ModeratorAction::WaitingRoom { on } => {
                self.waiting_room = on;
                self.broadcast_room_state();
                if !on {
                    let everyone: Vec<String> = self.waiting.iter().map(|w| w.peer_id.clone()).collect();
                    // One after the other: each join sees the room the previous one left.
                    for id in everyone {
                        self.program.then(Step::Admit(id));
                    }
                }
                self.program.then(Step::SendWaitingList);
                true
            }
            ModeratorAction::Admit { peer_id } => {
                let ok = self.admit(&peer_id);
                self.program.then(Step::SendWaitingList);
                ok
            }
            ModeratorAction::Interpretation { on } => {
                if !self.set_interpretation(on) {
                    let message = "Language interpretation is not enabled for this room (featureInterpreters)";
                    self.out.send(connection, ServerMessage::error("not-allowed", message));
                }
                true
            }
            ModeratorAction::Reject { peer_id } => match self.waiting.iter().position(|w| w.peer_id == peer_id) {
                Some(w) => {
                    let w = self.waiting.remove(w);
                    tracing::info!(peer = %w.peer_id, "rejected from the waiting room");
                    self.out.send(w.connection, ServerMessage::closed("rejected", "The moderator did not let you in"));
                    self.send_waiting_list();
                    true
                }
                None => false,
            },
        };
        if !found && self.index_of(connection).is_some() {
            let message = ServerMessage::error("not-found", "That participant is not in the room any more");
            self.out.send(connection, message);
        }
    }

    pub(super) fn turn_off(&mut self, peer_id: &str, source: MediaSource) -> bool {
        let Some(i) = self.find(peer_id) else { return false };
        let p = &mut self.participants[i];
        p.blocked.insert(source);
        // Off at once, so others see it off, and its seat goes back without waiting for the page.
        p.set_wants(source, false);
        self.apply_sending(peer_id, AfterSending::TurnOff { source });
        true
    }

    fn set_allowed(&mut self, peer_id: &str, source: MediaSource, allowed: bool) -> bool {
        let Some(i) = self.find(peer_id) else { return false };
        let p = &mut self.participants[i];
        p.allowed.set(source, allowed);
        let after = AfterSending::Allowed { source, allowed };
        if allowed {
            self.sending_applied(peer_id, after);
        } else {
            p.set_wants(source, false);
            self.apply_sending(peer_id, after);
        }
        true
    }
}
