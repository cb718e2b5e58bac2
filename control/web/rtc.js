/* meet — the media session: the RTCPeerConnection, offers answered one at a time (queueOffer), the
 * transceivers and what they send, the state `resume` carries, relay restarts (a new pc), ICE restarts
 * on the same pc when this device's network changes, and TURN servers (`iceServers`).
 *
 * Owns the pc (currentPc(): the same object across a resume, a new one after `mediaRestart` or a fresh
 * session; only pc events of the current one count), its senders, the offer queue, whether the relay
 * is away (isMediaLost) and the ICE restart under way. It makes media.js's local tracks reach the
 * senders (setSenderSync). What it needs from signalling.js above it (whether the socket is being
 * reconnected, reconnecting it, redrawing the banner, a fresh session) comes through initRtc(hooks).
 */
import { t } from './i18n.js';
import { session } from './session.js';
import { toast } from './ui.js';
import { connectionError } from './client-events.js';
import { isOpen, send } from './socket.js';
import { device, screenShareTold, screenTrack, setScreenShareTold, setSenderSync } from './media.js';
import { ensurePeer, forEachPeer, hasPeer, scheduleView, setPeerTracks, setScreenTracks } from './tiles.js';
import { updateFeatureUI } from './room-features.js';

var peerConnection = null;
var senders = { audio: null, video: null };  // kind ('audio', 'video', 'screen') -> the transceiver that sends it
var offerQueue = Promise.resolve();
var appliedTracks = null;  // `tracks` of the offer the pc last applied (sent back in `resume`)
var mediaLost = null;      // { pc } from `relayLost` / `mediaRestart` until a new pc connects
var iceServers = [];       // TURN servers with short-lived credentials (`iceServers`)
var iceRestart = null;     // { since, timer, offers, askedAt } while ICE is being restarted
var pathWatch = null;      // { pc, got, sent, gotAt, sentAt, stalled }: bytes on the media path
var iceRestarts = 0;       // ICE restarts asked for
var offersSeen = 0;        // offers received, so an ICE restart can tell whether its offer came
var lastIceOutageMs = null;  // how long ICE was down before the last restart brought it back
var maxBitrate = 0;        // bits/s for the camera sender, 0 = no limit (Client API setBitrate)

var hooks = {
  reconnecting: function () { return false; },  // the signalling socket is being reconnected
  reconnectSocket: function () {},               // (code, now): reconnect it
  pathChanged: function () {},                   // the relay went away or came back: the banner
  restartSession: function () {}                 // leave and join again (the error toast's button)
};
/** signalling.js's part, set once at start (see the header). */
export function initRtc(h) { Object.assign(hooks, h); }

export function currentPc() { return peerConnection; }
export function isMediaLost() { return !!mediaLost; }
export function iceRestartCount() { return iceRestarts; }
export function lastIceOutage() { return lastIceOutageMs; }

setSenderSync(function (kind) {
  if (kind !== 'screen') return applySender(kind);
  applyScreenSender();
  return Promise.resolve();
});

/** A new session's pc (connect). */
export function startPeerConnection() {
  peerConnection = newPeerConnection();
}

/** The session is over: the pc closes and everything about it is forgotten. */
export function closePeerConnection() {
  var pc = peerConnection;
  peerConnection = null;
  senders = { audio: null, video: null };
  offerQueue = Promise.resolve();
  appliedTracks = null;
  mediaLost = null;
  if (iceRestart) clearTimeout(iceRestart.timer);
  iceRestart = null;
  dropPc(pc);
}

/** Answers `msg` (an offer that came on `ws`) after the offers before it. */
export function queueOffer(ws, msg) {
  offerQueue = offerQueue.then(function () { return handleOffer(ws, msg); });
  return offerQueue;
}

/** Resolves once the offers received so far are answered. */
export function whenOffersSettled() { return offerQueue; }

/** The server started a fresh session where the page had one: a new pc, and the relay is not away. */
export function restartPeerConnection() {
  mediaLost = null;
  replacePeerConnection();
}

/** After a resume: go on with an ICE restart that was under way, or report a pc that failed meanwhile. */
export function afterResume() {
  if (iceRestart) checkIce(true);
  else if (peerConnection && peerConnection.connectionState === 'failed' && !mediaLost) mediaFailed();
}

