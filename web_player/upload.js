// Reporters' uploads: several files at once (picked or dropped), each sent with tus 1.0 to
// /files/ by tus-js-client (window.tus), one at a time: on a weak mobile link one upload at full
// speed finishes sooner than two sharing it, and the first file becomes a video first. Each file
// has its own row: title, progress (bytes, speed, time left), pause/resume/cancel, and once
// uploaded its processing from /ws (queued, processing with percent, ready with a link, failed
// with the reason).
//
// Resuming: tus-js-client keeps each unfinished upload's URL in localStorage under the file's
// fingerprint (name, type, size, date). Browsers do not keep File objects across a reload, so
// the page lists the unfinished uploads of earlier visits and asks for the file again; a file
// picked again is matched by fingerprint, or else by name and size, and continues from the
// server's offset. The uploader is the signed-in account (the session cookie goes with every
// request): there is no reporter field.
import { api, el, errorText, failureKey, followEvents, setText, t, tx, wireSignIn } from './app.js';

const $ = (name) => document.getElementById(name);
const form = $('form');
const fileInput = $('file');
const startButton = $('start');
const itemList = $('items');

const ENDPOINT = new URL('/files/', location.href).href;
// The server keeps what arrived of a request that drops, so the size only bounds each request;
// larger ones cost fewer round trips and flushes.
const CHUNK_SIZE = 64 * 1024 * 1024;
// About 6 minutes of retrying before giving up (the reporter can press Resume after that).
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000, 60000, 60000, 60000, 60000];
// Uploads sent at the same time; the others wait their turn.
const PARALLEL = 1;

// Rows, in page order. An item: {file, n, state, upload, previous, videoId, row parts...}.
// state: waiting (title editable) | queued | uploading | paused | stopped (an error; Resume
// tries again) | refused (the server will not take it) | processing | ready | failed | cancelled.
const items = [];
let counter = 0;
let maxSize = Infinity;    // the server's Tus-Max-Size
let signedIn = false;
let unfinished = [];       // stored tus uploads of earlier visits: {entry, offset, node}
let events = null;         // the /ws follower, opened with the first finished upload
const followed = new Map();  // video id -> item

// --- One row per file. ------------------------------------------------------------------------

// Shows message `key` in the item's status line (kept translated), then `extra` nodes.
function say(item, key, params, isError = false, ...extra) {
  item.status.replaceChildren(tx(key, params), ...extra);
  item.status.className = `item-status ${isError ? 'error' : ''}`;
}

const ACTIVE = ['uploading'];
const CAN_PAUSE = ['uploading', 'queued'];
const CAN_RESUME = ['paused', 'stopped'];
const CAN_CANCEL = ['waiting', 'queued', 'uploading', 'paused', 'stopped', 'refused'];

function setState(item, state) {
  item.state = state;
  item.row.dataset.state = state;
  item.pause.hidden = !CAN_PAUSE.includes(state) && !CAN_RESUME.includes(state);
  setText(item.pause, CAN_RESUME.includes(state) ? 'upload.resume' : 'upload.pause');
  item.cancel.hidden = !CAN_CANCEL.includes(state);
  item.title.disabled = state !== 'waiting' || !!item.previous;
  if (state !== 'uploading') clearRetry(item);
  startButton.disabled = !items.some((i) => i.state === 'waiting');
}

