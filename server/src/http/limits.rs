//! Rate limits (`tower_governor`): per client on every route, tighter per client on sign-in
//! and on the costly server functions, and a global cap. Refusals are 429 with `Retry-After`
//! and the public `rate_limited` error, which the UI shows like any other.
//!
//! The key is the [`ClientId`] set from the TCP peer (or a trusted proxy's report), so a
//! spoofed `X-Forwarded-For` from anyone else changes nothing. With several instances
//! (`GRIDSCOPE_REDIS_URL`) the same limits are also counted in Redis ([`shared_limits`]).

use std::sync::Arc;
use std::time::Duration;

use app::error::{AppError, ErrorCode};
use app::ports::ClientId;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use governor::middleware::NoOpMiddleware;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::{GlobalKeyExtractor, KeyExtractor};
use tower_governor::{GovernorError, GovernorLayer};

use super::security::error_response;
use crate::config::Config;

/// Keys requests by their client's address.
#[derive(Clone, Copy, Debug)]
pub struct ClientKey;

impl KeyExtractor for ClientKey {
    type Key = String;

    fn extract<T>(&self, request: &Request<T>) -> Result<String, GovernorError> {
        request.extensions().get::<ClientId>().map(|c| c.0.clone()).ok_or(GovernorError::UnableToExtractKey)
    }
}

/// Server function paths limited as sign-in attempts.
pub const SIGN_IN_PATHS: &[&str] = &["/api/login"];
/// Costly paths: each call does real work (analysis, an LLM call, a whole export).
pub const EXPENSIVE_PATHS: &[&str] = &[
    "/api/analyst_ask",
    "/api/n1",
    "/api/impact",
    "/api/maintenance_plan",
    "/export/assets.csv",
    "/export/assets.json",
    "/export/plan.csv",
    "/export/plan.json",
    "/import/preview",
    "/import/apply",
    "/import/report.csv",
];

pub type ClientLayer = GovernorLayer<ClientKey, NoOpMiddleware, Body>;
pub type GlobalLayer = GovernorLayer<GlobalKeyExtractor, NoOpMiddleware, Body>;

/// The four limiters, built once from the configuration.
pub struct RateLimits {
    pub client: ClientLayer,
    pub sign_in: ClientLayer,
    pub expensive: ClientLayer,
    pub global: GlobalLayer,
    configs: Vec<Arc<GovernorConfig<ClientKey, NoOpMiddleware>>>,
}

fn too_many(error: GovernorError) -> axum::http::Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => error_response(
            StatusCode::TOO_MANY_REQUESTS,
            AppError::new(ErrorCode::RateLimited, "Too many requests: please slow down.")
                .retry_after(wait_time.max(1)),
        ),
        other => {
            tracing::error!(error = %other, "rate limiter failed");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, AppError::internal())
        }
    }
}

/// A limiter allowing `burst` at once, refilled one request every `period`.
fn client_config(period: Duration, burst: u32) -> Arc<GovernorConfig<ClientKey, NoOpMiddleware>> {
    Arc::new(
        GovernorConfigBuilder::default()
            .key_extractor(ClientKey)
            .period(period.max(Duration::from_nanos(1)))
            .burst_size(burst.max(1))
            .finish()
            .expect("a non-zero period and burst"),
    )
}

impl RateLimits {
    pub fn from_config(config: &Config) -> RateLimits {
        let allowances = Allowances::from_config(config);
        let client = client_config(allowances.client.0, allowances.client.1);
        let sign_in = client_config(allowances.sign_in.0, allowances.sign_in.1);
        let expensive = client_config(allowances.expensive.0, allowances.expensive.1);
        let global = Arc::new(
            GovernorConfigBuilder::default()
                .key_extractor(GlobalKeyExtractor)
                .period(allowances.global.0.max(Duration::from_nanos(1)))
                .burst_size(allowances.global.1)
                .finish()
                .expect("a non-zero period and burst"),
        );
        let layer = |c: &Arc<GovernorConfig<ClientKey, NoOpMiddleware>>| {
            GovernorLayer::new(c.clone()).error_handler(too_many)
        };
        RateLimits {
            client: layer(&client),
            sign_in: layer(&sign_in),
            expensive: layer(&expensive),
            global: GovernorLayer::new(global).error_handler(too_many),
            configs: vec![client, sign_in, expensive],
        }
    }

