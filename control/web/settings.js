/* meet — in-call settings: a dialog to switch camera, microphone and speaker without leaving, and to
 * hide one's own tile (self view). The camera and microphone go through media.js (onDeviceChosen
 * replaces the sent track in place); the speaker is the remote tiles' audio output and the self view
 * their layout (tiles.js). Opened by the control bar's settings button.
 */
import { PREF, readPref } from './prefs.js';
import { session } from './session.js';
import { camera, fillSelect, microphone, onDeviceChosen } from './media.js';
import { audioOutput, canChooseAudioOutput, selfViewHidden, setAudioOutput, setSelfViewHidden } from './tiles.js';

var $ = function (id) { return document.getElementById(id); };
var dlg = $('settings');
var camSel = $('set-camera'), micSel = $('set-mic'), outSel = $('set-speaker'), outField = $('set-speaker-field');
var selfBox = $('set-self-view');
// The welcome screen's pickers show the same choice.
var welcomeCamSel = $('camera-select'), welcomeMicSel = $('mic-select');

function fill() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return Promise.resolve();
  return navigator.mediaDevices.enumerateDevices().then(function (list) {
    fillSelect(camSel, list.filter(function (d) { return d.kind === 'videoinput'; }), 'welcome.cameraN', 'welcome.noCamera', camera);
    fillSelect(micSel, list.filter(function (d) { return d.kind === 'audioinput'; }), 'welcome.micN', 'welcome.noMic', microphone);
    var outs = list.filter(function (d) { return d.kind === 'audiooutput'; });
    outField.hidden = !canChooseAudioOutput() || !outs.length;
    fillSelect(outSel, outs, 'settings.speakerN', 'settings.noSpeaker', { deviceId: audioOutput() || 'default' });
  }, function () { /* keep what is shown */ });
}

function open() {
  selfBox.checked = !selfViewHidden();
  camSel.disabled = micSel.disabled = !session.speaker;
  fill().then(function () {
    camSel.disabled = camSel.disabled || !session.speaker;
    micSel.disabled = micSel.disabled || !session.speaker;
    if (!dlg.open) dlg.showModal();
  });
}

camSel.addEventListener('change', function () {
  welcomeCamSel.value = camSel.value;
  onDeviceChosen('video', camSel);
});
micSel.addEventListener('change', function () {
  welcomeMicSel.value = micSel.value;
  onDeviceChosen('audio', micSel);
});
outSel.addEventListener('change', function () { setAudioOutput(outSel.value); });
selfBox.addEventListener('change', function () { setSelfViewHidden(!selfBox.checked); });
$('settings-close').addEventListener('click', function () { dlg.close(); });
$('settings-btn').addEventListener('click', open);
// A click on the backdrop closes the dialog, as Escape does.
dlg.addEventListener('click', function (e) { if (e.target === dlg) dlg.close(); });
if (readPref(PREF.selfView) === 'hidden') setSelfViewHidden(true);
