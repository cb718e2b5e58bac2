/* meet — /new landing page: create a room link. */
(function () {
  'use strict';
  var I = window.MeetI18n;
  var t = I.t;

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

  function roomUrl() {
    var path = webinarBox.checked ? '/webinar/?roomId=' : '/call/?roomId=';
    return location.origin + path + roomId;
  }

  function render() {
    if (!roomId) return;
    urlInput.value = roomUrl();
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
    copyBtn.classList.remove('done');
    copyLabel.textContent = t('new.copy');
  }

  function copied(ok) {
    copyBtn.classList.toggle('done', ok);
    copyLabel.textContent = ok ? t('new.copied') : t('new.copy');
    copyStatus.textContent = ok ? t('new.copied') : t('new.copyFailed');
    clearTimeout(copyTimer);
    copyTimer = setTimeout(resetCopy, 2000);
  }

  function legacyCopy() {
    urlInput.focus();
    urlInput.select();
    try { return document.execCommand('copy'); } catch (e) { return false; }
  }

  function copy() {
    if (!roomId) return;
    var text = urlInput.value;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(true); },
        function () { copied(legacyCopy()); });
    } else {
      copied(legacyCopy());
    }
  }

  // Scripts are deferred, so the DOM is already parsed here.
  I.apply(document);
  document.title = t('new.pageTitle');

  createBtn.addEventListener('click', create);
  webinarBox.addEventListener('change', render);
  copyBtn.addEventListener('click', copy);
  urlInput.addEventListener('focus', function () { urlInput.select(); });
  joinBtn.addEventListener('click', function () {
    if (roomId) location.href = roomUrl();
  });
})();
