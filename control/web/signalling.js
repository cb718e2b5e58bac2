/* meet — the session with the server (docs/signalling.md): joining, leaving and joining again, the
 * join handshake, dispatching the server's messages, reconnecting with backoff after a server restart
 * or a network drop (and the "Reconnecting…" banner), the waiting room, and how a session ends
 * (refused, closed by the server, connection lost).
 *
 * Owns the session's life: the join timer, whether the page is closing the socket itself, the
 * reconnection under way, and who was dropped at a reconnection (so that their return is not announced).
 * The socket itself is socket.js's, the media session rtc.js's; the room's own messages (chat, roles,
 * moderation…) go to room-features.js.
 */
import { t } from './i18n.js';
import { NAME_MAX, cleanText, roomAttributes } from './attributes.js';
import { PREF, writePref } from './prefs.js';
import { session, setDisplayName, setJoined, setPageState, setPeerId } from './session.js';
import { displayOf, toast } from './ui.js';
import { connectionError, emit, selfData } from './client-events.js';
import {
  answerAsk, closeSocket, currentSocket, dropAsks, expectOfferAnswer, isOpen, offerAnswered, openSocket, send
} from './socket.js';
import { resumeAudio } from './audio-levels.js';
import { setPanelOffline, setWaitingList } from './panels.js';
import {
  afterMediaChange, camera, mediaRefused, microphone, queueMediaJob, restoreMedia, screenTrack, setMediaStateSent,
  setScreenShareTold, stopLocalMedia, stopPreview, updateMediaUI, whenMediaSettled
} from './media.js';
import {
  clearPeers, ensurePeer, forgetActiveSpeaker, forgetViewersExcept, hasPeer, layoutTiles, peerClosed, peerIds,
  placeOwnTile, removePeer, updateCount
} from './tiles.js';
import { inCallScreen, setJoinBusy, showScreen } from './screens.js';
import { applyRoom, applyYou, enterFullscreen, handleRoomMessage, onJoinedFeatures } from './room-features.js';
import {
  afterResume, applyScreenSender, closePeerConnection, currentPc, initRtc, isMediaLost, onMediaRestart, onRelayBack, onRelayLost,
  queueOffer, restartPeerConnection, resumeState, setIceServers, startPeerConnection, whenOffersSettled
} from './rtc.js';

var JOIN_TIMEOUT_MS = 15000;
// Reconnecting after the socket was lost: 0.5 s, doubling to 5 s between attempts, for up to 60 s.
var RECONNECT_FIRST_MS = 500;
var RECONNECT_MAX_MS = 5000;
var RECONNECT_FOR_MS = 60000;
var RECONNECT_ATTEMPT_MS = 10000;  // an attempt whose socket opened but got no `joined` in time

var $ = function (id) { return document.getElementById(id); };
var el = {
  name: $('name'), joinError: $('join-error'), joinErrorText: $('join-error-text'),
  rejoin: $('rejoin'), closedRejoin: $('closed-rejoin'), closedMsg: $('closed-message'), reconnect: $('reconnect'),
  reconnecting: $('reconnecting'), reconnectingText: $('reconnecting-text')
};

var joinTimer = null;
var closing = false;         // the page closes the socket itself: its close is no loss
var reconnect = null;        // { since, delay, timer } while the socket is being reconnected
var quietRejoins = new Map();  // peerId -> when this page dropped them at a fresh session

initRtc({
  reconnecting: function () { return !!reconnect; },
  reconnectSocket: startReconnect,
  pathChanged: updateBanner,
  restartSession: restartSession
});

/* ---------------------------------------------------------------- */
/* Joining and leaving                                              */
/* ---------------------------------------------------------------- */

/** Joins from the welcome screen (or the Client API's join): the name, then the socket once the
 * pending device changes are done, so the join message carries the real state. */
export function join() {
  if (session.pageState === 'joining' || session.pageState === 'in-call') return;
  if (roomAttributes.startWithFS) enterFullscreen();
  var typed = cleanText(el.name.value, NAME_MAX);
  setDisplayName(session.presetName || typed || t('call.guest'));
  if (!session.presetName) writePref(PREF.name, typed || '');
  el.joinError.hidden = true;
  setPageState('joining');
  setJoinBusy(true);
  resumeAudio();
  whenMediaSettled().then(function () {
    if (session.pageState === 'joining') connect();
  });
}

