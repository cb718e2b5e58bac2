//! `--find-limit`: the highest send rate a system forwards with under 1% loss, on its one pinned core.
//!
//! The search reuses the ramp's multipliers as probes until one loses more than 1%, goes on growing by
//! half when the ramp ends first, then bisects (geometrically) between the highest good probe below the
//! first lossy one and that lossy one until they are within `precision`. Only loss decides here, not
//! latency: this is the capacity figure, where the ramp's failure point also stops at p99 over 50 ms.
//! A probe the generator could not offer in full says nothing about the system, so it ends the search
//! and the limit is then a lower bound.

/// Loss above this share fails a probe.
pub const MAX_LOSS: f64 = 0.01;
/// Growth after the ramp's last multiplier.
const GROWTH: f64 = 1.5;
/// Probes at most (the steady step included): steps are numbered 1 to 31 in the generator's counts.
pub const MAX_PROBES: usize = 24;
/// A probe that offered less than this share of its nominal rate was held back by the generator (its
/// own CPU, or other processes taking its core for over 50 ms, after which it skips sends rather than
/// burst); a few percent short is common on a loaded machine and still measures the system.
pub const MIN_OFFERED_SHARE: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Good,
    Lossy,
    GeneratorLimited,
}

impl Outcome {
    /// How a probe went, from its loss and the share of its nominal rate the generator offered.
    pub fn of(loss: f64, offered_share: f64) -> Outcome {
        if offered_share.is_nan() || offered_share < MIN_OFFERED_SHARE {
            Outcome::GeneratorLimited
        } else if loss <= MAX_LOSS {
            Outcome::Good
        } else {
            Outcome::Lossy
        }
    }
}

#[derive(Debug, Clone)]
pub struct Search {
    ramp: Vec<f64>,
    /// Stop bisecting when the lossy probe is within this share above the good one.
    precision: f64,
    /// The highest multiplier it will try, and how many probes at most.
    max_multiplier: f64,
    max_probes: usize,
    pub tried: Vec<(f64, Outcome)>,
}

impl Search {
    pub fn new(ramp: &[f64], precision: f64, max_multiplier: f64, max_probes: usize) -> Self {
        let mut ramp: Vec<f64> = ramp.iter().copied().filter(|m| m.is_finite() && *m > 0.0).collect();
        ramp.sort_by(f64::total_cmp);
        Search { ramp, precision, max_multiplier, max_probes, tried: Vec::new() }
    }

    pub fn record(&mut self, multiplier: f64, outcome: Outcome) {
        self.tried.push((multiplier, outcome));
    }

    /// The lowest lossy probe, and the highest good one below it.
    pub fn bracket(&self) -> (Option<f64>, Option<f64>) {
        let lossy = self.tried.iter().filter(|(_, o)| *o == Outcome::Lossy).map(|(m, _)| *m).min_by(f64::total_cmp);
        let good = self
            .tried
            .iter()
            .filter(|(m, o)| *o == Outcome::Good && lossy.is_none_or(|l| *m < l))
            .map(|(m, _)| *m)
            .max_by(f64::total_cmp);
        (good, lossy)
    }

    pub fn generator_limited(&self) -> bool {
        self.tried.iter().any(|(_, o)| *o == Outcome::GeneratorLimited)
    }

