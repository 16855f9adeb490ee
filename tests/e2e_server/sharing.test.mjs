// Sharing a video (issue 17, point 5) against the real `newsreel serve`: the Open Graph and
// Twitter card tags the server writes into watch.html (crawlers run no script), GET
// /api/v1/oembed, and the embeddable player page /embed/<id>. Plain HTTP clients (fetch and
// curl), as a crawler or a partner site's oEmbed consumer would be; ffprobe reads the poster.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MEDIA, curl, eventClient, execFileP, importFile, startServer, tempDataDir,
} from './lib/server.mjs';

const CLIP = path.join(MEDIA, 'moviepy_big_buck_bunny_432_433.webm');  // 1 s: quick to transcode
const HOSTILE = `"><script>alert(1)</script> Lũ & 'lở'`;
const DRAFT_TITLE = 'Bản nháp bí mật của phóng viên';
const UNLISTED_TITLE = 'Chỉ ai có đường dẫn mới xem';

// The <meta> tags of an HTML page as {property or name: [content, ...]}, entities decoded.
function metaTags(html) {
  const decode = (s) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const tags = {};
  for (const m of html.matchAll(/<meta (property|name)="([^"]+)" content="([^"]*)">/g)) {
    (tags[m[2]] ||= []).push(decode(m[3]));
  }
  const oembed = /<link rel="alternate" type="application\/json\+oembed" href="([^"]+)"/.exec(html);
  return { tags, oembed: oembed ? decode(oembed[1]) : null };
}

