//! What the server must provide to the app, reached by server functions via `use_context`.
//!
//! The composition root (`server`) provides these in the context of every request; tests can
//! provide fakes. Nothing here is compiled into the browser bundle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::model::{Asset, GridData};
use crate::domain::risk::{score_each, RiskScore};
use crate::domain::topology::{SwitchMode, Topology};

/// Facts about the running process.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: &'static str,
    pub started: Instant,
}

impl ServerInfo {
    pub fn starting_now() -> Self {
        Self { version: env!("CARGO_PKG_VERSION"), started: Instant::now() }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What is known about the stored grid as a whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridMeta {
    /// A label for the grid (the case or file it came from).
    pub name: String,
    /// Increases by one with every write; 0 for an empty store.
    pub revision: u64,
    pub imported_at: Option<DateTime<Utc>>,
}

/// The stored grid, read once and shared until the next write: its data and the topology
/// built from it (switch states respected).
pub struct GridSnapshot {
    pub meta: GridMeta,
    pub data: GridData,
    pub topology: Topology,
    index: HashMap<String, usize>,
    /// Risk scores in asset order, computed once per day of use.
    risk: std::sync::Mutex<Option<(NaiveDate, Arc<Vec<RiskScore>>)>>,
}

impl GridSnapshot {
    pub fn new(meta: GridMeta, data: GridData) -> GridSnapshot {
        let topology = Topology::build(&data, SwitchMode::Respect);
        let index = data.assets.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        GridSnapshot { meta, data, topology, index, risk: std::sync::Mutex::new(None) }
    }

    /// Risk scores as of `today`, in asset order (`[i]` scores `data.assets[i]`).
    pub fn risk_scores(&self, today: NaiveDate) -> Arc<Vec<RiskScore>> {
        let mut cached = self.risk.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match cached.as_ref() {
            Some((day, scores)) if *day == today => scores.clone(),
            _ => {
                let scores = Arc::new(score_each(&self.data, &self.topology, today));
                *cached = Some((today, scores.clone()));
                scores
            }
        }
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn asset(&self, id: &str) -> Option<&Asset> {
        self.index.get(id).map(|&i| &self.data.assets[i])
    }

    pub fn is_empty(&self) -> bool {
        self.data.assets.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or opened (retry later).
    #[error("grid store unavailable: {0}")]
    Unavailable(String),
    /// The stored data could not be read back (a bug or corruption; not retryable).
    #[error("grid store data error: {0}")]
    Corrupt(String),
}

/// Where the grid lives. Implemented by the embedded store and by Neo4j.
#[async_trait::async_trait]
pub trait GridStore: Send + Sync {
    /// `embedded` or `neo4j`, for readiness and logs.
    fn backend(&self) -> &'static str;

    /// The current grid (from the in-memory cache unless a write invalidated it).
    async fn snapshot(&self) -> Result<Arc<GridSnapshot>, StoreError>;

    /// Replace the whole grid in one transaction: afterwards the store holds either all of
    /// the old grid or all of `data`, never a mix. `data` must have passed validation.
    async fn replace_grid(&self, name: &str, data: GridData) -> Result<GridMeta, StoreError>;

    /// A cheap check that the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}
