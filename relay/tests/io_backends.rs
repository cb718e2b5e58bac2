//! Both IO backends, on real sockets: ICE checks are answered, garbage is counted, replies come back
//! from the port of the core that holds the room.

use std::net::UdpSocket;
use std::time::Duration;

use meet_media::stun;
use meet_relay::protocol::{Request, Response, RoomLimits};
use meet_relay::{IoBackend, RelayConfig};

fn exercise(backend: IoBackend) {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
    config.cores = 2;
    config.io_backend = backend;
    let relay = meet_relay::start(&config).expect("relay starts");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for room in ["r1", "r2", "r3"] {
        rt.block_on(relay.request(Request::CreateRoom { room: room.into(), limits: RoomLimits::default() })).unwrap();
        let Ok(Response::PeerCreated(t)) = rt.block_on(relay.request(Request::CreatePeer {
            room: room.into(),
            peer: "p".into(),
            watcher: false,
            interpreter: false,
            relay_link: None,
        })) else {
            panic!("peer created")
        };
        let target = t.candidates[0];
        for _ in 0..200 {
            client.send_to(&[0xff; 40], target).unwrap();
        }
        let mut buf = [0u8; 512];
        let n = stun::write_binding_request(
            &[3; 12],
            &format!("{}:c", t.ice_ufrag),
            t.ice_pwd.as_bytes(),
            1,
            1,
            true,
            &mut buf,
        )
        .unwrap();
        client.send_to(&buf[..n], target).unwrap();
        let (n, from) = client.recv_from(&mut buf).expect("a STUN response");
        assert_eq!(from, target);
        let response = stun::parse(&buf[..n]).unwrap();
        assert_eq!(response.class, stun::Class::Success);
        assert_eq!(response.xor_mapped_address, Some(client.local_addr().unwrap()));
        assert!(response.check_integrity(t.ice_pwd.as_bytes()));
    }
    let Ok(Response::Stats(stats)) = rt.block_on(relay.request(Request::Stats)) else { panic!("stats") };
    assert_eq!(stats.counters["drop_unknown_kind"], 600);
    assert_eq!(stats.counters["stun_in"], 3);
    // Rooms were spread over both cores.
    assert!(stats.counters["core0_rooms"] >= 1 && stats.counters["core1_rooms"] >= 1, "{:?}", stats.counters);
    let uring = stats.counters["core0_io_uring"] == 1;
    assert_eq!(uring, backend == IoBackend::Uring);
}

#[test]
fn mmsg_backend() {
    exercise(IoBackend::Mmsg);
}

#[test]
fn uring_backend() {
    // Where the kernel or a seccomp filter forbids io_uring, `auto` falls back; `uring` must then fail
    // to start rather than pretend.
    let probe = io_uring::IoUring::new(2);
    if probe.is_err() {
        eprintln!("io_uring unavailable here: {:?}; checking that --io-backend uring refuses to start", probe.err());
        let mut config = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1".parse().unwrap());
        config.io_backend = IoBackend::Uring;
        assert!(meet_relay::start(&config).is_err());
        return;
    }
    exercise(IoBackend::Uring);
}
