//! What the server must provide to the app, reached by server functions via `use_context`.
//!
//! The composition root (`server`) provides these in the context of every request; tests can
//! provide fakes. Nothing here is compiled into the browser bundle.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::api::live::LiveConditions;
use crate::domain::catalog::{self, SortKey};
use crate::domain::conditions::{Reading, GRID_WIDE};
use crate::domain::model::{Asset, GridData};
use crate::domain::risk::{RiskScore, RiskTable};
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
/// built from it (switch states respected), and results derived from both (computed on
/// first use, kept with the snapshot, so a write starts them afresh).
pub struct GridSnapshot {
    pub meta: GridMeta,
    pub data: GridData,
    pub topology: Topology,
    derived: std::sync::Mutex<HashMap<TypeId, Arc<DerivedSlot>>>,
}

type DerivedSlot = std::sync::Mutex<Option<Arc<dyn Any + Send + Sync>>>;

/// A derived result with what it was computed for.
pub struct Keyed<K, T> {
    pub key: K,
    pub value: T,
}

impl<K, T> std::ops::Deref for Keyed<K, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

fn unpoisoned<T>(lock: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GridSnapshot {
    pub fn new(meta: GridMeta, mut data: GridData) -> GridSnapshot {
        // Read row by row, the lists grew by doubling: up to half their size is slack.
        data.share_text();
        data.assets.shrink_to_fit();
        data.maintenance.shrink_to_fit();
        data.incidents.shrink_to_fit();
        let topology = Topology::build(&data, SwitchMode::Respect);
        GridSnapshot { meta, data, topology, derived: Default::default() }
    }

    /// The result of type `T` derived from this snapshot: the kept one while `fresh` says
    /// so, else computed now and kept. One slot per type; callers asking while it is
    /// computed wait for that result instead of computing it again.
    pub fn derived<T: Any + Send + Sync>(
        &self,
        fresh: impl Fn(&T) -> bool,
        compute: impl FnOnce() -> T,
    ) -> Arc<T> {
        let slot = unpoisoned(&self.derived).entry(TypeId::of::<T>()).or_default().clone();
        let mut kept = unpoisoned(&slot);
        if let Some(value) = kept.clone().and_then(|v| v.downcast::<T>().ok()).filter(|v| fresh(v)) {
            return value;
        }
        let value = Arc::new(compute());
        *kept = Some(value.clone());
        value
    }

    /// [`derived`](Self::derived) for a result that holds as long as its key is the same.
    pub fn derived_for<K, T>(&self, key: K, compute: impl FnOnce() -> T) -> Arc<Keyed<K, T>>
    where
        K: PartialEq + Clone + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        self.derived(|kept: &Keyed<K, T>| kept.key == key, || Keyed { value: compute(), key: key.clone() })
    }

    /// Risk scores as of `today` under the given live conditions, in asset order (`[i]`
    /// scores `data.assets[i]`); computed once per day of use and conditions revision.
    pub fn risk_scores(
        &self,
        today: NaiveDate,
        conditions: &Conditions,
    ) -> Arc<Keyed<(NaiveDate, u64), RiskTable>> {
        self.derived_for((today, conditions.revision), || {
            RiskTable::build(&self.data, &self.topology, today, |asset| {
                conditions.for_region(asset.region.as_deref())
            })
        })
    }

    /// Every asset position in the listing order `sort` under the scores `risk` (from
    /// [`risk_scores`](Self::risk_scores)): sorted once per set of scores, shared by the
    /// asset list and its exports.
    pub fn asset_order(&self, risk: &Keyed<(NaiveDate, u64), RiskTable>, sort: SortKey) -> Arc<Vec<u32>> {
        let orders =
            self.derived_for(risk.key, <[std::sync::OnceLock<Arc<Vec<u32>>>; SortKey::ALL.len()]>::default);
        let slot = SortKey::ALL.iter().position(|&k| k == sort).unwrap_or(0);
        orders.value[slot]
            .get_or_init(|| Arc::new(catalog::sorted(&self.data.assets, risk.scores(), sort)))
            .clone()
    }

    /// The explained risk score of the asset at `index`, as of `today` under `conditions`.
    pub fn risk_explained(&self, index: usize, today: NaiveDate, conditions: &Conditions) -> RiskScore {
        let asset = &self.data.assets[index];
        self.risk_scores(today, conditions).explain(
            index,
            asset,
            &self.topology,
            conditions.for_region(asset.region.as_deref()),
        )
    }

    /// The position of the asset `id` in `data.assets`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.topology.position(id)
    }

    pub fn asset(&self, id: &str) -> Option<&Asset> {
        self.index_of(id).map(|i| &self.data.assets[i])
    }

    pub fn is_empty(&self) -> bool {
        self.data.assets.is_empty()
    }
}

