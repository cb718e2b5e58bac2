//! `meet-bench`: meet's load-test harness.
//!
//! - `compare`: starts meet (relay + control), the bare UDP forwarder and Janus (when installed) one after
//!   the other, for `--repeat` rounds, runs the same scenario against each with the media process pinned
//!   to one core, and writes JSON and an SVG.
//! - `run`: the same load against an already running meet-control.
//! - `bare-forwarder`: the plain UDP forwarder `compare` uses as the ceiling.
//! - `srtp`: SRTP protect/unprotect speed on one core.
//! - `soak`: an hour (by default) of joins and leaves through meet-control, watching both processes'
//!   memory and descriptors and both sides' room and peer counts for leaks ([`soak`]).
//!
//! Layout: [`load`] (simulated peers and worker threads), [`meet`] and [`janus`] (signalling),
//! [`runner`] (one measured run), [`limit`] (the search for the highest rate under 1% loss), [`cpu`]
//! (what CPU a system is charged), [`compare`] (rounds of runs, baselines), [`repeats`] (median and
//! spread), [`systems`] (child processes), [`report`] (ratios, targets, text, SVG), [`sdp`], [`net`],
//! [`bare`], [`tcp_link`] (a simulated peer's ICE-TCP connection, `--tcp`).

mod bare;
mod compare;
mod cpu;
mod janus;
mod limit;
mod load;
mod meet;
mod net;
mod repeats;
mod report;
mod runner;
mod sdp;
mod soak;
mod srtp_bench;
mod systems;
mod tcp_link;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use runner::{Generator, LoadOptions, Measured, Scenario};

#[derive(Parser, Debug)]
#[command(version, about = "Load tests for meet's relay")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs one scenario against meet, the bare forwarder and Janus; writes JSON and an SVG.
    Compare {
        #[command(flatten)]
        load: LoadOptions,
        /// Where to write the JSON report (default: stdout only).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where to write the plot (default: the JSON path with .svg, or meet-bench-<scenario>.svg).
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Systems to run, in order.
        #[arg(long, value_delimiter = ',', default_value = "relay,bare,janus")]
        systems: Vec<String>,
        /// Core the media process (relay, bare forwarder, Janus) is pinned to; the generator and
        /// meet-control use the others.
        #[arg(long, default_value_t = 0)]
        core: usize,
        /// `--io-backend` for meet-relay, when it has that flag.
        #[arg(long)]
        io_backend: Option<String>,
        /// Rounds: each runs every system once, in order (relay, bare, janus, relay, ...); the report
        /// gives each figure's median and min–max.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Seconds of the machine's idle baseline, taken before the first run and after each (0: no
        /// charged figures).
        #[arg(long, default_value_t = 2.0)]
        baseline_secs: f64,
    },
    /// Runs one scenario against an already running meet-control.
    Run {
        #[command(flatten)]
        load: LoadOptions,
        /// meet-control's signalling WebSocket, e.g. ws://127.0.0.1:8080/ws.
        #[arg(long)]
        target: String,
        /// PID of the relay, to account its CPU and memory.
        #[arg(long)]
        relay_pid: Option<u32>,
        #[arg(long)]
        json: Option<PathBuf>,
        /// Seconds of the machine's idle baseline before and after the run (0: no charged figures).
        #[arg(long, default_value_t = 2.0)]
        baseline_secs: f64,
    },
    /// The plain UDP forwarder used as the ceiling.
    BareForwarder {
        #[arg(long, default_value_t = 20000)]
        port: u16,
    },
    /// Joins and leaves through meet-control for `--duration` seconds (default an hour); fails on
    /// memory growth after warm-up, or rooms, peers or descriptors left at the end.
    Soak(soak::SoakOptions),
    /// SRTP protect + unprotect speed on one core.
    Srtp {
        #[arg(long, default_value_t = 200_000)]
        packets: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Soak(options) => soak::run(options),
        Cmd::Srtp { packets } => srtp_bench::run(srtp_bench::Args { packets }),
        Cmd::BareForwarder { port } => bare::run(port),
        Cmd::Run { load, target, relay_pid, json, baseline_secs } => {
            let scenario = Scenario::from_options(&load);
            let measured = relay_pid.map(|pid| Measured { pid, core: None });
            let rss_idle = relay_pid.and_then(|pid| net::process_rss_bytes(pid).ok());
            // The running meet is part of the machine here: its idle CPU is in the baseline.
            let before = cpu::Baseline::measure(baseline_secs);
            let mut result = run_meet(&scenario, &load, &target, measured, rss_idle)?;
            if let (Some(b), Some(a)) = (before, cpu::Baseline::measure(baseline_secs)) {
                runner::charge(&mut result, &b, &a);
            }
            let report = json!({"scenario": scenario.kind.name(), "scenario_details": scenario.describe(), "machine": machine(), "load_average": compare::load_average(), "systems": {"relay": result}});
            emit(&report, json.as_ref(), None)
        }
        Cmd::Compare { load, json, svg, systems, core, io_backend, repeat, baseline_secs } => {
            compare::compare(compare::Options { load, json, svg, systems, core, io_backend, repeat, baseline_secs })
        }
    }
}

