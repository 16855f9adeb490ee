// Watch one video: watch.html?id=<video-id>. Plays /media/<id>/master.m3u8 with hls.js (or the
// browser's own HLS where there is no MediaSource, as on older iPhones), with a quality menu,
// the poster, the video's details and storyboard previews on a scrub bar. A video that is not
// ready yet is followed over /ws and starts playing once it is playable (while it is still
// processing, when its transcode publishes progressively: docs/transcoding.md).
import {
  api, el, errorText, followEvents, formatBytes, formatDuration, onLanguageChange, setText, t, tx,
} from './app.js';

const id = new URLSearchParams(location.search).get('id');
const $ = (name) => document.getElementById(name);
const videoEl = $('video');
const message = $('message');
const jobProgress = $('job-progress');
const quality = $('quality');

// Every hls.js error, fatal or not, for anyone debugging playback from the console.
const player = window.newsreel = { hls: null, errors: [] };

// Shows message `key` (none: hides the line); it follows a switch of language.
function showMessage(key, params, isError = false) {
  if (key) setText(message, key, params); else message.textContent = '';
  message.className = isError ? 'error' : 'notice';
  message.hidden = !key;
}

let shown = null;  // the video whose details are on the page
function showInfo(v) {
  shown = v;
  document.title = `${v.title} — Newsreel`;
  $('info').hidden = false;
  $('title').textContent = v.title;
  // replaceChildren() would write a null as the word "null": only the parts there are.
  $('meta').replaceChildren(...[
    setText(el('span', { class: `badge ${v.status}` }), `status.${v.status}`),
    v.duration_seconds ? el('span', {}, formatDuration(v.duration_seconds)) : null,
    tx('format.date', { at: v.recorded_at || v.created_at }),
    v.location ? el('span', { class: 'location' }, v.location) : null,
    v.reporter ? el('span', { class: 'reporter' }, v.reporter) : null,
  ].filter(Boolean));
  $('description').textContent = v.description || '';
  const facts = [];
  if (v.tags?.length) facts.push(['watch.tags', v.tags.join(', ')]);
  if (v.source?.width) facts.push(['watch.original', `${v.source.width}×${v.source.height}, ${v.source.video_codec || '?'}` +
    `${v.source.size_bytes ? ', ' + formatBytes(v.source.size_bytes) : ''}`]);
  if (v.source?.filename) facts.push(['watch.file', v.source.filename]);
  if (v.renditions?.length) facts.push(['watch.renditions', v.renditions.map((r) => r.name).join(', ')]);
  $('facts').replaceChildren(...facts.flatMap(([k, val]) => [tx(k, undefined, 'dt'), el('dd', {}, val)]));
}

function levelLabel(level) {
  return level.height ? `${level.height}p` : t('watch.audioLevel', { kbps: Math.round(level.bitrate / 1000) });
}

