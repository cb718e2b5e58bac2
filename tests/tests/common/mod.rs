//! What the tests of real binaries share: finding the binaries and tools, a scratch directory, a
//! daemon with its own sd_notify socket, free ports, a plain HTTP client, and curl.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn binary(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    // The target directory this test was built in (target/<profile>/deps/operations-*), which is right
    // even when worktrees share one target directory.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).expect("target/<profile>/deps/<test>").to_path_buf();
    let newest = ["debug", "release"]
        .iter()
        .map(|profile| target.join(profile).join(name))
        .filter_map(|p| std::fs::metadata(&p).and_then(|m| m.modified()).ok().map(|t| (t, p)))
        .max();
    match newest {
        Some((_, p)) => p,
        None => panic!("no {name} under {}/{{debug,release}}: run `cargo build --bins` first", target.display()),
    }
}

pub fn tool(name: &str, package: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().map(|o| o.status.success());
    assert!(matches!(found, Ok(true)), "`{name}` is needed for this test: apt-get install {package}");
}

pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("meet-ops-{name}-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A daemon with its own notify socket; killed on drop.
pub struct Daemon {
    pub child: Child,
    notify: UnixDatagram,
    log: PathBuf,
}

impl Daemon {
    pub fn start(bin: &Path, args: &[&str], dir: &Scratch, name: &str) -> Daemon {
        let mut command = Command::new(bin);
        command.args(args).env_clear();
        Daemon::start_command(command, dir, name)
    }

    /// Starts `command` as it is (its user, environment and directory), with `NOTIFY_SOCKET` and
    /// `RUST_LOG` added and its output in `<name>.log`.
    pub fn start_command(mut command: Command, dir: &Scratch, name: &str) -> Daemon {
        use std::os::unix::fs::PermissionsExt;
        let socket = dir.path(&format!("{name}.notify"));
        let notify = UnixDatagram::bind(&socket).unwrap();
        // A daemon that runs as another user (the package test's `meet`) reports here too.
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let log = dir.path(&format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .env("NOTIFY_SOCKET", &socket)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        Daemon { child, notify, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The next sd_notify datagram (within 60 s: a loaded machine starting a daemon that makes its
    /// certificate first).
    pub fn next_notification(&mut self) -> String {
        self.notify.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut buf = [0u8; 512];
        match self.notify.recv(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => panic!(
                "no sd_notify message within 60 s ({e}); exited: {:?}; log:\n{}",
                self.child.try_wait(),
                self.log()
            ),
        }
    }

    pub fn expect(&mut self, state: &str) {
        let got = self.next_notification();
        assert!(got.lines().any(|l| l == state), "expected {state}, got {got:?}; log:\n{}", self.log());
    }

    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "did not exit within {within:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn free_udp_port() -> u16 {
    meet_common::testing::free_media_port()
}

/// A plain HTTP/1.1 GET: status and body.
pub fn get(port: u16, path: &str) -> (u16, String) {
    get_with(port, path, "")
}

/// GET with extra header lines (each ending in `\r\n`).
pub fn get_with(port: u16, path: &str, headers: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    (status, body)
}

pub fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

pub fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl").args(["--silent", "--show-error", "--max-time", "5"]).args(args).output().unwrap()
}
