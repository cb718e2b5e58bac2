/* meet — this participant's media: the camera and microphone (acquiring them with fallbacks, turning them
 * on and off, device pickers, the welcome screen's preview and mic meter), the shared screen, what the
 * server was last told about them (`mediaState`, `share`), the room's refusals, and the Client API
 * events about them (switchOn/Off…, errorGet…, readyToJoin).
 *
 * Owns the device state (read through `microphone` / `camera` / device(kind)), the shared screen
 * (screenTrack()), and the media queue: device changes run one at a time (setMedia, queueMediaJob);
 * afterMediaChange() refreshes the UI, tells the server and the embedding API.
 * The pc's senders are rtc.js's: it registers how a local track reaches them (setSenderSync), and
 * tiles.js how the own tile shows them (onLocalMediaShown).
 */
import { t } from './i18n.js';
import { PREF, readPref, writePref } from './prefs.js';
import { session } from './session.js';
import { setAvatar, toast } from './ui.js';
import { apiError, emit, selfData } from './client-events.js';
import { ask, send } from './socket.js';
import { unwatchLevel, watchLevel, watchedTrack } from './audio-levels.js';

var $ = function (id) { return document.getElementById(id); };
var el = {
  preview: $('preview'), previewFrame: $('preview-frame'), previewAvatar: $('preview-avatar'), previewOffText: $('preview-off-text'),
  pMic: $('preview-toggle-mic'), pCam: $('preview-toggle-cam'), tMic: $('toggle-mic'), tCam: $('toggle-cam'),
  meter: $('mic-meter'), mediaError: $('media-error'), mediaErrorText: $('media-error-text'),
  name: $('name'), camSel: $('camera-select'), micSel: $('mic-select')
};

var devices = {
  audio: { kind: 'audio', on: true, track: null, deviceId: readPref(PREF.microphone) || '' },
  video: { kind: 'video', on: true, track: null, deviceId: readPref(PREF.camera) || '' }
};
var mediaReady = false;       // the first acquisition is over (the preview says "camera off", not "starting")
var camStarting = false;
var mediaQueue = Promise.resolve();
var lastSentMedia = null;     // 'audio/video' of the last `mediaState` sent, so a repeat is not sent
var screen = null;            // { track } while this participant shares the screen
var screenTold = false;       // what the server was last told about sharing
var lastError = { audio: null, video: null };              // the last failure to start each device
var refused = { audio: null, video: null, screen: null };  // the room's last refusal of each source
var lastRefusal = null;       // { text, at } of its last toast
var readyToJoin = false;
var lastAnnounced = null;     // { audio, video, share } as last announced by switchOn/Off events

function view(d) {
  return Object.freeze({
    get on() { return d.on; },
    get track() { return d.track; },
    get deviceId() { return d.deviceId; }
  });
}
/** Read-only views of the devices: { on, track, deviceId }. `on` is the wish; the track may be gone. */
export const microphone = view(devices.audio);
export const camera = view(devices.video);
export function device(kind) { return kind === 'audio' ? microphone : camera; }

export function screenTrack() { return screen ? screen.track : null; }
export function isReadyToJoin() { return readyToJoin; }

// How a local track reaches the pc's sender of `kind` ('audio', 'video', 'screen'): rtc.js's.
var syncSender = function () { return Promise.resolve(); };
export function setSenderSync(fn) { syncSender = fn; }

// Who shows the local camera and microphone besides the welcome screen: tiles.js's own tile.
var shownTo = [];
export function onLocalMediaShown(fn) { shownTo.push(fn); }

/** Runs `job` after the pending device changes; the queue goes on whether it fails or not. */
export function queueMediaJob(job) {
  var run = mediaQueue.then(job);
  mediaQueue = run.catch(function () {});
  return run;
}

/** Resolves once the pending device changes are done. */
export function whenMediaSettled() { return mediaQueue; }

// --- the welcome screen's mic meter -----------------------------------------

