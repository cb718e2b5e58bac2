//! The relay's IO layer: the only code that reads the clock or touches a socket.
//!
//! - [`core`]: a media core, one thread with its UDP socket, its IO backend and its
//!   [`Engine`](meet_relay_engine::Engine).
//! - [`uring`] and [`mmsg`]: the two IO backends behind one small `Driver` trait; [`socket`] binds
//!   the media sockets and names the backends.
//! - [`dispatch`]: places rooms on cores and routes control requests to the core that holds them.
//! - [`control`]: the Unix-socket server of the control channel.
//! - [`notify`]: the cores' notifications, queued per subscriber; a subscriber that lags is resynced.
//! - [`sys`]: socket addresses and the eventfd waker.

pub mod control;
pub mod core;
pub mod dispatch;
mod mmsg;
pub mod notify;
pub(crate) mod pktinfo;
pub mod socket;
mod sys;
mod tcp;
mod uring;
