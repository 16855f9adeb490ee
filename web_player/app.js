// Shared helpers for Newsreel's pages: the REST API, the /ws event stream, small DOM helpers,
// and (from i18n.js) the words and formats of the chosen language. Plain ES module, no
// framework; every page imports what it needs.
import { setText, t } from './i18n.js';

export {
  failureKey, formatBytes, formatDate, formatDuration, formatTimeLeft, onLanguageChange, setText, t, tx,
} from './i18n.js';

// Calls the REST API. Resolves with the parsed JSON (null for 204); rejects with an Error whose
// `status` is the HTTP status, whose message is the server's `error.message` when it sent one,
// and whose `retryAfter` is the `Retry-After` header in seconds (429), when there is one.
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
    const retryAfter = Number(res.headers.get('Retry-After'));
    if (retryAfter > 0) err.retryAfter = retryAfter;
    throw err;
  }
  return json;
}

// Follows the server's events on /ws: calls onEvent(event) for each event (not for `hello`), and
// onConnect(isReconnect) every time the socket (re)opens, and onDisconnect() every time an open
// socket closes (the page may say it is retrying). Events published while the socket was down
// are lost, so a page re-reads its state on a reconnect. Reconnects with a growing delay
// (1 s .. 30 s). Returns {close()}.
export function followEvents(onEvent, onConnect = () => {}, onDisconnect = () => {}) {
  let ws = null;
  let closed = false;
  let delay = 1000;
  let connectedBefore = false;
  let saidHello = false;  // the current socket said hello: it was open
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const open = () => {
    ws = new WebSocket(url);
    ws.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch { return; }
      if (e.type === 'hello') {
        delay = 1000;
        saidHello = true;
        onConnect(connectedBefore);
        connectedBefore = true;
        return;
      }
      onEvent(e);
    };
    ws.onclose = () => {
      if (closed) return;
      if (saidHello) onDisconnect();
      saidHello = false;
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

// What a reader is told about a failed request, in the page's language: the server's own
// message (English, for the log) only where it says what to correct.
export function errorText(e) {
  if (!e.status) return t('error.network');
  if (e.status === 400) return t('error.invalid', { message: e.message });
  if (e.status >= 500) return t('error.server', { status: e.status });
  const key = { 401: 'error.unauthorized', 403: 'error.forbidden', 404: 'error.notFound', 409: 'error.conflict', 413: 'error.tooLarge', 429: 'error.tooMany' }[e.status];
  return key ? t(key) : t('error.other', { status: e.status, message: e.message });
}

// The smaller copies of a poster that the transcoder writes beside poster.jpg
// (docs/transcoding.md): posterSize(url, 320) and posterSize(url, 640), at most that wide. A video
// transcoded before they existed has only poster.jpg: fall back to it when one fails to load.
export function posterSize(posterUrl, width) {
  return posterUrl.replace(/poster\.jpg(?=$|\?)/, `poster-${width}.jpg`);
}

// A card's poster: the browser picks 320 or 640 pixels wide for the card's width on its screen,
// never the full poster (up to 1280x720); poster.jpg itself only for videos without the sizes,
// which are remembered, so that a card drawn again does not ask for them again.
const withoutSizes = new Set();
export function posterImg(posterUrl, sizes) {
  if (withoutSizes.has(posterUrl)) return el('img', { src: posterUrl, alt: '', loading: 'lazy' });
  return el('img', {
    src: posterSize(posterUrl, 640),
    srcset: `${posterSize(posterUrl, 320)} 320w, ${posterSize(posterUrl, 640)} 640w`,
    sizes, alt: '', loading: 'lazy',
    onerror: (e) => {
      const img = e.currentTarget;
      if (img.getAttribute('src') === posterUrl) return;
      withoutSizes.add(posterUrl);
      img.removeAttribute('srcset');
      img.src = posterUrl;
    },
  });
}

// Calls fn at most once per `ms` of quiet (for search-as-you-type).
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// The sign-in form (#signin with #signin-name, #signin-password, #signin-message) and the
// sign-out button (#signout) of a page: `showSession(user)` is told who is signed in (null when
// nobody), at once from the server's session and after each change.
export function wireSignIn(showSession) {
  const byId = (id) => document.getElementById(id);
  byId('signin').addEventListener('submit', async (e) => {
    e.preventDefault();
    const message = byId('signin-message');
    message.textContent = '';
    message.className = 'notice';
    try {
      const { user } = await api('/api/v1/session', {
        method: 'POST', body: { name: byId('signin-name').value.trim(), password: byId('signin-password').value },
      });
      byId('signin-password').value = '';
      renderNav(user);
      showSession(user);
    } catch (err) {
      if (err.status === 401) setText(message, 'session.wrongPassword');
      else setText(message, 'session.signInFailed', { reason: errorText(err) });
      message.className = 'error';
    }
  });
  byId('signout').addEventListener('click', async () => {
    await api('/api/v1/session', { method: 'DELETE' }).catch(() => {});
    renderNav(null);
    showSession(null);
  });
  api('/api/v1/session').then((s) => showSession(s?.user)).catch(() => showSession(null));
}

// --- The header's links. ----------------------------------------------------------------------

// Who is signed in: resolves with the user of GET /api/v1/session (null when nobody), rejects
// when the server cannot be asked. One request per page load; `fresh` asks again.
let sessionRequest = null;
export function sessionUser({ fresh = false } = {}) {
  if (!sessionRequest || fresh) sessionRequest = api('/api/v1/session').then((s) => s?.user ?? null);
  return sessionRequest;
}

// The page links of every page's header, in order; `account`: only for signed-in accounts (any
// role may upload and has a dashboard of their own; anonymous viewers have neither).
const NAV_LINKS = [
  { page: 'videos', href: './', key: 'nav.videos' },
  { page: 'live', href: 'live.html', key: 'nav.live' },
  { page: 'upload', href: 'upload.html', key: 'nav.upload', account: true },
  { page: 'dashboard', href: 'dashboard.html', key: 'nav.dashboard', account: true },
];

// Fills the header's <nav data-nav="<this page's name>"> for `user` (null: signed out): the
// links that user may use, then "Sign in" (back to this page afterwards) or "<name> · Sign out"
// (the name opens the account page: password). Called at load from the session, and by
// pages after they sign someone in or out. Signing out here leaves for the sign-in page.
export function renderNav(user) {
  const nav = document.querySelector('header nav[data-nav]');
  if (!nav) return;
  const current = nav.dataset.nav;
  const link = ({ page, href, key }) =>
    setText(el('a', { href, 'aria-current': page === current ? 'page' : null, 'data-nav-page': page }), key);
  const items = NAV_LINKS.filter((l) => !l.account || user).map(link);
  if (user) {
    const signOut = setText(el('button', { type: 'button', class: 'link', id: 'nav-signout' }), 'session.signOut');
    signOut.addEventListener('click', async () => {
      signOut.disabled = true;
      await api('/api/v1/session', { method: 'DELETE' }).catch(() => {});
      location.assign('signin.html?signedout=1');
    });
    items.push(el('span', { class: 'nav-user' },
      el('a', { href: 'signin.html', id: 'nav-user', 'data-nav-page': 'account', translate: 'no', 'aria-current': current === 'signin' ? 'page' : null },
        user.display_name || user.name), ' · ', signOut));
  } else {
    const here = location.pathname.replace(/^\/+/, '') + location.search;
    const next = current === 'signin' || !here ? '' : `?next=${encodeURIComponent(here)}`;
    items.push(link({ page: 'signin', href: `signin.html${next}`, key: 'session.signIn' }));
  }
  nav.replaceChildren(...items);
}

if (document.querySelector('header nav[data-nav]')) {
  sessionUser().then(renderNav, () => { /* the server is away: the page's own links stay */ });
}
