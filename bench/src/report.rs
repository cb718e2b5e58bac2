//! The comparison's verdicts (ratios, targets), the text summary and a one-glance SVG.

use std::fmt::Write;

use serde_json::{json, Map, Value};

use crate::repeats::{self, figure, Spread};

const ORDER: [&str; 3] = ["relay", "bare", "janus"];

/// The figures compared between systems.
const RATIO_FIGURES: [&str; 4] = [
    "packets_per_cpu_second",
    "packets_per_charged_cpu_second",
    "packets_per_attributed_cpu_second",
    "limit_forwarded_packets_per_second",
];

fn ppcs(v: &Value) -> Option<f64> {
    figure(v, "packets_per_cpu_second").filter(|x| *x > 0.0)
}

/// relay ÷ bare and relay ÷ janus for each compared figure: the ratio of the medians, and under
/// `per_round` the spread of the ratios of the runs of the same round.
pub fn ratios(systems: &Value) -> Value {
    let relay = &systems["relay"];
    let mut out = Map::new();
    let mut rounds = Map::new();
    for other in ["bare", "janus"] {
        for fig in RATIO_FIGURES {
            let key = format!("relay_vs_{other}_{fig}");
            let r = figure(relay, fig).zip(figure(&systems[other], fig)).map(|(a, b)| a / b);
            out.insert(key.clone(), json!(r.filter(|x| x.is_finite())));
            let spread = repeats::per_round_ratio(relay, &systems[other], fig);
            rounds.insert(key, spread.map_or(Value::Null, |s| s.to_json()));
        }
    }
    out.insert("per_round".into(), Value::Object(rounds));
    Value::Object(out)
}

/// The targets of issue 11, all checked with retransmissions, congestion control and simulcast on:
/// relay ÷ bare at least 0.8 and relay ÷ Janus at least 10 (webinar) or 5 (meeting, audio) in packets
/// per CPU-second, p99 added latency under 1 ms at the nominal load (the steady step). The per-CPU figure
/// is the charged one (the kernel work a system's traffic causes, see `cpu`) when the run measured it,
/// else the process's own CPU; the verdict says which.
///
/// Beside the Janus verdict stands the bare forwarder's own ratio to Janus: the ceiling any relay that
/// sends each datagram through the kernel can reach on this machine (the bare forwarder does nothing
/// else), so a failed verdict says whether the relay or the machine is short.
///
/// Memory per peer: 100 KiB, plus each peer's share of the retransmission cache, which by design holds
/// the last second of every video stream (with the ring's headroom of a quarter).
pub fn targets(scenario: &Value, systems: &Value) -> Value {
    let relay = &systems["relay"];
    let mut t = Vec::new();
    let mut check = |name: &str, value: Option<f64>, op: &str, target: f64| {
        let pass = value.map(|v| if op == ">=" { v >= target } else { v < target });
        t.push(json!({"name": name, "value": value, "target": format!("{op} {target}"), "pass": pass}));
    };
    let ratio = |of: &str, other: &str| -> (Option<f64>, &'static str) {
        let by = |fig: &str| figure(&systems[of], fig).zip(figure(&systems[other], fig)).map(|(a, b)| a / b);
        match by("packets_per_charged_cpu_second").filter(|r| r.is_finite()) {
            Some(r) => (Some(r), "charged"),
            None => (by("packets_per_cpu_second").filter(|r| r.is_finite()), "process"),
        }
    };
    check("relay packets per CPU-second (process)", ppcs(relay), ">=", 150_000.0);
    let (bare, how) = ratio("relay", "bare");
    check(&format!("relay / bare packets per CPU-second ({how})"), bare, ">=", 0.8);
    let (janus, how) = ratio("relay", "janus");
    let janus_target = if scenario["kind"] == "webinar" { 10.0 } else { 5.0 };
    check(&format!("relay / janus packets per CPU-second ({how})"), janus, ">=", janus_target);
    let (ceiling, how) = ratio("bare", "janus");
    check(
        &format!("  ceiling on this machine: bare / janus packets per CPU-second ({how})"),
        ceiling,
        ">=",
        janus_target,
    );
    check("relay p99 added latency at the nominal load (ms)", figure(relay, "p99_ms"), "<", 1.0);
    check(
        "relay p99 added latency below the failure point (ms)",
        relay["p99_ms_worst_below_failure"].as_f64(),
        "<",
        2.0,
    );
    let video = &scenario["video"];
    let cache_per_peer = match (video["packets_per_second"].as_f64(), video["packet_bytes"].as_f64()) {
        (Some(pps), Some(bytes)) => {
            let publishers = scenario["publishers"].as_f64().unwrap_or(0.0);
            let peers = scenario["peers"].as_f64().unwrap_or(1.0).max(1.0);
            pps * bytes * 1.25 * publishers / peers
        }
        _ => 0.0,
    };
    check(
        "relay memory per connected peer (bytes)",
        figure(relay, "memory_per_peer_bytes"),
        "<",
        (100.0 * 1024.0 + cache_per_peer).round(),
    );
    Value::Array(t)
}

