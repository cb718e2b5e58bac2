//! From RTP packets of one stream to the frames a recording stores: [`Reorder`] puts packets back in
//! sequence order (across the 16-bit wrap) and says where some never came; [`Depacketizer`] joins
//! each frame's payloads (VP8: RFC 7741 descriptor, a frame ends at the marker bit; H.264: RFC 6184
//! single NAL units, STAP-A and FU-A into length-prefixed NAL units; Opus: one packet is one frame).
//! A frame with a hole is dropped whole, never written half. [`TimestampUnwrap`] turns 32-bit RTP
//! timestamps into a running count.

use std::collections::BTreeMap;

use meet_media::{h264, vp8};

/// Why a payload was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    #[error("empty payload")]
    Empty,
    #[error("malformed VP8 payload descriptor")]
    Vp8,
    #[error("malformed H.264 payload")]
    H264,
}

/// What [`Reorder::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Accepted,
    /// Came after its place was given up (or released): dropped.
    Late,
    Duplicate,
}

/// Holds packets until those before them arrive, or until waiting longer is pointless: `depth`
/// packets are held at most, then the missing ones count as lost.
pub struct Reorder<T> {
    depth: usize,
    /// The extended sequence number released next.
    next: Option<u64>,
    highest: u64,
    held: BTreeMap<u64, T>,
    /// Packets given up on since the start.
    pub lost: u64,
}

impl<T> Reorder<T> {
    pub fn new(depth: usize) -> Self {
        Reorder { depth: depth.max(1), next: None, highest: 0, held: BTreeMap::new(), lost: 0 }
    }

    /// Takes a packet with sequence number `seq`, and hands every packet now in order to `out`, with
    /// `true` when packets before it were given up.
    pub fn push(&mut self, seq: u16, item: T, out: &mut impl FnMut(bool, T)) -> Arrival {
        let ext = match self.next {
            // Far from zero, so the first packets may be preceded by reordered ones.
            None => (1u64 << 32) + u64::from(seq),
            Some(_) => {
                let delta = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
                (self.highest as i64 + delta) as u64
            }
        };
        let next = *self.next.get_or_insert(ext);
        if ext < next {
            return Arrival::Late;
        }
        if self.held.contains_key(&ext) {
            return Arrival::Duplicate;
        }
        self.held.insert(ext, item);
        self.highest = self.highest.max(ext);
        self.release(out, false);
        Arrival::Accepted
    }

    /// Hands everything held to `out` in order (the stream ended).
    pub fn flush(&mut self, out: &mut impl FnMut(bool, T)) {
        self.release(out, true);
    }

    fn release(&mut self, out: &mut impl FnMut(bool, T), all: bool) {
        let Some(mut next) = self.next else { return };
        let mut gap = false;
        while let Some((&first, _)) = self.held.first_key_value() {
            if first != next {
                let waited_enough = self.held.len() >= self.depth || self.highest - next >= self.depth as u64 * 4;
                if !(all || waited_enough) {
                    break;
                }
                self.lost += first - next;
                gap = true;
                next = first;
            }
            let (_, item) = self.held.pop_first().expect("seen above");
            out(gap, item);
            gap = false;
            next += 1;
        }
        self.next = Some(next);
    }
}

/// A whole frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub timestamp: u32,
    pub keyframe: bool,
    /// VP8: the frame as a decoder takes it; H.264: NAL units, each behind a 4-byte length; Opus: the packet.
    pub data: Vec<u8>,
    /// Width and height, when the frame says (a VP8 keyframe; an H.264 frame with an SPS).
    pub size: Option<(u16, u16)>,
}

/// The codecs a recording stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Vp8,
    H264,
    Opus,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Vp8 => "vp8",
            Codec::H264 => "h264",
            Codec::Opus => "opus",
        }
    }
}

