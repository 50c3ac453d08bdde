//! The Neo4j store: [`Backend`] over `neo4rs` (Bolt), for production deployments.
//!
//! The grid is a real graph: `(:Asset:<Kind> {id, kind, name, …})` nodes with
//! `(:Asset)-[:FROM|TO]->(:Asset:Bus)` for branch ends, `[:AT]->(:Bus)` for what hangs on a
//! bus, `[:ON]->` from a switch to its branch and `[:IN]->(:Substation)` from a bus;
//! `(:Maintenance)-[:FOR]->(:Asset)` and `(:Incident)-[:FOR]->(:Asset)`; one
//! `(:GridMeta {key: 'grid'})` with name, revision and import time. Every record also keeps
//! its full JSON in `data`, so the app reads back exactly what it wrote.
//!
//! - Parameterised Cypher only: user text only ever travels as parameters. Labels come from
//!   the fixed [`AssetKind`] set, never from input.
//! - An import is one transaction: the meta node is locked first (serialising concurrent
//!   imports, even from other processes), everything is deleted, then recreated with batched
//!   `UNWIND`s; any failure rolls it all back.
//! - No variable-length patterns: the topology is loaded and analysed in memory.
//! - Every call runs under a timeout; the schema (constraints, indexes) is created
//!   idempotently on first use; the connection is (re)established lazily, so the server starts
//!   and recovers by itself while the database is down.

use std::collections::HashMap;
use std::time::Duration;

use app::domain::model::{Asset, AssetKind, GridData, Incident, MaintenanceRecord};
use app::ports::{GridMeta, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use neo4rs::{query, BoltType, ConfigBuilder, Graph, Query, Txn};
use tokio::sync::Mutex;

use super::{from_json, to_json, Account, AccountStore, Archive, Backend, StoreContents};
use crate::config::Secret;
use app::api::auth::AuditEntry;

/// Rows per `UNWIND` batch inside an import transaction.
const BATCH: usize = 2_000;

#[derive(Clone, Debug)]
pub struct Neo4jSettings {
    pub uri: String,
    pub user: String,
    pub password: Secret,
    pub database: String,
    pub max_connections: usize,
    pub fetch_size: usize,
    /// Limit for reads, pings and the schema set-up.
    pub timeout: Duration,
    /// Limit for a whole import transaction.
    pub import_timeout: Duration,
}

pub struct Neo4j {
    settings: Neo4jSettings,
    /// The driver (a connection pool), created on first use.
    graph: Mutex<Option<Graph>>,
    schema_ready: Mutex<bool>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("neo4j: {e}"))
}

/// A failed read, and whether Neo4j called it transient (worth retrying: deadlocks, leader
/// changes, exhausted resources). Connection failures are not retried: they fail fast.
struct ReadError {
    transient: bool,
    error: StoreError,
}

impl From<StoreError> for ReadError {
    fn from(error: StoreError) -> Self {
        ReadError { transient: false, error }
    }
}

fn read_failed(e: neo4rs::Error) -> ReadError {
    let transient = matches!(&e, neo4rs::Error::Neo4j(n) if n.kind() == neo4rs::Neo4jErrorKind::Transient);
    ReadError { transient, error: unavailable(e) }
}

/// Up to three attempts of an idempotent read, backing off 100 ms then 300 ms, only while
/// the failure is transient.
async fn with_read_retries<T, F, Fut>(read: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ReadError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(ReadError { transient: true, error }) if attempt < 3 => {
                tracing::debug!(%error, attempt, "transient neo4j error; retrying the read");
                tokio::time::sleep(delay).await;
                delay *= 3;
                attempt += 1;
            }
            Err(e) => return Err(e.error),
        }
    }
}

