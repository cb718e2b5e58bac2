//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01):
//! transport-layer feedback, FMT 15. The receiver of a transport reports, for a run of transport-wide
//! sequence numbers (the `transport-cc` RTP header extension), which packets arrived and when, so the
//! sender can estimate the link's capacity from the delays (Chromium's send-side estimate).
//!
//! Layout after the feedback header: base sequence number (16), packet status count (16), reference
//! time (24, signed, in 64 ms), feedback packet count (8), packet chunks (16 bits each), then one receive
//! delta (in 250 µs) per received packet: 8 bits unsigned when it fits ("small"), else 16 bits signed.
//!
//! [`write_transport_cc`] writes only two-bit status vector chunks (7 statuses each): simple, and never
//! more than a few bytes larger than the best run-length choice. [`transport_cc_statuses`] reads every
//! chunk kind.

use super::{be16, be32, reserve, write_feedback_header, RtcpError, RTPFB};
use crate::rtp::Ssrc;

/// The FMT value of transport-wide feedback.
pub const FMT: u8 = 15;
/// Resolution of receive deltas.
pub const DELTA_MICROS: u64 = 250;
/// Resolution of the reference time.
pub const REFERENCE_MICROS: u64 = 64_000;
/// Fixed part after the common feedback header (12 bytes).
const FIXED_LEN: usize = 8;

const SYMBOL_NOT_RECEIVED: u16 = 0;
const SYMBOL_SMALL: u16 = 1;
const SYMBOL_LARGE: u16 = 2;

/// Writes one feedback packet for `arrivals[i]` = arrival of sequence number `base_seq + i` (in µs on
/// the receiver's clock; `None`: not received). Stops early at a packet whose delta does not fit 16
/// bits, or when `out` is full; returns (bytes written, statuses reported). Reports nothing (returns
/// `(0, 0)`) when `arrivals` holds no received packet, since the reference time comes from the first.
pub fn write_transport_cc(
    sender_ssrc: Ssrc,
    media_ssrc: Ssrc,
    base_seq: u16,
    feedback_count: u8,
    arrivals: &[Option<u64>],
    out: &mut [u8],
) -> Result<(usize, usize), RtcpError> {
    let Some(first) = arrivals.iter().flatten().next() else {
        return Ok((0, 0));
    };
    let reference = first / REFERENCE_MICROS;
    let mut last_ticks = (reference * REFERENCE_MICROS / DELTA_MICROS) as i64;
    // First pass: how many statuses fit (deltas representable, bytes within `out`).
    let head = 12 + FIXED_LEN;
    let mut count = 0;
    let mut delta_bytes = 0;
    for arrival in arrivals.iter().take(usize::from(u16::MAX)) {
        let mut extra = 0;
        if let Some(at) = arrival {
            let ticks = (*at / DELTA_MICROS) as i64;
            let delta = ticks - last_ticks;
            extra = if (0..=255).contains(&delta) {
                1
            } else if i16::try_from(delta).is_ok() {
                2
            } else {
                break;
            };
            last_ticks = ticks;
        }
        let chunks = (count + 1usize).div_ceil(7) * 2;
        if (head + chunks + delta_bytes + extra).next_multiple_of(4) > out.len() {
            break;
        }
        delta_bytes += extra;
        count += 1;
    }
    if count == 0 {
        return Err(RtcpError::BufferTooSmall);
    }
    let chunk_bytes = count.div_ceil(7) * 2;
    let len = (head + chunk_bytes + delta_bytes).next_multiple_of(4);
    let packet = reserve(out, len)?;
    packet.fill(0);
    write_feedback_header(packet, FMT, RTPFB, sender_ssrc, media_ssrc);
    packet[12..14].copy_from_slice(&base_seq.to_be_bytes());
    packet[14..16].copy_from_slice(&(count as u16).to_be_bytes());
    packet[16..19].copy_from_slice(&(reference as u32 & 0x00FF_FFFF).to_be_bytes()[1..]);
    packet[19] = feedback_count;
    let mut last_ticks = (reference * REFERENCE_MICROS / DELTA_MICROS) as i64;
    let mut delta_at = head + chunk_bytes;
    for (i, arrival) in arrivals[..count].iter().enumerate() {
        let symbol = match arrival {
            None => SYMBOL_NOT_RECEIVED,
            Some(at) => {
                let ticks = (*at / DELTA_MICROS) as i64;
                let delta = ticks - last_ticks;
                last_ticks = ticks;
                if (0..=255).contains(&delta) {
                    packet[delta_at] = delta as u8;
                    delta_at += 1;
                    SYMBOL_SMALL
                } else {
                    packet[delta_at..delta_at + 2].copy_from_slice(&(delta as i16).to_be_bytes());
                    delta_at += 2;
                    SYMBOL_LARGE
                }
            }
        };
        let chunk_at = head + i / 7 * 2;
        let mut chunk = be16(packet, chunk_at) | 0xC000;
        chunk |= symbol << (12 - 2 * (i % 7));
        packet[chunk_at..chunk_at + 2].copy_from_slice(&chunk.to_be_bytes());
    }
    let padding = len - delta_at;
    if padding > 0 {
        // RFC 3550 padding: the last byte counts the padding bytes.
        packet[0] |= 0x20;
        packet[len - 1] = padding as u8;
    }
    Ok((len, count))
}

