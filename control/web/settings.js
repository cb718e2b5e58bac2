/* meet — in-call settings: a dialog to switch camera, microphone and speaker without leaving, and to
 * hide one's own tile (self view). The camera and microphone go through media.js (onDeviceChosen
 * replaces the sent track in place); the speaker is the remote tiles' audio output (setSinkId, where
 * the browser has it).
 *
 * Built by call.js with MeetSettings.create(ctx); opened by the control bar's settings button.
 */
(function () {
  'use strict';

  function create(ctx) {
    var t = ctx.t, S = ctx.S, R = ctx.R, el = ctx.el;
    var $ = function (id) { return document.getElementById(id); };
    var dlg = $('settings');
    var camSel = $('set-camera'), micSel = $('set-mic'), outSel = $('set-speaker'), outField = $('set-speaker-field');
    var selfBox = $('set-self-view');
    var canSink = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;

    function fill() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return Promise.resolve();
      return navigator.mediaDevices.enumerateDevices().then(function (list) {
        ctx.fillSelect(camSel, list.filter(function (d) { return d.kind === 'videoinput'; }), 'welcome.cameraN', 'welcome.noCamera', S.cam);
        ctx.fillSelect(micSel, list.filter(function (d) { return d.kind === 'audioinput'; }), 'welcome.micN', 'welcome.noMic', S.mic);
        var outs = list.filter(function (d) { return d.kind === 'audiooutput'; });
        outField.hidden = !canSink || !outs.length;
        ctx.fillSelect(outSel, outs, 'settings.speakerN', 'settings.noSpeaker', { deviceId: S.sinkId || 'default' });
      }, function () { /* keep what is shown */ });
    }

    function open() {
      selfBox.checked = !R.selfHidden;
      camSel.disabled = micSel.disabled = !R.speaker;
      fill().then(function () {
        camSel.disabled = camSel.disabled || !R.speaker;
        micSel.disabled = micSel.disabled || !R.speaker;
        if (!dlg.open) dlg.showModal();
      });
    }

    // The audio output of every remote tile (and of those made later: playRemote reads S.sinkId).
    function applySink(video) {
      if (!canSink || !S.sinkId) return;
      video.setSinkId(S.sinkId).catch(function (e) { console.warn('meet: speaker not switched', e && e.name); });
    }

    function setSelfHidden(hidden) {
      R.selfHidden = !!hidden;
      document.body.classList.toggle('self-hidden', R.selfHidden);
      ctx.lsSet('meet.selfView', R.selfHidden ? 'hidden' : 'shown');
      ctx.layoutTiles();
    }

    camSel.addEventListener('change', function () {
      el.camSel.value = camSel.value;
      ctx.onDeviceChosen('video', camSel);
    });
    micSel.addEventListener('change', function () {
      el.micSel.value = micSel.value;
      ctx.onDeviceChosen('audio', micSel);
    });
    outSel.addEventListener('change', function () {
      S.sinkId = outSel.value;
      S.peers.forEach(function (p) { applySink(p.el); });
    });
    selfBox.addEventListener('change', function () { setSelfHidden(!selfBox.checked); });
    $('settings-close').addEventListener('click', function () { dlg.close(); });
    $('settings-btn').addEventListener('click', open);
    // A click on the backdrop closes the dialog, as Escape does.
    dlg.addEventListener('click', function (e) { if (e.target === dlg) dlg.close(); });
    R.selfHidden = false;
    try { if (window.localStorage.getItem('meet.selfView') === 'hidden') setSelfHidden(true); } catch (e) { /* private mode */ }

    return { applySink: applySink, openSettings: open, setSelfHidden: setSelfHidden };
  }

  window.MeetSettings = { create: create };
})();
