//! One load run against one system: build the simulated peers, connect them through the system's own
//! signalling, then measure a steady step and a ramp of rising send rates until the failure point.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::cpu::{self, MachineReading, MachineWindow};
use crate::load::{self, Command, Identity, PeerSpec, Remote, Shared, StepStats, TrackSpec, WorkerStats};
use crate::{limit, net};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioKind {
    /// N publishers (audio + video), each watched by all the others.
    Meeting,
    /// 1 publisher (audio + video), M viewers.
    Webinar,
    /// N audio-only publishers, each heard by all the others.
    Audio,
}

impl ScenarioKind {
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Meeting => "meeting",
            ScenarioKind::Webinar => "webinar",
            ScenarioKind::Audio => "audio",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct LoadOptions {
    #[arg(long, value_enum)]
    pub scenario: ScenarioKind,
    /// Seconds of the steady step (the headline figures).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Publishers (default: meeting 12, webinar 1, audio 30).
    #[arg(long)]
    pub publishers: Option<usize>,
    /// Receive-only peers (default: webinar 250, others 0).
    #[arg(long)]
    pub subscribers: Option<usize>,
    #[arg(long, default_value_t = 130.0)]
    pub video_pps: f64,
    #[arg(long, default_value_t = 1100)]
    pub video_bytes: usize,
    #[arg(long, default_value_t = 50.0)]
    pub audio_pps: f64,
    #[arg(long, default_value_t = 100)]
    pub audio_bytes: usize,
    /// Generator worker threads (each drives many peers).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Send-rate multipliers of the ramp after the steady step; it stops at the failure point.
    #[arg(long, value_delimiter = ',', default_value = "1.5,2,2.5,3,4,5,6,8")]
    pub ramp: Vec<f64>,
    /// Seconds per ramp step.
    #[arg(long, default_value_t = 3.0)]
    pub step_secs: f64,
    /// Skip the ramp (no failure point).
    #[arg(long)]
    pub no_ramp: bool,
    /// Instead of the ramp, search for the highest send rate forwarded with under 1% loss: the ramp's
    /// multipliers until one loses, then bisection (see `limit`). Steps last `--step-secs`.
    #[arg(long, conflicts_with = "no_ramp")]
    pub find_limit: bool,
    /// With --find-limit: stop when the lowest lossy rate is within this share of the highest good one.
    #[arg(long, default_value_t = 0.05)]
    pub limit_precision: f64,
    /// Lossy mode: the share (0 to 1) of received video packets each simulated peer drops and NACKs;
    /// the retransmissions that fill them are counted as recovered (the bare forwarder has none).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Simulated peers reach meet over ICE-TCP (RFC 6544/4571) instead of UDP, to set the TCP path's
    /// cost per forwarded packet beside UDP's. meet only (`run`, or `compare --systems relay`).
    #[arg(long)]
    pub tcp: bool,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub kind: ScenarioKind,
    pub publishers: usize,
    pub subscribers: usize,
    pub audio: Option<(f64, usize)>,
    pub video: Option<(f64, usize)>,
    /// Share of received video packets dropped and NACKed by each receiver.
    pub loss: f64,
    /// Peers use ICE-TCP.
    pub tcp: bool,
}

impl Scenario {
    pub fn from_options(o: &LoadOptions) -> Self {
        let (p, s) = match o.scenario {
            ScenarioKind::Meeting => (12, 0),
            ScenarioKind::Webinar => (1, 250),
            ScenarioKind::Audio => (30, 0),
        };
        let video = (o.scenario != ScenarioKind::Audio).then_some((o.video_pps, o.video_bytes));
        Scenario {
            kind: o.scenario,
            publishers: o.publishers.unwrap_or(p).max(1),
            subscribers: o.subscribers.unwrap_or(s),
            audio: Some((o.audio_pps, o.audio_bytes)),
            video,
            loss: o.loss.clamp(0.0, 1.0),
            tcp: o.tcp,
        }
    }

