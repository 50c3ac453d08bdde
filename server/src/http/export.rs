//! Exports of the asset list as CSV or JSON, with the same query parameters as the Assets
//! page (`/export/assets.csv?kind=line&band=high`), all matching rows; and of the maintenance
//! plan with the planner's parameters (`/export/plan.csv?weeks=8&crews=2&budget=100000`).

use std::collections::HashMap;

use app::api::maintenance::{plan_for, PlanForm};
use app::domain::catalog::{matching_rows, AssetQuery};
use app::domain::planner::{CostBasis, MaintenancePlan};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::errors::error_response;
use super::AppState;

/// A text cell as spreadsheets may open it safely: one that would start a formula (`=`, `+`,
/// `-`, `@`, tab, carriage return) gets a leading apostrophe, as OWASP advises for CSV export.
pub fn spreadsheet_safe(cell: &str) -> String {
    if crate::interchange::fixes::formula_like(cell) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

async fn rows(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Vec<app::domain::catalog::AssetRow>, Response> {
    let query = AssetQuery::from_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let snapshot = state.store.snapshot().await.map_err(|e| error_response(app::error::AppError::from(e)))?;
    let scores = snapshot.risk_scores(chrono::Utc::now().date_naive(), &state.live.conditions());
    let order = snapshot.asset_order(&scores, query.sort);
    Ok(matching_rows(&order, &snapshot.data.assets, scores.scores(), &query))
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
                spreadsheet_safe(&r.id).as_str(),
                spreadsheet_safe(&r.name).as_str(),
                r.kind.as_str(),
                &r.voltage_kv.map(|v| v.to_string()).unwrap_or_default(),
                spreadsheet_safe(r.region.as_deref().unwrap_or("")).as_str(),
                &format!("{:.1}", r.risk),
                r.band.as_str(),
            ])
            .is_ok();
    }
    csv_response(ok, writer, "gridscope-assets.csv")
}

pub async fn assets_json(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match rows(&state, &params).await {
        Ok(rows) => json_response(&rows, "gridscope-assets.json"),
        Err(response) => response,
    }
}

/// The maintenance plan for the planner page's parameters; bad input is a 400 with the
/// public error, as on the page.
async fn plan(state: &AppState, params: &HashMap<String, String>) -> Result<MaintenancePlan, Response> {
    let field = |k: &str| params.get(k).filter(|v| !v.trim().is_empty()).cloned();
    let form = PlanForm {
        start: field("start"),
        weeks: field("weeks"),
        crews: field("crews"),
        budget: field("budget"),
        asset: None,
    };
    let snapshot = state.store.snapshot().await.map_err(|e| error_response(app::error::AppError::from(e)))?;
    plan_for(&snapshot, &form, chrono::Utc::now().date_naive(), &state.plan_settings).map_err(error_response)
}

pub async fn plan_csv(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let plan = match plan(&state, &params).await {
        Ok(plan) => plan,
        Err(response) => return response,
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut ok = writer
        .write_record([
            "start",
            "end",
            "crew",
            "asset",
            "name",
            "kind",
            "work",
            "crew_days",
            "cost",
            "cost_basis",
            "risk_before",
            "risk_after",
            "risk_reduction",
        ])
        .is_ok();
    for j in &plan.jobs {
        let c = &j.candidate;
        ok &= writer
            .write_record([
                j.start.to_string(),
                j.end.to_string(),
                j.crew.to_string(),
                spreadsheet_safe(&c.asset),
                spreadsheet_safe(&c.name),
                c.kind.as_str().into(),
                c.intervention.as_str().into(),
                c.crew_days.to_string(),
                format!("{:.2}", c.cost),
                match c.cost_basis {
                    CostBasis::Default => "default".into(),
                    CostBasis::History { .. } => "history".into(),
                },
                format!("{:.2}", c.risk_before),
                format!("{:.2}", c.risk_after),
                format!("{:.2}", c.reduction()),
            ])
            .is_ok();
    }
    csv_response(ok, writer, "gridscope-maintenance-plan.csv")
}

pub async fn plan_json(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match plan(&state, &params).await {
        Ok(plan) => json_response(&plan, "gridscope-maintenance-plan.json"),
        Err(response) => response,
    }
}

fn csv_response(ok: bool, writer: csv::Writer<Vec<u8>>, filename: &str) -> Response {
    match (ok, writer.into_inner()) {
        (true, Ok(body)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            ],
            body,
        )
            .into_response(),
        _ => error_response(app::error::AppError::internal()),
    }
}

fn json_response(body: &impl serde::Serialize, filename: &str) -> Response {
    ([(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\""))], axum::Json(body))
        .into_response()
}
