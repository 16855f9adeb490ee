// The video player that the watch page and the embed page (/embed/<id>) share: hls.js where
// there is MediaSource (the browser's own HLS otherwise, as on older iPhones), a start time from
// the link (`t=` seconds), and the keyboard shortcuts.
import { posterSize } from './app.js';
import { t } from './i18n.js';

// Every hls.js error, fatal or not, for anyone debugging playback from the console (and the tests).
export const player = window.newsreel = { hls: null, errors: [] };

export function levelLabel(level) {
  return level.height ? `${level.height}p` : t('watch.audioLevel', { kbps: Math.round(level.bitrate / 1000) });
}

// The start time a link asks for: `t=` whole or decimal seconds (the share button writes whole
// ones); 0 when absent or not a sensible number.
export function startTimeFrom(search) {
  const s = Number(new URLSearchParams(search).get('t'));
  return Number.isFinite(s) && s > 0 ? s : 0;
}

// Seconds buffered before playback starts (or goes on after a hold below): the first segments
// are one GOP (2 s) long so that the first frame comes quickly, and on a weak link a player
// that starts as soon as the first has come runs dry at its end while the second is still on the
// way (measured at 300 kb/s, 300 ms: a stall at 2 s and another at 4 s). Two GOPs ahead, or all
// that is left of the video, is what ExoPlayer and AVPlayer also wait for before they start.
const START_AHEAD_SECONDS = 4;

// Holds playback (paused, `onWaiting(true, why)`) until START_AHEAD_SECONDS are buffered, then
// plays (`onWaiting(false)`): at the start (why: 'start'), and (why: 'processing') whenever a
// video still processing grows (EVENT playlists) more slowly than it plays: rather than run into
// the end of what exists (a stall, which hls.js reports as an error), it pauses a second before it.
// A start hold never outlasts START_HOLD_LIMIT_MS: if the buffer stops growing short of the mark
// (a gap hls.js would jump only while playing, a link too weak for 4 s of the lightest rung),
// playback starts anyway and hls.js's own stall handling takes over.
const START_HOLD_LIMIT_MS = 8000;
// A gap between the playhead and the first buffered range that hls.js jumps by itself.
const START_GAP_SECONDS = 0.5;
function holdUntilEnoughIsBuffered(videoEl, hls, Hls, onWaiting) {
  let held = false;
  let started = false;
  let limit = 0;
  const ahead = () => {
    const b = videoEl.buffered;
    const t = videoEl.currentTime;
    for (let i = 0; i < b.length; i++) if (b.start(i) <= t + START_GAP_SECONDS && t < b.end(i)) return b.end(i) - Math.max(t, b.start(i));
    return 0;
  };
  const growing = () => Boolean(hls.levels[hls.currentLevel]?.details?.live);
  const enough = () => {
    const left = Number.isFinite(videoEl.duration) && !growing() ? videoEl.duration - videoEl.currentTime - 0.1 : Infinity;
    return ahead() >= Math.min(START_AHEAD_SECONDS, left);
  };
  const resume = (force = false) => {
    if (!held || (!force && !enough())) return;
    held = false;
    clearTimeout(limit);
    onWaiting(false);
    videoEl.play().catch(() => {});
  };
  const hold = (why) => {
    held = true;
    videoEl.pause();
    onWaiting(true, why);
    if (why === 'start') limit = setTimeout(() => resume(true), START_HOLD_LIMIT_MS);
  };
  videoEl.addEventListener('play', () => {
    if (started) return;
    started = true;
    if (!enough()) hold('start');
  });
  videoEl.addEventListener('timeupdate', () => {
    if (held || videoEl.paused || !growing() || ahead() >= 1) return;
    hold('processing');
  });
  hls.on(Hls.Events.FRAG_BUFFERED, () => resume());
  hls.on(Hls.Events.LEVEL_UPDATED, () => resume());
}

