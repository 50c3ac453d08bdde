// The stored grid reaches the page: the demo grid loaded into the empty store at start is
// summarised on the overview, with its synthetic attributes labelled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, BASE_URL } from './browser.mjs';

const browser = sharedBrowser();

test('overview summarises the demo grid and labels synthetic data', async () => {
  const { page, problems, close } = await openPage(browser(), 'phone');
  try {
    await page.goto('/');
    await hydrated(page);
    assert.equal(await page.textContent('[data-testid="grid-name"]'), 'mv_oberrhein');
    // Counts as the server function reports them (the converter wrote 179 buses, 181 lines).
    const summary = await (
      await fetch(`${BASE_URL}/api/grid_summary`, { method: 'POST', headers: { Accept: 'application/json' } })
    ).json();
    const buses = summary.counts.find(([kind]) => kind === 'bus')[1];
    assert.equal(buses, 179);
    assert.equal(await page.textContent('[data-testid="count-bus"]'), String(buses));
    assert.equal(await page.textContent('[data-testid="count-switch"]'), '322');
    // The six open switches split the 20 kV grid into two islands, each fed by its own
    // 110 kV infeed: every bus stays supplied.
    assert.equal(await page.textContent('[data-testid="energised-share"]'), '100.0 %');
    assert.equal(summary.buses_energised, summary.buses_total);
    assert.ok(await page.isVisible('[data-testid="synthetic-note"]'));
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});
