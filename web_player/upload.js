// Reporters' upload: tus 1.0 to /files/ with tus-js-client (window.tus). Made for weak mobile
// links: 64 MiB requests (the server keeps what arrived of a request that drops, so the size only
// bounds each request; larger ones cost fewer round trips and flushes), long retries, pause/resume,
// and an interrupted upload of the same file (same name, size, type, date) resumes where it
// stopped, also after closing the page. Once uploaded, the video's processing is followed on /ws.
import { api, el, errorText, followEvents, setText, tx, wireSignIn } from './app.js';

const $ = (name) => document.getElementById(name);
const form = $('form');
const fileInput = $('file');
const titleInput = $('title');
const pauseButton = $('pause');
const messageEl = $('upload-message');
const jobProgress = $('job-progress');

const CHUNK_SIZE = 64 * 1024 * 1024;
// About 6 minutes of retrying before giving up (the reporter can press Resume after that).
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000, 60000, 60000, 60000, 60000];

let upload = null;
let state = 'idle';  // idle | uploading | paused | done
let samples = [];    // [{t, bytes}] over the last few seconds, for the speed

// Shows message `key` (kept translated), then `extra` nodes (a link).
function say(key, params, isError = false, ...extra) {
  messageEl.replaceChildren(tx(key, params), ...extra);
  messageEl.className = isError ? 'error' : 'notice';
}

function setState(s) {
  state = s;
  pauseButton.hidden = s === 'done' || s === 'idle';
  setText(pauseButton, s === 'paused' ? 'upload.resume' : 'upload.pause');
  $('another').hidden = s !== 'done';
  for (const input of form.elements) input.disabled = s !== 'idle';
}

function onProgress(sent, total) {
  const now = performance.now();
  samples.push({ t: now, bytes: sent });
  while (samples.length > 2 && now - samples[0].t > 5000) samples.shift();
  const percent = total ? (100 * sent) / total : 0;
  $('bar').value = percent;
  setText($('percent'), 'upload.percent', { percent });
  setText($('bytes'), 'upload.bytes', { sent, total });
  const first = samples[0];
  const rate = now > first.t ? ((sent - first.bytes) * 1000) / (now - first.t) : 0;
  if (rate > 0) setText($('speed'), 'upload.speed', { rate, left: (total - sent) / rate });
  else setText($('speed'), 'upload.noSpeed');
}

async function start(file) {
  const metadata = {
    filename: file.name,
    filetype: file.type || 'application/octet-stream',
    title: titleInput.value.trim() || file.name,
    description: $('description').value.trim(),
    tags: $('tags').value.split(',').map((t) => t.trim()).filter(Boolean).join(','),
  };
  for (const k of Object.keys(metadata)) if (!metadata[k]) delete metadata[k];

  upload = new window.tus.Upload(file, {
    endpoint: new URL('/files/', location.href).href,
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    metadata,
    removeFingerprintOnSuccess: true,  // the same file uploaded again later is a new video
    onProgress,
    onError(error) {
      setState('paused');
      if (error.originalResponse?.getStatus() === 401) {
        say('upload.sessionEnded', undefined, true);
        showSession(null);
        return;
      }
      // The server's answer, as api() would have read it; no answer at all: the network.
      const status = error.originalResponse?.getStatus() || 0;
      let message = '';
      try { message = JSON.parse(error.originalResponse.getBody()).error.message; } catch { /* not JSON */ }
      say('upload.stopped', { reason: errorText({ status, message }) }, true);
    },
    onSuccess() {
      setState('done');
      onProgress(file.size, file.size);
      const videoId = new URL(upload.url, location.href).pathname.split('/').filter(Boolean).pop();
      followVideo(videoId);
    },
  });

  $('status').hidden = false;
  $('file-name').textContent = file.name;
  samples = [];
  onProgress(0, file.size);
  setState('uploading');
  say('upload.uploading');
  try {
    const previous = await upload.findPreviousUploads();
    if (previous.length) {
      previous.sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)));
      upload.resumeFromPreviousUpload(previous[0]);
      say('upload.resuming');
    }
  } catch { /* no stored uploads (private mode): start afresh */ }
  upload.start();
}

// After the upload: a link to the watch page, and the transcode's progress from /ws.
async function followVideo(videoId) {
  const link = setText(el('a', { href: `watch.html?id=${encodeURIComponent(videoId)}` }), 'upload.openWatch');
  const describe = (status, percent) => {
    const [key, params] = status === 'ready' ? ['upload.doneReady']
      : status === 'failed' ? ['upload.doneFailed']
      : percent !== undefined ? ['upload.doneProcessing', { percent }]
      : [`upload.done.${status}`];
    say(key, params, status === 'failed', ' ', link);
    jobProgress.hidden = percent === undefined || status === 'ready' || status === 'failed';
    if (percent !== undefined) jobProgress.value = percent;
  };
  describe('queued');
  const refresh = () => api(`/api/v1/videos/${encodeURIComponent(videoId)}`)
    .then((v) => describe(v.status, v.latest_job?.state === 'running' ? v.latest_job.progress?.percent : undefined))
    .catch(() => {});
  const events = followEvents((e) => {
    if ((e.data?.video_id ?? e.data?.id) !== videoId) return;
    if (e.type === 'job.progress' || e.type === 'job.started') describe('processing', e.data.percent ?? 0);
    else if (e.type === 'video.ready') { describe('ready'); events.close(); }
    else if (e.type === 'video.failed') { describe('failed'); events.close(); }
    else refresh();
  }, refresh);
}

fileInput.addEventListener('change', () => {
  const file = fileInput.files[0];
  if (file) setText($('file-chosen'), 'upload.chosen', { name: file.name, size: file.size });
  else setText($('file-chosen'), 'upload.noFile');
  if (file && !titleInput.value.trim()) titleInput.value = file.name.replace(/\.[^.]+$/, '');
});

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const file = fileInput.files[0];
  if (!file) return;
  if (!window.tus?.isSupported) {
    say('upload.unsupported', undefined, true);
    return;
  }
  start(file);
});

pauseButton.addEventListener('click', () => {
  if (!upload) return;
  if (state === 'uploading') {
    upload.abort();  // keeps the upload on the server; start() continues it
    setState('paused');
    say('upload.paused');
  } else if (state === 'paused') {
    setState('uploading');
    samples = [];
    say('upload.uploading');
    upload.start();
  }
});

// A phone that comes back online after the retries ran out continues by itself.
window.addEventListener('online', () => { if (state === 'paused' && messageEl.className === 'error') pauseButton.click(); });

$('another').addEventListener('click', () => {
  form.reset();
  setText($('file-chosen'), 'upload.noFile');
  upload = null;
  $('status').hidden = true;
  jobProgress.hidden = true;
  setState('idle');
});

window.addEventListener('beforeunload', (e) => {
  if (state === 'uploading') e.preventDefault();  // the browser asks whether to leave
});

setState('idle');

// Signing in: uploads belong to the signed-in account (a session cookie the browser sends with
// every upload request); the form shows once the server knows who this is.
function showSession(user) {
  $('signin').hidden = !!user;
  $('whoami').hidden = !user;
  if (state === 'idle') form.hidden = !user;
  if (user) $('whoami-name').textContent = user.display_name || user.name;
}

wireSignIn(showSession);
