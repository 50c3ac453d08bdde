//! Sessions: `tower-sessions` with the records in SQLite next to the data (`sessions.sqlite3`),
//! so a restart signs nobody out, or in Redis when instances share state
//! (`GRIDSCOPE_REDIS_URL`, see [`crate::shared`]), so a sign-in on one instance counts on all;
//! and the middleware that turns a request's session into the [`Principal`] every server
//! function checks.
//!
//! The cookie is `__Host-gridscope`: HttpOnly, Secure, SameSite=Strict, Path=/, no Domain.
//! Only plain-HTTP development on a loopback address may turn Secure off (by config), and
//! then the cookie loses its `__Host-` prefix, which browsers reject without Secure.
//!
//! Timeouts: idle (the record's expiry slides forward as the session is used, refreshed at
//! most every 1/4 of the idle time so not every request writes) and absolute (counted from
//! sign-in, checked on every request).

use std::path::Path;
use std::sync::Arc;

use crate::store::serial::Serial;
use std::time::Duration;

use app::api::auth::Principal;
use app::ports::{SessionAuth, StoreError, SESSION_AUTH_KEY};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use super::Accounts;
use crate::config::Config;

pub const FILE_NAME: &str = "sessions.sqlite3";
pub const SECURE_COOKIE: &str = "__Host-gridscope";
pub const DEVELOPMENT_COOKIE: &str = "gridscope_session";
/// Session key of the last time the idle expiry was pushed forward.
const SEEN_KEY: &str = "seen";

/// Session records in SQLite: `id → (expiry, JSON record)`, with the records in use also
/// held in memory, so a signed-in request reads nothing from the database. Only this process
/// writes its session database (each instance has its own), and every write here updates
/// the memory too, so the two never differ.
#[derive(Clone)]
pub struct SqliteSessions {
    connection: Serial,
    recent: moka::sync::Cache<Id, Arc<Record>>,
}

/// Session records held in memory, and for how long after their last use.
const RECENT_SESSIONS: u64 = 20_000;
const RECENT_FOR: Duration = Duration::from_secs(600);

impl std::fmt::Debug for SqliteSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteSessions")
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl SqliteSessions {
    pub fn open(dir: &Path) -> Result<SqliteSessions, StoreError> {
        let unavailable = |e: rusqlite::Error| StoreError::Unavailable(format!("sessions: {e}"));
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let connection = Connection::open(dir.join(FILE_NAME)).map_err(unavailable)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS sessions (
                     id TEXT PRIMARY KEY, expires INTEGER NOT NULL, record TEXT NOT NULL) STRICT;
                 CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);",
            )
            .map_err(unavailable)?;
        let recent =
            moka::sync::Cache::builder().max_capacity(RECENT_SESSIONS).time_to_idle(RECENT_FOR).build();
        Ok(SqliteSessions { connection: Serial::new(connection), recent })
    }

    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> session_store::Result<T> {
        self.connection.run(|c| work(c).map_err(backend)).await.map_err(backend)?
    }

    /// Sessions not yet expired (for metrics and the operations page).
    pub async fn active(&self) -> session_store::Result<u64> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.with(move |c| {
            c.query_row("SELECT count(*) FROM sessions WHERE expires > ?1", [now], |r| r.get(0))
        })
        .await
    }

    /// Deletes expired records.
    pub async fn delete_expired(&self) -> session_store::Result<usize> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.with(move |c| c.execute("DELETE FROM sessions WHERE expires <= ?1", [now])).await
    }
}

#[async_trait]
impl SessionStore for SqliteSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let (id, expires) = (record.id.to_string(), record.expiry_date.unix_timestamp());
            let json =
                serde_json::to_string(&*record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
            let added = self
                .with(move |c| {
                    c.execute(
                        "INSERT OR IGNORE INTO sessions (id, expires, record) VALUES (?1, ?2, ?3)",
                        params![id, expires, json],
                    )
                })
                .await?;
            if added == 1 {
                self.recent.insert(record.id, Arc::new(record.clone()));
                return Ok(());
            }
            // An id collision (2^-128): draw another.
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (id, expires) = (record.id.to_string(), record.expiry_date.unix_timestamp());
        let json = serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        self.with(move |c| {
            c.execute(
                "INSERT INTO sessions (id, expires, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET expires = excluded.expires, record = excluded.record",
                params![id, expires, json],
            )
        })
        .await?;
        self.recent.insert(record.id, Arc::new(record.clone()));
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc();
        if let Some(record) = self.recent.get(id) {
            if record.expiry_date > now {
                return Ok(Some(Record::clone(&record)));
            }
            self.recent.invalidate(id);
            return Ok(None);
        }
        let record = self.load_stored(id, now.unix_timestamp()).await?;
        if let Some(record) = &record {
            self.recent.insert(*id, Arc::new(record.clone()));
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.recent.invalidate(id);
        let id = id.to_string();
        self.with(move |c| c.execute("DELETE FROM sessions WHERE id = ?1", [id])).await.map(drop)
    }
}

