/* meet — call page (/call/ and /webinar/).
 *
 * Signalling: docs/signalling.md. The server is always the SDP offerer; this
 * client only answers. One RTCPeerConnection per session, offers handled one
 * at a time through a promise queue.
 *
 * Restarts (docs/signalling.md): when the socket drops or the server says
 * `closed server-restart`, the page keeps its media, tiles and
 * RTCPeerConnection, reconnects with backoff and sends `join` + `resume`;
 * `mediaRestart` (the relay restarted) swaps in a new RTCPeerConnection.
 *
 * Test hooks: window.meet = { pc, ws, peerId, roomId, state, ... } (live
 * getters), window.meetApp._pc() and document.body.dataset.state mirror the
 * session state, one of 'welcome', 'joining', 'in-call', 'reconnecting',
 * 'left', 'closed'.
 */
(function () {
  'use strict';

  var I = window.MeetI18n;
  var t = I.t;
  var $ = function (id) { return document.getElementById(id); };

  var JOIN_TIMEOUT_MS = 15000;
  // Reconnecting after the socket was lost: 0.5 s, doubling to 5 s between attempts, for up to 60 s.
  var RECONNECT_FIRST_MS = 500;
  var RECONNECT_MAX_MS = 5000;
  var RECONNECT_FOR_MS = 60000;
  var RECONNECT_ATTEMPT_MS = 10000;  // an attempt whose socket opened but got no `joined` in time
  var NAME_MAX = 64;
  var ID_MAX = 256;
  var LS = { name: 'meet.displayName', cam: 'meet.cameraId', mic: 'meet.micId' };

  /* ------------------------------------------------------------------ */
  /* URL attributes                                                     */
  /* ------------------------------------------------------------------ */

  function clean(value, max) {
    if (value === null || value === undefined) return null;
    // Drop control characters, collapse whitespace, trim; never throw.
    var v = String(value).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').replace(/\s+/g, ' ').trim();
    if (!v) return null;
    return max ? Array.from(v).slice(0, max).join('') : v;
  }

  // Every room-URL attribute, typed and defaulted by attributes.js; `tok` is the token's unverified
  // payload, used only to shape the page before the server's answer (`joined.you`).
  var A = window.MeetAttributes.values;
  var tok = window.MeetAttributes.token;
  var params = {
    roomId: A.roomId,
    roomInvalid: A.roomInvalid,
    displayName: tok.displayName || A.displayName,
    peerId: A.peerId
  };
  var mode = /^\/webinar(\/|$)/.test(location.pathname) ? 'webinar' : 'call';
  // A webinar viewer publishes nothing and gets no tile; the token's itisparticipant wins.
  var speakerGuess = mode === 'call' || tok.moderator ||
    (tok.itisparticipant !== undefined ? tok.itisparticipant : A.itisparticipant);

  /* ------------------------------------------------------------------ */
  /* State                                                              */
  /* ------------------------------------------------------------------ */

  var S = {
    state: 'welcome',
    ws: null,
    pc: null,
    peerId: params.peerId,
    roomId: params.roomId,
    displayName: '',
    joined: false,
    closing: false,
    joinTimer: null,
    mic: { kind: 'audio', on: true, track: null, deviceId: lsGet(LS.mic) || '' },
    cam: { kind: 'video', on: true, track: null, deviceId: lsGet(LS.cam) || '' },
    mediaReady: false,
    camStarting: false,
    peers: new Map(),      // peerId -> { peerId, displayName, audio, video, stream, tile, video: el, tracks }
    selfTile: null,
    sendTr: { audio: null, video: null },
    offerQueue: Promise.resolve(),
    mediaQueue: Promise.resolve(),
    audioBlocked: false,
    lastTracks: null,      // `tracks` of the offer the pc last applied (sent back in `resume`)
    reconnect: null,       // { since, delay, timer } while the socket is being reconnected
    mediaLost: null        // { pc } from `relayLost` / `mediaRestart` until a new pc connects
  };

  window.meet = {
    get pc() { return S.pc; },
    get ws() { return S.ws; },
    get peerId() { return S.peerId; },
    get roomId() { return S.roomId; },
    get state() { return S.state; },
    get mode() { return mode; },
    get lang() { return I.lang; },
    get displayName() { return S.displayName; },
    get audio() { return S.mic.on; },
    get video() { return S.cam.on; },
    get peers() {
      return Array.from(S.peers.values()).map(function (p) {
        return { peerId: p.peerId, displayName: p.displayName, audio: p.audio, video: p.video };
      });
    }
  };

  function setState(st) {
    S.state = st;
    document.body.dataset.state = st;
  }

  function lsGet(k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } }
  function lsSet(k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* private mode */ } }

  function dev(kind) { return kind === 'audio' ? S.mic : S.cam; }

  /* ------------------------------------------------------------------ */
  /* Elements                                                           */
  /* ------------------------------------------------------------------ */

  var el = {
    welcome: $('welcome'), call: $('call'), left: $('left'), closed: $('closed'), lost: $('lost'), roomError: $('room-error'),
    preview: $('preview'), previewFrame: $('preview-frame'), previewAvatar: $('preview-avatar'), previewOffText: $('preview-off-text'),
    pMic: $('preview-toggle-mic'), pCam: $('preview-toggle-cam'), meter: $('mic-meter'),
    mediaError: $('media-error'), mediaErrorText: $('media-error-text'),
    name: $('name'), nameLocked: $('name-locked'), camSel: $('camera-select'), micSel: $('mic-select'),
    joinForm: $('join-form'), joinBtn: $('join-btn'), joinBtnLabel: $('join-btn-label'),
    joinError: $('join-error'), joinErrorText: $('join-error-text'),
    welcomeRoom: $('welcome-room'), welcomeHeading: $('welcome-heading'),
    callRoom: $('call-room'), participants: $('participants'), count: $('participant-count'),
    copyLink: $('copy-link'), aloneHint: $('alone-hint'), aloneCopy: $('alone-copy'),
    tiles: $('tiles'), tMic: $('toggle-mic'), tCam: $('toggle-cam'), leave: $('leave'),
    standby: $('standby'), waiting: $('waiting'),
    rejoin: $('rejoin'), closedRejoin: $('closed-rejoin'), closedMsg: $('closed-message'), reconnect: $('reconnect'),
    unmute: $('unmute-banner'), toasts: $('toasts'), tpl: $('tile-template'),
    reconnecting: $('reconnecting'), reconnectingText: $('reconnecting-text')
  };

  var SCREENS = ['welcome', 'call', 'left', 'closed', 'lost', 'roomError', 'standby', 'waiting'];
  function showScreen(name) {
    SCREENS.forEach(function (s) { el[s].hidden = s !== name; });
    if (name !== 'call') el.unmute.hidden = true;
    window.scrollTo(0, 0);
  }

  /* ------------------------------------------------------------------ */
  /* Small UI helpers                                                   */
  /* ------------------------------------------------------------------ */

  function svgUse(id, cls) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'icon' + (cls ? ' ' + cls : ''));
    svg.setAttribute('aria-hidden', 'true');
    var use = document.createElementNS(ns, 'use');
    use.setAttribute('href', '#' + id);
    svg.appendChild(use);
    return svg;
  }

  function toast(message, opts) {
    opts = opts || {};
    var node = document.createElement('div');
    node.className = 'toast' + (opts.type ? ' ' + opts.type : '');
    node.setAttribute('role', opts.type === 'error' ? 'alert' : 'status');
    var text = document.createElement('span');
    text.textContent = message;
    node.appendChild(text);
    if (opts.action) {
      var act = document.createElement('button');
      act.type = 'button';
      act.className = 'toast-action';
      act.textContent = opts.action.label;
      act.addEventListener('click', function () { dismiss(); opts.action.fn(); });
      node.appendChild(act);
    }
    var close = document.createElement('button');
    close.type = 'button';
    close.setAttribute('aria-label', t('common.close'));
    close.appendChild(svgUse('i-close'));
    close.addEventListener('click', dismiss);
    node.appendChild(close);
    el.toasts.appendChild(node);
    while (el.toasts.children.length > 4) el.toasts.removeChild(el.toasts.firstChild);
    var timer = setTimeout(dismiss, opts.duration || (opts.type === 'error' ? 8000 : 4000));
    function dismiss() {
      clearTimeout(timer);
      node.classList.add('leaving');
      setTimeout(function () { if (node.parentNode) node.parentNode.removeChild(node); }, 220);
    }
    return node;
  }

  function initials(name) {
    var words = String(name || '').trim().split(/\s+/).filter(Boolean);
    if (!words.length) return '?';
    var first = Array.from(words[0])[0] || '';
    var last = words.length > 1 ? (Array.from(words[words.length - 1])[0] || '') : '';
    return (first + last).toUpperCase();
  }

  var AVATAR_COLORS = ['#4f7cf0', '#8b5cf6', '#d9467a', '#e0683a', '#c7922a', '#2f9e6e', '#1f9bb4', '#6b74e8', '#b4549b', '#5e8f3a'];
  function avatarColor(key) {
    // FNV-1a: neighbouring ids (peer1, peer2) still get different colours.
    var h = 0x811c9dc5;
    var s = String(key || '');
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    h ^= h >>> 13;
    return AVATAR_COLORS[(h >>> 0) % AVATAR_COLORS.length];
  }

  // Initials on a coloured disc, or a person glyph when there is no name yet.
  function setAvatar(node, name, colorKey) {
    var ini = name && String(name).trim() ? initials(name) : '';
    if (node.dataset.initials === ini && node.firstChild) return;
    node.dataset.initials = ini;
    node.textContent = '';
    if (ini) node.textContent = ini;
    else node.appendChild(svgUse('i-person', 'avatar-icon'));
    node.style.setProperty('--avatar-bg', ini ? avatarColor(colorKey || name) : '#4a5263');
  }

  function displayOf(name) { return name && String(name).trim() ? String(name) : t('call.guest'); }

  function roomLink() {
    var path = mode === 'webinar' ? '/webinar/' : '/call/';
    return location.origin + path + '?roomId=' + encodeURIComponent(S.roomId || '');
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }
  function legacyCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok ? Promise.resolve() : Promise.reject(new Error('copy failed'));
  }
  function copyInvite() {
    copyText(roomLink()).then(function () { toast(t('call.linkCopied')); },
      function () { toast(roomLink(), { duration: 10000 }); });
  }

  /* ------------------------------------------------------------------ */
  /* Audio levels (mic meter on the welcome screen, speaking ring)      */
  /* ------------------------------------------------------------------ */

  var Levels = {
    ctx: null,
    items: new Map(),
    timer: null,
    context: function () {
      if (!this.ctx) {
        var AC = window.AudioContext || window.webkitAudioContext;
        if (!AC) return null;
        try { this.ctx = new AC(); } catch (e) { return null; }
      }
      if (this.ctx.state === 'suspended') this.ctx.resume().catch(function () {});
      return this.ctx;
    },
    watch: function (key, track, cb) {
      this.unwatch(key);
      if (!track) return;
      var ctx = this.context();
      if (!ctx) return;
      try {
        var src = ctx.createMediaStreamSource(new MediaStream([track]));
        var an = ctx.createAnalyser();
        an.fftSize = 512;
        an.smoothingTimeConstant = 0.3;
        src.connect(an);
        this.items.set(key, { src: src, an: an, buf: new Uint8Array(an.fftSize), cb: cb, track: track, hold: 0 });
      } catch (e) { return; }
      if (!this.timer) this.timer = setInterval(this.tick.bind(this), 100);
    },
    unwatch: function (key) {
      var it = this.items.get(key);
      if (!it) return;
      try { it.src.disconnect(); } catch (e) { /* ignore */ }
      this.items.delete(key);
      it.cb(0, false);
      if (!this.items.size && this.timer) { clearInterval(this.timer); this.timer = null; }
    },
    tick: function () {
      var now = Date.now();
      this.items.forEach(function (it) {
        it.an.getByteTimeDomainData(it.buf);
        var sum = 0;
        for (var i = 0; i < it.buf.length; i++) { var v = (it.buf[i] - 128) / 128; sum += v * v; }
        var rms = Math.sqrt(sum / it.buf.length);
        if (rms > 0.035) it.hold = now + 700;
        it.cb(rms, now < it.hold);
      });
    }
  };
  function resumeAudio() { if (Levels.ctx && Levels.ctx.state === 'suspended') Levels.ctx.resume().catch(function () {}); }
  document.addEventListener('pointerdown', resumeAudio, true);
  document.addEventListener('keydown', resumeAudio, true);

  var meterBars = el.meter.querySelectorAll('span');
  function meterCb(level) {
    var l = Math.min(1, level * 6);
    var hs = [0.55, 1, 0.7];
    for (var i = 0; i < meterBars.length; i++) meterBars[i].style.height = Math.max(4, Math.round(4 + 16 * l * hs[i])) + 'px';
  }

  /* ------------------------------------------------------------------ */
  /* Local media                                                        */
  /* ------------------------------------------------------------------ */

  function hasMediaDevices() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function constraints(kind, deviceId) {
    var c = kind === 'audio'
      ? { echoCancellation: true, noiseSuppression: true, autoGainControl: true }
      : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
    if (deviceId) c.deviceId = { exact: deviceId };
    return c;
  }

  function gum(c) { return navigator.mediaDevices.getUserMedia(c); }

  // Acquire one track of `kind`, falling back to the default device if the remembered one is gone.
  function acquire(kind) {
    var d = dev(kind);
    if (!hasMediaDevices()) return Promise.reject(Object.assign(new Error('insecure'), { name: 'InsecureContext' }));
    var req = {};
    req[kind] = constraints(kind, d.deviceId);
    return gum(req).catch(function (e) {
      if (d.deviceId && (e.name === 'OverconstrainedError' || e.name === 'NotFoundError' || e.name === 'NotReadableError')) {
        d.deviceId = '';
        var r2 = {};
        r2[kind] = constraints(kind, '');
        return gum(r2);
      }
      throw e;
    }).then(function (stream) {
      var tr = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
      stream.getTracks().forEach(function (x) { if (x !== tr) x.stop(); });
      if (!tr) throw Object.assign(new Error('no track'), { name: 'NotFoundError' });
      return tr;
    });
  }

  function adoptTrack(kind, track) {
    var d = dev(kind);
    if (d.track && d.track !== track) d.track.stop();
    d.track = track;
    if (!track) return;
    track.addEventListener('ended', function () {
      // The device went away (unplugged, permission revoked). Our own stop() does not fire this.
      if (d.track !== track) return;
      d.track = null;
      d.on = false;
      toast(t(kind === 'audio' ? 'media.micEnded' : 'media.camEnded'), { type: 'warn' });
      applySender(kind).then(afterMediaChange);
    });
  }

  function mediaErrorKey(e) {
    var n = e && e.name;
    if (n === 'InsecureContext') return 'media.insecure';
    if (n === 'NotAllowedError' || n === 'SecurityError' || n === 'PermissionDeniedError') return 'media.denied';
    if (n === 'NotFoundError' || n === 'DevicesNotFoundError' || n === 'OverconstrainedError') return 'media.notFound';
    return 'media.failed';
  }

  function showMediaError(key) {
    if (!key) { el.mediaError.hidden = true; return; }
    el.mediaErrorText.textContent = t(key);
    el.mediaError.hidden = false;
  }

  // First acquisition on page load: one prompt for both devices, then per device if that fails.
  function initMedia() {
    if (!R.speaker) {
      // Webinar viewer: never ask for the camera or microphone.
      S.mic.on = false;
      S.cam.on = false;
      S.mediaReady = true;
      afterMediaChange();
      return Promise.resolve();
    }
    if (!hasMediaDevices()) {
      S.mic.on = false;
      S.cam.on = false;
      showMediaError('media.insecure');
      S.mediaReady = true;
      afterMediaChange();
      return Promise.resolve();
    }
    var both = { audio: constraints('audio', S.mic.deviceId), video: constraints('video', S.cam.deviceId) };
    return gum(both).then(function (stream) {
      adoptTrack('audio', stream.getAudioTracks()[0] || null);
      adoptTrack('video', stream.getVideoTracks()[0] || null);
      if (!S.mic.track) S.mic.on = false;
      if (!S.cam.track) S.cam.on = false;
    }, function (err) {
      if (err && (err.name === 'NotAllowedError' || err.name === 'SecurityError')) {
        S.mic.on = false;
        S.cam.on = false;
        showMediaError(mediaErrorKey(err));
        return;
      }
      // Maybe only one of the two devices is missing or busy: try them separately.
      var aErr = null, vErr = null;
      return acquire('audio').then(function (tr) { adoptTrack('audio', tr); }, function (e) { aErr = e; })
        .then(function () { return acquire('video'); })
        .then(function (tr) { adoptTrack('video', tr); }, function (e) { vErr = e; })
        .then(function () {
          if (aErr) S.mic.on = false;
          if (vErr) S.cam.on = false;
          if (aErr && vErr) showMediaError(mediaErrorKey(vErr.name === 'NotFoundError' ? aErr : vErr));
          else if (vErr) showMediaError('media.camUnavailable');
          else if (aErr) showMediaError('media.micUnavailable');
        });
    }).then(function () {
      S.mediaReady = true;
      afterMediaChange();
      return refreshDevices();
    });
  }

  // Turn a device on or off (welcome screen and in call). Serialized.
  function setMedia(kind, on, restart) {
    S.mediaQueue = S.mediaQueue.then(function () { return doSetMedia(kind, on, restart); })
      .catch(function (e) { console.error('meet: media change failed', e); });
    return S.mediaQueue;
  }

  function doSetMedia(kind, on, restart) {
    var d = dev(kind);
    var btns = kind === 'audio' ? [el.tMic, el.pMic] : [el.tCam, el.pCam];
    if (!on) {
      d.on = false;
      adoptTrack(kind, null);       // stops the track: the camera light goes off
      return applySender(kind).then(afterMediaChange);
    }
    if (d.track && d.track.readyState === 'live' && !restart) {
      d.on = true;
      return applySender(kind).then(afterMediaChange);
    }
    btns.forEach(function (b) { b.disabled = true; });
    if (kind === 'video') { S.camStarting = true; el.previewOffText.textContent = t('welcome.starting'); }
    return acquire(kind).then(function (tr) {
      if (S.state === 'left' || S.state === 'closed') { tr.stop(); return; }
      adoptTrack(kind, tr);
      d.on = true;
      showMediaError(null);
    }, function (e) {
      console.warn('meet: could not start ' + kind, e);
      mediaFailure(kind, e);
      if (restart && d.track && d.track.readyState === 'live') {
        // Keep the previous device running.
      } else {
        adoptTrack(kind, null);
        d.on = false;
      }
      var key = kind === 'audio' ? 'media.micError' : 'media.camError';
      if (e && e.name === 'NotAllowedError') toast(t('media.denied'), { type: 'error' });
      else toast(t(key), { type: 'error' });
    }).then(function () {
      btns.forEach(function (b) { b.disabled = false; });
      if (kind === 'video') S.camStarting = false;
      return applySender(kind);
    }).then(function () {
      afterMediaChange();
      refreshDevices();
    });
  }

  function applySender(kind) {
    var tr = S.sendTr[kind];
    var d = dev(kind);
    if (!tr || !S.pc || S.pc.signalingState === 'closed') return Promise.resolve();
    var track = d.on && d.track && d.track.readyState === 'live' ? d.track : null;
    if (kind === 'video') applyScreenSender();
    if (kind === 'video' && api.share && !S.sendTr.screen) track = api.share.track;
    if (tr.sender.track === track) return Promise.resolve();
    return tr.sender.replaceTrack(track).catch(function (e) { console.warn('meet: replaceTrack failed', e); });
  }

  var lastSentMedia = null;
  function afterMediaChange() {
    updateMediaUI();
    if (S.state === 'in-call' && S.joined) {
      var video = S.cam.on || !!api.share;
      var key = S.mic.on + '/' + video;
      if (key !== lastSentMedia) {
        lastSentMedia = key;
        send({ type: 'mediaState', audio: S.mic.on, video: video });
      }
    }
    emitLocalMedia();
  }

  function stopLocalMedia() {
    stopShare();
    // Keep the on/off preferences so Rejoin restores them.
    ['audio', 'video'].forEach(function (k) {
      var d = dev(k);
      if (d.track) { d.track.stop(); d.track = null; }
    });
    Levels.unwatch('preview');
    Levels.unwatch('self');
    el.preview.srcObject = null;
  }

  function restoreMedia() {
    var jobs = [];
    ['audio', 'video'].forEach(function (k) {
      var d = dev(k);
      if (d.on && !(d.track && d.track.readyState === 'live')) jobs.push(k);
    });
    return jobs.reduce(function (p, k) { return p.then(function () { return doSetMedia(k, true); }); }, Promise.resolve());
  }

  function setToggle(btn, on, keyOff, keyOn) {
    btn.setAttribute('aria-pressed', on ? 'true' : 'false');
    var label = on ? t(keyOff) : t(keyOn);
    btn.setAttribute('aria-label', label);
    btn.title = label;
  }

  function updateMediaUI() {
    var micOn = S.mic.on, camOn = S.cam.on;
    [el.pMic, el.tMic].forEach(function (b) { setToggle(b, micOn, 'ctl.micOff', 'ctl.micOn'); });
    [el.pCam, el.tCam].forEach(function (b) { setToggle(b, camOn, 'ctl.camOff', 'ctl.camOn'); });

    // Welcome preview.
    var camTrack = camOn && S.cam.track ? S.cam.track : null;
    var cur = el.preview.srcObject;
    var curTrack = cur && cur.getVideoTracks ? cur.getVideoTracks()[0] : null;
    if (camTrack !== curTrack) {
      el.preview.srcObject = camTrack ? new MediaStream([camTrack]) : null;
      if (camTrack) el.preview.play().catch(function () {});
    }
    el.previewFrame.classList.toggle('cam-off', !camTrack);
    el.previewOffText.textContent = t(!S.mediaReady || S.camStarting ? 'welcome.starting' : 'welcome.camOff');
    setAvatar(el.previewAvatar, el.name.value, 'me');

    var micTrack = micOn && S.mic.track ? S.mic.track : null;
    if (micTrack) el.meter.removeAttribute('data-off'); else el.meter.setAttribute('data-off', '');
    if (S.state === 'welcome' || S.state === 'joining') {
      var watched = Levels.items.get('preview');
      if (micTrack && (!watched || watched.track !== micTrack)) Levels.watch('preview', micTrack, meterCb);
      else if (!micTrack) Levels.unwatch('preview');
    }

    // Own tile.
    if (S.selfTile) {
      var v = S.selfTile.querySelector('video');
      var sCur = v.srcObject && v.srcObject.getVideoTracks()[0];
      if (camTrack !== (sCur || null)) {
        v.srcObject = camTrack ? new MediaStream([camTrack]) : null;
        if (camTrack) v.play().catch(function () {});
      }
      S.selfTile.classList.toggle('cam-off', !camTrack);
      S.selfTile.classList.toggle('mic-off', !micTrack);
      var w = Levels.items.get('self');
      if (micTrack && (!w || w.track !== micTrack)) Levels.watch('self', micTrack, speakingCb(S.selfTile));
      else if (!micTrack) Levels.unwatch('self');
    }
  }

  /* ------------------------------------------------------------------ */
  /* Device pickers                                                     */
  /* ------------------------------------------------------------------ */

  function refreshDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
      fillSelect(el.camSel, [], 'welcome.cameraN', 'welcome.noCamera', S.cam);
      fillSelect(el.micSel, [], 'welcome.micN', 'welcome.noMic', S.mic);
      return Promise.resolve();
    }
    return navigator.mediaDevices.enumerateDevices().then(function (list) {
      fillSelect(el.camSel, list.filter(function (d) { return d.kind === 'videoinput'; }), 'welcome.cameraN', 'welcome.noCamera', S.cam);
      fillSelect(el.micSel, list.filter(function (d) { return d.kind === 'audioinput'; }), 'welcome.micN', 'welcome.noMic', S.mic);
    }, function () { /* ignore */ });
  }

  function fillSelect(sel, list, nKey, noneKey, d) {
    sel.textContent = '';
    if (!list.length) {
      var none = document.createElement('option');
      none.value = '';
      none.textContent = t(noneKey);
      sel.appendChild(none);
      sel.disabled = true;
      return;
    }
    sel.disabled = false;
    var seen = {};
    list.forEach(function (info, i) {
      if (seen[info.deviceId]) return;
      seen[info.deviceId] = true;
      var o = document.createElement('option');
      o.value = info.deviceId;
      o.textContent = info.label || t(nKey, { n: i + 1 });
      sel.appendChild(o);
    });
    var current = '';
    try { current = (d.track && d.track.getSettings && d.track.getSettings().deviceId) || ''; } catch (e) { current = ''; }
    current = current || d.deviceId;
    if (current && seen[current]) sel.value = current;
  }

  function onDeviceChosen(kind, sel) {
    var d = dev(kind);
    d.deviceId = sel.value;
    lsSet(kind === 'audio' ? LS.mic : LS.cam, sel.value);
    if (d.on) setMedia(kind, true, true);
  }

  /* ------------------------------------------------------------------ */
  /* Tiles                                                              */
  /* ------------------------------------------------------------------ */

  function speakingCb(tile) {
    return function (level, speaking) { tile.classList.toggle('speaking', !!speaking); };
  }

  function makeTile(peerId, self) {
    var frag = el.tpl.content.cloneNode(true);
    var tile = frag.querySelector('.tile');
    tile.dataset.peerId = peerId || '';
    var v = tile.querySelector('video');
    if (self) {
      tile.classList.add('self');
      v.muted = true;
      v.setAttribute('muted', '');
    }
    tile.querySelector('.tile-mic-off').setAttribute('aria-label', t('call.micMuted'));
    var pin = tile.querySelector('.tile-pin');
    pin.setAttribute('aria-label', t('call.pin'));
    pin.title = t('call.pin');
    pin.addEventListener('click', function () { togglePin(tile.dataset.peerId); });
    return tile;
  }

  function setTileInfo(tile, name, audio, video, self) {
    var label = self ? t('call.youSuffix', { name: displayOf(name) }) : displayOf(name);
    tile.querySelector('.tile-name').textContent = label;
    tile.title = label;
    setAvatar(tile.querySelector('.avatar'), name, tile.dataset.peerId || name);
    if (!self) {
      tile.classList.toggle('cam-off', !video);
      tile.classList.toggle('mic-off', !audio);
    }
    decorateTile(tile);
  }

  function ensurePeer(info) {
    var id = info && info.peerId != null ? String(info.peerId) : '';
    if (!id || id === S.peerId) return null;
    if (info.viewer === true) {
      // Webinar viewers have no tile; they are listed in the people panel.
      R.viewers.set(id, info);
      refreshPanels();
      return null;
    }
    var p = S.peers.get(id);
    if (!p) {
      p = { peerId: id, displayName: '', audio: false, video: false, stream: new MediaStream(), tile: null, el: null };
      p.tile = makeTile(id, false);
      p.el = p.tile.querySelector('video');
      p.el.srcObject = p.stream;
      S.peers.set(id, p);
      el.tiles.appendChild(p.tile);
      updateCount();
    }
    var before = { audio: p.audio, video: p.video, hand: p.hand };
    if (typeof info.displayName === 'string') p.displayName = info.displayName;
    if (typeof info.audio === 'boolean') p.audio = info.audio;
    if (typeof info.video === 'boolean') p.video = info.video;
    ['screen', 'hand', 'moderator'].forEach(function (k) { if (typeof info[k] === 'boolean') p[k] = info[k]; });
    if (info.allowed) p.allowed = info.allowed;
    if (p.hand && !before.hand && S.joined) toast(t('hand.raised', { name: displayOf(p.displayName) }));
    before.hand = p.hand;
    setTileInfo(p.tile, p.displayName, p.audio, p.video, false);
    refreshPanels();
    announcePeer(p, info, before);
    return p;
  }

  function removePeer(id) {
    if (R.viewers.delete(String(id))) refreshPanels();
    removeScreenTile(String(id));
    var p = S.peers.get(String(id));
    if (!p) return null;
    Levels.unwatch('peer:' + p.peerId);
    p.el.srcObject = null;
    if (p.tile.parentNode) p.tile.parentNode.removeChild(p.tile);
    S.peers.delete(p.peerId);
    updateCount();
    return p;
  }

  function clearPeers() {
    Array.from(S.peers.keys()).forEach(removePeer);
    if (S.selfTile && S.selfTile.parentNode) S.selfTile.parentNode.removeChild(S.selfTile);
    S.selfTile = null;
    el.tiles.textContent = '';
    updateCount();
  }

  function updateCount() {
    var n = S.peers.size + (S.selfTile ? 1 : 0);
    el.count.textContent = String(n);
    var label = t('call.participants', { n: n });
    el.participants.setAttribute('aria-label', label);
    el.participants.title = label;
    el.tiles.dataset.count = String(n);
    el.aloneHint.hidden = !(S.state === 'in-call' && S.peers.size === 0);
    layoutTiles();
  }

  // Fit n tiles in the stage: as large as possible, 16:9 (up to 4:3 when there is room).
  function layoutTiles() {
    var box = el.tiles;
    var n = api.pinned ? 1 : box.children.length;
    if (!n || el.call.hidden) return;
    var cs = getComputedStyle(box);
    var W = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    var H = box.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
    if (W <= 0 || H <= 0) return;
    var narrow = W < 560;
    var gap = n > 1 ? (narrow ? 8 : 12) : 0;
    var w, h;
    if (A.minimizeTiles && n > 1 && !api.pinned) {
      // minimizeTiles: as many tiles as fit without scrolling, two columns at least on phones.
      var fit = null;
      for (var c = narrow ? 2 : 1; c <= n; c++) {
        var r = Math.ceil(n / c);
        var fw = Math.min((W - gap * (c - 1)) / c, ((H - gap * (r - 1)) / r) * 16 / 9);
        if (!fit || fw > fit + 0.5) fit = fw;
      }
      w = fit;
      h = w * 9 / 16;
    } else if (narrow) {
      // Phones: one column; 1-2 tiles share the height, more tiles scroll.
      w = W;
      h = (H - gap * (n - 1)) / n;
      if (n > 2) h = Math.max(h, 160);
    } else {
      var best = null;
      for (var cols = 1; cols <= n; cols++) {
        var rows = Math.ceil(n / cols);
        var cw = (W - gap * (cols - 1)) / cols;
        var ch = (H - gap * (rows - 1)) / rows;
        var tw = Math.min(cw, ch * 16 / 9);
        if (!best || tw > best.tw + 0.5) best = { tw: tw, ch: ch };
      }
      w = best.tw;
      h = Math.min(best.ch, w * 3 / 4);
    }
    box.style.setProperty('--gap', gap + 'px');
    box.style.setProperty('--tile-w', Math.max(80, Math.floor(w)) + 'px');
    box.style.setProperty('--tile-h', Math.max(60, Math.floor(h)) + 'px');
  }

  if (window.ResizeObserver) new ResizeObserver(layoutTiles).observe(el.tiles);
  window.addEventListener('resize', layoutTiles);

  function setPeerTracks(p, tracks) {
    var cur = p.stream.getTracks();
    var changed = false;
    cur.forEach(function (tr) { if (tracks.indexOf(tr) < 0) { p.stream.removeTrack(tr); changed = true; } });
    tracks.forEach(function (tr) { if (cur.indexOf(tr) < 0) { p.stream.addTrack(tr); changed = true; } });
    if (!changed) return;
    p.el.srcObject = p.stream;
    playRemote(p.el);
    var audio = p.stream.getAudioTracks()[0];
    if (audio) Levels.watch('peer:' + p.peerId, audio, speakingCb(p.tile));
    else Levels.unwatch('peer:' + p.peerId);
  }

  function playRemote(v) {
    v.muted = S.audioBlocked || api.incomingMuted;
    v.volume = api.volume;
    var pr = v.play();
    if (!pr || !pr.catch) return;
    pr.catch(function (e) {
      if (e && e.name === 'NotAllowedError') {
        // Autoplay with sound refused: play muted and ask for a click.
        if (!S.audioBlocked) emit('playingAudioPrevent', {});
        S.audioBlocked = true;
        v.muted = true;
        v.play().catch(function () {});
        if (S.state === 'in-call') el.unmute.hidden = false;
      }
    });
  }

  function unblockAudio() {
    S.audioBlocked = false;
    el.unmute.hidden = true;
    resumeAudio();
    S.peers.forEach(function (p) { playRemote(p.el); });
  }

  /* ------------------------------------------------------------------ */
  /* Signalling                                                         */
  /* ------------------------------------------------------------------ */

  function send(msg) {
    var ws = S.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws';
  }

  function dropSocket(ws) {
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(1000); } catch (e) { /* ignore */ }
  }

  function dropPc(pc) {
    if (!pc) return;
    pc.onconnectionstatechange = null;
    try { pc.close(); } catch (e) { /* ignore */ }
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
    lastSentMedia = null;
    dropSocket(ws);
    dropPc(pc);
    clearPeers();
    updateBanner();
  }

  // The RTCPeerConnection of a media session. A new one replaces it after `mediaRestart` (the relay
  // restarted) or when the server starts a fresh session; it keeps these handlers.
  function newPeerConnection() {
    var pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    pc.onconnectionstatechange = function () {
      if (pc !== S.pc) return;
      var st = pc.connectionState;
      if (st === 'connected' && S.mediaLost && S.mediaLost.pc !== pc) {
        S.mediaLost = null;
        updateBanner();
      } else if (st === 'failed') {
        // While the relay is away (relayLost) the old pc is expected to fail: the server sends
        // mediaRestart once it is back. While the socket reconnects, onResumed reports it.
        if (S.reconnect || (S.mediaLost && S.mediaLost.pc === pc)) return;
        S.mediaLost = null;
        updateBanner();
        mediaFailed();
      }
    };
    return pc;
  }

  function mediaFailed() {
    connectionError('media connection failed', 'mediaFailed');
    toast(t('call.mediaFailed'), { type: 'error', duration: 12000, action: { label: t('lost.reconnect'), fn: reconnect } });
  }

  // Close the RTCPeerConnection and go on with a new one: local tracks and tiles stay, the next offer
  // attaches them to the new transceivers.
  function replacePeerConnection() {
    dropPc(S.pc);
    S.pc = newPeerConnection();
    S.sendTr = { audio: null, video: null };
    S.lastTracks = null;
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
    S.pc = newPeerConnection();
    var ws = openSocket(function (sock) { sock.send(JSON.stringify(joinMessage())); });
    if (!ws) {
      joinFailed(t('join.connectFailed'));
      return;
    }
    S.joinTimer = setTimeout(function () {
      if (ws === S.ws && !S.joined) joinFailed(t('join.connectFailed'));
    }, JOIN_TIMEOUT_MS);
  }

  /* --- Reconnecting (meet-control restarted, or the network dropped) --- */

  function startReconnect(code) {
    if (S.reconnect) return;
    clearTimeout(S.joinTimer);
    dropSocket(S.ws);
    S.ws = null;
    S.reconnect = { since: Date.now(), delay: RECONNECT_FIRST_MS, timer: null };
    setState('reconnecting');
    updateBanner();
    // Who waits is the server's to say again once it is back; acting on this list meanwhile would be lost.
    if (R.panels) R.panels.setWaiting([]);
    console.info('meet: connection to the server lost (' + code + '); reconnecting');
    emit('disconnected', { peerId: S.peerId, code: code });
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
    rc.delay = Math.min(rc.delay * 2, RECONNECT_MAX_MS);
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
        var resume = resumeState();
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
    stopLocalMedia();
    setState('closed');
    showScreen('lost');
    el.reconnect.focus();
    if (announce) emit('disconnected', { peerId: S.peerId });
  }

  // "Reconnecting…" while the socket is away (S.reconnect) or the relay is (S.mediaLost).
  function updateBanner() {
    var on = !!(S.reconnect || S.mediaLost) && !el.call.hidden;
    el.reconnecting.hidden = !on;
    document.body.classList.toggle('reconnecting', on);
    if (on) el.reconnectingText.textContent = t(S.reconnect ? 'reconnect.server' : 'reconnect.media');
  }

  function handleMessage(ws, msg) {
    switch (msg.type) {
      case 'joined': onJoined(msg); break;
      case 'offer':
        S.offerQueue = S.offerQueue.then(function () { return handleOffer(ws, msg); });
        break;
      case 'relayLost': onRelayLost(); break;
      case 'mediaRestart': onMediaRestart(); break;
      case 'peerJoined':
        if (msg.peer && S.joined) {
          var isNew = !S.peers.has(String(msg.peer.peerId));
          var p = ensurePeer(msg.peer);
          if (p && isNew) toast(t('call.peerJoined', { name: displayOf(p.displayName) }));
        }
        break;
      case 'peerUpdated':
        if (msg.peer && S.joined) ensurePeer(msg.peer);
        break;
      case 'peerLeft': {
        var gone = removePeer(msg.peerId);
        if (gone) toast(t('call.peerLeft', { name: displayOf(gone.displayName) }));
        if (gone) peerClosed(gone);
        break;
      }
      case 'error': onServerError(msg); break;
      case 'closed': onServerClosed(msg); break;
      default: onRoomMessage(msg); break;
    }
  }

  // The relay went away: media stops until mediaRestart; the pc failing meanwhile is no error.
  function onRelayLost() {
    if (!S.joined || !S.pc) return;
    if (!S.mediaLost) S.mediaLost = { pc: S.pc };
    updateBanner();
  }

  // The relay is back with a new transport: the offer that follows is answered on a new pc.
  function onMediaRestart() {
    if (!S.joined || !S.pc) return;
    if (!S.mediaLost) S.mediaLost = { pc: S.pc };
    updateBanner();
    S.offerQueue = S.offerQueue.then(function () {
      if (!S.pc) return;
      replacePeerConnection();
      console.info('meet: media restart: new RTCPeerConnection');
    });
  }

  function onJoined(msg) {
    clearTimeout(S.joinTimer);
    var resuming = !!S.reconnect;
    stopReconnect();
    if (resuming && msg.resumed === true) {
      onResumed(msg);
      emit('reconnected', { peerId: S.peerId, resumed: true });
      return;
    }
    if (msg.peerId) S.peerId = String(msg.peerId);
    var peers = Array.isArray(msg.peers) ? msg.peers : [];
    // A fresh session where the page had one (the server could not resume it): new pc, and only the
    // tiles of the participants listed now.
    var fresh = !!(S.pc && (S.pc.remoteDescription || S.pc.signalingState !== 'stable'));
    if (fresh) {
      console.info('meet: the server started a fresh session');
      S.mediaLost = null;
      replacePeerConnection();
      var listed = {};
      peers.forEach(function (p) { if (p && p.peerId != null) listed[String(p.peerId)] = true; });
      Array.from(S.peers.keys()).forEach(function (id) {
        if (listed[id]) return;
        var gone = removePeer(id);
        if (gone) peerClosed(gone);
      });
      Array.from(R.viewers.keys()).forEach(function (id) { if (!listed[id]) R.viewers.delete(id); });
    }
    S.joined = true;
    setState('in-call');
    setJoinBusy(false);
    showScreen('call');
    Levels.unwatch('preview');
    el.preview.srcObject = null;

    applyYou(msg.you);
    if (R.speaker && !S.selfTile) {
      S.selfTile = makeTile(S.peerId, true);
      el.tiles.appendChild(S.selfTile);
    } else if (!R.speaker && S.selfTile) {
      Levels.unwatch('self');
      if (S.selfTile.parentNode) S.selfTile.parentNode.removeChild(S.selfTile);
      S.selfTile = null;
    }
    if (S.selfTile) {
      S.selfTile.dataset.peerId = S.peerId;
      setTileInfo(S.selfTile, S.displayName, S.mic.on, S.cam.on, true);
    }
    peers.forEach(function (p) { ensurePeer(p); });
    applyRoom(msg.room);
    onJoinedFeatures(!(resuming || fresh));
    lastSentMedia = S.mic.on + '/' + S.cam.on;
    updateMediaUI();
    updateCount();
    updateBanner();
    requestAnimationFrame(layoutTiles);
    // Still sharing from before the socket was lost: tell the new session.
    if (api.share) applyScreenSender();
    emit('join', selfData());
    if (resuming) emit('reconnected', { peerId: S.peerId, resumed: false });
  }

  // `joined` with `resumed: true`: the session goes on over the same pc, with the same tiles. Peers
  // missing from the list may still be resuming; the server sends peerLeft for those who do not.
  function onResumed(msg) {
    if (msg.peerId) S.peerId = String(msg.peerId);
    console.info('meet: session resumed');
    S.joined = true;
    setState('in-call');
    applyYou(msg.you);
    (Array.isArray(msg.peers) ? msg.peers : []).forEach(function (info) {
      var isNew = !!info && info.peerId != null && !S.peers.has(String(info.peerId));
      var p = ensurePeer(info);
      if (p && isNew) toast(t('call.peerJoined', { name: displayOf(p.displayName) }));
    });
    applyRoom(msg.room);
    R.screenSent = !!api.share;     // `resume` told the server
    lastSentMedia = S.mic.on + '/' + S.cam.on;
    updateMediaUI();
    updateCount();
    updateBanner();
    afterMediaChange();
    if (S.pc && S.pc.connectionState === 'failed' && !S.mediaLost) mediaFailed();
  }

  function handleOffer(ws, msg) {
    var pc = S.pc;
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
          var d = dev(kind);
          var local = d.on && d.track && d.track.readyState === 'live' ? d.track : null;
          jobs.push(tr.sender.replaceTrack(local));
        } else if (tk.direction === 'recv' && tk.active && tk.peerId != null && String(tk.peerId) !== S.peerId) {
          var id = String(tk.peerId);
          if (!byPeer.has(id)) byPeer.set(id, []);
          byPeer.get(id).push(tr.receiver.track);
        }
      });
      // Tracks of participants we have not heard about yet get a tile now; peerJoined fills in the name.
      byPeer.forEach(function (list, id) { if (!S.peers.has(id)) ensurePeer({ peerId: id }); });
      S.peers.forEach(function (p) { setPeerTracks(p, byPeer.get(p.peerId) || []); });
      setScreenTracks(screens);
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
    }).catch(function (e) {
      console.error('meet: offer handling failed', e);
      if (pc !== S.pc) return;   // replaced meanwhile (mediaRestart, fresh session)
      connectionError((e && e.message) || String(e), 'negotiation');
      toast(t('call.error', { message: (e && e.message) || String(e) }), { type: 'error' });
    });
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
    toast(t('call.error', { message: text }), { type: 'error' });
    connectionError(text, msg.code);
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
    stopLocalMedia();
    el.closedMsg.textContent = closedText(msg);
    setState('closed');
    showScreen('closed');
    el.closedRejoin.focus();
    // A server going away (restart, lost media) is `disconnected` in the Client API; the server ending this
    // participant's session (removed, replaced, room closed) is `connectionClosed`.
    if (msg.code === 'server-restart' || msg.code === 'connection-lost') {
      emit('disconnected', { peerId: S.peerId, code: String(msg.code) });
    } else {
      emit('connectionClosed', { code: String(msg.code || 'closed'), message: el.closedMsg.textContent });
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
    setJoinBusy(false);
    setState('welcome');
    showScreen('welcome');
    el.joinErrorText.textContent = text;
    el.joinError.hidden = false;
    emit('connectionFailed', { message: text });
    // Media may have been stopped (rejoin path): bring the preview back.
    S.mediaQueue = S.mediaQueue.then(restoreMedia).catch(function () {}).then(updateMediaUI);
  }

  /* ------------------------------------------------------------------ */
  /* Actions                                                            */
  /* ------------------------------------------------------------------ */

  function setJoinBusy(busy) {
    [el.joinBtn, el.rejoin, el.closedRejoin, el.reconnect].forEach(function (b) {
      b.disabled = busy;
      b.classList.toggle('busy', busy);
    });
    el.joinBtnLabel.textContent = busy ? t('welcome.joining') : t('welcome.join');
  }

  function join() {
    if (S.state === 'joining' || S.state === 'in-call') return;
    if (A.startWithFS) enterFullscreen();
    var typed = clean(el.name.value, NAME_MAX);
    S.displayName = params.displayName || typed || t('call.guest');
    if (!params.displayName) lsSet(LS.name, typed || '');
    el.joinError.hidden = true;
    setState('joining');
    setJoinBusy(true);
    resumeAudio();
    // Wait for pending device changes so the join message carries the real state.
    S.mediaQueue.then(function () {
      if (S.state === 'joining') connect();
    });
  }

  function rejoin() {
    if (S.state === 'joining' || S.state === 'in-call') return;
    setState('joining');
    setJoinBusy(true);
    S.mediaQueue = S.mediaQueue.then(restoreMedia).catch(function () {});
    S.mediaQueue.then(function () {
      if (S.state === 'joining') connect();
    });
  }

  function reconnect() {
    if (S.state === 'in-call') {
      // Media path failed while the socket is fine: start a fresh session.
      S.closing = true;
      send({ type: 'leave' });
      closeConnection();
      setState('left');
    }
    rejoin();
  }

  function leave() {
    if (S.state !== 'in-call' && S.state !== 'joining' && S.state !== 'waiting' && S.state !== 'reconnecting') return;
    S.closing = true;
    send({ type: 'leave' });
    closeConnection();
    stopLocalMedia();
    setJoinBusy(false);
    setState('left');
    showScreen('left');
    el.rejoin.focus();
    emit('connectionClosed', { code: 'left', message: 'left the room' });
  }

  /* ------------------------------------------------------------------ */
  /* Room features (issue 4): roles and rights, webinar viewers, chat,  */
  /* raised hands, pin, sorting, screen tiles, joint viewing, moderator */
  /* ------------------------------------------------------------------ */

  var R = {
    you: null,                 // joined.you / youUpdated: the server's word on this participant
    speaker: speakerGuess,     // may publish (call, webinar speaker, moderator)
    room: { waitingRoom: false, videoUrl: null, viewers: 0 },
    viewers: new Map(),        // peerId -> info of webinar viewers (no tile)
    hand: false,
    panels: null,
    videoHidden: false,
    screenSent: false,         // what the server was last told about sharing
    screenTiles: new Map()     // peerId -> { tile, el, stream }
  };

  function chatEnabled() { return !A.disableChat; }
  function handEnabled() { return R.you ? R.you.handEnabled : !!(tok.handEnabled !== undefined ? tok.handEnabled : A.handEnabled); }

  function bootFeatures() {
    var b = document.body.classList;
    b.toggle('viewer', !R.speaker);
    b.toggle('hide-indicators', !!A.hideIndicators);
    b.toggle('minimize-tiles', !!A.minimizeTiles);
    b.toggle('sort-peers', !!A.sortPeers);
    b.toggle('no-chat', !chatEnabled());
    if (A.controlsDisabled) apiControlsVisible(false);
    el.viewerNote = $('viewer-note');
    el.viewerNote.hidden = R.speaker;
    el.tShare = $('toggle-share');
    el.tHand = $('toggle-hand');
    el.tChat = $('toggle-chat');
    el.chatBadge = $('chat-badge');
    el.waitingBadge = $('waiting-badge');
    el.fs = $('fullscreen');
    el.viewers = $('viewers');
    el.viewerCount = $('viewer-count');
    el.videoPanel = $('video-panel');
    el.videoFrame = $('video-frame');
    el.langSel = $('lang-select');
    el.tChat.hidden = !chatEnabled();
    el.langSel.value = I.lang;
    el.langSel.addEventListener('change', function () { apiSetLocale(el.langSel.value).then(refreshPanels); });
    el.tShare.addEventListener('click', function () {
      (api.share ? apiShare(false) : apiShare(true)).catch(function (e) {
        if (e && e.code !== 'notAllowed') toast(t('share.failed'), { type: 'error' });
      });
    });
    el.tHand.addEventListener('click', function () { setHand(!R.hand); });
    el.tChat.addEventListener('click', function () { R.panels.toggle('chat'); });
    el.participants.addEventListener('click', function () { R.panels.toggle('people'); });
    el.fs.addEventListener('click', function () { document.fullscreenElement ? apiFullscreen(false).catch(function () {}) : enterFullscreen(); });
    document.addEventListener('fullscreenchange', updateFeatureUI);
    $('video-hide').addEventListener('click', function () { R.videoHidden = true; applyRoom(R.room); });
    $('waiting-leave').addEventListener('click', leave);
    R.panels = window.MeetPanels.create({
      t: t, send: send, toast: toast, svgUse: svgUse, setAvatar: setAvatar, displayOf: displayOf,
      chatEnabled: chatEnabled,
      me: function () { return { peerId: S.peerId, moderator: !!(R.you && R.you.moderator) }; },
      people: peopleList,
      onVisibility: function (open, tab, unread, waiting) {
        el.tChat.setAttribute('aria-pressed', open && tab === 'chat' ? 'true' : 'false');
        el.participants.setAttribute('aria-pressed', open && tab === 'people' ? 'true' : 'false');
        el.chatBadge.hidden = !unread;
        el.chatBadge.textContent = unread > 9 ? '9+' : String(unread || '');
        var w = waiting === undefined ? R.panels && R.panels.waitingCount : waiting;
        el.waitingBadge.hidden = !w;
        el.waitingBadge.textContent = String(w || '');
        document.body.classList.toggle('panel-open', open);
        requestAnimationFrame(layoutTiles);
      }
    });
    window.meetApp.moderation = {
      disableTrack: function (peerId, kind) { return moderate('turnOff', { peerId: String(peerId), kind: kind }); },
      disableAll: function (kind) { return moderate(kind === 'audio' ? 'muteAll' : 'camerasOffAll', {}); }
    };
    if (A.nameScreenDisabled) console.info('meet: nameScreenDisabled: waiting for the Client API join');
    updateFeatureUI();
  }

  function moderate(action, extra) {
    var m = { type: 'moderate', action: action };
    Object.keys(extra).forEach(function (k) { m[k] = extra[k]; });
    if (!send(m)) return Promise.reject(apiError('notJoined', 'join the room first'));
    return Promise.resolve(true);
  }

  function peopleList() {
    var list = [];
    if (S.joined) {
      list.push({ peerId: S.peerId, displayName: S.displayName, audio: S.mic.on, video: S.cam.on, screen: !!api.share,
        hand: R.hand, moderator: !!(R.you && R.you.moderator), viewer: !R.speaker, self: true });
    }
    S.peers.forEach(function (p) {
      list.push({ peerId: p.peerId, displayName: p.displayName, audio: p.audio, video: p.video, screen: !!p.screen,
        hand: !!p.hand, moderator: !!p.moderator, viewer: false, allowed: p.allowed });
    });
    R.viewers.forEach(function (v) {
      list.push({ peerId: v.peerId, displayName: v.displayName, hand: !!v.hand, moderator: !!v.moderator, viewer: true });
    });
    return list;
  }

  function refreshPanels() { if (R.panels) R.panels.refresh(); }

  function updateFeatureUI() {
    if (!el.tShare) return;
    var allowed = R.you ? R.you.allowed : { audio: true, video: true, screen: true };
    var canShare = R.speaker && allowed.screen && !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    el.tShare.hidden = !R.speaker;
    el.tShare.disabled = !canShare;
    el.tShare.setAttribute('aria-pressed', api.share ? 'true' : 'false');
    var shareLabel = t(api.share ? 'share.stop' : 'share.start');
    el.tShare.setAttribute('aria-label', shareLabel);
    el.tShare.title = shareLabel;
    el.tMic.hidden = el.tCam.hidden = !R.speaker;
    el.tMic.disabled = !allowed.audio;
    el.tCam.disabled = !allowed.video;
    el.tHand.hidden = !handEnabled();
    el.tHand.setAttribute('aria-pressed', R.hand ? 'true' : 'false');
    var handLabel = t(R.hand ? 'hand.lower' : 'hand.raise');
    el.tHand.setAttribute('aria-label', handLabel);
    el.tHand.title = handLabel;
    el.tChat.setAttribute('aria-label', t('panel.chat'));
    el.tChat.title = t('panel.chat');
    var fsOn = !!document.fullscreenElement;
    el.fs.setAttribute('aria-pressed', fsOn ? 'false' : 'true');
    var fsLabel = t(fsOn ? 'fs.exit' : 'fs.enter');
    el.fs.setAttribute('aria-label', fsLabel);
    el.fs.title = fsLabel;
    el.fs.hidden = !document.fullscreenEnabled;
    document.body.classList.toggle('viewer', !R.speaker);
    document.body.classList.toggle('moderator', !!(R.you && R.you.moderator));
    el.viewers.hidden = mode !== 'webinar';
    el.viewerCount.textContent = String(R.room.viewers || 0);
    el.viewers.title = t('call.viewers', { n: R.room.viewers || 0 });
    el.viewers.setAttribute('aria-label', el.viewers.title);
  }

  function enterFullscreen() {
    apiFullscreen(true).catch(function (e) { console.warn('meet: full screen refused', e && e.message); });
  }

  function applyYou(you) {
    if (!you || typeof you !== 'object') return;
    R.you = you;
    var wasSpeaker = R.speaker;
    R.speaker = !!you.speaker;
    if (you.nameLocked && you.displayName) S.displayName = String(you.displayName);
    if (!R.speaker) {
      if (S.mic.on) setMedia('audio', false);
      if (S.cam.on) setMedia('video', false);
      if (api.share) apiShare(false);
    } else if (!wasSpeaker && S.joined) {
      toast(t('webinar.nowSpeaker'));
    }
    ['audio', 'video'].forEach(function (k) { if (!you.allowed[k] && dev(k).on) setMedia(k, false); });
    if (!you.allowed.screen && api.share) apiShare(false);
    updateFeatureUI();
    refreshPanels();
  }

  function applyRoom(room) {
    if (!room || typeof room !== 'object') return;
    var before = R.room.videoUrl;
    R.room = { waitingRoom: !!room.waitingRoom, videoUrl: room.videoUrl || null, viewers: Number(room.viewers) || 0 };
    if (R.room.videoUrl !== before) R.videoHidden = false;
    var url = R.room.videoUrl;
    var show = !!url && !R.videoHidden && S.joined;
    el.videoPanel.hidden = !show;
    if (show && el.videoFrame.getAttribute('src') !== url) el.videoFrame.setAttribute('src', url);
    if (!url && el.videoFrame.getAttribute('src')) el.videoFrame.removeAttribute('src');
    if (R.panels) R.panels.setWaitingRoom(R.room.waitingRoom);
    updateFeatureUI();
    requestAnimationFrame(layoutTiles);
  }

  // resetPanels: false when a lost session restarts fresh: the chat read so far stays.
  function onJoinedFeatures(resetPanels) {
    R.hand = false;
    R.screenSent = false;
    if (resetPanels) R.panels.reset();
    updateFeatureUI();
    if (A.startWithFS && !document.fullscreenElement) enterFullscreen();
  }

  function onRoomMessage(msg) {
    switch (msg.type) {
      case 'chat': if (S.joined) R.panels.addChat(msg); break;
      case 'roomUpdated': applyRoom(msg.room); break;
      case 'youUpdated': applyYou(msg.you); break;
      case 'moderation': onModeration(msg); break;
      case 'waitingList': R.panels.setWaiting(msg.peers); break;
      case 'waiting':
        clearTimeout(S.joinTimer);
        stopReconnect();  // a reconnection that lands in the waiting room is a fresh session
        setJoinBusy(false);
        setState('waiting');
        showScreen('waiting');
        break;
      default: break;
    }
  }

  function kindName(kind) { return t('kind.' + (kind === 'audio' || kind === 'video' || kind === 'screen' ? kind : 'audio')); }

  function onModeration(msg) {
    var kind = msg.kind;
    switch (msg.action) {
      case 'turnOff':
        if (kind === 'screen') { if (api.share) apiShare(false); } else if (kind === 'audio' || kind === 'video') setMedia(kind, false);
        toast(t('mod.youTurnedOff', { what: kindName(kind) }), { type: 'warn', duration: 8000 });
        break;
      case 'ask': {
        var turnOn = function () {
          if (kind === 'screen') apiShare(true).catch(function () {}); else setMedia(kind, true);
        };
        toast(t('mod.youAsked', { what: kindName(kind) }), { duration: 15000, action: { label: t('mod.turnOn'), fn: turnOn } });
        break;
      }
      case 'disallow':
        toast(t('mod.youDisallowed', { what: kindName(kind) }), { type: 'warn', duration: 8000 });
        break;
      case 'allow':
        toast(t('mod.youAllowed', { what: kindName(kind) }));
        break;
      case 'lowerHand':
        R.hand = false;
        updateFeatureUI();
        refreshPanels();
        toast(t('mod.handLowered'));
        break;
      default: break;
    }
  }

  function setHand(raised) {
    if (!S.joined || !handEnabled()) return;
    R.hand = !!raised;
    send({ type: 'hand', raised: R.hand });
    updateFeatureUI();
    refreshPanels();
  }

  // Tile details that depend on the peer: raised hand, pin, order (sortPeers: cameras on first).
  function decorateTile(tile) {
    var id = tile.dataset.peerId;
    var self = tile.classList.contains('self');
    var p = self ? null : S.peers.get(id);
    var hand = self ? R.hand : !!(p && p.hand);
    var camOn = self ? !!(S.cam.on && S.cam.track) : !!(p && p.video);
    tile.classList.toggle('hand-up', hand);
    var order = 0;
    if (A.sortPeers) order = camOn ? 1 : 2;
    if (tile.classList.contains('screen-tile')) order = 0;
    tile.style.order = String(order);
  }

  function togglePin(id) {
    if (!id) return;
    if (api.pinned === id) apiUnpin(); else apiPin(id).catch(function () {});
  }

  // The screen section: the shared screen's track goes there; the server is told when sharing starts
  // or stops so it forwards (or stops forwarding) that stream.
  function applyScreenSender() {
    var tr = S.sendTr.screen;
    var track = api.share ? api.share.track : null;
    if (tr && S.pc && S.pc.signalingState !== 'closed' && tr.sender.track !== track) {
      tr.sender.replaceTrack(track).catch(function (e) { console.warn('meet: screen replaceTrack failed', e); });
    }
    if (S.joined && R.screenSent !== !!track) {
      R.screenSent = !!track;
      send({ type: 'share', on: !!track });
    }
    updateFeatureUI();
  }

  function setScreenTracks(screens) {
    R.screenTiles.forEach(function (st, id) { if (!screens.has(id)) removeScreenTile(id); });
    screens.forEach(function (track, id) {
      var st = R.screenTiles.get(id);
      if (!st) {
        var tile = makeTile(id + ':screen', false);
        tile.classList.add('screen-tile');
        var p = S.peers.get(id);
        var name = p ? displayOf(p.displayName) : t('call.guest');
        st = { tile: tile, el: tile.querySelector('video'), stream: new MediaStream() };
        st.el.muted = true;
        st.el.srcObject = st.stream;
        tile.querySelector('.tile-name').textContent = t('share.of', { name: name });
        el.tiles.insertBefore(tile, el.tiles.firstChild);
        R.screenTiles.set(id, st);
        if (!api.pinned) setPin(id + ':screen');
        updateCount();
      }
      if (st.stream.getVideoTracks()[0] !== track) {
        st.stream.getTracks().forEach(function (x) { st.stream.removeTrack(x); });
        st.stream.addTrack(track);
        st.el.play().catch(function () {});
      }
    });
  }

  function removeScreenTile(id) {
    var st = R.screenTiles.get(id);
    if (!st) return;
    R.screenTiles.delete(id);
    if (api.pinned === id + ':screen') setPin(null);
    st.el.srcObject = null;
    if (st.tile.parentNode) st.tile.parentNode.removeChild(st.tile);
    updateCount();
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

  /* ------------------------------------------------------------------ */
  /* Embedding API: window.meetApp (bridge.js drives it; docs/client-api.md) */
  /* ------------------------------------------------------------------ */

  var api = {
    handlers: {},
    readyToJoin: false,
    last: null,              // { audio, video, share } as last announced by switchOn/Off events
    volume: 1,               // remote playback volume, 0..1
    incomingMuted: false,
    maxBitrate: 0,           // bits/s for the camera sender, 0 = no limit
    share: null,             // { track } while this participant shares the screen
    pinned: null,            // peerId shown alone on the stage
    mediaError: { audio: null, video: null }
  };

  (function apiStyle() {
    var st = document.createElement('style');
    st.textContent = '.tiles.has-pin > .tile:not(.pinned) { display: none !important; }\n' +
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
    if (api.pinned === p.peerId) setPin(null);
    if (p.announced) emit('peerClosed', peerData(p));
  }

  function mediaFailure(kind, e) {
    api.mediaError[kind] = e || null;
    emit(kind === 'audio' ? 'errorGetMic' : 'errorGetCamera',
      selfData({ error: (e && e.name) || 'Error', message: (e && e.message) || '' }));
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
      closeConnection();
      setState('closed');
      showScreen('lost');
    }
    c = c || {};
    ['audio', 'video'].forEach(function (kind) {
      var w = c[kind];
      if (w === undefined) return;
      if (!w) { setMedia(kind, false); return; }
      if (typeof w !== 'object') { setMedia(kind, true); return; }
      S.mediaQueue = S.mediaQueue.then(function () { return findDevice(kind, w); }).then(function (info) {
        if (info) dev(kind).deviceId = info.deviceId;
        return doSetMedia(kind, true, !!info);
      }).catch(function (e) { console.error('meet: join device', e); });
    });
    return new Promise(function (resolve, reject) {
      var offs = [];
      function done() { offs.forEach(function (off) { off(); }); }
      offs.push(onApp('join', function (d) { done(); resolve(d); }));
      offs.push(onApp('connectionFailed', function (d) { done(); reject(apiError('connectionFailed', (d && d.message) || 'cannot connect')); }));
      offs.push(onApp('connectionClosed', function (d) { done(); reject(apiError('connectionClosed', (d && d.message) || 'closed')); }));
      S.mediaQueue.then(function () {
        if (S.state === 'left' || S.state === 'closed') rejoin(); else join();
      });
    });
  }

  // --- devices ----------------------------------------------------------

  function apiSetDevice(kind, on) {
    api.mediaError[kind] = null;
    return setMedia(kind, on).then(function () {
      var now = localState()[kind];
      if (on && !now) {
        var e = api.mediaError[kind];
        throw apiError(e && e.name === 'NotAllowedError' ? 'notAllowed' : 'deviceError',
          (kind === 'audio' ? 'cannot start the microphone' : 'cannot start the camera') + (e && e.name ? ' (' + e.name + ')' : ''));
      }
      return now;
    });
  }

  function apiChangeDevice(kind, spec) {
    var d = dev(kind);
    var job = S.mediaQueue.then(function () {
      return findDevice(kind, spec).then(function (info) {
        if (!info) throw Object.assign(new Error('no ' + (kind === 'audio' ? 'microphone' : 'camera') + ' matches ' + JSON.stringify(spec)), { name: 'NotFoundError' });
        if (!(d.on && isLive(d.track))) {
          // Off: remember the choice for the next time it is turned on.
          d.deviceId = info.deviceId;
          lsSet(kind === 'audio' ? LS.mic : LS.cam, info.deviceId);
          return { kind: kind, deviceId: info.deviceId, label: info.label, applied: false };
        }
        var req = {};
        req[kind] = constraints(kind, info.deviceId);
        return gum(req).then(function (stream) {
          var tr = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
          stream.getTracks().forEach(function (x) { if (x !== tr) x.stop(); });
          if (!tr) throw Object.assign(new Error('no track'), { name: 'NotFoundError' });
          d.deviceId = info.deviceId;
          lsSet(kind === 'audio' ? LS.mic : LS.cam, info.deviceId);
          adoptTrack(kind, tr);
          return applySender(kind).then(function () {
            afterMediaChange();
            refreshDevices();
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
      return applySender('video').then(function () { afterMediaChange(); return false; });
    }
    if (api.share) return Promise.resolve(true);
    if (!S.joined) return Promise.reject(apiError('notJoined', 'join the room first'));
    var md = navigator.mediaDevices;
    var fail = function (e) {
      emit('errorGetShare', selfData({ error: (e && e.name) || 'Error', message: (e && e.message) || '' }));
      return apiError(e && e.name === 'NotAllowedError' ? 'notAllowed' : 'deviceError', 'screen sharing failed: ' + ((e && e.message) || (e && e.name) || e));
    };
    if (!md || !md.getDisplayMedia) return Promise.reject(fail({ name: 'NotSupportedError', message: 'this browser cannot share the screen' }));
    return md.getDisplayMedia({ video: true, audio: false }).then(function (stream) {
      var track = stream.getVideoTracks()[0];
      stream.getTracks().forEach(function (x) { if (x !== track) x.stop(); });
      if (!S.joined) { track.stop(); throw apiError('notJoined', 'left the room while sharing started'); }
      api.share = { track: track };
      // The browser's own "Stop sharing" button.
      track.addEventListener('ended', function () { if (api.share && api.share.track === track) apiShare(false); });
      return applySender('video').then(function () { afterMediaChange(); return true; });
    }, function (e) { throw fail(e); });
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
    resumeAudio();
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

  // --- bitrate ------------------------------------------------------------

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

  function apiSetBitrate(bps) {
    api.maxBitrate = Math.round(bps);
    return applyBitrate().then(function (applied) { return { maxBitrate: api.maxBitrate, applied: applied }; },
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
    requestAnimationFrame(layoutTiles);
    return Promise.resolve(visible);
  }

  function apiHideIndicators(hide) {
    document.body.classList.toggle('hide-indicators', !!hide);
    return Promise.resolve(hide);
  }

  function tileOf(id) {
    if (id === S.peerId) return S.selfTile;
    var p = S.peers.get(id);
    return p ? p.tile : null;
  }

  function setPin(id) {
    var was = api.pinned;
    api.pinned = id;
    el.tiles.classList.toggle('has-pin', !!id);
    Array.prototype.forEach.call(el.tiles.children, function (tile) {
      tile.classList.toggle('pinned', !!id && tile.dataset.peerId === id);
    });
    layoutTiles();
    if (was && !id) emit('switchOffPin', {});
  }

  function apiPin(peerId) {
    var id = String(peerId);
    if (!tileOf(id)) {
      emit('errorGetPin', { peerId: id, error: 'no such participant' });
      return Promise.reject(apiError('unknownPeer', 'no participant "' + id.slice(0, 100) + '" to pin'));
    }
    setPin(id);
    emit('switchOnPin', { peerId: id });
    return Promise.resolve(id);
  }

  function apiUnpin() {
    var was = api.pinned;
    setPin(null);
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
    if (S.selfTile) setTileInfo(S.selfTile, S.displayName, S.mic.on, S.cam.on, true);
    S.peers.forEach(function (p) { setTileInfo(p.tile, p.displayName, p.audio, p.video, false); });
    setJoinBusy(S.state === 'joining');
    updateMediaUI();
    updateCount();
    updateBanner();
    return Promise.resolve(I.lang);
  }

  function apiSetName(name) {
    var n = clean(name, NAME_MAX);
    if (!n) return Promise.reject(apiError('badData', 'the name is empty'));
    params.displayName = n;
    el.name.value = n;
    S.displayName = n;
    setAvatar(el.previewAvatar, n, 'me');
    if (S.joined) {
      if (S.selfTile) setTileInfo(S.selfTile, n, S.mic.on, S.cam.on, true);
      send({ type: 'setName', displayName: n });
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
    enablePin: apiPin,
    disablePin: apiUnpin,
    setLocale: apiSetLocale,
    disableTrack: function (peerId, kind) { return apiModeration('disableTrack', [peerId, kind]); },
    disableAll: function (kind) { return apiModeration('disableAll', [kind]); },
    setHideIndicators: apiHideIndicators
  };

  /* ------------------------------------------------------------------ */
  /* Boot                                                               */
  /* ------------------------------------------------------------------ */

  function boot() {
    // Mode-specific labels before translation.
    var modeKey = mode === 'webinar' ? 'mode.webinar' : 'mode.call';
    document.querySelectorAll('.mode-label').forEach(function (n) { n.dataset.i18n = modeKey; });
    el.welcomeHeading.dataset.i18n = mode === 'webinar' ? 'welcome.headingWebinar' : 'welcome.heading';
    I.apply(document);
    document.body.classList.add('mode-' + mode);

    if (!S.roomId) {
      if (params.roomInvalid) {
        $('room-error-title').textContent = t('room.invalidTitle');
        $('room-error-text').textContent = t('room.invalidText');
      }
      document.title = t('mode.' + mode) + ' — meet';
      setState('welcome');
      showScreen('roomError');
      return;
    }

    document.title = S.roomId + ' — ' + t('mode.' + mode) + ' — meet';
    el.welcomeRoom.textContent = S.roomId;
    el.callRoom.textContent = S.roomId;
    el.callRoom.title = S.roomId;

    bootFeatures();

    if (params.displayName) {
      el.name.value = params.displayName;
      el.name.readOnly = true;
      el.name.setAttribute('aria-describedby', 'name-locked');
      el.nameLocked.hidden = false;
    } else {
      el.name.value = clean(lsGet(LS.name), NAME_MAX) || '';
    }

    setState('welcome');
    showScreen(A.nameScreenDisabled ? 'standby' : 'welcome');
    setJoinBusy(false);
    fillSelect(el.camSel, [], 'welcome.cameraN', 'welcome.noCamera', S.cam);
    fillSelect(el.micSel, [], 'welcome.micN', 'welcome.noMic', S.mic);
    updateMediaUI();

    el.joinForm.addEventListener('submit', function (e) { e.preventDefault(); join(); });
    el.name.addEventListener('input', function () { setAvatar(el.previewAvatar, el.name.value, 'me'); });
    el.pMic.addEventListener('click', function () { setMedia('audio', !S.mic.on); });
    el.pCam.addEventListener('click', function () { setMedia('video', !S.cam.on); });
    el.tMic.addEventListener('click', function () { setMedia('audio', !S.mic.on); });
    el.tCam.addEventListener('click', function () { setMedia('video', !S.cam.on); });
    el.camSel.addEventListener('change', function () { onDeviceChosen('video', el.camSel); });
    el.micSel.addEventListener('change', function () { onDeviceChosen('audio', el.micSel); });
    el.leave.addEventListener('click', leave);
    el.rejoin.addEventListener('click', rejoin);
    el.closedRejoin.addEventListener('click', rejoin);
    el.reconnect.addEventListener('click', rejoin);
    el.copyLink.addEventListener('click', copyInvite);
    el.aloneCopy.addEventListener('click', copyInvite);
    el.unmute.addEventListener('click', unblockAudio);
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener('devicechange', function () { refreshDevices(); });
    }
    window.addEventListener('pagehide', function () {
      if (S.ws && S.ws.readyState === WebSocket.OPEN) {
        S.closing = true;
        send({ type: 'leave' });
        try { S.ws.close(1000); } catch (e) { /* ignore */ }
      }
    });

    S.mediaQueue = S.mediaQueue.then(initMedia).catch(function (e) {
      console.error('meet: media init failed', e);
      S.mediaReady = true;
      updateMediaUI();
    }).then(markReadyToJoin);
  }

  boot();
})();
