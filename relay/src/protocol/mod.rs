//! The control channel as the relay's IO layer and `meet-control` use it: the schema and frame codec of
//! `meet-relay-protocol`, re-exported whole, plus [`codec::read_message`] and [`codec::write_message`]
//! for async streams (which need tokio, so they live here and not in the schema crate).

pub mod codec;

pub use meet_relay_protocol::*;
