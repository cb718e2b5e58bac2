/* meet — the room features of the call page (issue 4): roles and rights (`joined.you`, `youUpdated`),
 * webinar viewers, chat and the side panel, raised hands, the moderator's actions and what they do to
 * this page, the room's settings (waiting room, joint video), recording, full screen and the control
 * bar's feature buttons (share, hand, chat, people, speaker view, full screen). tiles.js has the pin,
 * sorting and screen tiles.
 *
 * Owns the joint video's hidden state, the recording state and the control bar's feature buttons;
 * the role, hand and room settings are session.js's, set here from the server's messages
 * (applyYou, applyRoom, handleRoomMessage). Started by call.js with initRoomFeatures().
 */
import { t } from './i18n.js';
import { roomAttributes, tokenClaims } from './attributes.js';
import { session, setDisplayName, setHand, setRoom, setYou } from './session.js';
import { toast } from './ui.js';
import { apiError, emit } from './client-events.js';
import { send } from './socket.js';
import {
  addChatMessage, initPanels, refreshPanels, resetPanels, setPanelRecording, setPanelWaitingRoom, setWaitingList,
  togglePanel, waitingCount
} from './panels.js';
import { camera, device, microphone, screenTrack, setMedia, setScreenShare, setScreenShareTold } from './media.js';
import { handleInterpretation, render as renderInterpretation, resetInterpretation } from './interpretation.js';
import {
  forEachPeer, forEachViewer, isSpeakerView, layoutTiles, setActiveSpeaker, setBandwidthPaused, setSpeakerView,
  updateCount
} from './tiles.js';

var $ = function (id) { return document.getElementById(id); };
var el = {
  tMic: $('toggle-mic'), tCam: $('toggle-cam'), tShare: $('toggle-share'), tHand: $('toggle-hand'), tChat: $('toggle-chat'),
  participants: $('participants'), chatBadge: $('chat-badge'), waitingBadge: $('waiting-badge'), fs: $('fullscreen'),
  speakerView: $('speaker-view'), presenting: $('presenting'), presentingPreview: $('presenting-preview'),
  viewerNote: $('viewer-note'), viewers: $('viewers'), viewerCount: $('viewer-count'), recIndicator: $('rec-indicator'),
  videoPanel: $('video-panel'), videoFrame: $('video-frame')
};

var started = false;        // initRoomFeatures ran (a page with a valid room)
var videoHidden = false;    // the person hid the joint video
var recording = false;      // the room is being recorded (server's `recording` message)

function chatEnabled() { return !roomAttributes.disableChat; }
function handEnabled() {
  var you = session.you;
  return you ? you.handEnabled : !!(tokenClaims.handEnabled !== undefined ? tokenClaims.handEnabled : roomAttributes.handEnabled);
}

export function initRoomFeatures() {
  var b = document.body.classList;
  b.toggle('viewer', !session.speaker);
  b.toggle('hide-indicators', !!roomAttributes.hideIndicators);
  b.toggle('minimize-tiles', !!roomAttributes.minimizeTiles);
  b.toggle('sort-peers', !!roomAttributes.sortPeers);
  b.toggle('no-chat', !chatEnabled());
  if (roomAttributes.controlsDisabled) setControlsVisible(false);
  el.viewerNote.hidden = session.speaker;
  $('stop-presenting').addEventListener('click', function () { setScreenShare(false); });
  el.speakerView.addEventListener('click', function () {
    setSpeakerView(!isSpeakerView());
    updateFeatureUI();
  });
  el.tChat.hidden = !chatEnabled();
  el.tShare.addEventListener('click', function () {
    setScreenShare(!screenTrack()).catch(function (e) {
      if (e && e.code !== 'notAllowed') toast(t('share.failed'), { type: 'error' });
    });
  });
  el.tHand.addEventListener('click', function () { raiseHand(!session.hand); });
  el.tChat.addEventListener('click', function () { togglePanel('chat'); });
  el.participants.addEventListener('click', function () { togglePanel('people'); });
  el.fs.addEventListener('click', function () { document.fullscreenElement ? setFullscreen(false).catch(function () {}) : enterFullscreen(); });
  document.addEventListener('fullscreenchange', updateFeatureUI);
  $('video-hide').addEventListener('click', function () { videoHidden = true; applyRoom(session.room); });
  initPanels({
    chatEnabled: chatEnabled,
    me: function () { return { peerId: session.peerId, moderator: session.moderator }; },
    people: peopleList,
    onVisibility: function (open, tab, unread, waiting) {
      el.tChat.setAttribute('aria-pressed', open && tab === 'chat' ? 'true' : 'false');
      el.participants.setAttribute('aria-pressed', open && tab === 'people' ? 'true' : 'false');
      el.chatBadge.hidden = !unread;
      el.chatBadge.textContent = unread > 9 ? '9+' : String(unread || '');
      setChatLabel();
      var w = waiting === undefined ? waitingCount() : waiting;
      el.waitingBadge.hidden = !w;
      el.waitingBadge.textContent = String(w || '');
      document.body.classList.toggle('panel-open', open);
      requestAnimationFrame(layoutTiles);
    }
  });
  started = true;
  if (roomAttributes.nameScreenDisabled) console.info('meet: nameScreenDisabled: waiting for the Client API join');
  updateFeatureUI();
}

