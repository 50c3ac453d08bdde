"""networkx baseline for N-1 screening, timed the way a Python prototype would do it.

Usage:  bench_networkx.py <case> [--budget SECONDS] [--repeat N]

Graph construction (pandapower.topology.create_nxgraph, switches respected) is NOT timed.
Timed: networkx bridges of the bus graph (dropping parallel edges) and, for every bridge, the
buses no longer connected to a source once it is removed (remove edge, connected components
from the sources, put the edge back) — the same output as `gridscope analyze n1`.
If the per-bridge part exceeds the budget, it stops and extrapolates from the share done;
the output says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

import networkx as nx  # noqa: E402
import pandapower.topology as top  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from convert_grid import load_case  # noqa: E402
from make_references import sources, supplied  # noqa: E402


def screen(mg, roots, budget):
    started = time.perf_counter()
    simple = nx.Graph(mg)
    multiplicity = {}
    for u, v, _ in mg.edges(keys=True):
        pair = (min(u, v), max(u, v))
        multiplicity[pair] = multiplicity.get(pair, 0) + 1
    bridges = [p for p in ((min(u, v), max(u, v)) for u, v in nx.bridges(simple)) if multiplicity[p] == 1]
    base = supplied(mg, roots)
    keyed = {}
    for u, v, key in mg.edges(keys=True):
        keyed[(min(u, v), max(u, v))] = (u, v, key)
    done, outages = 0, 0
    for pair in bridges:
        u, v, key = keyed[pair]
        data = mg.edges[u, v, key]
        mg.remove_edge(u, v, key)
        if base - supplied(mg, roots):
            outages += 1
        mg.add_edge(u, v, key, **data)
        done += 1
        if time.perf_counter() - started > budget:
            break
    elapsed = time.perf_counter() - started
    return elapsed, done, len(bridges), outages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--budget", type=float, default=120.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    net, name = load_case(args.case)
    mg = top.create_nxgraph(net, respect_switches=True, include_out_of_service=False)
    roots = sources(net)
    runs = []
    for _ in range(args.repeat):
        elapsed, done, total, outages = screen(mg, roots, args.budget)
        estimate = elapsed * total / done if done < total else elapsed
        runs.append(estimate)
        if done < total:
            break  # one extrapolated run is all the budget allows
    runs.sort()
    ms = runs[len(runs) // 2] * 1e3
    note = "measured" if done == total else f"extrapolated from {done} of {total} bridges"
    print(f"RESULT {name} networkx_n1_ms {ms:.1f} bridges {total} outages {outages} ({note}, networkx {nx.__version__})")


if __name__ == "__main__":
    main()
