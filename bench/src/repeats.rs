//! Repeated runs (`--repeat N`): each figure's median and its spread (min–max) over the rounds.
//!
//! On a shared 2-core machine one run of a system says little: the same build gave relay/bare 0.53,
//! 0.72 and 1.04 in one week. `compare` therefore runs the systems interleaved (relay, bare, janus,
//! relay, ...) so that slow changes in the machine's load fall on every system alike, and reports the
//! median with the min–max beside it; a spread as wide as the gap between two systems means the
//! difference is not shown.

use serde_json::{json, Map, Value};

/// The figures summarised over rounds: name, and where it is in one run's JSON.
pub const FIGURES: [(&str, &str); 8] = [
    ("forwarded_packets_per_second", "/forwarded_packets_per_second"),
    ("packets_per_cpu_second", "/packets_per_cpu_second"),
    ("packets_per_charged_cpu_second", "/packets_per_charged_cpu_second"),
    ("packets_per_attributed_cpu_second", "/packets_per_attributed_cpu_second"),
    ("limit_forwarded_packets_per_second", "/limit/forwarded_packets_per_second"),
    ("loss", "/loss"),
    ("p99_ms", "/latency_ms/p99"),
    ("memory_per_peer_bytes", "/memory_per_peer_bytes"),
];

/// The figure that picks the run shown as the system's own (latency histogram, ramp, memory).
const REPRESENTATIVE: &str = "/packets_per_charged_cpu_second";

#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

impl Spread {
    /// Over the finite values; `None` when there is none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Spread { median, min: v[0], max: v[n - 1], count: n })
    }

    pub fn to_json(&self) -> Value {
        json!({"median": self.median, "min": self.min, "max": self.max, "count": self.count})
    }
}

/// A figure of one run (NaN when the run lacks it or failed).
pub fn value(run: &Value, pointer: &str) -> f64 {
    run.pointer(pointer).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn pointer_of(figure: &str) -> Option<&'static str> {
    FIGURES.iter().find(|(n, _)| *n == figure).map(|(_, p)| *p)
}

/// A system's figure: the median over its rounds when it was repeated, else its one run's value.
pub fn figure(system: &Value, name: &str) -> Option<f64> {
    let v = match system.pointer(&format!("/repeats/spread/{name}/median")) {
        Some(m) => m.as_f64(),
        None => pointer_of(name).map(|p| value(system, p)),
    };
    v.filter(|x| x.is_finite())
}

/// One system's result over its rounds (`runs[r]` is round `r`; a failed round holds `skipped`): the
/// median run's JSON, with `repeats` holding every round and the spread of each figure.
pub fn summarise(runs: Vec<Value>) -> Value {
    let mut spread = Map::new();
    for (name, pointer) in FIGURES {
        let values: Vec<f64> = runs.iter().map(|r| value(r, pointer)).collect();
        spread.insert(name.into(), Spread::of(&values).map_or(Value::Null, |s| s.to_json()));
    }
    let mut out = match median_run(&runs) {
        Some(i) => runs[i].clone(),
        None => runs.iter().find(|r| r.get("skipped").is_some()).cloned().unwrap_or_else(|| json!({})),
    };
    if let Some(o) = out.as_object_mut() {
        o.insert("repeats".into(), json!({"rounds": runs.len(), "spread": spread, "runs": runs}));
    }
    out
}

/// The round whose representative figure is the median (the lower middle of an even count); rounds
/// without that figure (no charged CPU) fall back to the process figure.
fn median_run(runs: &[Value]) -> Option<usize> {
    for pointer in [REPRESENTATIVE, "/packets_per_cpu_second"] {
        let mut ok: Vec<(usize, f64)> =
            runs.iter().enumerate().map(|(i, r)| (i, value(r, pointer))).filter(|(_, v)| v.is_finite()).collect();
        if !ok.is_empty() {
            ok.sort_by(|a, b| a.1.total_cmp(&b.1));
            return Some(ok[(ok.len() - 1) / 2].0);
        }
    }
    None
}

/// `a / b` per round for one figure, over the rounds both systems ran.
pub fn per_round_ratio(a: &Value, b: &Value, figure: &str) -> Option<Spread> {
    let pointer = pointer_of(figure)?;
    let runs = |s: &Value| s.pointer("/repeats/runs").and_then(Value::as_array).cloned().unwrap_or_default();
    let ratios: Vec<f64> =
        runs(a).iter().zip(runs(b).iter()).map(|(x, y)| value(x, pointer) / value(y, pointer)).collect();
    Spread::of(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.count), (2.0, 1.0, 3.0, 3));
        let s = Spread::of(&[4.0, 1.0, f64::NAN, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.count), (3.0, 1.0, 10.0, 4));
        assert_eq!(Spread::of(&[f64::NAN]), None);
        assert_eq!(Spread::of(&[]), None);
    }

    fn run(process: f64, charged: Option<f64>) -> Value {
        json!({"packets_per_cpu_second": process, "packets_per_charged_cpu_second": charged,
               "latency_ms": {"p99": 1.0}, "tag": process})
    }

    #[test]
    fn the_median_run_stands_for_the_system_and_every_round_is_kept() {
        let s = summarise(vec![
            run(500.0, Some(300.0)),
            json!({"skipped": "failed: x"}),
            run(400.0, Some(100.0)),
            run(700.0, Some(200.0)),
        ]);
        // Charged 100, 200, 300: the round with 200 is shown.
        assert_eq!(s["tag"], 700.0);
        assert_eq!(s["repeats"]["rounds"], 4);
        assert_eq!(s["repeats"]["runs"].as_array().unwrap().len(), 4);
        assert_eq!(s["repeats"]["spread"]["packets_per_cpu_second"]["median"], 500.0);
        assert_eq!(s["repeats"]["spread"]["packets_per_cpu_second"]["min"], 400.0);
        assert_eq!(s["repeats"]["spread"]["packets_per_charged_cpu_second"]["max"], 300.0);
        assert!(s["repeats"]["spread"]["limit_forwarded_packets_per_second"].is_null());
        assert_eq!(figure(&s, "packets_per_cpu_second"), Some(500.0));
        assert_eq!(figure(&s, "limit_forwarded_packets_per_second"), None);
        // An unrepeated system's figure is its own.
        assert_eq!(figure(&run(42.0, None), "packets_per_cpu_second"), Some(42.0));
        // Without charged figures the process figure picks the run; all failed keeps the failure.
        assert_eq!(summarise(vec![run(1.0, None), run(3.0, None), run(2.0, None)])["tag"], 2.0);
        assert!(summarise(vec![json!({"skipped": "no"})])["skipped"].is_string());
    }

    #[test]
    fn ratios_per_round_pair_the_same_rounds() {
        let relay = summarise(vec![run(600.0, None), run(500.0, None), run(900.0, None)]);
        let bare = summarise(vec![run(1000.0, None), json!({"skipped": "x"}), run(1000.0, None)]);
        let r = per_round_ratio(&relay, &bare, "packets_per_cpu_second").unwrap();
        assert_eq!((r.min, r.max, r.count), (0.6, 0.9, 2));
        assert!((r.median - 0.75).abs() < 1e-12);
        assert!(per_round_ratio(&relay, &bare, "packets_per_charged_cpu_second").is_none());
    }
}
