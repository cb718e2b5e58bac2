//! Signalling to meet-control as a browser does it (docs/signalling.md): one WebSocket per simulated
//! peer, `join`, then an answer to every offer. The first offer's ICE credentials and candidate start
//! the peer's media in its worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::load::{Command, Remote};
use crate::sdp;

pub struct SigPeer {
    pub index: usize,
    pub peer_id: String,
    pub ufrag: String,
    pub pwd: String,
    pub fingerprint: String,
    pub audio_ssrc: Option<u32>,
    pub video_ssrc: Option<u32>,
    pub worker: Sender<Command>,
}

impl SigPeer {
    /// The signalling side of the generator's simulated peer `index`.
    pub fn of(generator: &crate::runner::Generator, index: usize, peer_id: String) -> Self {
        let info = &generator.peers[index];
        SigPeer {
            index,
            peer_id,
            ufrag: info.ufrag.clone(),
            pwd: info.pwd.clone(),
            fingerprint: generator.identity.fingerprint.clone(),
            audio_ssrc: info.audio_ssrc,
            video_ssrc: info.video_ssrc,
            worker: generator.workers[info.worker].clone(),
        }
    }
}

/// Per peer: streams it receives according to the last offer it answered.
pub struct Progress {
    pub receiving: Vec<AtomicUsize>,
    pub errors: AtomicUsize,
}

impl Progress {
    pub fn new(peers: usize) -> Arc<Self> {
        Arc::new(Progress { receiving: (0..peers).map(|_| AtomicUsize::new(0)).collect(), errors: AtomicUsize::new(0) })
    }
}

pub async fn session(
    url: String,
    room: String,
    peer: SigPeer,
    progress: Arc<Progress>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let (mut sink, mut stream) = ws.split();
    let join = json!({
        "type": "join",
        "roomId": room,
        "peerId": peer.peer_id,
        "displayName": format!("bench {}", peer.index),
        "audio": peer.audio_ssrc.is_some(),
        "video": peer.video_ssrc.is_some(),
        "mode": "call",
    });
    sink.send(Message::text(join.to_string())).await?;
    let mut started = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            frame = stream.next() => {
                let Some(frame) = frame else { break };
                let text = match frame? {
                    Message::Text(t) => t,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let msg: serde_json::Value = serde_json::from_str(&text)?;
                match msg["type"].as_str() {
                    Some("offer") => {
                        let offer = sdp::parse_offer(msg["sdp"].as_str().unwrap_or_default())?;
                        let local = sdp::Local {
                            ufrag: &peer.ufrag,
                            pwd: &peer.pwd,
                            fingerprint: &peer.fingerprint,
                            audio_ssrc: peer.audio_ssrc,
                            video_ssrc: peer.video_ssrc,
                        };
                        let answer = sdp::write_answer(&offer, &local);
                        sink.send(Message::text(json!({"type": "answer", "sdp": answer}).to_string())).await?;
                        progress.receiving[peer.index].store(offer.active_receive(), Ordering::Relaxed);
                        if !started {
                            started = true;
                            let remote = Remote::Ice {
                                addr: offer.candidate.expect("checked by parse_offer"),
                                remote_ufrag: offer.ice_ufrag.clone(),
                                remote_pwd: offer.ice_pwd.clone(),
                            };
                            let _ = peer.worker.send(Command::Start(peer.index, remote));
                        }
                    }
                    Some("error") | Some("closed") => {
                        if progress.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("peer {}: server says {}", peer.index, text);
                        }
                        if msg["type"] == "closed" {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = sink.send(Message::text(json!({"type": "leave"}).to_string())).await;
    let _ = sink.close().await;
    Ok(())
}
