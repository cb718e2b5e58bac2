/* meet — language interpretation in the call page (issue 14; docs/signalling.md "Language
 * interpretation"): the listener's Language menu (Original or a channel, Mute original), the
 * interpreter's header mark, the moderator's on/off switch, and the Client API's
 * interpretationChanged / setInterpretation.
 *
 * Owns the room's interpretation state as the server last told it (`interpretation` messages). The
 * server picks which audio reaches this page; the page only lowers the original speakers beneath a
 * channel (tiles.js setOriginalVolume) when the original is not muted by the server.
 */
import { addStrings, languageName, t } from './i18n.js';
import { session } from './session.js';
import { toast } from './ui.js';
import { apiError, emit } from './client-events.js';
import { send } from './socket.js';
import { setOriginalVolume } from './tiles.js';

// The original beneath a channel: audible, but well below the interpreter.
var ORIGINAL_BENEATH = 0.25;
var ANSWER_MS = 5000;

var $ = function (id) { return document.getElementById(id); };
var el = {
  btn: $('interp-btn'), label: $('interp-label'), menu: $('interp-menu'), list: $('interp-options'),
  muteOriginal: $('interp-mute-original'), pill: $('interp-pill'), pillText: $('interp-pill-text'),
  modSwitch: $('interp-mod'), modToggle: $('interp-toggle')
};

var state = { available: false, on: false, channels: [], channel: null, muteOriginal: false, reason: null };
var waiters = [];  // setInterpretation calls waiting for the server's answer

export function interpretationState() {
  return { available: state.available, on: state.on, channels: state.channels.slice(), channel: state.channel,
    muteOriginal: state.muteOriginal, reason: state.reason };
}

function interpreterLang() {
  var you = session.you;
  return you && typeof you.interpreter === 'string' ? you.interpreter : null;
}

function menuShown() { return state.available && state.on && state.channels.length > 0 && !interpreterLang(); }

/** The server's `interpretation` message. */
export function handleInterpretation(msg) {
  state.available = !!msg.available;
  state.on = !!msg.on;
  state.channels = Array.isArray(msg.channels) ? msg.channels.map(String) : [];
  state.channel = typeof msg.channel === 'string' ? msg.channel : null;
  state.muteOriginal = !!msg.muteOriginal;
  state.reason = typeof msg.reason === 'string' ? msg.reason : null;
  if (state.reason === 'channel-gone') {
    toast(t('interp.channelGone', { lang: languageName(lastChannel || '') }), { type: 'warn', duration: 8000 });
  } else if (state.reason === 'interpretation-off') {
    toast(t('interp.turnedOff'), { duration: 8000 });
  }
  lastChannel = state.channel;
  render();
  var now = interpretationState();
  emit('interpretationChanged', now);
  var w = waiters;
  waiters = [];
  w.forEach(function (fn) { fn(now); });
}
var lastChannel = null;

/** The listener's choice (Client API setInterpretation, the menu): resolves with the state the server
 * confirms; rejects with notFound for a channel the room does not have. */
export function setInterpretation(channel, opts) {
  var ch = channel == null || channel === '' ? null : String(channel);
  var mute = opts && typeof opts.muteOriginal === 'boolean' ? opts.muteOriginal : state.muteOriginal;
  if (!session.joined) return Promise.reject(apiError('notJoined', 'join the room first'));
  if (interpreterLang()) return Promise.reject(apiError('notAllowed', 'an interpreter does not choose a channel'));
  if (!state.available || !state.on) return Promise.reject(apiError('notAllowed', 'interpretation is not on in this room'));
  if (ch !== null && state.channels.indexOf(ch) < 0) {
    return Promise.reject(apiError('notFound', 'no interpretation channel "' + ch.slice(0, 20) + '"'));
  }
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () {
      waiters = waiters.filter(function (w) { return w !== done; });
      reject(apiError('failed', 'the server did not answer'));
    }, ANSWER_MS);
    function done(s) { clearTimeout(timer); resolve(s); }
    waiters.push(done);
    if (!send({ type: 'interpretation', channel: ch, muteOriginal: mute })) {
      clearTimeout(timer);
      waiters = waiters.filter(function (w) { return w !== done; });
      reject(apiError('notJoined', 'join the room first'));
    }
  });
}

