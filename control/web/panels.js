/* meet — the call page's side panel: text chat, the list of people and the moderator's tools
 * (waiting room, per-participant device control, mute all, remove).
 *
 * It only renders and sends requests; whether a moderator command is allowed is decided by the server,
 * whatever this page sends. Owns the panel's state (open, tab, unread, who waits). Started by
 * room-features.js with initPanels(room), which tells it about the room:
 *   room: { people() -> [{ peerId, displayName, audio, video, screen, hand, moderator, viewer, self }],
 *           me() -> { peerId, moderator }, chatEnabled() -> bool,
 *           onVisibility(open, tab, unread, waiting) }
 * Until then (a page without a valid room) every export does nothing.
 *
 * setOffline(true) while the signalling socket is away (reconnecting): what would be sent is lost, so
 * the chat's send button and every moderator control are disabled until setOffline(false).
 */
import { languageName, t } from './i18n.js';
import { send } from './socket.js';
import { confirmDialog, displayOf, setAvatar, shorten, svgUse, toast } from './ui.js';

var $ = function (id) { return document.getElementById(id); };
var el = {
  panel: $('panel'), tabChat: $('tab-chat'), tabPeople: $('tab-people'), close: $('panel-close'),
  chatPane: $('chat-pane'), peoplePane: $('people-pane'),
  chatList: $('chat-list'), chatEmpty: $('chat-empty'), chatForm: $('chat-form'), chatInput: $('chat-input'),
  chatSend: $('chat-send'),
  modTools: $('mod-tools'), waitingToggle: $('waiting-toggle'), muteAll: $('mute-all'), camsOffAll: $('cams-off-all'),
  recordToggle: $('record-toggle'), recordLabel: $('record-label'),
  waitingSection: $('waiting-section'), waitingList: $('waiting-list'), peopleList: $('people-list')
};
var room = null;   // initPanels' view of the room
var state = { open: false, tab: 'chat', unread: 0, waiting: [], waitingRoom: false, offline: false, recording: false };

function show(tab) {
  if (tab === 'chat' && !room.chatEnabled()) tab = 'people';
  state.open = true;
  state.tab = tab;
  el.panel.hidden = false;
  el.tabChat.hidden = !room.chatEnabled();
  el.tabChat.setAttribute('aria-selected', tab === 'chat' ? 'true' : 'false');
  el.tabPeople.setAttribute('aria-selected', tab === 'people' ? 'true' : 'false');
  el.chatPane.hidden = tab !== 'chat';
  el.peoplePane.hidden = tab !== 'people';
  if (tab === 'chat') {
    state.unread = 0;
    el.chatList.scrollTop = el.chatList.scrollHeight;
    if (window.matchMedia && !window.matchMedia('(pointer: coarse)').matches) el.chatInput.focus();
  } else {
    renderPeople();
  }
  room.onVisibility(true, tab, state.unread);
}

function hide() {
  state.open = false;
  el.panel.hidden = true;
  room.onVisibility(false, state.tab, state.unread);
}

function toggle(tab) {
  if (state.open && state.tab === tab) hide(); else show(tab);
}

/* ---------------- chat ---------------- */

function timeOf(ms) {
  try { return new Date(ms).toLocaleTimeString(document.documentElement.lang || undefined, { hour: '2-digit', minute: '2-digit' }); } catch (e) { return ''; }
}

// Chat text with its http(s) links clickable; anything else (javascript:, data:, ...) stays text.
// Links open in a new tab without giving it this page (noopener) or its address (noreferrer).
var URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
function appendLinked(node, text) {
  var last = 0;
  text.replace(URL_RE, function (m, at) {
    var href = m.replace(/[.,;:!?)\]]+$/, '');
    var u = null;
    try { u = new URL(href); } catch (e) { u = null; }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) return m;
    node.appendChild(document.createTextNode(text.slice(last, at)));
    var a = document.createElement('a');
    a.href = u.href;
    a.textContent = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    node.appendChild(a);
    last = at + href.length;
    return m;
  });
  node.appendChild(document.createTextNode(text.slice(last)));
}

function addChat(msg) {
  if (!room.chatEnabled()) return;
  var mine = String(msg.peerId) === String(room.me().peerId);
  var li = document.createElement('li');
  li.className = 'chat-msg' + (mine ? ' mine' : '');
  var head = document.createElement('div');
  head.className = 'chat-head';
  var who = document.createElement('span');
  who.className = 'chat-who';
  who.textContent = mine ? t('chat.you') : displayOf(msg.displayName);
  var when = document.createElement('time');
  when.textContent = timeOf(Number(msg.at) || Date.now());
  head.appendChild(who);
  head.appendChild(when);
  var body = document.createElement('p');
  body.className = 'chat-text';
  appendLinked(body, String(msg.text || ''));
  li.appendChild(head);
  li.appendChild(body);
  var atBottom = el.chatList.scrollHeight - el.chatList.scrollTop - el.chatList.clientHeight < 40;
  el.chatList.appendChild(li);
  while (el.chatList.children.length > 500) el.chatList.removeChild(el.chatList.firstChild);
  el.chatEmpty.hidden = true;
  if (atBottom || mine) el.chatList.scrollTop = el.chatList.scrollHeight;
  if (!mine && !(state.open && state.tab === 'chat')) {
    state.unread++;
    room.onVisibility(state.open, state.tab, state.unread);
    toast(t('chat.from', { name: displayOf(msg.displayName), text: shorten(String(msg.text || ''), 80) }), { action: { label: t('chat.open'), fn: function () { show('chat'); } } });
  }
}

