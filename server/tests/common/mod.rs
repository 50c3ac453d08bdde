//! What several test files share.

use std::sync::Arc;

use app::domain::GridData;
use app::ports::GridStore;
use server::config::Config;

/// A fresh embedded store in a temporary folder, holding `grid` (the folder's `data/` is the
/// data dir, for the upstream services' databases too).
pub async fn store_with(grid: GridData) -> (tempfile::TempDir, Arc<dyn GridStore>) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { data_dir: dir.path().join("data"), ..Config::default() };
    let store = server::commands::open_store(&config).unwrap();
    store.replace_grid("test", grid).await.unwrap();
    (dir, store)
}
