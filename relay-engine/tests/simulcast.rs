//! Simulcast on the simulated network: a sender's three layers, SSRCs learned from `rid`, and a receiver
//! moved between layers by its tile size, by what the sender sends and by its link, always at a keyframe
//! and with its numbers running on.

mod common;

use std::time::Duration;

use common::Net;
use meet_media::rtcp::{self, NackPair, RtcpPacket};
use meet_media::rtp::{self, Extension, Ssrc};
use meet_media::vp8;
use meet_relay_protocol::{MediaKind, Request, Response};

/// The layers' SSRCs and the first sequence number of each (the last one wraps soon).
const SSRCS: [u32; 3] = [100, 200, 300];
const HEIGHTS: [u16; 3] = [180, 360, 720];

struct Sender {
    seq: [u16; 3],
    timestamp: [u32; 3],
    picture_id: [u16; 3],
    /// Packets sent per layer so far (the first few name their layer, as browsers do).
    sent: [u32; 3],
}

impl Sender {
    fn new() -> Self {
        Sender {
            seq: [1000, 30_000, 65_530],
            timestamp: [7, 1 << 31, u32::MAX - 5000],
            picture_id: [5, 3000, 32_760],
            sent: [0; 3],
        }
    }

    /// One single-packet frame of `layer`.
    fn frame(&mut self, net: &mut Net, a: usize, layer: usize, keyframe: bool) {
        let l = layer;
        let pid = self.picture_id[l];
        let mut payload = vec![0x90, 0xE0, 0x80 | (pid >> 8) as u8, pid as u8, pid as u8, 0x20];
        let tag = if keyframe { 0x50 } else { 0x51 };
        let h = HEIGHTS[l].to_le_bytes();
        let w = (HEIGHTS[l] * 16 / 9).to_le_bytes();
        payload.extend_from_slice(&[tag, 0x2B, 0x00, 0x9D, 0x01, 0x2A, w[0], w[1], h[0], h[1]]);
        payload.extend_from_slice(&[0xAB; 200]);
        let rid = ["q", "h", "f"][l];
        let tseq = 0u16.to_be_bytes();
        let named = [
            Extension { id: 3, data: &tseq },
            Extension { id: 4, data: b"1" },
            Extension { id: 5, data: rid.as_bytes() },
        ];
        let exts: &[Extension<'_>] = if self.sent[l] < 3 { &named } else { &named[..1] };
        net.clients[a].send_rtp_at(SSRCS[l], 96, self.seq[l], self.timestamp[l], &payload, exts);
        self.seq[l] = self.seq[l].wrapping_add(1);
        self.timestamp[l] = self.timestamp[l].wrapping_add(3000);
        self.picture_id[l] = (pid + 1) % 0x8000;
        self.sent[l] += 1;
    }

    /// A frame of each layer in `layers`, then 33 ms pass.
    fn frames(&mut self, net: &mut Net, a: usize, layers: &[usize], keyframe: bool) {
        for &l in layers {
            self.frame(net, a, l, keyframe);
        }
        net.progress();
        net.advance(Duration::from_millis(33));
        net.progress();
    }
}

/// What b received: (sequence number, timestamp, picture ID, height of a keyframe) of each video packet.
fn received(net: &Net, b: usize, ssrc: u32, from: usize) -> Vec<(u16, u32, u16, Option<u16>)> {
    net.clients[b].rtp[from..]
        .iter()
        .filter_map(|p| {
            let h = rtp::parse(p).unwrap();
            if h.ssrc != Ssrc(ssrc) {
                return None;
            }
            assert!(rtp::find_extension(p, &h, 4).is_none() && rtp::find_extension(p, &h, 5).is_none());
            let d = vp8::parse(rtp::payload(p, &h).unwrap()).unwrap();
            Some((h.sequence_number, h.timestamp, d.picture_id.unwrap().value, d.size.map(|s| s.1)))
        })
        .collect()
}

/// Sequence numbers and picture IDs step by one, timestamps forward by less than `max_step` (the time
/// the receiver saw nothing, at a switch from a layer the sender stopped).
fn assert_continuous_within(got: &[(u16, u32, u16, Option<u16>)], max_step: u32) {
    for w in got.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence numbers run on: {got:?}");
        assert_eq!(w[1].2, (w[0].2 + 1) % 0x8000, "picture IDs run on: {got:?}");
        let step = w[1].1.wrapping_sub(w[0].1);
        assert!(step > 0 && step < max_step, "timestamps move forward a little: {got:?}");
    }
}

