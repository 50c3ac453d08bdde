// axe-core (from npm, injected into the page) on every page, at both viewports, after
// hydration: WCAG 2.x A and AA rules, zero violations allowed. At phone size, every target a
// finger can press is at least 44 px each way (WCAG 2.5.5); a keyboard's first Tab reaches
// the skip link, which moves the focus past the navigation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { sharedBrowser, openPage, hydrated, signIn } from './browser.mjs';

const browser = sharedBrowser();
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const PAGES = [
  ['overview', '/', '[data-testid="grid-summary"]'],
  ['assets', '/assets', '[data-testid="asset-table"]'],
  ['filtered assets', '/assets?kind=line&sort=voltage&page=2', '[data-testid="asset-table"]'],
  ['asset detail', '/assets/trafo-114', '[data-testid="risk-factors"]'],
  ['N-1 screening', '/n1', '[data-testid="n1-table"]'],
  ['map', '/map', '[data-testid="grid-map"]'],
  ['map by energised state', '/map?color=energised', '[data-testid="grid-map"]'],
  ['impact explorer', '/impact?out=line-0', '[data-testid="impact"]'],
  ['maintenance planner', '/maintenance?weeks=8&crews=2', '[data-testid="plan-summary"]'],
  ['analyst', '/analyst?q=What+happens+if+line-0+fails%3F', '[data-testid="answer"]', 'operator'],
  ['analyst for a viewer', '/analyst', '[data-testid="analyst-sign-in"]'],
  ['sign-in', '/login', '[data-testid="sign-in"]'],
  ['admin', '/admin', '[data-testid="audit"]', 'admin'],
  ['operations status', '/status', '[data-testid="errors-by-code"]', 'operator'],
  ['import', '/import', '[data-testid="import-form"]', 'operator'],
  ['not found', '/no/such/page', '[data-testid="not-found"]'],
];

/**
 * Visible targets smaller than 44 × 44 px, described (runs in the page). A checkbox or radio
 * counts by its label, which is what a finger presses; SVG shapes are not targets (the map's
 * buses are chosen from a list too).
 */
function smallTargets() {
  const selector = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest('svg') || el.closest('details:not([open]) > :not(summary)')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= 0) continue;
    if (el.matches('input[type="checkbox"], input[type="radio"]') && el.closest('label')) {
      box = el.closest('label').getBoundingClientRect();
    }
    if (box.width < 43.5 || box.height < 43.5) {
      const name = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('name') || '').trim().slice(0, 30);
      out.push(`${el.tagName.toLowerCase()} "${name}" ${Math.round(box.width)}×${Math.round(box.height)}`);
    }
  }
  return out;
}

test('a keyboard reaches the skip link first, and it moves the focus to the page', async () => {
  const { page, close } = await openPage(browser(), 'desktop');
  try {
    await page.goto('/maintenance');
    await hydrated(page);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'skip-link');
    const box = await page.locator('[data-testid="skip-link"]').boundingBox();
    assert.ok(box && box.x >= 0 && box.height >= 44, `the focused skip link shows: ${JSON.stringify(box)}`);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'main');
    await page.keyboard.press('Tab');
    assert.ok(
      await page.evaluate(() => document.getElementById('main').contains(document.activeElement)),
      'the next Tab is inside the page, past the navigation',
    );
  } finally {
    await close();
  }
});

// Both viewports in the light scheme, and the desktop in the dark one (contrast differs).
const RUNS = [['desktop', 'light'], ['phone', 'light'], ['desktop', 'dark']];

for (const [kind, scheme] of RUNS) {
  for (const [name, path, ready, who] of PAGES) {
    test(`${kind}, ${scheme}: ${name} has no axe violations`, async () => {
      const { page, close } = await openPage(browser(), kind);
      try {
        await page.emulateMedia({ colorScheme: scheme });
        if (who) await signIn(page, kind, who);
        await page.goto(path);
        await hydrated(page);
        await page.waitForSelector(ready);
        // Pages are lazy-loaded chunks: the app is hydrated (the marker above) a moment before
        // the page's own chunk sets its title, and axe run in that moment saw no title (1 run
        // in 95). Wait for the page's title; if it never comes, axe below reports it.
        await page.waitForFunction(() => document.title.endsWith('· Gridscope'), null, { timeout: 5000 }).catch(() => {});
        await page.addScriptTag({ content: axeSource });
        const result = await page.evaluate(() =>
          window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
        );
        const summary = result.violations.map(
          (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`,
        );
        assert.deepEqual(summary, [], `axe violations on ${path}`);
        assert.ok(result.passes.length > 10, 'axe ran its rules');
        if (kind === 'phone') {
          const small = await page.evaluate(smallTargets);
          assert.deepEqual(small, [], `targets under 44 px on ${path}`);
        }
      } finally {
        await close();
      }
    });
  }
}
