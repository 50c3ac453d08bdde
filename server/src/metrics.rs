//! Metrics: Prometheus series through the `metrics` facade, and the few running totals the
//! operations status page shows (kept here too, because a Prometheus recorder cannot be read
//! back).
//!
//! Every series is recorded through the functions below, so names and labels stay in one
//! place. Label values come from bounded sets (matched routes, public error codes, fixed
//! cache and upstream names), never from what a client sends.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use app::api::ops::{CacheStat, OpsTotals, RecentError};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request latency buckets, seconds (5 ms … 30 s).
const LATENCY_BUCKETS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0];
/// How many recent errors the status page keeps.
const RECENT_ERRORS: usize = 30;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static STATS: OnceLock<Stats> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
                .expect("non-empty buckets")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("gridscope_http_requests_total", "HTTP requests by matched route, method and status.");
    describe_histogram!(
        "gridscope_http_request_duration_seconds",
        Unit::Seconds,
        "Time to the response head, by matched route."
    );
    describe_counter!("gridscope_http_errors_total", "Error responses by public error code.");
    describe_counter!("gridscope_upstream_calls_total", "Calls to upstream APIs by upstream and outcome.");
    describe_histogram!("gridscope_upstream_call_duration_seconds", Unit::Seconds, "Upstream call time.");
    describe_counter!("gridscope_cache_requests_total", "Cache lookups by cache and result (hit or miss).");
    describe_histogram!(
        "gridscope_store_operation_duration_seconds",
        Unit::Seconds,
        "Store operations by backend, operation and outcome."
    );
    describe_gauge!("gridscope_live_quota_remaining", "Upstream calls left in the live-data hourly quota.");
    describe_gauge!("gridscope_live_quota_limit", "The live-data hourly quota.");
    describe_gauge!("gridscope_live_data_age_seconds", "Age of the oldest location's newest reading.");
    describe_gauge!("gridscope_sessions_active", "Signed-in sessions not yet expired.");
    describe_gauge!("gridscope_uptime_seconds", "Seconds since the process started.");
    describe_gauge!("gridscope_build_info", "Always 1; the version is a label.");
    describe_counter!("gridscope_backups_total", "Backups by trigger and outcome.");
    describe_gauge!("gridscope_backup_last_success_timestamp_seconds", "Unix time of the last good backup.");
}

/// Prometheus text exposition of every series.
pub fn render() -> String {
    let handle = install();
    handle.run_upkeep();
    handle.render()
}

/// Keeps histogram storage bounded: call every few seconds.
pub fn upkeep() {
    install().run_upkeep();
}

/// The route label of a request that matched no route (static files, unknown paths).
pub const UNMATCHED: &str = "unmatched";

/// One finished request.
pub fn request(route: &str, method: &str, status: u16, elapsed: Duration, error_code: Option<&str>) {
    let route = route.to_owned();
    metrics::counter!("gridscope_http_requests_total",
        "route" => route.clone(), "method" => method.to_owned(), "status" => status.to_string())
    .increment(1);
    metrics::histogram!("gridscope_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    let stats = stats();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    if status >= 500 {
        stats.server_errors.fetch_add(1, Ordering::Relaxed);
    } else if status >= 400 {
        stats.client_errors.fetch_add(1, Ordering::Relaxed);
    }
    if status >= 400 {
        let code = error_code.map(public_code).unwrap_or_else(|| fallback_code(status));
        metrics::counter!("gridscope_http_errors_total", "code" => code).increment(1);
        let mut errors = stats.errors.lock().unwrap_or_else(|p| p.into_inner());
        *errors.by_code.entry(code).or_default() += 1;
        if errors.recent.len() == RECENT_ERRORS {
            errors.recent.pop_front();
        }
        errors.recent.push_back(Recorded { at: Utc::now(), route, status, code });
    }
}

/// The public error codes (bounded label set); anything else counts as `other`.
fn public_code(code: &str) -> &'static str {
    app::error::ErrorCode::ALL.into_iter().map(|c| c.as_str()).find(|c| *c == code).unwrap_or("other")
}

/// A code for error responses that carry none (a page 404, a body too large, …).
fn fallback_code(status: u16) -> &'static str {
    match status {
        404 => "not_found",
        409 => "conflict",
        401 => "unauthorized",
        403 => "forbidden",
        429 => "rate_limited",
        400..=499 => "invalid_input",
        503 => "source_unavailable",
        _ => "internal_error",
    }
}

