/* meet — audio levels: one AudioContext, an analyser per watched track, read ten times a second; feeds
 * the welcome screen's mic meter and every tile's speaking ring. Browsers start an AudioContext
 * suspended until a click: any click or key press resumes it.
 */

var audioContext = null;
var watched = new Map();   // key -> { src, an, buf, cb, track, hold }
var timer = null;

function context() {
  if (!audioContext) {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    try { audioContext = new AC(); } catch (e) { return null; }
  }
  if (audioContext.state === 'suspended') audioContext.resume().catch(function () {});
  return audioContext;
}

/** Calls cb(level, speaking) for `track` from now on, under `key` (replacing what was watched under it). */
export function watchLevel(key, track, cb) {
  unwatchLevel(key);
  if (!track) return;
  var ac = context();
  if (!ac) return;
  try {
    var src = ac.createMediaStreamSource(new MediaStream([track]));
    var an = ac.createAnalyser();
    an.fftSize = 512;
    an.smoothingTimeConstant = 0.3;
    src.connect(an);
    watched.set(key, { src: src, an: an, buf: new Uint8Array(an.fftSize), cb: cb, track: track, hold: 0 });
  } catch (e) { return; }
  if (!timer) timer = setInterval(tick, 100);
}

/** Stops watching `key`; its callback gets a last cb(0, false). */
export function unwatchLevel(key) {
  var it = watched.get(key);
  if (!it) return;
  try { it.src.disconnect(); } catch (e) { /* ignore */ }
  watched.delete(key);
  it.cb(0, false);
  if (!watched.size && timer) { clearInterval(timer); timer = null; }
}

/** The track watched under `key`, or null. */
export function watchedTrack(key) {
  var it = watched.get(key);
  return it ? it.track : null;
}

function tick() {
  var now = Date.now();
  watched.forEach(function (it) {
    it.an.getByteTimeDomainData(it.buf);
    var sum = 0;
    for (var i = 0; i < it.buf.length; i++) { var v = (it.buf[i] - 128) / 128; sum += v * v; }
    var rms = Math.sqrt(sum / it.buf.length);
    if (rms > 0.035) it.hold = now + 700;
    it.cb(rms, now < it.hold);
  });
}

export function resumeAudio() {
  if (audioContext && audioContext.state === 'suspended') audioContext.resume().catch(function () {});
}
document.addEventListener('pointerdown', resumeAudio, true);
document.addEventListener('keydown', resumeAudio, true);

/** A level callback that rings `tile` while its participant speaks. */
export function speakingRing(tile) {
  return function (level, speaking) { tile.classList.toggle('speaking', !!speaking); };
}