/** Joins again after leaving or losing the session: the devices that were on start again first. */
export function rejoin() {
  if (session.pageState === 'joining' || session.pageState === 'in-call') return;
  setPageState('joining');
  setJoinBusy(true);
  queueMediaJob(restoreMedia);
  whenMediaSettled().then(function () {
    if (session.pageState === 'joining') connect();
  });
}

// The media path failed while the socket is fine: a fresh session.
function restartSession() {
  if (session.pageState === 'in-call') {
    closing = true;
    send({ type: 'leave' });
    closeConnection();
    setPageState('left');
  }
  rejoin();
}

export function leave() {
  var st = session.pageState;
  if (st !== 'in-call' && st !== 'joining' && st !== 'waiting' && st !== 'reconnecting') return;
  closing = true;
  send({ type: 'leave' });
  closeConnection();
  stopLocalMedia();
  setJoinBusy(false);
  setPageState('left');
  showScreen('left');
  el.rejoin.focus();
  emit('connectionClosed', { code: 'left', message: 'left the room' });
}

/** The page goes away: say so, so the others see this participant leave at once. */
export function leaveOnPageHide() {
  var ws = currentSocket();
  if (ws && ws.readyState === WebSocket.OPEN) {
    closing = true;
    send({ type: 'leave' });
    try { ws.close(1000); } catch (e) { /* ignore */ }
  }
}

/** The Client API joins while the page reconnects by itself: that stops, for a new session. */
export function abandonReconnection() {
  closing = true;
  closeConnection();
  setPageState('closed');
  showScreen('lost');
}

function onMediaResult(msg) {
  if (answerAsk(msg)) return;
  // Nobody asked: the server turned sources off on its own (refused at join, at a resume).
  (Array.isArray(msg.refused) ? msg.refused : []).forEach(function (r) { mediaRefused(r, true); });
}

// The moderator has to let this participant in.
function onWaiting() {
  clearTimeout(joinTimer);
  var reconnecting = !!reconnect;
  stopReconnect();  // a reconnection that lands in the waiting room is a fresh session
  setJoinBusy(false);
  setPageState('waiting');
  showScreen('waiting');
  if (reconnecting) emit('reconnected', { peerId: session.peerId, resumed: false });
}

/* ---------------------------------------------------------------- */
/* The session                                                      */
/* ---------------------------------------------------------------- */

/** Ends the socket and the media session; local media and the screens are the caller's. */
function closeConnection() {
  clearTimeout(joinTimer);
  stopReconnect();
  closeSocket();
  setJoined(false);
  closePeerConnection();
  setMediaStateSent(false);
  dropAsks();
  clearPeers();
  updateBanner();
}

function joinMessage() {
  var msg = {
    type: 'join',
    roomId: session.roomId,
    displayName: session.displayName,
    audio: !!(microphone.on && microphone.track),
    video: !!(camera.on && camera.track),
    mode: session.mode
  };
  if (session.peerId) msg.peerId = session.peerId;
  // A name from the room URL is fixed; one typed on the welcome screen may change later.
  if (roomAttributes.displayName) msg.displayNameFixed = true;
  // meet's extension: the server then offers H.264 first for this page's camera.
  if (String(roomAttributes.videoCodec || '').toLowerCase() === 'h264') msg.videoCodec = 'h264';
  // Integration attributes of the room URL (access check, webhooks); see docs/server-api.md.
  ['accessToken', 'accessUrl', 'authorizationAccess', 'apiEvent', 'authEvent', 'token'].forEach(function (k) {
    var v = roomAttributes[k];
    if (v && msg[k] === undefined) msg[k] = String(v);
  });
  // Attributes that may also come from the token (the server lets the token's values win).
  if (roomAttributes.itisparticipant) msg.itisparticipant = true;
  if (roomAttributes.handEnabled) msg.handEnabled = true;
  if (roomAttributes.maxBroadcasters) msg.maxBroadcasters = roomAttributes.maxBroadcasters;
  if (roomAttributes.maxWatchers) msg.maxWatchers = roomAttributes.maxWatchers;
  if (roomAttributes.video) msg.videoUrl = roomAttributes.video;
  if (roomAttributes.tokenLifetime) msg.tokenLifetime = roomAttributes.tokenLifetime;
  return msg;
}