fn assert_continuous(got: &[(u16, u32, u16, Option<u16>)]) {
    assert_continuous_within(got, 90_000);
}

fn plis_for(net: &Net, a: usize, from: usize, ssrc: u32) -> usize {
    net.rtcp_of(a, from, |p| match p {
        RtcpPacket::Pli(pli) if pli.media_ssrc == Ssrc(ssrc) => Some(()),
        _ => None,
    })
    .len()
}

fn setup() -> (Net, usize, usize, u32, u32, u64) {
    let mut net = Net::new();
    let a = net.join("r", "alice", "10.0.0.2:5000");
    let b = net.join("r", "bob", "10.0.0.3:5000");
    net.request(common::simulcast_request("r", "alice", 96));
    let (ssrc, rtx) = net.consume_with_rtx(b, a);
    let Response::RoomDump(dump) = net.request(Request::DumpRoom { room: "r".into() }) else { panic!() };
    let consumer = dump.peers.iter().find(|p| p.peer == "bob").unwrap().consumers[0].consumer;
    (net, a, b, ssrc, rtx, consumer)
}

#[test]
fn layers_follow_the_tile_and_switch_at_keyframes() {
    let (mut net, a, b, ssrc, rtx, consumer) = setup();
    let mut s = Sender::new();
    // Before any keyframe nothing is forwarded; then the top layer, as the tile's size is not known.
    s.frames(&mut net, a, &[0, 1, 2], false);
    assert!(received(&net, b, ssrc, 0).is_empty());
    s.frames(&mut net, a, &[0, 1, 2], true);
    for _ in 0..5 {
        s.frames(&mut net, a, &[0, 1, 2], false);
    }
    let got = received(&net, b, ssrc, 0);
    assert_eq!(got.len(), 6);
    assert_eq!(got[0].3, Some(720));
    assert_continuous(&got);
    assert_eq!(net.engine.counters.simulcast_ssrcs_learned, 3);
    let Response::RoomDump(dump) = net.request(Request::DumpRoom { room: "r".into() }) else { panic!() };
    let layers = &dump.peers.iter().find(|p| p.peer == "alice").unwrap().producers[0].layers;
    assert_eq!(
        layers.iter().map(|l| (l.rid.as_str(), l.ssrc, l.height)).collect::<Vec<_>>(),
        vec![("q", 100, 180), ("h", 200, 360), ("f", 300, 720)]
    );

    // A small tile: the lowest layer is asked for a keyframe, and the switch waits for it.
    let rtcp_from = net.clients[a].rtcp.len();
    net.request(Request::SetConsumerView { room: "r".into(), peer: "bob".into(), consumer, height: 170 });
    net.advance(Duration::from_millis(60));
    s.frames(&mut net, a, &[0, 1, 2], false);
    assert_eq!(plis_for(&net, a, rtcp_from, SSRCS[0]), 1, "a keyframe of the lowest layer is asked for");
    s.frames(&mut net, a, &[0, 1, 2], false);
    s.frames(&mut net, a, &[0], true);
    s.frames(&mut net, a, &[0, 1, 2], false);
    let got = received(&net, b, ssrc, 0);
    assert_eq!(got.len(), 10, "top layer until the keyframe, then the lowest: {got:?}");
    assert_eq!(got[8].3, Some(180), "the switch is at the keyframe");
    assert_continuous(&got);
    assert_eq!(net.engine.counters.layer_switches, 1);

    // b lost a packet from before the switch and one after: each comes back as it was numbered.
    let before_switch = got[6];
    let after_switch = got[9];
    let rtx_from = net.clients[b].rtp.len();
    let mut nack = [0u8; 64];
    let pairs = [NackPair { pid: before_switch.0, blp: 0 }, NackPair { pid: after_switch.0, blp: 0 }];
    let n = rtcp::write_nack(Ssrc(9), Ssrc(ssrc), &pairs, &mut nack).unwrap();
    net.send_rtcp(b, &nack[..n]);
    net.progress();
    let resent: Vec<(u16, u32, u16)> = net.clients[b].rtp[rtx_from..]
        .iter()
        .map(|p| {
            let h = rtp::parse(p).unwrap();
            assert_eq!(h.ssrc, Ssrc(rtx));
            let payload = rtp::payload(p, &h).unwrap();
            let osn = u16::from_be_bytes([payload[0], payload[1]]);
            (osn, h.timestamp, vp8::parse(&payload[2..]).unwrap().picture_id.unwrap().value)
        })
        .collect();
    assert_eq!(
        resent,
        vec![(before_switch.0, before_switch.1, before_switch.2), (after_switch.0, after_switch.1, after_switch.2)]
    );

    // Tile hidden: no video at all; shown large again: the top layer, from its next keyframe.
    net.request(Request::SetConsumerView { room: "r".into(), peer: "bob".into(), consumer, height: 0 });
    net.advance(Duration::from_millis(60));
    net.progress();
    let from = net.clients[b].rtp.len();
    for _ in 0..3 {
        s.frames(&mut net, a, &[0, 1, 2], true);
    }
    assert!(received(&net, b, ssrc, from).is_empty());
    net.request(Request::SetConsumerView { room: "r".into(), peer: "bob".into(), consumer, height: 1080 });
    net.advance(Duration::from_millis(60));
    net.progress();
    s.frames(&mut net, a, &[0, 1, 2], false);
    s.frames(&mut net, a, &[0, 1, 2], true);
    s.frames(&mut net, a, &[0, 1, 2], false);
    let shown = received(&net, b, ssrc, from);
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0].3, Some(720));
    let all = received(&net, b, ssrc, 0);
    assert_continuous(&all);
}

