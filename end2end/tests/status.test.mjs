// The operations status page: operators see the instance's uptime, success rate, store,
// live-data freshness and quota, cache hit ratios and errors by public code; the figures move
// as requests are made; viewers are told to sign in and get no link to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, signIn } from './browser.mjs';

const browser = sharedBrowser();

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: an operator sees how the service is doing`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      // An error with a public code, so the table has something to show.
      const missing = await page.request.post('/api/asset', { form: { id: 'no-such-asset' }, headers: { accept: 'application/json' } });
      assert.equal(missing.status(), 404);
      await signIn(page, kind, 'operator', '/status');
      await page.waitForURL(/\/status$/);
      await page.waitForSelector('[data-testid="service"]');
      const requests = Number(await page.textContent('[data-testid="requests"]'));
      assert.ok(requests > 0, `requests: ${requests}`);
      assert.match(await page.textContent('[data-testid="success-rate"]'), /^\d+\.\d %/);
      assert.match(await page.textContent('[data-testid="store"]'), /embedded store answers \(\d+ ms\)/);
      assert.match(await page.textContent('[data-testid="quota"]'), /\d+ of \d+ calls used this hour \(\d+ left\)/);
      await page.waitForSelector('[data-testid="cache-row"][data-cache="grid"]');
      await page.waitForSelector('[data-testid="error-code-row"][data-code="not_found"]');
      // Refreshing counts this page's own requests too.
      await press(page, kind, '[data-testid="refresh-status"]');
      await page.waitForFunction(
        (before) => Number(document.querySelector('[data-testid="requests"]')?.textContent) > before,
        requests,
      );
      // Each label sits right above its own value (the labels paired with the wrong values
      // when the facts grid held bare <dt>/<dd> cells three across).
      const misplaced = await page.evaluate(() =>
        [...document.querySelectorAll('main dl.facts dt')]
          .map((dt) => [dt, dt.nextElementSibling])
          .filter(([dt, dd]) => {
            const [a, b] = [dt.getBoundingClientRect(), dd.getBoundingClientRect()];
            return Math.abs(a.left - b.left) > 1 || b.top < a.bottom - 1 || b.top - a.bottom > 12;
          })
          .map(([dt]) => dt.textContent),
      );
      assert.deepEqual(misplaced, [], 'labels away from their values');
      const nav = await page.textContent('nav.nav');
      assert.ok(nav.includes('Status'), nav);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

test('a viewer is asked to sign in and has no link to the status page', async () => {
  const { page, problems, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/status');
    await hydrated(page);
    await page.waitForSelector('[data-error-code="unauthorized"] >> nth=0');
    assert.ok(!(await page.textContent('nav.nav')).includes('Status'));
    assert.deepEqual(problems.filter((p) => !p.includes('401')), []);
  } finally {
    await close();
  }
});
