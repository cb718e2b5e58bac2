//! The VP8 RTP payload descriptor (RFC 7741 §4.2) and the start of a VP8 frame (RFC 6386 §9.1): what a
//! relay needs to switch between simulcast layers. A consumer may only start a layer at a keyframe, and
//! the picture ID and TL0PICIDX a receiver sees must run on without a jump, so both are found here and
//! rewritten in place.

/// Why a payload is not a VP8 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Vp8Error {
    #[error("VP8 payload shorter than its descriptor")]
    TooShort,
}

/// Where a packet's picture ID sits, and its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureId {
    /// Offset in the payload.
    pub at: usize,
    /// 15 bits (two bytes, M set) rather than 7.
    pub long: bool,
    pub value: u16,
}

impl PictureId {
    /// The modulus of this field: 2^15 or 2^7.
    pub fn modulus(&self) -> u16 {
        if self.long {
            0x8000
        } else {
            0x80
        }
    }
}

/// What one packet's descriptor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// The first packet of a frame (S set and partition index 0).
    pub start_of_frame: bool,
    /// The first packet of a keyframe.
    pub keyframe: bool,
    pub picture_id: Option<PictureId>,
    /// Offset of TL0PICIDX in the payload, and its value.
    pub tl0_pic_idx: Option<(usize, u8)>,
    /// A keyframe's width and height, from its frame header (when the first packet holds it).
    pub size: Option<(u16, u16)>,
    /// Where the VP8 data follows the descriptor (what a recorder keeps of the packet).
    pub payload_at: usize,
}

/// Parses the payload descriptor of a VP8 RTP payload (the RTP payload, without padding).
pub fn parse(payload: &[u8]) -> Result<Descriptor, Vp8Error> {
    let first = *payload.first().ok_or(Vp8Error::TooShort)?;
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    let mut d = Descriptor { start_of_frame: start && partition == 0, ..Default::default() };
    let mut at = 1;
    if extended {
        let flags = *payload.get(at).ok_or(Vp8Error::TooShort)?;
        at += 1;
        let (has_picture_id, has_tl0, has_tid, has_keyidx) =
            (flags & 0x80 != 0, flags & 0x40 != 0, flags & 0x20 != 0, flags & 0x10 != 0);
        if has_picture_id {
            let b = *payload.get(at).ok_or(Vp8Error::TooShort)?;
            if b & 0x80 != 0 {
                let low = *payload.get(at + 1).ok_or(Vp8Error::TooShort)?;
                d.picture_id = Some(PictureId { at, long: true, value: u16::from(b & 0x7F) << 8 | u16::from(low) });
                at += 2;
            } else {
                d.picture_id = Some(PictureId { at, long: false, value: u16::from(b) });
                at += 1;
            }
        }
        if has_tl0 {
            d.tl0_pic_idx = Some((at, *payload.get(at).ok_or(Vp8Error::TooShort)?));
            at += 1;
        }
        if has_tid || has_keyidx {
            payload.get(at).ok_or(Vp8Error::TooShort)?;
            at += 1;
        }
    }
    d.payload_at = at;
    if d.start_of_frame {
        // The frame tag's P bit is 0 for a keyframe, whose header then carries a start code and the size.
        let frame = payload.get(at..).unwrap_or(&[]);
        if let Some(tag) = frame.first() {
            d.keyframe = tag & 0x01 == 0;
        }
        if d.keyframe && frame.len() >= 10 && frame[3..6] == [0x9D, 0x01, 0x2A] {
            let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3FFF;
            let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3FFF;
            d.size = Some((width, height));
        }
    }
    Ok(d)
}

/// Writes a picture ID where [`parse`] found one, in the same width (the value is taken modulo it).
pub fn set_picture_id(payload: &mut [u8], id: PictureId, value: u16) {
    if id.long {
        let v = value & 0x7FFF;
        payload[id.at] = 0x80 | (v >> 8) as u8;
        payload[id.at + 1] = v as u8;
    } else {
        payload[id.at] = (value & 0x7F) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// X, S, partition 0; I, L, T; 15-bit picture ID; TL0PICIDX; TID; then a keyframe header of 640x360.
    fn keyframe_payload(picture_id: u16, tl0: u8) -> Vec<u8> {
        let mut p = vec![0x90, 0xE0, 0x80 | (picture_id >> 8) as u8, picture_id as u8, tl0, 0x20];
        p.extend_from_slice(&[0x50, 0x2B, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0x68, 0x01, 0xAA]);
        p
    }

    #[test]
    fn a_keyframe_gives_its_size_and_fields() {
        let p = keyframe_payload(0x1234, 7);
        let d = parse(&p).unwrap();
        assert!(d.start_of_frame && d.keyframe);
        assert_eq!(d.picture_id, Some(PictureId { at: 2, long: true, value: 0x1234 }));
        assert_eq!(d.tl0_pic_idx, Some((4, 7)));
        assert_eq!(d.size, Some((640, 360)));
    }

    #[test]
    fn delta_frames_and_continuations_are_not_keyframes() {
        let mut p = keyframe_payload(1, 0);
        p[6] |= 0x01;
        let d = parse(&p).unwrap();
        assert!(d.start_of_frame && !d.keyframe && d.size.is_none());
        // S clear: a continuation packet of the same frame.
        let mut q = keyframe_payload(1, 0);
        q[0] = 0x80;
        let d = parse(&q).unwrap();
        assert!(!d.start_of_frame && !d.keyframe);
        // Partition 1, even with S set, does not start the frame.
        q[0] = 0x91;
        assert!(!parse(&q).unwrap().start_of_frame);
    }

    #[test]
    fn picture_ids_are_rewritten_in_their_own_width() {
        let mut p = keyframe_payload(0x7FFF, 0);
        let id = parse(&p).unwrap().picture_id.unwrap();
        set_picture_id(&mut p, id, 0x8001);
        assert_eq!(parse(&p).unwrap().picture_id.unwrap().value, 1);
        // A 7-bit picture ID (M clear), no TL0PICIDX.
        let mut short = vec![0x90, 0x80, 0x05, 0x00];
        let id = parse(&short).unwrap().picture_id.unwrap();
        assert_eq!((id.long, id.value, id.modulus()), (false, 5, 0x80));
        set_picture_id(&mut short, id, 0x81);
        assert_eq!(parse(&short).unwrap().picture_id.unwrap().value, 1);
    }

    #[test]
    fn short_and_minimal_payloads() {
        assert_eq!(parse(&[]), Err(Vp8Error::TooShort));
        assert_eq!(parse(&[0x80]), Err(Vp8Error::TooShort));
        assert_eq!(parse(&[0x80, 0x80, 0x80]), Err(Vp8Error::TooShort));
        assert_eq!(parse(&[0x80, 0x40]), Err(Vp8Error::TooShort));
        assert_eq!(parse(&[0x80, 0x20]), Err(Vp8Error::TooShort));
        // No extension: a keyframe with a truncated header has no size.
        let d = parse(&[0x10, 0x00, 0x01]).unwrap();
        assert!(d.keyframe && d.size.is_none() && d.picture_id.is_none());
    }
}
