//! Outages: N-1 screening (single points of failure) and the impact of taking assets out.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::model::AssetKind;
use crate::domain::topology::Impact;
use crate::error::AppError;

/// Most assets one impact query may take out at once.
pub const MAX_OUTAGE_ASSETS: usize = 50;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinglePointOfFailure {
    pub element: String,
    pub name: String,
    pub kind: AssetKind,
    pub islanded_buses: usize,
    pub customers: u64,
}

/// Single branch outages that island buses, most customers affected first.
#[server(endpoint = "n1")]
pub async fn n1_screening() -> Result<Vec<SinglePointOfFailure>, AppError> {
    let snapshot = super::grid_snapshot().await?;
    let rows: Vec<SinglePointOfFailure> = snapshot
        .topology
        .n1_ranked()
        .into_iter()
        .filter_map(|(o, customers)| {
            let asset = snapshot.asset(&o.element)?;
            Some(SinglePointOfFailure {
                name: asset.name.to_string(),
                kind: asset.kind,
                islanded_buses: o.islanded_buses.len(),
                customers,
                element: o.element,
            })
        })
        .collect();
    Ok(rows)
}

/// What taking `assets` out at the same time de-energises.
#[server(endpoint = "impact")]
pub async fn simulate_outage(assets: Vec<String>) -> Result<Impact, AppError> {
    if assets.is_empty() {
        return Err(AppError::invalid_input("Choose at least one asset to take out."));
    }
    if assets.len() > MAX_OUTAGE_ASSETS {
        return Err(AppError::invalid_input(format!("At most {MAX_OUTAGE_ASSETS} assets at once.")));
    }
    if let Some(bad) = assets.iter().find(|id| !crate::domain::model::valid_id(id)) {
        return Err(AppError::invalid_input(format!(
            "'{}' is not a valid asset id.",
            bad.chars().take(64).collect::<String>()
        )));
    }
    let snapshot = super::grid_snapshot().await?;
    let ids: Vec<&str> = assets.iter().map(String::as_str).collect();
    snapshot
        .topology
        .impact_of_outage(&ids)
        .map(|impact| impact.with_affected(&snapshot.data))
        .map_err(|e| AppError::new(crate::error::ErrorCode::NotFound, e.to_string()))
}
