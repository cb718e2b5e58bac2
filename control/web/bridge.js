/* meet — the room's end of the Client API (the host page's end is /meetBridgeApi.js).
 *
 * Runs inside the call page when it is embedded in an iframe. It accepts commands only from the
 * embedding parent window (event.source === window.parent) and only from that window's origin
 * (location.ancestorOrigins, else the referrer's origin, else the origin of the parent's first hello);
 * it posts results and events only to that origin. Commands are checked here (method name, data type,
 * joined or not, moderator or not) and carried out by meetApp (client-api.js). Every call gets exactly
 * one result: { ok: true, result } or { ok: false, error: { code, message } }.
 *
 * Messages (docs/client-api.md, "Wire protocol"):
 *   parent -> room  { meetBridge: 'meet-bridge/1', bridge, kind: 'hello', roomId }
 *                   { meetBridge: 'meet-bridge/1', bridge, kind: 'call', id, name, data }
 *   room -> parent  { meetRoom: 'meet-bridge/1', bridge, kind: 'welcome', events | refused }
 *                   { meetRoom: 'meet-bridge/1', bridge, kind: 'result', id, ok, result | error }
 *                   { meetRoom: 'meet-bridge/1', kind: 'event', name, data }
 */
import { meetApp as app } from './client-api.js';

var PROTOCOL = 'meet-bridge/1';

// Not embedded: nothing to bridge.
if (window.parent !== window) startBridge();

