//! Wire formats and crypto of WebRTC media. No sockets, no clock: every function takes bytes (and, where
//! time matters, a value the caller read from its clock) and gives bytes back.
//!
//! Layout:
//! - [`demux`]: which protocol a datagram carries, by its first byte (RFC 7983, RFC 5761).
//! - [`stun`]: STUN messages for ICE (RFC 8489, RFC 8445): parse, check integrity, write.
//! - [`srtp`]: SRTP and SRTCP protection (RFC 3711, RFC 7714) keyed from DTLS-SRTP (RFC 5764).
//! - [`rtp`]: the RTP header: parse and rewrite in place.
//! - [`rtcp`]: RTCP compound packets: one module per message we read or write.
//! - [`sdp`]: the SDP the control plane offers and the answers it reads back.
//! - [`vp8`]: the VP8 payload descriptor, for switching simulcast layers at keyframes.
//! - [`h264`]: the H.264 payload and sequence parameter set, for the same with H.264.
//!
//! Errors are small `Copy` enums so the packet path never allocates to report a bad packet.

pub mod demux;
pub mod h264;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod srtp;
pub mod stun;
pub mod vp8;
