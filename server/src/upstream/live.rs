//! Live conditions: current weather per region of the grid, from OpenWeatherMap's Current
//! Weather API (`GET /data/2.5/weather?lat=…&lon=…&units=metric&appid=KEY`, documented at
//! <https://openweathermap.org/current>) or, only when configured, from a sample provider.
//!
//! One background task polls; page views read what it holds. Each call passes, in order:
//! a location is *due* (its newest reading is older than the TTL), no `Retry-After` wait is
//! pending, the circuit breaker is closed, the global pace allows it (`governor`, default one
//! call a minute), and the hourly quota has room. The call is recorded in the database
//! *before* it is sent, so the quota holds across restarts and crashes. Readings are kept in
//! the same database as history, pruned to the retention. With `GRIDSCOPE_REDIS_URL` set,
//! the pace and the quota are counted in Redis instead, for every instance together
//! ([`crate::shared`]), and only the instance holding the poller's lease calls: it puts each
//! reading, its last outcome and any `Retry-After` hold in Redis, and every instance reads
//! them from there each second (the shared cache), so all show the same conditions and a
//! new poller knows what the last one knew.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::api::live::{LiveConditions, LocationNow};
use app::domain::conditions::{freshness, FreshnessLimits, Reading, GRID_WIDE};
use app::ports::{Conditions, GridStore, LiveFeed};
use chrono::{DateTime, TimeDelta, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rusqlite::{params, Connection};
use serde::Deserialize;

use super::{read_limited, retry_after, Breaker, BreakerState, UpstreamError};
use crate::config::{Config, LiveProviderChoice, Secret};

/// The database file for quota and history inside `GRIDSCOPE_DATA_DIR`.
pub const FILE_NAME: &str = "live.sqlite3";
/// Most locations polled (regions beyond this share the grid-wide reading).
pub const MAX_LOCATIONS: usize = 24;
/// Largest accepted response body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Consecutive failures that open the circuit.
pub const BREAKER_THRESHOLD: u32 = 3;
/// Most readings kept, whatever the retention says.
pub const MAX_HISTORY_ROWS: i64 = 200_000;
const WHAT: &str = "live conditions";

/// Where to ask for the weather: a region's centroid, or the grid's.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
}

/// The locations of a grid: one per region with coordinates (largest first, at most
/// [`MAX_LOCATIONS`]), plus the grid-wide centroid when some assets have no region.
pub fn locations(grid: &app::domain::GridData) -> Vec<Location> {
    let mut sums: HashMap<&str, (f64, f64, usize)> = HashMap::new();
    let mut all = (0.0, 0.0, 0usize);
    let mut unregioned = false;
    for asset in &grid.assets {
        unregioned |= asset.region.is_none();
        let Some(app::domain::GeoPoint { lat, lon }) = asset.location.get() else { continue };
        all = (all.0 + lat, all.1 + lon, all.2 + 1);
        if let Some(region) = &asset.region {
            let e = sums.entry(region.as_str()).or_default();
            *e = (e.0 + lat, e.1 + lon, e.2 + 1);
        }
    }
    let mut regions: Vec<_> = sums.into_iter().collect();
    regions.sort_by(|a, b| b.1 .2.cmp(&a.1 .2).then(a.0.cmp(b.0)));
    let mut out: Vec<Location> = regions
        .into_iter()
        .take(MAX_LOCATIONS)
        .map(|(name, (lat, lon, n))| Location {
            name: name.to_owned(),
            lat: lat / n as f64,
            lon: lon / n as f64,
        })
        .collect();
    if all.2 > 0 && (unregioned || out.is_empty()) {
        let n = all.2 as f64;
        out.push(Location { name: GRID_WIDE.to_owned(), lat: all.0 / n, lon: all.1 / n });
    }
    out
}

/// The live settings, from the config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub provider: Provider,
    pub calls_per_minute: u32,
    pub hourly_quota: u32,
    pub ttl: Duration,
    pub stale_after: Duration,
    pub timeout: Duration,
    pub history: Duration,
    pub breaker_cooldown: Duration,
}

#[derive(Clone, Debug)]
pub enum Provider {
    OpenWeatherMap { base_url: String, key: Secret },
    Sample,
}

impl Provider {
    fn label(&self) -> &'static str {
        match self {
            Provider::OpenWeatherMap { .. } => "OpenWeatherMap",
            Provider::Sample => "sample",
        }
    }
}

