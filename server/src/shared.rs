//! State that several instances share, kept in Redis when `GRIDSCOPE_REDIS_URL` is set.
//!
//! One public dashboard may run as several identical instances behind a load balancer, with
//! the grid in Neo4j. What they must agree on lives in Redis: the sessions (a sign-in on one
//! instance counts on all), the live-conditions quota and pace (one instance's upstream
//! call counts for all) and the rate limits (a client's requests count on every instance). Without the variable everything stays in the process and its data
//! folder, as for a single instance.
//!
//! Every key starts with [`PREFIX`], so a Redis shared with other software is safe. The
//! connection is made on first use and remade by itself after Redis comes back; each
//! command is bounded by `GRIDSCOPE_REDIS_TIMEOUT_MILLIS`, so an unreachable Redis costs a
//! request that needs it at most that long and never hangs it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Config;

/// The start of every key Gridscope writes to Redis.
pub const PREFIX: &str = "gridscope:";

/// A connection to the shared Redis (cheap to clone: clones share one multiplexed
/// connection).
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    /// After Redis failed to answer, the hot paths (session reads, shared rate limits) do
    /// not ask it until then (ms since the Unix epoch), so an outage does not add a timeout
    /// to every request.
    resting_until: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// How long the hot paths leave Redis alone after it failed to answer.
pub const REST: Duration = Duration::from_secs(5);

fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl std::fmt::Debug for Redis {
    /// Never the URL: it may carry the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redis")
    }
}

impl Redis {
    /// The shared Redis when `GRIDSCOPE_REDIS_URL` is set, else `None`. Nothing is sent yet:
    /// the connection is made on first use (an instance starts while Redis is down, and
    /// serves what needs no shared state). Call within the Tokio runtime.
    pub fn from_config(config: &Config) -> Result<Option<Redis>, String> {
        if !config.redis_url.is_set() {
            return Ok(None);
        }
        // The parser's message may quote the URL, password included: not passed on.
        let client = redis::Client::open(config.redis_url.expose())
            .map_err(|_| "GRIDSCOPE_REDIS_URL: not a valid Redis URL".to_owned())?;
        let limit = Duration::from_millis(config.redis_timeout_millis);
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(limit))
            .set_response_timeout(Some(limit))
            // One quick retry per command; the manager keeps reconnecting between commands.
            .set_number_of_retries(1)
            .set_max_delay(limit);
        let connection = ConnectionManager::new_lazy_with_config(client, settings)
            .map_err(|e| format!("cannot set up the Redis connection: {}", e.category()))?;
        Ok(Some(Redis { connection, resting_until: Default::default() }))
    }

    /// Whether Redis failed to answer less than [`REST`] ago: hot paths then do without it.
    pub fn resting(&self) -> bool {
        unix_millis() < self.resting_until.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes a failed command: when Redis did not answer (not a refused command), the hot
    /// paths rest for [`REST`]. Returns the error.
    pub fn failed(&self, e: redis::RedisError) -> redis::RedisError {
        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
            let until = unix_millis() + REST.as_millis() as u64;
            self.resting_until.store(until, std::sync::atomic::Ordering::Relaxed);
        }
        e
    }

    /// A handle for commands (`query_async(&mut redis.connection())`).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        redis::cmd("PING").query_async::<String>(&mut self.connection()).await.map(drop)
    }

    /// How many keys start with `prefix` (a `SCAN`, not `KEYS`: Redis stays responsive).
    pub async fn count(&self, prefix: &str) -> Result<u64, redis::RedisError> {
        let mut connection = self.connection();
        let pattern = format!("{prefix}*");
        let (mut cursor, mut count) = (0u64, 0u64);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await?;
            count += keys.len() as u64;
            if next == 0 {
                return Ok(count);
            }
            cursor = next;
        }
    }

    /// Admits one call against a quota of `quota` calls in any `window` counted for every
    /// instance: `Ok(used)` with the calls in the window including this one, or
    /// `Err((used, retry_after_seconds))` when the quota is used up. Atomic (one script, on
    /// Redis's own clock, so instances' clocks may differ); the call is counted before it is
    /// made, like the single-instance quota.
    pub async fn admit_call(
        &self,
        key: &str,
        window: Duration,
        quota: u32,
    ) -> Result<Result<u32, (u32, u64)>, redis::RedisError> {
        let (admitted, used, retry_ms): (u8, u32, u64) = ADMIT_CALL
            .key(key)
            .arg(window.as_millis() as u64)
            .arg(quota)
            .arg(uuid::Uuid::new_v4().to_string())
            .invoke_async(&mut self.connection())
            .await?;
        Ok(if admitted == 1 { Ok(used) } else { Err((used, retry_ms.div_ceil(1000).max(1))) })
    }

    /// One request against a limit of `burst` at once, refilled one every `period`, counted
    /// for every instance together (the generic cell rate algorithm, as `governor` counts in
    /// one process; one script on Redis's clock). `Ok(())` or `Err(retry_after_seconds)`.
    pub async fn limit(
        &self,
        key: &str,
        period: Duration,
        burst: u32,
    ) -> Result<Result<(), u64>, redis::RedisError> {
        let (allowed, retry_us): (u8, u64) = LIMIT
            .key(key)
            .arg((period.as_micros() as u64).max(1))
            .arg(burst.max(1))
            .invoke_async(&mut self.connection())
            .await?;
        Ok(if allowed == 1 { Ok(()) } else { Err(retry_us.div_ceil(1_000_000).max(1)) })
    }

    /// One turn every `interval` for every instance together: `Ok(())` when this caller has
    /// the turn, else `Err(wait)` until the next one.
    pub async fn pace(
        &self,
        key: &str,
        interval: Duration,
    ) -> Result<Result<(), Duration>, redis::RedisError> {
        let mut connection = self.connection();
        let interval_ms = (interval.as_millis() as u64).max(1);
        let taken: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(interval_ms)
            .query_async(&mut connection)
            .await?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let left: i64 = redis::cmd("PTTL").arg(key).query_async(&mut connection).await?;
        Ok(Err(Duration::from_millis(left.clamp(0, interval_ms as i64) as u64)))
    }
}

