//! The HTTP surface: the Leptos app (pages and server functions), static files, and the
//! operational endpoints, with the middleware around them.

pub mod bundle;
pub mod errors;
pub mod export;
pub mod import;
pub mod limits;
pub mod observe;
pub mod ops;
pub mod page_cache;
pub mod security;
pub mod serve;

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use tower::ServiceBuilder;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Responses with bodies up to this size go out uncompressed.
pub const COMPRESS_ABOVE_BYTES: u16 = 1024;
/// Compression level of answers made on the fly (brotli quality; gzip and zstd levels).
/// Brotli from quality 4 up keeps a 4 MiB hash table per response under way; 3 keeps
/// 256 KiB, for answers a few per cent larger (see docs/benchmarks.md).
pub const COMPRESS_QUALITY: i32 = 3;

use app::error::{AppError, ErrorCode};
use app::ports::{AccountService, AnswerModel, GridStore, LiveFeed, ServerInfo};

use crate::auth::sessions::{self, Authenticator, SessionTimes, Sessions};
use crate::auth::{Accounts, SignInLimits};
use crate::config::Config;
use errors::error_response;
use security::{BodyLimits, HeaderPolicy, TrustedProxies};

/// The name of the lease for the background work (the live poller, scheduled backups).
pub const BACKGROUND_LEASE: &str = "background";

/// Everything a request handler may need, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub info: ServerInfo,
    pub config: Arc<Config>,
    pub store: Arc<dyn GridStore>,
    pub live: Arc<dyn LiveFeed>,
    /// The analyst's language model; `None` for the offline analyst.
    pub model: Option<Arc<dyn AnswerModel>>,
    pub accounts: Arc<Accounts>,
    pub sessions: Sessions,
    /// The Redis that instances share (`GRIDSCOPE_REDIS_URL`); `None` for one instance.
    pub redis: Option<crate::shared::Redis>,
    /// Whether this instance runs the background work (the live poller, scheduled backups).
    pub lease: crate::shared::Lease,
    /// Uploaded datasets between preview and apply.
    pub staging: Arc<import::Staging>,
    /// The maintenance planner's currency and holidays.
    pub plan_settings: app::api::maintenance::PlanSettings,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// State without live conditions (no provider).
    pub fn new(config: Config, store: Arc<dyn GridStore>) -> std::io::Result<Self> {
        Self::with_live(config, store, Arc::new(crate::upstream::live::NotConfigured))
    }

    /// State with live conditions; opens the account store and the session store.
    pub fn with_live(
        config: Config,
        store: Arc<dyn GridStore>,
        live: Arc<dyn LiveFeed>,
    ) -> std::io::Result<Self> {
        let redis = crate::shared::Redis::from_config(&config).map_err(std::io::Error::other)?;
        let lease = crate::shared::Lease::from_config(redis.as_ref(), BACKGROUND_LEASE, &config);
        Self::assemble(config, store, live, redis, lease)
    }

    /// State from its parts: the one Redis connection of the instance and its lease, made
    /// by the caller and shared with the background work.
    pub fn assemble(
        config: Config,
        store: Arc<dyn GridStore>,
        live: Arc<dyn LiveFeed>,
        redis: Option<crate::shared::Redis>,
        lease: crate::shared::Lease,
    ) -> std::io::Result<Self> {
        crate::metrics::install();
        let account_store =
            crate::commands::open_accounts(&config).map_err(|f| std::io::Error::other(f.message))?;
        let sessions = Sessions::open(&config.data_dir, redis.clone())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        // Checked with the rest of the configuration at load; the defaults if it ever is not.
        let plan_settings = config.plan_settings().unwrap_or_default();
        Ok(Self {
            plan_settings,
            leptos_options: leptos_options(&config),
            info: ServerInfo::starting_now(),
            accounts: Arc::new(
                Accounts::new(account_store, SignInLimits::from_config(&config)).with_shared(redis.clone()),
            ),
            config: Arc::new(config),
            store,
            live,
            model: None,
            sessions,
            redis,
            lease,
            staging: Arc::new(import::Staging::default()),
        })
    }

    /// The same state with the analyst's language model.
    pub fn with_model(mut self, model: Option<Arc<dyn AnswerModel>>) -> Self {
        self.model = model;
        self
    }
}

