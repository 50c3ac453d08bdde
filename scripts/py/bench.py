"""Gridscope's performance bench (a measurement, not a test): run through `scripts/bench`.

Starts the release server on the embedded store with a large grid (ACTIVSg70k by default)
and measures, each figure printed beside its budget:
  api         Overview and Assets server functions under load (wrk, 64 and 256 connections,
              4096 client addresses): requests/s, p50, p99, errors
  html        pages as browsers ask for them (GET with Accept text/html and Accept-Encoding
              "gzip, deflate, br, zstd"), anonymous and signed in: Overview, Assets, N-1, Map
              at 64 connections, 4096 client addresses: requests/s, p99, errors
  pages       Overview in Chromium (playwright-core): desktop, and a phone on "Fast 4G" with
              the CPU 4x slower: LCP, hydration, bytes transferred (median of N cold loads)
  algorithms  N-1 screening against networkx on case9241pegase, impact queries on the grid
              (criterion: cargo bench --bench algorithms; per-query p95 from --bench grid_core)
  memory      server RSS: idle, with the grid loaded, and under load with 200 signed-in
              sessions
  soak        (only with --soak) N minutes at 500 connections: server functions, anonymous
              and signed-in pages at once; errors, connections left open after the load, RSS
              drift after the first minute
With --record, appends a dated table to docs/benchmarks.md.
"""

import argparse
import datetime
import http.cookiejar
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.environ["GRIDSCOPE_ROOT"]
BIN = os.path.join(ROOT, "target/release/gridscope")
LUA = os.path.join(ROOT, "scripts/bench-lib/load.lua")
PASSWORD = "bench-operator-password-1"  # throwaway accounts in a throwaway data folder
ACCOUNTS = 200  # bench-operator-0 … -199, one per signed-in session

# name -> (budget, unit, "min" when the figure must reach the budget, "max" when it must stay under)
BUDGETS = {
    "overview 256c req/s": (10_000, "req/s", "min"),
    "overview 256c p99": (20.0, "ms", "max"),
    "overview 256c errors": (0, "", "max"),
    "page / 64c req/s": (10_000, "req/s", "min"),
    "page / 64c p99": (50.0, "ms", "max"),
    "page / 64c errors": (0, "", "max"),
    "mobile LCP": (1000, "ms", "max"),
    "mobile hydration": (1500, "ms", "max"),
    "mobile transfer": (350_000, "B", "max"),
    "N-1 vs networkx (case9241pegase)": (20, "x", "min"),
    "impact p95 (grid)": (50.0, "ms", "max"),
    "RSS grid + 200 sessions under load": (100, "MB", "max"),
    "soak errors": (0, "", "max"),
    "soak connections left open": (0, "", "max"),
    "soak RSS drift after minute 1": (10.0, "%", "max"),
}


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Results:
    def __init__(self):
        self.rows = []  # (name, value, unit, budget text, verdict)

    def add(self, name, value, unit, note=""):
        budget = BUDGETS.get(name)
        verdict, budget_text = "", ""
        if budget is not None:
            limit, _, kind = budget
            ok = value >= limit if kind == "min" else value <= limit
            verdict = "PASS" if ok else "FAIL"
            budget_text = f"{'≥' if kind == 'min' else '≤'} {limit:,} {unit}".strip()
        self.rows.append((name, value, unit, budget_text, verdict, note))
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        print(f"  {name:<42} {shown:>12} {unit:<6} {budget_text:<16} {verdict} {note}", flush=True)

    def markdown(self):
        lines = ["| figure | value | budget | verdict | note |", "|---|---:|---|---|---|"]
        for name, value, unit, budget, verdict, note in self.rows:
            shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
            lines.append(f"| {name} | {shown} {unit} | {budget} | {verdict} | {note} |")
        return "\n".join(lines)


