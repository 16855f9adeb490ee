// Shared helpers for Newsreel's pages: the REST API, the /ws event stream, small DOM and
// formatting helpers. Plain ES module, no framework; every page imports what it needs.

// Calls the REST API. Resolves with the parsed JSON (null for 204); rejects with an Error whose
// `status` is the HTTP status and whose message is the server's `error.message` when it sent one.
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  let json = null;
  try { json = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = new Error(json?.error?.message || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.code = json?.error?.code;
    throw err;
  }
  return json;
}

// Follows the server's events on /ws: calls onEvent(event) for each event (not for `hello`), and
// onConnect(isReconnect) every time the socket (re)opens. Events published while the socket was
// down are lost, so a page re-reads its state on a reconnect. Reconnects with a growing delay
// (1 s .. 30 s). Returns {close()}.
export function followEvents(onEvent, onConnect = () => {}) {
  let ws = null;
  let closed = false;
  let delay = 1000;
  let connectedBefore = false;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const open = () => {
    ws = new WebSocket(url);
    ws.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch { return; }
      if (e.type === 'hello') {
        delay = 1000;
        onConnect(connectedBefore);
        connectedBefore = true;
        return;
      }
      onEvent(e);
    };
    ws.onclose = () => {
      if (closed) return;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30_000);
    };
  };
  open();
  return { close() { closed = true; ws?.close(); } };
}

// Creates an element: el('a', {href: '/x', class: 'card'}, 'text', childNode, ...). Text is set as
// text, never parsed as HTML, so titles and descriptions from users are safe to pass.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// 75.3 -> "1:15", 3725 -> "1:02:05".
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? h + ':' : ''}${mm}:${String(r).padStart(2, '0')}`;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDate(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// What a viewer reads for a video's status.
export const STATUS_TEXT = {
  uploading: 'Uploading', queued: 'Queued', processing: 'Processing', ready: 'Ready', failed: 'Failed',
};

// Calls fn at most once per `ms` of quiet (for search-as-you-type).
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
