// The pages' words: Vietnamese first, English one click away. Every string a reader sees comes
// from strings.vi.json or strings.en.json (same keys), and numbers, sizes, dates and durations
// are formatted for the chosen language with Intl. The choice is kept in localStorage.
//
// Messages are plain text with {name} placeholders, optionally typed: {n, number}, {p, percent}
// (0..100, whole), {p, percent1} (0..100, one decimal), {n, bytes}, {n, rate} (bytes per second),
// {ms, date}, {s, duration} (a clock, 1:02:05), {s, timeleft} (2 minutes). Plural-free.
//
// In the pages: <el data-i18n="key"> gets its text from the file, <el data-i18n-attr="placeholder=key;
// aria-label=key"> its attributes; setText()/tx() do the same for what the scripts build, so a
// switch of language re-translates all of it in place (no reload: an upload in flight goes on).
// Things worded at the moment (a confirm(), a label computed from state) use t() and
// onLanguageChange().
//
// This module loads the file of the chosen language before any page script runs (top-level await).

export const LANGUAGES = ['vi', 'en'];
const STORAGE_KEY = 'newsreel.lang';
const LOCALES = { vi: 'vi-VN', en: 'en-GB' };

function storedLanguage() {
  try {
    const l = localStorage.getItem(STORAGE_KEY);
    return LANGUAGES.includes(l) ? l : null;
  } catch {
    return null;  // storage disabled: Vietnamese every time
  }
}

async function loadMessages(l) {
  try {
    const res = await fetch(`strings.${l}.json`);
    if (res.ok) return await res.json();
    console.error(`i18n: strings.${l}.json: ${res.status}`);
  } catch (e) {
    console.error(`i18n: strings.${l}.json: ${e.message}`);
  }
  return {};
}

export let lang = storedLanguage() || 'vi';
let messages = await loadMessages(lang);
const listeners = [];

export const locale = () => LOCALES[lang];

// --- Formatting, per locale. ------------------------------------------------------------------

export function formatNumber(n, options = {}) {
  return Number.isFinite(n) ? new Intl.NumberFormat(locale(), options).format(n) : '';
}

// 75.3 -> "1:15", 3725 -> "1:02:05": a video's length, written the same in both languages.
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? h + ':' : ''}${mm}:${String(r).padStart(2, '0')}`;
}

// 130 -> "3 phút" / "3 minutes": a time left, in its largest unit.
export function formatTimeLeft(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const [unit, n] = seconds >= 5400 ? ['hour', Math.round(seconds / 3600)]
    : seconds >= 90 ? ['minute', Math.round(seconds / 60)] : ['second', Math.max(1, Math.round(seconds))];
  return formatNumber(n, { style: 'unit', unit, unitDisplay: 'long' });
}

// 761445 -> "761 kB"; decimal units, one decimal below 10.
export function formatBytes(n, perSecond = false) {
  if (!Number.isFinite(n)) return '';
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return formatNumber(n, {
    style: 'unit', unit: perSecond ? `${units[i]}-per-second` : units[i], unitDisplay: 'short',
    maximumFractionDigits: i && n < 10 ? 1 : 0,
  });
}

export function formatDate(ms) {
  if (!ms) return '';
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

const FORMATS = {
  number: (v) => formatNumber(Number(v)),
  percent: (v) => formatNumber(Math.floor(Number(v)) / 100, { style: 'percent' }),
  percent1: (v) => formatNumber(Number(v) / 100, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }),
  bytes: (v) => formatBytes(Number(v)),
  rate: (v) => formatBytes(Number(v), true),
  date: (v) => formatDate(Number(v)),
  duration: (v) => formatDuration(Number(v)),
  timeleft: (v) => formatTimeLeft(Number(v)),
  // A parameter that is itself a message key: `{why, msg}` with { why: 'failure.bad_input' }.
  // Kept as the key, so a language switch re-translates it too.
  msg: (v) => t(String(v)),
};

// --- Messages. --------------------------------------------------------------------------------

export const has = (key) => Object.hasOwn(messages, key);

// The message key that says why a video failed (`failure.<code>`, from the API's failure_code),
// or null for a code this page does not know (it then shows the server's reason, in English).
export const failureKey = (code) => (code && has(`failure.${code}`) ? `failure.${code}` : null);

// The message `key` in the chosen language with `params` put in. A key missing from the file is
// a bug: it is logged as an error (the browser tests fail on console errors) and shown as is.
export function t(key, params = {}) {
  const text = messages[key];
  if (typeof text !== 'string') {
    console.error(`i18n: no "${key}" in strings.${lang}.json`);
    return key;
  }
  return text.replace(/\{(\w+)(?:,\s*(\w+))?\}/g, (whole, name, type) => {
    const v = params[name];
    if (v === undefined || v === null) return '';
    return type && FORMATS[type] ? FORMATS[type](v) : String(v);
  });
}

// Sets `node`'s text to message `key` and keeps it translated across language switches.
// `params` must survive JSON (numbers, strings): they are kept on the node.
export function setText(node, key, params) {
  node.dataset.i18n = key;
  if (params) node.dataset.i18nParams = JSON.stringify(params);
  else delete node.dataset.i18nParams;
  node.textContent = t(key, params);
  return node;
}

// A new <span> (or `tag`) holding message `key`, kept translated; for el(...) children.
export function tx(key, params, tag = 'span') {
  return setText(document.createElement(tag), key, params);
}

// Re-translates every marked element under `root`.
export function translate(root = document) {
  for (const node of root.querySelectorAll('[data-i18n]')) {
    let params;
    try { params = node.dataset.i18nParams ? JSON.parse(node.dataset.i18nParams) : undefined; } catch { /* none */ }
    node.textContent = t(node.dataset.i18n, params);
  }
  for (const node of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of node.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split('=').map((s) => s.trim());
      if (attr && key) node.setAttribute(attr, t(key));
    }
  }
}

// Calls fn() after every language switch (after the marked elements are re-translated).
export function onLanguageChange(fn) {
  listeners.push(fn);
}

function applyLanguage() {
  document.documentElement.lang = lang;
  translate();
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === lang));
  }
}

export async function setLanguage(l) {
  if (!LANGUAGES.includes(l) || l === lang) return;
  const loaded = await loadMessages(l);
  lang = l;
  messages = loaded;
  try { localStorage.setItem(STORAGE_KEY, l); } catch { /* not remembered, still switched */ }
  applyLanguage();
  for (const fn of listeners) fn();
}

// The VI | EN switch in every page's header.
for (const button of document.querySelectorAll('[data-lang]')) {
  button.addEventListener('click', () => setLanguage(button.dataset.lang));
}
applyLanguage();
