// Live streams: live.html?id=<stream> watches one, live.html lists them.
//
// One stream: hls.js plays /live/<id>/master.m3u8 from the live edge, through the
// EXT-X-DISCONTINUITY of a publisher that drops and returns and through the slate the server
// puts in while it is gone. The state (idle, live, reconnecting, ended) comes from /ws
// (`live.state`) and from GET /api/v1/live/<id> every 5 s, which also brings the viewer count:
// /ws tells only the owner and staff about an unlisted or draft stream, so polling is what
// keeps everyone else current. The owner and staff (the GET answer then has `ingest` and `pull`)
// see what to paste into an encoder, the pull URL, "new key" and "end broadcast".
//
// The "low latency" switch (remembered in localStorage) plays the stream through lowlatency.js
// instead: the CMAF fragments of /ws/live/<id> into MediaSource (ManagedMediaSource on iPhones),
// else LL-HLS (/live/<id>/ll/master.m3u8) with hls.js in low-latency mode; where neither works
// (a browser without MediaSource, a server or proxy without them) the page says so and plays the
// classic HLS above. The line under the title shows the current delay either way.
//
// The list: GET /api/v1/live with state badges, kept current from /ws and polling; signed-in
// reporters (and above) get a form that creates a stream and shows its key and URL once.
import { api, el, errorText, followEvents, setText, t, tx, wireSignIn } from './app.js';
import { mediaSourceKind, playLowLatencyHls, playWebSocket } from './lowlatency.js';

const $ = (name) => document.getElementById(name);
const id = new URLSearchParams(location.search).get('id');

const POLL_MS = 5000;
const LIST_POLL_MS = 15000;
const LOW_LATENCY_KEY = 'newsreel.lowLatency';

// Message `key` (none: hides the line), kept translated across a switch of language.
function showMessage(key, params, isError = false) {
  const message = $('message');
  if (key) setText(message, key, params); else message.textContent = '';
  message.className = isError ? 'error' : 'notice';
  message.hidden = !key;
}

// The "network lost, retrying" line; no key hides it.
function showConnection(key, params) {
  if (key) setText($('connection'), key, params); else $('connection').textContent = '';
  $('connection').hidden = !key;
}

// Copies `text`; resolves true when it worked. The Clipboard API needs a secure context
// (https, or localhost); on plain http the selected-text fallback still works in most browsers.
async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch { /* not allowed here: fall back */ }
  if (!input) return false;
  input.focus();
  input.select();
  try { return document.execCommand('copy'); } catch { return false; }
}

function copyButton(input) {
  const button = setText(el('button', { type: 'button', class: 'secondary copy' }), 'live.copy');
  wireCopy(button, input);
  return button;
}

function wireCopy(button, input) {
  button.addEventListener('click', async () => {
    const ok = await copyText(input.value, input);
    setText(button, ok ? 'live.copied' : 'live.copyByHand');
    setTimeout(() => setText(button, 'live.copy'), 2000);
  });
}

// A read-only field with a copy button, for one value.
function copyRow(value, labelKey, name) {
  const input = el('input', { readonly: true, value, 'aria-label': t(labelKey), 'data-i18n-attr': `aria-label=${labelKey}`, 'data-name': name });
  return el('div', { class: 'copy-row' }, input, copyButton(input));
}

