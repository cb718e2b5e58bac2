//! The room's limits (`maxBroadcasters`, `maxWatchers`) are the room's, not those of whoever happened to
//! create it: every joiner's token (or URL) may name them, and the strictest value named so far stands.
//! A later token can tighten a room but never loosen it, so the limits do not depend on who came first,
//! and a permissive token cannot open up a room others were given strict tokens for. 0 (no limit) is the
//! loosest value. Where nobody named a limit, the mode's default holds (a webinar: 20 broadcasters and
//! 2000 watchers; a call: none). Tightening keeps who already sends or watches: nobody is cut off, but
//! nobody new gets a seat past the new limit.

use meet_relay::protocol::RoomLimits;

/// The strictest limits named so far, and the defaults for those nobody named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct NamedLimits {
    broadcasters: Option<u32>,
    watchers: Option<u32>,
    defaults: RoomLimits,
}

/// The stricter of two named limits; 0 is no limit.
fn stricter(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(x), Some(y)) if x > 0 && y > 0 => Some(x.min(y)),
        // One of them is no limit: the other one.
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) | (None, x) => x,
    }
}

impl NamedLimits {
    /// A room nobody named limits for yet.
    pub fn new(defaults: RoomLimits) -> Self {
        NamedLimits { broadcasters: None, watchers: None, defaults }
    }

    /// Limits already in force (a room taken back from the relay): they stand as named.
    pub fn in_force(limits: RoomLimits) -> Self {
        NamedLimits {
            broadcasters: Some(limits.max_broadcasters),
            watchers: Some(limits.max_watchers),
            defaults: limits,
        }
    }

    /// These limits with a joiner's named ones added.
    pub fn with(self, broadcasters: Option<u32>, watchers: Option<u32>) -> Self {
        NamedLimits {
            broadcasters: stricter(self.broadcasters, broadcasters),
            watchers: stricter(self.watchers, watchers),
            defaults: self.defaults,
        }
    }

    pub fn limits(&self) -> RoomLimits {
        RoomLimits {
            max_broadcasters: self.broadcasters.unwrap_or(self.defaults.max_broadcasters),
            max_watchers: self.watchers.unwrap_or(self.defaults.max_watchers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBINAR: RoomLimits = RoomLimits { max_broadcasters: 20, max_watchers: 2000 };

    fn limits(b: u32, w: u32) -> RoomLimits {
        RoomLimits { max_broadcasters: b, max_watchers: w }
    }

    #[test]
    fn the_strictest_named_limit_stands_whoever_joins_first() {
        let tokens = [(Some(5), Some(100)), (Some(1), None), (Some(3), Some(50)), (None, None)];
        let mut seen = Vec::new();
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let mut l = NamedLimits::new(RoomLimits::default());
            for i in order {
                l = l.with(tokens[i].0, tokens[i].1);
            }
            seen.push(l.limits());
        }
        assert_eq!(seen, [limits(1, 50); 3]);
    }

    #[test]
    fn a_later_token_never_loosens() {
        let l = NamedLimits::new(RoomLimits::default()).with(Some(2), Some(10));
        assert_eq!(l.with(Some(9), Some(0)).limits(), limits(2, 10), "0 is no limit: the loosest");
        assert_eq!(l.with(None, None).limits(), limits(2, 10));
    }

    #[test]
    fn defaults_hold_until_someone_names_a_limit() {
        let l = NamedLimits::new(WEBINAR);
        assert_eq!(l.limits(), WEBINAR);
        assert_eq!(l.with(None, None).limits(), WEBINAR, "a joiner without limits changes nothing");
        // A named value replaces a default, even a looser one: the default was nobody's choice.
        assert_eq!(l.with(Some(50), None).limits(), limits(50, 2000));
        assert_eq!(l.with(Some(0), Some(10)).limits(), limits(0, 10), "0 named: no limit");
        assert_eq!(l.with(Some(50), None).with(Some(30), None).limits(), limits(30, 2000));
    }

    #[test]
    fn limits_in_force_stand_as_named() {
        let l = NamedLimits::in_force(WEBINAR);
        assert_eq!(l.with(Some(50), None).limits(), WEBINAR);
        assert_eq!(l.with(Some(5), None).limits(), limits(5, 2000));
    }
}
