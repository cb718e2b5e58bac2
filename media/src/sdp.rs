//! The SDP meet offers to browsers and the answers it reads back (RFC 8866, RFC 8829 for WebRTC's use).
//!
//! meet is always the offerer, so this module writes offers and parses answers; it does not try to be a
//! general SDP library. Offers are ICE-lite, BUNDLE all m-sections on one transport, `setup:actpass` (the
//! browser answers `active`, so the relay is the DTLS server). Audio is Opus. Video is VP8 and H.264
//! (Constrained Baseline, packetization mode 1), each with RTX (RFC 4588) for retransmissions: VP8 comes
//! first, so a browser sends VP8 unless it prefers H.264 (hardware encoders on phones; the page asks for
//! it with `setCodecPreferences`). A receiver is offered both in every video section, so one section can
//! carry a stream of either codec; the relay forwards what the sender sends. Every section
//! carries the `transport-cc` header extension, so browsers estimate their uplink from the relay's
//! transport-wide feedback; audio sections also carry `ssrc-audio-level` (RFC 6464), from which the
//! relay tells who speaks.
//!
//! Simulcast (RFC 8853): a camera's section may ask for three layers by `rid` ([`SIMULCAST_RIDS`], lowest
//! first). The browser then announces no SSRCs; its packets name their layer with the `rtp-stream-id`
//! extension (and their retransmissions with `repaired-rtp-stream-id`), from which the relay learns the
//! SSRCs. Those extensions, and `sdes:mid`, are offered in that section only.

use std::fmt::Write;
use std::net::SocketAddr;

/// Codecs meet offers. The browser's answer keeps these payload types, so no mapping is needed between
/// browsers; relays still rewrite to whatever a consumer agreed.
pub const OPUS_PT: u8 = 111;
pub const OPUS_CLOCK_RATE: u32 = 48_000;
pub const VP8_PT: u8 = 96;
pub const VP8_CLOCK_RATE: u32 = 90_000;
/// Retransmissions of VP8 (`rtx/90000`, `apt=96`).
pub const VP8_RTX_PT: u8 = 97;
pub const H264_PT: u8 = 102;
pub const H264_RTX_PT: u8 = 103;
/// The H.264 meet offers: Constrained Baseline level 3.1, which every WebRTC browser sends and decodes,
/// in packetization mode 1 (STAP-A, FU-A).
pub const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// A video codec meet offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    H264,
}

impl VideoCodec {
    /// In order of preference.
    pub const ALL: [VideoCodec; 2] = [VideoCodec::Vp8, VideoCodec::H264];

    pub fn payload_type(self) -> u8 {
        match self {
            VideoCodec::Vp8 => VP8_PT,
            VideoCodec::H264 => H264_PT,
        }
    }

    pub fn rtx_payload_type(self) -> u8 {
        match self {
            VideoCodec::Vp8 => VP8_RTX_PT,
            VideoCodec::H264 => H264_RTX_PT,
        }
    }

    /// The codec meet offers under `pt`, if any.
    pub fn of_payload_type(pt: u8) -> Option<VideoCodec> {
        VideoCodec::ALL.into_iter().find(|c| c.payload_type() == pt)
    }

    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "VP8",
            VideoCodec::H264 => "H264",
        }
    }
}
/// The header extension id meet gives `transport-cc` (the offerer chooses; browsers keep it).
pub const TRANSPORT_CC_EXT_ID: u8 = 3;
pub const TRANSPORT_CC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// The header extension id meet gives `ssrc-audio-level` in audio sections (browsers keep it too).
pub const AUDIO_LEVEL_EXT_ID: u8 = 1;
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// Header extensions of simulcast sections. A relay must not forward them: a receiver would route a
/// packet by the sender's `mid` instead of the SSRC announced to it.
pub const MID_EXT_ID: u8 = 4;
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
pub const RID_EXT_ID: u8 = 5;
pub const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
pub const REPAIRED_RID_EXT_ID: u8 = 6;
pub const REPAIRED_RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
/// The layers a simulcast section asks for, lowest resolution first (a quarter, half and full size).
pub const SIMULCAST_RIDS: [&str; 3] = ["q", "h", "f"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Audio => "audio",
            Kind::Video => "video",
        }
    }

    pub fn payload_type(self) -> u8 {
        match self {
            Kind::Audio => OPUS_PT,
            Kind::Video => VP8_PT,
        }
    }

    pub fn clock_rate(self) -> u32 {
        match self {
            Kind::Audio => OPUS_CLOCK_RATE,
            Kind::Video => VP8_CLOCK_RATE,
        }
    }
}

