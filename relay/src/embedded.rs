//! A relay inside another process: how `meet-control` runs one when it is given no `--relay-socket`.
//!
//! [`embedded`] starts the cores as [`start`](crate::start) does for the `meet-relay` binary; the handle it
//! gives back speaks only the control protocol, exactly as a separate relay does over its Unix socket, so
//! control has one code path for both.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;

use crate::io::control::serve_connection;
use crate::io::dispatch::Relay;
use crate::protocol::codec::CodecError;
use crate::protocol::{ErrorBody, Request, Response};
use crate::RelayConfig;

/// Binds the media sockets and starts the cores of a relay that lives as long as this process.
pub fn embedded(config: &RelayConfig) -> std::io::Result<EmbeddedRelay> {
    Ok(EmbeddedRelay { relay: crate::start(config)? })
}

/// A running embedded relay. Clones share it.
#[derive(Clone)]
pub struct EmbeddedRelay {
    relay: Relay,
}

impl EmbeddedRelay {
    /// A new control connection: our end of a socket pair whose other end this relay serves on a task of
    /// the current tokio runtime (the connection ends when either end is dropped).
    pub fn connect(&self) -> std::io::Result<UnixStream> {
        let (ours, theirs) = UnixStream::pair()?;
        let relay = self.relay.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(theirs, relay).await {
                tracing::error!(error = %e, "embedded relay channel failed");
            }
        });
        Ok(ours)
    }

    /// Serves one control connection on `stream` until it closes: for callers that make the stream
    /// themselves (a listening socket, a proxy in a test).
    pub fn serve<S: AsyncRead + AsyncWrite>(&self, stream: S) -> impl Future<Output = Result<(), CodecError>> {
        serve_connection(stream, self.relay.clone())
    }

    /// One request answered without a connection (no handshake, no notifications): for tests that look
    /// at the relay's state beside the control plane's.
    pub async fn request(&self, request: Request) -> Result<Response, ErrorBody> {
        self.relay.request(request).await
    }

    /// The UDP port of each media core, core 0 first.
    pub fn media_ports(&self) -> Vec<u16> {
        self.relay.cores().iter().map(|core| core.port).collect()
    }
}