function addFile(file) {
  if (items.some((i) => i.state !== 'cancelled' && i.file.name === file.name && i.file.size === file.size
    && i.file.lastModified === file.lastModified)) return;  // already in the list
  const n = ++counter;
  const item = { file, n, samples: [] };
  const nameId = `item-${n}-name`;
  const barLabelId = `item-${n}-bar`;
  const jobLabelId = `item-${n}-job`;
  item.title = el('input', { type: 'text', id: `item-${n}-title`, class: 'item-title', maxlength: 300, value: file.name.replace(/\.[^.]+$/, '') });
  item.bar = el('progress', { class: 'item-bar', max: 100, value: 0, 'aria-labelledby': `${barLabelId} ${nameId}` });
  item.percent = el('span', { class: 'item-percent' });
  item.bytes = el('span', { class: 'item-bytes' });
  item.speed = el('span', { class: 'item-speed' });
  item.status = el('p', { class: 'item-status', role: 'status' });
  item.job = el('progress', { class: 'item-job', max: 100, value: 0, hidden: true, 'aria-labelledby': `${jobLabelId} ${nameId}` });
  item.pause = el('button', { type: 'button', class: 'secondary item-pause', onclick: () => togglePause(item) });
  item.cancel = setText(el('button', { type: 'button', class: 'secondary item-cancel', onclick: () => cancel(item) }), 'upload.cancel');
  item.row = el('li', { class: 'upload-item', 'data-file': file.name },
    el('div', { class: 'item-head' }, el('strong', { id: nameId, class: 'item-name' }, file.name),
      tx('upload.size', { size: file.size }, 'span')),
    el('label', { class: 'item-title-label', for: item.title.id }, tx('upload.title'), item.title),
    item.progress = el('div', { class: 'item-progress', hidden: true },
      Object.assign(tx('upload.progressLabel'), { id: barLabelId, className: 'sr-only' }), item.bar,
      el('div', { class: 'row meta' }, item.percent, item.bytes, item.speed)),
    item.status,
    Object.assign(tx('upload.jobLabel'), { id: jobLabelId, className: 'sr-only' }), item.job,
    el('div', { class: 'row' }, item.pause, item.cancel));
  items.push(item);
  itemList.append(item.row);
  $('queue').hidden = false;
  showProgress(item, 0);
  setState(item, 'waiting');

  if (file.size > maxSize) {
    setState(item, 'refused');
    say(item, 'upload.tooBig', { size: file.size, max: maxSize }, true);
    return;
  }
  item.upload = makeUpload(item);
  say(item, 'upload.waiting');
  matchPrevious(item);
}

// Finds an unfinished upload of this file from an earlier visit: tus-js-client's fingerprint
// first, else the same name and size (a copy of the file has another date).
// An upload another row is sending or will continue is never taken.
async function matchPrevious(item) {
  const inUse = new Set(items.filter((i) => i !== item && i.state !== 'cancelled')
    .map((i) => i.upload?.url || i.previous?.uploadUrl).filter(Boolean));
  const free = (entries) => entries.filter((u) => u.uploadUrl && !inUse.has(u.uploadUrl))
    .sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)));
  let found = null;
  try {
    found = free(await item.upload.findPreviousUploads())[0]
      || free(await window.tus.defaultOptions.urlStorage.findAllUploads())
        .find((u) => u.size === item.file.size && u.metadata?.filename === item.file.name)
      || null;
  } catch { /* no stored uploads (private mode): it starts afresh */ }
  if (!found || item.state !== 'waiting') return;
  item.previous = found;
  if (found.metadata?.title) item.title.value = found.metadata.title;  // the server has it already
  setState(item, 'waiting');
  const known = unfinished.find((u) => u.entry.urlStorageKey === found.urlStorageKey);
  if (known?.offset) {
    say(item, 'upload.willResumeAt', { sent: known.offset, total: item.file.size });
    showProgress(item, known.offset);
    item.progress.hidden = false;
  } else {
    say(item, 'upload.willResume');
  }
  if (known) {
    known.node.remove();
    unfinished = unfinished.filter((u) => u !== known);
    $('unfinished').hidden = unfinished.length === 0;
  }
}

function showProgress(item, sent) {
  const total = item.file.size;
  const now = performance.now();
  item.samples.push({ t: now, bytes: sent });
  while (item.samples.length > 2 && now - item.samples[0].t > 5000) item.samples.shift();
  const percent = total ? (100 * sent) / total : 100;
  item.bar.value = percent;
  setText(item.percent, 'upload.percent', { percent });
  setText(item.bytes, 'upload.bytes', { sent, total });
  const first = item.samples[0];
  const rate = now > first.t ? ((sent - first.bytes) * 1000) / (now - first.t) : 0;
  if (rate > 0 && item.state === 'uploading') setText(item.speed, 'upload.speed', { rate, left: (total - sent) / rate });
  else setText(item.speed, 'upload.noSpeed');
}

// --- Sending. ---------------------------------------------------------------------------------

