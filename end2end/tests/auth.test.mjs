// Accounts in the browser: viewers browse without signing in and see no operator controls;
// operators and admins sign in (desktop and phone) and out; wrong passwords and locked
// accounts are explained (the lock with its retry time); admins see accounts and the audit
// log and can end an operator's sessions; the pages run under the CSP without violations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, signIn, ACCOUNTS, BASE_URL } from './browser.mjs';

const browser = sharedBrowser();

test('a viewer browses read-only: a sign-in link, no analyst or admin', async () => {
  const { page, problems, close } = await openPage(browser(), 'desktop');
  try {
    const response = await page.goto('/');
    // A viewer's page comes from the shared page cache: its scripts are allowed by their
    // hashes (a nonce served to many would be no secret); the page hydrating below, with no
    // console error, shows the policy lets exactly its own scripts run.
    assert.match(
      response.headers()['content-security-policy'],
      /script-src ('sha256-[A-Za-z0-9+/=]+' )+'strict-dynamic' 'wasm-unsafe-eval'/,
    );
    await hydrated(page);
    await page.waitForSelector('[data-testid="sign-in-link"]');
    const nav = await page.textContent('nav.nav');
    assert.ok(!nav.includes('Analyst') && !nav.includes('Admin'), nav);
    await page.goto('/admin');
    await page.waitForSelector('[data-error-code="unauthorized"]');
    assert.deepEqual(problems.filter((p) => !p.includes('401')), []);
  } finally {
    await close();
  }
});

for (const kind of ['desktop', 'phone']) {
  test(`${kind}: an operator signs in, gets the analyst, and signs out`, async () => {
    const { page, problems, close } = await openPage(browser(), kind);
    try {
      await signIn(page, kind, 'operator', '/analyst');
      await page.waitForURL(/\/analyst$/);
      assert.match(await page.textContent('[data-testid="signed-in-as"]'), /e2e-operator \(operator\)/);
      await page.waitForSelector('[data-testid="question"]');
      const nav = await page.textContent('nav.nav');
      assert.ok(nav.includes('Analyst') && !nav.includes('Admin'), nav);
      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name.includes('gridscope'));
      assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
      await press(page, kind, '[data-testid="sign-out"]');
      await page.waitForSelector('[data-testid="sign-in-link"]');
      assert.equal((await page.context().cookies()).filter((c) => c.name === session.name).length, 0);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
}

// The sign-in form without JavaScript (or before the page has hydrated) is posted by the
// browser itself, and with our no-referrer policy its Origin is "null": it must still sign in
// (it was refused as cross-site, 403, and a sign-in tapped early failed now and then).
test('an operator signs in without JavaScript', async () => {
  const context = await browser().newContext({ baseURL: BASE_URL, javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    await page.goto('/login');
    await page.fill('[data-testid="username"]', ACCOUNTS.operator.username);
    await page.fill('[data-testid="password"]', ACCOUNTS.operator.password);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/login')),
      page.click('[data-testid="sign-in"]'),
    ]);
    assert.ok(answer.status() < 400, `the form post was answered ${answer.status()}`);
    await page.waitForLoadState();
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name.includes('gridscope') && c.httpOnly), JSON.stringify(cookies));
  } finally {
    await context.close();
  }
});

test('a wrong password is refused, and a locked account says when to try again', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/login');
    await hydrated(page);
    for (let i = 0; i < 6; i++) {
      await page.fill('[data-testid="username"]', 'e2e-locked');
      await page.fill('[data-testid="password"]', 'not the right password');
      // Each answer is awaited before its notice is read: the notice of the previous attempt
      // stays on screen while the next one is in flight, and reading it then would read the
      // last answer, not this one.
      const answered = page.waitForResponse((r) => r.url().endsWith('/api/login') && r.request().method() === 'POST');
      await page.click('[data-testid="sign-in"]');
      await answered;
      await page.waitForSelector('[data-testid="sign-in-error"] [data-error-code]');
      await page.waitForFunction(() => !document.querySelector('[data-testid="sign-in"]').disabled);
      const code = await page.getAttribute('[data-testid="sign-in-error"] [data-error-code]', 'data-error-code');
      if (i < 5) assert.equal(code, 'unauthorized');
      else {
        assert.equal(code, 'rate_limited');
        assert.match(await page.textContent('[data-testid="sign-in-error"]'), /Try again in/);
      }
    }
    assert.equal(await page.locator('[data-testid="signed-in-as"]').count(), 0);
  } finally {
    await close();
  }
});

test('an admin sees accounts and the audit log, and ends an operator\'s sessions', async () => {
  const operator = await openPage(browser(), 'phone');
  const admin = await openPage(browser(), 'desktop');
  try {
    await signIn(operator.page, 'phone', 'operator');
    await signIn(admin.page, 'desktop', 'admin', '/admin');
    await admin.page.waitForURL(/\/admin$/);
    await admin.page.waitForSelector('[data-testid="users"]');
    const row = admin.page.locator('[data-testid="user-row"][data-username="e2e-operator"]');
    await row.waitFor();
    assert.equal(await row.locator('[data-testid="user-state"]').textContent(), 'active');
    await admin.page.waitForSelector('[data-testid="audit-row"][data-action="sign_in"]');
    await row.locator('[data-testid="end-sessions"]').click();
    await admin.page.waitForSelector('[data-testid="audit-row"][data-action="end_sessions"]');
    // The operator's next page load is a viewer's.
    await operator.page.reload();
    await operator.page.waitForSelector('[data-testid="sign-in-link"]');
    assert.deepEqual(admin.problems, []);
  } finally {
    await operator.close();
    await admin.close();
  }
});

test('the admin page and the admin functions are refused to an operator', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await signIn(page, 'desktop', 'operator', '/admin');
    await page.waitForSelector('[data-error-code="forbidden"]');
    assert.equal(await page.locator('[data-testid="users"]').count(), 0);
    assert.ok(ACCOUNTS.operator.username);
  } finally {
    await close();
  }
});
