/* meetBridgeApi.js — drive an embedded meet room from the host page (the Client API).
 *
 *   <iframe id="room" allow="camera; microphone; fullscreen; display-capture; autoplay"
 *           src="https://meet.example.com/call/?roomId=serv0abc&nameScreenDisabled=true"></iframe>
 *   <script src="https://meet.example.com/meetBridgeApi.js"></script>
 *   var bridge = new MeetIframeBridge.default({ element: iframe, roomId: 'serv0abc' });
 *   bridge.on('join', function (e) { ... });
 *   bridge.method({ name: 'join', data: { constraints: { video: true, audio: true } },
 *                   callback: function (e) { if (e && e.error) ...; } });
 *
 * Also an ES module (`import MeetIframeBridge from 'https://meet.example.com/meetBridgeApi.mjs'`) and a
 * CommonJS module. No dependencies. Reference: docs/client-api.md.
 *
 * Transport: window.postMessage in both directions. Commands go only to the iframe's own window and only
 * to the origin of its src; events and results are accepted only from that window and that origin, so
 * several bridges on one page (one per iframe) never see each other's traffic.
 */
(function (root, factory) {
  'use strict';
  var Bridge = factory();
  var api = { default: Bridge, MeetIframeBridge: Bridge, version: Bridge.version };
  if (typeof module === 'object' && module && typeof module.exports === 'object') module.exports = api;
  if (root) root.MeetIframeBridge = api;
})(typeof globalThis !== 'undefined' ? globalThis : (typeof self !== 'undefined' ? self : this), function () {
  'use strict';

  var PROTOCOL = 'meet-bridge/1';
  var HELLO_EVERY_MS = 250;
  var CALL_TIMEOUT_MS = 30000;   // join may wait for devices and the server (the room gives up at 15 s)
  // Methods that may open a browser UI needing a user gesture in the room: pass the host's gesture on.
  var DELEGATE = { enableFullscreen: 'fullscreen', enableShare: 'display-capture' };
  var counter = 0;

  function originOf(url) {
    try {
      var o = new URL(url, document.baseURI).origin;
      return o && o !== 'null' ? o : null;
    } catch (e) { return null; }
  }

  function makeError(code, message, method) {
    return { error: true, code: code, message: message, method: method };
  }

  function safeCall(fn, arg, what) {
    try { fn(arg); } catch (e) {
      // A throwing handler must not break the bridge or the other handlers.
      setTimeout(function () { throw e; }, 0);
      if (typeof console !== 'undefined') console.error('MeetIframeBridge: ' + what + ' threw', e);
    }
  }

  /**
   * @param {{element: HTMLIFrameElement, roomId?: string, origin?: string, timeout?: number}} options
   *   element: the room's <iframe>; roomId: the room it shows (checked by the room page);
   *   origin: the meet server's origin (default: the origin of element.src); timeout: per call, ms.
   */
  function MeetIframeBridge(options) {
    if (!(this instanceof MeetIframeBridge)) throw new TypeError('MeetIframeBridge: use `new MeetIframeBridge.default({ element, roomId })`');
    options = options || {};
    var element = options.element;
    if (!element || typeof element !== 'object' || String(element.tagName).toUpperCase() !== 'IFRAME') {
      throw new TypeError('MeetIframeBridge: options.element must be the room\'s <iframe> element');
    }
    var origin = options.origin ? originOf(options.origin) : originOf(element.getAttribute('src') || element.src);
    if (!origin) throw new TypeError('MeetIframeBridge: cannot tell the meet server\'s origin from the iframe src; pass options.origin');

    this.element = element;
    this.roomId = options.roomId == null ? null : String(options.roomId);
    this.origin = origin;
    this.timeout = typeof options.timeout === 'number' && options.timeout > 0 ? options.timeout : CALL_TIMEOUT_MS;
    this.id = 'mb' + (++counter) + '-' + Math.random().toString(36).slice(2, 10);
    this.connected = false;      // the room answered our hello
    this.destroyed = false;
    this._handlers = {};
    this._pending = {};          // call id -> { name, callback, resolve, timer }
    this._queue = [];            // calls made before the room answered
    this._next = 1;
    this._refusal = null;        // the room refused the hello (e.g. wrong roomId)
    this._helloTimer = null;

    var self = this;
    this._onMessage = function (ev) { self._receive(ev); };
    this._onLoad = function () { self._reset('the room page reloaded'); self._hello(); };
    window.addEventListener('message', this._onMessage);
    element.addEventListener('load', this._onLoad);
    this._hello();
  }

  MeetIframeBridge.version = '1.0.0';

  MeetIframeBridge.prototype = {
    constructor: MeetIframeBridge,

    /**
     * Calls a room method. `callback(result)` runs exactly once: with the result, or with an error object
     * `{ error: true, code, message, method }`. Also returns a Promise (resolved with the result, rejected
     * with the same error object).
     */
    method: function (opts) {
      opts = opts || {};
      var self = this;
      var name = opts.name;
      var callback = typeof opts.callback === 'function' ? opts.callback : null;
      var promise = new Promise(function (resolve, reject) {
        var call = {
          name: name,
          data: opts.data,
          done: function (ok, value) {
            if (call.finished) return;
            call.finished = true;
            if (call.timer) clearTimeout(call.timer);
            if (callback) safeCall(callback, value, 'callback of ' + name);
            if (ok) resolve(value); else reject(value);
          }
        };
        if (typeof name !== 'string' || !name) {
          call.done(false, makeError('unknownMethod', 'method name must be a non-empty string', String(name)));
          return;
        }
        if (self.destroyed) { call.done(false, makeError('destroyed', 'this bridge was destroyed', name)); return; }
        if (self._refusal) { call.done(false, makeError(self._refusal.code, self._refusal.message, name)); return; }
        call.timer = setTimeout(function () {
          self._forget(call);
          call.done(false, makeError('timeout', 'the room did not answer "' + name + '" within ' + self.timeout + ' ms', name));
        }, self.timeout);
        // A user gesture on the host page right now can be lent to the room (fullscreen, screen share).
        call.delegate = DELEGATE[name] && typeof navigator !== 'undefined' && navigator.userActivation &&
          navigator.userActivation.isActive ? DELEGATE[name] : null;
        if (self.connected) self._send(call); else self._queue.push(call);
      });
      // Callers using only the callback must not see "unhandled rejection" noise.
      if (callback) promise.catch(function () {});
      return promise;
    },

    /** Subscribes to a room event; returns a function that unsubscribes. */
    on: function (name, handler) {
      if (typeof name !== 'string' || typeof handler !== 'function') throw new TypeError('MeetIframeBridge.on(eventName, handler)');
      (this._handlers[name] = this._handlers[name] || []).push(handler);
      var self = this;
      return function () { self.off(name, handler); };
    },

    off: function (name, handler) {
      var list = this._handlers[name];
      if (!list) return;
      if (!handler) { delete this._handlers[name]; return; }
      var i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
    },

    /** Stops listening; pending calls fail with code "destroyed". */
    destroy: function () {
      if (this.destroyed) return;
      this._reset('this bridge was destroyed', 'destroyed');
      this.destroyed = true;
      this._queue.forEach(function (c) { c.done(false, makeError('destroyed', 'this bridge was destroyed', c.name)); });
      this._queue = [];
      window.removeEventListener('message', this._onMessage);
      this.element.removeEventListener('load', this._onLoad);
      this._handlers = {};
    },

    // ---- internals ------------------------------------------------------------------------------

    _post: function (msg, delegate) {
      var win = this.element.contentWindow;
      if (!win) return false;
      msg.meetBridge = PROTOCOL;
      msg.bridge = this.id;
      // targetOrigin: if the iframe has navigated elsewhere, the browser drops the message.
      if (delegate) {
        try { win.postMessage(msg, { targetOrigin: this.origin, delegate: delegate }); return true; } catch (e) { /* no capability delegation */ }
      }
      win.postMessage(msg, this.origin);
      return true;
    },

    _hello: function () {
      var self = this;
      if (this.destroyed || this.connected) return;
      this._post({ kind: 'hello', roomId: this.roomId });
      clearTimeout(this._helloTimer);
      // The room's script may not run yet (bridge created before the iframe loaded): keep asking.
      this._helloTimer = setTimeout(function () { self._hello(); }, HELLO_EVERY_MS);
    },

    _send: function (call) {
      var id = this._next++;
      call.id = id;
      this._pending[id] = call;
      var msg = { kind: 'call', id: id, name: call.name };
      if (call.data !== undefined) msg.data = call.data;
      try {
        this._post(msg, call.delegate);
      } catch (e) {
        // DataCloneError: functions, DOM nodes, ... cannot be sent.
        delete this._pending[id];
        call.done(false, makeError('badData', 'data cannot be sent to the room: ' + (e && e.message), call.name));
      }
    },

    _forget: function (call) {
      if (call.id != null) delete this._pending[call.id];
      var i = this._queue.indexOf(call);
      if (i >= 0) this._queue.splice(i, 1);
    },

    // The room page went away (reload, navigation): calls in flight will never be answered.
    _reset: function (why, code) {
      this.connected = false;
      clearTimeout(this._helloTimer);
      var pending = this._pending;
      this._pending = {};
      Object.keys(pending).forEach(function (k) {
        var c = pending[k];
        c.done(false, makeError(code || 'disconnected', why, c.name));
      });
    },

    _receive: function (ev) {
      // Only the iframe's own window, and only while it shows a page of the meet server.
      if (this.destroyed || ev.source !== this.element.contentWindow || ev.origin !== this.origin) return;
      var m = ev.data;
      if (!m || typeof m !== 'object' || m.meetRoom !== PROTOCOL) return;
      if (m.bridge != null && m.bridge !== this.id) return;   // another bridge's hello or call
      switch (m.kind) {
        case 'welcome': return this._welcome(m);
        case 'result': return this._result(m);
        case 'event': return this._event(String(m.name), m.data);
        default: return;
      }
    },

    _welcome: function (m) {
      clearTimeout(this._helloTimer);
      if (m.refused) {
        this._refusal = { code: String(m.refused.code || 'refused'), message: String(m.refused.message || 'the room refused this bridge') };
        var r = this._refusal;
        this._queue.forEach(function (c) { c.done(false, makeError(r.code, r.message, c.name)); });
        this._queue = [];
        if (typeof console !== 'undefined') console.error('MeetIframeBridge: ' + r.message);
        return;
      }
      if (this.connected) return;
      this.connected = true;
      var queue = this._queue;
      this._queue = [];
      for (var i = 0; i < queue.length; i++) this._send(queue[i]);
      // The room repeats the state events that may have happened before we subscribed.
      var self = this;
      (Array.isArray(m.events) ? m.events : []).forEach(function (e) { self._event(String(e.name), e.data); });
    },

    _result: function (m) {
      var call = this._pending[m.id];
      if (!call) return;
      delete this._pending[m.id];
      if (m.ok) call.done(true, m.result);
      else {
        var e = m.error || {};
        call.done(false, makeError(String(e.code || 'failed'), String(e.message || 'the method failed'), call.name));
      }
    },

    _event: function (name, data) {
      var list = this._handlers[name];
      if (!list) return;
      list.slice().forEach(function (fn) { safeCall(fn, data, 'handler of "' + name + '"'); });
    }
  };

  return MeetIframeBridge;
});
