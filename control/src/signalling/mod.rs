//! Signalling: one WebSocket per participant (`GET /ws`), JSON messages as in `docs/signalling.md`.
//!
//! The first message must be `join`; after that the socket carries answers and state changes in, and
//! offers and room news out. Closing the socket leaves the room.

pub mod messages;
pub mod outbox;

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};

use crate::rooms::JoinRequest;
use crate::AppState;
use messages::{clean_display_name, valid_id, ClientMessage, ServerMessage};
use outbox::{Outbox, OutboxReceiver};

/// A browser that opens the socket but says nothing is cut off after this long.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Larger messages are refused (an SDP answer with many sections is well below this). Frames are
/// held to the same limit: without it a 16 MB frame was buffered before the message was refused.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Frames a connection may send per second on average, and in a burst. A page sends a few per
/// second at most (answers, device changes, chat typed by a person); beyond this it is a flood and the
/// connection is closed (`too-many-messages`).
const MESSAGES_PER_SECOND: f64 = 20.0;
const MESSAGE_BURST: f64 = 60.0;
/// How long a leaving connection's last messages may take to write.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn ws_handler(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // What the socket cannot take yet is buffered up to this, then the writer waits (and the outbox
        // fills, see `outbox`).
        .max_write_buffer_size(2 * MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(state, socket))
}

/// Writes the outbox to the socket until it closes, a `closed` message is sent, or the outbox
/// overflows: the page does not read, so the socket is dropped rather than buffered for (even while a
/// write is blocked on it).
async fn write(sink: futures_util::stream::SplitSink<WebSocket, Message>, outbox: OutboxReceiver) {
    let OutboxReceiver { messages, overflow } = outbox;
    tokio::select! {
        _ = pump(sink, messages) => {}
        _ = overflow.notified() => {
            tracing::warn!("a participant does not read its messages; its connection is dropped");
        }
    }
}

async fn pump(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut messages: tokio::sync::mpsc::Receiver<ServerMessage>,
) {
    while let Some(message) = messages.recv().await {
        let closing = matches!(message, ServerMessage::Closed { .. } | ServerMessage::Moved { .. });
        let text = serde_json::to_string(&message).expect("server messages serialize");
        if sink.send(Message::Text(text.into())).await.is_err() {
            return;
        }
        if closing {
            let _ = sink.send(Message::Close(None)).await;
            return;
        }
    }
}

/// A token bucket over a connection's incoming frames.
struct InboundRate {
    tokens: f64,
    updated: tokio::time::Instant,
}

impl InboundRate {
    fn new() -> Self {
        InboundRate { tokens: MESSAGE_BURST, updated: tokio::time::Instant::now() }
    }

