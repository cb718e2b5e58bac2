/* meet — small DOM helpers of the call page: icons, toasts, avatars, copying to the clipboard, the
 * page's own confirmation dialog. No state but the toasts on screen.
 */
import { t } from './i18n.js';

var TOAST_MAX = 140;
var toasts = document.getElementById('toasts');

export function svgUse(id, cls) {
  var ns = 'http://www.w3.org/2000/svg';
  var svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'icon' + (cls ? ' ' + cls : ''));
  svg.setAttribute('aria-hidden', 'true');
  var use = document.createElementNS(ns, 'use');
  use.setAttribute('href', '#' + id);
  svg.appendChild(use);
  return svg;
}

export function toast(message, opts) {
  opts = opts || {};
  var node = document.createElement('div');
  node.className = 'toast' + (opts.type ? ' ' + opts.type : '');
  node.setAttribute('role', opts.type === 'error' ? 'alert' : 'status');
  var text = document.createElement('span');
  text.textContent = shorten(message, TOAST_MAX);
  if (text.textContent !== String(message)) node.title = String(message);
  node.appendChild(text);
  if (opts.action) {
    var act = document.createElement('button');
    act.type = 'button';
    act.className = 'toast-action';
    act.textContent = opts.action.label;
    act.addEventListener('click', function () { dismiss(); opts.action.fn(); });
    node.appendChild(act);
  }
  var close = document.createElement('button');
  close.type = 'button';
  close.setAttribute('aria-label', t('common.close'));
  close.appendChild(svgUse('i-close'));
  close.addEventListener('click', dismiss);
  node.appendChild(close);
  toasts.appendChild(node);
  while (toasts.children.length > 4) toasts.removeChild(toasts.firstChild);
  var timer = setTimeout(dismiss, opts.duration || (opts.type === 'error' ? 8000 : 4000));
  function dismiss() {
    clearTimeout(timer);
    node.classList.add('leaving');
    setTimeout(function () { if (node.parentNode) node.parentNode.removeChild(node); }, 220);
  }
  return node;
}

function initials(name) {
  var words = String(name || '').trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '?';
  var first = Array.from(words[0])[0] || '';
  var last = words.length > 1 ? (Array.from(words[words.length - 1])[0] || '') : '';
  return (first + last).toUpperCase();
}

// Each at least 4.6:1 behind the white initials (WCAG AA).
var AVATAR_COLORS = ['#3a6cee', '#8452f5', '#d5336c', '#c54d1f', '#946d1f', '#27845c', '#197f93', '#5c65e6', '#b25099', '#548034'];
function avatarColor(key) {
  // FNV-1a: neighbouring ids (peer1, peer2) still get different colours.
  var h = 0x811c9dc5;
  var s = String(key || '');
  for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  h ^= h >>> 13;
  return AVATAR_COLORS[(h >>> 0) % AVATAR_COLORS.length];
}

// Initials on a coloured disc, or a person glyph when there is no name yet.
export function setAvatar(node, name, colorKey) {
  var ini = name && String(name).trim() ? initials(name) : '';
  if (node.dataset.initials === ini && node.firstChild) return;
  node.dataset.initials = ini;
  node.textContent = '';
  if (ini) node.textContent = ini;
  else node.appendChild(svgUse('i-person', 'avatar-icon'));
  node.style.setProperty('--avatar-bg', ini ? avatarColor(colorKey || name) : '#4a5263');
}

export function displayOf(name) { return name && String(name).trim() ? String(name) : t('call.guest'); }

export function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
  }
  return legacyCopy(text);
}
function legacyCopy(text) {
  var ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  var ok = false;
  try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
  document.body.removeChild(ta);
  return ok ? Promise.resolve() : Promise.reject(new Error('copy failed'));
}

// At most `max` characters, cut at the last word boundary before it, with an ellipsis.
export function shorten(text, max) {
  var chars = Array.from(String(text));
  if (chars.length <= max) return chars.join('');
  var cut = chars.slice(0, max).join('');
  var space = cut.search(/\s\S*$/);
  if (space > cut.length / 2) cut = cut.slice(0, space);
  return cut.replace(/[\s.,;:!?\u2014-]+$/, '') + '\u2026';
}

// The page's own confirmation (not the browser's confirm(), which blocks the page, shows the
// server's address as its title and cannot be translated or styled). Resolves true on OK.
export function confirmDialog(text, okLabel) {
  return new Promise(function (resolve) {
    var d = document.createElement('dialog');
    d.className = 'confirm-dialog';
    var p = document.createElement('p');
    p.id = 'confirm-text';
    p.textContent = text;
    d.setAttribute('aria-labelledby', 'confirm-text');
    var row = document.createElement('div');
    row.className = 'confirm-actions';
    var cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'btn secondary confirm-cancel';
    cancel.textContent = t('common.cancel');
    var ok = document.createElement('button');
    ok.type = 'button';
    ok.className = 'btn danger confirm-ok';
    ok.textContent = okLabel;
    row.appendChild(cancel);
    row.appendChild(ok);
    d.appendChild(p);
    d.appendChild(row);
    var answer = false;
    cancel.addEventListener('click', function () { d.close(); });
    ok.addEventListener('click', function () { answer = true; d.close(); });
    d.addEventListener('close', function () {
      if (d.parentNode) d.parentNode.removeChild(d);
      resolve(answer);
    });
    document.body.appendChild(d);
    d.showModal();
    cancel.focus();
  });
}
