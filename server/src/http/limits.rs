//! Rate limits (`tower_governor`): per client on every route that costs the server work,
//! tighter per client on sign-in and on the costly server functions, and a global cap on
//! everything. Refusals are 429 with `Retry-After` and the public `rate_limited` error, which
//! the UI shows like any other.
//!
//! A client is its account when signed in, else its address: the [`ClientId`] set from the
//! TCP peer (or a trusted proxy's report), so a spoofed `X-Forwarded-For` from anyone else
//! changes nothing. Many people share one address (a carrier's NAT, a control room), so the
//! per-address allowance is sized for a crowd, and static files and health checks spend none
//! of it: a page's own scripts and styles never make it fail (the global cap and load shedding
//! still protect the server). With several instances (`GRIDSCOPE_REDIS_URL`) the same limits
//! are also counted in Redis ([`shared_limits`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use app::api::auth::Principal;
use app::error::{AppError, ErrorCode};
use app::ports::ClientId;
use axum::body::Body;
use axum::extract::Request;
use axum::http::Request as HttpRequest;
use axum::response::Response;
use futures_util::future::BoxFuture;
use governor::middleware::NoOpMiddleware;
use leptos::server_fn::ServerFn;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::{GlobalKeyExtractor, KeyExtractor};
use tower_governor::{GovernorError, GovernorLayer};

use super::errors::error_response;
use crate::config::Config;

/// Who a request counts against: `account:<name>` when signed in, else `address:<ip>`.
pub fn client_key<T>(request: &HttpRequest<T>) -> Option<String> {
    let extensions = request.extensions();
    if let Some(name) = extensions.get::<Principal>().and_then(|p| p.username.as_deref()) {
        return Some(format!("account:{name}"));
    }
    extensions.get::<ClientId>().map(|c| format!("address:{}", c.0))
}

/// Keys requests by their client ([`client_key`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientKey;

impl KeyExtractor for ClientKey {
    type Key = String;

    fn extract<T>(&self, request: &HttpRequest<T>) -> Result<String, GovernorError> {
        client_key(request).ok_or(GovernorError::UnableToExtractKey)
    }
}

/// Server function paths limited as sign-in attempts.
pub const SIGN_IN_PATHS: &[&str] = &[<app::api::auth::Login as ServerFn>::PATH];
/// Paths of the exports and the import (routes of [`super::app_routes`]).
pub const EXPORT_ASSETS_CSV: &str = "/export/assets.csv";
pub const EXPORT_ASSETS_JSON: &str = "/export/assets.json";
pub const EXPORT_PLAN_CSV: &str = "/export/plan.csv";
pub const EXPORT_PLAN_JSON: &str = "/export/plan.json";
pub const IMPORT_PREVIEW: &str = "/import/preview";
pub const IMPORT_APPLY: &str = "/import/apply";
pub const IMPORT_REPORT: &str = "/import/report.csv";
/// Costly paths: each call does real work (analysis, an LLM call, a whole export).
pub const EXPENSIVE_PATHS: &[&str] = &[
    <app::api::analyst::AskAnalyst as ServerFn>::PATH,
    <app::api::outages::N1Screening as ServerFn>::PATH,
    <app::api::outages::SimulateOutage as ServerFn>::PATH,
    <app::api::maintenance::PlanMaintenance as ServerFn>::PATH,
    EXPORT_ASSETS_CSV,
    EXPORT_ASSETS_JSON,
    EXPORT_PLAN_CSV,
    EXPORT_PLAN_JSON,
    IMPORT_PREVIEW,
    IMPORT_APPLY,
    IMPORT_REPORT,
];

/// Which allowance a path spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// Static files and health checks: only the global cap.
    Free,
    /// Every other route: the client's allowance.
    Client,
    /// Sign-in: the client's allowance and the sign-in one.
    SignIn,
    /// Costly work: the client's allowance and the costly one.
    Expensive,
}

/// Files of the site itself (the build's `/pkg/` and the public folder's icons and manifest)
/// and the health checks: they spend no client allowance and read no session.
pub fn is_free_path(path: &str) -> bool {
    path.starts_with("/pkg/")
        || matches!(path, "/healthz" | "/readyz" | "/favicon.svg" | "/favicon.ico" | "/manifest.webmanifest")
}

impl Allowance {
    pub fn of(path: &str) -> Allowance {
        if is_free_path(path) {
            Allowance::Free
        } else if SIGN_IN_PATHS.contains(&path) {
            Allowance::SignIn
        } else if EXPENSIVE_PATHS.contains(&path) {
            Allowance::Expensive
        } else {
            Allowance::Client
        }
    }
}

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

fn too_many(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => error_response(
            AppError::new(ErrorCode::RateLimited, "Too many requests: please slow down.")
                .retry_after(wait_time.max(1)),
        ),
        other => {
            tracing::error!(error = %other, "rate limiter failed");
            error_response(AppError::internal())
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

/// The routes behind the per-client limits, each request through the allowances its path
/// spends ([`Allowance::of`]).
pub type Routes = BoxCloneSyncService<Request, Response, Infallible>;

impl RateLimits {
    /// `routes` behind the per-client limits: one service per [`Allowance`], picked by path.
    pub fn around(&self, routes: axum::Router) -> ByAllowance {
        let client = tower::ServiceBuilder::new().layer(self.client.clone());
        ByAllowance {
            free: BoxCloneSyncService::new(routes.clone()),
            client: BoxCloneSyncService::new(client.clone().service(routes.clone())),
            sign_in: BoxCloneSyncService::new(
                client.clone().layer(self.sign_in.clone()).service(routes.clone()),
            ),
            expensive: BoxCloneSyncService::new(client.layer(self.expensive.clone()).service(routes)),
        }
    }
}

/// Sends each request through the limits its path spends (see [`RateLimits::around`]).
#[derive(Clone)]
pub struct ByAllowance {
    free: Routes,
    client: Routes,
    sign_in: Routes,
    expensive: Routes,
}

impl Service<Request> for ByAllowance {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call clones the service it picks, and polls that one for readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let service = match Allowance::of(request.uri().path()) {
            Allowance::Free => self.free.clone(),
            Allowance::Client => self.client.clone(),
            Allowance::SignIn => self.sign_in.clone(),
            Allowance::Expensive => self.expensive.clone(),
        };
        Box::pin(service.oneshot(request))
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
    let allowance = Allowance::of(request.uri().path());
    let mut checks = vec![(String::from("gridscope:rate:global"), limits.allowances.global)];
    if allowance != Allowance::Free {
        let client = client_key(&request).unwrap_or_else(|| "unknown".to_owned());
        checks.push((format!("gridscope:rate:client:{client}"), limits.allowances.client));
        match allowance {
            Allowance::SignIn => {
                checks.push((format!("gridscope:rate:sign-in:{client}"), limits.allowances.sign_in))
            }
            Allowance::Expensive => {
                checks.push((format!("gridscope:rate:expensive:{client}"), limits.allowances.expensive))
            }
            Allowance::Free | Allowance::Client => {}
        }
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
