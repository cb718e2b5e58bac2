//! Signalling: one WebSocket per participant (`GET /ws`), JSON messages as in `docs/signalling.md`.
//!
//! The first message must be `join`; after that the socket carries answers and state changes in, and
//! offers and room news out. Closing the socket leaves the room.

pub mod messages;

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::rooms::JoinRequest;
use crate::AppState;
use messages::{clean_display_name, valid_id, ClientMessage, ServerMessage};

/// A browser that opens the socket but says nothing is cut off after this long.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Larger messages are refused (an SDP answer with many sections is well below this).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

pub async fn ws_handler(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES).on_upgrade(move |socket| session(state, socket))
}

async fn session(state: AppState, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<ServerMessage>();
    // Writer: everything for this participant goes through one queue.
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let closing = matches!(message, ServerMessage::Closed { .. });
            let text = serde_json::to_string(&message).expect("server messages serialize");
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
            if closing {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        }
    });

    let join = match tokio::time::timeout(JOIN_TIMEOUT, next_message(&mut stream, &out_tx)).await {
        Ok(Some(ClientMessage::Join {
            room_id,
            display_name,
            display_name_fixed,
            peer_id,
            audio,
            video,
            mode,
            mut attributes,
            mut options,
            resume,
        })) => {
            if !valid_id(&room_id) || peer_id.as_deref().is_some_and(|p| !valid_id(p)) {
                let _ = out_tx.send(ServerMessage::closed(
                    "bad-request",
                    "roomId and peerId may use letters, digits, '-', '_' and '.' (at most 128)",
                ));
                drop(out_tx);
                let _ = writer.await;
                return;
            }
            // The Client API JWT over the URL's attributes: the token's values win (issue 4).
            options.display_name = display_name_fixed.then(|| display_name.clone());
            options.peer_id = peer_id;
            options.access_token = attributes.access_token.take();
            let grant = match state.call.auth.grant(attributes.token.as_deref(), &room_id, &options, unix_millis()) {
                Ok(g) if g.peer_id.as_deref().is_none_or(valid_id) => g,
                Ok(_) => {
                    let _ = out_tx.send(ServerMessage::closed(
                        "bad-request",
                        "The token's peerId may use letters, digits, '-', '_' and '.'",
                    ));
                    drop(out_tx);
                    let _ = writer.await;
                    return;
                }
                Err(e) => {
                    tracing::info!(room = %room_id, error = %e, "join refused by the Client API token check");
                    let _ = out_tx.send(ServerMessage::closed(e.code(), e.to_string()));
                    drop(out_tx);
                    let _ = writer.await;
                    return;
                }
            };
            attributes.access_token = grant.access_token.clone();
            let display_name = clean_display_name(grant.display_name.as_deref().unwrap_or(&display_name));
            let mut join = JoinRequest {
                room_id,
                peer_id: grant.peer_id.clone(),
                display_name,
                audio,
                video,
                mode,
                grant,
                resume,
            };
            // The integrator's access check (and webhook targets from the room URL).
            if let Err(refusal) = state.services.admit(&mut join, &attributes).await {
                let _ = out_tx.send(refusal);
                drop(out_tx);
                let _ = writer.await;
                return;
            }
            join
        }
        Ok(Some(_)) => {
            let _ = out_tx.send(ServerMessage::closed("bad-request", "The first message must be join"));
            drop(out_tx);
            let _ = writer.await;
            return;
        }
        Ok(None) | Err(_) => {
            writer.abort();
            return;
        }
    };

    // A SIGTERM drain is under way (ops::drain): this server takes no new participants.
    if crate::ops::draining() {
        crate::ops::refused_while_draining();
        let _ = out_tx
            .send(ServerMessage::closed("server-restart", "The server is restarting; reconnecting in a few seconds"));
        drop(out_tx);
        let _ = writer.await;
        return;
    }
    let (room_id, wanted_peer) = (join.room_id.clone(), join.peer_id.clone());
    let (peer_id, handle) = match state.rooms.join(join, out_tx.clone()).await {
        Ok(joined) => joined,
        Err(refusal) => {
            state.services.join_failed(&room_id, wanted_peer.as_deref());
            let (code, message) = match refusal {
                ServerMessage::Error { code, message } => (code, message),
                _ => ("server-error".into(), "Cannot join".into()),
            };
            let _ = out_tx.send(ServerMessage::Closed { code, message });
            drop(out_tx);
            let _ = writer.await;
            return;
        }
    };
    tracing::debug!(peer = %peer_id, "signalling session started");
    while let Some(message) = next_message(&mut stream, &out_tx).await {
        match message {
            ClientMessage::Answer { sdp } => handle.answer(sdp),
            ClientMessage::MediaState { audio, video } => handle.media_state(audio, video),
            ClientMessage::SetName { display_name } => handle.set_name(clean_display_name(&display_name)),
            ClientMessage::Share { on } => handle.share(on),
            ClientMessage::Chat { text } => handle.chat(text),
            ClientMessage::Hand { raised } => handle.hand(raised),
            ClientMessage::Moderate(action) => handle.moderate(action),
            ClientMessage::Leave => break,
            ClientMessage::Join { .. } => {
                let _ = out_tx.send(ServerMessage::error("bad-request", "Already joined"));
            }
        }
        if writer.is_finished() {
            break;
        }
    }
    drop(handle);
    drop(out_tx);
    let _ = writer.await;
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The next well-formed client message; malformed ones get an `error` reply and are skipped.
/// `None` when the socket closes.
async fn next_message(
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    out: &mpsc::UnboundedSender<ServerMessage>,
) -> Option<ClientMessage> {
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        };
        match serde_json::from_str::<ClientMessage>(&text) {
            Ok(m) => return Some(m),
            Err(e) => {
                let _ = out.send(ServerMessage::error("bad-request", format!("Malformed message: {e}")));
            }
        }
    }
    None
}