const SCHEMA: &[&str] = &[
    "CREATE CONSTRAINT asset_id IF NOT EXISTS FOR (a:Asset) REQUIRE a.id IS UNIQUE",
    "CREATE CONSTRAINT maintenance_id IF NOT EXISTS FOR (m:Maintenance) REQUIRE m.id IS UNIQUE",
    "CREATE CONSTRAINT incident_id IF NOT EXISTS FOR (i:Incident) REQUIRE i.id IS UNIQUE",
    "CREATE CONSTRAINT grid_meta_key IF NOT EXISTS FOR (g:GridMeta) REQUIRE g.key IS UNIQUE",
    "CREATE INDEX asset_kind IF NOT EXISTS FOR (a:Asset) ON (a.kind)",
    "CREATE INDEX asset_region IF NOT EXISTS FOR (a:Asset) ON (a.region)",
    "CREATE CONSTRAINT account_username IF NOT EXISTS FOR (a:Account) REQUIRE a.username IS UNIQUE",
    "CREATE INDEX audit_at IF NOT EXISTS FOR (e:AuditEntry) ON (e.at)",
];

/// The label of each kind (a fixed set: labels cannot be query parameters).
fn label(kind: AssetKind) -> &'static str {
    match kind {
        AssetKind::Substation => "Substation",
        AssetKind::Bus => "Bus",
        AssetKind::Line => "Line",
        AssetKind::Transformer => "Transformer",
        AssetKind::Generator => "Generator",
        AssetKind::Load => "Load",
        AssetKind::Switch => "Switch",
    }
}

fn asset_row(seq: usize, a: &Asset) -> Result<HashMap<String, BoltType>, StoreError> {
    let data = serde_json::to_string(a).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut row: HashMap<String, BoltType> = HashMap::new();
    row.insert("id".into(), a.id.as_str().into());
    row.insert("seq".into(), (seq as i64).into());
    row.insert("kind".into(), a.kind.as_str().into());
    row.insert("name".into(), a.name.as_str().into());
    row.insert("in_service".into(), a.in_service.into());
    row.insert("voltage_kv".into(), a.voltage_kv.get().into());
    row.insert("region".into(), a.region.as_deref().into());
    row.insert("data".into(), data.into());
    Ok(row)
}

fn link_rows(data: &GridData, pick: impl Fn(&Asset) -> Option<&str>) -> Vec<HashMap<String, BoltType>> {
    data.assets
        .iter()
        .filter_map(|a| {
            let target = pick(a)?;
            let mut row: HashMap<String, BoltType> = HashMap::new();
            row.insert("from".into(), a.id.as_str().into());
            row.insert("to".into(), target.into());
            Some(row)
        })
        .collect()
}

fn record_rows<T: serde::Serialize>(
    records: &[T],
    key: impl Fn(&T) -> (&str, &str),
) -> Result<Vec<HashMap<String, BoltType>>, StoreError> {
    records
        .iter()
        .enumerate()
        .map(|(seq, r)| {
            let (id, asset) = key(r);
            let mut row: HashMap<String, BoltType> = HashMap::new();
            row.insert("id".into(), id.into());
            row.insert("seq".into(), (seq as i64).into());
            row.insert("asset".into(), asset.into());
            row.insert(
                "data".into(),
                serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string()))?.into(),
            );
            Ok(row)
        })
        .collect()
}

/// Rows of `{<key>: …, data: <JSON document>}` for JSON-document nodes (accounts, audit).
fn document_rows<T: serde::Serialize>(
    items: &[T],
    key: &str,
    value: impl Fn(&T) -> BoltType,
) -> Result<Vec<HashMap<String, BoltType>>, StoreError> {
    items
        .iter()
        .map(|item| {
            Ok(HashMap::from([(key.to_owned(), value(item)), ("data".to_owned(), to_json(item)?.into())]))
        })
        .collect()
}

/// `UNWIND $rows` queries, one per batch.
fn batched(cypher: &'static str, rows: Vec<HashMap<String, BoltType>>) -> Vec<Query> {
    rows.chunks(BATCH).map(|chunk| query(cypher).param("rows", chunk.to_vec())).collect()
}

impl Neo4j {
    pub fn new(settings: Neo4jSettings) -> Neo4j {
        Neo4j { settings, graph: Mutex::new(None), schema_ready: Mutex::new(false) }
    }

