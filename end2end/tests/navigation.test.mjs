// In-app navigation shows what a fresh load shows. Every route the nav bar offers is reached
// three ways — a tap on the nav bar, a tap on a link to it on another page, and history (back,
// then forward) — at phone and desktop sizes, signed out and as an admin (who sees every
// route), and must show the same as a fresh load of its URL: the same text in <main> (digits
// masked, since live figures move between two loads) and the same number of drawn map
// elements. Page tests load each URL afresh, which is how two faults passed them: Maintenance
// failed when reached from the nav bar (an empty POST answered 400), and the map drew none of
// its buses after in-app navigation (each bus sat in an HTML <a> inside the SVG).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, openPage, hydrated, press, navigate, signIn } from './browser.mjs';

const browser = sharedBrowser();

const PUBLIC = ['/', '/map', '/assets', '/impact', '/n1', '/maintenance'];
const SIGNED_IN = [...PUBLIC, '/analyst', '/import', '/status', '/admin'];

/** Waits until <main> has stopped loading and changing. */
async function settled(page) {
  await page.waitForFunction(
    () => {
      const main = document.querySelector('main');
      return main && !/Loading…/.test(main.innerText);
    },
    null,
    { timeout: 15_000 },
  );
  let last = '';
  for (let i = 0; i < 60; i++) {
    const now = await page.evaluate(() => {
      const main = document.querySelector('main');
      return `${main.innerText.length}:${main.querySelectorAll('*').length}`;
    });
    if (now === last) return;
    last = now;
    await page.waitForTimeout(250);
  }
  throw new Error(`${page.url()} kept changing`);
}

/** What <main> shows: its text (digits masked), drawn SVG shapes, error codes, local links. */
async function snapshot(page) {
  await settled(page);
  return page.evaluate(() => {
    const main = document.querySelector('main');
    // Digits masked, and durations ("# s", "# min # s": the uptime grows between two loads).
    const text = main.innerText
      .replace(/\d+([.,:]\d+)*/g, '#')
      .replace(/\s+/g, ' ')
      .replace(/# (d|h|min|s)\b( # (d|h|min|s)\b)*/g, '# time')
      .trim();
    const drawn = [...main.querySelectorAll('svg circle, svg line, svg path, svg rect')].filter((e) => {
      const box = e.getBoundingClientRect();
      return box.width > 0 || box.height > 0;
    }).length;
    const errors = [...main.querySelectorAll('[data-error-code]')].map((e) => e.dataset.errorCode);
    const links = [...main.querySelectorAll('a[href^="/"]:not([rel="external"])')]
      .filter((a) => a.checkVisibility({ contentVisibilityAuto: true, visibilityProperty: true }))
      .map((a) => a.getAttribute('href'));
    return { text, drawn, errors, links };
  });
}

function same(route, how, got, fresh) {
  assert.deepEqual(got.errors, fresh.errors, `${route} ${how}: error notices`);
  assert.equal(got.drawn, fresh.drawn, `${route} ${how}: drawn map elements`);
  assert.equal(got.text, fresh.text, `${route} ${how}: text`);
}

for (const kind of ['desktop', 'phone']) {
  for (const who of ['visitor', 'admin']) {
    test(`${kind}, ${who}: every route from the nav bar, from a link and from history shows what a fresh load shows`, async () => {
      const { page, problems, close } = await openPage(browser(), kind);
      try {
        const routes = who === 'visitor' ? PUBLIC : SIGNED_IN;
        if (who !== 'visitor') await signIn(page, kind, who);
        // Fresh loads.
        const fresh = {};
        for (const route of routes) {
          await page.goto(route);
          await hydrated(page);
          fresh[route] = await snapshot(page);
          assert.deepEqual(fresh[route].errors, [], `${route} loaded afresh shows an error`);
        }
        assert.ok(fresh['/map'].drawn > 100, `the map draws its buses and lines (${fresh['/map'].drawn})`);

        // From the nav bar, starting on the overview.
        await page.goto('/');
        await hydrated(page);
        const visited = ['/'];
        for (const route of routes.slice(1)) {
          await navigate(page, kind, route);
          await page.waitForURL((url) => url.pathname === route);
          same(route, 'from the nav bar', await snapshot(page), fresh[route]);
          visited.push(route);
        }
        // Back through history, then forward again.
        for (let i = visited.length - 2; i >= 0; i--) {
          await page.goBack();
          await page.waitForURL((url) => url.pathname === visited[i]);
          same(visited[i], 'back', await snapshot(page), fresh[visited[i]]);
        }
        for (let i = 1; i < visited.length; i++) {
          await page.goForward();
          await page.waitForURL((url) => url.pathname === visited[i]);
          same(visited[i], 'forward', await snapshot(page), fresh[visited[i]]);
        }

        // From a link on a page to another page (an asset, an impact, another view): the
        // first such link of each route, tapped, shows what a fresh load of its URL shows.
        let followed = 0;
        for (const route of routes) {
          const href = fresh[route].links.find((h) => {
            const path = new URL(h, 'http://x').pathname;
            return path !== route && !h.startsWith('/export/') && !h.startsWith('/import/') && !h.startsWith('/pkg/');
          });
          if (!href) continue;
          await page.goto(href);
          await hydrated(page);
          const target = await snapshot(page);
          await page.goto(route);
          await hydrated(page);
          await settled(page);
          await press(page, kind, `main a[href="${href}"]:visible >> nth=0`);
          await page.waitForURL((url) => url.pathname + url.search === href);
          same(href, `from a link on ${route}`, await snapshot(page), target);
          followed++;
        }
        assert.ok(followed >= 3, `links between pages followed: ${followed}`);
        assert.deepEqual(problems, []);
      } finally {
        await close();
      }
    });
  }
}