/// A figure with its spread over rounds: "590k [553k–610k]", or the one value.
fn with_spread(system: &Value, name: &str, fmt: impl Fn(f64) -> String) -> String {
    let spread = system.pointer(&format!("/repeats/spread/{name}"));
    match spread.filter(|s| s["count"].as_u64().unwrap_or(0) > 1) {
        Some(s) => format!(
            "{} [{}–{}]",
            fmt(s["median"].as_f64().unwrap_or(f64::NAN)),
            fmt(s["min"].as_f64().unwrap_or(f64::NAN)),
            fmt(s["max"].as_f64().unwrap_or(f64::NAN))
        ),
        None => figure(system, name).map_or("n/a".into(), fmt),
    }
}

fn ratio_with_spread(ratios: &Value, key: &str) -> String {
    let median = ratios[key].as_f64().map_or("n/a".into(), |r| format!("{r:.2}"));
    let rounds = &ratios["per_round"][key];
    match (rounds["min"].as_f64(), rounds["max"].as_f64(), rounds["count"].as_u64()) {
        (Some(lo), Some(hi), Some(n)) if n > 1 => format!("{median} [rounds {lo:.2}–{hi:.2}]"),
        _ => median,
    }
}

/// The limit with its spread over the rounds that found one, and the lower bounds of those that did not.
fn limit_cell(system: &Value) -> String {
    let runs =
        system.pointer("/repeats/runs").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![system.clone()]);
    let bounds: Vec<String> = runs
        .iter()
        .filter_map(|r| r.pointer("/limit/at_least_forwarded_packets_per_second").and_then(Value::as_f64))
        .map(|b| format!("at least {}", fmt_num(b)))
        .collect();
    let found = figure(system, "limit_forwarded_packets_per_second")
        .map(|_| with_spread(system, "limit_forwarded_packets_per_second", fmt_num));
    let cells: Vec<String> = found.into_iter().chain(bounds).collect();
    if cells.is_empty() {
        "n/a".into()
    } else {
        cells.join(", ")
    }
}

