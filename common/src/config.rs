//! The parts of meet's one TOML file (`docs/configuration.md`) that both daemons read: `[relay]` (used by
//! `meet-relay` and by the relay embedded in `meet-control`) and `[log]`. `meet-relay` ignores the other
//! sections, which `meet-control` validates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

pub use crate::logging::LogFormat;

/// `[relay]`. Every key is optional: flags and `MEET_*` variables override it, and built-in defaults
/// apply when neither names it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    /// Unix socket of the control channel: `meet-relay` listens on it, `meet-control` connects to it.
    /// Unset in `meet-control`: the relay runs inside it.
    pub socket: Option<PathBuf>,
    /// UDP port of media core 0; core N uses `media_port + N`.
    pub media_port: Option<u16>,
    /// Address announced to browsers in ICE candidates (the host's public or LAN address), or `auto`.
    pub announced_ip: Option<Announced>,
    /// Several announced addresses, one ICE candidate each: a host with an address on each of several
    /// networks, or IPv4 and IPv6. Instead of `announced_ip`.
    pub announced_ips: Option<Vec<Announced>>,
    /// ICE over TCP (RFC 6544) on the media ports, for browsers whose UDP is blocked. Default: on.
    pub ice_tcp: Option<bool>,
    /// ICE-TCP connections one core accepts at most (each holds a socket and its buffers). Default: 1024.
    pub max_tcp_connections: Option<usize>,
    /// Address the media sockets bind.
    pub bind_ip: Option<IpAddr>,
    /// Media cores (threads). Default: one per CPU.
    pub cores: Option<usize>,
    /// `auto`, `uring` or `mmsg`.
    pub io_backend: Option<String>,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `human` (default) or `json`.
    pub format: Option<LogFormat>,
    /// A `tracing` filter such as `info` or `info,meet_control=debug`; `RUST_LOG` overrides it.
    pub filter: Option<String>,
}

/// How the relay's media cores do their socket IO (`[relay] io_backend`, `--io-backend`); the backends
/// themselves are in `meet_relay::io`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoBackend {
    /// io_uring when the probe passes, else mmsg.
    #[default]
    Auto,
    Uring,
    Mmsg,
}

impl FromStr for IoBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(IoBackend::Auto),
            "uring" | "io_uring" => Ok(IoBackend::Uring),
            "mmsg" => Ok(IoBackend::Mmsg),
            other => Err(format!("unknown IO backend {other:?} (auto, uring or mmsg)")),
        }
    }
}

impl std::fmt::Display for IoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoBackend::Auto => "auto",
            IoBackend::Uring => "uring",
            IoBackend::Mmsg => "mmsg",
        })
    }
}

/// What `meet-relay` reads of the file.
#[derive(Debug, Default, Deserialize)]
pub struct RelayFile {
    #[serde(default)]
    pub relay: RelaySection,
    #[serde(default)]
    pub log: LogSection,
}

impl RelayFile {
    pub fn load(path: &Path) -> anyhow::Result<RelayFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<RelayFile, String> {
        let file: RelayFile = toml::from_str(text).map_err(|e| e.to_string())?;
        file.relay.validate()?;
        Ok(file)
    }
}

impl RelaySection {
    /// Checks values serde cannot: names the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(b) = &self.io_backend {
            b.parse::<IoBackend>().map_err(|e| format!("[relay] io_backend: {e}"))?;
        }
        if self.announced_ip.is_some() && self.announced_ips.is_some() {
            return Err("[relay] announced_ip and announced_ips: set one of them".into());
        }
        if let Some(list) = &self.announced_ips {
            check_announced_list(list).map_err(|e| format!("[relay] announced_ips: {e}"))?;
        }
        if let Some(one) = self.announced_ip {
            check_announced_list(&[one]).map_err(|e| format!("[relay] announced_ip: {e}"))?;
        }
        if self.max_tcp_connections == Some(0) {
            return Err(
                "[relay] max_tcp_connections: must be at least 1 (turn ICE-TCP off with ice_tcp = false)".into()
            );
        }
        if self.cores == Some(0) {
            return Err("[relay] cores: must be at least 1".into());
        }
        if let Some(s) = &self.socket {
            if !s.is_absolute() {
                return Err(format!("[relay] socket: {} must be an absolute path", s.display()));
            }
        }
        Ok(())
    }
}