/* ---------------- people and moderator tools ---------------- */

function iconBtn(icon, label, cls, fn) {
  var b = document.createElement('button');
  b.type = 'button';
  b.className = 'icon-btn' + (cls ? ' ' + cls : '');
  b.setAttribute('aria-label', label);
  b.title = label;
  b.appendChild(svgUse(icon));
  b.addEventListener('click', fn);
  return b;
}

function moderate(action, extra) {
  var m = { type: 'moderate', action: action };
  Object.keys(extra || {}).forEach(function (k) { m[k] = extra[k]; });
  send(m);
}

function personRow(p, isMod) {
  var li = document.createElement('li');
  li.className = 'person';
  li.dataset.peerId = p.peerId;
  var av = document.createElement('div');
  av.className = 'avatar avatar-sm';
  setAvatar(av, p.displayName, p.peerId);
  var info = document.createElement('div');
  info.className = 'person-info';
  var name = document.createElement('span');
  name.className = 'person-name';
  name.textContent = p.self ? t('call.youSuffix', { name: displayOf(p.displayName) }) : displayOf(p.displayName);
  var sub = document.createElement('span');
  sub.className = 'person-sub';
  sub.textContent = p.interpreter ? t('people.interpreter', { lang: languageName(p.interpreter) })
    : p.moderator ? t('people.moderator') : p.viewer ? t('people.viewer') : '';
  info.appendChild(name);
  if (sub.textContent) info.appendChild(sub);
  li.appendChild(av);
  li.appendChild(info);
  var icons = document.createElement('div');
  icons.className = 'person-icons';
  if (p.hand) icons.appendChild(svgUse('i-hand', 'hand-on'));
  if (!p.viewer) {
    icons.appendChild(svgUse(p.audio ? 'i-mic' : 'i-mic-off', p.audio ? '' : 'off'));
    icons.appendChild(svgUse(p.video ? 'i-cam' : 'i-cam-off', p.video ? '' : 'off'));
  }
  li.appendChild(icons);
  if (isMod && !p.self) {
    var acts = document.createElement('div');
    acts.className = 'person-actions';
    var name2 = displayOf(p.displayName);
    if (!p.viewer) {
      acts.appendChild(p.audio
        ? iconBtn('i-mic-off', t('mod.micOff', { name: name2 }), 'act-mic-off', function () { moderate('turnOff', { peerId: p.peerId, kind: 'audio' }); })
        : iconBtn('i-mic', t('mod.askMic', { name: name2 }), 'act-ask-mic', function () { moderate('ask', { peerId: p.peerId, kind: 'audio' }); }));
      acts.appendChild(p.video
        ? iconBtn('i-cam-off', t('mod.camOff', { name: name2 }), 'act-cam-off', function () { moderate('turnOff', { peerId: p.peerId, kind: 'video' }); })
        : iconBtn('i-cam', t('mod.askCam', { name: name2 }), 'act-ask-cam', function () { moderate('ask', { peerId: p.peerId, kind: 'video' }); }));
      acts.appendChild(p.screen
        ? iconBtn('i-screen', t('mod.shareOff', { name: name2 }), 'act-share-off on', function () { moderate('turnOff', { peerId: p.peerId, kind: 'screen' }); })
        : iconBtn('i-screen', t('mod.askShare', { name: name2 }), 'act-ask-share', function () { moderate('ask', { peerId: p.peerId, kind: 'screen' }); }));
    }
    if (p.hand) acts.appendChild(iconBtn('i-hand', t('mod.lowerHand', { name: name2 }), 'act-lower-hand', function () { moderate('lowerHand', { peerId: p.peerId }); }));
    acts.appendChild(iconBtn('i-exit', t('mod.remove', { name: name2 }), 'act-remove danger', function () {
      confirmDialog(t('mod.removeConfirm', { name: name2 }), t('mod.removeOk')).then(function (yes) {
        if (yes) moderate('remove', { peerId: p.peerId });
      });
    }));
    li.appendChild(acts);
    if (!p.viewer) {
      var perms = document.createElement('div');
      perms.className = 'person-perms';
      [['audio', 'mod.allowMic'], ['video', 'mod.allowCam'], ['screen', 'mod.allowShare']].forEach(function (pair) {
        var lab = document.createElement('label');
        lab.className = 'perm';
        var cb = document.createElement('input');
        cb.type = 'checkbox';
        cb.className = 'perm-' + pair[0];
        cb.checked = !p.allowed || p.allowed[pair[0]] !== false;
        cb.addEventListener('change', function () { moderate('allow', { peerId: p.peerId, kind: pair[0], allowed: cb.checked }); });
        var span = document.createElement('span');
        span.textContent = t(pair[1]);
        lab.appendChild(cb);
        lab.appendChild(span);
        perms.appendChild(lab);
      });
      li.appendChild(perms);
    }
  }
  return li;
}

