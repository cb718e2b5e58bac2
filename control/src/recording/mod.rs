//! Recording rooms: when (moderators with `canRecord`, and `[recording] auto`), where (one directory
//! per video under `[recording] dir`, named by a random 128-bit token), and what follows (conversion to
//! MP4 and HLS, the `videos` table, webhooks). The relay writes the track files (`meet_relay::record`);
//! this module tells it when, writes the layout log beside them, and converts them at the end.
//!
//! Layout: [`config`] (`[recording]`), [`schedule`] (when rooms record: a state machine on a clock
//! passed in), [`layout`] (the layout log), [`convert`] (ffmpeg), [`routes`] (the video API, files
//! and player page). The task here ([`Recordings`]) hears room news (joins and leaves) and
//! moderators' requests, and acts on what the schedule decides.
//!
//! Files of video `<token>`: `<dir>/<token>/raw/` (tracks, `tracks.jsonl`, `layout.jsonl`) and
//! `<dir>/<token>/out/` (`video.mp4`, `master.m3u8`, `index.m3u8`, segments), served as
//! `/videos/<token>/...`.

pub mod config;
pub mod convert;
pub mod layout;
pub mod routes;
pub mod schedule;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meet_relay::protocol::{ErrorCode, Request, Response};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::rooms::{Registry, RoomNews};
use crate::signalling::messages::ServerMessage;
use crate::store::{blocking, now_ms, SharedStore};
use crate::webhooks::Webhooks;
use layout::LayoutEvent;
use schedule::{Action, Schedule};

/// How long the relay's recorder gets to write what it holds after a part ends, before conversion.
const SETTLE: Duration = Duration::from_secs(3);

/// A refusal a page shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("Recording is not available on this server: {0}")]
    Unavailable(String),
    #[error("Only a moderator allowed to record (canRecord) can start or stop recording")]
    NotAllowed,
    #[error("The room is already being recorded")]
    AlreadyRecording,
    #[error("The room is not being recorded")]
    NotRecording,
}

impl RecordError {
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Unavailable(_) => "recording-unavailable",
            RecordError::NotAllowed => "forbidden",
            RecordError::AlreadyRecording | RecordError::NotRecording => "bad-request",
        }
    }
}

enum Command {
    Start { room: String, reply: oneshot::Sender<Result<(), RecordError>> },
    Stop { room: String, reply: oneshot::Sender<Result<(), RecordError>> },
    IsRecording { room: String, reply: oneshot::Sender<bool> },
}

/// The recording service: cheap to clone.
#[derive(Clone)]
pub struct Recordings {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    /// `None` with the reason when recording cannot work here (directory not writable).
    dir: Result<PathBuf, String>,
    pub store: SharedStore,
    /// This host (`[cluster] host_id`): videos record where their files are.
    host_id: String,
    /// Until [`Recordings::start`] takes them.
    pending: Mutex<Option<(mpsc::UnboundedReceiver<Command>, mpsc::UnboundedReceiver<RoomNews>)>>,
    news: mpsc::UnboundedSender<RoomNews>,
}

impl Recordings {
    /// Checks that `dir` can be written (else recording is off, with a clear error in the log, and calls
    /// go on); the returned service starts working with [`Recordings::start`].
    pub fn new(dir: PathBuf, store: SharedStore, host_id: String) -> Self {
        let dir = check_dir(&dir).map(|()| dir.clone()).map_err(|e| {
            tracing::error!(dir = %dir.display(), error = %e, "[recording] dir is not writable: recording is off (calls are not affected)");
            format!("the recording directory {} is not writable ({e})", dir.display())
        });
        if dir.is_ok() && std::process::Command::new("ffmpeg").arg("-version").output().is_err() {
            tracing::warn!(
                "ffmpeg is not installed: recordings will be kept but not converted (apt-get install ffmpeg)"
            );
        }
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (news, news_rx) = mpsc::unbounded_channel();
        Recordings {
            inner: Arc::new(Inner {
                commands,
                dir,
                store,
                host_id,
                pending: Mutex::new(Some((command_rx, news_rx))),
                news,
            }),
        }
    }

    /// The room registry's observer for this service.
    pub fn observer(&self) -> mpsc::UnboundedSender<RoomNews> {
        self.inner.news.clone()
    }

