//! The grid as a graph of buses, and what its shape says about outages.
//!
//! Nodes are buses; edges are the in-service circuits of lines, transformers and closed
//! bus-bus switches. A switch that sits on a branch detaches that branch when open. In
//! [`SwitchMode::Ignore`] every switch counts as closed (the "as built" grid).
//!
//! Everything here is linear in buses + branches: one iterative depth-first search (Tarjan's
//! low-point numbering) yields bridges, articulation points, and — run from a virtual node
//! joined to every source bus — the N-1 islands and the customers behind every asset.
//!
//! **Rules** (documented in docs/analysis.md):
//! - *Parallel circuits*: a line with `circuits = 2` is two edges, as are two lines between
//!   the same buses. Losing one circuit never separates anything, so neither is a bridge.
//! - *Sources*: the buses of in-service generators marked `source` (slack / external grid).
//!   An outage "islands" a bus when it was connected to some source before and to none after.
//!   A bridge between two sources therefore islands nothing.
//! - *Articulation points* and *bridges* are the plain graph-theoretic ones, over every
//!   component, with or without sources (as networkx defines them).

use super::model::{Asset, AssetKind, GridData, Text};
use super::sparse::SparseCounts;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::BuildHasher;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchMode {
    /// Open switches disconnect (the grid as operated).
    Respect,
    /// Every switch counts as closed (the grid as built).
    Ignore,
}

#[derive(Clone, Copy, Debug)]
struct Edge {
    a: u32,
    b: u32,
    /// Asset index of the line, transformer or bus-bus switch; `NONE` for a virtual edge.
    asset: u32,
}

/// Result of one depth-first search (low-point numbering) over the graph.
struct Search {
    pre: Vec<u32>,
    low: Vec<u32>,
    parent: Vec<u32>,
    parent_edge: Vec<u32>,
    /// Subtree sizes in the search tree.
    size: Vec<u32>,
    /// Nodes in preorder: the subtree of `v` is `order[pre[v]..pre[v] + size[v]]`.
    order: Vec<u32>,
}

/// The bus graph of one grid in one switch mode, with everything needed to answer
/// topology questions without going back to the store.
pub struct Topology {
    mode: SwitchMode,
    ids: AssetIds,
    asset_kinds: Vec<AssetKind>,
    /// Bus number -> asset index.
    bus_asset: Vec<u32>,
    /// Asset index -> its bus number (a bus), the bus it hangs on (generator, load, switch)
    /// or `NONE`: one dense list where two maps took twice the room.
    asset_node: Vec<u32>,
    /// Real edges first (in asset order, an asset's edges together: see
    /// [`Topology::edges_of`]), then one virtual edge per source (from the super source).
    edges: Vec<Edge>,
    graph: Graph,
    /// Source generator asset index -> its virtual edge.
    source_edges: HashMap<u32, u32>,
    /// Assets hanging on each bus: generators, loads and switches at it.
    attached: Lists,
    /// Branches by end bus (for de-energised branch listing).
    branch_ends: Vec<(u32, u32, u32)>,
    /// Branch switch asset index -> the branch it sits on.
    switch_branches: HashMap<u32, u32>,
    /// Substation asset index -> its buses.
    substation_buses: HashMap<u32, Vec<u32>>,
    customers_at_bus: Vec<u64>,
    /// In-service loads on a bus: (asset index, customers), by asset index.
    customers_of_asset: SparseCounts,
    customers_total: u64,
    /// Base case: which buses are connected to a source.
    energised: Vec<bool>,
    n1: N1Summary,
}

/// Asset ids by position and positions by id. The ids are the assets' own (shared, not
/// copied), and the index holds only positions, found by the hash of their id: 4 bytes per
/// asset where a map from owned ids would copy every id again.
struct AssetIds {
    ids: Vec<Text>,
    /// When ids repeat (a grid that failed validation), the last position wins.
    positions: hashbrown::HashTable<u32>,
    /// foldhash, seeded per process.
    hasher: hashbrown::DefaultHashBuilder,
}

impl AssetIds {
    fn new(assets: &[Asset]) -> AssetIds {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let ids: Vec<Text> = assets.iter().map(|a| a.id.clone()).collect();
        let mut positions = hashbrown::HashTable::with_capacity(ids.len());
        let hash = |id: &str| hasher.hash_one(id);
        for (i, id) in ids.iter().enumerate() {
            match positions.entry(hash(id), |&p: &u32| ids[p as usize] == *id, |&p| hash(&ids[p as usize])) {
                hashbrown::hash_table::Entry::Occupied(mut kept) => *kept.get_mut() = i as u32,
                hashbrown::hash_table::Entry::Vacant(slot) => {
                    slot.insert(i as u32);
                }
            }
        }
        AssetIds { ids, positions, hasher }
    }

    fn get(&self, id: &str) -> Option<u32> {
        self.positions.find(self.hasher.hash_one(id), |&p| self.ids[p as usize] == *id).copied()
    }

    fn id(&self, position: u32) -> &str {
        &self.ids[position as usize]
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Precomputed from the search rooted at the super source.
struct N1Summary {
    search: Search,
    customers_below: Vec<u64>,
}

/// One connected group of buses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Island {
    pub buses: Vec<String>,
    /// Whether a source feeds it.
    pub energised: bool,
}

/// One single-branch outage that separates buses from every source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchOutage {
    pub element: String,
    pub islanded_buses: Vec<String>,
}

/// What an outage of one or more assets does, relative to the base case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    pub outaged: Vec<String>,
    /// Buses energised before and not after.
    pub deenergised_buses: Vec<String>,
    /// Every asset that loses supply (including the outaged ones and the buses).
    pub deenergised_assets: Vec<String>,
    pub customers_lost: u64,
    pub customers_total: u64,
    /// The de-energised buses (not themselves taken out) grouped into the islands they form
    /// once the outaged assets are gone: largest first, each sorted.
    pub islands: Vec<Vec<String>>,
    /// Who loses supply: the de-energised loads, most customers first (at most
    /// [`MAX_AFFECTED_LISTED`]; filled in by the impact server function from the grid).
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// All de-energised loads, beyond those listed.
    #[serde(default)]
    pub affected_total: usize,
    /// Customers losing supply per region, most first.
    #[serde(default)]
    pub by_region: Vec<(String, u64)>,
}

/// Loads listed as affected by an outage, at most.
pub const MAX_AFFECTED_LISTED: usize = 100;

/// A load that loses supply: who is behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    pub id: String,
    pub name: String,
    pub customers: u64,
    pub region: Option<String>,
}

