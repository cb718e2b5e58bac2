//! The control channel server: accepts connections from `meet-control` on a Unix socket and relays their
//! requests to the core, one reply per request, plus the core's notifications.
//!
//! A connection's notifications wait on a bounded queue of its own (`notify`), so a control plane that
//! reads slowly never holds up a core. If it falls too far behind, what it missed is replaced by one
//! [`Notification::Lagged`]: the control plane then asks for the relay's state and reconciles.

use std::path::Path;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixListener;

use super::dispatch::Relay;
use super::notify::Delivery;
use crate::protocol::codec::{read_message, write_message, CodecError};
use crate::protocol::{ErrorBody, ErrorCode, Message, Notification, Request};

/// Binds `path` (replacing a stale socket file) and serves until `shutdown` completes.
pub async fn serve(path: &Path, relay: Relay, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    tracing::info!(path = %path.display(), "control socket listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let relay = relay.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(stream, relay).await {
                        tracing::warn!(error = %e, "control connection ended");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// Serves one control connection: a version handshake, then requests in order.
pub async fn serve_connection<S: AsyncRead + AsyncWrite>(stream: S, relay: Relay) -> Result<(), CodecError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut notifications = relay.subscribe();
    let mut greeted = false;
    loop {
        tokio::select! {
            message = read_message(&mut reader) => {
                let message = match message {
                    Ok(Some(m)) => m,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        // Say why before hanging up, so a misbehaving client sees its error.
                        let code = match e { CodecError::FrameTooLarge(_) => ErrorCode::FrameTooLarge, _ => ErrorCode::BadRequest };
                        let reply = Message::Response { id: 0, response: Err(ErrorBody::new(code, e.to_string())) };
                        let _ = write_message(&mut writer, &reply).await;
                        return Err(e);
                    }
                };
                let Message::Request { id, request } = message else {
                    let reply = Message::Response { id: 0, response: Err(ErrorBody::new(ErrorCode::BadRequest, "expected a request")) };
                    write_message(&mut writer, &reply).await?;
                    continue;
                };
                let is_hello = matches!(request, Request::Hello { .. });
                let response = if !greeted && !is_hello {
                    Err(ErrorBody::new(ErrorCode::VersionMismatch, "the first request must be hello"))
                } else {
                    relay.request(request).await
                };
                let refused = response.is_err() && !greeted;
                greeted |= is_hello && response.is_ok();
                write_message(&mut writer, &Message::Response { id, response }).await?;
                if refused {
                    return Ok(());
                }
            }
            note = notifications.recv() => {
                let notification = match note {
                    Some(Delivery::Notification(n)) => n,
                    Some(Delivery::Lagged { missed }) => {
                        tracing::warn!(missed, "control client lagged behind notifications; asking it to resync");
                        Notification::Lagged { missed }
                    }
                    None => return Ok(()),
                };
                // Before the handshake the client holds no state that notifications could be about.
                if greeted {
                    write_message(&mut writer, &Message::Notification { notification }).await?;
                }
            }
        }
    }
}
