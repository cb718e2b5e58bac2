//! A relay cascade between two real `meet-relay` processes on loopback, programmed through their control
//! sockets as meet-control would: a speaker on relay A (the origin), a viewer on relay B (the edge), the
//! stream crossing from A to B over a link that B opened to A with ICE and DTLS-SRTP; the viewer's
//! keyframe request reaches the speaker; closing the link on A closes B's producers.

// The engine's scenario helpers (a client with real ICE, DTLS and SRTP), shared with its own tests.
#[path = "../../relay-engine/tests/common/mod.rs"]
mod common;
mod udp_client;

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Client;
use meet_media::rtcp::{self, RtcpPacket};
use meet_media::rtp::{self, Ssrc};
use meet_relay::engine::Certificate;
use meet_relay::protocol::codec::{body_len, decode, encode};
use meet_relay::protocol::{
    ErrorBody, MediaKind, Message, Notification, RelayLink, Request, Response, RoomLimits, RtxStream, Upstream,
    PROTOCOL_VERSION,
};
use udp_client::UdpClient;

/// One `meet-relay` process, killed when dropped.
struct RelayProcess {
    child: Child,
    control: Control,
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RelayProcess {
    fn start(dir: &Path, name: &str) -> Self {
        let socket = dir.join(format!("{name}.sock"));
        let child = Command::new(env!("CARGO_BIN_EXE_meet-relay"))
            .arg("--control-socket")
            .arg(&socket)
            .args(["--media-port", "0", "--media-bind-ip", "127.0.0.1", "--announced-ip", "127.0.0.1"])
            .args(["--ice-tcp", "false", "--cores", "2"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("meet-relay starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            if let Ok(s) = UnixStream::connect(&socket) {
                break s;
            }
            assert!(Instant::now() < deadline, "{name} serves its control socket");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut relay = RelayProcess { child, control: Control::new(stream) };
        relay.ask(Request::Hello { version: PROTOCOL_VERSION }).expect("same protocol");
        relay
    }

    fn ask(&mut self, request: Request) -> Result<Response, ErrorBody> {
        self.control.ask(request)
    }

    /// User and system CPU time of the process so far, in clock ticks (1/100 s on Linux).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').skip(11).take(2).map(|f| f.parse::<u64>().unwrap()).sum()
    }

    fn req(&mut self, request: Request) -> Response {
        self.ask(request).expect("request succeeds")
    }

    /// Waits up to `within` for a notification `f` picks.
    fn wait_for<T>(&mut self, within: Duration, mut f: impl FnMut(&Notification) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(t) = self.control.notifications.iter().find_map(&mut f) {
                return Some(t);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Ok(Message::Notification { notification }) = self.control.incoming.recv_timeout(left) {
                self.control.notifications.push(notification);
            }
        }
    }
}

/// A control connection: requests written here, frames read by a thread.
struct Control {
    stream: UnixStream,
    incoming: mpsc::Receiver<Message>,
    next_id: u64,
    notifications: Vec<Notification>,
}

impl Control {
    fn new(stream: UnixStream) -> Self {
        let mut reader = stream.try_clone().unwrap();
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut frame = vec![0u8; 4];
            if reader.read_exact(&mut frame).is_err() {
                return;
            }
            let len = body_len(frame[..4].try_into().unwrap()).unwrap();
            frame.resize(4 + len, 0);
            if reader.read_exact(&mut frame[4..]).is_err() {
                return;
            }
            let Ok(Some((message, _))) = decode(&frame) else { return };
            if tx.send(message).is_err() {
                return;
            }
        });
        Control { stream, incoming, next_id: 0, notifications: Vec::new() }
    }

