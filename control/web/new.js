/* meet — /new landing page: create a room link. */
import './i18n-page.js';
import { apply as applyStrings, t } from './i18n.js';

// Default server prefix + 10 random lowercase alphanumerics.
var SERVER_PREFIX = 'serv0';
var ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomId(len) {
  var out = '';
  var buf = new Uint8Array(32);
  while (out.length < len) {
    crypto.getRandomValues(buf);
    for (var i = 0; i < buf.length && out.length < len; i++) {
      // Rejection sampling keeps the distribution uniform (252 = 7 * 36).
      if (buf[i] < 252) out += ALPHABET[buf[i] % ALPHABET.length];
    }
  }
  return out;
}

var createBtn = document.getElementById('create');
var webinarBox = document.getElementById('webinar');
var result = document.getElementById('result');
var urlInput = document.getElementById('room-url');
var copyBtn = document.getElementById('copy');
var copyLabel = document.getElementById('copy-label');
var copyStatus = document.getElementById('copy-status');
var joinBtn = document.getElementById('join');

var roomId = null;
var copyTimer = null;

var viewerResult = document.getElementById('viewer-result');
var viewerInput = document.getElementById('viewer-url');
var copyViewerBtn = document.getElementById('copy-viewer');
var copyViewerLabel = document.getElementById('copy-viewer-label');
var urlLabel = document.getElementById('room-url-label');
var roomHint = document.getElementById('room-hint');
var joinLabel = document.getElementById('join-label');

// A webinar gives two links: the speakers' (the organiser's too: camera, microphone, sharing, hands
// raised by viewers) and the audience's. `itisparticipant=true` is the URL attribute the server
// honours for a speaker (docs: meet-api-docs "Advanced URL Attributes"); hands are on in both.
function roomUrl() {
  if (!webinarBox.checked) return location.origin + '/call/?roomId=' + roomId;
  return location.origin + '/webinar/?roomId=' + roomId + '&itisparticipant=true&handEnabled=true';
}
function viewerUrl() { return location.origin + '/webinar/?roomId=' + roomId + '&handEnabled=true'; }

function render() {
  if (!roomId) return;
  var webinar = webinarBox.checked;
  urlInput.value = roomUrl();
  viewerInput.value = webinar ? viewerUrl() : '';
  viewerResult.hidden = !webinar;
  urlLabel.textContent = t(webinar ? 'new.speakerLink' : 'new.roomLink');
  roomHint.textContent = t(webinar ? 'new.speakerHint' : 'new.hint');
  joinLabel.textContent = t(webinar ? 'new.joinSpeaker' : 'new.join');
  copyBtn.setAttribute('aria-label', t(webinar ? 'new.copySpeaker' : 'new.copy'));
  result.hidden = false;
}

function create() {
  roomId = SERVER_PREFIX + randomId(10);
  render();
  resetCopy();
  urlInput.focus();
  urlInput.select();
}

function resetCopy() {
  clearTimeout(copyTimer);
  [copyBtn, copyViewerBtn].forEach(function (b) { b.classList.remove('done'); });
  copyLabel.textContent = copyViewerLabel.textContent = t('new.copy');
}

function copied(ok, btn, label) {
  resetCopy();
  btn.classList.toggle('done', ok);
  label.textContent = ok ? t('new.copied') : t('new.copy');
  copyStatus.textContent = ok ? t('new.copied') : t('new.copyFailed');
  clearTimeout(copyTimer);
  copyTimer = setTimeout(resetCopy, 2000);
}

function legacyCopy(input) {
  input.focus();
  input.select();
  try { return document.execCommand('copy'); } catch (e) { return false; }
}

function copyFrom(input, btn, label) {
  if (!roomId) return;
  var text = input.value;
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { copied(true, btn, label); },
      function () { copied(legacyCopy(input), btn, label); });
  } else {
    copied(legacyCopy(input), btn, label);
  }
}
function copy() { copyFrom(urlInput, copyBtn, copyLabel); }

// Module scripts run once the DOM is parsed.
applyStrings(document);
document.title = t('new.pageTitle');

createBtn.addEventListener('click', create);
webinarBox.addEventListener('change', render);
copyBtn.addEventListener('click', copy);
copyViewerBtn.addEventListener('click', function () { copyFrom(viewerInput, copyViewerBtn, copyViewerLabel); });
urlInput.addEventListener('focus', function () { urlInput.select(); });
viewerInput.addEventListener('focus', function () { viewerInput.select(); });
joinBtn.addEventListener('click', function () {
  if (roomId) location.href = roomUrl();
});