impl Impact {
    /// Fills in who is affected ([`Impact::affected`], [`Impact::by_region`]) from the grid.
    pub fn with_affected(mut self, grid: &GridData) -> Impact {
        let lost: std::collections::HashSet<&str> =
            self.deenergised_assets.iter().map(String::as_str).collect();
        let mut regions: HashMap<String, u64> = HashMap::new();
        let mut affected: Vec<Affected> = grid
            .assets
            .iter()
            .filter(|a| a.kind == AssetKind::Load && lost.contains(a.id.as_str()))
            .map(|a| {
                let customers = u64::from(a.customers.unwrap_or(0));
                let region = a.region.as_deref().map(str::to_owned);
                *regions.entry(region.clone().unwrap_or_else(|| "no region given".into())).or_default() +=
                    customers;
                Affected { id: a.id.to_string(), name: a.name.to_string(), customers, region }
            })
            .collect();
        affected.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| a.name.cmp(&b.name)));
        self.affected_total = affected.len();
        affected.truncate(MAX_AFFECTED_LISTED);
        self.affected = affected;
        let mut by_region: Vec<(String, u64)> = regions.into_iter().collect();
        by_region.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.by_region = by_region;
        self
    }
}

/// One step of a downstream trace: `bus` is fed from `parent` through `via`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    pub bus: String,
    pub parent: Option<String>,
    pub via: Option<String>,
    pub depth: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    #[error("no asset with id '{0}'")]
    UnknownAsset(String),
}

impl Topology {
    /// Build the graph of a validated grid (see [`GridData::validate`]). References that do
    /// not resolve are skipped rather than trusted.
    pub fn build(grid: &GridData, mode: SwitchMode) -> Topology {
        let assets = &grid.assets;
        let ids = AssetIds::new(assets);
        let mut bus_asset = Vec::new();
        let mut asset_node = vec![NONE; assets.len()];
        let mut bus_in_service = Vec::new();
        for (i, a) in assets.iter().enumerate().filter(|(_, a)| a.kind == AssetKind::Bus) {
            asset_node[i] = bus_asset.len() as u32;
            bus_asset.push(i as u32);
            bus_in_service.push(a.in_service);
        }
        let buses = bus_asset.len();
        let bus_of =
            |asset: u32| (assets[asset as usize].kind == AssetKind::Bus).then(|| asset_node[asset as usize]);
        let bus = |id: &Option<Text>| -> Option<u32> {
            let b = bus_of(ids.get(id.as_deref()?)?)?;
            bus_in_service[b as usize].then_some(b)
        };
        // Branches detached by an open switch at one of their ends.
        let mut detached = vec![false; assets.len()];
        if mode == SwitchMode::Respect {
            for a in assets.iter().filter(|a| a.kind == AssetKind::Switch && a.closed == Some(false)) {
                if let Some(e) = a.element.as_deref().and_then(|e| ids.get(e)) {
                    detached[e as usize] = true;
                }
            }
        }
        let mut edges = Vec::new();
        let mut branch_ends = Vec::new();
        let mut attached = Vec::new();
        let mut substation_buses: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut switch_branches = HashMap::new();
        let mut hung = Vec::new();
        let mut customers_at_bus = vec![0u64; buses];
        let mut customers_of_asset = Vec::new();
        let mut customers_total = 0u64;
        let mut sources = Vec::new();
        for (i, a) in assets.iter().enumerate() {
            let i = i as u32;
            match a.kind {
                AssetKind::Line | AssetKind::Transformer => {
                    if let (Some(x), Some(y)) = (bus(&a.from_bus), bus(&a.to_bus)) {
                        branch_ends.push((i, x, y));
                        if a.in_service && !detached[i as usize] && x != y {
                            let circuits = if a.kind == AssetKind::Line { a.circuits.max(1) } else { 1 };
                            for _ in 0..circuits {
                                edges.push(Edge { a: x, b: y, asset: i });
                            }
                        }
                    }
                }
                AssetKind::Switch => {
                    if let Some(branch) = a.element.as_deref().and_then(|e| ids.get(e)) {
                        switch_branches.insert(i, branch);
                    }
                    if let Some(x) = bus(&a.bus) {
                        attached.push((x, i));
                        hung.push((i, x));
                        let closed = mode == SwitchMode::Ignore || a.closed != Some(false);
                        if let Some(y) = bus(&a.to_bus).filter(|_| closed && a.in_service) {
                            edges.push(Edge { a: x, b: y, asset: i });
                        }
                    }
                }
                AssetKind::Generator | AssetKind::Load => {
                    if let Some(x) = bus(&a.bus) {
                        attached.push((x, i));
                        hung.push((i, x));
                        if a.kind == AssetKind::Generator && a.source && a.in_service {
                            sources.push((i, x));
                        }
                        if a.kind == AssetKind::Load {
                            let c = a.customers.unwrap_or(0);
                            customers_total += u64::from(c);
                            if a.in_service {
                                customers_of_asset.push((i, c));
                                customers_at_bus[x as usize] += u64::from(c);
                            }
                        }
                    }
                }
                AssetKind::Bus => {
                    if let Some(s) = a.substation.as_deref().and_then(|s| ids.get(s)) {
                        substation_buses.entry(s).or_default().push(asset_node[i as usize]);
                    }
                }
                AssetKind::Substation => {}
            }
        }
        let real_edges = edges.len();
        for (i, x) in hung {
            asset_node[i as usize] = x;
        }
        let super_source = buses as u32;
        let mut source_edges = HashMap::new();
        for (asset, b) in sources {
            source_edges.insert(asset, edges.len() as u32);
            edges.push(Edge { a: super_source, b, asset: NONE });
        }
        let graph = Graph::new(buses + 1, &edges, real_edges);
        let mut topology = Topology {
            mode,
            asset_kinds: assets.iter().map(|a| a.kind).collect(),
            ids,
            bus_asset,
            asset_node,
            edges,
            graph,
            source_edges,
            attached: Lists::new(buses, &attached),
            branch_ends,
            switch_branches,
            substation_buses,
            customers_at_bus,
            customers_of_asset: SparseCounts::from_ordered(customers_of_asset),
            customers_total,
            energised: Vec::new(),
            n1: N1Summary { search: Search::empty(0), customers_below: Vec::new() },
        };
        let search = topology.graph.search(std::iter::once(super_source), true);
        topology.energised = (0..buses).map(|b| search.pre[b] != NONE).collect();
        let mut customers_below = vec![0u64; buses + 1];
        for &v in search.order.iter().rev() {
            if (v as usize) < buses {
                customers_below[v as usize] += topology.customers_at_bus[v as usize];
            }
            let p = search.parent[v as usize];
            if p != NONE {
                customers_below[p as usize] += customers_below[v as usize];
            }
        }
        topology.n1 = N1Summary { search, customers_below };
        topology
    }