/// The live readings usable for risk right now (none when stale, down or not configured),
/// by location. `revision` changes whenever the set changes, so cached scores follow it.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    pub revision: u64,
    pub readings: HashMap<String, Reading>,
}

impl Conditions {
    /// The reading for an asset in `region` (the grid-wide one for assets without a region).
    pub fn for_region(&self, region: Option<&str>) -> Option<&Reading> {
        self.readings.get(region.unwrap_or(GRID_WIDE))
    }
}

/// Live conditions as the server holds them. Never calls the upstream: a background task
/// does that, paced and within quota.
#[async_trait::async_trait]
pub trait LiveFeed: Send + Sync {
    /// State, current readings per location, the last error and quota use.
    fn status(&self) -> LiveConditions;

    /// The readings to apply to risk scores.
    fn conditions(&self) -> Conditions;

    /// Kept readings observed since `since`, oldest first (bounded).
    async fn history(&self, since: DateTime<Utc>) -> Vec<Reading>;
}

/// Who is asking, for per-client limits and the audit log: set on every request by the server
/// (the client's address: the TCP peer, or what a configured trusted proxy reports).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(pub String);

/// What the analyst asks a language model: the operator's question (data, never
/// instructions), the facts the answer must rest on, and what the facts were derived from
/// (so identical questions about the same grid state share one answer).
#[derive(Clone, Debug)]
pub struct ModelRequest {
    pub client: ClientId,
    pub question: String,
    pub facts: crate::domain::analyst::Facts,
    /// Grid revision, conditions revision and day: the facts' provenance.
    pub provenance: String,
}

/// Pieces of an answer as the model writes them; an error ends the stream early.
pub type AnswerPieces =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<String, crate::error::AppError>> + Send>>;

/// An answer under way.
pub struct ModelAnswer {
    /// Provider and model, shown with the answer.
    pub label: String,
    /// Served from the cache of identical questions (or joined an identical one in flight).
    pub cached: bool,
    pub pieces: AnswerPieces,
}

/// A language model answering from facts, within its limits (per client, global, daily token
/// budget, circuit breaker). Implemented by the server's LLM providers.
#[async_trait::async_trait]
pub trait AnswerModel: Send + Sync {
    /// Provider and model, e.g. `Anthropic claude-sonnet-4-5`.
    fn label(&self) -> String;

    /// Starts an answer. `Err` when no answer can be started (a limit, the provider down);
    /// the caller then falls back to the offline analyst and says why.
    async fn answer(&self, request: ModelRequest) -> Result<ModelAnswer, crate::error::AppError>;
}

/// The session key under which a signed-in session keeps [`SessionAuth`].
pub const SESSION_AUTH_KEY: &str = "auth";

/// What a signed-in session holds: whose it is, the account's session generation at sign-in
/// (an admin ending the account's sessions bumps it, so older sessions stop counting), and
/// when it began (for the absolute timeout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAuth {
    pub username: String,
    pub generation: u64,
    pub started_at: i64,
}

