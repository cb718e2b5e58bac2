//! Recording in the engine, on a simulated clock: a recording room hands each decrypted packet of its
//! producers out once, in order, without changing what consumers get; producers that come later are
//! recorded too, and tracks end when their producer goes or the recording stops.

mod common;

use common::{produce_request, Net};
use meet_media::rtp;
use meet_relay_engine::record::RecordOut;
use meet_relay_protocol::{ErrorCode, Request, Response};

fn drain(net: &mut Net) -> Vec<RecordOut> {
    std::iter::from_fn(|| net.engine.poll_record()).collect()
}

fn start(room: &str, recording: &str) -> Request {
    Request::StartRecording { room: room.into(), recording: recording.into(), dir: "/tmp/rec/x".into() }
}

#[test]
fn recorded_producers_hand_out_each_packet_once_and_end_their_tracks() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let b = net.join("room1", "bob", "10.0.0.3:5000");
    net.produce_and_consume(a, b, 1111);
    // Not recording: nothing for the recorder.
    net.send_rtp(a, 1111, 96, &[1; 50]);
    net.progress();
    assert!(drain(&mut net).is_empty());

    net.request(start("room1", "r1"));
    let Response::RoomDump(dump) = net.request(Request::DumpRoom { room: "room1".into() }) else { panic!() };
    assert_eq!(dump.recording.as_deref(), Some("r1"));
    for i in 0..10u8 {
        net.send_rtp(a, 1111, 96, &[i; 80]);
        net.progress();
    }
    let out = drain(&mut net);
    assert_eq!(out.len(), 10);
    for (i, o) in out.iter().enumerate() {
        let RecordOut::Packet { track, packet } = o else { panic!("a packet") };
        assert_eq!((track.producer.as_str(), track.peer.as_str(), &*track.recording), ("alice/video", "alice", "r1"));
        let h = rtp::parse(packet).unwrap();
        assert_eq!(h.ssrc.0, 1111, "the producer's own stream, as it came");
        assert_eq!(&packet[h.header_len..], &[i as u8; 80][..]);
    }
    // Forwarding is unchanged.
    assert_eq!(net.clients[b].rtp.len(), 11);
    assert_eq!(net.engine.counters.rtp_recorded, 10);

    // A producer created while the room records is recorded too.
    net.request(produce_request("room1", "bob", 2222));
    net.send_rtp(b, 2222, 96, &[7; 40]);
    net.progress();
    let out = drain(&mut net);
    assert!(matches!(&out[..], [RecordOut::Packet { track, .. }] if track.producer == "bob/video"));

    // Its producer closing ends a track; stopping ends the rest.
    net.request(Request::CloseProducer { room: "room1".into(), peer: "bob".into(), producer: "bob/video".into() });
    let out = drain(&mut net);
    assert!(matches!(&out[..], [RecordOut::End { track }] if track.producer == "bob/video"));
    net.request(Request::StopRecording { room: "room1".into() });
    let out = drain(&mut net);
    assert!(matches!(&out[..], [RecordOut::End { track }] if track.producer == "alice/video"));
    net.send_rtp(a, 1111, 96, &[1; 50]);
    net.progress();
    assert!(drain(&mut net).is_empty());
    // Stopping twice is fine.
    net.request(Request::StopRecording { room: "room1".into() });
}

#[test]
fn a_new_part_ends_the_old_tracks_and_starts_new_ones() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    net.produce(a, 1111);
    net.request(start("room1", "r1"));
    net.send_rtp(a, 1111, 96, &[1; 50]);
    net.progress();
    let first = drain(&mut net);
    let RecordOut::Packet { track: t1, .. } = &first[0] else { panic!() };
    // The same request again changes nothing.
    net.request(start("room1", "r1"));
    assert!(drain(&mut net).is_empty());
    net.request(start("room1", "r2"));
    net.send_rtp(a, 1111, 96, &[2; 50]);
    net.progress();
    let out = drain(&mut net);
    assert!(matches!(&out[0], RecordOut::End { track } if track.id == t1.id));
    assert!(matches!(&out[1], RecordOut::Packet { track, .. } if &*track.recording == "r2" && track.id != t1.id));
    // The peer leaving ends its track.
    net.request(Request::ClosePeer { room: "room1".into(), peer: "alice".into() });
    assert!(matches!(&drain(&mut net)[..], [RecordOut::End { .. }]));
}

#[test]
fn bad_recording_requests_are_refused() {
    let mut net = Net::new();
    net.join("room1", "alice", "10.0.0.2:5000");
    let now = net.now;
    let mut ask = |r| net.engine.handle_request(now, r).unwrap_err().code;
    assert_eq!(ask(start("nowhere", "r1")), ErrorCode::NotFound);
    assert_eq!(ask(Request::StopRecording { room: "nowhere".into() }), ErrorCode::NotFound);
    assert_eq!(ask(start("room1", "")), ErrorCode::BadRequest);
    assert_eq!(ask(start("room1", "a/b")), ErrorCode::BadRequest);
    let relative = Request::StartRecording { room: "room1".into(), recording: "r".into(), dir: "rec".into() };
    assert_eq!(ask(relative), ErrorCode::BadRequest);
    let escape = Request::StartRecording { room: "room1".into(), recording: "r".into(), dir: "/tmp/../etc".into() };
    assert_eq!(ask(escape), ErrorCode::BadRequest);
}

#[test]
fn interpreters_are_not_recorded() {
    let mut net = Net::new();
    let a = net.join("room1", "alice", "10.0.0.2:5000");
    let de = net.join_as("room1", "de", "10.0.0.3:5000", true);
    net.produce_and_consume(de, a, 3333);
    net.request(start("room1", "r1"));
    for i in 0..5u8 {
        net.send_rtp(de, 3333, 96, &[i; 60]);
        net.progress();
    }
    assert!(drain(&mut net).is_empty(), "a recording carries the original audio only");
    assert_eq!(net.clients[a].rtp.len(), 5, "the interpreter is still heard by its listeners");
}
