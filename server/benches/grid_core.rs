//! Grid-core benchmarks (not tests): import throughput, topology build, N-1 screening and
//! impact-query latency and maintenance planning on converted public grids under target/grids.
//!
//! Run through `scripts/bench-grid`, which converts the grids, runs this and the networkx
//! baseline, and prints the ratios. Directly: `cargo bench -p server --bench grid_core -- <case>…`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use app::domain::planner::{self, PlanRequest};
use app::domain::topology::{SwitchMode, Topology};
use server::store::{embedded::Embedded, Backend};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cases: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for case in cases {
        let folder = root.join("target/grids").join(&case);
        let t = Instant::now();
        let grid = server::interchange::read_grid(&folder).unwrap_or_else(|e| panic!("{case}: {e}"));
        let read = t.elapsed();
        let rows = grid.assets.len() + grid.maintenance.len() + grid.incidents.len();
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(dir.path()).unwrap();
        let t = Instant::now();
        runtime.block_on(store.replace(&case, &grid)).unwrap();
        let write = t.elapsed();
        let t = Instant::now();
        let (_, loaded) = runtime.block_on(store.load()).unwrap();
        let load = t.elapsed();
        assert!(loaded == grid, "{case}: the store did not give back what was written");

        let builds: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(Topology::build(&grid, SwitchMode::Respect));
                t.elapsed()
            })
            .collect();
        let mut outages = 0;
        let n1: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let topology = Topology::build(&grid, SwitchMode::Respect);
                outages = std::hint::black_box(topology.n1_outages()).len();
                t.elapsed()
            })
            .collect();
        let topology = Topology::build(&grid, SwitchMode::Respect);
        let t = Instant::now();
        std::hint::black_box(topology.customers_behind_each_asset());
        let behind = t.elapsed();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut impacts: Vec<Duration> = (0..1000)
            .map(|_| {
                let asset = &grid.assets[rng.usize(..grid.assets.len())].id;
                let t = Instant::now();
                std::hint::black_box(topology.impact_of_outage(&[asset.as_str()]).unwrap());
                t.elapsed()
            })
            .collect();
        impacts.sort();
        println!(
            "case {case}: {} buses, {} assets, {rows} rows in all",
            topology.bus_count(),
            grid.assets.len()
        );
        println!(
            "  import: read+validate {:.0} ms ({:.0} rows/s); store write {:.0} ms ({:.0} rows/s); store read {:.0} ms",
            ms(read),
            rows as f64 / read.as_secs_f64(),
            ms(write),
            rows as f64 / write.as_secs_f64(),
            ms(load)
        );
        println!("  topology build: {:.2} ms (median of 5)", ms(median(builds)));
        println!(
            "  N-1 screening incl. build: {:.2} ms (median of 5), {outages} islanding outages",
            ms(median(n1.clone()))
        );
        println!("  customers behind every asset: {:.2} ms", ms(behind));
        println!(
            "  impact query (1000 random single assets): p50 {:.3} ms, p95 {:.3} ms, max {:.3} ms",
            ms(percentile(&impacts, 0.5)),
            ms(percentile(&impacts, 0.95)),
            ms(*impacts.last().unwrap())
        );
        // Maintenance plans: one where crew time binds (all four alternatives are built) and
        // one where only the budget does (the exact knapsack alone).
        let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        for (label, weeks, crews, budget) in [("crew-bound", 12, 3, 5e6), ("budget-bound", 52, 50, 2.5e5)] {
            let request = PlanRequest {
                start,
                horizon_weeks: weeks,
                crews,
                budget,
                currency: "EUR".into(),
                holidays: Default::default(),
                asked: None,
            };
            let runs: Vec<Duration> = (0..3)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(planner::plan(&grid, &topology, &request));
                    t.elapsed()
                })
                .collect();
            let plan = planner::plan(&grid, &topology, &request);
            println!(
                "  maintenance plan ({label}: {weeks} weeks, {crews} crews, budget {budget:.0}): {:.1} ms (median of 3), \
                 {} candidates, {} jobs, {:.0} % of the upper bound{}",
                ms(median(runs)),
                plan.candidates,
                plan.jobs.len(),
                100.0 * plan.risk_reduction / plan.upper_bound.max(f64::MIN_POSITIVE),
                if plan.optimal { ", optimal" } else { "" }
            );
        }
        println!("RESULT {case} n1_ms {:.3} outages {outages}", ms(median(n1)));
        println!("RESULT {case} impact_p50_ms {:.3}", ms(percentile(&impacts, 0.5)));
        println!("RESULT {case} impact_p95_ms {:.3}", ms(percentile(&impacts, 0.95)));
    }
}
