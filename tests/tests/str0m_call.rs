//! A call through the real `meet-control` binary between two independent WebRTC clients (str0m):
//! signalling over `/ws` (docs/signalling.md), ICE-lite + DTLS-SRTP against the embedded relay, audio and
//! video forwarded both ways with byte-exact payloads, renegotiation when a participant leaves, the relay
//! forgetting the room, and robustness against garbage on the media port and on the WebSocket.
//!
//! Runs against the built binary: `cargo build --release --bins` first (debug binaries are used when no
//! release one exists; `MEET_CONTROL_BIN` overrides the path). Each test starts its own server with two
//! media cores. Knobs for debugging: `MEET_E2E_RUST_LOG` (the server's `RUST_LOG`, default `info`),
//! `MEET_E2E_SDP=1` (print every offer and answer), `MEET_E2E_KEEP_ACTPASS=1` (see `on_server_message`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const VIDEO_INTERVAL: Duration = Duration::from_millis(33);
const AUDIO_LEN: usize = 100;
const VIDEO_LEN: usize = 400;

// ---------------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------------

/// A running `meet-control`; killed (and its scratch directory removed) on drop.
struct Server {
    child: Child,
    http_port: u16,
    media_port: u16,
    dir: PathBuf,
}

fn server_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("MEET_CONTROL_BIN") {
        return Ok(PathBuf::from(p));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("meet-control");
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "no meet-control binary under {}/{{release,debug}}: run `cargo build --release --bins` first",
        target.display()
    )
}

fn free_tcp_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Media cores the server runs; core N binds media port + N.
const CORES: u16 = 2;

/// A UDP port `p` with `p..p + CORES` all free (the relay binds `0.0.0.0`, so that is what is checked).
fn free_udp_ports() -> Result<u16> {
    for _ in 0..50 {
        let first = std::net::UdpSocket::bind("0.0.0.0:0")?;
        let port = first.local_addr()?.port();
        if port.checked_add(CORES).is_none() {
            continue;
        }
        if (1..CORES).all(|i| std::net::UdpSocket::bind(("0.0.0.0", port + i)).is_ok()) {
            return Ok(port);
        }
    }
    bail!("no {CORES} consecutive free UDP ports")
}

