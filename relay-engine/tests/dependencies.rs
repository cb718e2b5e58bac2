//! The engine's crate boundary holds the sans-IO rule: no async runtime, no sockets, no OS randomness.
//! `cargo tree` resolves the engine's normal dependencies as a build of it alone would (dev-dependencies,
//! such as the seeded `rand` of the scenario tests, are not followed); a crate named here coming back fails
//! this test.

use std::collections::BTreeSet;
use std::process::Command;

/// Not anywhere below the engine: the IO crate (`meet-relay`) owns the runtime and the sockets.
const NEVER: &[&str] = &["tokio", "mio", "io-uring", "socket2", "meet-relay", "meet-common"];
/// Not a direct dependency: the engine makes no system calls and draws no OS randomness of its own; it
/// takes an `RngCore` from its caller. (The DTLS and certificate crates below it keep their own key
/// randomness, which reaches libc through getrandom.)
const NOT_DIRECT: &[&str] = &["libc", "getrandom", "rand"];

/// Names of the engine's normal dependencies, `depth` levels down (all of them when `None`).
fn dependencies(depth: Option<u32>) -> BTreeSet<String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cargo.args(["tree", "--offline", "--manifest-path", manifest, "-p", "meet-relay-engine"]);
    cargo.args(["--edges", "normal", "--prefix", "none", "--format", "{p}"]);
    if let Some(depth) = depth {
        cargo.args(["--depth", &depth.to_string()]);
    }
    let out = cargo.output().expect("cargo runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let names: BTreeSet<String> =
        text.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect();
    assert!(names.contains("meet-relay-engine") && names.contains("meet-media"), "unexpected output: {text}");
    names
}

#[test]
fn no_runtime_or_sockets_below_the_engine() {
    let all = dependencies(None);
    let found: Vec<&&str> = NEVER.iter().filter(|name| all.contains(**name)).collect();
    assert!(found.is_empty(), "the engine depends on {found:?}; it must stay sans-IO (see relay-engine/src/lib.rs)");
}

#[test]
fn no_system_calls_or_os_randomness_of_its_own() {
    let direct = dependencies(Some(1));
    let found: Vec<&&str> = NOT_DIRECT.iter().filter(|name| direct.contains(**name)).collect();
    assert!(found.is_empty(), "the engine depends directly on {found:?}");
}
