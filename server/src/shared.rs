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
        Ok(Some(Redis { connection }))
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
        let script = redis::Script::new(ADMIT_CALL);
        let (admitted, used, retry_ms): (u8, u32, u64) = script
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
        let script = redis::Script::new(LIMIT);
        let (allowed, retry_us): (u8, u64) = script
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

/// The quota script: drop calls older than the window, count, and record this call when
/// there is room. KEYS[1]: the calls (a sorted set scored by the time in ms); ARGV: window
/// in ms, quota, a unique member. Returns {admitted, used, ms until the oldest call leaves}.
const ADMIT_CALL: &str = r"
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
";

/// The rate-limit script (GCRA). KEYS[1]: the theoretical arrival time in µs; ARGV: the
/// period in µs, the burst. A request is refused while the arrival time is more than
/// (burst - 1) periods ahead; else the arrival time moves one period on. Returns {allowed,
/// µs to wait}.
const LIMIT: &str = r"
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
";