impl Server {
    async fn start() -> Result<Server> {
        let bin = server_binary()?;
        let http_port = free_tcp_port()?;
        let media_port = free_udp_ports()?;
        let dir =
            std::env::temp_dir().join(format!("meet-e2e-str0m-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let child = Command::new(&bin)
            .arg("--listen")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--media-port")
            .arg(media_port.to_string())
            .arg("--announced-ip")
            .arg("127.0.0.1")
            .arg("--cores")
            .arg(CORES.to_string())
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("RUST_LOG", std::env::var("MEET_E2E_RUST_LOG").unwrap_or_else(|_| "info".into()))
            .env("NO_COLOR", "1")
            .env("MEET_DEBUG_TOKEN", DEBUG_TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut server = Server { child, http_port, media_port, dir };
        eprintln!("started {} (http {http_port}, media {media_port})", bin.display());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("meet-control exited during start-up ({status}); its log:\n{}", server.log_tail(50));
            }
            if let Ok((200, _)) = http_get(http_port, "/new").await {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("meet-control did not answer GET /new within 15 s; its log:\n{}", server.log_tail(50));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn get(&self, path: &str) -> Result<(u16, String)> {
        http_get(self.http_port, path).await
    }

    async fn stats(&self) -> Result<Value> {
        let (status, body) = self.get("/debug/relay/stats").await?;
        ensure!(status == 200, "GET /debug/relay/stats: {status} {body}");
        serde_json::from_str(&body).with_context(|| format!("stats are not JSON: {body}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP/1.1 GET (`Connection: close`): status and body.
/// `[control] debug_token` of the test servers: `/debug/*` needs it.
const DEBUG_TOKEN: &str = "e2e-debug-token";

async fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {DEBUG_TOKEN}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange).await.context("HTTP GET timed out")??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("HTTP response without header end")?;
    let status: u16 = head.split_whitespace().nth(1).context("no status")?.parse().context("bad status")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_string() };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").context("bad chunk")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).context("bad chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(after.get(..size).context("short chunk")?);
        rest = after.get(size + 2..).context("short chunk")?;
    }
}

fn counter(stats: &Value, name: &str) -> Result<u64> {
    stats["counters"][name].as_u64().with_context(|| format!("stats have no counter {name}: {stats}"))
}

// ---------------------------------------------------------------------------------------------------
// Media payloads: deterministic from (kind, sender, frame number), so the receiver can check every byte
// ---------------------------------------------------------------------------------------------------

fn payload(kind: &str, sender: &str, n: u32) -> Vec<u8> {
    let len = if kind == "video" { VIDEO_LEN } else { AUDIO_LEN };
    let mut v = Vec::with_capacity(len);
    if kind == "video" {
        // A VP8 key frame header (RFC 6386 §9.1): frame tag (key frame, version 0, shown, first
        // partition size), start code, 320x240.
        let tag: u32 = (1 << 4) | (64 << 5);
        v.extend_from_slice(&tag.to_le_bytes()[..3]);
        v.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        v.extend_from_slice(&320u16.to_le_bytes());
        v.extend_from_slice(&240u16.to_le_bytes());
    }
    v.extend_from_slice(b"MEET");
    v.push(if kind == "video" { b'v' } else { b'a' });
    v.push(sender.len() as u8);
    v.extend_from_slice(sender.as_bytes());
    v.extend_from_slice(&n.to_be_bytes());
    let mut i = 0u8;
    while v.len() < len {
        v.push((n as u8) ^ i.wrapping_mul(7));
        i = i.wrapping_add(1);
    }
    v
}

/// The sender and frame number of a payload made by [`payload`], if it is one, byte for byte.
fn check_payload(kind: &str, data: &[u8]) -> Result<(String, u32), String> {
    let header = if kind == "video" { 10 } else { 0 };
    let rest = data.get(header..).ok_or("too short")?;
    let rest = rest.strip_prefix(b"MEET".as_slice()).ok_or("no MEET marker")?;
    let (&k, rest) = rest.split_first().ok_or("too short")?;
    if k != if kind == "video" { b'v' } else { b'a' } {
        return Err(format!("{kind} section carried a payload of kind {:?}", k as char));
    }
    let (&name_len, rest) = rest.split_first().ok_or("too short")?;
    let name = rest.get(..name_len as usize).ok_or("too short")?;
    let name = String::from_utf8(name.to_vec()).map_err(|_| "sender is not UTF-8")?;
    let n = rest.get(name_len as usize..name_len as usize + 4).ok_or("too short")?;
    let n = u32::from_be_bytes(n.try_into().unwrap());
    let expected = payload(kind, &name, n);
    if data != expected.as_slice() {
        return Err(format!(
            "{kind} frame {n} from {name}: {} bytes differ from the {} sent",
            data.len(),
            expected.len()
        ));
    }
    Ok((name, n))
}

// ---------------------------------------------------------------------------------------------------
// A str0m client: one task drives its UDP socket, its WebSocket, its timers and the test's commands
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Track {
    kind: String,
    peer_id: String,
    direction: String,
    active: bool,
}

#[derive(Debug, Default, Clone)]
struct Received {
    frames: u64,
    senders: BTreeSet<String>,
    last_frame: Option<u32>,
}

/// What a client saw; the test reads it.
#[derive(Default)]
struct Shared {
    peer_id: Option<String>,
    messages: Vec<Value>,
    /// Tracks of the latest offer, by mid.
    tracks: BTreeMap<String, Track>,
    /// The participant each receiving mid last carried (kept when the section goes inactive, so
    /// packets still in flight are attributed correctly).
    mid_owner: HashMap<String, (String, String)>,
    offers_answered: usize,
    server_ufrag: Option<String>,
    /// The relay's host candidate in the latest offer (the media core serving this room).
    server_candidate: Option<SocketAddr>,
    local_ufrag: Option<String>,
    connected: bool,
    ice_states: Vec<String>,
    send_mids: BTreeMap<String, Mid>,
    frames_sent: BTreeMap<String, u32>,
    /// By (sending peerId, kind).
    received: HashMap<(String, String), Received>,
    keyframe_requests: u64,
    problems: Vec<String>,
    ws_closed: bool,
}

impl Shared {
    fn problem(&mut self, p: String) {
        if self.problems.len() < 50 {
            self.problems.push(p);
        }
    }
}

enum Cmd {
    Text(String),
    Leave,
    /// A datagram from this client's own socket (as an attacker spoofing its address would send).
    Raw(Vec<u8>, SocketAddr),
}

struct Client {
    name: String,
    shared: Arc<Mutex<Shared>>,
    cmd: mpsc::UnboundedSender<Cmd>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    async fn join(server: &Server, room: &str, name: &str) -> Result<Client> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").context("host candidate")?);
        let url = format!("ws://127.0.0.1:{}/ws", server.http_port);
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.with_context(|| format!("connect {url}"))?;
        let join = json!({"type": "join", "roomId": room, "displayName": name, "audio": true, "video": true});
        ws.send(Message::text(join.to_string())).await?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (cmd, cmds) = mpsc::unbounded_channel();
        let task = tokio::spawn(drive(name.to_string(), rtc, socket, ws, shared.clone(), cmds));
        Ok(Client { name: name.to_string(), shared, cmd, task })
    }

    fn state<R>(&self, f: impl FnOnce(&Shared) -> R) -> R {
        f(&self.shared.lock().unwrap())
    }

    fn send(&self, message: Value) {
        let _ = self.cmd.send(Cmd::Text(message.to_string()));
    }

    fn send_text(&self, text: &str) {
        let _ = self.cmd.send(Cmd::Text(text.to_string()));
    }

    fn send_raw(&self, bytes: Vec<u8>, to: SocketAddr) {
        let _ = self.cmd.send(Cmd::Raw(bytes, to));
    }

    fn leave(&self) {
        let _ = self.cmd.send(Cmd::Leave);
    }

    fn frames_from(&self, peer: &str, kind: &str) -> u64 {
        self.state(|s| s.received.get(&(peer.to_string(), kind.to_string())).map_or(0, |r| r.frames))
    }

    fn received_from(&self, peer: &str, kind: &str) -> Received {
        self.state(|s| s.received.get(&(peer.to_string(), kind.to_string())).cloned().unwrap_or_default())
    }

    fn problems(&self) -> Vec<String> {
        self.state(|s| s.problems.clone())
    }

    fn summary(&self) -> String {
        self.state(|s| {
            let types: Vec<&str> = s.messages.iter().filter_map(|m| m["type"].as_str()).collect();
            format!(
                "client {}: peerId {:?}, ws messages {:?}, offers answered {}, ICE {:?}, DTLS connected {}, \
                 send mids {:?}, frames sent {:?}, received {:?}, keyframe requests {}, problems {:?}",
                self.name,
                s.peer_id,
                types,
                s.offers_answered,
                s.ice_states,
                s.connected,
                s.send_mids,
                s.frames_sent,
                s.received.iter().map(|((p, k), r)| (format!("{p}/{k}"), r.frames)).collect::<BTreeMap<_, _>>(),
                s.keyframe_requests,
                s.problems
            )
        })
    }
}

async fn drive(
    name: String,
    rtc: Rtc,
    socket: UdpSocket,
    ws: Ws,
    shared: Arc<Mutex<Shared>>,
    cmds: mpsc::UnboundedReceiver<Cmd>,
) {
    if let Err(e) = drive_inner(&name, rtc, socket, ws, &shared, cmds).await {
        shared.lock().unwrap().problem(format!("client {name} stopped: {e:#}"));
    }
}

struct Sending {
    next_audio: Instant,
    next_video: Instant,
    audio_n: u32,
    video_n: u32,
}

async fn drive_inner(
    name: &str,
    mut rtc: Rtc,
    socket: UdpSocket,
    mut ws: Ws,
    shared: &Arc<Mutex<Shared>>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) -> Result<()> {
    let local = socket.local_addr()?;
    let mut buf = vec![0u8; 2048];
    let mut sending: Option<Sending> = None;
    let mut leaving = false;
    loop {
        // Every mutation is followed by a full drain of str0m's output.
        let rtc_deadline = drain(&mut rtc, &socket, shared)?;
        let now = Instant::now();
        let (ready, audio_mid, video_mid) = {
            let s = shared.lock().unwrap();
            (s.connected, s.send_mids.get("audio").copied(), s.send_mids.get("video").copied())
        };
        if sending.is_none() && ready && !leaving && audio_mid.is_some() && video_mid.is_some() {
            sending = Some(Sending { next_audio: now, next_video: now, audio_n: 0, video_n: 0 });
        }
        if leaving {
            sending = None;
        }
        let mut deadline = rtc_deadline.min(now + Duration::from_millis(100));
        if let Some(s) = &sending {
            deadline = deadline.min(s.next_audio).min(s.next_video);
        }
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = received else { continue };
                let Ok(contents) = buf[..n].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: local, contents });
                rtc.handle_input(input)?;
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => on_server_message(&text, &mut rtc, &mut ws, shared).await?,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    shared.lock().unwrap().ws_closed = true;
                    return Ok(());
                }
                Some(Ok(_)) => {}
            },
            command = cmds.recv() => match command {
                None => return Ok(()),
                Some(Cmd::Text(text)) => ws.send(Message::text(text)).await?,
                Some(Cmd::Raw(bytes, to)) => {
                    socket.send_to(&bytes, to).await?;
                }
                Some(Cmd::Leave) => {
                    leaving = true;
                    ws.send(Message::text(json!({"type": "leave"}).to_string())).await?;
                }
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                match &mut sending {
                    Some(s) if now >= s.next_audio => {
                        let n = s.audio_n;
                        s.audio_n += 1;
                        s.next_audio = (s.next_audio + AUDIO_INTERVAL).max(now - AUDIO_INTERVAL * 5);
                        let time = MediaTime::new(u64::from(n) * 960, Frequency::FORTY_EIGHT_KHZ);
                        write_frame(&mut rtc, audio_mid.unwrap(), Codec::Opus, time, payload("audio", name, n))?;
                        *shared.lock().unwrap().frames_sent.entry("audio".into()).or_default() += 1;
                    }
                    Some(s) if now >= s.next_video => {
                        let n = s.video_n;
                        s.video_n += 1;
                        s.next_video = (s.next_video + VIDEO_INTERVAL).max(now - VIDEO_INTERVAL * 5);
                        let time = MediaTime::new(u64::from(n) * 3000, Frequency::NINETY_KHZ);
                        write_frame(&mut rtc, video_mid.unwrap(), Codec::Vp8, time, payload("video", name, n))?;
                        *shared.lock().unwrap().frames_sent.entry("video".into()).or_default() += 1;
                    }
                    _ => rtc.handle_input(Input::Timeout(now))?,
                }
            }
        }
    }
}

