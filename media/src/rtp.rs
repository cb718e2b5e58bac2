//! The RTP header (RFC 3550 §5.1): parse it, rewrite fields in place, write one, read its header
//! extensions (RFC 8285), and keep a receiver's statistics for reception reports (RFC 3550 A.1,
//! A.3, A.8).
//!
//! Calling contract: [`parse`] works on SRTP packets before decryption, since SRTP leaves the
//! header in the clear; it therefore never looks at padding, whose count byte is encrypted (or is
//! the auth tag). Call [`payload`] only on decrypted packets. The `set_*` rewriters take a buffer
//! that [`parse`] has accepted and do nothing to one shorter than the fixed 12-byte header.
//! [`ReceiveStats`] has no clock: the caller converts its arrival time into RTP clock units.

/// Length of the fixed RTP header, without CSRCs or extension.
pub const HEADER_LEN: usize = 12;
/// "defined by profile" value of the one-byte header extension form (RFC 8285 §4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// "defined by profile" value of the two-byte form, ignoring its low four "appbits" (§4.3).
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// A synchronization source identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

/// An RTP sequence number, compared modulo 2^16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNo(pub u16);

impl SeqNo {
    /// The following sequence number, wrapping after 65535.
    pub fn next(self) -> SeqNo {
        SeqNo(self.0.wrapping_add(1))
    }

    /// `self + n`, wrapping.
    pub fn wrapping_add(self, n: u16) -> SeqNo {
        SeqNo(self.0.wrapping_add(n))
    }

    /// Signed distance from `self` to `later`: positive when `later` is newer (within half the
    /// sequence space), negative when older.
    pub fn delta(self, later: SeqNo) -> i16 {
        later.0.wrapping_sub(self.0) as i16
    }

    /// Whether `self` comes after `other`, modulo 2^16.
    pub fn is_newer_than(self, other: SeqNo) -> bool {
        other.delta(self) > 0
    }
}

/// Why bytes are not an RTP packet, or why a header could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("shorter than the 12-byte RTP header")]
    TooShort,
    #[error("RTP version is not 2")]
    BadVersion,
    #[error("CSRC list or header extension runs past the packet")]
    Truncated,
    #[error("padding count is zero or larger than the payload")]
    BadPadding,
    #[error("output buffer too small")]
    BufferTooSmall,
    #[error("more than 15 CSRCs")]
    TooManyCsrcs,
    #[error("header extension id outside 1..=14 or data outside 1..=16 bytes")]
    BadExtension,
}

/// The fields of a parsed RTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: Ssrc,
    /// Bytes from the start of the packet to the payload: 12 + 4 × CSRC count + extension.
    pub header_len: usize,
    pub padding: bool,
    pub has_extension: bool,
    pub csrc_count: u8,
}

/// Parses the RTP header: version 2, and the CSRC list and header extension inside `buf`.
pub fn parse(buf: &[u8]) -> Result<RtpHeader, RtpError> {
    if buf.len() < HEADER_LEN {
        return Err(RtpError::TooShort);
    }
    if buf[0] >> 6 != 2 {
        return Err(RtpError::BadVersion);
    }
    let csrc_count = buf[0] & 0x0F;
    let has_extension = buf[0] & 0x10 != 0;
    let mut header_len = HEADER_LEN + 4 * usize::from(csrc_count);
    if has_extension {
        let Some(ext) = buf.get(header_len..header_len + 4) else {
            return Err(RtpError::Truncated);
        };
        header_len += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    if header_len > buf.len() {
        return Err(RtpError::Truncated);
    }
    Ok(RtpHeader {
        marker: buf[1] & 0x80 != 0,
        payload_type: buf[1] & 0x7F,
        sequence_number: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: Ssrc(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]])),
        header_len,
        padding: buf[0] & 0x20 != 0,
        has_extension,
        csrc_count,
    })
}

/// The payload of a decrypted packet `buf` whose header is `h`, without padding.
pub fn payload<'a>(buf: &'a [u8], h: &RtpHeader) -> Result<&'a [u8], RtpError> {
    let Some(body) = buf.get(h.header_len..) else {
        return Err(RtpError::Truncated);
    };
    if !h.padding {
        return Ok(body);
    }
    match body.last() {
        Some(&count) if count != 0 && usize::from(count) <= body.len() => Ok(&body[..body.len() - usize::from(count)]),
        _ => Err(RtpError::BadPadding),
    }
}

