// Reliability indices on the overview, checked against an independent computation from the
// demo grid's own CSV files (IEEE 1366 definitions, in plain JavaScript).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sharedBrowser, openPage, hydrated } from './browser.mjs';

const browser = sharedBrowser();
const grid = new URL('../../data/grids/mv_oberrhein/', import.meta.url);

function rows(file) {
  const [header, ...lines] = readFileSync(new URL(file, grid), 'utf8').trim().split('\n');
  const columns = header.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [columns[i], v])));
}

test('SAIFI and SAIDI per year match the incident record', async () => {
  const served = rows('assets.csv')
    .filter((a) => a.kind === 'load')
    .reduce((sum, a) => sum + Number(a.customers || 0), 0);
  const byYear = new Map();
  for (const i of rows('incidents.csv')) {
    const year = new Date(i.started_at).getUTCFullYear();
    const minutes = (new Date(i.restored_at) - new Date(i.started_at)) / 60000;
    const y = byYear.get(year) ?? { interrupted: 0, minutes: 0 };
    y.interrupted += Number(i.customers_affected);
    y.minutes += Number(i.customers_affected) * minutes;
    byYear.set(year, y);
  }
  const { page, problems, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/');
    await hydrated(page);
    await page.waitForSelector('[data-testid="reliability-table"]');
    const table = await page.locator('[data-testid="reliability-table"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.children].map((c) => c.textContent)),
    );
    assert.ok(byYear.size >= 2);
    for (const [year, y] of byYear) {
      const row = table.find((r) => r[0] === String(year));
      assert.ok(row, `year ${year} is listed`);
      assert.equal(row[1], (y.interrupted / served).toFixed(3), `SAIFI ${year}`);
      assert.equal(row[2], (y.minutes / served).toFixed(1), `SAIDI ${year}`);
    }
    // The chart has a text alternative naming every year.
    const desc = await page.textContent('[data-testid="saidi-chart"] desc');
    for (const year of byYear.keys()) assert.ok(desc.includes(String(year)), desc);
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
});
