/* meet — the embedding API, meetApp (docs/client-api.md): bridge.js drives it from the host page's
 * messages; window.meetApp is the same object, for tests. Its methods check the page's state and call
 * the modules that own what they change; its events are client-events.js's (emit / meetApp.on).
 * No state of its own.
 */
import { apply as applyStrings, languages, lang, setLang, t } from './i18n.js';
import { NAME_MAX, cleanText } from './attributes.js';
import { session, setDisplayName, setPresetName } from './session.js';
import { setAvatar } from './ui.js';
import { apiError, onEvent } from './client-events.js';
import { send } from './socket.js';
import {
  changeDevice, isReadyToJoin, localMediaState, setDeviceForApi, setMedia, setScreenShare, turnOnWith, updateMediaUI,
  whenMediaSettled
} from './media.js';
import {
  muteIncoming, participantVideo, pinTile, pinnedTile, playAllAudio, relabelOwnTile, relabelTiles, setPin, setVolume,
  updateCount
} from './tiles.js';
import { setJoinBusy } from './screens.js';
import { render as renderInterpretation, setInterpretation } from './interpretation.js';
import { moderation, setControlsVisible, setFullscreen } from './room-features.js';
import { currentPc, setMaxBitrate } from './rtc.js';
import { abandonReconnection, join, rejoin, updateBanner } from './signalling.js';

(function apiStyle() {
  var st = document.createElement('style');
  st.textContent = '.tiles.pin-alone > .tile:not(.pinned) { display: none !important; }\n' +
    'body.hide-indicators .tile-label, body.hide-indicators .tile-mic-off { display: none !important; }';
  document.head.appendChild(st);
})();

var nameInput = document.getElementById('name');
var previewAvatar = document.getElementById('preview-avatar');

// --- join -------------------------------------------------------------

function apiJoin(c) {
  if (!session.roomId) return Promise.reject(apiError('noRoom', 'the room link has no valid roomId'));
  if (session.pageState === 'in-call') return Promise.reject(apiError('alreadyJoined', 'already in the room'));
  if (session.pageState === 'joining') return Promise.reject(apiError('busy', 'already joining'));
  // The host asks for a join while the page reconnects by itself: stop that, start a new session.
  if (session.pageState === 'reconnecting') abandonReconnection();
  c = c || {};
  ['audio', 'video'].forEach(function (kind) {
    var w = c[kind];
    if (w === undefined) return;
    // A webinar viewer joins without devices, as from the welcome screen; enableMic / enableWebcam
    // are refused to it.
    if (w && !session.speaker) return;
    if (!w) { setMedia(kind, false); return; }
    if (typeof w !== 'object') { setMedia(kind, true); return; }
    turnOnWith(kind, w);
  });
  return new Promise(function (resolve, reject) {
    var offs = [];
    function done() { offs.forEach(function (off) { off(); }); }
    offs.push(onEvent('join', function (d) { done(); resolve(d); }));
    offs.push(onEvent('connectionFailed', function (d) { done(); reject(apiError('connectionFailed', (d && d.message) || 'cannot connect')); }));
    offs.push(onEvent('connectionClosed', function (d) { done(); reject(apiError('connectionClosed', (d && d.message) || 'closed')); }));
    whenMediaSettled().then(function () {
      if (session.pageState === 'left' || session.pageState === 'closed') rejoin(); else join();
    });
  });
}

// --- screenshot -----------------------------------------------------------

function apiScreenshot(peerId) {
  var id = String(peerId);
  var v = participantVideo(id);
  if (v === undefined) return Promise.reject(apiError('unknownPeer', 'no participant "' + id.slice(0, 100) + '" in this room'));
  if (!v || !v.srcObject || !v.videoWidth || !v.videoHeight) {
    return Promise.reject(apiError('noVideo', 'participant "' + id.slice(0, 100) + '" shows no video now'));
  }
  var c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0, c.width, c.height);
  return Promise.resolve(c.toDataURL('image/jpeg', 0.9));
}

// --- layout, language, name ------------------------------------------------