/// One cache lookup. `cache` is a fixed name (`grid`, `analyst`).
pub fn cache(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("gridscope_cache_requests_total", "cache" => cache, "result" => result).increment(1);
    let stats = stats();
    let mut caches = stats.caches.lock().unwrap_or_else(|p| p.into_inner());
    let entry = caches.entry(cache).or_default();
    if hit {
        entry.0 += 1;
    } else {
        entry.1 += 1;
    }
}

/// One upstream call. `upstream` is `live` or `llm`; `outcome` a short fixed word.
pub fn upstream(upstream: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!("gridscope_upstream_calls_total", "upstream" => upstream, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("gridscope_upstream_call_duration_seconds", "upstream" => upstream)
        .record(elapsed.as_secs_f64());
}

/// One store operation.
pub fn store(backend: &'static str, operation: &'static str, ok: bool, elapsed: Duration) {
    metrics::histogram!("gridscope_store_operation_duration_seconds",
        "backend" => backend, "operation" => operation, "outcome" => if ok { "ok" } else { "error" })
    .record(elapsed.as_secs_f64());
}

/// Times a store operation and records it.
pub async fn timed_store<T, E>(
    backend: &'static str,
    operation: &'static str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = work.await;
    store(backend, operation, result.is_ok(), started.elapsed());
    result
}

/// One backup attempt.
pub fn backup(trigger: &'static str, ok: bool) {
    metrics::counter!("gridscope_backups_total", "trigger" => trigger, "outcome" => if ok { "ok" } else { "error" })
        .increment(1);
    if ok {
        let now = Utc::now();
        metrics::gauge!("gridscope_backup_last_success_timestamp_seconds").set(now.timestamp() as f64);
        *stats().last_backup.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
    }
}

/// Gauges read at scrape time (cheap values the caller has at hand).
pub struct Gauges {
    pub uptime: Duration,
    pub version: &'static str,
    pub quota_limit: u32,
    pub quota_used: u32,
    pub live_age_seconds: Option<u64>,
    pub sessions_active: Option<u64>,
}

pub fn set_gauges(g: &Gauges) {
    metrics::gauge!("gridscope_uptime_seconds").set(g.uptime.as_secs_f64());
    metrics::gauge!("gridscope_build_info", "version" => g.version).set(1.0);
    metrics::gauge!("gridscope_live_quota_limit").set(f64::from(g.quota_limit));
    metrics::gauge!("gridscope_live_quota_remaining")
        .set(f64::from(g.quota_limit.saturating_sub(g.quota_used)));
    if let Some(age) = g.live_age_seconds {
        metrics::gauge!("gridscope_live_data_age_seconds").set(age as f64);
    }
    if let Some(n) = g.sessions_active {
        metrics::gauge!("gridscope_sessions_active").set(n as f64);
    }
}

/// Running totals since the process started, for the status page.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    /// Cache name → (hits, misses).
    caches: Mutex<BTreeMap<&'static str, (u64, u64)>>,
    errors: Mutex<Errors>,
    last_backup: Mutex<Option<DateTime<Utc>>>,
}

#[derive(Default)]
struct Errors {
    by_code: BTreeMap<&'static str, u64>,
    recent: VecDeque<Recorded>,
}

struct Recorded {
    at: DateTime<Utc>,
    route: String,
    status: u16,
    code: &'static str,
}

fn stats() -> &'static Stats {
    STATS.get_or_init(Stats::default)
}

/// The totals the status page shows (sessions are the caller's to fill in).
pub fn totals() -> OpsTotals {
    let stats = stats();
    let caches = stats.caches.lock().unwrap_or_else(|p| p.into_inner());
    let errors = stats.errors.lock().unwrap_or_else(|p| p.into_inner());
    OpsTotals {
        requests: stats.requests.load(Ordering::Relaxed),
        client_errors: stats.client_errors.load(Ordering::Relaxed),
        server_errors: stats.server_errors.load(Ordering::Relaxed),
        caches: caches
            .iter()
            .map(|(name, (hits, misses))| CacheStat {
                name: (*name).to_owned(),
                hits: *hits,
                misses: *misses,
            })
            .collect(),
        errors_by_code: errors.by_code.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
        recent_errors: errors
            .recent
            .iter()
            .rev()
            .map(|e| RecentError {
                at: e.at,
                route: e.route.clone(),
                status: e.status,
                code: e.code.to_owned(),
            })
            .collect(),
        sessions_active: None,
        last_backup_at: *stats.last_backup.lock().unwrap_or_else(|p| p.into_inner()),
    }
}
