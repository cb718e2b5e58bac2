//! What CPU a system under test is charged for, beyond its own process.
//!
//! On loopback, the kernel delivers a datagram to the receiving socket either inside the sender's
//! `sendmsg` (charged to the sender's process) or later in `ksoftirqd` (charged to no process of ours);
//! which one depends on how busy the core is. A system's own process CPU therefore moves by up to 2x
//! between runs of the same load (issue 11: the bare forwarder took 0.9 to 1.9 s for the same 900k
//! packets). Two figures charge a system the kernel work its traffic causes:
//!
//! - **charged**: whole-machine busy time over the window (`/proc/stat`, all CPUs: their elapsed time
//!   less idle, iowait and steal, see [`MachineWindow::busy`]), minus the
//!   generator's own CPU (this process) over the same window, minus an idle baseline (the machine's busy
//!   rate with none of our processes running, times the window). Everything the system and the kernel
//!   did for it counts, wherever it ran; so does whatever else changed on the machine, which is why the
//!   baseline is taken before and after each run and both are reported.
//! - **attributed**: the system's process CPU plus the CPU of the kernel's threads (`ksoftirqd`,
//!   kworkers) over the window, both from the scheduler's nanosecond counters. Not disturbed by other
//!   processes' load (what the kernel threads do for them aside: about 0.005 CPU-s/s here), but blind to
//!   kernel work for our traffic that runs inside other processes' system calls.
//!
//! Steal time is left out of both: with paravirtual time accounting the process figures exclude it too,
//! and it is time the hypervisor gave to another guest, not work done here.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::net;

/// One `cpu` line of `/proc/stat`, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
}

impl CpuTimes {
    /// The aggregate line (`cpu == None`) or one core's line of a `/proc/stat` text, whose values are
    /// in clock ticks of `ticks_per_second`.
    pub fn parse(stat: &str, cpu: Option<usize>, ticks_per_second: f64) -> Option<Self> {
        let name = match cpu {
            Some(c) => format!("cpu{c}"),
            None => "cpu".to_string(),
        };
        let line = stat.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
        let f: Vec<f64> = line.split_whitespace().skip(1).map(|v| v.parse::<f64>().ok()).collect::<Option<_>>()?;
        // Kernels before 2.6.11 had no steal field; every kernel we run on has it.
        let at = |i: usize| f.get(i).copied().map(|v| v / ticks_per_second);
        Some(CpuTimes {
            user: at(0)?,
            nice: at(1)?,
            system: at(2)?,
            idle: at(3)?,
            iowait: at(4)?,
            irq: at(5)?,
            softirq: at(6)?,
            steal: at(7).unwrap_or(0.0),
        })
    }

    pub fn read(cpu: Option<usize>) -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(&stat, cpu, net::ticks_per_second())
    }

    /// Seconds spent running anything: user, nice, system, irq and softirq (guest time is inside user).
    pub fn busy(&self) -> f64 {
        self.user + self.nice + self.system + self.irq + self.softirq
    }

    /// The time between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            nice: self.nice - earlier.nice,
            system: self.system - earlier.system,
            idle: self.idle - earlier.idle,
            iowait: self.iowait - earlier.iowait,
            irq: self.irq - earlier.irq,
            softirq: self.softirq - earlier.softirq,
            steal: self.steal - earlier.steal,
        }
    }
}

/// Seconds core `cpu` spent in softirq so far.
pub fn core_softirq_seconds(cpu: usize) -> Option<f64> {
    CpuTimes::read(Some(cpu)).map(|t| t.softirq)
}

/// Seconds core `cpu` was busy so far, whoever ran there (steal included, as this figure always was).
pub fn core_busy_seconds(cpu: usize) -> Option<f64> {
    CpuTimes::read(Some(cpu)).map(|t| t.busy() + t.steal)
}

/// The whole machine at one moment: its `cpu` line, how many CPUs that covers, and when it was read.
#[derive(Debug, Clone, Copy)]
pub struct MachineReading {
    pub times: CpuTimes,
    pub cpus: usize,
    pub at: Instant,
}

impl MachineReading {
    pub fn parse(stat: &str, ticks_per_second: f64, at: Instant) -> Option<Self> {
        let cpus = stat
            .lines()
            .filter(|l| l.strip_prefix("cpu").is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())))
            .count();
        Some(MachineReading { times: CpuTimes::parse(stat, None, ticks_per_second)?, cpus, at })
    }

    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(&stat, net::ticks_per_second(), Instant::now())
    }

    pub fn since(&self, earlier: &MachineReading) -> MachineWindow {
        MachineWindow {
            times: self.times.since(&earlier.times),
            cpus: self.cpus,
            seconds: self.at.duration_since(earlier.at).as_secs_f64(),
        }
    }
}