/// Direction of an m-section from the offerer's (meet's) side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// The browser sends here (its microphone or camera).
    RecvOnly,
    /// meet sends this stream to the browser.
    SendOnly(OutgoingStream),
    /// A free slot, kept so that m-section order never changes.
    Inactive,
}

/// A stream meet sends, as announced with `a=msid` and `a=ssrc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingStream {
    pub ssrc: u32,
    /// The SSRC meet retransmits this stream with (video), announced as `ssrc-group:FID`.
    pub rtx_ssrc: Option<u32>,
    pub cname: String,
    /// Groups a participant's audio and video in the browser (`MediaStream.id`).
    pub stream_id: String,
    pub track_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    pub mid: String,
    pub kind: Kind,
    pub direction: Direction,
    /// A video section the browser sends in: ask for [`SIMULCAST_RIDS`].
    pub simulcast: bool,
    /// The video codec listed first (the others follow in [`VideoCodec::ALL`]'s order): a browser sends
    /// the first codec of the offer that it can.
    pub first_codec: VideoCodec,
}

impl MediaSection {
    /// The video codecs of this section, in the order offered.
    fn codecs(&self) -> impl Iterator<Item = VideoCodec> + '_ {
        std::iter::once(self.first_codec).chain(VideoCodec::ALL.into_iter().filter(|c| *c != self.first_codec))
    }
}

/// Everything an offer says; the transport part comes from the relay.
#[derive(Debug, Clone)]
pub struct Offer<'a> {
    pub session_id: u64,
    pub session_version: u64,
    pub ice_ufrag: &'a str,
    pub ice_pwd: &'a str,
    /// `sha-256 AB:CD:...`
    pub fingerprint: &'a str,
    pub candidates: &'a [SocketAddr],
    /// ICE-TCP passive candidates (RFC 6544), listed after and below every UDP one.
    pub tcp_candidates: &'a [SocketAddr],
    pub sections: &'a [MediaSection],
}

