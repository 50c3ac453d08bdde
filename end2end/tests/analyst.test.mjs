// Analyst (operators only) without an AI provider (the test server has no keys): the offline analyst answers
// the common questions from the grid's facts, says it is offline, and links cited assets;
// what it says agrees with the impact explorer and the N-1 page; bad input is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, signIn, ACCOUNTS, BASE_URL } from './browser.mjs';

const browser = sharedBrowser();

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: ask what happens if a line fails; the answer matches the impact explorer`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      await signIn(page, kind, 'operator', '/analyst');
      await page.goto('/analyst');
      await hydrated(page);
      await page.fill('[data-testid="question"]', 'What happens if line-0 fails?');
      await press(page, kind, '[data-testid="ask"]');
      await page.waitForURL(/q=What/);
      const answer = page.locator('[data-testid="answer"]');
      await answer.waitFor();
      assert.equal(await answer.getAttribute('data-source'), 'offline');
      assert.match(await page.textContent('[data-testid="answer-source"]'), /Offline analyst.*no AI provider is configured/);
      const text = await answer.textContent();
      const m = text.match(/(\d+) buses lose supply in (\d+) island\(s\), and (\d+) of (\d+) customers/);
      assert.ok(m, text);
      // The impact explorer, for the same outage, shows the same numbers.
      const other = await openPage(browser(), kind);
      try {
        await other.page.goto('/impact?out=line-0');
        await other.page.waitForSelector('[data-testid="impact-customers"]');
        assert.equal(await other.page.getAttribute('[data-testid="impact-customers"]', 'data-value'), m[3]);
        assert.equal(await other.page.textContent('[data-testid="impact-buses"]'), m[1]);
        assert.equal(await other.page.locator('[data-testid="impact-island"]').count(), Number(m[2]));
      } finally {
        await other.close();
      }
      // Cited assets are links to their pages.
      const cited = page.locator('[data-testid="cited-asset"]');
      assert.ok((await cited.count()) >= 2);
      assert.equal(await cited.first().getAttribute('href'), '/assets/line-0');
      await press(page, kind, '[data-testid="cited-asset"] >> nth=0');
      await page.waitForURL(/\/assets\/line-0$/);
      await page.waitForSelector('[data-testid="risk-factors"]');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

test('the suggested questions answer riskiest assets, maintenance and single points of failure', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await signIn(page, 'desktop', 'operator');
    await page.goto('/analyst?q=Which+assets+are+at+highest+risk%3F');
    await page.waitForSelector('[data-testid="answer"][data-intent="TopRisks"]');
    const first = await page.getAttribute('[data-testid="cited-asset"] >> nth=0', 'href');
    // The first cited asset is the top of the assets list sorted by risk.
    await page.goto('/assets?sort=risk');
    await page.waitForSelector('[data-testid="asset-table"]');
    const top = await page.getAttribute('[data-testid="asset-table"] tbody tr a >> nth=0', 'href');
    assert.equal(first, top);

    await page.goto('/analyst?q=What+should+we+maintain+first%3F');
    await page.waitForSelector('[data-testid="answer"][data-intent="MaintainFirst"]');
    assert.match(await page.textContent('[data-testid="answer"]'), /1\. .+: (repair|replacement) for \d+/);

    await page.goto('/analyst?q=Which+single+failures+cut+customers+off%3F');
    await page.waitForSelector('[data-testid="answer"][data-intent="SinglePoints"]');
    const spofs = await page.locator('[data-testid="cited-asset"]').allTextContents();
    await page.goto('/n1');
    await page.waitForSelector('[data-testid="n1-table"]');
    const n1 = await page.locator('[data-testid="n1-row"]').evaluateAll((rows) =>
      rows.map((r) => ({ id: r.dataset.id, customers: Number(r.dataset.customers) })),
    );
    assert.equal(spofs.length, 5, 'the five largest');
    const byId = new Map(n1.map((r) => [r.id, r.customers]));
    assert.ok(spofs.every((id) => byId.has(id)), `${spofs} not all on the N-1 page`);
    // They are the five largest by customers (ties may order differently).
    assert.equal(byId.get(spofs[0]), n1[0].customers);
    assert.ok(byId.get(spofs[4]) >= n1[4].customers);
  } finally {
    await close();
  }
});

/** A session cookie for the operator, signed in over HTTP as a script would. */
async function operatorCookie() {
  const { username, password } = ACCOUNTS.operator;
  const res = await fetch(`${BASE_URL}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ username, password }).toString(),
  });
  assert.equal(res.status, 200);
  return res.headers.get('set-cookie').split(';')[0];
}

test('an empty or oversized question is refused with invalid_input; viewers are told to sign in', async () => {
  const ask = (cookie) => fetch(`${BASE_URL}/api/analyst_ask`, {
    method: 'POST',
    // Origin, as a browser sends it: a request carrying the session without one is refused.
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: BASE_URL, ...(cookie ? { cookie } : {}) },
    body: `question=${'x'.repeat(501)}`,
  });
  const anonymous = await ask();
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).code, 'unauthorized');
  const res = await ask(await operatorCookie());
  assert.equal(res.status, 400);
  assert.equal((await res.json()).code, 'invalid_input');
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/analyst');
    await page.waitForSelector('[data-testid="analyst-sign-in"]');
    assert.equal(await page.locator('[data-testid="question"]').count(), 0, 'no question box for viewers');
    await signIn(page, 'desktop', 'operator');
    await page.goto('/analyst?q=%20%20');
    await page.waitForSelector('text=Ask about risks');
    assert.equal(await page.locator('[data-testid="answer"]').count(), 0);
  } finally {
    await close();
  }
});
