//! Issue 18, items 9 and 11 on the real binary: the data directory and the database are the owner's
//! only, and the embedded relay binds `[relay] bind_ip`.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::process::Process;

#[test]
fn data_dir_is_0700_and_the_database_0600() {
    let server = Process::start("");
    let data = server.dir.0.join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "{}", server.log());
    assert_eq!(mode(&data.join("meet.sqlite")), 0o600);
    for extra in ["meet.sqlite-wal", "meet.sqlite-shm"] {
        if data.join(extra).exists() {
            assert_eq!(mode(&data.join(extra)) & 0o077, 0, "{extra}");
        }
    }
}

#[test]
fn the_embedded_relay_binds_the_configured_address() {
    // Port taken by the test on the wildcard? No: the relay must bind only 127.0.0.1, so binding the same
    // port on another loopback address succeeds afterwards.
    let server = Process::start("[relay]\nbind_ip = \"127.0.0.1\"\n");
    let media_port = {
        let log = server.log();
        let ss = std::process::Command::new("ss").args(["-unlp"]).output().unwrap();
        let pid = server.child.id().to_string();
        let text = String::from_utf8_lossy(&ss.stdout).to_string();
        let line = text.lines().find(|l| l.contains(&format!("pid={pid},"))).unwrap_or_else(|| panic!("{text}\n{log}"));
        line.split_whitespace().nth(3).unwrap().to_string()
    };
    assert!(media_port.starts_with("127.0.0.1:"), "the relay bound {media_port}");
}