/** Client API setBitrate: bits/s for the camera, 0 = no limit. Resolves whether it could be applied now. */
export function setMaxBitrate(bps) {
  maxBitrate = Math.round(bps);
  return applyBitrate().then(function (applied) { return { maxBitrate: maxBitrate, applied: applied }; });
}

function dropPc(pc) {
  if (!pc) return;
  pc.onconnectionstatechange = null;
  pc.oniceconnectionstatechange = null;
  try { pc.close(); } catch (e) { /* ignore */ }
}

// The RTCPeerConnection of a media session. A new one replaces it after `mediaRestart` (the relay
// restarted) or when the server starts a fresh session; it keeps these handlers.
function newPeerConnection() {
  var pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceServers: iceServers || [] });
  pc.onconnectionstatechange = function () {
    if (pc !== peerConnection) return;
    var st = pc.connectionState;
    if (st === 'connected' && mediaLost && mediaLost.pc !== pc) {
      mediaLost = null;
      hooks.pathChanged();
    } else if (st === 'failed') {
      // While the relay is away (relayLost) the old pc is expected to fail: the server sends
      // mediaRestart once it is back. While the socket reconnects, onResumed reports it.
      if (hooks.reconnecting() || (mediaLost && mediaLost.pc === pc)) return;
      mediaLost = null;
      hooks.pathChanged();
      // An ICE restart may still bring it back (a change of network): an error only if it does not.
      if (iceRestart && Date.now() - iceRestart.since < ICE_GIVE_UP_MS) return;
      mediaFailed();
    }
  };
  pc.oniceconnectionstatechange = function () { if (pc === peerConnection) checkIce(false); };
  return pc;
}

// --- ICE restarts: this device's network changed (Wi-Fi to mobile, a new address) ---------------
// The relay stops hearing from the old address and ICE goes `disconnected`. The page asks the server
// for an ICE restart (`iceRestart`): the server's next offer carries new ICE credentials, this pc
// gathers on the networks it has now and the same session goes on, with no rejoin. The socket may
// have died with the old network without closing: no offer in OFFER_WAIT_MS, and the page
// reconnects it at once (the server keeps the session for a page that proves it owns it: `resume`).
//
// Chromium says `disconnected` some 5 s after the path went silent, too late for a call to resume
// within 5 s, so the page also watches the path itself: while this page sends, the relay answers
// every tick with transport-wide feedback, so nothing received for STALL_AFTER_MS while sending
// means the path is gone (a `stall`), and counts as `disconnected`. A page that sends nothing has
// nothing to lose quickly and waits for Chromium.
var ICE_RESTART_AFTER_MS = 500;    // `disconnected` (no answer for seconds already) this long: not a blip
var OFFER_WAIT_MS = 800;           // the offer comes within a round trip of a live socket
var ICE_GIVE_UP_MS = 30000;        // restarts for this long before `failed` is an error
var RESTART_AGAIN_MS = 5000;       // an answered restart still down after this long: another one
var STALL_EVERY_MS = 1000;         // getStats is not free: once a second
var STALL_AFTER_MS = 1200;

// Whether the path of the current pc is down: Chromium says so, or the page saw it stall.
function pathDown(pc) {
  var st = pc.iceConnectionState;
  if (st === 'disconnected' || st === 'failed') return true;
  var w = pathWatch;
  return !!(w && w.pc === pc && w.stalled);
}

function hasSendingTrack() {
  return ['audio', 'video', 'screen'].some(function (kind) {
    var tr = senders[kind];
    return !!(tr && tr.sender.track && tr.sender.track.readyState === 'live');
  });
}

// Every STALL_EVERY_MS: the bytes the pc's transport received and sent (one transport: bundle).
function watchPath() {
  var pc = peerConnection;
  if (!session.joined || !pc || pc.signalingState === 'closed' || hooks.reconnecting() || mediaLost) return;
  pc.getStats().then(function (report) {
    if (pc !== peerConnection) return;
    var got = 0, sent = 0;
    report.forEach(function (s) {
      if (s.type === 'transport') { got += s.bytesReceived || 0; sent += s.bytesSent || 0; }
    });
    var now = Date.now(), w = pathWatch;
    if (!w || w.pc !== pc) {
      pathWatch = { pc: pc, got: got, sent: sent, gotAt: now, sentAt: 0, stalled: false };
      return;
    }
    if (sent > w.sent) { w.sent = sent; w.sentAt = now; }
    if (got > w.got) {
      w.got = got;
      w.gotAt = now;
      if (w.stalled) {
        w.stalled = false;
        console.info('meet: media path receiving again');
        checkIce(false);
      }
      return;
    }
    // Silent although this page was sending when the silence began, and still has something to send
    // (its sends may fail once its address is gone, so they do not have to go on): not a pause of
    // the other side, and not this page turning its camera and microphone off.
    var sending = w.sentAt >= w.gotAt - 2 * STALL_EVERY_MS && hasSendingTrack();
    if (!w.stalled && sending && w.got > 0 && now - w.gotAt >= STALL_AFTER_MS) {
      w.stalled = true;
      console.info('meet: media path silent for ' + (now - w.gotAt) + ' ms while sending');
      checkIce(true);
    }
  }).catch(function () { /* the pc went away meanwhile */ });
}
setInterval(watchPath, STALL_EVERY_MS);