// Plays video `v` (the API's JSON, with `playback`) in `videoEl` from `startAt` seconds.
// Callbacks: onFatal(details) when playback stopped for good, onLevels(hls) when hls.js knows
// the renditions, onLevelSwitched(hls, index), onWaitingForMore(waiting, why) when playback is
// held until enough is buffered (true; why: 'start', or 'processing' at the end of what exists
// of a video still processing) and goes on (false). Returns false when
// this browser cannot play HLS.
export function startPlayer(videoEl, v, { startAt = 0, onFatal = () => {}, onLevels = () => {}, onLevelSwitched = () => {}, onWaitingForMore = () => {} } = {}) {
  // A phone-sized player gets the 320-wide poster: it is shown until the first frames, which on a
  // weak link are the 256x144 cellular rung's, and it arrives before them (33 KB where poster.jpg
  // can be 370). poster.jpg when the video has no smaller one.
  if (v.poster_url && videoEl.clientWidth > 640) videoEl.poster = v.poster_url;
  else if (v.poster_url) {
    const small = new Image();
    small.onload = () => { videoEl.poster = small.src; };
    small.onerror = () => { videoEl.poster = v.poster_url; };
    small.src = posterSize(v.poster_url, 320);
  }
  const src = v.playback.hls;
  const Hls = window.Hls;
  if (Hls?.isSupported()) {
    // Weak links first: the first segment comes from the lightest rung (hls.js sorts its levels
    // lowest first) unless the browser has measured the link (Chrome's navigator.connection),
    // and hls.js climbs once it has timed a segment itself.
    const downlink = navigator.connection?.downlink;  // Mb/s, rounded, at most 10
    const hls = player.hls = new Hls({
      capLevelToPlayerSize: true,       // no 1080p into a phone-sized player
      ...(downlink > 0 ? { abrEwmaDefaultEstimate: downlink * 1e6 } : { startLevel: 0 }),
      maxBufferLength: 20,              // seconds ahead; enough to ride out a weak link
      maxMaxBufferLength: 60,
      backBufferLength: 30,
      // From `startAt`, or 0: a video still processing has growing (EVENT) playlists, which
      // hls.js would otherwise join at their end, like a live stream.
      startPosition: startAt > 0 ? startAt : 0,
    });
    let mediaRecoveries = 0;
    hls.on(Hls.Events.ERROR, (event, data) => {
      const ranges = [];
      for (let i = 0; i < videoEl.buffered.length; i++) ranges.push(`${videoEl.buffered.start(i).toFixed(3)}-${videoEl.buffered.end(i).toFixed(3)}`);
      player.errors.push({ type: data.type, details: data.details, fatal: data.fatal, level: hls.currentLevel,
        at: videoEl.currentTime, buffered: ranges.join(' '), reason: data.reason || data.error?.message || '' });
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 2) {
        hls.recoverMediaError();
        return;
      }
      hls.destroy();
      onFatal(data.details);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => onLevels(hls));
    hls.on(Hls.Events.LEVEL_SWITCHED, (event, data) => onLevelSwitched(hls, data.level));
    holdUntilEnoughIsBuffered(videoEl, hls, Hls, onWaitingForMore);
    hls.loadSource(src);
    hls.attachMedia(videoEl);
  } else if (videoEl.canPlayType('application/vnd.apple.mpegurl')) {
    videoEl.src = src;  // Safari/iOS: the browser chooses the quality itself
    if (startAt > 0) videoEl.addEventListener('loadedmetadata', () => { videoEl.currentTime = startAt; }, { once: true });
  } else {
    return false;
  }
  videoEl.addEventListener('error', () => {
    if (!player.hls) onFatal(videoEl.error?.message || '');
  });
  return true;
}

// What the shortcuts do, in the order the help lists them: [keys shown (a message key when it
// has a dot), message key, its parameters]. The pages' words are under "watch.".
export const SHORTCUTS = [
  [['watch.keySpace', 'k'], 'watch.shortcutPlayPause'],
  [['j'], 'watch.shortcutBack', { s: 10 }],
  [['←'], 'watch.shortcutBack', { s: 5 }],
  [['l'], 'watch.shortcutForward', { s: 10 }],
  [['→'], 'watch.shortcutForward', { s: 5 }],
  [['f'], 'watch.shortcutFullscreen'],
  [['m'], 'watch.shortcutMute'],
  [['?'], 'watch.shortcutHelp'],
];

// Keyboard shortcuts for `videoEl` anywhere on the page: space or k plays and pauses, j and l
// go 10 s back and forward, the arrows 5 s, f toggles full screen (of `fullscreenEl`), m mutes,
// ? calls onHelp(). Never while typing in a field, nor with Ctrl, Alt or Meta held; space and
// Enter on a focused button or link keep their own meaning.
export function wireShortcuts(videoEl, { fullscreenEl = videoEl, onHelp = () => {} } = {}) {
  const seek = (by) => {
    const end = Number.isFinite(videoEl.duration) ? videoEl.duration : Infinity;
    videoEl.currentTime = Math.min(end, Math.max(0, videoEl.currentTime + by));
  };
  const actions = {
    ' ': () => (videoEl.paused ? videoEl.play().catch(() => {}) : videoEl.pause()),
    k: () => (videoEl.paused ? videoEl.play().catch(() => {}) : videoEl.pause()),
    j: () => seek(-10),
    l: () => seek(10),
    ArrowLeft: () => seek(-5),
    ArrowRight: () => seek(5),
    f: () => (document.fullscreenElement ? document.exitFullscreen() : fullscreenEl.requestFullscreen?.())?.catch?.(() => {}),
    m: () => { videoEl.muted = !videoEl.muted; },
    '?': () => onHelp(),
  };
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey || e.defaultPrevented) return;
    const target = e.target instanceof Element ? e.target : null;
    if (target?.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"], dialog')) return;
    if (e.key === ' ' && target?.closest('button, a, summary')) return;
    const key = e.key.length === 1 && e.key !== '?' ? e.key.toLowerCase() : e.key;
    const action = actions[key];
    if (!action) return;
    e.preventDefault();  // no page scroll on space or the arrows; the video's own keys stay quiet
    action();
  });
}