impl SqliteSessions {
    /// The record as stored, if not expired.
    async fn load_stored(&self, id: &Id, now: i64) -> session_store::Result<Option<Record>> {
        let id = id.to_string();
        let json: Option<String> = self
            .with(move |c| {
                c.query_row(
                    "SELECT record FROM sessions WHERE id = ?1 AND expires > ?2",
                    params![id, now],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| session_store::Error::Decode(e.to_string())))
            .transpose()
    }
}

/// Session records in Redis: `gridscope:session:<id>` → the JSON record, expiring with the
/// session (Redis deletes expired records itself).
#[derive(Clone, Debug)]
pub struct RedisSessions {
    redis: crate::shared::Redis,
}

/// Where session records live in Redis.
pub const REDIS_PREFIX: &str = "gridscope:session:";

impl RedisSessions {
    pub fn new(redis: crate::shared::Redis) -> RedisSessions {
        RedisSessions { redis }
    }

    fn key(id: &Id) -> String {
        format!("{REDIS_PREFIX}{id}")
    }

    /// Refuses at once while Redis rests after a failure ([`crate::shared::REST`]): a
    /// request then goes on as a viewer without waiting out a timeout.
    fn ready(&self) -> session_store::Result<()> {
        if self.redis.resting() {
            return Err(backend("Redis did not answer a moment ago"));
        }
        Ok(())
    }

    /// Runs `command`, noting a Redis that does not answer.
    async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> session_store::Result<T> {
        self.ready()?;
        command.query_async(&mut self.redis.connection()).await.map_err(|e| backend(self.redis.failed(e)))
    }

    /// `SET` the record with its expiry; `only_new`: only when no record has that id.
    /// Whether it was written.
    async fn set(&self, record: &Record, only_new: bool) -> session_store::Result<bool> {
        let json = serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let mut command = redis::cmd("SET");
        command.arg(Self::key(&record.id)).arg(json);
        if only_new {
            command.arg("NX");
        }
        // EXAT needs a positive time; a record already past its expiry is gone at once.
        command.arg("EXAT").arg(record.expiry_date.unix_timestamp().max(1));
        let written: Option<String> = self.run(&command).await?;
        Ok(written.is_some())
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // An id collision (2^-128): draw another.
        while !self.set(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.set(record, false).await.map(drop)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let json: Option<String> = self.run(redis::cmd("GET").arg(Self::key(id))).await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| session_store::Error::Decode(e.to_string())))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.run::<u64>(redis::cmd("DEL").arg(Self::key(id))).await.map(drop)
    }
}

/// The session store in use: SQLite in the data folder, or Redis when instances share state.
#[derive(Clone, Debug)]
pub enum Sessions {
    Sqlite(SqliteSessions),
    Redis(RedisSessions),
}

impl Sessions {
    /// Redis when `redis` is given, else SQLite in `dir`.
    pub fn open(dir: &Path, redis: Option<crate::shared::Redis>) -> Result<Sessions, StoreError> {
        Ok(match redis {
            Some(redis) => Sessions::Redis(RedisSessions::new(redis)),
            None => Sessions::Sqlite(SqliteSessions::open(dir)?),
        })
    }

    /// Sessions not yet expired (for metrics and the operations page).
    pub async fn active(&self) -> session_store::Result<u64> {
        match self {
            Sessions::Sqlite(s) => s.active().await,
            Sessions::Redis(r) => r.redis.count(REDIS_PREFIX).await.map_err(backend),
        }
    }

    /// Deletes expired records (Redis does that by itself).
    pub async fn delete_expired(&self) -> session_store::Result<usize> {
        match self {
            Sessions::Sqlite(s) => s.delete_expired().await,
            Sessions::Redis(_) => Ok(0),
        }
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s) => s.create(record).await,
            Sessions::Redis(r) => r.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s) => s.save(record).await,
            Sessions::Redis(r) => r.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Sessions::Sqlite(s) => s.load(id).await,
            Sessions::Redis(r) => r.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s) => s.delete(id).await,
            Sessions::Redis(r) => r.delete(id).await,
        }
    }
}

/// Session timing, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct SessionTimes {
    pub idle: Duration,
    pub absolute: Duration,
}

impl SessionTimes {
    pub fn from_config(config: &Config) -> SessionTimes {
        SessionTimes {
            idle: Duration::from_secs(config.session_idle_seconds),
            absolute: Duration::from_secs(config.session_max_seconds),
        }
    }
}