function makeUpload(item) {
  return new window.tus.Upload(item.file, {
    endpoint: ENDPOINT,
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,  // the same file uploaded again later is a new video
    onProgress: (sent) => {
      if (item.retryTimer) {
        clearRetry(item);
        say(item, 'upload.uploading');
      }
      showProgress(item, sent);
    },
    // As tus-js-client decides by default (not after a refusal, except 409 and 423), but also
    // while the browser says it is offline: a phone out of coverage keeps trying and says when.
    // 409 (another offset) and 423 (the server still finishing a request that dropped, e.g. on
    // Pause) are retried without a word.
    onShouldRetry: (error, attempt, options) => {
      const status = error.originalResponse?.getStatus() || 0;
      if (status === 409 || status === 423) return true;
      if (status >= 400 && status < 500) return false;
      announceRetry(item, options.retryDelays[attempt]);
      return true;
    },
    onError: (error) => failed(item, error),
    onSuccess: () => uploaded(item),
  });
}

// "Connection lost, retrying in N s", counting down to the retry tus-js-client has scheduled.
function announceRetry(item, delay) {
  clearRetry(item);
  const due = performance.now() + delay;
  const tick = () => {
    const seconds = Math.max(0, Math.ceil((due - performance.now()) / 1000));
    if (seconds > 0) say(item, 'upload.retryingIn', { seconds }, true);
    else say(item, 'upload.retrying', undefined, true);
  };
  tick();
  item.retryTimer = setInterval(tick, 1000);
}

function clearRetry(item) {
  clearInterval(item.retryTimer);
  item.retryTimer = 0;
}

function begin(item) {
  const metadata = {
    filename: item.file.name,
    filetype: item.file.type || 'application/octet-stream',
    title: item.title.value.trim() || item.file.name.replace(/\.[^.]+$/, ''),
    ...item.shared,
  };
  for (const k of Object.keys(metadata)) if (!metadata[k]) delete metadata[k];
  item.upload.options.metadata = metadata;
  if (item.previous) {
    item.upload.resumeFromPreviousUpload(item.previous);
    item.previous = null;  // a second start continues from item.upload.url
    say(item, 'upload.resuming');
  } else {
    say(item, 'upload.uploading');
  }
  item.samples = [];
  item.progress.hidden = false;
  setState(item, 'uploading');
  item.upload.start();
}

// Starts queued uploads while fewer than PARALLEL are being sent.
function pump() {
  if (!signedIn) return;
  for (const item of items) {
    if (items.filter((i) => ACTIVE.includes(i.state)).length >= PARALLEL) return;
    if (item.state === 'queued') begin(item);
  }
}

// The numbers in the server's English message, e.g. "upload quota exceeded: 800000 of 1000000
// bytes already in use".
const numbersIn = (text) => (String(text).match(/\d+/g) || []).map(Number);

function failed(item, error) {
  const response = error.originalResponse;
  const status = response?.getStatus() || 0;
  let body = null;
  try { body = JSON.parse(response.getBody()); } catch { /* not JSON */ }
  const message = body?.error?.message || '';
  if (status === 401) {
    setState(item, 'stopped');
    item.stoppedBySignOut = true;
    say(item, 'upload.sessionEnded', undefined, true, ' ', setText(el('a', { href: '#signin' }), 'upload.signInAgain'));
    showSession(null);
  } else if (status === 413 && body?.error?.code === 'quota_exceeded') {
    const [used, quota] = numbersIn(message);
    setState(item, 'refused');
    if (quota) say(item, 'upload.quotaExceeded', { size: item.file.size, used, quota }, true);
    else say(item, 'upload.quotaExceededPlain', { size: item.file.size }, true);
  } else if (status === 413) {
    const max = numbersIn(message)[1] || (Number.isFinite(maxSize) ? maxSize : 0);
    setState(item, 'refused');
    if (max) say(item, 'upload.tooBig', { size: item.file.size, max }, true);
    else say(item, 'upload.refused', { reason: errorText({ status, message }) }, true);
  } else if (status === 403 || status === 400 || status === 415) {
    setState(item, 'refused');
    say(item, 'upload.refused', { reason: errorText({ status, message }) }, true);
  } else {
    // The network (no answer) or the server's trouble, after the retries: kept, resumable.
    setState(item, 'stopped');
    say(item, 'upload.stopped', { reason: errorText({ status, message }) }, true);
  }
  pump();
}

function uploaded(item) {
  setState(item, 'processing');
  showProgress(item, item.file.size);
  item.videoId = new URL(item.upload.url, location.href).pathname.split('/').filter(Boolean).pop();
  item.link = setText(el('a', { href: `watch.html?id=${encodeURIComponent(item.videoId)}` }), 'upload.openWatch');
  describe(item, 'queued');
  followed.set(item.videoId, item);
  if (!events) events = followEvents(onEvent, () => { for (const i of followed.values()) refresh(i); });
  else refresh(item);
  pump();
}

