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

/// Sets the HTTP status that goes with `error`'s code on the server function's response
/// (400 for invalid input, 429 for limits, 503 for unavailable sources, …) and returns it.
#[cfg(feature = "ssr")]
pub(crate) fn with_status(error: crate::error::AppError) -> crate::error::AppError {
    use crate::error::ErrorCode;
    use http::StatusCode;
    let status = match error.code {
        ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited | ErrorCode::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::SourceUnavailable | ErrorCode::StaleData => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
        response.insert_header(
            http::HeaderName::from_static(crate::error::ERROR_CODE_HEADER),
            http::HeaderValue::from_static(error.code.as_str()),
        );
        if let Some(seconds) = error.retry_after_seconds {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
    }
    error
}
