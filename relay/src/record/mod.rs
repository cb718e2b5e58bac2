//! The recorder: one thread that writes recorded tracks to disk, fed by the media cores over a bounded
//! channel ([`RecordSink::offer`] never waits: when the channel is full the packet is dropped and the
//! core counts it, so a slow disk never slows forwarding). Which packets are recorded is the engine's
//! business (`engine::record`); this is the IO side.
//!
//! Layout: [`writer`] (one track: reorder, depacketize, write), [`depacketize`] (RTP payloads to
//! frames), [`mkv`] (the Matroska/WebM writer). Files: `<dir>/<peer>_<source>_<track id>.mkv` per
//! track and `<dir>/tracks.jsonl` saying when each started and ended.

pub mod depacketize;
pub mod mkv;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::engine::record::{RecordOut, RecordTrack};
use crate::protocol::MediaKind;
use depacketize::Codec;
use writer::TrackWriter;

/// Packets the channel holds: about 3 s of a 10-person room with video.
pub const CHANNEL_CAPACITY: usize = 16 * 1024;

/// A track that gets no packet for this long is closed (its end notice was lost, or the relay's core
/// stopped); the next packet would open a new file.
const IDLE_CLOSE: Duration = Duration::from_secs(60);
/// Buffered bytes reach the files at least this often.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The recorder's counters (read by `Stats`).
#[derive(Debug, Default)]
pub struct RecorderStats {
    pub packets: AtomicU64,
    pub frames: AtomicU64,
    /// Packets that came after their place was given up, or twice.
    pub late: AtomicU64,
    /// Packets or payloads that could not be read (dropped; their frame with them).
    pub bad_payload: AtomicU64,
    /// Packets never received (given up waiting for), and frames dropped for holes.
    pub lost: AtomicU64,
    pub broken_frames: AtomicU64,
    pub files: AtomicU64,
    pub write_errors: AtomicU64,
    /// Video tracks whose codec cannot be recorded.
    pub unsupported: AtomicU64,
}

impl RecorderStats {
    pub fn to_pairs(&self) -> [(&'static str, u64); 9] {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("record_packets", g(&self.packets)),
            ("record_frames", g(&self.frames)),
            ("record_late", g(&self.late)),
            ("record_bad_payload", g(&self.bad_payload)),
            ("record_lost", g(&self.lost)),
            ("record_broken_frames", g(&self.broken_frames)),
            ("record_files", g(&self.files)),
            ("record_write_errors", g(&self.write_errors)),
            ("record_unsupported", g(&self.unsupported)),
        ]
    }
}

/// The cores' way into the recorder.
#[derive(Clone)]
pub struct RecordSink(SyncSender<RecordOut>);

