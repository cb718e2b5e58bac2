/* meet — call page (/call/ and /webinar/): the entry module. It imports the others, wires the page's
 * buttons to them and boots the page; it holds no state of its own. Each module owns its part of the
 * state and exports the functions that read or change it (read-only views where others only look):
 *
 *   i18n.js          strings and the language (i18n-room.js, i18n-page.js add theirs)
 *   attributes.js    the room URL's attributes and the token's unverified claims; cleanText
 *   prefs.js         what localStorage remembers (name, devices, view, self view)
 *   ui.js            icons, toasts, avatars, clipboard, the confirmation dialog
 *   session.js       this participant and the room: page state, IDs, name, role, hand, room settings
 *   client-events.js the Client API's events: onEvent / emit, newPeer and peerClosed
 *   socket.js        the signalling WebSocket: send, ask (answered by `mediaResult`)
 *   audio-levels.js  audio levels: the mic meter and the speaking rings
 *   panels.js        the side panel: chat, people, moderator tools
 *   media.js         camera, microphone and shared screen: devices, preview, pickers, what the server
 *                    and the embedding API were told
 *   tiles.js         the participants and their tiles: layout, playback, pin, active speaker, self view
 *   interpretation.js language interpretation: the listener's Language menu, the interpreter's mark,
 *                    the moderator's switch (issue 14)
 *   screens.js       which screen shows (welcome, call, left, …); the join buttons' busy state
 *   room-features.js roles and rights, chat, hands, moderation, recording, joint video, full screen
 *   rtc.js           the RTCPeerConnection: offers and answers, senders, resume state, ICE restarts
 *   signalling.js    join / leave / rejoin, the server's messages, reconnection and its banner
 *   client-api.js    meetApp (bridge.js drives it; docs/client-api.md)
 *   settings.js      in-call settings: camera, microphone, speaker, self view
 *   quality.js       the connection-quality mark on each tile (getStats)
 *
 * Imports point down this list. The few calls up it go through registrations made once at start:
 * rtc.js gives media.js how a track reaches its sender (setSenderSync), tiles.js shows the local
 * media on the own tile (onLocalMediaShown), signalling.js gives rtc.js the socket's side (initRtc),
 * room-features.js gives panels.js the room (initPanels).
 *
 * Signalling: docs/signalling.md. The server is always the SDP offerer; this client only answers.
 * One RTCPeerConnection per session, offers handled one at a time through a promise queue.
 *
 * Restarts (docs/signalling.md): when the socket drops or the server says `closed server-restart`,
 * the page keeps its media, tiles and RTCPeerConnection, reconnects with backoff and sends `join` +
 * `resume`; `mediaRestart` (the relay restarted) swaps in a new RTCPeerConnection; `relayBack` (only
 * the link to the relay dropped) keeps it.
 *
 * Test hooks: window.meet = { pc, ws, peerId, roomId, state, ... } (live getters), window.meetApp._pc()
 * and document.body.dataset.state mirror the session state, one of 'welcome', 'joining', 'in-call',
 * 'waiting', 'reconnecting', 'left', 'closed'.
 */
import './i18n-room.js';
import './i18n-page.js';
import { apply as applyStrings, lang, t } from './i18n.js';
import { NAME_MAX, cleanText, roomAttributes } from './attributes.js';
import { PREF, readPref } from './prefs.js';
import { session, setPageState } from './session.js';
import { copyText, setAvatar, toast } from './ui.js';
import { refreshPanels } from './panels.js';
import { currentSocket } from './socket.js';
import {
  camera, device, fillSelect, microphone, onDeviceChosen, refreshDevices, setMedia, startLocalMedia, updateMediaUI
} from './media.js';
import { activeSpeakerId, forEachPeer, unblockAudio } from './tiles.js';
import { interpretationState } from './interpretation.js';
import { setJoinBusy, showScreen } from './screens.js';
import { initRoomFeatures } from './room-features.js';
import { currentPc, iceRestartCount, lastIceOutage } from './rtc.js';
import { join, leave, leaveOnPageHide, rejoin } from './signalling.js';
import { setLocale } from './client-api.js';
import './settings.js';
import './quality.js';

var $ = function (id) { return document.getElementById(id); };

window.meet = {
  get pc() { return currentPc(); },
  get ws() { return currentSocket(); },
  get peerId() { return session.peerId; },
  get roomId() { return session.roomId; },
  get state() { return session.pageState; },
  get mode() { return session.mode; },
  get lang() { return lang; },
  get displayName() { return session.displayName; },
  get audio() { return microphone.on; },
  get video() { return camera.on; },
  get activeSpeaker() { return activeSpeakerId(); },
  get interpretation() { return interpretationState(); },
  get iceRestarts() { return iceRestartCount(); },
  get lastIceOutageMs() { return lastIceOutage(); },
  get peers() {
    var list = [];
    forEachPeer(function (p) {
      list.push({ peerId: p.peerId, displayName: p.displayName, audio: p.audio, video: p.video, interpreter: p.interpreter || null,
        shown: !!(p.tile && p.tile.offsetParent), volume: p.el ? p.el.volume : null,
        audioTrackId: (p.stream.getAudioTracks()[0] || {}).id || null });
    });
    return list;
  }
};

