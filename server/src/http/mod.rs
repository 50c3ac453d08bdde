//! The HTTP surface: the Leptos app (pages and server functions), static files, and the
//! operational endpoints, with the middleware around them.

pub mod export;
pub mod ops;

use std::sync::Arc;

use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use app::ports::{GridStore, LiveFeed, ServerInfo};

use crate::config::Config;

/// Everything a request handler may need, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub info: ServerInfo,
    pub config: Arc<Config>,
    pub store: Arc<dyn GridStore>,
    pub live: Arc<dyn LiveFeed>,
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
        }
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
    let context = move || {
        provide_context(info.clone());
        provide_context(store.clone());
        provide_context(live.clone());
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
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
