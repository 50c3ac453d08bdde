//! Heap held by each part of a loaded grid (not a test): the grid data, its topology, the
//! snapshot with its index and the risk scores, measured with dhat's heap counters.
//!   cargo bench -p server --bench memory -- <case>…   (cases converted under target/grids)

use std::path::PathBuf;

use app::domain::topology::{SwitchMode, Topology};
use app::ports::{Conditions, GridSnapshot};
use server::store::{embedded::Embedded, Backend};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn heap() -> u64 {
    dhat::HeapStats::get().curr_bytes as u64
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cases: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for case in cases {
        let grid = server::interchange::read_grid(&root.join("target/grids").join(&case)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Embedded::open(dir.path()).unwrap();
        runtime.block_on(store.replace(&case, &grid)).unwrap();
        drop(grid);
        let before = heap();
        let (meta, data) = runtime.block_on(store.load()).unwrap();
        let loaded = heap() - before;
        let assets = data.assets.len();
        let mark = heap();
        let topology = Topology::build(&data, SwitchMode::Respect);
        let topology_bytes = heap() - mark;
        drop(topology);
        // The snapshot: the data (lists shrunk to size), its topology and id index.
        let snapshot = GridSnapshot::new(meta, data);
        let snapshot_bytes = heap() - before;
        let mark = heap();
        let today = chrono::Utc::now().date_naive();
        let scores = snapshot.risk_scores(today, &Conditions::default());
        let risk_bytes = heap() - mark;
        println!("case {case}: {assets} assets");
        println!(
            "  struct sizes: asset {} B, maintenance record {} B, incident {} B",
            std::mem::size_of::<app::domain::model::Asset>(),
            std::mem::size_of::<app::domain::model::MaintenanceRecord>(),
            std::mem::size_of::<app::domain::model::Incident>()
        );
        println!(
            "  grid data as read from the store: {:8.1} MB ({:.0} B per asset)",
            mb(loaded),
            loaded as f64 / assets as f64
        );
        println!("  topology with its id index:       {:8.1} MB", mb(topology_bytes));
        println!("  snapshot (data + topology):       {:8.1} MB", mb(snapshot_bytes));
        println!("  risk table:                       {:8.1} MB", mb(risk_bytes));
        println!("  total held:                       {:8.1} MB", mb(snapshot_bytes + risk_bytes));
        drop(scores);
    }
}
