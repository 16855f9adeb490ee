// Watch one video: watch.html?id=<video-id>[&t=<seconds>]. Plays /media/<id>/master.m3u8 with
// the shared player (player.js), with a quality menu, the poster, the video's details,
// storyboard previews on a scrub bar, keyboard shortcuts (listed by `?`) and a share button
// that gives the link at the current time. A video that is not ready yet is followed over /ws
// and starts playing once it is playable (while still processing, when its transcode publishes
// progressively: docs/transcoding.md).
import {
  api, el, errorText, failureKey, followEvents, formatBytes, formatDuration, onLanguageChange, setText, t, tx,
} from './app.js';
import { SHORTCUTS, levelLabel, player, startPlayer, startTimeFrom, wireShortcuts } from './player.js';

const id = new URLSearchParams(location.search).get('id');
const $ = (name) => document.getElementById(name);
const videoEl = $('video');
const message = $('message');
const jobProgress = $('job-progress');
const quality = $('quality');

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

function play(v) {
  showMessage();
  jobProgress.hidden = true;
  $('player').hidden = false;
  $('actions').hidden = false;
  const playing = startPlayer(videoEl, v, {
    startAt: startTimeFrom(location.search),
    onFatal: (details) => {
      if (player.hls) showMessage('watch.playbackStopped', { details }, true);
      else showMessage('watch.playbackFailed', { details }, true);
    },
    onLevels: (hls) => {
      // Highest first; the option's value is hls.js's level index.
      const levels = hls.levels.map((l, i) => ({ l, i })).sort((a, b) => (b.l.height - a.l.height) || (b.l.bitrate - a.l.bitrate));
      quality.replaceChildren(setText(el('option', { value: '-1' }), 'watch.auto'),
        ...levels.map(({ l, i }) => el('option', { value: String(i) }, levelLabel(l))));
      $('controls').hidden = levels.length < 2;
      quality.onchange = () => { hls.currentLevel = Number(quality.value); };  // -1: automatic again
    },
    onLevelSwitched: (hls, index) => {
      const label = levelLabel(hls.levels[index]);
      setText($('playing'), 'watch.playing', { level: label });
      if (hls.autoLevelEnabled) setText(quality.options[0], 'watch.autoWith', { level: label });
      else setText(quality.options[0], 'watch.auto');
    },
    // A video still processing: paused at the end of what exists until more is there.
    onWaitingForMore: (waiting, why) => showMessage(waiting && why === 'processing' ? 'watch.waitingForMore' : undefined),
  });
  if (!playing) {
    showMessage('watch.noHls', undefined, true);
    return;
  }
  if (v.storyboard?.vtt_url) setUpStoryboard(v.storyboard.vtt_url, v.duration_seconds).catch(() => {});
}

// The share button: the link to this video at the current second (`t=`), copied when the
// browser lets the page write the clipboard, and always shown in a field to select by hand.
function wireShare() {
  const field = $('share-url');
  const status = $('share-status');
  $('share').addEventListener('click', async () => {
    const url = new URL('watch.html', location.href);
    url.searchParams.set('id', id);
    const at = Math.floor(videoEl.currentTime || 0);
    if (at > 0) url.searchParams.set('t', String(at));
    field.value = url.href;
    $('share-box').hidden = false;
    try {
      await navigator.clipboard.writeText(url.href);
      setText(status, 'watch.shareCopied', { at });
    } catch {
      setText(status, 'watch.shareSelect');
    }
    field.focus();
    field.select();
  });
}

// The `?` help: the shortcuts in a dialog, worded in the page's language.
function wireShortcutHelp() {
  const dialog = $('shortcuts');
  const list = $('shortcut-list');
  list.replaceChildren(...SHORTCUTS.flatMap(([keys, key, params]) => [
    el('dt', {}, ...keys.flatMap((k, i) => [i ? ' / ' : null, k.length > 1 && k.includes('.') ? tx(k, undefined, 'kbd') : el('kbd', {}, k)])),
    tx(key, params, 'dd'),
  ]));
  const open = () => { if (!dialog.open) dialog.showModal(); };
  $('shortcuts-button').addEventListener('click', open);
  wireShortcuts(videoEl, { fullscreenEl: $('player'), onHelp: open });
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

// A video that is not ready yet: say why, and follow its job until it is.
function waitUntilReady(v) {
  const describe = (video, percent) => {
    if (video.status === 'failed') {
      const why = failureKey(video.failure_code);
      if (why) showMessage('watch.failedWhy', { why }, true);
      else if (video.failure_reason) showMessage('watch.failedBecause', { reason: video.failure_reason }, true);
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

wireShare();
wireShortcutHelp();
main();
