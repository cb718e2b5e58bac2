/* meet — the stage: a tile per participant (own tile included) and per shared screen, their layout,
 * remote playback (and the browser's autoplay block), pin, sorting and the active speaker (the relay's
 * `activeSpeaker`: a ring, `data-active-speaker`, the tile's accessible name, sortPeers' order and the
 * webinar's large tile).
 *
 * Built by call.js with MeetTiles.create(ctx). Remote participants live in S.peers (ensurePeer /
 * removePeer), screen tiles in R.screenTiles; rtc.js hands the received tracks over (setPeerTracks,
 * setScreenTracks) after each offer.
 */
(function () {
  'use strict';

  function create(ctx) {
    var t = ctx.t, A = ctx.A, S = ctx.S, R = ctx.R, api = ctx.api, el = ctx.el;

    function speakingCb(tile) {
      return function (level, speaking) { tile.classList.toggle('speaking', !!speaking); };
    }

    function makeTile(peerId, self) {
      var frag = el.tpl.content.cloneNode(true);
      var tile = frag.querySelector('.tile');
      tile.dataset.peerId = peerId || '';
      tile.setAttribute('role', 'group');
      var v = tile.querySelector('video');
      if (self) {
        tile.classList.add('self');
        v.muted = true;
        v.setAttribute('muted', '');
      }
      tile.querySelector('.tile-mic-off').setAttribute('aria-label', t('call.micMuted'));
      var pin = tile.querySelector('.tile-pin');
      pin.addEventListener('click', function () { togglePin(tile.dataset.peerId); });
      return tile;
    }

    function setTileInfo(tile, name, audio, video, self) {
      var label = self ? t('call.youSuffix', { name: ctx.displayOf(name) }) : ctx.displayOf(name);
      tile.querySelector('.tile-name').textContent = label;
      tile.title = label;
      tile.dataset.label = label;
      ctx.setAvatar(tile.querySelector('.avatar'), name, tile.dataset.peerId || name);
      if (!self) {
        tile.classList.toggle('cam-off', !video);
        tile.classList.toggle('mic-off', !audio);
      }
      decorateTile(tile);
    }

    function ensurePeer(info) {
      var id = info && info.peerId != null ? String(info.peerId) : '';
      if (!id || id === S.peerId) return null;
      if (info.viewer === true) {
        // Webinar viewers have no tile; they are listed in the people panel. A speaker learns of a
        // viewer's raised hand by a pop-up that opens the list.
        var was = R.viewers.get(id);
        if (was && !was.hand && info.hand && S.joined) handRaised(info.displayName, true);
        R.viewers.set(id, info);
        ctx.refreshPanels();
        return null;
      }
      var p = S.peers.get(id);
      if (!p) {
        p = { peerId: id, displayName: '', audio: false, video: false, hand: undefined, stream: new MediaStream(), tile: null, el: null };
        p.tile = makeTile(id, false);
        p.el = p.tile.querySelector('video');
        p.el.srcObject = p.stream;
        S.peers.set(id, p);
        el.tiles.appendChild(p.tile);
        updateCount();
      }
      var before = { audio: p.audio, video: p.video, hand: p.hand };
      if (typeof info.displayName === 'string') p.displayName = info.displayName;
      if (typeof info.audio === 'boolean') p.audio = info.audio;
      if (typeof info.video === 'boolean') p.video = info.video;
      ['screen', 'hand', 'moderator'].forEach(function (k) { if (typeof info[k] === 'boolean') p[k] = info[k]; });
      if (info.allowed) p.allowed = info.allowed;
      // Only a hand raised now pops up: one already up when the page learns of the peer (a join, a
      // rejoin after an outage) was raised before and is shown on the tile, not announced again.
      if (p.hand && before.hand === false && S.joined) handRaised(p.displayName);
      before.hand = p.hand;
      setTileInfo(p.tile, p.displayName, p.audio, p.video, false);
      ctx.refreshPanels();
      ctx.announcePeer(p, info, before);
      return p;
    }

    function handRaised(name, viewer) {
      var text = t('hand.raised', { name: ctx.displayOf(name) });
      var opts = viewer && R.panels ? { duration: 10000, action: { label: t('hand.show'), fn: function () { R.panels.show('people'); } } } : {};
      ctx.toast(text, opts);
    }

    function removePeer(id) {
      if (R.viewers.delete(String(id))) ctx.refreshPanels();
      removeScreenTile(String(id));
      var p = S.peers.get(String(id));
      if (!p) return null;
      ctx.Levels.unwatch('peer:' + p.peerId);
      if (S.activeSpeaker === p.peerId) S.activeSpeaker = null;
      p.el.srcObject = null;
      if (p.tile.parentNode) p.tile.parentNode.removeChild(p.tile);
      S.peers.delete(p.peerId);
      updateCount();
      return p;
    }

    function clearPeers() {
      Array.from(S.peers.keys()).forEach(removePeer);
      if (S.selfTile && S.selfTile.parentNode) S.selfTile.parentNode.removeChild(S.selfTile);
      S.selfTile = null;
      el.tiles.textContent = '';
      updateCount();
    }

    function updateCount() {
      var n = S.peers.size + (S.selfTile ? 1 : 0);
      el.count.textContent = String(n);
      var label = t('call.participants', { n: n });
      el.participants.setAttribute('aria-label', label);
      el.participants.title = label;
      el.tiles.dataset.count = String(n);
      // Nobody else on the stage: a webinar viewer waits for the start; a speaker is told how many watch
      // (viewers have no tile), or that nobody is here yet.
      var empty = S.state === 'in-call' && S.peers.size === 0;
      var watching = ctx.mode === 'webinar' ? R.room.viewers || 0 : 0;
      el.aloneHint.hidden = !empty || !R.speaker;
      el.aloneText.textContent = watching ? t('webinar.watching', { n: watching }) : t('call.alone');
      el.notStarted.hidden = !empty || R.speaker;
      layoutTiles();
    }

    // Fit n tiles in the stage: as large as possible, 16:9 (up to 4:3 when there is room). In a webinar the
    // active speaker's tile is the large one, the others a row below.
    function layoutTiles() {
      var box = el.tiles;
      var shown = shownTiles(box);
      var alone = box.classList.contains('pin-alone');
      var strip = !!api.pinned && !alone && shown.length > 1;
      var n = api.pinned && !strip ? 1 : shown.length;
      var main = stageMain(box);
      var stage = !api.pinned && n > 1 && !!main;
      box.classList.toggle('speaker-stage', stage);
      Array.prototype.forEach.call(box.children, function (x) { x.classList.toggle('stage-main', stage && x === main); });
      R.stageMain = stage ? main : R.stageMain;
      box.classList.toggle('filmstrip', strip);
      if (!strip) clearStrip(box);
      scheduleView();
      if (!n || el.call.hidden) return;
      var cs = getComputedStyle(box);
      var W = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      var H = box.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
      if (W <= 0 || H <= 0) return;
      var narrow = W < 560;
      if (!strip && !stage && !api.pinned) n = paginate(box, shown, narrow ? PAGE_PHONE : PAGE_DESKTOP);
      else paginate(box, [], 1);
      var gap = n > 1 ? (narrow ? 8 : 12) : 0;
      var w, h;
      if (strip) {
        layoutStrip(box, W, H, narrow, gap);
        return;
      } else if (stage) {
        var rowH = Math.max(60, (H - gap) * 0.26);
        var sw = Math.min(W, (H - gap - rowH) * 16 / 9);
        box.style.setProperty('--stage-w', Math.floor(sw) + 'px');
        box.style.setProperty('--stage-h', Math.floor(Math.min(H - gap - rowH, sw * 3 / 4)) + 'px');
        w = Math.min(rowH * 16 / 9, (W - gap * (n - 2)) / (n - 1));
        h = Math.min(rowH, w * 3 / 4);
      } else if (A.minimizeTiles && n > 1 && !api.pinned) {
        // minimizeTiles: as many tiles as fit without scrolling, two columns at least on phones.
        var fit = null;
        for (var c = narrow ? 2 : 1; c <= n; c++) {
          var r = Math.ceil(n / c);
          var fw = Math.min((W - gap * (c - 1)) / c, ((H - gap * (r - 1)) / r) * 16 / 9);
          if (!fit || fw > fit + 0.5) fit = fw;
        }
        w = fit;
        h = w * 9 / 16;
      } else if (narrow) {
        // Phones: 1-2 tiles share the height in one column, more (a page holds 6) fill two columns.
        var pc = n > 2 ? 2 : 1;
        var pr = Math.ceil(n / pc);
        w = (W - gap * (pc - 1)) / pc;
        h = (H - gap * (pr - 1)) / pr;
      } else {
        var best = null;
        for (var cols = 1; cols <= n; cols++) {
          var rows = Math.ceil(n / cols);
          var cw = (W - gap * (cols - 1)) / cols;
          var ch = (H - gap * (rows - 1)) / rows;
          var tw = Math.min(cw, ch * 16 / 9);
          if (!best || tw > best.tw + 0.5) best = { tw: tw, ch: ch };
        }
        w = best.tw;
        h = Math.min(best.ch, w * 3 / 4);
      }
      box.style.setProperty('--gap', gap + 'px');
      box.style.setProperty('--tile-w', Math.max(80, Math.floor(w)) + 'px');
      box.style.setProperty('--tile-h', Math.max(60, Math.floor(h)) + 'px');
    }

    // Large rooms: the grid shows a page of tiles (25 on a desktop, 6 on a phone) and a pager; the tiles
    // of other pages are hidden, so they report height 0 to the relay (scheduleView) and get no video.
    var PAGE_DESKTOP = 25, PAGE_PHONE = 6;
    function paginate(box, tiles, size) {
      var pages = Math.max(1, Math.ceil(tiles.length / size));
      R.page = Math.min(Math.max(0, R.page || 0), pages - 1);
      var from = R.page * size, to = from + size;
      Array.prototype.forEach.call(box.children, function (x) {
        var i = tiles.indexOf(x);
        x.classList.toggle('off-page', i >= 0 && (i < from || i >= to));
      });
      el.pager.hidden = pages < 2;
      if (pages > 1) {
        el.pagerText.textContent = (R.page + 1) + ' / ' + pages;
        el.pager.setAttribute('aria-label', t('pager.label', { page: R.page + 1, pages: pages }));
        el.pagerPrev.disabled = R.page === 0;
        el.pagerNext.disabled = R.page === pages - 1;
      }
      return Math.min(size, tiles.length - from);
    }

    function turnPage(step) {
      R.page = (R.page || 0) + step;
      layoutTiles();
    }
    el.pagerPrev.addEventListener('click', function () { turnPage(-1); });
    el.pagerNext.addEventListener('click', function () { turnPage(1); });

    // The tiles the stage lays out: all but one's own when the self view is hidden (settings.js).
    function shownTiles(box) {
      return Array.prototype.filter.call(box.children, function (x) { return !(R.selfHidden && x.classList.contains('self')); });
    }

    // The large tile of the speaker stage: in a webinar the active speaker (oneself included); in the
    // speaker view the person chooses (R.speakerView), the last other person the relay named, else the
    // first other tile, so one's own picture is never the large one.
    function stageMain(box) {
      var active = S.activeSpeaker ? tileOf(S.activeSpeaker) : null;
      if (active && active.parentNode !== box) active = null;
      if (!R.speakerView) return ctx.mode === 'webinar' ? active : null;
      if (active && !active.classList.contains('self')) return active;
      if (R.stageMain && R.stageMain.parentNode === box && !R.stageMain.classList.contains('self')) return R.stageMain;
      return Array.prototype.find.call(box.children, function (x) { return !x.classList.contains('self'); }) || null;
    }

    // A pinned tile (or a screen share) large, the others in a filmstrip beside it (desktop) or below it
    // (phone): as many as fit, the rest counted in a "+N" at the strip's end and hidden, so they get no
    // video (scheduleView reports their height as 0).
    function layoutStrip(box, W, H, narrow, gap) {
      var others = shownTiles(box).filter(function (x) { return !x.classList.contains('pinned'); });
      var sw, sh, mainW, mainH, fit;
      if (narrow) {
        sh = Math.max(64, Math.min(110, H * 0.2));
        sw = sh * 4 / 3;
        mainW = W;
        mainH = H - sh - gap;
        fit = Math.max(1, Math.floor((W + gap) / (sw + gap)));
      } else {
        sw = Math.max(150, Math.min(260, W * 0.2));
        sh = sw * 9 / 16;
        mainW = W - sw - gap;
        mainH = H;
        fit = Math.max(1, Math.floor((H + gap) / (sh + gap)));
      }
      // Who is in the strip: the active speaker and raised hands first, then the page's order.
      var rank = function (x) { return (x.classList.contains('active-speaker') ? 0 : 2) + (x.classList.contains('hand-up') ? 0 : 1); };
      var order = others.slice().sort(function (a, b) { return rank(a) - rank(b); });
      var shown = order.length > fit ? fit - 1 : order.length;
      order.forEach(function (x, i) { x.classList.toggle('off-strip', i >= shown); });
      var more = order.length - shown;
      if (more > 0) box.dataset.more = '+' + more; else delete box.dataset.more;
      box.style.setProperty('--gap', gap + 'px');
      box.style.setProperty('--main-w', Math.floor(mainW) + 'px');
      box.style.setProperty('--main-h', Math.floor(mainH) + 'px');
      box.style.setProperty('--tile-w', Math.floor(sw) + 'px');
      box.style.setProperty('--tile-h', Math.floor(sh) + 'px');
      box.classList.toggle('strip-below', narrow);
    }

    function clearStrip(box) {
      delete box.dataset.more;
      box.classList.remove('strip-below');
      Array.prototype.forEach.call(box.querySelectorAll('.off-strip'), function (x) { x.classList.remove('off-strip'); });
    }

    // How tall each remote tile is shown (device pixels; 0 when hidden, e.g. behind a pinned tile), so
    // the relay sends each camera's simulcast layer that fills its tile, and no video no one sees.
    // Debounced: a layout change resizes every tile at once.
    var viewTimer = null;
    function scheduleView() {
      if (viewTimer) return;
      viewTimer = setTimeout(function () {
        viewTimer = null;
        if (!S.joined) return;
        var dpr = window.devicePixelRatio || 1;
        var height = function (tile) {
          if (!tile || !tile.offsetParent) return 0;
          return Math.round(tile.getBoundingClientRect().height * dpr);
        };
        var tiles = [];
        S.peers.forEach(function (p) { tiles.push({ peerId: p.peerId, source: 'video', height: height(p.tile) }); });
        R.screenTiles.forEach(function (st, id) { tiles.push({ peerId: id, source: 'screen', height: height(st.tile) }); });
        if (tiles.length) ctx.send({ type: 'view', tiles: tiles });
      }, 250);
    }

    // Frozen video: a camera that is on, shown and not paused by the relay, whose picture has not moved
    // for FREEZE_CHECKS checks (an outage, a lost path), is marked on its tile, so a still picture is not taken
    // for a live one. Decoded frames are read from the element (no getStats round trip).
    var FREEZE_CHECK_MS = 2000, FREEZE_CHECKS = 3;  // 6 s still: a busy machine may stall a few seconds
    function framesOf(v) {
      if (v.getVideoPlaybackQuality) return v.getVideoPlaybackQuality().totalVideoFrames;
      return v.webkitDecodedFrameCount || 0;
    }
    function checkFrozen() {
      if (!S.joined || document.hidden) return;
      S.peers.forEach(function (p) {
        var tile = p.tile;
        var watch = p.video && !!tile.offsetParent && !tile.classList.contains('audio-only') && p.stream.getVideoTracks().length > 0;
        var n = watch ? framesOf(p.el) : -1;
        var still = watch && n === p.lastFrames && p.lastFrames > 0;
        p.stillChecks = still ? (p.stillChecks || 0) + 1 : 0;
        p.lastFrames = n;
        var frozen = p.stillChecks >= FREEZE_CHECKS;
        if (frozen === tile.classList.contains('frozen')) return;
        tile.classList.toggle('frozen', frozen);
        tile.toggleAttribute('data-frozen', frozen);
        if (tile.classList.contains('audio-only')) return;  // its own note stays
        var note = tile.querySelector('.tile-note');
        note.textContent = frozen ? t('call.frozen') : '';
        note.hidden = !frozen;
      });
    }
    setInterval(checkFrozen, FREEZE_CHECK_MS);

    if (window.ResizeObserver) new ResizeObserver(layoutTiles).observe(el.tiles);
    window.addEventListener('resize', layoutTiles);

    function setPeerTracks(p, tracks) {
      var cur = p.stream.getTracks();
      var changed = false;
      cur.forEach(function (tr) { if (tracks.indexOf(tr) < 0) { p.stream.removeTrack(tr); changed = true; } });
      tracks.forEach(function (tr) { if (cur.indexOf(tr) < 0) { p.stream.addTrack(tr); changed = true; } });
      if (!changed) return;
      scheduleView();
      p.el.srcObject = p.stream;
      playRemote(p.el);
      var audio = p.stream.getAudioTracks()[0];
      if (audio) ctx.Levels.watch('peer:' + p.peerId, audio, speakingCb(p.tile));
      else ctx.Levels.unwatch('peer:' + p.peerId);
    }

    function playRemote(v) {
      v.muted = S.audioBlocked || api.incomingMuted;
      v.volume = api.volume;
      if (ctx.applySink) ctx.applySink(v);
      var pr = v.play();
      if (!pr || !pr.catch) return;
      pr.catch(function (e) {
        if (e && e.name === 'NotAllowedError') {
          // Autoplay with sound refused: play muted and ask for a click.
          if (!S.audioBlocked) ctx.emit('playingAudioPrevent', {});
          S.audioBlocked = true;
          v.muted = true;
          v.play().catch(function () {});
          if (S.state === 'in-call') el.unmute.hidden = false;
        }
      });
    }

    function unblockAudio() {
      S.audioBlocked = false;
      el.unmute.hidden = true;
      ctx.resumeAudio();
      S.peers.forEach(function (p) { playRemote(p.el); });
    }

    // Tile details that depend on the peer: raised hand, pin, order (sortPeers: cameras on first).
    function decorateTile(tile) {
      var id = tile.dataset.peerId;
      var self = tile.classList.contains('self');
      var p = self ? null : S.peers.get(id);
      var hand = self ? R.hand : !!(p && p.hand);
      var camOn = self ? !!(S.cam.on && S.cam.track) : !!(p && p.video);
      var speaking = !!id && id === S.activeSpeaker;
      tile.classList.toggle('hand-up', hand);
      var pin = tile.querySelector('.tile-pin');
      var pinned = !!api.pinned && api.pinned === id;
      var who = tile.dataset.label || '';
      pin.setAttribute('aria-pressed', pinned ? 'true' : 'false');
      pin.setAttribute('aria-label', t(pinned ? 'call.unpinName' : 'call.pinName', { name: who }));
      pin.title = pin.getAttribute('aria-label');
      tile.classList.toggle('active-speaker', speaking);
      if (speaking) tile.dataset.activeSpeaker = ''; else delete tile.dataset.activeSpeaker;
      // The speaker is said in the tile's name, not announced: a live region would talk at every turn.
      if (tile.dataset.label) {
        tile.setAttribute('aria-label', speaking ? t('call.speaking', { name: tile.dataset.label }) : tile.dataset.label);
      }
      // sortPeers: cameras on first (as documented), and within each group the active speaker first.
      var order = 0;
      if (A.sortPeers) order = (camOn ? 2 : 4) - (speaking ? 1 : 0);
      if (tile.classList.contains('screen-tile')) order = 0;
      tile.style.order = String(order);
    }

    // The relay's dominant speaker (signalling `activeSpeaker`); null when the speaker left.
    function setActiveSpeaker(id) {
      id = id == null ? null : String(id);
      if (id === S.activeSpeaker) return;
      var was = S.activeSpeaker;
      S.activeSpeaker = id;
      [was, id].forEach(function (x) { var tile = x && tileOf(x); if (tile) decorateTile(tile); });
      layoutTiles();
      if (id) ctx.emit('activeSpeakerChanged', { peerId: id, isLocal: id === S.peerId });
    }

    function togglePin(id) {
      if (!id) return;
      if (api.pinned === id) ctx.apiUnpin(); else ctx.apiPin(id).catch(function () {});
    }

    function setScreenTracks(screens) {
      R.screenTiles.forEach(function (st, id) { if (!screens.has(id)) removeScreenTile(id); });
      screens.forEach(function (track, id) {
        var st = R.screenTiles.get(id);
        if (!st) {
          var tile = makeTile(id + ':screen', false);
          tile.classList.add('screen-tile');
          var p = S.peers.get(id);
          var name = p ? ctx.displayOf(p.displayName) : t('call.guest');
          st = { tile: tile, el: tile.querySelector('video'), stream: new MediaStream() };
          st.el.muted = true;
          st.el.srcObject = st.stream;
          tile.querySelector('.tile-name').textContent = t('share.of', { name: name });
          tile.dataset.label = t('share.of', { name: name });
          tile.setAttribute('aria-label', tile.dataset.label);
          el.tiles.insertBefore(tile, el.tiles.firstChild);
          R.screenTiles.set(id, st);
          if (!api.pinned) setPin(id + ':screen');
          updateCount();
        }
        scheduleView();
        if (st.stream.getVideoTracks()[0] !== track) {
          st.stream.getTracks().forEach(function (x) { st.stream.removeTrack(x); });
          st.stream.addTrack(track);
          st.el.play().catch(function () {});
        }
      });
    }

    function removeScreenTile(id) {
      var st = R.screenTiles.get(id);
      if (!st) return;
      R.screenTiles.delete(id);
      if (api.pinned === id + ':screen') setPin(null);
      st.el.srcObject = null;
      if (st.tile.parentNode) st.tile.parentNode.removeChild(st.tile);
      updateCount();
    }

    // The relay stopped (or resumed) a video for this page's weak link: the tile says "audio only".
    function setBandwidthPaused(peerId, source, paused) {
      var st = source === 'screen' ? R.screenTiles.get(String(peerId)) : null;
      var tile = st ? st.tile : (source === 'video' ? tileOf(String(peerId)) : null);
      if (!tile) return;
      tile.classList.toggle('audio-only', !!paused);
      tile.toggleAttribute('data-audio-only', !!paused);
      var note = tile.querySelector('.tile-note');
      note.textContent = paused ? t('call.audioOnly') : '';
      note.hidden = !paused;
    }

    function tileOf(id) {
      if (id === S.peerId) return S.selfTile;
      var p = S.peers.get(id);
      return p ? p.tile : null;
    }

    // alone: the Client API's enablePin, where the pinned participant fills the stage (docs/client-api.md);
    // the page's own pins (its pin buttons, a new screen share) keep the others in a filmstrip.
    function setPin(id, alone) {
      var was = api.pinned;
      api.pinned = id;
      el.tiles.classList.toggle('has-pin', !!id);
      el.tiles.classList.toggle('pin-alone', !!id && !!alone);
      Array.prototype.forEach.call(el.tiles.children, function (tile) {
        tile.classList.toggle('pinned', !!id && tile.dataset.peerId === id);
        decorateTile(tile);
      });
      layoutTiles();
      if (was && !id) ctx.emit('switchOffPin', {});
    }

    return {
      clearPeers: clearPeers, ensurePeer: ensurePeer, layoutTiles: layoutTiles, makeTile: makeTile,
      removePeer: removePeer, setActiveSpeaker: setActiveSpeaker, setBandwidthPaused: setBandwidthPaused,
      scheduleView: scheduleView, setPeerTracks: setPeerTracks, setPin: setPin, setScreenTracks: setScreenTracks,
      setTileInfo: setTileInfo, speakingCb: speakingCb, tileOf: tileOf, unblockAudio: unblockAudio,
      updateCount: updateCount
    };
  }

  window.MeetTiles = { create: create };
})();
