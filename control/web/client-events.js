/* meet — the Client API's events (docs/client-api.md): who listens (meetApp.on, bridge.js) and emit(),
 * which every module that has something to report calls; plus the shapes of their data and of the
 * API's errors. */
import { session } from './session.js';

var handlers = {};   // event name -> [fn]

export function emit(name, data) {
  var list = handlers[name];
  if (!list) return;
  list.slice().forEach(function (fn) {
    try { fn(data); } catch (e) { console.error('meet: ' + name + ' handler failed', e); }
  });
}

/** Calls fn(data) at each `name` event; returns the function that stops it. */
export function onEvent(name, fn) {
  (handlers[name] = handlers[name] || []).push(fn);
  return function () {
    var l = handlers[name] || [];
    var i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
  };
}

/** An error the Client API's methods reject with: `code` is in docs/client-api.md. */
export function apiError(code, message) { var e = new Error(message); e.code = code; return e; }

export function selfData(extra) {
  return Object.assign({ peerId: session.peerId, displayName: session.displayName, isLocal: true }, extra || {});
}

function peerData(p, extra) {
  return Object.assign({ peerId: p.peerId, displayName: p.displayName, isLocal: false }, extra || {});
}

export function connectionError(message, code) {
  emit('connectionError', { peerId: session.peerId, error: String(message), code: code || 'error' });
}

// Participants whose newPeer went out (tiles.js's peer records: a participant who comes back is a new one).
var announced = new WeakSet();

/** newPeer once a participant's name is known; their mic/camera changes after that. */
export function announcePeer(p, info, before) {
  if (!session.joined) return;
  if (!announced.has(p)) {
    if (typeof info.displayName !== 'string') return;
    announced.add(p);
    emit('newPeer', peerData(p, { audio: p.audio, video: p.video }));
    return;
  }
  if (p.audio !== before.audio) emit(p.audio ? 'switchOnMic' : 'switchOffMic', peerData(p));
  if (p.video !== before.video) emit(p.video ? 'switchOnCamera' : 'switchOffCamera', peerData(p));
}

/** peerClosed for a participant that newPeer announced. */
export function announcePeerGone(p) {
  if (announced.has(p)) emit('peerClosed', peerData(p));
}
