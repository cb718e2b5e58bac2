/* meet — call page (/call/ and /webinar/): the orchestrator. Holds the shared state (S: session and
 * media, R: room features, api: the embedding API's), the page's elements, the join/leave actions, the
 * room features (roles, rights, hand, moderation, joint video) and boot; builds the modules below with
 * one shared ctx (see "Modules").
 *
 *   ui.js          icons, toasts, avatars, clipboard
 *   media.js       camera and microphone, preview, device pickers, audio levels
 *   tiles.js       tiles and their layout, remote playback, screen tiles, pin
 *   rtc.js         the RTCPeerConnection: offers and answers, transceivers, resume state
 *   signalling.js  the socket: join, messages, reconnection and its banner, how a session ends
 *   client-api.js  window.meetApp (bridge.js drives it; docs/client-api.md) and its events
 *   panels.js      the side panel (chat, people, moderator tools), built with its own ctx
 *   settings.js    in-call settings: camera, microphone, speaker, self view
 *   quality.js     the connection-quality mark on each tile (getStats)
 *
 * Signalling: docs/signalling.md. The server is always the SDP offerer; this
 * client only answers. One RTCPeerConnection per session, offers handled one
 * at a time through a promise queue.
 *
 * Restarts (docs/signalling.md): when the socket drops or the server says
 * `closed server-restart`, the page keeps its media, tiles and
 * RTCPeerConnection, reconnects with backoff and sends `join` + `resume`;
 * `mediaRestart` (the relay restarted) swaps in a new RTCPeerConnection;
 * `relayBack` (only the link to the relay dropped) keeps it.
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

  var NAME_MAX = 64;
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
    mediaLost: null,       // { pc } from `relayLost` / `mediaRestart` until a new pc connects
    lastSentMedia: null,   // 'audio/video' of the last `mediaState` sent, so a repeat is not sent
    sinkId: '',            // the speaker chosen in the settings ('' = the browser's default)
    asks: new Map(),       // id -> resolve of a `mediaState` / `share` waiting for its `mediaResult`
    lastAskId: 0,
    answered: null,        // resolves once the session's first offer is answered (signalling.js)
    onAnswered: null,
    activeSpeaker: null,   // peerId the relay last named as the speaker (tiles.js)
    quietRejoins: new Map(), // peerId -> when this page dropped them at a fresh session (signalling.js)
    iceServers: [],        // TURN servers with short-lived credentials (`iceServers`, rtc.js)
    iceRestart: null,      // { since, timer, offers, askedAt } while ICE is being restarted (rtc.js)
    pathWatch: null,       // { pc, got, sent, gotAt, sentAt, stalled }: bytes on the media path (rtc.js)
    iceRestarts: 0,        // ICE restarts asked for
    offersSeen: 0,         // offers received, so an ICE restart can tell whether its offer came
    lastIceOutageMs: null  // how long ICE was down before the last restart brought it back
  };

  // Room features (issue 4): roles and rights, webinar viewers, chat, raised hands, screen tiles,
  // joint viewing, moderator.
  var R = {
    you: null,                 // joined.you / youUpdated: the server's word on this participant
    speaker: speakerGuess,     // may publish (call, webinar speaker, moderator)
    room: { waitingRoom: false, videoUrl: null, viewers: 0 },
    viewers: new Map(),        // peerId -> info of webinar viewers (no tile)
    hand: false,
    panels: null,
    videoHidden: false,
    screenSent: false,         // what the server was last told about sharing
    screenTiles: new Map(),    // peerId -> { tile, el, stream }
    page: 0,                   // the grid's page in a large room (tiles.js paginate)
    speakerView: lsGet('meet.view') === 'speaker',  // the person's choice: speaker view, else the grid
    stageMain: null,           // the speaker stage's large tile (tiles.js)
    recording: false           // the room is being recorded (server's `recording` message)
  };

  // The embedding API's state (client-api.js), read by the modules it touches.
  var api = {
    handlers: {},
    readyToJoin: false,
    last: null,              // { audio, video, share } as last announced by switchOn/Off events
    volume: 1,               // remote playback volume, 0..1
    incomingMuted: false,
    maxBitrate: 0,           // bits/s for the camera sender, 0 = no limit
    share: null,             // { track } while this participant shares the screen
    pinned: null,            // peerId shown alone on the stage
    mediaError: { audio: null, video: null },
    refused: { audio: null, video: null, screen: null },  // the room's last refusal of each source
    lastRefusal: null                                      // { text, at } of its last toast
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
    get activeSpeaker() { return S.activeSpeaker; },
    get iceRestarts() { return S.iceRestarts; },
    get lastIceOutageMs() { return S.lastIceOutageMs; },
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
    copyLink: $('copy-link'), aloneHint: $('alone-hint'), aloneCopy: $('alone-copy'), aloneText: $('alone-text'),
    notStarted: $('not-started'), pager: $('pager'), pagerText: $('pager-text'), pagerPrev: $('pager-prev'), pagerNext: $('pager-next'),
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
  /* Modules                                                            */
  /* ------------------------------------------------------------------ */

  // One ctx for all modules: the state above, this file's functions they call, and every module's own
  // functions, added as each is created. Modules call each other through ctx when they run (the calls
  // go both ways), so creating them only registers listeners and window.meetApp.
  var ctx = {
    I: I, t: t, A: A, params: params, mode: mode, LS: LS, NAME_MAX: NAME_MAX, S: S, R: R, api: api, el: el,
    clean: clean, lsSet: lsSet, dev: dev, setState: setState, showScreen: showScreen,
    setJoinBusy: setJoinBusy, join: join, rejoin: rejoin, reconnect: reconnect,
    applyYou: applyYou, applyRoom: applyRoom, onJoinedFeatures: onJoinedFeatures, onRoomMessage: onRoomMessage,
    updateFeatureUI: updateFeatureUI, refreshPanels: refreshPanels
  };
  [window.MeetUI, window.MeetMedia, window.MeetTiles, window.MeetRtc, window.MeetSignalling, window.MeetClientApi,
    window.MeetSettings, window.MeetQuality]
    .forEach(function (m) { Object.assign(ctx, m.create(ctx)); });

  function roomLink() {
    var path = mode === 'webinar' ? '/webinar/' : '/call/';
    return location.origin + path + '?roomId=' + encodeURIComponent(S.roomId || '');
  }

  function copyInvite() {
    ctx.copyText(roomLink()).then(function () { ctx.toast(t('call.linkCopied')); },
      function () { ctx.toast(roomLink(), { duration: 10000 }); });
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
    ctx.resumeAudio();
    // Wait for pending device changes so the join message carries the real state.
    S.mediaQueue.then(function () {
      if (S.state === 'joining') ctx.connect();
    });
  }

  function rejoin() {
    if (S.state === 'joining' || S.state === 'in-call') return;
    setState('joining');
    setJoinBusy(true);
    S.mediaQueue = S.mediaQueue.then(ctx.restoreMedia).catch(function () {});
    S.mediaQueue.then(function () {
      if (S.state === 'joining') ctx.connect();
    });
  }

  function reconnect() {
    if (S.state === 'in-call') {
      // Media path failed while the socket is fine: start a fresh session.
      S.closing = true;
      ctx.send({ type: 'leave' });
      ctx.closeConnection();
      setState('left');
    }
    rejoin();
  }

  function leave() {
    if (S.state !== 'in-call' && S.state !== 'joining' && S.state !== 'waiting' && S.state !== 'reconnecting') return;
    S.closing = true;
    ctx.send({ type: 'leave' });
    ctx.closeConnection();
    ctx.stopLocalMedia();
    setJoinBusy(false);
    setState('left');
    showScreen('left');
    el.rejoin.focus();
    ctx.emit('connectionClosed', { code: 'left', message: 'left the room' });
  }

  /* ------------------------------------------------------------------ */
  /* Room features: roles and rights, webinar viewers, chat, hands,     */
  /* moderator (tiles.js: pin, sorting, screen tiles)                   */
  /* ------------------------------------------------------------------ */

  function chatEnabled() { return !A.disableChat; }
  function handEnabled() { return R.you ? R.you.handEnabled : !!(tok.handEnabled !== undefined ? tok.handEnabled : A.handEnabled); }

  function bootFeatures() {
    var b = document.body.classList;
    b.toggle('viewer', !R.speaker);
    b.toggle('hide-indicators', !!A.hideIndicators);
    b.toggle('minimize-tiles', !!A.minimizeTiles);
    b.toggle('sort-peers', !!A.sortPeers);
    b.toggle('no-chat', !chatEnabled());
    if (A.controlsDisabled) ctx.apiControlsVisible(false);
    el.viewerNote = $('viewer-note');
    el.viewerNote.hidden = R.speaker;
    el.tShare = $('toggle-share');
    el.tHand = $('toggle-hand');
    el.tChat = $('toggle-chat');
    el.chatBadge = $('chat-badge');
    el.waitingBadge = $('waiting-badge');
    el.fs = $('fullscreen');
    el.speakerView = $('speaker-view');
    el.presenting = $('presenting');
    el.presentingPreview = $('presenting-preview');
    $('stop-presenting').addEventListener('click', function () { ctx.apiShare(false); });
    el.speakerView.addEventListener('click', function () {
      R.speakerView = !R.speakerView;
      lsSet('meet.view', R.speakerView ? 'speaker' : 'grid');
      updateFeatureUI();
      ctx.layoutTiles();
    });
    el.viewers = $('viewers');
    el.viewerCount = $('viewer-count');
    el.recIndicator = $('rec-indicator');
    el.videoPanel = $('video-panel');
    el.videoFrame = $('video-frame');
    el.langSel = $('lang-select');
    el.tChat.hidden = !chatEnabled();
    el.langSel.value = I.lang;
    el.langSel.addEventListener('change', function () { ctx.apiSetLocale(el.langSel.value).then(refreshPanels); });
    el.tShare.addEventListener('click', function () {
      (api.share ? ctx.apiShare(false) : ctx.apiShare(true)).catch(function (e) {
        if (e && e.code !== 'notAllowed') ctx.toast(t('share.failed'), { type: 'error' });
      });
    });
    el.tHand.addEventListener('click', function () { setHand(!R.hand); });
    el.tChat.addEventListener('click', function () { R.panels.toggle('chat'); });
    el.participants.addEventListener('click', function () { R.panels.toggle('people'); });
    el.fs.addEventListener('click', function () { document.fullscreenElement ? ctx.apiFullscreen(false).catch(function () {}) : enterFullscreen(); });
    document.addEventListener('fullscreenchange', updateFeatureUI);
    $('video-hide').addEventListener('click', function () { R.videoHidden = true; applyRoom(R.room); });
    $('waiting-leave').addEventListener('click', leave);
    R.panels = window.MeetPanels.create({
      t: t, send: ctx.send, toast: ctx.toast, svgUse: ctx.svgUse, setAvatar: ctx.setAvatar, displayOf: ctx.displayOf,
      shorten: ctx.shorten, confirm: ctx.confirmDialog,
      chatEnabled: chatEnabled,
      me: function () { return { peerId: S.peerId, moderator: !!(R.you && R.you.moderator) }; },
      people: peopleList,
      onVisibility: function (open, tab, unread, waiting) {
        el.tChat.setAttribute('aria-pressed', open && tab === 'chat' ? 'true' : 'false');
        el.participants.setAttribute('aria-pressed', open && tab === 'people' ? 'true' : 'false');
        el.chatBadge.hidden = !unread;
        el.chatBadge.textContent = unread > 9 ? '9+' : String(unread || '');
        setChatLabel();
        var w = waiting === undefined ? R.panels && R.panels.waitingCount : waiting;
        el.waitingBadge.hidden = !w;
        el.waitingBadge.textContent = String(w || '');
        document.body.classList.toggle('panel-open', open);
        requestAnimationFrame(ctx.layoutTiles);
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
    if (!ctx.send(m)) return Promise.reject(ctx.apiError('notJoined', 'join the room first'));
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
    showPresenting();
    el.tMic.hidden = el.tCam.hidden = !R.speaker;
    el.tMic.disabled = !allowed.audio;
    el.tCam.disabled = !allowed.video;
    el.tHand.hidden = !handEnabled();
    el.tHand.setAttribute('aria-pressed', R.hand ? 'true' : 'false');
    var handLabel = t(R.hand ? 'hand.lower' : 'hand.raise');
    el.tHand.setAttribute('aria-label', handLabel);
    el.tHand.title = handLabel;
    setChatLabel();
    el.speakerView.setAttribute('aria-pressed', R.speakerView ? 'true' : 'false');
    var fsOn = !!document.fullscreenElement;
    el.fs.setAttribute('aria-pressed', fsOn ? 'true' : 'false');
    var fsLabel = t(fsOn ? 'fs.exit' : 'fs.enter');
    el.fs.setAttribute('aria-label', fsLabel);
    el.fs.title = fsLabel;
    el.fs.hidden = !document.fullscreenEnabled;
    document.body.classList.toggle('viewer', !R.speaker);
    document.body.classList.toggle('moderator', !!(R.you && R.you.moderator));
    el.viewers.hidden = mode !== 'webinar';
    el.recIndicator.hidden = !(R.recording && S.joined);
    if (R.panels) R.panels.setRecording(R.recording, !!(R.you && R.you.moderator && R.you.canRecord));
    el.viewerCount.textContent = String(R.room.viewers || 0);
    el.viewers.title = t('call.viewers', { n: R.room.viewers || 0 });
    el.viewers.setAttribute('aria-label', el.viewers.title);
  }

  // The unread count shown on the chat button is part of its name ("Chat, 3"), as the visible text must be.
  function setChatLabel() {
    var n = el.chatBadge.hidden ? '' : el.chatBadge.textContent;
    var label = t('panel.chat') + (n ? ', ' + n : '');
    el.tChat.setAttribute('aria-label', label);
    el.tChat.title = label;
  }

  // Keyboard shortcuts (docs/call-page.md): Ctrl+D (⌘+D) microphone, Ctrl+E (⌘+E) camera, on the
  // welcome screen and in the call, as in other meeting apps; the buttons announce them (aria-keyshortcuts).
  function onShortcut(e) {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || e.repeat) return;
    if (S.state !== 'welcome' && S.state !== 'in-call') return;
    var kind = { d: 'audio', e: 'video' }[String(e.key).toLowerCase()];
    if (!kind) return;
    e.preventDefault();
    var btn = kind === 'audio' ? el.tMic : el.tCam;
    if (!R.speaker || btn.disabled) return;
    ctx.setMedia(kind, !dev(kind).on);
  }

  // "You are presenting": a bar with a small preview of what is shared and Stop presenting.
  function showPresenting() {
    var track = api.share ? api.share.track : null;
    el.presenting.hidden = !track;
    var shown = el.presentingPreview.srcObject && el.presentingPreview.srcObject.getVideoTracks()[0];
    if (track && shown !== track) el.presentingPreview.srcObject = new MediaStream([track]);
    if (!track && shown) el.presentingPreview.srcObject = null;
  }

  function enterFullscreen() {
    ctx.apiFullscreen(true).catch(function (e) { console.warn('meet: full screen refused', e && e.message); });
  }

  function applyYou(you) {
    if (!you || typeof you !== 'object') return;
    R.you = you;
    var wasSpeaker = R.speaker;
    R.speaker = !!you.speaker;
    if (you.nameLocked && you.displayName) S.displayName = String(you.displayName);
    if (!R.speaker) {
      if (S.mic.on) ctx.setMedia('audio', false);
      if (S.cam.on) ctx.setMedia('video', false);
      if (api.share) ctx.apiShare(false);
    } else if (!wasSpeaker && S.joined) {
      ctx.toast(t('webinar.nowSpeaker'));
    }
    ['audio', 'video'].forEach(function (k) { if (!you.allowed[k] && dev(k).on) ctx.setMedia(k, false); });
    if (!you.allowed.screen && api.share) ctx.apiShare(false);
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
    ctx.updateCount();
    requestAnimationFrame(ctx.layoutTiles);
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
      case 'bandwidthPaused': ctx.setBandwidthPaused(msg.peerId, msg.source, msg.paused); break;
      case 'roomUpdated': applyRoom(msg.room); break;
      case 'activeSpeaker': if (S.joined) ctx.setActiveSpeaker(msg.peerId); break;
      case 'recording': setRecording(!!msg.on); break;
      case 'youUpdated': applyYou(msg.you); break;
      case 'moderation': onModeration(msg); break;
      case 'waitingList': R.panels.setWaiting(msg.peers); break;
      case 'waiting': {
        clearTimeout(S.joinTimer);
        var reconnecting = !!S.reconnect;
        ctx.stopReconnect();  // a reconnection that lands in the waiting room is a fresh session
        setJoinBusy(false);
        setState('waiting');
        showScreen('waiting');
        if (reconnecting) ctx.emit('reconnected', { peerId: S.peerId, resumed: false });
        break;
      }
      default: break;
    }
  }

  // Recording (extension): the indicator, the moderator's button, a toast and the Client API events
  // recordingStarted / recordingStopped.
  function setRecording(on) {
    if (on === R.recording) return;
    R.recording = on;
    updateFeatureUI();
    if (S.joined) ctx.toast(t(on ? 'rec.started' : 'rec.stopped'));
    ctx.emit(on ? 'recordingStarted' : 'recordingStopped', { peerId: S.peerId });
  }

  function kindName(kind) { return t('kind.' + (kind === 'audio' || kind === 'video' || kind === 'screen' ? kind : 'audio')); }

  function onModeration(msg) {
    var kind = msg.kind;
    switch (msg.action) {
      case 'turnOff':
        if (kind === 'screen') { if (api.share) ctx.apiShare(false); } else if (kind === 'audio' || kind === 'video') ctx.setMedia(kind, false);
        ctx.toast(t('mod.youTurnedOff', { what: kindName(kind) }), { type: 'warn', duration: 8000 });
        break;
      case 'ask': {
        var turnOn = function () {
          if (kind === 'screen') ctx.apiShare(true).catch(function () {}); else ctx.setMedia(kind, true);
        };
        ctx.toast(t('mod.youAsked', { what: kindName(kind) }), { duration: 15000, action: { label: t('mod.turnOn'), fn: turnOn } });
        break;
      }
      case 'disallow':
        ctx.toast(t('mod.youDisallowed', { what: kindName(kind) }), { type: 'warn', duration: 8000 });
        break;
      case 'allow':
        ctx.toast(t('mod.youAllowed', { what: kindName(kind) }));
        break;
      case 'lowerHand':
        R.hand = false;
        updateFeatureUI();
        refreshPanels();
        ctx.toast(t('mod.handLowered'));
        break;
      default: break;
    }
  }

  function setHand(raised) {
    if (!S.joined || !handEnabled()) return;
    R.hand = !!raised;
    ctx.send({ type: 'hand', raised: R.hand });
    updateFeatureUI();
    refreshPanels();
  }

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
    ctx.fillSelect(el.camSel, [], 'welcome.cameraN', 'welcome.noCamera', S.cam);
    ctx.fillSelect(el.micSel, [], 'welcome.micN', 'welcome.noMic', S.mic);
    ctx.updateMediaUI();

    el.joinForm.addEventListener('submit', function (e) { e.preventDefault(); join(); });
    el.name.addEventListener('input', function () { ctx.setAvatar(el.previewAvatar, el.name.value, 'me'); });
    el.pMic.addEventListener('click', function () { ctx.setMedia('audio', !S.mic.on); });
    el.pCam.addEventListener('click', function () { ctx.setMedia('video', !S.cam.on); });
    el.tMic.addEventListener('click', function () { ctx.setMedia('audio', !S.mic.on); });
    el.tCam.addEventListener('click', function () { ctx.setMedia('video', !S.cam.on); });
    el.camSel.addEventListener('change', function () { ctx.onDeviceChosen('video', el.camSel); });
    el.micSel.addEventListener('change', function () { ctx.onDeviceChosen('audio', el.micSel); });
    el.leave.addEventListener('click', leave);
    el.rejoin.addEventListener('click', rejoin);
    el.closedRejoin.addEventListener('click', rejoin);
    el.reconnect.addEventListener('click', rejoin);
    document.addEventListener('keydown', onShortcut);
    el.copyLink.addEventListener('click', copyInvite);
    el.aloneCopy.addEventListener('click', copyInvite);
    el.unmute.addEventListener('click', ctx.unblockAudio);
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener('devicechange', function () { ctx.refreshDevices(); });
    }
    window.addEventListener('pagehide', function () {
      if (S.ws && S.ws.readyState === WebSocket.OPEN) {
        S.closing = true;
        ctx.send({ type: 'leave' });
        try { S.ws.close(1000); } catch (e) { /* ignore */ }
      }
    });

    S.mediaQueue = S.mediaQueue.then(ctx.initMedia).catch(function (e) {
      console.error('meet: media init failed', e);
      S.mediaReady = true;
      ctx.updateMediaUI();
    }).then(ctx.markReadyToJoin);
  }

  boot();
})();