/// The whole machine over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineWindow {
    pub times: CpuTimes,
    pub cpus: usize,
    pub seconds: f64,
}

impl MachineWindow {
    /// Busy CPU-seconds: all CPUs' time over the window less their idle, iowait and steal. With a
    /// tickless idle (NO_HZ) the kernel measures idle and iowait exactly, while user, system and the rest
    /// are 250 Hz tick samples, which miss bursts shorter than a tick: in a webinar at the nominal rate
    /// (relay, generator) the samples fell 8% short of the scheduler's own counts, so the busy fields
    /// ([`MachineWindow::busy_sampled`]) would charge too little.
    pub fn busy(&self) -> f64 {
        self.cpus as f64 * self.seconds - self.times.idle - self.times.iowait - self.times.steal
    }

    /// The tick-sampled busy fields, kept to compare.
    pub fn busy_sampled(&self) -> f64 {
        self.times.busy()
    }
}

/// The machine's own load with none of our processes running: CPU-seconds per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub seconds: f64,
    /// Whole-machine busy CPU-seconds per second, this process's own CPU taken out.
    pub busy_rate: f64,
}

impl Baseline {
    /// From the machine over a window and this process's CPU over the same window.
    pub fn from_window(machine: &MachineWindow, own_cpu: f64) -> Self {
        Baseline { seconds: machine.seconds, busy_rate: (machine.busy() - own_cpu).max(0.0) / machine.seconds }
    }

    /// Watches the machine for `seconds`; call it with nothing of ours running.
    pub fn measure(seconds: f64) -> Option<Self> {
        if seconds <= 0.0 {
            return None;
        }
        let (m0, o0) = (MachineReading::read()?, net::self_cpu_seconds());
        std::thread::sleep(Duration::from_secs_f64(seconds));
        let (m1, o1) = (MachineReading::read()?, net::self_cpu_seconds());
        Some(Self::from_window(&m1.since(&m0), o1 - o0))
    }

    /// The two baselines around a run, as one: their mean rate, over both windows.
    pub fn around(before: &Baseline, after: &Baseline) -> Baseline {
        Baseline { seconds: before.seconds + after.seconds, busy_rate: (before.busy_rate + after.busy_rate) / 2.0 }
    }

    pub fn to_json(self) -> Value {
        json!({"seconds": self.seconds, "machine_busy_cpu_per_second": self.busy_rate})
    }
}

/// CPU-seconds charged to a system over a window of `wall` seconds: what the whole machine was busy,
/// less the generator's own CPU, less what the machine does anyway at the baseline's rate.
pub fn charged_cpu_seconds(machine_busy: f64, generator_cpu: f64, baseline: &Baseline, wall: f64) -> f64 {
    machine_busy - generator_cpu - baseline.busy_rate * wall
}

/// Packets per CPU-second, or nothing when the CPU time is not a positive figure (a baseline that
/// changed under the run can leave less than nothing).
pub fn per_cpu_second(packets: f64, cpu: f64) -> Option<f64> {
    (cpu.is_finite() && cpu > 0.0).then(|| packets / cpu)
}

/// Adds the charged figures to one step's JSON (written by `runner`), from its machine and generator
/// readings and `baseline`.
pub fn charge_step(step: &mut Value, baseline: &Baseline) {
    let num = |k: &str| step[k].as_f64().unwrap_or(f64::NAN);
    let (busy, generator, wall, packets) =
        (num("machine_busy_seconds"), num("generator_cpu_seconds"), num("seconds"), num("forwarded_packets"));
    let process = num("cpu_seconds");
    let charged = charged_cpu_seconds(busy, generator, baseline, wall);
    let Some(o) = step.as_object_mut() else { return };
    o.insert("charged_cpu_seconds".into(), json!(charged.is_finite().then_some(charged)));
    o.insert("packets_per_charged_cpu_second".into(), json!(per_cpu_second(packets, charged)));
    // Below the process's own CPU the baseline cannot have been right: the machine's other load changed
    // during the run. The figure is kept, and flagged.
    o.insert("charged_below_process_cpu".into(), json!(charged.is_finite() && charged < process));
}

/// The kernel's own threads (children of kthreadd, pid 2): `ksoftirqd`, where loopback delivery goes
/// when it leaves the sender's system call, and the kworkers.
pub fn kernel_threads() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid == 2 || net::process_parent(*pid).is_ok_and(|p| p == 2))
        .collect()
}