    /// The directory of recordings, if recording works here.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref().ok()
    }

    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    /// Starts the task that acts on the schedule (once).
    pub fn start(&self, registry: Registry, webhooks: Option<Arc<Webhooks>>, timing: schedule::Timing) {
        let Some((commands, news)) = self.inner.pending.lock().expect("recording lock").take() else { return };
        let Ok(dir) = self.inner.dir.clone() else {
            // Still answers requests, with the reason.
            let reason = self.inner.dir.clone().err().unwrap_or_default();
            tokio::spawn(refuse_all(commands, news, reason));
            return;
        };
        let worker = Worker {
            schedule: Schedule::new(timing),
            registry,
            store: self.inner.store.clone(),
            host_id: self.inner.host_id.clone(),
            webhooks,
            dir,
            present: HashMap::new(),
            active: HashMap::new(),
            conversions: Arc::new(Semaphore::new(1)),
        };
        tokio::spawn(worker.run(commands, news));
    }

    /// A moderator's Record (`start`) or Stop; `allowed`: the participant is a moderator with `canRecord`.
    pub async fn request(&self, room: &str, allowed: bool, start: bool) -> Result<(), RecordError> {
        if let Err(reason) = &self.inner.dir {
            return Err(RecordError::Unavailable(reason.clone()));
        }
        if !allowed {
            return Err(RecordError::NotAllowed);
        }
        let (reply, answer) = oneshot::channel();
        let room = room.to_string();
        let command = if start { Command::Start { room, reply } } else { Command::Stop { room, reply } };
        let _ = self.inner.commands.send(command);
        answer.await.unwrap_or_else(|_| Err(RecordError::Unavailable("the recording task stopped".into())))
    }

    pub async fn is_recording(&self, room: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        let _ = self.inner.commands.send(Command::IsRecording { room: room.to_string(), reply });
        answer.await.unwrap_or(false)
    }
}

/// A page's `startRecording` (`start`) or `stopRecording`: a refusal goes back to the page as an `error`.
pub async fn page_request(
    recordings: Option<&Recordings>,
    room: &str,
    allowed: bool,
    start: bool,
    out: &crate::signalling::outbox::Outbox,
) {
    let result = match recordings {
        Some(r) => r.request(room, allowed, start).await,
        None => Err(RecordError::Unavailable("recording is not set up".into())),
    };
    if let Err(e) = result {
        tracing::info!(room, error = %e, "recording request refused");
        let _ = out.send(ServerMessage::error(e.code(), e.to_string()));
    }
}

/// Creates the directory if needed and writes a file in it.
fn check_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".meet-write-test");
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(&probe)
}

async fn refuse_all(
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut news: mpsc::UnboundedReceiver<RoomNews>,
    reason: String,
) {
    loop {
        tokio::select! {
            c = commands.recv() => match c {
                Some(Command::Start { reply, .. } | Command::Stop { reply, .. }) => {
                    let _ = reply.send(Err(RecordError::Unavailable(reason.clone())));
                }
                Some(Command::IsRecording { reply, .. }) => { let _ = reply.send(false); }
                None => return,
            },
            n = news.recv() => if n.is_none() { return },
        }
    }
}

/// One video being recorded.
struct Active {
    video_id: i64,
    token: String,
    name: String,
    part: u32,
    /// Unix ms when the part started.
    started_ms: i64,
}

struct Worker {
    schedule: Schedule,
    registry: Registry,
    store: SharedStore,
    host_id: String,
    webhooks: Option<Arc<Webhooks>>,
    dir: PathBuf,
    /// Who is in each room (peer -> display name), from the news.
    present: HashMap<String, HashMap<String, String>>,
    active: HashMap<String, Active>,
    /// One conversion at a time: ffmpeg takes a core.
    conversions: Arc<Semaphore>,
}

