// docs/openapi.yaml against the real `newsreel serve` (issue 13, point 8). The document must be
// a valid OpenAPI 3.1 description (checked with @seriousme/openapi-schema-validator, the
// official 3.1 schema), and the server must answer as it says:
//  - every documented operation, called with real objects, answers with its documented
//    success status, and JSON bodies validate against the documented schemas (ajv), with no
//    field the document does not name;
//  - every documented path refuses the methods it does not document with 405 and an Allow
//    header naming exactly the documented ones (the route table itself is compared with the
//    document by tests/streaming/internal/api_routes_test.cpp);
//  - every operation that needs a role refuses an anonymous caller with 401, or with 404 for a
//    draft it may not know exists, and those that need an editor or admin refuse a reporter;
//  - a live stream on air (real ffmpeg publishing over SRT) answers with its ingest and worker
//    figures as documented.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { spawn } from 'node:child_process';
import {
  MEDIA, bearer, curl, eventClient, importFile, makeAccount, processState, startServer, tempDataDir,
  waitFor,
} from './lib/server.mjs';
import {
  HTTP_METHODS, ROLES, checkAnswer, loadDocument, operations, references, resolvePointer,
  schemaChecker,
} from './lib/openapi.mjs';

const SHORT = path.join(MEDIA, 'moviepy_big_buck_bunny_432_433.webm');  // 1 s: quick to transcode
const LONGER = path.join(MEDIA, 'moviepy_chaplin.mp4');                 // long enough to catch running
const ULLA_PASSWORD = 'first password 1';
const doc = loadDocument();
const ops = operations(doc);
const checker = schemaChecker(doc);
const TUS = { 'Tus-Resumable': '1.0.0' };
const b64 = (s) => Buffer.from(s).toString('base64');
const cookieOf = (answer) => /newsreel_session=([^;]*)/.exec(answer.headers['set-cookie'] || '')?.[1];