    pub fn peers(&self) -> usize {
        self.publishers + self.subscribers
    }

    pub fn tracks_per_publisher(&self) -> usize {
        self.audio.is_some() as usize + self.video.is_some() as usize
    }

    /// Receivers of each published packet.
    pub fn fanout(&self) -> u64 {
        (self.subscribers + self.publishers - 1) as u64
    }

    /// Streams peer `i` receives once everything is set up.
    pub fn expected_streams(&self, i: usize) -> usize {
        let senders = if i < self.publishers { self.publishers - 1 } else { self.publishers };
        senders * self.tracks_per_publisher()
    }

    pub fn nominal_forwarded_pps(&self) -> f64 {
        let per_pub = self.audio.map_or(0.0, |a| a.0) + self.video.map_or(0.0, |v| v.0);
        per_pub * self.publishers as f64 * self.fanout() as f64
    }

    pub fn describe(&self) -> Value {
        json!({
            "kind": self.kind.name(),
            "publishers": self.publishers,
            "subscribers": self.subscribers,
            "peers": self.peers(),
            "receivers_per_stream": self.fanout(),
            "audio": self.audio.map(|(pps, bytes)| json!({"packets_per_second": pps, "packet_bytes": bytes, "codec": "opus (pt 111)"})),
            "video": self.video.map(|(pps, bytes)| json!({"packets_per_second": pps, "packet_bytes": bytes, "bitrate_bps": pps * bytes as f64 * 8.0, "codec": "VP8 (pt 96)"})),
            "nominal_forwarded_packets_per_second": self.nominal_forwarded_pps(),
            "transport": if self.tcp { "ice-tcp" } else { "udp" },
        })
    }
}

/// Builds the simulated peers and hands them to workers.
pub struct Generator {
    pub shared: Arc<Shared>,
    pub identity: Arc<Identity>,
    pub workers: Vec<Sender<Command>>,
    handles: Vec<std::thread::JoinHandle<()>>,
    /// (worker, ufrag, pwd, audio ssrc, video ssrc, local port) of each peer.
    pub peers: Vec<PeerInfo>,
}

#[derive(Clone)]
pub struct PeerInfo {
    pub worker: usize,
    pub ufrag: String,
    pub pwd: String,
    pub audio_ssrc: Option<u32>,
    pub video_ssrc: Option<u32>,
    /// Local UDP port (full ICE agents such as Janus are told it as our candidate).
    #[allow(dead_code)]
    pub port: u16,
}

fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len).map(|_| CHARS[rand::random_range(0..CHARS.len())] as char).collect()
}

impl Generator {
    pub fn new(scenario: &Scenario, workers: usize, plain: bool) -> anyhow::Result<Self> {
        Self::build(scenario, workers, plain, false, std::net::Ipv4Addr::LOCALHOST)
    }

    /// With `split`, each publisher also gets a separate receive-only transport (systems whose
    /// publishers cannot receive on their publishing connection, such as Janus): peers
    /// `publishers..2*publishers` receive for publishers `0..publishers`.
    /// Sockets bind `bind_ip` (Janus's ICE agent ignores loopback, and a socket bound to another
    /// local address cannot send to 127.0.0.1).
    pub fn new_split(
        scenario: &Scenario,
        workers: usize,
        split: bool,
        bind_ip: std::net::Ipv4Addr,
    ) -> anyhow::Result<Self> {
        Self::build(scenario, workers, false, split, bind_ip)
    }

