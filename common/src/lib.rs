//! What meet's two daemons, `meet-relay` and `meet-control`, share and neither owns.
//!
//! Layout:
//! - [`config`]: the `[relay]` and `[log]` sections of meet's TOML file, announced addresses (`auto`), the
//!   IO backend's name.
//! - [`logging`]: `tracing` output, human or JSON.
//! - [`sd_notify`]: systemd readiness (`READY=1`, `STOPPING=1`).
//! - [`testing`]: for tests that start a relay (a port free for both its UDP and TCP sockets), and a
//!   throwaway PostgreSQL server ([`testing::postgres`]).

pub mod config;
pub mod logging;
pub mod sd_notify;
pub mod testing;