class Server:
    """The release binary on a free port, with its own data folder."""

    def __init__(self, case, work):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = os.path.join(work, "data")
        self.env = dict(
            os.environ,
            GRIDSCOPE_ADDR=f"127.0.0.1:{self.port}",
            GRIDSCOPE_SITE_ROOT=os.path.join(ROOT, "target/site"),
            GRIDSCOPE_DATA_DIR=self.data,
            GRIDSCOPE_DEMO_GRID="none",
            GRIDSCOPE_LOG_LEVEL="warn",
            GRIDSCOPE_COOKIE_SECURE="false",
            # wrk sends X-Forwarded-For from loopback: thousands of clients, per-client limits as is.
            GRIDSCOPE_TRUSTED_PROXIES="127.0.0.1",
            # The global cap (default 20,000/s) would turn a capacity test into a test of the cap.
            GRIDSCOPE_RATE_GLOBAL_PER_SECOND="10000000",
            GRIDSCOPE_MAX_CONCURRENT_REQUESTS="4096",
        )
        self.log_path = os.path.join(work, "server.log")
        grid = os.path.join(ROOT, "target/grids", case)
        self.cli(["import", grid])
        # One account per signed-in session: limits count per account, as for real operators.
        for i in range(ACCOUNTS):
            subprocess.run(
                [BIN, "user", "add", f"bench-operator-{i}", "--role", "operator"],
                input=PASSWORD + "\n",
                text=True,
                env=self.env,
                check=True,
                capture_output=True,
            )
        self.process = None

    def cli(self, args):
        subprocess.run([BIN, *args], env=self.env, check=True, capture_output=True)

    def start(self):
        self.process = subprocess.Popen(
            [BIN, "serve"], env=self.env, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=2).read()
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise SystemExit(f"the server did not become ready; log: {self.log_path}")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)

    def rss(self):
        return rss_mb(self.process.pid)

    def post(self, path, body="", headers=None):
        request = urllib.request.Request(
            self.base + path,
            data=body.encode(),
            # Origin, as a browser sends it: a request carrying the session without Origin or
            # Sec-Fetch-Site is refused (issue 28, L3).
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": self.base, **(headers or {})},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, response.read()


ASSETS_BODY = "query[sort]=risk&query[page]=2&query[per_page]=25"


def wrk(base, paths, connections, seconds, clients=4096, cookies=None, sample=None, method="POST"):
    """Runs wrk; returns its JSON summary (+ RSS samples when `sample` is a callable)."""
    env = dict(
        os.environ,
        BENCH_PATHS=",".join(f"{p}|{b}" for p, b in paths),
        BENCH_CLIENTS=str(clients),
        BENCH_METHOD=method,
    )
    if cookies:
        env["BENCH_COOKIES"] = cookies
    threads = "2"
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", LUA, base]
    samples = []
    stop = threading.Event()

    def sampler():
        started = time.monotonic()
        while not stop.wait(1.0):
            samples.append((time.monotonic() - started, sample()))

    watcher = threading.Thread(target=sampler, daemon=True) if sample else None
    if watcher:
        watcher.start()
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    stop.set()
    if watcher:
        watcher.join()
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    result = json.loads(line)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["error_count"] = sum(result["errors"].values())
    result["samples"] = samples
    return result


def check_paths(server):
    """Each benchmarked server function answers 200 with JSON before it is loaded."""
    for path, body in [("/api/overview_kpis", ""), ("/api/assets", ASSETS_BODY), ("/api/grid_summary", "")]:
        status, _, payload = server.post(path, body)
        json.loads(payload)
        if status != 200:
            raise SystemExit(f"{path} answered {status}")


def sign_in_sessions(server, count, path):
    """Signs `count` sessions in, each as its own bench operator from its own address: cookie lines."""
    lines = []
    for i in range(count):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        request = urllib.request.Request(
            server.base + "/api/login",
            data=urllib.parse.urlencode({"username": f"bench-operator-{i % ACCOUNTS}", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": f"10.200.{i // 256}.{i % 256}"},
        )
        opener.open(request, timeout=60).read()
        lines.append("; ".join(f"{c.name}={c.value}" for c in jar))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    # The sessions are real: one of them is recognised as the operator.
    status, _, payload = server.post("/api/whoami", headers={"Cookie": lines[-1]})
    role = json.loads(payload).get("role")
    if status != 200 or role != "operator":
        raise SystemExit(f"a signed-in session is not recognised (whoami: {status} {payload[:200]!r})")
    return lines


def section_api(server, results, seconds):
    print("API: server functions under load (wrk, 2 threads, 4096 client addresses)", flush=True)
    for label, paths in [("overview", [("/api/overview_kpis", "")]), ("assets", [("/api/assets", ASSETS_BODY)])]:
        for connections in (64, 256):
            r = wrk(server.base, paths, connections, seconds)
            note = f"p50 {r['p50_us'] / 1000:.2f} ms, p90 {r['p90_us'] / 1000:.2f} ms"
            results.add(f"{label} {connections}c req/s", round(r["rps"]), "req/s", note)
            results.add(f"{label} {connections}c p99", r["p99_us"] / 1000, "ms")
            results.add(f"{label} {connections}c errors", r["error_count"], "", json.dumps(r["errors"]))


PAGES = ["/", "/assets", "/n1", "/map"]


def section_html(server, results, work, seconds):
    print("HTML: pages with a browser's headers (wrk, 64 connections, 4096 client addresses)", flush=True)
    for path in PAGES:
        r = wrk(server.base, [(path, "")], 64, seconds, method="GET")
        note = f"p50 {r['p50_us'] / 1000:.2f} ms, {r['bytes'] / max(r['requests'], 1) / 1024:.1f} KiB/answer"
        results.add(f"page {path} 64c req/s", round(r["rps"]), "req/s", note)
        results.add(f"page {path} 64c p99", r["p99_us"] / 1000, "ms")
        results.add(f"page {path} 64c errors", r["error_count"], "", json.dumps(r["errors"]))
    # Signed in: rendered per request (never from the shared cache). Limits count per account
    # (100/s each by default), so 200 sessions: an allowance of 20,000/s in all, above what two
    # cores render, so the figure is the server's and not the limit's.
    cookies = os.path.join(work, "html-cookies.txt")
    sign_in_sessions(server, 200, cookies)
    for path in ["/", "/assets"]:
        r = wrk(server.base, [(path, "")], 64, seconds, cookies=cookies, method="GET")
        note = f"p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms"
        results.add(f"page {path} signed in 64c req/s", round(r["rps"]), "req/s", note)
        results.add(f"page {path} signed in 64c errors", r["error_count"], "", json.dumps(r["errors"]))


def section_memory(server, results, work, seconds, rss_idle, rss_grid):
    print("Memory: server RSS", flush=True)
    results.add("RSS idle (started, grid not read yet)", rss_idle, "MB")
    results.add("RSS with the grid loaded", rss_grid, "MB")
    cookies = os.path.join(work, "cookies.txt")
    sign_in_sessions(server, 200, cookies)
    results.add("RSS after 200 sign-ins", server.rss(), "MB")
    paths = [("/api/overview_kpis", ""), ("/api/assets", ASSETS_BODY), ("/api/whoami", "")]
    # The 200 sessions rotate over 4096 client addresses, as in the API section: from 200
    # addresses the per-client limit (20/s) would answer most requests with 429.
    r = wrk(server.base, paths, 256, seconds, cookies=cookies, sample=server.rss)
    peak = max(m for _, m in r["samples"]) if r["samples"] else server.rss()
    results.add(
        "RSS grid + 200 sessions under load",
        peak,
        "MB",
        f"peak of {len(r['samples'])} samples; {round(r['rps'])} req/s, {r['error_count']} errors",
    )


def section_pages(server, results, runs):
    print(f"Pages: Overview, {runs} cold loads per profile (Chromium)", flush=True)
    for profile in ("desktop", "mobile"):
        out = subprocess.run(
            ["node", "bench/web.mjs", server.base, "/", str(runs), profile, "--json"],
            cwd=os.path.join(ROOT, "end2end"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        m = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        label = "mobile" if profile == "mobile" else "desktop"
        results.add(f"{label} LCP", round(m["lcp"]), "ms")
        results.add(f"{label} hydration", round(m["hydration"]), "ms")
        results.add(f"{label} transfer", m["transfer"], "B")


def criterion_estimate(group, case):
    """Criterion's median estimate (ms) and its 95 % interval for one benchmark."""
    path = os.path.join(ROOT, "target/criterion", group, case, "new/estimates.json")
    with open(path) as f:
        median = json.load(f)["median"]
    interval = median["confidence_interval"]
    return median["point_estimate"] / 1e6, interval["lower_bound"] / 1e6, interval["upper_bound"] / 1e6


def section_algorithms(results, case):
    print("Algorithms: N-1 screening and impact queries (criterion: cargo bench --bench algorithms)", flush=True)
    cases = ["case9241pegase"] + ([case] if case != "case9241pegase" else [])
    subprocess.run(
        ["cargo", "bench", "--quiet", "-p", "server", "--bench", "algorithms"],
        cwd=ROOT,
        env=dict(os.environ, GRIDSCOPE_BENCH_CASES=" ".join(cases)),
        capture_output=True,
        text=True,
        check=True,
    )
    ours, low, high = criterion_estimate("n1_screening", "case9241pegase")
    # Criterion gives central estimates; the p95 of single queries needs each query timed on
    # its own, which the grid_core bench does (1000 random assets).
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "-p", "server", "--bench", "grid_core", "--", case],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            parts = line.split()
            found[(parts[1], parts[2])] = float(parts[3])
    theirs_line = subprocess.run(
        [os.path.join(os.environ["PYENV"], "bin/python"), "scripts/py/bench_networkx.py", "case9241pegase"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = float([l for l in theirs_line.splitlines() if l.startswith("RESULT")][0].split()[3])
    results.add(
        "N-1 vs networkx (case9241pegase)",
        round(theirs / ours),
        "x",
        f"Gridscope {ours:.2f} ms (criterion median, 95 % CI {low:.2f}–{high:.2f}) incl. topology build, "
        f"networkx {theirs:,.0f} ms",
    )
    impact_median, _, _ = criterion_estimate("impact_query", case)
    results.add(
        "impact p95 (grid)",
        found[(case, "impact_p95_ms")],
        "ms",
        f"p50 {found[(case, 'impact_p50_ms')]:.2f} ms of 1000 queries; criterion median {impact_median:.3f} ms; {case}",
    )


def section_soak(server, results, work, minutes):
    """Server functions, anonymous pages and signed-in pages at once (500 connections in all),
    as browsers ask for them; then counts connections the server still holds open."""
    print(f"Soak: {minutes} minutes at 500 connections (server functions, pages anonymous and signed in)", flush=True)
    cookies = os.path.join(work, "soak-cookies.txt")
    sign_in_sessions(server, 200, cookies)
    seconds = int(minutes * 60)
    runs = {
        # Signed-in pages render per request (never from the shared cache), each one streaming
        # its resources: the renders a stuck response would come from.
        "signed-in pages": dict(paths=[("/", ""), ("/assets", "")], connections=100, cookies=cookies, method="GET"),
        "anonymous pages": dict(paths=[("/", ""), ("/assets", ""), ("/map", "")], connections=150, method="GET"),
        "server functions": dict(
            paths=[("/api/overview_kpis", ""), ("/api/assets", ASSETS_BODY), ("/api/grid_summary", "")],
            connections=250,
            sample=server.rss,
        ),
    }
    outcomes = {}

    def run(name, spec):
        spec = dict(spec)
        outcomes[name] = wrk(server.base, spec.pop("paths"), spec.pop("connections"), seconds, **spec)

    threads = [threading.Thread(target=run, args=item) for item in runs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(outcomes) != len(runs):
        raise SystemExit("a soak load run failed")
    errors = sum(r["error_count"] for r in outcomes.values())
    requests = sum(r["requests"] for r in outcomes.values())
    detail = "; ".join(
        f"{name}: {r['requests']:,} ({round(r['rps'])} req/s, p99 {r['p99_us'] / 1000:.1f} ms) {json.dumps(r['errors'])}"
        for name, r in outcomes.items()
    )
    results.add("soak errors", errors, "", f"{requests:,} requests; {detail}")
    # Every load generator has closed its connections: any the server still holds after a
    # few seconds is a response that never ended.
    time.sleep(5)
    held = server_connections(server.port)
    results.add("soak connections left open", held, "", "established TCP connections to the server 5 s after the load ended")
    r = outcomes["server functions"]
    after_first = [m for t, m in r["samples"] if t >= 60]
    base = after_first[0] if after_first else float("nan")
    end = r["samples"][-1][1]
    drift = abs(end - base) / base * 100
    results.add(
        "soak RSS drift after minute 1",
        drift,
        "%",
        f"{base:.1f} MB at 1 min, {end:.1f} MB at the end, peak {max(m for _, m in r['samples']):.1f} MB",
    )


def server_connections(port):
    """Established TCP connections whose local port is the server's (from /proc/net/tcp*)."""
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                        held += 1
        except FileNotFoundError:
            pass
    return held


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) / 1048576
    return f"{os.cpu_count()} cores ({cpu}), {total:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="case_ACTIVSg70k")
    parser.add_argument("--only", default="api,html,pages,algorithms,memory", help="sections, comma-separated")
    parser.add_argument("--soak", action="store_true", help="also run the soak")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=int, default=15, help="length of each load run")
    parser.add_argument("--runs", type=int, default=5, help="cold page loads per profile")
    parser.add_argument("--record", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args()
    sections = [s for s in args.only.split(",") if s] + (["soak"] if args.soak else [])
    if shutil.which("wrk") is None and {"api", "html", "memory", "soak"} & set(sections):
        raise SystemExit("wrk is not installed: run scripts/setup (or apt-get install wrk)")

    results = Results()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"machine: {machine()}; grid: {args.case}; sections: {', '.join(sections)}", flush=True)
    work = tempfile.mkdtemp(prefix="gridscope-bench-")
    server = Server(args.case, work)
    try:
        server.start()
        time.sleep(1)
        rss_idle = server.rss()
        check_paths(server)
        rss_grid = server.rss()
        if "api" in sections:
            section_api(server, results, args.seconds)
        if "html" in sections:
            section_html(server, results, work, args.seconds)
        if "pages" in sections:
            section_pages(server, results, args.runs)
        if "memory" in sections:
            section_memory(server, results, work, args.seconds, rss_idle, rss_grid)
        if "soak" in sections:
            section_soak(server, results, work, args.soak_minutes)
    finally:
        server.stop()
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
    if "algorithms" in sections:
        section_algorithms(results, args.case)

    failed = [r[0] for r in results.rows if r[4] == "FAIL"]
    print(f"\n{len([r for r in results.rows if r[4]])} budgets checked, {len(failed)} failed: {', '.join(failed) or 'none'}")
    if args.record:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        with open(os.path.join(ROOT, "docs/benchmarks.md"), "a") as f:
            f.write(
                f"\n## `scripts/bench` — {started:%Y-%m-%d %H:%M} UTC, commit {commit}\n\n"
                f"Machine: {machine()} (shared build machine; the load generator runs on the same two cores "
                f"as the server). Grid: {args.case}, embedded store. Sections: {', '.join(sections)}.\n\n"
                + results.markdown()
                + "\n"
            )
        log("appended to docs/benchmarks.md")


if __name__ == "__main__":
    main()