impl Offer<'_> {
    pub fn to_sdp(&self) -> String {
        let mut s = String::with_capacity(1024 + 900 * self.sections.len());
        let _ =
            write!(s, "v=0\r\no=- {} {} IN IP4 0.0.0.0\r\ns=meet\r\nt=0 0\r\n", self.session_id, self.session_version);
        s.push_str("a=group:BUNDLE");
        for m in self.sections {
            s.push(' ');
            s.push_str(&m.mid);
        }
        s.push_str("\r\na=ice-lite\r\na=msid-semantic: WMS *\r\n");
        for m in self.sections {
            self.write_section(&mut s, m);
        }
        s
    }

    fn write_section(&self, s: &mut String, m: &MediaSection) {
        let pt = m.kind.payload_type();
        let formats = match m.kind {
            Kind::Audio => format!("{pt}"),
            Kind::Video => m
                .codecs()
                .map(|c| format!("{} {}", c.payload_type(), c.rtx_payload_type()))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let _ = write!(
            s,
            "m={} 9 UDP/TLS/RTP/SAVPF {formats}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
            m.kind.as_str()
        );
        let _ = write!(
            s,
            "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:{}\r\na=setup:actpass\r\na=mid:{}\r\n",
            self.ice_ufrag, self.ice_pwd, self.fingerprint, m.mid
        );
        match &m.direction {
            Direction::RecvOnly => s.push_str("a=recvonly\r\n"),
            Direction::SendOnly(_) => s.push_str("a=sendonly\r\n"),
            Direction::Inactive => s.push_str("a=inactive\r\n"),
        }
        if let Direction::SendOnly(o) = &m.direction {
            let _ = write!(s, "a=msid:{} {}\r\n", o.stream_id, o.track_id);
        }
        if m.kind == Kind::Audio {
            let _ = write!(s, "a=extmap:{AUDIO_LEVEL_EXT_ID} {AUDIO_LEVEL_URI}\r\n");
        }
        let _ = write!(s, "a=extmap:{TRANSPORT_CC_EXT_ID} {TRANSPORT_CC_URI}\r\n");
        let simulcast = m.simulcast && m.kind == Kind::Video && m.direction == Direction::RecvOnly;
        if simulcast {
            let _ = write!(
                s,
                "a=extmap:{MID_EXT_ID} {MID_URI}\r\na=extmap:{RID_EXT_ID} {RID_URI}\r\n\
                 a=extmap:{REPAIRED_RID_EXT_ID} {REPAIRED_RID_URI}\r\n"
            );
        }
        s.push_str("a=rtcp-mux\r\na=rtcp-rsize\r\n");
        match m.kind {
            Kind::Audio => {
                let _ = write!(
                    s,
                    "a=rtpmap:{pt} opus/48000/2\r\na=rtcp-fb:{pt} transport-cc\r\n\
                     a=fmtp:{pt} minptime=10;useinbandfec=1\r\n"
                );
            }
            Kind::Video => {
                for codec in m.codecs() {
                    let (pt, rtx, name) = (codec.payload_type(), codec.rtx_payload_type(), codec.name());
                    let _ = write!(
                        s,
                        "a=rtpmap:{pt} {name}/90000\r\na=rtcp-fb:{pt} goog-remb\r\na=rtcp-fb:{pt} transport-cc\r\n\
                         a=rtcp-fb:{pt} ccm fir\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\n"
                    );
                    if codec == VideoCodec::H264 {
                        let _ = write!(s, "a=fmtp:{pt} {H264_FMTP}\r\n");
                    }
                    let _ = write!(s, "a=rtpmap:{rtx} rtx/90000\r\na=fmtp:{rtx} apt={pt}\r\n");
                }
            }
        }
        if simulcast {
            for rid in SIMULCAST_RIDS {
                let _ = write!(s, "a=rid:{rid} recv\r\n");
            }
            let _ = write!(s, "a=simulcast:recv {}\r\n", SIMULCAST_RIDS.join(";"));
        }
        if let Direction::SendOnly(o) = &m.direction {
            // The media SSRC's lines come first: browsers take the first `a=ssrc` as the stream's own.
            if let Some(rtx) = o.rtx_ssrc {
                let _ = write!(s, "a=ssrc-group:FID {} {rtx}\r\n", o.ssrc);
            }
            for ssrc in std::iter::once(o.ssrc).chain(o.rtx_ssrc) {
                let _ = write!(
                    s,
                    "a=ssrc:{ssrc} cname:{}\r\na=ssrc:{ssrc} msid:{} {}\r\n",
                    o.cname, o.stream_id, o.track_id
                );
            }
        }
        for (i, c) in self.candidates.iter().enumerate() {
            // Host candidates, highest priority first (RFC 8445 §5.1.2 with type preference 126).
            let priority = 2_130_706_431u32 - i as u32;
            let _ = write!(s, "a=candidate:{} 1 udp {priority} {} {} typ host\r\n", i + 1, c.ip(), c.port());
        }
        for (i, c) in self.tcp_candidates.iter().enumerate() {
            // RFC 6544 §4.2: local preference (2^13 * direction + other) with passive's direction
            // preference 4 of 7, so every TCP candidate ranks below every UDP one (local preference 65535).
            let local_preference = (4u32 << 13) + 8191 - (i as u32).min(8191);
            let priority = (126u32 << 24) + (local_preference << 8) + 255;
            let _ = write!(
                s,
                "a=candidate:{} 1 tcp {priority} {} {} typ host tcptype passive\r\n",
                self.candidates.len() + i + 1,
                c.ip(),
                c.port()
            );
        }
        s.push_str("a=end-of-candidates\r\n");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("not an SDP answer: no m= line")]
    NoMedia,
    #[error("malformed line in SDP")]
    Malformed,
    #[error("SDP too large")]
    TooLarge,
}

/// What meet needs from an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub media: Vec<AnswerMedia>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerMedia {
    pub kind: String,
    /// 0 means the browser rejected the section.
    pub port: u16,
    pub mid: Option<String>,
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    pub fingerprint: Option<String>,
    pub setup: Option<String>,
    /// `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub direction: String,
    pub payload_types: Vec<u8>,
    /// Media SSRCs the browser will send, in order of first appearance; RTX SSRCs (second of an
    /// `ssrc-group:FID`) are left out.
    pub ssrcs: Vec<u32>,
    /// `(media, rtx)` SSRC pairs of `ssrc-group:FID` lines.
    pub rtx_ssrcs: Vec<(u32, u32)>,
    /// The layers of `a=simulcast:send`, in its order (lowest first, as offered); empty without simulcast.
    pub simulcast: Vec<String>,
}

