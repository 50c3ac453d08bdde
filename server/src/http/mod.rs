//! The HTTP surface: the Leptos app (pages and server functions), static files, and the
//! operational endpoints, with the middleware around them.

pub mod export;
pub mod ops;

use std::sync::Arc;

use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use app::ports::{AnswerModel, ClientId, GridStore, LiveFeed, ServerInfo};

use crate::config::Config;

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
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// State without live conditions (no provider).
    pub fn new(config: Config, store: Arc<dyn GridStore>) -> Self {
        Self::with_live(config, store, Arc::new(crate::upstream::live::NotConfigured))
    }

    pub fn with_live(config: Config, store: Arc<dyn GridStore>, live: Arc<dyn LiveFeed>) -> Self {
        Self {
            leptos_options: leptos_options(&config),
            info: ServerInfo::starting_now(),
            config: Arc::new(config),
            store,
            live,
            model: None,
        }
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
        .output_name("gridscope")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .env(env)
        .reload_port(reload_port)
        .build()
}

/// The whole application as one router.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let info = state.info.clone();
    let store = state.store.clone();
    let live = state.live.clone();
    let model = state.model.clone();
    let context = move || {
        provide_context(info.clone());
        provide_context(store.clone());
        provide_context(live.clone());
        if let Some(model) = &model {
            provide_context(model.clone());
        }
    };
    let shell_options = state.leptos_options.clone();

    Router::new()
        .route("/healthz", axum::routing::get(ops::healthz))
        .route("/readyz", axum::routing::get(ops::readyz))
        .route("/export/assets.csv", axum::routing::get(export::assets_csv))
        .route("/export/assets.json", axum::routing::get(export::assets_json))
        .route("/export/plan.csv", axum::routing::get(export::plan_csv))
        .route("/export/plan.json", axum::routing::get(export::plan_json))
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            app::shell(shell_options.clone())
        })
        .fallback(file_and_error_handler_with_context::<AppState, _>(context, app::shell))
        // Pages, server functions and exports compressed (brotli or gzip, as the client
        // accepts); the static files are served precompressed by the fallback instead.
        // Streamed answers (`application/octet-stream`) are not: a compressor holds bytes back.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream")),
        ))
        .layer(axum::middleware::from_fn(identify_client))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Marks the request with who sent it (the TCP peer's address), for per-client limits.
async fn identify_client(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "local".to_owned(), |info| info.0.ip().to_string());
    request.extensions_mut().insert(ClientId(peer));
    next.run(request).await
}
