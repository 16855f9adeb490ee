// Browse and search: lists GET /api/v1/videos (newest first, or best match for a search), and
// keeps the cards current from the /ws events without polling: progress bars while a job runs,
// status changes, new videos (when not searching), edits and deletions.
import { api, debounce, el, errorText, followEvents, formatDuration, posterImg, setText } from './app.js';

const PAGE_SIZE = 24;
const grid = document.getElementById('grid');
const notice = document.getElementById('notice');
const moreButton = document.getElementById('more');
const input = document.getElementById('q');

const cards = new Map();     // video id -> {video, node}, for the cards on the page
const progress = new Map();  // video id -> percent of its running job (from job.* events)
let query = new URLSearchParams(location.search).get('q') || '';
let next = null;             // the next page's parameters ({cursor} or {offset}), null at the end
let loading = null;          // AbortController of the list request in flight

function buildCard(video) {
  const percent = progress.get(video.id);
  return el('a', { class: 'card', href: `watch.html?id=${encodeURIComponent(video.id)}`, 'data-id': video.id, 'data-status': video.status },
    el('div', { class: 'thumb' },
      // The grid's cards: a phone's width, half of a tablet's, at most about 300 px on a desktop.
      video.poster_url ? posterImg(video.poster_url, '(min-width: 1024px) 300px, (min-width: 540px) 50vw, 100vw') : null,
      video.duration_seconds ? el('span', { class: 'duration' }, formatDuration(video.duration_seconds)) : null),
    el('div', { class: 'body' },
      el('h2', {}, video.title),
      el('div', { class: 'meta' },
        percent !== undefined && video.status !== 'ready'
          ? setText(el('span', { class: `badge ${video.status}` }), 'status.progress', { percent })
          : setText(el('span', { class: `badge ${video.status}` }), `status.${video.status}`),
        video.visibility !== 'published' ? setText(el('span', { class: 'badge' }), `visibility.${video.visibility}`) : null,
        video.location ? el('span', {}, video.location) : null,
        video.reporter ? el('span', {}, video.reporter) : null),
      percent !== undefined ? el('progress', { max: 100, value: percent }) : null));
}

// Adds the card for `video` (at the end for list pages, at the top for a video that just
// appeared) or redraws the existing one.
function show(video, where = 'append') {
  const node = buildCard(video);
  const entry = cards.get(video.id);
  if (entry) {
    entry.node.replaceWith(node);
    Object.assign(entry, { video, node });
  } else {
    if (where === 'prepend') grid.prepend(node); else grid.append(node);
    cards.set(video.id, { video, node });
  }
  updateNotice();
}

function redraw(id, changes = {}) {
  const entry = cards.get(id);
  if (entry) show({ ...entry.video, ...changes });
}

function remove(id) {
  cards.get(id)?.node.remove();
  cards.delete(id);
  progress.delete(id);
  updateNotice();
}

function updateNotice(reason) {
  if (reason) {
    setText(notice, 'index.loadFailed', { reason });
    notice.className = 'error';
    notice.hidden = false;
    return;
  }
  notice.className = 'notice';
  notice.hidden = cards.size > 0;
  if (query) setText(notice, 'index.noMatch', { query }); else setText(notice, 'index.empty');
}

// Loads the first page (`more` false: replaces the cards) or the next one. `quiet`: the cards
// on the page stay, without "loading", until the answer replaces them.
async function load(more = false, quiet = false) {
  loading?.abort();
  const controller = loading = new AbortController();
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (query) params.set('q', query);
  if (more && next) for (const [k, v] of Object.entries(next)) params.set(k, v);
  if (!more && !quiet) {
    setText(notice, 'common.loading');
    notice.className = 'notice';
    notice.hidden = false;
  }
  let page;
  try {
    page = await api(`/api/v1/videos?${params}`, { signal: controller.signal });
  } catch (e) {
    if (e.name !== 'AbortError') updateNotice(errorText(e));
    return;
  } finally {
    if (loading === controller) loading = null;
  }
  if (controller.signal.aborted) return;
  if (!more) {
    grid.replaceChildren();
    cards.clear();
  }
  for (const video of page.videos) show(video);
  next = page.next_cursor ? { cursor: page.next_cursor }
    : page.next_offset != null ? { offset: String(page.next_offset) } : null;
  moreButton.hidden = !next;
  updateNotice();
}

// Re-reads one video and redraws its card; `insert` adds a card for a video not on the page
// (only while not searching: a new video is not known to match the search).
const refreshing = new Map();  // id -> 'again' when another event came in during the request
async function refresh(id, insert = false) {
  if (refreshing.has(id)) { refreshing.set(id, 'again'); return; }
  refreshing.set(id, '');
  try {
    const video = await api(`/api/v1/videos/${encodeURIComponent(id)}`);
    if (cards.has(id)) show(video);
    else if (insert && !query) show(video, 'prepend');
  } catch (e) {
    if (e.status === 404) remove(id);
  } finally {
    const again = refreshing.get(id) === 'again';
    refreshing.delete(id);
    if (again) refresh(id, insert);
  }
}

function onEvent({ type, data }) {
  const id = type.startsWith('job.') ? data.video_id : data.id;
  if (!id) return;
  const entry = cards.get(id);
  const known = entry && !refreshing.has(id);
  const wanted = entry || !query;  // a video not on the page is added only to the unfiltered list
  switch (type) {
    case 'job.started':
    case 'job.progress':
      progress.set(id, data.percent ?? 0);
      if (known) redraw(id, entry.video.status === 'ready' ? {} : { status: 'processing' });
      else if (wanted) refresh(id, true);
      break;
    case 'job.queued':
      progress.delete(id);
      if (known && entry.video.status !== 'ready') redraw(id, { status: 'queued' });
      break;
    case 'job.failed':  // state 'queued': it will be retried; otherwise video.failed follows
      progress.delete(id);
      if (known && data.state === 'queued' && entry.video.status !== 'ready') redraw(id, { status: 'queued' });
      break;
    case 'job.cancelled':
      progress.delete(id);
      if (entry) refresh(id);
      break;
    case 'video.ready':
      progress.delete(id);
      if (wanted) refresh(id, true);
      break;
    case 'video.failed':
      progress.delete(id);
      if (known) redraw(id, { status: 'failed', failure_reason: data.reason, failure_code: data.code ?? null });
      break;
    case 'video.created':  // an upload finished: the video is queued
      if (!entry && wanted) refresh(id, true);
      break;
    case 'video.updated':
      // Some senders leave out the assets: keep the poster the card already shows.
      if (known) show({ ...data, poster_url: data.poster_url ?? entry.video.poster_url });
      else if (!entry && wanted) refresh(id, true);
      break;
    case 'video.deleted':
      remove(id);
      break;
  }
}

input.value = query;
input.addEventListener('input', debounce(() => {
  const q = input.value.trim();
  if (q === query) return;
  query = q;
  const url = new URL(location.href);
  if (q) url.searchParams.set('q', q); else url.searchParams.delete('q');
  history.replaceState(null, '', url);
  load();
}, 250));
moreButton.addEventListener('click', () => load(true));

// The list is read at once, and read again each time the event stream is up (the first time
// too, once the first read is done), so that no event falls between a read and the subscription
// and none sent while disconnected is lost. On a weak link the socket's hello comes two round
// trips after the list: the cards and their posters are not held back for it.
const firstRead = load();
followEvents(onEvent, async () => {
  await firstRead;
  load(false, cards.size > 0);
});
