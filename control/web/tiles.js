/* meet — the stage: a tile per participant (own tile included) and per shared screen, their layout,
 * remote playback (volume, the speaker, the browser's autoplay block), pin, sorting and the active
 * speaker (the relay's `activeSpeaker`: a ring, `data-active-speaker`, the tile's accessible name,
 * sortPeers' order and the webinar's large tile).
 *
 * Owns the remote participants (ensurePeer / removePeer; read with forEachPeer, hasPeer), the webinar
 * viewers (no tile), the screen tiles, the own tile, the pin, the grid's page, the speaker view and the
 * self view. rtc.js hands the received tracks over (setPeerTracks, setScreenTracks) after each offer;
 * the own tile shows media.js's camera and microphone (registered with onLocalMediaShown).
 */
import { t } from './i18n.js';
import { roomAttributes } from './attributes.js';
import { PREF, readPref, writePref } from './prefs.js';
import { session } from './session.js';
import { displayOf, setAvatar, toast } from './ui.js';
import { announcePeer, announcePeerGone, apiError, emit } from './client-events.js';
import { send } from './socket.js';
import { resumeAudio, speakingRing, unwatchLevel, watchLevel, watchedTrack } from './audio-levels.js';
import { panelsReady, refreshPanels, showPanel } from './panels.js';
import { camera, microphone, onLocalMediaShown } from './media.js';

var $ = function (id) { return document.getElementById(id); };
var el = {
  call: $('call'), tiles: $('tiles'), tpl: $('tile-template'), count: $('participant-count'), participants: $('participants'),
  aloneHint: $('alone-hint'), aloneText: $('alone-text'), notStarted: $('not-started'),
  pager: $('pager'), pagerText: $('pager-text'), pagerPrev: $('pager-prev'), pagerNext: $('pager-next'),
  unmute: $('unmute-banner'), interpreterAudio: $('interpreter-audio')
};

var peers = new Map();        // peerId -> { peerId, displayName, audio, video, screen, hand, moderator, allowed, interpreter, stream, tile, el }
var viewers = new Map();      // peerId -> info of webinar viewers (no tile)
var screenTiles = new Map();  // peerId -> { tile, el, stream }
var selfTile = null;
var activeSpeaker = null;     // peerId the relay last named as the speaker
var pinned = null;            // the tile id ('peerId' or 'peerId:screen') shown large
var page = 0;                 // the grid's page in a large room (paginate)
var speakerView = readPref(PREF.view) === 'speaker';  // the person's choice: speaker view, else the grid
var stageMainTile = null;     // the speaker stage's large tile
var selfHidden = false;       // the self view is off (settings.js)
var audioBlocked = false;     // the browser refused to play sound before a click
var incomingMuted = false;    // Client API muteAudio
var volume = 1;               // remote playback volume, 0..1 (Client API setVolume)
var originalVolume = 1;       // the original speakers' share of it beneath an interpretation channel
var sinkId = '';              // the speaker chosen in the settings ('' = the browser's default)
var canSink = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;

function makeTile(peerId, self) {
  var frag = el.tpl.content.cloneNode(true);
  var tile = frag.querySelector('.tile');
  tile.dataset.peerId = peerId || '';
  tile.setAttribute('role', 'group');
  var v = tile.querySelector('video');
  if (self) {
    tile.classList.add('self');
    v.muted = true;
    v.setAttribute('muted', '');
  }
  tile.querySelector('.tile-mic-off').setAttribute('aria-label', t('call.micMuted'));
  var pin = tile.querySelector('.tile-pin');
  pin.addEventListener('click', function () { togglePin(tile.dataset.peerId); });
  return tile;
}

function setTileInfo(tile, name, audio, video, self) {
  var label = self ? t('call.youSuffix', { name: displayOf(name) }) : displayOf(name);
  tile.querySelector('.tile-name').textContent = label;
  tile.title = label;
  tile.dataset.label = label;
  setAvatar(tile.querySelector('.avatar'), name, tile.dataset.peerId || name);
  if (!self) {
    tile.classList.toggle('cam-off', !video);
    tile.classList.toggle('mic-off', !audio);
  }
  decorateTile(tile);
}

