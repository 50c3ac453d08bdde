// Journeys as people make them, on the shipped defaults (scripts/e2e lifts no limit): a phone
// walks every public page by tapping the nav bar, twice, then back through history and forward
// again; then 20 fresh visitors from the same address (as behind a carrier's NAT) open two pages
// each at the same time. No answer may be refused or fail, every page must hydrate, and the
// console must stay clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, navigate, launch, VIEWPORTS, BASE_URL } from './browser.mjs';

const browser = sharedBrowser();

/** The public pages in the nav bar, with the heading each shows. */
const PAGES = [
  ['/map', 'Map'],
  ['/assets', 'Assets'],
  ['/impact', 'Impact explorer'],
  ['/n1', 'N-1 screening'],
  ['/maintenance', 'Maintenance planner'],
  ['/', 'Overview'],
];

/** Records every answer of 400 or more a page receives. */
function watchFailures(page) {
  const failures = [];
  page.on('response', (r) => {
    if (r.status() >= 400) failures.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => failures.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  return failures;
}

/** Waits for the page of `heading` to show, with its data loaded and no error notice. */
async function shows(page, heading, how) {
  await page.waitForSelector(`main h1:text-is("${heading}")`, { timeout: 15_000 });
  await page.waitForLoadState('networkidle');
  const errors = await page.locator('main .error[role="alert"]').allTextContents();
  assert.deepEqual(errors, [], `${heading} (${how}) shows an error`);
}

test('phone: every public page reached by tapping the nav bar, twice, then back and forward', async () => {
  const { page, problems, close } = await openPage(browser(), 'phone');
  const failures = watchFailures(page);
  try {
    await page.goto('/');
    await hydrated(page);
    const visited = ['Overview'];
    for (let round = 1; round <= 2; round++) {
      for (const [href, heading] of PAGES) {
        await navigate(page, 'phone', href);
        await shows(page, heading, `round ${round}, from the nav bar`);
        visited.push(heading);
      }
    }
    // Back through the whole history, then forward again to the end.
    for (let i = visited.length - 2; i >= 0; i--) {
      await page.goBack();
      await shows(page, visited[i], 'back');
    }
    for (let i = 1; i < visited.length; i++) {
      await page.goForward();
      await shows(page, visited[i], 'forward');
    }
    assert.deepEqual(failures, [], 'answers refused or failed during the walk');
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('20 visitors behind one address open two pages each at the same time', async () => {
  // A browser of their own: 20 contexts at once, none sharing a cache or cookies.
  const crowd = await launch();
  try {
    const visit = async (i) => {
      const context = await crowd.newContext({ baseURL: BASE_URL, ...VIEWPORTS.phone });
      const page = await context.newPage();
      const failures = watchFailures(page);
      const problems = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
      });
      try {
        const [first, second] = [PAGES[i % PAGES.length], PAGES[(i + 3) % PAGES.length]];
        for (const [href, heading] of [first, second]) {
          const response = await page.goto(href, { timeout: 60_000 });
          assert.equal(response.status(), 200, `visitor ${i}: ${href}`);
          await page.waitForSelector('.app[data-hydrated="true"]', { timeout: 60_000 });
          await page.waitForSelector(`main h1:text-is("${heading}")`);
          // The page done loading (its lazy chunks too) before the next: a request still in
          // flight when a page is left is cancelled by the browser, which is no failure.
          await page.waitForLoadState('networkidle');
        }
        return { i, failures, problems };
      } finally {
        await context.close();
      }
    };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => visit(i)));
    for (const { i, failures, problems } of results) {
      assert.deepEqual(failures, [], `visitor ${i}: answers refused or failed`);
      assert.deepEqual(problems, [], `visitor ${i}: console`);
    }
  } finally {
    await crowd.close();
  }
});

test('a repeat page view fetches no static file over the network', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    // A first visit of both pages, with every file (the lazy page's chunks too) fully loaded.
    for (const path of ['/', '/n1']) {
      await page.goto(path);
      await hydrated(page);
      await page.waitForLoadState('networkidle');
    }
    // From now on every /pkg/ file must come from the browser's cache, not the server: the
    // DevTools protocol says where each answer came from.
    const responses = [];
    const fromCache = new Set();
    const client = await page.context().newCDPSession(page);
    await client.send('Network.enable');
    // A memory-cache hit is announced by requestServedFromCache; a disk-cache hit by the
    // response's fromDiskCache. Anything else went to the server.
    client.on('Network.requestServedFromCache', (e) => fromCache.add(e.requestId));
    client.on('Network.responseReceived', (e) => {
      if (new URL(e.response.url).pathname.startsWith('/pkg/')) responses.push(e);
    });
    await page.goto('/');
    await hydrated(page);
    await page.goto('/n1');
    await hydrated(page);
    await page.waitForLoadState('networkidle');
    const viaNetwork = responses
      .filter((e) => !e.response.fromDiskCache && !fromCache.has(e.requestId))
      .map((e) => `${e.response.status} ${e.response.url}`);
    assert.ok(responses.length > 0, 'the pages used no static file at all');
    assert.deepEqual(viaNetwork, [], 'static files fetched again over the network');
    const script = await page.evaluate(() => document.querySelector('link[rel="modulepreload"]').getAttribute('href'));
    assert.match(script, /^\/pkg\/gridscope\.[A-Za-z0-9_-]{22}\.js$/, 'the script has a content-hashed name');
    const immutable = await fetch(`${BASE_URL}${script}`);
    assert.equal(immutable.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  } finally {
    await close();
  }
});