/// Their CPU seconds so far (threads that exit take theirs with them; these rarely do).
pub fn threads_cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|p| net::process_cpu_seconds_precise(*p).ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two readings 10 s apart on a 2-CPU machine (100 ticks/s): 1000 busy ticks (user 600, system
    // 250, softirq 120, irq 10, nice 20) and 50 steal ticks.
    const BEFORE: &str = "cpu  1000 50 400 9000 30 5 100 7 0 0\n\
                          cpu0 500 25 200 4500 15 2 50 3 0 0\n\
                          cpu1 500 25 200 4500 15 3 50 4 0 0\nintr 1 2 3\n";
    const AFTER: &str = "cpu  1600 70 650 9950 40 15 220 57 0 0\n\
                         cpu0 900 35 400 4700 20 12 150 30 0 0\n\
                         cpu1 700 35 250 5250 20 3 70 27 0 0\nintr 1 2 3\n";

    fn window(cpu: Option<usize>) -> CpuTimes {
        let a = CpuTimes::parse(BEFORE, cpu, 100.0).unwrap();
        CpuTimes::parse(AFTER, cpu, 100.0).unwrap().since(&a)
    }

    #[test]
    fn busy_time_counts_every_cpu_and_leaves_out_idle_iowait_and_steal() {
        let w = window(None);
        assert!((w.busy() - 10.0).abs() < 1e-9, "{w:?}");
        assert!((w.steal - 0.5).abs() < 1e-9);
        assert!((w.idle - 9.5).abs() < 1e-9);
        // "cpu" is not mistaken for "cpu0", nor "cpu1" for "cpu10".
        assert!((window(Some(0)).busy() - 7.2).abs() < 1e-9);
        assert!((window(Some(1)).busy() - 2.8).abs() < 1e-9);
        assert!(CpuTimes::parse(BEFORE, Some(10), 100.0).is_none());
        assert!(CpuTimes::parse("cpu 1 2 x 4 5 6 7 8\n", None, 100.0).is_none());
    }

    #[test]
    fn machine_busy_time_is_elapsed_less_idle_iowait_and_steal() {
        let at = Instant::now();
        let a = MachineReading::parse(BEFORE, 100.0, at).unwrap();
        // 10.3 s passed: the tick samples' 10.0 busy seconds missed 0.5 (9.5 idle, 0.1 iowait, 0.5 steal
        // of 2 x 10.3).
        let b = MachineReading::parse(AFTER, 100.0, at + Duration::from_millis(10_300)).unwrap();
        assert_eq!(a.cpus, 2);
        let w = b.since(&a);
        assert!((w.seconds - 10.3).abs() < 1e-9);
        assert!((w.busy() - 10.5).abs() < 1e-9, "{}", w.busy());
        assert!((w.busy_sampled() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn charged_cpu_is_machine_busy_less_generator_less_baseline() {
        // 10 s of machine busy time; the generator used 3 s; the idle machine runs at 0.2 CPU-s/s.
        let baseline = Baseline { seconds: 2.0, busy_rate: 0.2 };
        let charged = charged_cpu_seconds(window(None).busy(), 3.0, &baseline, 10.0);
        assert!((charged - 5.0).abs() < 1e-9, "{charged}");
        assert_eq!(per_cpu_second(1_000_000.0, charged), Some(200_000.0));
        assert_eq!(per_cpu_second(1_000_000.0, -0.5), None);
        assert_eq!(per_cpu_second(1_000_000.0, f64::NAN), None);
    }

    #[test]
    fn baseline_leaves_out_our_own_cpu_and_averages_before_and_after() {
        // 2 s of 2 CPUs in which the machine was busy 1.0 CPU-s, 0.2 of them ours.
        let m = MachineWindow { times: CpuTimes { idle: 3.0, ..CpuTimes::default() }, cpus: 2, seconds: 2.0 };
        let before = Baseline::from_window(&m, 0.2);
        assert!((before.busy_rate - 0.4).abs() < 1e-9);
        let after = Baseline { seconds: 2.0, busy_rate: 0.2 };
        let both = Baseline::around(&before, &after);
        assert!((both.busy_rate - 0.3).abs() < 1e-9);
        assert_eq!(both.seconds, 4.0);
    }

    #[test]
    fn a_step_gets_its_charged_figures() {
        let mut step = json!({"seconds": 10.0, "forwarded_packets": 1_000_000u64, "cpu_seconds": 4.0,
                              "machine_busy_seconds": 10.0, "generator_cpu_seconds": 3.0});
        charge_step(&mut step, &Baseline { seconds: 2.0, busy_rate: 0.2 });
        assert_eq!(step["charged_cpu_seconds"].as_f64(), Some(5.0));
        assert_eq!(step["packets_per_charged_cpu_second"].as_f64(), Some(200_000.0));
        assert_eq!(step["charged_below_process_cpu"], false);
        charge_step(&mut step, &Baseline { seconds: 2.0, busy_rate: 0.9 });
        assert_eq!(step["charged_below_process_cpu"], true);
        assert!(step["packets_per_charged_cpu_second"].is_null());
    }
}
