/* meet — the media session: the RTCPeerConnection, offers answered one at a time (S.offerQueue), the
 * transceivers and what they send, the state `resume` carries, relay restarts (a new pc), ICE restarts
 * on the same pc when this device's network changes, and TURN servers (`iceServers`).
 *
 * Built by call.js with MeetRtc.create(ctx). S.pc is the current pc: the same object across a resume, a
 * new one after `mediaRestart` or a fresh session (replacePeerConnection). Only pc events of S.pc count.
 */
(function () {
  'use strict';

  function create(ctx) {
    var t = ctx.t, S = ctx.S, R = ctx.R, api = ctx.api;

    function dropPc(pc) {
      if (!pc) return;
      pc.onconnectionstatechange = null;
      pc.oniceconnectionstatechange = null;
      try { pc.close(); } catch (e) { /* ignore */ }
    }

    // The RTCPeerConnection of a media session. A new one replaces it after `mediaRestart` (the relay
    // restarted) or when the server starts a fresh session; it keeps these handlers.
    function newPeerConnection() {
      var pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceServers: S.iceServers || [] });
      pc.onconnectionstatechange = function () {
        if (pc !== S.pc) return;
        var st = pc.connectionState;
        if (st === 'connected' && S.mediaLost && S.mediaLost.pc !== pc) {
          S.mediaLost = null;
          ctx.updateBanner();
        } else if (st === 'failed') {
          // While the relay is away (relayLost) the old pc is expected to fail: the server sends
          // mediaRestart once it is back. While the socket reconnects, onResumed reports it.
          if (S.reconnect || (S.mediaLost && S.mediaLost.pc === pc)) return;
          S.mediaLost = null;
          ctx.updateBanner();
          // An ICE restart may still bring it back (a change of network): an error only if it does not.
          if (S.iceRestart && Date.now() - S.iceRestart.since < ICE_GIVE_UP_MS) return;
          mediaFailed();
        }
      };
      pc.oniceconnectionstatechange = function () { if (pc === S.pc) checkIce(false); };
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
      var w = S.pathWatch;
      return !!(w && w.pc === pc && w.stalled);
    }

    function hasSendingTrack() {
      return ['audio', 'video', 'screen'].some(function (kind) {
        var tr = S.sendTr[kind];
        return !!(tr && tr.sender.track && tr.sender.track.readyState === 'live');
      });
    }

    // Every STALL_EVERY_MS: the bytes the pc's transport received and sent (one transport: bundle).
    function watchPath() {
      var pc = S.pc;
      if (!S.joined || !pc || pc.signalingState === 'closed' || S.reconnect || S.mediaLost) return;
      pc.getStats().then(function (report) {
        if (pc !== S.pc) return;
        var got = 0, sent = 0;
        report.forEach(function (s) {
          if (s.type === 'transport') { got += s.bytesReceived || 0; sent += s.bytesSent || 0; }
        });
        var now = Date.now(), w = S.pathWatch;
        if (!w || w.pc !== pc) {
          S.pathWatch = { pc: pc, got: got, sent: sent, gotAt: now, sentAt: 0, stalled: false };
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
      var pc = S.pc;
      if (!pc) return;
      var st = pc.iceConnectionState;
      if (pathDown(pc)) {
        if (!S.iceRestart) S.iceRestart = { since: Date.now(), timer: null, offers: -1, askedAt: 0 };
        if (!S.iceRestart.timer) {
          S.iceRestart.timer = setTimeout(restartIce, st !== 'disconnected' || now === true ? 0 : ICE_RESTART_AFTER_MS);
        }
      } else if (st === 'connected' || st === 'completed') {
        if (S.iceRestart) {
          clearTimeout(S.iceRestart.timer);
          S.lastIceOutageMs = Date.now() - S.iceRestart.since;
          console.info('meet: ICE connected again after ' + S.lastIceOutageMs + ' ms');
          S.iceRestart = null;
        }
      }
    }

    function restartIce() {
      var r = S.iceRestart, pc = S.pc;
      if (!r) return;
      r.timer = null;
      if (!pc || pc.signalingState === 'closed' || !pathDown(pc)) return;
      var st = pc.iceConnectionState;
      if (Date.now() - r.since > ICE_GIVE_UP_MS) {
        // No way back on this network: the error `failed` held back until now.
        S.iceRestart = null;
        if (pc.connectionState === 'failed' && !S.reconnect && !S.mediaLost) mediaFailed();
        return;
      }
      // The relay is away (its own restart: `mediaRestart` brings a new pc) or the socket reconnects
      // (`onResumed` calls checkIce again): nothing to ask now.
      if (!S.joined || S.reconnect || S.mediaLost) return;
      if (r.offers === S.offersSeen) {
        // Asked before and no offer came: the socket is as dead as the old network.
        console.info('meet: no offer after the ICE restart request; reconnecting the socket');
        r.offers = -1;
        ctx.startReconnect('network-change', true);
        return;
      }
      var since = Date.now() - r.askedAt;
      if (r.offers !== -1 && since < RESTART_AGAIN_MS) {
        // The offer came and its checks are under way: give them time before starting over.
        r.timer = setTimeout(restartIce, RESTART_AGAIN_MS - since);
        return;
      }
      pc.restartIce();
      r.offers = S.offersSeen;
      r.askedAt = Date.now();
      S.iceRestarts += 1;
      console.info('meet: ICE ' + (S.pathWatch && S.pathWatch.stalled ? 'path silent' : st) + '; asking for an ICE restart');
      ctx.send({ type: 'iceRestart' });
      r.timer = setTimeout(restartIce, OFFER_WAIT_MS);
    }

    // TURN servers and their short-lived credentials (`iceServers`, docs/signalling.md): kept for the next
    // pc, and put in the current one's configuration (used from its next gathering: the first answer,
    // or an ICE restart).
    function setIceServers(list) {
      var renewal = S.iceServers.length > 0;
      S.iceServers = Array.isArray(list) ? list : [];
      var pc = S.pc;
      if (!pc || pc.signalingState === 'closed') return;
      try {
        var config = pc.getConfiguration();
        config.iceServers = S.iceServers;
        pc.setConfiguration(config);
      } catch (e) {
        console.warn('meet: cannot apply the ICE servers', e);
        return;
      }
      // A TURN allocation keeps the credentials it was made with, and the TURN server refuses to refresh it
      // once they expire: a call relayed through TURN moves to an allocation with the new ones.
      if (!renewal || !S.joined) return;
      relayed(pc).then(function (yes) {
        if (!yes || pc !== S.pc || !S.joined) return;
        console.info('meet: new TURN credentials; restarting ICE on them');
        pc.restartIce();
        ctx.send({ type: 'iceRestart' });
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
      ctx.connectionError('media connection failed', 'mediaFailed');
      ctx.toast(t('call.mediaFailed'), { type: 'error', duration: 12000, action: { label: t('lost.reconnect'), fn: ctx.reconnect } });
    }

    // Close the RTCPeerConnection and go on with a new one: local tracks and tiles stay, the next offer
    // attaches them to the new transceivers.
    function replacePeerConnection() {
      dropPc(S.pc);
      if (S.iceRestart) clearTimeout(S.iceRestart.timer);
      S.iceRestart = null;
      S.pc = newPeerConnection();
      S.sendTr = { audio: null, video: null };
      S.lastTracks = null;
    }

    // What `join` + `resume` carries: the ICE credentials and o= line of the offer this pc answered, its
    // tracks, and this participant's sharing and hand. Null when there is no settled session to take back.
    function resumeState() {
      var pc = S.pc;
      if (!pc || pc.signalingState !== 'stable' || !pc.remoteDescription || !pc.remoteDescription.sdp) return null;
      var sdp = pc.remoteDescription.sdp;
      var ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp);
      var pwd = /^a=ice-pwd:(\S+)/m.exec(sdp);
      var o = /^o=\S+ (\d+) (\d+) /m.exec(sdp);
      if (!ufrag || !pwd || !o) return null;
      return {
        ufrag: ufrag[1], pwd: pwd[1], sessionId: Number(o[1]), version: Number(o[2]),
        tracks: S.lastTracks || [], screen: !!api.share, hand: !!R.hand
      };
    }

    // The link to the relay went away: media may stop until relayBack or mediaRestart; the pc failing
    // meanwhile is no error.
    function onRelayLost() {
      if (!S.joined || !S.pc) return;
      if (!S.mediaLost) S.mediaLost = { pc: S.pc };
      ctx.updateBanner();
    }

    // The link to the relay is back and the relay kept this session: the same pc goes on. Should it have
    // failed meanwhile (it is not expected to: the relay went on forwarding), that is an error now.
    function onRelayBack() {
      if (!S.mediaLost || S.mediaLost.pc !== S.pc) return;
      S.mediaLost = null;
      ctx.updateBanner();
      if (S.pc.connectionState === 'failed' && !S.reconnect) mediaFailed();
    }

    // The relay is back with a new transport: the offer that follows is answered on a new pc.
    function onMediaRestart() {
      if (!S.joined || !S.pc) return;
      if (!S.mediaLost) S.mediaLost = { pc: S.pc };
      ctx.updateBanner();
      S.offerQueue = S.offerQueue.then(function () {
        if (!S.pc) return;
        replacePeerConnection();
        console.info('meet: media restart: new RTCPeerConnection');
      });
    }

    function handleOffer(ws, msg) {
      var pc = S.pc;
      S.offersSeen += 1;
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
            S.sendTr.screen = tr;
            jobs.push(tr.sender.replaceTrack(api.share ? api.share.track : null));
          } else if (tk.direction === 'recv' && tk.active && tk.source === 'screen' && tk.peerId != null) {
            screens.set(String(tk.peerId), tr.receiver.track);
          } else if (tk.direction === 'send') {
            var kind = tk.kind === 'video' ? 'video' : 'audio';
            tr.direction = 'sendonly';
            S.sendTr[kind] = tr;
            var d = ctx.dev(kind);
            var local = d.on && d.track && d.track.readyState === 'live' ? d.track : null;
            jobs.push(tr.sender.replaceTrack(local));
          } else if (tk.direction === 'recv' && tk.active && tk.peerId != null && String(tk.peerId) !== S.peerId) {
            var id = String(tk.peerId);
            if (!byPeer.has(id)) byPeer.set(id, []);
            byPeer.get(id).push(tr.receiver.track);
          }
        });
        // Tracks of participants we have not heard about yet get a tile now; peerJoined fills in the name.
        byPeer.forEach(function (list, id) { if (!S.peers.has(id)) ctx.ensurePeer({ peerId: id }); });
        S.peers.forEach(function (p) { ctx.setPeerTracks(p, byPeer.get(p.peerId) || []); });
        ctx.setScreenTracks(screens);
        return Promise.all(jobs);
      }).then(function () {
        return pc.createAnswer();
      }).then(function (answer) {
        return pc.setLocalDescription(answer).then(function () {
          // The tracks that go with pc.remoteDescription from now on, whether or not the answer reaches the
          // server: `resume` must describe what this pc has applied.
          if (pc === S.pc) S.lastTracks = tracks;
          return answer;
        });
      }).then(function (answer) {
        if (pc === S.pc && ws === S.ws && ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ type: 'answer', sdp: answer.sdp }));
        }
        if (api.maxBitrate) applyBitrate().catch(function (e) { console.warn('meet: setBitrate', e); });
        applyScreenPolicy();
        ctx.scheduleView();
      }).catch(function (e) {
        console.error('meet: offer handling failed', e);
        if (pc !== S.pc) return;   // replaced meanwhile (mediaRestart, fresh session)
        ctx.connectionError((e && e.message) || String(e), 'negotiation');
        ctx.toast(t('call.error', { message: (e && e.message) || String(e) }), { type: 'error' });
      });
    }

    // --- what this pc sends -------------------------------------------------

    function applySender(kind) {
      var tr = S.sendTr[kind];
      var d = ctx.dev(kind);
      if (!tr || !S.pc || S.pc.signalingState === 'closed') return Promise.resolve();
      var track = d.on && d.track && d.track.readyState === 'live' ? d.track : null;
      if (kind === 'video') applyScreenSender();
      if (kind === 'video' && api.share && !S.sendTr.screen) track = api.share.track;
      if (tr.sender.track === track) return Promise.resolve();
      return tr.sender.replaceTrack(track).catch(function (e) { console.warn('meet: replaceTrack failed', e); });
    }

    // The screen section: the shared screen's track goes there; the server is told when sharing starts
    // or stops so it forwards (or stops forwarding) that stream.
    function applyScreenSender() {
      var tr = S.sendTr.screen;
      var track = api.share ? api.share.track : null;
      if (tr && S.pc && S.pc.signalingState !== 'closed' && tr.sender.track !== track) {
        tr.sender.replaceTrack(track).then(applyScreenPolicy)
          .catch(function (e) { console.warn('meet: screen replaceTrack failed', e); });
      }
      if (S.joined && R.screenSent !== !!track) {
        R.screenSent = !!track;
        ctx.send({ type: 'share', on: !!track });
      }
      ctx.updateFeatureUI();
    }

    // A shared screen keeps its resolution and gives up frame rate when the link is short: text must stay
    // readable. (The camera is sent in simulcast layers, lowest first, which the relay picks from.)
    function applyScreenPolicy() {
      var tr = S.sendTr.screen;
      if (!tr || !S.pc || S.pc.signalingState === 'closed') return;
      if (tr.sender.track && 'contentHint' in tr.sender.track) tr.sender.track.contentHint = 'detail';
      var p = tr.sender.getParameters();
      if (p.degradationPreference === 'maintain-resolution') return;
      p.degradationPreference = 'maintain-resolution';
      tr.sender.setParameters(p).catch(function (e) { console.warn('meet: screen degradation preference', e); });
    }

    function applyBitrate() {
      var tr = S.sendTr.video;
      if (!tr || !S.pc || S.pc.signalingState === 'closed') return Promise.resolve(false);
      var p = tr.sender.getParameters();
      if (!p.encodings || !p.encodings.length) return Promise.resolve(false);
      p.encodings.forEach(function (e) {
        if (api.maxBitrate > 0) e.maxBitrate = api.maxBitrate; else delete e.maxBitrate;
      });
      return tr.sender.setParameters(p).then(function () { return true; });
    }

    return {
      applyBitrate: applyBitrate, applyScreenSender: applyScreenSender, applySender: applySender,
      dropPc: dropPc, handleOffer: handleOffer, mediaFailed: mediaFailed,
      newPeerConnection: newPeerConnection, onMediaRestart: onMediaRestart, onRelayBack: onRelayBack,
      onRelayLost: onRelayLost,
      replacePeerConnection: replacePeerConnection, resumeState: resumeState, setIceServers: setIceServers,
      checkIce: checkIce
    };
  }

  window.MeetRtc = { create: create };
})();