    fn build(
        scenario: &Scenario,
        workers: usize,
        plain: bool,
        split: bool,
        bind_ip: std::net::Ipv4Addr,
    ) -> anyhow::Result<Self> {
        let total = scenario.peers() + if split { scenario.publishers } else { 0 };
        let shared = Shared::new(total, scenario.loss);
        let identity = Identity::generate()?;
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for w in 0..workers.max(1) {
            let (tx, h) = load::spawn_worker(format!("bench-worker-{w}"), shared.clone(), identity.clone())?;
            senders.push(tx);
            handles.push(h);
        }
        let mut peers = Vec::new();
        for i in 0..total {
            let publishes = i < scenario.publishers;
            let track = |kind: Option<(f64, usize)>, pt: u8, clock: u32| {
                kind.filter(|_| publishes).map(|(pps, bytes)| TrackSpec {
                    ssrc: rand::random::<u32>() | 1,
                    payload_type: pt,
                    clock_rate: clock,
                    packets_per_second: pps,
                    packet_bytes: bytes,
                })
            };
            let audio = track(scenario.audio, 111, 48_000);
            let video = track(scenario.video, 96, 90_000);
            let socket = std::net::UdpSocket::bind((bind_ip, 0))?;
            let port = socket.local_addr()?.port();
            let worker = i % senders.len();
            let info = PeerInfo {
                worker,
                ufrag: random_token(8),
                pwd: random_token(24),
                audio_ssrc: audio.map(|t| t.ssrc),
                video_ssrc: video.map(|t| t.ssrc),
                port,
            };
            let (bare_group, bare_subscribe) = if plain {
                let subscribe: Vec<u32> = (0..scenario.publishers as u32).filter(|g| *g as usize != i).collect();
                (publishes.then_some(i as u32), subscribe)
            } else {
                (None, Vec::new())
            };
            let spec = PeerSpec {
                index: i,
                audio,
                video,
                fanout: scenario.fanout(),
                ufrag: info.ufrag.clone(),
                pwd: info.pwd.clone(),
                bare_group,
                bare_subscribe,
                tcp: scenario.tcp && !plain,
            };
            senders[worker]
                .send(Command::Add(Box::new(spec), socket))
                .map_err(|_| anyhow::anyhow!("worker stopped"))?;
            peers.push(info);
        }
        Ok(Generator { shared, identity, workers: senders, handles, peers })
    }

    pub fn start(&self, index: usize, remote: Remote) {
        let _ = self.workers[self.peers[index].worker].send(Command::Start(index, remote));
    }

    pub fn snapshot(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for w in &self.workers {
            let (tx, rx) = std::sync::mpsc::channel();
            if w.send(Command::Snapshot(tx)).is_ok() {
                if let Ok(s) = rx.recv_timeout(Duration::from_secs(5)) {
                    total.merge(&s);
                }
            }
        }
        total
    }

