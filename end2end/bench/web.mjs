// Page-load benchmark of one page in Chromium: largest contentful paint, time to hydration,
// and bytes transferred (compressed, on the wire). A measurement, not a test: it prints
// numbers and their ratio to the budgets.
//
// Profiles: "mobile" (default): Lighthouse's mobile throttling ("slow 4G", the profile issue 30
// sets): 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up, CPU slowed 4×, a 360×740 phone
// viewport at 2× density; "desktop": 1280×800, no throttling. Cache disabled (a first
// visit) in both.
//
// Usage: node bench/web.mjs <base-url> [path] [runs] [mobile|desktop] [--json]
import { launch, VIEWPORTS } from '../tests/browser.mjs';

const args = process.argv.slice(2).filter((a) => a !== '--json');
const json = process.argv.includes('--json');
const [base, path = '/', runsArg = '5', profileName = 'mobile'] = args;
const runs = Number(runsArg);
const mobile = profileName !== 'desktop';
const BUDGET = { lcp: 1000, hydration: 1500, transfer: 350 * 1000, cls: 0.1 };
// How long a page is watched for layout shift after it went quiet.
const CLS_WATCH_MS = 3000;
// Lighthouse's constants (throttling.mobileSlow4G): 150 ms, 1.6 × 1024 kbit/s down, 750 up.
const PROFILE = {
  latency: 150,
  downloadThroughput: (1.6 * 1024 * 1024) / 8,
  uploadThroughput: (750 * 1024) / 8,
  cpu: 4,
};

async function once(browser) {
  const context = await browser.newContext({ ...(mobile ? VIEWPORTS.phone : VIEWPORTS.desktop) });
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__lcp = 0;
    // Layout shift not caused by input, summed (the page is watched for a while after it
    // hydrated: a ticking countdown that rewraps a card shows up here, not at load).
    window.__cls = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__cls += entry.value;
    }).observe({ type: 'layout-shift', buffered: true });
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__lcp = entry.startTime;
    }).observe({ type: 'largest-contentful-paint', buffered: true });
    window.__hydrated = null;
    new MutationObserver((_, observer) => {
      const app = document.querySelector('.app[data-hydrated="true"]');
      if (app && window.__hydrated === null) {
        window.__hydrated = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  if (mobile) {
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: PROFILE.latency,
      downloadThroughput: PROFILE.downloadThroughput,
      uploadThroughput: PROFILE.uploadThroughput,
    });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: PROFILE.cpu });
  }
  const bytes = new Map();
  const urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => bytes.set(e.requestId, e.encodedDataLength));

  await page.goto(base + path, { waitUntil: 'load' });
  await page.waitForFunction(() => window.__hydrated !== null, null, { timeout: 30_000 });
  // Let late requests finish, and LCP settle (it is final once the user interacts).
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(CLS_WATCH_MS);
  const cls = await page.evaluate(() => window.__cls);
  await page.mouse.click(1, 1);
  const { lcp, hydrated } = await page.evaluate(() => ({ lcp: window.__lcp, hydrated: window.__hydrated }));
  const files = [...bytes].map(([id, n]) => [new URL(urls.get(id)).pathname, n]);
  await context.close();
  return { lcp, hydrated, cls, transfer: files.reduce((s, [, n]) => s + n, 0), files };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await launch();
const results = [];
for (let i = 0; i < runs; i++) results.push(await once(browser));
await browser.close();

const m = {
  lcp: median(results.map((r) => r.lcp)),
  hydration: median(results.map((r) => r.hydrated)),
  transfer: median(results.map((r) => r.transfer)),
  cls: median(results.map((r) => r.cls)),
};
// With --json, the report goes to stderr and one JSON line of the medians to stdout.
const say = json ? console.error : console.log;
say(
  mobile
    ? `page ${path} · ${runs} cold loads · slow 4G (150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up) · CPU 4× · phone 360×740`
    : `page ${path} · ${runs} cold loads · desktop 1280×800, no throttling`,
);
say('run   LCP ms  hydrated ms  transfer B     CLS');
results.forEach((r, i) =>
  say(`${String(i + 1).padStart(3)} ${r.lcp.toFixed(0).padStart(8)} ${r.hydrated.toFixed(0).padStart(12)} ${String(r.transfer).padStart(11)} ${r.cls.toFixed(3).padStart(7)}`),
);
say('files of the last run (bytes on the wire):');
for (const [name, n] of results.at(-1).files) say(`  ${String(n).padStart(9)}  ${name}`);
for (const [key, unit] of [['lcp', 'ms'], ['hydration', 'ms'], ['transfer', 'B'], ['cls', '']]) {
  const ratio = m[key] / BUDGET[key];
  say(`median ${key.padEnd(9)} ${m[key].toFixed(key === 'cls' ? 3 : 0).padStart(8)} ${unit} / budget ${BUDGET[key]} ${unit} = ${ratio.toFixed(2)} ${ratio <= 1 ? 'PASS' : 'FAIL'}`);
}
if (json) console.log(JSON.stringify({ profile: profileName, path, runs, ...m }));
