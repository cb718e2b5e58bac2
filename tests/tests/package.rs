//! Issue 16: the Debian package. `packaging/build-deb.sh` builds it from the release binaries; it is
//! installed with `dpkg -i` on this machine, its files, user, config and enabled units are checked, the
//! installed daemons are started the way their units start them (as `meet`, in /var/lib/meet, with the
//! installed /etc/meet/meet.toml and sd_notify readiness) and must serve `/new` over the self-signed
//! HTTPS of the installed config; then the package is purged and nothing of it may be left.
//!
//! systemd is not PID 1 on the machines that run this suite (`systemctl` works offline only: it reads
//! unit files and enablement, it cannot start units), hence starting the binaries directly. Only the
//! listening port, the media port and the number of cores are overridden, with `MEET_*` variables as
//! /etc/meet/meet.env would.
//!
//! Needs root (dpkg); skipped with a message otherwise. Refuses to run when a `meet` package or user
//! already exists, since it could not leave the machine as it found it.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const BINARIES: [&str; 3] = ["meet-control", "meet-relay", "meetctl"];
const UNITS: [&str; 2] = ["meet-relay.service", "meet-control.service"];

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    run(program, args).status.success()
}

fn stdout(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn is_root() -> bool {
    stdout("id", &["-u"]) == "0"
}

fn installed() -> bool {
    let out = run("dpkg-query", &["-W", "-f=${Status}", "meet"]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok installed")
}

/// Paths the package or its scripts make, or systemd enablement makes for it.
fn traces() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let fixed = ["/etc/meet", "/var/lib/meet", "/usr/share/doc/meet"]
        .into_iter()
        .map(PathBuf::from)
        .chain(BINARIES.iter().map(|b| Path::new("/usr/bin").join(b)))
        .chain(UNITS.iter().map(|u| Path::new("/lib/systemd/system").join(u)));
    found.extend(fixed.filter(|p| p.symlink_metadata().is_ok()));
    // Enablement symlinks, masks and deb-systemd-helper's state, wherever they are.
    let out = run(
        "find",
        &[
            "/etc/systemd/system",
            "/var/lib/systemd/deb-systemd-helper-enabled",
            "/var/lib/systemd/deb-systemd-helper-masked",
            "-name",
            "meet-*",
        ],
    );
    found.extend(String::from_utf8_lossy(&out.stdout).lines().map(PathBuf::from));
    found
}

/// Purges the package whatever happens to the test (a failed check must not leave it installed).
struct Installed {
    created_run_dir: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("dpkg", &["--purge", "meet"]);
        if self.created_run_dir {
            let _ = std::fs::remove_dir_all("/run/meet");
        }
    }
}

fn mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}")).permissions().mode() & 0o7777
}

fn id_of(database: &str, name: &str) -> u32 {
    stdout("getent", &[database, name]).split(':').nth(2).unwrap().parse().unwrap()
}

/// An installed daemon started as its unit starts it: `User=meet`, `Group=meet`,
/// `WorkingDirectory=/var/lib/meet`, `--config /etc/meet/meet.toml`, `Type=notify`.
fn start_as_unit(binary: &str, env: &[(&str, String)], dir: &Scratch) -> Daemon {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=meet", "--regid=meet", "--init-groups", "--"])
        .arg(format!("/usr/bin/{binary}"))
        .args(["--config", "/etc/meet/meet.toml"])
        .current_dir("/var/lib/meet")
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        command.env(k, v);
    }
    Daemon::start_command(command, dir, binary)
}