/** The moderator's actions for the Client API ({ disableTrack(peerId, kind), disableAll(kind) }, each
 * settled once sent), or null on a page without a room. */
export function moderation() {
  if (!started) return null;
  return {
    disableTrack: function (peerId, kind) { return moderate('turnOff', { peerId: String(peerId), kind: kind }); },
    disableAll: function (kind) { return moderate(kind === 'audio' ? 'muteAll' : 'camerasOffAll', {}); }
  };
}

function moderate(action, extra) {
  var m = { type: 'moderate', action: action };
  Object.keys(extra).forEach(function (k) { m[k] = extra[k]; });
  if (!send(m)) return Promise.reject(apiError('notJoined', 'join the room first'));
  return Promise.resolve(true);
}

function peopleList() {
  var list = [];
  if (session.joined) {
    list.push({ peerId: session.peerId, displayName: session.displayName, audio: microphone.on, video: camera.on, screen: !!screenTrack(),
      hand: session.hand, moderator: session.moderator, viewer: !session.speaker, self: true });
  }
  forEachPeer(function (p) {
    list.push({ peerId: p.peerId, displayName: p.displayName, audio: p.audio, video: p.video, screen: !!p.screen,
      hand: !!p.hand, moderator: !!p.moderator, viewer: false, allowed: p.allowed, interpreter: p.interpreter || null });
  });
  forEachViewer(function (v) {
    list.push({ peerId: v.peerId, displayName: v.displayName, hand: !!v.hand, moderator: !!v.moderator, viewer: true });
  });
  return list;
}

/** The control bar's feature buttons, the presenting bar, the viewer count and the recording mark. */
export function updateFeatureUI() {
  if (!started) return;
  var you = session.you;
  var allowed = you ? you.allowed : { audio: true, video: true, screen: true };
  var sharing = !!screenTrack();
  var canShare = session.speaker && allowed.screen && !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  el.tShare.hidden = !session.speaker;
  el.tShare.disabled = !canShare;
  el.tShare.setAttribute('aria-pressed', sharing ? 'true' : 'false');
  var shareLabel = t(sharing ? 'share.stop' : 'share.start');
  el.tShare.setAttribute('aria-label', shareLabel);
  el.tShare.title = shareLabel;
  showPresenting();
  el.tMic.hidden = el.tCam.hidden = !session.speaker;
  el.tMic.disabled = !allowed.audio;
  el.tCam.disabled = !allowed.video;
  // An interpreter sends audio only (the server refuses its camera and screen): the buttons say why.
  var interpreter = !!(you && you.interpreter);
  if (interpreter) {
    el.tCam.disabled = el.tShare.disabled = true;
    [el.tCam, el.tShare].forEach(function (b) {
      b.setAttribute('aria-label', t('interp.audioOnly'));
      b.title = t('interp.audioOnly');
    });
  }
  el.tHand.hidden = !handEnabled();
  el.tHand.setAttribute('aria-pressed', session.hand ? 'true' : 'false');
  var handLabel = t(session.hand ? 'hand.lower' : 'hand.raise');
  el.tHand.setAttribute('aria-label', handLabel);
  el.tHand.title = handLabel;
  setChatLabel();
  el.speakerView.setAttribute('aria-pressed', isSpeakerView() ? 'true' : 'false');
  var fsOn = !!document.fullscreenElement;
  el.fs.setAttribute('aria-pressed', fsOn ? 'true' : 'false');
  var fsLabel = t(fsOn ? 'fs.exit' : 'fs.enter');
  el.fs.setAttribute('aria-label', fsLabel);
  el.fs.title = fsLabel;
  el.fs.hidden = !document.fullscreenEnabled;
  document.body.classList.toggle('viewer', !session.speaker);
  document.body.classList.toggle('moderator', session.moderator);
  el.viewers.hidden = session.mode !== 'webinar';
  el.recIndicator.hidden = !(recording && session.joined);
  setPanelRecording(recording, !!(you && you.moderator && you.canRecord));
  el.viewerCount.textContent = String(session.room.viewers || 0);
  el.viewers.title = t('call.viewers', { n: session.room.viewers || 0 });
  el.viewers.setAttribute('aria-label', el.viewers.title);
}

// The unread count shown on the chat button is part of its name ("Chat, 3"), as the visible text must be.
function setChatLabel() {
  var n = el.chatBadge.hidden ? '' : el.chatBadge.textContent;
  var label = t('panel.chat') + (n ? ', ' + n : '');
  el.tChat.setAttribute('aria-label', label);
  el.tChat.title = label;
}

// "You are presenting": a bar with a small preview of what is shared and Stop presenting.
function showPresenting() {
  var track = screenTrack();
  el.presenting.hidden = !track;
  var shown = el.presentingPreview.srcObject && el.presentingPreview.srcObject.getVideoTracks()[0];
  if (track && shown !== track) el.presentingPreview.srcObject = new MediaStream([track]);
  if (!track && shown) el.presentingPreview.srcObject = null;
}