    fn allow(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let refill = now.saturating_duration_since(self.updated).as_secs_f64() * MESSAGES_PER_SECOND;
        self.tokens = (self.tokens + refill).min(MESSAGE_BURST);
        self.updated = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// What the socket brought.
enum Incoming {
    /// Boxed: `join` is much larger than the other messages.
    Message(Box<ClientMessage>),
    /// The socket closed (or failed).
    Closed,
    /// More frames than [`InboundRate`] allows.
    Flood,
}

async fn session(state: AppState, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (out_tx, outbox) = Outbox::new();
    // Writer: everything for this participant goes through one queue.
    let mut writer = tokio::spawn(write(sink, outbox));
    let mut rate = InboundRate::new();

    let first = tokio::time::timeout(JOIN_TIMEOUT, next_message(&mut stream, &out_tx, &mut rate)).await;
    let first = first.map(|incoming| match incoming {
        Incoming::Message(m) => Some(*m),
        Incoming::Closed | Incoming::Flood => None,
    });
    let join = match first {
        Ok(Some(ClientMessage::Join {
            room_id,
            display_name,
            display_name_fixed,
            peer_id,
            audio,
            video,
            mode,
            video_codec,
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
            let store = &state.services.store;
            let checked = state.call.auth.grant(store, attributes.token.as_deref(), &room_id, &options, unix_millis());
            let grant = match checked.await {
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
            if let Err(e) = grant.check_interpretation(&state.call.interpreter_languages.0) {
                tracing::info!(room = %room_id, error = %e, "join refused: interpretation claims");
                let _ = out_tx.send(ServerMessage::closed(e.code(), e.to_string()));
                drop(out_tx);
                let _ = writer.await;
                return;
            }
            let mut grant = grant;
            if grant.video_url.as_deref().is_some_and(|u| !state.call.player_allowed(u)) {
                tracing::info!(room = %room_id, "joint-viewing player from a host not in [server] player_hosts ignored");
                grant.video_url = None;
            }
            attributes.access_token = grant.access_token.clone();
            let display_name = clean_display_name(grant.display_name.as_deref().unwrap_or(&display_name));
            let mut join = JoinRequest {
                room_id,
                // The access check and the room see the ID this session will have.
                peer_id: Some(grant.peer_id.clone().unwrap_or_else(crate::rooms::new_peer_id)),
                display_name,
                audio,
                video,
                mode,
                grant,
                resume,
                h264: video_codec.is_some_and(|c| c.eq_ignore_ascii_case("h264")),
                ice_servers: None,
            };
            // In a cluster, the room's host takes the join (placing the room if nobody holds it); the
            // page is sent there before any access check runs here.
            if let Some(cluster) = state.cluster.as_ref() {
                if let crate::cluster::Owner::Elsewhere { host, url } =
                    cluster.owner_for_join(&join.room_id, &state.rooms).await
                {
                    tracing::info!(room = %join.room_id, host = %host, "join sent to the room's host");
                    let _ = out_tx.send(ServerMessage::Moved { url });
                    drop(out_tx);
                    let _ = writer.await;
                    return;
                }
            }
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
    let mut join = join;
    let (room_id, wanted_peer) = (join.room_id.clone(), join.peer_id.clone());
    // TURN credentials: the room sends them once the participant is in (past the waiting room), before
    // the first offer. A page resuming its session is in already and gets them now.
    let mut renew_turn = None;
    if let Some(turn) = state.call.turn.as_ref() {
        let servers = ice_servers(turn, wanted_peer.as_deref().unwrap_or_default());
        if join.resume.is_some() {
            let _ = out_tx.send(servers);
        } else {
            join.ice_servers = Some(servers);
        }
        renew_turn = Some(tokio::time::Instant::now() + turn.renew_after());
    }
    let can_record = join.grant.can_record && join.grant.is_moderator();
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
    let mut writer_ended = false;
    loop {
        let message = tokio::select! {
            incoming = next_message(&mut stream, &out_tx, &mut rate) => match incoming {
                Incoming::Message(m) => *m,
                Incoming::Closed => break,
                Incoming::Flood => {
                    tracing::warn!(peer = %peer_id, "too many messages; the connection is closed");
                    let _ = out_tx.send(ServerMessage::closed("too-many-messages", "Too many messages; the connection was closed"));
                    break;
                }
            },
            // The writer ended (socket gone, or dropped for not reading): so does the session.
            _ = &mut writer => {
                writer_ended = true;
                break;
            }
            // A long call: new TURN credentials before the old ones expire (not to someone still in the
            // waiting room: the room sends the first ones on admission).
            _ = sleep_until(renew_turn) => {
                if let Some(turn) = state.call.turn.as_ref() {
                    renew_turn = Some(tokio::time::Instant::now() + turn.renew_after());
                    let in_room = state.rooms.room_info(&room_id).await
                        .is_some_and(|info| info.peers.iter().any(|p| p.peer_id == peer_id));
                    if in_room {
                        let _ = out_tx.send(ice_servers(turn, &peer_id));
                    }
                }
                continue;
            }
        };
        match message {
            ClientMessage::Answer { sdp } => handle.answer(sdp),
            ClientMessage::MediaState { audio, video, id } => handle.media_state(audio, video, id),
            ClientMessage::SetName { display_name } => handle.set_name(clean_display_name(&display_name)),
            ClientMessage::Share { on, id } => handle.share(on, id),
            ClientMessage::Chat { text } => handle.chat(text),
            ClientMessage::Hand { raised } => handle.hand(raised),
            ClientMessage::Interpretation { channel, mute_original } => handle.listen(channel, mute_original),
            ClientMessage::View { mut tiles } => {
                tiles.truncate(messages::MAX_TILE_VIEWS);
                handle.view(tiles)
            }
            ClientMessage::Moderate(action) => handle.moderate(action),
            ClientMessage::IceRestart => handle.ice_restart(),
            ClientMessage::StartRecording => {
                crate::recording::page_request(state.recordings.as_ref(), &room_id, can_record, true, &out_tx).await
            }
            ClientMessage::StopRecording => {
                crate::recording::page_request(state.recordings.as_ref(), &room_id, can_record, false, &out_tx).await
            }
            ClientMessage::Leave => break,
            ClientMessage::Join { .. } => {
                let _ = out_tx.send(ServerMessage::error("bad-request", "Already joined"));
            }
        }
    }
    drop(handle);
    drop(out_tx);
    // The last messages (a `closed`) get a moment; a page that does not read gets no more.
    if !writer_ended && tokio::time::timeout(CLOSE_TIMEOUT, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// The page's `iceServers` message: TURN servers with credentials made now.
fn ice_servers(turn: &crate::turn::Turn, peer_id: &str) -> ServerMessage {
    let servers = turn.ice_servers(peer_id, unix_millis() / 1000);
    ServerMessage::IceServers { ice_servers: servers.servers, expires: servers.expires }
}

/// Sleeps until `at`, or for ever without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The next well-formed client message; malformed ones get an `error` reply and are skipped. Every
/// frame counts against `rate`.
async fn next_message(
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    out: &Outbox,
    rate: &mut InboundRate,
) -> Incoming {
    while let Some(frame) = stream.next().await {
        if !rate.allow() {
            return Incoming::Flood;
        }
        let text = match frame {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => return Incoming::Closed,
            Ok(_) => continue,
        };
        match serde_json::from_str::<ClientMessage>(&text) {
            Ok(m) => return Incoming::Message(Box::new(m)),
            Err(e) => {
                let _ = out.send(ServerMessage::error("bad-request", format!("Malformed message: {e}")));
            }
        }
    }
    Incoming::Closed
}
