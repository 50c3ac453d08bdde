// Secrets never reach the browser or the logs. This test starts its own server (the release
// binary) with canary keys for the AI provider and the live-conditions provider, both pointed
// at a local stub speaking their documented formats (Anthropic Messages streaming,
// OpenWeatherMap current weather). It proves the keys are used (the stub receives them), then
// drives every page in Chromium, calls every server function and HTTP endpoint, and finds
// neither canary in any response body or header, in any file of the built site, or in any
// log line (at debug level). On the way it checks that a model's answer streams to the page
// piece by piece and is labelled with its provider.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, VIEWPORTS } from './browser.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LLM_KEY = `sk-ant-CANARY-${randomBytes(8).toString('hex')}`;
const LIVE_KEY = `owmCANARY${randomBytes(8).toString('hex')}`;
const ADMIN_PASSWORD = `admin-${randomBytes(8).toString('hex')}`;
// The admin's password is a secret too: it must not show up anywhere either.
const CANARIES = [LLM_KEY, LIVE_KEY, ADMIN_PASSWORD];
const PIECES = ['The riskiest ', 'assets are ', 'listed in the facts; ', 'check them on their pages.'];

const seen = { llmKeys: [], liveKeys: [], llmBodies: [] };
let stub;
let server;
let base;
let logs = '';
let browser;
let dataDir;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A stub of both upstreams, recording the keys it receives. */
function startStub() {
  const s = createServer((req, res) => {
    const url = new URL(req.url, 'http://stub');
    if (req.method === 'GET' && url.pathname === '/data/2.5/weather') {
      seen.liveKeys.push(url.searchParams.get('appid'));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({
        coord: { lon: Number(url.searchParams.get('lon')), lat: Number(url.searchParams.get('lat')) },
        weather: [{ id: 800, main: 'Clear', description: 'clear sky', icon: '01d' }],
        main: { temp: 12.5, feels_like: 11.0, temp_min: 11.0, temp_max: 14.0, pressure: 1016, humidity: 60 },
        wind: { speed: 4.2, deg: 200, gust: 7.5 },
        dt: Math.floor(Date.now() / 1000), name: 'Stub', cod: 200,
      }));
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/messages') {
      seen.llmKeys.push(req.headers['x-api-key']);
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', async () => {
        seen.llmBodies.push(body);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const send = (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        send('message_start', { type: 'message_start', message: { id: 'msg_stub', type: 'message', role: 'assistant',
          content: [], model: 'claude-stub', stop_reason: null, usage: { input_tokens: 900, output_tokens: 1 } } });
        send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
        for (const text of PIECES) {
          await sleep(400);
          send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
        }
        send('content_block_stop', { type: 'content_block_stop', index: 0 });
        send('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 30 } });
        send('message_stop', { type: 'message_stop' });
        res.end();
      });
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  stub = await startStub();
  const upstream = `http://127.0.0.1:${stub.address().port}`;
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dataDir = mkdtempSync(join(tmpdir(), 'gridscope-canary-'));
  const added = spawnSync(join(ROOT, 'target/release/gridscope'), ['user', 'add', 'canary-admin', '--role', 'admin'], {
    env: { PATH: process.env.PATH, GRIDSCOPE_DATA_DIR: dataDir },
    input: `${ADMIN_PASSWORD}\n`,
    encoding: 'utf8',
  });
  assert.equal(added.status, 0, added.stderr);
  assert.ok(!(added.stdout + added.stderr).includes(ADMIN_PASSWORD), 'the CLI printed the password');
  server = spawn(join(ROOT, 'target/release/gridscope'), ['serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      GRIDSCOPE_ADDR: `127.0.0.1:${port}`,
      GRIDSCOPE_SITE_ROOT: join(ROOT, 'target/site'),
      GRIDSCOPE_DATA_DIR: dataDir,
      GRIDSCOPE_DEMO_GRID: join(ROOT, 'data/grids/mv_oberrhein'),
      GRIDSCOPE_LOG_FORMAT: 'json',
      GRIDSCOPE_LOG_LEVEL: 'debug',
      GRIDSCOPE_LLM_PROVIDER: 'anthropic',
      GRIDSCOPE_LLM_API_KEY: LLM_KEY,
      GRIDSCOPE_LLM_BASE_URL: upstream,
      GRIDSCOPE_LLM_MODEL: 'claude-stub',
      GRIDSCOPE_LIVE_API_KEY: LIVE_KEY,
      GRIDSCOPE_LIVE_BASE_URL: upstream,
      GRIDSCOPE_LIVE_CALLS_PER_MINUTE: '600',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (c) => { logs += c; });
  server.stderr.on('data', (c) => { logs += c; });
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch { /* not listening yet */ }
    assert.equal(server.exitCode, null, `the server exited:\n${logs}`);
    await sleep(200);
  }
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  await new Promise((r) => (server?.exitCode !== null ? r() : server.once('exit', r)));
  stub?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Fails if any canary is in `text`, naming where. */
function assertClean(where, text) {
  for (const canary of CANARIES) {
    assert.ok(!text.includes(canary), `a key leaked in ${where}`);
  }
}

/** Every response the browser receives on `page`: bodies and headers checked. */
function watch(page, checked) {
  page.on('response', async (response) => {
    const where = `${response.request().method()} ${response.url()}`;
    const headers = JSON.stringify(await response.allHeaders());
    let body = '';
    try {
      body = (await response.body()).toString('latin1');
    } catch { /* redirects and aborted requests have no body */ }
    checked.push({ where, text: headers + body });
  });
}

test('the keys reach the providers and nowhere else: pages, server functions, site files, logs', async () => {
  // The live provider is called with its key (within a few seconds of start).
  for (let i = 0; i < 50 && seen.liveKeys.length === 0; i++) await sleep(200);
  assert.ok(seen.liveKeys.length > 0, 'the live provider was never called');
  assert.ok(seen.liveKeys.every((k) => k === LIVE_KEY));

  const checked = [];
  const context = await browser.newContext({ baseURL: base, ...VIEWPORTS.desktop });
  const page = await context.newPage();
  watch(page, checked);
  const assets = await (await fetch(`${base}/export/assets.json?sort=risk`)).json();
  const rows = Array.isArray(assets) ? assets : assets.assets ?? assets.rows;
  const id = rows[0].id;
  // Signed in as an admin, every page is reachable (the sign-in itself included).
  await page.goto('/login');
  await page.waitForSelector('.app[data-hydrated="true"]', { timeout: 15_000 });
  await page.fill('[data-testid="username"]', 'canary-admin');
  await page.fill('[data-testid="password"]', ADMIN_PASSWORD);
  await page.click('[data-testid="sign-in"]');
  await page.waitForSelector('[data-testid="signed-in-as"][data-role="admin"]', { timeout: 15_000 });
  const pages = ['/', '/map', '/map?color=energised', '/assets', `/assets/${encodeURIComponent(id)}`,
    `/impact?out=${encodeURIComponent(id)}`, '/n1', '/maintenance', '/analyst', '/admin', '/login', '/no-such-page'];
  for (const path of pages) {
    const response = await page.goto(path);
    assert.ok([200, 404].includes(response.status()), `${path}: ${response.status()}`);
    await page.waitForSelector('.app[data-hydrated="true"]', { timeout: 15_000 });
  }

  // The analyst's answer streams in: partial text first, then the whole, labelled.
  await page.goto('/analyst');
  await page.waitForSelector('.app[data-hydrated="true"]');
  await page.fill('[data-testid="question"]', 'Which assets are at highest risk?');
  await page.click('[data-testid="ask"]');
  const answer = page.locator('[data-testid="answer"]');
  await page.waitForSelector('[data-testid="answer"][data-state="streaming"]');
  const partial = await page.textContent('[data-testid="answer-text"]');
  assert.ok(partial.length < PIECES.join('').length, `not streamed: "${partial}"`);
  await page.waitForSelector('[data-testid="answer"][data-state="done"]', { timeout: 15_000 });
  assert.equal(await answer.getAttribute('data-source'), 'model');
  assert.equal(await page.textContent('[data-testid="answer-text"]'), PIECES.join(''));
  assert.match(await page.textContent('[data-testid="answer-source"]'), /Anthropic claude-stub/);
  assert.ok(seen.llmKeys.length === 1 && seen.llmKeys[0] === LLM_KEY, 'the model was called once, with its key');
  // The question went as data; the key is not in what the model was given either.
  assertClean('the prompt', seen.llmBodies.join('\n'));
  await page.waitForTimeout(500);
  await context.close();

  // Every server function and HTTP endpoint, called directly.
  const source = readdirSync(join(ROOT, 'app/src/api')).map((f) => readFileSync(join(ROOT, 'app/src/api', f), 'utf8')).join('\n');
  const endpoints = [...source.matchAll(/endpoint = "([a-z0-9_]+)"/g)].map((m) => m[1]);
  assert.ok(endpoints.length >= 12, `server functions found: ${endpoints}`);
  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ username: 'canary-admin', password: ADMIN_PASSWORD }).toString(),
  });
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const bodies = { analyst_ask: 'question=What+happens+if+' + encodeURIComponent(id) + '+fails%3F', asset: `id=${encodeURIComponent(id)}`,
    impact: `out=${encodeURIComponent(id)}`, set_theme: 'theme=dark', end_sessions: 'username=nobody',
    set_user_enabled: 'username=nobody&enabled=true', login: 'username=canary-admin&password=wrong-password' };
  // As the admin (who may call every one), and anonymously; logout last, or it ends the session.
  const ordered = [...endpoints.filter((n) => n !== 'logout'), 'logout'];
  for (const name of ordered) {
    for (const [body, who] of [[bodies[name] ?? '', cookie], ['garbage=%ZZ&x=' + 'y'.repeat(2000), cookie], [bodies[name] ?? '', null]]) {
      const res = await fetch(`${base}/api/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, ...(who ? { cookie: who } : {}) },
        body,
      });
      checked.push({ where: `POST /api/${name}`, text: JSON.stringify([...res.headers]) + (await res.text()) });
    }
  }
  for (const path of ['/healthz', '/readyz', '/export/assets.csv', '/export/assets.json', '/export/plan.csv',
    '/export/plan.json', '/pkg/nothing.js', '/api/no_such_function']) {
    const res = await fetch(`${base}${path}`);
    checked.push({ where: `GET ${path}`, text: JSON.stringify([...res.headers]) + (await res.text()) });
  }
  assert.ok(checked.length > 80, `only ${checked.length} responses checked`);
  for (const { where, text } of checked) assertClean(where, text);

  // Every file of the built site: HTML, JS, wasm, CSS.
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(join(ROOT, 'target/site'));
  assert.ok(files.some((f) => f.endsWith('.wasm')) && files.some((f) => f.endsWith('.js')));
  for (const file of files) assertClean(file, readFileSync(file).toString('latin1'));

  // Every log line, at debug level, JSON.
  await sleep(300);
  const lines = logs.split('\n').filter((l) => l.trim());
  assert.ok(lines.length > 20, `only ${lines.length} log lines`);
  for (const line of lines) {
    assert.doesNotThrow(() => JSON.parse(line), `not a JSON log line: ${line.slice(0, 200)}`);
    assertClean('the log', line);
  }
});
