//! Janus 1.1 VideoRoom (Debian's `janus` package) as a peer SFU: configured in a temporary directory
//! (HTTP transport on loopback, ICE-lite like meet's relay, only the VideoRoom plugin), pinned to the
//! media core, driven over its HTTP API with long polls for events.
//!
//! Janus negotiates differently from meet: a publisher offers (we write the offer, `setup:active`, so our
//! peers stay DTLS clients) and Janus answers; a subscriber handle gets Janus's offer and answers. A
//! meeting participant is therefore two simulated transports (one publishing, one subscribing to every
//! other feed), as in Janus's own clients.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::load::Remote;
use crate::runner::{self, Generator, LoadOptions, Measured, Scenario};
use crate::sdp;
use crate::{net, systems};

pub fn available() -> Result<PathBuf, String> {
    let p = PathBuf::from("/usr/bin/janus");
    if !p.is_file() {
        return Err("janus is not installed (apt-get install -y janus)".into());
    }
    if plugins_dir().is_none() {
        return Err("janus is installed but its plugins folder was not found".into());
    }
    Ok(p)
}

fn plugins_dir() -> Option<PathBuf> {
    ["/usr/lib/x86_64-linux-gnu/janus", "/usr/lib/aarch64-linux-gnu/janus", "/usr/lib/janus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("plugins/libjanus_videoroom.so").is_file())
}

fn write_config(dir: &Path, http_port: u16) -> anyhow::Result<()> {
    let lib = plugins_dir().context("janus plugins folder")?;
    let main = format!(
        r#"general: {{
	configs_folder = "{dir}"
	plugins_folder = "{lib}/plugins"
	transports_folder = "{lib}/transports"
	events_folder = "{lib}/events"
	loggers_folder = "{lib}/loggers"
	debug_level = 3
	admin_secret = "unused-{rand}"
	session_timeout = 120
}}
certificates: {{
}}
media: {{
	rtp_port_range = "30000-39999"
	no_media_timer = 0
}}
nat: {{
	nice_debug = {nice_debug}
	ice_lite = true
	ignore_mdns = true
	ice_enforce_list = "127.0.0.1"
}}
plugins: {{
	disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
}}
transports: {{
	disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_websockets.so"
}}
events: {{
	broadcast = false
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
"#,
        dir = dir.display(),
        lib = lib.display(),
        rand = rand::random::<u32>(),
        nice_debug = std::env::var_os("MEET_BENCH_NICE_DEBUG").is_some(),
    );
    std::fs::write(dir.join("janus.jcfg"), main)?;
    std::fs::write(
        dir.join("janus.transport.http.jcfg"),
        format!(
            "general: {{\n\tjson = \"plain\"\n\tbase_path = \"/janus\"\n\thttp = true\n\tport = {http_port}\n\tip = \"127.0.0.1\"\n\thttps = false\n}}\nadmin: {{\n\tadmin_http = false\n}}\ncors: {{\n}}\n"
        ),
    )?;
    std::fs::write(dir.join("janus.plugin.videoroom.jcfg"), "general: {\n}\n")?;
    Ok(())
}

/// A tiny blocking HTTP/1.1 client (one request per connection).
fn http(port: u16, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> anyhow::Result<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let (head, rest) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "HTTP error: {head}");
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    Ok(serde_json::from_str(&body).with_context(|| format!("bad JSON from janus: {body}"))?)
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// One Janus session with a long-poll thread that files events by handle.
struct Session {
    port: u16,
    id: u64,
    events: Arc<(Mutex<HashMap<u64, Vec<Value>>>, Condvar)>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Session {
    fn create(port: u16) -> anyhow::Result<Self> {
        let r = http(
            port,
            "POST",
            "/janus",
            Some(&json!({"janus": "create", "transaction": tx()})),
            Duration::from_secs(5),
        )?;
        let id = r["data"]["id"].as_u64().with_context(|| format!("create session: {r}"))?;
        let events: Arc<(Mutex<HashMap<u64, Vec<Value>>>, Condvar)> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ev, st) = (events.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(v) = http(port, "GET", &format!("/janus/{id}?maxev=50"), None, Duration::from_secs(40)) else {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                let list = match v {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                let (lock, cv) = &*ev;
                let mut map = lock.lock().unwrap();
                for e in list {
                    if let Some(sender) = e["sender"].as_u64() {
                        map.entry(sender).or_default().push(e);
                    }
                }
                cv.notify_all();
            }
        });
        Ok(Session { port, id, events, stop })
    }

    fn attach(&self) -> anyhow::Result<u64> {
        let r = self.post(None, json!({"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": tx()}))?;
        r["data"]["id"].as_u64().with_context(|| format!("attach: {r}"))
    }

    fn post(&self, handle: Option<u64>, body: Value) -> anyhow::Result<Value> {
        let path = match handle {
            Some(h) => format!("/janus/{}/{h}", self.id),
            None => format!("/janus/{}", self.id),
        };
        http(self.port, "POST", &path, Some(&body), Duration::from_secs(10))
    }

    /// A synchronous plugin request (create room, ...): the answer is in plugindata.
    fn request(&self, handle: u64, body: Value) -> anyhow::Result<Value> {
        let r = self.post(Some(handle), json!({"janus": "message", "transaction": tx(), "body": body}))?;
        Ok(r["plugindata"]["data"].clone())
    }

    /// An asynchronous plugin message; the returned value is the event that carries a result or JSEP.
    fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
        want: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let mut m = json!({"janus": "message", "transaction": tx(), "body": body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        let r = self.post(Some(handle), m)?;
        anyhow::ensure!(r["janus"] == "ack" || r["janus"] == "success", "janus refused: {r}");
        if r["janus"] == "success" && want(&r) {
            return Ok(r);
        }
        self.wait_event(handle, Duration::from_secs(20), want)
    }

    fn wait_event(&self, handle: u64, timeout: Duration, want: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.events;
        let mut map = lock.lock().unwrap();
        loop {
            if let Some(list) = map.get_mut(&handle) {
                if let Some(i) = list.iter().position(&want) {
                    return Ok(list.remove(i));
                }
                if let Some(err) = list.iter().find(|e| e["plugindata"]["data"]["error"].is_string()) {
                    anyhow::bail!("janus error: {}", err["plugindata"]["data"]["error"]);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                anyhow::bail!("no expected event from janus handle {handle}");
            }
            map = cv.wait_timeout(map, deadline - now).unwrap().0;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.post(None, json!({"janus": "destroy", "transaction": tx()}));
    }
}

fn tx() -> String {
    format!("{:x}", rand::random::<u64>())
}

/// The publisher's offer: audio and/or video, sendonly, our only candidate.
/// This host's address on its default route: Janus's ICE agent skips loopback interfaces, so its
/// candidates are on this address (traffic to it still goes through the loopback device).
fn primary_ip() -> std::net::Ipv4Addr {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.255:9").or_else(|_| s.connect("8.8.8.8:53"))?;
            s.local_addr()
        })
        .ok()
        .and_then(|a| match a.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
            _ => None,
        })
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST)
}