/// The fixed fields of a parsed feedback packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCcHeader {
    pub sender_ssrc: Ssrc,
    pub media_ssrc: Ssrc,
    pub base_seq: u16,
    pub status_count: u16,
    /// In [`REFERENCE_MICROS`], sign-extended from 24 bits.
    pub reference_time: i32,
    pub feedback_count: u8,
}

/// Reads a whole feedback packet (`raw` of [`super::RtcpPacket::TransportCc`]) and calls `status` for
/// each reported packet in order: its sequence number and, if received, its arrival in µs relative to
/// the reference time (so comparable across packets of one sender). Malformed input (chunks or deltas
/// running past the end) is an error, and `status` may have been called for the packets before it.
pub fn transport_cc_statuses(
    raw: &[u8],
    mut status: impl FnMut(u16, Option<i64>),
) -> Result<TransportCcHeader, RtcpError> {
    let truncated = RtcpError::Truncated { packet_type: RTPFB };
    if raw.len() < 12 + FIXED_LEN {
        return Err(truncated);
    }
    // Padding (if any) sits after the deltas; the walk below never reaches it.
    let reference_raw = (u32::from(raw[16]) << 16) | (u32::from(raw[17]) << 8) | u32::from(raw[18]);
    let header = TransportCcHeader {
        sender_ssrc: Ssrc(be32(raw, 4)),
        media_ssrc: Ssrc(be32(raw, 8)),
        base_seq: be16(raw, 12),
        status_count: be16(raw, 14),
        reference_time: ((reference_raw << 8) as i32) >> 8,
        feedback_count: raw[19],
    };
    let total = usize::from(header.status_count);
    // Symbols are decoded chunk by chunk; deltas follow all chunks, so find where chunks end first.
    let mut at = 12 + FIXED_LEN;
    let mut seen = 0;
    while seen < total {
        let chunk = raw.get(at..at + 2).ok_or(truncated)?;
        seen += chunk_symbols(be16(chunk, 0)).0;
        at += 2;
    }
    let mut delta_at = at;
    let mut at = 12 + FIXED_LEN;
    let mut seq = header.base_seq;
    let mut left = total;
    let mut micros = i64::from(header.reference_time) * REFERENCE_MICROS as i64;
    while left > 0 {
        let chunk = be16(raw, at);
        at += 2;
        let (n, _) = chunk_symbols(chunk);
        for i in 0..n.min(left) {
            let symbol = chunk_symbol(chunk, i);
            let arrival = match symbol {
                SYMBOL_SMALL => {
                    let d = *raw.get(delta_at).ok_or(truncated)?;
                    delta_at += 1;
                    micros += i64::from(d) * DELTA_MICROS as i64;
                    Some(micros)
                }
                SYMBOL_LARGE => {
                    let d = raw.get(delta_at..delta_at + 2).ok_or(truncated)?;
                    delta_at += 2;
                    micros += i64::from(be16(d, 0) as i16) * DELTA_MICROS as i64;
                    Some(micros)
                }
                _ => None,
            };
            status(seq, arrival);
            seq = seq.wrapping_add(1);
        }
        left -= n.min(left);
    }
    Ok(header)
}

/// How many statuses a chunk holds, and its symbol width in bits (0 for run length).
fn chunk_symbols(chunk: u16) -> (usize, u8) {
    if chunk & 0x8000 == 0 {
        (usize::from(chunk & 0x1FFF), 0)
    } else if chunk & 0x4000 == 0 {
        (14, 1)
    } else {
        (7, 2)
    }
}

