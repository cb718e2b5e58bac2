//! The paths a browser may reach the relay by, on real sockets and both IO backends: any of several
//! announced addresses (the answer comes from the one the check was sent to), IPv6 next to IPv4 on the
//! same port, and ICE-TCP (RFC 6544 / RFC 4571 framing) on the same port number, with its bad forms.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use meet_media::stun;
use meet_relay::protocol::{Request, Response, RoomLimits, TransportParams};
use meet_relay::{IoBackend, Relay, RelayConfig};

struct Lab {
    relay: Relay,
    rt: tokio::runtime::Runtime,
}

fn uring_available() -> bool {
    io_uring::IoUring::new(2).is_ok()
}

fn backends() -> Vec<IoBackend> {
    let mut b = vec![IoBackend::Mmsg];
    if uring_available() {
        b.push(IoBackend::Uring);
    } else {
        eprintln!("io_uring unavailable here: only the mmsg backend is exercised");
    }
    b
}

impl Lab {
    fn start(backend: IoBackend, bind: &str, announced: &[&str]) -> Lab {
        let mut config = RelayConfig::new(bind.parse().unwrap(), announced[0].parse().unwrap());
        config.announced_ips = announced.iter().map(|a| a.parse().unwrap()).collect();
        config.cores = 1;
        config.io_backend = backend;
        let relay = meet_relay::start(&config).expect("relay starts");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Lab { relay, rt }
    }

    fn peer(&self, room: &str) -> TransportParams {
        let _ = self
            .rt
            .block_on(self.relay.request(Request::CreateRoom { room: room.into(), limits: RoomLimits::default() }));
        let Ok(Response::PeerCreated(t)) = self.rt.block_on(self.relay.request(Request::CreatePeer {
            room: room.into(),
            peer: "p".into(),
            watcher: false,
            interpreter: false,
            relay_link: None,
        })) else {
            panic!("peer created")
        };
        t
    }

    fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        let Ok(Response::Stats(s)) = self.rt.block_on(self.relay.request(Request::Stats)) else { panic!("stats") };
        s.counters
    }
}

fn check(t: &TransportParams) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let n = stun::write_binding_request(
        &[7; 12],
        &format!("{}:c", t.ice_ufrag),
        t.ice_pwd.as_bytes(),
        1,
        1,
        true,
        &mut buf,
    )
    .unwrap();
    buf[..n].to_vec()
}

fn assert_success(t: &TransportParams, response: &[u8], client: SocketAddr) {
    let r = stun::parse(response).expect("a STUN response");
    assert_eq!(r.class, stun::Class::Success);
    assert!(r.check_integrity(t.ice_pwd.as_bytes()));
    assert_eq!(r.xor_mapped_address, Some(client));
}

/// A check sent over UDP to `target` from `client`'s address is answered from `target`.
fn udp_check(t: &TransportParams, client_ip: &str, target: SocketAddr) {
    let client = UdpSocket::bind((client_ip.parse::<IpAddr>().unwrap(), 0)).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    client.send_to(&check(t), target).unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = client.recv_from(&mut buf).expect("an answer");
    assert_eq!(from, target, "answered from the address the check was sent to");
    assert_success(t, &buf[..n], client.local_addr().unwrap());
}

#[test]
fn each_announced_address_answers_from_itself() {
    for backend in backends() {
        // 127.0.0.2 is as local as 127.0.0.1 but is not the source the kernel picks for replies to
        // 127.0.0.1: a relay that let the kernel choose would answer a check to .2 from .1.
        let lab = Lab::start(backend, "0.0.0.0:0", &["127.0.0.1", "127.0.0.2"]);
        let t = lab.peer("r");
        assert_eq!(t.candidates.len(), 2);
        assert_eq!(t.candidates[0].port(), t.candidates[1].port());
        for target in &t.candidates {
            udp_check(&t, "127.0.0.1", *target);
        }
        assert_eq!(lab.counters()["stun_in"], 2, "{backend}");
    }
}

#[test]
fn ipv6_and_ipv4_share_the_port() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    for backend in backends() {
        let lab = Lab::start(backend, "0.0.0.0:0", &["127.0.0.1", "::1"]);
        let t = lab.peer("r");
        assert_eq!(t.candidates[1], SocketAddr::new("::1".parse().unwrap(), t.candidates[0].port()));
        udp_check(&t, "::1", t.candidates[1]);
        udp_check(&t, "127.0.0.1", t.candidates[0]);
        // Over TCP too.
        tcp_check(&t, t.tcp_candidates[1]);
    }
}

fn framed(datagram: &[u8]) -> Vec<u8> {
    let mut v = (datagram.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(datagram);
    v
}

fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("a frame's length");
    let mut frame = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut frame).expect("a frame");
    frame
}

fn tcp_check(t: &TransportParams, target: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(target).expect("ICE-TCP connects on the UDP port number");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Split mid-frame: framing does not depend on how TCP segments the stream.
    let bytes = framed(&check(t));
    stream.write_all(&bytes[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    stream.write_all(&bytes[5..]).unwrap();
    let response = read_frame(&mut stream);
    assert_success(t, &response, stream.local_addr().unwrap());
    stream
}

#[test]
fn ice_tcp_answers_framed_checks_and_drops_bad_connections() {
    for backend in backends() {
        let lab = Lab::start(backend, "0.0.0.0:0", &["127.0.0.1"]);
        let t = lab.peer("r");
        assert_eq!(t.tcp_candidates, t.candidates, "a passive TCP candidate on each UDP one's address and port");
        let _kept = tcp_check(&t, t.tcp_candidates[0]);
        // Bad forms: a zero-length frame, a frame longer than any datagram, garbage frames then silence.
        let target = t.tcp_candidates[0];
        let mut zero = TcpStream::connect(target).unwrap();
        zero.write_all(&[0, 0]).unwrap();
        let mut oversized = TcpStream::connect(target).unwrap();
        oversized.write_all(&[0xff, 0xff, 1, 2, 3]).unwrap();
        let mut garbage = TcpStream::connect(target).unwrap();
        garbage.write_all(&framed(&[0xff; 100])).unwrap();
        for s in [&mut zero, &mut oversized] {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(s.read(&mut [0u8; 16]).unwrap_or(0), 0, "closed by the relay");
        }
        // A connection that passes no check is closed after the unverified timeout (5 s).
        garbage.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(garbage.read(&mut [0u8; 16]).unwrap_or(0), 0, "closed by the relay");
        let c = lab.counters();
        assert_eq!(
            (c["tcp_drop_bad_frame"], c["tcp_drop_oversized"], c["tcp_drop_slow"]),
            (1, 1, 1),
            "{backend}: {c:?}"
        );
        assert_eq!(c["drop_unknown_kind"], 1);
        assert_eq!(c["tcp_accepted"], 4);
        // The verified connection stays.
        assert_eq!(c["tcp_closed"], 0);
    }
}

#[test]
fn ice_tcp_can_be_turned_off() {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 1;
    config.ice_tcp = false;
    let relay = meet_relay::start(&config).unwrap();
    let lab = Lab { relay, rt: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap() };
    let t = lab.peer("r");
    assert!(t.tcp_candidates.is_empty());
    assert!(TcpStream::connect(t.candidates[0]).is_err());
}