/// Leptos options derived from our config rather than from cargo-leptos' variables, so the
/// binary runs the same anywhere. `LEPTOS_ENV`/`LEPTOS_RELOAD_PORT` from `cargo leptos watch`
/// are still honoured for live reload in development.
fn leptos_options(config: &Config) -> LeptosOptions {
    let env = match std::env::var("LEPTOS_ENV") {
        Ok(v) if v.eq_ignore_ascii_case("dev") || v.eq_ignore_ascii_case("development") => {
            leptos::config::Env::DEV
        }
        _ => leptos::config::Env::PROD,
    };
    let reload_port = std::env::var("LEPTOS_RELOAD_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3001);
    LeptosOptions::builder()
        .output_name(bundle::OUTPUT_NAME)
        .hash_files(bundle::hash_file().is_some())
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .env(env)
        .reload_port(reload_port)
        .build()
}

/// The app's page routes, generated once per process.
///
/// Generating them renders the app with every resource held back by a process-wide flag
/// (`leptos_server`'s `SuppressResourceLoad`): a resource first polled on any other thread
/// while that flag is up waits forever, and so does the page rendering it (upstream
/// leptos-rs/leptos#4773; reproduced in `server/tests/render_race.rs`). Generating once, with
/// every router waiting on that one generation, keeps any render from overlapping it: the
/// server builds one router before it serves, but tests and scale-out checks build many in
/// one process.
fn route_list() -> &'static Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App))
}

/// The pages, server functions, exports and operational endpoints.
fn app_routes(state: AppState) -> Router {
    let routes = route_list().clone();
    let info = state.info.clone();
    let store = state.store.clone();
    let live = state.live.clone();
    let model = state.model.clone();
    let plan_settings = state.plan_settings.clone();
    let accounts: Arc<dyn AccountService> = state.accounts.clone();
    let ops: Arc<dyn app::api::ops::OpsSource> =
        Arc::new(ops::OpsTotalsSource { sessions: state.sessions.clone() });
    let context = move || {
        provide_context(ops.clone());
        provide_context(info.clone());
        provide_context(store.clone());
        provide_context(live.clone());
        provide_context(accounts.clone());
        provide_context(plan_settings.clone());
        if let Some(model) = &model {
            provide_context(model.clone());
        }
    };
    let shell_options = state.leptos_options.clone();
    let pages = page_cache::PageCache::new(
        state.store.clone(),
        state.live.clone(),
        sessions::cookie_name(state.config.cookie_secure),
    );

    Router::new()
        .route("/healthz", axum::routing::get(ops::healthz))
        .route("/readyz", axum::routing::get(ops::readyz))
        .route(limits::EXPORT_ASSETS_CSV, axum::routing::get(export::assets_csv))
        .route(limits::EXPORT_ASSETS_JSON, axum::routing::get(export::assets_json))
        .route(limits::EXPORT_PLAN_CSV, axum::routing::get(export::plan_csv))
        .route(limits::EXPORT_PLAN_JSON, axum::routing::get(export::plan_json))
        .route(
            limits::IMPORT_PREVIEW,
            axum::routing::post(import::preview).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(limits::IMPORT_APPLY, axum::routing::post(import::apply))
        .route(limits::IMPORT_REPORT, axum::routing::get(import::report_csv))
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            app::shell(shell_options.clone())
        })
        .route_layer(axum::middleware::from_fn(observe::tag_route))
        .route_layer(axum::middleware::from_fn(errors::server_fn_status))
        .fallback(file_and_error_handler_with_context::<AppState, _>(context, app::shell))
        // Anonymous page views from memory (compressed once per encoding, so inside the
        // compression layer, which leaves answers with a Content-Encoding alone).
        .layer(axum::middleware::from_fn_with_state(pages, page_cache::cached_pages))
        // Pages, server functions and exports compressed (brotli or gzip, as the client
        // accepts); the static files are served precompressed by the fallback instead.
        // Streamed answers (`application/octet-stream`) are not: a compressor holds bytes back.
        // Nor are bodies under 1 KiB: they would save a few hundred bytes at most, while
        // setting up a compressor for each cost the Overview half its throughput.
        .layer(
            CompressionLayer::new().quality(CompressionLevel::Precise(COMPRESS_QUALITY)).compress_when(
                DefaultPredicate::new()
                    .and(SizeAbove::new(COMPRESS_ABOVE_BYTES))
                    .and(NotForContentType::const_new("application/octet-stream")),
            ),
        )
        .with_state(state)
}