// The key and URL of a stream, as POST /api/v1/live or POST .../key answer them: shown once.
function renderSecret(container, stream, headingKey, headingParams) {
  const ingest = stream.ingest || {};
  const hint = (key, params) => tx(key, params, 'p');
  container.replaceChildren(
    tx(headingKey, headingParams, 'h3'),
    hint('live.secret.once'),
    hint('live.secret.url'),
    copyRow(ingest.url || '', 'live.secret.urlLabel', 'url'),
    hint('live.secret.key'),
    copyRow(ingest.key || '', 'live.secret.keyLabel', 'key'),
    hint('live.secret.streamId', { server: ingest.server || '' }),
    copyRow(ingest.stream_id || '', 'live.streamId', 'stream_id'),
    ...(ingest.passphrase ? [hint('live.passphraseHint'), copyRow(ingest.passphrase, 'live.passphrase', 'passphrase')] : []));
  for (const p of container.querySelectorAll('p')) p.className = 'hint';
  container.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// One stream.

// For tests and anyone debugging from the console: the hls.js instance, every hls.js error
// (fatal or not), and the stream as last known. With low latency: `lowLatency`, the session of
// lowlatency.js (its `stats`), `mode` ('websocket', 'll-hls' or 'hls': what plays now) and
// `lowLatencyErrors`, why a way was left for the next.
const player = window.newsreel = { hls: null, errors: [], fatal: 0, stream: null, firstFragment: null, playing: null,
  lowLatency: null, mode: null, lowLatencyErrors: [] };

const video = $('video');
let stream = null;      // GET /api/v1/live/<id>, updated by events
let wantsPlayer = false;
let waitingForPlaylist = 0;  // timer of the next playlist check
let checking = false;        // a playlist check is under way
let restartTimer = 0;
let generation = 0;           // counts stopPlayer(): a playlist check of an older player gives way
let lowLatencyFailed = false;  // neither low-latency way works here: classic HLS until the switch is turned again

function playerNote(key) {
  if (key) setText($('player-note'), key); else $('player-note').textContent = '';
  $('player-note').hidden = !key;
}

function showStream(s) {
  const previous = stream;
  stream = player.stream = s;
  document.title = `${s.title} — Newsreel`;
  $('title').textContent = s.title;
  const state = $('state');
  setText(state, `live.state.${s.state}`);
  state.className = `badge live-${s.state}`;
  state.dataset.state = s.state;
  const badge = $('live-badge');
  badge.dataset.state = s.state;
  badge.hidden = s.state !== 'live' && s.state !== 'reconnecting';
  setText($('viewers'), 'live.viewers', { count: s.viewers ?? 0 });
  $('viewers').dataset.count = String(s.viewers ?? 0);
  if (s.state_since) setText($('since'), 'live.since', { at: s.state_since }); else $('since').textContent = '';

  const ended = $('ended');
  if (s.state === 'ended') {
    ended.replaceChildren(tx('live.ended'), ' ',
      s.recording_video_id
        ? setText(el('a', { href: `watch.html?id=${encodeURIComponent(s.recording_video_id)}`, id: 'recording' }),
          'live.watchRecording')
        : tx('live.noRecording'));
    ended.hidden = false;
  } else {
    ended.hidden = true;
  }
  if (s.state === 'idle') playerNote('live.note.idle');
  else if (s.state === 'reconnecting') playerNote('live.note.reconnecting');
  else playerNote();

  if (s.ingest) showManage(s); else $('manage').hidden = true;

  // The player: on for a stream on air (its playlists exist or soon will). A stream that ended
  // plays out what it has (the playlists end with EXT-X-ENDLIST). A new broadcast after an
  // ended one starts over.
  const onAir = s.state === 'live' || s.state === 'reconnecting';
  if (onAir && previous?.state === 'ended') stopPlayer();
  wantsPlayer = onAir;
  if (onAir) startPlayer();
  else player.lowLatency?.finish();  // what is buffered plays out; no more connecting
}

function showManage(s) {
  $('manage').hidden = false;
  $('ingest-server').value = s.ingest.server;
  const streamId = `#!::r=${s.id},m=publish,s=KEY`;
  $('ingest-streamid').value = streamId;
  $('ingest-url').value = `${s.ingest.server}?streamid=${streamId}` +
    (s.ingest.passphrase ? `&passphrase=${s.ingest.passphrase}` : '');
  $('ingest-passphrase-block').hidden = !s.ingest.passphrase;
  $('ingest-passphrase').value = s.ingest.passphrase || '';
  $('pull-url').value = s.pull?.url || '';
  $('end').disabled = s.state === 'ended' || s.state === 'idle';
}

// The number of segments listed in the first rung of master playlist `src`; 0 while there is
// none (master.m3u8 is written once every rung has its first segment); null without network.
async function segmentsListed(src) {
  const get = (url) => fetch(url, { cache: 'no-store' }).then((r) => (r.ok ? r.text() : ''));
  try {
    const master = await get(src);
    const rung = master.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
    if (!rung) return 0;
    const playlist = await get(new URL(rung, new URL(src, location.href)));
    return /#EXT-X-ENDLIST/.test(playlist) ? Infinity : (playlist.match(/#EXTINF/g) || []).length;
  } catch {
    return null;
  }
}

// Starts hls.js once the playlists list three segments: hls.js gives up on a missing playlist,
// and started on a window of one segment it sits at the very edge and stalls at every segment.
// With the switch on, the low-latency ways first.
function startPlayer() {
  if (!wantsPlayer || player.hls || player.lowLatency || waitingForPlaylist || checking || restartTimer) return;
  if ($('low-latency').checked && !lowLatencyFailed) {
    startLowLatency();
    return;
  }
  player.mode = 'hls';
  const src = `/live/${encodeURIComponent(id)}/master.m3u8`;
  const mine = generation;
  const check = async () => {
    waitingForPlaylist = 0;
    if (!wantsPlayer || player.hls) return;
    checking = true;
    const listed = await segmentsListed(src);
    checking = false;
    if (mine !== generation) return startPlayer();  // stopped meanwhile: what is wanted now
    if (!wantsPlayer || player.hls) return;
    if (listed === null || listed < 3) {
      if (listed !== null) playerNote('live.note.waiting');
      waitingForPlaylist = setTimeout(check, 1000);
      return;
    }
    attach(src);
  };
  check();
}

function attach(src) {
  const Hls = window.Hls;
  if (!Hls?.isSupported()) {
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;  // Safari/iOS play live HLS themselves
      video.play().catch(() => {});
    } else {
      showMessage('live.noHls', undefined, true);
    }
    return;
  }
  const hls = player.hls = new Hls({
    liveDurationInfinity: true,        // the native controls show a live stream, not a growing clip
    liveSyncDurationCount: 3,          // start three segments behind the newest: the live edge
    capLevelToPlayerSize: true,
    abrEwmaDefaultEstimate: 500_000,   // start low on an unknown link
    backBufferLength: 30,
  });
  let mediaRecoveries = 0;
  hls.on(Hls.Events.ERROR, (event, data) => {
    player.errors.push({ type: data.type, details: data.details, fatal: data.fatal, at: video.currentTime,
      reason: data.reason || data.error?.message || '', status: data.response?.code });
    if (!data.fatal) return;
    player.fatal++;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 3) {
      hls.recoverMediaError();
      return;
    }
    // A network error hls.js gave up on (a lost link, a server restart): start again in a few
    // seconds from the live edge, for as long as the stream is on air.
    stopPlayer();
    if (!wantsPlayer) return;
    showConnection('live.lostStream');
    restartTimer = setTimeout(() => { restartTimer = 0; startPlayer(); }, 3000);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    if (stream?.state === 'live') playerNote();
    video.play().catch(() => {});  // muted autoplay; a browser that refuses shows its play button
  });
  // Where playback started in the window, and the fragment playing now (its `cc` counts the
  // EXT-X-DISCONTINUITY tags passed): for tests and debugging.
  hls.on(Hls.Events.FRAG_LOADING, (event, { frag }) => {
    if (player.firstFragment || typeof frag.sn !== 'number') return;
    const details = hls.levels[frag.level]?.details;
    player.firstFragment = { sn: frag.sn, startSN: details?.startSN, endSN: details?.endSN };
  });
  hls.on(Hls.Events.FRAG_CHANGED, (event, { frag }) => { player.playing = { sn: frag.sn, cc: frag.cc }; });
  hls.on(Hls.Events.FRAG_BUFFERED, () => {
    if (!$('connection').dataset.api) showConnection();
  });
  hls.loadSource(src);
  hls.attachMedia(video);
}

