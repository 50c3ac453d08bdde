// Lighthouse (npm `lighthouse`, its default mobile form factor and simulated mobile throttling:
// 150 ms RTT, 1.6 Mbit/s down, CPU 4×) on Debian's Chromium, for each page given: the scores
// of the four categories and LCP, CLS and TBT, the median of `runs` runs per page (a
// performance score moves by a few points between runs). A check: fails (exit 1) when a page
// scores below 0.9 for performance, has a CLS over 0.1, or drops below 1.0 in accessibility,
// best practices or SEO. With --record FILE, writes the figures there as JSON.
//
// Usage: node bench/lighthouse.mjs <base-url> <runs> <path>... [--record FILE]
import fs from 'node:fs';
import lighthouse from 'lighthouse';
import * as chromeLauncher from 'chrome-launcher';

const argv = process.argv.slice(2);
const recordAt = argv.indexOf('--record');
const record = recordAt >= 0 ? argv.splice(recordAt, 2)[1] : null;
const [base, runsArg, ...paths] = argv;
const runs = Number(runsArg);
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const FLOOR = { performance: 0.9, accessibility: 1, 'best-practices': 1, seo: 1 };
const MAX_CLS = 0.1;

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  chromeFlags: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function once(url) {
  // A trace can come back unusable (NO_NAVSTART, seen on this machine now and then): try again.
  for (let attempt = 1; ; attempt++) {
    const { lhr } = await lighthouse(url, { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: CATEGORIES });
    const audits = lhr.audits;
    const scores = Object.fromEntries(CATEGORIES.map((c) => [c, lhr.categories[c].score]));
    if (!CATEGORIES.some((c) => scores[c] === null) || attempt === 3) {
      return {
        ...scores,
        lcp: audits['largest-contentful-paint'].numericValue,
        cls: audits['cumulative-layout-shift'].numericValue,
        tbt: audits['total-blocking-time'].numericValue,
      };
    }
  }
}

const results = [];
try {
  for (const path of paths) {
    const all = [];
    for (let i = 0; i < runs; i++) all.push(await once(base + path));
    const m = { path };
    for (const key of [...CATEGORIES, 'lcp', 'cls', 'tbt']) m[key] = median(all.map((r) => r[key] ?? 0));
    m.problems = [
      ...CATEGORIES.filter((c) => m[c] < FLOOR[c]).map((c) => `${c} ${m[c]} < ${FLOOR[c]}`),
      ...(m.cls > MAX_CLS ? [`CLS ${m.cls.toFixed(3)} > ${MAX_CLS}`] : []),
    ];
    results.push(m);
  }
} finally {
  await chrome.kill();
}

console.log(`Lighthouse ${(await import('lighthouse/package.json', { with: { type: 'json' } })).default.version}, mobile, simulated slow 4G + CPU 4×, median of ${runs}`);
console.log('page                  perf  a11y  best   seo   LCP ms    CLS   TBT ms');
for (const r of results) {
  console.log(
    `${r.path.padEnd(20)} ${r.performance.toFixed(2).padStart(5)} ${r.accessibility.toFixed(2).padStart(5)} ${r['best-practices'].toFixed(2).padStart(5)} ${r.seo.toFixed(2).padStart(5)} ${r.lcp.toFixed(0).padStart(8)} ${r.cls.toFixed(3).padStart(6)} ${r.tbt.toFixed(0).padStart(8)}  ${r.problems.length ? 'FAIL: ' + r.problems.join(', ') : 'PASS'}`,
  );
}
if (record) fs.writeFileSync(record, JSON.stringify({ runs, pages: results }, null, 2) + '\n');
process.exit(results.every((r) => r.problems.length === 0) ? 0 : 1);
