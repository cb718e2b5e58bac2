/* meet — the connection-quality mark on each tile (three bars and an accessible name: good, fair,
 * poor), from the RTCPeerConnection's getStats every few seconds:
 *   remote tiles: the loss of that participant's inbound audio and video, the frame rate
 *                 of a video that is shown, and the round trip of the path to the relay;
 *   one's own:    what the relay reports back about what this page sends (remote-inbound-rtp loss
 *                 and round trip).
 * classify() holds the thresholds (exported, tested on its own). Sampling starts on import.
 */
import { t } from './i18n.js';
import { session } from './session.js';
import { forEachPeer, ownTile } from './tiles.js';
import { currentPc } from './rtc.js';

var EVERY_MS = 5000;

// loss: fraction lost over the last interval (0..1); rtt: seconds; fps: frames per second of a video
// that should be moving (null when none is watched).
export function classify(m) {
  var loss = m.loss || 0, rtt = m.rtt || 0, fps = m.fps;
  if (loss > 0.08 || rtt > 0.5 || (fps !== null && fps !== undefined && fps < 4)) return 'poor';
  if (loss > 0.02 || rtt > 0.25 || (fps !== null && fps !== undefined && fps < 12)) return 'fair';
  return 'good';
}

var last = {};   // stats id -> { lost, got } of the previous sample

function lossOf(id, lost, got) {
  var prev = last[id];
  last[id] = { lost: lost, got: got };
  if (!prev) return 0;
  var dl = Math.max(0, lost - prev.lost), dg = Math.max(0, got - prev.got);
  return dl + dg > 0 ? dl / (dl + dg) : 0;
}

function mark(tile, level) {
  if (!tile) return;
  var q = tile.querySelector('.tile-quality');
  if (!q) return;
  if (tile.dataset.quality === level) return;
  tile.dataset.quality = level;
  q.setAttribute('aria-label', t('quality.' + level));
  q.title = t('quality.' + level);
}

function sample() {
  var pc = currentPc();
  if (!session.joined || !pc || pc.connectionState === 'closed' || document.hidden) return;
  pc.getStats().then(function (report) {
    var rtt = 0, byTrack = {}, self = { loss: 0, rtt: 0, seen: false };
    report.forEach(function (s) {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && s.currentRoundTripTime) rtt = s.currentRoundTripTime;
      if (s.type === 'inbound-rtp' && s.trackIdentifier) {
        byTrack[s.trackIdentifier] = { loss: lossOf(s.id, s.packetsLost || 0, s.packetsReceived || 0), fps: s.framesPerSecond, kind: s.kind };
      }
      if (s.type === 'remote-inbound-rtp') {
        self.seen = true;
        self.loss = Math.max(self.loss, s.fractionLost || 0);
        self.rtt = Math.max(self.rtt, s.roundTripTime || 0);
      }
    });
    forEachPeer(function (p) {
      var m = { loss: 0, rtt: rtt, fps: null };
      p.stream.getTracks().forEach(function (tr) {
        var st = byTrack[tr.id];
        if (!st) return;
        m.loss = Math.max(m.loss, st.loss);
        var watched = tr.kind === 'video' && p.video && !!p.tile.offsetParent && !p.tile.classList.contains('audio-only');
        if (watched && typeof st.fps === 'number') m.fps = st.fps;
      });
      if (p.tile.classList.contains('frozen')) m.fps = 0;  // tiles.js: the picture stopped
      mark(p.tile, classify(m));
    });
    var selfTile = ownTile();
    if (selfTile) mark(selfTile, classify({ loss: self.loss, rtt: self.seen ? self.rtt : rtt, fps: null }));
  }).catch(function () { /* the pc went away meanwhile */ });
}

setInterval(sample, EVERY_MS);