function stopPlayer() {
  clearTimeout(waitingForPlaylist);
  waitingForPlaylist = 0;
  player.hls?.destroy();
  player.hls = null;
  player.lowLatency?.stop();
  player.lowLatency = null;
  player.mode = null;
  generation++;
}

// --- Low latency. -----------------------------------------------------------------------------

function lowLatencyChosen() {
  try { return localStorage.getItem(LOW_LATENCY_KEY) === '1'; } catch { return false; }
}

// WebSocket where there is MediaSource, else LL-HLS; each way that fails hands on to the next.
// Not before the classic playlists list a segment: then the stream has media, and a WebSocket
// that brings none is a server or a proxy without it, not a broadcast still starting.
function startLowLatency() {
  const mine = generation;
  const check = async () => {
    waitingForPlaylist = 0;
    if (!wantsPlayer || player.lowLatency) return;
    checking = true;
    const listed = await segmentsListed(`/live/${encodeURIComponent(id)}/master.m3u8`);
    checking = false;
    if (mine !== generation) return startPlayer();
    if (!wantsPlayer || player.lowLatency) return;
    if (listed === null || listed < 1) {
      if (listed !== null) playerNote('live.note.waiting');
      waitingForPlaylist = setTimeout(check, 1000);
      return;
    }
    if (!mediaSourceKind()) {
      startLowLatencyHls();
      return;
    }
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/live/${encodeURIComponent(id)}`;
    player.mode = 'websocket';
    if (stream?.state === 'live') playerNote();
    player.lowLatency = playWebSocket(video, url, {
      onError: (code, detail) => {
        player.lowLatencyErrors.push({ mode: 'websocket', code, detail });
        player.lowLatency = null;
        if (wantsPlayer) startLowLatencyHls();
      },
    });
  };
  check();
}

// LL-HLS once its playlists list a segment. A server that writes none (the classic playlists
// have three segments and these still none) has no LL-HLS: on to the classic player.
function startLowLatencyHls() {
  const src = `/live/${encodeURIComponent(id)}/ll/master.m3u8`;
  player.mode = 'll-hls';
  const mine = generation;
  const check = async () => {
    waitingForPlaylist = 0;
    if (!wantsPlayer || player.lowLatency) return;
    checking = true;
    const [listed, classic] = await Promise.all([segmentsListed(src), segmentsListed(`/live/${encodeURIComponent(id)}/master.m3u8`)]);
    checking = false;
    if (mine !== generation) return startPlayer();
    if (!wantsPlayer || player.lowLatency) return;
    if (listed === null || listed < 1) {
      if (classic !== null && classic >= 3) {
        lowLatencyUnavailable({ mode: 'll-hls', code: 'no-playlist', detail: src });
        return;
      }
      if (listed !== null) playerNote('live.note.waiting');
      waitingForPlaylist = setTimeout(check, 1000);
      return;
    }
    player.lowLatency = playLowLatencyHls(video, src, {
      onError: (code, detail) => lowLatencyUnavailable({ mode: 'll-hls', code, detail }),
    });
    if (!player.lowLatency) lowLatencyUnavailable({ mode: 'll-hls', code: 'no-hls', detail: '' });
    else if (stream?.state === 'live') playerNote();
  };
  check();
}

function lowLatencyUnavailable(error) {
  player.lowLatencyErrors.push(error);
  player.lowLatency?.stop();
  player.lowLatency = null;
  player.mode = null;
  lowLatencyFailed = true;
  $('low-latency-note').hidden = false;
  if (wantsPlayer) startPlayer();
}

// The delay line, once a second: for the WebSocket, how far the picture is behind the newest
// media received; for hls.js, its estimate of the distance to the live edge.
function showLatency() {
  const session = player.lowLatency;
  let seconds = null;
  if (session) seconds = session.stats.liveLatency ?? session.stats.latency;
  else if (player.hls && Number.isFinite(player.hls.latency)) seconds = player.hls.latency;
  const line = $('latency');
  if (seconds === null || !Number.isFinite(seconds) || video.paused || !wantsPlayer) {
    line.hidden = true;
    return;
  }
  setText(line, 'live.latency', { s: Math.max(0, Math.round(seconds * 10) / 10) });
  line.dataset.seconds = String(seconds);
  line.dataset.mode = player.mode || '';
  line.hidden = false;
}

function wireLowLatency() {
  const toggle = $('low-latency');
  toggle.checked = lowLatencyChosen();
  toggle.addEventListener('change', () => {
    try { localStorage.setItem(LOW_LATENCY_KEY, toggle.checked ? '1' : '0'); } catch { /* not remembered */ }
    lowLatencyFailed = false;
    $('low-latency-note').hidden = true;
    stopPlayer();
    if (wantsPlayer) startPlayer();
  });
  setInterval(showLatency, 1000);
}

// Re-reads the stream. `quiet`: a failure only shows the connection line (polling).
async function refresh() {
  try {
    const s = await api(`/api/v1/live/${encodeURIComponent(id)}`);
    delete $('connection').dataset.api;
    showConnection();
    showStream(s);
  } catch (e) {
    if (e.status === 404 || e.status === 400) {
      gone('live.notFound');
    } else {
      $('connection').dataset.api = '1';
      if (e.status) showConnection('live.serverRetrying', { status: e.status });
      else showConnection('live.networkRetrying');
    }
  }
}

let pollTimer = 0;
let events = null;

function gone(key) {
  clearInterval(pollTimer);
  events?.close();
  wantsPlayer = false;
  stopPlayer();
  $('stream').hidden = true;
  showMessage(key, undefined, true);
}

function manageMessage(key, params, isError = false) {
  const m = $('manage-message');
  if (key) setText(m, key, params); else m.textContent = '';
  m.className = isError ? 'error' : 'notice';
  m.hidden = !key;
}

async function newKey() {
  if (!confirm(t('live.confirmNewKey'))) return;
  try {
    const s = await api(`/api/v1/live/${encodeURIComponent(id)}/key`, { method: 'POST' });
    renderSecret($('new-secret'), s, 'live.newKeyHeading');
    manageMessage();
    showStream(s);
  } catch (e) {
    manageMessage('live.newKeyFailed', { reason: errorText(e) }, true);
  }
}

async function endBroadcast() {
  if (!confirm(t('live.confirmEnd'))) return;
  try {
    await api(`/api/v1/live/${encodeURIComponent(id)}/end`, { method: 'POST' });
    manageMessage('live.ending');
    refresh();
  } catch (e) {
    manageMessage('live.endFailed', { reason: errorText(e) }, true);
  }
}

async function watchMain() {
  for (const button of document.querySelectorAll('button[data-copy]')) wireCopy(button, $(button.dataset.copy));
  $('new-key').addEventListener('click', newKey);
  $('end').addEventListener('click', endBroadcast);
  wireLowLatency();
  video.muted = true;
  // The first answer; without one (no network, the server restarting) the page keeps asking.
  for (;;) {
    try {
      showStream(await api(`/api/v1/live/${encodeURIComponent(id)}`));
      $('stream').hidden = false;
      showMessage();
      break;
    } catch (e) {
      if (e.status === 404 || e.status === 400) {
        gone('live.notFound');
        return;
      }
      if (e.status) showMessage('live.loadRetrying', { reason: errorText(e) }, true);
      else showMessage('live.networkRetrying', undefined, true);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  pollTimer = setInterval(refresh, POLL_MS);
  events = followEvents((e) => {
    if (e.data?.id !== id) return;
    if (e.type === 'live.state') {
      showStream({ ...stream, state: e.data.state, state_since: e.data.since_ms,
        recording_video_id: e.data.recording_video_id ?? stream.recording_video_id });
      refresh();  // the figures, and the recording's id if it came later
    } else if (e.type === 'live.deleted') {
      gone('live.deleted');
    }
  }, (isReconnect) => { if (isReconnect) refresh(); });
}

// ---------------------------------------------------------------------------------------------
// The list.

const STATE_ORDER = { live: 0, reconnecting: 1, idle: 2, ended: 3 };
let session = null;  // the signed-in user, or null

function streamCard(s) {
  return el('a', { class: 'card live-card', href: `live.html?id=${encodeURIComponent(s.id)}`, 'data-id': s.id, 'data-state': s.state },
    el('div', { class: 'body' },
      el('h2', {}, s.title),
      el('div', { class: 'meta' },
        setText(el('span', { class: `badge live-${s.state}` }), `live.state.${s.state}`),
        s.visibility !== 'published' ? setText(el('span', { class: 'badge' }), `visibility.${s.visibility}`) : null,
        s.state === 'live' || s.state === 'reconnecting' ? tx('live.viewers', { count: s.viewers ?? 0 }) : null,
        s.state_since ? tx('format.date', { at: s.state_since }) : null)));
}

async function loadList() {
  const notice = $('list-notice');
  try {
    const { items } = await api('/api/v1/live');
    items.sort((a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || b.state_since - a.state_since);
    $('streams').replaceChildren(...items.map(streamCard));
    notice.className = 'notice';
    setText(notice, 'live.noStreams');
    notice.hidden = items.length > 0;
    showConnection();
  } catch (e) {
    if (e.status) showConnection('live.listRetrying', { reason: errorText(e) });
    else showConnection('live.networkRetrying');
  }
}

function showSession(user) {
  session = user || null;
  $('signin').hidden = !!user;
  $('whoami').hidden = !user;
  if (user) $('whoami-name').textContent = user.display_name || user.name;
  const canCreate = !!user && user.role !== 'viewer';
  $('create').hidden = !canCreate;
  const staff = !!user && (user.role === 'editor' || user.role === 'admin');
  for (const option of $('create-visibility').querySelectorAll('option[data-staff]')) option.hidden = option.disabled = !staff;
  if (!user) $('created').hidden = true;
  loadList();  // what one may see depends on who one is
}

async function createStream(e) {
  e.preventDefault();
  const message = $('create-message');
  message.hidden = true;
  $('create-button').disabled = true;
  try {
    const s = await api('/api/v1/live', {
      method: 'POST', body: { title: $('create-title').value.trim(), visibility: $('create-visibility').value },
    });
    const created = $('created');
    renderSecret(created, s, 'live.created', { title: s.title });
    created.append(el('p', {}, setText(el('a', { href: `live.html?id=${encodeURIComponent(s.id)}`, id: 'created-link' }),
      'live.openStream')));
    $('create').reset();
    loadList();
  } catch (err) {
    setText(message, 'live.createFailed', { reason: errorText(err) });
    message.className = 'error';
    message.hidden = false;
  } finally {
    $('create-button').disabled = false;
  }
}

function listMain() {
  $('list').hidden = false;
  showMessage();
  $('create').addEventListener('submit', createStream);
  wireSignIn(showSession);
  setInterval(loadList, LIST_POLL_MS);
  let pending = 0;
  followEvents((e) => {
    if (!e.type.startsWith('live.') && e.type !== 'overflow') return;
    clearTimeout(pending);
    pending = setTimeout(loadList, 200);  // a burst of state changes: one reload
  }, (isReconnect) => { if (isReconnect) loadList(); });
}

if (id) watchMain(); else listMain();