// `now`: ask at once (the socket was just reconnected for it).
function checkIce(now) {
  var pc = peerConnection;
  if (!pc) return;
  var st = pc.iceConnectionState;
  if (pathDown(pc)) {
    if (!iceRestart) iceRestart = { since: Date.now(), timer: null, offers: -1, askedAt: 0 };
    if (!iceRestart.timer) {
      iceRestart.timer = setTimeout(restartIce, st !== 'disconnected' || now === true ? 0 : ICE_RESTART_AFTER_MS);
    }
  } else if (st === 'connected' || st === 'completed') {
    if (iceRestart) {
      clearTimeout(iceRestart.timer);
      lastIceOutageMs = Date.now() - iceRestart.since;
      console.info('meet: ICE connected again after ' + lastIceOutageMs + ' ms');
      iceRestart = null;
    }
  }
}

function restartIce() {
  var r = iceRestart, pc = peerConnection;
  if (!r) return;
  r.timer = null;
  if (!pc || pc.signalingState === 'closed' || !pathDown(pc)) return;
  var st = pc.iceConnectionState;
  if (Date.now() - r.since > ICE_GIVE_UP_MS) {
    // No way back on this network: the error `failed` held back until now.
    iceRestart = null;
    if (pc.connectionState === 'failed' && !hooks.reconnecting() && !mediaLost) mediaFailed();
    return;
  }
  // The relay is away (its own restart: `mediaRestart` brings a new pc) or the socket reconnects
  // (`onResumed` calls checkIce again): nothing to ask now.
  if (!session.joined || hooks.reconnecting() || mediaLost) return;
  if (r.offers === offersSeen) {
    // Asked before and no offer came: the socket is as dead as the old network.
    console.info('meet: no offer after the ICE restart request; reconnecting the socket');
    r.offers = -1;
    hooks.reconnectSocket('network-change', true);
    return;
  }
  var since = Date.now() - r.askedAt;
  if (r.offers !== -1 && since < RESTART_AGAIN_MS) {
    // The offer came and its checks are under way: give them time before starting over.
    r.timer = setTimeout(restartIce, RESTART_AGAIN_MS - since);
    return;
  }
  pc.restartIce();
  r.offers = offersSeen;
  r.askedAt = Date.now();
  iceRestarts += 1;
  console.info('meet: ICE ' + (pathWatch && pathWatch.stalled ? 'path silent' : st) + '; asking for an ICE restart');
  send({ type: 'iceRestart' });
  r.timer = setTimeout(restartIce, OFFER_WAIT_MS);
}

// TURN servers and their short-lived credentials (`iceServers`, docs/signalling.md): kept for the next
// pc, and put in the current one's configuration (used from its next gathering: the first answer,
// or an ICE restart).
export function setIceServers(list) {
  var renewal = iceServers.length > 0;
  iceServers = Array.isArray(list) ? list : [];
  var pc = peerConnection;
  if (!pc || pc.signalingState === 'closed') return;
  try {
    var config = pc.getConfiguration();
    config.iceServers = iceServers;
    pc.setConfiguration(config);
  } catch (e) {
    console.warn('meet: cannot apply the ICE servers', e);
    return;
  }
  // A TURN allocation keeps the credentials it was made with, and the TURN server refuses to refresh it
  // once they expire: a call relayed through TURN moves to an allocation with the new ones.
  if (!renewal || !session.joined) return;
  relayed(pc).then(function (yes) {
    if (!yes || pc !== peerConnection || !session.joined) return;
    console.info('meet: new TURN credentials; restarting ICE on them');
    pc.restartIce();
    send({ type: 'iceRestart' });
  });
}

