// axe-core (from npm, injected into the page) on every page, at both viewports, after
// hydration: WCAG 2.x A and AA rules, zero violations allowed.
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
      } finally {
        await close();
      }
    });
  }
}