/// Symbol `i` of a chunk.
fn chunk_symbol(chunk: u16, i: usize) -> u16 {
    match chunk_symbols(chunk).1 {
        0 => (chunk >> 13) & 0x3,
        1 => (chunk >> (13 - i)) & 0x1,
        _ => (chunk >> (12 - 2 * i)) & 0x3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::{iter, RtcpPacket};

    fn roundtrip(base: u16, arrivals: &[Option<u64>]) -> Vec<(u16, Option<i64>)> {
        let mut buf = [0u8; 1200];
        let (n, count) = write_transport_cc(Ssrc(1), Ssrc(2), base, 9, arrivals, &mut buf).unwrap();
        assert_eq!(count, arrivals.len());
        assert_eq!(n % 4, 0);
        let packets: Vec<_> = iter(&buf[..n]).collect();
        assert_eq!(packets.len(), 1);
        let Ok(RtcpPacket::TransportCc { raw }) = packets[0] else { panic!("not transport-cc: {packets:?}") };
        let mut out = Vec::new();
        let h = transport_cc_statuses(raw, |s, a| out.push((s, a))).unwrap();
        assert_eq!((h.base_seq, h.feedback_count, h.sender_ssrc, h.media_ssrc), (base, 9, Ssrc(1), Ssrc(2)));
        out
    }

    #[test]
    fn arrivals_survive_a_roundtrip_to_250_microseconds() {
        let arrivals =
            [Some(1_000_000), None, Some(1_000_250), Some(1_100_000), None, None, Some(1_099_000), Some(1_099_999)];
        let got = roundtrip(65_533, &arrivals);
        let seqs: Vec<u16> = got.iter().map(|g| g.0).collect();
        assert_eq!(seqs, vec![65_533, 65_534, 65_535, 0, 1, 2, 3, 4], "sequence numbers wrap");
        for (a, (seq, g)) in arrivals.iter().zip(&got) {
            match (a, *g) {
                (None, None) => {}
                (Some(a), Some(g)) => assert_eq!(g, (*a as i64) / 250 * 250, "arrival of {seq}"),
                other => panic!("status mismatch {other:?}"),
            }
        }
    }

    #[test]
    fn a_long_run_uses_many_chunks_and_large_deltas() {
        let arrivals: Vec<Option<u64>> =
            (0..100u64).map(|i| if i % 10 == 3 { None } else { Some(5_000_000 + i * 70_000) }).collect();
        let got = roundtrip(7, &arrivals);
        assert_eq!(got.len(), 100);
        assert_eq!(got.iter().filter(|g| g.1.is_none()).count(), 10);
    }

    #[test]
    fn an_unrepresentable_delta_ends_the_packet_early() {
        let arrivals = [Some(0), Some(1_000), Some(20_000_000), Some(20_000_100)];
        let mut buf = [0u8; 200];
        let (_, count) = write_transport_cc(Ssrc(1), Ssrc(2), 0, 0, &arrivals, &mut buf).unwrap();
        assert_eq!(count, 2, "a 20 s gap needs a new packet");
        assert_eq!(write_transport_cc(Ssrc(1), Ssrc(2), 0, 0, &[None, None], &mut buf).unwrap(), (0, 0));
    }

    #[test]
    fn a_small_buffer_reports_fewer_packets() {
        let arrivals: Vec<Option<u64>> = (0..300u64).map(|i| Some(i * 1_000)).collect();
        let mut buf = [0u8; 64];
        let (n, count) = write_transport_cc(Ssrc(1), Ssrc(2), 0, 0, &arrivals, &mut buf).unwrap();
        assert!(n <= 64 && count > 10 && count < 300, "{n} bytes, {count} statuses");
    }

    #[test]
    fn run_length_and_one_bit_chunks_are_read() {
        // Base 10, 4 statuses: run-length chunk "2 × small", then a one-bit chunk "received, lost".
        let mut raw = vec![0x8F, 205, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 10, 0, 4, 0, 0, 1, 0];
        raw.extend_from_slice(&[0x20, 0x02]); // run length: symbol 1, 2 packets
        raw.extend_from_slice(&[0xA0, 0x00]); // one bit: 1, 0, (then 12 unused)
        raw.extend_from_slice(&[4, 8, 12, 0]); // deltas for 3 received; padding
        let len = raw.len() / 4 - 1;
        raw[3] = len as u8;
        let mut out = Vec::new();
        transport_cc_statuses(&raw, |s, a| out.push((s, a))).unwrap();
        let base = 64_000;
        assert_eq!(out, vec![(10, Some(base + 1000)), (11, Some(base + 3000)), (12, Some(base + 6000)), (13, None)]);
    }

    #[test]
    fn truncated_feedback_is_an_error() {
        let arrivals: Vec<Option<u64>> = (0..20u64).map(|i| Some(i * 100_000)).collect();
        let mut buf = [0u8; 400];
        let (n, _) = write_transport_cc(Ssrc(1), Ssrc(2), 0, 0, &arrivals, &mut buf).unwrap();
        for cut in [12, 19, 21, 24, n - 8] {
            assert!(transport_cc_statuses(&buf[..cut], |_, _| {}).is_err(), "cut at {cut}");
        }
    }
}
