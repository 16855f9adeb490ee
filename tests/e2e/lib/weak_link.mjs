// A weak mobile link in Chromium, and what a page costs over it: the test of playback on a weak
// link (weak_link.test.mjs) and its benchmark (bench/weak_link.sh) share these.
//
//   await emulateWeakLink(page);         // before the page is opened (openPage's setUp)
//   const meter = await meterNetwork(page);
//   await recordPlayback(page);          // the <video>'s events, as window.__playback
//   ...
//   meter.bytes()                        // bytes received so far, headers included

// Issue 17's weak link: 300 kb/s both ways, 300 ms round trip (3G at the edge of a province).
export const WEAK_LINK = { latency: 300, downloadThroughput: 37_500, uploadThroughput: 37_500 };

// Throttles every request of `page` (its own target, so workers' requests too) through the
// DevTools protocol. Returns the CDP session.
export async function emulateWeakLink(page, link = WEAK_LINK) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, connectionType: 'cellular3g', ...link });
  return cdp;
}

// Counts what `page` receives: per request, the bytes on the wire (headers and body, compressed
// as sent) from CDP's Network.loadingFinished. bytes(filter) sums them over requests whose URL
// passes `filter`; requests() lists {url, type, bytes} in the order they finished.
export async function meterNetwork(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const pending = new Map();
  const done = [];
  cdp.on('Network.requestWillBeSent', (e) => pending.set(e.requestId, { url: e.request.url, type: e.type }));
  cdp.on('Network.loadingFinished', (e) => {
    const r = pending.get(e.requestId);
    if (r) done.push({ ...r, bytes: e.encodedDataLength });
  });
  // WebSocket frames are not requests: counted apart.
  let wsBytes = 0;
  cdp.on('Network.webSocketFrameReceived', (e) => { wsBytes += e.response.payloadData.length; });
  return {
    requests: () => done.slice(),
    bytes: (filter = () => true) => done.filter((r) => filter(r.url)).reduce((n, r) => n + r.bytes, 0),
    wsBytes: () => wsBytes,
  };
}

// Before the page's scripts run: the first <video> gets listeners that record, in
// window.__playback, its events ({type, t: currentTime, at: ms since navigation}) and the time
// its first frame was presented (requestVideoFrameCallback). With `autoplay`, the video is muted
// and plays as soon as it can, as if the viewer had pressed play at once.
export async function recordPlayback(page, { autoplay = true } = {}) {
  await page.addInitScript((autoplayNow) => {
    const rec = window.__playback = { events: [], firstFrameAt: null };
    document.addEventListener('DOMContentLoaded', () => {
      const v = document.querySelector('video');
      if (!v) return;
      if (autoplayNow) { v.muted = true; v.autoplay = true; }
      for (const type of ['loadeddata', 'playing', 'waiting', 'stalled', 'pause', 'ended', 'error']) {
        v.addEventListener(type, () => rec.events.push({ type, t: v.currentTime, at: performance.now() }));
      }
      v.requestVideoFrameCallback?.((now) => { rec.firstFrameAt = now; });
    });
  }, autoplay);
}

// The `waiting` events after playback first started: each is a stall a viewer saw.
export function stallsAfterStart(events) {
  const start = events.findIndex((e) => e.type === 'playing');
  return start < 0 ? [] : events.slice(start + 1).filter((e) => e.type === 'waiting');
}

// "/media/<id>/<rung>/seg_00001.ts" -> "<rung>", for the video's media segments; null otherwise.
export function segmentRung(url) {
  const m = /\/media\/[^/]+\/([^/]+)\/seg_\d+\.\w+$/.exec(new URL(url).pathname);
  return m ? m[1] : null;
}
