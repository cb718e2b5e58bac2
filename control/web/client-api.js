/* meet — the embedding API, window.meetApp (bridge.js drives it; docs/client-api.md): its methods and
 * the events it emits (emit / meetApp.on).
 *
 * Built by call.js with MeetClientApi.create(ctx), which sets window.meetApp; its state is ctx.api.
 * The other modules report through emit() and the helpers returned here (announcePeer, peerClosed,
 * mediaFailure, connectionError, emitLocalMedia).
 */
(function () {
  'use strict';

  function create(ctx) {
    var I = ctx.I, t = ctx.t, params = ctx.params, mode = ctx.mode, LS = ctx.LS, NAME_MAX = ctx.NAME_MAX;
    var S = ctx.S, R = ctx.R, api = ctx.api, el = ctx.el;

    (function apiStyle() {
      var st = document.createElement('style');
      st.textContent = '.tiles.pin-alone > .tile:not(.pinned) { display: none !important; }\n' +
        'body.hide-indicators .tile-label, body.hide-indicators .tile-mic-off { display: none !important; }';
      document.head.appendChild(st);
    })();

    function emit(name, data) {
      var list = api.handlers[name];
      if (!list) return;
      list.slice().forEach(function (fn) {
        try { fn(data); } catch (e) { console.error('meet: ' + name + ' handler failed', e); }
      });
    }
    function onApp(name, fn) {
      (api.handlers[name] = api.handlers[name] || []).push(fn);
      return function () {
        var l = api.handlers[name] || [];
        var i = l.indexOf(fn);
        if (i >= 0) l.splice(i, 1);
      };
    }
    function apiError(code, message) { var e = new Error(message); e.code = code; return e; }
    function selfData(extra) { return Object.assign({ peerId: S.peerId, displayName: S.displayName, isLocal: true }, extra || {}); }
    function peerData(p, extra) { return Object.assign({ peerId: p.peerId, displayName: p.displayName, isLocal: false }, extra || {}); }
    function isLive(tr) { return !!(tr && tr.readyState === 'live'); }
    function localState() {
      return { audio: !!(S.mic.on && isLive(S.mic.track)), video: !!(S.cam.on && isLive(S.cam.track)), share: !!api.share };
    }

    // switchOn/Off events for this participant, when the effective state changes (after readyToJoin).
    function emitLocalMedia() {
      if (!api.last) return;
      var now = localState();
      var prev = api.last;
      api.last = now;
      [['audio', 'Mic'], ['video', 'Camera'], ['share', 'Share']].forEach(function (k) {
        if (now[k[0]] !== prev[k[0]]) emit((now[k[0]] ? 'switchOn' : 'switchOff') + k[1], selfData());
      });
    }

    function markReadyToJoin() {
      if (api.readyToJoin || !S.roomId) return;
      api.readyToJoin = true;
      api.last = localState();
      emit('readyToJoin', {});
    }

    // newPeer once a participant's name is known; their mic/camera changes after that.
    function announcePeer(p, info, before) {
      if (!S.joined) return;
      if (!p.announced) {
        if (typeof info.displayName !== 'string') return;
        p.announced = true;
        emit('newPeer', peerData(p, { audio: p.audio, video: p.video }));
        return;
      }
      if (p.audio !== before.audio) emit(p.audio ? 'switchOnMic' : 'switchOffMic', peerData(p));
      if (p.video !== before.video) emit(p.video ? 'switchOnCamera' : 'switchOffCamera', peerData(p));
    }

    function peerClosed(p) {
      if (api.pinned === p.peerId) ctx.setPin(null);
      if (p.announced) emit('peerClosed', peerData(p));
    }

    function mediaFailure(kind, e) {
      api.mediaError[kind] = e || null;
      emit(kind === 'audio' ? 'errorGetMic' : 'errorGetCamera',
        selfData({ error: (e && e.name) || 'Error', message: (e && e.message) || '' }));
    }

    // The room refused a source: `r` is a refusal of `mediaResult` ({ source, code, message }), or the
    // page's own for a webinar viewer. The method that asked fails with `notAllowed` and r.message;
    // errorGetMic / errorGetCamera / errorGetShare say why, and a toast in the room's language.
    // `turnOff`: the server turned the source off on its own (refused at join), so it stops here too.
    function mediaRefused(r, turnOff) {
      var source = r && r.source;
      var event = { audio: 'errorGetMic', video: 'errorGetCamera', screen: 'errorGetShare' }[source];
      if (!event) return;
      console.warn('meet: the room refused ' + source + ': ' + r.code + ': ' + r.message);
      api.refused[source] = r;
      if (turnOff && source === 'screen') {
        if (api.share) apiShare(false);
      } else if (turnOff && ctx.dev(source).on) {
        ctx.setMedia(source, false);
      }
      var errors = { 'limit-exceeded': 'limitExceeded', 'not-allowed': 'notAllowed' };
      emit(event, selfData({ error: errors[r.code] || 'refused', message: String(r.message || '') }));
      var what = t('kind.' + source);
      var text = r.code === 'limit-exceeded' ? t('media.limitExceeded')
        : r.code !== 'not-allowed' ? t('media.refused', { what: what })
          : R.speaker ? t('mod.youDisallowed', { what: what }) : t('media.viewerNoSend');
      // Microphone and camera refused at once (a full room at join) say it once.
      var now = Date.now();
      if (api.lastRefusal && api.lastRefusal.text === text && now - api.lastRefusal.at < 2000) return;
      api.lastRefusal = { text: text, at: now };
      ctx.toast(text, { type: 'error', duration: 8000 });
    }

    function connectionError(message, code) {
      emit('connectionError', { peerId: S.peerId, error: String(message), code: code || 'error' });
    }

    // --- join -------------------------------------------------------------

    function findDevice(kind, spec) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return Promise.resolve(null);
      return navigator.mediaDevices.enumerateDevices().then(function (list) {
        var k = kind === 'audio' ? 'audioinput' : 'videoinput';
        list = list.filter(function (d) { return d.kind === k && d.deviceId; });
        // Device ids are per origin, so the host page's ids may not be ours: the label is the fallback.
        return list.find(function (d) { return spec.deviceId && d.deviceId === spec.deviceId; }) ||
          list.find(function (d) { return spec.label && d.label === spec.label; }) || null;
      }, function () { return null; });
    }

    function apiJoin(c) {
      if (!S.roomId) return Promise.reject(apiError('noRoom', 'the room link has no valid roomId'));
      if (S.state === 'in-call') return Promise.reject(apiError('alreadyJoined', 'already in the room'));
      if (S.state === 'joining') return Promise.reject(apiError('busy', 'already joining'));
      if (S.state === 'reconnecting') {
        // The host asks for a join while the page reconnects by itself: stop that, start a new session.
        S.closing = true;
        ctx.closeConnection();
        ctx.setState('closed');
        ctx.showScreen('lost');
      }
      c = c || {};
      ['audio', 'video'].forEach(function (kind) {
        var w = c[kind];
        if (w === undefined) return;
        // A webinar viewer joins without devices, as from the welcome screen; enableMic / enableWebcam
        // are refused to it.
        if (w && !R.speaker) return;
        if (!w) { ctx.setMedia(kind, false); return; }
        if (typeof w !== 'object') { ctx.setMedia(kind, true); return; }
        S.mediaQueue = S.mediaQueue.then(function () { return findDevice(kind, w); }).then(function (info) {
          if (info) ctx.dev(kind).deviceId = info.deviceId;
          return ctx.doSetMedia(kind, true, !!info);
        }).catch(function (e) { console.error('meet: join device', e); });
      });
      return new Promise(function (resolve, reject) {
        var offs = [];
        function done() { offs.forEach(function (off) { off(); }); }
        offs.push(onApp('join', function (d) { done(); resolve(d); }));
        offs.push(onApp('connectionFailed', function (d) { done(); reject(apiError('connectionFailed', (d && d.message) || 'cannot connect')); }));
        offs.push(onApp('connectionClosed', function (d) { done(); reject(apiError('connectionClosed', (d && d.message) || 'closed')); }));
        S.mediaQueue.then(function () {
          if (S.state === 'left' || S.state === 'closed') ctx.rejoin(); else ctx.join();
        });
      });
    }

    // --- devices ----------------------------------------------------------

    function apiSetDevice(kind, on) {
      api.mediaError[kind] = null;
      api.refused[kind] = null;
      return ctx.setMedia(kind, on).then(function () {
        var now = localState()[kind];
        if (on && !now) {
          if (api.refused[kind]) throw apiError('notAllowed', String(api.refused[kind].message));
          var e = api.mediaError[kind];
          throw apiError(e && e.name === 'NotAllowedError' ? 'notAllowed' : 'deviceError',
            (kind === 'audio' ? 'cannot start the microphone' : 'cannot start the camera') + (e && e.name ? ' (' + e.name + ')' : ''));
        }
        return now;
      });
    }

    function apiChangeDevice(kind, spec) {
      var d = ctx.dev(kind);
      var job = S.mediaQueue.then(function () {
        return findDevice(kind, spec).then(function (info) {
          if (!info) throw Object.assign(new Error('no ' + (kind === 'audio' ? 'microphone' : 'camera') + ' matches ' + JSON.stringify(spec)), { name: 'NotFoundError' });
          if (!(d.on && isLive(d.track))) {
            // Off: remember the choice for the next time it is turned on.
            d.deviceId = info.deviceId;
            ctx.lsSet(kind === 'audio' ? LS.mic : LS.cam, info.deviceId);
            return { kind: kind, deviceId: info.deviceId, label: info.label, applied: false };
          }
          var req = {};
          req[kind] = ctx.constraints(kind, info.deviceId);
          return ctx.gum(req).then(function (stream) {
            var tr = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
            stream.getTracks().forEach(function (x) { if (x !== tr) x.stop(); });
            if (!tr) throw Object.assign(new Error('no track'), { name: 'NotFoundError' });
            d.deviceId = info.deviceId;
            ctx.lsSet(kind === 'audio' ? LS.mic : LS.cam, info.deviceId);
            ctx.adoptTrack(kind, tr);
            return ctx.applySender(kind).then(function () {
              ctx.afterMediaChange();
              ctx.refreshDevices();
              return { kind: kind, deviceId: info.deviceId, label: tr.label, applied: true };
            });
          });
        }).catch(function (e) {
          mediaFailure(kind, e);
          throw apiError(e && e.name === 'NotFoundError' ? 'notFound' : 'deviceError', 'changeDevice: ' + ((e && e.message) || e));
        });
      });
      S.mediaQueue = job.catch(function () {});
      return job;
    }

    // --- screen sharing (sent on the camera's m-section while it lasts) ---

    function apiShare(on) {
      if (!on) {
        if (!api.share) return Promise.resolve(false);
        var tr = api.share.track;
        api.share = null;
        tr.stop();
        return ctx.applySender('video').then(function () { ctx.afterMediaChange(); return false; });
      }
      if (api.share) return Promise.resolve(true);
      if (!S.joined) return Promise.reject(apiError('notJoined', 'join the room first'));
      var md = navigator.mediaDevices;
      var fail = function (e) {
        emit('errorGetShare', selfData({ error: (e && e.name) || 'Error', message: (e && e.message) || '' }));
        return apiError(e && e.name === 'NotAllowedError' ? 'notAllowed' : 'deviceError', 'screen sharing failed: ' + ((e && e.message) || (e && e.name) || e));
      };
      var refuse = function (r) { mediaRefused(r, false); return apiError('notAllowed', String(r.message)); };
      if (!R.speaker) {
        return Promise.reject(refuse({ source: 'screen', code: 'not-allowed', message: 'Webinar viewers do not share their screen' }));
      }
      if (!md || !md.getDisplayMedia) return Promise.reject(fail({ name: 'NotSupportedError', message: 'this browser cannot share the screen' }));
      // The room decides first (maxBroadcasters, a moderator), so a refused share shows no screen picker.
      return ctx.ask({ type: 'share', on: true }).then(function (result) {
        if (result && !result.screen) {
          var refused = (Array.isArray(result.refused) ? result.refused : []).filter(function (r) { return r.source === 'screen'; })[0];
          throw refuse(refused || { source: 'screen', code: 'not-allowed', message: 'the server keeps it off' });
        }
        if (result) R.screenSent = true;
        return md.getDisplayMedia({ video: true, audio: false }).then(function (stream) {
          var track = stream.getVideoTracks()[0];
          stream.getTracks().forEach(function (x) { if (x !== track) x.stop(); });
          if (!S.joined) { track.stop(); throw apiError('notJoined', 'left the room while sharing started'); }
          api.share = { track: track };
          // The browser's own "Stop sharing" button.
          track.addEventListener('ended', function () { if (api.share && api.share.track === track) apiShare(false); });
          return ctx.applySender('video').then(function () { ctx.afterMediaChange(); return true; });
        }, function (e) {
          ctx.applyScreenSender();   // the server had it on: off again
          throw fail(e);
        });
      });
    }

    function stopShare() {
      if (!api.share) return;
      api.share.track.stop();
      api.share = null;
      emitLocalMedia();
    }

    // --- audio out ----------------------------------------------------------

    function apiPlayAudio() {
      S.audioBlocked = false;
      el.unmute.hidden = true;
      ctx.resumeAudio();
      var plays = [];
      S.peers.forEach(function (p) {
        p.el.muted = api.incomingMuted;
        var pr = p.el.play();
        // play() may stay pending when the browser pauses the element instead of refusing: give up after 3 s.
        var late = new Promise(function (r) { setTimeout(function () { r({ name: 'Timeout' }); }, 3000); });
        if (pr && pr.then) plays.push(Promise.race([pr.then(function () { return null; }, function (e) { return e; }), late]));
      });
      return Promise.all(plays).then(function (errs) {
        var paused = [];
        S.peers.forEach(function (p) { if (p.el.paused) paused.push(p.peerId); });
        if (!paused.length && !errs.some(function (e) { return e && e.name === 'NotAllowedError'; })) return true;
        S.audioBlocked = true;
        S.peers.forEach(function (p) { p.el.muted = true; p.el.play().catch(function () {}); });
        if (S.state === 'in-call') el.unmute.hidden = false;
        throw apiError('notAllowed', 'the browser plays sound only after a click in the room or on the host page');
      });
    }

    function apiMuteIncoming(mute) {
      api.incomingMuted = mute;
      S.peers.forEach(function (p) { p.el.muted = mute || S.audioBlocked; });
      return Promise.resolve(mute);
    }

    function apiSetVolume(v) {
      api.volume = Math.max(0, Math.min(100, v)) / 100;
      S.peers.forEach(function (p) { p.el.volume = api.volume; });
      return Promise.resolve(v);
    }

    function apiSetBitrate(bps) {
      api.maxBitrate = Math.round(bps);
      return ctx.applyBitrate().then(function (applied) { return { maxBitrate: api.maxBitrate, applied: applied }; },
        function (e) { throw apiError('failed', 'setBitrate: ' + ((e && e.message) || e)); });
    }

    // --- screenshot -----------------------------------------------------------

    function apiScreenshot(peerId) {
      var id = String(peerId);
      var v = null;
      if (id === S.peerId) v = S.selfTile && S.selfTile.querySelector('video');
      else if (S.peers.has(id)) v = S.peers.get(id).el;
      else return Promise.reject(apiError('unknownPeer', 'no participant "' + id.slice(0, 100) + '" in this room'));
      if (!v || !v.srcObject || !v.videoWidth || !v.videoHeight) {
        return Promise.reject(apiError('noVideo', 'participant "' + id.slice(0, 100) + '" shows no video now'));
      }
      var c = document.createElement('canvas');
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      c.getContext('2d').drawImage(v, 0, 0, c.width, c.height);
      return Promise.resolve(c.toDataURL('image/jpeg', 0.9));
    }

    // --- layout: controls, indicators, pin, fullscreen, language -------------

    function apiControlsVisible(visible) {
      document.body.classList.toggle('controls-hidden', !visible);
      document.querySelectorAll('.controlbar, #copy-link').forEach(function (n) { n.hidden = !visible; });
      requestAnimationFrame(ctx.layoutTiles);
      return Promise.resolve(visible);
    }

    function apiHideIndicators(hide) {
      document.body.classList.toggle('hide-indicators', !!hide);
      return Promise.resolve(hide);
    }

    // alone: the API's enablePin puts the participant alone on the stage; the page's pin buttons keep a
    // filmstrip of the others (tiles.js setPin).
    function apiPin(peerId, alone) {
      var id = String(peerId);
      if (!ctx.tileOf(id)) {
        emit('errorGetPin', { peerId: id, error: 'no such participant' });
        return Promise.reject(apiError('unknownPeer', 'no participant "' + id.slice(0, 100) + '" to pin'));
      }
      ctx.setPin(id, !!alone);
      emit('switchOnPin', { peerId: id });
      return Promise.resolve(id);
    }

    function apiUnpin() {
      var was = api.pinned;
      ctx.setPin(null);
      return Promise.resolve(!!was);
    }

    function apiFullscreen(on) {
      var d = document;
      if (!on) {
        if (!d.fullscreenElement) return Promise.resolve(false);
        return d.exitFullscreen().then(function () { return false; });
      }
      if (d.fullscreenElement) return Promise.resolve(true);
      if (!d.fullscreenEnabled || !d.documentElement.requestFullscreen) {
        return Promise.reject(apiError('notAllowed', 'fullscreen is not allowed (the iframe needs allow="fullscreen")'));
      }
      return d.documentElement.requestFullscreen().then(function () { return true; }, function (e) {
        throw apiError('notAllowed', 'the browser refused fullscreen; call it from a click handler (' + ((e && e.message) || e) + ')');
      });
    }

    function apiSetLocale(lang) {
      if (!I.setLang || !I.setLang(lang)) return Promise.reject(apiError('badData', 'language "' + lang + '" is not available'));
      I.apply(document);
      document.title = (S.roomId ? S.roomId + ' — ' : '') + t('mode.' + mode) + ' — meet';
      if (S.selfTile) ctx.setTileInfo(S.selfTile, S.displayName, S.mic.on, S.cam.on, true);
      S.peers.forEach(function (p) { ctx.setTileInfo(p.tile, p.displayName, p.audio, p.video, false); });
      ctx.setJoinBusy(S.state === 'joining');
      ctx.updateMediaUI();
      ctx.updateCount();
      ctx.updateBanner();
      return Promise.resolve(I.lang);
    }

    function apiSetName(name) {
      var n = ctx.clean(name, NAME_MAX);
      if (!n) return Promise.reject(apiError('badData', 'the name is empty'));
      params.displayName = n;
      el.name.value = n;
      S.displayName = n;
      ctx.setAvatar(el.previewAvatar, n, 'me');
      if (S.joined) {
        if (S.selfTile) ctx.setTileInfo(S.selfTile, n, S.mic.on, S.cam.on, true);
        ctx.send({ type: 'setName', displayName: n });
      }
      return Promise.resolve(n);
    }

    // Moderator actions: call.js's moderation code (issue 4) sets meetApp.moderation =
    // { disableTrack(peerId, kind), disableAll(kind) }, each returning a Promise settled by the server's answer.
    function apiModeration(fn, args) {
      var m = window.meetApp.moderation;
      if (!m || typeof m[fn] !== 'function') return Promise.reject(apiError('notAllowed', 'moderator actions are not available'));
      return Promise.resolve(m[fn].apply(m, args));
    }

    window.meetApp = {
      version: 1,
      on: onApp,
      moderation: null,
      get roomId() { return S.roomId; },
      get peerId() { return S.peerId; },
      get state() { return S.state; },
      get joined() { return S.joined; },
      get readyToJoin() { return api.readyToJoin; },
      get isModerator() { return !!(R.you && R.you.moderator); },
      get languages() { return (I.languages || []).slice(); },
      // For tests: the current RTCPeerConnection (the same object after a resume, a new one after mediaRestart).
      _pc: function () { return S.pc; },
      join: apiJoin,
      enableMic: function () { return apiSetDevice('audio', true); },
      disableMic: function () { return apiSetDevice('audio', false); },
      enableWebcam: function () { return apiSetDevice('video', true); },
      disableWebcam: function () { return apiSetDevice('video', false); },
      enableShare: function () { return apiShare(true); },
      disableShare: function () { return apiShare(false); },
      changeDisplayName: apiSetName,
      setVolume: apiSetVolume,
      getScreenshot: apiScreenshot,
      setControlsVisible: apiControlsVisible,
      isCameraEnabled: function () { return Promise.resolve(localState().video); },
      isMicroEnabled: function () { return Promise.resolve(localState().audio); },
      isShareEnabled: function () { return Promise.resolve(localState().share); },
      changeDevice: apiChangeDevice,
      playAudio: apiPlayAudio,
      muteAudio: function () { return apiMuteIncoming(true); },
      unmuteAudio: function () { return apiMuteIncoming(false); },
      setBitrate: apiSetBitrate,
      isFullscreenEnabled: function () { return Promise.resolve(!!document.fullscreenElement); },
      enableFullscreen: function () { return apiFullscreen(true); },
      disableFullscreen: function () { return apiFullscreen(false); },
      enablePin: function (peerId) { return apiPin(peerId, true); },
      disablePin: apiUnpin,
      setLocale: apiSetLocale,
      disableTrack: function (peerId, kind) { return apiModeration('disableTrack', [peerId, kind]); },
      disableAll: function (kind) { return apiModeration('disableAll', [kind]); },
      setHideIndicators: apiHideIndicators
    };

    return {
      announcePeer: announcePeer, apiControlsVisible: apiControlsVisible, apiError: apiError,
      apiFullscreen: apiFullscreen, apiPin: apiPin, apiSetLocale: apiSetLocale, apiShare: apiShare,
      apiUnpin: apiUnpin, connectionError: connectionError, emit: emit, emitLocalMedia: emitLocalMedia,
      markReadyToJoin: markReadyToJoin, mediaFailure: mediaFailure, mediaRefused: mediaRefused, peerClosed: peerClosed,
      selfData: selfData, stopShare: stopShare
    };
  }

  window.MeetClientApi = { create: create };
})();