/// The CSRC list of a parsed packet.
pub fn csrcs<'a>(buf: &'a [u8], h: &RtpHeader) -> impl Iterator<Item = Ssrc> + 'a {
    let end = HEADER_LEN + 4 * usize::from(h.csrc_count);
    buf.get(HEADER_LEN..end).unwrap_or(&[]).chunks_exact(4).map(|c| Ssrc(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
}

/// Rewrites the SSRC in place.
pub fn set_ssrc(buf: &mut [u8], ssrc: Ssrc) {
    if buf.len() >= HEADER_LEN {
        buf[8..12].copy_from_slice(&ssrc.0.to_be_bytes());
    }
}

/// Rewrites the payload type in place, keeping the marker bit.
pub fn set_payload_type(buf: &mut [u8], pt: u8) {
    if buf.len() >= HEADER_LEN {
        buf[1] = (buf[1] & 0x80) | (pt & 0x7F);
    }
}

/// Rewrites the sequence number in place.
pub fn set_sequence_number(buf: &mut [u8], seq: u16) {
    if buf.len() >= HEADER_LEN {
        buf[2..4].copy_from_slice(&seq.to_be_bytes());
    }
}

/// Rewrites the timestamp in place.
pub fn set_timestamp(buf: &mut [u8], ts: u32) {
    if buf.len() >= HEADER_LEN {
        buf[4..8].copy_from_slice(&ts.to_be_bytes());
    }
}

/// One header extension element (RFC 8285): its local identifier and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    pub id: u8,
    pub data: &'a [u8],
}

/// Iterates the header extension elements of a parsed packet in the one-byte (0xBEDE) or
/// two-byte (0x100X) form; yields nothing for other profiles and stops at a malformed element.
pub fn extensions<'a>(buf: &'a [u8], h: &RtpHeader) -> Extensions<'a> {
    let start = HEADER_LEN + 4 * usize::from(h.csrc_count);
    let block = if h.has_extension { buf.get(start..h.header_len).unwrap_or(&[]) } else { &[] };
    let (two_byte, data) = match block {
        [a, b, _, _, data @ ..] => match u16::from_be_bytes([*a, *b]) {
            ONE_BYTE_PROFILE => (false, data),
            p if p & 0xFFF0 == TWO_BYTE_PROFILE => (true, data),
            _ => (false, &[][..]),
        },
        _ => (false, &[][..]),
    };
    Extensions { data, two_byte }
}

/// Where the data of header extension `id` sits in `buf`: (offset, length). For rewriting a value in
/// place, e.g. a transport-wide sequence number per receiver.
pub fn find_extension(buf: &[u8], h: &RtpHeader, id: u8) -> Option<(usize, usize)> {
    let e = extensions(buf, h).find(|e| e.id == id)?;
    // `data` is a sub-slice of `buf`, so the difference of their starts is its offset.
    Some((e.data.as_ptr() as usize - buf.as_ptr() as usize, e.data.len()))
}

/// Turns the header extension elements with one of `ids` into padding bytes, in place; returns how many
/// it blanked. The header keeps its length, so nothing else moves.
pub fn blank_extensions(buf: &mut [u8], h: &RtpHeader, ids: &[u8]) -> usize {
    let two_byte = extensions(buf, h).two_byte;
    // Offsets first (at most a handful of elements match), then the writes.
    let mut found = [(0usize, 0usize); 4];
    let mut n = 0;
    for e in extensions(buf, h).filter(|e| ids.contains(&e.id)) {
        if n == found.len() {
            break;
        }
        let at = e.data.as_ptr() as usize - buf.as_ptr() as usize;
        let head = if two_byte { 2 } else { 1 };
        found[n] = (at - head, at + e.data.len());
        n += 1;
    }
    for &(start, end) in &found[..n] {
        buf[start..end].fill(0);
    }
    n
}