/** The session ended (left, closed, a fresh join): nothing is available until the server says so. */
export function resetInterpretation() {
  state = { available: false, on: false, channels: [], channel: null, muteOriginal: false, reason: null };
  lastChannel = null;
  render();
}

/** Redraws everything this module shows (also after a language change or a `youUpdated`). */
export function render() {
  var own = interpreterLang();
  el.pill.hidden = !own || !session.joined;
  if (own) el.pillText.textContent = t('interp.youInterpret', { lang: languageName(own) });
  el.modSwitch.hidden = !state.available;
  el.modToggle.checked = state.on;
  var shown = menuShown();
  el.btn.hidden = !shown;
  el.btn.parentNode.hidden = !shown;  // the wrapper too: no empty gap in the control bar
  if (!shown) closeMenu(false);
  var current = state.channel ? languageName(state.channel) : t('interp.original');
  el.label.textContent = state.channel ? state.channel.toUpperCase() : '';
  el.label.hidden = !state.channel;
  var name = t('interp.menuLabel', { lang: current });
  el.btn.setAttribute('aria-label', name);
  el.btn.title = name;
  el.btn.classList.toggle('active', !!state.channel);
  // The list is drawn anew: keep the keyboard focus on the same item.
  var focused = el.list.contains(document.activeElement) ? document.activeElement.dataset.channel : null;
  el.list.textContent = '';
  [null].concat(state.channels).forEach(function (code) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'interp-option';
    b.setAttribute('role', 'menuitemradio');
    b.setAttribute('aria-checked', code === state.channel ? 'true' : 'false');
    b.dataset.channel = code || '';
    b.textContent = code ? languageName(code) : t('interp.original');
    b.addEventListener('click', function () { choose(code, state.muteOriginal); });
    el.list.appendChild(b);
    if (focused !== null && b.dataset.channel === focused) b.focus();
  });
  el.muteOriginal.setAttribute('aria-checked', state.muteOriginal ? 'true' : 'false');
  el.muteOriginal.disabled = !state.channel;
  setOriginalVolume(state.channel && !state.muteOriginal ? ORIGINAL_BENEATH : 1);
}

function choose(code, mute) {
  setInterpretation(code, { muteOriginal: mute }).catch(function (e) {
    toast(t('call.error', { message: (e && e.message) || e }), { type: 'error' });
  });
}

function openMenu() {
  el.menu.hidden = false;
  el.btn.setAttribute('aria-expanded', 'true');
  var first = el.menu.querySelector('[aria-checked="true"]') || el.menu.querySelector('button');
  if (first) first.focus();
}

function closeMenu(focusButton) {
  if (el.menu.hidden) return;
  el.menu.hidden = true;
  el.btn.setAttribute('aria-expanded', 'false');
  if (focusButton) el.btn.focus();
}

// Arrow keys move between the menu's items, Escape closes it.
function onMenuKey(e) {
  var items = Array.prototype.slice.call(el.menu.querySelectorAll('button:not(:disabled)'));
  var i = items.indexOf(document.activeElement);
  if (e.key === 'Escape') { e.preventDefault(); closeMenu(true); return; }
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  e.preventDefault();
  var next = e.key === 'ArrowDown' ? i + 1 : i - 1;
  items[(next + items.length) % items.length].focus();
}

el.btn.addEventListener('click', function () { el.menu.hidden ? openMenu() : closeMenu(true); });
el.menu.addEventListener('keydown', onMenuKey);
document.addEventListener('keydown', function (e) {
  if (e.key === 'Escape' && !el.menu.hidden && !el.menu.contains(document.activeElement)) closeMenu(true);
});
el.muteOriginal.addEventListener('click', function () { choose(state.channel, !state.muteOriginal); });
document.addEventListener('click', function (e) {
  if (!el.menu.hidden && !el.menu.contains(e.target) && !el.btn.contains(e.target)) closeMenu(false);
});
el.modToggle.addEventListener('change', function () {
  send({ type: 'moderate', action: 'interpretation', on: el.modToggle.checked });
});