    /// The next multiplier to try, or `None` when the search is over.
    pub fn next(&self) -> Option<f64> {
        if self.tried.len() >= self.max_probes || self.generator_limited() {
            return None;
        }
        let next = match self.bracket() {
            (good, None) => {
                let top = good.unwrap_or(0.0);
                self.ramp.iter().copied().find(|m| *m > top).unwrap_or(top.max(1.0) * GROWTH)
            }
            // Lossy from the first probe: halve until one holds.
            (None, Some(lossy)) => lossy / 2.0,
            (Some(good), Some(lossy)) if lossy / good > 1.0 + self.precision => (good * lossy).sqrt(),
            (Some(_), Some(_)) => return None,
        };
        (next <= self.max_multiplier && next >= 1e-3).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAMP: [f64; 8] = [1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0];

    /// Runs the search against a system that forwards `capacity` times the nominal rate and drops the
    /// rest, as a full receive queue does; the steady step (x1) is the first probe.
    fn search(capacity: f64, generator_max: f64) -> Search {
        let mut s = Search::new(&RAMP, 0.05, 64.0, 24);
        let mut m = 1.0;
        loop {
            let loss = (1.0 - capacity / m).max(0.0);
            let offered = (generator_max / m).min(1.0);
            s.record(m, Outcome::of(loss, offered));
            match s.next() {
                Some(n) => m = n,
                None => return s,
            }
        }
    }

    #[test]
    fn finds_a_capacity_inside_the_ramp_within_the_precision() {
        // 1% loss at 3.4 / 0.99 = 3.434: the limit lies between the ramp's 3 and 4.
        let s = search(3.4, f64::INFINITY);
        let (good, lossy) = s.bracket();
        let (good, lossy) = (good.unwrap(), lossy.unwrap());
        assert!(good <= 3.4 / 0.99 && lossy > 3.4 / 0.99, "{good} {lossy}");
        assert!(lossy / good <= 1.05, "{good} {lossy}");
        assert!(good > 3.2, "{good}");
        assert!(!s.generator_limited());
        assert!(s.tried.len() <= 12, "{:?}", s.tried);
    }

    #[test]
    fn grows_past_the_ramp() {
        let (good, lossy) = search(20.0, f64::INFINITY).bracket();
        assert!(good.unwrap() > 19.0 && lossy.unwrap() > 20.0 / 0.99, "{good:?} {lossy:?}");
    }

    #[test]
    fn a_system_lossy_at_the_nominal_rate_is_searched_downwards() {
        let (good, lossy) = search(0.3, f64::INFINITY).bracket();
        let (good, lossy) = (good.unwrap(), lossy.unwrap());
        assert!(good <= 0.3 / 0.99 && lossy > 0.3 / 0.99 && lossy / good <= 1.05, "{good} {lossy}");
    }

    #[test]
    fn a_generator_that_cannot_keep_up_ends_the_search_with_a_lower_bound() {
        let s = search(20.0, 4.2);
        assert!(s.generator_limited());
        assert_eq!(s.bracket(), (Some(4.0), None));
        assert_eq!(s.next(), None);
    }

    #[test]
    fn a_good_probe_above_a_lossy_one_does_not_raise_the_limit() {
        let mut s = Search::new(&RAMP, 0.05, 64.0, 24);
        for (m, o) in [(1.0, Outcome::Good), (3.0, Outcome::Lossy), (4.0, Outcome::Good)] {
            s.record(m, o);
        }
        assert_eq!(s.bracket(), (Some(1.0), Some(3.0)));
        assert!((s.next().unwrap() - 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn stops_at_the_probe_budget_and_the_highest_multiplier() {
        let mut s = Search::new(&RAMP, 0.05, 64.0, 3);
        for m in [1.0, 1.5, 2.0] {
            s.record(m, Outcome::Good);
        }
        assert_eq!(s.next(), None);
        let never_fails = search(1e9, f64::INFINITY);
        assert!(never_fails.tried.iter().all(|(m, _)| *m <= 64.0));
        assert_eq!(never_fails.bracket().1, None);
    }

    #[test]
    fn outcome_of_a_probe() {
        assert_eq!(Outcome::of(0.01, 1.0), Outcome::Good);
        assert_eq!(Outcome::of(0.0101, 1.0), Outcome::Lossy);
        assert_eq!(Outcome::of(0.0, 0.93), Outcome::Good);
        assert_eq!(Outcome::of(0.0, 0.89), Outcome::GeneratorLimited);
        assert_eq!(Outcome::of(0.0, f64::NAN), Outcome::GeneratorLimited);
    }
}