fn emit(report: &Value, json_path: Option<&PathBuf>, svg_path: Option<&PathBuf>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    match json_path {
        Some(p) => {
            std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        None => println!("{text}"),
    }
    if let Some(p) = svg_path {
        std::fs::write(p, report::svg(report)).with_context(|| format!("cannot write {}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    report::summary(report);
    Ok(())
}

/// Sends 20,000 unroutable 1200-byte datagrams (first byte 0xFF: no protocol) to a media port.
fn warm_up(port: u16) {
    let Ok(socket) = std::net::UdpSocket::bind("127.0.0.1:0") else { return };
    let junk = [0xFFu8; 1200];
    for i in 0..20_000 {
        let _ = socket.send_to(&junk, ("127.0.0.1", port));
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string()));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default().lines().next().unwrap_or("").to_string();
    json!({"cpus": net::cpu_count(), "cpu_model": model, "kernel": kernel, "memory": mem})
}

/// meet: peers join through meet-control's WebSocket; publishers first, then the others.
fn run_meet(
    scenario: &Scenario,
    load: &LoadOptions,
    ws_url: &str,
    measured: Option<Measured>,
    rss_idle: Option<u64>,
) -> anyhow::Result<Value> {
    let generator = Generator::new(scenario, load.workers, false)?;
    let progress = meet::Progress::new(scenario.peers());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let room = format!("serv0bench{}", rand::random::<u32>());
    let spawn_peer = |i: usize| {
        let peer = meet::SigPeer::of(&generator, i, format!("bench-{i}"));
        let (url, room, progress, shutdown) = (ws_url.to_string(), room.clone(), progress.clone(), shutdown_rx.clone());
        rt.spawn(async move {
            if let Err(e) = meet::session(url, room, peer, progress.clone(), shutdown).await {
                if progress.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("peer {i}: signalling failed: {e:#}");
                }
            }
        });
    };
    let expected: Vec<usize> = (0..scenario.peers()).map(|i| scenario.expected_streams(i)).collect();
    let settled = {
        let progress = progress.clone();
        let expected = expected.clone();
        move || expected.iter().enumerate().all(|(i, e)| progress.receiving[i].load(Ordering::Relaxed) >= *e)
    };
    let result = runner::measure("relay", scenario, load, &generator, measured, rss_idle, |g| {
        for i in 0..scenario.publishers {
            spawn_peer(i);
        }
        let shared = g.shared.clone();
        systems::wait_for("publishers", Duration::from_secs(30), || {
            shared.states[..scenario.publishers].iter().all(|s| s.load(Ordering::Relaxed) == load::STATE_CONNECTED)
        })?;
        for i in scenario.publishers..scenario.peers() {
            spawn_peer(i);
        }
        runner::wait_connected(g, Duration::from_secs(60 + scenario.peers() as u64 / 10), &settled)
    });
    let _ = shutdown_tx.send(true);
    std::thread::sleep(Duration::from_millis(300));
    rt.shutdown_timeout(Duration::from_secs(2));
    generator.stop();
    result
}

fn run_bare(
    scenario: &Scenario,
    load: &LoadOptions,
    port: u16,
    measured: Measured,
    rss_idle: Option<u64>,
) -> anyhow::Result<Value> {
    let generator = Generator::new(scenario, load.workers, true)?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let result = runner::measure("bare", scenario, load, &generator, Some(measured), rss_idle, |g| {
        for i in 0..g.peers.len() {
            g.start(i, load::Remote::Bare { addr });
        }
        runner::wait_connected(g, Duration::from_secs(30), || true)
    });
    generator.stop();
    result
}