/// Iterator returned by [`extensions`].
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    data: &'a [u8],
    two_byte: bool,
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        loop {
            let (&first, rest) = self.data.split_first()?;
            if first == 0 {
                // Padding byte between elements.
                self.data = rest;
                continue;
            }
            let (id, len, rest) = if self.two_byte {
                let (&len, rest) = rest.split_first().unwrap_or((&u8::MAX, &[]));
                (first, usize::from(len), rest)
            } else {
                if first >> 4 == 15 {
                    // Reserved id 15: stop processing (RFC 8285 §4.2).
                    self.data = &[];
                    return None;
                }
                (first >> 4, usize::from(first & 0x0F) + 1, rest)
            };
            if len > rest.len() {
                self.data = &[];
                return None;
            }
            let (data, rest) = rest.split_at(len);
            self.data = rest;
            return Some(Extension { id, data });
        }
    }
}

/// What [`write_header`] writes: no padding; extensions in the one-byte form (ids 1..=14, 1 to
/// 16 bytes of data each), none when the list is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderFields<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: Ssrc,
    pub csrcs: &'a [Ssrc],
    pub extensions: &'a [Extension<'a>],
}

/// Writes an RTP header into `out` (for tests and the load generator); returns its length, where
/// the payload starts.
pub fn write_header(h: &HeaderFields<'_>, out: &mut [u8]) -> Result<usize, RtpError> {
    if h.csrcs.len() > 15 {
        return Err(RtpError::TooManyCsrcs);
    }
    let mut ext_len = 0;
    for e in h.extensions {
        if !(1..=14).contains(&e.id) || !(1..=16).contains(&e.data.len()) {
            return Err(RtpError::BadExtension);
        }
        ext_len += 1 + e.data.len();
    }
    let ext_words = ext_len.div_ceil(4);
    let csrc_end = HEADER_LEN + 4 * h.csrcs.len();
    let len = csrc_end + if h.extensions.is_empty() { 0 } else { 4 + 4 * ext_words };
    let Some(out) = out.get_mut(..len) else {
        return Err(RtpError::BufferTooSmall);
    };
    let x = if h.extensions.is_empty() { 0 } else { 0x10 };
    out[0] = 0x80 | x | h.csrcs.len() as u8;
    out[1] = (u8::from(h.marker) << 7) | (h.payload_type & 0x7F);
    out[2..4].copy_from_slice(&h.sequence_number.to_be_bytes());
    out[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&h.ssrc.0.to_be_bytes());
    for (slot, csrc) in out[HEADER_LEN..csrc_end].chunks_exact_mut(4).zip(h.csrcs) {
        slot.copy_from_slice(&csrc.0.to_be_bytes());
    }
    if !h.extensions.is_empty() {
        out[csrc_end..csrc_end + 2].copy_from_slice(&ONE_BYTE_PROFILE.to_be_bytes());
        out[csrc_end + 2..csrc_end + 4].copy_from_slice(&(ext_words as u16).to_be_bytes());
        let mut at = csrc_end + 4;
        for e in h.extensions {
            out[at] = (e.id << 4) | (e.data.len() as u8 - 1);
            out[at + 1..at + 1 + e.data.len()].copy_from_slice(e.data);
            at += 1 + e.data.len();
        }
        out[at..].fill(0);
    }
    Ok(len)
}

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u64 = 1 << 16;

/// A receiver's view of one source (RFC 3550 A.1, A.3, A.8): extended highest sequence number,
/// expected and received counts, loss, and interarrival jitter.
///
/// Unlike A.1 there is no probation: the first packet validates the source. A jump of 3000 or
/// more ahead (or 100 or more behind) is dropped unless the next packet follows it, in which case
/// the sequence restarts there, as in A.1. Duplicates count as received, so cumulative loss can
/// go negative, as in A.3.
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    started: bool,
    max_seq: u16,
    /// Wraps seen, times 2^16.
    cycles: u64,
    base_seq: u64,
    /// After a big jump, the sequence number that would confirm a restart.
    bad_seq: Option<u16>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    last_transit: Option<u32>,
    /// Jitter in RTP units, times 16 (A.8).
    jitter_q4: u64,
}