addStrings({
  en: {
    'interp.menuLabel': 'Language: {lang}',
    'interp.original': 'Original',
    'interp.muteOriginal': 'Mute original',
    'interp.youInterpret': 'You interpret into {lang}',
    'interp.audioOnly': 'Interpreters send audio only',
    'interp.channelGone': '{lang} interpretation ended; you hear the original',
    'interp.turnedOff': 'Interpretation was turned off; you hear the original',
    'interp.moderate': 'Interpretation',
    'people.interpreter': 'Interpreter · {lang}',
    'closed.noIntLang': 'Access denied: this interpreter link does not say which language you interpret into (intLang).'
  },
  fr: {
    'interp.menuLabel': 'Langue : {lang}',
    'interp.original': 'Version originale',
    'interp.muteOriginal': 'Couper l’original',
    'interp.youInterpret': 'Vous interprétez vers : {lang}',
    'interp.audioOnly': 'Les interprètes n’envoient que le son',
    'interp.channelGone': 'Interprétation terminée ({lang}) ; vous entendez l’original',
    'interp.turnedOff': 'L’interprétation a été désactivée ; vous entendez l’original',
    'interp.moderate': 'Interprétation',
    'people.interpreter': 'Interprète · {lang}',
    'closed.noIntLang': 'Accès refusé : ce lien d’interprète n’indique pas la langue d’interprétation (intLang).'
  },
  de: {
    'interp.menuLabel': 'Sprache: {lang}',
    'interp.original': 'Original',
    'interp.muteOriginal': 'Original stummschalten',
    'interp.youInterpret': 'Sie dolmetschen in: {lang}',
    'interp.audioOnly': 'Dolmetscher senden nur Ton',
    'interp.channelGone': 'Verdolmetschung beendet ({lang}); Sie hören das Original',
    'interp.turnedOff': 'Die Verdolmetschung wurde ausgeschaltet; Sie hören das Original',
    'interp.moderate': 'Verdolmetschung',
    'people.interpreter': 'Dolmetscher · {lang}',
    'closed.noIntLang': 'Zugriff verweigert: Dieser Dolmetscher-Link nennt keine Zielsprache (intLang).'
  },
  lb: {
    'interp.menuLabel': 'Sprooch: {lang}',
    'interp.original': 'Original',
    'interp.muteOriginal': 'Original stommschalten',
    'interp.youInterpret': 'Dir dolmetscht an: {lang}',
    'interp.audioOnly': 'Dolmetscher schécken nëmmen Toun',
    'interp.channelGone': 'Dolmetschen eriwwer ({lang}); Dir héiert d’Original',
    'interp.turnedOff': 'D’Dolmetschen ass ausgeschalt; Dir héiert d’Original',
    'interp.moderate': 'Dolmetschen',
    'people.interpreter': 'Dolmetscher · {lang}',
    'closed.noIntLang': 'Zougang refuséiert: dëse Dolmetscher-Link seet net, an wéi eng Sprooch Dir dolmetscht (intLang).'
  },
  ru: {
    'interp.menuLabel': 'Язык: {lang}',
    'interp.original': 'Оригинал',
    'interp.muteOriginal': 'Без оригинала',
    'interp.youInterpret': 'Вы переводите на язык: {lang}',
    'interp.audioOnly': 'Переводчики передают только звук',
    'interp.channelGone': 'Перевод завершён ({lang}); вы слышите оригинал',
    'interp.turnedOff': 'Перевод отключён; вы слышите оригинал',
    'interp.moderate': 'Синхронный перевод',
    'people.interpreter': 'Переводчик · {lang}',
    'closed.noIntLang': 'Доступ запрещён: в ссылке переводчика не указан язык перевода (intLang).'
  }
});