/// A successful sign-in.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub principal: crate::api::auth::Principal,
    pub session: SessionAuth,
}

/// Operator accounts and the audit log, as the server keeps them. Every failure is already a
/// public error (with its retry hint where one applies).
#[async_trait::async_trait]
pub trait AccountService: Send + Sync {
    /// Checks a sign-in attempt within the brute-force limits (per account, per client).
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: &ClientId,
    ) -> Result<SignedIn, crate::error::AppError>;

    async fn users(&self) -> Result<Vec<crate::api::auth::UserSummary>, crate::error::AppError>;

    /// Ends every session of `username`.
    async fn end_sessions(
        &self,
        admin: &crate::api::auth::Principal,
        username: &str,
        client: &ClientId,
    ) -> Result<(), crate::error::AppError>;

    async fn set_enabled(
        &self,
        admin: &crate::api::auth::Principal,
        username: &str,
        enabled: bool,
        client: &ClientId,
    ) -> Result<(), crate::error::AppError>;

    /// The newest `limit` audit entries, newest first.
    async fn audit(&self, limit: usize) -> Result<Vec<crate::api::auth::AuditEntry>, crate::error::AppError>;

    /// Adds an audit entry (failures are logged, never shown to the caller).
    async fn record(
        &self,
        actor: &crate::api::auth::Principal,
        action: &str,
        target: Option<&str>,
        client: &ClientId,
        outcome: &str,
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn snapshot() -> GridSnapshot {
        let meta = GridMeta { name: "t".into(), revision: 1, imported_at: None };
        GridSnapshot::new(meta, GridData::default())
    }

    #[derive(Debug, PartialEq)]
    struct Doubled(u32);
    #[derive(Debug, PartialEq)]
    struct Named(&'static str);

    #[test]
    fn derived_results_are_kept_per_type_until_stale_or_rekeyed() {
        let s = snapshot();
        let computed = AtomicUsize::new(0);
        let bump = || {
            computed.fetch_add(1, Ordering::SeqCst);
        };
        assert_eq!(
            *s.derived(
                |_| true,
                || {
                    bump();
                    Doubled(2)
                }
            ),
            Doubled(2)
        );
        assert_eq!(
            *s.derived(
                |_| true,
                || {
                    bump();
                    Doubled(99)
                }
            ),
            Doubled(2),
            "kept while fresh"
        );
        assert_eq!(
            *s.derived(
                |_| true,
                || {
                    bump();
                    Named("other type")
                }
            ),
            Named("other type")
        );
        assert_eq!(
            *s.derived(
                |d: &Doubled| d.0 > 2,
                || {
                    bump();
                    Doubled(4)
                }
            ),
            Doubled(4),
            "stale: computed again"
        );
        assert_eq!(computed.load(Ordering::SeqCst), 3);
        // Keyed: the same key keeps it, another key computes it afresh.
        assert_eq!(s.derived_for(7u64, || 70u32).value, 70);
        assert_eq!(s.derived_for(7u64, || 0u32).value, 70);
        assert_eq!(s.derived_for(8u64, || 80u32).value, 80);
        // One derived result may use another while it is computed (no lock held across types).
        let outer = s.derived(
            |_| true,
            || Named(if s.derived_for(8u64, || 0u32).value == 80 { "inner kept" } else { "no" }),
        );
        assert_eq!(*outer, Named("other type"), "Named was already kept");
        let nested = s.derived_for("k", || s.derived(|_| true, || Doubled(0)).0 + 1);
        assert_eq!(nested.value, 5);
    }

    #[test]
    fn concurrent_callers_share_one_computation() {
        let s = Arc::new(snapshot());
        let computed = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, computed) = (s.clone(), computed.clone());
                std::thread::spawn(move || {
                    s.derived(
                        |_| true,
                        || {
                            computed.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Doubled(6)
                        },
                    )
                    .0
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 6);
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1, "computed once, the others waited for it");
    }
}