    pub fn stop(self) {
        for w in &self.workers {
            let _ = w.send(Command::Stop);
        }
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// A process to account CPU and memory to.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub pid: u32,
    /// The core it is pinned to, to report that core's softirq time next to the process's CPU.
    pub core: Option<usize>,
}

impl Measured {
    fn cpu(&self) -> f64 {
        net::process_cpu_seconds_precise(self.pid).or_else(|_| net::process_cpu_seconds(self.pid)).unwrap_or(f64::NAN)
    }
    fn rss(&self) -> u64 {
        net::process_rss_bytes(self.pid).unwrap_or(0)
    }
}

struct StepWindow {
    multiplier: f64,
    wall: f64,
    system_cpu: f64,
    generator_cpu: f64,
    core_softirq: Option<f64>,
    core_busy: Option<f64>,
    /// The whole machine over the window.
    machine: Option<MachineWindow>,
    /// CPU of the kernel's threads (ksoftirqd, kworkers) over the window.
    kernel_threads_cpu: f64,
    /// Deliveries per second the scenario asks for at this multiplier.
    nominal_deliveries_per_second: f64,
}

fn percentile_ms(s: &StepStats, q: f64) -> f64 {
    if s.latency_us.is_empty() {
        return f64::NAN;
    }
    s.latency_us.value_at_quantile(q) as f64 / 1000.0
}

fn step_json(s: &StepStats, w: &StepWindow) -> Value {
    let loss = if s.expected > 0 { (1.0 - s.received as f64 / s.expected as f64).max(0.0) } else { f64::NAN };
    let attributed = w.system_cpu + w.kernel_threads_cpu;
    let offered = s.expected as f64 / w.wall;
    json!({
        "rate_multiplier": w.multiplier,
        "seconds": w.wall,
        "sent_packets": s.sent,
        "expected_deliveries": s.expected,
        "offered_deliveries_per_second": offered,
        // Below 1 when the generator could not send at the asked rate.
        "offered_share": offered / w.nominal_deliveries_per_second,
        "forwarded_packets": s.received,
        "forwarded_packets_per_second": s.received as f64 / w.wall,
        "forwarded_bits_per_second": s.received_bytes as f64 * 8.0 / w.wall,
        "cpu_seconds": w.system_cpu,
        "cpu_utilisation": w.system_cpu / w.wall,
        "packets_per_cpu_second": s.received as f64 / w.system_cpu,
        "cpu_seconds_per_million_packets": w.system_cpu * 1e6 / s.received as f64,
        "kernel_threads_cpu_seconds": w.kernel_threads_cpu,
        "attributed_cpu_seconds": attributed.is_finite().then_some(attributed),
        "packets_per_attributed_cpu_second": cpu::per_cpu_second(s.received as f64, attributed),
        // Charged figures are added once the baseline after the run is known (`charge`).
        "machine_busy_seconds": w.machine.map(|m| m.busy()),
        "machine_busy_sampled_seconds": w.machine.map(|m| m.busy_sampled()),
        "machine_steal_seconds": w.machine.map(|m| m.times.steal),
        "loss": loss,
        "receiver_drops": s.dropped,
        "recovered_by_retransmission": s.recovered,
        "recovered_share": if s.dropped > 0 { s.recovered as f64 / s.dropped as f64 } else { f64::NAN },
        "latency_ms": {
            "p50": percentile_ms(s, 0.5),
            "p99": percentile_ms(s, 0.99),
            "p999": percentile_ms(s, 0.999),
            "max": if s.latency_us.is_empty() { f64::NAN } else { s.latency_us.max() as f64 / 1000.0 },
        },
        "media_core_softirq_seconds": w.core_softirq,
        // Kept for comparison only: on this VM's tick-based accounting it has disagreed with the pinned
        // process's own CPU by 100x (issue 11), so "others on the media core" is not trusted.
        "media_core_busy_seconds": w.core_busy,
        "media_core_other_processes_seconds": w.core_busy.map(|b| (b - w.system_cpu).max(0.0)),
        "generator_cpu_seconds": w.generator_cpu,
        "generator_cpu_utilisation": w.generator_cpu / w.wall,
    })
}

fn failed(step: &Value) -> bool {
    let loss = step["loss"].as_f64().unwrap_or(1.0);
    let p99 = step["latency_ms"]["p99"].as_f64().unwrap_or(f64::INFINITY);
    !(loss <= 0.01 && p99 <= 50.0)
}

/// Runs the measured steps of one run, each under its own step number.
struct Stepper<'a> {
    name: &'a str,
    generator: &'a Generator,
    measured: Option<Measured>,
    nominal_deliveries_per_second: f64,
    next_step: u32,
}