    pub fn mode(&self) -> SwitchMode {
        self.mode
    }

    /// The position of the asset `id` in the grid's asset list.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.ids.get(id).map(|p| p as usize)
    }

    pub fn bus_count(&self) -> usize {
        self.bus_asset.len()
    }

    pub fn customers_total(&self) -> u64 {
        self.customers_total
    }

    fn bus_id(&self, b: u32) -> &str {
        self.ids.id(self.bus_asset[b as usize])
    }

    fn plain_search(&self) -> Search {
        self.graph.search(0..self.bus_count() as u32, false)
    }

    fn neighbours(&self, v: u32) -> &[(u32, u32)] {
        self.graph.neighbours(v)
    }

    /// Branch elements (lines, transformers) that are bridges of the bus graph, sorted by id.
    pub fn bridges(&self) -> Vec<String> {
        let s = self.plain_search();
        let mut out: Vec<String> = (0..self.bus_count())
            .filter(|&v| s.parent[v] != NONE && s.low[v] > s.pre[s.parent[v] as usize])
            .map(|v| self.edges[s.parent_edge[v] as usize].asset)
            .filter(|&a| self.asset_kinds[a as usize].is_branch())
            .map(|a| self.ids.id(a).to_owned())
            .collect();
        out.sort();
        out
    }

    /// Buses whose removal splits their component, sorted by id.
    pub fn articulation_points(&self) -> Vec<String> {
        let s = self.plain_search();
        let mut is_cut = vec![false; self.bus_count()];
        let mut root_children = vec![0u32; self.bus_count()];
        for v in 0..self.bus_count() {
            let p = s.parent[v];
            if p == NONE {
                continue;
            }
            if s.parent[p as usize] == NONE {
                root_children[p as usize] += 1;
            } else if s.low[v] >= s.pre[p as usize] {
                is_cut[p as usize] = true;
            }
        }
        let mut out: Vec<String> = (0..self.bus_count())
            .filter(|&v| is_cut[v] || root_children[v] > 1)
            .map(|v| self.bus_id(v as u32).to_string())
            .collect();
        out.sort();
        out
    }

    /// Every single-branch outage that separates buses from all sources, with the buses it
    /// islands; sorted by element id, buses sorted by id.
    pub fn n1_outages(&self) -> Vec<BranchOutage> {
        let s = &self.n1.search;
        let mut out: Vec<BranchOutage> = (0..self.bus_count())
            .filter(|&v| s.parent[v] != NONE && s.low[v] > s.pre[s.parent[v] as usize])
            .filter_map(|v| {
                let e = s.parent_edge[v] as usize;
                let asset = self.edges[e].asset;
                if e >= self.graph.real_edges || !self.asset_kinds[asset as usize].is_branch() {
                    return None;
                }
                let mut islanded: Vec<String> =
                    s.subtree(v as u32).iter().map(|&b| self.bus_id(b).to_string()).collect();
                islanded.sort();
                Some(BranchOutage { element: self.ids.id(asset).to_owned(), islanded_buses: islanded })
            })
            .collect();
        out.sort_by(|a, b| a.element.cmp(&b.element));
        out
    }

    /// The single points of failure ranked for operators: each N-1 outage with the customers
    /// it cuts off, most customers first, then most islanded buses, then by element id.
    pub fn n1_ranked(&self) -> Vec<(BranchOutage, u64)> {
        let behind = self.customers_behind_each_asset();
        let mut ranked: Vec<(BranchOutage, u64)> = self
            .n1_outages()
            .into_iter()
            .map(|o| {
                let customers = self.ids.get(&o.element).map_or(0, |i| behind[i as usize]);
                (o, customers)
            })
            .collect();
        ranked.sort_by(|(a, ca), (b, cb)| {
            cb.cmp(ca)
                .then(b.islanded_buses.len().cmp(&a.islanded_buses.len()))
                .then_with(|| a.element.cmp(&b.element))
        });
        ranked
    }

    /// Customers who lose supply if the asset at `index` fails (one impact query; equal to
    /// `customers_behind_each_asset()[index]`).
    pub fn customers_behind(&self, index: usize) -> u64 {
        self.impact_of_indices(&[index as u32]).customers_lost
    }

    /// Customers who lose supply if this one asset fails, computed for every asset at once
    /// from the precomputed search (linear). Keyed by asset index order of the grid.
    pub fn customers_behind_each_asset(&self) -> Vec<u64> {
        let s = &self.n1.search;
        let below = &self.n1.customers_below;
        let bridge_below = |v: u32| -> bool {
            let p = s.parent[v as usize];
            p != NONE && s.low[v as usize] > s.pre[p as usize]
        };
        let mut out = vec![0u64; self.ids.len()];
        // Bridges (real and virtual): the customers below the child end.
        let mut edge_loss = vec![0u64; self.edges.len()];
        for v in 0..self.bus_count() as u32 {
            if bridge_below(v) {
                edge_loss[s.parent_edge[v as usize] as usize] = below[v as usize];
            }
        }
        // A bus: its own customers plus every child subtree with no way around it.
        let mut bus_loss: Vec<u64> = (0..self.bus_count())
            .map(|b| if self.energised[b] { self.customers_at_bus[b] } else { 0 })
            .collect();
        for v in 0..self.bus_count() {
            let p = s.parent[v];
            if p != NONE && (p as usize) < self.bus_count() && s.low[v] >= s.pre[p as usize] {
                bus_loss[p as usize] += below[v];
            }
        }
        for (i, kind) in self.asset_kinds.iter().enumerate() {
            let i32_ = i as u32;
            out[i] = match kind {
                AssetKind::Bus => self.bus_of_asset(i32_).map_or(0, |b| bus_loss[b as usize]),
                AssetKind::Line | AssetKind::Transformer => self.edges_loss(i32_, &edge_loss),
                // A failed switch opens the branch it sits on (or its own bus-bus connection).
                AssetKind::Switch => self.edges_loss(self.switch_branch(i32_).unwrap_or(i32_), &edge_loss),
                AssetKind::Generator => self.source_edges.get(&i32_).map_or(0, |&e| edge_loss[e as usize]),
                AssetKind::Load => {
                    let bus = self.attached_bus(i32_);
                    if bus.is_some_and(|b| self.energised[b as usize]) {
                        self.customers_of(i32_)
                    } else {
                        0
                    }
                }
                AssetKind::Substation => 0,
            };
        }
        for (sub, loss) in self.substation_losses() {
            out[sub as usize] = loss;
        }
        out
    }

    /// Customers lost when a whole substation fails, for every substation. Substations whose
    /// buses are connected among themselves are contracted to one node each, and one search
    /// over the contracted graph gives all their losses (linear); the rare substation whose
    /// buses are not connected internally gets a direct search.
    fn substation_losses(&self) -> Vec<(u32, u64)> {
        let buses = self.bus_count();
        let mut root: Vec<u32> = (0..buses as u32).collect();
        fn find(root: &mut [u32], mut x: u32) -> u32 {
            while root[x as usize] != x {
                root[x as usize] = root[root[x as usize] as usize];
                x = root[x as usize];
            }
            x
        }
        let mut substation_of = vec![NONE; buses];
        for (&sub, members) in &self.substation_buses {
            members.iter().for_each(|&b| substation_of[b as usize] = sub);
        }
        for e in &self.edges[..self.graph.real_edges] {
            if substation_of[e.a as usize] != NONE
                && substation_of[e.a as usize] == substation_of[e.b as usize]
            {
                let (x, y) = (find(&mut root, e.a), find(&mut root, e.b));
                root[x as usize] = y;
            }
        }
        let mut node_of = vec![NONE; buses];
        let mut contracted = Vec::new();
        let mut direct = Vec::new();
        let mut next = 0u32;
        for (&sub, members) in &self.substation_buses {
            let first = find(&mut root, members[0]);
            if members.iter().all(|&b| find(&mut root, b) == first) {
                members.iter().for_each(|&b| node_of[b as usize] = next);
                contracted.push((sub, next));
                next += 1;
            } else {
                direct.push(sub);
            }
        }
        for slot in node_of.iter_mut().filter(|n| **n == NONE) {
            *slot = next;
            next += 1;
        }
        let super_source = next;
        let nodes = next as usize + 1;
        let map = |v: u32| if v as usize == buses { super_source } else { node_of[v as usize] };
        let edges: Vec<Edge> =
            self.edges.iter().map(|e| Edge { a: map(e.a), b: map(e.b), asset: e.asset }).collect();
        let graph = Graph::new(nodes, &edges, self.graph.real_edges);
        let search = graph.search(std::iter::once(super_source), true);
        // Only customers energised in the base case can be lost.
        let mut customers = vec![0u64; nodes];
        for b in 0..buses {
            if self.energised[b] {
                customers[node_of[b] as usize] += self.customers_at_bus[b];
            }
        }
        let mut below = customers.clone();
        for &v in search.order.iter().rev() {
            let p = search.parent[v as usize];
            if p != NONE {
                below[p as usize] += below[v as usize];
            }
        }
        let mut loss = customers;
        for v in 0..nodes {
            let p = search.parent[v];
            if p != NONE && p != super_source && search.low[v] >= search.pre[p as usize] {
                loss[p as usize] += below[v];
            }
        }
        let mut out: Vec<(u32, u64)> =
            contracted.into_iter().map(|(sub, node)| (sub, loss[node as usize])).collect();
        out.extend(direct.into_iter().map(|sub| (sub, self.impact_of_indices(&[sub]).customers_lost)));
        out
    }

    /// Customers lost when the whole asset fails. An asset with several circuits loses them
    /// all at once (a double-circuit line on one tower line), which the single-edge search
    /// cannot see; those few assets get a direct search.
    fn edges_loss(&self, asset: u32, edge_loss: &[u64]) -> u64 {
        let edges = self.edges_of(asset);
        match edges.len() {
            0 => 0,
            1 => edge_loss[edges.start as usize],
            _ => self.impact_of_indices(&[asset]).customers_lost,
        }
    }

    /// The edges asset `asset` provides (line circuits, transformer, bus-bus switch; none
    /// for other kinds): real edges are in asset order, so a binary search finds them.
    fn edges_of(&self, asset: u32) -> std::ops::Range<u32> {
        let real = &self.edges[..self.graph.real_edges];
        let first = real.partition_point(|e| e.asset < asset);
        let count = real[first..].iter().take_while(|e| e.asset == asset).count();
        first as u32..(first + count) as u32
    }

    /// The bus number of the asset `asset` if it is a bus.
    fn bus_of_asset(&self, asset: u32) -> Option<u32> {
        let b = self.asset_node[asset as usize];
        (self.asset_kinds[asset as usize] == AssetKind::Bus && b != NONE).then_some(b)
    }

    /// The bus a generator, load or switch hangs on.
    fn attached_bus(&self, asset: u32) -> Option<u32> {
        let b = self.asset_node[asset as usize];
        (self.asset_kinds[asset as usize] != AssetKind::Bus && b != NONE).then_some(b)
    }

    /// The customers of an in-service load on a bus (0 for anything else).
    fn customers_of(&self, asset: u32) -> u64 {
        u64::from(self.customers_of_asset.get(asset))
    }

    /// Connected groups of buses (sorted by their first bus id), each marked energised or not.
    pub fn islands(&self) -> Vec<Island> {
        let s = self.plain_search();
        let mut islands: Vec<Island> = (0..self.bus_count() as u32)
            .filter(|&v| s.parent[v as usize] == NONE)
            .map(|root| {
                let mut buses: Vec<String> =
                    s.subtree(root).iter().map(|&b| self.bus_id(b).to_string()).collect();
                buses.sort();
                Island { buses, energised: self.energised[root as usize] }
            })
            .collect();
        islands.sort_by(|a, b| a.buses[0].cmp(&b.buses[0]));
        islands
    }

    /// Whether the bus (by asset id) is connected to a source in the base case.
    pub fn is_energised(&self, bus_id: &str) -> Option<bool> {
        let asset = self.ids.get(bus_id)?;
        self.bus_of_asset(asset).map(|b| self.energised[b as usize])
    }

    /// What the simultaneous outage of `assets` de-energises, relative to the base case.
    pub fn impact_of_outage(&self, assets: &[&str]) -> Result<Impact, TopologyError> {
        let indices = assets
            .iter()
            .map(|id| self.ids.get(id).ok_or_else(|| TopologyError::UnknownAsset(id.to_string())))
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(self.impact_of_indices(&indices))
    }

    fn outage_masks(&self, indices: &[u32]) -> (Vec<bool>, Vec<bool>) {
        let mut edge_out = vec![false; self.edges.len()];
        let mut bus_out = vec![false; self.bus_count()];
        for &i in indices {
            self.edges_of(i).for_each(|e| edge_out[e as usize] = true);
            if let Some(&e) = self.source_edges.get(&i) {
                edge_out[e as usize] = true;
            }
            if let Some(b) = self.bus_of_asset(i) {
                bus_out[b as usize] = true;
            }
            if let Some(buses) = self.substation_buses.get(&i) {
                buses.iter().for_each(|&b| bus_out[b as usize] = true);
            }
        }
        (edge_out, bus_out)
    }

    fn impact_of_indices(&self, indices: &[u32]) -> Impact {
        let (mut edge_out, bus_out) = self.outage_masks(indices);
        for &i in indices {
            if let Some(branch) = self.switch_branch(i) {
                self.edges_of(branch).for_each(|e| edge_out[e as usize] = true);
            }
        }
        let reached = self.reach_from_sources(&edge_out, &bus_out);
        let lost: Vec<u32> = (0..self.bus_count() as u32)
            .filter(|&b| self.energised[b as usize] && !reached[b as usize])
            .collect();
        let mut outaged_asset = vec![false; self.ids.len()];
        indices.iter().for_each(|&i| outaged_asset[i as usize] = true);
        let mut dead = vec![false; self.ids.len()];
        let mut customers_lost = 0;
        for &b in &lost {
            dead[self.bus_asset[b as usize] as usize] = true;
            for &a in self.attached.of(b) {
                dead[a as usize] = true;
            }
            customers_lost += self.customers_at_bus[b as usize];
        }
        for &i in indices {
            dead[i as usize] = true;
            // A load taken out directly loses its own customers (if its bus stays up).
            if self.asset_kinds[i as usize] == AssetKind::Load
                && self.attached_bus(i).is_some_and(|b| reached[b as usize])
            {
                customers_lost += self.customers_of(i);
            }
        }
        let bus_dead = |b: u32| self.energised[b as usize] && !reached[b as usize];
        for &(branch, x, y) in &self.branch_ends {
            if bus_dead(x) && bus_dead(y) {
                dead[branch as usize] = true;
            }
        }
        for (&sub, buses) in &self.substation_buses {
            if !buses.is_empty() && buses.iter().all(|&b| bus_dead(b)) {
                dead[sub as usize] = true;
            }
        }
        let sorted_ids = |mask: Vec<bool>| -> Vec<String> {
            let mut ids: Vec<String> = mask
                .iter()
                .enumerate()
                .filter(|(_, &d)| d)
                .map(|(i, _)| self.ids.id(i as u32).to_owned())
                .collect();
            ids.sort();
            ids
        };
        let mut deenergised_buses: Vec<String> = lost.iter().map(|&b| self.bus_id(b).to_string()).collect();
        deenergised_buses.sort();
        let islands = self.islands_among(&lost, &edge_out, &bus_out);
        Impact {
            islands,
            outaged: sorted_ids(outaged_asset),
            deenergised_buses,
            deenergised_assets: sorted_ids(dead),
            customers_lost,
            customers_total: self.customers_total,
            affected: Vec::new(),
            affected_total: 0,
            by_region: Vec::new(),
        }
    }

    /// The part of a radial feeder that hangs below `asset`: the buses that lose supply when
    /// it fails, each with the bus and branch that feeds it, in breadth-first order from the
    /// asset. Where a meshed part offers another way round, the trace stops (those buses keep
    /// supply and are not "downstream").
    pub fn downstream_trace(&self, asset: &str) -> Result<Vec<TraceStep>, TopologyError> {
        let index = self.ids.get(asset).ok_or_else(|| TopologyError::UnknownAsset(asset.to_string()))?;
        let impact = self.impact_of_indices(&[index]);
        let mut lost = vec![false; self.bus_count()];
        for id in &impact.deenergised_buses {
            let bus = self.ids.get(id).and_then(|a| self.bus_of_asset(a));
            lost[bus.expect("a listed bus exists") as usize] = true;
        }
        // Start where the asset touches the lost part: the bus itself, or the lost ends of
        // the failed branch(es).
        let mut starts: Vec<(u32, Option<u32>, Option<u32>)> = Vec::new();
        let own = self.switch_branch(index).unwrap_or(index);
        if let Some(b) = self.bus_of_asset(index) {
            starts.push((b, None, None));
        }
        for &(_, x, y) in self.branch_ends.iter().filter(|(branch, _, _)| *branch == own) {
            for (from, to) in [(x, y), (y, x)] {
                if lost[to as usize] && !lost[from as usize] {
                    starts.push((to, Some(from), Some(own)));
                }
            }
        }
        if let Some(b) = self.attached_bus(index) {
            if lost[b as usize] {
                starts.push((b, None, None));
            }
        }
        let mut seen = vec![false; self.bus_count()];
        let mut queue = std::collections::VecDeque::new();
        for (b, parent, via) in starts {
            if !seen[b as usize] {
                seen[b as usize] = true;
                queue.push_back((b, parent, via, 0u32));
            }
        }
        let mut steps = Vec::new();
        while let Some((b, parent, via, depth)) = queue.pop_front() {
            steps.push(TraceStep {
                bus: self.bus_id(b).to_string(),
                parent: parent.map(|p| self.bus_id(p).to_string()),
                via: via.map(|a| self.ids.id(a).to_owned()),
                depth,
            });
            for &(v, e) in self.neighbours(b) {
                if (v as usize) < self.bus_count() && lost[v as usize] && !seen[v as usize] {
                    seen[v as usize] = true;
                    queue.push_back((v, Some(b), Some(self.edges[e as usize].asset), depth + 1));
                }
            }
        }
        Ok(steps)
    }

    /// The branch a switch sits on, if it is a branch switch.
    fn switch_branch(&self, asset: u32) -> Option<u32> {
        if self.asset_kinds[asset as usize] != AssetKind::Switch || !self.edges_of(asset).is_empty() {
            return None;
        }
        self.switch_branches.get(&asset).copied()
    }

    /// Connected groups of the `lost` buses over the edges still in service (buses taken out
    /// themselves are not part of any island).
    fn islands_among(&self, lost: &[u32], edge_out: &[bool], bus_out: &[bool]) -> Vec<Vec<String>> {
        let n = self.bus_count();
        let mut member = vec![false; n];
        lost.iter().filter(|&&b| !bus_out[b as usize]).for_each(|&b| member[b as usize] = true);
        let mut seen = vec![false; n];
        let mut islands = Vec::new();
        for &start in lost {
            if !member[start as usize] || seen[start as usize] {
                continue;
            }
            seen[start as usize] = true;
            let (mut stack, mut buses) = (vec![start], Vec::new());
            while let Some(u) = stack.pop() {
                buses.push(self.bus_id(u).to_string());
                for &(v, e) in self.neighbours(u) {
                    let v = v as usize;
                    if v < n && !edge_out[e as usize] && member[v] && !seen[v] {
                        seen[v] = true;
                        stack.push(v as u32);
                    }
                }
            }
            buses.sort();
            islands.push(buses);
        }
        islands.sort_by(|a: &Vec<String>, b| b.len().cmp(&a.len()).then_with(|| a[0].cmp(&b[0])));
        islands
    }

    fn reach_from_sources(&self, edge_out: &[bool], bus_out: &[bool]) -> Vec<bool> {
        let super_source = self.bus_count() as u32;
        let mut seen = vec![false; self.bus_count() + 1];
        seen[super_source as usize] = true;
        let mut queue = std::collections::VecDeque::from([super_source]);
        while let Some(u) = queue.pop_front() {
            for &(v, e) in self.neighbours(u) {
                if edge_out[e as usize]
                    || seen[v as usize]
                    || ((v as usize) < bus_out.len() && bus_out[v as usize])
                {
                    continue;
                }
                seen[v as usize] = true;
                queue.push_back(v);
            }
        }
        seen.truncate(self.bus_count());
        seen
    }
}

