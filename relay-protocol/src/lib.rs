//! The control channel between `meet-control` and `meet-relay`: one schema, defined here and used by both.
//!
//! Frames are a big-endian `u32` length followed by that many bytes of JSON ([`codec`]). The first request
//! on a connection must be [`Request::Hello`] with [`PROTOCOL_VERSION`]; anything else is refused and the
//! connection closed. Every [`Request`] gets exactly one [`Response`] with the same `id`; the relay may also
//! send [`Notification`]s (id-less) at any time.

pub mod codec;
mod messages;

pub use messages::*;

/// Bumped on any incompatible change of [`Request`], [`Response`] or [`Notification`].
pub const PROTOCOL_VERSION: u32 = 8;

/// Largest frame either side accepts. Requests are small; a room dump of a large room is the biggest reply.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;