// How each documented operation is called, in this order: a request built from the objects the
// test made (`ctx`), the caller for the call as staff ('admin' unless said), the status it must
// then answer, and, for operations on a video, job or live stream, the same request on a
// draft's (for the 404 an anonymous caller must get). Requests carry no credentials: the caller adds them.
const PLAN = [
  // First, while the only worker is stopped: the encoder list runs trial encodes.
  { key: 'GET /api/v1/encoders', expect: 200, request: () => ({ path: '/api/v1/encoders' }) },
  { key: 'GET /api/v1/uploads', expect: 200, request: () => ({ path: '/api/v1/uploads?limit=10' }) },
  { key: 'GET /api/v1/videos', expect: 200, request: () => ({ path: '/api/v1/videos?limit=50' }) },
  { key: 'GET /api/v1/videos/{id}', expect: 200, request: (c) => ({ path: `/api/v1/videos/${c.ready.id}` }),
    draft: (c) => ({ path: `/api/v1/videos/${c.draft.id}` }) },
  { key: 'PATCH /api/v1/videos/{id}', expect: 200,
    request: (c) => ({ method: 'PATCH', path: `/api/v1/videos/${c.ready.id}`, json: { title: 'Lũ quét (sửa)', tags: ['flood'] } }),
    draft: (c) => ({ method: 'PATCH', path: `/api/v1/videos/${c.draft.id}`, json: { title: 'x' } }) },
  { key: 'GET /api/v1/jobs', expect: 200, request: () => ({ path: '/api/v1/jobs?limit=50' }),
    draft: (c) => ({ path: `/api/v1/jobs?video_id=${c.draft.id}` }) },
  { key: 'GET /api/v1/jobs/{id}', expect: 200, request: (c) => ({ path: `/api/v1/jobs/${c.ready.job}` }),
    draft: (c) => ({ path: `/api/v1/jobs/${c.draft.job}` }) },
  { key: 'POST /api/v1/jobs/{id}/cancel', expect: 200, request: (c) => ({ method: 'POST', path: `/api/v1/jobs/${c.running.job}/cancel` }),
    draft: (c) => ({ method: 'POST', path: `/api/v1/jobs/${c.draft.job}/cancel` }) },
  { key: 'POST /api/v1/jobs/{id}/retry', expect: 200, request: (c) => ({ method: 'POST', path: `/api/v1/jobs/${c.running.job}/retry` }),
    draft: (c) => ({ method: 'POST', path: `/api/v1/jobs/${c.draft.job}/retry` }) },
  { key: 'GET /api/v1/users', expect: 200, request: () => ({ path: '/api/v1/users' }) },
  { key: 'POST /api/v1/users', expect: 201,
    request: () => ({ method: 'POST', path: '/api/v1/users', json: { name: 'ulla', role: 'reporter', display_name: 'Ulla', password: ULLA_PASSWORD } }) },
  { key: 'GET /api/v1/users/{name}', expect: 200, request: () => ({ path: '/api/v1/users/ulla' }) },
  { key: 'PATCH /api/v1/users/{name}', expect: 200, request: () => ({ method: 'PATCH', path: '/api/v1/users/ulla', json: { role: 'editor' } }) },
  { key: 'POST /api/v1/users/{name}/password', expect: 200, request: () => ({ method: 'POST', path: '/api/v1/users/ulla/password' }),
    then: (c, answer) => { c.ullaPassword = JSON.parse(answer.body).password; } },
  { key: 'GET /api/v1/oembed', expect: 200,
    request: (c) => ({ path: `/api/v1/oembed?maxwidth=480&url=${encodeURIComponent(`${c.base}/watch.html?id=${c.ready.id}`)}` }) },
  { key: 'GET /api/v1/session', expect: 200, request: () => ({ path: '/api/v1/session' }) },
  { key: 'POST /api/v1/session', expect: 200,
    request: (c) => ({ method: 'POST', path: '/api/v1/session', json: { name: 'ulla', password: c.ullaPassword || 'not yet known' } }),
    then: (c, answer) => { c.ullaCookie = cookieOf(answer); } },
  { key: 'POST /api/v1/session/password', expect: 200, as: 'ulla',
    request: (c) => ({ method: 'POST', path: '/api/v1/session/password', json: { current_password: c.ullaPassword || 'not yet known', new_password: 'second password 2' } }),
    then: (c, answer) => { c.ullaCookie = cookieOf(answer); } },
  { key: 'DELETE /api/v1/session', expect: 204, as: 'ulla', request: () => ({ method: 'DELETE', path: '/api/v1/session' }) },
  { key: 'GET /api/v1/tokens', expect: 200, request: () => ({ path: '/api/v1/tokens' }) },
  { key: 'POST /api/v1/tokens', expect: 201, request: () => ({ method: 'POST', path: '/api/v1/tokens', json: { label: 'openapi test', expires_in_days: 1 } }),
    then: (c, answer) => { c.tokenId = JSON.parse(answer.body).id; } },
  { key: 'DELETE /api/v1/tokens/{id}', expect: 204, request: (c) => ({ method: 'DELETE', path: `/api/v1/tokens/${c.tokenId || 999999}` }) },
  // Live streams: `live` (published) is changed, given a new key, ended and deleted; the one the
  // POST makes goes on air in the last test.
  { key: 'GET /api/v1/live', expect: 200, request: () => ({ path: '/api/v1/live' }) },
  { key: 'POST /api/v1/live', expect: 201,
    request: () => ({ method: 'POST', path: '/api/v1/live', json: { title: 'Lũ về Mường La', visibility: 'unlisted', encrypt_ingest: true } }),
    then: (c, answer) => { const s = JSON.parse(answer.body); c.liveMade = { id: s.id, url: s.ingest?.url }; } },
  { key: 'GET /api/v1/live/{id}', expect: 200, request: (c) => ({ path: `/api/v1/live/${c.live.id}` }),
    draft: (c) => ({ path: `/api/v1/live/${c.liveDraft.id}` }) },
  { key: 'PATCH /api/v1/live/{id}', expect: 200,
    request: (c) => ({ method: 'PATCH', path: `/api/v1/live/${c.live.id}`, json: { title: 'Trực tiếp (sửa)', replace_publisher: true } }),
    draft: (c) => ({ method: 'PATCH', path: `/api/v1/live/${c.liveDraft.id}`, json: { title: 'x' } }) },
  { key: 'POST /api/v1/live/{id}/key', expect: 200, request: (c) => ({ method: 'POST', path: `/api/v1/live/${c.live.id}/key` }),
    draft: (c) => ({ method: 'POST', path: `/api/v1/live/${c.liveDraft.id}/key` }),
    then: (c, answer) => { c.live.newKey = JSON.parse(answer.body).ingest?.key; } },
  { key: 'POST /api/v1/live/{id}/end', expect: 202, request: (c) => ({ method: 'POST', path: `/api/v1/live/${c.live.id}/end` }),
    draft: (c) => ({ method: 'POST', path: `/api/v1/live/${c.liveDraft.id}/end` }) },
  { key: 'DELETE /api/v1/live/{id}', expect: 204, request: (c) => ({ method: 'DELETE', path: `/api/v1/live/${c.live.id}` }),
    draft: (c) => ({ method: 'DELETE', path: `/api/v1/live/${c.liveDraft.id}` }) },
  { key: 'DELETE /api/v1/videos/{id}', expect: 204, request: (c) => ({ method: 'DELETE', path: `/api/v1/videos/${c.running.id}` }),
    draft: (c) => ({ method: 'DELETE', path: `/api/v1/videos/${c.draft.id}` }) },
  { key: 'OPTIONS /files/', expect: 204, request: () => ({ method: 'OPTIONS', path: '/files/' }) },
  { key: 'POST /files/', expect: 201,
    request: () => ({ method: 'POST', path: '/files/', headers: { ...TUS, 'Upload-Length': '1000', 'Upload-Metadata': `filename ${b64('clip.mp4')},title ${b64('Lũ quét')}` } }),
    then: (c, answer) => { c.upload = answer.headers.location.split('/').pop(); } },
  { key: 'HEAD /files/{id}', expect: 200, request: (c) => ({ method: 'HEAD', path: `/files/${c.upload}`, headers: TUS }) },
  { key: 'OPTIONS /files/{id}', expect: 204, request: (c) => ({ method: 'OPTIONS', path: `/files/${c.upload}` }) },
  { key: 'PATCH /files/{id}', expect: 204,
    request: (c) => ({ method: 'PATCH', path: `/files/${c.upload}`, headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, bytes: Buffer.alloc(400, 7) }) },
  { key: 'DELETE /files/{id}', expect: 204, request: (c) => ({ method: 'DELETE', path: `/files/${c.upload}`, headers: TUS }) },
];

