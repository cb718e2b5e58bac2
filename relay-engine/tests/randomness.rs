//! The engine draws every random number from the RNG its caller gives it: two engines seeded alike hand
//! out the same ICE credentials and SSRCs, so a scenario replays exactly; differently seeded ones do not.

mod common;

use std::time::Instant;

use common::{consume_request, produce_request, seeded_rng, RELAY};
use meet_relay_engine::{Certificate, Engine, EngineConfig};
use meet_relay_protocol::{Request, Response, RoomLimits};

/// What one engine seeded with `seed` draws: each peer's ICE ufrag and password, then a consumer's SSRC.
#[allow(clippy::disallowed_methods)] // The simulated clock starts at a real instant.
fn draws(seed: u64, certificate: &Certificate) -> Vec<String> {
    let now = Instant::now();
    let config = EngineConfig::new(vec![RELAY.parse().unwrap()]);
    let mut engine = Engine::new(config, certificate.clone(), seeded_rng(seed), now);
    let mut request = |r| engine.handle_request(now, r).expect("request succeeds");
    request(Request::CreateRoom { room: "r".into(), limits: RoomLimits::default() });
    let mut out = Vec::new();
    for peer in ["a", "b"] {
        let Response::PeerCreated(t) = request(Request::CreatePeer {
            room: "r".into(),
            peer: peer.into(),
            watcher: false,
            interpreter: false,
            relay_link: None,
        }) else {
            panic!("expected PeerCreated")
        };
        assert!(t.ice_ufrag.len() == 8 && t.ice_pwd.len() == 24, "{t:?}");
        assert!(t.ice_ufrag.chars().chain(t.ice_pwd.chars()).all(|c| c.is_ascii_alphanumeric()), "{t:?}");
        out.extend([t.ice_ufrag, t.ice_pwd]);
    }
    request(produce_request("r", "a", 1111));
    out.push(format!("{:?}", request(consume_request("r", "b", "a"))));
    out
}

#[test]
fn same_seed_same_draws_other_seed_other_draws() {
    let certificate = Certificate::generate(&mut rand::rng()).unwrap();
    let first = draws(7, &certificate);
    assert_eq!(first, draws(7, &certificate));
    let other = draws(8, &certificate);
    assert!(first.iter().zip(&other).all(|(a, b)| a != b), "{first:?} vs {other:?}");
}
