//! `meet-bench compare`: the systems one after another, round after round (relay, bare, janus, relay,
//! ...), each run charged the CPU its traffic caused, with the machine's idle baseline taken just before
//! and just after it, when none of our processes run.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::cpu::Baseline;
use crate::runner::{self, LoadOptions, Measured, Scenario};
use crate::{janus, net, repeats, report, systems};

pub struct Options {
    pub load: LoadOptions,
    pub json: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub systems: Vec<String>,
    pub core: usize,
    pub io_backend: Option<String>,
    pub repeat: usize,
    pub baseline_secs: f64,
}

fn other_cores(core: usize) -> Vec<usize> {
    let n = net::cpu_count();
    let others: Vec<usize> = (0..n).filter(|c| *c != core).collect();
    if others.is_empty() {
        vec![core]
    } else {
        others
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = text.split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
    json!(v)
}

pub fn compare(o: Options) -> anyhow::Result<()> {
    let scenario = Scenario::from_options(&o.load);
    let gen_cores = other_cores(o.core);
    if let Err(e) = net::pin_current_thread(&gen_cores) {
        eprintln!("cannot pin the generator to cores {gen_cores:?}: {e}");
    }
    let control_core = gen_cores.first().copied();
    let repeat = o.repeat.max(1);
    eprintln!(
        "scenario {}: {} publishers, {} subscribers, nominal {:.0} forwarded packets/s; media process on core {}, generator on {gen_cores:?}; {repeat} round(s); load average {}",
        scenario.kind.name(),
        scenario.publishers,
        scenario.subscribers,
        scenario.nominal_forwarded_pps(),
        o.core,
        load_average(),
    );
    let load_average_start = load_average();
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(); o.systems.len()];
    let mut unavailable: Vec<Option<String>> = vec![None; o.systems.len()];
    let mut setups = Map::new();
    let mut baselines = Vec::new();
    let mut before = Baseline::measure(o.baseline_secs);
    baselines.extend(before.map(|b| b.to_json()));
    for round in 0..repeat {
        for (i, system) in o.systems.iter().enumerate() {
            if system == "janus" {
                if let Err(reason) = janus::available() {
                    if round == 0 {
                        eprintln!("janus: skipped: {reason}");
                    }
                    unavailable[i] = Some(reason);
                    continue;
                }
            }
            let load_average_run = load_average();
            eprintln!("--- round {}/{repeat}: {system} (load average {load_average_run}) ---", round + 1);
            let outcome = run_one(system, &scenario, &o, control_core);
            let after = Baseline::measure(o.baseline_secs);
            baselines.extend(after.map(|b| b.to_json()));
            let mut run = match outcome {
                Ok((mut r, setup)) => {
                    if let (Some(b), Some(a)) = (&before, &after) {
                        runner::charge(&mut r, b, a);
                    }
                    setups.insert(system.clone(), setup);
                    r
                }
                Err(e) => {
                    eprintln!("{system}: failed: {e:#}");
                    json!({"skipped": format!("failed: {e:#}")})
                }
            };
            run["round"] = json!(round + 1);
            run["load_average"] = load_average_run;
            runs[i].push(run);
            before = after;
        }
    }
    let mut results = Map::new();
    for (i, system) in o.systems.iter().enumerate() {
        let v = match &unavailable[i] {
            Some(reason) => json!({"skipped": reason}),
            None => repeats::summarise(std::mem::take(&mut runs[i])),
        };
        results.insert(system.clone(), v);
    }
    let systems_v = Value::Object(results);
    let ratios = report::ratios(&systems_v);
    let targets = report::targets(&scenario.describe(), &systems_v);
    let report = json!({
        "scenario": scenario.kind.name(),
        "scenario_details": scenario.describe(),
        "machine": crate::machine(),
        "load_average": {"start": load_average_start, "end": load_average()},
        "pinning": {"media_process_core": o.core, "generator_cores": gen_cores},
        "failure_definition": "loss over 1% or p99 added latency over 50 ms",
        "limit_definition": o.load.find_limit.then_some("highest offered rate with at most 1% loss (--find-limit)"),
        "repeat": {"rounds": repeat, "order": "interleaved: each round runs every system once, in the order given"},
        "charging": {
            "charged": "whole-machine busy time (user+nice+system+irq+softirq, all CPUs) minus the generator's own CPU minus the idle baseline's rate times the window",
            "attributed": "the system's process CPU plus the kernel threads' CPU (ksoftirqd, kworkers)",
            "process": "the system's process CPU (packets_per_cpu_second, as before)",
            "baseline_seconds": o.baseline_secs,
            "baselines": baselines,
        },
        "systems": systems_v,
        "setup": Value::Object(setups),
        "ratios": ratios,
        "targets": targets,
    });
    let svg_path = o
        .svg
        .or_else(|| o.json.as_ref().map(|p| p.with_extension("svg")))
        .unwrap_or_else(|| PathBuf::from(format!("meet-bench-{}.svg", scenario.kind.name())));
    crate::emit(&report, o.json.as_ref(), Some(&svg_path))
}

/// One run of one system: its result and how it was started.
fn run_one(
    system: &str,
    scenario: &Scenario,
    o: &Options,
    control_core: Option<usize>,
) -> anyhow::Result<(Value, Value)> {
    let (core, load) = (o.core, &o.load);
    match system {
        "relay" => {
            let dir = systems::temp_dir("relay")?;
            let meet = systems::start_meet(Some(core), control_core, &dir, o.io_backend.as_deref())?;
            // Idle baseline with the IO layer warm: datagrams no peer owns touch its receive
            // buffers, so their pages count as fixed cost, not per-peer memory.
            crate::warm_up(meet.media_port);
            std::thread::sleep(Duration::from_millis(300));
            let pid = meet.relay.pid();
            let rss_idle = net::process_rss_bytes(pid).ok();
            let r = crate::run_meet(scenario, load, &meet.ws_url, Some(Measured { pid, core: Some(core) }), rss_idle);
            let setup = json!({
                "command": format!("taskset -c {core} meet-relay {}", meet.relay_flags.join(" ")),
                "control": "meet-control --listen 127.0.0.1:<port> --relay-socket <dir>/relay.sock --data-dir <dir>/data",
                "logs": dir.display().to_string(),
            });
            drop(meet);
            Ok((r?, setup))
        }
        "bare" => {
            let dir = systems::temp_dir("bare")?;
            let (proc_, port) = systems::start_bare(Some(core), &dir)?;
            std::thread::sleep(Duration::from_millis(200));
            let pid = proc_.pid();
            let rss_idle = net::process_rss_bytes(pid).ok();
            let r = crate::run_bare(scenario, load, port, Measured { pid, core: Some(core) }, rss_idle);
            drop(proc_);
            Ok((r?, json!({"command": format!("taskset -c {core} meet-bench bare-forwarder --port {port}")})))
        }
        "janus" => {
            let bin = janus::available().map_err(anyhow::Error::msg)?;
            janus::run(&bin, scenario, load, core)
        }
        other => Err(anyhow::anyhow!("unknown system {other}")),
    }
}