/// Announced addresses must be ones a browser can send to: at least one, none unspecified or
/// multicast, no repeats.
pub fn check_announced(ips: &[IpAddr]) -> Result<(), String> {
    if ips.is_empty() {
        return Err("at least one address is needed".into());
    }
    for (i, ip) in ips.iter().enumerate() {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(format!("{ip} cannot be announced: browsers cannot send to it"));
        }
        if ips[..i].contains(ip) {
            return Err(format!("{ip} is listed twice"));
        }
    }
    Ok(())
}

/// One entry of `announced_ips` (and `--announced-ip`): an address, or `auto`, which stands for the
/// addresses this host reaches the internet from, one per address family it has a route for (so a
/// dual-stack host announces an IPv4 and an IPv6 candidate). `auto` reads the routing table once, at
/// start; a host whose public address is not on one of its interfaces (behind 1:1 NAT) names it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    Auto,
    Ip(IpAddr),
}

impl FromStr for Announced {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(Announced::Auto);
        }
        s.trim().parse().map(Announced::Ip).map_err(|_| format!("{s:?} is neither an IP address nor `auto`"))
    }
}

impl<'de> Deserialize<'de> for Announced {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The entries before `auto` is resolved: the same checks as [`check_announced`] on the addresses given.
fn check_announced_list(list: &[Announced]) -> Result<(), String> {
    if list.is_empty() {
        return Err("at least one address is needed".into());
    }
    if list.iter().filter(|a| **a == Announced::Auto).count() > 1 {
        return Err("`auto` is listed twice".into());
    }
    let ips: Vec<IpAddr> =
        list.iter().filter_map(|a| if let Announced::Ip(ip) = a { Some(*ip) } else { None }).collect();
    if ips.is_empty() {
        return Ok(());
    }
    check_announced(&ips)
}

/// The addresses to announce: `auto` replaced by [`host_addresses`] (an address also listed by hand is
/// kept once). An error when nothing is left or an address cannot be announced.
pub fn resolve_announced(list: &[Announced]) -> Result<Vec<IpAddr>, String> {
    check_announced_list(list)?;
    let mut ips = Vec::new();
    for entry in list {
        let found = match entry {
            Announced::Ip(ip) => vec![*ip],
            Announced::Auto => {
                let found = host_addresses();
                if found.is_empty() {
                    return Err("`auto` found no address with a route out of this host: name the address".into());
                }
                found
            }
        };
        for ip in found {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    check_announced(&ips)?;
    Ok(ips)
}

/// The source address the kernel picks for a route to a public IPv4 and to a public IPv6 destination:
/// the address this host is reached at, per family. Connecting a UDP socket sends nothing. A family with
/// no route, or whose address browsers cannot use (loopback, link-local), is left out.
pub fn host_addresses() -> Vec<IpAddr> {
    // Documentation addresses (RFC 5737, RFC 3849): routed like any public address, never contacted.
    let probes = [
        (SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 9))),
        (
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9)),
        ),
    ];
    let mut found = Vec::new();
    for (bind, probe) in probes {
        let Ok(socket) = UdpSocket::bind(bind) else { continue };
        if socket.connect(probe).is_err() {
            continue;
        }
        let Ok(local) = socket.local_addr() else { continue };
        let ip = local.ip();
        let link_local = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if !ip.is_unspecified() && !ip.is_loopback() && !link_local {
            found.push(ip);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_section_and_other_sections() {
        let f = RelayFile::parse(
            "[relay]\nmedia_port = 10000\nio_backend = \"mmsg\"\n[log]\nformat = \"json\"\n[auth]\nanything = 1\n",
        )
        .unwrap();
        assert_eq!(f.relay.media_port, Some(10000));
        assert_eq!(f.log.format, Some(LogFormat::Json));
        let typo = RelayFile::parse("[relay]\nmedia_prot = 1\n").unwrap_err();
        assert!(typo.contains("media_prot"), "{typo}");
        let bad = RelayFile::parse("[relay]\nio_backend = \"epoll\"\n").unwrap_err();
        assert!(bad.contains("[relay] io_backend"), "{bad}");
        let bad = RelayFile::parse("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(bad.contains("xml") || bad.contains("format"), "{bad}");
        assert!(RelayFile::parse("[relay]\nsocket = \"relay.sock\"\n").is_err());
    }

    #[test]
    fn announced_addresses() {
        let f =
            RelayFile::parse("[relay]\nannounced_ips = [\"198.18.0.1\", \"2001:db8::1\"]\nice_tcp = false\n").unwrap();
        assert_eq!(f.relay.announced_ips.as_ref().map(Vec::len), Some(2));
        assert_eq!(f.relay.ice_tcp, Some(false));
        for (text, want) in [
            ("announced_ips = []", "at least one"),
            ("announced_ips = [\"0.0.0.0\"]", "cannot be announced"),
            ("announced_ips = [\"::\"]", "cannot be announced"),
            ("announced_ips = [\"224.0.0.1\"]", "cannot be announced"),
            ("announced_ips = [\"10.0.0.1\", \"10.0.0.1\"]", "twice"),
            ("announced_ips = [\"10.0.0.300\"]", "neither an IP address nor `auto`"),
            ("announced_ips = \"10.0.0.1\"", "invalid type"),
            ("announced_ip = \"0.0.0.0\"", "[relay] announced_ip:"),
            ("announced_ip = \"10.0.0.1\"\nannounced_ips = [\"10.0.0.2\"]", "set one"),
            ("announced_ips = [\"auto\", \"AUTO\"]", "`auto` is listed twice"),
            ("announced_ip = \"somewhere\"", "neither an IP address nor `auto`"),
            ("ice_tcp = \"yes\"", "invalid type"),
            ("max_tcp_connections = 0", "[relay] max_tcp_connections: must be at least 1"),
            ("max_tcp_connections = -1", "invalid value"),
        ] {
            let e = RelayFile::parse(&format!("[relay]\n{text}\n")).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn auto_stands_for_the_hosts_routed_addresses() {
        let f = RelayFile::parse("[relay]\nannounced_ips = [\"auto\", \"203.0.113.5\"]\n").unwrap();
        let list = f.relay.announced_ips.unwrap();
        assert_eq!(list[0], Announced::Auto);
        let found = host_addresses();
        // At most one per family, each one a browser can send to.
        assert!(found.len() <= 2 && found.iter().filter(|ip| ip.is_ipv4()).count() <= 1, "{found:?}");
        assert!(found.iter().all(|ip| !ip.is_loopback() && !ip.is_unspecified()), "{found:?}");
        match resolve_announced(&list) {
            Ok(ips) => {
                assert_eq!(ips[..found.len()], found[..]);
                assert_eq!(ips.last(), Some(&"203.0.113.5".parse().unwrap()));
            }
            // A host with no route out at all (a bare network namespace): said so, nothing guessed.
            Err(e) => assert!(found.is_empty() && e.contains("no address with a route"), "{e}"),
        }
        // Named addresses need no detection, and one also found by `auto` is announced once.
        let named = [Announced::Ip("198.18.0.1".parse().unwrap())];
        assert_eq!(resolve_announced(&named).unwrap(), vec!["198.18.0.1".parse::<IpAddr>().unwrap()]);
        if let Some(first) = found.first() {
            assert_eq!(resolve_announced(&[Announced::Auto, Announced::Ip(*first)]).unwrap(), found);
        }
        assert!(resolve_announced(&[]).is_err());
    }

    #[test]
    fn the_example_file_parses() {
        let f = RelayFile::parse(include_str!("../../meet.example.toml")).unwrap();
        assert_eq!(f.relay.socket.as_deref(), Some(Path::new("/run/meet/relay.sock")));
        assert_eq!(f.log.format, Some(LogFormat::Json));
    }
}