impl Settings {
    /// `None` when no provider is configured.
    pub fn from_config(config: &Config) -> Option<Settings> {
        let provider = match config.live_provider_choice() {
            LiveProviderChoice::Off => return None,
            LiveProviderChoice::Sample => Provider::Sample,
            LiveProviderChoice::Auto | LiveProviderChoice::Openweathermap => Provider::OpenWeatherMap {
                base_url: config.live_base_url.trim_end_matches('/').to_owned(),
                key: config.live_api_key.clone(),
            },
        };
        Some(Settings {
            provider,
            calls_per_minute: config.live_calls_per_minute,
            hourly_quota: config.live_hourly_quota,
            ttl: Duration::from_secs(config.live_ttl_seconds),
            stale_after: Duration::from_secs(config.live_stale_seconds),
            timeout: Duration::from_secs(config.live_timeout_seconds),
            history: Duration::from_secs(u64::from(config.live_history_days) * 86_400),
            breaker_cooldown: Duration::from_secs(config.live_breaker_cooldown_seconds),
        })
    }
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// Called the upstream for this location; it answered with a reading.
    Fetched(String),
    /// Called the upstream; it failed.
    Failed(UpstreamError),
    /// Did not call: nothing is due for this long.
    NothingDue(Duration),
    /// Did not call: the grid has no coordinates to ask about.
    NoLocations,
    /// Did not call: one of our limits (pace, quota, Retry-After, open circuit) says wait.
    Held { reason: UpstreamError, wait: Duration },
}

struct State {
    locations: Vec<Location>,
    latest: HashMap<String, Reading>,
    last_success_at: Option<DateTime<Utc>>,
    last_error: Option<UpstreamError>,
    last_call_failed: bool,
    /// Set by a 429: no call before this.
    hold_until: Option<Instant>,
    breaker: Breaker,
    revision: u64,
    calls_last_hour: u32,
    /// The grid revision `locations` were found in.
    locations_of: u64,
}

/// The live feed: state in memory, quota and history in SQLite, upstream over HTTP.
pub struct LiveService {
    settings: Settings,
    store: Arc<dyn GridStore>,
    http: reqwest::Client,
    pace: DefaultDirectRateLimiter,
    db: Arc<Mutex<Connection>>,
    state: Mutex<State>,
    /// Set: the quota and the pace are counted in Redis for every instance together, and
    /// the readings are shared there.
    shared: Option<crate::shared::Redis>,
    /// Whether this instance polls (always, without Redis).
    lease: crate::shared::Lease,
}

/// Redis keys of the shared quota (calls of the last hour) and pace (the next turn).
const SHARED_CALLS_KEY: &str = "gridscope:live:calls";
const SHARED_PACE_KEY: &str = "gridscope:live:pace";
/// Redis keys of the shared cache: the newest reading per location (a hash), the history (a
/// sorted set by fetch time in ms), the poller's last outcome, and a provider's
/// `Retry-After` hold (a key that expires with it).
const SHARED_LATEST_KEY: &str = "gridscope:live:latest";
const SHARED_HISTORY_KEY: &str = "gridscope:live:history";
const SHARED_STATUS_KEY: &str = "gridscope:live:status";
const SHARED_HOLD_KEY: &str = "gridscope:live:hold";
/// How often an instance with Redis reads the shared cache.
const SHARED_SYNC: Duration = Duration::from_secs(1);

/// The poller's last outcome, as it keeps it in Redis for the other instances.
#[derive(serde::Serialize, serde::Deserialize)]
struct SharedStatus {
    last_success_at: Option<DateTime<Utc>>,
    last_error: Option<UpstreamError>,
    last_call_failed: bool,
}

/// Reads the shared cache in one step: the newest readings, the poller's last outcome, the
/// hold's ms left, the calls in the last window (ARGV[1] ms) on Redis's clock.
static READ_SHARED: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local calls = redis.call('ZCOUNT', KEYS[4], now - tonumber(ARGV[1]), '+inf')
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[3]), calls}
",
    )
});

fn db_error(e: rusqlite::Error) -> std::io::Error {
    std::io::Error::other(format!("live conditions database: {e}"))
}