#[test]
fn a_layer_the_sender_stops_is_replaced_by_the_best_one_left() {
    let (mut net, a, b, ssrc, _, _) = setup();
    let mut s = Sender::new();
    s.frames(&mut net, a, &[0, 1, 2], true);
    for _ in 0..3 {
        s.frames(&mut net, a, &[0, 1, 2], false);
    }
    // The sender's uplink shrinks: it drops its top layer.
    for _ in 0..60 {
        s.frames(&mut net, a, &[0, 1], false);
    }
    s.frames(&mut net, a, &[0, 1], true);
    s.frames(&mut net, a, &[0, 1], false);
    let got = received(&net, b, ssrc, 0);
    assert_eq!(got.last().unwrap().3, None);
    assert_eq!(got[got.len() - 2].3, Some(360), "the middle layer from its keyframe: {got:?}");
    assert_continuous_within(&got, 90 * 2_500);
}

#[test]
fn bad_simulcast_requests_are_refused() {
    let mut net = Net::new();
    net.join("r", "alice", "10.0.0.2:5000");
    let produce = |simulcast: Vec<&str>, kind, ssrc| Request::Produce {
        room: "r".into(),
        peer: "alice".into(),
        producer: "alice/video".into(),
        kind,
        ssrc,
        payload_type: 96,
        clock_rate: 90_000,
        rtx: None,
        simulcast: simulcast.into_iter().map(String::from).collect(),
        paused: false,
    };
    for bad in [
        produce(vec!["q", "h", "f", "x"], MediaKind::Video, 0),
        produce(vec!["q", "q"], MediaKind::Video, 0),
        produce(vec!["q", ""], MediaKind::Video, 0),
        produce(vec!["q", "h;"], MediaKind::Video, 0),
        produce(vec!["q"], MediaKind::Audio, 0),
        produce(vec!["q"], MediaKind::Video, 5),
    ] {
        assert!(net.engine.handle_request(net.now, bad).is_err());
    }
    assert!(net.engine.handle_request(net.now, produce(vec!["q", "h"], MediaKind::Video, 0)).is_ok());
    // Packets naming unknown rids, or none, are dropped and counted.
    let before = net.engine.counters.drop_rtp_unknown_ssrc;
    net.clients[0].send_rtp_with(77, 96, 1, &[0x10, 0], &[Extension { id: 5, data: b"zz" }]);
    net.clients[0].send_rtp_with(78, 96, 1, &[0x10, 0], &[]);
    net.progress();
    assert_eq!(net.engine.counters.drop_rtp_unknown_ssrc, before + 2);
    assert_eq!(net.engine.counters.simulcast_ssrcs_learned, 0);
}

/// SPSs of 320x180, 640x360 and 1280x720 pictures (Constrained Baseline; the first two cropped from
/// 192 and 368 rows), as an encoder writes them.
const H264_SPS: [&[u8]; 3] = [
    &[0x67, 0x42, 0xC0, 0x1F, 0xF4, 0x0A, 0x0C, 0xFC, 0xE8],
    &[0x67, 0x42, 0xC0, 0x1F, 0xF4, 0x05, 0x01, 0x7F, 0xCA, 0x80],
    &[0x67, 0x42, 0xC0, 0x1F, 0xF4, 0x02, 0x80, 0x2D, 0xC8],
];