#[test]
fn the_deb_installs_runs_and_purges_clean() {
    if !is_root() {
        eprintln!("SKIPPED: the package test installs a .deb with dpkg, which needs root");
        return;
    }
    for (t, package) in [("dpkg-deb", "dpkg"), ("setpriv", "util-linux"), ("curl", "curl"), ("systemctl", "systemd")] {
        tool(t, package);
    }
    assert!(!installed(), "a meet package is installed already; this test would remove it");
    assert!(!succeeds("getent", &["passwd", "meet"]), "a meet user exists already; this test could not restore it");
    let before = traces();
    assert!(before.is_empty(), "files of a meet install are present already: {before:?}");

    // Build, from the binaries of this build.
    let dir = Scratch::new("deb");
    let bin_dir = binary("meet-control", "MEET_CONTROL_BIN").parent().unwrap().to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/build-deb.sh");
    let out = Command::new(&script)
        .args(["--bin-dir", bin_dir.to_str().unwrap(), "--out", dir.0.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "build-deb.sh: {}", String::from_utf8_lossy(&out.stderr));
    let deb = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).is_file(), "{deb}");
    let fields = stdout("dpkg-deb", &["--field", &deb, "Package", "Depends"]);
    assert!(fields.contains("Package: meet"), "{fields}");

    // Install.
    let mut guard = Installed { created_run_dir: false };
    let out = run("dpkg", &["-i", &deb]);
    assert!(
        out.status.success(),
        "dpkg -i: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(installed());

    // Files.
    for b in BINARIES {
        assert_eq!(mode(&format!("/usr/bin/{b}")), 0o755, "{b}");
    }
    let version = stdout("/usr/bin/meetctl", &["--version"]);
    assert!(version.contains("meetctl"), "{version}");
    for unit in UNITS {
        let text = std::fs::read_to_string(Path::new("/lib/systemd/system").join(unit)).unwrap();
        let bin = unit.trim_end_matches(".service");
        assert!(text.contains(&format!("ExecStart=/usr/bin/{bin} --config /etc/meet/meet.toml")), "{unit}:\n{text}");
        assert!(text.contains("User=meet"), "{unit}");
    }
    let analyze = run(
        "systemd-analyze",
        &["verify", "/lib/systemd/system/meet-relay.service", "/lib/systemd/system/meet-control.service"],
    );
    assert!(analyze.status.success(), "systemd-analyze verify: {}", String::from_utf8_lossy(&analyze.stderr));
    assert!(std::fs::read_to_string("/usr/share/doc/meet/meet.example.toml").unwrap().contains("[relay]"));
    let conffiles = stdout("dpkg-query", &["-W", "-f=${Conffiles}", "meet"]);
    assert!(conffiles.contains("/etc/meet/meet.toml"), "a conffile: {conffiles}");

    // The user, and who owns what.
    let passwd = stdout("getent", &["passwd", "meet"]);
    let uid = id_of("passwd", "meet");
    let gid = id_of("group", "meet");
    assert!(uid < 1000, "a system user: {passwd}");
    assert!(passwd.ends_with(":/var/lib/meet:/usr/sbin/nologin"), "no shell, home /var/lib/meet: {passwd}");
    let config = std::fs::metadata("/etc/meet/meet.toml").unwrap();
    assert_eq!((config.uid(), config.gid(), mode("/etc/meet/meet.toml")), (0, gid, 0o640), "root:meet 0640");
    let state = std::fs::metadata("/var/lib/meet").unwrap();
    assert_eq!((state.uid(), state.gid(), mode("/var/lib/meet")), (uid, gid, 0o750), "meet:meet 0750");

    // Enabled (systemctl reads enablement without a running systemd).
    for unit in UNITS {
        assert_eq!(stdout("systemctl", &["is-enabled", unit]), "enabled", "{unit}");
    }
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    let systemd_runs = Path::new("/run/systemd/system").is_dir();
    eprintln!("PID 1 is {:?}; systemd running: {systemd_runs}", pid1.trim());

    // Run, as the units would. RuntimeDirectory=meet: /run/meet, meet's, 0750.
    if !Path::new("/run/meet").exists() {
        std::fs::create_dir("/run/meet").unwrap();
        guard.created_run_dir = true;
    }
    assert!(succeeds("chown", &["meet:meet", "/run/meet"]));
    std::fs::set_permissions("/run/meet", std::fs::Permissions::from_mode(0o750)).unwrap();
    let port = free_tcp_port();
    let media = free_udp_port();
    let env = [
        ("MEET_LISTEN", format!("127.0.0.1:{port}")),
        ("MEET_MEDIA_PORT", media.to_string()),
        ("MEET_CORES", "1".to_string()),
    ];
    let mut relay = start_as_unit("meet-relay", &env, &dir);
    relay.expect("READY=1");
    let mut control = start_as_unit("meet-control", &env, &dir);
    control.expect("READY=1");
    for (pid, name) in [(relay.child.id(), "meet-relay"), (control.child.id(), "meet-control")] {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
        assert!(uids.split_whitespace().skip(1).all(|u| u == uid.to_string()), "{name} runs as meet: {uids}");
    }
    // The installed config serves HTTPS with a self-signed certificate made in /var/lib/meet.
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let out = curl(&["--insecure", "--fail", &url("/new")]);
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no /new: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            control.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(page.to_ascii_lowercase().contains("<html"), "/new is a page: {page}");
    let ready = curl(&["--insecure", "--fail", &url("/readyz")]);
    assert!(
        ready.status.success(),
        "ready: control reaches the relay at /run/meet/relay.sock; log:\n{}",
        control.log()
    );
    let database = std::fs::metadata("/var/lib/meet/meet.sqlite").expect("the state lives in /var/lib/meet");
    assert_eq!(database.uid(), uid);
    control.terminate();
    assert!(control.wait_exit(Duration::from_secs(30)).success(), "log:\n{}", control.log());
    relay.terminate();
    assert!(relay.wait_exit(Duration::from_secs(20)).success(), "log:\n{}", relay.log());

    // Purge: nothing may be left.
    let out = run("dpkg", &["--purge", "meet"]);
    assert!(out.status.success(), "dpkg --purge: {}", String::from_utf8_lossy(&out.stderr));
    let made_run_dir = guard.created_run_dir;
    drop(guard);
    assert!(!installed());
    let left = traces();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!succeeds("getent", &["passwd", "meet"]), "the meet user is removed");
    assert!(!succeeds("getent", &["group", "meet"]), "the meet group is removed");
    // systemd removes RuntimeDirectory= when the relay stops; here the test made it, and removes it.
    assert!(!made_run_dir || !Path::new("/run/meet").exists());
}