impl LiveService {
    /// Opens (creating) the database in `data_dir` and restores the newest reading of every
    /// location and the calls of the last hour.
    pub fn open(
        settings: Settings,
        store: Arc<dyn GridStore>,
        data_dir: &Path,
    ) -> std::io::Result<LiveService> {
        std::fs::create_dir_all(data_dir)?;
        let db = Connection::open(data_dir.join(FILE_NAME)).map_err(db_error)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS calls (at INTEGER NOT NULL) STRICT;
             CREATE INDEX IF NOT EXISTS calls_at ON calls (at);
             CREATE TABLE IF NOT EXISTS readings (
                 location TEXT NOT NULL, observed_at INTEGER NOT NULL, fetched_at INTEGER NOT NULL,
                 data TEXT NOT NULL) STRICT;
             CREATE INDEX IF NOT EXISTS readings_fetched ON readings (fetched_at);
             CREATE INDEX IF NOT EXISTS readings_location ON readings (location, fetched_at);",
        )
        .map_err(db_error)?;
        let latest = {
            let mut stmt = db
                .prepare(
                    "SELECT r.data FROM readings r
                     JOIN (SELECT location, MAX(fetched_at) AS at FROM readings GROUP BY location) m
                       ON r.location = m.location AND r.fetched_at = m.at",
                )
                .map_err(db_error)?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0)).map_err(db_error)?;
            let mut latest = HashMap::new();
            for data in rows {
                if let Ok(reading) = serde_json::from_str::<Reading>(&data.map_err(db_error)?) {
                    latest.insert(reading.location.clone(), reading);
                }
            }
            latest
        };
        let rate = NonZeroU32::new(settings.calls_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("gridscope/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| std::io::Error::other(format!("HTTP client: {}", e.without_url())))?;
        let service = LiveService {
            pace: RateLimiter::direct(Quota::per_minute(rate).allow_burst(NonZeroU32::MIN)),
            http,
            store,
            db: Arc::new(Mutex::new(db)),
            state: Mutex::new(State {
                locations: Vec::new(),
                last_success_at: latest.values().map(|r| r.fetched_at).max(),
                latest,
                last_error: None,
                last_call_failed: false,
                hold_until: None,
                breaker: Breaker::new(BREAKER_THRESHOLD, settings.breaker_cooldown),
                revision: 1,
                calls_last_hour: 0,
                locations_of: 0,
            }),
            settings,
            shared: None,
            lease: crate::shared::Lease::single(),
        };
        let calls = service.with_db(|db| calls_since(db, Utc::now() - TimeDelta::hours(1)))?;
        service.lock().calls_last_hour = calls;
        Ok(service)
    }

    /// Counts the quota and the pace in `redis`, shared with every other instance, instead
    /// of this instance's database and memory; shares the readings there; polls only while
    /// `lease` is held.
    pub fn with_shared(
        mut self,
        redis: Option<crate::shared::Redis>,
        lease: crate::shared::Lease,
    ) -> LiveService {
        self.shared = redis;
        self.lease = lease;
        self
    }

    /// Takes in what the shared cache holds: newer readings, the poller's last outcome, a
    /// provider's hold and the calls of the last hour. Nothing to do without Redis.
    pub async fn read_shared(&self) -> Result<(), String> {
        let Some(redis) = &self.shared else { return Ok(()) };
        let (latest, status, hold_ms, calls): (Vec<String>, Option<String>, i64, u32) = READ_SHARED
            .key(SHARED_LATEST_KEY)
            .key(SHARED_STATUS_KEY)
            .key(SHARED_HOLD_KEY)
            .key(SHARED_CALLS_KEY)
            .arg(3_600_000u64)
            .invoke_async(&mut redis.connection())
            .await
            .map_err(|e| format!("redis: {}", e.category()))?;
        let status = status.and_then(|s| serde_json::from_str::<SharedStatus>(&s).ok());
        let mut state = self.lock();
        let mut changed = false;
        for pair in latest.chunks_exact(2) {
            let Ok(reading) = serde_json::from_str::<Reading>(&pair[1]) else {
                tracing::warn!(location = %pair[0], "live conditions: unreadable shared reading ignored");
                continue;
            };
            let newer = state.latest.get(&reading.location).is_none_or(|r| r.fetched_at < reading.fetched_at);
            if newer {
                state.latest.insert(reading.location.clone(), reading);
                changed = true;
            }
        }
        if changed {
            state.revision += 1;
        }
        // The poller's own outcome is the newest; the others take it from here.
        if let Some(status) = status.filter(|_| !self.lease.held()) {
            state.last_success_at = state.last_success_at.max(status.last_success_at);
            state.last_error = status.last_error;
            state.last_call_failed = status.last_call_failed;
        }
        if hold_ms > 0 {
            let until = Instant::now() + Duration::from_millis(hold_ms as u64);
            state.hold_until = state.hold_until.max(Some(until));
        }
        state.calls_last_hour = calls;
        Ok(())
    }

    /// Puts this call's outcome in the shared cache, for the other instances and the next
    /// poller.
    async fn write_shared(&self, location: &Location, reading: Option<&Reading>, now: DateTime<Utc>) {
        let Some(redis) = &self.shared else { return };
        let (status, hold) = {
            let state = self.lock();
            let status = SharedStatus {
                last_success_at: state.last_success_at,
                last_error: state.last_error.clone(),
                last_call_failed: state.last_call_failed,
            };
            let hold = state.hold_until.map(|until| until.saturating_duration_since(Instant::now()));
            (status, hold)
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(reading) = reading {
            let data = serde_json::to_string(reading).unwrap_or_default();
            let history_start = now - TimeDelta::from_std(self.settings.history).unwrap_or(TimeDelta::MAX);
            pipe.hset(SHARED_LATEST_KEY, &location.name, &data)
                .zadd(SHARED_HISTORY_KEY, &data, reading.fetched_at.timestamp_millis())
                .zrembyscore(SHARED_HISTORY_KEY, "-inf", history_start.timestamp_millis())
                .zremrangebyrank(SHARED_HISTORY_KEY, 0, -(MAX_HISTORY_ROWS as isize) - 1);
        }
        if let Some(hold) = hold.filter(|h| !h.is_zero()) {
            pipe.pset_ex(SHARED_HOLD_KEY, 1, hold.as_millis() as u64);
        }
        pipe.set(SHARED_STATUS_KEY, serde_json::to_string(&status).unwrap_or_default());
        if let Err(e) = pipe.query_async::<()>(&mut redis.connection()).await {
            tracing::warn!(error = %e.category(), "live conditions: outcome not shared");
        }
    }

    /// The pace: `Err(wait)` when it is not this instance's turn yet.
    async fn take_turn(&self) -> Result<Result<(), Duration>, String> {
        match &self.shared {
            None => Ok(self.pace.check().map_err(|not_until| {
                not_until
                    .wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()))
            })),
            Some(redis) => {
                let interval = Duration::from_secs(60) / self.settings.calls_per_minute.max(1);
                redis.pace(SHARED_PACE_KEY, interval).await.map_err(|e| format!("redis: {}", e.category()))
            }
        }
    }

    /// The quota: counts and records this call before it is sent. `Ok(used)` or
    /// `Err((used, retry_after_seconds))`.
    async fn admit_call(&self, now: DateTime<Utc>) -> Result<Result<u32, (u32, u64)>, String> {
        let quota = self.settings.hourly_quota;
        if let Some(redis) = &self.shared {
            return redis
                .admit_call(SHARED_CALLS_KEY, Duration::from_secs(3600), quota)
                .await
                .map_err(|e| format!("redis: {}", e.category()));
        }
        self.with_db(|db| {
            let tx = db.unchecked_transaction()?;
            let hour_ago = now - TimeDelta::hours(1);
            tx.execute("DELETE FROM calls WHERE at < ?1", params![hour_ago.timestamp() - 3600])?;
            let used = calls_since(&tx, hour_ago)?;
            if used >= quota {
                let oldest: i64 = tx.query_row(
                    "SELECT MIN(at) FROM calls WHERE at >= ?1",
                    params![hour_ago.timestamp()],
                    |r| r.get(0),
                )?;
                tx.commit()?;
                return Ok(Err((used, (oldest + 3600 - now.timestamp()).max(1) as u64)));
            }
            tx.execute("INSERT INTO calls (at) VALUES (?1)", params![now.timestamp()])?;
            tx.commit()?;
            Ok(Ok(used + 1))
        })
        .map_err(|e| e.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_db<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> std::io::Result<T> {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        f(&db).map_err(db_error)
    }

    /// Polls forever, one call at a time, sleeping while nothing is due or a limit holds.
    /// With Redis, every instance reads the shared cache each second and only the lease
    /// holder polls.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.read_shared().await {
                tracing::warn!(error = %e, "live conditions: shared readings not readable now");
            }
            let wait = if !self.lease.held() {
                // Only for the status page: a grid not readable now is read next time.
                let _ = self.refresh_locations().await;
                SHARED_SYNC
            } else {
                match self.poll_once().await {
                    Poll::Fetched(_) | Poll::Failed(_) => Duration::ZERO,
                    Poll::NothingDue(wait) | Poll::Held { wait, .. } => wait,
                    Poll::NoLocations => Duration::from_secs(60),
                }
            };
            // Re-check at least every 30 s (a new grid may bring new locations), every second
            // with Redis (the shared cache, the lease).
            let most = if self.shared.is_some() { SHARED_SYNC } else { Duration::from_secs(30) };
            tokio::time::sleep(wait.clamp(Duration::from_millis(200), most)).await;
        }
    }

    /// The locations of the stored grid, found again only when its revision changed.
    async fn refresh_locations(&self) -> Result<(), app::ports::StoreError> {
        let snapshot = self.store.snapshot().await?;
        let mut state = self.lock();
        if state.locations_of != snapshot.meta.revision || state.locations.is_empty() {
            state.locations = locations(&snapshot.data);
            state.locations_of = snapshot.meta.revision;
        }
        Ok(())
    }

    /// One step: call the upstream for the most overdue location if every limit allows it.
    pub async fn poll_once(&self) -> Poll {
        let now = Utc::now();
        if let Err(e) = self.refresh_locations().await {
            tracing::warn!(error = %e, "live conditions: grid not readable; polling later");
            return Poll::Held { reason: UpstreamError::Unreachable, wait: Duration::from_secs(30) };
        }
        let ttl = TimeDelta::from_std(self.settings.ttl).unwrap_or(TimeDelta::MAX);
        let location = {
            let state = self.lock();
            if state.locations.is_empty() {
                return Poll::NoLocations;
            }
            // Never read first, then the oldest reading.
            let mut candidates: Vec<(Option<DateTime<Utc>>, &Location)> = state
                .locations
                .iter()
                .map(|l| (state.latest.get(&l.name).map(|r| r.fetched_at), l))
                .collect();
            candidates.sort_by_key(|(at, _)| *at);
            let (at, location) = candidates[0];
            if let Some(at) = at.filter(|at| now - *at < ttl) {
                let wait = (at + ttl - now).to_std().unwrap_or_default();
                return Poll::NothingDue(wait);
            }
            let location = location.clone();
            let instant = Instant::now();
            if let Some(until) = state.hold_until.filter(|u| *u > instant) {
                let wait = until - instant;
                let reason = UpstreamError::RateLimited { retry_after: Some(wait.as_secs().max(1)) };
                return Poll::Held { reason, wait };
            }
            if let Err(seconds) = state.breaker.check(instant) {
                let reason = UpstreamError::CircuitOpen { retry_after: seconds };
                return Poll::Held { reason, wait: Duration::from_secs(seconds) };
            }
            location
        };
        match self.take_turn().await {
            Ok(Ok(())) => {}
            Ok(Err(wait)) => {
                return Poll::Held {
                    reason: UpstreamError::RateLimited { retry_after: Some(wait.as_secs()) },
                    wait,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "live conditions: the shared pace cannot be read; not calling");
                return Poll::Held { reason: UpstreamError::Unreachable, wait: Duration::from_secs(5) };
            }
        }
        // The quota: counted and recorded before the call is sent.
        let quota = self.settings.hourly_quota;
        match self.admit_call(now).await {
            Ok(Ok(used)) => self.lock().calls_last_hour = used,
            Ok(Err((used, retry_after))) => {
                let reason = UpstreamError::QuotaExceeded { retry_after };
                {
                    let mut state = self.lock();
                    state.calls_last_hour = used;
                    state.last_error = Some(reason.clone());
                }
                tracing::warn!(quota, retry_after, "live conditions: hourly quota used up; holding calls");
                self.write_shared(&location, None, now).await;
                return Poll::Held { reason, wait: Duration::from_secs(retry_after) };
            }
            Err(e) => {
                tracing::error!(error = %e, "live conditions: quota not recordable; not calling");
                let wait = Duration::from_secs(if self.shared.is_some() { 5 } else { 30 });
                return Poll::Held { reason: UpstreamError::Unreachable, wait };
            }
        }
        let started = std::time::Instant::now();
        let result = self.fetch(&location, now).await;
        let outcome = result.as_ref().map_or_else(UpstreamError::outcome, |_| "ok");
        crate::metrics::upstream("live", outcome, started.elapsed());
        let shared = result.as_ref().ok().cloned();
        let poll = self.record(&location, result, now);
        self.write_shared(&location, shared.as_ref(), now).await;
        poll
    }

    fn record(
        &self,
        location: &Location,
        result: Result<Reading, UpstreamError>,
        now: DateTime<Utc>,
    ) -> Poll {
        match result {
            Ok(reading) => {
                let history_start =
                    now - TimeDelta::from_std(self.settings.history).unwrap_or(TimeDelta::MAX);
                let stored = self.with_db(|db| {
                    db.execute(
                        "INSERT INTO readings (location, observed_at, fetched_at, data) VALUES (?1, ?2, ?3, ?4)",
                        params![
                            reading.location,
                            reading.observed_at.timestamp(),
                            reading.fetched_at.timestamp(),
                            serde_json::to_string(&reading).unwrap_or_default()
                        ],
                    )?;
                    db.execute("DELETE FROM readings WHERE fetched_at < ?1", params![history_start.timestamp()])?;
                    db.execute(
                        "DELETE FROM readings WHERE rowid <= (SELECT MAX(rowid) FROM readings) - ?1",
                        params![MAX_HISTORY_ROWS],
                    )
                });
                if let Err(e) = stored {
                    tracing::error!(error = %e, "live conditions: reading not kept in history");
                }
                let mut state = self.lock();
                state.breaker.success();
                state.last_call_failed = false;
                state.last_error = None;
                state.last_success_at = Some(now);
                state.latest.insert(location.name.clone(), reading);
                state.revision += 1;
                Poll::Fetched(location.name.clone())
            }
            Err(error) => {
                let mut state = self.lock();
                let instant = Instant::now();
                if let UpstreamError::RateLimited { retry_after } = &error {
                    let wait = retry_after.unwrap_or(60).clamp(1, 3600);
                    state.hold_until = Some(instant + Duration::from_secs(wait));
                }
                if error.counts_as_failure() {
                    state.breaker.failure(instant);
                }
                state.last_call_failed = true;
                state.last_error = Some(error.clone());
                tracing::warn!(location = %location.name, error = %error, "live conditions: call failed");
                Poll::Failed(error)
            }
        }
    }

    async fn fetch(&self, location: &Location, now: DateTime<Utc>) -> Result<Reading, UpstreamError> {
        match &self.settings.provider {
            Provider::Sample => Ok(sample_reading(location, now)),
            Provider::OpenWeatherMap { base_url, key } => {
                let timeout = self.settings.timeout;
                let response = self
                    .http
                    .get(format!("{base_url}/data/2.5/weather"))
                    .query(&[
                        ("lat", format!("{:.4}", location.lat)),
                        ("lon", format!("{:.4}", location.lon)),
                        ("units", "metric".to_owned()),
                        ("appid", key.expose().to_owned()),
                    ])
                    .send()
                    .await
                    .map_err(|e| UpstreamError::from_reqwest(e, timeout))?;
                let status = response.status();
                if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    return Err(UpstreamError::RateLimited { retry_after: retry_after(response.headers()) });
                }
                if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
                    return Err(UpstreamError::Rejected(status.as_u16()));
                }
                if !status.is_success() {
                    return Err(UpstreamError::Status(status.as_u16()));
                }
                let body = read_limited(response, MAX_BODY_BYTES, timeout).await?;
                parse_current_weather(&body, &location.name, now)
            }
        }
    }

    fn limits(&self) -> FreshnessLimits {
        FreshnessLimits { ttl: self.settings.ttl.as_secs(), stale_after: self.settings.stale_after.as_secs() }
    }
}

