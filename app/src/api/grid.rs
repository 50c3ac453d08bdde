//! The stored grid at a glance: what it is, how big, how much of it is energised.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::model::AssetKind;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridSummary {
    pub name: String,
    pub revision: u64,
    /// Assets per kind, in the fixed kind order.
    pub counts: Vec<(AssetKind, usize)>,
    pub buses_total: usize,
    pub buses_energised: usize,
    pub customers_total: u64,
    /// Whether any attribute of the grid is synthetic (generated, not measured).
    pub has_synthetic_data: bool,
}

#[server(endpoint = "grid_summary")]
pub async fn get_grid_summary() -> Result<GridSummary, AppError> {
    let store =
        use_context::<std::sync::Arc<dyn crate::ports::GridStore>>().ok_or_else(AppError::internal)?;
    let snapshot = store.snapshot().await.map_err(AppError::from)?;
    let data = &snapshot.data;
    let counts = AssetKind::ALL.iter().map(|&k| (k, data.count(k))).collect();
    let buses_energised = data
        .assets
        .iter()
        .filter(|a| a.kind == AssetKind::Bus && snapshot.topology.is_energised(&a.id) == Some(true))
        .count();
    Ok(GridSummary {
        name: snapshot.meta.name.clone(),
        revision: snapshot.meta.revision,
        counts,
        buses_total: snapshot.topology.bus_count(),
        buses_energised,
        customers_total: snapshot.topology.customers_total(),
        has_synthetic_data: data.assets.iter().any(|a| !a.synthetic.is_empty())
            || data.maintenance.iter().any(|m| m.synthetic)
            || data.incidents.iter().any(|i| i.synthetic),
    })
}
