//! Adapters of the app's [`GridStore`] port.
//!
//! A backend only persists and reads back whole grids; [`Cached`] wraps any backend with the
//! in-memory snapshot (data + topology) that every analysis reads, built once and dropped on
//! every write, so both stores give the same answers from the same code.

pub mod embedded;

use std::sync::Arc;

use app::domain::model::GridData;
use app::ports::{GridMeta, GridSnapshot, GridStore, StoreError};
use async_trait::async_trait;
use tokio::sync::{Mutex, RwLock};

/// What a storage backend does: persist and read back whole grids.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn load(&self) -> Result<(GridMeta, GridData), StoreError>;
    async fn replace(&self, name: &str, data: &GridData) -> Result<GridMeta, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A backend with the shared in-memory snapshot in front.
pub struct Cached<B> {
    backend: B,
    snapshot: RwLock<Option<Arc<GridSnapshot>>>,
    /// Serialises writers and loaders so a stale load never overwrites a newer write.
    writer: Mutex<()>,
}

impl<B: Backend> Cached<B> {
    pub fn new(backend: B) -> Cached<B> {
        Cached { backend, snapshot: RwLock::new(None), writer: Mutex::new(()) }
    }
}

#[async_trait]
impl<B: Backend> GridStore for Cached<B> {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    async fn snapshot(&self) -> Result<Arc<GridSnapshot>, StoreError> {
        if let Some(s) = self.snapshot.read().await.as_ref() {
            return Ok(s.clone());
        }
        let _guard = self.writer.lock().await;
        if let Some(s) = self.snapshot.read().await.as_ref() {
            return Ok(s.clone());
        }
        let (meta, data) = self.backend.load().await?;
        let snapshot = tokio::task::spawn_blocking(move || Arc::new(GridSnapshot::new(meta, data)))
            .await
            .map_err(|e| StoreError::Corrupt(format!("building the topology failed: {e}")))?;
        *self.snapshot.write().await = Some(snapshot.clone());
        Ok(snapshot)
    }

    async fn replace_grid(&self, name: &str, data: GridData) -> Result<GridMeta, StoreError> {
        let _guard = self.writer.lock().await;
        *self.snapshot.write().await = None;
        let result = self.backend.replace(name, &data).await;
        *self.snapshot.write().await = None;
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await
    }
}
