// N-1 screening and the impact explorer on the demo grid, at both viewports: the ranking is
// by customers, and simulating the top single point of failure agrees with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press } from './browser.mjs';

const browser = sharedBrowser();

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: N-1 list ranks by customers and its top entry simulates consistently`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      assert.equal((await page.goto('/n1')).status(), 200);
      await hydrated(page);
      // 177 single-branch outages island buses in mv_oberrhein as operated (networkx agrees:
      // data/references/mv_oberrhein.json).
      assert.equal(await page.getAttribute('[data-testid="n1-count"]', 'data-total'), '177');
      const customers = (await page.locator('[data-testid="n1-row"]').evaluateAll(
        (rows) => rows.map((r) => Number(r.dataset.customers)),
      ));
      assert.deepEqual([...customers].sort((a, b) => b - a), customers, 'most customers first');
      assert.ok(customers[0] > 0);

      const top = page.locator('[data-testid="n1-row"]').first();
      const id = await top.getAttribute('data-id');
      await press(page, kind, '[data-testid="n1-row"] >> nth=0 >> [data-testid="simulate"]');
      await page.waitForURL(new RegExp(`/impact\\?out=${id}$`));
      await page.waitForSelector('[data-testid="impact-customers"]');
      assert.equal(
        Number(await page.getAttribute('[data-testid="impact-customers"]', 'data-value')),
        customers[0],
        'the impact explorer and the N-1 list agree',
      );
      assert.ok((await page.locator('[data-testid="impact-assets"] li').count()) > 0);
      // Who loses supply, by name and customers (it listed raw ids before), adding up to the
      // customers lost, with the regions.
      const affected = await page.locator('[data-testid="affected-row"]').evaluateAll((rows) =>
        rows.map((r) => [r.querySelector('a').textContent, Number(r.cells[2].textContent)]));
      assert.ok(affected.length > 0 && affected.every(([name]) => name && !/^load-\d+$/.test(name)), JSON.stringify(affected));
      const listed = affected.reduce((sum, [, n]) => sum + n, 0);
      if (affected.length < 100) assert.equal(listed, customers[0], 'the listed connections hold every customer lost');
      else assert.ok(listed <= customers[0]);
      assert.match(await page.textContent('[data-testid="affected-regions"]'), /Region \d+: \d+ customers/);
      // The buses cut off form islands (a branch outage takes out no bus), and the map shows
      // exactly those buses as losing supply.
      const lostBuses = Number(await page.textContent('[data-testid="impact-buses"]'));
      const sizes = await page.locator('[data-testid="impact-island"]').evaluateAll((li) => li.map((l) => Number(l.dataset.size)));
      assert.ok(sizes.length >= 1);
      assert.equal(sizes.reduce((a, b) => a + b, 0), lostBuses);
      await page.waitForSelector('[data-testid="impact-map"]');
      assert.equal(await page.locator('[data-testid="impact-map-bus"][data-state="impact-lost"]').count(), lostBuses);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

test('the impact explorer takes several assets and explains bad ids', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/impact');
    await hydrated(page);
    await page.fill('input[name="out"]', 'trafo-114, trafo-142');
    await page.click('[data-testid="simulate-outage"]');
    await page.waitForURL(/out=trafo-114/);
    await page.waitForSelector('[data-testid="impact-buses"]');
    // Both HV/MV transformers out: every 20 kV bus loses supply (only the 110 kV buses keep it).
    assert.equal(Number(await page.textContent('[data-testid="impact-buses"]')), 177);
    // The islands together hold every bus that lost supply.
    const sizes = await page.locator('[data-testid="impact-island"]').evaluateAll((li) => li.map((l) => Number(l.dataset.size)));
    assert.equal(sizes.reduce((a, b) => a + b, 0), 177);
    await page.goto('/impact?out=nope');
    await hydrated(page);
    assert.equal(await page.getAttribute('[role="alert"]', 'data-error-code'), 'not_found');
  } finally {
    await close();
  }
});