function roomLink() {
  var path = session.mode === 'webinar' ? '/webinar/' : '/call/';
  return location.origin + path + '?roomId=' + encodeURIComponent(session.roomId || '');
}

function copyInvite() {
  copyText(roomLink()).then(function () { toast(t('call.linkCopied')); },
    function () { toast(roomLink(), { duration: 10000 }); });
}

// Keyboard shortcuts (docs/call-page.md): Ctrl+D (⌘+D) microphone, Ctrl+E (⌘+E) camera, on the
// welcome screen and in the call, as in other meeting apps; the buttons announce them (aria-keyshortcuts).
function onShortcut(e) {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || e.repeat) return;
  if (session.pageState !== 'welcome' && session.pageState !== 'in-call') return;
  var kind = { d: 'audio', e: 'video' }[String(e.key).toLowerCase()];
  if (!kind) return;
  e.preventDefault();
  var btn = $(kind === 'audio' ? 'toggle-mic' : 'toggle-cam');
  if (!session.speaker || btn.disabled) return;
  setMedia(kind, !device(kind).on);
}

function boot() {
  var mode = session.mode;
  // Mode-specific labels before translation.
  var modeKey = mode === 'webinar' ? 'mode.webinar' : 'mode.call';
  document.querySelectorAll('.mode-label').forEach(function (n) { n.dataset.i18n = modeKey; });
  $('welcome-heading').dataset.i18n = mode === 'webinar' ? 'welcome.headingWebinar' : 'welcome.heading';
  applyStrings(document);
  document.body.classList.add('mode-' + mode);

  if (!session.roomId) {
    if (roomAttributes.roomInvalid) {
      $('room-error-title').textContent = t('room.invalidTitle');
      $('room-error-text').textContent = t('room.invalidText');
    }
    document.title = t('mode.' + mode) + ' — meet';
    setPageState('welcome');
    showScreen('roomError');
    return;
  }

  document.title = session.roomId + ' — ' + t('mode.' + mode) + ' — meet';
  $('welcome-room').textContent = session.roomId;
  var callRoom = $('call-room');
  callRoom.textContent = session.roomId;
  callRoom.title = session.roomId;

  initRoomFeatures();
  var langSel = $('lang-select');
  langSel.value = lang;
  langSel.addEventListener('change', function () { setLocale(langSel.value).then(refreshPanels); });
  $('waiting-leave').addEventListener('click', leave);

  var name = $('name');
  if (session.presetName) {
    name.value = session.presetName;
    name.readOnly = true;
    name.setAttribute('aria-describedby', 'name-locked');
    $('name-locked').hidden = false;
  } else {
    name.value = cleanText(readPref(PREF.name), NAME_MAX) || '';
  }

  setPageState('welcome');
  showScreen(roomAttributes.nameScreenDisabled ? 'standby' : 'welcome');
  setJoinBusy(false);
  var camSel = $('camera-select'), micSel = $('mic-select');
  fillSelect(camSel, [], 'welcome.cameraN', 'welcome.noCamera', camera);
  fillSelect(micSel, [], 'welcome.micN', 'welcome.noMic', microphone);
  updateMediaUI();

  $('join-form').addEventListener('submit', function (e) { e.preventDefault(); join(); });
  name.addEventListener('input', function () { setAvatar($('preview-avatar'), name.value, 'me'); });
  $('preview-toggle-mic').addEventListener('click', function () { setMedia('audio', !microphone.on); });
  $('preview-toggle-cam').addEventListener('click', function () { setMedia('video', !camera.on); });
  $('toggle-mic').addEventListener('click', function () { setMedia('audio', !microphone.on); });
  $('toggle-cam').addEventListener('click', function () { setMedia('video', !camera.on); });
  camSel.addEventListener('change', function () { onDeviceChosen('video', camSel); });
  micSel.addEventListener('change', function () { onDeviceChosen('audio', micSel); });
  $('leave').addEventListener('click', leave);
  $('rejoin').addEventListener('click', rejoin);
  $('closed-rejoin').addEventListener('click', rejoin);
  $('reconnect').addEventListener('click', rejoin);
  document.addEventListener('keydown', onShortcut);
  $('copy-link').addEventListener('click', copyInvite);
  $('alone-copy').addEventListener('click', copyInvite);
  $('unmute-banner').addEventListener('click', unblockAudio);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener('devicechange', function () { refreshDevices(); });
  }
  window.addEventListener('pagehide', leaveOnPageHide);

  startLocalMedia();
}

boot();