function startBridge() {
  function knownParentOrigin() {
    try {
      var ao = location.ancestorOrigins;
      if (ao && ao.length && ao[0] && ao[0] !== 'null') return ao[0];
    } catch (e) { /* not supported */ }
    try {
      if (document.referrer) {
        var o = new URL(document.referrer).origin;
        if (o && o !== 'null') return o;
      }
    } catch (e) { /* no referrer */ }
    return null;
  }

  var parentOrigin = knownParentOrigin();
  var greeted = false;          // a bridge said hello: events may be posted
  var ready = true;             // call.js booted before this module ran (module scripts run in order)

  function post(msg) {
    if (!parentOrigin) return;
    msg.meetRoom = PROTOCOL;
    try { window.parent.postMessage(msg, parentOrigin); } catch (e) { console.warn('meet: cannot post to the parent', e); }
  }

  /* ---------------------------------------------------------------- */
  /* Errors and data checks                                           */
  /* ---------------------------------------------------------------- */

  function fail(code, message) { var e = new Error(message); e.code = code; return e; }

  function isObj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }
  function typeName(v) { return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v; }

  function want(cond, name, what, data) {
    if (!cond) throw fail('badData', name + ': data must be ' + what + ' (got ' + typeName(data) + ')');
  }

  // A device in `constraints`: true/false, or { deviceId, label, groupId, kind }.
  function checkDevice(name, key, v, allowBool) {
    if (v === undefined) return;
    if (typeof v === 'boolean' && allowBool) return;
    want(isObj(v), name, 'constraints.' + key + ' ' + (allowBool ? 'true, false or ' : '') + 'an object { deviceId, label, groupId, kind }', v);
    ['deviceId', 'label', 'groupId', 'kind'].forEach(function (f) {
      if (v[f] !== undefined && v[f] !== null) want(typeof v[f] === 'string', name, 'constraints.' + key + '.' + f + ' a string', v[f]);
    });
    want(typeof v.deviceId === 'string' && v.deviceId || typeof v.label === 'string' && v.label, name,
      'constraints.' + key + ' with a deviceId or a label', v);
  }

  function constraintsOf(name, data, allowBool) {
    if (data === undefined || data === null) { want(allowBool, name, '{ constraints: { audio | video } }', data); return {}; }
    want(isObj(data), name, 'an object { constraints: { video, audio } }', data);
    var c = data.constraints;
    if (c === undefined && allowBool) return {};
    want(isObj(c), name, 'an object { constraints: { video, audio } }', c);
    checkDevice(name, 'audio', c.audio, allowBool);
    checkDevice(name, 'video', c.video, allowBool);
    return c;
  }

  function str(name, data, what, max) {
    want(typeof data === 'string' && data.trim() !== '', name, what || 'a non-empty string', data);
    if (max) want(Array.from(data).length <= max, name, 'at most ' + max + ' characters', data);
    return data;
  }
  function bool(name, data) { want(typeof data === 'boolean', name, 'a boolean (true or false)', data); return data; }
  function num(name, data, lo, hi) {
    want(typeof data === 'number' && isFinite(data), name, 'a number', data);
    want(data >= lo && data <= hi, name, 'a number from ' + lo + ' to ' + hi, data);
    return data;
  }

  function needJoined() { if (!app.joined) throw fail('notJoined', 'join the room first'); }
  function needModerator(name) {
    if (!app.isModerator) throw fail('notAllowed', name + ' is for moderators only');
  }

  /* ---------------------------------------------------------------- */
  /* Methods: check data, then call meetApp                           */
  /* ---------------------------------------------------------------- */

  var METHODS = {
    join: function (d) { return app.join(constraintsOf('join', d, true)); },
    enableMic: function () { return app.enableMic(); },
    disableMic: function () { return app.disableMic(); },
    enableWebcam: function () { return app.enableWebcam(); },
    disableWebcam: function () { return app.disableWebcam(); },
    enableShare: function () { needJoined(); return app.enableShare(); },
    disableShare: function () { return app.disableShare(); },
    changeDisplayName: function (d) { return app.changeDisplayName(str('changeDisplayName', d, 'a non-empty string (the name)', 64)); },
    setVolume: function (d) { return app.setVolume(num('setVolume', d, 0, 100)); },
    getScreenshotByPeerId: function (d) { var id = str('getScreenshotByPeerId', d, 'a peerId string'); needJoined(); return app.getScreenshot(id); },
    setControlsVisible: function (d) { return app.setControlsVisible(bool('setControlsVisible', d)); },
    isCameraEnabled: function () { return app.isCameraEnabled(); },
    isMicroEnabled: function () { return app.isMicroEnabled(); },
    isShareEnabled: function () { return app.isShareEnabled(); },
    changeDevice: function (d) {
      var c = constraintsOf('changeDevice', d, false);
      var kinds = ['audio', 'video'].filter(function (k) { return c[k] !== undefined; });
      if (kinds.length !== 1) throw fail('badData', 'changeDevice: give exactly one device, constraints.audio or constraints.video');
      return app.changeDevice(kinds[0], c[kinds[0]]);
    },
    playAudio: function () { return app.playAudio(); },
    muteAudio: function () { return app.muteAudio(); },
    unmuteAudio: function () { return app.unmuteAudio(); },
    setBitrate: function (d) { return app.setBitrate(num('setBitrate', d, 0, 100000000)); },
    isFullscreenEnabled: function () { return app.isFullscreenEnabled(); },
    enableFullscreen: function () { return app.enableFullscreen(); },
    disableFullscreen: function () { return app.disableFullscreen(); },
    enablePin: function (d) { var id = str('enablePin', d, 'a peerId string'); needJoined(); return app.enablePin(id); },
    disablePin: function () { return app.disablePin(); },
    setLocale: function (d) {
      str('setLocale', d, 'a language code string');
      var langs = app.languages || [];
      if (langs.indexOf(d) < 0) throw fail('badData', 'setLocale: "' + d.slice(0, 20) + '" is not available; use one of: ' + langs.join(', '));
      return app.setLocale(d);
    },
    disabledTrackByModerator: function (d) {
      var n = 'disabledTrackByModerator';
      want(isObj(d), n, "an object { userPeerId, kind: 'audio' | 'video' }", d);
      str(n, d.userPeerId, 'an object whose userPeerId is a non-empty string');
      want(d.kind === 'audio' || d.kind === 'video', n, "an object whose kind is 'audio' or 'video'", d.kind);
      needJoined();
      needModerator(n);
      return app.disableTrack(d.userPeerId, d.kind);
    },
    disableAllMics: function () { needJoined(); needModerator('disableAllMics'); return app.disableAll('audio'); },
    disableAllCameras: function () { needJoined(); needModerator('disableAllCameras'); return app.disableAll('video'); },
    setHideIndicators: function (d) { return app.setHideIndicators(bool('setHideIndicators', d)); },
    // meet extension (issue 14): { channel: 'de' | null, muteOriginal?: boolean }.
    setInterpretation: function (d) {
      var n = 'setInterpretation';
      want(isObj(d), n, "an object { channel: a language code or null, muteOriginal?: boolean }", d);
      want(d.channel === null || (typeof d.channel === 'string' && d.channel.length > 0 && d.channel.length <= 20), n,
        'an object whose channel is a language code or null', d.channel);
      if (d.muteOriginal !== undefined) bool(n, d.muteOriginal);
      needJoined();
      return app.setInterpretation(d.channel, { muteOriginal: d.muteOriginal });
    }
  };

  function run(name, data) {
    if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(METHODS, name)) {
      return Promise.reject(fail('unknownMethod', 'unknown method "' + String(name).slice(0, 60) + '"'));
    }
    try {
      return Promise.resolve(METHODS[name](data));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  function errorOf(e) {
    var code = e && typeof e.code === 'string' ? e.code : 'failed';
    var message = e && e.message ? String(e.message) : String(e);
    return { code: code, message: message };
  }

  /* ---------------------------------------------------------------- */
  /* Messages                                                         */
  /* ---------------------------------------------------------------- */

  function stateEvents() {
    var list = [];
    if (ready) list.push({ name: 'ready', data: {} });
    if (app.readyToJoin) list.push({ name: 'readyToJoin', data: {} });
    return list;
  }

  window.addEventListener('message', function (ev) {
    if (ev.source !== window.parent) return;        // only the page that embeds us
    var m = ev.data;
    if (!m || typeof m !== 'object' || m.meetBridge !== PROTOCOL) return;
    if (parentOrigin && ev.origin !== parentOrigin) {
      console.warn('meet: ignored a Client API message from ' + ev.origin + ' (the embedding page is ' + parentOrigin + ')');
      return;
    }
    if (!parentOrigin) {
      if (!ev.origin || ev.origin === 'null') return;
      parentOrigin = ev.origin;                      // only the parent window can be ev.source
    }
    var bridge = typeof m.bridge === 'string' ? m.bridge.slice(0, 100) : null;
    if (m.kind === 'hello') {
      if (m.roomId != null && String(m.roomId) !== String(app.roomId)) {
        post({ kind: 'welcome', bridge: bridge, refused: { code: 'wrongRoom',
          message: 'this iframe shows room "' + app.roomId + '", not "' + String(m.roomId).slice(0, 100) + '"' } });
        return;
      }
      greeted = true;
      post({ kind: 'welcome', bridge: bridge, events: stateEvents() });
      return;
    }
    if (m.kind === 'call') {
      var id = m.id;
      run(m.name, m.data).then(function (result) {
        post({ kind: 'result', bridge: bridge, id: id, ok: true, result: result === undefined ? null : result });
      }, function (e) {
        post({ kind: 'result', bridge: bridge, id: id, ok: false, error: errorOf(e) });
      });
    }
  });

  // Events go to the parent once a bridge has said hello (earlier ones are summed up in the welcome).
  var EVENTS = ['readyToJoin', 'join', 'newPeer', 'peerClosed',
    'switchOnCamera', 'switchOffCamera', 'errorGetCamera', 'switchOnMic', 'switchOffMic', 'errorGetMic',
    'switchOnShare', 'switchOffShare', 'errorGetShare', 'connectionFailed', 'disconnected', 'reconnected',
    'connectionClosed', 'connectionError', 'playingAudioPrevent', 'switchOnPin', 'switchOffPin', 'errorGetPin',
    'activeSpeakerChanged', 'recordingStarted', 'recordingStopped', 'interpretationChanged'];
  EVENTS.forEach(function (name) {
    app.on(name, function (data) {
      if (!greeted) return;
      post({ kind: 'event', name: name, data: data === undefined ? {} : data });
    });
  });
}