fn calls_since(db: &Connection, since: DateTime<Utc>) -> rusqlite::Result<u32> {
    db.query_row("SELECT COUNT(*) FROM calls WHERE at >= ?1", params![since.timestamp()], |r| r.get(0))
}

/// The part of OpenWeatherMap's current-weather response we use.
#[derive(Deserialize)]
struct OwmCurrent {
    dt: i64,
    main: OwmMain,
    wind: OwmWind,
    #[serde(default)]
    rain: Option<OwmHour>,
    #[serde(default)]
    snow: Option<OwmHour>,
}

#[derive(Deserialize)]
struct OwmMain {
    temp: f64,
    #[serde(default)]
    humidity: Option<f64>,
}

#[derive(Deserialize)]
struct OwmWind {
    speed: f64,
    #[serde(default)]
    gust: Option<f64>,
}

#[derive(Deserialize)]
struct OwmHour {
    #[serde(rename = "1h", default)]
    one_hour: f64,
}

/// Parses and sanity-checks a current-weather body (values outside physical ranges are
/// refused, not stored).
pub fn parse_current_weather(
    body: &[u8],
    location: &str,
    now: DateTime<Utc>,
) -> Result<Reading, UpstreamError> {
    let w: OwmCurrent = serde_json::from_slice(body).map_err(|e| {
        UpstreamError::Malformed(format!("line {} column {}: {}", e.line(), e.column(), classify(&e)))
    })?;
    let precipitation = w.rain.map_or(0.0, |r| r.one_hour) + w.snow.map_or(0.0, |s| s.one_hour);
    let in_range = (-90.0..=60.0).contains(&w.main.temp)
        && (0.0..=120.0).contains(&w.wind.speed)
        && w.wind.gust.is_none_or(|g| (0.0..=150.0).contains(&g))
        && (0.0..=500.0).contains(&precipitation)
        && w.main.humidity.is_none_or(|h| (0.0..=100.0).contains(&h));
    if !in_range {
        return Err(UpstreamError::Malformed("a value is outside its physical range".to_owned()));
    }
    let observed_at = DateTime::from_timestamp(w.dt, 0).ok_or_else(|| {
        UpstreamError::Malformed("the observation time is not a valid timestamp".to_owned())
    })?;
    Ok(Reading {
        location: location.to_owned(),
        observed_at,
        fetched_at: now,
        temperature_c: w.main.temp,
        wind_speed_ms: w.wind.speed,
        wind_gust_ms: w.wind.gust,
        precipitation_mm_h: precipitation,
        humidity_pct: w.main.humidity,
        sample: false,
    })
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
        _ => "missing or mistyped field",
    }
}

