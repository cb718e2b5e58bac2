//! The H.264 RTP payload (RFC 6184, packetization mode 1) and the sequence parameter set (ITU-T H.264
//! §7.3.2.1.1): what a relay needs to switch between simulcast layers. A consumer may only start a layer
//! at a keyframe, and a decoder can only start a keyframe with its parameter sets; browsers send the SPS
//! and PPS in front of every IDR picture, so the packet that carries an SPS is where a keyframe starts.
//! The SPS also gives the picture's size, which decides the layer a tile needs. H.264 has no picture ID:
//! a switch only rewrites sequence numbers and timestamps.

/// Why a payload is not one this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum H264Error {
    #[error("H.264 payload shorter than its headers")]
    TooShort,
    #[error("H.264 NAL unit type not allowed in RTP")]
    BadNalType,
    #[error("malformed H.264 sequence parameter set")]
    BadSps,
}

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
/// NAL unit types of the RTP payload format (RFC 6184) that aggregate or fragment units.
pub const NAL_STAP_A: u8 = 24;
pub const NAL_FU_A: u8 = 28;

/// The NAL units a STAP-A payload aggregates (`payload` from its STAP-A header byte on): each unit, or
/// one error for a unit that is empty or runs past the packet, after which the iteration ends.
pub fn stap_a_units(payload: &[u8]) -> StapAUnits<'_> {
    StapAUnits { rest: payload.get(1..).unwrap_or_default() }
}

/// See [`stap_a_units`].
pub struct StapAUnits<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for StapAUnits<'a> {
    type Item = Result<&'a [u8], H264Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.rest);
        let [hi, lo, ..] = *rest else { return Some(Err(H264Error::TooShort)) };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(nal) = rest.get(2..2 + len).filter(|n| !n.is_empty()) else { return Some(Err(H264Error::TooShort)) };
        self.rest = &rest[2 + len..];
        Some(Ok(nal))
    }
}

/// What one packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// The packet starts a keyframe: it carries a sequence parameter set.
    pub keyframe: bool,
    /// It holds (the start of) an IDR slice.
    pub idr: bool,
    /// The picture's width and height, from the SPS when the packet carries one.
    pub size: Option<(u16, u16)>,
}

/// Reads an H.264 RTP payload (without padding): a single NAL unit, a STAP-A or an FU-A.
pub fn parse(payload: &[u8]) -> Result<Descriptor, H264Error> {
    let first = *payload.first().ok_or(H264Error::TooShort)?;
    let mut d = Descriptor::default();
    match first & 0x1F {
        0 | 25..=27 | 29..=31 => return Err(H264Error::BadNalType),
        NAL_STAP_A => {
            for nal in stap_a_units(payload) {
                d.read_nal(nal?);
            }
        }
        NAL_FU_A => {
            let header = *payload.get(1).ok_or(H264Error::TooShort)?;
            // Only the first fragment says what the unit is; an SPS is never fragmented by browsers.
            if header & 0x80 != 0 && header & 0x1F == NAL_IDR {
                d.idr = true;
            }
        }
        _ => d.read_nal(payload),
    }
    Ok(d)
}

impl Descriptor {
    fn read_nal(&mut self, nal: &[u8]) {
        match nal[0] & 0x1F {
            NAL_IDR => self.idr = true,
            NAL_SPS => {
                self.keyframe = true;
                // A keyframe whose size cannot be read is still a keyframe.
                if let Ok(size) = sps_size(&nal[1..]) {
                    self.size = Some(size);
                }
            }
            _ => {}
        }
    }
}