describe('docs/openapi.yaml', () => {
  test('is an OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.info?.title && doc.info?.version, 'info has a title and a version');
    assert.ok(doc.paths && doc.components?.schemas && doc.components?.securitySchemes, 'paths and components');
    const result = await new Validator().validate(structuredClone(doc));
    assert.ok(result.valid, `not valid OpenAPI 3.1: ${JSON.stringify(result.errors, null, 1)?.slice(0, 3000)}`);
    for (const { ref, at } of references(doc)) {
      assert.doesNotThrow(() => resolvePointer(doc, ref), `${at}: $ref ${ref} leads nowhere`);
    }
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['bearerAuth', 'cookieAuth']);
    assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
    assert.equal(doc.components.securitySchemes.cookieAuth.name, 'newsreel_session');
  });

  test('says for every operation which role it needs, and how it refuses', () => {
    const ids = new Set();
    for (const { key, op } of ops) {
      assert.ok(ROLES.includes(op['x-newsreel-role']), `${key}: x-newsreel-role ${op['x-newsreel-role']} is not one of ${ROLES}`);
      assert.ok(['own', 'owner', undefined].includes(op['x-newsreel-scope']), `${key}: x-newsreel-scope`);
      assert.ok(op.operationId && !ids.has(op.operationId), `${key}: a unique operationId`);
      ids.add(op.operationId);
      const needsCredentials = !(op.security || doc.security).some((s) => Object.keys(s).length === 0);
      assert.equal(needsCredentials, op['x-newsreel-role'] !== 'anonymous', `${key}: security matches the role`);
      if (op['x-newsreel-role'] !== 'anonymous') assert.ok(op.responses['401'], `${key} needs a role: it must document 401`);
      if (['editor', 'admin'].includes(op['x-newsreel-role'])) assert.ok(op.responses['403'], `${key}: 403 for lesser roles`);
    }
  });

  test('has examples that fit their schemas', () => {
    let checked = 0;
    const visit = (node, at) => {
      if (node === null || typeof node !== 'object') return;
      if (node.schema) {
        const examples = [];
        if ('example' in node) examples.push(node.example);
        for (const e of Object.values(node.examples || {})) examples.push(e.value);
        for (const value of examples) {
          assert.deepEqual(checker.open(`${at}/schema`, value), [], `the example at ${at}`);
          checked++;
        }
      }
      for (const [k, v] of Object.entries(node)) if (k !== 'schema') visit(v, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    };
    visit(doc.paths, '#/paths');
    visit(doc.components.parameters, '#/components/parameters');
    visit(doc.components.responses, '#/components/responses');
    visit(doc.components.headers, '#/components/headers');
    for (const [name, s] of Object.entries(doc.components.schemas)) {
      for (const [i, value] of (s.examples || []).entries()) {
        assert.deepEqual(checker.open(`#/components/schemas/${name}`, value), [], `example ${i} of ${name}`);
        checked++;
      }
    }
    assert.ok(checked >= 30, `only ${checked} examples`);
  });

  test('has a call in this test for every operation, and no other', () => {
    assert.deepEqual(PLAN.map((p) => p.key).sort(), ops.map((o) => o.key).sort());
  });
});

