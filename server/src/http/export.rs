//! Exports of the asset list as CSV or JSON, with the same query parameters as the Assets
//! page (`/export/assets.csv?kind=line&band=high`), all matching rows.

use std::collections::HashMap;

use app::domain::catalog::{matching_rows, AssetQuery};
use app::domain::risk::RiskScore;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

async fn rows(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Vec<app::domain::catalog::AssetRow>, Response> {
    let query = AssetQuery::from_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let snapshot = state.store.snapshot().await.map_err(|e| {
        let error = app::error::AppError::from(e);
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(error)).into_response()
    })?;
    let scores = snapshot.risk_scores(chrono::Utc::now().date_naive());
    let refs: Vec<&RiskScore> = scores.iter().collect();
    Ok(matching_rows(&snapshot.data.assets, &refs, &query))
}

pub async fn assets_csv(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let rows = match rows(&state, &params).await {
        Ok(rows) => rows,
        Err(response) => return response,
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header_ok =
        writer.write_record(["id", "name", "kind", "voltage_kv", "region", "risk", "band"]).is_ok();
    let mut ok = header_ok;
    for r in &rows {
        ok &= writer
            .write_record([
                r.id.as_str(),
                r.name.as_str(),
                r.kind.as_str(),
                &r.voltage_kv.map(|v| v.to_string()).unwrap_or_default(),
                r.region.as_deref().unwrap_or(""),
                &format!("{:.1}", r.risk),
                r.band.as_str(),
            ])
            .is_ok();
    }
    match (ok, writer.into_inner()) {
        (true, Ok(body)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"gridscope-assets.csv\""),
            ],
            body,
        )
            .into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

pub async fn assets_json(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match rows(&state, &params).await {
        Ok(rows) => (
            [(header::CONTENT_DISPOSITION, "attachment; filename=\"gridscope-assets.json\"")],
            axum::Json(rows),
        )
            .into_response(),
        Err(response) => response,
    }
}