var meterBars = el.meter.querySelectorAll('span');
function meterCb(level) {
  var l = Math.min(1, level * 6);
  var hs = [0.55, 1, 0.7];
  for (var i = 0; i < meterBars.length; i++) meterBars[i].style.height = Math.max(4, Math.round(4 + 16 * l * hs[i])) + 'px';
}

// --- local media ---------------------------------------------------------

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
  var d = devices[kind];
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
  var d = devices[kind];
  if (d.track && d.track !== track) d.track.stop();
  d.track = track;
  if (!track) return;
  track.addEventListener('ended', function () {
    // The device went away (unplugged, permission revoked). Our own stop() does not fire this.
    if (d.track !== track) return;
    d.track = null;
    d.on = false;
    toast(t(kind === 'audio' ? 'media.micEnded' : 'media.camEnded'), { type: 'warn' });
    syncSender(kind).then(afterMediaChange);
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
function acquireAtStart() {
  var mic = devices.audio, cam = devices.video;
  if (!session.speaker) {
    // Webinar viewer: never ask for the camera or microphone.
    mic.on = false;
    cam.on = false;
    mediaReady = true;
    afterMediaChange();
    return Promise.resolve();
  }
  if (!hasMediaDevices()) {
    mic.on = false;
    cam.on = false;
    showMediaError('media.insecure');
    mediaReady = true;
    afterMediaChange();
    return Promise.resolve();
  }
  var both = { audio: constraints('audio', mic.deviceId), video: constraints('video', cam.deviceId) };
  return gum(both).then(function (stream) {
    adoptTrack('audio', stream.getAudioTracks()[0] || null);
    adoptTrack('video', stream.getVideoTracks()[0] || null);
    if (!mic.track) mic.on = false;
    if (!cam.track) cam.on = false;
  }, function (err) {
    if (err && (err.name === 'NotAllowedError' || err.name === 'SecurityError')) {
      mic.on = false;
      cam.on = false;
      showMediaError(mediaErrorKey(err));
      return;
    }
    // Maybe only one of the two devices is missing or busy: try them separately.
    var aErr = null, vErr = null;
    return acquire('audio').then(function (tr) { adoptTrack('audio', tr); }, function (e) { aErr = e; })
      .then(function () { return acquire('video'); })
      .then(function (tr) { adoptTrack('video', tr); }, function (e) { vErr = e; })
      .then(function () {
        if (aErr) mic.on = false;
        if (vErr) cam.on = false;
        if (aErr && vErr) showMediaError(mediaErrorKey(vErr.name === 'NotFoundError' ? aErr : vErr));
        else if (vErr) showMediaError('media.camUnavailable');
        else if (aErr) showMediaError('media.micUnavailable');
      });
  }).then(function () {
    mediaReady = true;
    afterMediaChange();
    return refreshDevices();
  });
}

/** The page's first acquisition of the camera and microphone, then readyToJoin (in the media queue). */
export function startLocalMedia() {
  mediaQueue = mediaQueue.then(acquireAtStart).catch(function (e) {
    console.error('meet: media init failed', e);
    mediaReady = true;
    updateMediaUI();
  }).then(markReadyToJoin);
}

/** Turns a device on or off (welcome screen and in call). Serialized; `restart`: a new device. */
export function setMedia(kind, on, restart) {
  mediaQueue = mediaQueue.then(function () { return doSetMedia(kind, on, restart); })
    .catch(function (e) { console.error('meet: media change failed', e); });
  return mediaQueue;
}

function doSetMedia(kind, on, restart) {
  var d = devices[kind];
  if (!on) {
    d.on = false;
    adoptTrack(kind, null);       // stops the track: the camera light goes off
    return syncSender(kind).then(afterMediaChange);
  }
  // Turning a device on is the room's to allow (a webinar viewer sends nothing; maxBroadcasters):
  // asked before the device starts, so a refused one never lights up. One that is on (a device
  // switch) is not asked again.
  return (d.on ? Promise.resolve(null) : mayTurnOn(kind)).then(function (refusal) {
    if (!refusal) return turnOn(kind, restart);
    d.on = false;
    adoptTrack(kind, null);
    mediaRefused(refusal, false);
    return syncSender(kind).then(afterMediaChange);
  });
}

// Null if `kind` may go on, else the refusal ({ source, code, message }). In the room the server
// decides; before joining only the role is known (the join carries the state for the server to decide).
function mayTurnOn(kind) {
  if (!session.speaker) {
    return Promise.resolve({ source: kind, code: 'not-allowed', message: 'Webinar viewers do not send a camera or microphone' });
  }
  if (session.pageState !== 'in-call' || !session.joined) return Promise.resolve(null);
  var want = { audio: devices.audio.on, video: devices.video.on || !!screen };
  want[kind] = true;
  lastSentMedia = want.audio + '/' + want.video;
  return ask({ type: 'mediaState', audio: want.audio, video: want.video }).then(function (result) {
    if (!result) return null;
    lastSentMedia = !!result.audio + '/' + !!result.video;
    if (result[kind]) return null;
    var refusal = (Array.isArray(result.refused) ? result.refused : []).filter(function (r) { return r.source === kind; })[0];
    return refusal || { source: kind, code: 'not-allowed', message: 'the server keeps it off' };
  });
}

function turnOn(kind, restart) {
  var d = devices[kind];
  var btns = kind === 'audio' ? [el.tMic, el.pMic] : [el.tCam, el.pCam];
  if (d.track && d.track.readyState === 'live' && !restart) {
    d.on = true;
    return syncSender(kind).then(afterMediaChange);
  }
  btns.forEach(function (b) { b.disabled = true; });
  if (kind === 'video') { camStarting = true; el.previewOffText.textContent = t('welcome.starting'); }
  return acquire(kind).then(function (tr) {
    if (session.pageState === 'left' || session.pageState === 'closed') { tr.stop(); return; }
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
    if (kind === 'video') camStarting = false;
    return syncSender(kind);
  }).then(function () {
    afterMediaChange();
    refreshDevices();
  });
}

/** After any change of what this page sends: the UI, the server (`mediaState`) and the embedding API. */
export function afterMediaChange() {
  updateMediaUI();
  if (session.pageState === 'in-call' && session.joined) {
    var video = devices.video.on || !!screen;
    var key = devices.audio.on + '/' + video;
    if (key !== lastSentMedia) {
      lastSentMedia = key;
      send({ type: 'mediaState', audio: devices.audio.on, video: video });
    }
  }
  emitLocalMedia();
}

/** A new session told the server the devices' state in its join (null: nothing told yet). */
export function setMediaStateSent(told) {
  lastSentMedia = told ? devices.audio.on + '/' + devices.video.on : null;
}

export function stopLocalMedia() {
  stopShare();
  // Keep the on/off preferences so Rejoin restores them.
  ['audio', 'video'].forEach(function (k) {
    var d = devices[k];
    if (d.track) { d.track.stop(); d.track = null; }
  });
  unwatchLevel('preview');
  unwatchLevel('self');
  el.preview.srcObject = null;
}

/** Starts again the devices that are wished on but have no live track (a rejoin). */
export function restoreMedia() {
  var jobs = [];
  ['audio', 'video'].forEach(function (k) {
    var d = devices[k];
    if (d.on && !(d.track && d.track.readyState === 'live')) jobs.push(k);
  });
  return jobs.reduce(function (p, k) { return p.then(function () { return doSetMedia(k, true); }); }, Promise.resolve());
}

/** The welcome screen is left for the call: its preview and meter stop. */
export function stopPreview() {
  unwatchLevel('preview');
  el.preview.srcObject = null;
}

function setToggle(btn, on, keyOff, keyOn) {
  btn.setAttribute('aria-pressed', on ? 'true' : 'false');
  var label = on ? t(keyOff) : t(keyOn);
  btn.setAttribute('aria-label', label);
  btn.title = label;
}

export function updateMediaUI() {
  var micOn = devices.audio.on, camOn = devices.video.on;
  [el.pMic, el.tMic].forEach(function (b) { setToggle(b, micOn, 'ctl.micOff', 'ctl.micOn'); });
  [el.pCam, el.tCam].forEach(function (b) { setToggle(b, camOn, 'ctl.camOff', 'ctl.camOn'); });
  if (session.you && session.you.interpreter) {
    // Interpreters send audio only (interpretation.js): the disabled button says why.
    el.tCam.setAttribute('aria-label', t('interp.audioOnly'));
    el.tCam.title = t('interp.audioOnly');
  }

  // Welcome preview.
  var camTrack = camOn && devices.video.track ? devices.video.track : null;
  var cur = el.preview.srcObject;
  var curTrack = cur && cur.getVideoTracks ? cur.getVideoTracks()[0] : null;
  if (camTrack !== curTrack) {
    el.preview.srcObject = camTrack ? new MediaStream([camTrack]) : null;
    if (camTrack) el.preview.play().catch(function () {});
  }
  el.previewFrame.classList.toggle('cam-off', !camTrack);
  el.previewOffText.textContent = t(!mediaReady || camStarting ? 'welcome.starting' : 'welcome.camOff');
  setAvatar(el.previewAvatar, el.name.value, 'me');

  var micTrack = micOn && devices.audio.track ? devices.audio.track : null;
  if (micTrack) el.meter.removeAttribute('data-off'); else el.meter.setAttribute('data-off', '');
  if (session.pageState === 'welcome' || session.pageState === 'joining') {
    if (micTrack && watchedTrack('preview') !== micTrack) watchLevel('preview', micTrack, meterCb);
    else if (!micTrack) unwatchLevel('preview');
  }

  shownTo.forEach(function (fn) { fn(camTrack, micTrack); });
}

// --- device pickers ------------------------------------------------------

export function refreshDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
    fillSelect(el.camSel, [], 'welcome.cameraN', 'welcome.noCamera', devices.video);
    fillSelect(el.micSel, [], 'welcome.micN', 'welcome.noMic', devices.audio);
    return Promise.resolve();
  }
  return navigator.mediaDevices.enumerateDevices().then(function (list) {
    fillSelect(el.camSel, list.filter(function (d) { return d.kind === 'videoinput'; }), 'welcome.cameraN', 'welcome.noCamera', devices.video);
    fillSelect(el.micSel, list.filter(function (d) { return d.kind === 'audioinput'; }), 'welcome.micN', 'welcome.noMic', devices.audio);
  }, function () { /* ignore */ });
}