// Whether the pc's selected candidate pair goes through a TURN server.
function relayed(pc) {
  return pc.getStats().then(function (report) {
    var local = null;
    report.forEach(function (s) {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      var pair = report.get(s.selectedCandidatePairId);
      local = pair && report.get(pair.localCandidateId);
    });
    return !!(local && local.candidateType === 'relay');
  }).catch(function () { return false; });
}

function mediaFailed() {
  connectionError('media connection failed', 'mediaFailed');
  toast(t('call.mediaFailed'), { type: 'error', duration: 12000, action: { label: t('lost.reconnect'), fn: hooks.restartSession } });
}

// Close the RTCPeerConnection and go on with a new one: local tracks and tiles stay, the next offer
// attaches them to the new transceivers.
function replacePeerConnection() {
  dropPc(peerConnection);
  if (iceRestart) clearTimeout(iceRestart.timer);
  iceRestart = null;
  peerConnection = newPeerConnection();
  senders = { audio: null, video: null };
  appliedTracks = null;
}

// What `join` + `resume` carries: the ICE credentials and o= line of the offer this pc answered, its
// tracks, and this participant's sharing and hand. Null when there is no settled session to take back.
export function resumeState() {
  var pc = peerConnection;
  if (!pc || pc.signalingState !== 'stable' || !pc.remoteDescription || !pc.remoteDescription.sdp) return null;
  var sdp = pc.remoteDescription.sdp;
  var ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp);
  var pwd = /^a=ice-pwd:(\S+)/m.exec(sdp);
  var o = /^o=\S+ (\d+) (\d+) /m.exec(sdp);
  if (!ufrag || !pwd || !o) return null;
  return {
    ufrag: ufrag[1], pwd: pwd[1], sessionId: Number(o[1]), version: Number(o[2]),
    tracks: appliedTracks || [], screen: !!screenTrack(), hand: session.hand
  };
}

// The link to the relay went away: media may stop until relayBack or mediaRestart; the pc failing
// meanwhile is no error.
export function onRelayLost() {
  if (!session.joined || !peerConnection) return;
  if (!mediaLost) mediaLost = { pc: peerConnection };
  hooks.pathChanged();
}

// The link to the relay is back and the relay kept this session: the same pc goes on. Should it have
// failed meanwhile (it is not expected to: the relay went on forwarding), that is an error now.
export function onRelayBack() {
  if (!mediaLost || mediaLost.pc !== peerConnection) return;
  mediaLost = null;
  hooks.pathChanged();
  if (peerConnection.connectionState === 'failed' && !hooks.reconnecting()) mediaFailed();
}

// The relay is back with a new transport: the offer that follows is answered on a new pc.
export function onMediaRestart() {
  if (!session.joined || !peerConnection) return;
  if (!mediaLost) mediaLost = { pc: peerConnection };
  hooks.pathChanged();
  offerQueue = offerQueue.then(function () {
    if (!peerConnection) return;
    replacePeerConnection();
    console.info('meet: media restart: new RTCPeerConnection');
  });
}

