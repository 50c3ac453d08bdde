// Overview freshness: the auto-refresh countdown, its pause while the tab is hidden, the
// stale indicator, and the colour theme toggle that the server remembers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press } from './browser.mjs';

const browser = sharedBrowser();

const remaining = (page) => page.getAttribute('[data-testid="countdown"]', 'data-remaining').then(Number);
const checks = (page) => page.textContent('[data-testid="refresh-count"]').then(Number);

/** Makes the page believe its tab is hidden (or visible again), as a browser would say. */
async function setHidden(page, hidden) {
  await page.evaluate((h) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: the countdown refreshes the overview, pauses while hidden, and stale data is flagged`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      await page.goto('/?refresh=5');
      await hydrated(page);
      assert.equal(await page.getAttribute('[data-testid="freshness"]', 'data-interval'), '5');
      const updated = await page.getAttribute('[data-testid="last-updated"]', 'datetime');
      assert.ok(Math.abs(Date.now() - Date.parse(updated)) < 60_000, `last updated ${updated} is now`);
      assert.equal(await checks(page), 0);
      // No live-data provider on the test server: the card says so, it shows no made-up data.
      assert.equal(await page.getAttribute('[data-testid="live-conditions"]', 'data-state'), 'not_configured');
      assert.match(await page.textContent('[data-testid="live-conditions"]'), /Not configured/);
      // The countdown runs and refreshes by itself.
      await page.waitForSelector('[data-testid="countdown"]:has-text("Next refresh in")');
      await page.waitForFunction(() => document.querySelector('[data-testid="refresh-count"]').textContent === '1', null, { timeout: 8_000 });
      // The refresh brings newer data.
      await page.waitForFunction(
        (t) => Date.parse(document.querySelector('[data-testid="last-updated"]').getAttribute('datetime')) > Date.parse(t),
        updated,
        { timeout: 5_000 },
      );

      // Hidden: the countdown stops and nothing is fetched.
      await setHidden(page, true);
      await page.waitForSelector('[data-testid="countdown"][data-paused="true"]');
      assert.match(await page.textContent('[data-testid="countdown"]'), /paused/);
      const frozen = await remaining(page);
      const before = await checks(page);
      await page.waitForTimeout(2_500);
      assert.equal(await remaining(page), frozen);
      assert.equal(await checks(page), before);
      // Data older than two intervals is flagged as stale.
      await page.waitForSelector('[data-testid="stale"]', { timeout: 12_000 });

      // Visible again: overdue data is refreshed at once and is no longer stale.
      await setHidden(page, false);
      await page.waitForFunction((n) => Number(document.querySelector('[data-testid="refresh-count"]').textContent) > n, before, { timeout: 3_000 });
      await page.waitForSelector('[data-testid="stale"]', { state: 'detached', timeout: 5_000 });
      assert.equal(await page.getAttribute('[data-testid="countdown"]', 'data-paused'), 'false');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test(`${kind}: the theme toggle switches at once and the server remembers it`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      await page.emulateMedia({ colorScheme: 'light' });
      await page.goto('/assets');
      await hydrated(page);
      const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const theme = () => page.evaluate(() => document.documentElement.getAttribute('data-theme'));
      const light = await background();
      assert.equal(await theme(), null, 'follows the system at first');
      assert.match(await page.textContent('[data-testid="theme-toggle"]'), /system/);

      await press(page, kind, '[data-testid="theme-toggle"]');
      assert.equal(await theme(), 'dark');
      assert.notEqual(await background(), light);
      await page.waitForFunction(() => document.cookie.includes('gridscope_theme=dark'));

      // The server renders the chosen theme: no flash of the wrong one.
      const html = await (await page.request.get('/assets')).text();
      assert.match(html, /<html lang="en" data-theme="dark"/);
      await page.reload();
      await hydrated(page);
      assert.equal(await theme(), 'dark');
      assert.match(await page.textContent('[data-testid="theme-toggle"]'), /dark/);

      // Light, then back to the system's choice (the cookie goes).
      await press(page, kind, '[data-testid="theme-toggle"]');
      assert.equal(await theme(), 'light');
      await press(page, kind, '[data-testid="theme-toggle"]');
      assert.equal(await theme(), null);
      await page.waitForFunction(() => !document.cookie.includes('gridscope_theme'));
      assert.equal(await background(), light);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}