function play(v) {
  showMessage();
  jobProgress.hidden = true;
  $('player').hidden = false;
  if (v.poster_url) videoEl.poster = v.poster_url;
  const src = v.playback.hls;
  const Hls = window.Hls;
  if (Hls?.isSupported()) {
    const hls = player.hls = new Hls({
      capLevelToPlayerSize: true,       // no 1080p into a phone-sized player
      abrEwmaDefaultEstimate: 500_000,  // before anything is measured, assume a modest link: start low
      maxBufferLength: 20,              // seconds ahead; enough to ride out a weak link
      maxMaxBufferLength: 60,
      backBufferLength: 30,
      // A video still processing has growing (EVENT) playlists, which hls.js would join at their
      // end like a live stream: watch it from the start.
      startPosition: 0,
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
      showMessage('watch.playbackStopped', { details: data.details }, true);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      // Highest first; the option's value is hls.js's level index.
      const levels = hls.levels.map((l, i) => ({ l, i })).sort((a, b) => (b.l.height - a.l.height) || (b.l.bitrate - a.l.bitrate));
      quality.replaceChildren(setText(el('option', { value: '-1' }), 'watch.auto'),
        ...levels.map(({ l, i }) => el('option', { value: String(i) }, levelLabel(l))));
      $('controls').hidden = levels.length < 2;
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (event, data) => {
      const label = levelLabel(hls.levels[data.level]);
      setText($('playing'), 'watch.playing', { level: label });
      if (hls.autoLevelEnabled) setText(quality.options[0], 'watch.autoWith', { level: label });
      else setText(quality.options[0], 'watch.auto');
    });
    quality.addEventListener('change', () => {
      hls.currentLevel = Number(quality.value);  // -1: automatic again
    });
    holdAtTheEndOfWhatExists(hls, Hls);
    hls.loadSource(src);
    hls.attachMedia(videoEl);
  } else if (videoEl.canPlayType('application/vnd.apple.mpegurl')) {
    videoEl.src = src;  // Safari/iOS: the browser chooses the quality itself
  } else {
    showMessage('watch.noHls', undefined, true);
    return;
  }
  videoEl.addEventListener('error', () => {
    if (!player.hls) showMessage('watch.playbackFailed', { details: videoEl.error?.message || '' }, true);
  });
  if (v.storyboard?.vtt_url) setUpStoryboard(v.storyboard.vtt_url, v.duration_seconds).catch(() => {});
}

// Storyboard previews: the VTT's cues point at tiles of one sprite sheet (`image#xywh=x,y,w,h`).
// A bar under the player shows the tile for the time under the finger or pointer; tap or drag seeks.
async function setUpStoryboard(vttUrl, knownDuration) {
  const res = await fetch(vttUrl);
  if (!res.ok) return;
  const text = await res.text();
  const seconds = (t) => t.split(':').reduce((acc, part) => acc * 60 + parseFloat(part), 0);
  const base = new URL(vttUrl, location.href);
  const cues = [];
  for (const m of text.matchAll(/([\d:.]+)\s+-->\s+([\d:.]+)[^\n]*\n([^\n#]+)#xywh=(\d+),(\d+),(\d+),(\d+)/g)) {
    cues.push({ start: seconds(m[1]), end: seconds(m[2]), url: new URL(m[3].trim(), base).href,
      x: +m[4], y: +m[5], w: +m[6], h: +m[7] });
  }
  if (!cues.length) return;
  const bar = $('scrub');
  const played = bar.querySelector('.played');
  const preview = bar.querySelector('.preview');
  const duration = () => (Number.isFinite(videoEl.duration) && videoEl.duration > 0 ? videoEl.duration : knownDuration || 0);
  const timeAt = (clientX) => {
    const r = bar.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
    return { f, t: f * duration(), r };
  };
  const showPreview = (clientX) => {
    const { f, t, r } = timeAt(clientX);
    const cue = cues.find((c) => t >= c.start && t < c.end) || cues[cues.length - 1];
    Object.assign(preview.style, {
      width: `${cue.w}px`, height: `${cue.h}px`, backgroundImage: `url("${cue.url}")`,
      backgroundPosition: `-${cue.x}px -${cue.y}px`,
      left: `${Math.min(r.width - cue.w / 2, Math.max(cue.w / 2, f * r.width))}px`,
    });
    preview.firstElementChild.textContent = formatDuration(t);
    preview.hidden = false;
  };
  let dragging = false;
  bar.addEventListener('pointerdown', (e) => {
    dragging = true;
    bar.setPointerCapture(e.pointerId);
    showPreview(e.clientX);
  });
  bar.addEventListener('pointermove', (e) => showPreview(e.clientX));
  bar.addEventListener('pointerup', (e) => {
    if (dragging) videoEl.currentTime = timeAt(e.clientX).t;
    dragging = false;
    preview.hidden = true;
  });
  bar.addEventListener('pointerleave', () => { if (!dragging) preview.hidden = true; });
  videoEl.addEventListener('timeupdate', () => {
    const d = duration();
    played.style.width = d ? `${(100 * videoEl.currentTime) / d}%` : '0';
  });
  bar.hidden = false;
}

// A video still processing grows (EVENT playlists) more slowly than it plays: rather than run
// into the end of what exists (a stall, which hls.js reports as an error), pause a second before
// it, say why, and go on once two GOPs more are buffered or the playlist has ended.
function holdAtTheEndOfWhatExists(hls, Hls) {
  let held = false;
  const ahead = () => {
    const b = videoEl.buffered;
    for (let i = 0; i < b.length; i++) if (b.start(i) <= videoEl.currentTime + 0.1 && videoEl.currentTime < b.end(i)) return b.end(i) - videoEl.currentTime;
    return 0;
  };
  const growing = () => Boolean(hls.levels[hls.currentLevel]?.details?.live);
  videoEl.addEventListener('timeupdate', () => {
    if (held || videoEl.paused || !growing() || ahead() >= 1) return;
    held = true;
    videoEl.pause();
    showMessage('watch.waitingForMore');
  });
  const resume = () => {
    if (!held || (growing() && ahead() < 4)) return;
    held = false;
    showMessage();
    videoEl.play().catch(() => {});
  };
  hls.on(Hls.Events.FRAG_BUFFERED, resume);
  hls.on(Hls.Events.LEVEL_UPDATED, resume);
}

// A video that is not ready yet: say why, and follow its job until it is.
function waitUntilReady(v) {
  const describe = (video, percent) => {
    if (video.status === 'failed') {
      if (video.failure_reason) showMessage('watch.failedBecause', { reason: video.failure_reason }, true);
      else showMessage('watch.failed', undefined, true);
      jobProgress.hidden = true;
    } else if (video.status === 'ready') {
      showMessage('watch.notPublished', undefined, true);  // ready, but a draft
    } else if (percent !== undefined) {
      showMessage('watch.notReadyPercent', { percent });
    } else {
      showMessage(`watch.notReady.${video.status}`);
      jobProgress.hidden = percent === undefined;
      if (percent !== undefined) jobProgress.value = percent;
    }
  };
  const initial = v.latest_job?.state === 'running' ? v.latest_job.progress?.percent : undefined;
  describe(v, initial);
  let current = v;
  const reload = async () => {
    try {
      current = await api(`/api/v1/videos/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e.status === 404) { events.close(); showMessage('watch.deleted', undefined, true); }
      return;
    }
    showInfo(current);
    if (current.playback) { events.close(); play(current); } else describe(current);
  };
  const events = followEvents((e) => {
    if ((e.data?.video_id ?? e.data?.id) !== id) return;
    if (e.type === 'job.progress' || e.type === 'job.started') {
      describe({ ...current, status: 'processing' }, e.data.percent ?? 0);
    } else if (e.type === 'video.deleted') {
      events.close();
      showMessage('watch.deleted', undefined, true);
    } else if (e.type.startsWith('video.') || e.type === 'job.failed' || e.type === 'job.queued' || e.type === 'job.cancelled') {
      reload();
    }
  }, (isReconnect) => { if (isReconnect) reload(); });
}

async function main() {
  if (!id) {
    showMessage('watch.noId', undefined, true);
    return;
  }
  let v;
  try {
    v = await api(`/api/v1/videos/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e.status === 404 || e.status === 400) showMessage('watch.notFound', undefined, true);
    else showMessage('watch.loadFailed', { reason: errorText(e) }, true);
    return;
  }
  showInfo(v);
  if (v.playback) play(v); else waitUntilReady(v);
}

// The facts and labels built from data are re-worded on a switch of language.
onLanguageChange(() => { if (shown) showInfo(shown); });

main();
