//! `meet-bench soak`: joins and leaves through meet-control for a long time (an hour by default),
//! watching the relay's and meet-control's memory and file descriptors for leaks.
//!
//! It starts its own meet (meet-relay + meet-control, as `compare` does) and churns in *waves*: each
//! wave joins `--rooms` rooms of `--peers` simulated peers (audio and video, with ICE, DTLS and SRTP)
//! through the signalling WebSocket, waits until every peer receives every other's streams, holds
//! the call `--hold-secs`, then every peer leaves. The next wave starts once `/metrics` shows no room
//! and no peer on either side (a *rest point*). Throughout, a sampler records both processes' RSS and
//! open descriptors and the room and peer counts every `--sample-secs`.
//!
//! Verdict: comparing the first rest point after `--warmup-secs` with the last one (like with like:
//! both idle), each process's RSS grew less than `--max-rss-growth-percent` and holds no more
//! descriptors; at the end no room or peer is left on meet-control or the relay; every wave's media
//! connected. The process exits non-zero when any of that fails.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::runner::{Generator, Scenario, ScenarioKind};
use crate::{load, meet, net, systems};

#[derive(Debug, Clone, clap::Args)]
pub struct SoakOptions {
    /// Seconds of churn; the wave under way when they are up finishes.
    #[arg(long, default_value_t = 3600.0)]
    pub duration: f64,
    /// Seconds before the reference rest point (default: a tenth of the duration, at least 300: the
    /// relay's buffer pool takes about four minutes of this churn to fill).
    #[arg(long)]
    pub warmup_secs: Option<f64>,
    /// Rooms per wave.
    #[arg(long, default_value_t = 3)]
    pub rooms: usize,
    /// Peers per room (each sends audio and video and receives everyone else's).
    #[arg(long, default_value_t = 4)]
    pub peers: usize,
    /// Seconds a wave's call lasts once its media flows.
    #[arg(long, default_value_t = 5.0)]
    pub hold_secs: f64,
    #[arg(long, default_value_t = 30.0)]
    pub video_pps: f64,
    #[arg(long, default_value_t = 50.0)]
    pub audio_pps: f64,
    /// Seconds between samples of memory, descriptors and counts.
    #[arg(long, default_value_t = 5.0)]
    pub sample_secs: f64,
    #[arg(long, default_value_t = 5.0)]
    pub max_rss_growth_percent: f64,
    /// Where to write the JSON report (samples, rest points, verdict); default: stdout only.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Both processes and both sides' counts at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    secs: f64,
    relay_rss: u64,
    control_rss: u64,
    relay_fds: usize,
    control_fds: usize,
    /// From /metrics; `None` when it did not answer.
    counts: Option<Counts>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    control_rooms: u64,
    control_peers: u64,
    relay_rooms: u64,
    relay_peers: u64,
}