impl ReceiveStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a packet with sequence number `seq` and RTP timestamp `rtp_timestamp` that arrived
    /// at `arrival` (the caller's clock in the same RTP units). Returns false when the packet was
    /// discarded as a big jump not (yet) confirmed by its successor.
    pub fn update(&mut self, seq: u16, rtp_timestamp: u32, arrival: u32) -> bool {
        if !self.started {
            self.started = true;
            self.restart(seq);
        } else {
            let udelta = seq.wrapping_sub(self.max_seq);
            if udelta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles += SEQ_MOD;
                }
                self.max_seq = seq;
            } else if udelta <= u16::MAX - MAX_MISORDER + 1 {
                if self.bad_seq != Some(seq) {
                    self.bad_seq = Some(seq.wrapping_add(1));
                    return false;
                }
                self.restart(seq);
            }
            // Otherwise a duplicate or a packet reordered by less than MAX_MISORDER.
        }
        self.received += 1;

        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
        true
    }

    fn restart(&mut self, seq: u16) {
        self.max_seq = seq;
        self.cycles = 0;
        self.base_seq = u64::from(seq);
        self.bad_seq = None;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
        self.last_transit = None;
    }

    fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    /// Extended highest sequence number received, as a reception report carries it (wraps at
    /// 2^32). 0 before any packet.
    pub fn extended_highest(&self) -> u32 {
        self.extended_max() as u32
    }

    /// Packets expected: extended highest minus base plus one; 0 before any packet.
    pub fn expected(&self) -> u64 {
        if self.started {
            self.extended_max() + 1 - self.base_seq
        } else {
            0
        }
    }

    /// Packets received, duplicates included.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative number of packets lost, clamped to the report block's signed 24 bits.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// Fraction lost since the previous call, in 1/256 (A.3); 0 when nothing was lost or more
    /// arrived than expected. Starts the next interval.
    pub fn fraction_lost_since_last(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior.min(expected);
        let received_interval = self.received - self.received_prior.min(self.received);
        self.expected_prior = expected;
        self.received_prior = self.received;
        if expected_interval == 0 || received_interval >= expected_interval {
            return 0;
        }
        let lost_interval = expected_interval - received_interval;
        ((lost_interval << 8) / expected_interval).min(255) as u8
    }

    /// Interarrival jitter in RTP timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4).min(u64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet as Chrome sends VP8: CC=0, X=1 with a one-byte extension block.
    const PACKET: [u8; 24] = [
        0x90, 0xE0, 0x12, 0x34, 0x00, 0x01, 0xE2, 0x40, 0xDE, 0xAD, 0xBE, 0xEF, // fixed header
        0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAB, 0x00, 0x00, // one-byte ext: id 1, 1 byte
        0x01, 0x02, 0x03, 0x04, // payload
    ];

    #[test]
    fn parses_fixed_header_and_extension() {
        let h = parse(&PACKET).unwrap();
        assert!(h.marker && h.has_extension && !h.padding);
        assert_eq!(h.payload_type, 96);
        assert_eq!(h.sequence_number, 0x1234);
        assert_eq!(h.timestamp, 123_456);
        assert_eq!(h.ssrc, Ssrc(0xDEAD_BEEF));
        assert_eq!((h.csrc_count, h.header_len), (0, 20));
        assert_eq!(payload(&PACKET, &h), Ok(&PACKET[20..]));
        let ext: Vec<_> = extensions(&PACKET, &h).collect();
        assert_eq!(ext, [Extension { id: 1, data: &[0xAB] }]);
    }

    #[test]
    fn write_then_parse() {
        let csrc_list = [Ssrc(1), Ssrc(2)];
        let mid = Extension { id: 3, data: b"0" };
        let twcc = Extension { id: 5, data: &[0x01, 0x02] };
        let fields = HeaderFields {
            marker: true,
            payload_type: 111,
            sequence_number: 65535,
            timestamp: u32::MAX,
            ssrc: Ssrc(42),
            csrcs: &csrc_list,
            extensions: &[mid, twcc],
        };
        let mut out = [0u8; 64];
        let n = write_header(&fields, &mut out).unwrap();
        // 12 + 8 CSRC + 4 ext header + 5 bytes of elements padded to 8.
        assert_eq!(n, 32);
        let h = parse(&out[..n]).unwrap();
        assert_eq!((h.marker, h.payload_type, h.sequence_number), (true, 111, 65535));
        assert_eq!((h.timestamp, h.ssrc, h.header_len), (u32::MAX, Ssrc(42), 32));
        assert_eq!(csrcs(&out[..n], &h).collect::<Vec<_>>(), [Ssrc(1), Ssrc(2)]);
        assert_eq!(extensions(&out[..n], &h).collect::<Vec<_>>(), [mid, twcc]);
        let (at, len) = find_extension(&out[..n], &h, twcc.id).unwrap();
        assert_eq!(&out[at..at + len], twcc.data);
        assert_eq!(find_extension(&out[..n], &h, 9), None);
        for short in 0..n {
            assert_eq!(write_header(&fields, &mut out[..short]), Err(RtpError::BufferTooSmall));
        }

        let plain = HeaderFields { payload_type: 0, ..Default::default() };
        assert_eq!(write_header(&plain, &mut out), Ok(12));
        assert_eq!(out[..2], [0x80, 0x00]);
        let bad_id = [Extension { id: 15, data: b"x" }];
        let bad_len = [Extension { id: 1, data: &[0; 17] }];
        for extensions in [&bad_id[..], &bad_len[..]] {
            let f = HeaderFields { extensions, ..plain };
            assert_eq!(write_header(&f, &mut out), Err(RtpError::BadExtension));
        }
        let many = [Ssrc(0); 16];
        let f = HeaderFields { csrcs: &many, ..plain };
        assert_eq!(write_header(&f, &mut [0u8; 128]), Err(RtpError::TooManyCsrcs));
    }

    #[test]
    fn rewrites_in_place() {
        let mut p = PACKET;
        set_ssrc(&mut p, Ssrc(7));
        set_payload_type(&mut p, 0xFF);
        set_sequence_number(&mut p, 9);
        set_timestamp(&mut p, 10);
        let h = parse(&p).unwrap();
        assert_eq!((h.ssrc, h.payload_type, h.marker), (Ssrc(7), 0x7F, true));
        assert_eq!((h.sequence_number, h.timestamp), (9, 10));
        assert_eq!(p[12..], PACKET[12..]);
        let mut short = [0x80u8; 11];
        set_ssrc(&mut short, Ssrc(1));
        set_payload_type(&mut short, 1);
        set_sequence_number(&mut short, 1);
        set_timestamp(&mut short, 1);
        assert_eq!(short, [0x80; 11]);
    }

    #[test]
    fn blanked_extensions_become_padding() {
        let exts = [
            Extension { id: 3, data: &[0x12, 0x34] },
            Extension { id: 4, data: b"1" },
            Extension { id: 5, data: b"f" },
        ];
        let f = HeaderFields { payload_type: 96, ssrc: Ssrc(1), extensions: &exts, ..Default::default() };
        let mut p = [0u8; 64];
        let len = write_header(&f, &mut p).unwrap();
        let h = parse(&p[..len]).unwrap();
        assert_eq!(blank_extensions(&mut p[..len], &h, &[4, 5, 6]), 2);
        let left: Vec<_> = extensions(&p[..len], &h).collect();
        assert_eq!(left, vec![Extension { id: 3, data: &[0x12, 0x34] }]);
        assert_eq!(blank_extensions(&mut p[..len], &h, &[4, 5, 6]), 0);
        let mut plain = PACKET;
        plain[0] &= !0x10;
        let h = parse(&plain).unwrap();
        assert_eq!(blank_extensions(&mut plain, &h, &[1]), 0);
    }

    #[test]
    fn bad_forms() {
        assert_eq!(parse(&[]), Err(RtpError::TooShort));
        assert_eq!(parse(&PACKET[..11]), Err(RtpError::TooShort));
        for v in [0x00, 0x40, 0xC0] {
            let mut p = PACKET;
            p[0] = (p[0] & 0x3F) | v;
            assert_eq!(parse(&p), Err(RtpError::BadVersion));
        }
        // Extension header cut, extension length past the end, CSRCs past the end.
        assert_eq!(parse(&PACKET[..14]), Err(RtpError::Truncated));
        assert_eq!(parse(&PACKET[..19]), Err(RtpError::Truncated));
        assert!(parse(&PACKET[..20]).is_ok());
        let mut p = PACKET;
        p[15] = 3;
        assert_eq!(parse(&p), Err(RtpError::Truncated));
        let mut p = PACKET;
        p[0] = 0x83; // three CSRCs, no extension: 24 bytes, fits exactly
        assert_eq!(parse(&p).map(|h| h.header_len), Ok(24));
        p[0] = 0x84;
        assert_eq!(parse(&p), Err(RtpError::Truncated));
        for n in 0..PACKET.len() {
            let _ = parse(&PACKET[..n]);
        }
    }

    #[test]
    fn padding_of_decrypted_payloads() {
        let mut p = [0u8; 20];
        p[..12].copy_from_slice(&PACKET[..12]);
        p[0] = 0xA0; // V=2, P=1
        for (count, want) in [(1u8, Ok(7)), (8, Ok(0)), (0, Err(RtpError::BadPadding))] {
            p[19] = count;
            let h = parse(&p).unwrap();
            assert_eq!(payload(&p, &h).map(<[u8]>::len), want);
        }
        p[19] = 9;
        assert_eq!(payload(&p, &parse(&p).unwrap()), Err(RtpError::BadPadding));
        assert_eq!(payload(&p[..12], &parse(&p[..12]).unwrap()), Err(RtpError::BadPadding));
        // A header from another, longer packet.
        let h = parse(&PACKET).unwrap();
        assert_eq!(payload(&PACKET[..10], &h), Err(RtpError::Truncated));
    }

    #[test]
    fn extension_forms() {
        let mut p = PACKET.to_vec();
        // Two-byte form: id 7 with 0 bytes, padding, id 200 with 2 bytes.
        p.truncate(12);
        p[0] = 0x90;
        p.extend_from_slice(&[0x10, 0x00, 0x00, 0x02, 7, 0, 0, 200, 2, 0xAA, 0xBB, 0]);
        let h = parse(&p).unwrap();
        let ext: Vec<_> = extensions(&p, &h).collect();
        assert_eq!(ext, [Extension { id: 7, data: &[] }, Extension { id: 200, data: &[0xAA, 0xBB] }]);
        // One-byte element claiming more data than the block has: iteration stops.
        let mut q = PACKET;
        q[16] = 0x1F;
        assert_eq!(extensions(&q, &parse(&q).unwrap()).count(), 0);
        // Id 15 stops processing; unknown profiles yield nothing.
        let mut q = PACKET;
        q[16] = 0xF0;
        assert_eq!(extensions(&q, &parse(&q).unwrap()).count(), 0);
        let mut q = PACKET;
        q[12] = 0x12;
        assert_eq!(extensions(&q, &parse(&q).unwrap()).count(), 0);
        // No extension bit: nothing, even with a header from another packet.
        let plain = parse(&PACKET[..12]).ok();
        assert!(plain.is_none());
        let h = parse(&PACKET).unwrap();
        assert_eq!(extensions(&PACKET[..8], &h).count(), 0);
    }

    #[test]
    fn seq_no_helpers() {
        assert_eq!(SeqNo(65535).next(), SeqNo(0));
        assert_eq!(SeqNo(65530).wrapping_add(10), SeqNo(4));
        assert_eq!(SeqNo(65530).delta(SeqNo(4)), 10);
        assert_eq!(SeqNo(4).delta(SeqNo(65530)), -10);
        assert!(SeqNo(2).is_newer_than(SeqNo(65535)));
        assert!(!SeqNo(65535).is_newer_than(SeqNo(2)));
        assert!(!SeqNo(5).is_newer_than(SeqNo(5)));
    }

    #[test]
    fn receive_stats_in_order_with_loss() {
        let mut s = ReceiveStats::new();
        assert_eq!((s.expected(), s.cumulative_lost(), s.fraction_lost_since_last()), (0, 0, 0));
        for seq in 100..200u16 {
            if seq % 10 != 5 {
                assert!(s.update(seq, u32::from(seq) * 3000, u32::from(seq) * 3000 + 500));
            }
        }
        assert_eq!((s.extended_highest(), s.expected(), s.received()), (199, 100, 90));
        assert_eq!(s.cumulative_lost(), 10);
        assert_eq!(s.fraction_lost_since_last(), 25); // 10 * 256 / 100
        assert_eq!(s.fraction_lost_since_last(), 0); // nothing new
        assert_eq!(s.jitter(), 0, "constant transit: no jitter");
        // A late arrival and a duplicate push loss down, and below zero.
        assert!(s.update(105, 105 * 3000, 105 * 3000 + 500));
        for _ in 0..11 {
            assert!(s.update(199, 199 * 3000, 199 * 3000 + 500));
        }
        assert_eq!(s.cumulative_lost(), -2);
        assert_eq!(s.fraction_lost_since_last(), 0);
    }

    #[test]
    fn receive_stats_wrap_around() {
        let mut s = ReceiveStats::new();
        let start = 65_000u16;
        let mut seq = start;
        let mut received = 0u64;
        // 5 * 65536 + 1000 packets: five wraps and a bit, every 50th lost, some reordered.
        let total = 5 * 65_536 + 1000u64;
        let mut held: Option<u16> = None;
        for i in 0..total {
            let this = seq;
            seq = seq.wrapping_add(1);
            if i % 50 == 49 {
                continue;
            }
            if i % 50 == 10 && held.is_none() {
                held = Some(this); // deliver after the next packet
                continue;
            }
            assert!(s.update(this, 0, 0), "seq {this}");
            received += 1;
            if let Some(h) = held.take() {
                assert!(s.update(h, 0, 0), "late seq {h}");
                received += 1;
            }
        }
        let want_ext = u64::from(start) + total - 1;
        assert_eq!(u64::from(s.extended_highest()), want_ext);
        assert_eq!(s.extended_highest() >> 16, 5 + 1, "cycles: started at 65000");
        assert_eq!(s.expected(), total);
        assert_eq!(s.received(), received);
        assert_eq!(s.cumulative_lost(), (s.expected() - received) as i32);

        // Around one wrap, by hand: 65534, 65535, 1 (0 lost), then 0 late, then 2.
        let mut s = ReceiveStats::new();
        for seq in [65534, 65535, 1] {
            assert!(s.update(seq, 0, 0));
        }
        assert_eq!((s.extended_highest(), s.cumulative_lost()), (65_537, 1));
        assert_eq!(s.fraction_lost_since_last(), 64); // 1 of 4
        assert!(s.update(0, 0, 0));
        assert_eq!((s.extended_highest(), s.cumulative_lost()), (65_537, 0));
        assert!(s.update(2, 0, 0));
        assert_eq!((s.extended_highest(), s.expected()), (65_538, 5));
        // A packet from before the wrap arriving late does not unwrap anything.
        assert!(s.update(65535, 0, 0));
        assert_eq!(s.extended_highest(), 65_538);
        assert_eq!(s.fraction_lost_since_last(), 0);
    }

    #[test]
    fn receive_stats_jump_and_restart() {
        let mut s = ReceiveStats::new();
        for seq in 0..10u16 {
            s.update(seq, 0, 0);
        }
        // A single stray packet far ahead is dropped...
        assert!(!s.update(40_000, 0, 0));
        assert!(s.update(10, 0, 0));
        assert_eq!((s.extended_highest(), s.received()), (10, 11));
        // ...but two in a row restart the sequence there (a sender restart).
        assert!(!s.update(30_000, 0, 0));
        assert!(s.update(30_001, 0, 0));
        assert_eq!((s.extended_highest(), s.expected(), s.received()), (30_001, 1, 1));
        // 99 behind is reordering, 100 behind is a jump; a gap of 2999 ahead is loss.
        assert!(s.update(30_001 - 99, 0, 0));
        assert!(!s.update(30_001 - 100, 0, 0));
        assert!(s.update(30_001 + 2999, 0, 0));
        assert_eq!(s.extended_highest(), 33_000);
        assert!(!s.update(33_000 + 3000, 0, 0));
    }

    #[test]
    fn receive_stats_jitter() {
        // Transit alternates 0 and 160 units: |D| = 160 every packet, J converges to 160.
        let mut s = ReceiveStats::new();
        for i in 0..1000u32 {
            let ts = i * 960;
            let arrival = ts + if i % 2 == 0 { 0 } else { 160 };
            s.update(i as u16, ts, arrival);
        }
        assert!((155..=160).contains(&s.jitter()), "jitter {}", s.jitter());
        // Wrapping timestamps and arrival clock do not produce huge values.
        let mut s = ReceiveStats::new();
        for i in 0..100u32 {
            let ts = (u32::MAX - 500).wrapping_add(i * 10);
            s.update(i as u16, ts, ts.wrapping_add(1_000_000));
        }
        assert_eq!(s.jitter(), 0);
    }
}