    fn ask(&mut self, request: Request) -> Result<Response, ErrorBody> {
        self.next_id += 1;
        let id = self.next_id;
        self.stream.write_all(&encode(&Message::Request { id, request }).unwrap()).unwrap();
        loop {
            match self.incoming.recv_timeout(Duration::from_secs(10)).expect("the relay answers") {
                Message::Response { id: got, response } if got == id => return response,
                Message::Notification { notification } => self.notifications.push(notification),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// A client of `relay` as peer `peer` of room "web", connected (ICE and DTLS done).
fn connect_client(relay: &mut RelayProcess, peer: &str) -> UdpClient {
    let create = Request::CreatePeer {
        room: "web".into(),
        peer: peer.into(),
        watcher: false,
        interpreter: false,
        relay_link: None,
    };
    let Response::PeerCreated(t) = relay.req(create) else { panic!("expected PeerCreated") };
    let cert = Certificate::generate(&mut rand::rng()).unwrap();
    relay.req(Request::ConnectPeer {
        room: "web".into(),
        peer: peer.into(),
        remote_ufrag: Some("client".into()),
        remote_fingerprint: Some(cert.fingerprint.clone()),
        remote_setup: Some("active".into()),
    });
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_addr = t.candidates[0];
    let client = Client::new("web", peer, socket.local_addr().unwrap(), t, cert, Instant::now());
    let mut c = UdpClient { client, socket, relay: relay_addr };
    c.client.ice_check(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.client.connected() {
        assert!(Instant::now() < deadline, "{peer} connects");
        c.pump(Duration::from_millis(5));
    }
    c
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meet-cascade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn two_relay_processes_cascade_a_webinar_and_closing_the_link_closes_the_edges_producers() {
    let dir = temp_dir();
    let mut a = RelayProcess::start(&dir, "a");
    let mut b = RelayProcess::start(&dir, "b");
    for relay in [&mut a, &mut b] {
        relay.req(Request::CreateRoom { room: "web".into(), limits: RoomLimits::default() });
    }
    let mut speaker = connect_client(&mut a, "speaker");
    a.req(Request::Produce {
        room: "web".into(),
        peer: "speaker".into(),
        producer: "speaker/video".into(),
        kind: MediaKind::Video,
        ssrc: 777,
        payload_type: 96,
        clock_rate: 90_000,
        rtx: Some(RtxStream { ssrc: 778, payload_type: 97 }),
        simulcast: Vec::new(),
        paused: false,
    });

    // The link, in the order control makes it (docs/cascade.md).
    let link = |watcher| Request::CreatePeer {
        room: "web".into(),
        peer: "link-b".into(),
        watcher,
        interpreter: false,
        relay_link: Some(RelayLink::Downstream),
    };
    let Response::PeerCreated(origin_side) = a.req(link(true)) else { panic!() };
    let consume = Request::Consume {
        room: "web".into(),
        peer: "link-b".into(),
        producer: "speaker/video".into(),
        payload_type: 96,
        rtx_payload_type: Some(97),
    };
    let Response::ConsumerCreated { ssrc: link_ssrc, rtx_ssrc: Some(link_rtx), .. } = a.req(consume) else { panic!() };
    let upstream = Upstream {
        remote: origin_side.candidates[0],
        remote_ufrag: origin_side.ice_ufrag,
        remote_pwd: origin_side.ice_pwd,
        remote_fingerprint: origin_side.fingerprint,
    };
    let Response::PeerCreated(edge_side) = b.req(Request::CreatePeer {
        room: "web".into(),
        peer: "link-a".into(),
        watcher: false,
        interpreter: false,
        relay_link: Some(RelayLink::Upstream(upstream)),
    }) else {
        panic!()
    };
    a.req(Request::ConnectPeer {
        room: "web".into(),
        peer: "link-b".into(),
        remote_ufrag: Some(edge_side.ice_ufrag),
        remote_fingerprint: Some(edge_side.fingerprint),
        remote_setup: Some("active".into()),
    });
    let is_connected = |name: &'static str| {
        move |n: &Notification| matches!(n, Notification::PeerConnected { peer, .. } if peer == name).then_some(())
    };
    assert!(b.wait_for(Duration::from_secs(10), is_connected("link-a")).is_some(), "the edge connects to the origin");
    assert!(a.wait_for(Duration::from_secs(5), is_connected("link-b")).is_some());
    b.req(Request::Produce {
        room: "web".into(),
        peer: "link-a".into(),
        producer: "speaker/video".into(),
        kind: MediaKind::Video,
        ssrc: link_ssrc,
        payload_type: 96,
        clock_rate: 90_000,
        rtx: Some(RtxStream { ssrc: link_rtx, payload_type: 97 }),
        simulcast: Vec::new(),
        paused: false,
    });

    let mut viewer = connect_client(&mut b, "viewer");
    let consume = Request::Consume {
        room: "web".into(),
        peer: "viewer".into(),
        producer: "speaker/video".into(),
        payload_type: 96,
        rtx_payload_type: None,
    };
    let Response::ConsumerCreated { ssrc: viewer_ssrc, .. } = b.req(consume) else { panic!() };

    for i in 0..30u8 {
        speaker.client.send_rtp(777, 96, &[i; 200]);
        speaker.pump(Duration::from_millis(1));
        viewer.pump(Duration::from_millis(2));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while viewer.client.rtp.len() < 30 && Instant::now() < deadline {
        viewer.pump(Duration::from_millis(10));
        speaker.pump(Duration::from_millis(1));
    }
    let got: Vec<Vec<u8>> = viewer
        .client
        .rtp
        .iter()
        .map(|p| {
            let h = rtp::parse(p).unwrap();
            assert_eq!(h.ssrc, Ssrc(viewer_ssrc));
            p[h.header_len..].to_vec()
        })
        .collect();
    assert_eq!(got, (0..30u8).map(|i| vec![i; 200]).collect::<Vec<_>>(), "every packet crossed, intact");

    // The viewer's keyframe request goes up to the speaker (past the relays' spacing of requests).
    std::thread::sleep(Duration::from_millis(600));
    speaker.pump(Duration::from_millis(1));
    let before = speaker.client.rtcp.len();
    let mut pli = [0u8; 32];
    let n = rtcp::write_pli(Ssrc(9), Ssrc(viewer_ssrc), &mut pli).unwrap();
    viewer.client.send_rtcp(&pli[..n]);
    viewer.pump(Duration::from_millis(1));
    let deadline = Instant::now() + Duration::from_secs(3);
    let speaker_plis = |s: &UdpClient| {
        s.client.rtcp[before..]
            .iter()
            .flat_map(|c| rtcp::iter(c).filter_map(Result::ok).collect::<Vec<_>>())
            .filter(|p| matches!(p, RtcpPacket::Pli(p) if p.media_ssrc == Ssrc(777)))
            .count()
    };
    while speaker_plis(&speaker) == 0 && Instant::now() < deadline {
        speaker.pump(Duration::from_millis(10));
    }
    assert_eq!(speaker_plis(&speaker), 1, "the speaker was asked for a keyframe once");

    // The hop's cost: the same packets timed at a viewer on A (direct) and at the viewer on B.
    let mut direct = connect_client(&mut a, "direct");
    let consume = Request::Consume {
        room: "web".into(),
        peer: "direct".into(),
        producer: "speaker/video".into(),
        payload_type: 96,
        rtx_payload_type: None,
    };
    a.req(consume);
    direct.pump(Duration::from_millis(50));
    let (cpu_a, cpu_b, started) = (a.cpu_ticks(), b.cpu_ticks(), Instant::now());
    let (direct_ms, cascade_ms) = hop_latency(&mut speaker, direct, viewer);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "one-way latency over loopback, ms: direct p50 {:.3} p99 {:.3}; via the edge p50 {:.3} p99 {:.3}; \
         CPU of a core's time: origin {:.1}%, edge {:.1}%",
        percentile(&direct_ms, 50.0),
        percentile(&direct_ms, 99.0),
        percentile(&cascade_ms, 50.0),
        percentile(&cascade_ms, 99.0),
        (a.cpu_ticks() - cpu_a) as f64 / seconds,
        (b.cpu_ticks() - cpu_b) as f64 / seconds,
    );

    // Closing the link on the origin closes the edge's end at once, and its producers with it.
    let started = Instant::now();
    a.req(Request::ClosePeer { room: "web".into(), peer: "link-b".into() });
    let reason = b.wait_for(Duration::from_secs(5), |n| match n {
        Notification::PeerClosed { peer, reason, .. } if peer == "link-a" => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason.as_deref(), Some("peer closed DTLS"));
    assert!(started.elapsed() < Duration::from_secs(2), "well before consent would expire");
    let Response::RoomDump(edge) = b.req(Request::DumpRoom { room: "web".into() }) else { panic!() };
    assert!(edge.peers.iter().all(|p| p.peer != "link-a" && p.producers.is_empty()), "{edge:?}");
    assert!(edge.peers.iter().all(|p| p.consumers.is_empty()), "the viewer's consumer went with the producer");
    // The edge's placement forgot the producer too: consuming it again is refused.
    let again = Request::Consume {
        room: "web".into(),
        peer: "viewer".into(),
        producer: "speaker/video".into(),
        payload_type: 96,
        rtx_payload_type: None,
    };
    assert!(b.ask(again).is_err());
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}

/// Packets the speaker sends in [`hop_latency`], one every 2 ms.
const TIMED_PACKETS: u16 = 500;

/// Sends [`TIMED_PACKETS`] numbered packets and times each one's arrival at both viewers (each read on
/// its own thread); returns the one-way latencies in milliseconds of those both got.
fn hop_latency(speaker: &mut UdpClient, direct: UdpClient, edge: UdpClient) -> (Vec<f64>, Vec<f64>) {
    let receive = |mut c: UdpClient| {
        std::thread::spawn(move || {
            let mut arrivals = vec![None; TIMED_PACKETS as usize];
            let mut buf = [0u8; 2048];
            c.socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            while let Ok((n, _)) = c.socket.recv_from(&mut buf) {
                let at = Instant::now();
                let before = c.client.rtp.len();
                c.client.receive(&mut buf[..n]);
                if c.client.rtp.len() > before {
                    let p = c.client.rtp.last().unwrap();
                    let h = rtp::parse(p).unwrap();
                    let body = &p[h.header_len..];
                    if body[2] == 0xA7 {
                        let i = u16::from_be_bytes([body[0], body[1]]) as usize;
                        arrivals[i] = Some(at);
                    }
                }
            }
            arrivals
        })
    };
    let (direct, edge) = (receive(direct), receive(edge));
    let mut sent = Vec::new();
    for i in 0..TIMED_PACKETS {
        let mut payload = vec![0xA7u8; 1000];
        payload[..2].copy_from_slice(&i.to_be_bytes());
        speaker.client.send_rtp(777, 96, &payload);
        sent.push(Instant::now());
        while let Some(d) = speaker.client.outbox.pop_front() {
            speaker.socket.send_to(&d, speaker.relay).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let (direct, edge) = (direct.join().unwrap(), edge.join().unwrap());
    let ms = |at: Instant, sent: Instant| at.duration_since(sent).as_secs_f64() * 1000.0;
    let mut out = (Vec::new(), Vec::new());
    for (i, sent) in sent.iter().enumerate() {
        if let (Some(d), Some(e)) = (direct[i], edge[i]) {
            out.0.push(ms(d, *sent));
            out.1.push(ms(e, *sent));
        }
    }
    assert!(out.0.len() >= TIMED_PACKETS as usize * 9 / 10, "most timed packets reached both viewers");
    out
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p / 100.0).round() as usize]
}
