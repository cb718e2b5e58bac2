//! The real `meet-control` binary in its own process, for what only a process shows (its memory, its
//! files, its sockets).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{admin_hash, TempDir, CONFIG_TOKEN};

pub struct Process {
    pub child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Process {
    /// Starts the binary with `[auth]` (admin and [`CONFIG_TOKEN`]) and `extra_config` appended, and
    /// waits until it listens.
    pub fn start(extra_config: &str) -> Process {
        Self::start_with(extra_config, &[])
    }

    pub fn start_with(extra_config: &str, env: &[(&str, &str)]) -> Process {
        let mut process = Self::spawn(extra_config, env);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", process.port)).is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("meet-control exited during start-up ({status}): {}", process.log());
            }
            assert!(Instant::now() < deadline, "meet-control did not listen within 20 s: {}", process.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }

    /// Starts the binary like [`Self::start_with`] and expects it to stop during start-up; returns its
    /// exit status and log.
    pub fn start_failing(extra_config: &str) -> (std::process::ExitStatus, String) {
        let mut process = Self::spawn(extra_config, &[]);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                return (status, process.log());
            }
            assert!(Instant::now() < deadline, "meet-control did not stop within 20 s: {}", process.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn(extra_config: &str, env: &[(&str, &str)]) -> Process {
        let dir = TempDir::new();
        let config = dir.0.join("meet.toml");
        std::fs::write(
            &config,
            format!(
                "[auth]\napi_tokens = [\"{CONFIG_TOKEN}\"]\n[[auth.users]]\nname = \"admin\"\npassword_hash = \"{}\"\n{extra_config}",
                admin_hash()
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let media = meet_common::testing::free_media_port();
        let log = std::fs::File::create(dir.0.join("server.log")).unwrap();
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_meet-control"));
        let mut command = Command::new(&bin);
        command
            .args(["--listen", &format!("127.0.0.1:{port}"), "--media-port", &media.to_string(), "--cores", "1"])
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.0.join("data"))
            .env_clear()
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Process { child, port, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }

    /// A line of `/proc/<pid>/status` in kB, e.g. `VmRSS` or `VmHWM` (the peak).
    pub fn memory_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client whose connections come from `source` (any 127.0.0.0/8 address works on Linux).
pub fn client_from(source: std::net::IpAddr) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().local_address(source).build().unwrap()
}
