// The newsroom's dashboard: videos with their processing, live streams, and (admins) accounts
// and API tokens. Signed-in accounts only: anonymous visitors are sent to the sign-in page.
//
// Videos: a reporter's own (`mine=1`), everyone's for editors and admins, newest first, with
// search and status/visibility filters. Each row shows its status, kept current from /ws (job
// progress as a bar, queued/processing/ready/failed without reloading), a failed video's reason
// and attempts with Retry (POST /api/v1/jobs/{id}/retry), and an inline edit form (PATCH: title,
// description, tags, location, visibility). Editors publish and unpublish, and delete after a
// confirmation (<dialog>). What the server refuses is said in words on the row.
//
// Live streams: GET /api/v1/live (state, viewers, the encoder's figures, ingest details for the
// streams the caller may run; a new key is shown once), re-read on `live.*` events and every 10 s.
//
// Admins: accounts (add with a role, change role, disable/enable, reset password: a generated
// password is shown once) and their own API tokens (create with label and expiry: the secret is
// shown once; revoke).
import {
  api, debounce, el, errorText, failureKey, followEvents, onLanguageChange, sessionUser, setText, t, tx,
} from './app.js';

const $ = (name) => document.getElementById(name);
const PAGE_SIZE = 20;
const LIVE_POLL_MS = 10_000;
const RELOAD_AFTER_FAILURE_MS = 5000;

let me = null;  // the signed-in user
const isStaff = () => me.role === 'editor' || me.role === 'admin';

// Sets status line `node` to message `key` (none: hides it).
function say(node, key, params, isError = false) {
  if (key) setText(node, key, params); else node.textContent = '';
  node.className = isError ? 'error' : 'notice';
  node.hidden = !key;
}

// The "connection lost, retrying" line at the top, shown while the event stream is down or the
// server does not answer at all.
const connection = { eventsDown: false, unreachable: false };
function showConnection() {
  say($('connection'), connection.eventsDown || connection.unreachable ? 'dashboard.connectionLost' : null, undefined, true);
}

// A <button type="button"> worded by message `key`.
function button(key, onClick, attrs = {}) {
  const b = setText(el('button', { type: 'button', ...attrs }), key);
  b.addEventListener('click', onClick);
  return b;
}

// An element's aria-label from message `key`, kept translated.
const ariaLabel = (key) => ({ 'aria-label': t(key), 'data-i18n-attr': `aria-label=${key}` });

// Asks in the page's <dialog>; resolves true when the reader chose `okKey`, false when they
// cancelled (the Cancel button or Escape).
function confirmAction(headingKey, textKey, params, okKey) {
  const dialog = $('confirm');
  setText($('confirm-heading'), headingKey, params);
  setText($('confirm-text'), textKey, params);
  setText($('confirm-ok'), okKey);
  dialog.returnValue = '';
  dialog.showModal();
  $('confirm-cancel').focus();  // the safe choice is the default
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

// Copies the value of `input`; resolves true when it worked (the Clipboard API needs https or
// localhost; elsewhere the selected text is left for the reader to copy).
async function copy(input) {
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    return false;
  }
}