    /// The driver, connecting (and creating the schema) on first use.
    async fn graph(&self) -> Result<Graph, StoreError> {
        let graph = {
            let mut slot = self.graph.lock().await;
            match slot.as_ref() {
                Some(g) => g.clone(),
                None => {
                    let s = &self.settings;
                    let config = ConfigBuilder::default()
                        .uri(s.uri.as_str())
                        .user(s.user.as_str())
                        .password(s.password.expose())
                        .db(s.database.as_str())
                        .max_connections(s.max_connections)
                        .fetch_size(s.fetch_size)
                        .build()
                        .map_err(unavailable)?;
                    let g = Graph::connect(config).await.map_err(unavailable)?;
                    *slot = Some(g.clone());
                    g
                }
            }
        };
        let mut ready = self.schema_ready.lock().await;
        if !*ready {
            // One transaction each (schema and data changes cannot share one), not retried.
            // A schema change can deadlock with concurrent writers (or another instance setting
            // up the schema): Neo4j reports that as transient; it is tried again, briefly. Two
            // handles racing to create the same rule: the loser is told it already exists.
            for statement in SCHEMA {
                let mut attempt = 0u64;
                loop {
                    attempt += 1;
                    let result = async {
                        let mut txn = graph.start_txn().await.map_err(unavailable)?;
                        txn.run(query(statement)).await.map_err(unavailable)?;
                        txn.commit().await.map_err(unavailable)
                    }
                    .await;
                    match result {
                        // Another handle created the same rule a moment earlier: done.
                        Err(StoreError::Unavailable(d)) if d.contains("AlreadyExists") => break,
                        Err(StoreError::Unavailable(d))
                            if attempt < 5 && d.contains("Neo.TransientError") =>
                        {
                            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        }
                        other => break other?,
                    }
                }
            }
            *ready = true;
        }
        Ok(graph)
    }