impl Worker {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut news: mpsc::UnboundedReceiver<RoomNews>,
    ) {
        loop {
            let deadline = self.schedule.next_deadline();
            tokio::select! {
                c = commands.recv() => match c {
                    Some(c) => self.command(c),
                    None => return,
                },
                n = news.recv() => match n {
                    Some(n) => self.news(n).await,
                    None => return,
                },
                _ = sleep_until(deadline) => {}
            }
            for action in self.schedule.poll(Instant::now()) {
                self.act(action).await;
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Start { room, reply } => {
                let r = self.schedule.start(now, &room).map_err(|_| RecordError::AlreadyRecording);
                let _ = reply.send(r);
            }
            Command::Stop { room, reply } => {
                let r = self.schedule.stop(now, &room).map_err(|_| RecordError::NotRecording);
                let _ = reply.send(r);
            }
            Command::IsRecording { room, reply } => {
                let _ = reply.send(self.schedule.is_recording(&room));
            }
        }
    }

    async fn news(&mut self, news: RoomNews) {
        let now = Instant::now();
        match news {
            RoomNews::PeerJoined { room_id, peer_id, display_name, .. } => {
                self.joined(now, room_id, peer_id, display_name, false).await
            }
            RoomNews::PeerAdopted { room_id, peer_id, display_name } => {
                self.joined(now, room_id, peer_id, display_name, true).await
            }
            RoomNews::PeerLeft { room_id, peer_id, .. } => {
                self.schedule.left(now, &room_id);
                if let Some(p) = self.present.get_mut(&room_id) {
                    p.remove(&peer_id);
                    if p.is_empty() {
                        self.present.remove(&room_id);
                    }
                }
                if let Some(a) = self.active.get(&room_id) {
                    layout::append(&self.raw(&a.token), now_ms(), LayoutEvent::Left { peer_id });
                }
            }
            RoomNews::RoomClosed { .. } => {}
        }
    }

    /// Someone joined, or is in a room taken back after a restart of control (`adopted`).
    async fn joined(&mut self, now: Instant, room_id: String, peer_id: String, display_name: String, adopted: bool) {
        self.schedule.joined(now, &room_id);
        if adopted && !self.active.contains_key(&room_id) {
            self.take_back(now, &room_id).await;
        }
        self.present.entry(room_id.clone()).or_default().insert(peer_id.clone(), display_name.clone());
        if let Some(a) = self.active.get(&room_id) {
            layout::append(&self.raw(&a.token), now_ms(), LayoutEvent::Joined { peer_id, display_name });
            // The relay room may be new (the room emptied and refilled): the same request again.
            let request = self.start_request(&room_id, &a.token);
            self.relay_request(request).await;
            self.registry.broadcast(&room_id, ServerMessage::Recording { on: true });
        }
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Start { room, manual } => self.begin(&room, 1, manual).await,
            Action::NewPart { room } => {
                let Some(old) = self.active.remove(&room) else { return };
                // The relay ends the old part's tracks as it starts the new one's.
                self.begin(&room, old.part + 1, false).await;
                self.finish(&room, old);
            }
            Action::Stop { room } => {
                let Some(old) = self.active.remove(&room) else { return };
                self.relay_request(Request::StopRecording { room: room.clone() }).await;
                self.registry.broadcast(&room, ServerMessage::Recording { on: false });
                self.finish(&room, old);
            }
        }
    }

    fn raw(&self, token: &str) -> PathBuf {
        self.dir.join(token).join("raw")
    }

    fn start_request(&self, room: &str, token: &str) -> Request {
        Request::StartRecording {
            room: room.to_string(),
            recording: token.to_string(),
            dir: self.raw(token).display().to_string(),
        }
    }

    /// A request about recording; a room the relay does not have (closed meanwhile) is not an error.
    async fn relay_request(&self, request: Request) {
        match self.registry.relay().request(request).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "recording request to the relay failed"),
        }
    }

    /// A room this task does not record may still be recording on the relay, which kept it through a
    /// restart of `meet-control`: its video is taken back (the relay never stopped writing it).
    async fn take_back(&mut self, now: Instant, room: &str) {
        let Ok(Response::RoomDump(dump)) =
            self.registry.relay().request(Request::DumpRoom { room: room.to_string() }).await
        else {
            return;
        };
        let Some(token) = dump.recording.filter(|t| valid_token(t)) else { return };
        let t = token.clone();
        let Ok(Some(video)) = blocking(&self.store, move |s| s.video_by_token(&t)).await else { return };
        if video.status != "processing" {
            return;
        }
        let part = video.name.rsplit_once(" part ").and_then(|(_, n)| n.parse().ok()).unwrap_or(1);
        tracing::info!(room, video = video.id, "recording taken back from the relay");
        self.schedule.resume(now, room);
        let active = Active { video_id: video.id, token, name: video.name, part, started_ms: video.created_at_ms };
        self.active.insert(room.to_string(), active);
        self.registry.broadcast(room, ServerMessage::Recording { on: true });
    }

    /// Starts part `part` of the room's recording.
    async fn begin(&mut self, room: &str, part: u32, manual: bool) {
        let token = new_token();
        let started_ms = now_ms();
        let mut name = format!("Recording {room} {}", iso_time(started_ms));
        if part > 1 {
            name.push_str(&format!(" part {part}"));
        }
        let raw = self.raw(&token);
        if let Err(e) = std::fs::create_dir_all(&raw) {
            tracing::error!(room, dir = %raw.display(), error = %e, "cannot create a recording directory; not recording");
            return;
        }
        let (t, n, r, host) = (token.clone(), name.clone(), room.to_string(), self.host_id.clone());
        let video_id = match blocking(&self.store, move |s| s.create_video(&host, &t, &n, &r, started_ms)).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(room, error = %e, "cannot store a new video; not recording");
                return;
            }
        };
        layout::append(
            &raw,
            started_ms,
            LayoutEvent::RecordingStarted { room_id: room.into(), name: name.clone(), part, manual },
        );
        for (peer_id, display_name) in self.present.get(room).into_iter().flatten() {
            layout::append(
                &raw,
                started_ms,
                LayoutEvent::Present { peer_id: peer_id.clone(), display_name: display_name.clone() },
            );
        }
        self.relay_request(self.start_request(room, &token)).await;
        tracing::info!(room, video = video_id, part, manual, "recording started");
        self.registry.broadcast(room, ServerMessage::Recording { on: true });
        self.webhook("recordingStarted", room, video_id, &name, None).await;
        self.active.insert(room.to_string(), Active { video_id, token, name, part, started_ms });
    }

    /// Converts an ended part in the background.
    fn finish(&self, room: &str, a: Active) {
        let raw = self.raw(&a.token);
        let out = self.dir.join(&a.token).join("out");
        layout::append(&raw, now_ms(), LayoutEvent::RecordingStopped);
        let (store, webhooks, permits, room) =
            (self.store.clone(), self.webhooks.clone(), self.conversions.clone(), room.to_string());
        let ended_ms = now_ms();
        tokio::spawn(async move {
            tokio::time::sleep(SETTLE).await;
            let _permit = permits.acquire_owned().await;
            let began = Instant::now();
            let id = a.video_id;
            let mut last_report = Instant::now();
            let progress_store = store.clone();
            let result = convert::convert(&raw, &out, ended_ms.max(a.started_ms) as u64, |p| {
                if last_report.elapsed() >= Duration::from_secs(2) {
                    last_report = Instant::now();
                    let s = progress_store.clone();
                    tokio::spawn(async move {
                        let _ =
                            blocking(&s, move |s| s.update_video(id, "processing", 0, i64::from(p), None, now_ms()))
                                .await;
                    });
                }
            })
            .await;
            let (status, duration, error) = match &result {
                Ok(ms) => ("ready", *ms as i64, None),
                Err(e) => ("error", 0, Some(e.to_string())),
            };
            match &result {
                Ok(ms) => tracing::info!(
                    room,
                    video = id,
                    duration_ms = ms,
                    took_ms = began.elapsed().as_millis() as u64,
                    "recording converted"
                ),
                Err(e) => tracing::error!(room, video = id, error = %e, "recording conversion failed"),
            }
            let err = error.clone();
            let progress = if result.is_ok() { 100 } else { 0 };
            if let Err(e) =
                blocking(&store, move |s| s.update_video(id, status, duration, progress, err.as_deref(), now_ms()))
                    .await
            {
                tracing::error!(video = id, error = %e, "cannot store a video's status");
            }
            if let Some(w) = webhooks {
                let body = hook_body("recordingReady", &room, id, &a.name, Some(status));
                w.enqueue_event(&format!("recording\n{room}"), body).await;
            }
        });
    }

    async fn webhook(&self, event: &str, room: &str, video_id: i64, name: &str, status: Option<&str>) {
        if let Some(w) = &self.webhooks {
            w.enqueue_event(&format!("recording\n{room}"), hook_body(event, room, video_id, name, status)).await;
        }
    }
}

