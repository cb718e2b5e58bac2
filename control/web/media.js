/* meet — this participant's camera and microphone: acquiring them (with fallbacks), turning them on
 * and off, device pickers, the welcome screen's preview and mic meter, the own tile's video, and Levels
 * (audio levels: the mic meter and every tile's speaking ring).
 *
 * Built by call.js with MeetMedia.create(ctx). Device changes run one at a time on S.mediaQueue
 * (setMedia); afterMediaChange() refreshes the UI, tells the server (`mediaState`) and the embedding API.
 * The pc's senders are rtc.js's (ctx.applySender); S.mic / S.cam hold the tracks and on/off wishes.
 */
(function () {
  'use strict';

  function create(ctx) {
    var t = ctx.t, LS = ctx.LS, S = ctx.S, R = ctx.R, api = ctx.api, el = ctx.el;

    // --- audio levels (mic meter on the welcome screen, speaking ring) -------

    var Levels = {
      ctx: null,
      items: new Map(),
      timer: null,
      context: function () {
        if (!this.ctx) {
          var AC = window.AudioContext || window.webkitAudioContext;
          if (!AC) return null;
          try { this.ctx = new AC(); } catch (e) { return null; }
        }
        if (this.ctx.state === 'suspended') this.ctx.resume().catch(function () {});
        return this.ctx;
      },
      watch: function (key, track, cb) {
        this.unwatch(key);
        if (!track) return;
        var ac = this.context();
        if (!ac) return;
        try {
          var src = ac.createMediaStreamSource(new MediaStream([track]));
          var an = ac.createAnalyser();
          an.fftSize = 512;
          an.smoothingTimeConstant = 0.3;
          src.connect(an);
          this.items.set(key, { src: src, an: an, buf: new Uint8Array(an.fftSize), cb: cb, track: track, hold: 0 });
        } catch (e) { return; }
        if (!this.timer) this.timer = setInterval(this.tick.bind(this), 100);
      },
      unwatch: function (key) {
        var it = this.items.get(key);
        if (!it) return;
        try { it.src.disconnect(); } catch (e) { /* ignore */ }
        this.items.delete(key);
        it.cb(0, false);
        if (!this.items.size && this.timer) { clearInterval(this.timer); this.timer = null; }
      },
      tick: function () {
        var now = Date.now();
        this.items.forEach(function (it) {
          it.an.getByteTimeDomainData(it.buf);
          var sum = 0;
          for (var i = 0; i < it.buf.length; i++) { var v = (it.buf[i] - 128) / 128; sum += v * v; }
          var rms = Math.sqrt(sum / it.buf.length);
          if (rms > 0.035) it.hold = now + 700;
          it.cb(rms, now < it.hold);
        });
      }
    };
    function resumeAudio() { if (Levels.ctx && Levels.ctx.state === 'suspended') Levels.ctx.resume().catch(function () {}); }
    document.addEventListener('pointerdown', resumeAudio, true);
    document.addEventListener('keydown', resumeAudio, true);

    var meterBars = el.meter.querySelectorAll('span');
    function meterCb(level) {
      var l = Math.min(1, level * 6);
      var hs = [0.55, 1, 0.7];
      for (var i = 0; i < meterBars.length; i++) meterBars[i].style.height = Math.max(4, Math.round(4 + 16 * l * hs[i])) + 'px';
    }

    // --- local media ---------------------------------------------------------

    function hasMediaDevices() {
      return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
    }

    function constraints(kind, deviceId) {
      var c = kind === 'audio'
        ? { echoCancellation: true, noiseSuppression: true, autoGainControl: true }
        : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
      if (deviceId) c.deviceId = { exact: deviceId };
      return c;
    }

    function gum(c) { return navigator.mediaDevices.getUserMedia(c); }

    // Acquire one track of `kind`, falling back to the default device if the remembered one is gone.
    function acquire(kind) {
      var d = ctx.dev(kind);
      if (!hasMediaDevices()) return Promise.reject(Object.assign(new Error('insecure'), { name: 'InsecureContext' }));
      var req = {};
      req[kind] = constraints(kind, d.deviceId);
      return gum(req).catch(function (e) {
        if (d.deviceId && (e.name === 'OverconstrainedError' || e.name === 'NotFoundError' || e.name === 'NotReadableError')) {
          d.deviceId = '';
          var r2 = {};
          r2[kind] = constraints(kind, '');
          return gum(r2);
        }
        throw e;
      }).then(function (stream) {
        var tr = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
        stream.getTracks().forEach(function (x) { if (x !== tr) x.stop(); });
        if (!tr) throw Object.assign(new Error('no track'), { name: 'NotFoundError' });
        return tr;
      });
    }

    function adoptTrack(kind, track) {
      var d = ctx.dev(kind);
      if (d.track && d.track !== track) d.track.stop();
      d.track = track;
      if (!track) return;
      track.addEventListener('ended', function () {
        // The device went away (unplugged, permission revoked). Our own stop() does not fire this.
        if (d.track !== track) return;
        d.track = null;
        d.on = false;
        ctx.toast(t(kind === 'audio' ? 'media.micEnded' : 'media.camEnded'), { type: 'warn' });
        ctx.applySender(kind).then(afterMediaChange);
      });
    }

    function mediaErrorKey(e) {
      var n = e && e.name;
      if (n === 'InsecureContext') return 'media.insecure';
      if (n === 'NotAllowedError' || n === 'SecurityError' || n === 'PermissionDeniedError') return 'media.denied';
      if (n === 'NotFoundError' || n === 'DevicesNotFoundError' || n === 'OverconstrainedError') return 'media.notFound';
      return 'media.failed';
    }

    function showMediaError(key) {
      if (!key) { el.mediaError.hidden = true; return; }
      el.mediaErrorText.textContent = t(key);
      el.mediaError.hidden = false;
    }

    // First acquisition on page load: one prompt for both devices, then per device if that fails.
    function initMedia() {
      if (!R.speaker) {
        // Webinar viewer: never ask for the camera or microphone.
        S.mic.on = false;
        S.cam.on = false;
        S.mediaReady = true;
        afterMediaChange();
        return Promise.resolve();
      }
      if (!hasMediaDevices()) {
        S.mic.on = false;
        S.cam.on = false;
        showMediaError('media.insecure');
        S.mediaReady = true;
        afterMediaChange();
        return Promise.resolve();
      }
      var both = { audio: constraints('audio', S.mic.deviceId), video: constraints('video', S.cam.deviceId) };
      return gum(both).then(function (stream) {
        adoptTrack('audio', stream.getAudioTracks()[0] || null);
        adoptTrack('video', stream.getVideoTracks()[0] || null);
        if (!S.mic.track) S.mic.on = false;
        if (!S.cam.track) S.cam.on = false;
      }, function (err) {
        if (err && (err.name === 'NotAllowedError' || err.name === 'SecurityError')) {
          S.mic.on = false;
          S.cam.on = false;
          showMediaError(mediaErrorKey(err));
          return;
        }
        // Maybe only one of the two devices is missing or busy: try them separately.
        var aErr = null, vErr = null;
        return acquire('audio').then(function (tr) { adoptTrack('audio', tr); }, function (e) { aErr = e; })
          .then(function () { return acquire('video'); })
          .then(function (tr) { adoptTrack('video', tr); }, function (e) { vErr = e; })
          .then(function () {
            if (aErr) S.mic.on = false;
            if (vErr) S.cam.on = false;
            if (aErr && vErr) showMediaError(mediaErrorKey(vErr.name === 'NotFoundError' ? aErr : vErr));
            else if (vErr) showMediaError('media.camUnavailable');
            else if (aErr) showMediaError('media.micUnavailable');
          });
      }).then(function () {
        S.mediaReady = true;
        afterMediaChange();
        return refreshDevices();
      });
    }

    // Turn a device on or off (welcome screen and in call). Serialized.
    function setMedia(kind, on, restart) {
      S.mediaQueue = S.mediaQueue.then(function () { return doSetMedia(kind, on, restart); })
        .catch(function (e) { console.error('meet: media change failed', e); });
      return S.mediaQueue;
    }

    function doSetMedia(kind, on, restart) {
      var d = ctx.dev(kind);
      if (!on) {
        d.on = false;
        adoptTrack(kind, null);       // stops the track: the camera light goes off
        return ctx.applySender(kind).then(afterMediaChange);
      }
      // Turning a device on is the room's to allow (a webinar viewer sends nothing; maxBroadcasters):
      // asked before the device starts, so a refused one never lights up. One that is on (a device
      // switch) is not asked again.
      return (d.on ? Promise.resolve(null) : mayTurnOn(kind)).then(function (refusal) {
        if (!refusal) return turnOn(kind, restart);
        d.on = false;
        adoptTrack(kind, null);
        ctx.mediaRefused(refusal, false);
        return ctx.applySender(kind).then(afterMediaChange);
      });
    }

    // Null if `kind` may go on, else the refusal ({ source, code, message }). In the room the server
    // decides; before joining only the role is known (the join carries the state for the server to decide).
    function mayTurnOn(kind) {
      if (!R.speaker) {
        return Promise.resolve({ source: kind, code: 'not-allowed', message: 'Webinar viewers do not send a camera or microphone' });
      }
      if (S.state !== 'in-call' || !S.joined) return Promise.resolve(null);
      var want = { audio: S.mic.on, video: S.cam.on || !!api.share };
      want[kind] = true;
      S.lastSentMedia = want.audio + '/' + want.video;
      return ctx.ask({ type: 'mediaState', audio: want.audio, video: want.video }).then(function (result) {
        if (!result) return null;
        S.lastSentMedia = !!result.audio + '/' + !!result.video;
        if (result[kind]) return null;
        var refused = (Array.isArray(result.refused) ? result.refused : []).filter(function (r) { return r.source === kind; })[0];
        return refused || { source: kind, code: 'not-allowed', message: 'the server keeps it off' };
      });
    }

    function turnOn(kind, restart) {
      var d = ctx.dev(kind);
      var btns = kind === 'audio' ? [el.tMic, el.pMic] : [el.tCam, el.pCam];
      if (d.track && d.track.readyState === 'live' && !restart) {
        d.on = true;
        return ctx.applySender(kind).then(afterMediaChange);
      }
      btns.forEach(function (b) { b.disabled = true; });
      if (kind === 'video') { S.camStarting = true; el.previewOffText.textContent = t('welcome.starting'); }
      return acquire(kind).then(function (tr) {
        if (S.state === 'left' || S.state === 'closed') { tr.stop(); return; }
        adoptTrack(kind, tr);
        d.on = true;
        showMediaError(null);
      }, function (e) {
        console.warn('meet: could not start ' + kind, e);
        ctx.mediaFailure(kind, e);
        if (restart && d.track && d.track.readyState === 'live') {
          // Keep the previous device running.
        } else {
          adoptTrack(kind, null);
          d.on = false;
        }
        var key = kind === 'audio' ? 'media.micError' : 'media.camError';
        if (e && e.name === 'NotAllowedError') ctx.toast(t('media.denied'), { type: 'error' });
        else ctx.toast(t(key), { type: 'error' });
      }).then(function () {
        btns.forEach(function (b) { b.disabled = false; });
        if (kind === 'video') S.camStarting = false;
        return ctx.applySender(kind);
      }).then(function () {
        afterMediaChange();
        refreshDevices();
      });
    }

    function afterMediaChange() {
      updateMediaUI();
      if (S.state === 'in-call' && S.joined) {
        var video = S.cam.on || !!api.share;
        var key = S.mic.on + '/' + video;
        if (key !== S.lastSentMedia) {
          S.lastSentMedia = key;
          ctx.send({ type: 'mediaState', audio: S.mic.on, video: video });
        }
      }
      ctx.emitLocalMedia();
    }

    function stopLocalMedia() {
      ctx.stopShare();
      // Keep the on/off preferences so Rejoin restores them.
      ['audio', 'video'].forEach(function (k) {
        var d = ctx.dev(k);
        if (d.track) { d.track.stop(); d.track = null; }
      });
      Levels.unwatch('preview');
      Levels.unwatch('self');
      el.preview.srcObject = null;
    }

    function restoreMedia() {
      var jobs = [];
      ['audio', 'video'].forEach(function (k) {
        var d = ctx.dev(k);
        if (d.on && !(d.track && d.track.readyState === 'live')) jobs.push(k);
      });
      return jobs.reduce(function (p, k) { return p.then(function () { return doSetMedia(k, true); }); }, Promise.resolve());
    }

    function setToggle(btn, on, keyOff, keyOn) {
      btn.setAttribute('aria-pressed', on ? 'true' : 'false');
      var label = on ? t(keyOff) : t(keyOn);
      btn.setAttribute('aria-label', label);
      btn.title = label;
    }

    function updateMediaUI() {
      var micOn = S.mic.on, camOn = S.cam.on;
      [el.pMic, el.tMic].forEach(function (b) { setToggle(b, micOn, 'ctl.micOff', 'ctl.micOn'); });
      [el.pCam, el.tCam].forEach(function (b) { setToggle(b, camOn, 'ctl.camOff', 'ctl.camOn'); });

      // Welcome preview.
      var camTrack = camOn && S.cam.track ? S.cam.track : null;
      var cur = el.preview.srcObject;
      var curTrack = cur && cur.getVideoTracks ? cur.getVideoTracks()[0] : null;
      if (camTrack !== curTrack) {
        el.preview.srcObject = camTrack ? new MediaStream([camTrack]) : null;
        if (camTrack) el.preview.play().catch(function () {});
      }
      el.previewFrame.classList.toggle('cam-off', !camTrack);
      el.previewOffText.textContent = t(!S.mediaReady || S.camStarting ? 'welcome.starting' : 'welcome.camOff');
      ctx.setAvatar(el.previewAvatar, el.name.value, 'me');

      var micTrack = micOn && S.mic.track ? S.mic.track : null;
      if (micTrack) el.meter.removeAttribute('data-off'); else el.meter.setAttribute('data-off', '');
      if (S.state === 'welcome' || S.state === 'joining') {
        var watched = Levels.items.get('preview');
        if (micTrack && (!watched || watched.track !== micTrack)) Levels.watch('preview', micTrack, meterCb);
        else if (!micTrack) Levels.unwatch('preview');
      }

      // Own tile.
      if (S.selfTile) {
        var v = S.selfTile.querySelector('video');
        var sCur = v.srcObject && v.srcObject.getVideoTracks()[0];
        if (camTrack !== (sCur || null)) {
          v.srcObject = camTrack ? new MediaStream([camTrack]) : null;
          if (camTrack) v.play().catch(function () {});
        }
        S.selfTile.classList.toggle('cam-off', !camTrack);
        S.selfTile.classList.toggle('mic-off', !micTrack);
        var w = Levels.items.get('self');
        if (micTrack && (!w || w.track !== micTrack)) Levels.watch('self', micTrack, ctx.speakingCb(S.selfTile));
        else if (!micTrack) Levels.unwatch('self');
      }
    }

    // --- device pickers ------------------------------------------------------

    function refreshDevices() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
        fillSelect(el.camSel, [], 'welcome.cameraN', 'welcome.noCamera', S.cam);
        fillSelect(el.micSel, [], 'welcome.micN', 'welcome.noMic', S.mic);
        return Promise.resolve();
      }
      return navigator.mediaDevices.enumerateDevices().then(function (list) {
        fillSelect(el.camSel, list.filter(function (d) { return d.kind === 'videoinput'; }), 'welcome.cameraN', 'welcome.noCamera', S.cam);
        fillSelect(el.micSel, list.filter(function (d) { return d.kind === 'audioinput'; }), 'welcome.micN', 'welcome.noMic', S.mic);
      }, function () { /* ignore */ });
    }

    function fillSelect(sel, list, nKey, noneKey, d) {
      sel.textContent = '';
      if (!list.length) {
        var none = document.createElement('option');
        none.value = '';
        none.textContent = t(noneKey);
        sel.appendChild(none);
        sel.disabled = true;
        return;
      }
      sel.disabled = false;
      var seen = {};
      list.forEach(function (info, i) {
        if (seen[info.deviceId]) return;
        seen[info.deviceId] = true;
        var o = document.createElement('option');
        o.value = info.deviceId;
        o.textContent = info.label || t(nKey, { n: i + 1 });
        sel.appendChild(o);
      });
      var current = '';
      try { current = (d.track && d.track.getSettings && d.track.getSettings().deviceId) || ''; } catch (e) { current = ''; }
      current = current || d.deviceId;
      if (current && seen[current]) sel.value = current;
    }

    function onDeviceChosen(kind, sel) {
      var d = ctx.dev(kind);
      d.deviceId = sel.value;
      ctx.lsSet(kind === 'audio' ? LS.mic : LS.cam, sel.value);
      if (d.on) setMedia(kind, true, true);
    }

    return {
      Levels: Levels, adoptTrack: adoptTrack, afterMediaChange: afterMediaChange, constraints: constraints,
      doSetMedia: doSetMedia, fillSelect: fillSelect, gum: gum, initMedia: initMedia,
      onDeviceChosen: onDeviceChosen, refreshDevices: refreshDevices, restoreMedia: restoreMedia,
      resumeAudio: resumeAudio, setMedia: setMedia, stopLocalMedia: stopLocalMedia,
      updateMediaUI: updateMediaUI
    };
  }

  window.MeetMedia = { create: create };
})();
