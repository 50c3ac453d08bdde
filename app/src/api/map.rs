//! The grid drawn: bus positions (real or computed) and the branches between them, each with
//! its risk band and whether it is energised.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::model::AssetKind;
use crate::domain::risk::RiskBand;
use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapBus {
    pub id: String,
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub band: RiskBand,
    pub energised: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapBranch {
    pub id: String,
    pub kind: AssetKind,
    pub from: (f64, f64),
    pub to: (f64, f64),
    pub band: RiskBand,
    /// In service with both ends energised.
    pub energised: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridMap {
    /// `true`: real coordinates; `false`: a computed schematic layout.
    pub geographic: bool,
    pub size: f64,
    pub buses: Vec<MapBus>,
    pub branches: Vec<MapBranch>,
}

#[server(endpoint = "map")]
pub async fn get_map() -> Result<GridMap, AppError> {
    use crate::domain::layout::{bus_positions, LayoutKind, SIZE};
    let snapshot = super::grid_snapshot().await?;
    let scores = snapshot.risk_scores(chrono::Utc::now().date_naive(), &super::conditions());
    let (kind, positions) = bus_positions(&snapshot.data);
    let energised = |id: &str| snapshot.topology.is_energised(id) == Some(true);
    let mut buses = Vec::new();
    let mut branches = Vec::new();
    for (a, &score) in snapshot.data.assets.iter().zip(scores.scores()) {
        let band = crate::domain::risk::RiskBand::of(score);
        if a.kind == AssetKind::Bus {
            if let Some(&(x, y)) = positions.get(a.id.as_str()) {
                buses.push(MapBus {
                    id: a.id.to_string(),
                    name: a.name.to_string(),
                    x,
                    y,
                    band,
                    energised: energised(&a.id),
                });
            }
        } else if a.kind.is_branch() {
            let (Some(f), Some(t)) = (a.from_bus.as_deref(), a.to_bus.as_deref()) else { continue };
            if let (Some(&from), Some(&to)) = (positions.get(f), positions.get(t)) {
                branches.push(MapBranch {
                    id: a.id.to_string(),
                    kind: a.kind,
                    from,
                    to,
                    band,
                    energised: a.in_service && energised(f) && energised(t),
                });
            }
        }
    }
    Ok(GridMap { geographic: kind == LayoutKind::Geographic, size: SIZE, buses, branches })
}
