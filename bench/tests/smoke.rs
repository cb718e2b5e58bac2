//! Smoke run against the real binaries: 1 publisher, 2 subscribers, 2 s, through meet-control and
//! meet-relay, and through the bare forwarder. Checks behaviour (media arrives and decrypts), not speed.

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
        for q in ["p50", "p99", "p999"] {
            assert!(s["latency_ms"][q].as_f64().unwrap() > 0.0, "{system}: no {q}");
        }
    }
    let svg = std::fs::read_to_string(out.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("relay"));
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(out.with_extension("svg"));
}