impl Stepper<'_> {
    fn run(&mut self, multiplier: f64, secs: f64) -> Value {
        let step = self.next_step;
        self.next_step += 1;
        let shared = &self.generator.shared;
        let measured = self.measured;
        let cpu_now = || measured.map_or(f64::NAN, |m| m.cpu());
        let softirq = || measured.and_then(|m| m.core).and_then(cpu::core_softirq_seconds);
        let busy = || measured.and_then(|m| m.core).and_then(cpu::core_busy_seconds);
        // Scanned each step: kworkers come and go.
        let kernel_threads = cpu::kernel_threads();
        let threads = || cpu::threads_cpu_seconds(&kernel_threads);
        let (c0, g0, t0, s0, b0, m0, k0) =
            (cpu_now(), net::self_cpu_seconds(), Instant::now(), softirq(), busy(), MachineReading::read(), threads());
        shared.rate_milli.store((multiplier * 1000.0).round() as u32, Ordering::Relaxed);
        shared.step.store(step, Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs_f64(secs));
        let (c1, g1, wall, s1, b1, m1, k1) = (
            cpu_now(),
            net::self_cpu_seconds(),
            t0.elapsed().as_secs_f64(),
            softirq(),
            busy(),
            MachineReading::read(),
            threads(),
        );
        let window = StepWindow {
            multiplier,
            wall,
            system_cpu: c1 - c0,
            generator_cpu: g1 - g0,
            core_softirq: s0.zip(s1).map(|(a, b)| b - a),
            core_busy: b0.zip(b1).map(|(a, b)| b - a),
            machine: m0.zip(m1).map(|(a, b)| b.since(&a)),
            kernel_threads_cpu: if measured.is_some() { k1 - k0 } else { f64::NAN },
            nominal_deliveries_per_second: self.nominal_deliveries_per_second * multiplier,
        };
        // Packets sent from now on belong to no step (0 is the unmeasured warm-up), so the next step's
        // counts hold only its own window; this step's last packets get time to arrive.
        shared.step.store(0, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(300));
        let stats = self.generator.snapshot();
        let s = stats.steps.get(step as usize).cloned().flatten().unwrap_or_default();
        let v = step_json(&s, &window);
        let pct = |k: &str| v[k].as_f64().unwrap_or(f64::NAN) * 100.0 / wall;
        eprintln!(
            "[{}] step {step} x{multiplier:.3}: {:.0} pkt/s forwarded (offered {:.0}), {:.0} pkt per CPU-s, loss {:.4}, p50/p99/p999 {:.2}/{:.2}/{:.2} ms, system CPU {:.0}% + kernel threads {:.0}%, machine busy {:.0}%, generator CPU {:.0}%",
            self.name,
            v["forwarded_packets_per_second"].as_f64().unwrap_or(0.0),
            v["offered_deliveries_per_second"].as_f64().unwrap_or(0.0),
            v["packets_per_cpu_second"].as_f64().unwrap_or(f64::NAN),
            v["loss"].as_f64().unwrap_or(f64::NAN),
            v["latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
            v["latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
            v["latency_ms"]["p999"].as_f64().unwrap_or(f64::NAN),
            pct("cpu_seconds"),
            pct("kernel_threads_cpu_seconds"),
            pct("machine_busy_seconds"),
            pct("generator_cpu_seconds"),
        );
        v
    }
}

/// Runs the scenario against a target whose peers are set up by `connect`; returns the system's JSON.
pub fn measure(
    name: &str,
    scenario: &Scenario,
    opts: &LoadOptions,
    generator: &Generator,
    measured: Option<Measured>,
    rss_idle: Option<u64>,
    connect_wait: impl Fn(&Generator) -> anyhow::Result<()>,
) -> anyhow::Result<Value> {
    let setup_start = Instant::now();
    connect_wait(generator).with_context(|| format!("{name}: setting up {} peers", scenario.peers()))?;
    let setup_secs = setup_start.elapsed().as_secs_f64();
    eprintln!("[{name}] {} peers connected in {setup_secs:.1} s", scenario.peers());
    let shared = generator.shared.clone();
    shared.step.store(0, Ordering::Relaxed);
    shared.sending.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1500));

    let mut stepper = Stepper {
        name,
        generator,
        measured,
        nominal_deliveries_per_second: scenario.nominal_forwarded_pps(),
        next_step: 1,
    };
    let mut results: Vec<Value> = vec![stepper.run(1.0, opts.duration)];
    let rss_loaded = measured.map_or(0, |m| m.rss());
    let search = if opts.find_limit {
        let mut search = limit::Search::new(&opts.ramp, opts.limit_precision, 64.0, limit::MAX_PROBES);
        search.record(1.0, probe_outcome(&results[0]));
        while let Some(m) = search.next() {
            let v = stepper.run(m, opts.step_secs);
            let outcome = probe_outcome(&v);
            search.record(m, outcome);
            results.push(v);
            if outcome == limit::Outcome::Lossy {
                // Let the queues the overload left drain, so the next probe starts clean.
                shared.sending.store(false, Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(1));
                shared.sending.store(true, Ordering::Relaxed);
            }
        }
        Some(search)
    } else {
        if !opts.no_ramp && !failed(&results[0]) {
            for &m in &opts.ramp {
                let v = stepper.run(m, opts.step_secs);
                let bad = failed(&v);
                results.push(v);
                if bad {
                    break;
                }
            }
        }
        None
    };
    shared.sending.store(false, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    let totals = generator.snapshot();

    // The ramp's failure point is the first failed step in the order run; with --find-limit the probes
    // go through the ramp's multipliers in order until the first loss, so it is found there too.
    let failure = results.iter().position(failed);
    let steady = results[0].clone();
    let peers = scenario.peers() as f64;
    let memory_per_peer = match (rss_idle, measured) {
        (Some(idle), Some(_)) if rss_loaded > 0 => Some((rss_loaded as f64 - idle as f64).max(0.0) / peers),
        _ => None,
    };
    let below_failure: Vec<&Value> = match failure {
        Some(k) => results[..k].iter().collect(),
        None => results.iter().collect(),
    };
    let worst_p99_below = below_failure.iter().filter_map(|v| v["latency_ms"]["p99"].as_f64()).fold(f64::NAN, f64::max);
    let failure_point = match failure {
        Some(k) => json!({
            "reached": true,
            "rate_multiplier": results[k]["rate_multiplier"],
            "offered_deliveries_per_second": results[k]["offered_deliveries_per_second"],
            "forwarded_packets_per_second": results[k]["forwarded_packets_per_second"],
            "loss": results[k]["loss"],
            "p99_ms": results[k]["latency_ms"]["p99"],
            "last_good_forwarded_packets_per_second": if k > 0 { results[k - 1]["forwarded_packets_per_second"].clone() } else { Value::Null },
            "generator_cpu_utilisation": results[k]["generator_cpu_utilisation"],
            "generator_limited": results[k]["generator_cpu_utilisation"].as_f64().unwrap_or(0.0) > 0.9,
        }),
        None => json!({
            "reached": false,
            "note": "no step of the ramp lost over 1% or had p99 over 50 ms",
            "highest_forwarded_packets_per_second": results.last().map(|v| v["forwarded_packets_per_second"].clone()),
        }),
    };
    let mut out = steady.clone();
    let o = out.as_object_mut().unwrap();
    o.insert("peers".into(), json!(scenario.peers()));
    o.insert("setup_seconds".into(), json!(setup_secs));
    o.insert("memory_per_peer_bytes".into(), json!(memory_per_peer));
    o.insert("rss_idle_bytes".into(), json!(rss_idle));
    o.insert("rss_loaded_bytes".into(), json!(rss_loaded));
    o.insert("p99_ms_worst_below_failure".into(), json!(worst_p99_below));
    o.insert("failure_point".into(), failure_point);
    if let Some(search) = &search {
        o.insert("limit".into(), limit_json(search, &results));
    }
    o.insert("ramp".into(), Value::Array(results));
    o.insert(
        "generator".into(),
        json!({
            "cpu_seconds": steady["generator_cpu_seconds"],
            "cpu_utilisation": steady["generator_cpu_utilisation"],
            "workers": generator_workers(opts),
            "undecryptable_packets": totals.undecryptable,
            "rtcp_packets_received": totals.rtcp_in,
            "send_errors": totals.send_errors,
            "late_sends_skipped": totals.late_sends,
        }),
    );
    Ok(out)
}