fn publisher_offer(info: &runner::PeerInfo, fingerprint: &str, ip: std::net::Ipv4Addr) -> String {
    let mut s = String::from("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    let mut mids = Vec::new();
    let sections: Vec<(&str, u32, u8, &str)> = [
        info.audio_ssrc.map(|ssrc| ("audio", ssrc, 111u8, "opus/48000/2")),
        info.video_ssrc.map(|ssrc| ("video", ssrc, 96u8, "VP8/90000")),
    ]
    .into_iter()
    .flatten()
    .collect();
    for i in 0..sections.len() {
        mids.push(i.to_string());
    }
    let _ = write!(s, "a=group:BUNDLE {}\r\na=msid-semantic: WMS bench\r\n", mids.join(" "));
    for (i, (kind, ssrc, pt, codec)) in sections.iter().enumerate() {
        let _ = write!(
            s,
            "m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 127.0.0.1\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
             a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:{fingerprint}\r\na=setup:active\r\na=mid:{i}\r\n\
             a=sendonly\r\na=msid:bench track{i}\r\na=rtcp-mux\r\na=rtpmap:{pt} {codec}\r\n\
             a=ssrc:{ssrc} cname:x\r\na=ssrc:{ssrc} msid:bench track{i}\r\n",
            info.ufrag, info.pwd
        );
        if i == 0 {
            let _ = write!(s, "a=candidate:1 1 udp 2130706431 {ip} {} typ host\r\na=end-of-candidates\r\n", info.port);
        }
    }
    s
}

fn remote_of(sdp_text: &str) -> anyhow::Result<Remote> {
    let o = sdp::parse_offer(sdp_text)?;
    Ok(Remote::Ice {
        addr: o.candidate.context("janus gave no candidate")?,
        remote_ufrag: o.ice_ufrag,
        remote_pwd: o.ice_pwd,
    })
}

pub fn run(bin: &Path, scenario: &Scenario, load: &LoadOptions, core: usize) -> anyhow::Result<(Value, Value)> {
    let dir = systems::temp_dir("janus")?;
    let http_port = systems::free_tcp_port()?;
    write_config(&dir, http_port)?;
    let mut cmd = systems::pinned(Some(core), bin);
    cmd.arg("-C")
        .arg(dir.join("janus.jcfg"))
        .arg("-F")
        .arg(&dir)
        .arg("-o")
        .arg("-d")
        .arg(std::env::var("MEET_BENCH_JANUS_DEBUG").unwrap_or_else(|_| "3".into()));
    let mut janus = systems::spawn("janus", cmd, &dir)?;
    systems::wait_for("janus HTTP API", Duration::from_secs(15), || {
        http(http_port, "GET", "/janus/info", None, Duration::from_secs(1)).is_ok()
    })
    .with_context(|| format!("janus did not start; see {}/janus.log", dir.display()))?;
    janus.check_alive()?;
    std::thread::sleep(Duration::from_millis(300));
    let pid = janus.pid();
    let rss_idle = net::process_rss_bytes(pid).ok();

    // Meeting participants publish and subscribe on separate transports.
    let split = scenario.publishers > 1;
    let ip = primary_ip();
    let generator = Generator::new_split(scenario, load.workers, split, ip)?;
    let session = Session::create(http_port)?;
    let admin = session.attach()?;
    let room: u64 = 1000 + rand::random::<u32>() as u64;
    let created = session.request(
        admin,
        json!({"request": "create", "room": room, "publishers": scenario.publishers + 1, "audiocodec": "opus",
               "videocodec": "vp8", "bitrate": 0, "notify_joining": false, "permanent": false}),
    )?;
    anyhow::ensure!(created["videoroom"] == "created", "create room: {created}");

    let result =
        runner::measure("janus", scenario, load, &generator, Some(Measured { pid, core: Some(core) }), rss_idle, |g| {
            let mut feeds: Vec<u64> = Vec::new();
            for i in 0..scenario.publishers {
                let info = &g.peers[i];
                let handle = session.attach()?;
                let joined = session.message(
                    handle,
                    json!({"request": "join", "ptype": "publisher", "room": room, "display": format!("p{i}")}),
                    None,
                    |e| e["plugindata"]["data"]["videoroom"] == "joined",
                )?;
                feeds.push(joined["plugindata"]["data"]["id"].as_u64().context("publisher id")?);
                let offer = publisher_offer(info, &g.identity.fingerprint, ip);
                let answer = session.message(
                handle,
                json!({"request": "publish", "audio": info.audio_ssrc.is_some(), "video": info.video_ssrc.is_some()}),
                Some(json!({"type": "offer", "sdp": offer})),
                |e| e["jsep"]["type"] == "answer",
            )?;
                if std::env::var_os("MEET_BENCH_DEBUG").is_some() {
                    eprintln!(
                        "janus answer for publisher {i}:\n{}",
                        answer["jsep"]["sdp"].as_str().unwrap_or_default()
                    );
                }
                g.start(i, remote_of(answer["jsep"]["sdp"].as_str().unwrap_or_default())?);
            }
            // A feed can be subscribed to once its transport is up.
            let shared = g.shared.clone();
            systems::wait_for("janus publishers", Duration::from_secs(30), || {
                shared.states[..scenario.publishers]
                    .iter()
                    .all(|s| s.load(std::sync::atomic::Ordering::Relaxed) == crate::load::STATE_CONNECTED)
            })?;
            std::thread::sleep(Duration::from_millis(300));
            // Receivers: webinar viewers, or each meeting participant's receiving transport.
            for r in scenario.publishers..g.peers.len() {
                let info = &g.peers[r];
                let skip = if split { Some(r - scenario.publishers) } else { None };
                let streams: Vec<Value> = feeds
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| Some(*k) != skip)
                    .map(|(_, f)| json!({"feed": f}))
                    .collect();
                let handle = session.attach()?;
                let offer = session.message(
                    handle,
                    json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams}),
                    None,
                    |e| e["jsep"]["type"] == "offer",
                )?;
                let offer_sdp = offer["jsep"]["sdp"].as_str().unwrap_or_default();
                let parsed = sdp::parse_offer(offer_sdp)?;
                let local = sdp::Local {
                    ufrag: &info.ufrag,
                    pwd: &info.pwd,
                    fingerprint: &g.identity.fingerprint,
                    audio_ssrc: None,
                    video_ssrc: None,
                };
                let mut answer = sdp::write_answer(&parsed, &local);
                let _ = write!(answer, "a=candidate:1 1 udp 2130706431 {ip} {} typ host\r\n", info.port);
                session.message(
                    handle,
                    json!({"request": "start"}),
                    Some(json!({"type": "answer", "sdp": answer})),
                    |e| e["plugindata"]["data"]["started"] == "ok" || e["plugindata"]["data"]["videoroom"] == "event",
                )?;
                g.start(r, remote_of(offer_sdp)?);
            }
            runner::wait_connected(g, Duration::from_secs(60), || true)?;
            // Janus starts forwarding once each transport is up; give it a moment before measuring.
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        });
    generator.stop();
    drop(session);
    drop(janus);
    let setup = json!({
        "command": format!("taskset -c {core} janus -C <dir>/janus.jcfg -F <dir> (ice_lite, HTTP API on loopback, VideoRoom only)"),
        "version": "1.1.2 (Debian)",
        "logs": dir.display().to_string(),
        "transports_per_participant": if split { 2 } else { 1 },
    });
    Ok((result?, setup))
}
