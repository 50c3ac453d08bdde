// The map at both viewports: every bus of the demo grid drawn from its real coordinates,
// colour by energised state through the URL, zoom changes the view, a tap opens the bus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press } from './browser.mjs';

const browser = sharedBrowser();

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: map draws the grid, switches colouring, zooms and opens a bus`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      assert.equal((await page.goto('/map')).status(), 200);
      await hydrated(page);
      assert.equal(await page.locator('[data-testid="map-bus"]').count(), 179);
      assert.equal(await page.locator('[data-testid="map-branch"]').count(), 183, '181 lines + 2 transformers');
      assert.match(await page.textContent('[data-testid="map-kind"]'), /Real coordinates/);
      // Risk colouring by default; energised colouring by URL.
      assert.match(await page.getAttribute('[data-testid="map-bus"] >> nth=0', 'class'), /^risk-/);
      await press(page, kind, '[data-testid="color-energised"]');
      await page.waitForURL(/color=energised/);
      await page.waitForSelector('[data-testid="map-bus"].state-on');
      assert.equal(await page.locator('[data-testid="map-bus"].state-off').count(), 0, 'all buses are supplied');

      const before = await page.getAttribute('[data-testid="grid-map"]', 'viewBox');
      await press(page, kind, '[data-testid="zoom-in"]');
      await page.waitForFunction(
        (b) => document.querySelector('[data-testid="grid-map"]').getAttribute('viewBox') !== b,
        before,
      );
      await press(page, kind, '[data-testid="zoom-reset"]');
      await page.waitForFunction(
        (b) => document.querySelector('[data-testid="grid-map"]').getAttribute('viewBox') === b,
        before,
      );

      const id = await page.getAttribute('[data-testid="map-bus"] >> nth=5', 'data-id');
      await page.locator('[data-testid="map-bus"]').nth(5).click();
      await page.waitForURL(new RegExp(`/assets/${id}$`));
      await page.waitForSelector('[data-testid="asset-kind"]:text-is("bus")');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}