/// Which instance runs the background work (the live poller, scheduled backups): with Redis,
/// the one holding a lease (a key with a time limit, renewed while it runs); without, this
/// one. An instance that stops hands the lease over at once; one that dies loses it when the
/// time runs out, and another takes it at its next try. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Lease {
    shared: Option<std::sync::Arc<SharedLease>>,
}

#[derive(Debug)]
struct SharedLease {
    redis: Redis,
    key: String,
    /// This instance's mark in the key (unique per process).
    holder: String,
    time: Duration,
    view: std::sync::Mutex<LeaseView>,
}

#[derive(Debug, Default)]
struct LeaseView {
    /// Held until then (this side of the key's expiry, with a third of the time to spare).
    held_until: Option<std::time::Instant>,
    /// The last try found Redis unreachable.
    unknown: bool,
}

/// Where the background work runs, as this instance sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// One instance, no Redis: here.
    Single,
    /// This instance holds the lease.
    Here,
    /// Another instance holds it.
    Elsewhere,
    /// Redis did not answer the last try.
    Unknown,
}

impl LeaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Single => "single_instance",
            LeaseState::Here => "this_instance",
            LeaseState::Elsewhere => "another_instance",
            LeaseState::Unknown => "unknown",
        }
    }
}

impl Lease {
    /// No Redis: the work always runs here.
    pub fn single() -> Lease {
        Lease { shared: None }
    }

    /// The lease `name` in `redis`, held for `time` at each renewal.
    pub fn shared(redis: Redis, name: &str, time: Duration) -> Lease {
        Lease {
            shared: Some(std::sync::Arc::new(SharedLease {
                redis,
                key: format!("{PREFIX}lease:{name}"),
                holder: uuid::Uuid::new_v4().to_string(),
                time,
                view: std::sync::Mutex::new(LeaseView::default()),
            })),
        }
    }

