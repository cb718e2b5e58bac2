//! ICE restart (issue 12): a peer whose network changed gets new ICE credentials on the same transport;
//! it checks in from a new address with them and media goes on there, without a new DTLS handshake.
//! The old credentials stop counting, so a page that never comes back still loses consent.

mod common;

use std::time::Duration;

use common::Net;
use meet_media::rtcp::RtcpPacket;
use meet_relay_protocol::{Notification, Request, Response};

fn restart(net: &mut Net, i: usize) {
    let (room, peer) = (net.clients[i].room.clone(), net.clients[i].peer.clone());
    let Response::PeerCreated(transport) = net.request(Request::RestartIce { room, peer }) else {
        panic!("expected PeerCreated")
    };
    let old = &net.clients[i].transport;
    assert_ne!((&transport.ice_ufrag, &transport.ice_pwd), (&old.ice_ufrag, &old.ice_pwd), "new credentials");
    assert_eq!(transport.fingerprint, old.fingerprint, "the same DTLS certificate");
    net.clients[i].transport = transport;
}

fn closed(net: &Net) -> Vec<String> {
    net.notifications(|n| match n {
        Notification::PeerClosed { peer, reason, .. } => Some(format!("{peer}: {reason}")),
        _ => None,
    })
}

#[test]
fn media_goes_on_at_the_new_address_after_an_ice_restart() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    net.produce_and_consume(a, b, 1111);
    net.send_rtp(a, 1111, 96, &[1; 100]);
    net.progress();
    assert_eq!(net.clients[b].rtp.len(), 1);

    // Bob's network changes: his page asks for an ICE restart and checks in from its new address.
    net.advance(Duration::from_secs(2));
    let rtcp_before = net.clients[a].rtcp.len();
    restart(&mut net, b);
    net.clients[b].addr = "10.0.9.3:6000".parse().unwrap();
    net.ice_check(b, true);
    net.progress();
    // What was sent to his old address is lost: Alice is asked for a keyframe at once, not when Bob's
    // decoder gives up.
    let plis = net.rtcp_of(a, rtcp_before, |p| match p {
        RtcpPacket::Pli(pli) => Some(pli.media_ssrc.0),
        _ => None,
    });
    assert_eq!(plis, vec![1111]);
    for i in 0..5u8 {
        net.send_rtp(a, 1111, 96, &[i; 100]);
        net.progress();
    }
    assert_eq!(net.clients[b].rtp.len(), 6, "forwarded to the new address, with the same SRTP keys");
    // And what Bob sends from there is taken as his.
    net.produce_and_consume(b, a, 2222);
    net.send_rtp(b, 2222, 96, &[9; 100]);
    net.progress();
    assert_eq!(net.clients[a].rtp.len(), 1);

    // Consent is kept by checks with the new credentials.
    for _ in 0..8 {
        net.advance(Duration::from_secs(5));
        net.ice_check(a, false);
        net.ice_check(b, false);
        net.progress();
    }
    assert!(closed(&net).is_empty(), "{:?}", closed(&net));
}

#[test]
fn the_old_credentials_stop_counting() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let old = net.clients[a].transport.clone();
    restart(&mut net, a);
    let new = std::mem::replace(&mut net.clients[a].transport, old);
    // A page that keeps checking with what it had (it never applied the restart) loses consent.
    for _ in 0..7 {
        net.advance(Duration::from_secs(5));
        net.ice_check(a, false);
        net.progress();
    }
    assert_eq!(closed(&net), ["alice: ICE consent expired"]);
    // Nothing answers to the old or the new ufrag of a closed peer.
    net.clients[a].transport = new;
    assert!(net
        .engine
        .handle_request(net.now, Request::RestartIce { room: "room1".into(), peer: "alice".into() })
        .is_err());
}