export function ensurePeer(info) {
  var id = info && info.peerId != null ? String(info.peerId) : '';
  if (!id || id === session.peerId) return null;
  if (info.viewer === true) {
    // Webinar viewers have no tile; they are listed in the people panel. A speaker learns of a
    // viewer's raised hand by a pop-up that opens the list.
    var was = viewers.get(id);
    if (was && !was.hand && info.hand && session.joined) handRaised(info.displayName, true);
    viewers.set(id, info);
    refreshPanels();
    return null;
  }
  var p = peers.get(id);
  if (!p) {
    p = { peerId: id, displayName: '', audio: false, video: false, hand: undefined, stream: new MediaStream(), tile: null, el: null };
    p.tile = makeTile(id, false);
    p.el = p.tile.querySelector('video');
    p.el.srcObject = p.stream;
    peers.set(id, p);
    el.tiles.appendChild(p.tile);
    updateCount();
  }
  // An interpreter is heard (by those who chose its language) but never shown: its tile leaves the
  // grid (also when the offer's tracks made the peer before `peerJoined` said who it is); the people
  // list names it with its language.
  if (typeof info.interpreter === 'string' && !p.interpreter) {
    p.interpreter = info.interpreter;
    el.interpreterAudio.appendChild(p.tile);
    p.el.volume = peerVolume(p);
    updateCount();
  }
  var before = { audio: p.audio, video: p.video, hand: p.hand };
  if (typeof info.displayName === 'string') p.displayName = info.displayName;
  if (typeof info.audio === 'boolean') p.audio = info.audio;
  if (typeof info.video === 'boolean') p.video = info.video;
  ['screen', 'hand', 'moderator'].forEach(function (k) { if (typeof info[k] === 'boolean') p[k] = info[k]; });
  if (info.allowed) p.allowed = info.allowed;
  // Only a hand raised now pops up: one already up when the page learns of the peer (a join, a
  // rejoin after an outage) was raised before and is shown on the tile, not announced again.
  if (p.hand && before.hand === false && session.joined) handRaised(p.displayName);
  before.hand = p.hand;
  setTileInfo(p.tile, p.displayName, p.audio, p.video, false);
  refreshPanels();
  announcePeer(p, info, before);
  return p;
}

function handRaised(name, viewer) {
  var text = t('hand.raised', { name: displayOf(name) });
  var opts = viewer && panelsReady() ? { duration: 10000, action: { label: t('hand.show'), fn: function () { showPanel('people'); } } } : {};
  toast(text, opts);
}

export function removePeer(id) {
  if (viewers.delete(String(id))) refreshPanels();
  removeScreenTile(String(id));
  var p = peers.get(String(id));
  if (!p) return null;
  unwatchLevel('peer:' + p.peerId);
  if (activeSpeaker === p.peerId) activeSpeaker = null;
  p.el.srcObject = null;
  if (p.tile.parentNode) p.tile.parentNode.removeChild(p.tile);
  peers.delete(p.peerId);
  updateCount();
  return p;
}

export function clearPeers() {
  Array.from(peers.keys()).forEach(removePeer);
  if (selfTile && selfTile.parentNode) selfTile.parentNode.removeChild(selfTile);
  selfTile = null;
  el.tiles.textContent = '';
  updateCount();
}

function shownPeerCount() {
  var n = 0;
  peers.forEach(function (p) { if (!p.interpreter) n++; });
  return n;
}

