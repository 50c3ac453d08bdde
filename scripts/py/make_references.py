"""Independent topology references for the Gridscope reference tests.

Usage:  make_references.py <case> <out.json>

Loads the case straight from pandapower (not from our converted CSV), builds pandapower's own
networkx graph of it (pandapower.topology.create_nxgraph) once with switches respected and
once with every switch closed, and records:

- bridges: branch elements (lines, transformers) that are bridges of the multigraph, found by
  networkx on the simple graph and dropped where two or more parallel branches join the same
  pair of buses (the documented rule: one parallel circuit cannot separate anything);
- articulation_points: networkx articulation points of the bus graph;
- outages: for every in-service line and transformer that is a bridge, the buses that were
  connected to a source (ext_grid or slack generator) before and are not after removing that
  one element, found by a fresh breadth-first search of the graph without that edge.

Ids follow convert_grid.py: bus-<index>, line-<index>, trafo-<index>.
"""

from __future__ import annotations

import json
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

ELEMENT_PREFIX = {"line": "line", "trafo": "trafo", "impedance": "impedance"}


def sources(net):
    buses = {int(b) for b, on in zip(net.ext_grid.bus, net.ext_grid.in_service) if on}
    if "slack" in net.gen.columns:
        buses |= {int(g.bus) for _, g in net.gen.iterrows() if g.in_service and bool(g.slack)}
    return buses


def supplied(graph, roots):
    reached = set()
    for r in roots:
        if r in graph and r not in reached:
            reached |= nx.node_connected_component(graph, r)
    return reached


def analyse(net, respect_switches: bool):
    mg = top.create_nxgraph(net, respect_switches=respect_switches, include_out_of_service=False)
    simple = nx.Graph(mg)
    multiplicity = {}
    for u, v, key in mg.edges(keys=True):
        pair = (min(u, v), max(u, v))
        multiplicity[pair] = multiplicity.get(pair, 0) + 1
    bridge_pairs = {(min(u, v), max(u, v)) for u, v in nx.bridges(simple)}
    bridge_pairs = {p for p in bridge_pairs if multiplicity[p] == 1}
    roots = sources(net)
    base = supplied(mg, roots)
    bridges, outages = [], []
    for u, v, key in list(mg.edges(keys=True)):
        table, index = key
        if table not in ELEMENT_PREFIX:
            continue  # bus-bus switches are not branch elements
        element = f"{ELEMENT_PREFIX[table]}-{int(index)}"
        if (min(u, v), max(u, v)) not in bridge_pairs:
            continue
        bridges.append(element)
        data = mg.edges[u, v, key]
        mg.remove_edge(u, v, key)
        lost = base - supplied(mg, roots)
        mg.add_edge(u, v, key, **data)
        if lost:
            outages.append({"element": element, "islanded_buses": sorted(f"bus-{int(b)}" for b in lost)})
    return {
        "respect_switches": respect_switches,
        "bridges": sorted(bridges),
        "articulation_points": sorted(f"bus-{int(b)}" for b in nx.articulation_points(simple)),
        "outages": sorted(outages, key=lambda o: o["element"]),
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    case, out = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    net, name = load_case(case)
    result = {"case": name, "generator": "scripts/py/make_references.py (networkx %s)" % nx.__version__,
              "modes": [analyse(net, True), analyse(net, False)]}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=None, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"make-references: {name}: {time.perf_counter() - started:.1f} s -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
