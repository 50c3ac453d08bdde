//! The embedded store: SQLite on local disk (through `rusqlite`, SQLite compiled in).
//!
//! Why SQLite: it is the most widely deployed and most heavily tested embedded database; in
//! WAL mode with `synchronous=FULL` every committed transaction is durable and an interrupted
//! one (crash, `kill -9`, power loss) is rolled back on the next open, which is exactly the
//! all-or-nothing import the grid needs. It needs no server, runs in-process, and its single
//! file is easy to back up (`VACUUM INTO`) and inspect with standard tools. Pure-Rust
//! key-value stores (redb, sled) would work for the grid but leave us hand-writing the
//! queries, indexes and migrations that SQL gives for audit logs, accounts and history.
//!
//! Layout: one row per asset / maintenance record / incident, keyed by id, with the record
//! as JSON and the import order in `seq`; grid facts in `meta`. The schema version is
//! `PRAGMA user_version`.

use crate::store::serial::Serial;
use std::path::{Path, PathBuf};

use app::domain::model::{Asset, GridData, Incident, MaintenanceRecord};
use app::ports::{GridMeta, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{from_json, to_json, Account, AccountStore, Archive, Backend, StoreContents};
use app::api::auth::AuditEntry;

/// The database file inside `GRIDSCOPE_DATA_DIR`.
pub const FILE_NAME: &str = "gridscope.sqlite3";
/// 1: the grid; 2: accounts and the audit log (added by `CREATE … IF NOT EXISTS`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS maintenance (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, asset TEXT NOT NULL, data TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, asset TEXT NOT NULL, data TEXT NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS maintenance_asset ON maintenance (asset);
CREATE INDEX IF NOT EXISTS incidents_asset ON incidents (asset);
CREATE TABLE IF NOT EXISTS accounts (username TEXT PRIMARY KEY, data TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, data TEXT NOT NULL) STRICT;
";

pub struct Embedded {
    path: PathBuf,
    connection: Serial,
}

fn unavailable(context: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{context}: {e}"))
}

impl Embedded {
    /// Open (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Embedded, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let connection = Connection::open(&path).map_err(unavailable("cannot open the database"))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
            )
            .map_err(unavailable("cannot configure the database"))?;
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(unavailable("cannot read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Unavailable(format!(
                "{} has schema version {version}, newer than this build understands ({SCHEMA_VERSION})",
                path.display()
            )));
        }
        connection
            .execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"))
            .map_err(unavailable("cannot create the schema"))?;
        Ok(Embedded { path, connection: Serial::new(connection) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.connection
            .run(work)
            .await
            .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

fn load_all(connection: &Connection) -> Result<(GridMeta, GridData), StoreError> {
    let corrupt = |e: rusqlite::Error| StoreError::Corrupt(e.to_string());
    let meta_value = |key: &str| -> Result<Option<String>, StoreError> {
        connection
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get::<_, String>(0))
            .optional()
            .map_err(corrupt)
    };
    let meta = GridMeta {
        name: meta_value("name")?.unwrap_or_default(),
        revision: meta_value("revision")?.and_then(|v| v.parse().ok()).unwrap_or(0),
        imported_at: meta_value("imported_at")?
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|t| t.with_timezone(&Utc)),
    };
    let count = |table: &str| -> Result<usize, StoreError> {
        connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(corrupt)
    };
    // Each list is made at its final size, each row's JSON is read where SQLite holds it,
    // and equal texts are shared as they are read: the grid is then the only thing this
    // leaves allocated, without the holes that short-lived copies would leave among it.
    fn rows<T: serde::de::DeserializeOwned>(
        connection: &Connection,
        table: &str,
        count: usize,
    ) -> Result<Vec<T>, StoreError> {
        let corrupt = |e: rusqlite::Error| StoreError::Corrupt(e.to_string());
        let mut statement =
            connection.prepare(&format!("SELECT id, data FROM {table} ORDER BY seq")).map_err(corrupt)?;
        let mut out = Vec::with_capacity(count);
        let mut cursor = statement.query([]).map_err(corrupt)?;
        while let Some(row) = cursor.next().map_err(corrupt)? {
            let text = |column: usize| -> Result<&str, StoreError> {
                row.get_ref(column)
                    .and_then(|value| value.as_str().map_err(rusqlite::Error::from))
                    .map_err(corrupt)
            };
            out.push(serde_json::from_str(text(1)?).map_err(|e| {
                StoreError::Corrupt(format!("{table} row '{}' cannot be read: {e}", text(0).unwrap_or("?")))
            })?);
        }
        Ok(out)
    }
    let counts = [count("assets")?, count("maintenance")?, count("incidents")?];
    let _sharing = app::domain::model::sharing::begin(2 * counts[0] + counts[1] + counts[2]);
    let data = GridData {
        assets: rows::<Asset>(connection, "assets", counts[0])?,
        maintenance: rows::<MaintenanceRecord>(connection, "maintenance", counts[1])?,
        incidents: rows::<Incident>(connection, "incidents", counts[2])?,
    };
    Ok((meta, data))
}