// A signalling socket; `onOpen(ws)` sends the join.
function openSignallingSocket(onOpen) {
  return openSocket({ open: onOpen, message: handleMessage, close: onSocketClosed });
}

function connect() {
  closeConnection();
  closing = false;
  startPeerConnection();
  var ws = openSignallingSocket(function (sock) { sock.send(JSON.stringify(joinMessage())); });
  if (!ws) {
    joinFailed(t('join.connectFailed'));
    return;
  }
  joinTimer = setTimeout(function () {
    if (ws === currentSocket() && !session.joined) joinFailed(t('join.connectFailed'));
  }, JOIN_TIMEOUT_MS);
}

// --- reconnecting (meet-control restarted, or the network dropped) ---

// `now`: the first attempt at once (the network changed under a live call: no server to spare).
function startReconnect(code, now) {
  if (reconnect) return;
  clearTimeout(joinTimer);
  dropAsks();
  closeSocket();
  reconnect = { since: Date.now(), delay: now === true ? 0 : RECONNECT_FIRST_MS, timer: null };
  setPageState('reconnecting');
  updateBanner();
  // Who waits is the server's to say again once it is back; acting on this list meanwhile would be lost.
  setWaitingList([]);
  console.info('meet: connection to the server lost (' + code + '); reconnecting');
  emit('disconnected', { peerId: session.peerId, code: code });
  scheduleReconnect();
}

function stopReconnect() {
  var rc = reconnect;
  if (!rc) return;
  clearTimeout(rc.timer);
  reconnect = null;
  updateBanner();
}

// The next attempt after the backoff delay; the "connection lost" screen once 60 s have passed.
function scheduleReconnect() {
  var rc = reconnect;
  if (!rc) return;
  clearTimeout(rc.timer);
  closeSocket();
  var left = rc.since + RECONNECT_FOR_MS - Date.now();
  if (left <= 0) {
    console.warn('meet: could not reconnect within ' + RECONNECT_FOR_MS / 1000 + ' s');
    connectionLost(false);
    return;
  }
  var wait = Math.min(rc.delay, left);
  rc.delay = Math.min(Math.max(rc.delay * 2, RECONNECT_FIRST_MS), RECONNECT_MAX_MS);
  rc.timer = setTimeout(reconnectAttempt, wait);
}

function reconnectAttempt() {
  var rc = reconnect;
  if (!rc) return;
  var ws = openSignallingSocket(function (sock) {
    // An offer being answered changes the remote description: read it once the queue is idle.
    whenOffersSettled().then(function () {
      if (!isOpen(sock)) return;
      var msg = joinMessage();
      var resume = resumeState();
      if (resume) msg.resume = resume;
      sock.send(JSON.stringify(msg));
    });
  });
  if (!ws) { scheduleReconnect(); return; }
  rc.timer = setTimeout(function () {
    if (reconnect === rc && ws === currentSocket()) scheduleReconnect();
  }, RECONNECT_ATTEMPT_MS);
}

// The "connection lost" screen.
function connectionLost(announce) {
  closing = true;
  closeConnection();
  stopLocalMedia();
  setPageState('closed');
  showScreen('lost');
  el.reconnect.focus();
  if (announce) emit('disconnected', { peerId: session.peerId });
}

// "Reconnecting…" while the socket is away (reconnect) or the relay is (isMediaLost()). Only the
// former loses what the page sends meanwhile: the side panel's requests are disabled for that long.
export function updateBanner() {
  var on = !!(reconnect || isMediaLost()) && inCallScreen();
  el.reconnecting.hidden = !on;
  document.body.classList.toggle('reconnecting', on);
  if (on) el.reconnectingText.textContent = t(reconnect ? 'reconnect.server' : 'reconnect.media');
  setPanelOffline(!!reconnect);
}

