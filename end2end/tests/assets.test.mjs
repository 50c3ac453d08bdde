// Assets list and asset detail on the demo grid, at desktop and phone sizes: filters and
// paging through the URL, and the risk breakdown of one asset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, BASE_URL } from './browser.mjs';

const browser = sharedBrowser();

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: filter the asset list, page through it, open one asset`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      const response = await page.goto('/assets');
      assert.equal(response.status(), 200);
      await hydrated(page);
      const total = Number(await page.getAttribute('[data-testid="result-count"]', 'data-total'));
      assert.equal(total, 988, 'every asset of mv_oberrhein is listed');
      assert.equal(await page.locator('[data-testid="asset-row"]').count(), 25);
      // Highest risk first.
      const risks = (await page.locator('[data-testid="risk"]').allTextContents()).map(Number);
      assert.deepEqual([...risks].sort((a, b) => b - a), risks);

      // Filter by kind through the form: the URL carries it, the server answers it.
      await page.selectOption('select[name="kind"]', 'switch');
      await press(page, kind, '[data-testid="apply-filters"]');
      await page.waitForURL(/kind=switch/);
      await page.waitForSelector('[data-testid="result-count"][data-total="322"]');
      const kinds = await page.locator('[data-testid="asset-row"] td[data-label="Kind"]').allTextContents();
      assert.ok(kinds.length > 0 && kinds.every((k) => k === 'switch'), kinds.join(','));

      // Next page keeps the filter.
      await press(page, kind, '[data-testid="next-page"]');
      await page.waitForURL(/page=2/);
      assert.match(page.url(), /kind=switch/);
      await page.waitForSelector('[data-testid="result-count"]:has-text("page 2 of 13")');

      // Open the first asset: its risk breakdown adds up to its score.
      const first = page.locator('[data-testid="asset-row"] a').first();
      const id = await page.locator('[data-testid="asset-row"]').first().getAttribute('data-id');
      await first.click();
      await page.waitForURL(new RegExp(`/assets/${id}$`));
      await page.waitForSelector('[data-testid="risk-factors"]');
      assert.equal(await page.textContent('[data-testid="asset-kind"]'), 'switch');
      const factors = await page.locator('[data-testid="risk-factor"]').count();
      assert.equal(factors, 5);
      assert.ok((await page.locator('[data-testid="neighbours"] li').count()) >= 2, 'a switch has its bus and its line');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

test('a deep link to an asset renders on the server with its data', async () => {
  const html = await (await fetch(`${BASE_URL}/assets/trafo-114`)).text();
  assert.match(html, /data-testid="asset-name"/);
  assert.match(html, /data-testid="risk-score"/);
});

test('an unknown asset says not_found', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/assets/no-such-asset');
    await hydrated(page);
    assert.equal(await page.getAttribute('[role="alert"]', 'data-error-code'), 'not_found');
  } finally {
    await close();
  }
});

test('the export links carry the filter and contain every matching asset', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/assets?kind=switch&sort=risk');
    await hydrated(page);
    const firstOnPage = await page.getAttribute('[data-testid="asset-row"] >> nth=0', 'data-id');
    const csvHref = await page.getAttribute('[data-testid="export-csv"]', 'href');
    assert.match(csvHref, /^\/export\/assets\.csv\?kind=switch&sort=risk$/);
    const csv = await fetch(`${BASE_URL}${csvHref}`);
    assert.match(csv.headers.get('content-type'), /text\/csv/);
    const lines = (await csv.text()).trim().split('\n');
    assert.equal(lines[0], 'id,name,kind,voltage_kv,region,risk,band');
    assert.equal(lines.length, 1 + 322, 'all pages, not just the first');
    assert.ok(lines[1].startsWith(`${firstOnPage},`), 'same order as the page');
    const json = await (await fetch(`${BASE_URL}${await page.getAttribute('[data-testid="export-json"]', 'href')}`)).json();
    assert.equal(json.length, 322);
    assert.ok(json.every((r) => r.kind === 'switch'));
  } finally {
    await close();
  }
});
