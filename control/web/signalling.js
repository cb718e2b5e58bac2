/* meet — the signalling socket (docs/signalling.md): the join handshake, dispatching the server's
 * messages, reconnecting with backoff after a server restart or a network drop (and the "Reconnecting…"
 * banner), and how a session ends (refused, closed by the server, connection lost).
 *
 * Built by call.js with MeetSignalling.create(ctx). S.ws is the current socket; handlers of an older one
 * do nothing. S.reconnect is set while reconnecting; room-feature messages go to ctx.onRoomMessage.
 */
(function () {
  'use strict';

  function create(ctx) {
    var t = ctx.t, A = ctx.A, mode = ctx.mode, S = ctx.S, R = ctx.R, api = ctx.api, el = ctx.el;

    var JOIN_TIMEOUT_MS = 15000;
    // Reconnecting after the socket was lost: 0.5 s, doubling to 5 s between attempts, for up to 60 s.
    var RECONNECT_FIRST_MS = 500;
    var RECONNECT_MAX_MS = 5000;
    var RECONNECT_FOR_MS = 60000;
    var RECONNECT_ATTEMPT_MS = 10000;  // an attempt whose socket opened but got no `joined` in time

    function send(msg) {
      var ws = S.ws;
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(msg));
        return true;
      }
      return false;
    }

    // A device change the server answers (`mediaState` / `share` with an `id`, answered by `mediaResult`):
    // resolves with that answer, or with null if there is none to wait for (no socket, or none in 10 s);
    // the change then stands until the server says otherwise. Sent once the first offer of the session is
    // answered, so that the server knows the page's streams when it decides.
    var ASK_TIMEOUT_MS = 10000;
    function ask(msg) {
      return new Promise(function (resolve) {
        var ws = S.ws;
        var answered = S.answered || Promise.resolve();
        var late = new Promise(function (r) { setTimeout(r, ASK_TIMEOUT_MS / 2); });
        Promise.race([answered, late]).then(function () {
          if (ws !== S.ws || !ws || ws.readyState !== WebSocket.OPEN) { resolve(null); return; }
          var id = ++S.lastAskId;
          var timer = setTimeout(function () { if (S.asks.delete(id)) resolve(null); }, ASK_TIMEOUT_MS);
          S.asks.set(id, function (result) { clearTimeout(timer); resolve(result); });
          msg.id = id;
          ws.send(JSON.stringify(msg));
        });
      });
    }

    // Questions of a socket that is gone get no answer.
    function dropAsks() {
      var pending = Array.from(S.asks.values());
      S.asks.clear();
      pending.forEach(function (resolve) { resolve(null); });
    }

    function onMediaResult(msg) {
      var resolve = msg.id != null ? S.asks.get(msg.id) : null;
      if (resolve) {
        S.asks.delete(msg.id);
        resolve(msg);
        return;
      }
      // Nobody asked: the server turned sources off on its own (refused at join, at a resume).
      (Array.isArray(msg.refused) ? msg.refused : []).forEach(function (r) { ctx.mediaRefused(r, true); });
    }

    function wsUrl() {
      return (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws';
    }

    function dropSocket(ws) {
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch (e) { /* ignore */ }
    }

    function closeConnection() {
      clearTimeout(S.joinTimer);
      stopReconnect();
      var ws = S.ws, pc = S.pc;
      S.ws = null;
      S.pc = null;
      S.joined = false;
      S.sendTr = { audio: null, video: null };
      S.offerQueue = Promise.resolve();
      S.lastTracks = null;
      S.mediaLost = null;
      S.lastSentMedia = null;
      if (S.iceRestart) clearTimeout(S.iceRestart.timer);
      S.iceRestart = null;
      dropAsks();
      dropSocket(ws);
      ctx.dropPc(pc);
      ctx.clearPeers();
      updateBanner();
    }

    function joinMessage() {
      var msg = {
        type: 'join',
        roomId: S.roomId,
        displayName: S.displayName,
        audio: !!(S.mic.on && S.mic.track),
        video: !!(S.cam.on && S.cam.track),
        mode: mode
      };
      if (S.peerId) msg.peerId = S.peerId;
      // A name from the room URL is fixed; one typed on the welcome screen may change later.
      if (A.displayName) msg.displayNameFixed = true;
      // meet's extension: the server then offers H.264 first for this page's camera.
      if (String(A.videoCodec || '').toLowerCase() === 'h264') msg.videoCodec = 'h264';
      // Integration attributes of the room URL (access check, webhooks); see docs/server-api.md.
      ['accessToken', 'accessUrl', 'authorizationAccess', 'apiEvent', 'authEvent', 'token'].forEach(function (k) {
        var v = A[k];
        if (v && msg[k] === undefined) msg[k] = String(v);
      });
      // Attributes that may also come from the token (the server lets the token's values win).
      if (A.itisparticipant) msg.itisparticipant = true;
      if (A.handEnabled) msg.handEnabled = true;
      if (A.maxBroadcasters) msg.maxBroadcasters = A.maxBroadcasters;
      if (A.maxWatchers) msg.maxWatchers = A.maxWatchers;
      if (A.video) msg.videoUrl = A.video;
      if (A.tokenLifetime) msg.tokenLifetime = A.tokenLifetime;
      return msg;
    }

    // A signalling socket; `onOpen(ws)` sends the join.
    function openSocket(onOpen) {
      var ws;
      try {
        ws = new WebSocket(wsUrl());
      } catch (e) {
        return null;
      }
      S.ws = ws;
      ws.onopen = function () {
        if (ws === S.ws) onOpen(ws);
      };
      ws.onmessage = function (ev) {
        if (ws !== S.ws) return;
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { console.warn('meet: bad message', ev.data); return; }
        if (!msg || typeof msg !== 'object') return;
        handleMessage(ws, msg);
      };
      ws.onerror = function () { /* onclose follows */ };
      ws.onclose = function (ev) {
        if (ws !== S.ws) return;
        onSocketClosed(ev);
      };
      return ws;
    }

    function connect() {
      closeConnection();
      S.closing = false;
      S.pc = ctx.newPeerConnection();
      var ws = openSocket(function (sock) { sock.send(JSON.stringify(joinMessage())); });
      if (!ws) {
        joinFailed(t('join.connectFailed'));
        return;
      }
      S.joinTimer = setTimeout(function () {
        if (ws === S.ws && !S.joined) joinFailed(t('join.connectFailed'));
      }, JOIN_TIMEOUT_MS);
    }

    // --- reconnecting (meet-control restarted, or the network dropped) ---

    // `now`: the first attempt at once (the network changed under a live call: no server to spare).
    function startReconnect(code, now) {
      if (S.reconnect) return;
      clearTimeout(S.joinTimer);
      dropAsks();
      dropSocket(S.ws);
      S.ws = null;
      S.reconnect = { since: Date.now(), delay: now === true ? 0 : RECONNECT_FIRST_MS, timer: null };
      ctx.setState('reconnecting');
      updateBanner();
      // Who waits is the server's to say again once it is back; acting on this list meanwhile would be lost.
      if (R.panels) R.panels.setWaiting([]);
      console.info('meet: connection to the server lost (' + code + '); reconnecting');
      ctx.emit('disconnected', { peerId: S.peerId, code: code });
      scheduleReconnect();
    }

    function stopReconnect() {
      var rc = S.reconnect;
      if (!rc) return;
      clearTimeout(rc.timer);
      S.reconnect = null;
      updateBanner();
    }

    // The next attempt after the backoff delay; the "connection lost" screen once 60 s have passed.
    function scheduleReconnect() {
      var rc = S.reconnect;
      if (!rc) return;
      clearTimeout(rc.timer);
      if (S.ws) { dropSocket(S.ws); S.ws = null; }
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
      var rc = S.reconnect;
      if (!rc) return;
      var ws = openSocket(function (sock) {
        // An offer being answered changes the remote description: read it once the queue is idle.
        S.offerQueue.then(function () {
          if (sock !== S.ws || sock.readyState !== WebSocket.OPEN) return;
          var msg = joinMessage();
          var resume = ctx.resumeState();
          if (resume) msg.resume = resume;
          sock.send(JSON.stringify(msg));
        });
      });
      if (!ws) { scheduleReconnect(); return; }
      rc.timer = setTimeout(function () {
        if (S.reconnect === rc && ws === S.ws) scheduleReconnect();
      }, RECONNECT_ATTEMPT_MS);
    }

    // The "connection lost" screen.
    function connectionLost(announce) {
      S.closing = true;
      closeConnection();
      ctx.stopLocalMedia();
      ctx.setState('closed');
      ctx.showScreen('lost');
      el.reconnect.focus();
      if (announce) ctx.emit('disconnected', { peerId: S.peerId });
    }

    // "Reconnecting…" while the socket is away (S.reconnect) or the relay is (S.mediaLost). Only the
    // former loses what the page sends meanwhile: the side panel's requests are disabled for that long.
    function updateBanner() {
      var on = !!(S.reconnect || S.mediaLost) && !el.call.hidden;
      el.reconnecting.hidden = !on;
      document.body.classList.toggle('reconnecting', on);
      if (on) el.reconnectingText.textContent = t(S.reconnect ? 'reconnect.server' : 'reconnect.media');
      if (R.panels) R.panels.setOffline(!!S.reconnect);
    }

    function handleMessage(ws, msg) {
      switch (msg.type) {
        case 'joined': onJoined(msg); break;
        case 'offer':
          S.offerQueue = S.offerQueue.then(function () { return ctx.handleOffer(ws, msg); }).then(function () {
            if (S.onAnswered) S.onAnswered();
          });
          break;
        case 'mediaResult': onMediaResult(msg); break;
        case 'iceServers': ctx.setIceServers(msg.iceServers); break;
        case 'relayLost': ctx.onRelayLost(); break;
        case 'relayBack': ctx.onRelayBack(); break;
        case 'mediaRestart': ctx.onMediaRestart(); break;
        case 'peerJoined':
          if (msg.peer && S.joined) {
            var isNew = !S.peers.has(String(msg.peer.peerId));
            var p = ctx.ensurePeer(msg.peer);
            if (p && isNew) announceJoin(p);
          }
          break;
        case 'peerUpdated':
          if (msg.peer && S.joined) ctx.ensurePeer(msg.peer);
          break;
        case 'peerLeft': {
          var gone = ctx.removePeer(msg.peerId);
          if (gone) ctx.toast(t('call.peerLeft', { name: ctx.displayOf(gone.displayName) }));
          if (gone) ctx.peerClosed(gone);
          break;
        }
        case 'error': onServerError(msg); break;
        case 'closed': onServerClosed(msg); break;
        default: ctx.onRoomMessage(msg); break;
      }
    }

    // "X joined", except for a participant this page dropped at its own reconnection who comes back
    // within QUIET_REJOIN_MS: they never left the call, only the server restarted under both.
    var QUIET_REJOIN_MS = 60000;
    function announceJoin(p) {
      var dropped = S.quietRejoins.get(p.peerId);
      S.quietRejoins.delete(p.peerId);
      if (dropped && Date.now() - dropped < QUIET_REJOIN_MS) return;
      ctx.toast(t('call.peerJoined', { name: ctx.displayOf(p.displayName) }));
    }

    function onJoined(msg) {
      clearTimeout(S.joinTimer);
      var resuming = !!S.reconnect;
      stopReconnect();
      if (resuming && msg.resumed === true) {
        onResumed(msg);
        ctx.emit('reconnected', { peerId: S.peerId, resumed: true });
        return;
      }
      if (msg.peerId) S.peerId = String(msg.peerId);
      S.activeSpeaker = null;  // a new session: the server says who speaks next
      S.answered = new Promise(function (resolve) { S.onAnswered = resolve; });
      var peers = Array.isArray(msg.peers) ? msg.peers : [];
      // A fresh session where the page had one (the server could not resume it): new pc, and only the
      // tiles of the participants listed now.
      var fresh = !!(S.pc && (S.pc.remoteDescription || S.pc.signalingState !== 'stable'));
      if (fresh) {
        console.info('meet: the server started a fresh session');
        S.mediaLost = null;
        ctx.replacePeerConnection();
        var listed = {};
        peers.forEach(function (p) { if (p && p.peerId != null) listed[String(p.peerId)] = true; });
        Array.from(S.peers.keys()).forEach(function (id) {
          if (listed[id]) return;
          var gone = ctx.removePeer(id);
          if (gone) ctx.peerClosed(gone);
          // Not listed yet may mean still reconnecting, like this page: no "joined" when they come back.
          if (gone) S.quietRejoins.set(id, Date.now());
        });
        Array.from(R.viewers.keys()).forEach(function (id) { if (!listed[id]) R.viewers.delete(id); });
      }
      S.joined = true;
      ctx.setState('in-call');
      ctx.setJoinBusy(false);
      ctx.showScreen('call');
      ctx.Levels.unwatch('preview');
      el.preview.srcObject = null;

      ctx.applyYou(msg.you);
      if (R.speaker && !S.selfTile) {
        S.selfTile = ctx.makeTile(S.peerId, true);
        el.tiles.appendChild(S.selfTile);
      } else if (!R.speaker && S.selfTile) {
        ctx.Levels.unwatch('self');
        if (S.selfTile.parentNode) S.selfTile.parentNode.removeChild(S.selfTile);
        S.selfTile = null;
      }
      if (S.selfTile) {
        S.selfTile.dataset.peerId = S.peerId;
        ctx.setTileInfo(S.selfTile, S.displayName, S.mic.on, S.cam.on, true);
      }
      peers.forEach(function (p) { ctx.ensurePeer(p); });
      ctx.applyRoom(msg.room);
      ctx.onJoinedFeatures(!(resuming || fresh));
      S.lastSentMedia = S.mic.on + '/' + S.cam.on;
      ctx.updateMediaUI();
      ctx.updateCount();
      updateBanner();
      requestAnimationFrame(ctx.layoutTiles);
      // Still sharing from before the socket was lost: tell the new session.
      if (api.share) ctx.applyScreenSender();
      ctx.emit('join', ctx.selfData());
      if (resuming) ctx.emit('reconnected', { peerId: S.peerId, resumed: false });
    }

    // `joined` with `resumed: true`: the session goes on over the same pc, with the same tiles. Peers
    // missing from the list may still be resuming; the server sends peerLeft for those who do not.
    function onResumed(msg) {
      if (msg.peerId) S.peerId = String(msg.peerId);
      console.info('meet: session resumed');
      S.joined = true;
      ctx.setState('in-call');
      ctx.applyYou(msg.you);
      (Array.isArray(msg.peers) ? msg.peers : []).forEach(function (info) {
        var isNew = !!info && info.peerId != null && !S.peers.has(String(info.peerId));
        var p = ctx.ensurePeer(info);
        if (p && isNew) announceJoin(p);
      });
      ctx.applyRoom(msg.room);
      R.screenSent = !!api.share;     // `resume` told the server
      S.lastSentMedia = S.mic.on + '/' + S.cam.on;
      ctx.updateMediaUI();
      ctx.updateCount();
      updateBanner();
      ctx.afterMediaChange();
      // The socket was lost with the network (an ICE restart under way): go on restarting on this one.
      if (S.iceRestart) ctx.checkIce(true);
      else if (S.pc && S.pc.connectionState === 'failed' && !S.mediaLost) ctx.mediaFailed();
    }

    function onServerError(msg) {
      var text = msg.message || msg.code || 'error';
      if (S.reconnect) {
        // The join of a reconnection attempt was refused: try again until the deadline.
        console.warn('meet: reconnecting: the server refused the join: ' + text);
        scheduleReconnect();
        return;
      }
      if (!S.joined) {
        joinFailed(t('join.refused', { message: text }));
        return;
      }
      ctx.toast(t('call.error', { message: text }), { type: 'error' });
      ctx.connectionError(text, msg.code);
    }

    function onServerClosed(msg) {
      if (msg.code === 'server-restart' && (S.reconnect || (S.state === 'in-call' && S.joined) || S.state === 'waiting')) {
        // meet-control restarts; the relay keeps the media going: reconnect and resume (or, from the
        // waiting room, wait again).
        if (S.reconnect) scheduleReconnect(); else startReconnect('server-restart');
        return;
      }
      S.closing = true;
      closeConnection();
      ctx.stopLocalMedia();
      ctx.setJoinBusy(false);   // closed while joining: Rejoin must not stay disabled
      el.closedMsg.textContent = closedText(msg);
      ctx.setState('closed');
      ctx.showScreen('closed');
      el.closedRejoin.focus();
      // A server going away (restart, lost media) is `disconnected` in the Client API; the server ending this
      // participant's session (removed, replaced, room closed) is `connectionClosed`.
      if (msg.code === 'server-restart' || msg.code === 'connection-lost') {
        ctx.emit('disconnected', { peerId: S.peerId, code: String(msg.code) });
      } else {
        ctx.emit('connectionClosed', { code: String(msg.code || 'closed'), message: el.closedMsg.textContent });
      }
    }

    function onSocketClosed() {
      if (S.closing) return;
      if (S.reconnect) {
        scheduleReconnect();
        return;
      }
      if ((S.joined && S.state === 'in-call') || S.state === 'waiting') {
        startReconnect('connection-lost');
        return;
      }
      if (!S.joined) {
        joinFailed(t('join.connectFailed'));
        return;
      }
      connectionLost(true);
    }

    function joinFailed(text) {
      S.closing = true;
      closeConnection();
      ctx.setJoinBusy(false);
      ctx.setState('welcome');
      ctx.showScreen('welcome');
      el.joinErrorText.textContent = text;
      el.joinError.hidden = false;
      ctx.emit('connectionFailed', { message: text });
      // Media may have been stopped (rejoin path): bring the preview back.
      S.mediaQueue = S.mediaQueue.then(ctx.restoreMedia).catch(function () {}).then(ctx.updateMediaUI);
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
      if (keys[code]) {
        // The server's English detail (which check failed) is for integrators: the console.
        if (msg.message) console.warn('meet: the server ended the session: ' + code + ': ' + msg.message);
        return t(keys[code]);
      }
      return msg.message || t('closed.default');
    }

    return {
      ask: ask, closeConnection: closeConnection, connect: connect, send: send, startReconnect: startReconnect,
      stopReconnect: stopReconnect,
      updateBanner: updateBanner
    };
  }

  window.MeetSignalling = { create: create };
})();