function renderPeople() {
  var me = room.me();
  el.modTools.hidden = !me.moderator;
  el.waitingToggle.checked = state.waitingRoom;
  el.peopleList.textContent = '';
  room.people().forEach(function (p) { el.peopleList.appendChild(personRow(p, me.moderator)); });
  el.waitingSection.hidden = !(me.moderator && state.waiting.length);
  el.waitingList.textContent = '';
  state.waiting.forEach(function (w) {
    var li = document.createElement('li');
    li.className = 'person waiting-person';
    li.dataset.peerId = w.peerId;
    var av = document.createElement('div');
    av.className = 'avatar avatar-sm';
    setAvatar(av, w.displayName, w.peerId);
    var name = document.createElement('span');
    name.className = 'person-name';
    name.textContent = displayOf(w.displayName);
    var acts = document.createElement('div');
    acts.className = 'person-actions';
    var admit = document.createElement('button');
    admit.type = 'button';
    admit.className = 'btn primary small act-admit';
    admit.textContent = t('mod.admit');
    admit.addEventListener('click', function () { moderate('admit', { peerId: w.peerId }); });
    var reject = document.createElement('button');
    reject.type = 'button';
    reject.className = 'btn secondary small act-reject';
    reject.textContent = t('mod.reject');
    reject.addEventListener('click', function () { moderate('reject', { peerId: w.peerId }); });
    acts.appendChild(admit);
    acts.appendChild(reject);
    li.appendChild(av);
    li.appendChild(name);
    li.appendChild(acts);
    el.waitingList.appendChild(li);
  });
  applyOffline();
}

function applyOffline() {
  el.chatSend.disabled = state.offline;
  [el.modTools, el.peopleList].forEach(function (root) {
    root.querySelectorAll('button, input').forEach(function (c) { c.disabled = state.offline; });
  });
}

function setOffline(on) {
  if (state.offline === !!on) return;
  state.offline = !!on;
  applyOffline();
}

function setRecording(on, canRecord) {
  state.recording = !!on;
  el.recordToggle.hidden = !canRecord;
  var key = state.recording ? 'mod.stopRecord' : 'mod.record';
  el.recordLabel.setAttribute('data-i18n', key);
  el.recordLabel.textContent = t(key);
  el.recordToggle.setAttribute('aria-pressed', state.recording ? 'true' : 'false');
}

function setWaiting(list) {
  var before = state.waiting.length;
  state.waiting = Array.isArray(list) ? list : [];
  if (state.waiting.length > before) {
    var last = state.waiting[state.waiting.length - 1];
    toast(t('mod.someoneWaiting', { name: displayOf(last.displayName) }), { action: { label: t('mod.review'), fn: function () { show('people'); } }, duration: 10000 });
  }
  refresh();
}

function setWaitingRoom(on) { state.waitingRoom = !!on; refresh(); }

function refresh() {
  if (state.open && state.tab === 'people') renderPeople();
  room.onVisibility(state.open, state.tab, state.unread, state.waiting.length);
}

function reset() {
  el.chatList.textContent = '';
  el.chatEmpty.hidden = false;
  state.unread = 0;
  state.waiting = [];
  hide();
}

/** Starts the panel for a room (see the header). */
export function initPanels(r) {
  room = r;
  el.tabChat.addEventListener('click', function () { show('chat'); });
  el.tabPeople.addEventListener('click', function () { show('people'); });
  el.close.addEventListener('click', hide);
  el.panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') hide(); });

  el.chatForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = el.chatInput.value.trim();
    if (!text) return;
    if (send({ type: 'chat', text: text.slice(0, 2000) })) el.chatInput.value = '';
  });

  el.waitingToggle.addEventListener('change', function () { moderate('waitingRoom', { on: el.waitingToggle.checked }); });
  el.muteAll.addEventListener('click', function () { moderate('muteAll'); });
  el.camsOffAll.addEventListener('click', function () { moderate('camerasOffAll'); });
  // Record / Stop: only for moderators whose token allows recording (canRecord); the server checks too.
  el.recordToggle.addEventListener('click', function () {
    send({ type: state.recording ? 'stopRecording' : 'startRecording' });
  });
}

export function showPanel(tab) { if (room) show(tab); }
export function togglePanel(tab) { if (room) toggle(tab); }
export function addChatMessage(msg) { if (room) addChat(msg); }
export function refreshPanels() { if (room) refresh(); }
export function resetPanels() { if (room) reset(); }
export function setWaitingList(list) { if (room) setWaiting(list); }
export function setPanelWaitingRoom(on) { if (room) setWaitingRoom(on); }
export function setPanelOffline(on) { if (room) setOffline(on); }
export function setPanelRecording(on, canRecord) { if (room) setRecording(on, canRecord); }
/** How many wait in the waiting room (the people button's badge). */
export function waitingCount() { return state.waiting.length; }
/** Whether the panel is started (a page with a valid room). */
export function panelsReady() { return !!room; }
