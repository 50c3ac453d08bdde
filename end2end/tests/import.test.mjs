// Operator data import in the browser: a file with errors is reported precisely (nothing
// written), the valid files are previewed and applied, and the grid changes; an assets-only
// file keeps the stored history and its one removal needs confirming; the same files again
// are recognised as already applied. The demo grid is restored at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sharedBrowser, openPage, hydrated, press, signIn } from './browser.mjs';

const browser = sharedBrowser();
const demo = (name) => readFileSync(new URL(`../../data/grids/mv_oberrhein/${name}`, import.meta.url));
const csv = (name, text) => ({ name, mimeType: 'text/csv', buffer: Buffer.from(text) });

async function check(page, kind, files) {
  for (const [table, file] of Object.entries(files)) {
    await page.setInputFiles(`[data-testid="file-${table}"]`, file);
  }
  await press(page, kind, '[data-testid="check-import"]');
}

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: an operator sees the errors, then applies the valid files and the grid changes`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      await signIn(page, kind, 'operator', '/import');
      await page.waitForURL(/\/import$/);
      await hydrated(page);
      const assets = demo('assets.csv').toString('utf8');
      // Errors: a dangling reference and a formula cell. Nothing is fixed.
      const broken = assets
        .replace('line-0,line,Line 0,,,bus-238,bus-109', 'line-0,line,Line 0,,,bus-238,bus-nowhere')
        .replace('bus-1,bus,Bus 1,', 'bus-1,bus,=Bus 1,');
      await check(page, kind, { assets: csv('broken.csv', broken) });
      await page.waitForSelector('[data-testid="import-report"][data-valid="false"]');
      const issues = await page.locator('[data-testid="import-issue"]').allTextContents();
      assert.ok(issues.some((t) => t.includes('formula')), issues.join('\n'));
      assert.match(await page.textContent('[data-testid="import-issue-count"]'), /problem/);
      assert.equal(await page.locator('[data-testid="apply-import"]').count(), 0, 'no apply for an invalid file');
      const report = await page.request.get(await page.getAttribute('[data-testid="import-report-csv"]', 'href'));
      assert.equal(report.status(), 200);
      assert.match(await report.text(), /broken\.csv,3,name,/);

      // The valid files, with one name changed: previewed, then applied.
      const name = `Line 0 (${kind} import)`;
      await page.reload();
      await hydrated(page);
      await check(page, kind, {
        assets: csv('assets.csv', assets.replace('line-0,line,Line 0,', `line-0,line,${name},`)),
        maintenance: { name: 'maintenance.csv', mimeType: 'text/csv', buffer: demo('maintenance.csv') },
        incidents: { name: 'incidents.csv', mimeType: 'text/csv', buffer: demo('incidents.csv') },
      });
      await page.waitForSelector('[data-testid="import-report"][data-valid="true"]');
      const change = await page.textContent('[data-testid="import-change"][data-table="assets"]');
      assert.match(change, /~line-0/, change);
      await press(page, kind, '[data-testid="apply-import"]');
      await page.waitForSelector('[data-testid="import-done"]');
      assert.match(await page.textContent('[data-testid="import-done"]'), /Applied as revision \d+/);
      await page.goto('/assets/line-0');
      await hydrated(page);
      await page.waitForSelector(`h1:has-text("${name}")`);

      // Only the assets file, without one generator: the stored maintenance history stays,
      // but for the generator's own records, and that removal is said first, in words, and
      // applied only once confirmed (it deleted all history, unasked, before).
      await page.goto('/import');
      await hydrated(page);
      const withoutGenerator = assets.split('\n').filter((l) => !l.startsWith('sgen-48,')).join('\n');
      await check(page, kind, { assets: csv('assets.csv', withoutGenerator) });
      await page.waitForSelector('[data-testid="import-report"][data-valid="true"]');
      const removals = await page.textContent('[data-testid="import-removals"]');
      assert.match(removals, /Applying removes 1 asset and 4 maintenance records\./, removals);
      assert.match(removals, /sgen-48/, removals);
      const kept = await page.locator('[data-testid="import-kept"]').allTextContents();
      assert.ok(kept.some((t) => /No maintenance file: the 381 stored maintenance records are kept/.test(t)), kept.join('\n'));
      assert.ok(kept.some((t) => /No incidents file: the \d+ stored incidents are kept/.test(t)), kept.join('\n'));
      assert.ok(await page.isDisabled('[data-testid="apply-import"]'), 'a removal waits for its confirmation');
      await press(page, kind, '[data-testid="confirm-removals"]');
      await press(page, kind, '[data-testid="apply-import"]');
      await page.waitForSelector('[data-testid="import-done"]');
      assert.match(await page.textContent('[data-testid="import-done"]'), /Applied as revision \d+/);

      // Put the demo grid back (and see that checking it again is recognised as applied).
      await page.goto('/import');
      await hydrated(page);
      const original = {
        assets: { name: 'assets.csv', mimeType: 'text/csv', buffer: demo('assets.csv') },
        maintenance: { name: 'maintenance.csv', mimeType: 'text/csv', buffer: demo('maintenance.csv') },
        incidents: { name: 'incidents.csv', mimeType: 'text/csv', buffer: demo('incidents.csv') },
      };
      await check(page, kind, original);
      await page.waitForSelector('[data-testid="import-report"][data-valid="true"]');
      await press(page, kind, '[data-testid="apply-import"]');
      await page.waitForSelector('[data-testid="import-done"]');
      await page.reload();
      await hydrated(page);
      await check(page, kind, original);
      await page.waitForSelector('[data-testid="import-unchanged"]');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

test('a viewer cannot import: no link, and the server refuses', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/');
    await hydrated(page);
    assert.ok(!(await page.textContent('nav.nav')).includes('Import'));
    const response = await page.request.post('/import/preview', {
      multipart: { assets: { name: 'assets.csv', mimeType: 'text/csv', buffer: demo('assets.csv') } },
    });
    assert.equal(response.status(), 401);
  } finally {
    await close();
  }
});