/// A recording webhook's body (an extension, `docs/recording.md`).
fn hook_body(event: &str, room: &str, video_id: i64, name: &str, status: Option<&str>) -> String {
    let mut body = serde_json::json!({"event": event, "roomId": room, "videoId": video_id, "name": name});
    if let Some(s) = status {
        body["status"] = s.into();
    }
    body.to_string()
}

/// 128 random bits in hex: a video's files cannot be found by guessing.
pub fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token as [`new_token`] makes them (what the file routes accept).
pub fn valid_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `2026-12-07T21:55:00Z` from Unix ms.
pub fn iso_time(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_times() {
        let t = new_token();
        assert!(valid_token(&t));
        assert_ne!(t, new_token());
        assert!(!valid_token("../../etc/passwd"));
        assert!(!valid_token(&t.to_uppercase()));
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_796_680_500_000), "2026-12-07T21:55:00Z");
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn an_unwritable_dir_turns_recording_off_with_its_reason() {
        let store: SharedStore = Arc::new(crate::store::SqliteStore::in_memory().unwrap());
        let r = Recordings::new(PathBuf::from("/proc/meet-cannot-write-here"), store, "h".into());
        assert!(r.dir().is_none());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let e = rt.block_on(r.request("room", true, true)).unwrap_err();
        assert!(matches!(&e, RecordError::Unavailable(why) if why.contains("not writable")), "{e}");
    }
}