impl RecordSink {
    /// Queues without waiting; false if the recorder is behind (or gone) and `out` was dropped.
    pub fn offer(&self, out: RecordOut) -> bool {
        match self.0.try_send(out) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

/// A running recorder thread.
pub struct Recorder {
    pub sink: RecordSink,
    pub stats: Arc<RecorderStats>,
}

impl Recorder {
    /// Starts the thread; it ends when every [`RecordSink`] is dropped, closing its files.
    pub fn spawn(capacity: usize) -> std::io::Result<Recorder> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let stats = Arc::new(RecorderStats::default());
        let s = stats.clone();
        std::thread::Builder::new().name("meet-recorder".into()).spawn(move || run(rx, &s))?;
        Ok(Recorder { sink: RecordSink(tx), stats })
    }
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `<peer>_<source>_<id>.mkv`, from the producer id `<peer>/<source>`, with anything but letters,
/// digits, `-` and `_` replaced.
pub fn file_name(track: &RecordTrack) -> String {
    let clean: String =
        track.producer.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(80).collect();
    format!("{clean}_{}.mkv", track.id)
}

/// What a track's codec is, if it can be recorded.
pub fn codec_of(track: &RecordTrack) -> Option<Codec> {
    match track.kind {
        MediaKind::Audio => Some(Codec::Opus),
        MediaKind::Video => match meet_media::sdp::VideoCodec::of_payload_type(track.payload_type)? {
            meet_media::sdp::VideoCodec::Vp8 => Some(Codec::Vp8),
            meet_media::sdp::VideoCodec::H264 => Some(Codec::H264),
        },
    }
}

struct Open {
    writer: TrackWriter,
    last: Instant,
    /// Counted into the stats already.
    lost: (u64, u64),
}

fn run(rx: Receiver<RecordOut>, stats: &RecorderStats) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    // Tracks that failed (unwritable directory, unknown codec): their packets are dropped quietly.
    let mut failed: HashSet<u64> = HashSet::new();
    let mut last_flush = Instant::now();
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(RecordOut::Packet { track, packet }) => {
                stats.packets.fetch_add(1, Ordering::Relaxed);
                if failed.contains(&track.id) {
                    continue;
                }
                let entry = match open.entry(track.id) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        let Some(codec) = codec_of(&track) else {
                            tracing::warn!(producer = %track.producer, payload_type = track.payload_type, "cannot record this codec; track skipped");
                            stats.unsupported.fetch_add(1, Ordering::Relaxed);
                            failed.insert(track.id);
                            continue;
                        };
                        stats.files.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(recording = %track.recording, producer = %track.producer, codec = codec.name(), "track recording");
                        v.insert(Open {
                            writer: TrackWriter::new(
                                PathBuf::from(&*track.dir),
                                file_name(&track),
                                track.producer.clone(),
                                track.peer.clone(),
                                codec,
                                track.clock_rate,
                            ),
                            last: Instant::now(),
                            lost: (0, 0),
                        })
                    }
                };
                entry.last = Instant::now();
                match entry.writer.push(packet, wall_ms()) {
                    Ok(outcome) => {
                        stats.frames.fetch_add(outcome.frames, Ordering::Relaxed);
                        if outcome.late {
                            stats.late.fetch_add(1, Ordering::Relaxed);
                        }
                        if outcome.bad_payload {
                            stats.bad_payload.fetch_add(1, Ordering::Relaxed);
                        }
                        let (lost, broken) = entry.writer.losses();
                        stats.lost.fetch_add(lost - entry.lost.0, Ordering::Relaxed);
                        stats.broken_frames.fetch_add(broken - entry.lost.1, Ordering::Relaxed);
                        entry.lost = (lost, broken);
                    }
                    Err(e) => {
                        stats.write_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(recording = %track.recording, file = %entry.writer.path().display(), error = %e, "cannot write a recorded track; it is dropped");
                        open.remove(&track.id);
                        failed.insert(track.id);
                    }
                }
            }
            Ok(RecordOut::End { track }) => {
                failed.remove(&track.id);
                if let Some(o) = open.remove(&track.id) {
                    finish(o, stats);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                for (_, o) in open.drain() {
                    finish(o, stats);
                }
                return;
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            last_flush = Instant::now();
            let idle: Vec<u64> = open.iter().filter(|(_, o)| o.last.elapsed() >= IDLE_CLOSE).map(|(k, _)| *k).collect();
            for id in idle {
                if let Some(o) = open.remove(&id) {
                    finish(o, stats);
                }
            }
            for o in open.values_mut() {
                if let Err(e) = o.writer.flush() {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(file = %o.writer.path().display(), error = %e, "cannot flush a recorded track");
                }
            }
        }
    }
}

fn finish(o: Open, stats: &RecorderStats) {
    let path = o.writer.path();
    match o.writer.finish(wall_ms()) {
        Ok((lost, broken)) => {
            // What was still held when the track ended is counted now.
            stats.lost.fetch_add(lost - o.lost.0, Ordering::Relaxed);
            stats.broken_frames.fetch_add(broken - o.lost.1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(file = %path.display(), error = %e, "cannot finish a recorded track");
        }
    }
}