fn probe_outcome(step: &Value) -> limit::Outcome {
    limit::Outcome::of(step["loss"].as_f64().unwrap_or(f64::NAN), step["offered_share"].as_f64().unwrap_or(f64::NAN))
}

/// The limit the search found, from the probes' JSON (`steps`, in the order run, multipliers as tried).
fn limit_json(search: &limit::Search, steps: &[Value]) -> Value {
    let (_, lossy) = search.bracket();
    let mult = |s: &Value| s["rate_multiplier"].as_f64().unwrap_or(f64::NAN);
    let forwarded = |s: &Value| s["forwarded_packets_per_second"].as_f64().unwrap_or(0.0);
    // Of the good probes below the first lossy one, the one that forwarded most: the generator offers
    // a little less than asked on a loaded machine, so the highest multiplier need not be the highest rate.
    let best = steps
        .iter()
        .filter(|s| probe_outcome(s) == limit::Outcome::Good && lossy.is_none_or(|l| mult(s) < l))
        .max_by(|a, b| forwarded(a).total_cmp(&forwarded(b)));
    let first_lossy = lossy.and_then(|l| steps.iter().find(|s| mult(s) == l));
    let field = |s: Option<&Value>, k: &str| s.map_or(Value::Null, |s| s[k].clone());
    // No lossy probe (the generator could not offer more, or the highest multiplier held): the limit
    // is only known to be at least the best probe's rate, and is kept out of the medians and ratios.
    let lower_bound = lossy.is_none();
    let best_rate = field(best, "forwarded_packets_per_second");
    json!({
        "definition": "highest offered rate forwarded with at most 1% loss, the system's media process on one pinned core",
        "forwarded_packets_per_second": if lower_bound { Value::Null } else { best_rate.clone() },
        "at_least_forwarded_packets_per_second": if lower_bound { best_rate } else { Value::Null },
        "offered_deliveries_per_second": field(best, "offered_deliveries_per_second"),
        "rate_multiplier": field(best, "rate_multiplier"),
        "loss": field(best, "loss"),
        "p99_ms": best.map_or(Value::Null, |s| s["latency_ms"]["p99"].clone()),
        "cpu_utilisation": field(best, "cpu_utilisation"),
        "lowest_lossy_rate_multiplier": lossy,
        "lowest_lossy_offered_deliveries_per_second": field(first_lossy, "offered_deliveries_per_second"),
        "lowest_lossy_loss": field(first_lossy, "loss"),
        "lower_bound": lower_bound,
        "generator_limited": search.generator_limited(),
        "probes": search.tried.len(),
    })
}

/// Adds the charged figures to a run's steady figures and to each of its steps, with the mean of the
/// machine's baselines just before and just after it.
pub fn charge(run: &mut Value, before: &cpu::Baseline, after: &cpu::Baseline) {
    let baseline = cpu::Baseline::around(before, after);
    cpu::charge_step(run, &baseline);
    if let Some(steps) = run.get_mut("ramp").and_then(Value::as_array_mut) {
        for s in steps {
            cpu::charge_step(s, &baseline);
        }
    }
    if let Some(o) = run.as_object_mut() {
        let mut b = baseline.to_json();
        b["before"] = before.to_json();
        b["after"] = after.to_json();
        o.insert("baseline".into(), b);
    }
}

fn generator_workers(o: &LoadOptions) -> usize {
    o.workers.max(1)
}

/// Waits until every peer is connected and `extra` holds; fails after `timeout`.
pub fn wait_connected(g: &Generator, timeout: Duration, extra: impl Fn() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let connected = g.shared.count_in(load::STATE_CONNECTED);
        let failed = g.shared.count_in(load::STATE_FAILED);
        if connected == g.peers.len() && extra() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("{connected}/{} peers connected, {failed} failed, after {timeout:?}", g.peers.len());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
