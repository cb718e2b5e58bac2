#![no_main]
//! Whole datagrams into a relay engine with one peer whose ICE check passed: bytes reach the STUN
//! parser, the DTLS server (dimpl's record layer) and the SRTP path from an address the engine knows,
//! and every path from one it does not.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use meet_media::stun;
use meet_relay_engine::{Certificate, Engine, EngineConfig};
use meet_relay_protocol::{Request, Response, RoomLimits};
use rand::SeedableRng;

static CERT: OnceLock<Certificate> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let cert = CERT.get_or_init(|| Certificate::generate(&mut rand::rng()).unwrap()).clone();
    // Seeded: an input replays the same way (same ICE credentials, same SSRCs).
    let rng = Box::new(rand::rngs::StdRng::seed_from_u64(0));
    let mut engine = Engine::new(EngineConfig::new(vec!["10.0.0.1:10000".parse().unwrap()]), cert, rng, now);
    engine.handle_request(now, Request::CreateRoom { room: "r".into(), limits: RoomLimits::default() }).unwrap();
    let Ok(Response::PeerCreated(t)) =
        engine.handle_request(now, Request::CreatePeer { room: "r".into(), peer: "p".into(), watcher: false, interpreter: false, relay_link: None })
    else {
        return;
    };
    let known = "10.0.0.2:5000".parse().unwrap();
    let mut check = [0u8; 256];
    let n = stun::write_binding_request(
        &[1; 12],
        &format!("{}:c", t.ice_ufrag),
        t.ice_pwd.as_bytes(),
        1,
        1,
        true,
        &mut check,
    )
    .unwrap();
    engine.handle_datagram(now, known, &mut check[..n]);
    // The input is a sequence of datagrams, each prefixed by a length byte.
    let mut rest = data;
    let mut step = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let len = (len as usize).min(tail.len());
        let mut datagram = tail[..len].to_vec();
        rest = &tail[len..];
        let from = if step % 3 == 2 { "10.0.0.9:1".parse().unwrap() } else { known };
        step += 1;
        let at = now + Duration::from_millis(step * 10);
        engine.handle_datagram(at, from, &mut datagram);
        engine.handle_timeout(at);
        while let Some(t) = engine.poll_transmit() {
            engine.recycle(t.contents);
        }
    }
});
