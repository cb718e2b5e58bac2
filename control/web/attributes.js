/* meet — the room URL's attributes (docs: meet-api-docs "Advanced URL Attributes").
 *
 * Every documented attribute is read here once, with its type and default. Unknown attributes are
 * ignored. A malformed value (a non-number for maxWatchers, "yes" for a boolean) falls back to the
 * default and is reported in the console; nothing here throws. JWT-only attributes (role, canRecord,
 * waitingRoom) are ignored when they appear in the URL: they count only inside a signed token, which
 * the server checks. `lang` is read by i18n.js.
 *
 * The token's payload is decoded here WITHOUT checking its signature, only to shape the page before
 * joining (a locked name, a webinar speaker's camera preview); the server verifies the token and its
 * answer (`joined.you`) is what counts.
 *
 * Exports roomAttributes (every attribute, typed and defaulted), tokenClaims (the token's unverified
 * claims that shape the page), attributeProblems (the console warnings) and attributeSpec, and
 * cleanText(), the one sanitiser of names and IDs typed or passed in (the call page uses it too).
 */
import { urlParam } from './i18n.js';
var ID_MAX = 128;
/** The longest display name, in characters. */
export const NAME_MAX = 64;
var problems = [];

function warn(name, raw, why, fallback) {
  var msg = 'meet: URL attribute ' + name + '="' + String(raw).slice(0, 60) + '" ' + why +
    '; using the default (' + (fallback === null ? 'not set' : String(fallback)) + ')';
  problems.push(msg);
  console.warn(msg);
}

/** `value` without control characters, whitespace collapsed and trimmed, cut to `max` characters;
 * null when nothing is left. Never throws. */
export function cleanText(value, max) {
  if (value === null || value === undefined) return null;
  var v = String(value).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').replace(/\s+/g, ' ').trim();
  if (!v) return null;
  return max ? Array.from(v).slice(0, max).join('') : v;
}

function validId(v) { return v.length <= ID_MAX && /^[A-Za-z0-9._-]+$/.test(v); }

var TYPES = {
  bool: function (name, raw, def) {
    var v = String(raw).trim().toLowerCase();
    if (v === 'true' || v === '1' || v === '') return v === '' ? def : true;
    if (v === 'false' || v === '0') return false;
    warn(name, raw, 'is not true or false', def);
    return def;
  },
  num: function (name, raw, def) {
    var v = String(raw).trim();
    if (/^\d{1,12}$/.test(v)) return parseInt(v, 10);
    warn(name, raw, 'is not a whole number', def);
    return def;
  },
  str: function (name, raw, def, max) {
    var v = cleanText(raw, max);
    return v === null ? def : v;
  },
  id: function (name, raw, def) {
    var v = cleanText(raw);
    if (v === null) return def;
    if (!validId(v)) {
      warn(name, raw, 'may only use letters, digits, "-", "_" and "." (at most ' + ID_MAX + ')', def);
      return def;
    }
    return v;
  },
  url: function (name, raw, def) {
    var v = cleanText(raw);
    if (v === null) return def;
    try {
      var u = new URL(v);
      if (u.protocol === 'https:' || u.protocol === 'http:') return u.href;
    } catch (e) { /* fall through */ }
    warn(name, raw, 'is not an http(s) URL', def);
    return def;
  }
};

// name: [type, default, where] — where: 'url' (URL only), 'both' (JWT or URL), 'jwt' (JWT only).
var SPEC = {
  accessToken: ['str', null, 'both'],
  autoplayWithoutAudioTrack: ['bool', false, 'url'],
  canRecord: ['bool', false, 'jwt'],
  controlsDisabled: ['bool', false, 'url'],
  disableChat: ['bool', false, 'url'],
  displayName: ['name', null, 'both'],
  handEnabled: ['bool', false, 'both'],
  hideIndicators: ['bool', false, 'url'],
  itisparticipant: ['bool', false, 'both'],
  lang: ['str', null, 'url'],
  maxBroadcasters: ['num', 0, 'both'],
  maxWatchers: ['num', 0, 'both'],
  minimizeTiles: ['bool', false, 'url'],
  nameScreenDisabled: ['bool', false, 'url'],
  peerId: ['id', null, 'both'],
  role: ['str', null, 'jwt'],
  roomId: ['room', null, 'url'],
  sortPeers: ['bool', false, 'url'],
  startWithFS: ['bool', false, 'url'],
  token: ['str', null, 'both'],
  tokenLifetime: ['num', null, 'both'],
  video: ['url', null, 'both'],
  // meet's extension: 'h264' sends the camera with H.264 (phones' hardware encoders), else VP8.
  videoCodec: ['str', null, 'url'],
  waitingRoom: ['bool', false, 'jwt'],
  // Debug and development attributes, forwarded to the server (which honours them only when allowed).
  accessUrl: ['str', null, 'both'],
  apiEvent: ['str', null, 'both'],
  authEvent: ['str', null, 'both'],
  authorizationAccess: ['str', null, 'both']
};

var values = { roomInvalid: false };
Object.keys(SPEC).forEach(function (name) {
  var type = SPEC[name][0], def = SPEC[name][1], where = SPEC[name][2];
  var raw = urlParam(name);
  if (raw === null) { values[name] = def; return; }
  if (where === 'jwt') {
    console.info('meet: URL attribute ' + name + ' is ignored: it counts only inside a signed token (&token=)');
    values[name] = def;
    return;
  }
  if (type === 'name') { values[name] = TYPES.str(name, raw, def, NAME_MAX); return; }
  if (type === 'room') {
    // The server's rule for a room ID (control/src/signalling/messages.rs `valid_id`), checked here so
    // that a link the server would refuse says so at once, before the camera starts.
    var r = cleanText(raw);
    if (r && !validId(r)) { values.roomInvalid = true; r = null; }
    values[name] = r;
    return;
  }
  values[name] = TYPES[type](name, raw, def);
});

// Unsigned look at the token's payload (see the header comment).
function decodeToken(tok) {
  if (!tok) return {};
  try {
    var part = tok.split('.')[1];
    if (!part) return {};
    var b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var json = decodeURIComponent(Array.prototype.map.call(atob(b64), function (c) {
      return '%' + ('00' + c.charCodeAt(0).toString(16)).slice(-2);
    }).join(''));
    var claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : {};
  } catch (e) {
    console.warn('meet: the token is not a readable JWT; the server will refuse it');
    return {};
  }
}
var claims = decodeToken(values.token);
function claim(name, type) {
  var v = claims[name];
  if (v === undefined || v === null) return undefined;
  if (type === 'bool') return v === true || v === 'true';
  if (type === 'num') return typeof v === 'number' ? v : undefined;
  return typeof v === 'string' ? v : undefined;
}
var token = {
  present: !!values.token,
  displayName: cleanText(claim('displayName'), NAME_MAX),
  itisparticipant: claim('itisparticipant', 'bool'),
  handEnabled: claim('handEnabled', 'bool'),
  moderator: claim('role') === 'moderator'
};

/** Every room-URL attribute, typed and defaulted. */
export const roomAttributes = values;
/** The token's unverified claims (see above): { present, displayName, itisparticipant, handEnabled, moderator }. */
export const tokenClaims = token;
export const attributeProblems = problems;
export const attributeSpec = SPEC;
