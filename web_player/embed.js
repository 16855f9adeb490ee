// The embeddable player: /embed/<video-id>[?t=<seconds>], framed by the province's portal and
// partner sites (docs/serving.md). The video fills the frame; its title links to the watch
// page in a new tab. The server serves this page only for videos anyone may watch (published,
// or unlisted: the API then hands out signed media URLs); the player is the watch page's
// (player.js), with its keyboard shortcuts.
import { api, setText } from './app.js';
import { startPlayer, startTimeFrom, wireShortcuts } from './player.js';

const id = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
const $ = (name) => document.getElementById(name);
const videoEl = $('video');
const message = $('message');

function showMessage(key, params) {
  if (key) setText(message, key, params);
  message.hidden = !key;
}

async function main() {
  let v;
  try {
    v = await api(`/api/v1/videos/${encodeURIComponent(id)}`);
  } catch (e) {
    showMessage(e.status === 404 || e.status === 400 ? 'watch.notFound' : 'watch.loadFailed', { reason: e.message });
    return;
  }
  document.title = `${v.title} — Newsreel`;
  const link = $('title');
  link.textContent = v.title;
  link.href = new URL(`watch.html?id=${encodeURIComponent(v.id)}`, document.baseURI).href;
  $('heading').hidden = false;
  if (!v.playback) {
    showMessage('embed.notReady');
    return;
  }
  showMessage();
  const playing = startPlayer(videoEl, v, {
    startAt: startTimeFrom(location.search),
    onFatal: (details) => showMessage('watch.playbackStopped', { details }),
  });
  if (!playing) showMessage('watch.noHls');
  wireShortcuts(videoEl, { fullscreenEl: $('player') });
  // The title stays out of the picture while the video plays, and comes back on pause or hover.
  videoEl.addEventListener('play', () => document.body.classList.add('playing'));
  videoEl.addEventListener('pause', () => document.body.classList.remove('playing'));
}

main();