function apiHideIndicators(hide) {
  document.body.classList.toggle('hide-indicators', !!hide);
  return Promise.resolve(hide);
}

function apiUnpin() {
  var was = pinnedTile();
  setPin(null);
  return Promise.resolve(!!was);
}

/** Shows the page in another language (Client API setLocale, the language menu). */
export function setLocale(code) {
  if (!setLang(code)) return Promise.reject(apiError('badData', 'language "' + code + '" is not available'));
  applyStrings(document);
  document.title = (session.roomId ? session.roomId + ' — ' : '') + t('mode.' + session.mode) + ' — meet';
  relabelTiles();
  renderInterpretation();
  setJoinBusy(session.pageState === 'joining');
  updateMediaUI();
  updateCount();
  updateBanner();
  return Promise.resolve(lang);
}

function apiSetName(name) {
  var n = cleanText(name, NAME_MAX);
  if (!n) return Promise.reject(apiError('badData', 'the name is empty'));
  setPresetName(n);
  nameInput.value = n;
  setDisplayName(n);
  setAvatar(previewAvatar, n, 'me');
  if (session.joined) {
    relabelOwnTile();
    send({ type: 'setName', displayName: n });
  }
  return Promise.resolve(n);
}

// Moderator actions (room-features.js), each returning a Promise settled once the request is sent.
function apiModeration(fn, args) {
  var m = moderation();
  if (!m || typeof m[fn] !== 'function') return Promise.reject(apiError('notAllowed', 'moderator actions are not available'));
  return Promise.resolve(m[fn].apply(m, args));
}

function apiSetBitrate(bps) {
  return setMaxBitrate(bps).catch(function (e) { throw apiError('failed', 'setBitrate: ' + ((e && e.message) || e)); });
}

export const meetApp = {
  version: 1,
  on: onEvent,
  get roomId() { return session.roomId; },
  get peerId() { return session.peerId; },
  get state() { return session.pageState; },
  get joined() { return session.joined; },
  get readyToJoin() { return isReadyToJoin(); },
  get isModerator() { return session.moderator; },
  get languages() { return languages.slice(); },
  // For tests: the current RTCPeerConnection (the same object after a resume, a new one after mediaRestart).
  _pc: function () { return currentPc(); },
  join: apiJoin,
  enableMic: function () { return setDeviceForApi('audio', true); },
  disableMic: function () { return setDeviceForApi('audio', false); },
  enableWebcam: function () { return setDeviceForApi('video', true); },
  disableWebcam: function () { return setDeviceForApi('video', false); },
  enableShare: function () { return setScreenShare(true); },
  disableShare: function () { return setScreenShare(false); },
  changeDisplayName: apiSetName,
  setVolume: function (v) { setVolume(v); return Promise.resolve(v); },
  getScreenshot: apiScreenshot,
  setControlsVisible: function (visible) { setControlsVisible(visible); return Promise.resolve(visible); },
  isCameraEnabled: function () { return Promise.resolve(localMediaState().video); },
  isMicroEnabled: function () { return Promise.resolve(localMediaState().audio); },
  isShareEnabled: function () { return Promise.resolve(localMediaState().share); },
  changeDevice: changeDevice,
  playAudio: playAllAudio,
  muteAudio: function () { muteIncoming(true); return Promise.resolve(true); },
  unmuteAudio: function () { muteIncoming(false); return Promise.resolve(false); },
  setBitrate: apiSetBitrate,
  isFullscreenEnabled: function () { return Promise.resolve(!!document.fullscreenElement); },
  enableFullscreen: function () { return setFullscreen(true); },
  disableFullscreen: function () { return setFullscreen(false); },
  enablePin: function (peerId) { return pinTile(String(peerId), true); },
  disablePin: apiUnpin,
  setLocale: setLocale,
  disableTrack: function (peerId, kind) { return apiModeration('disableTrack', [peerId, kind]); },
  disableAll: function (kind) { return apiModeration('disableAll', [kind]); },
  setHideIndicators: apiHideIndicators,
  // meet extension (docs/client-api.md): the listener's interpretation channel, null for the original.
  setInterpretation: setInterpretation
};

window.meetApp = meetApp;
