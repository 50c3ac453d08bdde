//! Server functions, one area per file. Each is a thin shim: check the caller, validate,
//! call a port, map errors to [`crate::error::AppError`].

pub mod analyst;
pub mod assets;
pub mod auth;
pub mod grid;
pub mod import;
pub mod live;
pub mod maintenance;
pub mod map;
pub mod ops;
pub mod outages;
pub mod prefs;
pub mod status;

/// The current grid from the store the server put in context; a store failure becomes its
/// public error code.
#[cfg(feature = "ssr")]
pub(crate) async fn grid_snapshot(
) -> Result<std::sync::Arc<crate::ports::GridSnapshot>, crate::error::AppError> {
    use leptos::prelude::use_context;
    let store = use_context::<std::sync::Arc<dyn crate::ports::GridStore>>()
        .ok_or_else(crate::error::AppError::internal)?;
    store.snapshot().await.map_err(crate::error::AppError::from)
}

/// The live conditions usable for risk scores right now (none without a live feed).
#[cfg(feature = "ssr")]
pub(crate) fn conditions() -> crate::ports::Conditions {
    use leptos::prelude::use_context;
    use_context::<std::sync::Arc<dyn crate::ports::LiveFeed>>()
        .map(|feed| feed.conditions())
        .unwrap_or_default()
}