// Shows a secret the server gives only once (a password, a token, a stream key) in `container`.
// `rows`: [[labelKey, value, name]].
function showSecret(container, headingKey, params, rows) {
  container.replaceChildren(tx(headingKey, params, 'h3'), tx('live.secret.once', undefined, 'p'));
  for (const [labelKey, value, name] of rows) {
    const input = el('input', { readonly: true, value, 'data-secret': name, ...ariaLabel(labelKey) });
    const copyButton = button('live.copy', async () => {
      setText(copyButton, (await copy(input)) ? 'live.copied' : 'live.copyByHand');
      setTimeout(() => setText(copyButton, 'live.copy'), 2000);
    }, { class: 'secondary' });
    container.append(tx(labelKey, undefined, 'p'), el('div', { class: 'copy-row' }, input, copyButton));
  }
  container.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Videos.

const entries = new Map();   // video id -> {video, job, node, form, message}, in page order
const progress = new Map();  // video id -> percent of its running job (job.* events)
const notListed = new Set(); // ids known not to belong to the list as filtered
let next = null;             // the next page's parameters ({cursor} or {offset}); null at the end
let loading = null;          // AbortController of the list request in flight
let reloadTimer = 0;

function filters() {
  return { q: $('filter-q').value.trim(), status: $('filter-status').value, visibility: $('filter-visibility').value };
}

function listQuery(more = false) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (!isStaff()) params.set('mine', '1');
  for (const [k, v] of Object.entries(filters())) if (v) params.set(k, v);
  if (more && next) for (const [k, v] of Object.entries(next)) params.set(k, v);
  return `/api/v1/videos?${params}`;
}

function failureBlock(entry) {
  const { video, job } = entry;
  const why = failureKey(video.failure_code);
  const block = el('div', { class: 'failure' },
    why ? tx('dashboard.failedWhy', { why }, 'p')
      : video.failure_reason ? tx('dashboard.failedBecause', { reason: video.failure_reason }, 'p')
        : tx('dashboard.failedNoReason', undefined, 'p'));
  block.firstChild.className = 'error reason';
  if (why && video.failure_reason) {
    // The server's own words, for whoever reports the problem on: English, and said so.
    block.append(tx('dashboard.failureDetail', { reason: video.failure_reason }, 'p'));
    block.lastChild.className = 'hint reason-detail';
  }
  if (job) {
    block.append(tx('dashboard.attempts', { attempts: job.attempts, max: job.max_attempts, at: job.finished_at || job.updated_at }, 'p'));
    block.lastChild.className = 'hint attempts';
    if (job.state === 'failed' || job.state === 'cancelled') {
      block.append(button('dashboard.retry', () => retry(entry), { class: 'retry' }));
    }
  }
  return block;
}

// Redraws the summary and actions of `entry`'s row; an open edit form and the row's message stay.
function render(entry) {
  const v = entry.video;
  const percent = progress.get(v.id);
  const running = percent !== undefined && (v.status === 'processing' || v.status === 'queued');
  const status = running
    ? setText(el('span', { class: 'badge processing status' }), 'status.progress', { percent })
    : setText(el('span', { class: `badge ${v.status} status` }), `status.${v.status}`);
  const summary = el('div', { class: 'dash-main' },
    el('h3', {}, el('a', { href: `watch.html?id=${encodeURIComponent(v.id)}` }, v.title)),
    el('div', { class: 'meta' },
      status,
      setText(el('span', { class: `badge visibility ${v.visibility}` }), `visibility.${v.visibility}`),
      v.reporter ? el('span', { class: 'reporter' }, v.reporter) : null,
      v.location ? el('span', {}, v.location) : null,
      tx('dashboard.createdAt', { at: v.created_at })),
    running ? el('progress', { max: 100, value: percent, ...ariaLabel('dashboard.progressLabel') }) : null,
    v.status === 'failed' ? failureBlock(entry) : null);

  const actions = el('div', { class: 'row actions' },
    entry.form ? null : button('dashboard.edit', () => openEditor(entry), { class: 'secondary edit' }));
  if (isStaff()) {
    const published = v.visibility === 'published';
    actions.append(button(published ? 'dashboard.unpublish' : 'dashboard.publish',
      () => changeVisibility(entry, published ? 'draft' : 'published'), { class: 'secondary publish' }));
    actions.append(button('dashboard.delete', () => removeVideo(entry), { class: 'secondary delete' }));
  }
  entry.node.dataset.status = running ? 'processing' : v.status;
  entry.node.dataset.visibility = v.visibility;
  if (entry.job) {
    entry.node.dataset.jobState = entry.job.state;
    entry.node.dataset.jobFinished = String(entry.job.finished_at ?? '');
  }
  if (entry.form && entry.form.parentNode === entry.node) {
    // Redrawn while its form is open (the job ended, someone else changed the video): the form
    // stays in place, for a field taken out of the page loses its focus, and the letters typed
    // next would go nowhere.
    while (entry.node.firstChild !== entry.form) entry.node.firstChild.remove();
    entry.form.before(summary, actions, entry.message);
  } else {
    entry.node.replaceChildren(summary, actions, entry.message, ...(entry.form ? [entry.form] : []));
  }
}