impl Search {
    fn empty(n: usize) -> Search {
        Search {
            pre: vec![NONE; n],
            low: vec![NONE; n],
            parent: vec![NONE; n],
            parent_edge: vec![NONE; n],
            size: vec![1; n],
            order: Vec::with_capacity(n),
        }
    }

    fn visit(&mut self, v: u32, parent: u32, edge: u32) {
        let t = self.order.len() as u32;
        self.pre[v as usize] = t;
        self.low[v as usize] = t;
        self.parent[v as usize] = parent;
        self.parent_edge[v as usize] = edge;
        self.order.push(v);
    }

    fn subtree(&self, v: u32) -> &[u32] {
        let start = self.pre[v as usize] as usize;
        &self.order[start..start + self.size[v as usize] as usize]
    }
}

/// Compressed adjacency lists: `adjacency[offsets[v]..offsets[v + 1]]` are `(neighbour, edge)`.
/// Edges numbered from `real_edges` on are virtual (super source to a source bus).
/// Lists of positions, one per node, held as one list and where each begins (a list per
/// node would cost 24 bytes of header and an allocation each).
struct Lists {
    offsets: Vec<u32>,
    items: Vec<u32>,
}

impl Lists {
    /// The lists of `nodes` nodes from `(node, item)` pairs; each list keeps its items in
    /// the order of the pairs (built by counting, without a list per node on the way).
    fn new(nodes: usize, pairs: &[(u32, u32)]) -> Lists {
        let mut offsets = vec![0u32; nodes + 1];
        for &(node, _) in pairs {
            offsets[node as usize + 1] += 1;
        }
        for v in 0..nodes {
            offsets[v + 1] += offsets[v];
        }
        let mut fill = offsets[..nodes].to_vec();
        let mut items = vec![0u32; pairs.len()];
        for &(node, item) in pairs {
            items[fill[node as usize] as usize] = item;
            fill[node as usize] += 1;
        }
        Lists { offsets, items }
    }

