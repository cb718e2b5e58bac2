//! What `meet-control` and `meet-relay` say to each other, defined once and used by both (and by the relay's
//! engine, whose requests and notifications these are). No IO here: the async framing over sockets is in
//! `meet_relay::protocol::codec`.
//!
//! Layout: [`messages`] (every request, response and notification), [`codec`] (frames to and from bytes),
//! [`tracks`] (the `tracks.jsonl` index the relay's recorder writes and control's conversion reads).
//!
//! Frames are a big-endian `u32` length followed by that many bytes of JSON ([`codec`]). The first request
//! on a connection must be [`Request::Hello`] with [`PROTOCOL_VERSION`]; anything else is refused and the
//! connection closed. Every [`Request`] gets exactly one [`Response`] with the same `id`; the relay may also
//! send [`Notification`]s (id-less) at any time.

pub mod codec;
pub mod messages;
pub mod tracks;

pub use messages::*;

/// Bumped on any incompatible change of [`Request`], [`Response`] or [`Notification`].
pub const PROTOCOL_VERSION: u32 = 10;

/// Largest frame either side accepts. Requests are small; a room dump of a large room is the biggest reply.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;
