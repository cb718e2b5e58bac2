//! Language interpretation: interpreters (`role: interpreter`, `intLang`) speak into a channel of their
//! language; everyone else hears the original speakers and may pick one channel, with the original
//! muted or beneath it.
//!
//! Who hears what is one rule, [`delivers`], applied where streams are given ([`Room::sync_to`] and the
//! joiner's first streams): the relay sends each participant only the audio it chose, never every
//! interpreter's. Interpreters hear the original, never another channel, and send no video.
//!
//! A language is a channel while an interpreter of it is in the room; when its last one leaves it stays
//! selectable for the grace period ([`Settings::interpreter_grace`], 30 s by default), and if none comes
//! back it goes and its listeners are switched back to the original (and told why). The room may use
//! interpretation once a joiner's token has `featureInterpreters`; a moderator turns it on or off.

use std::collections::BTreeMap;
use std::time::Instant;

use super::program::Step;
use super::{Participant, Room};
use crate::signalling::messages::{MediaSource, ServerMessage};

/// A listener's choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listening {
    pub channel: String,
    pub mute_original: bool,
}

#[derive(Debug, Default)]
pub(super) struct Interpretation {
    /// A joiner's token had `featureInterpreters`.
    available: bool,
    /// Off once a moderator turned it off (until one turns it on).
    off: bool,
    /// The channels: languages with an interpreter here (`None`), or until when one whose last
    /// interpreter left stays selectable.
    channels: BTreeMap<String, Option<Instant>>,
}

impl Interpretation {
    pub fn on(&self) -> bool {
        self.available && !self.off
    }

    /// When the next channel without interpreters goes.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.channels.values().flatten().min().copied()
    }

    fn list(&self) -> Vec<String> {
        if self.on() {
            self.channels.keys().cloned().collect()
        } else {
            Vec::new()
        }
    }

    fn selectable(&self, channel: &str) -> bool {
        self.on() && self.channels.contains_key(channel)
    }
}

/// Whether `to` receives `from`'s `source`: what `from` forwards, with interpreters heard only by the
/// listeners of their channel, and the original audio not by listeners who muted it.
pub(super) fn delivers(from: &Participant, to: &Participant, source: MediaSource, interpretation_on: bool) -> bool {
    if !from.forwards(source) {
        return false;
    }
    if let Some(lang) = from.grant.interprets() {
        return source == MediaSource::Audio
            && interpretation_on
            && to.listening.as_ref().is_some_and(|l| l.channel == lang);
    }
    !(source == MediaSource::Audio && to.listening.as_ref().is_some_and(|l| l.mute_original))
}

impl Room {
    /// What `connection` should know of interpretation now.
    fn interpretation_state(&self, i: usize, reason: Option<&'static str>) -> ServerMessage {
        let p = &self.participants[i];
        ServerMessage::Interpretation {
            available: self.interpretation.available,
            on: self.interpretation.on(),
            channels: self.interpretation.list(),
            channel: p.listening.as_ref().map(|l| l.channel.clone()),
            mute_original: p.listening.as_ref().is_some_and(|l| l.mute_original),
            reason,
        }
    }

    fn tell_interpretation(&mut self, i: usize, reason: Option<&'static str>) {
        let message = self.interpretation_state(i, reason);
        self.out.send(self.participants[i].connection, message);
    }

    fn broadcast_interpretation(&mut self) {
        for i in 0..self.participants.len() {
            self.tell_interpretation(i, None);
        }
    }

    /// Participant `i` was just seated: a token with `featureInterpreters` makes interpretation available,
    /// an interpreter opens (or keeps) its language's channel, and the newcomer learns the channels.
    pub(super) fn interpretation_joined(&mut self, i: usize) {
        let p = &self.participants[i];
        let mut changed = false;
        if p.grant.feature_interpreters && !self.interpretation.available {
            self.interpretation.available = true;
            tracing::info!("language interpretation available (featureInterpreters)");
            changed = true;
        }
        if let Some(lang) = p.grant.interprets() {
            let before = self.interpretation.channels.insert(lang.to_string(), None);
            changed |= before.is_none();
        }
        if changed {
            self.broadcast_interpretation();
        } else if self.interpretation.available {
            self.tell_interpretation(i, None);
        }
    }

    /// An interpreter of `lang` left: when it was the last, the channel counts down its grace period.
    pub(super) fn interpreter_left(&mut self, lang: &str) {
        let others = self.participants.iter().any(|p| p.grant.interprets() == Some(lang));
        if !others {
            let until = self.now.mono + self.settings.interpreter_grace;
            tracing::info!(lang, "the last interpreter of a channel left; it stays for the grace period");
            self.interpretation.channels.insert(lang.to_string(), Some(until));
        }
    }

    /// Channels whose grace period is over go; their listeners hear the original again.
    pub(super) fn expire_channels(&mut self) {
        let now = self.now.mono;
        let gone: Vec<String> = self
            .interpretation
            .channels
            .iter()
            .filter(|(_, until)| until.is_some_and(|t| t <= now))
            .map(|(lang, _)| lang.clone())
            .collect();
        if gone.is_empty() {
            return;
        }
        for lang in &gone {
            tracing::info!(lang = %lang, "no interpreter came back: the channel goes");
            self.interpretation.channels.remove(lang);
        }
        let switched: Vec<usize> = (0..self.participants.len())
            .filter(|i| self.participants[*i].listening.as_ref().is_some_and(|l| gone.contains(&l.channel)))
            .collect();
        for &i in &switched {
            self.participants[i].listening = None;
            self.tell_interpretation(i, Some("channel-gone"));
            self.program.then(Step::SyncTo(self.participants[i].id.clone()));
        }
        for i in 0..self.participants.len() {
            if !switched.contains(&i) {
                self.tell_interpretation(i, None);
            }
        }
    }

    /// A participant picks a channel (or the original only).
    pub(super) fn listen(&mut self, connection: u64, channel: Option<String>, mute_original: bool) {
        let Some(i) = self.index_of(connection) else { return };
        if self.participants[i].grant.interprets().is_some() {
            let message = ServerMessage::error("not-allowed", "Interpreters hear the original audio");
            return self.out.send(connection, message);
        }
        let listening = match channel {
            None => None,
            Some(channel) if self.interpretation.selectable(&channel) => Some(Listening { channel, mute_original }),
            Some(_) => {
                let message = ServerMessage::error("not-found", "No interpretation into that language right now");
                self.out.send(connection, message);
                return self.tell_interpretation(i, None);
            }
        };
        let p = &mut self.participants[i];
        if p.listening != listening {
            p.listening = listening;
            let peer = p.id.clone();
            self.sync_to(&peer);
        }
        self.tell_interpretation(i, None);
    }

    /// A moderator turns interpretation on or off; off, everyone hears the original.
    pub(super) fn set_interpretation(&mut self, on: bool) -> bool {
        if !self.interpretation.available {
            return false;
        }
        if self.interpretation.off != on {
            return true;
        }
        self.interpretation.off = !on;
        tracing::info!(on, "language interpretation switched by a moderator");
        let mut reasons = vec![None; self.participants.len()];
        for (i, p) in self.participants.iter_mut().enumerate() {
            if !on && p.listening.take().is_some() {
                reasons[i] = Some("interpretation-off");
            }
        }
        for (i, reason) in reasons.into_iter().enumerate() {
            self.tell_interpretation(i, reason);
        }
        let ids: Vec<String> = self.participants.iter().map(|p| p.id.clone()).collect();
        for peer in ids {
            self.program.then(Step::SyncTo(peer));
        }
        true
    }
}