/// Insert `(id, second column, JSON)` rows in order, numbering them by `seq`.
fn insert_rows<'a>(
    tx: &rusqlite::Transaction,
    sql: &str,
    rows: impl Iterator<Item = (&'a str, &'a str, serde_json::Result<String>)>,
) -> Result<(), StoreError> {
    let failed = |e: rusqlite::Error| StoreError::Unavailable(format!("import failed, nothing written: {e}"));
    let mut insert = tx.prepare(sql).map_err(failed)?;
    for (seq, (id, second, json)) in rows.enumerate() {
        let json = json.map_err(|e| StoreError::Corrupt(e.to_string()))?;
        insert.execute(params![id, seq as i64, second, json]).map_err(failed)?;
    }
    Ok(())
}

/// Replaces the grid and, for a restore, the accounts and the audit log too, in one
/// transaction.
fn replace_all(
    connection: &mut Connection,
    name: &str,
    data: &GridData,
    people: Option<(&[Account], &[AuditEntry])>,
) -> Result<GridMeta, StoreError> {
    let failed = |e: rusqlite::Error| StoreError::Unavailable(format!("import failed, nothing written: {e}"));
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    let revision: u64 = tx
        .query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| r.get::<_, String>(0))
        .optional()
        .map_err(failed)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        + 1;
    tx.execute_batch("DELETE FROM assets; DELETE FROM maintenance; DELETE FROM incidents;")
        .map_err(failed)?;
    let assets = data.assets.iter().map(|a| (a.id.as_str(), a.kind.as_str(), serde_json::to_string(a)));
    insert_rows(&tx, "INSERT INTO assets (id, seq, kind, data) VALUES (?1, ?2, ?3, ?4)", assets)?;
    let records =
        data.maintenance.iter().map(|m| (m.id.as_str(), m.asset.as_str(), serde_json::to_string(m)));
    insert_rows(&tx, "INSERT INTO maintenance (id, seq, asset, data) VALUES (?1, ?2, ?3, ?4)", records)?;
    let incidents =
        data.incidents.iter().map(|i| (i.id.as_str(), i.asset.as_str(), serde_json::to_string(i)));
    insert_rows(&tx, "INSERT INTO incidents (id, seq, asset, data) VALUES (?1, ?2, ?3, ?4)", incidents)?;
    if let Some((accounts, audit)) = people {
        tx.execute_batch("DELETE FROM accounts; DELETE FROM audit;").map_err(failed)?;
        let mut insert =
            tx.prepare("INSERT INTO accounts (username, data) VALUES (?1, ?2)").map_err(failed)?;
        for account in accounts {
            insert.execute(params![account.username, to_json(account)?]).map_err(failed)?;
        }
        let mut insert = tx.prepare("INSERT INTO audit (at, data) VALUES (?1, ?2)").map_err(failed)?;
        for entry in audit {
            insert.execute(params![entry.at.to_rfc3339(), to_json(entry)?]).map_err(failed)?;
        }
    }
    let now = Utc::now();
    let mut set = tx.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)").map_err(failed)?;
    set.execute(params!["name", name]).map_err(failed)?;
    set.execute(params!["revision", revision.to_string()]).map_err(failed)?;
    set.execute(params!["imported_at", now.to_rfc3339()]).map_err(failed)?;
    drop(set);
    tx.commit().map_err(failed)?;
    Ok(GridMeta { name: name.to_string(), revision, imported_at: Some(now) })
}