impl Counts {
    fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

impl Sample {
    fn json(&self) -> Value {
        let counts = self.counts.map(|c| {
            json!({"control_rooms": c.control_rooms, "control_peers": c.control_peers,
                   "relay_rooms": c.relay_rooms, "relay_peers": c.relay_peers})
        });
        json!({"secs": (self.secs * 10.0).round() / 10.0, "relay_rss_bytes": self.relay_rss,
               "control_rss_bytes": self.control_rss, "relay_fds": self.relay_fds,
               "control_fds": self.control_fds, "counts": counts})
    }
}

/// What is sampled: the two processes and meet-control's HTTP address.
#[derive(Clone)]
struct Probe {
    relay: u32,
    control: u32,
    http: String,
    start: Instant,
}

impl Probe {
    fn sample(&self) -> Sample {
        Sample {
            secs: self.start.elapsed().as_secs_f64(),
            relay_rss: net::process_rss_bytes(self.relay).unwrap_or(0),
            control_rss: net::process_rss_bytes(self.control).unwrap_or(0),
            relay_fds: open_fds(self.relay),
            control_fds: open_fds(self.control),
            counts: metrics(&self.http).ok(),
        }
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// meet-control's `/metrics` (rooms and peers of both sides) over a plain HTTP/1.1 GET.
fn metrics(http: &str) -> anyhow::Result<Counts> {
    let mut s = std::net::TcpStream::connect(http)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let value = |name: &str| -> anyhow::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .with_context(|| format!("no {name} in /metrics"))?
            .trim()
            .parse()
            .with_context(|| format!("{name} is not a count"))
    };
    Ok(Counts {
        control_rooms: value("meet_control_rooms")?,
        control_peers: value("meet_control_peers")?,
        relay_rooms: value("meet_relay_rooms")?,
        relay_peers: value("meet_relay_peers")?,
    })
}

pub fn run(o: SoakOptions) -> anyhow::Result<()> {
    anyhow::ensure!(o.rooms >= 1 && o.peers >= 2, "--rooms must be 1 or more and --peers 2 or more");
    let warmup = o.warmup_secs.unwrap_or((o.duration / 10.0).max(300.0));
    let dir = systems::temp_dir("soak")?;
    let mut system = systems::start_meet(None, None, &dir, None)?;
    let http = system.ws_url.trim_start_matches("ws://").trim_end_matches("/ws").to_string();
    let probe = Probe { relay: system.relay.pid(), control: system._control.pid(), http, start: Instant::now() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;

    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (probe, samples, stop) = (probe.clone(), samples.clone(), stop.clone());
        let every = Duration::from_secs_f64(o.sample_secs.max(0.5));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                samples.lock().expect("samples lock").push(probe.sample());
                std::thread::sleep(every);
            }
        })
    };

    eprintln!(
        "soak: {} s of waves of {} rooms x {} peers (hold {} s), warm-up {warmup} s; meet logs in {}",
        o.duration,
        o.rooms,
        o.peers,
        o.hold_secs,
        dir.display()
    );
    let mut rests = vec![probe.sample()];
    let mut waves = 0usize;
    let mut failed_waves = Vec::new();
    let mut stuck = None;
    while probe.start.elapsed().as_secs_f64() < o.duration {
        if let Err(e) = wave(&rt, &o, &system.ws_url, waves) {
            eprintln!("soak: wave {waves}: {e:#}");
            failed_waves.push(json!({"wave": waves, "error": format!("{e:#}")}));
        }
        waves += 1;
        // A rest point: everyone left, on both sides.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = None;
        while Instant::now() < deadline {
            last = metrics(&probe.http).ok();
            if last.is_some_and(|c| c.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if !last.is_some_and(|c| c.is_empty()) {
            stuck = Some(format!("30 s after wave {} left, /metrics still shows {last:?}", waves - 1));
            break;
        }
        // Let the processes settle (closed sockets, freed buffers) before reading them.
        std::thread::sleep(Duration::from_secs(1));
        let rest = probe.sample();
        eprintln!(
            "soak: wave {waves:>4} done at {:>6.0} s: relay {:.1} MB {} fds, control {:.1} MB {} fds",
            rest.secs,
            rest.relay_rss as f64 / 1e6,
            rest.relay_fds,
            rest.control_rss as f64 / 1e6,
            rest.control_fds
        );
        rests.push(rest);
        if let Err(e) = system.relay.check_alive().and_then(|_| system._control.check_alive()) {
            stuck = Some(format!("{e:#}"));
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    drop(system);
    rt.shutdown_timeout(Duration::from_secs(2));

    let reference = rests.iter().find(|s| s.secs >= warmup).or(rests.last()).copied().unwrap_or_default();
    let end = rests.last().copied().unwrap_or_default();
    let growth =
        |from: u64, to: u64| if from == 0 { f64::NAN } else { (to as f64 - from as f64) / from as f64 * 100.0 };
    let relay_growth = growth(reference.relay_rss, end.relay_rss);
    let control_growth = growth(reference.control_rss, end.control_rss);
    let mut failures = Vec::new();
    for (who, g) in [("meet-relay", relay_growth), ("meet-control", control_growth)] {
        // NaN (a process that could not be read) fails too.
        if g.is_nan() || g >= o.max_rss_growth_percent {
            failures.push(format!("{who} RSS grew {g:.1}% after warm-up (limit {}%)", o.max_rss_growth_percent));
        }
    }
    for (who, from, to) in
        [("meet-relay", reference.relay_fds, end.relay_fds), ("meet-control", reference.control_fds, end.control_fds)]
    {
        if to > from {
            failures.push(format!("{who} holds {to} descriptors at the end, {from} after warm-up"));
        }
    }
    if let Some(s) = &stuck {
        failures.push(format!("stopped early: {s}"));
    }
    if !failed_waves.is_empty() {
        failures.push(format!("{} of {waves} waves failed", failed_waves.len()));
    }
    if rests.len() < 3 {
        failures.push(format!("only {} rest points: run longer", rests.len()));
    }
    let verdict = if failures.is_empty() { "pass" } else { "fail" };
    let report = json!({
        "verdict": verdict,
        "failures": failures,
        "duration_secs": probe.start.elapsed().as_secs_f64().round(),
        "warmup_secs": warmup,
        "waves": waves,
        "peers_per_wave": o.rooms * o.peers,
        "joins": waves * o.rooms * o.peers,
        "failed_waves": failed_waves,
        "reference_rest": reference.json(),
        "end_rest": end.json(),
        "relay_rss_growth_percent": (relay_growth * 100.0).round() / 100.0,
        "control_rss_growth_percent": (control_growth * 100.0).round() / 100.0,
        "peak": {
            "relay_rss_bytes": samples.lock().expect("samples lock").iter().map(|s| s.relay_rss).max(),
            "control_rss_bytes": samples.lock().expect("samples lock").iter().map(|s| s.control_rss).max(),
        },
        "rests": rests.iter().map(Sample::json).collect::<Vec<_>>(),
        "samples": samples.lock().expect("samples lock").iter().map(Sample::json).collect::<Vec<_>>(),
        "options": format!("{o:?}"),
    });
    let text = serde_json::to_string_pretty(&report)?;
    match &o.json {
        Some(p) => std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?,
        None => println!("{text}"),
    }
    eprintln!(
        "soak: {verdict}: {waves} waves ({} joins) in {:.0} s; RSS after warm-up -> end: relay {:.1} -> {:.1} MB \
         ({relay_growth:+.1}%), control {:.1} -> {:.1} MB ({control_growth:+.1}%); fds relay {} -> {}, control {} -> {}",
        waves * o.rooms * o.peers,
        probe.start.elapsed().as_secs_f64(),
        reference.relay_rss as f64 / 1e6,
        end.relay_rss as f64 / 1e6,
        reference.control_rss as f64 / 1e6,
        end.control_rss as f64 / 1e6,
        reference.relay_fds,
        end.relay_fds,
        reference.control_fds,
        end.control_fds,
    );
    anyhow::ensure!(failures.is_empty(), "soak failed: {}", failures.join("; "));
    Ok(())
}

/// One wave: its rooms fill, media flows everywhere, the call is held, everyone leaves.
fn wave(rt: &tokio::runtime::Runtime, o: &SoakOptions, ws_url: &str, n: usize) -> anyhow::Result<()> {
    let total = o.rooms * o.peers;
    let scenario = Scenario {
        kind: ScenarioKind::Meeting,
        publishers: total,
        subscribers: 0,
        audio: Some((o.audio_pps, 100)),
        video: Some((o.video_pps, 1100)),
        loss: 0.0,
        tcp: false,
    };
    let generator = Generator::new(&scenario, 1, false)?;
    let progress = meet::Progress::new(total);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut sessions = Vec::with_capacity(total);
    for i in 0..total {
        let peer = meet::SigPeer::of(&generator, i, format!("soak-{n}-{i}"));
        let room = format!("serv0soak{n}x{}", i / o.peers);
        sessions.push(rt.spawn(meet::session(ws_url.to_string(), room, peer, progress.clone(), shutdown_rx.clone())));
    }
    // Each peer gets the audio and video of everyone else in its room.
    let expected = (o.peers - 1) * 2;
    let shared = generator.shared.clone();
    let flowing = systems::wait_for("every peer's media", Duration::from_secs(60), || {
        shared.states.iter().all(|s| s.load(Ordering::Relaxed) == load::STATE_CONNECTED)
            && progress.receiving.iter().all(|r| r.load(Ordering::Relaxed) >= expected)
    });
    if flowing.is_ok() {
        std::thread::sleep(Duration::from_secs_f64(o.hold_secs));
    }
    let _ = shutdown_tx.send(true);
    rt.block_on(async {
        for s in sessions {
            let _ = tokio::time::timeout(Duration::from_secs(5), s).await;
        }
    });
    generator.stop();
    flowing?;
    let errors = progress.errors.load(Ordering::Relaxed);
    anyhow::ensure!(errors == 0, "{errors} signalling errors");
    Ok(())
}
