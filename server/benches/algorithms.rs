//! Algorithm benchmarks with criterion (not tests): N-1 screening (topology build included, as
//! `gridscope analyze n1` does it) and single-asset impact queries, on converted public grids
//! under target/grids (`scripts/grids <case>` converts them).
//!   GRIDSCOPE_BENCH_CASES="case9241pegase case_ACTIVSg70k" cargo bench -p server --bench algorithms
//! Criterion keeps its estimates under target/criterion/<group>/<case>/new/estimates.json;
//! scripts/bench reads the N-1 median from there for the ratio to networkx. The per-query
//! impact percentiles come from the grid_core bench, which times each query on its own.

use std::path::PathBuf;
use std::time::Duration;

use app::domain::model::GridData;
use app::domain::topology::{SwitchMode, Topology};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// The cases to run: `GRIDSCOPE_BENCH_CASES` (space-separated), else the two the budgets name.
fn cases() -> Vec<(String, GridData)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/grids");
    let names =
        std::env::var("GRIDSCOPE_BENCH_CASES").unwrap_or_else(|_| "case9241pegase case_ACTIVSg70k".into());
    names
        .split_whitespace()
        .map(|case| {
            let grid = server::interchange::read_grid(&root.join(case))
                .unwrap_or_else(|e| panic!("{case}: {e} (convert it first: scripts/grids {case})"));
            (case.to_string(), grid)
        })
        .collect()
}

fn algorithms(c: &mut Criterion) {
    let grids = cases();
    let mut n1 = c.benchmark_group("n1_screening");
    n1.sample_size(20).measurement_time(Duration::from_secs(10));
    for (case, grid) in &grids {
        n1.bench_with_input(BenchmarkId::from_parameter(case), grid, |b, grid| {
            b.iter(|| Topology::build(grid, SwitchMode::Respect).n1_outages())
        });
    }
    n1.finish();

    let mut impact = c.benchmark_group("impact_query");
    for (case, grid) in &grids {
        let topology = Topology::build(grid, SwitchMode::Respect);
        // 1000 assets drawn once (seeded), queried in turn: one query per iteration.
        let mut rng = fastrand::Rng::with_seed(7);
        let picks: Vec<&str> =
            (0..1000).map(|_| grid.assets[rng.usize(..grid.assets.len())].id.as_str()).collect();
        let mut next = 0;
        impact.bench_function(BenchmarkId::from_parameter(case), |b| {
            b.iter(|| {
                next = (next + 1) % picks.len();
                topology.impact_of_outage(&[picks[next]]).expect("a listed asset")
            })
        });
    }
    impact.finish();
}

criterion_group!(benches, algorithms);
criterion_main!(benches);