    async fn timed<T>(
        &self,
        limit: Duration,
        what: &str,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => {
                Err(StoreError::Unavailable(format!("neo4j: {what} took longer than {} s", limit.as_secs())))
            }
        }
    }

    /// The `data` column (a JSON document) of every row of a read, parsed.
    async fn read_records<T: serde::de::DeserializeOwned>(
        txn: &mut Txn,
        what: &str,
        q: Query,
    ) -> Result<Vec<T>, ReadError> {
        let mut rows = txn.execute(q).await.map_err(read_failed)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next(txn.handle()).await.map_err(read_failed)? {
            let data: String = row.get("data").map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push(from_json(what, &data)?);
        }
        Ok(out)
    }

    /// A transaction: unlike `Graph::run`/`execute`, never retried by the driver, so a
    /// database that is down fails at once instead of after a minute of back-off.
    async fn txn(&self) -> Result<Txn, StoreError> {
        self.graph().await?.start_txn().await.map_err(unavailable)
    }

    async fn current_revision(&self) -> Result<u64, ReadError> {
        let mut txn = self.txn().await?;
        let mut rows = txn
            .execute(query(
                "OPTIONAL MATCH (g:GridMeta {key: 'grid'}) RETURN coalesce(g.revision, 0) AS revision",
            ))
            .await
            .map_err(read_failed)?;
        let mut revision = 0;
        while let Some(row) = rows.next(txn.handle()).await.map_err(read_failed)? {
            revision =
                row.get::<i64>("revision").map_err(|e| StoreError::Corrupt(e.to_string()))?.max(0) as u64;
        }
        txn.commit().await.map_err(read_failed)?;
        Ok(revision)
    }

    /// Everything in one read transaction, so the three tables and the meta node agree; with
    /// `people`, the accounts and the audit log (oldest first) too.
    async fn load_all(
        &self,
        people: bool,
    ) -> Result<(GridMeta, GridData, Option<(Vec<Account>, Vec<AuditEntry>)>), ReadError> {
        let mut txn = self.txn().await?;
        let mut meta = GridMeta { name: String::new(), revision: 0, imported_at: None };
        let mut rows = txn
            .execute(query(
                "MATCH (g:GridMeta {key: 'grid'}) RETURN g.name AS name, g.revision AS revision, g.imported_at AS imported_at",
            ))
            .await
            .map_err(read_failed)?;
        while let Some(row) = rows.next(txn.handle()).await.map_err(read_failed)? {
            meta.name = row.get::<Option<String>>("name").ok().flatten().unwrap_or_default();
            meta.revision = row.get::<Option<i64>>("revision").ok().flatten().unwrap_or(0).max(0) as u64;
            meta.imported_at = row
                .get::<Option<String>>("imported_at")
                .ok()
                .flatten()
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
        }
        let data = GridData {
            assets: Self::read_records::<Asset>(
                &mut txn,
                "asset",
                query("MATCH (a:Asset) RETURN a.data AS data ORDER BY a.seq"),
            )
            .await?,
            maintenance: Self::read_records::<MaintenanceRecord>(
                &mut txn,
                "maintenance record",
                query("MATCH (m:Maintenance) RETURN m.data AS data ORDER BY m.seq"),
            )
            .await?,
            incidents: Self::read_records::<Incident>(
                &mut txn,
                "incident",
                query("MATCH (i:Incident) RETURN i.data AS data ORDER BY i.seq"),
            )
            .await?,
        };
        let people = if people {
            let accounts = Self::read_records::<Account>(
                &mut txn,
                "account",
                query("MATCH (a:Account) RETURN a.data AS data ORDER BY a.username"),
            )
            .await?;
            let audit = Self::read_records::<AuditEntry>(
                &mut txn,
                "audit entry",
                query("MATCH (e:AuditEntry) RETURN e.data AS data ORDER BY e.at"),
            )
            .await?;
            Some((accounts, audit))
        } else {
            None
        };
        txn.commit().await.map_err(read_failed)?;
        Ok((meta, data, people))
    }

    /// Replaces the grid and, for a restore, the accounts and the audit log, in one transaction.
    async fn replace_all(
        &self,
        name: &str,
        data: &GridData,
        people: Option<(&[Account], &[AuditEntry])>,
    ) -> Result<GridMeta, StoreError> {
        // Build every statement before the transaction starts.
        let mut statements: Vec<Query> = Vec::new();
        for kind in AssetKind::ALL {
            let rows = data
                .assets
                .iter()
                .enumerate()
                .filter(|(_, a)| a.kind == kind)
                .map(|(seq, a)| asset_row(seq, a))
                .collect::<Result<Vec<_>, _>>()?;
            let cypher: &'static str = match kind {
                AssetKind::Substation => "UNWIND $rows AS r CREATE (a:Asset:Substation) SET a = r",
                AssetKind::Bus => "UNWIND $rows AS r CREATE (a:Asset:Bus) SET a = r",
                AssetKind::Line => "UNWIND $rows AS r CREATE (a:Asset:Line) SET a = r",
                AssetKind::Transformer => "UNWIND $rows AS r CREATE (a:Asset:Transformer) SET a = r",
                AssetKind::Generator => "UNWIND $rows AS r CREATE (a:Asset:Generator) SET a = r",
                AssetKind::Load => "UNWIND $rows AS r CREATE (a:Asset:Load) SET a = r",
                AssetKind::Switch => "UNWIND $rows AS r CREATE (a:Asset:Switch) SET a = r",
            };
            debug_assert!(cypher.contains(label(kind)));
            statements.extend(batched(cypher, rows));
        }
        let links: [(&'static str, Vec<HashMap<String, BoltType>>); 5] = [
            (
                "UNWIND $rows AS r MATCH (a:Asset {id: r.from}), (b:Asset {id: r.to}) CREATE (a)-[:FROM]->(b)",
                link_rows(data, |a| if a.kind.is_branch() { a.from_bus.as_deref() } else { None }),
            ),
            (
                "UNWIND $rows AS r MATCH (a:Asset {id: r.from}), (b:Asset {id: r.to}) CREATE (a)-[:TO]->(b)",
                link_rows(data, |a| a.to_bus.as_deref()),
            ),
            (
                "UNWIND $rows AS r MATCH (a:Asset {id: r.from}), (b:Asset {id: r.to}) CREATE (a)-[:AT]->(b)",
                link_rows(data, |a| a.bus.as_deref()),
            ),
            (
                "UNWIND $rows AS r MATCH (a:Asset {id: r.from}), (b:Asset {id: r.to}) CREATE (a)-[:ON]->(b)",
                link_rows(data, |a| a.element.as_deref()),
            ),
            (
                "UNWIND $rows AS r MATCH (a:Asset {id: r.from}), (b:Asset {id: r.to}) CREATE (a)-[:IN]->(b)",
                link_rows(data, |a| a.substation.as_deref()),
            ),
        ];
        for (cypher, rows) in links.into_iter().filter(|(_, rows)| !rows.is_empty()) {
            statements.extend(batched(cypher, rows));
        }
        statements.extend(batched(
            "UNWIND $rows AS r MATCH (a:Asset {id: r.asset}) CREATE (m:Maintenance {id: r.id, seq: r.seq, data: r.data})-[:FOR]->(a)",
            record_rows(&data.maintenance, |m| (m.id.as_str(), m.asset.as_str()))?,
        ));
        statements.extend(batched(
            "UNWIND $rows AS r MATCH (a:Asset {id: r.asset}) CREATE (i:Incident {id: r.id, seq: r.seq, data: r.data})-[:FOR]->(a)",
            record_rows(&data.incidents, |i| (i.id.as_str(), i.asset.as_str()))?,
        ));

        let mut deletions = vec![
            "MATCH (n:Maintenance) DETACH DELETE n",
            "MATCH (n:Incident) DETACH DELETE n",
            "MATCH (n:Asset) DETACH DELETE n",
        ];
        if let Some((accounts, audit)) = people {
            deletions.extend(["MATCH (n:Account) DETACH DELETE n", "MATCH (n:AuditEntry) DETACH DELETE n"]);
            statements.extend(batched(
                "UNWIND $rows AS r CREATE (a:Account {username: r.username, data: r.data})",
                document_rows(accounts, "username", |a| a.username.as_str().into())?,
            ));
            statements.extend(batched(
                "UNWIND $rows AS r CREATE (e:AuditEntry {at: r.at, data: r.data})",
                document_rows(audit, "at", |e| e.at.timestamp_micros().into())?,
            ));
        }

        let mut txn = self.txn().await?;
        // Lock the meta node first: concurrent imports queue here instead of interleaving.
        let mut rows = txn
            .execute(query(
                "MERGE (g:GridMeta {key: 'grid'}) SET g.revision = coalesce(g.revision, 0) + 1 RETURN g.revision AS revision",
            ))
            .await
            .map_err(unavailable)?;
        let revision = match rows.next(txn.handle()).await.map_err(unavailable)? {
            Some(row) => row.get::<i64>("revision").map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => return Err(StoreError::Corrupt("neo4j: the grid meta node was not returned".into())),
        };
        // Drain the stream so the connection is free for the next statement.
        while rows.next(txn.handle()).await.map_err(unavailable)?.is_some() {}
        for cypher in deletions {
            txn.run(query(cypher)).await.map_err(unavailable)?;
        }
        txn.run_queries(statements).await.map_err(unavailable)?;
        let now = Utc::now();
        txn.run(
            query("MATCH (g:GridMeta {key: 'grid'}) SET g.name = $name, g.imported_at = $at")
                .param("name", name)
                .param("at", now.to_rfc3339()),
        )
        .await
        .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)?;
        Ok(GridMeta { name: name.to_string(), revision: revision.max(0) as u64, imported_at: Some(now) })
    }
}

