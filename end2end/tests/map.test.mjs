// The map at both viewports: every bus of the demo grid drawn from its real coordinates,
// colour by energised state through the URL, zoom changes the view, a tap selects a bus;
// dragging pans and pinching zooms.
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
      // The colouring is a link: a new page, which is usable once its map island is hydrated.
      await hydrated(page);
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

      // A tap selects a bus and says what it is; from there, its page.
      const id = await page.getAttribute('[data-testid="map-bus"] >> nth=5', 'data-id');
      const bus = page.locator('[data-testid="map-bus"]').nth(5);
      if (kind === 'phone') await bus.tap();
      else await bus.click();
      await page.waitForSelector(`[data-testid="map-bus"][data-id="${id}"].selected`);
      assert.equal(await page.getAttribute('[data-testid="impact-selected"]', 'href'), `/impact?out=${id}`);
      assert.match(page.url(), /\/map/, 'a tap selects, it does not navigate');
      await press(page, kind, '[data-testid="open-selected"]');
      await page.waitForURL(new RegExp(`/assets/${id}$`));
      await page.waitForSelector('[data-testid="asset-kind"]:text-is("bus")');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

/** The map's view box as numbers [x, y, width, height]. */
const viewBox = (page) =>
  page.getAttribute('[data-testid="grid-map"]', 'viewBox').then((v) => v.split(' ').map(Number));

test('desktop: dragging the map pans it, and a drag that ends on a bus does not select it', async () => {
  const { page, problems, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/map');
    await hydrated(page);
    const [x0, y0, w0] = await viewBox(page);
    const box = await page.locator('[data-testid="grid-map"]').boundingBox();
    const start = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    await page.mouse.move(start.x, start.y);
    await page.mouse.down();
    await page.mouse.move(start.x - 100, start.y - 50, { steps: 10 });
    await page.mouse.up();
    const [x1, y1, w1] = await viewBox(page);
    assert.equal(w1, w0, 'panning does not zoom');
    // Dragging left and up moves the view right and down, by the dragged distance in map units.
    const units = w0 / box.width;
    assert.ok(Math.abs(x1 - x0 - 100 * units) < 2, `x ${x0} → ${x1}`);
    assert.ok(Math.abs(y1 - y0 - 50 * units) < 2, `y ${y0} → ${y1}`);
    assert.equal(await page.locator('[data-testid="map-bus"].selected').count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('phone: pinching with two fingers zooms the map in', async () => {
  const { page, problems, close } = await openPage(browser(), 'phone');
  try {
    await page.goto('/map');
    await hydrated(page);
    const [, , w0] = await viewBox(page);
    const box = await page.locator('[data-testid="grid-map"]').boundingBox();
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    // Two touch points moving apart, as the browser's touch input reports them.
    const cdp = await page.context().newCDPSession(page);
    const touch = (type, spread) =>
      cdp.send('Input.dispatchTouchEvent', {
        type,
        touchPoints:
          type === 'touchEnd'
            ? []
            : [
                { x: cx - spread, y: cy, id: 1 },
                { x: cx + spread, y: cy, id: 2 },
              ],
      });
    await touch('touchStart', 20);
    for (let spread = 25; spread <= 80; spread += 5) await touch('touchMove', spread);
    await touch('touchEnd', 0);
    await page.waitForFunction((w) => Number(document.querySelector('[data-testid="grid-map"]').getAttribute('viewBox').split(' ')[2]) < w, w0);
    const zoom = Number(await page.getAttribute('[data-testid="grid-map"]', 'data-zoom'));
    // The fingers spread from 40 to 160 px apart: four times closer.
    assert.ok(zoom > 3.5 && zoom < 4.5, `zoom ${zoom}`);
    assert.match(await page.getAttribute('[data-testid="grid-map"]', 'class'), /zoomed/);
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});

test('desktop, keyboard: a bus chosen from the list is selected as a tap on the map selects it', async () => {
  const { page, problems, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/map');
    await hydrated(page);
    await page.focus('[data-testid="bus-list"] summary');
    await page.keyboard.press('Enter');
    const item = page.locator('[data-testid="bus-list-item"]').nth(3);
    const id = await item.getAttribute('data-id');
    const name = await item.textContent();
    await item.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector(`[data-testid="map-bus"][data-id="${id}"].selected`);
    assert.equal(await page.locator('[data-testid="map-bus"].selected').count(), 1);
    assert.equal(await page.textContent('[data-testid="selected-name"]'), name);
    assert.match(page.url(), /\/map$/, 'choosing selects, it does not navigate');
    // Choosing another moves the mark.
    const other = page.locator('[data-testid="bus-list-item"]').nth(7);
    const otherId = await other.getAttribute('data-id');
    await other.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector(`[data-testid="map-bus"][data-id="${otherId}"].selected`);
    assert.equal(await page.locator('[data-testid="map-bus"].selected').count(), 1);
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});