function togglePause(item) {
  if (item.state === 'uploading') {
    item.upload.abort();  // keeps the upload on the server; start() continues it
    setState(item, 'paused');
    say(item, 'upload.paused');
  } else if (item.state === 'queued') {
    setState(item, 'paused');
    say(item, 'upload.paused');
  } else if (CAN_RESUME.includes(item.state)) {
    setState(item, 'queued');
    item.stoppedBySignOut = false;
    say(item, 'upload.queued');
  }
  pump();
}

// Removes the row; an upload already begun is ended on the server too (its bytes and quota).
async function cancel(item) {
  const begun = item.upload?.url || item.previous;
  if (begun && !confirm(t('upload.confirmCancel', { name: item.file.name }))) return;
  setState(item, 'cancelled');
  item.row.remove();
  if (item.upload) {
    if (item.previous) item.upload.resumeFromPreviousUpload(item.previous);
    await item.upload.abort(!!begun).catch(() => {});
  }
  $('queue').hidden = !items.some((i) => i.state !== 'cancelled');
  pump();
}

// --- After the upload: processing, from /ws. --------------------------------------------------

function describe(item, status, percent, reason, code) {
  const isError = status === 'failed';
  const why = failureKey(code);
  if (status === 'ready') say(item, 'upload.doneReady', undefined, false, ' ', item.link);
  else if (status === 'failed' && why) say(item, 'upload.doneFailedWhy', { why }, true, ' ', item.link);
  else if (status === 'failed' && reason) say(item, 'upload.doneFailedBecause', { reason }, true, ' ', item.link);
  else if (status === 'failed') say(item, 'upload.doneFailed', undefined, true, ' ', item.link);
  else if (percent !== undefined) say(item, 'upload.doneProcessing', { percent }, isError, ' ', item.link);
  else say(item, `upload.done.${status}`, undefined, isError, ' ', item.link);
  if (status === 'ready' || status === 'failed') setState(item, status);
  item.row.dataset.processing = status;
  item.job.hidden = percent === undefined || status === 'ready' || status === 'failed';
  if (percent !== undefined) item.job.value = percent;
}

function refresh(item) {
  if (item.state !== 'processing') return;
  api(`/api/v1/videos/${encodeURIComponent(item.videoId)}`)
    .then((v) => {
      if (item.state !== 'processing') return;
      const running = v.latest_job?.state === 'running';
      describe(item, v.status, running ? v.latest_job.progress?.percent ?? 0 : undefined, v.failure_reason, v.failure_code);
    })
    .catch(() => {});
}

function onEvent(e) {
  const item = followed.get(e.data?.video_id ?? e.data?.id);
  if (!item || item.state !== 'processing') return;
  if (e.type === 'job.progress' || e.type === 'job.started') describe(item, 'processing', e.data.percent ?? 0);
  else if (e.type === 'video.ready') describe(item, 'ready');
  else if (e.type === 'video.failed') describe(item, 'failed', undefined, e.data.reason, e.data.code);
  else refresh(item);
}

// --- Unfinished uploads of earlier visits. ----------------------------------------------------