function handleMessage(ws, msg) {
  switch (msg.type) {
    case 'joined': onJoined(msg); break;
    case 'offer':
      queueOffer(ws, msg).then(offerAnswered);
      break;
    case 'mediaResult': onMediaResult(msg); break;
    case 'iceServers': setIceServers(msg.iceServers); break;
    case 'relayLost': onRelayLost(); break;
    case 'relayBack': onRelayBack(); break;
    case 'mediaRestart': onMediaRestart(); break;
    case 'peerJoined':
      if (msg.peer && session.joined) {
        var isNew = !hasPeer(String(msg.peer.peerId));
        var p = ensurePeer(msg.peer);
        if (p && isNew) announceJoin(p);
      }
      break;
    case 'peerUpdated':
      if (msg.peer && session.joined) ensurePeer(msg.peer);
      break;
    case 'peerLeft': {
      var gone = removePeer(msg.peerId);
      if (gone) toast(t('call.peerLeft', { name: displayOf(gone.displayName) }));
      if (gone) peerClosed(gone);
      break;
    }
    case 'error': onServerError(msg); break;
    case 'closed': onServerClosed(msg); break;
    case 'moved': onServerMoved(msg); break;
    case 'waiting': onWaiting(); break;
    default: handleRoomMessage(msg); break;
  }
}

// "X joined", except for a participant this page dropped at its own reconnection who comes back
// within QUIET_REJOIN_MS: they never left the call, only the server restarted under both.
var QUIET_REJOIN_MS = 60000;
function announceJoin(p) {
  var dropped = quietRejoins.get(p.peerId);
  quietRejoins.delete(p.peerId);
  if (dropped && Date.now() - dropped < QUIET_REJOIN_MS) return;
  toast(t('call.peerJoined', { name: displayOf(p.displayName) }));
}

function onJoined(msg) {
  clearTimeout(joinTimer);
  var resuming = !!reconnect;
  stopReconnect();
  if (resuming && msg.resumed === true) {
    onResumed(msg);
    emit('reconnected', { peerId: session.peerId, resumed: true });
    return;
  }
  if (msg.peerId) setPeerId(String(msg.peerId));
  forgetActiveSpeaker();  // a new session: the server says who speaks next
  expectOfferAnswer();
  var peers = Array.isArray(msg.peers) ? msg.peers : [];
  // A fresh session where the page had one (the server could not resume it): new pc, and only the
  // tiles of the participants listed now.
  var pc = currentPc();
  var fresh = !!(pc && (pc.remoteDescription || pc.signalingState !== 'stable'));
  if (fresh) {
    console.info('meet: the server started a fresh session');
    restartPeerConnection();
    var listed = {};
    peers.forEach(function (p) { if (p && p.peerId != null) listed[String(p.peerId)] = true; });
    peerIds().forEach(function (id) {
      if (listed[id]) return;
      var gone = removePeer(id);
      if (gone) peerClosed(gone);
      // Not listed yet may mean still reconnecting, like this page: no "joined" when they come back.
      if (gone) quietRejoins.set(id, Date.now());
    });
    forgetViewersExcept(listed);
  }
  setJoined(true);
  setPageState('in-call');
  setJoinBusy(false);
  showScreen('call');
  stopPreview();

  applyYou(msg.you);
  placeOwnTile();
  peers.forEach(function (p) { ensurePeer(p); });
  applyRoom(msg.room);
  onJoinedFeatures(!(resuming || fresh));
  setMediaStateSent(true);
  updateMediaUI();
  updateCount();
  updateBanner();
  requestAnimationFrame(layoutTiles);
  // Still sharing from before the socket was lost: tell the new session.
  if (screenTrack()) applyScreenSender();
  emit('join', selfData());
  if (resuming) emit('reconnected', { peerId: session.peerId, resumed: false });
}

// `joined` with `resumed: true`: the session goes on over the same pc, with the same tiles. Peers
// missing from the list may still be resuming; the server sends peerLeft for those who do not.
function onResumed(msg) {
  if (msg.peerId) setPeerId(String(msg.peerId));
  console.info('meet: session resumed');
  setJoined(true);
  setPageState('in-call');
  applyYou(msg.you);
  (Array.isArray(msg.peers) ? msg.peers : []).forEach(function (info) {
    var isNew = !!info && info.peerId != null && !hasPeer(String(info.peerId));
    var p = ensurePeer(info);
    if (p && isNew) announceJoin(p);
  });
  applyRoom(msg.room);
  setScreenShareTold(!!screenTrack());     // `resume` told the server
  setMediaStateSent(true);
  updateMediaUI();
  updateCount();
  updateBanner();
  afterMediaChange();
  // The socket was lost with the network (an ICE restart under way): go on restarting on this one.
  afterResume();
}