#[async_trait]
impl Backend for Neo4j {
    fn name(&self) -> &'static str {
        "neo4j"
    }

    async fn load(&self) -> Result<(GridMeta, GridData), StoreError> {
        // Reading a large grid takes longer than a ping; it gets the import allowance.
        self.timed(
            self.settings.import_timeout,
            "reading the grid",
            with_read_retries(|| async { self.load_all(false).await.map(|(meta, data, _)| (meta, data)) }),
        )
        .await
    }

    async fn replace(&self, name: &str, data: &GridData) -> Result<GridMeta, StoreError> {
        self.timed(self.settings.import_timeout, "the import", self.replace_all(name, data, None)).await
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        self.timed(
            self.settings.timeout,
            "reading the revision",
            with_read_retries(|| self.current_revision()),
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(self.settings.timeout, "the ping", async {
            let mut txn = self.txn().await?;
            txn.run(query("RETURN 1")).await.map_err(unavailable)?;
            txn.commit().await.map_err(unavailable)
        })
        .await
    }
}

impl Neo4j {
    /// The `data` column of every row of a read, parsed.
    async fn documents<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        q: Query,
    ) -> Result<Vec<T>, StoreError> {
        self.with_transient_retries(what, || async {
            let mut txn = self.txn().await?;
            let out = Self::read_records(&mut txn, what, q.clone()).await.map_err(|e| e.error)?;
            txn.commit().await.map_err(unavailable)?;
            Ok(out)
        })
        .await
    }

    /// One write statement in its own transaction; the number of rows it returned.
    async fn write(&self, what: &str, q: Query) -> Result<usize, StoreError> {
        self.with_transient_retries(what, || async {
            let mut txn = self.txn().await?;
            let mut rows = txn.execute(q.clone()).await.map_err(unavailable)?;
            let mut count = 0;
            while rows.next(txn.handle()).await.map_err(unavailable)?.is_some() {
                count += 1;
            }
            txn.commit().await.map_err(unavailable)?;
            Ok(count)
        })
        .await
    }

    /// Runs `work` under the timeout, again (up to three times in all) when Neo4j reports a
    /// transient error such as a deadlock between concurrent transactions, as it asks clients
    /// to; such a transaction was rolled back, so running it again is safe.
    async fn with_transient_retries<T, F, Fut>(&self, what: &str, work: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.timed(self.settings.timeout, what, work()).await {
                Err(StoreError::Unavailable(detail))
                    if attempt < 3 && detail.contains("Neo.TransientError") =>
                {
                    tracing::debug!(what, attempt, "neo4j transient error; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl Archive for Neo4j {
    fn backend_name(&self) -> &'static str {
        "neo4j"
    }

    async fn export_all(&self) -> Result<StoreContents, StoreError> {
        let (meta, grid, people) = self
            .timed(self.settings.import_timeout, "the backup", with_read_retries(|| self.load_all(true)))
            .await?;
        let (accounts, audit) = people.unwrap_or_default();
        Ok(StoreContents { grid_name: meta.name, grid_revision: meta.revision, grid, accounts, audit })
    }

    async fn restore_all(&self, contents: &StoreContents) -> Result<GridMeta, StoreError> {
        let people = Some((contents.accounts.as_slice(), contents.audit.as_slice()));
        self.timed(
            self.settings.import_timeout,
            "the restore",
            self.replace_all(&contents.grid_name, &contents.grid, people),
        )
        .await
    }
}

#[async_trait]
impl AccountStore for Neo4j {
    async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let q = query("MATCH (a:Account {username: $username}) RETURN a.data AS data")
            .param("username", username);
        Ok(self.documents("account", q).await?.into_iter().next())
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.documents("account", query("MATCH (a:Account) RETURN a.data AS data ORDER BY a.username")).await
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        // MERGE under the uniqueness constraint: a concurrent create of the same name cannot
        // produce two nodes; `created` tells whether this call made it.
        let q = query(
            "MERGE (a:Account {username: $username}) \
             ON CREATE SET a.data = $data, a.fresh = true \
             WITH a, coalesce(a.fresh, false) AS created REMOVE a.fresh \
             WITH created WHERE created RETURN created",
        )
        .param("username", account.username.as_str())
        .param("data", to_json(account)?);
        Ok(self.write("adding the account", q).await? == 1)
    }

    async fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        let q = query("MATCH (a:Account {username: $username}) SET a.data = $data RETURN a.username")
            .param("username", account.username.as_str())
            .param("data", to_json(account)?);
        self.write("saving the account", q).await.map(drop)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let q = query("CREATE (e:AuditEntry {at: $at, data: $data}) RETURN e.at")
            .param("at", entry.at.timestamp_micros())
            .param("data", to_json(entry)?);
        self.write("writing the audit log", q).await.map(drop)
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let q = query("MATCH (e:AuditEntry) RETURN e.data AS data ORDER BY e.at DESC LIMIT $limit")
            .param("limit", limit as i64);
        self.documents("audit entry", q).await
    }
}