async function listUnfinished() {
  let stored = [];
  try { stored = await window.tus.defaultOptions.urlStorage.findAllUploads(); } catch { /* none */ }
  const inUse = new Set(items.filter((i) => i.state !== 'cancelled')
    .map((i) => i.upload?.url || i.previous?.uploadUrl).filter(Boolean));
  for (const u of unfinished) u.node.remove();
  unfinished = [];
  const list = $('unfinished-list');
  for (const entry of stored) {
    if (!entry.uploadUrl || inUse.has(entry.uploadUrl)) continue;
    // Where it stands on the server; an upload that is gone (expired, or another account's on
    // this browser, which the server does not show) is not listed.
    let offset = 0;
    try {
      const res = await fetch(entry.uploadUrl, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
      if (res.status === 404 || res.status === 410) {
        if (res.status === 410) window.tus.defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
        continue;
      }
      offset = Number(res.headers.get('Upload-Offset')) || 0;
      if (res.ok && offset >= entry.size) {  // all sent before the page went: it is a video now
        window.tus.defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
        continue;
      }
    } catch { /* offline: listed without the offset */ }
    const name = entry.metadata?.filename || '';
    const u = { entry, offset };
    u.node = el('li', { class: 'unfinished-item', 'data-file': name },
      el('strong', {}, name), ' ',
      entry.metadata?.title && entry.metadata.title !== name ? el('span', {}, `“${entry.metadata.title}” `) : null,
      tx('upload.unfinishedSent', { sent: offset, total: entry.size }), ' ',
      setText(el('button', { type: 'button', class: 'secondary', onclick: () => forget(u) }), 'upload.forget'));
    unfinished.push(u);
    list.append(u.node);
  }
  $('unfinished').hidden = unfinished.length === 0;
}

// Ends an unfinished upload that will not be continued (frees its bytes and quota).
async function forget(u) {
  if (!confirm(t('upload.confirmForget', { name: u.entry.metadata?.filename || '' }))) return;
  u.node.remove();
  unfinished = unfinished.filter((x) => x !== u);
  $('unfinished').hidden = unfinished.length === 0;
  await window.tus.defaultOptions.urlStorage.removeUpload(u.entry.urlStorageKey).catch(() => {});
  await window.tus.Upload.terminate(u.entry.uploadUrl, { retryDelays: [0, 1000, 3000] }).catch(() => {});
}

// --- The form, the drop zone, the session. ----------------------------------------------------

function addFiles(files) {
  if (!signedIn) return;
  if (!window.tus?.isSupported) {
    setText($('form-message'), 'upload.unsupported');
    $('form-message').hidden = false;
    return;
  }
  for (const file of files) addFile(file);
}

fileInput.addEventListener('change', () => {
  addFiles([...fileInput.files]);
  fileInput.value = '';  // picking the same file again (after a cancel) is a change again
});

// Files dropped anywhere on the page are taken (a browser would otherwise open the file in
// place of the page, ending the uploads); the zone shows where to drop.
const drop = $('drop');
let dragDepth = 0;
document.addEventListener('dragenter', (e) => {
  if (!e.dataTransfer?.types?.includes('Files')) return;
  dragDepth++;
  drop.classList.add('over');
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) drop.classList.remove('over');
});
document.addEventListener('dragover', (e) => {
  if (!e.dataTransfer?.types?.includes('Files')) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = signedIn ? 'copy' : 'none';
});
document.addEventListener('drop', (e) => {
  if (!e.dataTransfer?.files?.length) return;
  e.preventDefault();
  dragDepth = 0;
  drop.classList.remove('over');
  addFiles([...e.dataTransfer.files]);
});

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const shared = {
    description: $('description').value.trim(),
    tags: $('tags').value.split(',').map((s) => s.trim()).filter(Boolean).join(','),
    location: $('location').value.trim(),
  };
  for (const item of items) {
    if (item.state !== 'waiting') continue;
    item.shared = shared;
    setState(item, 'queued');
    say(item, 'upload.queued');
  }
  pump();
});

// Back online: a retry that is counting down goes now, and an upload whose retries ran out
// continues by itself.
window.addEventListener('online', () => {
  for (const item of items) {
    if (item.state === 'uploading' && item.retryTimer) {
      clearRetry(item);
      say(item, 'upload.retrying', undefined, true);
      item.upload.abort().then(() => item.upload.start());
    } else if (item.state === 'stopped' && !item.stoppedBySignOut) {
      togglePause(item);
    }
  }
});

window.addEventListener('beforeunload', (e) => {
  if (items.some((i) => i.state === 'uploading')) e.preventDefault();  // the browser asks whether to leave
});

// The largest upload the server takes, to refuse a larger file before sending any of it.
fetch(ENDPOINT, { method: 'OPTIONS' })
  .then((res) => { maxSize = Number(res.headers.get('Tus-Max-Size')) || Infinity; })
  .catch(() => {});

// Uploads belong to the signed-in account (a session cookie the browser sends with every upload
// request); the form shows once the server knows who this is. Rows stopped by an ended session
// continue after signing in again.
function showSession(user) {
  const wasSignedIn = signedIn;
  signedIn = !!user;
  $('signin').hidden = signedIn;
  $('whoami').hidden = !signedIn;
  form.hidden = !signedIn;
  if (user) $('whoami-name').textContent = user.display_name || user.name;
  if (signedIn && !wasSignedIn) {
    listUnfinished();
    for (const item of items) if (item.state === 'stopped' && item.stoppedBySignOut) togglePause(item);
    pump();
  }
  if (!signedIn) $('unfinished').hidden = true;
}

wireSignIn(showSession);
