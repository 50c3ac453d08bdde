// Maintenance planner on the demo grid: the plan respects the budget, the horizon and the
// crews; the inputs live in the URL; the export is the plan on the page; bad input is
// refused with its public code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, BASE_URL } from './browser.mjs';

const browser = sharedBrowser();

/** Every job row as numbers, from the data attributes the page renders. */
async function jobs(page) {
  return page.locator('[data-testid="plan-row"]').evaluateAll((rows) =>
    rows.map((r) => ({
      id: r.dataset.id,
      crew: Number(r.dataset.crew),
      day: Number(r.dataset.day),
      days: Number(r.dataset.days),
      cost: Number(r.dataset.cost),
      before: Number(r.dataset.before),
    })),
  );
}

function assertFeasible(rows, { crews, workingDays, budget }) {
  const spent = rows.reduce((s, r) => s + r.cost, 0);
  assert.ok(spent <= budget * (1 + 1e-9), `spent ${spent} of ${budget}`);
  for (const r of rows) {
    assert.ok(r.crew >= 1 && r.crew <= crews, `crew ${r.crew}`);
    assert.ok(r.day + r.days <= workingDays, `${r.id} ends after the horizon`);
  }
  for (const a of rows) {
    for (const b of rows) {
      if (a !== b && a.crew === b.crew) {
        assert.ok(a.day + a.days <= b.day || b.day + b.days <= a.day, `crew ${a.crew} double-booked: ${a.id} ${b.id}`);
      }
    }
  }
  assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'an asset twice');
}

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: plan with the defaults, then with one crew and a small budget`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      const response = await page.goto('/maintenance');
      assert.equal(response.status(), 200);
      await hydrated(page);
      let rows = await jobs(page);
      assert.ok(rows.length > 0, 'the demo grid has worn assets to plan for');
      // Defaults: 12 weeks from today (60 working days), 3 crews, 250 000.
      assertFeasible(rows, { crews: 3, workingDays: 60, budget: 250_000 });
      assert.equal(await page.locator('[data-testid="timeline-span"]').count(), rows.length);
      const starts = rows.map((r) => r.day);
      assert.deepEqual([...starts].sort((a, b) => a - b), starts, 'jobs in order of start');

      await page.fill('input[name="start"]', '2026-11-23');
      await page.fill('input[name="weeks"]', '2');
      await page.fill('input[name="crews"]', '1');
      await page.fill('input[name="budget"]', '20000');
      await press(page, kind, '[data-testid="make-plan"]');
      await page.waitForURL(/crews=1/);
      assert.match(page.url(), /weeks=2/);
      assert.match(page.url(), /budget=20000/);
      await page.waitForSelector('[data-testid="plan-crew-days"]:has-text("of 10")');
      rows = await jobs(page);
      assert.ok(rows.length > 0);
      assertFeasible(rows, { crews: 1, workingDays: 10, budget: 20_000 });
      assert.ok((await page.locator('[data-testid="deferred-row"]').count()) > 0, 'the rest is listed as left out');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

test('a planned job removes risk from the score the asset page shows', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/maintenance?weeks=4&crews=2&budget=100000');
    await hydrated(page);
    const [first] = await jobs(page);
    await page.goto(`/assets/${first.id}`);
    await page.waitForSelector('[data-testid="risk-score"]');
    assert.equal(await page.textContent('[data-testid="risk-score"]'), first.before.toFixed(0));
  } finally {
    await close();
  }
});

test('the CSV and JSON exports are the plan on the page', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/maintenance?start=2026-11-23&weeks=6&crews=2&budget=150000');
    await hydrated(page);
    const rows = await jobs(page);
    const csvHref = await page.getAttribute('[data-testid="export-csv"]', 'href');
    assert.equal(csvHref, '/export/plan.csv?start=2026-11-23&weeks=6&crews=2&budget=150000');
    const csv = await fetch(`${BASE_URL}${csvHref}`);
    assert.match(csv.headers.get('content-type'), /text\/csv/);
    const lines = (await csv.text()).trim().split('\n');
    assert.equal(lines[0].split(',').slice(0, 4).join(','), 'start,end,crew,asset');
    assert.deepEqual(lines.slice(1).map((l) => l.split(',')[3]), rows.map((r) => r.id));
    const json = await (await fetch(`${BASE_URL}${csvHref.replace('plan.csv', 'plan.json')}`)).json();
    assert.deepEqual(json.jobs.map((j) => j.asset), rows.map((r) => r.id));
    assert.equal(json.request.crews, 2);
    assert.ok(json.spent <= 150_000 && json.risk_reduction <= json.upper_bound + 1e-9);
  } finally {
    await close();
  }
});

test('bad input is refused in words with invalid_input, on the page and in the export', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/maintenance?crews=0');
    await hydrated(page);
    const alert = page.locator('[role="alert"]');
    assert.equal(await alert.getAttribute('data-error-code'), 'invalid_input');
    assert.match(await alert.textContent(), /Crews must be 1 to 50/);
    const response = await fetch(`${BASE_URL}/export/plan.json?budget=lots`);
    assert.equal(response.status, 400);
    const body = await response.json();
    assert.equal(body.code, 'invalid_input');
    assert.match(body.message, /Budget must be a number/);
  } finally {
    await close();
  }
});
