//! Adapters of the app's [`GridStore`] port.
//!
//! A backend only persists and reads back whole grids; [`Cached`] wraps any backend with the
//! in-memory snapshot (data + topology) that every analysis reads, built once per stored
//! revision and dropped on every write, so both stores give the same answers from the same
//! code. Reads check the stored revision (one cheap query) at most once per recheck interval
//! (a second by default), so writes by other processes or instances are picked up within that
//! interval and a store that is down fails requests instead of serving stale data; writes
//! through this process are seen at once.

pub mod embedded;
pub mod neo4j;
pub mod serial;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::api::auth::{AuditEntry, Role};
use app::domain::model::GridData;
use app::ports::{GridMeta, GridSnapshot, GridStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::metrics::timed_store;

/// What a storage backend does: persist and read back whole grids.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn load(&self) -> Result<(GridMeta, GridData), StoreError>;
    /// The stored revision (cheap): the cache is reused while it matches, so a write by
    /// another process or instance is seen, and an unreachable store fails the request.
    async fn revision(&self) -> Result<u64, StoreError>;
    async fn replace(&self, name: &str, data: &GridData) -> Result<GridMeta, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

/// How often a read checks the stored revision by default.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(1);

/// A backend with the shared in-memory snapshot in front.
pub struct Cached<B> {
    backend: B,
    snapshot: std::sync::RwLock<Option<Arc<GridSnapshot>>>,
    /// Serialises writers and loaders so a stale load never overwrites a newer write.
    writer: Mutex<()>,
    recheck: Duration,
    started: Instant,
    /// When the stored revision last matched the snapshot, in milliseconds since `started`
    /// (`u64::MAX`: not since the last write).
    checked_ms: AtomicU64,
}

impl<B: Backend> Cached<B> {
    pub fn new(backend: B) -> Cached<B> {
        Cached::with_recheck(backend, DEFAULT_RECHECK)
    }

    /// Checks the stored revision at most once per `recheck` (zero: on every read).
    pub fn with_recheck(backend: B, recheck: Duration) -> Cached<B> {
        Cached {
            backend,
            snapshot: std::sync::RwLock::new(None),
            writer: Mutex::new(()),
            recheck,
            started: Instant::now(),
            checked_ms: AtomicU64::new(u64::MAX),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn current(&self) -> Option<Arc<GridSnapshot>> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_current(&self, snapshot: Option<Arc<GridSnapshot>>) {
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }

    /// Drops the snapshot: the next read loads the stored grid.
    fn forget(&self) {
        self.checked_ms.store(u64::MAX, Ordering::Release);
        self.set_current(None);
    }

    /// The snapshot, when its revision was confirmed within the recheck interval.
    fn recently_checked(&self) -> Option<Arc<GridSnapshot>> {
        let checked = self.checked_ms.load(Ordering::Acquire);
        let recent =
            checked != u64::MAX && self.now_ms().saturating_sub(checked) < self.recheck.as_millis() as u64;
        recent.then(|| self.current()).flatten()
    }
}

#[async_trait]
impl<B: Backend> GridStore for Cached<B> {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    async fn snapshot(&self) -> Result<Arc<GridSnapshot>, StoreError> {
        if let Some(s) = self.recently_checked() {
            crate::metrics::cache("grid", true);
            return Ok(s);
        }
        let name = self.backend.name();
        let checking = self.now_ms();
        let revision = timed_store(name, "revision", self.backend.revision()).await?;
        let matching = || self.current().filter(|s| s.meta.revision == revision);
        if let Some(s) = matching() {
            self.checked_ms.fetch_max(checking, Ordering::AcqRel);
            crate::metrics::cache("grid", true);
            return Ok(s);
        }
        let _guard = self.writer.lock().await;
        if let Some(s) = matching() {
            crate::metrics::cache("grid", true);
            return Ok(s);
        }
        crate::metrics::cache("grid", false);
        let (meta, data) = timed_store(name, "load", self.backend.load()).await?;
        let snapshot = tokio::task::spawn_blocking(move || {
            let snapshot = Arc::new(GridSnapshot::new(meta, data));
            crate::memory::release_free_memory();
            snapshot
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("building the topology failed: {e}")))?;
        self.set_current(Some(snapshot.clone()));
        self.checked_ms.store(checking, Ordering::Release);
        Ok(snapshot)
    }

    async fn replace_grid(&self, name: &str, data: GridData) -> Result<GridMeta, StoreError> {
        let _guard = self.writer.lock().await;
        self.forget();
        let result = timed_store(self.backend.name(), "replace", self.backend.replace(name, &data)).await;
        self.forget();
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        timed_store(self.backend.name(), "ping", self.backend.ping()).await
    }
}

/// An operator account as stored (in the same store as the grid).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub username: String,
    pub role: Role,
    /// Argon2id, in the PHC string format (algorithm, parameters and salt included).
    pub password_hash: String,
    pub enabled: bool,
    /// Bumped to end every session of the account: sessions remember the value at sign-in.
    pub generation: u64,
    /// Failed sign-ins since the last success.
    pub failed_sign_ins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_sign_in: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("enabled", &self.enabled)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Where accounts and the audit log live. Implemented by both stores; records are kept as
/// JSON documents so both store exactly the same thing.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn account(&self, username: &str) -> Result<Option<Account>, StoreError>;
    /// All accounts, by user name.
    async fn accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Adds an account; `false` (and nothing written) when the user name is taken.
    async fn create_account(&self, account: &Account) -> Result<bool, StoreError>;
    /// Replaces an existing account's record.
    async fn save_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The newest `limit` entries, newest first.
    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Everything a store holds that a backup keeps: the grid, the accounts and the audit log,
/// read in one transaction so they agree with each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreContents {
    pub grid_name: String,
    pub grid_revision: u64,
    pub grid: GridData,
    pub accounts: Vec<Account>,
    /// Oldest first.
    pub audit: Vec<AuditEntry>,
}

/// Whole-store export and restore, for backups. Implemented by both stores, so a backup of
/// one can be restored into the other.
#[async_trait]
pub trait Archive: AccountStore {
    fn backend_name(&self) -> &'static str;
    /// A consistent copy of everything (one read transaction).
    async fn export_all(&self) -> Result<StoreContents, StoreError>;
    /// Replaces everything with `contents` in one transaction (all or nothing). The grid
    /// revision moves forward, so every cache and instance reloads.
    async fn restore_all(&self, contents: &StoreContents) -> Result<GridMeta, StoreError>;
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}