    /// `shared` with Redis, else `single`.
    pub fn from_config(redis: Option<&Redis>, name: &str, config: &Config) -> Lease {
        match redis {
            Some(redis) => Lease::shared(redis.clone(), name, Duration::from_secs(config.lease_seconds)),
            None => Lease::single(),
        }
    }

    /// Whether the background work may run here now.
    pub fn held(&self) -> bool {
        matches!(self.state(), LeaseState::Single | LeaseState::Here)
    }

    pub fn state(&self) -> LeaseState {
        let Some(shared) = &self.shared else { return LeaseState::Single };
        let view = shared.view.lock().unwrap_or_else(|p| p.into_inner());
        match view.held_until {
            Some(until) if until > std::time::Instant::now() => LeaseState::Here,
            _ if view.unknown => LeaseState::Unknown,
            _ => LeaseState::Elsewhere,
        }
    }

    /// Takes the lease if it is free, or renews it if this instance holds it; returns
    /// whether it does now.
    pub async fn renew(&self) -> Result<bool, redis::RedisError> {
        let Some(shared) = &self.shared else { return Ok(true) };
        let sent = std::time::Instant::now();
        let answer: Result<u8, _> = RENEW_LEASE
            .key(&shared.key)
            .arg(&shared.holder)
            .arg(shared.time.as_millis() as u64)
            .invoke_async(&mut shared.redis.connection())
            .await;
        let mut view = shared.view.lock().unwrap_or_else(|p| p.into_inner());
        view.unknown = answer.is_err();
        match answer {
            Ok(1) => {
                // The key lives `time` from when Redis got the command, which is after `sent`.
                view.held_until = Some(sent + shared.time * 2 / 3);
                Ok(true)
            }
            Ok(_) => {
                view.held_until = None;
                Ok(false)
            }
            // Held (or not) as before, until the local limit runs out.
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up at once, if this instance holds it, so another takes over without
    /// waiting for the time to run out.
    pub async fn release(&self) {
        let Some(shared) = &self.shared else { return };
        shared.view.lock().unwrap_or_else(|p| p.into_inner()).held_until = None;
        let answer: Result<u8, _> = RELEASE_LEASE
            .key(&shared.key)
            .arg(&shared.holder)
            .invoke_async(&mut shared.redis.connection())
            .await;
        if let Err(e) = answer {
            tracing::warn!(error = %e.category(), "lease not handed over; it runs out by itself");
        }
    }

    /// Renews the lease four times per lease time until `stop`, then hands it over.
    pub fn keep(&self, stop: tokio_util::sync::CancellationToken) -> tokio::task::JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            let Some(shared) = lease.shared.clone() else { return };
            let mut tick = tokio::time::interval(shared.time / 4);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match lease.renew().await {
                    Ok(now) if now != was => {
                        tracing::info!(lease = %shared.key, held = now, "background work {}", if now { "taken over by this instance" } else { "runs on another instance" });
                        was = now;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(lease = %shared.key, error = %e.category(), "lease not renewable now")
                    }
                }
            }
            lease.release().await;
        })
    }
}

/// Take or renew: KEYS[1] the lease; ARGV: the holder, the time in ms. Returns 1 when held.
static RENEW_LEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
",
    )
});

/// Hand over: delete the lease only if this holder has it.
static RELEASE_LEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// The quota script: drop calls older than the window, count, and record this call when
/// there is room. KEYS[1]: the calls (a sorted set scored by the time in ms); ARGV: window
/// in ms, quota, a unique member. Returns {admitted, used, ms until the oldest call leaves}.
static ADMIT_CALL: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, used, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, used + 1, 0}
",
    )
});

/// The rate-limit script (GCRA). KEYS[1]: the theoretical arrival time in µs; ARGV: the
/// period in µs, the burst. A request is refused while the arrival time is more than
/// (burst - 1) periods ahead; else the arrival time moves one period on. Returns {allowed,
/// µs to wait}.
static LIMIT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local tolerance = period * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, tat - now - tolerance}
end
local next = tat + period
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
return {1, 0}
",
    )
});
