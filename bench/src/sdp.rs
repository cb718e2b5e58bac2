//! The little SDP a simulated peer needs: read meet's offer (ICE credentials, candidate, sections) and
//! write the answer a browser would give to it.

use std::fmt::Write;
use std::net::SocketAddr;

#[derive(Debug, Clone, Default)]
pub struct OfferSection {
    pub mid: String,
    pub kind: String,
    pub payload_type: u8,
    /// As the offer says it: `recvonly` (we may send), `sendonly` (we receive), `inactive`.
    pub direction: String,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedOffer {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    pub candidate: Option<SocketAddr>,
    pub sections: Vec<OfferSection>,
}

impl ParsedOffer {
    /// Sections in which we receive a stream.
    pub fn active_receive(&self) -> usize {
        self.sections.iter().filter(|s| s.direction == "sendonly").count()
    }
}

pub fn parse_offer(sdp: &str) -> anyhow::Result<ParsedOffer> {
    let mut o = ParsedOffer::default();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            let parts: Vec<&str> = m.split_whitespace().collect();
            anyhow::ensure!(parts.len() >= 4, "bad m= line {line}");
            o.sections.push(OfferSection {
                kind: parts[0].to_string(),
                payload_type: parts[3].parse()?,
                direction: "sendrecv".into(),
                ..Default::default()
            });
        } else if let Some(a) = line.strip_prefix("a=") {
            let (name, arg) = a.split_once(':').unwrap_or((a, ""));
            match name {
                "ice-ufrag" => o.ice_ufrag = arg.to_string(),
                "ice-pwd" => o.ice_pwd = arg.to_string(),
                "candidate" if o.candidate.is_none() => {
                    // foundation component transport priority ip port typ host
                    let f: Vec<&str> = arg.split_whitespace().collect();
                    if f.len() >= 6 && f[2].eq_ignore_ascii_case("udp") {
                        if let (Ok(ip), Ok(port)) = (f[4].parse::<std::net::IpAddr>(), f[5].parse::<u16>()) {
                            o.candidate = Some(SocketAddr::new(ip, port));
                        }
                    }
                }
                "mid" => {
                    if let Some(s) = o.sections.last_mut() {
                        s.mid = arg.to_string();
                    }
                }
                "sendrecv" | "sendonly" | "recvonly" | "inactive" => {
                    if let Some(s) = o.sections.last_mut() {
                        s.direction = name.to_string();
                    }
                }
                _ => {}
            }
        }
    }
    anyhow::ensure!(!o.ice_ufrag.is_empty() && !o.ice_pwd.is_empty(), "offer without ICE credentials");
    anyhow::ensure!(o.candidate.is_some(), "offer without a UDP candidate");
    Ok(o)
}

/// What we put in our answer about ourselves.
pub struct Local<'a> {
    pub ufrag: &'a str,
    pub pwd: &'a str,
    pub fingerprint: &'a str,
    /// SSRC we send audio / video with, when we publish that kind.
    pub audio_ssrc: Option<u32>,
    pub video_ssrc: Option<u32>,
}

pub fn write_answer(offer: &ParsedOffer, local: &Local<'_>) -> String {
    let mut s = String::with_capacity(512 + 300 * offer.sections.len());
    s.push_str("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE");
    for m in &offer.sections {
        s.push(' ');
        s.push_str(&m.mid);
    }
    s.push_str("\r\na=msid-semantic: WMS *\r\n");
    // meet offers one sending section per source (microphone, camera, screen): a publisher sends its
    // one stream of each kind on the first such section only. An SSRC answered on two sections would be
    // refused as a second producer with the same SSRC.
    let (mut audio_sent, mut video_sent) = (false, false);
    for m in &offer.sections {
        let pt = m.payload_type;
        let _ = write!(
            s,
            "m={} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
             a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:{}\r\na=setup:active\r\na=mid:{}\r\n",
            m.kind, local.ufrag, local.pwd, local.fingerprint, m.mid
        );
        let sent = if m.kind == "audio" { &mut audio_sent } else { &mut video_sent };
        let ours = match m.kind.as_str() {
            _ if *sent || m.direction != "recvonly" => None,
            "audio" => local.audio_ssrc,
            _ => local.video_ssrc,
        };
        *sent |= ours.is_some();
        match (m.direction.as_str(), ours) {
            ("recvonly", Some(ssrc)) => {
                let _ = write!(s, "a=sendonly\r\na=msid:- track{}\r\n", m.mid);
                write_codec(&mut s, &m.kind, pt);
                let _ = write!(s, "a=ssrc:{ssrc} cname:x\r\na=ssrc:{ssrc} msid:- track{}\r\n", m.mid);
            }
            ("sendonly", _) => {
                s.push_str("a=recvonly\r\n");
                write_codec(&mut s, &m.kind, pt);
            }
            _ => {
                s.push_str("a=inactive\r\n");
                write_codec(&mut s, &m.kind, pt);
            }
        }
    }
    s
}

fn write_codec(s: &mut String, kind: &str, pt: u8) {
    s.push_str("a=rtcp-mux\r\n");
    if kind == "audio" {
        let _ = write!(s, "a=rtpmap:{pt} opus/48000/2\r\n");
    } else {
        let _ = write!(s, "a=rtpmap:{pt} VP8/90000\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_is_what_meet_reads() {
        let offer = "v=0\r\na=group:BUNDLE 0 1 2\r\na=ice-lite\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:uf\r\na=ice-pwd:pw\r\na=mid:0\r\na=recvonly\r\n\
            a=candidate:1 1 udp 2130706431 127.0.0.1 10000 typ host\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\na=ssrc:5 cname:c\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=recvonly\r\n";
        let o = parse_offer(offer).unwrap();
        assert_eq!(o.candidate, Some("127.0.0.1:10000".parse().unwrap()));
        assert_eq!(o.active_receive(), 1);
        let local = Local { ufrag: "lu", pwd: "lp", fingerprint: "sha-256 AA", audio_ssrc: None, video_ssrc: Some(77) };
        let a = meet_media::sdp::parse_answer(&write_answer(&o, &local)).unwrap();
        assert_eq!(a.transport(), (Some("lu"), Some("sha-256 AA")));
        assert_eq!(a.section("0").unwrap().direction, "inactive");
        assert_eq!(a.section("1").unwrap().ssrcs, vec![77]);
        assert_eq!(a.section("2").unwrap().direction, "recvonly");
        // The screen section: the camera's SSRC again would be a second producer with it.
        assert_eq!(a.section("3").unwrap().direction, "inactive");
        assert!(a.section("3").unwrap().ssrcs.is_empty());
    }
}