export function updateCount() {
  var others = shownPeerCount();
  var n = others + (selfTile ? 1 : 0);
  el.count.textContent = String(n);
  var label = t('call.participants', { n: n });
  el.participants.setAttribute('aria-label', label);
  el.participants.title = label;
  el.tiles.dataset.count = String(n);
  // Nobody else on the stage: a webinar viewer waits for the start; a speaker is told how many watch
  // (viewers have no tile), or that nobody is here yet.
  var empty = session.pageState === 'in-call' && others === 0;
  var watching = session.mode === 'webinar' ? session.room.viewers || 0 : 0;
  el.aloneHint.hidden = !empty || !session.speaker;
  el.aloneText.textContent = watching ? t('webinar.watching', { n: watching }) : t('call.alone');
  el.notStarted.hidden = !empty || session.speaker;
  layoutTiles();
}

// Fit n tiles in the stage: as large as possible, 16:9 (up to 4:3 when there is room). In a webinar the
// active speaker's tile is the large one, the others a row below.
export function layoutTiles() {
  var box = el.tiles;
  var shown = shownTiles(box);
  var alone = box.classList.contains('pin-alone');
  var strip = !!pinned && !alone && shown.length > 1;
  var n = pinned && !strip ? 1 : shown.length;
  var main = stageMain(box);
  var stage = !pinned && n > 1 && !!main;
  box.classList.toggle('speaker-stage', stage);
  Array.prototype.forEach.call(box.children, function (x) { x.classList.toggle('stage-main', stage && x === main); });
  stageMainTile = stage ? main : stageMainTile;
  box.classList.toggle('filmstrip', strip);
  if (!strip) clearStrip(box);
  scheduleView();
  if (!n || el.call.hidden) return;
  var cs = getComputedStyle(box);
  var W = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  var H = box.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
  if (W <= 0 || H <= 0) return;
  var narrow = W < 560;
  if (!strip && !stage && !pinned) n = paginate(box, shown, narrow ? PAGE_PHONE : PAGE_DESKTOP);
  else paginate(box, [], 1);
  var gap = n > 1 ? (narrow ? 8 : 12) : 0;
  var w, h;
  if (strip) {
    layoutStrip(box, W, H, narrow, gap);
    return;
  } else if (stage) {
    var rowH = Math.max(60, (H - gap) * 0.26);
    var sw = Math.min(W, (H - gap - rowH) * 16 / 9);
    box.style.setProperty('--stage-w', Math.floor(sw) + 'px');
    box.style.setProperty('--stage-h', Math.floor(Math.min(H - gap - rowH, sw * 3 / 4)) + 'px');
    w = Math.min(rowH * 16 / 9, (W - gap * (n - 2)) / (n - 1));
    h = Math.min(rowH, w * 3 / 4);
  } else if (roomAttributes.minimizeTiles && n > 1 && !pinned) {
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
    // Phones: 1-2 tiles share the height in one column, more (a page holds 6) fill two columns.
    var pc = n > 2 ? 2 : 1;
    var pr = Math.ceil(n / pc);
    w = (W - gap * (pc - 1)) / pc;
    h = (H - gap * (pr - 1)) / pr;
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

// Large rooms: the grid shows a page of tiles (25 on a desktop, 6 on a phone) and a pager; the tiles
// of other pages are hidden, so they report height 0 to the relay (scheduleView) and get no video.
var PAGE_DESKTOP = 25, PAGE_PHONE = 6;
function paginate(box, tiles, size) {
  var pages = Math.max(1, Math.ceil(tiles.length / size));
  page = Math.min(Math.max(0, page || 0), pages - 1);
  var from = page * size, to = from + size;
  Array.prototype.forEach.call(box.children, function (x) {
    var i = tiles.indexOf(x);
    x.classList.toggle('off-page', i >= 0 && (i < from || i >= to));
  });
  el.pager.hidden = pages < 2;
  if (pages > 1) {
    el.pagerText.textContent = (page + 1) + ' / ' + pages;
    el.pager.setAttribute('aria-label', t('pager.label', { page: page + 1, pages: pages }));
    el.pagerPrev.disabled = page === 0;
    el.pagerNext.disabled = page === pages - 1;
  }
  return Math.min(size, tiles.length - from);
}

function turnPage(step) {
  page = (page || 0) + step;
  layoutTiles();
}
el.pagerPrev.addEventListener('click', function () { turnPage(-1); });
el.pagerNext.addEventListener('click', function () { turnPage(1); });

// The tiles the stage lays out: all but one's own when the self view is hidden (settings.js).
function shownTiles(box) {
  return Array.prototype.filter.call(box.children, function (x) { return !(selfHidden && x.classList.contains('self')); });
}

// The large tile of the speaker stage: in a webinar the active speaker (oneself included); in the
// speaker view the person chooses (speakerView), the last other person the relay named, else the
// first other tile, so one's own picture is never the large one.
function stageMain(box) {
  var active = activeSpeaker ? tileOf(activeSpeaker) : null;
  if (active && active.parentNode !== box) active = null;
  if (!speakerView) return session.mode === 'webinar' ? active : null;
  if (active && !active.classList.contains('self')) return active;
  if (stageMainTile && stageMainTile.parentNode === box && !stageMainTile.classList.contains('self')) return stageMainTile;
  return Array.prototype.find.call(box.children, function (x) { return !x.classList.contains('self'); }) || null;
}

// A pinned tile (or a screen share) large, the others in a filmstrip beside it (desktop) or below it
// (phone): as many as fit, the rest counted in a "+N" at the strip's end and hidden, so they get no
// video (scheduleView reports their height as 0).
function layoutStrip(box, W, H, narrow, gap) {
  var others = shownTiles(box).filter(function (x) { return !x.classList.contains('pinned'); });
  var sw, sh, mainW, mainH, fit;
  if (narrow) {
    sh = Math.max(64, Math.min(110, H * 0.2));
    sw = sh * 4 / 3;
    mainW = W;
    mainH = H - sh - gap;
    fit = Math.max(1, Math.floor((W + gap) / (sw + gap)));
  } else {
    sw = Math.max(150, Math.min(260, W * 0.2));
    sh = sw * 9 / 16;
    mainW = W - sw - gap;
    mainH = H;
    fit = Math.max(1, Math.floor((H + gap) / (sh + gap)));
  }
  // Who is in the strip: the active speaker and raised hands first, then the page's order.
  var rank = function (x) { return (x.classList.contains('active-speaker') ? 0 : 2) + (x.classList.contains('hand-up') ? 0 : 1); };
  var order = others.slice().sort(function (a, b) { return rank(a) - rank(b); });
  var shown = order.length > fit ? fit - 1 : order.length;
  order.forEach(function (x, i) { x.classList.toggle('off-strip', i >= shown); });
  var more = order.length - shown;
  if (more > 0) box.dataset.more = '+' + more; else delete box.dataset.more;
  box.style.setProperty('--gap', gap + 'px');
  box.style.setProperty('--main-w', Math.floor(mainW) + 'px');
  box.style.setProperty('--main-h', Math.floor(mainH) + 'px');
  box.style.setProperty('--tile-w', Math.floor(sw) + 'px');
  box.style.setProperty('--tile-h', Math.floor(sh) + 'px');
  box.classList.toggle('strip-below', narrow);
}

function clearStrip(box) {
  delete box.dataset.more;
  box.classList.remove('strip-below');
  Array.prototype.forEach.call(box.querySelectorAll('.off-strip'), function (x) { x.classList.remove('off-strip'); });
}

// How tall each remote tile is shown (device pixels; 0 when hidden, e.g. behind a pinned tile), so
// the relay sends each camera's simulcast layer that fills its tile, and no video no one sees.
// Debounced: a layout change resizes every tile at once.
var viewTimer = null;
export function scheduleView() {
  if (viewTimer) return;
  viewTimer = setTimeout(function () {
    viewTimer = null;
    if (!session.joined) return;
    var dpr = window.devicePixelRatio || 1;
    var height = function (tile) {
      if (!tile || !tile.offsetParent) return 0;
      return Math.round(tile.getBoundingClientRect().height * dpr);
    };
    var tiles = [];
    peers.forEach(function (p) { tiles.push({ peerId: p.peerId, source: 'video', height: height(p.tile) }); });
    screenTiles.forEach(function (st, id) { tiles.push({ peerId: id, source: 'screen', height: height(st.tile) }); });
    if (tiles.length) send({ type: 'view', tiles: tiles });
  }, 250);
}

// Frozen video: a camera that is on, shown and not paused by the relay, whose picture has not moved
// for FREEZE_CHECKS checks (an outage, a lost path), is marked on its tile, so a still picture is not taken
// for a live one. Decoded frames are read from the element (no getStats round trip).
var FREEZE_CHECK_MS = 2000, FREEZE_CHECKS = 3;  // 6 s still: a busy machine may stall a few seconds
function framesOf(v) {
  if (v.getVideoPlaybackQuality) return v.getVideoPlaybackQuality().totalVideoFrames;
  return v.webkitDecodedFrameCount || 0;
}
function checkFrozen() {
  if (!session.joined || document.hidden) return;
  peers.forEach(function (p) {
    var tile = p.tile;
    var watch = p.video && !!tile.offsetParent && !tile.classList.contains('audio-only') && p.stream.getVideoTracks().length > 0;
    var n = watch ? framesOf(p.el) : -1;
    var still = watch && n === p.lastFrames && p.lastFrames > 0;
    p.stillChecks = still ? (p.stillChecks || 0) + 1 : 0;
    p.lastFrames = n;
    var frozen = p.stillChecks >= FREEZE_CHECKS;
    if (frozen === tile.classList.contains('frozen')) return;
    tile.classList.toggle('frozen', frozen);
    tile.toggleAttribute('data-frozen', frozen);
    if (tile.classList.contains('audio-only')) return;  // its own note stays
    var note = tile.querySelector('.tile-note');
    note.textContent = frozen ? t('call.frozen') : '';
    note.hidden = !frozen;
  });
}
setInterval(checkFrozen, FREEZE_CHECK_MS);

if (window.ResizeObserver) new ResizeObserver(layoutTiles).observe(el.tiles);
window.addEventListener('resize', layoutTiles);

export function setPeerTracks(p, tracks) {
  var cur = p.stream.getTracks();
  var changed = false;
  cur.forEach(function (tr) { if (tracks.indexOf(tr) < 0) { p.stream.removeTrack(tr); changed = true; } });
  tracks.forEach(function (tr) { if (cur.indexOf(tr) < 0) { p.stream.addTrack(tr); changed = true; } });
  if (!changed) return;
  scheduleView();
  p.el.srcObject = p.stream;
  playRemote(p.el, p);
  var audio = p.stream.getAudioTracks()[0];
  if (audio) watchLevel('peer:' + p.peerId, audio, speakingRing(p.tile));
  else unwatchLevel('peer:' + p.peerId);
}

function peerVolume(p) { return p.interpreter ? volume : volume * originalVolume; }

function playRemote(v, p) {
  v.muted = audioBlocked || incomingMuted;
  v.volume = p ? peerVolume(p) : volume;
  applySink(v);
  var pr = v.play();
  if (!pr || !pr.catch) return;
  pr.catch(function (e) {
    if (e && e.name === 'NotAllowedError') {
      // Autoplay with sound refused: play muted and ask for a click.
      if (!audioBlocked) emit('playingAudioPrevent', {});
      audioBlocked = true;
      v.muted = true;
      v.play().catch(function () {});
      if (session.pageState === 'in-call') el.unmute.hidden = false;
    }
  });
}

export function unblockAudio() {
  audioBlocked = false;
  el.unmute.hidden = true;
  resumeAudio();
  peers.forEach(function (p) { playRemote(p.el, p); });
}

// Tile details that depend on the peer: raised hand, pin, order (sortPeers: cameras on first).
function decorateTile(tile) {
  var id = tile.dataset.peerId;
  var self = tile.classList.contains('self');
  var p = self ? null : peers.get(id);
  var hand = self ? session.hand : !!(p && p.hand);
  var camOn = self ? !!(camera.on && camera.track) : !!(p && p.video);
  var speaking = !!id && id === activeSpeaker;
  tile.classList.toggle('hand-up', hand);
  var pin = tile.querySelector('.tile-pin');
  var isPinned = !!pinned && pinned === id;
  var who = tile.dataset.label || '';
  pin.setAttribute('aria-pressed', isPinned ? 'true' : 'false');
  pin.setAttribute('aria-label', t(isPinned ? 'call.unpinName' : 'call.pinName', { name: who }));
  pin.title = pin.getAttribute('aria-label');
  tile.classList.toggle('active-speaker', speaking);
  if (speaking) tile.dataset.activeSpeaker = ''; else delete tile.dataset.activeSpeaker;
  // The speaker is said in the tile's name, not announced: a live region would talk at every turn.
  if (tile.dataset.label) {
    tile.setAttribute('aria-label', speaking ? t('call.speaking', { name: tile.dataset.label }) : tile.dataset.label);
  }
  // sortPeers: cameras on first (as documented), and within each group the active speaker first.
  var order = 0;
  if (roomAttributes.sortPeers) order = (camOn ? 2 : 4) - (speaking ? 1 : 0);
  if (tile.classList.contains('screen-tile')) order = 0;
  tile.style.order = String(order);
}

// The relay's dominant speaker (signalling `activeSpeaker`); null when the speaker left.
export function setActiveSpeaker(id) {
  id = id == null ? null : String(id);
  if (id === activeSpeaker) return;
  var was = activeSpeaker;
  activeSpeaker = id;
  [was, id].forEach(function (x) { var tile = x && tileOf(x); if (tile) decorateTile(tile); });
  layoutTiles();
  if (id) emit('activeSpeakerChanged', { peerId: id, isLocal: id === session.peerId });
}

function togglePin(id) {
  if (!id) return;
  if (pinned === id) setPin(null); else pinTile(id, false).catch(function () {});
}

export function setScreenTracks(screens) {
  screenTiles.forEach(function (st, id) { if (!screens.has(id)) removeScreenTile(id); });
  screens.forEach(function (track, id) {
    var st = screenTiles.get(id);
    if (!st) {
      var tile = makeTile(id + ':screen', false);
      tile.classList.add('screen-tile');
      var p = peers.get(id);
      var name = p ? displayOf(p.displayName) : t('call.guest');
      st = { tile: tile, el: tile.querySelector('video'), stream: new MediaStream() };
      st.el.muted = true;
      st.el.srcObject = st.stream;
      tile.querySelector('.tile-name').textContent = t('share.of', { name: name });
      tile.dataset.label = t('share.of', { name: name });
      tile.setAttribute('aria-label', tile.dataset.label);
      el.tiles.insertBefore(tile, el.tiles.firstChild);
      screenTiles.set(id, st);
      if (!pinned) setPin(id + ':screen');
      updateCount();
    }
    scheduleView();
    if (st.stream.getVideoTracks()[0] !== track) {
      st.stream.getTracks().forEach(function (x) { st.stream.removeTrack(x); });
      st.stream.addTrack(track);
      st.el.play().catch(function () {});
    }
  });
}

function removeScreenTile(id) {
  var st = screenTiles.get(id);
  if (!st) return;
  screenTiles.delete(id);
  if (pinned === id + ':screen') setPin(null);
  st.el.srcObject = null;
  if (st.tile.parentNode) st.tile.parentNode.removeChild(st.tile);
  updateCount();
}

// The relay stopped (or resumed) a video for this page's weak link: the tile says "audio only".
export function setBandwidthPaused(peerId, source, paused) {
  var st = source === 'screen' ? screenTiles.get(String(peerId)) : null;
  var tile = st ? st.tile : (source === 'video' ? tileOf(String(peerId)) : null);
  if (!tile) return;
  tile.classList.toggle('audio-only', !!paused);
  tile.toggleAttribute('data-audio-only', !!paused);
  var note = tile.querySelector('.tile-note');
  note.textContent = paused ? t('call.audioOnly') : '';
  note.hidden = !paused;
}

function tileOf(id) {
  if (id === session.peerId) return selfTile;
  var p = peers.get(id);
  return p ? p.tile : null;
}

// alone: the Client API's enablePin, where the pinned participant fills the stage (docs/client-api.md);
// the page's own pins (its pin buttons, a new screen share) keep the others in a filmstrip.
export function setPin(id, alone) {
  var was = pinned;
  pinned = id;
  el.tiles.classList.toggle('has-pin', !!id);
  el.tiles.classList.toggle('pin-alone', !!id && !!alone);
  Array.prototype.forEach.call(el.tiles.children, function (tile) {
    tile.classList.toggle('pinned', !!id && tile.dataset.peerId === id);
    decorateTile(tile);
  });
  layoutTiles();
  if (was && !id) emit('switchOffPin', {});
}

// --- reading the participants ------------------------------------------------

/** Calls fn(peer) for each remote participant with a tile (peer records are this module's: read only). */
export function forEachPeer(fn) { peers.forEach(function (p) { fn(p); }); }
export function hasPeer(id) { return peers.has(String(id)); }
export function peerIds() { return Array.from(peers.keys()); }
/** Calls fn(info) for each webinar viewer (they have no tile). */
export function forEachViewer(fn) { viewers.forEach(function (v) { fn(v); }); }
/** A fresh session: the viewers it does not list (listed: { peerId: true }) are gone. */
export function forgetViewersExcept(listed) {
  Array.from(viewers.keys()).forEach(function (id) { if (!listed[id]) viewers.delete(id); });
}
export function ownTile() { return selfTile; }
export function pinnedTile() { return pinned; }

/** The peerId the relay last named as the speaker, or null. */
export function activeSpeakerId() { return activeSpeaker; }

/** A new session: the server says who speaks next. */
export function forgetActiveSpeaker() { activeSpeaker = null; }

/** The participant left (or was dropped at a fresh session): unpinned, and peerClosed for the Client API. */
export function peerClosed(p) {
  if (pinned === p.peerId) setPin(null);
  announcePeerGone(p);
}

/** The video element showing `id` (null if none shows it), or undefined for nobody in the room. */
export function participantVideo(id) {
  if (id === session.peerId) return selfTile && selfTile.querySelector('video');
  if (peers.has(id)) return peers.get(id).el;
  return undefined;
}

// --- the own tile ---------------------------------------------------------------

/** After `joined`: a speaker has an own tile, a webinar viewer none; it carries the session's ID and name. */
export function placeOwnTile() {
  if (session.speaker && !selfTile) {
    selfTile = makeTile(session.peerId, true);
    el.tiles.appendChild(selfTile);
  } else if (!session.speaker && selfTile) {
    unwatchLevel('self');
    if (selfTile.parentNode) selfTile.parentNode.removeChild(selfTile);
    selfTile = null;
  }
  if (selfTile) {
    selfTile.dataset.peerId = session.peerId;
    relabelOwnTile();
  }
}

export function relabelOwnTile() {
  if (selfTile) setTileInfo(selfTile, session.displayName, microphone.on, camera.on, true);
}

/** Every tile's name again (a new language). */
export function relabelTiles() {
  relabelOwnTile();
  peers.forEach(function (p) { setTileInfo(p.tile, p.displayName, p.audio, p.video, false); });
}

// The local camera and microphone on the own tile (media.js calls this after each change).
onLocalMediaShown(function (camTrack, micTrack) {
  if (!selfTile) return;
  var v = selfTile.querySelector('video');
  var sCur = v.srcObject && v.srcObject.getVideoTracks()[0];
  if (camTrack !== (sCur || null)) {
    v.srcObject = camTrack ? new MediaStream([camTrack]) : null;
    if (camTrack) v.play().catch(function () {});
  }
  selfTile.classList.toggle('cam-off', !camTrack);
  selfTile.classList.toggle('mic-off', !micTrack);
  if (micTrack && watchedTrack('self') !== micTrack) watchLevel('self', micTrack, speakingRing(selfTile));
  else if (!micTrack) unwatchLevel('self');
});

/** Hides or shows one's own tile on the stage (settings.js); remembered. */
export function setSelfViewHidden(hidden) {
  selfHidden = !!hidden;
  document.body.classList.toggle('self-hidden', selfHidden);
  writePref(PREF.selfView, selfHidden ? 'hidden' : 'shown');
  layoutTiles();
}
export function selfViewHidden() { return selfHidden; }

/** The speaker view (one large tile) or the grid: the person's choice, remembered. */
export function setSpeakerView(on) {
  speakerView = !!on;
  writePref(PREF.view, speakerView ? 'speaker' : 'grid');
  layoutTiles();
}
export function isSpeakerView() { return speakerView; }

// --- pin (the page's pin buttons, the Client API's enablePin) -------------------

/** Pins the tile `id`; `alone`: the Client API's enablePin, the others hidden. Rejects for nobody. */
export function pinTile(id, alone) {
  if (!tileOf(id)) {
    emit('errorGetPin', { peerId: id, error: 'no such participant' });
    return Promise.reject(apiError('unknownPeer', 'no participant "' + id.slice(0, 100) + '" to pin'));
  }
  setPin(id, !!alone);
  emit('switchOnPin', { peerId: id });
  return Promise.resolve(id);
}

// --- remote playback (Client API playAudio, muteAudio, setVolume; the settings' speaker) ---

// The audio output of every remote tile (and of those made later: playRemote reads sinkId).
function applySink(video) {
  if (!canSink || !sinkId) return;
  video.setSinkId(sinkId).catch(function (e) { console.warn('meet: speaker not switched', e && e.name); });
}

/** Plays the remote tiles through the speaker `id` ('' = the browser's default). */
export function setAudioOutput(id) {
  sinkId = id;
  peers.forEach(function (p) { applySink(p.el); });
}
export function audioOutput() { return sinkId; }
export function canChooseAudioOutput() { return canSink; }

/** Plays every remote tile with sound; rejects (notAllowed) when the browser still wants a click. */
export function playAllAudio() {
  audioBlocked = false;
  el.unmute.hidden = true;
  resumeAudio();
  var plays = [];
  peers.forEach(function (p) {
    p.el.muted = incomingMuted;
    var pr = p.el.play();
    // play() may stay pending when the browser pauses the element instead of refusing: give up after 3 s.
    var late = new Promise(function (r) { setTimeout(function () { r({ name: 'Timeout' }); }, 3000); });
    if (pr && pr.then) plays.push(Promise.race([pr.then(function () { return null; }, function (e) { return e; }), late]));
  });
  return Promise.all(plays).then(function (errs) {
    var paused = [];
    peers.forEach(function (p) { if (p.el.paused) paused.push(p.peerId); });
    if (!paused.length && !errs.some(function (e) { return e && e.name === 'NotAllowedError'; })) return true;
    audioBlocked = true;
    peers.forEach(function (p) { p.el.muted = true; p.el.play().catch(function () {}); });
    if (session.pageState === 'in-call') el.unmute.hidden = false;
    throw apiError('notAllowed', 'the browser plays sound only after a click in the room or on the host page');
  });
}

export function muteIncoming(mute) {
  incomingMuted = mute;
  peers.forEach(function (p) { p.el.muted = mute || audioBlocked; });
}

/** v: 0..100. */
export function setVolume(v) {
  volume = Math.max(0, Math.min(100, v)) / 100;
  peers.forEach(function (p) { p.el.volume = peerVolume(p); });
}

/** The original speakers' volume beneath an interpretation channel, 0..1 (interpretation.js). */
export function setOriginalVolume(f) {
  originalVolume = Math.max(0, Math.min(1, f));
  peers.forEach(function (p) { p.el.volume = peerVolume(p); });
}

/** For tests and the people list: the participant's interpretation language, or null. */
export function peerInterpreter(id) {
  var p = peers.get(String(id));
  return p && p.interpreter ? p.interpreter : null;
}