    fn of(&self, node: u32) -> &[u32] {
        &self.items[self.offsets[node as usize] as usize..self.offsets[node as usize + 1] as usize]
    }
}

struct Graph {
    offsets: Vec<u32>,
    adjacency: Vec<(u32, u32)>,
    real_edges: usize,
}

impl Graph {
    fn new(nodes: usize, edges: &[Edge], real_edges: usize) -> Graph {
        let mut degree = vec![0u32; nodes + 1];
        for e in edges.iter().filter(|e| e.a != e.b) {
            degree[e.a as usize] += 1;
            degree[e.b as usize] += 1;
        }
        let mut offsets = vec![0u32; nodes + 1];
        for v in 0..nodes {
            offsets[v + 1] = offsets[v] + degree[v];
        }
        let mut fill = offsets.clone();
        let mut adjacency = vec![(0, 0); offsets[nodes] as usize];
        for (i, e) in edges.iter().enumerate().filter(|(_, e)| e.a != e.b) {
            adjacency[fill[e.a as usize] as usize] = (e.b, i as u32);
            fill[e.a as usize] += 1;
            adjacency[fill[e.b as usize] as usize] = (e.a, i as u32);
            fill[e.b as usize] += 1;
        }
        Graph { offsets, adjacency, real_edges }
    }

