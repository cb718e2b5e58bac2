/* meet — the signalling socket itself (docs/signalling.md): the current WebSocket, sending on it, and
 * questions the server answers (`mediaState` / `share` with an `id`, answered by `mediaResult`).
 * What the messages mean is signalling.js's; only the current socket's events reach it.
 */

var ASK_TIMEOUT_MS = 10000;

var ws = null;          // the current socket; handlers of an older one do nothing
var asks = new Map();   // id -> resolve of a question waiting for its `mediaResult`
var lastAskId = 0;
var answered = null;    // resolves once the session's first offer is answered
var onAnswered = null;

export function currentSocket() { return ws; }

function wsUrl() {
  return (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws';
}

/** Opens the signalling socket and makes it the current one; `on.open(ws)`, `on.message(ws, msg)` and
 * `on.close(ev)` run only while it is. Null if the browser refuses to open it. */
export function openSocket(on) {
  var sock;
  try {
    sock = new WebSocket(wsUrl());
  } catch (e) {
    return null;
  }
  ws = sock;
  sock.onopen = function () {
    if (sock === ws) on.open(sock);
  };
  sock.onmessage = function (ev) {
    if (sock !== ws) return;
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { console.warn('meet: bad message', ev.data); return; }
    if (!msg || typeof msg !== 'object') return;
    on.message(sock, msg);
  };
  sock.onerror = function () { /* onclose follows */ };
  sock.onclose = function (ev) {
    if (sock !== ws) return;
    on.close(ev);
  };
  return sock;
}

/** Closes the current socket (quietly: its handlers are dropped first); there is none after. */
export function closeSocket() {
  var sock = ws;
  ws = null;
  if (!sock) return;
  sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
  try { sock.close(1000); } catch (e) { /* ignore */ }
}

/** Sends `msg` on the current socket; false if there is no open one. */
export function send(msg) {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(msg));
    return true;
  }
  return false;
}

/** Whether `sock` is the current socket and open. */
export function isOpen(sock) {
  return !!sock && sock === ws && sock.readyState === WebSocket.OPEN;
}

// A device change the server answers: resolves with that answer, or with null if there is none to wait
// for (no socket, or none in 10 s); the change then stands until the server says otherwise. Sent once the
// first offer of the session is answered, so that the server knows the page's streams when it decides.
export function ask(msg) {
  return new Promise(function (resolve) {
    var sock = ws;
    var late = new Promise(function (r) { setTimeout(r, ASK_TIMEOUT_MS / 2); });
    Promise.race([answered || Promise.resolve(), late]).then(function () {
      if (sock !== ws || !sock || sock.readyState !== WebSocket.OPEN) { resolve(null); return; }
      var id = ++lastAskId;
      var timer = setTimeout(function () { if (asks.delete(id)) resolve(null); }, ASK_TIMEOUT_MS);
      asks.set(id, function (result) { clearTimeout(timer); resolve(result); });
      msg.id = id;
      sock.send(JSON.stringify(msg));
    });
  });
}

/** Hands a `mediaResult` to the question it answers; false when nobody asked. */
export function answerAsk(msg) {
  var resolve = msg.id != null ? asks.get(msg.id) : null;
  if (!resolve) return false;
  asks.delete(msg.id);
  resolve(msg);
  return true;
}

/** Questions of a socket that is gone get no answer (null). */
export function dropAsks() {
  var pending = Array.from(asks.values());
  asks.clear();
  pending.forEach(function (resolve) { resolve(null); });
}

/** A new session: questions wait for its first answered offer (offerAnswered). */
export function expectOfferAnswer() {
  answered = new Promise(function (resolve) { onAnswered = resolve; });
}

export function offerAnswered() {
  if (onAnswered) onAnswered();
}