#[async_trait]
impl Backend for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn load(&self) -> Result<(GridMeta, GridData), StoreError> {
        self.with_connection(|c| {
            let loaded = load_all(c);
            // Reading parsed a document per row and filled SQLite's page cache with the
            // whole grid, which is now held in memory: return both.
            let _ = c.release_memory();
            crate::memory::release_free_memory();
            loaded
        })
        .await
    }

    async fn replace(&self, name: &str, data: &GridData) -> Result<GridMeta, StoreError> {
        // The grid is moved to the blocking thread; cloning once is cheaper than holding the
        // connection across an await.
        let name = name.to_string();
        let data = data.clone();
        self.with_connection(move |c| {
            let replaced = replace_all(c, &name, &data, None);
            // Writing the grid filled SQLite's page cache: return it.
            let _ = c.release_memory();
            replaced
        })
        .await
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        self.with_connection(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| r.get::<_, String>(0))
                .optional()
                .map(|v| v.and_then(|v| v.parse().ok()).unwrap_or(0))
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with_connection(|c| {
            c.query_row("SELECT count(*) FROM meta", [], |r| r.get::<_, i64>(0))
                .map(|_| ())
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        })
        .await
    }
}

/// Every `data` column of a query, parsed.
fn documents<T: serde::de::DeserializeOwned>(
    c: &Connection,
    what: &str,
    sql: &str,
) -> Result<Vec<T>, StoreError> {
    let mut statement =
        c.prepare(sql).map_err(|e| StoreError::Unavailable(format!("cannot read the {what}s: {e}")))?;
    let rows = statement
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| StoreError::Unavailable(format!("cannot read the {what}s: {e}")))?;
    rows.map(|d| {
        from_json(what, &d.map_err(|e| StoreError::Unavailable(format!("cannot read the {what}s: {e}")))?)
    })
    .collect()
}

#[async_trait]
impl Archive for Embedded {
    fn backend_name(&self) -> &'static str {
        "embedded"
    }

    async fn export_all(&self) -> Result<StoreContents, StoreError> {
        self.with_connection(|c| {
            // One read transaction: a writer committing meanwhile is not seen half-way.
            let tx = c.transaction().map_err(unavailable("cannot start the backup"))?;
            let (meta, grid) = load_all(&tx)?;
            let accounts = documents(&tx, "account", "SELECT data FROM accounts ORDER BY username")?;
            let audit = documents(&tx, "audit entry", "SELECT data FROM audit ORDER BY id")?;
            tx.commit().map_err(unavailable("cannot finish the backup"))?;
            Ok(StoreContents { grid_name: meta.name, grid_revision: meta.revision, grid, accounts, audit })
        })
        .await
    }

    async fn restore_all(&self, contents: &StoreContents) -> Result<GridMeta, StoreError> {
        let contents = contents.clone();
        self.with_connection(move |c| {
            replace_all(c, &contents.grid_name, &contents.grid, Some((&contents.accounts, &contents.audit)))
        })
        .await
    }
}

#[async_trait]
impl AccountStore for Embedded {
    async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let username = username.to_owned();
        self.with_connection(move |c| {
            let data: Option<String> = c
                .query_row("SELECT data FROM accounts WHERE username = ?1", [&username], |r| r.get(0))
                .optional()
                .map_err(unavailable("cannot read the account"))?;
            data.map(|d| from_json("account", &d)).transpose()
        })
        .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.with_connection(|c| documents(c, "account", "SELECT data FROM accounts ORDER BY username")).await
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        let (username, data) = (account.username.clone(), to_json(account)?);
        self.with_connection(move |c| {
            let added = c
                .execute(
                    "INSERT OR IGNORE INTO accounts (username, data) VALUES (?1, ?2)",
                    params![username, data],
                )
                .map_err(unavailable("cannot add the account"))?;
            Ok(added == 1)
        })
        .await
    }

    async fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        let (username, data) = (account.username.clone(), to_json(account)?);
        self.with_connection(move |c| {
            c.execute("UPDATE accounts SET data = ?2 WHERE username = ?1", params![username, data])
                .map_err(unavailable("cannot save the account"))?;
            Ok(())
        })
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let (at, data) = (entry.at.to_rfc3339(), to_json(entry)?);
        self.with_connection(move |c| {
            c.execute("INSERT INTO audit (at, data) VALUES (?1, ?2)", params![at, data])
                .map_err(unavailable("cannot write the audit log"))?;
            Ok(())
        })
        .await
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_connection(move |c| {
            let mut statement = c
                .prepare("SELECT data FROM audit ORDER BY id DESC LIMIT ?1")
                .map_err(unavailable("cannot read the audit log"))?;
            let rows = statement
                .query_map([limit as i64], |r| r.get::<_, String>(0))
                .map_err(unavailable("cannot read the audit log"))?;
            rows.map(|d| from_json("audit entry", &d.map_err(unavailable("cannot read the audit log"))?))
                .collect()
        })
        .await
    }
}
