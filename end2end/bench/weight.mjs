// Page weight of a first visit, as the server sends it (a check, fast: no browser): for each
// page, the HTML and every file the page makes the browser fetch before it is interactive — the
// stylesheet, the hydration script, the main WebAssembly and the modules of the page's islands
// (preloaded) — each asked for with a browser's Accept-Encoding, counted in compressed bytes
// on the wire. Prints one line per page and fails (exit 1) when a page is over its budget.
//
// Usage: node bench/weight.mjs <base-url> <budget-bytes> <path>... [--json]
const args = process.argv.slice(2).filter((a) => a !== '--json');
const json = process.argv.includes('--json');
const [base, budgetArg, ...paths] = args;
const budget = Number(budgetArg);
const HEADERS = { 'accept-encoding': 'gzip, deflate, br, zstd', accept: 'text/html,application/xhtml+xml' };

async function weigh(path) {
  // Node's fetch decodes what it reads (for the links in the HTML); the wire sizes come from
  // plain HTTP requests that keep the encoding (rawSize).
  const page = await fetch(base + path, { headers: HEADERS });
  if (!page.ok) throw new Error(`${path}: ${page.status}`);
  const html = await page.text();
  const files = new Set();
  for (const m of html.matchAll(/<link[^>]+>/g)) {
    const tag = m[0];
    const href = /href="([^"]+)"/.exec(tag)?.[1];
    if (!href) continue;
    if (/rel="(stylesheet|modulepreload|preload)"/.test(tag)) files.add(href);
  }
  // The hydration script names the main module and its wasm: ("", "pkg", "<js>", "<wasm>", …).
  const boot = /\("[^"]*", "([^"]+)", "([^"]+)", "([^"]+)"/.exec(html);
  if (boot) {
    files.add(`/${boot[1]}/${boot[2]}.js`);
    files.add(`/${boot[1]}/${boot[3]}.wasm`);
  }
  const raw = await rawSize(base + path);
  let total = raw;
  const parts = [[path, raw]];
  for (const file of files) {
    const size = await rawSize(new URL(file, base).href);
    parts.push([file, size]);
    total += size;
  }
  return { path, total, requests: parts.length, parts };
}

// Bytes on the wire: the response body before decoding, read from a plain HTTP request.
async function rawSize(url) {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: HEADERS }, (res) => {
      if (res.statusCode >= 400) reject(new Error(`${url}: ${res.statusCode}`));
      let n = 0;
      res.on('data', (chunk) => (n += chunk.length));
      res.on('end', () => resolve(n));
    });
    req.on('error', reject);
    req.end();
  });
}

const results = [];
for (const path of paths) results.push(await weigh(path));
if (json) {
  console.log(JSON.stringify(results.map(({ path, total, requests }) => ({ path, total, requests }))));
} else {
  console.log(`first visit, bytes on the wire (br where offered) · budget ${budget} B per page`);
  console.log('page                          requests      bytes  of budget');
  for (const r of results) {
    const ratio = r.total / budget;
    console.log(`${r.path.padEnd(28)} ${String(r.requests).padStart(9)} ${String(r.total).padStart(10)}  ${ratio.toFixed(2)} ${ratio <= 1 ? 'PASS' : 'FAIL'}`);
  }
}
process.exit(results.every((r) => r.total <= budget) ? 0 : 1);
