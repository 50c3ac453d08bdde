//! Assets: the searchable list and one asset in detail.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::catalog::{AssetPage, AssetQuery};
use crate::domain::model::{Asset, AssetKind, Incident, MaintenanceRecord};
use crate::domain::risk::RiskScore;
use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetList {
    pub page: AssetPage,
    /// Every region in the grid, for the filter.
    pub regions: Vec<String>,
}

/// An asset next to another: how they are related, in words ("end of", "on bus", …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    pub relation: String,
    pub id: String,
    pub name: String,
    pub kind: AssetKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetDetail {
    pub asset: Asset,
    pub risk: RiskScore,
    /// For buses: connected to a source in the grid as operated.
    pub energised: Option<bool>,
    pub maintenance: Vec<MaintenanceRecord>,
    pub incidents: Vec<Incident>,
    pub neighbours: Vec<Neighbour>,
}

/// The grid's regions, sorted: derived once per snapshot.
#[cfg(feature = "ssr")]
struct Regions(Vec<String>);

#[server(endpoint = "assets")]
pub async fn list_assets(query: AssetQuery) -> Result<AssetList, AppError> {
    use crate::domain::catalog::MAX_QUERY_CHARS;
    use crate::domain::model::MAX_TEXT_LEN;
    if query.text.as_ref().is_some_and(|t| t.chars().count() > MAX_QUERY_CHARS) {
        return Err(AppError::invalid_input(format!(
            "Search text is limited to {MAX_QUERY_CHARS} characters."
        )));
    }
    if query.region.as_ref().is_some_and(|r| r.chars().count() > MAX_TEXT_LEN) {
        return Err(AppError::invalid_input("Region name too long."));
    }
    let snapshot = super::grid_snapshot().await?;
    let today = chrono::Utc::now().date_naive();
    let scores = snapshot.risk_scores(today, &super::conditions());
    let order = snapshot.asset_order(&scores, query.sort);
    let page = crate::domain::catalog::find_assets(&order, &snapshot.data.assets, scores.scores(), &query);
    let regions = snapshot.derived(
        |_: &Regions| true,
        || {
            // A grid has a few regions and many assets: collect the distinct names only, so
            // that no copy per asset is made (and freed) on the way.
            let distinct: std::collections::BTreeSet<&str> =
                snapshot.data.assets.iter().filter_map(|a| a.region.as_deref()).collect();
            Regions(distinct.into_iter().map(String::from).collect())
        },
    );
    Ok(AssetList { page, regions: regions.0.clone() })
}

#[server(endpoint = "asset")]
pub async fn get_asset(id: String) -> Result<AssetDetail, AppError> {
    // The status goes on the response too: 400/404 for API clients.
    if !crate::domain::model::valid_id(&id) {
        return Err(AppError::invalid_input("That is not a valid asset id."));
    }
    let snapshot = super::grid_snapshot().await?;
    let index = snapshot.index_of(&id).ok_or_else(|| {
        AppError::new(crate::error::ErrorCode::NotFound, format!("No asset '{id}' in this grid."))
    })?;
    let asset = snapshot.data.assets[index].clone();
    let risk = snapshot.risk_explained(index, chrono::Utc::now().date_naive(), &super::conditions());
    let mut maintenance: Vec<MaintenanceRecord> =
        snapshot.data.maintenance.iter().filter(|m| m.asset == id).cloned().collect();
    maintenance.sort_by(|a, b| b.date.cmp(&a.date));
    let mut incidents: Vec<Incident> =
        snapshot.data.incidents.iter().filter(|i| i.asset == id).cloned().collect();
    incidents.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    let neighbours = crate::domain::catalog::neighbours(&snapshot.data.assets, &asset)
        .into_iter()
        .map(|(relation, a)| Neighbour {
            relation: relation.into(),
            id: a.id.to_string(),
            name: a.name.to_string(),
            kind: a.kind,
        })
        .collect();
    let energised = if asset.kind == AssetKind::Bus { snapshot.topology.is_energised(&id) } else { None };
    Ok(AssetDetail { asset, risk, energised, maintenance, incidents, neighbours })
}