/// Joins one stream's payloads into frames.
pub struct Depacketizer {
    codec: Codec,
    frame: Vec<u8>,
    timestamp: u32,
    keyframe: bool,
    size: Option<(u16, u16)>,
    /// A frame is being gathered and nothing of it is missing.
    whole: bool,
    /// H.264: the FU-A unit being joined (its length prefix is patched at its end), if any.
    fu_start: Option<usize>,
    /// H.264: the last parameter sets seen, for the file's decoder configuration.
    pub sps: Option<Vec<u8>>,
    pub pps: Option<Vec<u8>>,
    /// Frames given up because part of them was lost or malformed.
    pub broken_frames: u64,
    /// The timestamp of the last frame given up, so that its other packets do not count it again.
    dropped: Option<u32>,
}

impl Depacketizer {
    pub fn new(codec: Codec) -> Self {
        Depacketizer {
            codec,
            frame: Vec::new(),
            timestamp: 0,
            keyframe: false,
            size: None,
            whole: false,
            fu_start: None,
            sps: None,
            pps: None,
            broken_frames: 0,
            dropped: None,
        }
    }

    /// One packet's payload (without padding), in sequence order; `gap`: packets before it were lost.
    /// A malformed payload breaks the frame it belongs to and is reported.
    pub fn push(
        &mut self,
        gap: bool,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<Frame>, PayloadError> {
        if payload.is_empty() {
            return Err(PayloadError::Empty);
        }
        if self.codec == Codec::Opus {
            return Ok(Some(Frame { timestamp, keyframe: true, data: payload.to_vec(), size: None }));
        }
        if gap || (self.whole && timestamp != self.timestamp) {
            // The end of the frame in progress (or all of it) is gone.
            self.give_up();
        }
        let result = match self.codec {
            Codec::Vp8 => self.push_vp8(timestamp, payload),
            Codec::H264 => self.push_h264(timestamp, payload),
            Codec::Opus => unreachable!("handled above"),
        };
        if result.is_err() {
            self.give_up();
        }
        result?;
        if !marker || !self.whole {
            return Ok(None);
        }
        self.whole = false;
        if self.frame.is_empty() {
            return Ok(None);
        }
        let data = std::mem::take(&mut self.frame);
        Ok(Some(Frame { timestamp: self.timestamp, keyframe: self.keyframe, data, size: self.size.take() }))
    }

    fn give_up(&mut self) {
        if self.whole {
            self.broken_frames += 1;
            self.dropped = Some(self.timestamp);
        }
        self.whole = false;
        self.frame.clear();
        self.fu_start = None;
    }

    fn begin(&mut self, timestamp: u32) {
        self.frame.clear();
        self.fu_start = None;
        self.timestamp = timestamp;
        self.keyframe = false;
        self.size = None;
        self.whole = true;
    }

    fn push_vp8(&mut self, timestamp: u32, payload: &[u8]) -> Result<(), PayloadError> {
        let d = vp8::parse(payload).map_err(|_| PayloadError::Vp8)?;
        if d.start_of_frame {
            self.begin(timestamp);
            self.keyframe = d.keyframe;
            self.size = d.size;
        }
        if self.whole {
            self.frame.extend_from_slice(&payload[d.payload_at..]);
        } else if self.dropped != Some(timestamp) {
            // Part of a frame whose first packet was lost.
            self.broken_frames += 1;
            self.dropped = Some(timestamp);
        }
        Ok(())
    }

    fn push_h264(&mut self, timestamp: u32, payload: &[u8]) -> Result<(), PayloadError> {
        // A new timestamp starts a new access unit; H.264 payloads carry no start flag of their own.
        if !self.whole {
            self.begin(timestamp);
        }
        match payload[0] & 0x1F {
            h264::NAL_STAP_A => {
                for nal in h264::stap_a_units(payload) {
                    self.push_nal(nal.map_err(|_| PayloadError::H264)?);
                }
            }
            h264::NAL_FU_A => {
                let [indicator, header, ..] = *payload else { return Err(PayloadError::H264) };
                let (start, end) = (header & 0x80 != 0, header & 0x40 != 0);
                if start {
                    self.fu_start = Some(self.frame.len());
                    self.frame.extend_from_slice(&[0, 0, 0, 0, (indicator & 0xE0) | (header & 0x1F)]);
                } else if self.fu_start.is_none() {
                    // The unit's first fragment is missing.
                    return Err(PayloadError::H264);
                }
                self.frame.extend_from_slice(&payload[2..]);
                if end {
                    let at = self.fu_start.take().expect("checked above");
                    let len = (self.frame.len() - at - 4) as u32;
                    self.frame[at..at + 4].copy_from_slice(&len.to_be_bytes());
                    self.note_nal_at(at + 4);
                }
            }
            0 | 25..=27 | 29..=31 => return Err(PayloadError::H264),
            _ => self.push_nal(payload),
        }
        Ok(())
    }

    fn push_nal(&mut self, nal: &[u8]) {
        let at = self.frame.len();
        self.frame.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        self.frame.extend_from_slice(nal);
        self.note_nal_at(at + 4);
    }

    /// Notes what the NAL unit at `at` in the frame says: keyframe, parameter sets, size.
    fn note_nal_at(&mut self, at: usize) {
        let nal = &self.frame[at..];
        match nal[0] & 0x1F {
            5 => self.keyframe = true,
            7 => {
                if let Ok(size) = h264::sps_size(&nal[1..]) {
                    self.size = Some(size);
                }
                self.sps = Some(nal.to_vec());
            }
            8 => self.pps = Some(nal.to_vec()),
            _ => {}
        }
    }
}

/// The decoder configuration (ISO/IEC 14496-15 AVCDecoderConfigurationRecord) of one SPS and PPS.
pub fn avc_config(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    if sps.len() < 4 || sps.len() > 0xFFFF || pps.is_empty() || pps.len() > 0xFFFF {
        return None;
    }
    let mut c = vec![1, sps[1], sps[2], sps[3], 0xFF, 0xE1];
    c.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    c.extend_from_slice(sps);
    c.push(1);
    c.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    c.extend_from_slice(pps);
    Some(c)
}

/// Extends 32-bit RTP timestamps across their wrap; the first one seen is 0.
#[derive(Debug, Default)]
pub struct TimestampUnwrap {
    first: Option<u32>,
    last: i64,
}

impl TimestampUnwrap {
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let Some(first) = self.first else {
            self.first = Some(ts);
            return 0;
        };
        let last_raw = first.wrapping_add(self.last as u32);
        self.last += i64::from(ts.wrapping_sub(last_raw) as i32);
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(r: &mut Reorder<u16>, seqs: &[u16]) -> Vec<(bool, u16)> {
        let mut got = Vec::new();
        for s in seqs {
            r.push(*s, *s, &mut |gap, x| got.push((gap, x)));
        }
        got
    }