/// Made-up but plausible weather (a daily temperature cycle, steady wind), labelled sample.
fn sample_reading(location: &Location, now: DateTime<Utc>) -> Reading {
    use chrono::Timelike;
    let seed = location.name.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let offset = f64::from(seed % 7);
    let hour = f64::from(now.hour()) + f64::from(now.minute()) / 60.0;
    let daily = ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
    Reading {
        location: location.name.clone(),
        observed_at: now,
        fetched_at: now,
        temperature_c: 12.0 + offset * 0.5 + 6.0 * daily,
        wind_speed_ms: 3.0 + offset * 0.4,
        wind_gust_ms: Some(6.0 + offset * 0.8),
        precipitation_mm_h: 0.0,
        humidity_pct: Some(70.0 - 10.0 * daily),
        sample: true,
    }
}

#[async_trait::async_trait]
impl LiveFeed for LiveService {
    fn status(&self) -> LiveConditions {
        let now = Utc::now();
        let state = self.lock();
        let locations: Vec<LocationNow> = state
            .locations
            .iter()
            .map(|l| {
                let reading = state.latest.get(&l.name).cloned();
                let age_seconds = reading.as_ref().map(|r| (now - r.fetched_at).num_seconds().max(0) as u64);
                LocationNow { location: l.name.clone(), reading, age_seconds }
            })
            .collect();
        let ages: Vec<Option<u64>> = locations.iter().map(|l| l.age_seconds).collect();
        let breaker_open = state.breaker.state(Instant::now()) == BreakerState::Open;
        let mut last_error = state.last_error.clone();
        if breaker_open {
            if let Err(retry_after) = state.breaker.check(Instant::now()) {
                last_error = Some(UpstreamError::CircuitOpen { retry_after });
            }
        }
        LiveConditions {
            state: freshness(&ages, state.last_call_failed || last_error.is_some(), self.limits()),
            provider: self.settings.provider.label().to_owned(),
            sample: matches!(self.settings.provider, Provider::Sample),
            locations,
            last_success_at: state.last_success_at,
            last_error: last_error.map(|e| e.to_public(WHAT)),
            calls_last_hour: state.calls_last_hour,
            hourly_quota: self.settings.hourly_quota,
            ttl_seconds: self.settings.ttl.as_secs(),
            stale_after_seconds: self.settings.stale_after.as_secs(),
            trend: Vec::new(),
            as_of: now,
        }
    }