function onServerError(msg) {
  var text = msg.message || msg.code || 'error';
  if (reconnect) {
    // The join of a reconnection attempt was refused: try again until the deadline.
    console.warn('meet: reconnecting: the server refused the join: ' + text);
    scheduleReconnect();
    return;
  }
  if (!session.joined) {
    joinFailed(t('join.refused', { message: text }));
    return;
  }
  toast(t('call.error', { message: text }), { type: 'error' });
  connectionError(text, msg.code);
}

// The room is served by another host of the cluster: load this page there (same path and query), where
// it joins again.
function onServerMoved(msg) {
  var target;
  try { target = new URL(location.pathname + location.search + location.hash, msg.url); } catch (e) { target = null; }
  if (!target || (target.protocol !== 'https:' && target.protocol !== 'http:')) {
    onServerClosed({ code: 'server-error', message: 'The room is on another server that cannot be reached' });
    return;
  }
  closing = true;
  closeConnection();
  location.replace(target.href);
}

function onServerClosed(msg) {
  if (msg.code === 'server-restart' && (reconnect || (session.pageState === 'in-call' && session.joined) || session.pageState === 'waiting')) {
    // meet-control restarts; the relay keeps the media going: reconnect and resume (or, from the
    // waiting room, wait again).
    if (reconnect) scheduleReconnect(); else startReconnect('server-restart');
    return;
  }
  closing = true;
  closeConnection();
  stopLocalMedia();
  setJoinBusy(false);   // closed while joining: Rejoin must not stay disabled
  el.closedMsg.textContent = closedText(msg);
  setPageState('closed');
  showScreen('closed');
  el.closedRejoin.focus();
  // A server going away (restart, lost media) is `disconnected` in the Client API; the server ending this
  // participant's session (removed, replaced, room closed) is `connectionClosed`.
  if (msg.code === 'server-restart' || msg.code === 'connection-lost') {
    emit('disconnected', { peerId: session.peerId, code: String(msg.code) });
  } else {
    emit('connectionClosed', { code: String(msg.code || 'closed'), message: el.closedMsg.textContent });
  }
}

function onSocketClosed() {
  if (closing) return;
  if (reconnect) {
    scheduleReconnect();
    return;
  }
  if ((session.joined && session.pageState === 'in-call') || session.pageState === 'waiting') {
    startReconnect('connection-lost');
    return;
  }
  if (!session.joined) {
    joinFailed(t('join.connectFailed'));
    return;
  }
  connectionLost(true);
}

function joinFailed(text) {
  closing = true;
  closeConnection();
  setJoinBusy(false);
  setPageState('welcome');
  showScreen('welcome');
  el.joinErrorText.textContent = text;
  el.joinError.hidden = false;
  emit('connectionFailed', { message: text });
  // Media may have been stopped (rejoin path): bring the preview back.
  queueMediaJob(function () { return restoreMedia().catch(function () {}).then(updateMediaUI); });
}

// The closed screen's text, translated for the codes the server uses.
function closedText(msg) {
  var code = String(msg.code || '');
  var keys = {
    'replaced': 'closed.replaced', 'removed': 'closed.removed', 'rejected': 'closed.rejected',
    'access-denied': 'closed.accessDenied', 'invalid-token': 'closed.invalidToken', 'token-expired': 'closed.tokenExpired',
    'invalid-room': 'closed.invalidRoom', 'limit-exceeded': 'closed.limit'
  };
  if (code === 'not-started') {
    var m = /Start:\s*(.+)$/.exec(String(msg.message || ''));
    return m ? t('closed.notStartedAt', { time: m[1] }) : t('closed.notStarted');
  }
  // An interpreter's link without its language: the one refusal the person can act on (ask for the right link).
  if (code === 'invalid-token' && /needs intLang/.test(String(msg.message || ''))) return t('closed.noIntLang');
  if (keys[code]) {
    // The server's English detail (which check failed) is for integrators: the console.
    if (msg.message) console.warn('meet: the server ended the session: ' + code + ': ' + msg.message);
    return t(keys[code]);
  }
  return msg.message || t('closed.default');
}