function addEntry(video, where = 'append') {
  let entry = entries.get(video.id);
  if (!entry) {
    entry = { video, job: video.latest_job ?? null, form: null,
      node: el('li', { class: 'dash-item', 'data-id': video.id }),
      message: el('p', { class: 'notice', role: 'status', hidden: true }) };
    entries.set(video.id, entry);
    if (where === 'prepend') $('videos').prepend(entry.node); else $('videos').append(entry.node);
  } else {
    entry.video = video;
    if (video.latest_job) entry.job = video.latest_job;
  }
  render(entry);
  updateVideosNotice();
  return entry;
}

function removeEntry(id) {
  entries.get(id)?.node.remove();
  entries.delete(id);
  progress.delete(id);
  updateVideosNotice();
}

function updateVideosNotice() {
  const notice = $('videos-notice');
  if (entries.size) { say(notice, null); return; }
  const { q, status, visibility } = filters();
  say(notice, q || status || visibility ? 'dashboard.noMatch' : isStaff() ? 'dashboard.noVideos' : 'dashboard.noOwnVideos');
}

// Loads the first page (`more` false: replaces the rows) or the next one. A failure is said
// under the heading and the page tries again by itself.
async function loadVideos(more = false) {
  clearTimeout(reloadTimer);
  loading?.abort();
  const controller = loading = new AbortController();
  if (!more) say($('videos-notice'), 'common.loading');
  let page;
  try {
    page = await api(listQuery(more), { signal: controller.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    say($('videos-notice'), 'dashboard.videosFailed', { reason: errorText(e) }, true);
    if (e.status !== 400 && e.status !== 401 && e.status !== 403) reloadTimer = setTimeout(() => loadVideos(more), RELOAD_AFTER_FAILURE_MS);
    return;
  } finally {
    if (loading === controller) loading = null;
  }
  if (controller.signal.aborted) return;
  if (!more) {
    $('videos').replaceChildren();
    entries.clear();
    notListed.clear();
  }
  for (const video of page.videos) {
    addEntry(video);
    if (video.status === 'failed') refresh(video.id);  // its job: attempts and Retry
  }
  next = page.next_cursor ? { cursor: page.next_cursor }
    : page.next_offset != null ? { offset: String(page.next_offset) } : null;
  $('videos-more').hidden = !next;
  updateVideosNotice();
}

// Re-reads one video (with its latest job) and redraws its row. `insert`: a video not on the
// page is added at the top when the list as filtered has it on its first page.
const refreshing = new Map();  // id -> 'again' when another event came in during the request
async function refresh(id, insert = false) {
  if (refreshing.has(id)) { refreshing.set(id, 'again'); return; }
  refreshing.set(id, '');
  try {
    const video = await api(`/api/v1/videos/${encodeURIComponent(id)}`);
    if (entries.has(id)) {
      addEntry(video);
    } else if (insert && !notListed.has(id)) {
      const page = await api(listQuery());
      if (page.videos.some((v) => v.id === id)) addEntry(video, 'prepend'); else notListed.add(id);
    }
  } catch (e) {
    if (e.status === 404) removeEntry(id);
  } finally {
    const again = refreshing.get(id) === 'again';
    refreshing.delete(id);
    if (again) refresh(id, insert);
  }
}

function rowMessage(entry, key, params, isError = false) {
  say(entry.message, key, params, isError);
}

async function retry(entry) {
  rowMessage(entry, null);
  try {
    entry.job = await api(`/api/v1/jobs/${entry.job.id}/retry`, { method: 'POST' });
    entry.video = { ...entry.video, status: 'queued', failure_reason: null };
    rowMessage(entry, 'dashboard.retrying');
    render(entry);
  } catch (e) {
    rowMessage(entry, 'dashboard.retryFailed', { reason: errorText(e) }, true);
  }
}

async function changeVisibility(entry, visibility) {
  rowMessage(entry, null);
  try {
    const video = await api(`/api/v1/videos/${encodeURIComponent(entry.video.id)}`, { method: 'PATCH', body: { visibility } });
    addEntry(video);
    rowMessage(entry, visibility === 'published' ? 'dashboard.published' : 'dashboard.unpublished');
  } catch (e) {
    rowMessage(entry, 'dashboard.saveFailed', { reason: errorText(e) }, true);
  }
}

async function removeVideo(entry) {
  const { id, title } = entry.video;
  if (!await confirmAction('dashboard.deleteHeading', 'dashboard.deleteText', { title }, 'dashboard.delete')) return;
  try {
    await api(`/api/v1/videos/${encodeURIComponent(id)}`, { method: 'DELETE' });
    removeEntry(id);
    say($('message'), 'dashboard.deleted', { title });
  } catch (e) {
    if (e.status === 404) { removeEntry(id); return; }
    rowMessage(entry, 'dashboard.deleteFailed', { reason: errorText(e) }, true);
  }
}

// The inline edit form of a row: title, description, tags, location and who may watch.
function openEditor(entry) {
  const v = entry.video;
  const field = (key, input) => el('label', {}, tx(key), input);
  const visibility = el('select', { name: 'visibility' },
    ...['draft', 'unlisted', 'published'].map((value) => setText(el('option', {
      value, selected: value === v.visibility,
      // Publishing, and taking down what is published, is an editor's call.
      disabled: !isStaff() && (value === 'published') }), `visibility.${value}`)));
  if (!isStaff() && v.visibility === 'published') visibility.disabled = true;
  const form = el('form', { class: 'edit' },
    field('dashboard.title', el('input', { type: 'text', name: 'title', required: true, maxlength: 300, value: v.title })),
    field('dashboard.description', el('textarea', { name: 'description', rows: 3 }, v.description || '')),
    field('dashboard.tags', el('input', { type: 'text', name: 'tags', value: (v.tags || []).join(', ') })),
    field('dashboard.location', el('input', { type: 'text', name: 'location', value: v.location || '' })),
    field('dashboard.visibility', visibility),
    el('div', { class: 'row' },
      setText(el('button', { type: 'submit', class: 'save' }), 'dashboard.save'),
      button('dashboard.cancel', () => closeEditor(entry), { class: 'secondary cancel' })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = {
      title: f.title.value.trim(), description: f.description.value.trim(), location: f.location.value.trim(),
      tags: f.tags.value.split(',').map((s) => s.trim()).filter(Boolean),
    };
    if (f.visibility.value !== entry.video.visibility) body.visibility = f.visibility.value;
    form.querySelector('.save').disabled = true;
    try {
      const video = await api(`/api/v1/videos/${encodeURIComponent(v.id)}`, { method: 'PATCH', body });
      entry.form = null;
      addEntry(video);
      rowMessage(entry, 'dashboard.saved');
    } catch (err) {
      rowMessage(entry, 'dashboard.saveFailed', { reason: errorText(err) }, true);
      form.querySelector('.save').disabled = false;
    }
  });
  entry.form = form;
  rowMessage(entry, null);
  render(entry);
  form.elements.title.focus();
}

function closeEditor(entry) {
  entry.form = null;
  render(entry);
  entry.node.querySelector('button.edit')?.focus();
}

function onVideoEvent(type, data) {
  const id = type.startsWith('job.') ? data.video_id : data.id;
  if (!id) return;
  const entry = entries.get(id);
  switch (type) {
    case 'job.started':
    case 'job.progress':
      progress.set(id, data.percent ?? 0);
      if (entry && !refreshing.has(id)) {
        if (entry.video.status !== 'ready') entry.video = { ...entry.video, status: 'processing' };
        // The bar and the badge only, when they are there: a redraw would take the focus off
        // the row's buttons four times a second.
        const bar = entry.node.querySelector('.dash-main > progress');
        if (bar && entry.node.dataset.status === 'processing') {
          bar.value = data.percent ?? 0;
          setText(entry.node.querySelector('.status'), 'status.progress', { percent: data.percent ?? 0 });
        } else {
          render(entry);
        }
      } else if (!entry) {
        refresh(id, true);
      }
      break;
    case 'job.queued':
      progress.delete(id);
      if (entry && entry.video.status !== 'ready') refresh(id);
      break;
    case 'job.failed':  // state 'queued': it will be retried; otherwise video.failed follows
    case 'job.cancelled':
      progress.delete(id);
      if (entry) refresh(id);
      break;
    case 'video.ready':
    case 'video.failed':
      progress.delete(id);
      refresh(id, true);
      break;
    case 'video.created':
      notListed.delete(id);
      refresh(id, true);
      break;
    case 'video.updated':
      refresh(id, true);
      break;
    case 'video.deleted':
      removeEntry(id);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Live streams.

const STATE_ORDER = { live: 0, reconnecting: 1, idle: 2, ended: 3 };

function facts(rows) {
  const dl = el('dl', { class: 'facts' });
  for (const [key, value] of rows) if (value !== null && value !== undefined && value !== '') dl.append(tx(key, undefined, 'dt'), el('dd', {}, value));
  return dl;
}

function streamItem(s) {
  const onAir = s.state === 'live' || s.state === 'reconnecting';
  const item = el('li', { class: 'dash-item', 'data-id': s.id, 'data-state': s.state },
    el('div', { class: 'dash-main' },
      el('h3', {}, el('a', { href: `live.html?id=${encodeURIComponent(s.id)}` }, s.title || s.id)),
      el('div', { class: 'meta' },
        setText(el('span', { class: `badge live-${s.state} state` }), `live.state.${s.state}`),
        setText(el('span', { class: 'badge' }), `visibility.${s.visibility}`),
        setText(el('span', { class: 'viewers', 'data-count': String(s.viewers ?? 0) }), 'live.viewers', { count: s.viewers ?? 0 }),
        s.state_since ? tx('live.since', { at: s.state_since }) : null)));
  const main = item.firstChild;
  if (onAir && s.ingest_stats) {
    const st = s.ingest_stats;
    main.append(tx('dashboard.ingestStats', {
      kbps: Math.round((st.bitrate_bps ?? 0) / 1000), rtt: Math.round(st.rtt_ms ?? 0), lost: st.packets_lost ?? 0,
    }, 'p'));
    main.lastChild.className = 'hint';
  }
  if (s.ingest) {
    main.append(facts([
      ['live.srtServer', s.ingest.server],
      ['live.streamId', `#!::r=${s.id},m=publish,s=KEY`],
      ['live.passphrase', s.ingest.passphrase],
      ['live.pullUrl', s.pull?.url],
    ]));
    item.append(el('div', { class: 'row actions' }, button('live.newKey', () => newKey(s), { class: 'secondary new-key' })));
  }
  return item;
}

// --- Unfinished uploads (the caller's own: an upload belongs to its creator). ------------------

function uploadItem(u) {
  const name = u.title || u.filename || u.id;
  const item = el('li', { class: 'dash-item', 'data-id': u.id },
    el('div', { class: 'dash-main' },
      el('h3', { translate: 'no' }, name),
      tx('dashboard.uploadProgress', { offset: u.offset, length: u.length ?? 0, percent: u.length ? (100 * u.offset) / u.length : 0 }, 'p'),
      tx('dashboard.uploadExpires', { at: u.expires_at }, 'p')));
  if (u.length) item.firstChild.append(el('progress', { max: String(u.length), value: String(u.offset) }));
  item.append(el('div', { class: 'row actions' },
    el('a', { class: 'button', href: 'upload.html' }, tx('dashboard.uploadResume')),
    button('dashboard.uploadDiscard', () => discardUpload(u, name), { class: 'secondary discard' })));
  return item;
}

async function loadUploads() {
  try {
    const { uploads } = await api('/api/v1/uploads');
    $('uploads').replaceChildren(...uploads.map(uploadItem));
    $('uploads-section').hidden = uploads.length === 0;
  } catch (e) {
    $('uploads-section').hidden = false;
    say($('uploads-notice'), 'dashboard.uploadsFailed', { reason: errorText(e) }, true);
  }
}

async function discardUpload(u, name) {
  if (!await confirmAction('dashboard.uploadDiscardHeading', 'dashboard.uploadDiscardText', { title: name }, 'dashboard.uploadDiscard')) return;
  try {
    const res = await fetch(u.url, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } });
    if (!res.ok && res.status !== 404) throw Object.assign(new Error(`${res.status} ${res.statusText}`), { status: res.status });
    say($('uploads-notice'), 'dashboard.uploadDiscarded', { title: name });
  } catch (e) {
    say($('uploads-notice'), 'dashboard.uploadDiscardFailed', { reason: errorText(e) }, true);
  }
  loadUploads();
}

// Also the page's check that the server can be reached (it runs every 10 s): no answer at all
// says so at the top, and the first answer after that re-reads the videos.
async function loadLive() {
  try {
    const { items } = await api('/api/v1/live');
    items.sort((a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || b.state_since - a.state_since);
    $('streams').replaceChildren(...items.map(streamItem));
    say($('live-notice'), items.length ? null : 'dashboard.noStreams');
    if (connection.unreachable) {
      connection.unreachable = false;
      showConnection();
      loadVideos();
    }
  } catch (e) {
    say($('live-notice'), 'dashboard.liveFailed', { reason: errorText(e) }, true);
    if (!e.status) {
      connection.unreachable = true;
      showConnection();
    }
  }
}

async function newKey(s) {
  if (!await confirmAction('dashboard.newKeyHeading', 'live.confirmNewKey', { title: s.title }, 'live.newKey')) return;
  try {
    const fresh = await api(`/api/v1/live/${encodeURIComponent(s.id)}/key`, { method: 'POST' });
    const ingest = fresh.ingest || {};
    showSecret($('live-secret'), 'dashboard.newKeyFor', { title: fresh.title || fresh.id }, [
      ['live.secret.urlLabel', ingest.url || '', 'url'],
      ['live.secret.keyLabel', ingest.key || '', 'key'],
      ['live.streamId', ingest.stream_id || '', 'stream_id'],
    ]);
    loadLive();
  } catch (e) {
    say($('live-notice'), 'live.newKeyFailed', { reason: errorText(e) }, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Accounts and tokens (admins).

function userItem(u) {
  // Its label names the account: worded at the moment, and again after a switch of language.
  const role = el('select', { class: 'role', 'aria-label': t('dashboard.roleOf', { name: u.name }) },
    ...['reporter', 'editor', 'admin'].map((r) => setText(el('option', { value: r, selected: r === u.role }), `session.role.${r}`)));
  role.addEventListener('change', () => changeUser(u, { role: role.value }));
  return el('li', { class: 'dash-item', 'data-name': u.name, 'data-disabled': String(u.disabled) },
    el('div', { class: 'dash-main' },
      el('h3', {}, u.name),
      el('div', { class: 'meta' },
        u.display_name && u.display_name !== u.name ? el('span', {}, u.display_name) : null,
        u.disabled ? setText(el('span', { class: 'badge failed' }), 'dashboard.disabled') : null,
        tx('dashboard.createdAt', { at: u.created_at }))),
    el('div', { class: 'row actions' }, role,
      u.disabled ? button('dashboard.enable', () => changeUser(u, { disabled: false }), { class: 'secondary enable' })
        : button('dashboard.disable', async () => {
          if (await confirmAction('dashboard.disableHeading', 'dashboard.disableText', { name: u.name }, 'dashboard.disable')) {
            changeUser(u, { disabled: true });
          }
        }, { class: 'secondary disable' }),
      button('dashboard.resetPassword', () => resetPassword(u), { class: 'secondary reset' })));
}

async function loadUsers() {
  try {
    const { users } = await api('/api/v1/users');
    $('users').replaceChildren(...users.map(userItem));
  } catch (e) {
    say($('users-message'), 'dashboard.usersFailed', { reason: errorText(e) }, true);
  }
}

async function changeUser(u, change) {
  try {
    await api(`/api/v1/users/${encodeURIComponent(u.name)}`, { method: 'PATCH', body: change });
    say($('users-message'), 'dashboard.userChanged', { name: u.name });
  } catch (e) {
    say($('users-message'), 'dashboard.userChangeFailed', { name: u.name, reason: errorText(e) }, true);
  }
  loadUsers();
}

async function resetPassword(u) {
  if (!await confirmAction('dashboard.resetHeading', 'dashboard.resetText', { name: u.name }, 'dashboard.resetPassword')) return;
  try {
    const { password } = await api(`/api/v1/users/${encodeURIComponent(u.name)}/password`, { method: 'POST' });
    say($('users-message'), null);
    showSecret($('user-secret'), 'dashboard.passwordFor', { name: u.name }, [['session.password', password, 'password']]);
  } catch (e) {
    say($('users-message'), 'dashboard.userChangeFailed', { name: u.name, reason: errorText(e) }, true);
  }
}

async function addUser(e) {
  e.preventDefault();
  const name = $('user-name').value.trim();
  const body = { name, role: $('user-role').value };
  if ($('user-display').value.trim()) body.display_name = $('user-display').value.trim();
  $('user-add').disabled = true;
  try {
    const { password } = await api('/api/v1/users', { method: 'POST', body });
    $('user-form').reset();
    say($('users-message'), 'dashboard.userAdded', { name });
    showSecret($('user-secret'), 'dashboard.passwordFor', { name }, [['session.password', password, 'password']]);
    loadUsers();
  } catch (err) {
    say($('users-message'), err.status === 409 ? 'dashboard.userExists' : 'dashboard.userAddFailed',
      { name, reason: errorText(err) }, true);
  } finally {
    $('user-add').disabled = false;
  }
}

function tokenItem(tok) {
  const when = (key, at) => (at ? tx(key, { at }) : null);
  return el('li', { class: 'dash-item', 'data-token': String(tok.id), 'data-revoked': String(!!tok.revoked_at) },
    el('div', { class: 'dash-main' },
      tok.label ? el('h3', {}, tok.label) : tx('dashboard.noLabel', undefined, 'h3'),
      el('div', { class: 'meta' },
        tok.revoked_at ? setText(el('span', { class: 'badge failed' }), 'dashboard.revoked') : null,
        when('dashboard.createdAt', tok.created_at),
        when('dashboard.expiresAt', tok.expires_at),
        tok.last_used_at ? tx('dashboard.lastUsed', { at: tok.last_used_at }) : tx('dashboard.neverUsed'))),
    tok.revoked_at ? null : el('div', { class: 'row actions' }, button('dashboard.revoke', async () => {
      if (!await confirmAction('dashboard.revokeHeading', 'dashboard.revokeText', { label: tok.label || `#${tok.id}` }, 'dashboard.revoke')) return;
      try {
        await api(`/api/v1/tokens/${tok.id}`, { method: 'DELETE' });
        say($('tokens-message'), 'dashboard.tokenRevoked', { label: tok.label || `#${tok.id}` });
      } catch (e) {
        say($('tokens-message'), 'dashboard.tokenRevokeFailed', { reason: errorText(e) }, true);
      }
      loadTokens();
    }, { class: 'secondary revoke' })));
}

async function loadTokens() {
  try {
    const { tokens } = await api('/api/v1/tokens');
    $('tokens').replaceChildren(...tokens.filter((tok) => tok.kind === 'api').map(tokenItem));
  } catch (e) {
    say($('tokens-message'), 'dashboard.tokensFailed', { reason: errorText(e) }, true);
  }
}

async function addToken(e) {
  e.preventDefault();
  const label = $('token-label').value.trim();
  const body = { expires_in_days: Number($('token-days').value) };
  if (label) body.label = label;
  $('token-add').disabled = true;
  try {
    const tok = await api('/api/v1/tokens', { method: 'POST', body });
    $('token-form').reset();
    say($('tokens-message'), null);
    showSecret($('token-secret'), 'dashboard.tokenCreated', { label: tok.label || `#${tok.id}`, at: tok.expires_at },
      [['dashboard.tokenSecret', tok.secret, 'token']]);
    loadTokens();
  } catch (err) {
    say($('tokens-message'), 'dashboard.tokenAddFailed', { reason: errorText(err) }, true);
  } finally {
    $('token-add').disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  // Who is this? Anonymous visitors sign in first; without an answer the page keeps asking.
  for (let tries = 0; ; tries++) {
    try {
      me = await sessionUser({ fresh: tries > 0 });
      break;
    } catch (e) {
      say($('message'), 'dashboard.unreachable', { reason: errorText(e) }, true);
      await new Promise((resolve) => setTimeout(resolve, RELOAD_AFTER_FAILURE_MS));
    }
  }
  if (!me) {
    location.replace('signin.html?next=dashboard.html');
    return;
  }
  say($('message'), isStaff() ? 'dashboard.introStaff' : 'dashboard.introReporter', { name: me.display_name || me.name });
  setText($('videos-heading'), isStaff() ? 'dashboard.videosHeading' : 'dashboard.myVideosHeading');
  $('videos-section').hidden = false;
  $('live-section').hidden = false;
  loadUploads();

  $('filters').addEventListener('submit', (e) => { e.preventDefault(); loadVideos(); });
  $('filter-q').addEventListener('input', debounce(() => loadVideos(), 300));
  $('filter-status').addEventListener('change', () => loadVideos());
  $('filter-visibility').addEventListener('change', () => loadVideos());
  $('videos-more').addEventListener('click', () => loadVideos(true));

  if (me.role === 'admin') {
    $('admin-section').hidden = false;
    $('user-form').addEventListener('submit', addUser);
    $('token-form').addEventListener('submit', addToken);
    loadUsers();
    loadTokens();
    onLanguageChange(loadUsers);
  }

  // The lists are read once the event stream is up, so that no event falls between the two;
  // after a reconnect they are read again (events sent while disconnected are lost).
  let loadedOnce = false;
  let liveReload = 0;
  followEvents(({ type, data }) => {
    if (type === 'overflow') {
      loadVideos();
      loadLive();
    } else if (type.startsWith('live.')) {
      clearTimeout(liveReload);
      liveReload = setTimeout(loadLive, 200);  // a burst of state changes: one reload
    } else if (data) {
      onVideoEvent(type, data);
    }
  }, () => {
    connection.eventsDown = false;
    showConnection();
    loadedOnce = true;
    loadVideos();
    loadLive();
  }, () => {
    connection.eventsDown = true;
    showConnection();
  });
  setTimeout(() => {  // /ws unreachable: still show the lists
    if (loadedOnce) return;
    loadVideos();
    loadLive();
  }, 2000);
  setInterval(loadLive, LIVE_POLL_MS);  // viewers and the encoder's figures are not events
}

main();