    /// The same limits counted in Redis for every instance together (see [`shared_limits`]).
    pub fn shared(config: &Config, redis: crate::shared::Redis) -> SharedLimits {
        SharedLimits { redis, allowances: Allowances::from_config(config) }
    }

    /// Forgets clients that have been quiet long enough to have a full allowance again, so
    /// the per-client tables stay small. Runs until the process ends.
    pub fn spawn_cleanup(&self) {
        let configs = self.configs.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                for config in &configs {
                    config.limiter().retain_recent();
                    config.limiter().shrink_to_fit();
                }
            }
        });
    }
}

/// Each limit as `(period, burst)`: one request refilled every period, `burst` at once.
#[derive(Clone, Copy, Debug)]
struct Allowances {
    client: (Duration, u32),
    sign_in: (Duration, u32),
    expensive: (Duration, u32),
    global: (Duration, u32),
}

impl Allowances {
    fn from_config(config: &Config) -> Allowances {
        let per = |count: u32, window: Duration| window / count.max(1);
        Allowances {
            client: (per(config.rate_client_per_second, Duration::from_secs(1)), config.rate_client_burst),
            sign_in: (
                per(config.rate_login_per_minute, Duration::from_secs(60)),
                config.rate_login_per_minute,
            ),
            expensive: (
                per(config.rate_expensive_per_minute, Duration::from_secs(60)),
                config.rate_expensive_per_minute,
            ),
            global: (
                per(config.rate_global_per_second, Duration::from_secs(1)),
                config.rate_global_per_second,
            ),
        }
    }
}

/// The rate limits counted in Redis (`GRIDSCOPE_REDIS_URL`).
#[derive(Debug)]
pub struct SharedLimits {
    redis: crate::shared::Redis,
    allowances: Allowances,
}

/// With several instances, a client's requests (and all requests, for the global cap) count
/// on every instance: the same limits as the in-process ones, counted in Redis. The
/// in-process limits still apply first, so a request they refuse costs Redis nothing. Redis
/// out of reach: the in-process limits alone hold (public pages stay up; see the operations
/// guide).
pub async fn shared_limits(
    axum::extract::State(limits): axum::extract::State<Arc<SharedLimits>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // After a failure Redis rests a while (`shared::REST`): the instance's own limits hold.
    if limits.redis.resting() {
        return next.run(request).await;
    }
    let path = request.uri().path();
    let client = request.extensions().get::<ClientId>().map(|c| c.0.as_str()).unwrap_or("unknown");
    let mut checks = vec![
        (String::from("gridscope:rate:global"), limits.allowances.global),
        (format!("gridscope:rate:client:{client}"), limits.allowances.client),
    ];
    if SIGN_IN_PATHS.contains(&path) {
        checks.push((format!("gridscope:rate:sign-in:{client}"), limits.allowances.sign_in));
    }
    if EXPENSIVE_PATHS.contains(&path) {
        checks.push((format!("gridscope:rate:expensive:{client}"), limits.allowances.expensive));
    }
    for (key, (period, burst)) in checks {
        match limits.redis.limit(&key, period, burst).await {
            Ok(Ok(())) => {}
            Ok(Err(wait)) => {
                return too_many(GovernorError::TooManyRequests { wait_time: wait, headers: None })
            }
            Err(e) => {
                let e = limits.redis.failed(e);
                tracing::warn!(
                    error = e.category(),
                    pause_seconds = crate::shared::REST.as_secs(),
                    "shared rate limits unavailable; the instance's own limits hold"
                );
                break;
            }
        }
    }
    next.run(request).await
}