impl AnswerMedia {
    /// The video codec the browser sends with: the first of the answer's formats that meet offered.
    pub fn video_codec(&self) -> Option<VideoCodec> {
        self.payload_types.iter().find_map(|pt| VideoCodec::of_payload_type(*pt))
    }

    /// The SSRC the browser retransmits `ssrc` with, if it said one and kept the RTX payload type of the
    /// codec it sends.
    pub fn rtx_of(&self, ssrc: u32) -> Option<u32> {
        let rtx = self.video_codec().map(VideoCodec::rtx_payload_type);
        if !rtx.is_some_and(|pt| self.payload_types.contains(&pt)) {
            return None;
        }
        self.rtx_ssrcs.iter().find(|(media, _)| *media == ssrc).map(|(_, rtx)| *rtx)
    }
}

/// Answers bigger than this are refused unread (a browser's answer for 100 m-sections is ~60 KB).
pub const MAX_SDP_LEN: usize = 256 * 1024;

/// Parses the parts of an answer meet uses. Session-level ICE and fingerprint attributes apply to every
/// m-section that does not give its own.
pub fn parse_answer(sdp: &str) -> Result<Answer, SdpError> {
    if sdp.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge);
    }
    let mut session = AnswerMedia::default();
    let mut media: Vec<AnswerMedia> = Vec::new();
    let mut rtx: Vec<u32> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let Some((kind, value)) = line.split_once('=') else {
            return Err(SdpError::Malformed);
        };
        match kind {
            "m" => {
                let mut parts = value.split_whitespace();
                let kind = parts.next().ok_or(SdpError::Malformed)?.to_string();
                let port = parts.next().and_then(|p| p.split('/').next()?.parse().ok()).ok_or(SdpError::Malformed)?;
                let _proto = parts.next().ok_or(SdpError::Malformed)?;
                let payload_types = parts.filter_map(|p| p.parse().ok()).collect();
                media.push(AnswerMedia {
                    kind,
                    port,
                    direction: "sendrecv".into(),
                    payload_types,
                    ice_ufrag: session.ice_ufrag.clone(),
                    ice_pwd: session.ice_pwd.clone(),
                    fingerprint: session.fingerprint.clone(),
                    setup: session.setup.clone(),
                    ..Default::default()
                });
            }
            "a" => {
                let target = media.last_mut().unwrap_or(&mut session);
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                match name {
                    "mid" => target.mid = Some(arg.to_string()),
                    "ice-ufrag" => target.ice_ufrag = Some(arg.to_string()),
                    "ice-pwd" => target.ice_pwd = Some(arg.to_string()),
                    "fingerprint" => target.fingerprint = Some(arg.to_string()),
                    "setup" => target.setup = Some(arg.to_string()),
                    "sendrecv" | "sendonly" | "recvonly" | "inactive" => target.direction = name.to_string(),
                    "simulcast" => target.simulcast = parse_simulcast_send(arg)?,
                    "ssrc" => {
                        let ssrc =
                            arg.split_whitespace().next().and_then(|s| s.parse().ok()).ok_or(SdpError::Malformed)?;
                        if !target.ssrcs.contains(&ssrc) {
                            target.ssrcs.push(ssrc);
                        }
                    }
                    "ssrc-group" => {
                        let mut parts = arg.split_whitespace();
                        if parts.next() == Some("FID") {
                            let media = parts.next().and_then(|s| s.parse().ok());
                            if let (Some(media), Some(r)) = (media, parts.next().and_then(|s| s.parse().ok())) {
                                rtx.push(r);
                                target.rtx_ssrcs.push((media, r));
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if let Some(last) = media.last_mut() {
            last.ssrcs.retain(|s| !rtx.contains(s));
        }
    }
    if media.is_empty() {
        return Err(SdpError::NoMedia);
    }
    Ok(Answer { media })
}

/// The layers of `a=simulcast:send <list>` (RFC 8853 §5.1): `;` separates layers, `,` alternatives (the
/// first is taken), `~` marks a layer paused for now (still a layer). Only rids meet offered are kept.
fn parse_simulcast_send(arg: &str) -> Result<Vec<String>, SdpError> {
    let mut parts = arg.split_whitespace();
    if parts.next() != Some("send") {
        return Ok(Vec::new());
    }
    let list = parts.next().ok_or(SdpError::Malformed)?;
    let mut rids = Vec::new();
    for layer in list.split(';') {
        let rid = layer.split(',').next().unwrap_or("").trim_start_matches('~');
        if SIMULCAST_RIDS.contains(&rid) && !rids.iter().any(|r| r == rid) {
            rids.push(rid.to_string());
        }
    }
    Ok(rids)
}

impl Answer {
    pub fn section(&self, mid: &str) -> Option<&AnswerMedia> {
        self.media.iter().find(|m| m.mid.as_deref() == Some(mid))
    }

    /// The answer's DTLS role (`a=setup`), from the first section that gives one.
    pub fn setup(&self) -> Option<&str> {
        self.media.iter().find_map(|m| m.setup.as_deref())
    }

    /// The first ICE ufrag and fingerprint given (BUNDLE: all sections share one transport).
    pub fn transport(&self) -> (Option<&str>, Option<&str>) {
        let ufrag = self.media.iter().find_map(|m| m.ice_ufrag.as_deref());
        let fingerprint = self.media.iter().find_map(|m| m.fingerprint.as_deref());
        (ufrag, fingerprint)
    }
}

/// An SDP answer to `offer` as a browser gives it, for tests (control's scenario and integration tests):
/// the sections it sends on (`recvonly` in the offer) become `sendonly` with an SSRC each (Chromium
/// announces one even with no track), the others receive.
pub fn browser_answer(offer: &str, ssrc_base: u32) -> String {
    let mut out = String::from(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
         a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
         a=setup:active\r\n",
    );
    for (n, section) in offer.split("\r\nm=").skip(1).enumerate() {
        let mline = section.lines().next().unwrap();
        let mid = section.lines().find_map(|l| l.strip_prefix("a=mid:")).unwrap();
        out.push_str(&format!("m={mline}\r\na=mid:{mid}\r\na=rtcp-mux\r\n"));
        if section.contains("a=recvonly") {
            out.push_str(&format!("a=sendonly\r\na=ssrc:{} cname:test\r\n", ssrc_base + n as u32));
        } else if section.contains("a=sendonly") {
            out.push_str("a=recvonly\r\n");
        } else {
            out.push_str("a=inactive\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_offer() -> String {
        let sections = vec![
            MediaSection {
                mid: "0".into(),
                kind: Kind::Audio,
                direction: Direction::RecvOnly,
                simulcast: false,
                first_codec: VideoCodec::Vp8,
            },
            MediaSection {
                mid: "1".into(),
                kind: Kind::Video,
                direction: Direction::RecvOnly,
                simulcast: true,
                first_codec: VideoCodec::Vp8,
            },
            MediaSection {
                mid: "4".into(),
                kind: Kind::Video,
                direction: Direction::RecvOnly,
                simulcast: false,
                first_codec: VideoCodec::H264,
            },
            MediaSection {
                mid: "2".into(),
                kind: Kind::Video,
                direction: Direction::SendOnly(OutgoingStream {
                    ssrc: 42,
                    rtx_ssrc: Some(43),
                    cname: "c".into(),
                    stream_id: "s".into(),
                    track_id: "t".into(),
                }),
                simulcast: false,
                first_codec: VideoCodec::Vp8,
            },
            MediaSection {
                mid: "3".into(),
                kind: Kind::Audio,
                direction: Direction::Inactive,
                simulcast: false,
                first_codec: VideoCodec::Vp8,
            },
        ];
        let candidates = ["127.0.0.1:10000".parse().unwrap()];
        Offer {
            session_id: 1,
            session_version: 2,
            ice_ufrag: "uf",
            ice_pwd: "pw",
            fingerprint: "sha-256 AA:BB",
            candidates: &candidates,
            tcp_candidates: &[],
            sections: &sections,
        }
        .to_sdp()
    }

    #[test]
    fn tcp_candidates_follow_udp_ones_at_lower_priority() {
        let udp: Vec<SocketAddr> = vec!["198.18.0.1:10000".parse().unwrap(), "[2001:db8::1]:10000".parse().unwrap()];
        let tcp = udp.clone();
        let sdp = Offer {
            session_id: 1,
            session_version: 1,
            ice_ufrag: "uf",
            ice_pwd: "pw",
            fingerprint: "sha-256 AA",
            candidates: &udp,
            tcp_candidates: &tcp,
            sections: &[MediaSection {
                mid: "0".into(),
                kind: Kind::Audio,
                direction: Direction::RecvOnly,
                simulcast: false,
                first_codec: VideoCodec::Vp8,
            }],
        }
        .to_sdp();
        let lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("a=candidate:")).collect();
        assert_eq!(lines.len(), 4, "{sdp}");
        assert_eq!(lines[1], "a=candidate:2 1 udp 2130706430 2001:db8::1 10000 typ host");
        assert!(
            lines[2].starts_with("a=candidate:3 1 tcp ")
                && lines[2].ends_with(" 198.18.0.1 10000 typ host tcptype passive")
        );
        assert!(lines[3].ends_with(" 2001:db8::1 10000 typ host tcptype passive"));
        let priority = |l: &str| l.split(' ').nth(3).unwrap().parse::<u32>().unwrap();
        assert!(priority(lines[1]) > priority(lines[2]) && priority(lines[2]) > priority(lines[3]));
        assert!(sdp.ends_with("a=end-of-candidates\r\n"));
    }

    #[test]
    fn offer_has_what_browsers_need() {
        let sdp = sample_offer();
        assert!(sdp.starts_with("v=0\r\n"));
        assert!(sdp.contains("a=group:BUNDLE 0 1 4 2 3\r\n"));
        assert!(sdp.contains("a=ice-lite\r\n"));
        assert_eq!(sdp.matches("m=").count(), 5);
        // A section whose sender asked for H.264 offers it first.
        assert_eq!(sdp.matches("m=video 9 UDP/TLS/RTP/SAVPF 102 103 96 97\r\n").count(), 1);
        assert!(sdp.contains("a=ssrc:42 msid:s t\r\n"));
        assert!(
            sdp.contains("a=ssrc-group:FID 42 43\r\na=ssrc:42 cname:c\r\na=ssrc:42 msid:s t\r\na=ssrc:43 cname:c\r\n")
        );
        // Every video section has VP8 and H.264, each with its RTX; VP8 first unless the sender asked for H.264.
        assert_eq!(sdp.matches("m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\n").count(), 2);
        assert_eq!(sdp.matches("a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n").count(), 3);
        assert_eq!(sdp.matches("a=rtpmap:102 H264/90000\r\n").count(), 3);
        assert_eq!(
            sdp.matches(&format!("a=fmtp:102 {H264_FMTP}\r\na=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n")).count(),
            3
        );
        assert_eq!(sdp.matches("a=rtcp-fb:102 nack pli\r\n").count(), 3);
        assert!(sdp.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"));
        assert_eq!(sdp.matches("a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc").count(), 5);
        assert_eq!(sdp.matches("a=rtcp-fb:111 transport-cc\r\n").count(), 2);
        assert_eq!(sdp.matches("a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n").count(), 2);
        assert!(sdp.contains("a=candidate:1 1 udp 2130706431 127.0.0.1 10000 typ host\r\n"));
        assert!(sdp.lines().all(|l| !l.is_empty()));
        // Simulcast in the camera section only, with the extensions that name layers.
        assert_eq!(sdp.matches("a=simulcast:recv q;h;f\r\n").count(), 1);
        assert_eq!(sdp.matches("a=rid:").count(), 3);
        assert_eq!(sdp.matches("a=extmap:5 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n").count(), 1);
        let video = &sdp[sdp.find("a=mid:1\r\n").unwrap()..sdp.find("a=mid:2\r\n").unwrap()];
        assert!(video.contains("a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n"));
        assert!(video.contains("a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"));
    }

    #[test]
    fn simulcast_layers_of_an_answer() {
        let answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=sendonly\r\n\
            a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;~h,x;f;zz;q\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=simulcast:recv q\r\n";
        let a = parse_answer(answer).unwrap();
        assert_eq!(a.section("1").unwrap().simulcast, vec!["q", "h", "f"]);
        assert!(a.section("1").unwrap().ssrcs.is_empty());
        assert!(a.section("2").unwrap().simulcast.is_empty());
        assert_eq!(parse_answer("m=video 9 RTP 96\r\na=simulcast:send\r\n"), Err(SdpError::Malformed));
    }

    #[test]
    fn parses_a_chromium_style_answer() {
        let answer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:secret\r\n\
            a=fingerprint:sha-256 01:02\r\na=setup:active\r\na=mid:0\r\na=sendonly\r\na=msid:- t1\r\n\
            a=ssrc:1111 cname:x\r\na=ssrc:1111 msid:- t1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=sendonly\r\na=ssrc-group:FID 2222 3333\r\n\
            a=ssrc:2222 cname:x\r\na=ssrc:3333 cname:x\r\n\
            m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=inactive\r\n";
        let a = parse_answer(answer).unwrap();
        assert_eq!(a.media.len(), 3);
        assert_eq!(a.transport(), (Some("abcd"), Some("sha-256 01:02")));
        assert_eq!(a.section("0").unwrap().ssrcs, vec![1111]);
        assert_eq!(a.section("1").unwrap().ssrcs, vec![2222]);
        assert_eq!(a.section("1").unwrap().rtx_of(2222), Some(3333));
        assert_eq!(a.section("1").unwrap().rtx_of(3333), None);
        assert_eq!(a.section("0").unwrap().rtx_of(1111), None);
        assert_eq!(a.section("1").unwrap().direction, "sendonly");
        assert_eq!(a.section("1").unwrap().video_codec(), Some(VideoCodec::Vp8));
        assert_eq!(a.section("2").unwrap().port, 0);
    }

    #[test]
    fn a_browser_that_prefers_h264_sends_it() {
        let answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102 103 96 97\r\na=mid:1\r\na=sendonly\r\n\
            a=ssrc-group:FID 5 6\r\na=ssrc:5 cname:x\r\na=ssrc:6 cname:x\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 102 96 97\r\na=mid:2\r\na=sendonly\r\na=ssrc-group:FID 7 8\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 35 36\r\na=mid:3\r\n";
        let a = parse_answer(answer).unwrap();
        let h264 = a.section("1").unwrap();
        assert_eq!(h264.video_codec(), Some(VideoCodec::H264));
        assert_eq!(h264.rtx_of(5), Some(6));
        // H.264 without its RTX: no retransmission stream, though VP8's RTX was kept.
        assert_eq!(a.section("2").unwrap().video_codec(), Some(VideoCodec::H264));
        assert_eq!(a.section("2").unwrap().rtx_of(7), None);
        // Nothing meet offered.
        assert_eq!(a.section("3").unwrap().video_codec(), None);
        assert_eq!(VideoCodec::of_payload_type(103), None);
        assert_eq!(VideoCodec::of_payload_type(102).map(VideoCodec::rtx_payload_type), Some(H264_RTX_PT));
    }

    #[test]
    fn session_level_attributes_apply_to_sections() {
        let answer = "v=0\r\na=ice-ufrag:sess\r\na=fingerprint:sha-256 FF\r\nm=audio 9 RTP/SAVPF 111\r\na=mid:a\r\n";
        let a = parse_answer(answer).unwrap();
        assert_eq!(a.transport(), (Some("sess"), Some("sha-256 FF")));
    }

    #[test]
    fn bad_answers_are_refused() {
        assert_eq!(parse_answer(""), Err(SdpError::NoMedia));
        assert_eq!(parse_answer("v=0\r\n"), Err(SdpError::NoMedia));
        assert_eq!(parse_answer("garbage"), Err(SdpError::Malformed));
        assert_eq!(parse_answer("m=audio\r\n"), Err(SdpError::Malformed));
        assert_eq!(parse_answer("m=audio x RTP 1\r\n"), Err(SdpError::Malformed));
        assert_eq!(parse_answer("m=audio 9 RTP 111\r\na=ssrc:notanumber cname:x\r\n"), Err(SdpError::Malformed));
        assert_eq!(parse_answer(&"a".repeat(MAX_SDP_LEN + 1)), Err(SdpError::TooLarge));
    }
}
