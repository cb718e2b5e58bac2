//! One recorded track: RTP packets in, a Matroska file out. Packets are put in order ([`Reorder`]),
//! joined into frames ([`Depacketizer`]) and appended to `<dir>/<file>` ([`MkvWriter`]) as they
//! complete; video starts at its first keyframe (a decoder needs it, and it gives the picture size).
//! Timestamps come from the RTP timestamps, so gaps in the stream (a muted camera) stay gaps.
//! When the file starts and ends is appended to `<dir>/tracks.jsonl`, which tells the conversion
//! where to place the track.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use meet_media::rtp;

use super::depacketize::{avc_config, Codec, Depacketizer, Frame, PayloadError, Reorder, TimestampUnwrap};
use super::mkv::{MkvWriter, TrackSpec};
pub use meet_relay_protocol::tracks::TrackEvent;

/// Packets held for reordering, by kind: about half a second of video at a few Mbit/s (room for the
/// relay's own NACK round trip), 160 ms of audio.
const VIDEO_DEPTH: usize = 128;
const AUDIO_DEPTH: usize = 8;

/// Appends one event to `<dir>/tracks.jsonl`.
pub fn append_event(dir: &Path, event: &TrackEvent) -> io::Result<()> {
    let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
    line.push(b'\n');
    OpenOptions::new().create(true).append(true).open(dir.join("tracks.jsonl"))?.write_all(&line)
}

/// What the writer did with a packet (for the recorder's counters).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PushOutcome {
    pub frames: u64,
    pub late: bool,
    pub bad_payload: bool,
}

pub struct TrackWriter {
    dir: PathBuf,
    file_name: String,
    producer: String,
    peer: String,
    codec: Codec,
    clock_rate: u32,
    reorder: Reorder<Vec<u8>>,
    depacketizer: Depacketizer,
    timestamps: TimestampUnwrap,
    /// Open from the first frame written.
    mkv: Option<MkvWriter<BufWriter<File>>>,
    first_ts: i64,
    last_ms: u64,
    pub frames: u64,
}

impl TrackWriter {
    /// Nothing is created until the first frame that can start the file.
    pub fn new(dir: PathBuf, file_name: String, producer: String, peer: String, codec: Codec, clock_rate: u32) -> Self {
        let depth = if codec == Codec::Opus { AUDIO_DEPTH } else { VIDEO_DEPTH };
        TrackWriter {
            dir,
            file_name,
            producer,
            peer,
            codec,
            clock_rate: clock_rate.max(1),
            reorder: Reorder::new(depth),
            depacketizer: Depacketizer::new(codec),
            timestamps: TimestampUnwrap::default(),
            mkv: None,
            first_ts: 0,
            last_ms: 0,
            frames: 0,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.file_name)
    }

    /// Packets lost for good (given up waiting for), and frames dropped for holes or bad payloads.
    pub fn losses(&self) -> (u64, u64) {
        (self.reorder.lost, self.depacketizer.broken_frames)
    }

    /// One decrypted RTP packet of the track. `wall_ms`: the time now (Unix ms), noted when the file starts.
    pub fn push(&mut self, packet: Vec<u8>, wall_ms: u64) -> io::Result<PushOutcome> {
        let mut outcome = PushOutcome::default();
        let Ok(header) = rtp::parse(&packet) else {
            outcome.bad_payload = true;
            return Ok(outcome);
        };
        let mut ready = Vec::new();
        let arrival = self.reorder.push(header.sequence_number, packet, &mut |gap, p| ready.push((gap, p)));
        outcome.late = arrival != super::depacketize::Arrival::Accepted;
        for (gap, p) in ready {
            match self.depacketize(gap, &p) {
                Ok(Some(frame)) => {
                    if self.write(frame, wall_ms)? {
                        outcome.frames += 1;
                    }
                }
                Ok(None) => {}
                Err(_) => outcome.bad_payload = true,
            }
        }
        Ok(outcome)
    }

    fn depacketize(&mut self, gap: bool, packet: &[u8]) -> Result<Option<Frame>, PayloadError> {
        let header = rtp::parse(packet).map_err(|_| PayloadError::Empty)?;
        let payload = rtp::payload(packet, &header).map_err(|_| PayloadError::Empty)?;
        self.depacketizer.push(gap, header.marker, header.timestamp, payload)
    }

    /// Writes a frame, opening the file first if this frame can start it. False: not written (video
    /// before its first keyframe).
    fn write(&mut self, frame: Frame, wall_ms: u64) -> io::Result<bool> {
        let ts = self.timestamps.unwrap(frame.timestamp);
        if self.mkv.is_none() {
            let Some(spec) = self.spec(&frame) else { return Ok(false) };
            std::fs::create_dir_all(&self.dir)?;
            let file = File::create(self.path())?;
            self.mkv = Some(MkvWriter::new(BufWriter::with_capacity(64 * 1024, file), &spec)?);
            self.first_ts = ts;
            let (width, height) = frame.size.unwrap_or_default();
            append_event(
                &self.dir,
                &TrackEvent::TrackStarted {
                    file: self.file_name.clone(),
                    producer: self.producer.clone(),
                    peer: self.peer.clone(),
                    kind: if self.codec == Codec::Opus { "audio" } else { "video" }.to_string(),
                    codec: self.codec.name().to_string(),
                    wall_ms,
                    width,
                    height,
                },
            )?;
        }
        let ms = ((ts - self.first_ts).max(0) as u128 * 1000 / u128::from(self.clock_rate)) as u64;
        self.last_ms = self.last_ms.max(ms);
        let mkv = self.mkv.as_mut().expect("opened above");
        mkv.write_frame(ms, frame.keyframe, self.codec != Codec::Opus, &frame.data)?;
        self.frames += 1;
        Ok(true)
    }

    /// The file's track, if `frame` can start it.
    fn spec(&self, frame: &Frame) -> Option<TrackSpec> {
        match self.codec {
            Codec::Opus => Some(TrackSpec::Opus { channels: 2 }),
            Codec::Vp8 => {
                let (width, height) = frame.size.filter(|_| frame.keyframe)?;
                Some(TrackSpec::Vp8 { width, height })
            }
            Codec::H264 => {
                let (width, height) = frame.size.filter(|_| frame.keyframe)?;
                let avcc = avc_config(self.depacketizer.sps.as_deref()?, self.depacketizer.pps.as_deref()?)?;
                Some(TrackSpec::H264 { width, height, avcc })
            }
        }
    }

    /// Writes what is still held and closes the file; notes its end in `tracks.jsonl`. Returns the
    /// track's final [`TrackWriter::losses`].
    pub fn finish(mut self, wall_ms: u64) -> io::Result<(u64, u64)> {
        let mut ready = Vec::new();
        self.reorder.flush(&mut |gap, p| ready.push((gap, p)));
        for (gap, p) in ready {
            if let Ok(Some(frame)) = self.depacketize(gap, &p) {
                self.write(frame, wall_ms)?;
            }
        }
        let losses = self.losses();
        let Some(mut mkv) = self.mkv.take() else { return Ok(losses) };
        mkv.flush()?;
        append_event(
            &self.dir,
            &TrackEvent::TrackEnded {
                file: self.file_name.clone(),
                wall_ms,
                duration_ms: self.last_ms,
                frames: self.frames,
            },
        )?;
        Ok(losses)
    }

    /// Pushes buffered bytes to the file (the recorder does this now and then).
    pub fn flush(&mut self) -> io::Result<()> {
        self.mkv.as_mut().map_or(Ok(()), |m| m.flush())
    }
}