/// The text summary: per system the median of each figure with its min–max over rounds, the ratios,
/// the baselines and the targets.
pub fn summary(report: &Value) {
    eprintln!("\n== {} ==", report["scenario"].as_str().unwrap_or("?"));
    let Some(systems) = report["systems"].as_object() else { return };
    let rounds = report["repeat"]["rounds"].as_u64().unwrap_or(1);
    if rounds > 1 {
        eprintln!("median [min–max] over {rounds} interleaved rounds; load average {}", report["load_average"]);
    }
    let mut moved = 0;
    for (name, v) in systems {
        if let Some(reason) = v.get("skipped") {
            eprintln!("{name:6} skipped: {}", reason.as_str().unwrap_or(""));
            continue;
        }
        let runs = v.pointer("/repeats/runs").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![v.clone()]);
        moved += runs.iter().filter(|r| r["charged_below_process_cpu"] == true).count();
        let pps = |x: f64| fmt_num(x);
        eprintln!(
            "{name:6} {} pkt/s; per CPU-second: process {}, charged {}, process+kernel threads {}; limit (<1% loss) {}; loss {}; p99 {} ms; mem/peer {}; gen CPU {:.0}%",
            with_spread(v, "forwarded_packets_per_second", pps),
            with_spread(v, "packets_per_cpu_second", pps),
            with_spread(v, "packets_per_charged_cpu_second", pps),
            with_spread(v, "packets_per_attributed_cpu_second", pps),
            limit_cell(v),
            with_spread(v, "loss", |x| format!("{:.3}%", x * 100.0)),
            with_spread(v, "p99_ms", |x| format!("{x:.2}")),
            with_spread(v, "memory_per_peer_bytes", |b| format!("{:.1} KiB", b / 1024.0)),
            v["generator"]["cpu_utilisation"].as_f64().unwrap_or(f64::NAN) * 100.0,
        );
    }
    let r = &report["ratios"];
    for other in ["bare", "janus"] {
        if systems.get(other).is_none_or(|s| s.get("skipped").is_some()) {
            continue;
        }
        let cell = |fig: &str| ratio_with_spread(r, &format!("relay_vs_{other}_{fig}"));
        eprintln!(
            "relay/{other}: process {}; charged {}; process+kernel threads {}; limit {}",
            cell("packets_per_cpu_second"),
            cell("packets_per_charged_cpu_second"),
            cell("packets_per_attributed_cpu_second"),
            cell("limit_forwarded_packets_per_second"),
        );
    }
    let rates: Vec<f64> = report["charging"]["baselines"]
        .as_array()
        .map(|b| b.iter().filter_map(|x| x["machine_busy_cpu_per_second"].as_f64()).collect())
        .unwrap_or_default();
    if let Some(b) = Spread::of(&rates) {
        eprintln!(
            "idle baselines: machine busy {:.2}–{:.2} CPU-s per s (median {:.2}){}",
            b.min,
            b.max,
            b.median,
            if b.max > 0.1 { "; not a quiet machine: charged figures carry its other load" } else { "" }
        );
    }
    if moved > 0 {
        eprintln!(
            "{moved} run(s) charged less than their own process CPU: the machine's other load changed during them"
        );
    }
    if let Some(targets) = report["targets"].as_array() {
        for t in targets {
            let verdict = match t["pass"].as_bool() {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "n/a ",
            };
            eprintln!(
                "{verdict} {}: {} (target {})",
                t["name"].as_str().unwrap_or(""),
                t["value"],
                t["target"].as_str().unwrap_or("")
            );
        }
    }
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const COLORS: [&str; 3] = ["#2f6fdf", "#8a8a8a", "#e07b22"];