    fn neighbours(&self, v: u32) -> &[(u32, u32)] {
        &self.adjacency[self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize]
    }

    /// Iterative depth-first search from `roots` in order, with low-point numbering.
    /// `with_sources` includes the super source's virtual edges.
    fn search(&self, roots: impl Iterator<Item = u32>, with_sources: bool) -> Search {
        let n = self.offsets.len() - 1;
        let mut s = Search::empty(n);
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for root in roots {
            if s.pre[root as usize] != NONE {
                continue;
            }
            s.visit(root, NONE, NONE);
            stack.push((root, self.offsets[root as usize]));
            while let Some(top) = stack.last_mut() {
                let u = top.0;
                if top.1 < self.offsets[u as usize + 1] {
                    let (v, e) = self.adjacency[top.1 as usize];
                    top.1 += 1;
                    if (!with_sources && e as usize >= self.real_edges) || e == s.parent_edge[u as usize] {
                        continue;
                    }
                    if s.pre[v as usize] == NONE {
                        s.visit(v, u, e);
                        stack.push((v, self.offsets[v as usize]));
                    } else {
                        s.low[u as usize] = s.low[u as usize].min(s.pre[v as usize]);
                    }
                } else {
                    stack.pop();
                    let p = s.parent[u as usize];
                    if p != NONE {
                        s.low[p as usize] = s.low[p as usize].min(s.low[u as usize]);
                        s.size[p as usize] += s.size[u as usize];
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::Asset;
    use proptest::prelude::*;

    #[test]
    fn asset_ids_find_positions_share_the_assets_ids_and_the_last_repeat_wins() {
        let assets: Vec<Asset> =
            ["a", "b", "a", "c"].iter().map(|id| Asset::new(*id, AssetKind::Bus)).collect();
        let ids = AssetIds::new(&assets);
        assert_eq!(
            (ids.get("a"), ids.get("b"), ids.get("c"), ids.get("d"), ids.get("")),
            (Some(2), Some(1), Some(3), None, None)
        );
        assert_eq!((0..4).map(|p| ids.id(p)).collect::<Vec<_>>(), ["a", "b", "a", "c"]);
        assert!(Text::ptr_eq(&ids.ids[3], &assets[3].id), "shared, not copied");
        assert_eq!(ids.len(), 4);
        let many: Vec<Asset> = (0..5000).map(|i| Asset::new(format!("bus-{i}"), AssetKind::Bus)).collect();
        let ids = AssetIds::new(&many);
        assert!((0..5000).all(|i| ids.get(&format!("bus-{i}")) == Some(i)));
        assert_eq!(ids.get("bus-5000"), None);
    }
    use std::collections::{BTreeSet, HashSet};

    fn bus(id: &str) -> Asset {
        Asset::new(id, AssetKind::Bus)
    }
    fn branch(id: &str, kind: AssetKind, a: &str, b: &str) -> Asset {
        Asset { from_bus: Some(a.into()), to_bus: Some(b.into()), ..Asset::new(id, kind) }
    }
    fn line(id: &str, a: &str, b: &str) -> Asset {
        branch(id, AssetKind::Line, a, b)
    }
    fn source(id: &str, at: &str) -> Asset {
        Asset { bus: Some(at.into()), source: true, ..Asset::new(id, AssetKind::Generator) }
    }
    fn load(id: &str, at: &str, customers: u32) -> Asset {
        Asset { bus: Some(at.into()), customers: Some(customers), ..Asset::new(id, AssetKind::Load) }
    }
    fn branch_switch(id: &str, at: &str, element: &str, closed: bool) -> Asset {
        Asset {
            bus: Some(at.into()),
            element: Some(element.into()),
            closed: Some(closed),
            ..Asset::new(id, AssetKind::Switch)
        }
    }

    /// s — a — b — c, with a ring a — d — b and an open switch on line c–e.
    fn feeder() -> GridData {
        GridData {
            assets: vec![
                bus("s"),
                bus("a"),
                bus("b"),
                bus("c"),
                bus("d"),
                bus("e"),
                source("g", "s"),
                branch("t1", AssetKind::Transformer, "s", "a"),
                line("ab", "a", "b"),
                line("ad", "a", "d"),
                line("db", "d", "b"),
                line("bc", "b", "c"),
                line("ce", "c", "e"),
                branch_switch("sw", "e", "ce", false),
                load("lc", "c", 100),
                load("le", "e", 50),
                load("la", "a", 10),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn bridges_and_articulation_points_of_a_small_feeder() {
        let t = Topology::build(&feeder(), SwitchMode::Respect);
        assert_eq!(t.bridges(), vec!["bc", "t1"]);
        assert_eq!(t.articulation_points(), vec!["a", "b"]);
        let t = Topology::build(&feeder(), SwitchMode::Ignore);
        assert_eq!(t.bridges(), vec!["bc", "ce", "t1"]);
        assert_eq!(t.articulation_points(), vec!["a", "b", "c"]);
    }

    #[test]
    fn an_open_switch_leaves_its_far_side_unsupplied() {
        let t = Topology::build(&feeder(), SwitchMode::Respect);
        assert_eq!(t.is_energised("e"), Some(false));
        let islands = t.islands();
        assert_eq!(islands.len(), 2);
        assert_eq!(islands[1], Island { buses: vec!["e".into()], energised: false });
    }

    #[test]
    fn n1_lists_the_buses_each_branch_outage_islands() {
        let t = Topology::build(&feeder(), SwitchMode::Ignore);
        let outages = t.n1_outages();
        let got: Vec<(&str, Vec<&str>)> = outages
            .iter()
            .map(|o| (o.element.as_str(), o.islanded_buses.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            got,
            vec![("bc", vec!["c", "e"]), ("ce", vec!["e"]), ("t1", vec!["a", "b", "c", "d", "e"]),]
        );
    }

    #[test]
    fn parallel_circuits_are_never_bridges() {
        let mut grid = feeder();
        grid.assets.iter_mut().find(|a| a.id == "bc").unwrap().circuits = 2;
        let t = Topology::build(&grid, SwitchMode::Respect);
        assert_eq!(t.bridges(), vec!["t1"]);
        // Two separate lines between the same buses behave the same way.
        let mut grid = feeder();
        grid.assets.push(line("bc2", "b", "c"));
        assert_eq!(Topology::build(&grid, SwitchMode::Respect).bridges(), vec!["t1"]);
    }

    #[test]
    fn a_bridge_between_two_sources_islands_nothing() {
        let grid = GridData {
            assets: vec![bus("x"), bus("y"), source("gx", "x"), source("gy", "y"), line("xy", "x", "y")],
            ..Default::default()
        };
        let t = Topology::build(&grid, SwitchMode::Respect);
        assert_eq!(t.bridges(), vec!["xy"]);
        assert_eq!(t.n1_outages(), vec![]);
    }

    #[test]
    fn impact_counts_customers_relative_to_the_base_case() {
        let t = Topology::build(&feeder(), SwitchMode::Respect);
        let impact = t.impact_of_outage(&["bc"]).unwrap();
        assert_eq!(impact.deenergised_buses, vec!["c"]);
        // e was already dead: its load does not count again.
        assert_eq!(impact.customers_lost, 100);
        assert_eq!(impact.deenergised_assets, vec!["bc", "c", "lc"]);
        let both = t.impact_of_outage(&["ab", "db"]).unwrap();
        assert_eq!(both.deenergised_buses, vec!["b", "c"]);
        assert_eq!(t.impact_of_outage(&["nope"]), Err(TopologyError::UnknownAsset("nope".into())));
    }

    #[test]
    fn impact_groups_the_lost_buses_into_islands() {
        let t = Topology::build(&feeder(), SwitchMode::Ignore);
        // b and c stay joined by bc; e is cut off on its own.
        let impact = t.impact_of_outage(&["ab", "db", "ce"]).unwrap();
        assert_eq!(impact.deenergised_buses, vec!["b", "c", "e"]);
        assert_eq!(impact.islands, vec![vec!["b".to_string(), "c".into()], vec!["e".into()]]);
        // A bus taken out is not an island; what hangs below it is.
        let impact = t.impact_of_outage(&["b"]).unwrap();
        assert_eq!(impact.deenergised_buses, vec!["b", "c", "e"]);
        assert_eq!(impact.islands, vec![vec!["c".to_string(), "e".into()]]);
        assert!(t.impact_of_outage(&["la"]).unwrap().islands.is_empty());
    }

    #[test]
    fn customers_behind_each_asset_matches_single_outage_impacts() {
        for mode in [SwitchMode::Respect, SwitchMode::Ignore] {
            let grid = feeder();
            let t = Topology::build(&grid, mode);
            let fast = t.customers_behind_each_asset();
            for (i, a) in grid.assets.iter().enumerate() {
                let slow = t.impact_of_outage(&[a.id.as_str()]).unwrap().customers_lost;
                assert_eq!(fast[i], slow, "{} in {mode:?}", a.id);
            }
        }
    }

    #[test]
    fn downstream_trace_follows_the_feeder_below_the_asset() {
        let t = Topology::build(&feeder(), SwitchMode::Ignore);
        let steps = t.downstream_trace("bc").unwrap();
        let got: Vec<(&str, Option<&str>, Option<&str>, u32)> =
            steps.iter().map(|s| (s.bus.as_str(), s.parent.as_deref(), s.via.as_deref(), s.depth)).collect();
        assert_eq!(got, vec![("c", Some("b"), Some("bc"), 0), ("e", Some("c"), Some("ce"), 1)]);
        // In the meshed part nothing hangs below a single line.
        assert_eq!(t.downstream_trace("ab").unwrap(), vec![]);
    }

    // ---- Property tests against brute force on random grids ----

    #[derive(Debug, Clone)]
    struct Random {
        buses: usize,
        lines: Vec<(usize, usize, u16)>,
        sources: Vec<usize>,
        open: Vec<(usize, bool)>,
        customers: Vec<u32>,
        /// Substation (0, 1 or none) of each bus.
        substations: Vec<Option<u8>>,
    }

    fn random_grid() -> impl Strategy<Value = Random> {
        (2usize..12).prop_flat_map(|n| {
            (
                Just(n),
                prop::collection::vec((0..n, 0..n, 1u16..3), 0..(2 * n)),
                prop::collection::vec(0..n, 0..3),
                prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..4),
                prop::collection::vec(0u32..50, n),
                prop::collection::vec(prop::option::of(0u8..2), n),
            )
                .prop_map(|(buses, lines, sources, switches, customers, substations)| {
                    let lines: Vec<_> = lines.into_iter().filter(|(a, b, _)| a != b).collect();
                    let open = if lines.is_empty() {
                        vec![]
                    } else {
                        switches.into_iter().map(|(i, end)| (i.index(lines.len()), end)).collect()
                    };
                    Random { buses, lines, sources, open, customers, substations }
                })
        })
    }

    fn to_grid(r: &Random) -> GridData {
        let mut assets: Vec<Asset> = (0..r.buses)
            .map(|b| Asset {
                substation: r.substations[b].map(|s| format!("sub{s}").into()),
                ..bus(&format!("b{b}"))
            })
            .collect();
        assets.push(Asset::new("sub0", AssetKind::Substation));
        assets.push(Asset::new("sub1", AssetKind::Substation));
        for (i, &(a, b, circuits)) in r.lines.iter().enumerate() {
            assets.push(Asset { circuits, ..line(&format!("l{i}"), &format!("b{a}"), &format!("b{b}")) });
        }
        for (i, &s) in r.sources.iter().enumerate() {
            assets.push(source(&format!("g{i}"), &format!("b{s}")));
        }
        for (i, &(l, end)) in r.open.iter().enumerate() {
            let at = if end { r.lines[l].0 } else { r.lines[l].1 };
            assets.push(branch_switch(&format!("s{i}"), &format!("b{at}"), &format!("l{l}"), false));
        }
        for (b, &c) in r.customers.iter().enumerate() {
            assets.push(load(&format!("d{b}"), &format!("b{b}"), c));
        }
        GridData { assets, ..Default::default() }
    }

    /// Circuits as `(line index, a, b)`, one entry per circuit.
    fn circuits(r: &Random, mode: SwitchMode) -> Vec<(usize, usize, usize)> {
        let opened: HashSet<usize> = r.open.iter().map(|(l, _)| *l).collect();
        r.lines
            .iter()
            .enumerate()
            .filter(|(i, _)| mode == SwitchMode::Ignore || !opened.contains(i))
            .flat_map(|(i, &(a, b, c))| (0..c).map(move |_| (i, a, b)))
            .collect()
    }

    fn reach(
        n: usize,
        edges: &[(usize, usize, usize)],
        skip_edge: Option<usize>,
        skip_bus: Option<usize>,
        from: &[usize],
    ) -> Vec<bool> {
        let mut seen = vec![false; n];
        let mut stack: Vec<usize> = from.iter().copied().filter(|&s| Some(s) != skip_bus).collect();
        stack.iter().for_each(|&s| seen[s] = true);
        while let Some(u) = stack.pop() {
            for (k, &(_, a, b)) in edges.iter().enumerate() {
                if Some(k) == skip_edge {
                    continue;
                }
                for (x, y) in [(a, b), (b, a)] {
                    if x == u && !seen[y] && Some(y) != skip_bus {
                        seen[y] = true;
                        stack.push(y);
                    }
                }
            }
        }
        seen
    }

    fn components(
        n: usize,
        edges: &[(usize, usize, usize)],
        skip_edge: Option<usize>,
        skip_bus: Option<usize>,
    ) -> usize {
        let mut seen = vec![false; n];
        let mut count = 0;
        for start in 0..n {
            if seen[start] || Some(start) == skip_bus {
                continue;
            }
            count += 1;
            let r = reach(n, edges, skip_edge, skip_bus, &[start]);
            (0..n).filter(|&v| r[v]).for_each(|v| seen[v] = true);
        }
        count
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn analysis_matches_brute_force(r in random_grid(), ignore in any::<bool>()) {
            let mode = if ignore { SwitchMode::Ignore } else { SwitchMode::Respect };
            let grid = to_grid(&r);
            prop_assert_eq!(grid.validate(), vec![]);
            let t = Topology::build(&grid, mode);
            let edges = circuits(&r, mode);
            let n = r.buses;
            let base_components = components(n, &edges, None, None);
            let bridges: BTreeSet<String> = (0..edges.len())
                .filter(|&k| components(n, &edges, Some(k), None) > base_components)
                .map(|k| format!("l{}", edges[k].0))
                .collect();
            prop_assert_eq!(t.bridges(), bridges.into_iter().collect::<Vec<_>>());
            let cut_points: BTreeSet<String> = (0..n)
                .filter(|&b| components(n, &edges, None, Some(b)) > base_components)
                .map(|b| format!("b{b}"))
                .collect();
            prop_assert_eq!(t.articulation_points(), cut_points.into_iter().collect::<Vec<_>>());
            let base = reach(n, &edges, None, None, &r.sources);
            let mut outages: Vec<(String, Vec<String>)> = Vec::new();
            for k in 0..edges.len() {
                let after = reach(n, &edges, Some(k), None, &r.sources);
                let mut lost: Vec<String> = (0..n).filter(|&v| base[v] && !after[v]).map(|v| format!("b{v}")).collect();
                lost.sort();
                let id = format!("l{}", edges[k].0);
                if !lost.is_empty() && !outages.iter().any(|(e, _)| *e == id) {
                    outages.push((id, lost));
                }
            }
            outages.sort();
            let got: Vec<(String, Vec<String>)> = t.n1_outages().into_iter().map(|o| (o.element, o.islanded_buses)).collect();
            prop_assert_eq!(got, outages);
            // Fast per-asset customer counts agree with the general impact query.
            let fast = t.customers_behind_each_asset();
            for (i, a) in grid.assets.iter().enumerate() {
                let slow = t.impact_of_outage(&[a.id.as_str()]).unwrap().customers_lost;
                prop_assert_eq!(fast[i], slow, "asset {}", a.id);
            }
        }
    }
}
