// The walking skeleton in a real browser: server rendering, hydration, a server-function
// round trip, the 404 page, and a layout that fits a phone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, BASE_URL } from './browser.mjs';

const browser = sharedBrowser();

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: overview hydrates and Refresh shows the server function's answer`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      const response = await page.goto('/');
      assert.equal(response.status(), 200);
      await hydrated(page);
      assert.equal(await page.textContent('h1'), 'Overview');
      assert.match(await page.title(), /Overview · Gridscope/);

      const health = await (await fetch(`${BASE_URL}/healthz`)).json();
      assert.equal(await page.textContent('[data-testid="version"]'), health.version);
      assert.equal(await page.textContent('[data-testid="refresh-count"]'), '0');

      // The click must go to the server and the page must show what the server answered: the
      // cards, rendered there (the overview's only island is its freshness bar).
      const answered = page.waitForResponse(
        (r) => r.url().endsWith('/api/overview_cards') && r.request().method() === 'POST',
      );
      await press(page, kind, '[data-testid="refresh-status"]');
      const fromServer = await (await answered).json();
      await page.waitForSelector('[data-testid="refresh-count"]:text-is("1")');
      const uptime = /data-testid="uptime" data-seconds="(\d+)"/.exec(fromServer.html)?.[1];
      assert.ok(uptime, 'the answer has the uptime card');
      await page.waitForFunction(
        (s) => document.querySelector('[data-testid="uptime"]')?.dataset.seconds === s,
        uptime,
      );
      assert.equal(await page.textContent('[data-testid="version"]'), health.version);
      assert.match(fromServer.html, new RegExp(`data-testid="version">${health.version}<`));

      // Nothing wider than the screen: no sideways scrolling of the page.
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the ${kind} viewport`);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test(`${kind}: an unknown address shows the not-found page with status 404`, async () => {
    const { page, close } = await openPage(browser(), kind);
    try {
      const response = await page.goto('/no/such/page');
      assert.equal(response.status(), 404);
      await hydrated(page);
      assert.equal(await page.textContent('h1'), 'Page not found');
      await press(page, kind, '[data-testid="not-found"] a');
      await page.waitForURL(`${BASE_URL}/`);
      await page.waitForSelector('h1:text-is("Overview")');
    } finally {
      await close();
    }
  });
}