/// Two panels: packets per relay CPU-second per system (with the 150k target), and added latency
/// p50/p99/p999 per system on a log scale; a table of the other figures below.
pub fn svg(report: &Value) -> String {
    let systems = &report["systems"];
    let present: Vec<(usize, &str, &Value)> = ORDER
        .iter()
        .enumerate()
        .filter(|(_, n)| systems[**n].is_object() && systems[**n].get("skipped").is_none())
        .map(|(i, n)| (i, *n, &systems[*n]))
        .collect();
    let (w, h) = (960.0, 600.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let sc = &report["scenario_details"];
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"28\" font-size=\"18\" font-weight=\"bold\">meet-bench compare: {} ({} publishers, {} subscribers, {} peers; media process pinned to one core)</text>",
        esc(report["scenario"].as_str().unwrap_or("?")),
        sc["publishers"],
        sc["subscribers"],
        sc["peers"]
    );
    // Panel 1: packets per CPU-second.
    let (x0, y0, pw, ph) = (70.0, 70.0, 380.0, 300.0);
    let spread_max = |v: &Value| v.pointer("/repeats/spread/packets_per_cpu_second/max").and_then(Value::as_f64);
    let max =
        present.iter().flat_map(|(_, _, v)| [ppcs(v), spread_max(v)]).flatten().fold(150_000.0f64, f64::max) * 1.15;
    let _ = writeln!(
        s,
        "<text x=\"{x0}\" y=\"{}\" font-weight=\"bold\">Packets per process CPU-second (median, min–max)</text>",
        y0 - 12.0
    );
    let _ =
        writeln!(s, "<line x1=\"{x0}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>", y0 + ph, x0 + pw, y0 + ph);
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let y = y0 + ph - ph * i as f64 / 4.0;
        let _ = writeln!(s, "<line x1=\"{x0}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", x0 + pw, x0 - 6.0, y + 4.0, fmt_num(v));
    }
    let ty = y0 + ph - ph * 150_000.0 / max;
    let _ = writeln!(s, "<line x1=\"{x0}\" y1=\"{ty}\" x2=\"{}\" y2=\"{ty}\" stroke=\"#c00\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{}\" fill=\"#c00\" text-anchor=\"end\">target 150k</text>", x0 + pw, x0 + pw, ty - 4.0);
    let n = present.len().max(1) as f64;
    let slot = pw / n;
    for (k, (ci, name, v)) in present.iter().enumerate() {
        let val = ppcs(v).unwrap_or(0.0);
        let bh = ph * val / max;
        let x = x0 + slot * k as f64 + slot * 0.2;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{bh}\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{name}</text>",
            y0 + ph - bh,
            slot * 0.6,
            COLORS[*ci],
            x + slot * 0.3,
            y0 + ph - bh - 6.0,
            fmt_num(val),
            x + slot * 0.3,
            y0 + ph + 18.0
        );
        // The min–max over rounds.
        let lo = v.pointer("/repeats/spread/packets_per_cpu_second/min").and_then(Value::as_f64);
        if let Some((lo, hi)) = lo.zip(spread_max(v)).filter(|(lo, hi)| hi > lo) {
            let (ylo, yhi, xm) = (y0 + ph - ph * lo / max, y0 + ph - ph * hi / max, x + slot * 0.3);
            let _ = writeln!(
                s,
                "<line x1=\"{xm}\" y1=\"{ylo}\" x2=\"{xm}\" y2=\"{yhi}\" stroke=\"black\"/><line x1=\"{}\" y1=\"{yhi}\" x2=\"{}\" y2=\"{yhi}\" stroke=\"black\"/><line x1=\"{}\" y1=\"{ylo}\" x2=\"{}\" y2=\"{ylo}\" stroke=\"black\"/>",
                xm - 6.0,
                xm + 6.0,
                xm - 6.0,
                xm + 6.0
            );
        }
    }
    // Panel 2: latency percentiles, log scale 0.01 ms .. 100 ms.
    let (x1, pw2) = (540.0, 390.0);
    let _ = writeln!(
        s,
        "<text x=\"{x1}\" y=\"{}\" font-weight=\"bold\">Added latency, sender to receiver (ms, log scale)</text>",
        y0 - 12.0
    );
    let (lo, hi) = (0.01f64.log10(), 100f64.log10());
    let ly = |ms: f64| y0 + ph - ph * ((ms.max(0.01).log10() - lo) / (hi - lo)).clamp(0.0, 1.0);
    for ms in [0.01, 0.1, 1.0, 10.0, 100.0] {
        let y = ly(ms);
        let _ = writeln!(s, "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{ms}</text>", x1 + pw2, x1 - 6.0, y + 4.0);
    }
    let y50 = ly(50.0);
    let _ = writeln!(s, "<line x1=\"{x1}\" y1=\"{y50}\" x2=\"{}\" y2=\"{y50}\" stroke=\"#c00\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{}\" fill=\"#c00\" text-anchor=\"end\">failure: p99 50 ms</text>", x1 + pw2, x1 + pw2, y50 - 4.0);
    let y2 = ly(2.0);
    let _ = writeln!(s, "<line x1=\"{x1}\" y1=\"{y2}\" x2=\"{}\" y2=\"{y2}\" stroke=\"#090\" stroke-dasharray=\"3 3\"/><text x=\"{}\" y=\"{}\" fill=\"#090\" text-anchor=\"end\">target p99 2 ms</text>", x1 + pw2, x1 + pw2, y2 - 4.0);
    let slot2 = pw2 / n;
    for (k, (ci, name, v)) in present.iter().enumerate() {
        for (j, q) in ["p50", "p99", "p999"].iter().enumerate() {
            let val = v["latency_ms"][*q].as_f64().unwrap_or(f64::NAN);
            if !val.is_finite() {
                continue;
            }
            let bw = slot2 * 0.8 / 3.0;
            let x = x1 + slot2 * k as f64 + slot2 * 0.1 + bw * j as f64;
            let y = ly(val);
            let opacity = [1.0, 0.7, 0.45][j];
            let _ = writeln!(
                s,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"{opacity}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{q}</text>",
                bw - 2.0,
                y0 + ph - y,
                COLORS[*ci],
                x + bw / 2.0 - 1.0,
                y - 4.0,
                if val < 1.0 { format!("{val:.2}") } else { format!("{val:.1}") },
                x + bw / 2.0 - 1.0,
                y0 + ph + 12.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{name}</text>",
            x1 + slot2 * k as f64 + slot2 / 2.0,
            y0 + ph + 28.0
        );
    }
    // Table.
    let mut y = y0 + ph + 60.0;
    let cols = [20.0, 110.0, 230.0, 345.0, 440.0, 560.0, 680.0, 810.0];
    let head =
        ["system", "forwarded/s", "Mbit/s out", "loss", "CPU s / M pkts", "mem/peer", "failure at", "generator CPU"];
    for (c, t) in cols.iter().zip(head) {
        let _ = write!(s, "<text x=\"{c}\" y=\"{y}\" font-weight=\"bold\">{t}</text>");
    }
    s.push('\n');
    for (ci, name, v) in &present {
        y += 20.0;
        let fp = &v["failure_point"];
        let at_least = v.pointer("/limit/at_least_forwarded_packets_per_second").and_then(Value::as_f64);
        let failure = if let Some(limit) = figure(v, "limit_forwarded_packets_per_second") {
            format!("{} pkt/s (<1% loss)", fmt_num(limit))
        } else if let Some(b) = at_least {
            format!("≥ {} pkt/s (<1% loss)", fmt_num(b))
        } else if fp["reached"].as_bool() == Some(true) {
            format!(
                "{} pkt/s{}",
                fmt_num(fp["forwarded_packets_per_second"].as_f64().unwrap_or(f64::NAN)),
                if fp["generator_limited"].as_bool() == Some(true) { " (gen.)" } else { "" }
            )
        } else {
            "not reached".into()
        };
        let cells = [
            name.to_string(),
            fmt_num(v["forwarded_packets_per_second"].as_f64().unwrap_or(f64::NAN)),
            format!("{:.1}", v["forwarded_bits_per_second"].as_f64().unwrap_or(f64::NAN) / 1e6),
            format!("{:.3}%", v["loss"].as_f64().unwrap_or(f64::NAN) * 100.0),
            format!("{:.2}", v["cpu_seconds_per_million_packets"].as_f64().unwrap_or(f64::NAN)),
            v["memory_per_peer_bytes"].as_f64().map_or("n/a".into(), |b| format!("{:.1} KiB", b / 1024.0)),
            failure,
            format!("{:.0}%", v["generator"]["cpu_utilisation"].as_f64().unwrap_or(f64::NAN) * 100.0),
        ];
        for (k, (c, t)) in cols.iter().zip(cells.iter()).enumerate() {
            let fill = if k == 0 { COLORS[*ci] } else { "black" };
            let _ = write!(s, "<text x=\"{c}\" y=\"{y}\" fill=\"{fill}\">{}</text>", esc(t));
        }
        s.push('\n');
    }
    y += 30.0;
    let r = &report["ratios"];
    let ratio = |v: &Value| v.as_f64().map_or("n/a".into(), |x| format!("{x:.2}"));
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"{y}\">relay/bare packets per CPU-second: {} (target 0.8), charged {}   relay/janus: {} (target 10 webinar, 5 others), charged {}   machine: {}</text>",
        ratio(&r["relay_vs_bare_packets_per_cpu_second"]),
        ratio(&r["relay_vs_bare_packets_per_charged_cpu_second"]),
        ratio(&r["relay_vs_janus_packets_per_cpu_second"]),
        ratio(&r["relay_vs_janus_packets_per_charged_cpu_second"]),
        esc(report["machine"]["cpu_model"].as_str().unwrap_or("?"))
    );
    for (ci, name, v) in ORDER.iter().enumerate().filter_map(|(i, n)| systems[*n].get("skipped").map(|r| (i, *n, r))) {
        y += 18.0;
        let _ = writeln!(
            s,
            "<text x=\"20\" y=\"{y}\" fill=\"{}\">{name}: skipped ({})</text>",
            COLORS[ci],
            esc(v.as_str().unwrap_or(""))
        );
    }
    s.push_str("</svg>\n");
    s
}
