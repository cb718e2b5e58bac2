//! A small Matroska/WebM writer for live recording: the EBML header, a Segment and Clusters of unknown
//! size, and SimpleBlocks, appended as frames come. Nothing is ever rewritten, so the file is playable
//! up to its last complete block whenever the writer stops (a crash included): a reader ends a Cluster
//! of unknown size at the next top-level element, or at the end of the file.
//!
//! Only what one track of a call needs: one track per file, 1 ms timestamps, no Cues or SeekHead
//! (players seek such files by scanning; the conversion reads them start to end).

use std::io::{self, Write};

/// The size field of an element whose length is not known when it is written (EBML's all-ones vint).
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
}

/// What the single track of a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackSpec {
    Vp8 {
        width: u16,
        height: u16,
    },
    /// H.264 in AVC form: `avcc` is the AVCDecoderConfigurationRecord; blocks hold length-prefixed NALs.
    H264 {
        width: u16,
        height: u16,
        avcc: Vec<u8>,
    },
    Opus {
        channels: u8,
    },
}

/// A cluster is closed (a new one started) after this long, or at a video keyframe once it is this
/// old; SimpleBlock timestamps are relative to their cluster and must fit an i16.
const CLUSTER_SPAN_MS: u64 = 5_000;
const KEYFRAME_CLUSTER_MS: u64 = 1_000;

/// Writes one track to `out` as frames come.
pub struct MkvWriter<W: Write> {
    out: W,
    /// Start of the current cluster (ms), if one is open.
    cluster: Option<u64>,
    /// Last block's timestamp: later ones never go below it (players expect them in order).
    last: u64,
    buf: Vec<u8>,
}

impl<W: Write> MkvWriter<W> {
    /// Writes the EBML header, opens the Segment and describes the track.
    pub fn new(mut out: W, track: &TrackSpec) -> io::Result<Self> {
        let mut b = Vec::with_capacity(256);
        let doc_type = if matches!(track, TrackSpec::H264 { .. }) { "matroska" } else { "webm" };
        let mut header = Vec::new();
        uint(&mut header, id::EBML_VERSION, 1);
        uint(&mut header, id::EBML_READ_VERSION, 1);
        uint(&mut header, id::EBML_MAX_ID_LENGTH, 4);
        uint(&mut header, id::EBML_MAX_SIZE_LENGTH, 8);
        bytes(&mut header, id::DOC_TYPE, doc_type.as_bytes());
        uint(&mut header, id::DOC_TYPE_VERSION, 4);
        uint(&mut header, id::DOC_TYPE_READ_VERSION, 2);
        bytes(&mut b, id::EBML, &header);

        put_id(&mut b, id::SEGMENT);
        b.extend_from_slice(&UNKNOWN_SIZE);

        let mut info = Vec::new();
        uint(&mut info, id::TIMESTAMP_SCALE, 1_000_000);
        bytes(&mut info, id::MUXING_APP, b"meet-relay");
        bytes(&mut info, id::WRITING_APP, b"meet-relay");
        bytes(&mut b, id::INFO, &info);

        let mut entry = Vec::new();
        uint(&mut entry, id::TRACK_NUMBER, 1);
        uint(&mut entry, id::TRACK_UID, 1);
        uint(&mut entry, id::FLAG_LACING, 0);
        match track {
            TrackSpec::Vp8 { width, height } => {
                uint(&mut entry, id::TRACK_TYPE, 1);
                bytes(&mut entry, id::CODEC_ID, b"V_VP8");
                video(&mut entry, *width, *height);
            }
            TrackSpec::H264 { width, height, avcc } => {
                uint(&mut entry, id::TRACK_TYPE, 1);
                bytes(&mut entry, id::CODEC_ID, b"V_MPEG4/ISO/AVC");
                bytes(&mut entry, id::CODEC_PRIVATE, avcc);
                video(&mut entry, *width, *height);
            }
            TrackSpec::Opus { channels } => {
                uint(&mut entry, id::TRACK_TYPE, 2);
                bytes(&mut entry, id::CODEC_ID, b"A_OPUS");
                bytes(&mut entry, id::CODEC_PRIVATE, &opus_head(*channels));
                // RTP Opus has no pre-skip: decoding starts with the first packet. 80 ms pre-roll after a seek.
                uint(&mut entry, id::CODEC_DELAY, 0);
                uint(&mut entry, id::SEEK_PRE_ROLL, 80_000_000);
                let mut audio = Vec::new();
                float(&mut audio, id::SAMPLING_FREQUENCY, 48_000.0);
                uint(&mut audio, id::CHANNELS, u64::from(*channels));
                bytes(&mut entry, id::AUDIO, &audio);
            }
        }
        let mut tracks = Vec::new();
        bytes(&mut tracks, id::TRACK_ENTRY, &entry);
        bytes(&mut b, id::TRACKS, &tracks);
        out.write_all(&b)?;
        Ok(MkvWriter { out, cluster: None, last: 0, buf: b })
    }