    #[test]
    fn reorders_across_the_wrap() {
        let mut r = Reorder::new(8);
        let got = collect(&mut r, &[65534, 0, 65535, 1, 2]);
        assert_eq!(got, [(false, 65534), (false, 65535), (false, 0), (false, 1), (false, 2)]);
        assert_eq!(r.lost, 0);
    }

    #[test]
    fn gives_up_on_a_loss_after_depth_packets() {
        let mut r = Reorder::new(3);
        let got = collect(&mut r, &[10, 12, 13]);
        assert_eq!(got, [(false, 10)]);
        let got = collect(&mut r, &[14]);
        assert_eq!(got, [(true, 12), (false, 13), (false, 14)]);
        assert_eq!(r.lost, 1);
        // 11 came too late.
        assert_eq!(r.push(11, 11, &mut |_, _| panic!("late packets are not released")), Arrival::Late);
        assert_eq!(r.push(14, 14, &mut |_, _| {}), Arrival::Late);
        let mut none = Vec::new();
        assert_eq!(r.push(16, 16, &mut |g, x| none.push((g, x))), Arrival::Accepted);
        assert_eq!(r.push(16, 16, &mut |g, x| none.push((g, x))), Arrival::Duplicate);
        r.flush(&mut |g, x| none.push((g, x)));
        assert_eq!(none, [(true, 16)]);
    }

