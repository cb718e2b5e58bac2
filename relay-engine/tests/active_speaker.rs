//! The active speaker: audio producers' `ssrc-audio-level` (RFC 6464) decides, on the engine's timer, who
//! the room's speaker is, and control hears of each change once.

mod common;

use std::time::Duration;

use common::Net;
use meet_media::rtp::{self, Extension};
use meet_media::sdp::AUDIO_LEVEL_EXT_ID;
use meet_relay_protocol::{MediaKind, Notification, Request};

const LOUD: u8 = 30;
const SILENT: u8 = 127;

fn produce_audio(net: &mut Net, i: usize, ssrc: u32) {
    let (room, peer) = (net.clients[i].room.clone(), net.clients[i].peer.clone());
    net.request(Request::Produce {
        room,
        peer: peer.clone(),
        producer: format!("{peer}/audio"),
        kind: MediaKind::Audio,
        ssrc,
        payload_type: 111,
        clock_rate: 48_000,
        rtx: None,
        simulcast: Vec::new(),
        paused: false,
    });
}

fn consume_audio(net: &mut Net, to: usize, from: usize) {
    let (room, peer) = (net.clients[to].room.clone(), net.clients[to].peer.clone());
    let producer = format!("{}/audio", net.clients[from].peer);
    net.request(Request::Consume { room, peer, producer, payload_type: 111, rtx_payload_type: None });
}

/// `d` of 20 ms Opus packets from each `(client, ssrc, level)`, stepping the clock.
fn talk(net: &mut Net, d: Duration, voices: &[(usize, u32, u8)]) {
    for _ in 0..d.as_millis() / 20 {
        for &(i, ssrc, level) in voices {
            let seq = net.clients[i].seq.wrapping_add(1);
            net.clients[i].seq = seq;
            let ext = [Extension { id: AUDIO_LEVEL_EXT_ID, data: &[0x80 | level] }];
            net.clients[i].send_rtp_with(ssrc, 111, seq, &[0xfc; 60], &ext);
        }
        net.progress();
        net.advance(Duration::from_millis(20));
        net.progress();
    }
}

fn speakers(net: &Net) -> Vec<String> {
    net.notifications(|e| match e {
        Notification::ActiveSpeaker { room, producer } if room == "room1" => Some(producer.clone()),
        Notification::ActiveSpeaker { room, .. } => panic!("a speaker in {room}"),
        _ => None,
    })
}

#[test]
fn the_active_speaker_follows_who_talks() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    let c = net.join("room1", "carol", "10.0.0.4:5000");
    produce_audio(&mut net, a, 1001);
    produce_audio(&mut net, b, 2002);
    for (to, from) in [(b, a), (c, a), (a, b), (c, b)] {
        consume_audio(&mut net, to, from);
    }
    // Nobody says anything: no speaker.
    talk(&mut net, Duration::from_secs(3), &[(a, 1001, SILENT), (b, 2002, SILENT)]);
    assert!(speakers(&net).is_empty());
    // Alice talks while Bob's microphone is muted.
    talk(&mut net, Duration::from_secs(3), &[(a, 1001, LOUD), (b, 2002, SILENT)]);
    assert_eq!(speakers(&net), ["alice/audio"]);
    // Consumers get the level too (their browsers show it in getSynchronizationSources).
    let last = net.clients[c].rtp.last().expect("carol receives audio");
    let h = rtp::parse(last).unwrap();
    let level = rtp::extensions(last, &h).find(|e| e.id == AUDIO_LEVEL_EXT_ID).map(|e| e.data.to_vec());
    assert!(level.is_some(), "the level extension is forwarded");
    // Both quiet: Alice stays the speaker.
    talk(&mut net, Duration::from_secs(5), &[(a, 1001, SILENT), (b, 2002, SILENT)]);
    assert_eq!(speakers(&net), ["alice/audio"]);
    // Bob's turn; Bob's microphone sends nothing at all when off.
    talk(&mut net, Duration::from_secs(3), &[(b, 2002, LOUD)]);
    assert_eq!(speakers(&net), ["alice/audio", "bob/audio"]);
    // Alice talks over Bob for half a second: no change.
    talk(&mut net, Duration::from_millis(500), &[(a, 1001, LOUD), (b, 2002, LOUD)]);
    talk(&mut net, Duration::from_secs(2), &[(a, 1001, SILENT), (b, 2002, LOUD)]);
    assert_eq!(speakers(&net), ["alice/audio", "bob/audio"]);
    // Bob leaves; Alice takes over when she speaks again.
    net.request(Request::ClosePeer { room: "room1".into(), peer: "bob".into() });
    talk(&mut net, Duration::from_secs(2), &[(a, 1001, LOUD)]);
    assert_eq!(speakers(&net), ["alice/audio", "bob/audio", "alice/audio"]);
}

#[test]
fn packets_without_the_extension_decide_nothing() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    produce_audio(&mut net, a, 1001);
    consume_audio(&mut net, b, a);
    for _ in 0..150 {
        net.send_rtp(a, 1001, 111, &[0xfc; 60]);
        net.progress();
        net.advance(Duration::from_millis(20));
    }
    net.progress();
    assert!(speakers(&net).is_empty());
    assert_eq!(net.clients[b].rtp.len(), 150);
}