function handleOffer(ws, msg) {
  var pc = peerConnection;
  offersSeen += 1;
  if (!pc || pc.signalingState === 'closed') return Promise.resolve();
  var tracks = Array.isArray(msg.tracks) ? msg.tracks : [];
  return pc.setRemoteDescription({ type: 'offer', sdp: String(msg.sdp || '') }).then(function () {
    var trs = pc.getTransceivers();
    var byPeer = new Map();
    var screens = new Map();
    var jobs = [];
    tracks.forEach(function (tk) {
      if (!tk) return;
      var tr = trs.find(function (x) { return x.mid === String(tk.mid); });
      if (!tr) { console.warn('meet: no transceiver for mid', tk.mid); return; }
      if (tk.direction === 'send' && tk.source === 'screen') {
        tr.direction = 'sendonly';
        senders.screen = tr;
        jobs.push(tr.sender.replaceTrack(screenTrack()));
      } else if (tk.direction === 'recv' && tk.active && tk.source === 'screen' && tk.peerId != null) {
        screens.set(String(tk.peerId), tr.receiver.track);
      } else if (tk.direction === 'send') {
        var kind = tk.kind === 'video' ? 'video' : 'audio';
        tr.direction = 'sendonly';
        senders[kind] = tr;
        var d = device(kind);
        var local = d.on && d.track && d.track.readyState === 'live' ? d.track : null;
        jobs.push(tr.sender.replaceTrack(local));
      } else if (tk.direction === 'recv' && tk.active && tk.peerId != null && String(tk.peerId) !== session.peerId) {
        var id = String(tk.peerId);
        if (!byPeer.has(id)) byPeer.set(id, []);
        byPeer.get(id).push(tr.receiver.track);
      }
    });
    // Tracks of participants we have not heard about yet get a tile now; peerJoined fills in the name.
    byPeer.forEach(function (list, id) { if (!hasPeer(id)) ensurePeer({ peerId: id }); });
    forEachPeer(function (p) { setPeerTracks(p, byPeer.get(p.peerId) || []); });
    setScreenTracks(screens);
    return Promise.all(jobs);
  }).then(function () {
    return pc.createAnswer();
  }).then(function (answer) {
    return pc.setLocalDescription(answer).then(function () {
      // The tracks that go with pc.remoteDescription from now on, whether or not the answer reaches the
      // server: `resume` must describe what this pc has applied.
      if (pc === peerConnection) appliedTracks = tracks;
      return answer;
    });
  }).then(function (answer) {
    if (pc === peerConnection && isOpen(ws)) {
      ws.send(JSON.stringify({ type: 'answer', sdp: answer.sdp }));
    }
    if (maxBitrate) applyBitrate().catch(function (e) { console.warn('meet: setBitrate', e); });
    applyScreenPolicy();
    scheduleView();
  }).catch(function (e) {
    console.error('meet: offer handling failed', e);
    if (pc !== peerConnection) return;   // replaced meanwhile (mediaRestart, fresh session)
    connectionError((e && e.message) || String(e), 'negotiation');
    toast(t('call.error', { message: (e && e.message) || String(e) }), { type: 'error' });
  });
}

// --- what this pc sends -------------------------------------------------

function applySender(kind) {
  var tr = senders[kind];
  var d = device(kind);
  if (!tr || !peerConnection || peerConnection.signalingState === 'closed') return Promise.resolve();
  var track = d.on && d.track && d.track.readyState === 'live' ? d.track : null;
  if (kind === 'video') applyScreenSender();
  if (kind === 'video' && screenTrack() && !senders.screen) track = screenTrack().track;
  if (tr.sender.track === track) return Promise.resolve();
  return tr.sender.replaceTrack(track).catch(function (e) { console.warn('meet: replaceTrack failed', e); });
}

// The screen section: the shared screen's track goes there; the server is told when sharing starts
// or stops so it forwards (or stops forwarding) that stream.
export function applyScreenSender() {
  var tr = senders.screen;
  var track = screenTrack();
  if (tr && peerConnection && peerConnection.signalingState !== 'closed' && tr.sender.track !== track) {
    tr.sender.replaceTrack(track).then(applyScreenPolicy)
      .catch(function (e) { console.warn('meet: screen replaceTrack failed', e); });
  }
  if (session.joined && screenShareTold() !== !!track) {
    setScreenShareTold(!!track);
    send({ type: 'share', on: !!track });
  }
  updateFeatureUI();
}

// A shared screen keeps its resolution and gives up frame rate when the link is short: text must stay
// readable. (The camera is sent in simulcast layers, lowest first, which the relay picks from.)
function applyScreenPolicy() {
  var tr = senders.screen;
  if (!tr || !peerConnection || peerConnection.signalingState === 'closed') return;
  if (tr.sender.track && 'contentHint' in tr.sender.track) tr.sender.track.contentHint = 'detail';
  var p = tr.sender.getParameters();
  if (p.degradationPreference === 'maintain-resolution') return;
  p.degradationPreference = 'maintain-resolution';
  tr.sender.setParameters(p).catch(function (e) { console.warn('meet: screen degradation preference', e); });
}

function applyBitrate() {
  var tr = senders.video;
  if (!tr || !peerConnection || peerConnection.signalingState === 'closed') return Promise.resolve(false);
  var p = tr.sender.getParameters();
  if (!p.encodings || !p.encodings.length) return Promise.resolve(false);
  p.encodings.forEach(function (e) {
    if (maxBitrate > 0) e.maxBitrate = maxBitrate; else delete e.maxBitrate;
  });
  return tr.sender.setParameters(p).then(function () { return true; });
}