/// Reads bits of an RBSP, skipping emulation prevention bytes (0x000003).
struct Bits<'a> {
    data: &'a [u8],
    byte: usize,
    bit: u8,
    zeros: u8,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, byte: 0, bit: 0, zeros: 0 }
    }

    fn bit(&mut self) -> Result<u32, H264Error> {
        if self.bit == 0 {
            // An 0x03 after two zero bytes is not part of the RBSP.
            if self.zeros >= 2 && self.data.get(self.byte) == Some(&3) {
                self.byte += 1;
                self.zeros = 0;
            }
            let b = *self.data.get(self.byte).ok_or(H264Error::BadSps)?;
            self.zeros = if b == 0 { self.zeros.saturating_add(1) } else { 0 };
        }
        let b = self.data[self.byte];
        let v = (b >> (7 - self.bit)) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.byte += 1;
        }
        Ok(u32::from(v))
    }

    fn bits(&mut self, n: u8) -> Result<u32, H264Error> {
        (0..n).try_fold(0, |acc, _| Ok((acc << 1) | self.bit()?))
    }

    /// ue(v): Exp-Golomb, at most 32 bits of value.
    fn ue(&mut self) -> Result<u32, H264Error> {
        let mut zeros = 0u8;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(H264Error::BadSps);
            }
        }
        Ok((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Result<i32, H264Error> {
        let k = self.ue()?;
        Ok(if k % 2 == 1 { k.div_ceil(2) as i32 } else { -((k / 2) as i32) })
    }
}

/// The profiles whose SPS carries chroma format, bit depths and scaling matrices.
const HIGH_PROFILES: [u32; 12] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134];

/// Width and height of the pictures of an SPS (its RBSP after the NAL header), after cropping.
pub fn sps_size(sps: &[u8]) -> Result<(u16, u16), H264Error> {
    let mut r = Bits::new(sps);
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if HIGH_PROFILES.contains(&profile_idc) || profile_idc == 135 {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(H264Error::BadSps);
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => _ = r.ue()?, // log2_max_pic_order_cnt_lsb_minus4
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(H264Error::BadSps);
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return Err(H264Error::BadSps),
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        left = r.ue()?.into();
        right = r.ue()?.into();
        top = r.ue()?.into();
        bottom = r.ue()?.into();
    }
    // Cropping is counted in chroma samples (§7.4.2.1.1).
    let (crop_x, crop_y) = match (chroma_format_idc, separate_colour_plane) {
        (0, _) | (3, true) => (1, 2 - frame_mbs_only),
        (1, _) => (2, 2 * (2 - frame_mbs_only)),
        (2, _) => (2, 2 - frame_mbs_only),
        _ => (1, 2 - frame_mbs_only),
    };
    let width = (width_mbs * 16).checked_sub(crop_x * (left + right));
    let height = (height_map_units * 16 * (2 - frame_mbs_only)).checked_sub(crop_y * (top + bottom));
    match (width.and_then(|w| u16::try_from(w).ok()), height.and_then(|h| u16::try_from(h).ok())) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(H264Error::BadSps),
    }
}