/// The whole application: the routes behind every control, outermost first:
/// request id, span and metrics → client address → security headers → CSRF refusal → files
/// read-only → load shedding → request time limit → global rate limit → session → caller
/// (account or address) → with Redis, the limits counted for every instance → per-client
/// limits by path (none for static files and health checks; tighter on sign-in and costly
/// paths) → operators only on import paths → body limits → handler time limit → routes.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let limits = limits::RateLimits::from_config(&config);
    limits.spawn_cleanup();
    let times = SessionTimes::from_config(&config);
    let session_layer = sessions::layer(state.sessions.clone(), config.cookie_secure, times);
    let authenticator = Authenticator { accounts: state.accounts.clone(), times };
    let proxies = Arc::new(TrustedProxies(config.trusted_proxy_networks().unwrap_or_default()));
    let header_policy = Arc::new(HeaderPolicy {
        hsts: config.cookie_secure,
        session_cookie: sessions::cookie_name(config.cookie_secure),
    });
    let body_limits = BodyLimits {
        max_bytes: config.max_body_bytes,
        read_timeout: Duration::from_secs(config.body_timeout_seconds),
    };

    let shared_limits = state.redis.clone().map(|redis| Arc::new(limits::RateLimits::shared(&config, redis)));
    // A body is read only once the caller is known and has passed every limit.
    // The request timeout counts from there, so that a body sent too slowly is answered 408
    // by the body limit, not 503 by a timeout that started earlier (an upload's body streams
    // to its handler, which the outer limit covers instead).
    let request_timeout = Duration::from_secs(config.request_timeout_seconds);
    let handler_limit = security::TimeLimit { limit: request_timeout, except_upload: true };
    let accounts = state.accounts.clone();
    let app = app_routes(state)
        .layer(axum::middleware::from_fn_with_state(handler_limit, security::time_limit))
        .layer(axum::middleware::from_fn_with_state(body_limits, security::bound_body))
        .layer(axum::middleware::from_fn_with_state(accounts, import::gate));
    // Everything before the body (session, limits, Redis) and the body itself.
    let request_limit =
        security::TimeLimit { limit: request_timeout + body_limits.read_timeout, except_upload: false };
    let routes = Router::new().fallback_service(limits.around(app));
    let routes = match shared_limits {
        Some(shared) => routes.layer(axum::middleware::from_fn_with_state(shared, limits::shared_limits)),
        None => routes,
    };
    routes
        .layer(axum::middleware::from_fn_with_state(authenticator, sessions::authenticate))
        .layer(session_layer)
        .layer(limits.global)
        // A response whose body makes no progress for this long is ended with an error (the
        // connection is closed), so a stuck render or stream cannot hold a connection forever;
        // the request timeout below covers only the time to the response's head.
        .layer(tower_http::timeout::ResponseBodyTimeoutLayer::new(Duration::from_secs(
            config.request_timeout_seconds,
        )))
        .layer(axum::middleware::from_fn_with_state(request_limit, security::time_limit))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    error_response(
                        AppError::new(ErrorCode::SourceUnavailable, "The server is busy.").retry_after(1),
                    )
                }))
                .load_shed()
                .concurrency_limit(config.max_concurrent_requests),
        )
        .layer(axum::middleware::from_fn(security::files_read_only))
        .layer(axum::middleware::from_fn_with_state(header_policy.clone(), security::refuse_cross_site))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(security::AllowedHosts(config.allowed_hosts().unwrap_or(Some(Vec::new())))),
            security::allowed_host,
        ))
        .layer(axum::middleware::from_fn_with_state(header_policy, security::security_headers))
        .layer(axum::middleware::from_fn_with_state(proxies.clone(), security::identify_client))
        .layer(axum::middleware::from_fn(errors::public_errors))
        .layer(axum::middleware::from_fn_with_state(proxies, observe::observe))
}

/// The admin listener (`GRIDSCOPE_METRICS_ADDR`): `/metrics` (bearer token when
/// `GRIDSCOPE_METRICS_TOKEN` is set, which the config requires off loopback), `/healthz` and
/// `/readyz`. Never part of the public router, so metrics cannot be public by accident.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(ops::metrics))
        .route("/healthz", axum::routing::get(ops::healthz))
        .route("/readyz", axum::routing::get(ops::readyz))
        .route_layer(axum::middleware::from_fn(observe::tag_route))
        .with_state(state)
        .layer(axum::middleware::from_fn(errors::public_errors))
        // No proxy stands before the admin listener: every request gets an id of its own.
        .layer(axum::middleware::from_fn_with_state(Arc::new(TrustedProxies::default()), observe::observe))
}
