//! The relay's IO layer: the only code that reads the clock or touches a socket.
//!
//! - [`core`]: a media core, one thread with its UDP socket and its [`Engine`](crate::engine::Engine).
//! - [`control`]: the Unix-socket server of the control channel, forwarding requests to the core.

pub mod control;
pub mod core;