/** Fills a device <select> from `list`, selecting the device `d` ({ track, deviceId }) uses. */
export function fillSelect(sel, list, nKey, noneKey, d) {
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

/** A device picked in a <select> (welcome screen, settings): remembered, and used at once if on. */
export function onDeviceChosen(kind, sel) {
  var d = devices[kind];
  d.deviceId = sel.value;
  writePref(kind === 'audio' ? PREF.microphone : PREF.camera, sel.value);
  if (d.on) setMedia(kind, true, true);
}

// --- devices named by the embedding API (join constraints, changeDevice) ----------

/** The input device of `kind` matching spec's deviceId, else its label; null if none does. */
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

/** Turns `kind` on with the device matching `spec` (else the one it has), in the media queue (Client API join). */
export function turnOnWith(kind, spec) {
  mediaQueue = mediaQueue.then(function () { return findDevice(kind, spec); }).then(function (info) {
    if (info) devices[kind].deviceId = info.deviceId;
    return doSetMedia(kind, true, !!info);
  }).catch(function (e) { console.error('meet: join device', e); });
}

/** Switches `kind` to the device matching `spec` (Client API changeDevice); an off device only
 * remembers it. Resolves { kind, deviceId, label, applied }. */
export function changeDevice(kind, spec) {
  var d = devices[kind];
  return queueMediaJob(function () {
    return findDevice(kind, spec).then(function (info) {
      if (!info) throw Object.assign(new Error('no ' + (kind === 'audio' ? 'microphone' : 'camera') + ' matches ' + JSON.stringify(spec)), { name: 'NotFoundError' });
      if (!(d.on && isLive(d.track))) {
        // Off: remember the choice for the next time it is turned on.
        d.deviceId = info.deviceId;
        writePref(kind === 'audio' ? PREF.microphone : PREF.camera, info.deviceId);
        return { kind: kind, deviceId: info.deviceId, label: info.label, applied: false };
      }
      var req = {};
      req[kind] = constraints(kind, info.deviceId);
      return gum(req).then(function (stream) {
        var tr = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
        stream.getTracks().forEach(function (x) { if (x !== tr) x.stop(); });
        if (!tr) throw Object.assign(new Error('no track'), { name: 'NotFoundError' });
        d.deviceId = info.deviceId;
        writePref(kind === 'audio' ? PREF.microphone : PREF.camera, info.deviceId);
        adoptTrack(kind, tr);
        return syncSender(kind).then(function () {
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
}

// --- screen sharing (sent on the screen's m-section, or the camera's while there is none) ---

/** What the server was last told about sharing (`share`), so it is told each change once. */
export function screenShareTold() { return screenTold; }
export function setScreenShareTold(on) { screenTold = on; }

/** Starts or stops sharing the screen (Client API enableShare / disableShare, the share button). */
export function setScreenShare(on) {
  if (!on) {
    if (!screen) return Promise.resolve(false);
    var tr = screen.track;
    screen = null;
    tr.stop();
    return syncSender('video').then(function () { afterMediaChange(); return false; });
  }
  if (screen) return Promise.resolve(true);
  if (!session.joined) return Promise.reject(apiError('notJoined', 'join the room first'));
  var md = navigator.mediaDevices;
  var fail = function (e) {
    emit('errorGetShare', selfData({ error: (e && e.name) || 'Error', message: (e && e.message) || '' }));
    return apiError(e && e.name === 'NotAllowedError' ? 'notAllowed' : 'deviceError', 'screen sharing failed: ' + ((e && e.message) || (e && e.name) || e));
  };
  var refuse = function (r) { mediaRefused(r, false); return apiError('notAllowed', String(r.message)); };
  if (!session.speaker) {
    return Promise.reject(refuse({ source: 'screen', code: 'not-allowed', message: 'Webinar viewers do not share their screen' }));
  }
  if (!md || !md.getDisplayMedia) return Promise.reject(fail({ name: 'NotSupportedError', message: 'this browser cannot share the screen' }));
  // The room decides first (maxBroadcasters, a moderator), so a refused share shows no screen picker.
  return ask({ type: 'share', on: true }).then(function (result) {
    if (result && !result.screen) {
      var refusal = (Array.isArray(result.refused) ? result.refused : []).filter(function (r) { return r.source === 'screen'; })[0];
      throw refuse(refusal || { source: 'screen', code: 'not-allowed', message: 'the server keeps it off' });
    }
    if (result) screenTold = true;
    return md.getDisplayMedia({ video: true, audio: false }).then(function (stream) {
      var track = stream.getVideoTracks()[0];
      stream.getTracks().forEach(function (x) { if (x !== track) x.stop(); });
      if (!session.joined) { track.stop(); throw apiError('notJoined', 'left the room while sharing started'); }
      screen = { track: track };
      // The browser's own "Stop sharing" button.
      track.addEventListener('ended', function () { if (screen && screen.track === track) setScreenShare(false); });
      return syncSender('video').then(function () { afterMediaChange(); return true; });
    }, function (e) {
      syncSender('screen');   // the server had it on: off again
      throw fail(e);
    });
  });
}

function stopShare() {
  if (!screen) return;
  screen.track.stop();
  screen = null;
  emitLocalMedia();
}

// --- what the embedding API hears about this participant's media -----------

function isLive(tr) { return !!(tr && tr.readyState === 'live'); }

/** What this participant sends now: { audio, video, share }. */
export function localMediaState() {
  return { audio: !!(devices.audio.on && isLive(devices.audio.track)), video: !!(devices.video.on && isLive(devices.video.track)), share: !!screen };
}

// switchOn/Off events for this participant, when the effective state changes (after readyToJoin).
function emitLocalMedia() {
  if (!lastAnnounced) return;
  var now = localMediaState();
  var prev = lastAnnounced;
  lastAnnounced = now;
  [['audio', 'Mic'], ['video', 'Camera'], ['share', 'Share']].forEach(function (k) {
    if (now[k[0]] !== prev[k[0]]) emit((now[k[0]] ? 'switchOn' : 'switchOff') + k[1], selfData());
  });
}

function markReadyToJoin() {
  if (readyToJoin || !session.roomId) return;
  readyToJoin = true;
  lastAnnounced = localMediaState();
  emit('readyToJoin', {});
}

function mediaFailure(kind, e) {
  lastError[kind] = e || null;
  emit(kind === 'audio' ? 'errorGetMic' : 'errorGetCamera',
    selfData({ error: (e && e.name) || 'Error', message: (e && e.message) || '' }));
}

/** Turns a device on or off for the Client API: rejects (notAllowed, deviceError) when it stays off. */
export function setDeviceForApi(kind, on) {
  lastError[kind] = null;
  refused[kind] = null;
  return setMedia(kind, on).then(function () {
    var now = localMediaState()[kind];
    if (on && !now) {
      if (refused[kind]) throw apiError('notAllowed', String(refused[kind].message));
      var e = lastError[kind];
      throw apiError(e && e.name === 'NotAllowedError' ? 'notAllowed' : 'deviceError',
        (kind === 'audio' ? 'cannot start the microphone' : 'cannot start the camera') + (e && e.name ? ' (' + e.name + ')' : ''));
    }
    return now;
  });
}

// The room refused a source: `r` is a refusal of `mediaResult` ({ source, code, message }), or the
// page's own for a webinar viewer. The method that asked fails with `notAllowed` and r.message;
// errorGetMic / errorGetCamera / errorGetShare say why, and a toast in the room's language.
// `turnOff`: the server turned the source off on its own (refused at join), so it stops here too.
export function mediaRefused(r, turnOff) {
  var source = r && r.source;
  var event = { audio: 'errorGetMic', video: 'errorGetCamera', screen: 'errorGetShare' }[source];
  if (!event) return;
  console.warn('meet: the room refused ' + source + ': ' + r.code + ': ' + r.message);
  refused[source] = r;
  if (turnOff && source === 'screen') {
    if (screen) setScreenShare(false);
  } else if (turnOff && devices[source].on) {
    setMedia(source, false);
  }
  var errors = { 'limit-exceeded': 'limitExceeded', 'not-allowed': 'notAllowed' };
  emit(event, selfData({ error: errors[r.code] || 'refused', message: String(r.message || '') }));
  var what = t('kind.' + source);
  var text = r.code === 'limit-exceeded' ? t('media.limitExceeded')
    : r.code !== 'not-allowed' ? t('media.refused', { what: what })
      : session.speaker ? t('mod.youDisallowed', { what: what }) : t('media.viewerNoSend');
  // Microphone and camera refused at once (a full room at join) say it once.
  var now = Date.now();
  if (lastRefusal && lastRefusal.text === text && now - lastRefusal.at < 2000) return;
  lastRefusal = { text: text, at: now };
  toast(text, { type: 'error', duration: 8000 });
}
