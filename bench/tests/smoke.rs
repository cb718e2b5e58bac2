//! Smoke run against the real binaries: 1 publisher, 2 subscribers, 2 s, through meet-control and
//! meet-relay, and through the bare forwarder. Checks behaviour (media arrives and decrypts), not speed.
//! And a one-minute soak, the short form of `meet-bench soak` (docs/performance.md has the long run).

use std::path::{Path, PathBuf};
use std::process::Command;

fn bench() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_meet-bench"))
}

/// meet-relay and meet-control must sit next to meet-bench; build them (same profile) when missing.
fn ensure_servers(dir: &Path) {
    if dir.join("meet-relay").is_file() && dir.join("meet-control").is_file() {
        return;
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-p", "meet-relay", "-p", "meet-control"]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo build");
    assert!(status.success(), "building meet-relay and meet-control failed");
}

#[test]
fn webinar_media_flows_through_relay_and_bare_forwarder() {
    let exe = bench();
    ensure_servers(exe.parent().unwrap());
    let out = std::env::temp_dir().join(format!("meet-bench-smoke-{}.json", std::process::id()));
    let status = Command::new(&exe)
        .args([
            "compare",
            "--scenario",
            "webinar",
            "--publishers",
            "1",
            "--subscribers",
            "2",
            "--duration",
            "2",
            "--no-ramp",
        ])
        // Two rounds with short baselines: enough to check the repeat and charging plumbing.
        .args(["--repeat", "2", "--baseline-secs", "0.5"])
        .args(["--systems", "relay,bare", "--json"])
        .arg(&out)
        .status()
        .expect("run meet-bench");
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["scenario"], "webinar");
    for system in ["relay", "bare"] {
        let s = &report["systems"][system];
        assert!(s.get("skipped").is_none(), "{system} did not run: {s}");
        let forwarded = s["forwarded_packets"].as_u64().unwrap();
        // 180 packets/s to each of 2 subscribers for 2 s is 720; allow for a slow, shared machine.
        assert!(forwarded > 200, "{system}: only {forwarded} packets arrived");
        assert!(s["loss"].as_f64().unwrap() < 0.2, "{system}: loss {}", s["loss"]);
        assert_eq!(s["generator"]["undecryptable_packets"], 0, "{system}: packets failed SRTP");
        for key in ["cpu_seconds", "packets_per_cpu_second", "memory_per_peer_bytes"] {
            assert!(s.get(key).is_some(), "{system}: no {key}");
        }
        // Charged CPU (may be null on a busy machine, whose load moves under the run, but is reported)
        // and the CPU of the system plus the kernel's threads, which is never less than the process's own.
        for key in ["charged_cpu_seconds", "machine_busy_seconds", "baseline", "attributed_cpu_seconds"] {
            assert!(s.get(key).is_some(), "{system}: no {key}");
        }
        assert!(s["attributed_cpu_seconds"].as_f64().unwrap() >= s["cpu_seconds"].as_f64().unwrap());
        let repeats = &s["repeats"];
        assert_eq!(repeats["rounds"], 2, "{system}: {repeats}");
        assert_eq!(repeats["runs"].as_array().unwrap().len(), 2);
        let spread = &repeats["spread"]["packets_per_cpu_second"];
        assert!(spread["min"].as_f64().unwrap() <= spread["median"].as_f64().unwrap());
        assert!(spread["median"].as_f64().unwrap() <= spread["max"].as_f64().unwrap());
        for q in ["p50", "p99", "p999"] {
            assert!(s["latency_ms"][q].as_f64().unwrap() > 0.0, "{system}: no {q}");
        }
    }
    assert!(report["ratios"]["relay_vs_bare_packets_per_cpu_second"].as_f64().unwrap() > 0.0);
    assert_eq!(report["ratios"]["per_round"]["relay_vs_bare_packets_per_cpu_second"]["count"], 2);
    let svg = std::fs::read_to_string(out.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("relay"));
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(out.with_extension("svg"));
}

#[test]
fn find_limit_reports_the_highest_rate_under_one_percent_loss() {
    let exe = bench();
    let out = std::env::temp_dir().join(format!("meet-bench-limit-{}.json", std::process::id()));
    // The bare forwarder with 2 receivers does not lose at these rates: the search grows to its
    // highest multiplier and reports a lower bound, or stops where this machine's load makes it lose.
    let status = Command::new(&exe)
        .args(["compare", "--scenario", "webinar", "--publishers", "1", "--subscribers", "2"])
        .args(["--duration", "2", "--step-secs", "0.5", "--find-limit", "--ramp", "4,16"])
        .args(["--systems", "bare", "--repeat", "1", "--baseline-secs", "0", "--json"])
        .arg(&out)
        .status()
        .expect("run meet-bench");
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let limit = &report["systems"]["bare"]["limit"];
    assert!(limit["probes"].as_u64().unwrap() >= 2, "{limit}");
    let probes = report["systems"]["bare"]["ramp"].as_array().unwrap();
    assert_eq!(probes.len() as u64, limit["probes"].as_u64().unwrap());
    // Each probe but the last offered about what it asked for: a generator that fell short ends the
    // search.
    for p in &probes[..probes.len() - 1] {
        let share = p["offered_share"].as_f64().unwrap();
        assert!((0.9..1.2).contains(&share), "{p}");
    }
    // A limit found, or a lower bound when no probe lost (never both).
    let (found, at_least) = (&limit["forwarded_packets_per_second"], &limit["at_least_forwarded_packets_per_second"]);
    assert!(found.is_null() != at_least.is_null(), "{limit}");
    assert_eq!(at_least.is_null(), limit["lower_bound"] == false, "{limit}");
    assert!(found.as_f64().or(at_least.as_f64()).unwrap() > 0.0, "{limit}");
    // No baseline asked for: no charged figures, the rest as usual.
    assert!(report["systems"]["bare"]["charged_cpu_seconds"].is_null());
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(out.with_extension("svg"));
}

/// Waves of joins and leaves through meet-control with media flowing, for a minute: no room, peer or
/// file descriptor is left at the end, and neither process's RSS grows by a quarter after warm-up. A
/// minute is too short for the hour's 5% (meet-relay's RSS still climbs for the first minutes of a
/// soak, see docs/performance.md "Soak"), so this catches gross leaks; the long run judges the rest.
#[test]
fn a_minute_of_joins_and_leaves_leaks_nothing() {
    let exe = bench();
    ensure_servers(exe.parent().unwrap());
    let out = std::env::temp_dir().join(format!("meet-bench-soak-{}.json", std::process::id()));
    let run = Command::new(&exe)
        .args(["soak", "--duration", "60", "--warmup-secs", "20", "--rooms", "2", "--peers", "3"])
        .args(["--hold-secs", "3", "--sample-secs", "2", "--max-rss-growth-percent", "25", "--json"])
        .arg(&out)
        .output()
        .expect("run meet-bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("no report ({e}):\n{stderr}"));
    let _ = std::fs::remove_file(&out);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(run.status.success() && report["verdict"] == "pass", "{}\n{stderr}", report["failures"]);
    assert!(report["waves"].as_u64().unwrap() >= 3, "{stderr}");
    for side in ["control_rooms", "control_peers", "relay_rooms", "relay_peers"] {
        assert_eq!(report["end_rest"]["counts"][side], 0, "{side}");
    }
}