/// The name of the session cookie for this configuration.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE
    } else {
        DEVELOPMENT_COOKIE
    }
}

/// The session layer: cookie flags and the idle expiry.
pub fn layer(store: Sessions, secure: bool, times: SessionTimes) -> SessionManagerLayer<Sessions> {
    SessionManagerLayer::new(store)
        .with_name(cookie_name(secure))
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(times.idle.as_secs() as i64)))
}

/// What the authentication middleware needs.
#[derive(Clone)]
pub struct Authenticator {
    pub accounts: Arc<Accounts>,
    pub times: SessionTimes,
}

impl Authenticator {
    /// The caller this session stands for; a session that no longer counts is deleted.
    async fn principal(&self, session: &Session) -> Principal {
        let auth = match session.get::<SessionAuth>(SESSION_AUTH_KEY).await {
            Ok(Some(auth)) => auth,
            Ok(None) => return Principal::viewer(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the session; treating the caller as a viewer");
                return Principal::viewer();
            }
        };
        let now = chrono::Utc::now().timestamp();
        let too_old = now.saturating_sub(auth.started_at) >= self.times.absolute.as_secs() as i64;
        let principal = if too_old {
            None
        } else {
            match self.accounts.principal_for(&auth).await {
                Ok(principal) => principal,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check the session's account; treating the caller as a viewer");
                    return Principal::viewer();
                }
            }
        };
        let Some(principal) = principal else {
            if let Err(e) = session.flush().await {
                tracing::warn!(error = %e, "cannot delete an ended session");
            }
            return Principal::viewer();
        };
        // Push the idle expiry forward, but write at most every quarter of the idle time.
        let refresh = (self.times.idle.as_secs() / 4).max(1) as i64;
        let seen: i64 = session.get(SEEN_KEY).await.ok().flatten().unwrap_or(0);
        if now - seen >= refresh {
            let _ = session.insert(SEEN_KEY, now).await;
        }
        principal
    }
}

/// Marks every request with its caller ([`Principal`]) for the server functions to check.
pub async fn authenticate(
    axum::extract::State(authenticator): axum::extract::State<Authenticator>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // Static files and health checks never look at the caller: no session or account read.
    let anonymous = crate::http::limits::is_free_path(request.uri().path());
    let principal = match request.extensions().get::<Session>().cloned() {
        Some(session) if !anonymous => authenticator.principal(&session).await,
        _ => Principal::viewer(),
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record(seconds_left: i64, value: &str) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::from([("k".to_owned(), serde_json::json!(value))]),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds_left),
        }
    }

    /// What a fresh process would read from the database (no records in memory).
    async fn stored(dir: &Path, id: &Id) -> Option<Record> {
        SqliteSessions::open(dir).unwrap().load(id).await.unwrap()
    }

    #[tokio::test]
    async fn records_in_memory_follow_every_write_and_the_database_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = SqliteSessions::open(dir.path()).unwrap();
        let mut first = record(600, "one");
        sessions.create(&mut first).await.unwrap();
        assert_eq!(sessions.load(&first.id).await.unwrap(), Some(first.clone()));
        assert_eq!(stored(dir.path(), &first.id).await, Some(first.clone()));
        // A save replaces what is held as well as what is stored.
        let mut changed = first.clone();
        changed.data.insert("k".to_owned(), serde_json::json!("two"));
        sessions.save(&changed).await.unwrap();
        assert_eq!(sessions.load(&first.id).await.unwrap(), Some(changed.clone()));
        assert_eq!(stored(dir.path(), &first.id).await, Some(changed));
        // Deleted: gone from both.
        sessions.delete(&first.id).await.unwrap();
        assert_eq!(sessions.load(&first.id).await.unwrap(), None);
        assert_eq!(stored(dir.path(), &first.id).await, None);
    }

    #[tokio::test]
    async fn an_expired_record_is_not_loaded_from_memory_or_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = SqliteSessions::open(dir.path()).unwrap();
        let mut short = record(1, "short");
        sessions.create(&mut short).await.unwrap();
        assert!(sessions.load(&short.id).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(sessions.load(&short.id).await.unwrap(), None, "expired while held in memory");
        assert_eq!(stored(dir.path(), &short.id).await, None);
        // A record read from the database is held from then on.
        let mut long = record(600, "long");
        sessions.create(&mut long).await.unwrap();
        let other = SqliteSessions::open(dir.path()).unwrap();
        assert_eq!(other.load(&long.id).await.unwrap(), Some(long.clone()));
        assert!(other.recent.get(&long.id).is_some());
    }
}