// --- layout for the embedding API: controls, full screen ---------------------------

export function setControlsVisible(visible) {
  document.body.classList.toggle('controls-hidden', !visible);
  document.querySelectorAll('.controlbar, #copy-link').forEach(function (n) { n.hidden = !visible; });
  requestAnimationFrame(layoutTiles);
}

export function setFullscreen(on) {
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

export function enterFullscreen() {
  setFullscreen(true).catch(function (e) { console.warn('meet: full screen refused', e && e.message); });
}

// --- what the server says about this participant and the room ---------------------

export function applyYou(you) {
  if (!you || typeof you !== 'object') return;
  var wasSpeaker = session.speaker;
  setYou(you);
  if (you.nameLocked && you.displayName) setDisplayName(String(you.displayName));
  if (!session.speaker) {
    if (microphone.on) setMedia('audio', false);
    if (camera.on) setMedia('video', false);
    if (screenTrack()) setScreenShare(false);
  } else if (!wasSpeaker && session.joined) {
    toast(t('webinar.nowSpeaker'));
  }
  ['audio', 'video'].forEach(function (k) { if (!you.allowed[k] && device(k).on) setMedia(k, false); });
  if (!you.allowed.screen && screenTrack()) setScreenShare(false);
  if (you.interpreter) {
    if (camera.on) setMedia('video', false);
    if (screenTrack()) setScreenShare(false);
  }
  updateFeatureUI();
  renderInterpretation();
  refreshPanels();
}

export function applyRoom(room) {
  if (!room || typeof room !== 'object') return;
  var before = session.room.videoUrl;
  setRoom({ waitingRoom: !!room.waitingRoom, videoUrl: room.videoUrl || null, viewers: Number(room.viewers) || 0 });
  if (session.room.videoUrl !== before) videoHidden = false;
  var url = session.room.videoUrl;
  var show = !!url && !videoHidden && session.joined;
  el.videoPanel.hidden = !show;
  if (show && el.videoFrame.getAttribute('src') !== url) el.videoFrame.setAttribute('src', url);
  if (!url && el.videoFrame.getAttribute('src')) el.videoFrame.removeAttribute('src');
  setPanelWaitingRoom(session.room.waitingRoom);
  updateFeatureUI();
  updateCount();
  requestAnimationFrame(layoutTiles);
}

/** A session began; resetPanels: false when a lost session restarts fresh (the chat read so far stays). */
export function onJoinedFeatures(reset) {
  setHand(false);
  setScreenShareTold(false);
  if (reset) resetPanels();
  resetInterpretation();
  updateFeatureUI();
  if (roomAttributes.startWithFS && !document.fullscreenElement) enterFullscreen();
}

/** The room's messages (signalling.js passes those it does not handle itself). */
export function handleRoomMessage(msg) {
  switch (msg.type) {
    case 'chat': if (session.joined) addChatMessage(msg); break;
    case 'bandwidthPaused': setBandwidthPaused(msg.peerId, msg.source, msg.paused); break;
    case 'roomUpdated': applyRoom(msg.room); break;
    case 'activeSpeaker': if (session.joined) setActiveSpeaker(msg.peerId); break;
    case 'recording': setRecording(!!msg.on); break;
    case 'youUpdated': applyYou(msg.you); break;
    case 'moderation': onModeration(msg); break;
    case 'waitingList': setWaitingList(msg.peers); break;
    case 'interpretation': handleInterpretation(msg); break;
    default: break;
  }
}

// Recording (extension): the indicator, the moderator's button, a toast and the Client API events
// recordingStarted / recordingStopped.
function setRecording(on) {
  if (on === recording) return;
  recording = on;
  updateFeatureUI();
  if (session.joined) toast(t(on ? 'rec.started' : 'rec.stopped'));
  emit(on ? 'recordingStarted' : 'recordingStopped', { peerId: session.peerId });
}

function kindName(kind) { return t('kind.' + (kind === 'audio' || kind === 'video' || kind === 'screen' ? kind : 'audio')); }

function onModeration(msg) {
  var kind = msg.kind;
  switch (msg.action) {
    case 'turnOff':
      if (kind === 'screen') { if (screenTrack()) setScreenShare(false); } else if (kind === 'audio' || kind === 'video') setMedia(kind, false);
      toast(t('mod.youTurnedOff', { what: kindName(kind) }), { type: 'warn', duration: 8000 });
      break;
    case 'ask': {
      var turnOn = function () {
        if (kind === 'screen') setScreenShare(true).catch(function () {}); else setMedia(kind, true);
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
      setHand(false);
      updateFeatureUI();
      refreshPanels();
      toast(t('mod.handLowered'));
      break;
    default: break;
  }
}

function raiseHand(raised) {
  if (!session.joined || !handEnabled()) return;
  setHand(!!raised);
  send({ type: 'hand', raised: session.hand });
  updateFeatureUI();
  refreshPanels();
}