describe('docs/openapi.yaml against newsreel serve', () => {
  let server, dataDir, events, reporter;
  const ctx = {};
  const callers = {};

  // Sends a planned request as `who` (a key of callers); resolves with curl's answer.
  async function send(req, who) {
    const args = [...callers[who]()];
    const method = req.method || 'GET';
    if (method === 'HEAD') args.push('-I');
    else if (method !== 'GET') args.push('-X', method);
    for (const [k, v] of Object.entries(req.headers || {})) args.push('-H', `${k}: ${v}`);
    let file;
    if (req.json !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(req.json));
    if (req.bytes) {
      file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nr-openapi-')), 'body');
      fs.writeFileSync(file, req.bytes);
      args.push('--data-binary', `@${file}`);
    }
    try {
      const answer = await curl(server.base + req.path, args);
      // With -I curl writes the headers where the body would go: a HEAD answer has none.
      return method === 'HEAD' ? { ...answer, body: Buffer.alloc(0) } : answer;
    } finally {
      if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  }

  const opOf = (key) => ops.find((o) => o.key === key);

  before(async () => {
    dataDir = tempDataDir('openapi');
    // `--srt-port 0`: live streaming on, at a free UDP port.
    server = await startServer({ dataDir, extraArgs: ['--workers', '1', '--srt-port', '0'] });
    ctx.base = server.base;
    reporter = await makeAccount(dataDir, 'rita', 'reporter');
    callers.admin = () => server.auth;
    callers.anonymous = () => [];
    callers.reporter = () => bearer(reporter).args;
    // A cookie caller: a change needs the server's own Origin (CSRF).
    callers.ulla = () => ['-H', `Cookie: newsreel_session=${ctx.ullaCookie}`, '-H', `Origin: ${server.base}`];
    events = eventClient(server.base, server.authHeaders);
    await events.hello;
    const ready = async (id) => events.next((e) => (e.type === 'video.ready' || e.type === 'video.failed') && e.data.id === id, `video ${id} done`, 180_000);
    // A published video that becomes ready, and a draft (for what anonymous callers may not see).
    const a = await importFile(dataDir, SHORT, ['--visibility', 'published', '--title', 'Lũ quét ở Sơn La']);
    ctx.ready = { id: a.video_id, job: a.job_id };
    assert.equal((await ready(a.video_id)).type, 'video.ready');
    const d = await importFile(dataDir, SHORT, ['--visibility', 'draft']);
    ctx.draft = { id: d.video_id, job: d.job_id };
    assert.equal((await ready(d.video_id)).type, 'video.ready');
    // A job held running (its worker stopped) for cancel and retry; its video is deleted last.
    const r = await importFile(dataDir, LONGER, ['--visibility', 'published']);
    ctx.running = { id: r.video_id, job: r.job_id };
    const started = await events.next((e) => e.type === 'job.started' && e.data.job_id === r.job_id, 'job.started');
    process.kill(started.data.worker_pid, 'SIGSTOP');
    await waitFor(() => processState(started.data.worker_pid) === 'T' || processState(started.data.worker_pid) === null,
      'the worker to stop', 10_000, 20);
    assert.equal(processState(started.data.worker_pid), 'T', 'the worker was still running when stopped');
    // Live streams of the admin's: a published one, and a draft (for the anonymous 404s).
    const made = async (json) => {
      const answer = await send({ method: 'POST', path: '/api/v1/live', json }, 'admin');
      assert.equal(answer.status, 201, answer.body.toString());
      return JSON.parse(answer.body);
    };
    const live = await made({ title: 'Trực tiếp', visibility: 'published' });
    ctx.live = { id: live.id, key: live.ingest.key, port: live.ingest.port };
    ctx.liveDraft = { id: (await made({ title: 'Nháp' })).id };
    // An upload of the admin's (the tus operations act on it until the planned POST makes another).
    const created = await send({ method: 'POST', path: '/files/', headers: { ...TUS, 'Upload-Length': '10' } }, 'admin');
    assert.equal(created.status, 201);
    ctx.upload = created.headers.location.split('/').pop();
  });

  after(async () => {
    events?.close();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // First, while every object is still there: refusals change nothing.
  test('an anonymous caller gets 401 wherever a role is needed, and 404 for a draft', async () => {
    let refused = 0, hidden = 0;
    for (const plan of PLAN) {
      const operation = opOf(plan.key);
      const role = operation.op['x-newsreel-role'];
      if (role !== 'anonymous') {
        const answer = await send(plan.request(ctx), 'anonymous');
        assert.equal(answer.status, 401, `${plan.key} as anonymous: ${answer.body}`);
        assert.deepEqual(checkAnswer(doc, checker, operation, answer), []);
        if (operation.path.startsWith('/api/')) assert.match(answer.headers['www-authenticate'] || '', /^Bearer /);
        refused++;
      }
      const pathParams = operation.parameters.filter((p) => p.node.in === 'path' || p.node.name === 'video_id');
      const onVideos = /^\/api\/v1\/(videos|jobs|live)/.test(operation.path) && pathParams.length > 0;
      assert.equal(Boolean(plan.draft), onVideos, `${plan.key}: a draft variant exactly for operations on a video, job or live stream`);
      if (plan.draft) {
        assert.ok(operation.op.responses['404'], `${plan.key} must document 404`);
        const answer = await send(plan.draft(ctx), 'anonymous');
        assert.equal(answer.status, 404, `${plan.key} on a draft as anonymous: ${answer.body}`);
        assert.deepEqual(checkAnswer(doc, checker, operation, answer), []);
        hidden++;
      }
    }
    assert.ok(refused >= 25 && hidden >= 12, `${refused} refused, ${hidden} hidden`);
  });

  test('a reporter is refused what needs an editor or an admin', async () => {
    let refused = 0;
    for (const plan of PLAN) {
      const operation = opOf(plan.key);
      if (!['editor', 'admin'].includes(operation.op['x-newsreel-role'])) continue;
      const answer = await send(plan.request(ctx), 'reporter');
      assert.equal(answer.status, 403, `${plan.key} as a reporter: ${answer.body}`);
      assert.deepEqual(checkAnswer(doc, checker, operation, answer), []);
      refused++;
    }
    assert.ok(refused >= 6, `${refused} refused`);
  });

  test('a live stream shows its passphrase and pull URL only to who may run it, its key once', async () => {
    const get = async (who) => JSON.parse((await send({ path: `/api/v1/live/${ctx.live.id}` }, who)).body);
    for (const who of ['anonymous', 'reporter']) {
      const seen = await get(who);
      assert.equal(seen.id, ctx.live.id);
      assert.ok(!('ingest' in seen) && !('pull' in seen), `${who} sees: ${JSON.stringify(seen)}`);
    }
    const staff = await get('admin');
    assert.ok(staff.pull?.passphrase && staff.pull.url.endsWith(`&passphrase=${staff.pull.passphrase}`), JSON.stringify(staff.pull));
    assert.equal(staff.ingest?.port, ctx.live.port);
    assert.ok(!('key' in staff.ingest) && !('passphrase' in staff.ingest), `after its creation: ${JSON.stringify(staff.ingest)}`);
    const listed = JSON.parse((await send({ path: '/api/v1/live' }, 'anonymous')).body).items;
    assert.deepEqual(listed.map((s) => s.id), [ctx.live.id], 'anonymous callers list published streams only');
    assert.ok(!('ingest' in listed[0]) && !('pull' in listed[0]));
  });

  test('every operation answers as documented', async () => {
    for (const plan of PLAN) {
      const operation = opOf(plan.key);
      const answer = await send(plan.request(ctx), plan.as || 'admin');
      assert.deepEqual(checkAnswer(doc, checker, operation, answer), [], `${plan.key}`);
      assert.equal(answer.status, plan.expect, `${plan.key}: ${answer.body}`);
      if (plan.then) plan.then(ctx, answer);
    }
    // The answers were the real thing: what they did is there.
    const video = await send({ path: `/api/v1/videos/${ctx.ready.id}` }, 'admin');
    assert.equal(JSON.parse(video.body).title, 'Lũ quét (sửa)');
    assert.equal((await send({ path: `/api/v1/videos/${ctx.running.id}` }, 'admin')).status, 404, 'deleted');
    const ulla = await send({ path: '/api/v1/users/ulla' }, 'admin');
    assert.equal(JSON.parse(ulla.body).role, 'editor');
    const signIn = await send({ method: 'POST', path: '/api/v1/session', json: { name: 'ulla', password: 'second password 2' } }, 'anonymous');
    assert.equal(signIn.status, 200, 'the password was changed');
    assert.ok(ctx.live.newKey && ctx.live.newKey !== ctx.live.key, 'the stream got a new key');
    assert.equal((await send({ path: `/api/v1/live/${ctx.live.id}` }, 'admin')).status, 404, 'the stream was deleted');
    const made = await send({ path: `/api/v1/live/${ctx.liveMade.id}` }, 'admin');
    assert.equal(JSON.parse(made.body).title, 'Lũ về Mường La');
  });

  test('a method a path does not document gets 405 with Allow naming the documented ones', async () => {
    const ids = { '/api/v1/videos/{id}': ctx.ready.id, '/api/v1/jobs/{id}': ctx.ready.job, '/api/v1/jobs/{id}/cancel': ctx.ready.job,
      '/api/v1/jobs/{id}/retry': ctx.ready.job, '/api/v1/users/{name}': 'ulla', '/api/v1/users/{name}/password': 'ulla',
      '/api/v1/tokens/{id}': 1, '/files/{id}': 'k3v7q2mzp4x5t6ab', '/api/v1/live/{id}': ctx.liveDraft.id,
      '/api/v1/live/{id}/key': ctx.liveDraft.id, '/api/v1/live/{id}/end': ctx.liveDraft.id };
    let probed = 0;
    for (const [p, item] of Object.entries(doc.paths)) {
      const documented = HTTP_METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
      if (documented.includes('GET')) documented.push('HEAD');  // HEAD is answered wherever GET is
      const url = p.replace(/\{[^}]+\}/, ids[p]);
      assert.ok(!url.includes('{'), `an id for ${p}`);
      for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        if (documented.includes(method)) continue;
        // Headers every operation of the path requires (Tus-Resumable), from their examples.
        const headers = {};
        for (const o of ops.filter((x) => x.path === p)) {
          for (const { node } of o.parameters) if (node.in === 'header' && node.required) headers[node.name] = String(node.example);
        }
        const answer = await send({ method, path: url, headers }, 'admin');
        assert.equal(answer.status, 405, `${method} ${url}: ${answer.body}`);
        const allow = (answer.headers.allow || '').split(',').map((s) => s.trim()).filter(Boolean);
        assert.deepEqual(allow.sort(), [...documented].sort(), `Allow of ${method} ${url}`);
        probed++;
      }
    }
    assert.ok(probed >= 40, `${probed} probes`);
  });

  // Last: it publishes for real (ffmpeg over SRT, with the passphrase the stream asks for), so
  // that the figures only a stream on air has are checked against the document too.
  test('a stream on air answers with its encoder and worker figures, and ends into a video', async () => {
    const { id, url } = ctx.liveMade;
    assert.match(url, /^srt:\/\/127\.0\.0\.1:\d+\?streamid=#!::r=[a-z2-7]+,m=publish,s=[a-z2-7]+&passphrase=\S{10,}$/);
    const ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-f', 'mpegts', url], { stdio: ['ignore', 'ignore', 'pipe'] });
    const ffmpegLog = [];
    ffmpeg.stderr.on('data', (d) => ffmpegLog.push(d.toString()));
    try {
      let answer, stream;
      await waitFor(async () => {
        if (ffmpeg.exitCode !== null) throw new Error(`ffmpeg exited: ${ffmpegLog.join('')}`);
        answer = await send({ path: `/api/v1/live/${id}` }, 'admin');
        stream = JSON.parse(answer.body);
        return stream.ingest_stats !== null && stream.worker !== null && stream.worker.segments > 0;
      }, 'the stream on air with its worker publishing segments', 120_000, 250);
      assert.deepEqual(checkAnswer(doc, checker, opOf('GET /api/v1/live/{id}'), answer), []);
      assert.equal(stream.state, 'live');
      assert.ok(stream.ingest_stats.bytes_received > 0 && stream.worker.fps > 0, JSON.stringify(stream));
      assert.ok(stream.ingest.passphrase, 'an encrypted ingest shows its passphrase to the owner');
      const onAir = await events.next((e) => e.type === 'live.state' && e.data.id === id && e.data.state === 'live', 'live.state live');
      assert.equal(typeof onAir.data.since_ms, 'number');
      // An unlisted stream: anyone with its id may watch it, and sees no secrets.
      const viewer = await send({ path: `/api/v1/live/${id}` }, 'anonymous');
      assert.deepEqual(checkAnswer(doc, checker, opOf('GET /api/v1/live/{id}'), viewer), []);
      assert.equal(viewer.status, 200);
      assert.ok(!('ingest' in JSON.parse(viewer.body)));

      const ended = await send({ method: 'POST', path: `/api/v1/live/${id}/end` }, 'admin');
      assert.deepEqual(checkAnswer(doc, checker, opOf('POST /api/v1/live/{id}/end'), ended), []);
      assert.equal(ended.status, 202, ended.body.toString());
      await events.next((e) => e.type === 'live.state' && e.data.id === id && e.data.state === 'ended', 'live.state ended');
      const recorded = await events.next((e) => e.type === 'live.recorded' && e.data.id === id, 'live.recorded');
      const video = await send({ path: `/api/v1/videos/${recorded.data.video_id}` }, 'admin');
      assert.equal(video.status, 200, 'the recording is a video');
      assert.equal(JSON.parse(video.body).visibility, 'draft');
      const after = JSON.parse((await send({ path: `/api/v1/live/${id}` }, 'admin')).body);
      assert.equal(after.state, 'ended');
      assert.equal(after.recording_video_id, recorded.data.video_id);
    } finally {
      ffmpeg.kill('SIGKILL');
    }
  });

  // After the others: the same data directory served with live streaming off.
  test('with live streaming off, what needs it answers 503 and changes nothing', async () => {
    events.close();
    await server.stop();
    server = await startServer({ dataDir, token: server.token, extraArgs: ['--workers', '1', '--srt-port', '-1'] });
    const id = ctx.liveMade.id;
    const before = await send({ path: `/api/v1/live/${id}` }, 'admin');
    assert.deepEqual(checkAnswer(doc, checker, opOf('GET /api/v1/live/{id}'), before), []);
    assert.equal(before.status, 200);
    assert.ok(!('ingest' in JSON.parse(before.body)) && !('pull' in JSON.parse(before.body)), 'no SRT port to show');
    const refusals = [
      ['POST /api/v1/live', { method: 'POST', path: '/api/v1/live', json: { title: 'x' } }],
      ['POST /api/v1/live/{id}/key', { method: 'POST', path: `/api/v1/live/${id}/key` }],
      ['POST /api/v1/live/{id}/end', { method: 'POST', path: `/api/v1/live/${id}/end` }],
    ];
    for (const [key, req] of refusals) {
      const answer = await send(req, 'admin');
      assert.deepEqual(checkAnswer(doc, checker, opOf(key), answer), []);
      assert.equal(answer.status, 503, `${key}: ${answer.body}`);
      assert.equal(JSON.parse(answer.body).error.code, 'unavailable');
    }
    // The key was not changed (a rotation would stamp updated_at), nor a stream made.
    const after = await send({ path: `/api/v1/live/${id}` }, 'admin');
    assert.equal(JSON.parse(after.body).updated_at, JSON.parse(before.body).updated_at);
    assert.equal(JSON.parse((await send({ path: '/api/v1/live' }, 'admin')).body).items.length, 2);
  });
});
