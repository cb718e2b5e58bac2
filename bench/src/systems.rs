//! Starting and stopping the systems under test as child processes: meet-relay + meet-control, the
//! bare forwarder, Janus. The system's media process is pinned with `taskset` to its own core.

use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("{} exited: {status}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn temp_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("meet-bench-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A sibling binary of this one (same target directory), or one on PATH.
pub fn binary(name: &str) -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        // Tests run from target/<profile>/deps.
        for dir in [exe.parent(), exe.parent().and_then(Path::parent)].into_iter().flatten() {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from(name)
}

/// Pins a command to `core` with taskset when asked (and when there is more than one CPU).
pub fn pinned(core: Option<usize>, program: &Path) -> Command {
    match core {
        Some(c) if crate::net::cpu_count() > 1 && Path::new("/usr/bin/taskset").exists() => {
            let mut cmd = Command::new("/usr/bin/taskset");
            cmd.arg("-c").arg(c.to_string()).arg(program);
            cmd
        }
        _ => Command::new(program),
    }
}

pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> anyhow::Result<Proc> {
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let child = cmd.spawn().with_context(|| format!("cannot start {name}"))?;
    Ok(Proc { name: name.to_string(), child })
}

pub fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > timeout {
            anyhow::bail!("{what} not ready after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}

pub struct MeetSystem {
    pub relay: Proc,
    /// Kept so that it is stopped with the system.
    pub _control: Proc,
    pub ws_url: String,
    pub relay_flags: Vec<String>,
    pub media_port: u16,
}

/// Whether `meet-relay --help` lists a flag (the IO layer's flags arrive over time).
fn relay_supports(relay: &Path, flag: &str) -> bool {
    Command::new(relay)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
        .unwrap_or(false)
}

pub fn start_meet(
    core: Option<usize>,
    control_core: Option<usize>,
    dir: &Path,
    io_backend: Option<&str>,
) -> anyhow::Result<MeetSystem> {
    let relay_bin = binary("meet-relay");
    let control_bin = binary("meet-control");
    let socket = dir.join("relay.sock");
    let media_port = free_udp_port()?;
    let mut flags = vec![
        "--control-socket".to_string(),
        socket.display().to_string(),
        "--media-port".into(),
        media_port.to_string(),
        "--announced-ip".into(),
        "127.0.0.1".into(),
    ];
    if relay_supports(&relay_bin, "--media-bind-ip") {
        flags.extend(["--media-bind-ip".into(), "127.0.0.1".into()]);
    }
    if relay_supports(&relay_bin, "--cores") {
        flags.extend(["--cores".into(), "1".into()]);
    }
    if let Some(b) = io_backend {
        if relay_supports(&relay_bin, "--io-backend") {
            flags.extend(["--io-backend".into(), b.to_string()]);
        }
    }
    let mut cmd = pinned(core, &relay_bin);
    cmd.args(&flags).env("RUST_LOG", "warn");
    let mut relay = spawn("meet-relay", cmd, dir)?;
    wait_for("meet-relay control socket", Duration::from_secs(10), || socket.exists())?;
    relay.check_alive()?;
    let http_port = free_tcp_port()?;
    let mut cmd = pinned(control_core, &control_bin);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--relay-socket")
        .arg(&socket)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn");
    let mut control = spawn("meet-control", cmd, dir)?;
    wait_for("meet-control HTTP", Duration::from_secs(10), || TcpStream::connect(("127.0.0.1", http_port)).is_ok())?;
    control.check_alive()?;
    Ok(MeetSystem {
        relay,
        _control: control,
        ws_url: format!("ws://127.0.0.1:{http_port}/ws"),
        relay_flags: flags,
        media_port,
    })
}

pub fn start_bare(core: Option<usize>, dir: &Path) -> anyhow::Result<(Proc, u16)> {
    let port = free_udp_port()?;
    let me = std::env::current_exe()?;
    let mut cmd = pinned(core, &me);
    cmd.arg("bare-forwarder").arg("--port").arg(port.to_string());
    let mut p = spawn("bare-forwarder", cmd, dir)?;
    std::thread::sleep(Duration::from_millis(200));
    p.check_alive()?;
    Ok((p, port))
}