    fn conditions(&self) -> Conditions {
        let now = Utc::now();
        let state = self.lock();
        let stale_after = TimeDelta::from_std(self.settings.stale_after).unwrap_or(TimeDelta::MAX);
        let readings: HashMap<String, Reading> = state
            .latest
            .iter()
            .filter(|(_, r)| now - r.fetched_at <= stale_after)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        // The revision also changes when a reading turns stale and drops out.
        Conditions { revision: state.revision * 1_000 + readings.len() as u64, readings }
    }

    async fn history(&self, since: DateTime<Utc>) -> Vec<Reading> {
        if let Some(redis) = &self.shared {
            let rows: Result<Vec<String>, _> = redis::cmd("ZRANGEBYSCORE")
                .arg(SHARED_HISTORY_KEY)
                .arg(since.timestamp_millis())
                .arg("+inf")
                .arg("LIMIT")
                .arg(0)
                .arg(5000)
                .query_async(&mut redis.connection())
                .await;
            match rows {
                Ok(rows) => return rows.iter().filter_map(|d| serde_json::from_str(d).ok()).collect(),
                Err(e) => {
                    tracing::warn!(error = %e.category(), "live conditions: shared history not readable; this instance's own")
                }
            }
        }
        let db = self.db.clone();
        let rows = tokio::task::spawn_blocking(move || {
            let db = db.lock().unwrap_or_else(|p| p.into_inner());
            let mut stmt = db
                .prepare("SELECT data FROM readings WHERE fetched_at >= ?1 ORDER BY fetched_at LIMIT 5000")?;
            let rows = stmt.query_map(params![since.timestamp()], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })
        .await;
        match rows {
            Ok(Ok(rows)) => rows.iter().filter_map(|d| serde_json::from_str(d).ok()).collect(),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "live conditions: history not readable");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// The feed when no provider is configured: says so, holds nothing.
pub struct NotConfigured;

#[async_trait::async_trait]
impl LiveFeed for NotConfigured {
    fn status(&self) -> LiveConditions {
        LiveConditions::not_configured(Utc::now())
    }

    fn conditions(&self) -> Conditions {
        Conditions::default()
    }

    async fn history(&self, _since: DateTime<Utc>) -> Vec<Reading> {
        Vec::new()
    }
}

/// The feed the config selects; starts its polling task when there is one.
pub fn start(
    config: &Config,
    store: Arc<dyn GridStore>,
    redis: Option<crate::shared::Redis>,
    lease: crate::shared::Lease,
) -> std::io::Result<Arc<dyn LiveFeed>> {
    let Some(settings) = Settings::from_config(config) else {
        tracing::info!("live conditions: no provider configured");
        return Ok(Arc::new(NotConfigured));
    };
    tracing::info!(
        provider = settings.provider.label(),
        calls_per_minute = settings.calls_per_minute,
        hourly_quota = settings.hourly_quota,
        "live conditions: polling"
    );
    let service = Arc::new(LiveService::open(settings, store, &config.data_dir)?.with_shared(redis, lease));
    tokio::spawn(service.clone().run());
    Ok(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWM: &str = r#"{"coord":{"lon":7.76,"lat":48.41},"weather":[{"id":500,"main":"Rain","description":"light rain","icon":"10d"}],
        "base":"stations","main":{"temp":0.4,"feels_like":-3.1,"temp_min":-0.2,"temp_max":1.1,"pressure":1009,"humidity":96},
        "visibility":6000,"wind":{"speed":7.2,"deg":250,"gust":16.9},"rain":{"1h":0.62},"clouds":{"all":100},
        "dt":1763971200,"sys":{"type":2,"id":2011,"country":"DE","sunrise":1763966000,"sunset":1763998000},
        "timezone":3600,"id":2891802,"name":"Kehl","cod":200}"#;

    #[test]
    fn reads_the_documented_current_weather_format() {
        let now = Utc::now();
        let r = parse_current_weather(OWM.as_bytes(), "Region 1", now).unwrap();
        assert_eq!((r.temperature_c, r.wind_speed_ms, r.wind_gust_ms), (0.4, 7.2, Some(16.9)));
        assert_eq!(r.precipitation_mm_h, 0.62);
        assert_eq!(r.observed_at.timestamp(), 1_763_971_200);
        assert_eq!((r.location.as_str(), r.sample), ("Region 1", false));
    }

    #[test]
    fn refuses_bodies_that_are_not_weather() {
        let now = Utc::now();
        let e = parse_current_weather(b"<html>oops</html>", "x", now).unwrap_err();
        assert!(matches!(e, UpstreamError::Malformed(ref m) if m.contains("not JSON")), "{e}");
        let e = parse_current_weather(br#"{"dt":1,"main":{},"wind":{"speed":1}}"#, "x", now).unwrap_err();
        assert!(matches!(e, UpstreamError::Malformed(ref m) if m.contains("missing")), "{e}");
        let hot = OWM.replace("\"temp\":0.4", "\"temp\":400.0");
        let e = parse_current_weather(hot.as_bytes(), "x", now).unwrap_err();
        assert!(matches!(e, UpstreamError::Malformed(ref m) if m.contains("physical")), "{e}");
    }

    #[test]
    fn locations_are_region_centroids_plus_the_grid_for_unregioned_assets() {
        use app::domain::{Asset, AssetKind, GridData};
        let at = |id: &str, region: Option<&str>, lat: f64, lon: f64| Asset {
            region: region.map(Into::into),
            location: app::domain::GeoPoint { lat, lon }.into(),
            ..Asset::new(id, AssetKind::Bus)
        };
        let grid = GridData {
            assets: vec![
                at("a", Some("North"), 50.0, 8.0),
                at("b", Some("North"), 52.0, 10.0),
                at("c", Some("South"), 48.0, 9.0),
                at("d", None, 49.0, 9.0),
                Asset::new("e", AssetKind::Bus),
            ],
            ..Default::default()
        };
        let l = locations(&grid);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0], Location { name: "North".into(), lat: 51.0, lon: 9.0 });
        assert_eq!(l[1].name, "South");
        assert_eq!((l[2].name.as_str(), l[2].lat), (GRID_WIDE, 49.75));
        assert!(locations(&GridData { assets: vec![Asset::new("x", AssetKind::Bus)], ..Default::default() })
            .is_empty());
    }
}