    /// Appends one frame at `ms` from the start of the track. Timestamps that go back are raised to
    /// the last one (a reordered or restarted sender), so the file stays in order.
    pub fn write_frame(&mut self, ms: u64, keyframe: bool, is_video: bool, frame: &[u8]) -> io::Result<()> {
        let ms = ms.max(self.last);
        self.last = ms;
        self.buf.clear();
        let start_new = match self.cluster {
            None => true,
            Some(start) => {
                let age = ms - start;
                age >= CLUSTER_SPAN_MS || (is_video && keyframe && age >= KEYFRAME_CLUSTER_MS)
            }
        };
        if start_new {
            put_id(&mut self.buf, id::CLUSTER);
            self.buf.extend_from_slice(&UNKNOWN_SIZE);
            uint(&mut self.buf, id::TIMESTAMP, ms);
            self.cluster = Some(ms);
        }
        let relative = (ms - self.cluster.unwrap_or(ms)) as i16;
        put_id(&mut self.buf, id::SIMPLE_BLOCK);
        put_size(&mut self.buf, 4 + frame.len() as u64);
        self.buf.push(0x81); // track number 1 as a vint
        self.buf.extend_from_slice(&relative.to_be_bytes());
        self.buf.push(if keyframe { 0x80 } else { 0 });
        self.out.write_all(&self.buf)?;
        self.out.write_all(frame)?;
        if start_new {
            // At most one cluster's worth is lost if the process dies.
            self.out.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The `OpusHead` identification header (RFC 7845 §5.1) Matroska wants as CodecPrivate.
fn opus_head(channels: u8) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(channels);
    h.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    h.extend_from_slice(&48_000u32.to_le_bytes()); // input sample rate
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(0); // channel mapping family: mono or stereo
    h
}

fn video(entry: &mut Vec<u8>, width: u16, height: u16) {
    let mut v = Vec::new();
    uint(&mut v, id::PIXEL_WIDTH, u64::from(width));
    uint(&mut v, id::PIXEL_HEIGHT, u64::from(height));
    bytes(entry, id::VIDEO, &v);
}

/// An element ID as written: its own bytes, the length marker included (1 to 4 bytes).
fn put_id(out: &mut Vec<u8>, id: u32) {
    let b = id.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count().min(3);
    out.extend_from_slice(&b[skip..]);
}

/// A data size as the shortest EBML vint (1 to 8 bytes; all-ones values are reserved for "unknown").
fn put_size(out: &mut Vec<u8>, size: u64) {
    let mut len = 1;
    while len < 8 && size >= (1u64 << (7 * len)) - 1 {
        len += 1;
    }
    let marked = size | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

fn bytes(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    put_id(out, id);
    put_size(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let b = value.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count().min(7);
    bytes(out, id, &b[skip..]);
}

fn float(out: &mut Vec<u8>, id: u32, value: f64) {
    bytes(out, id, &value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shortest_vints() {
        let enc = |n| {
            let mut v = Vec::new();
            put_size(&mut v, n);
            v
        };
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(126), [0xFE]);
        // 127 in one byte would be all ones: "unknown".
        assert_eq!(enc(127), [0x40, 0x7F]);
        assert_eq!(enc(16_382), [0x7F, 0xFE]);
        assert_eq!(enc(16_383), [0x20, 0x3F, 0xFF]);
    }

    #[test]
    fn ids_keep_their_marker_bytes() {
        let mut v = Vec::new();
        put_id(&mut v, id::SIMPLE_BLOCK);
        put_id(&mut v, id::CODEC_DELAY);
        put_id(&mut v, id::SEGMENT);
        assert_eq!(v, [0xA3, 0x56, 0xAA, 0x18, 0x53, 0x80, 0x67]);
    }

    #[test]
    fn blocks_stay_in_order_and_clusters_split() {
        let mut w = MkvWriter::new(Vec::new(), &TrackSpec::Opus { channels: 2 }).unwrap();
        let header_len = w.buf.len();
        w.write_frame(0, true, false, &[1, 2, 3]).unwrap();
        w.write_frame(20, true, false, &[4]).unwrap();
        // Goes back: raised to 20.
        w.write_frame(10, true, false, &[5]).unwrap();
        w.write_frame(6_000, true, false, &[6]).unwrap();
        let out = w.into_inner();
        let body = &out[header_len..];
        let clusters = body.windows(4).filter(|x| *x == [0x1F, 0x43, 0xB6, 0x75]).count();
        assert_eq!(clusters, 2);
        // The third block carries relative time 20, like the second.
        let blocks: Vec<usize> =
            body.windows(3).enumerate().filter(|(_, x)| x[0] == 0xA3 && x[2] == 0x81).map(|(i, _)| i).collect();
        assert_eq!(&body[blocks[2] + 3..blocks[2] + 5], &20i16.to_be_bytes());
    }
}