/// H.264 layers: a keyframe starts with a STAP-A of SPS and PPS, then its IDR slice (FU-A); other frames
/// are one non-IDR slice. The relay finds keyframes and sizes in the SPS.
#[test]
fn h264_layers_switch_at_the_sps_of_a_keyframe() {
    let mut net = Net::new();
    let a = net.join("r", "alice", "10.0.0.2:5000");
    let b = net.join("r", "bob", "10.0.0.3:5000");
    net.request(common::simulcast_request("r", "alice", meet_media::sdp::H264_PT));
    let (ssrc, _) = net.consume_with_rtx(b, a);
    let Response::RoomDump(dump) = net.request(Request::DumpRoom { room: "r".into() }) else { panic!() };
    let consumer = dump.peers.iter().find(|p| p.peer == "bob").unwrap().consumers[0].consumer;
    let mut seq = [10u16, 40_000, 65_534];
    let mut timestamp = [0u32, 1 << 30, u32::MAX - 2000];
    let mut sent = 0;
    let mut frames = |net: &mut Net, layers: &[usize], keyframe: bool| {
        for &l in layers {
            let rid = ["q", "h", "f"][l];
            let mut packets: Vec<Vec<u8>> = Vec::new();
            if keyframe {
                let mut stap = vec![0x78];
                stap.extend_from_slice(&(H264_SPS[l].len() as u16).to_be_bytes());
                stap.extend_from_slice(H264_SPS[l]);
                stap.extend_from_slice(&[0, 4, 0x68, 0xCE, 0x3C, 0x80]);
                packets.push(stap);
                packets.push([&[0x7C, 0x85][..], &[0xAB; 100]].concat());
            } else {
                packets.push([&[0x41, 0x9A][..], &[0xCD; 60]].concat());
            }
            for p in packets {
                let named = [Extension { id: 5, data: rid.as_bytes() }];
                let exts: &[Extension<'_>] = if sent < 9 { &named } else { &[] };
                net.clients[a].send_rtp_at(300 + l as u32, 102, seq[l], timestamp[l], &p, exts);
                seq[l] = seq[l].wrapping_add(1);
                sent += 1;
            }
            timestamp[l] = timestamp[l].wrapping_add(3000);
        }
        net.progress();
        net.advance(Duration::from_millis(33));
        net.progress();
    };
    // What b got: (sequence number, timestamp, height when the packet carries an SPS).
    let got = |net: &Net| -> Vec<(u16, u32, Option<u16>)> {
        net.clients[b]
            .rtp
            .iter()
            .map(|p| {
                let h = rtp::parse(p).unwrap();
                assert_eq!((h.ssrc, h.payload_type), (Ssrc(ssrc), 96), "the consumer's SSRC and type");
                let d = meet_media::h264::parse(rtp::payload(p, &h).unwrap()).unwrap();
                (h.sequence_number, h.timestamp, d.size.map(|s| s.1))
            })
            .collect()
    };
    frames(&mut net, &[0, 1, 2], false);
    assert!(got(&net).is_empty(), "nothing before a keyframe");
    frames(&mut net, &[0, 1, 2], true);
    frames(&mut net, &[0, 1, 2], false);
    let first = got(&net);
    assert_eq!(first.iter().map(|g| g.2).collect::<Vec<_>>(), [Some(720), None, None], "the top layer");
    let Response::RoomDump(dump) = net.request(Request::DumpRoom { room: "r".into() }) else { panic!() };
    let layers = &dump.peers.iter().find(|p| p.peer == "alice").unwrap().producers[0].layers;
    assert_eq!(layers.iter().map(|l| l.height).collect::<Vec<_>>(), [180, 360, 720], "sizes from the SPSs");

    // A small tile: the lowest layer, from the packet with its SPS (not its IDR slice alone).
    net.request(Request::SetConsumerView { room: "r".into(), peer: "bob".into(), consumer, height: 170 });
    net.advance(Duration::from_millis(60));
    frames(&mut net, &[0, 1, 2], false);
    frames(&mut net, &[0], true);
    frames(&mut net, &[0, 1, 2], false);
    let all = got(&net);
    assert_eq!(all.len(), 7, "{all:?}");
    assert_eq!(all[4].2, Some(180), "the switch is at the SPS: {all:?}");
    for w in all.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence numbers run on: {all:?}");
        assert!(w[1].1.wrapping_sub(w[0].1) < 90_000, "timestamps move forward a little: {all:?}");
    }
    assert_eq!(net.engine.counters.layer_switches, 1);
}