fn skip_scaling_list(r: &mut Bits<'_>, size: usize) -> Result<(), H264Error> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()?).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes an SPS the way an encoder does, for the sizes the tests need.
    fn sps(profile: u8, width_mbs: u32, height_mbs: u32, crop_bottom: u32) -> Vec<u8> {
        let mut bits = Vec::new();
        let mut put = |v: u32, n: u8| (0..n).rev().for_each(|i| bits.push((v >> i) & 1));
        put(u32::from(profile), 8);
        put(0xC0, 8);
        put(31, 8);
        let ue = |v: u32, put: &mut dyn FnMut(u32, u8)| {
            let n = 32 - (v + 1).leading_zeros() as u8;
            put(0, n - 1);
            put(v + 1, n);
        };
        ue(0, &mut put); // sps id
        if profile == 100 {
            ue(1, &mut put); // 4:2:0
            ue(0, &mut put);
            ue(0, &mut put);
            put(0, 1);
            put(1, 1); // scaling matrices present
            put(1, 1); // the first list present: 16 deltas of 0 (a flat 8)
            for _ in 0..16 {
                ue(0, &mut put);
            }
            put(0, 7);
        }
        ue(0, &mut put); // log2_max_frame_num
        ue(0, &mut put); // poc type 0
        ue(0, &mut put);
        ue(1, &mut put); // refs
        put(0, 1);
        ue(width_mbs - 1, &mut put);
        ue(height_mbs - 1, &mut put);
        put(1, 1); // frame_mbs_only
        put(1, 1); // direct_8x8
        put(u32::from(crop_bottom > 0), 1);
        if crop_bottom > 0 {
            ue(0, &mut put);
            ue(0, &mut put);
            ue(0, &mut put);
            ue(crop_bottom, &mut put);
        }
        put(0, 1); // no VUI
        put(1, 1); // stop bit
        while bits.len() % 8 != 0 {
            bits.push(0);
        }
        let bytes: Vec<u8> = bits.chunks(8).map(|c| c.iter().fold(0u8, |a, b| (a << 1) | *b as u8)).collect();
        // Emulation prevention, as an encoder must add it.
        let mut out = Vec::new();
        let mut zeros = 0;
        for b in bytes {
            if zeros >= 2 && b <= 3 {
                out.push(3);
                zeros = 0;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            out.push(b);
        }
        out
    }

    #[test]
    fn sizes_from_sps() {
        assert_eq!(sps_size(&sps(66, 40, 23, 4)), Ok((640, 360)));
        assert_eq!(sps_size(&sps(66, 20, 12, 6)), Ok((320, 180)));
        assert_eq!(sps_size(&sps(66, 80, 45, 0)), Ok((1280, 720)));
        assert_eq!(sps_size(&sps(100, 120, 68, 4)), Ok((1920, 1080)));
    }

    #[test]
    fn emulation_prevention_bytes_are_skipped() {
        // 0x00 0x00 0x03 0x01: the 0x03 is not data.
        let mut r = Bits::new(&[0x00, 0x00, 0x03, 0x01]);
        assert_eq!(r.bits(24), Ok(1));
    }

    #[test]
    fn keyframes_start_where_the_sps_is() {
        let sps = sps(66, 40, 23, 4);
        // STAP-A: SPS, PPS.
        let mut stap = vec![0x78];
        stap.extend_from_slice(&((sps.len() + 1) as u16).to_be_bytes());
        stap.push(0x67);
        stap.extend_from_slice(&sps);
        stap.extend_from_slice(&[0, 4, 0x68, 0xCE, 0x3C, 0x80]);
        let d = parse(&stap).unwrap();
        assert!(d.keyframe);
        assert_eq!(d.size, Some((640, 360)));
        // FU-A, the first fragment of an IDR slice: part of the keyframe, not where it starts.
        let d = parse(&[0x7C, 0x85, 0x88, 0x84]).unwrap();
        assert_eq!((d.keyframe, d.idr), (false, true));
        // A later fragment, and a non-IDR slice.
        assert_eq!(parse(&[0x7C, 0x05, 0x00]).unwrap(), Descriptor::default());
        assert_eq!(parse(&[0x41, 0x9A, 0x00]).unwrap(), Descriptor::default());
        // A single SPS NAL unit.
        let mut single = vec![0x67];
        single.extend_from_slice(&sps);
        assert!(parse(&single).unwrap().keyframe);
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert_eq!(parse(&[]), Err(H264Error::TooShort));
        assert_eq!(parse(&[0x00]), Err(H264Error::BadNalType));
        assert_eq!(parse(&[0x7A, 0x00]), Err(H264Error::BadNalType)); // STAP-B
        assert_eq!(parse(&[0x7C]), Err(H264Error::TooShort));
        // A STAP-A whose unit runs past the packet, or is empty.
        assert_eq!(parse(&[0x78, 0x00, 0x09, 0x67, 0x42]), Err(H264Error::TooShort));
        assert_eq!(parse(&[0x78, 0x00, 0x00]), Err(H264Error::TooShort));
        assert_eq!(parse(&[0x78, 0x00]), Err(H264Error::TooShort));
        // An SPS cut short is a keyframe of unknown size.
        let d = parse(&[0x67, 0x42, 0xC0]).unwrap();
        assert_eq!((d.keyframe, d.size), (true, None));
        assert_eq!(sps_size(&[0x42, 0xC0, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00]), Err(H264Error::BadSps));
    }
}
