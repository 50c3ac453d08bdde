// Shared browser set-up for the end-to-end tests: the system Chromium driven by
// playwright-core (no browser download), at a desktop and a phone viewport.
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';

export const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 800 } },
  phone: {
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36',
  },
};

/** Starts the system Chromium; Playwright gives it a fresh temporary profile. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page in a new isolated context (no shared cookies or storage) at the given viewport.
 * `problems` collects uncaught errors and console errors: a hydration mismatch shows there.
 */
export async function openPage(browser, kind) {
  const context = await browser.newContext({ baseURL: BASE_URL, ...VIEWPORTS[kind] });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  return { page, problems, close: () => context.close() };
}

/** Waits until the app has hydrated (the marker an effect sets in the browser only). */
export async function hydrated(page) {
  await page.waitForSelector('.app[data-hydrated="true"]', { timeout: 15_000 });
}

/** Activates a control the way the viewport's user would: a tap on touch screens, else a click. */
export async function press(page, kind, selector) {
  if (VIEWPORTS[kind].hasTouch) await page.tap(selector);
  else await page.click(selector);
}

/**
 * Goes to a page through the navigation as the viewport's user does: the top bar on a
 * desktop; on a phone the tab bar at the bottom, or its "More" sheet for the other pages.
 */
export async function navigate(page, kind, href) {
  if (!VIEWPORTS[kind].hasTouch) {
    await page.click(`nav.nav a[href="${href}"]`);
    return;
  }
  const tab = page.locator(`nav.tabbar > a[href="${href}"]`);
  if ((await tab.count()) > 0) {
    await tab.tap();
    return;
  }
  await page.tap('nav.tabbar summary');
  await page.tap(`nav.tabbar .sheet a[href="${href}"]`);
  // Choosing a page closes the sheet.
  await page.waitForSelector('nav.tabbar details:not([open])', { state: 'attached' });
}

/**
 * One browser for the whole test file: launched before its first test, closed after its last.
 * Returns a function giving the browser, for use inside tests.
 */
export function sharedBrowser() {
  let browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });
  return () => browser;
}

/** The accounts scripts/e2e creates (passwords fresh per run). */
export const ACCOUNTS = {
  operator: { username: 'e2e-operator', password: process.env.E2E_OPERATOR_PASSWORD },
  admin: { username: 'e2e-admin', password: process.env.E2E_ADMIN_PASSWORD },
};

/** Signs in through the sign-in page and waits until the page shows who is signed in. */
export async function signIn(page, kind, who, next = '/') {
  const { username, password } = ACCOUNTS[who];
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await hydrated(page);
  await page.fill('[data-testid="username"]', username);
  await page.fill('[data-testid="password"]', password);
  await press(page, kind, '[data-testid="sign-in"]');
  await page.waitForSelector(`[data-testid="signed-in-as"][data-role="${who}"]`, { timeout: 15_000 });
  await hydrated(page);
}