describe('sharing: share tags in watch.html, oEmbed, /embed/<id>', () => {
  let server, dataDir, events;
  const ids = {};

  before(async () => {
    dataDir = tempDataDir('sharing');
    server = await startServer({ dataDir, extraArgs: ['--workers', '1'] });
    events = eventClient(server.base, server.authHeaders);
    await events.hello;
    const make = async (key, extra) => {
      const { video_id: id } = await importFile(dataDir, CLIP, extra);
      ids[key] = id;
      const done = await events.next((e) => (e.type === 'video.ready' || e.type === 'video.failed') && e.data.id === id, `video ${key} ready`, 180_000);
      assert.equal(done.type, 'video.ready', JSON.stringify(done));
    };
    await make('published', ['--title', HOSTILE, '--reporter', 'Minh <b>', '--description', 'Mưa lớn <i>đêm qua</i>', '--visibility', 'published']);
    await make('draft', ['--title', DRAFT_TITLE, '--visibility', 'draft']);
    await make('unlisted', ['--title', UNLISTED_TITLE, '--visibility', 'unlisted']);
  });

  after(async () => {
    events?.close();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('watch.html of a published video names its poster, title and player, escaped', async () => {
    const res = await fetch(`${server.base}/watch.html?id=${ids.published}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const html = await res.text();
    assert.ok(!html.includes('<script>alert(1)'), 'the hostile title is not markup');
    assert.ok(html.includes('content="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; Lũ &amp; &#39;lở&#39;"'));
    // The tags stay in the head, before the page's body.
    assert.ok(html.indexOf('og:title') < html.indexOf('</head>'));
    const { tags, oembed } = metaTags(html);
    assert.deepEqual(tags['og:type'], ['video.other']);
    assert.deepEqual(tags['og:title'], [HOSTILE]);
    assert.deepEqual(tags['og:description'], ['Mưa lớn <i>đêm qua</i>']);
    assert.deepEqual(tags['og:url'], [`${server.base}/watch.html?id=${ids.published}`]);
    assert.deepEqual(tags['og:video'], [`${server.base}/embed/${ids.published}`]);
    assert.deepEqual(tags['og:video:type'], ['text/html']);
    assert.equal(tags['og:video:secure_url'], undefined, 'plain HTTP: no secure URL');
    assert.deepEqual(tags['twitter:card'], ['player']);
    assert.deepEqual(tags['twitter:player'], tags['og:video']);

    // The poster fetches as an image of the size the tags say.
    const [image] = tags['og:image'];
    assert.equal(image, `${server.base}/media/${ids.published}/poster.jpg`);
    const poster = await fetch(image);
    assert.equal(poster.status, 200);
    assert.equal(poster.headers.get('content-type'), 'image/jpeg');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nr-poster-')), 'poster.jpg');
    fs.writeFileSync(file, Buffer.from(await poster.arrayBuffer()));
    const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'json', file]);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    const [stream] = JSON.parse(stdout).streams;
    assert.deepEqual([tags['og:image:width'], tags['og:image:height']], [[String(stream.width)], [String(stream.height)]]);

    // The oEmbed link the page announces answers for this video.
    assert.equal(oembed, `${server.base}/api/v1/oembed?format=json&url=${encodeURIComponent(`${server.base}/watch.html?id=${ids.published}`)}`);
    const answer = await fetch(oembed);
    assert.equal(answer.status, 200);
    assert.equal((await answer.json()).title, HOSTILE);
  });

  test('watch.html of a draft or unlisted video carries no tags and not its title', async () => {
    const plain = await (await fetch(`${server.base}/watch.html`)).text();
    for (const [key, title] of [['draft', DRAFT_TITLE], ['unlisted', UNLISTED_TITLE]]) {
      const html = await (await fetch(`${server.base}/watch.html?id=${ids[key]}`)).text();
      assert.ok(!html.includes(title), `${key}: its title is in the page`);
      assert.ok(!html.includes('og:'), `${key}: share tags`);
      assert.equal(html, plain, `${key}: the page as it is on disk`);
    }
    for (const id of ['zzzzzzzzzzzzzzzz', '..%2F..%2Fetc', '<x>']) {
      const res = await fetch(`${server.base}/watch.html?id=${encodeURIComponent(id)}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), plain, `id ${id}`);
    }
  });

  test('the tagged page revalidates: 304 while it is the same, a new ETag once the title changes', async () => {
    const url = `${server.base}/watch.html?id=${ids.published}`;
    const first = await curl(url);
    const etag = first.headers.etag;
    assert.match(etag, /^"b-[0-9a-f]{32}"$/);
    assert.equal(first.headers['cache-control'], 'no-cache');
    const again = await curl(url, ['-H', `If-None-Match: ${etag}`]);
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    // Another video's page (or the plain one) is not the same representation.
    const plain = await curl(`${server.base}/watch.html`);
    assert.notEqual(plain.headers.etag, etag);
    const head = await curl(url, ['-I']);
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), first.body.length);

    const patched = await fetch(`${server.base}/api/v1/videos/${ids.published}`, {
      method: 'PATCH', headers: { ...server.authHeaders, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: `${HOSTILE} (2)` }),
    });
    assert.equal(patched.status, 200);
    const changed = await curl(url, ['-H', `If-None-Match: ${etag}`]);
    assert.equal(changed.status, 200, 'a changed title is a changed page');
    assert.notEqual(changed.headers.etag, etag);
    assert.deepEqual(metaTags(changed.body.toString()).tags['og:title'], [`${HOSTILE} (2)`]);
    await fetch(`${server.base}/api/v1/videos/${ids.published}`, {
      method: 'PATCH', headers: { ...server.authHeaders, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: HOSTILE }),
    });
  });

  test('a Host header that is not a host gives no absolute URLs, and no error', async () => {
    for (const host of ['bad host', 'a..b', 'evil.example/x']) {
      const res = await curl(`${server.base}/watch.html?id=${ids.published}`, ['-H', `Host: ${host}`]);
      if (res.status === 400) continue;  // refused before it reached the page: also fine
      assert.equal(res.status, 200, host);
      const { tags, oembed } = metaTags(res.body.toString());
      assert.deepEqual(tags['og:title'], [HOSTILE], host);
      assert.equal(tags['og:image'], undefined, host);
      assert.equal(tags['og:video'], undefined, host);
      assert.equal(oembed, null, host);
      assert.ok(!res.body.toString().includes(host), host);
    }
    const named = await curl(`${server.base}/watch.html?id=${ids.published}`, ['-H', 'Host: news.example.vn:8080']);
    assert.deepEqual(metaTags(named.body.toString()).tags['og:video'], [`http://news.example.vn:8080/embed/${ids.published}`]);
  });

  test('oEmbed: a video iframe of the embed page in the video\'s aspect, within maxwidth and maxheight', async () => {
    const oembed = (params) => fetch(`${server.base}/api/v1/oembed?${new URLSearchParams(params)}`);
    const watch = `${server.base}/watch.html?id=${ids.published}`;
    const res = await oembed({ url: watch, format: 'json' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    const o = await res.json();
    assert.equal(o.type, 'video');
    assert.equal(o.version, '1.0');
    assert.equal(o.title, HOSTILE);
    assert.equal(o.author_name, 'Minh <b>');
    assert.equal(o.provider_name, 'Newsreel');
    assert.equal(o.thumbnail_url, `${server.base}/media/${ids.published}/poster.jpg`);
    assert.ok(o.thumbnail_width > 0 && o.thumbnail_height > 0);
    const video = await (await fetch(`${server.base}/api/v1/videos/${ids.published}`)).json();
    const top = video.renditions.filter((r) => r.height > 0).sort((a, b) => b.height - a.height)[0];
    assert.ok(Math.abs(o.width / o.height - top.width / top.height) < 0.02, `${o.width}x${o.height} for ${top.width}x${top.height}`);
    assert.ok(o.width <= Math.max(640, top.width) && o.height <= 640);
    assert.equal(o.html, `<iframe src="${server.base}/embed/${ids.published}" width="${o.width}" height="${o.height}" `
      + `title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; Lũ &amp; &#39;lở&#39;" frameborder="0" `
      + 'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>');

    for (const [bounds, check] of [
      [{ maxwidth: '200' }, (s) => s.width <= 200],
      [{ maxheight: '90' }, (s) => s.height <= 90],
      [{ maxwidth: '300', maxheight: '100' }, (s) => s.width <= 300 && s.height <= 100],
    ]) {
      const sized = await (await oembed({ url: watch, ...bounds })).json();
      assert.ok(check(sized) && sized.width >= 1 && sized.height >= 1, `${JSON.stringify(bounds)}: ${sized.width}x${sized.height}`);
      assert.ok(Math.abs(sized.width / sized.height - o.width / o.height) < 0.05, `${JSON.stringify(bounds)} keeps the aspect`);
      assert.ok(sized.html.includes(`width="${sized.width}" height="${sized.height}"`));
    }
    // The embed URL (and a watch URL with a start time) name the same video.
    for (const url of [`${server.base}/embed/${ids.published}`, `${watch}&t=12`]) {
      assert.equal((await (await oembed({ url })).json()).html, o.html, url);
    }
  });

  test('oEmbed refuses what is not a public video of this server', async () => {
    const status = async (params) => {
      const res = await fetch(`${server.base}/api/v1/oembed?${new URLSearchParams(params)}`);
      const body = await res.json();
      assert.ok(body.error?.code, JSON.stringify(body));
      return [res.status, JSON.stringify(body)];
    };
    const watch = (id) => `${server.base}/watch.html?id=${id}`;
    for (const key of ['draft', 'unlisted']) {
      const [code, body] = await status({ url: watch(ids[key]) });
      assert.equal(code, 404, key);
      assert.ok(!body.includes(key === 'draft' ? DRAFT_TITLE : UNLISTED_TITLE));
      assert.equal((await status({ url: `${server.base}/embed/${ids[key]}` }))[0], 404, key);
    }
    assert.equal((await status({ url: watch('zzzzzzzzzzzzzzzz') }))[0], 404);
    assert.equal((await status({ url: watch(ids.published), format: 'xml' }))[0], 501);
    for (const url of [`https://evil.example/watch.html?id=${ids.published}`, `${server.base}/media/${ids.published}/poster.jpg`,
      `${server.base}/watch.html`, `${server.base}/embed/../../etc/passwd`, 'not a url', '']) {
      assert.equal((await status({ url }))[0], 400, url);
    }
    assert.equal((await status({}))[0], 400);
    assert.equal((await status({ url: watch(ids.published), maxwidth: 'wide' }))[0], 400);
    assert.equal((await status({ url: watch(ids.published), maxheight: '0' }))[0], 400);
    assert.equal((await status({ url: watch(ids.published), format: 'yaml' }))[0], 400);
  });

  test('/embed/<id>: the player page for published and unlisted videos, framable; 404 otherwise', async () => {
    for (const key of ['published', 'unlisted']) {
      const res = await curl(`${server.base}/embed/${ids[key]}`);
      assert.equal(res.status, 200, key);
      assert.match(res.headers['content-type'], /^text\/html/);
      const html = res.body.toString();
      assert.ok(html.includes('src="embed.js"') && html.includes('<base href="../">'), key);
      assert.equal(res.headers['x-frame-options'], undefined, 'other sites may frame it');
      assert.ok(!/frame-ancestors/.test(res.headers['content-security-policy'] || ''));
      // Its styles, script and strings resolve from the site's root.
      for (const asset of ['embed.js', 'player.js', 'style.css', 'strings.vi.json', 'vendor/hls.min.js']) {
        assert.equal((await curl(new URL(asset, `${server.base}/`).href)).status, 200, asset);
      }
    }
    const page = await curl(`${server.base}/embed/${ids.published}`);
    assert.equal((await curl(`${server.base}/embed/${ids.published}`, ['-H', `If-None-Match: ${page.headers.etag}`])).status, 304);
    for (const p of [`/embed/${ids.draft}`, '/embed/zzzzzzzzzzzzzzzz', '/embed/', '/embed', `/embed/${ids.published}/x`,
      '/embed/..%2F..%2Fetc%2Fpasswd', '/embed/../../etc/passwd', '/embed/%00']) {
      const res = await curl(`${server.base}${p}`);
      assert.ok([404, 400].includes(res.status), `${p}: ${res.status}`);
      assert.ok(!res.body.toString().includes(DRAFT_TITLE), p);
      assert.ok(!res.body.toString().includes('root:'), p);
    }
    assert.equal((await curl(`${server.base}/embed/${ids.draft}`)).status, 404, 'a draft is never embedded');
    assert.equal((await curl(`${server.base}/embed/${ids.draft}`, ['-I'])).status, 404);
    // The server is still there.
    assert.equal((await fetch(`${server.base}/healthz`)).status, 200);
  });

  // Last: restarts the server on the same data with --public-url.
  test('--public-url names the site in every absolute URL, https with secure URLs', async () => {
    const bad = await execFileP(process.env.NEWSREEL_BIN, ['serve', '--data', dataDir, '--port', '1', '--public-url', 'news.example.vn'])
      .then(() => null, (e) => e);
    assert.ok(bad && bad.code === 1, 'a public URL without a scheme stops the start');
    assert.match(bad.stderr, /--public-url/);

    await server.stop();
    server = await startServer({ dataDir, token: server.token, extraArgs: ['--workers', '1', '--public-url', 'https://news.example.vn/'] });
    const site = 'https://news.example.vn';
    const { tags, oembed } = metaTags(await (await fetch(`${server.base}/watch.html?id=${ids.published}`)).text());
    assert.deepEqual(tags['og:image'], [`${site}/media/${ids.published}/poster.jpg`]);
    assert.deepEqual(tags['og:video'], [`${site}/embed/${ids.published}`]);
    assert.deepEqual(tags['og:video:secure_url'], [`${site}/embed/${ids.published}`]);
    assert.deepEqual(tags['og:url'], [`${site}/watch.html?id=${ids.published}`]);
    assert.ok(oembed.startsWith(`${site}/api/v1/oembed?`));
    const ask = (url) => fetch(`${server.base}/api/v1/oembed?${new URLSearchParams({ url })}`);
    const o = await (await ask(`${site}/watch.html?id=${ids.published}`)).json();
    assert.ok(o.html.startsWith(`<iframe src="${site}/embed/${ids.published}"`), o.html);
    assert.equal(o.provider_url, `${site}/`);
    assert.equal((await ask(`${server.base}/watch.html?id=${ids.published}`)).status, 400, 'the request\'s own host is not the site now');
  });
});