fn write_frame(rtc: &mut Rtc, mid: Mid, codec: Codec, time: MediaTime, data: Vec<u8>) -> Result<()> {
    let writer = rtc.writer(mid).with_context(|| format!("no writer for mid {mid}"))?;
    let pt = writer
        .payload_params()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
        .with_context(|| format!("{codec:?} not negotiated on mid {mid}"))?;
    writer.write(pt, Instant::now(), time, data).with_context(|| format!("write on mid {mid}"))?;
    Ok(())
}

/// Drains str0m's output: transmits go out on the socket, events into `shared`. Returns str0m's next
/// deadline.
fn drain(rtc: &mut Rtc, socket: &UdpSocket, shared: &Arc<Mutex<Shared>>) -> Result<Instant> {
    loop {
        match rtc.poll_output().context("poll_output")? {
            Output::Timeout(t) => return Ok(t),
            Output::Transmit(t) => {
                let _ = socket.try_send_to(&t.contents, t.destination);
            }
            Output::Event(e) => on_event(e, &mut shared.lock().unwrap()),
        }
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    if kind == MediaKind::Audio {
        "audio"
    } else {
        "video"
    }
}

fn on_event(event: Event, s: &mut Shared) {
    match event {
        Event::Connected => s.connected = true,
        Event::IceConnectionStateChange(state) => s.ice_states.push(format!("{state:?}")),
        // The server's recvonly sections are the ones this client sends on: microphone, camera, then a
        // screen-share section that stays unused here, so the first of each kind counts.
        Event::MediaAdded(m) if m.direction == Direction::SendOnly => {
            s.send_mids.entry(kind_name(m.kind).to_string()).or_insert(m.mid);
        }
        Event::KeyframeRequest(_) => s.keyframe_requests += 1,
        Event::MediaData(data) => {
            let mid = data.mid.to_string();
            let Some((kind, peer)) = s.mid_owner.get(&mid).cloned() else {
                return s.problem(format!("media on mid {mid}, which no offer announced as receiving"));
            };
            match check_payload(&kind, &data.data) {
                Ok((sender, n)) => {
                    let r = s.received.entry((peer, kind.clone())).or_default();
                    r.frames += 1;
                    r.senders.insert(sender.clone());
                    let previous = r.last_frame.replace(n);
                    // Loss may leave gaps; a frame that repeats or goes back means the relay duplicated or
                    // reordered packets (the sender's counter only grows).
                    if previous.is_some_and(|p| n <= p) {
                        s.problem(format!("{kind} frame {n} from {sender} on mid {mid} after frame {previous:?}"));
                    }
                }
                Err(why) => s.problem(format!("bad payload on mid {mid}: {why}")),
            }
        }
        _ => {}
    }
}

async fn on_server_message(text: &str, rtc: &mut Rtc, ws: &mut Ws, shared: &Arc<Mutex<Shared>>) -> Result<()> {
    let message: Value = serde_json::from_str(text).with_context(|| format!("server sent non-JSON: {text}"))?;
    let sdp = {
        let mut s = shared.lock().unwrap();
        s.messages.push(message.clone());
        match message["type"].as_str() {
            Some("joined") => {
                s.peer_id = message["peerId"].as_str().map(str::to_string);
                None
            }
            Some("offer") => {
                let sdp = message["sdp"].as_str().context("offer without sdp")?.to_string();
                let tracks = message["tracks"].as_array().context("offer without tracks")?;
                s.tracks.clear();
                for t in tracks {
                    let field =
                        |k: &str| t[k].as_str().map(str::to_string).with_context(|| format!("track without {k}: {t}"));
                    let track = Track {
                        kind: field("kind")?,
                        peer_id: field("peerId")?,
                        direction: field("direction")?,
                        active: t["active"].as_bool().context("track without active")?,
                    };
                    if track.direction == "recv" && track.active {
                        s.mid_owner.insert(field("mid")?, (track.kind.clone(), track.peer_id.clone()));
                    }
                    s.tracks.insert(field("mid")?, track);
                }
                s.server_ufrag = sdp.lines().find_map(|l| l.trim().strip_prefix("a=ice-ufrag:")).map(str::to_string);
                s.server_candidate = sdp.lines().find_map(|l| {
                    // a=candidate:<foundation> 1 udp <priority> <ip> <port> typ host
                    let f: Vec<&str> = l.trim().strip_prefix("a=candidate:")?.split_whitespace().collect();
                    format!("{}:{}", f.get(4)?, f.get(5)?).parse().ok()
                });
                Some(sdp)
            }
            _ => None,
        }
    };
    let Some(sdp) = sdp else { return Ok(()) };
    if std::env::var_os("MEET_E2E_SDP").is_some() {
        eprintln!("--- offer ---\n{sdp}");
    }
    // WORKAROUND (server bug, see the report): meet offers `a=setup:actpass` but its relay is always the
    // DTLS server and ignores the answer's `a=setup`. str0m, like any RFC 8842 answerer may, answers an
    // actpass offer with `passive`; then both sides wait for a ClientHello forever. Telling str0m the
    // server is passive makes it answer `active`, the role the relay assumes. A no-op once meet offers
    // `passive` itself; set MEET_E2E_KEEP_ACTPASS=1 to check a fix.
    let sdp = if std::env::var_os("MEET_E2E_KEEP_ACTPASS").is_some() {
        sdp
    } else {
        sdp.replace("a=setup:actpass", "a=setup:passive")
    };
    let offer = SdpOffer::from_sdp_string(&sdp).with_context(|| format!("str0m cannot parse the offer:\n{sdp}"))?;
    let answer = rtc.sdp_api().accept_offer(offer).with_context(|| format!("str0m refused the offer:\n{sdp}"))?;
    let answer = answer.to_sdp_string();
    if std::env::var_os("MEET_E2E_SDP").is_some() {
        eprintln!("--- answer ---\n{answer}");
    }
    {
        let mut s = shared.lock().unwrap();
        s.local_ufrag = answer.lines().find_map(|l| l.trim().strip_prefix("a=ice-ufrag:")).map(str::to_string);
        s.offers_answered += 1;
    }
    ws.send(Message::text(json!({"type": "answer", "sdp": answer}).to_string())).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------------

async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Call {
    room: String,
    a: Client,
    b: Client,
    a_id: String,
    b_id: String,
}

impl Call {
    fn summary(&self) -> String {
        format!("{}\n{}", self.a.summary(), self.b.summary())
    }

    fn ensure_no_problems(&self) -> Result<()> {
        let (pa, pb) = (self.a.problems(), self.b.problems());
        ensure!(pa.is_empty() && pb.is_empty(), "clients saw problems:\n{}", self.summary());
        Ok(())
    }
}

/// A and B join a fresh room and media flows both ways (at least a second of each stream).
async fn start_call(server: &Server) -> Result<Call> {
    let room = format!("serv0str0m{:016x}", rand::random::<u64>());
    let a = Client::join(server, &room, "A").await?;
    let a_id = wait_for("A's joined", Duration::from_secs(5), || a.state(|s| s.peer_id.clone()))
        .await
        .with_context(|| a.summary())?;
    let b = Client::join(server, &room, "B").await?;
    let b_id = wait_for("B's joined", Duration::from_secs(5), || b.state(|s| s.peer_id.clone()))
        .await
        .with_context(|| b.summary())?;
    ensure!(a_id != b_id, "A and B got the same peerId {a_id}");
    let b_joined = b.state(|s| s.messages.iter().find(|m| m["type"] == "joined").cloned()).unwrap();
    ensure!(
        b_joined["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["peerId"] == a_id.as_str() && p["displayName"] == "A")),
        "B's joined does not list A: {b_joined}"
    );
    let call = Call { room, a, b, a_id, b_id };

    let started = Instant::now();
    wait_for("audio and video both ways", Duration::from_secs(15), || {
        let enough = call.a.frames_from(&call.b_id, "audio") >= 50
            && call.a.frames_from(&call.b_id, "video") >= 30
            && call.b.frames_from(&call.a_id, "audio") >= 50
            && call.b.frames_from(&call.a_id, "video") >= 30;
        enough.then_some(())
    })
    .await
    .with_context(|| call.summary())?;
    eprintln!("media flows both ways after {:?}\n{}", started.elapsed(), call.summary());

    // Everything A got from B came from B's microphone and camera, byte for byte, and vice versa.
    for (rx, from, name) in [(&call.a, &call.b_id, "B"), (&call.b, &call.a_id, "A")] {
        for kind in ["audio", "video"] {
            let r = rx.received_from(from, kind);
            ensure!(
                r.senders == BTreeSet::from([name.to_string()]),
                "{} got {kind} attributed to {name} ({from}) that was sent by {:?}",
                rx.name,
                r.senders
            );
        }
        // The client's own sections are mids 0 (audio) and 1 (video), announced as "send".
        let tracks = rx.state(|s| s.tracks.clone());
        let own = |mid: &str, kind: &str| {
            tracks.get(mid).is_some_and(|t| t.kind == kind && t.direction == "send" && t.active)
        };
        ensure!(own("0", "audio") && own("1", "video"), "{}'s offer tracks: {tracks:?}", rx.name);
        let send_mids =
            rx.state(|s| s.send_mids.iter().map(|(k, m)| (k.clone(), m.to_string())).collect::<BTreeMap<_, _>>());
        ensure!(
            send_mids
                == BTreeMap::from([("audio".to_string(), "0".to_string()), ("video".to_string(), "1".to_string())]),
            "{} sends on mids {send_mids:?}",
            rx.name
        );
        let recv: Vec<(String, String)> = tracks
            .values()
            .filter(|t| t.direction == "recv" && t.active)
            .map(|t| (t.kind.clone(), t.peer_id.clone()))
            .collect();
        ensure!(
            recv.len() == 2
                && recv.iter().all(|(_, p)| p == from)
                && recv.iter().any(|(k, _)| k == "audio")
                && recv.iter().any(|(k, _)| k == "video"),
            "{}'s offer should receive audio and video of {from} only: {tracks:?}",
            rx.name
        );
    }
    call.ensure_no_problems()?;
    Ok(call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn str0m_clients_call_through_meet() {
    let server = Server::start().await.expect("meet-control starts");
    let started = Instant::now();
    if let Err(e) = call_scenario(&server).await {
        panic!("{e:#}\n--- meet-control log (tail) ---\n{}", server.log_tail(80));
    }
    eprintln!("call scenario passed in {:?}", started.elapsed());
}

async fn call_scenario(server: &Server) -> Result<()> {
    let call = start_call(server).await?;
    let Call { room, a, b, a_id, b_id } = &call;

    // The relay reports the room with both peers connected and producing.
    let (status, body) = server.get(&format!("/debug/relay/rooms/{room}")).await?;
    ensure!(status == 200, "GET /debug/relay/rooms/{room}: {status} {body}");
    let dump: Value = serde_json::from_str(&body)?;
    let peers = dump["peers"].as_array().context("dump without peers")?;
    ensure!(peers.len() == 2, "relay dump: {dump}");
    for p in peers {
        ensure!(p["connected"] == true, "peer not connected in the relay dump: {dump}");
        let producers = p["producers"].as_array().context("no producers")?;
        ensure!(
            // Microphone and camera flow to the one other peer; the screen-share producer stays idle.
            ["audio", "video"].iter().all(|kind| producers.iter().any(|pr| pr["producer"]
                .as_str()
                .is_some_and(|id| id.ends_with(&format!("/{kind}")))
                && pr["packets"].as_u64().unwrap_or(0) > 0
                && pr["consumers"] == 1))
                && producers.iter().all(|pr| pr["producer"].as_str().is_some_and(|id| id.ends_with("/screen"))
                    == (pr["packets"] == 0)),
            "each peer should send microphone and camera to one consumer each, and no screen: {dump}"
        );
    }

    // B leaves: A hears of it, then gets an offer with B's sections inactive.
    let b_mids: Vec<String> =
        a.state(|s| s.tracks.iter().filter(|(_, t)| t.active && t.peer_id == *b_id).map(|(m, _)| m.clone()).collect());
    b.leave();
    let left_at = wait_for("A's peerLeft for B", Duration::from_secs(5), || {
        a.state(|s| s.messages.iter().position(|m| m["type"] == "peerLeft" && m["peerId"] == b_id.as_str()))
    })
    .await
    .with_context(|| call.summary())?;
    let offer = wait_for("A's offer with B's sections inactive", Duration::from_secs(5), || {
        a.state(|s| s.messages[left_at..].iter().find(|m| m["type"] == "offer").cloned())
    })
    .await
    .with_context(|| call.summary())?;
    for mid in &b_mids {
        let track = offer["tracks"].as_array().and_then(|t| t.iter().find(|t| t["mid"] == mid.as_str()));
        ensure!(
            track.is_some_and(|t| t["active"] == false && t["direction"] == "recv"),
            "after B left, mid {mid} should be an inactive recv section: {offer}"
        );
    }
    ensure!(
        offer["tracks"].as_array().unwrap().iter().all(|t| !(t["peerId"] == b_id.as_str() && t["active"] == true)),
        "an offer after B left still has B's tracks active: {offer}"
    );
    wait_for("B's WebSocket to close after leave", Duration::from_secs(5), || b.state(|s| s.ws_closed.then_some(())))
        .await
        .with_context(|| call.summary())?;
    wait_for("A to answer the offer", Duration::from_secs(5), || {
        a.state(|s| (s.offers_answered == s.messages.iter().filter(|m| m["type"] == "offer").count()).then_some(()))
    })
    .await?;

    // Nothing of B reaches A any more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (audio, video) = (a.frames_from(b_id, "audio"), a.frames_from(b_id, "video"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(
        (a.frames_from(b_id, "audio"), a.frames_from(b_id, "video")) == (audio, video),
        "A still receives B's media after B left: {}",
        a.summary()
    );
    // The relay holds A only.
    let (status, body) = server.get(&format!("/debug/relay/rooms/{room}")).await?;
    let dump: Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && dump["peers"].as_array().is_some_and(|p| p.len() == 1 && p[0]["peer"] == a_id.as_str()),
        "relay dump after B left: {status} {dump}"
    );

    // A leaves: the relay forgets the room.
    a.leave();
    wait_for("A's WebSocket to close after leave", Duration::from_secs(5), || a.state(|s| s.ws_closed.then_some(())))
        .await
        .with_context(|| call.summary())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let last = server.get(&format!("/debug/relay/rooms/{room}")).await?;
        if last.0 == 404 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "GET /debug/relay/rooms/{room} still answers {} {} 5 s after the last participant left",
                last.0,
                last.1
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = server.stats().await?;
    ensure!(stats["rooms"] == 0 && stats["peers"] == 0, "relay still holds rooms or peers: {stats}");
    call.ensure_no_problems()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_does_not_disturb_a_call() {
    let mut server = Server::start().await.expect("meet-control starts");
    let started = Instant::now();
    if let Err(e) = garbage_scenario(&mut server).await {
        panic!("{e:#}\n--- meet-control log (tail) ---\n{}", server.log_tail(80));
    }
    eprintln!("garbage scenario passed in {:?}", started.elapsed());
}

async fn garbage_scenario(server: &mut Server) -> Result<()> {
    let call = start_call(server).await?;
    let Call { a, b, a_id, b_id, .. } = &call;
    let before = server.stats().await?;

    // --- The media port ---
    let attacker = UdpSocket::bind("127.0.0.1:0").await?;
    // The media core that serves this room.
    let target = a.state(|s| s.server_candidate).context("no candidate in A's offer")?;
    ensure!(
        target.ip().is_loopback() && (server.media_port..server.media_port + CORES).contains(&target.port()),
        "the offer's candidate {target} is not one of the media ports {}..{}",
        server.media_port,
        server.media_port + CORES
    );
    let mut rng = rand::rng();
    let (mut stun, mut dtls, mut srtp, mut unknown) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..1000 {
        let len = rng.random_range(0..1500);
        let mut datagram = vec![0u8; len];
        rng.fill(&mut datagram[..]);
        match meet_media::demux::classify(&datagram) {
            meet_media::demux::PacketKind::Stun => stun += 1,
            meet_media::demux::PacketKind::Dtls => dtls += 1,
            meet_media::demux::PacketKind::Rtp | meet_media::demux::PacketKind::Rtcp => srtp += 1,
            meet_media::demux::PacketKind::Unknown => unknown += 1,
        }
        attacker.send_to(&datagram, target).await?;
        if i % 20 == 19 {
            // Stay below the server's socket buffer: these should reach the relay, not the kernel's floor.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let (server_ufrag, a_ufrag) = a.state(|s| (s.server_ufrag.clone(), s.local_ufrag.clone()));
    let (server_ufrag, a_ufrag) = (server_ufrag.context("no server ufrag")?, a_ufrag.context("no local ufrag")?);
    let mut out = [0u8; 512];
    // A Binding request for A's session with a wrong password.
    let n = meet_media::stun::write_binding_request(
        &rand::random(),
        &format!("{server_ufrag}:{a_ufrag}"),
        b"not-the-password-at-all",
        0x6e00_1eff,
        rand::random(),
        true,
        &mut out,
    )?;
    attacker.send_to(&out[..n], target).await?;
    // One for a ufrag the relay never issued.
    let n =
        meet_media::stun::write_binding_request(&rand::random(), "nosuchufrag:whoever", b"pw", 1, 1, true, &mut out)?;
    attacker.send_to(&out[..n], target).await?;
    // SRTP-looking from an address that never passed ICE.
    let mut rtp = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    rtp.extend_from_slice(&[0u8; 40]);
    attacker.send_to(&rtp, target).await?;
    // A truncated DTLS record (handshake content type, version, no more).
    attacker.send_to(&[22, 0xfe, 0xfd, 0, 0], target).await?;

    // Datagrams from A's own address, as an off-path attacker spoofing it would send: a truncated DTLS
    // record, a DTLS application-data record that cannot decrypt, a plaintext fatal alert, and an SRTP
    // packet with a bad authentication tag. None may end A's session.
    a.send_raw(vec![22, 0xfe, 0xfd, 0, 0], target);
    let mut record = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0x10, 0, 0, 32];
    record.extend_from_slice(&[0x55; 32]);
    a.send_raw(record, target);
    a.send_raw(vec![21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 2, 2, 40], target);
    a.send_raw(rtp.clone(), target);

    // The relay counts every drop; it is still serving.
    let names = [
        "drop_stun_malformed",
        "drop_stun_unexpected",
        "drop_stun_unknown_user",
        "drop_stun_integrity",
        "drop_dtls_unknown_addr",
        "drop_srtp_unknown_addr",
        "drop_unknown_kind",
        "drop_srtp_auth",
        "drop_dtls_failed",
        "datagrams_in",
    ];
    let delta = |after: &Value, name: &str| -> Result<u64> { Ok(counter(after, name)? - counter(&before, name)?) };
    let mut after;
    let expectations = |after: &Value| -> Result<Vec<String>> {
        let mut unmet = Vec::new();
        let stun_drops = delta(after, "drop_stun_malformed")?
            + delta(after, "drop_stun_unexpected")?
            + delta(after, "drop_stun_unknown_user")?
            + delta(after, "drop_stun_integrity")?;
        let checks = [
            ("drop_stun_integrity", delta(after, "drop_stun_integrity")?, 1),
            ("drop_stun_unknown_user", delta(after, "drop_stun_unknown_user")?, 1),
            ("drop_srtp_unknown_addr", delta(after, "drop_srtp_unknown_addr")?, srtp + 1),
            ("drop_dtls_unknown_addr", delta(after, "drop_dtls_unknown_addr")?, dtls + 1),
            ("drop_unknown_kind", delta(after, "drop_unknown_kind")?, unknown),
            ("STUN drops", stun_drops, stun + 2),
            ("drop_srtp_auth", delta(after, "drop_srtp_auth")?, 1),
            ("datagrams_in", delta(after, "datagrams_in")?, 1008),
        ];
        for (name, got, want) in checks {
            if got < want {
                unmet.push(format!("{name} rose by {got}, expected at least {want}"));
            }
        }
        Ok(unmet)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        after = server.stats().await?;
        let unmet = expectations(&after)?;
        if unmet.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let deltas: BTreeMap<&str, u64> = names.iter().map(|n| (*n, delta(&after, n).unwrap_or(0))).collect();
            bail!(
                "drop counters after 1008 garbage datagrams ({stun} STUN, {dtls} DTLS, {srtp} SRTP, {unknown} unknown, \
                 4 crafted, 4 spoofed from A): {unmet:?}; deltas {deltas:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deltas: BTreeMap<&str, u64> = names.iter().map(|n| (*n, delta(&after, n).unwrap_or(0))).collect();
    eprintln!(
        "garbage sent: {stun} STUN, {dtls} DTLS, {srtp} SRTP, {unknown} unknown, 4 crafted, 4 spoofed from A; \
         counter deltas {deltas:?}"
    );
    ensure!(server.alive(), "meet-control died after the garbage");
    ensure!(after["peers"] == 2, "the relay lost a peer to the garbage: {after}");

    // Media keeps flowing both ways for 2 more seconds.
    let snapshot = |c: &Client, from: &str| (c.frames_from(from, "audio"), c.frames_from(from, "video"));
    let (a0, b0) = (snapshot(a, b_id), snapshot(b, a_id));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (a1, b1) = (snapshot(a, b_id), snapshot(b, a_id));
    for (who, before, after) in [("A", a0, a1), ("B", b0, b1)] {
        ensure!(
            after.0 - before.0 >= 60 && after.1 - before.1 >= 35,
            "{who} received only {} audio and {} video frames in the 2 s after the garbage\n{}",
            after.0 - before.0,
            after.1 - before.1,
            call.summary()
        );
    }
    ensure!(server.alive(), "meet-control died");

    // --- The WebSocket ---
    let errors_before = a.state(|s| s.messages.len());
    a.send_text("this is not JSON {");
    a.send(json!({"type": "teleport", "where": "moon"}));
    a.send(json!({"type": "answer", "sdp": "garbage"}));
    // A well-formed answer when no offer is waiting.
    a.send(json!({"type": "answer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"}));
    let codes = wait_for("four error replies", Duration::from_secs(5), || {
        let codes: Vec<String> = a.state(|s| {
            s.messages[errors_before..]
                .iter()
                .filter(|m| m["type"] == "error")
                .map(|m| m["code"].as_str().unwrap_or("?").to_string())
                .collect()
        });
        (codes.len() >= 4).then_some(codes)
    })
    .await
    .with_context(|| a.summary())?;
    ensure!(
        codes == ["bad-request", "bad-request", "bad-answer", "unexpected-answer"],
        "error codes for [non-JSON, unknown type, garbage SDP, unexpected answer]: {codes:?}"
    );
    ensure!(!a.state(|s| s.ws_closed), "the server closed A's socket after bad messages");
    // The session continues: a rename reaches B, and media still flows.
    a.send(json!({"type": "setName", "displayName": "Alice"}));
    wait_for("B to see A renamed", Duration::from_secs(5), || {
        b.state(|s| {
            s.messages
                .iter()
                .any(|m| {
                    m["type"] == "peerUpdated"
                        && m["peer"]["peerId"] == a_id.as_str()
                        && m["peer"]["displayName"] == "Alice"
                })
                .then_some(())
        })
    })
    .await
    .with_context(|| call.summary())?;
    let a2 = snapshot(a, b_id);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a3 = snapshot(a, b_id);
    ensure!(a3.0 > a2.0 && a3.1 > a2.1, "A's media stopped after the WebSocket garbage: {}", a.summary());
    ensure!(server.alive(), "meet-control died");
    call.ensure_no_problems()?;
    Ok(())
}