    fn vp8_packet(start: bool, key: bool, data: &[u8]) -> Vec<u8> {
        // Extended descriptor with a 15-bit picture ID.
        let mut p = vec![if start { 0x90 } else { 0x80 }, 0x80, 0x81, 0x23];
        if start {
            let mut frame = vec![if key { 0x10 } else { 0x11 }, 0, 0, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01];
            frame.extend_from_slice(data);
            p.extend_from_slice(&frame);
        } else {
            p.extend_from_slice(data);
        }
        p
    }

    #[test]
    fn vp8_frames_end_at_the_marker_and_holes_drop_the_frame() {
        let mut d = Depacketizer::new(Codec::Vp8);
        assert_eq!(d.push(false, false, 100, &vp8_packet(true, true, &[1, 2])).unwrap(), None);
        let f = d.push(false, true, 100, &vp8_packet(false, false, &[3])).unwrap().unwrap();
        assert!(f.keyframe);
        assert_eq!(f.size, Some((640, 480)));
        assert_eq!(f.data.len(), 10 + 3);
        // A frame whose middle was lost.
        assert_eq!(d.push(false, false, 200, &vp8_packet(true, false, &[1])).unwrap(), None);
        assert_eq!(d.push(true, true, 200, &vp8_packet(false, false, &[3])).unwrap(), None);
        assert_eq!(d.broken_frames, 1);
        // A frame whose start was lost is not written either.
        assert_eq!(d.push(true, false, 300, &vp8_packet(false, false, &[3])).unwrap(), None);
        assert_eq!(d.push(false, true, 300, &vp8_packet(false, false, &[3])).unwrap(), None);
        assert_eq!(d.broken_frames, 2);
        let f = d.push(false, true, 400, &vp8_packet(true, false, &[9])).unwrap().unwrap();
        assert!(!f.keyframe);
        assert_eq!(d.push(false, true, 500, &[]), Err(PayloadError::Empty));
        assert_eq!(d.push(false, true, 500, &[0x80]), Err(PayloadError::Vp8));
    }

    #[test]
    fn h264_stap_a_and_fu_a_become_length_prefixed_units() {
        let mut d = Depacketizer::new(Codec::H264);
        // STAP-A with an SPS-like and a PPS unit.
        let stap = [24, 0, 3, 0x67, 0x42, 0x00, 0, 2, 0x68, 0xCE];
        assert_eq!(d.push(false, false, 9, &stap).unwrap(), None);
        // An IDR slice in two fragments.
        d.push(false, false, 9, &[0x7C, 0x85, 1, 2]).unwrap();
        let f = d.push(false, true, 9, &[0x7C, 0x45, 3]).unwrap().unwrap();
        assert!(f.keyframe);
        assert_eq!(f.data, [0, 0, 0, 3, 0x67, 0x42, 0x00, 0, 0, 0, 2, 0x68, 0xCE, 0, 0, 0, 4, 0x65, 1, 2, 3].to_vec());
        assert_eq!(d.pps.as_deref(), Some(&[0x68, 0xCE][..]));
        // A middle fragment without its start.
        assert_eq!(d.push(false, true, 10, &[0x7C, 0x05, 3]), Err(PayloadError::H264));
        assert_eq!(d.push(false, true, 10, &[24, 0, 9, 1]), Err(PayloadError::H264));
        assert_eq!(avc_config(&[0x67, 0x42, 0, 0x1F], &[0x68]).unwrap()[..6], [1, 0x42, 0, 0x1F, 0xFF, 0xE1]);
    }

    #[test]
    fn timestamps_unwrap() {
        let mut t = TimestampUnwrap::default();
        assert_eq!(t.unwrap(u32::MAX - 10), 0);
        assert_eq!(t.unwrap(5), 16);
        assert_eq!(t.unwrap(0), 11);
        assert_eq!(t.unwrap(3000), 3011);
    }
}
